// sg_shim.cpp - see sg_shim.h. Nothing else of the simulator is C++.
#include "sg_shim.h"

#include <cstdio>
#include <cstdlib>
#include <simgrid/s4u/Comm.hpp>
#include <simgrid/s4u/Host.hpp>
#include <simgrid/s4u/Link.hpp>
#include <simgrid/s4u/Mailbox.hpp>
#include <vector>

extern "C" int sim_wifi_set_rate(const char *link, const char *host,
                                 int level) {
  auto *l = simgrid::s4u::Link::by_name_or_null(link);
  auto *h = simgrid::s4u::Host::by_name_or_null(host);
  if (!l || !h || level < 0 ||
      l->get_sharing_policy() != simgrid::s4u::Link::SharingPolicy::WIFI)
    return -1;
  try {
    l->set_host_wifi_rate(h, level);
  } catch (...) {
    return -1; // never let an exception cross into C frames
  }
  return 0;
}

extern "C" sg_comm_t sim_put_async_rate(sg_mailbox_t mbox, void *payload,
                                        long size, double rate) {
  simgrid::s4u::CommPtr c = mbox->put_init(payload, size);
  c->set_rate(rate);
  c->start();
  c->add_ref(); // the caller's reference, as sg_mailbox_put_async gives
  return c.get();
}

extern "C" ssize_t sim_comm_wait_any_for(sg_comm_t *comms, size_t count,
                                         double timeout) {
  std::vector<simgrid::s4u::CommPtr> v;
  v.reserve(count);
  for (size_t i = 0; i < count; i++)
    v.emplace_back(comms[i], false); // adopt the caller's reference
  ssize_t pos = -1;
  try {
    pos = simgrid::s4u::Comm::wait_any_for(v, timeout);
  } catch (const std::exception &e) {
    // No link or host fails in our platforms; a failure here is a bug.
    std::fprintf(stderr, "vss-sim: comm failed: %s\n", e.what());
    std::abort();
  }
  for (size_t i = 0; i < count; i++)
    if (static_cast<ssize_t>(i) != pos)
      v[i]->add_ref(); // hand the reference back
  return pos;
}

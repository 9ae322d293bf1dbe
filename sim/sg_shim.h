/*
 * sg_shim.h - the two things the SimGrid 3.32 C API cannot do, done in a
 * few lines of C++:
 *
 *   sim_wifi_set_rate     a wifi station's rate level (only s4u has
 *                         Link::set_host_wifi_rate). Every station needs
 *                         one before it communicates.
 *   sim_comm_wait_any_for sg_comm_wait_any_for with a timeout that keeps
 *                         the comms alive: 3.32's C wrapper drops every
 *                         comm's reference when the wait times out (it
 *                         only gives them back when one finished), which
 *                         frees pending comms under the caller.
 */
#ifndef SIM_SG_SHIM_H
#define SIM_SG_SHIM_H

#include <simgrid/forward.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 0 on success, -1 when the link or host does not exist or the link is
 * not a wifi link. */
int sim_wifi_set_rate(const char *link, const char *host, int level);

/* sg_mailbox_put_async with the flow's rate capped at `rate` bytes/s
 * (s4u Comm::set_rate; the C API has no way to set it). */
sg_comm_t sim_put_async_rate(sg_mailbox_t mbox, void *payload, long size,
                             double rate);

/* Index of a finished comm (its reference is released, as with the C
 * API), or -1 on timeout (every comm still referenced). */
ssize_t sim_comm_wait_any_for(sg_comm_t *comms, size_t count, double timeout);

#ifdef __cplusplus
}
#endif
#endif

/*
 * hostcost.h - what a real node's host spends, charged in simulated time.
 *
 * The real vss-node decrypts every record it receives and encrypts every
 * one it sends (secretstream), hashes every chunk it verifies (BLAKE2b),
 * writes it to a temporary blob, and per sidecar it commits fsyncs the
 * file and its directory and runs a SQLite transaction. A simulation that
 * charges none of it predicts figures no real node reaches (the lab
 * measured thumbnails 14-35x slower than the free simulation). Each
 * device class carries those costs (sc_host_costs, calibrated with
 * bench/bench_host on this machine kind: sim/README.md, "Host costs");
 * the driver accumulates them as the node works and the device's actor
 * then spends them with sg_actor_execute on its host, during which it
 * handles nothing else, as the real node's event loop would not.
 */
#ifndef SIM_HOSTCOST_H
#define SIM_HOSTCOST_H

#include "world.h"

/* A frame arrived: channel decryption, and for transfer data, chunk
 * verification and the blob write. */
void hostcost_frame_in(device *d, const uint8_t *frame, size_t len);
/* A frame left: channel encryption. */
void hostcost_frame_out(device *d, size_t len);
/* A sidecar became durable (fetched or recorded): fsyncs + transaction. */
void hostcost_commit(device *d);
/* Spend what is owed now (blocks the actor). Returns the seconds spent. */
double hostcost_pay(device *d);

#endif

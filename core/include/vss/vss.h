/*
 * vss.h - libvss, the sans-I/O core of vss-sync.
 *
 *   vss/model.h  time, errors, sidecar keys, URIs, paths, checksums
 *   vss/store.h  the metadata store and blob store method tables
 *   vss/frame.h  framing and classes of frames, for drivers
 *   vss/rng.h    the seeded PRNG (one seed replays a run)
 *   vss/node.h   the protocol engine a driver feeds (gossip, query,
 *                transfer, resolver, prefetch)
 */
#ifndef VSS_H
#define VSS_H

#include "vss/model.h"
#include "vss/frame.h"
#include "vss/node.h"
#include "vss/rng.h"
#include "vss/store.h"

#endif

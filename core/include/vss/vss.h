/*
 * vss.h - libvss, the sans-I/O core of vss-sync.
 *
 *   vss/model.h  time, errors, sidecar keys, URIs, paths, checksums
 *   vss/store.h  the metadata store and blob store method tables
 *   vss/node.h   the protocol engine a driver feeds (gossip, query,
 *                transfer, resolver, prefetch)
 */
#ifndef VSS_H
#define VSS_H

#include "vss/model.h"
#include "vss/node.h"
#include "vss/store.h"

#endif

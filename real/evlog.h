/*
 * evlog.h - the core's events as CSV, one line each, for measurement
 * (vss-lab reads it to build the same report the simulator writes).
 * `serve` opens it when VSS_EVENT_LOG names a file; the columns are
 *
 *   t_s,event,peer,content,kind,variant,job,bytes,count,duration_ms,flags,rc
 *
 * t_s is the node's clock (Unix time, seconds), peer a device uuid.
 */
#ifndef REAL_EVLOG_H
#define REAL_EVLOG_H

#include <stdio.h>

#include "vss/vss.h"

/* Opens path for appending (header when empty). NULL, with errno, when
 * it cannot. */
FILE *evlog_open(const char *path);
void evlog_write(FILE *f, const vss_event *ev);

#endif

/*
 * units.h - the value syntax of scenario files. Every parser returns 0 on
 * success and -1 on a bad value, and writes a short reason to err.
 *
 *   time   number + unit: ns us ms s m h (compounds: 1m30s); bare 0
 *   size   number + unit: B KB MB GB TB (x1000) KiB MiB GiB TiB (x1024)
 *   rate   number + unit: Bps KBps MBps GBps (bytes/s), bps Kbps Mbps Gbps
 *          (bits/s); "MB/s" is accepted for MBps
 *   prob   0..1, or a percentage "2%"
 *   bool   yes/no, true/false, on/off, 1/0
 *   dist   a size, or uniform(a, b), normal(mean, sd), lognormal(median, sd)
 */
#ifndef SIM_UNITS_H
#define SIM_UNITS_H

#include "vss/model.h"

#include <stddef.h>
#include <stdint.h>

#define UNIT_ERR_MAX 160

int parse_time(const char *s, vss_time *out, char *err);
int parse_size(const char *s, uint64_t *out, char *err);
int parse_rate(const char *s, double *out, char *err);
int parse_prob(const char *s, double *out, char *err);
int parse_bool(const char *s, int *out, char *err);
int parse_uint(const char *s, uint64_t max, uint64_t *out, char *err);
int parse_double(const char *s, double lo, double hi, double *out, char *err);

typedef enum dist_type {
  DIST_FIXED = 0,
  DIST_UNIFORM,
  DIST_NORMAL,
  DIST_LOGNORMAL
} dist_type;

typedef struct size_dist {
  dist_type type;
  double a, b; /* bytes: fixed a; uniform [a, b]; normal mean a sd b;
                  lognormal median a, sd b (of the size in bytes) */
} size_dist;

int parse_dist(const char *s, size_dist *out, char *err);
/* Formats a distribution back (for reports), e.g. "normal(45000, 5000)". */
void dist_format(const size_dist *d, char *buf, size_t cap);

/* Human formats for reports: "1.5 MB", "2.3 s", "110 MB/s". */
void fmt_bytes(double bytes, char *buf, size_t cap);
void fmt_rate(double bps, char *buf, size_t cap);

/* Splits a comma-separated list in place (whitespace trimmed): returns the
 * number of items stored in items[] (at most cap), or -1 when more. */
int split_list(char *s, char **items, int cap);
/* Trims leading and trailing white space in place. */
char *trim(char *s);

#endif

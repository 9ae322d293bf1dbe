/*
 * config.h - data_dir/config.ini: the node's settings and its peers'
 * addresses. Written with defaults by `init`, edited by the user and by
 * `pair`. Unknown sections or keys and bad values are errors naming
 * file:line.
 *
 *   [node]      name, listen, log_level, upload_limit, handshake_timeout,
 *               idle_timeout, record_timeout, reconnect_min, reconnect_max,
 *               strategy
 *   [gossip]    interval, jitter, change_batch_delay, cache_ttl,
 *               negative_ttl, query_timeout
 *   [transfer]  max_retries, retry_backoff, window_min, window_max
 *   [prefetch]  eager, lazy, never, max_concurrent, links, allow_metered,
 *               storage_budget
 *   [generate]  command, timeout, cost_KIND (e.g. cost_thumb = 2s)
 *   [peer NAME] device, addr, link, metered, rate_hint, rtt_hint
 *
 * Durations take a unit (ms, s, min, h); sizes take K, M, G (powers of
 * 1024) or none; booleans yes/no/true/false/1/0. Numbers must be finite
 * (no nan, inf); a key given twice in a section, a line longer than
 * CFG_MAX_LINE and a timeout outside its range are errors too.
 */
#ifndef VSS_REAL_CONFIG_H
#define VSS_REAL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "vss/vss.h"

#define CFG_NAME_MAX 63
#define CFG_HOST_MAX 255
#define CFG_MAX_LINE 199 /* inih's line buffer (INI_MAX_LINE) less the NUL */

typedef struct cfg_addr {
  char host[CFG_HOST_MAX + 1];
  uint16_t port;
} cfg_addr;

typedef struct cfg_peer {
  char name[CFG_NAME_MAX + 1];
  vss_uuid device;
  int has_addr;
  cfg_addr addr;
  vss_link_info link;
} cfg_peer;

typedef struct cfg {
  char name[CFG_NAME_MAX + 1];
  int listen_on; /* 0: no listener ("listen = off") */
  cfg_addr listen;
  int log_level;
  uint64_t upload_limit; /* bytes/s, 0 = unlimited */
  vss_time handshake_timeout;
  vss_time idle_timeout;   /* authenticated session with nothing received */
  vss_time record_timeout; /* a record begun must be whole within this */
  vss_time reconnect_min, reconnect_max;
  int no_aes;             /* cipher = xchacha20poly1305: never AES-256-GCM */
  vss_node_config core;   /* store/blobs/callbacks left for the daemon */
  char gen_command[1024]; /* "" = this device cannot generate */
  vss_time gen_timeout;
  size_t gen_parallel; /* generators at once (default: CPUs) */
  cfg_peer *peers;
  size_t npeers;
} cfg;

/* Defaults, then the file's values. err gets "file:line: what". */
int cfg_load(cfg *c, const char *path, char *err, size_t errcap);
void cfg_free(cfg *c);
const cfg_peer *cfg_find_peer(const cfg *c, const vss_uuid *device);

/* A new config file (fails if it exists) with defaults and comments. */
int cfg_write_default(const char *path, const char *name, const char *listen,
                      char *err, size_t errcap);
/* Adds or replaces the [peer NAME] section (matched by name or device),
 * keeping the rest of the file as the user wrote it. */
int cfg_set_peer(const char *path, const cfg_peer *p, char *err, size_t errcap);

/* Removes the peer's section (matched by name or device). */
int cfg_remove_peer(const char *path, const cfg_peer *p, char *err,
                    size_t errcap);

/* Parsers shared with the CLI. 0 or -1. */
int cfg_parse_addr(const char *s, cfg_addr *out);
int cfg_parse_size(const char *s, uint64_t *out);
int cfg_parse_duration(const char *s, vss_time *out);
int cfg_name_valid(const char *s);
/* "10s", "250ms", "5min", "1h": the shortest exact spelling. */
void cfg_format_duration(vss_time d, char *out, size_t cap);

#endif

/*
 * scenario.h - a scenario file, parsed and checked (scenarios/README.md
 * documents the format). Everything the run needs comes from here; the
 * command line may override seed, duration, model and platform.
 */
#ifndef SIM_SCENARIO_H
#define SIM_SCENARIO_H

#include "units.h"
#include "vss/vss.h"

#define SC_NAME 48
#define SC_PATH 512
#define SC_MAX_RATES 8
#define SC_MAX_CFG 32
#define SC_ERR 512

/* Where something was written, for error messages (file:line). */
typedef struct sc_pos {
  int line;
} sc_pos;

typedef struct sc_link {
  char name[SC_NAME];
  sc_pos pos;
  vss_link_class cls;
  int cls_set;
  char site[SC_NAME];
  double up, down;            /* bytes/s; ethernet: each direction */
  double rates[SC_MAX_RATES]; /* wifi rate levels, level 0 first */
  int nrates;
  double latency;       /* seconds, one way */
  double loss, corrupt; /* per frame crossing the link */
  int metered;          /* -1: class default (cellular) */
} sc_link;

/* What the host spends for the node (sim/hostcost.h): bytes per second
 * of chunk hashing, of channel encryption (each side), of blob writes,
 * and the time of one sidecar's commit (fsync of file and directory, the
 * SQLite transaction). 0 = free. */
typedef struct sc_host_costs {
  double hash, channel, write;
  vss_time commit;
} sc_host_costs;

typedef struct sc_class {
  char name[SC_NAME];
  sc_pos pos;
  vss_time gen_cost[VSS_KIND_COUNT]; /* VSS_TIME_UNSET: cannot generate */
  int gen_parallel;
  vss_strategy strategy;
  uint64_t storage;
  sc_host_costs host;
  int builtin;
} sc_class;

/* Device settings: each field has a "set" flag so device values override
 * the class and the class overrides built-in defaults. */
typedef struct sc_device {
  char name[SC_NAME];
  sc_pos pos;
  int link; /* index into links (resolved after parsing) */
  int cls;  /* index into classes (resolved after parsing) */
  char link_name[SC_NAME], class_name[SC_NAME];
  int link_line, class_line;
  int wifi_rate, wifi_rate_line;
  uint64_t storage;
  int storage_set;
  vss_time gen_cost[VSS_KIND_COUNT];
  uint32_t gen_cost_set; /* VSS_KIND_BIT mask */
  int gen_parallel;      /* 0: class */
  vss_strategy strategy;
  int strategy_set;
  int can_generate;
  double byzantine; /* share of the data frames it serves falsified */
  int misbehave;    /* SC_MB_*: a peer that stalls or refuses to serve */
  vss_time misbehave_from;
  vss_time mtbf, mttr; /* churn: offline after ~Exp(mtbf), back after
                          ~Exp(mttr), drawn from the seed; 0 = none */
  int churn_line;
  vss_prefetch_policy prefetch;
  uint32_t prefetch_set; /* PF_* bits */
  int online;
} sc_device;

/* Misbehaviour of a device towards those it serves (sim/misbehave.c). */
enum {
  SC_MB_NONE = 0,
  SC_MB_STALL,  /* takes requests, never sends the data (hung disk/process) */
  SC_MB_REFUSE, /* advertises its sidecars, answers every request with an
                   error */
  SC_MB_LIE     /* announces sidecars it does not hold (digest liar): asked,
                   it answers not found */
};

enum {
  PF_EAGER = 1,
  PF_LAZY = 2,
  PF_NEVER = 4,
  PF_MAX = 8,
  PF_LINKS = 16,
  PF_METERED = 32
};

typedef struct sc_size {
  vss_kind kind;
  char variant[VSS_VARIANT_MAX + 1]; /* "" = any variant of the kind */
  size_dist dist;
  sc_pos pos;
} sc_size;

typedef struct sc_sidecars {
  char name[SC_NAME];
  sc_pos pos;
  int *holders; /* device indices */
  int nholders;
  int all;
  char on[256];
  int on_line;
  uint32_t first, count, step;
  vss_kind kind;
  char variant[VSS_VARIANT_MAX + 1];
  vss_format format;
  int format_set;
  int variant_set;
  size_dist size;
  int size_set, size_line;
} sc_sidecars;

typedef enum sc_ev_type {
  EV_GENERATE = 0,
  EV_OPEN_GRID,
  EV_REQUEST,
  EV_OFFLINE,
  EV_ONLINE,
  EV_RESTART,
  EV_LINK_DOWN,
  EV_LINK_UP,
  EV_LINK_SET,
  EV_WIFI_RATE,
  EV_GOSSIP,
  EV_FAULTS,
  EV_COUNT
} sc_ev_type;

const char *sc_ev_name(sc_ev_type t);

/* Which events change the world every device sees (connectivity), as
 * opposed to one device's application. */
static inline int sc_ev_global(sc_ev_type t) {
  return t == EV_OFFLINE || t == EV_ONLINE || t == EV_RESTART ||
         t == EV_LINK_DOWN || t == EV_LINK_UP || t == EV_LINK_SET ||
         t == EV_WIFI_RATE || t == EV_FAULTS;
}

#define EVS_BW 1
#define EVS_UP 2
#define EVS_DOWN 4
#define EVS_LAT 8
#define EVS_LOSS 16
#define EVS_CORRUPT 32
#define EVS_FORMAT 0x100     /* format= given */
#define EVS_VARIANT 0x200    /* variant= given */
#define SC_MAX_EVENTS 200000 /* after repetitions and churn */

typedef struct sc_event {
  vss_time at;
  sc_pos pos;
  int order; /* position in the file: ties at one time keep file order */
  sc_ev_type type;
  int device; /* -1 when not about a device */
  int link;   /* -1 when not about a link */
  char dev_name[SC_NAME], link_name[SC_NAME];
  uint32_t first, count, step;
  vss_kind kind;
  char variant[VSS_VARIANT_MAX + 1];
  vss_format format;
  vss_resolve_mode mode;
  double up, down, latency, loss, corrupt;
  unsigned set; /* EVS_* */
  int level;
  vss_time every, until; /* every=: repeated (until= or the end) */
  int generated;         /* made by a repetition, churn or start_spread */
} sc_event;

typedef enum sc_log { LOG_ALL = 0, LOG_NONE } sc_log;

enum {
  SC_SESSIONS_AUTO = 0, /* node-chosen when the fleet exceeds 32 devices */
  SC_SESSIONS_ALL,      /* every reachable pair is connected (small) */
  SC_SESSIONS_NODE      /* nodes choose (vss_node_peer_reachable, DIAL) */
};

typedef struct scenario {
  char path[SC_PATH];
  char dir[SC_PATH]; /* of the file, for relative paths */
  char name[SC_NAME * 2];
  char description[256];
  uint64_t seed;
  int seed_set;
  vss_time duration;
  char model[32];
  char platform[SC_PATH];
  char cfg[SC_MAX_CFG][128];
  int ncfg;
  double loss, corrupt;
  vss_time gossip_interval, change_batch_delay, cache_ttl;
  uint64_t limits[VSS_LIMIT_COUNT]; /* limit.NAME: node bounds, 0 = default */
  double gossip_jitter;
  sc_log event_log;
  int64_t verify; /* -1 all, 0 none, N: up to N per device */
  vss_time check_every;
  vss_time start_spread; /* devices come online over [0, spread) */
  int host_costs;        /* 1 (default): charge sc_class.host */
  int hints_oracle;      /* 1: nodes are told each path's rate and RTT at
                          * peer_up (comparison studies); 0 (default): only
                          * the link class and metered, as a real OS knows */
  int faults_frames;     /* 0 (default): tcp semantics; 1: lost frames
                            vanish, damaged ones arrive (core testing) */
  int sessions;          /* SC_SESSIONS_*: who chooses the connections */
  uint32_t members;      /* 0: every device is a member of every other's
                            library; N: own site + N drawn at random */
  uint32_t max_active;   /* node config max_active (0: the default) */
  int size_only;         /* payload = size-only (sim/README.md) */

  sc_link *links;
  int nlinks;
  sc_class *classes;
  int nclasses;
  sc_device *devices;
  int ndevices, capdevices;
  sc_size *sizes;
  int nsizes;
  sc_sidecars *sidecars;
  int nsidecars;
  sc_event *events;
  int nevents, capevents;
} scenario;

/* Parse and check a scenario file. On error returns -1, writes
 * "file:line: message" into err and leaves nothing to free. */
int scenario_load(scenario *sc, const char *path, char *err, size_t errcap);
/* Parse from a string (tests, fuzzing); `path` names it in messages. */
int scenario_load_string(scenario *sc, const char *text, const char *path,
                         char *err, size_t errcap);
void scenario_free(scenario *sc);
/* The same, with the command line's overrides applied after parsing and
 * before the checks (so they are checked like the file's own values).
 * override returns non-zero with a message in err on a bad value. */
typedef int (*sc_override_fn)(scenario *sc, void *user, char *err, size_t cap);
int scenario_load_ex(scenario *sc, const char *path, sc_override_fn override,
                     void *user, char *err, size_t errcap);
int scenario_load_string_ex(scenario *sc, const char *text, const char *path,
                            sc_override_fn override, void *user, char *err,
                            size_t errcap);

/* start_spread: each initially online device gets an "online" event at a
 * time drawn from the seed (it starts offline until then). */
void scenario_spread_starts(scenario *sc);

int sc_find_link(const scenario *sc, const char *name);
int sc_find_device(const scenario *sc, const char *name);
int sc_find_class(const scenario *sc, const char *name);

/* The variant a kind gets when none is given: grid@2x for thumbnails,
 * 1080p for proxies, "default" for the rest. */
const char *sc_default_variant(vss_kind kind);

/* Effective settings of a device (device > class > defaults). */
vss_time sc_gen_cost(const scenario *sc, int dev, vss_kind kind);
int sc_gen_parallel(const scenario *sc, int dev);
uint64_t sc_storage(const scenario *sc, int dev);
vss_strategy sc_strategy(const scenario *sc, int dev);
/* The size distribution for a key (the most specific [sizes] entry, then
 * built-in defaults per kind). */
size_dist sc_size_for(const scenario *sc, vss_kind kind, const char *variant);
vss_format sc_default_format(vss_kind kind);
const char *sc_mode_name(vss_resolve_mode m);

#endif

/*
 * ops.c - subcommands over a node: identity, pairing, recording, listing,
 * presence, resolving, status, verification.
 */
#include "ops.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobs_disk.h"
#include "fsutil.h"
#include "log.h"
#include "paircode.h"
#include "srv.h"

void out_f(out *o, char kind, const char *fmt, ...) {
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  o->line(o->u, kind, line);
}

void ops_human_bytes(uint64_t b, char *buf, size_t cap) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)b;
  int i = 0;
  while (v >= 1024 && i < 4) {
    v /= 1024;
    i++;
  }
  snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", v, unit[i]);
}

int opts_parse(int argc, char **argv, const optspec *spec, char **pos,
               int maxpos, int *npos, out *o) {
  *npos = 0;
  for (int i = 0; i < argc; i++) {
    const optspec *sp = NULL;
    if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0') {
      if (*npos == maxpos) {
        out_f(o, 'e', "unexpected argument '%s'", argv[i]);
        return -1;
      }
      pos[(*npos)++] = argv[i];
      continue;
    }
    for (const optspec *q = spec; q && q->name; q++)
      if (!strcmp(argv[i] + 2, q->name)) sp = q;
    if (sp == NULL) {
      out_f(o, 'e', "unknown option %s (see --help)", argv[i]);
      return -1;
    }
    if (sp->has_arg) {
      if (i + 1 == argc) {
        out_f(o, 'e', "option %s needs a value", argv[i]);
        return -1;
      }
      *sp->val = argv[++i];
    } else {
      *sp->flag = 1;
    }
  }
  return 0;
}

void ops_kind_dirs(char *buf, size_t cap) {
  buf[0] = '\0';
  for (int k = 0; k < VSS_KIND_COUNT; k++) {
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%s", k ? ", " : "",
             vss_kind_dir((vss_kind)k));
  }
}

void ops_exts(char *buf, size_t cap) {
  buf[0] = '\0';
  for (int f = 0; f < VSS_FMT_COUNT; f++) {
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%s", f ? ", " : "",
             vss_format_ext((vss_format)f));
  }
}

/* Which part of a URI is wrong, for the error message. */
static void uri_diagnose(const char *uri, char *why, size_t cap) {
  static const char scheme[] = "sidecar://";
  const char *p = uri + sizeof scheme - 1, *slash, *dot, *file;
  char list[200];
  vss_uuid u;
  vss_kind k;
  vss_format f;
  size_t len = strlen(uri);
  if (len > VSS_URI_MAX) {
    snprintf(why, cap, "longer than %d characters", VSS_URI_MAX);
  } else if (strncmp(uri, scheme, sizeof scheme - 1) != 0) {
    snprintf(why, cap, "it must start with sidecar://");
  } else if (strlen(p) < VSS_UUID_STR_LEN + 1 || p[VSS_UUID_STR_LEN] != '/' ||
             vss_uuid_parse(&u, p, VSS_UUID_STR_LEN) != 0) {
    snprintf(why, cap,
             "the content id must be a hyphenated uuid "
             "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) followed by /");
  } else if ((slash = strchr(p += VSS_UUID_STR_LEN + 1, '/')) == NULL ||
             vss_kind_from_dir(p, (size_t)(slash - p), &k) != 0) {
    ops_kind_dirs(list, sizeof list);
    snprintf(why, cap, "unknown kind directory '%.*s' (one of %s)",
             (int)(slash ? slash - p : (ptrdiff_t)strlen(p)), p, list);
  } else if (strchr(file = slash + 1, '/') != NULL) {
    snprintf(why, cap, "'%s' is a path; the variant is one file name", file);
  } else if ((dot = strrchr(file, '.')) == NULL ||
             vss_format_from_ext(dot + 1, strlen(dot + 1), &f) != 0) {
    ops_exts(list, sizeof list);
    snprintf(why, cap, "unknown extension '%s' (one of %s)", dot ? dot + 1 : "",
             list);
  } else {
    snprintf(why, cap,
             "bad variant '%.*s': 1-%d of [A-Za-z0-9@._-], not . or ..",
             (int)(dot - file), file, VSS_VARIANT_MAX);
  }
}

int ops_parse_uri(const char *uri, vss_key *key, vss_format *fmt, out *o) {
  char why[400];
  if (vss_uri_parse(uri, strlen(uri), key, fmt) < 0) {
    uri_diagnose(uri, why, sizeof why);
    out_f(o, 'e',
          "'%s' is not a sidecar URI: %s "
          "(sidecar://CONTENT_UUID/KIND_DIR/VARIANT.EXT)",
          uri, why);
    return -1;
  }
  return 0;
}

/* This device or a device paired now. The node keeps what it learned of
 * an unpaired device until that cache expires (it cannot connect any
 * more): status, presence and list must not show it meanwhile. */
static int paired_or_self(ops_ctx *c, const vss_uuid *dev) {
  static const uint8_t zero[CHAN_PK_LEN];
  vss_peer_row row;
  if (vss_uuid_cmp(dev, &c->h->device) == 0) return 1;
  if (c->srv) return net_slot(c->srv, dev) != NULL;
  return vss_store_get_peer(c->h->store, dev, &row) == 0 &&
         memcmp(row.pubkey, zero, sizeof zero) != 0;
}

static const char *name_of(ops_ctx *c, const vss_uuid *dev, char *buf,
                           size_t cap) {
  vss_peer_row row;
  const cfg_peer *cp;
  if (c->srv) return srv_name_of(c->srv, dev, buf, cap);
  if (vss_uuid_cmp(dev, &c->h->device) == 0) {
    snprintf(buf, cap, "%s", c->h->cfg.name);
  } else if ((cp = cfg_find_peer(&c->h->cfg, dev)) != NULL) {
    snprintf(buf, cap, "%s", cp->name);
  } else if (vss_store_get_peer(c->h->store, dev, &row) == 0 && row.name[0]) {
    snprintf(buf, cap, "%s", row.name);
  } else {
    vss_uuid_format(dev, buf);
  }
  return buf;
}

#define NO_POS(c)                                                              \
  do {                                                                         \
    if ((c) > 0) {                                                             \
      out_f(o, 'e', "unexpected argument '%s'", argv[0]);                      \
      return EXIT_USAGE;                                                       \
    }                                                                          \
  } while (0)

/* ---- identity and pairing -------------------------------------------- */

static int op_identity(ops_ctx *c, int argc, char **argv, out *o) {
  char dev[VSS_UUID_STR_LEN + 1], pk[65], fp[17], code[PAIRCODE_LEN + 1];
  int code_only = 0, npos;
  char *pos[2];
  optspec spec[] = {{"code", 0, NULL, &code_only}, {NULL, 0, NULL, NULL}};
  /* `show identity` arrives as identity with a positional "identity". */
  if (opts_parse(argc, argv, spec, pos, 1, &npos, o) < 0) return EXIT_USAGE;
  if (npos == 1 && strcmp(pos[0], "identity") != 0) {
    out_f(o, 'e', "show what? only `show identity` exists");
    return EXIT_USAGE;
  }
  vss_uuid_format(&c->h->device, dev);
  sodium_bin2hex(pk, sizeof pk, c->h->id.pk, CHAN_PK_LEN);
  chan_fingerprint(c->h->id.pk, fp);
  paircode_encode(&c->h->device, c->h->id.pk, code, sizeof code);
  if (code_only) {
    out_f(o, 'o', "%s", code);
    return EXIT_OK;
  }
  out_f(o, 'o', "name         %s", c->h->cfg.name);
  out_f(o, 'o', "device       %s", dev);
  out_f(o, 'o', "public key   %s", pk);
  out_f(o, 'o', "fingerprint  %.4s-%.4s-%.4s-%.4s", fp, fp + 4, fp + 8,
        fp + 12);
  if (c->h->cfg.listen_on)
    out_f(o, 'o', "listen       %s:%u", c->h->cfg.listen.host,
          (unsigned)c->h->cfg.listen.port);
  out_f(o, 'o', "pairing code %s", code);
  return EXIT_OK;
}

/* Paired devices (rows with a key) whose name, as `peers` shows it (the
 * config's, else the database's), is `name`; or whose device id is
 * `name` when it parses as one. */
typedef struct match_ctx {
  ops_ctx *c;
  const char *name;
  vss_uuid dev;
  int by_dev;
  vss_peer_row rows[8];
  size_t n;
} match_ctx;

static const char *peer_name(ops_ctx *c, const vss_peer_row *row) {
  const cfg_peer *cp = cfg_find_peer(&c->h->cfg, &row->device);
  return cp ? cp->name : row->name;
}

static int match_one(void *user, const vss_peer_row *row) {
  match_ctx *m = user;
  static const uint8_t zero[CHAN_PK_LEN];
  if (memcmp(row->pubkey, zero, sizeof zero) == 0) return 0;
  if (m->by_dev ? vss_uuid_cmp(&row->device, &m->dev) != 0
                : strcmp(peer_name(m->c, row), m->name) != 0)
    return 0;
  if (m->n < sizeof m->rows / sizeof m->rows[0]) m->rows[m->n] = *row;
  m->n++;
  return 0;
}

static size_t find_peers(ops_ctx *c, const char *who, match_ctx *m) {
  memset(m, 0, sizeof *m);
  m->c = c;
  m->name = who;
  m->by_dev = vss_uuid_parse(&m->dev, who, strlen(who)) == 0;
  vss_store_iter_peers(c->h->store, match_one, m);
  return m->n;
}

/* Removes a paired device: its key from the database, its section from
 * config.ini. */
static int forget_peer(ops_ctx *c, const vss_peer_row *row, out *o) {
  cfg_peer p;
  char err[512];
  int rc;
  if ((rc = vss_store_del_peer(c->h->store, &row->device)) < 0) {
    out_f(o, 'e', "cannot remove the peer: %s", vss_strerror(rc));
    return -1;
  }
  memset(&p, 0, sizeof p);
  p.device = row->device;
  snprintf(p.name, sizeof p.name, "%s", peer_name(c, row));
  if (cfg_remove_peer(c->h->cfg_path, &p, err, sizeof err) < 0 ||
      home_reload_cfg(c->h, err, sizeof err) < 0) {
    out_f(o, 'e', "%s", err);
    return -1;
  }
  return 0;
}

static void fmt_fp(const uint8_t pk[CHAN_PK_LEN], char out[20]) {
  char fp[17];
  chan_fingerprint(pk, fp);
  snprintf(out, 20, "%.4s-%.4s-%.4s-%.4s", fp, fp + 4, fp + 8, fp + 12);
}

static int parse_pair_opts(int argc, char **argv, cfg_peer *p, char **codep,
                           int *replace, out *o) {
  const char *addr = NULL, *name = NULL, *link = NULL, *rtt = NULL,
             *rate = NULL;
  int metered = 0, npos;
  uint64_t rate_v = 0;
  char *pos[1];
  optspec spec[] = {
      {"addr", 1, &addr, NULL},      {"name", 1, &name, NULL},
      {"link", 1, &link, NULL},      {"metered", 0, NULL, &metered},
      {"rtt-hint", 1, &rtt, NULL},   {"rate-hint", 1, &rate, NULL},
      {"replace", 0, NULL, replace}, {NULL, 0, NULL, NULL}};
  if (opts_parse(argc, argv, spec, pos, 1, &npos, o) < 0) return -1;
  if (npos != 1) {
    out_f(o, 'e',
          "pair needs the other device's pairing code "
          "(it prints it with `vss-node show identity`)");
    return -1;
  }
  *codep = pos[0];
  memset(p, 0, sizeof *p);
  p->link.cls = VSS_LINK_ETHERNET;
  p->link.metered = metered;
  if (addr) {
    if (cfg_parse_addr(addr, &p->addr) < 0) {
      out_f(o, 'e', "--addr '%s': expected host:port", addr);
      return -1;
    }
    p->has_addr = 1;
  }
  if (link && vss_link_class_parse(link, strlen(link), &p->link.cls) < 0) {
    out_f(o, 'e', "--link '%s': expected ethernet, wifi, internet or cellular",
          link);
    return -1;
  }
  if (name && !cfg_name_valid(name)) {
    out_f(o, 'e', "--name '%s': use 1-63 of [A-Za-z0-9_.-]", name);
    return -1;
  }
  if (rtt && cfg_parse_duration(rtt, &p->link.rtt_hint) < 0) {
    out_f(o, 'e', "--rtt-hint '%s': expected a duration (e.g. 5ms)", rtt);
    return -1;
  }
  if (rate && cfg_parse_size(rate, &rate_v) < 0) {
    out_f(o, 'e', "--rate-hint '%s': expected bytes per second (e.g. 100M)",
          rate);
    return -1;
  }
  p->link.rate_hint = (double)rate_v;
  if (name) snprintf(p->name, sizeof p->name, "%s", name);
  return 0;
}

/* Another device already has the name: refused unless --replace, which
 * unpins the old device first (a phone replaced under its name must not
 * stay trusted beside the new one). */
static int name_taken(ops_ctx *c, const cfg_peer *p, int replace, out *o) {
  match_ctx m;
  char dev[VSS_UUID_STR_LEN + 1], fp[20];
  find_peers(c, p->name, &m);
  for (size_t i = 0; i < m.n && i < 8; i++) {
    if (vss_uuid_cmp(&m.rows[i].device, &p->device) == 0) continue;
    vss_uuid_format(&m.rows[i].device, dev);
    fmt_fp(m.rows[i].pubkey, fp);
    if (!replace) {
      out_f(o, 'e',
            "another device is paired as '%s' (device %s, key %s): pass "
            "--replace to unpin it and pair this one instead, or choose "
            "another --name",
            p->name, dev, fp);
      return -1;
    }
    if (forget_peer(c, &m.rows[i], o) < 0) return -1;
    out_f(o, 'o', "unpaired the previous %s (device %s, key %s)", p->name, dev,
          fp);
  }
  return 0;
}

static int op_pair(ops_ctx *c, int argc, char **argv, out *o) {
  cfg_peer p;
  vss_peer_row row;
  uint8_t pk[CHAN_PK_LEN];
  char *code, err[512], dev[VSS_UUID_STR_LEN + 1], fp[20], oldfp[20] = "";
  int rc, replace = 0;

  if (parse_pair_opts(argc, argv, &p, &code, &replace, o) < 0)
    return EXIT_USAGE;
  memset(&row, 0, sizeof row);
  rc = paircode_decode(code, &p.device, pk);
  if (rc < 0) {
    out_f(o, 'e',
          rc == -2 ? "pairing code checksum does not match: mistyped?"
                   : "not a pairing code (expected vss1-...)");
    return EXIT_USAGE;
  }
  if (vss_uuid_cmp(&p.device, &c->h->device) == 0) {
    out_f(o, 'e', "that is this device's own pairing code");
    return EXIT_USAGE;
  }
  vss_uuid_format(&p.device, dev);
  if (!p.name[0]) snprintf(p.name, sizeof p.name, "peer-%.8s", dev);
  if (name_taken(c, &p, replace, o) < 0) return EXIT_FAIL;
  /* Keep what we learned of its availability when re-pairing. */
  if (vss_store_get_peer(c->h->store, &p.device, &row) == 0 &&
      sodium_memcmp(row.pubkey, pk, CHAN_PK_LEN) != 0) {
    static const uint8_t zero[CHAN_PK_LEN];
    if (memcmp(row.pubkey, zero, sizeof zero) != 0) fmt_fp(row.pubkey, oldfp);
  }
  memcpy(row.pubkey, pk, CHAN_PK_LEN);
  row.device = p.device;
  snprintf(row.name, sizeof row.name, "%s", p.name);
  if ((rc = vss_store_put_peer(c->h->store, &row)) < 0) {
    out_f(o, 'e', "cannot store the peer in %s: %s", c->h->db_path,
          vss_strerror(rc));
    return EXIT_FAIL;
  }
  if (cfg_set_peer(c->h->cfg_path, &p, err, sizeof err) < 0 ||
      home_reload_cfg(c->h, err, sizeof err) < 0) {
    out_f(o, 'e', "%s", err);
    return EXIT_FAIL;
  }
  /* A changed key ends every session the old key authenticated. */
  if (c->srv) net_load_peers(c->srv);
  fmt_fp(row.pubkey, fp);
  if (oldfp[0])
    out_f(o, 'o', "key changed for %s (device %s): was %s, now %s", p.name, dev,
          oldfp, fp);
  if (p.has_addr)
    out_f(o, 'o', "paired with %s (device %s, key %s), dialling %s%s%s:%u",
          p.name, dev, fp, strchr(p.addr.host, ':') ? "[" : "", p.addr.host,
          strchr(p.addr.host, ':') ? "]" : "", (unsigned)p.addr.port);
  else
    out_f(o, 'o', "paired with %s (device %s, key %s)", p.name, dev, fp);
  return EXIT_OK;
}

static int op_unpair(ops_ctx *c, int argc, char **argv, out *o) {
  match_ctx m;
  size_t n;
  if (argc != 1) {
    out_f(o, 'e', "unpair needs a peer name or device uuid");
    return EXIT_USAGE;
  }
  if ((n = find_peers(c, argv[0], &m)) == 0) {
    out_f(o, 'e', "no paired peer '%s' (see `vss-node peers`)", argv[0]);
    return EXIT_FAIL;
  }
  /* Every device under that name goes (older versions let two share
   * one): none of them may stay trusted. Up to 8 per call. */
  for (size_t i = 0; i < n && i < 8; i++)
    if (forget_peer(c, &m.rows[i], o) < 0) return EXIT_FAIL;
  if (c->srv) net_load_peers(c->srv);
  if (n > 1)
    out_f(o, 'o', "unpaired %s (%zu devices)", argv[0], n < 8 ? n : 8);
  else
    out_f(o, 'o', "unpaired %s", argv[0]);
  return EXIT_OK;
}

typedef struct peers_ctx {
  ops_ctx *c;
  out *o;
  int n;
} peers_ctx;

static int peer_line(void *user, const vss_peer_row *row) {
  peers_ctx *pc = user;
  const cfg_peer *cp = cfg_find_peer(&pc->c->h->cfg, &row->device);
  char dev[VSS_UUID_STR_LEN + 1], fp[17], addr[300] = "-";
  static const uint8_t zero[CHAN_PK_LEN];
  vss_uuid_format(&row->device, dev);
  if (memcmp(row->pubkey, zero, sizeof zero) == 0) return 0;
  chan_fingerprint(row->pubkey, fp);
  if (cp && cp->has_addr)
    snprintf(addr, sizeof addr, "%s:%u", cp->addr.host,
             (unsigned)cp->addr.port);
  out_f(pc->o, 'o', "%s device=%s key=%s addr=%s link=%s%s",
        cp ? cp->name : row->name, dev, fp, addr,
        vss_link_class_name(cp ? cp->link.cls : VSS_LINK_ETHERNET),
        cp && cp->link.metered ? " metered" : "");
  pc->n++;
  return 0;
}

static int op_peers(ops_ctx *c, int argc, char **argv, out *o) {
  peers_ctx pc = {c, o, 0};
  NO_POS(argc);
  vss_store_iter_peers(c->h->store, peer_line, &pc);
  if (pc.n == 0) out_f(o, 'e', "no paired peers yet (see `vss-node pair`)");
  return EXIT_OK;
}

/* ---- local sidecars -------------------------------------------------- */

/* The bytes are already committed under the key (the CLI copied them):
 * the node checksums them and records the row and availability. */
static int record_one(ops_ctx *c, const char *uri, out *o) {
  vss_key key;
  vss_format fmt;
  uint64_t size;
  char path[4096];
  int rc;
  if (ops_parse_uri(uri, &key, &fmt, o) < 0) return VSS_ERR_INVALID;
  blobs_disk_path(c->h->dir, &key, fmt, path, sizeof path);
  if ((rc = vss_blobs_stat(c->h->blobs, &key, fmt, &size)) < 0) {
    out_f(o, 'e', "no bytes at %s: %s", path, vss_strerror(rc));
    return rc;
  }
  if ((rc = vss_node_add_local(c->node, &key, fmt, NULL, size, home_now())) <
      0) {
    out_f(o, 'e', "cannot record %s: %s", uri, vss_strerror(rc));
    return rc;
  }
  /* The extension is not part of the key: the row now names this format,
   * so bytes of the same key in another format would be orphaned. */
  for (int f = 0; f < VSS_FMT_COUNT; f++) {
    uint64_t other;
    if (f == (int)fmt ||
        vss_blobs_stat(c->h->blobs, &key, (vss_format)f, &other) < 0)
      continue;
    if (vss_blobs_remove(c->h->blobs, &key, (vss_format)f) == 0)
      out_f(o, 'e', "%s replaces the same sidecar's .%s file (removed)", uri,
            vss_format_ext((vss_format)f));
  }
  out_f(o, 'o', "%s %s", uri, path);
  return 0;
}

/* Many records share one transaction (one WAL commit per batch, not per
 * sidecar): a bulk import of thumbnails is then bound by reading and
 * hashing, not by commits. */
static int op_record(ops_ctx *c, int argc, char **argv, out *o) {
  enum { BATCH = 1000 };
  if (argc == 0) {
    out_f(o, 'e', "record needs sidecar URIs");
    return EXIT_USAGE;
  }
  /* The daemon's commit group holds a transaction open: end it first. */
  if (c->srv && srv_group_flush(c->srv) < 0) {
    out_f(o, 'e', "the daemon could not commit its pending sidecars");
    return EXIT_FAIL;
  }
  for (int i = 0; i < argc; i += BATCH) {
    int n = argc - i < BATCH ? argc - i : BATCH, rc = 0;
    if (n > 1 && (rc = vss_store_begin(c->h->store)) < 0) {
      out_f(o, 'e', "cannot begin a transaction: %s", vss_strerror(rc));
      return EXIT_FAIL;
    }
    for (int k = 0; k < n && rc == 0; k++)
      rc = record_one(c, argv[i + k], o);
    if (n > 1 && rc == 0 && (rc = vss_store_commit(c->h->store)) < 0)
      out_f(o, 'e', "cannot commit: %s", vss_strerror(rc));
    if (rc < 0) {
      if (n > 1) vss_store_rollback(c->h->store);
      if (i + n < argc || n > 1)
        out_f(o, 'e', "records %d..%d were not recorded; run add again", i + 1,
              argc);
      return EXIT_FAIL;
    }
  }
  return EXIT_OK;
}

typedef struct holders_ctx {
  ops_ctx *c;
  char names[512];
  size_t n;
  out *o;
  int per_line; /* presence: one line per holder */
  const char *uri;
} holders_ctx;

static int holder_cb(void *user, const vss_key *key, const vss_uuid *device,
                     int online, uint64_t size, const vss_hash *checksum) {
  holders_ctx *hc = user;
  char name[64], dev[VSS_UUID_STR_LEN + 1], sum[VSS_HASH_HEX_LEN + 1];
  size_t len = strlen(hc->names);
  (void)key;
  if (!paired_or_self(hc->c, device)) return 0;
  name_of(hc->c, device, name, sizeof name);
  if (hc->per_line) {
    vss_uuid_format(device, dev);
    vss_hash_hex(checksum, sum);
    out_f(hc->o, 'o',
          "%s device=%s name=%s online=%d size=%" PRIu64 " checksum=%s%s",
          hc->uri, dev, name, online, size, sum,
          vss_uuid_cmp(device, &hc->c->h->device) == 0 ? " self" : "");
  }
  snprintf(hc->names + len, sizeof hc->names - len, "%s%s%s", hc->n ? "," : "",
           name, online ? "" : "(offline)");
  hc->n++;
  return 0;
}

static int presence_of(ops_ctx *c, const vss_key *key, holders_ctx *hc) {
  const char *variants[1] = {key->variant};
  hc->names[0] = '\0';
  hc->n = 0;
  return vss_node_get_presence(c->node, &key->content, 1, key->kind, variants,
                               1, holder_cb, hc, home_now());
}

typedef struct list_ctx {
  ops_ctx *c;
  out *o;
  uint64_t n;
} list_ctx;

static int list_row(void *user, const vss_avail_row *row) {
  list_ctx *lc = user;
  holders_ctx hc;
  char uri[VSS_URI_MAX + 1], sum[VSS_HASH_HEX_LEN + 1];
  if (!row->has) return 0;
  vss_uri_format(&row->key, row->format, uri, sizeof uri);
  memset(&hc, 0, sizeof hc);
  hc.c = lc->c;
  hc.o = lc->o;
  presence_of(lc->c, &row->key, &hc);
  vss_hash_hex(&row->checksum, sum);
  out_f(lc->o, 'o', "%s size=%" PRIu64 " checksum=%s holders=%s", uri,
        row->size, sum, hc.names);
  lc->n++;
  return 0;
}

static int op_list(ops_ctx *c, int argc, char **argv, out *o) {
  list_ctx lc = {c, o, 0};
  int rc;
  NO_POS(argc);
  if ((rc = vss_store_iter_avail_since(c->h->store, 0, list_row, &lc)) < 0) {
    out_f(o, 'e', "cannot read %s: %s", c->h->db_path, vss_strerror(rc));
    return EXIT_FAIL;
  }
  if (lc.n == 0) out_f(o, 'e', "no local sidecars");
  return EXIT_OK;
}

static int op_presence(ops_ctx *c, int argc, char **argv, out *o) {
  int status = EXIT_OK;
  if (argc == 0) {
    out_f(o, 'e', "presence needs one or more sidecar URIs");
    return EXIT_USAGE;
  }
  for (int i = 0; i < argc; i++) {
    vss_key key;
    vss_format fmt;
    holders_ctx hc;
    int rc;
    if (ops_parse_uri(argv[i], &key, &fmt, o) < 0) return EXIT_USAGE;
    memset(&hc, 0, sizeof hc);
    hc.c = c;
    hc.o = o;
    hc.per_line = 1;
    hc.uri = argv[i];
    if ((rc = presence_of(c, &key, &hc)) < 0) {
      out_f(o, 'e', "presence of %s: %s", argv[i], vss_strerror(rc));
      status = EXIT_FAIL;
    } else if (hc.n == 0) {
      out_f(o, 'o', "%s none", argv[i]);
    }
  }
  return status;
}

static int parse_mode(const char *s, vss_resolve_mode *m) {
  static const char *const names[] = {"local", "fetch", "fetch-or-generate",
                                      "generate", "generate-async"};
  for (int i = 0; i < 5; i++)
    if (!strcmp(s, names[i])) {
      *m = (vss_resolve_mode)i;
      return 0;
    }
  return -1;
}

static int op_resolve(ops_ctx *c, int argc, char **argv, out *o) {
  const char *mode_s = "fetch-or-generate";
  vss_resolve_mode mode;
  vss_resolution r;
  vss_key key;
  vss_format fmt;
  char *pos[1], name[64], path[4096], dev[VSS_UUID_STR_LEN + 1];
  int npos, rc;
  optspec spec[] = {{"mode", 1, &mode_s, NULL}, {NULL, 0, NULL, NULL}};
  if (opts_parse(argc, argv, spec, pos, 1, &npos, o) < 0) return EXIT_USAGE;
  if (npos != 1 || ops_parse_uri(pos[0], &key, &fmt, o) < 0) {
    if (npos != 1) out_f(o, 'e', "resolve needs one sidecar URI");
    return EXIT_USAGE;
  }
  if (parse_mode(mode_s, &mode) < 0) {
    out_f(o, 'e',
          "--mode %s: expected local, fetch, fetch-or-generate, "
          "generate or generate-async",
          mode_s);
    return EXIT_USAGE;
  }
  if ((rc = vss_node_resolve(c->node, &key, fmt, mode, &r, home_now())) < 0) {
    out_f(o, 'e', "resolve %s: %s", pos[0], vss_strerror(rc));
    return EXIT_FAIL;
  }
  switch (r.kind) {
  case VSS_RESOLVED_LOCAL:
    fs_path(path, sizeof path, c->h->dir, r.rel_path);
    out_f(o, 'o', "local %s", path);
    return EXIT_OK;
  case VSS_RESOLVED_REMOTE:
    vss_uuid_format(&r.device, dev);
    out_f(o, 'o', "remote %s device=%s est_ms=%.3f",
          name_of(c, &r.device, name, sizeof name), dev,
          (double)r.est_cost / 1e6);
    return EXIT_OK;
  case VSS_RESOLVED_PENDING:
    out_f(o, 'o', "pending job=%" PRIu64 "%s", r.job,
          r.generate ? " generate" : "");
    return EXIT_OK;
  default:
    out_f(o, 'o', "missing");
    return EXIT_FAIL;
  }
}

/* ---- verification ---------------------------------------------------- */

typedef struct verify_ctx {
  ops_ctx *c;
  out *o;
  uint64_t ok, bad;
} verify_ctx;

static int verify_row(void *user, const vss_avail_row *a) {
  verify_ctx *vc = user;
  vss_sidecar_row row;
  vss_hash sum;
  uint64_t size = 0;
  char uri[VSS_URI_MAX + 1];
  const char *why = NULL;
  if (!a->has) return 0;
  vss_uri_format(&a->key, a->format, uri, sizeof uri);
  if (vss_store_get_sidecar(vc->c->h->store, &a->key, &row) < 0)
    why = "availability row without a sidecar row";
  else if (row.status != VSS_STATUS_READY)
    why = "sidecar row is not ready";
  else if (vss_blobs_stat(vc->c->h->blobs, &a->key, a->format, &size) < 0)
    why = "no bytes on disk";
  else if (size != row.size)
    why = "size on disk differs from the database";
  else if (vss_blobs_checksum(vc->c->h->blobs, &a->key, a->format, size, &sum) <
               0 ||
           !vss_hash_eq(&sum, &row.checksum))
    why = "checksum mismatch";
  if (why) {
    out_f(vc->o, 'o', "BAD %s: %s", uri, why);
    vc->bad++;
  } else {
    vc->ok++;
  }
  return 0;
}

static int op_verify(ops_ctx *c, int argc, char **argv, out *o) {
  verify_ctx vc = {c, o, 0, 0};
  NO_POS(argc);
  vss_store_iter_avail_since(c->h->store, 0, verify_row, &vc);
  out_f(o, 'o', "verified %" PRIu64 " sidecar(s), %" PRIu64 " bad", vc.ok,
        vc.bad);
  return vc.bad ? EXIT_FAIL : EXIT_OK;
}

/* ---- status ---------------------------------------------------------- */

static void ago(vss_time now, vss_time t, char *buf, size_t cap) {
  if (t == VSS_TIME_UNSET || t == 0 || t > now)
    snprintf(buf, cap, "-");
  else
    snprintf(buf, cap, "%.1fs", (double)(now - t) / 1e9);
}

static void status_peer(ops_ctx *c, const vss_peer_info *pi, vss_time now,
                        out *o) {
  peer_slot *p = c->srv ? net_slot(c->srv, &pi->device) : NULL;
  char name[64], dev[VSS_UUID_STR_LEN + 1], age[32], up[32];
  name_of(c, &pi->device, name, sizeof name);
  vss_uuid_format(&pi->device, dev);
  ago(now, pi->last_heard, age, sizeof age);
  ago(now, p ? (pi->online ? p->up_since : p->down_since) : 0, up, sizeof up);
  out_f(o, 'o',
        "peer %s device=%s state=%s for=%s addr=%s entries=%" PRIu64
        " avail_age=%s rate=%.1fMB/s rtt=%.2fms sent=%" PRIu64
        " received=%" PRIu64 " cipher=%s",
        name, dev, pi->online ? "online" : "offline", up,
        p && p->active ? conn_addr(p->active) : "-", pi->entries, age,
        pi->rate / 1e6, (double)pi->rtt / 1e6, p ? p->sent : 0,
        p ? p->received : 0, p && p->active ? conn_cipher(p->active) : "-");
}

static void status_jobs(ops_ctx *c, vss_time now, out *o) {
  vss_job_info jobs[64];
  int n = vss_node_jobs(c->node, jobs, 64);
  for (int i = 0; i < n && i < 64; i++) {
    char uri[VSS_URI_MAX + 1], age[32];
    vss_job_info *j = &jobs[i];
    vss_uri_format(&j->key, j->format, uri, sizeof uri);
    ago(now, j->started, age, sizeof age);
    out_f(o, 'o',
          "transfer job=%" PRIu64 " %s done=%" PRIu64 " size=%" PRIu64
          " progress=%.0f%% sources=%u %s age=%s",
          j->id, uri, j->done, j->size,
          j->size ? 100.0 * (double)j->done / (double)j->size : 0.0, j->sources,
          j->flags & VSS_EVF_PREFETCH ? "prefetch" : "foreground", age);
  }
  if (n > 64) out_f(o, 'o', "transfer ... and %d more", n - 64);
}

static int op_status(ops_ctx *c, int argc, char **argv, out *o) {
  vss_time now = home_now();
  vss_peer_info peers[64];
  uint64_t count = 0, bytes = 0;
  char dev[VSS_UUID_STR_LEN + 1], hb[32];
  int n;
  NO_POS(argc);
  vss_uuid_format(&c->h->device, dev);
  vss_store_count_avail(c->h->store, &count, &bytes);
  ops_human_bytes(bytes, hb, sizeof hb);
  out_f(o, 'o', "device %s name=%s", dev, c->h->cfg.name);
  if (c->srv)
    out_f(o, 'o',
          "daemon running pid=%ld listen=%s up=%.1fs refused=%" PRIu64
          " evicted=%" PRIu64,
          (long)getpid(), c->srv->listen_addr[0] ? c->srv->listen_addr : "off",
          (double)(now - c->srv->started) / 1e9, c->srv->refused,
          c->srv->evicted);
  if (c->srv) {
    uint64_t groups, grouped, syncfs_calls;
    blobs_disk_counts(c->h->blobs, &groups, &grouped, &syncfs_calls);
    out_f(o, 'o',
          "commits grouped=%" PRIu64 " groups=%" PRIu64 " syncfs=%" PRIu64,
          grouped, groups, syncfs_calls);
  } else
    out_f(o, 'o', "daemon not running (start it with `vss-node serve`)");
  out_f(o, 'o', "local sidecars=%" PRIu64 " bytes=%s", count, hb);
  if (c->srv == NULL) return op_peers(c, 0, NULL, o);
  n = vss_node_peers(c->node, peers, 64);
  for (int i = 0; i < n && i < 64; i++)
    if (paired_or_self(c, &peers[i].device)) status_peer(c, &peers[i], now, o);
  for (size_t i = 0; i < c->srv->nslots; i++) {
    peer_slot *p = c->srv->slots[i];
    int seen = 0;
    for (int k = 0; k < n && k < 64; k++)
      seen |= vss_uuid_cmp(&peers[k].device, &p->device) == 0;
    if (!seen) {
      vss_uuid_format(&p->device, dev);
      out_f(o, 'o', "peer %s device=%s state=never-connected addr=%s", p->name,
            dev, p->has_addr ? p->addr.host : "-");
    }
  }
  status_jobs(c, now, o);
  return EXIT_OK;
}

static int op_gossip(ops_ctx *c, int argc, char **argv, out *o) {
  int rc;
  NO_POS(argc);
  if ((rc = vss_node_gossip_now(c->node, home_now())) < 0) {
    out_f(o, 'e', "gossip: %s", vss_strerror(rc));
    return EXIT_FAIL;
  }
  out_f(o, 'o', "gossip round started");
  return EXIT_OK;
}

static int op_stop(ops_ctx *c, int argc, char **argv, out *o) {
  NO_POS(argc);
  srv_stop_soon(c->srv);
  out_f(o, 'o', "stopping");
  return EXIT_OK;
}

/* ---- the table ------------------------------------------------------- */

static const op_def OPS[] = {
    {"identity", op_identity, 0, "[--code]",
     "Print this device's name, id, public key, fingerprint and pairing "
     "code. --code prints only the code. Also `show identity`, `id`."},
    {"pair", op_pair, 0,
     "CODE [--addr HOST:PORT] [--name NAME] [--replace] [--link CLASS] "
     "[--metered] [--rtt-hint DURATION] [--rate-hint BYTES/S]",
     "Pin the device whose pairing code is CODE: only paired devices may "
     "connect. --addr makes this node dial it; without it the node only "
     "accepts its connections. Both devices pair each other. The link "
     "options describe the path (class, metered, expected RTT and rate: "
     "they seed the estimates that measured transfers then replace). A name "
     "another device has is refused unless --replace (the other device is "
     "then unpinned). Re-pairing a device with a new key ends its sessions "
     "and says `key changed`."},
    {"unpair", op_unpair, 0, "NAME|DEVICE",
     "Forget a paired device: its key is unpinned, its sessions end and it "
     "can no longer connect. NAME matches every device of that name."},
    {"peers", op_peers, 0, "", "List paired devices."},
    {"record", op_record, 0, "URI...",
     "(internal) Record a sidecar whose bytes are already in the layout."},
    {"list", op_list, 0, "",
     "List this device's sidecars, each with the devices that hold it."},
    {"presence", op_presence, 0, "URI... | --stdin",
     "Which devices (this one included) hold each sidecar, as learned by "
     "gossip and queries. --stdin reads URIs, one a line."},
    {"resolve", op_resolve, 0, "URI [--mode MODE]",
     "Decide where a sidecar would come from: local (prints the path), "
     "remote (the best source), pending or missing. MODE: local, fetch, "
     "fetch-or-generate (default), generate, generate-async."},
    {"fetch", NULL, 1, "URI... [--stdin] [--timeout SECONDS] [--progress]",
     "Fetch sidecars from paired devices into the local store (verified, "
     "then committed) and print their paths. --stdin reads URIs, one a "
     "line. Needs the daemon."},
    {"status", op_status, 0, "",
     "Peers (online, availability age, rate, bytes) and transfers in flight "
     "with progress."},
    {"gossip", op_gossip, 1, "", "Start an availability exchange now."},
    {"verify", op_verify, 0, "",
     "Check every ready sidecar's bytes against its checksum."},
    {"stop", op_stop, 1, "", "Stop the daemon."},
};

const op_def *ops_find(const char *verb) {
  for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
    if (!strcmp(OPS[i].verb, verb)) return &OPS[i];
  return NULL;
}

const op_def *ops_all(size_t *n) {
  *n = sizeof OPS / sizeof OPS[0];
  return OPS;
}

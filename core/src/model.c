/*
 * model.c - uuids, kind/format/status tables, sidecar keys, URIs and
 * on-disk relative paths. Pure functions: no I/O, no allocation.
 */
#include <stdio.h>
#include <string.h>

#include "vss/model.h"

#include "hex.h"

/* ---- helpers --------------------------------------------------------- */

/* strnlen is POSIX, not C11. */
static size_t bounded_len(const char *s, size_t max) {
  size_t n = 0;
  while (n < max && s[n])
    n++;
  return n;
}

/* Exact, length-bounded match of s[0..len) against a NUL-terminated name:
 * callers pass slices of larger strings (URIs, INI values). */
static int name_eq(const char *s, size_t len, const char *name) {
  return strlen(name) == len && memcmp(s, name, len) == 0;
}

static int table_find(const char *const *tab, size_t n, const char *s,
                      size_t len) {
  if (s == NULL) return -1;
  for (size_t i = 0; i < n; i++)
    if (name_eq(s, len, tab[i])) return (int)i;
  return -1;
}

#define COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- uuid ------------------------------------------------------------ */

/* Where the 32 digits sit in the hyphenated form (8-4-4-4-12). */
static const uint8_t uuid_digit36[32] = {
    0,  1,  2,  3,  4,  5,  6,  7,  9,  10, 11, 12, 14, 15, 16, 17,
    19, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35};

/* Table-driven: every availability row read back parses one. */
int vss_uuid_parse(vss_uuid *out, const char *s, size_t len) {
  vss_uuid u;
  int bad = 0;

  if (out == NULL || s == NULL || (len != 32 && len != VSS_UUID_STR_LEN))
    return VSS_ERR_INVALID;
  if (len == VSS_UUID_STR_LEN &&
      (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-'))
    return VSS_ERR_INVALID;
  for (int i = 0; i < 16; i++) {
    size_t a = len == 32 ? 2 * (size_t)i : uuid_digit36[2 * i];
    size_t b = len == 32 ? 2 * (size_t)i + 1 : uuid_digit36[2 * i + 1];
    int hi = vss_hex_val(s[a]), lo = vss_hex_val(s[b]);
    bad |= hi | lo;
    u.b[i] = (uint8_t)((hi & 0xf) << 4 | (lo & 0xf));
  }
  if (bad < 0) return VSS_ERR_INVALID;
  *out = u;
  return 0;
}

void vss_uuid_format(const vss_uuid *u, char out[VSS_UUID_STR_LEN + 1]) {
  char *p = out;

  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    vss_hex_byte(u->b[i], p);
    p += 2;
  }
  *p = '\0';
}

int vss_uuid_cmp(const vss_uuid *a, const vss_uuid *b) {
  int c = memcmp(a->b, b->b, sizeof(a->b));
  return (c > 0) - (c < 0);
}

int vss_uuid_is_nil(const vss_uuid *u) {
  for (size_t i = 0; i < sizeof(u->b); i++)
    if (u->b[i]) return 0;
  return 1;
}

/* ---- kinds, formats, statuses ---------------------------------------- */

static const char *const kind_names[VSS_KIND_COUNT] = {
    "thumb", "thumbstrip", "proxy",          "embeddings",
    "ocr",   "transcript", "gaussian_splat",
};
static const char *const kind_dirs[VSS_KIND_COUNT] = {
    "thumbs", "thumbstrips", "proxies",         "embeddings",
    "ocr",    "transcript",  "gaussian_splats",
};
static const char *const fmt_names[VSS_FMT_COUNT] = {
    "webp", "mp4", "json", "messagepack", "text", "ply",
};
static const char *const fmt_exts[VSS_FMT_COUNT] = {
    "webp", "mp4", "json", "msgpack", "txt", "ply",
};
static const char *const status_names[VSS_STATUS_COUNT] = {
    "pending",
    "ready",
    "failed",
};

const char *vss_kind_name(vss_kind k) {
  return (unsigned)k < VSS_KIND_COUNT ? kind_names[k] : NULL;
}

const char *vss_kind_dir(vss_kind k) {
  return (unsigned)k < VSS_KIND_COUNT ? kind_dirs[k] : NULL;
}

static int parse_into(const char *const *tab, size_t n, const char *s,
                      size_t len, int *out) {
  int i = table_find(tab, n, s, len);
  if (i < 0) return VSS_ERR_INVALID;
  *out = i;
  return 0;
}

int vss_kind_parse(const char *s, size_t len, vss_kind *out) {
  int i, rc = parse_into(kind_names, COUNTOF(kind_names), s, len, &i);
  if (rc == 0) *out = (vss_kind)i;
  return rc;
}

int vss_kind_from_dir(const char *s, size_t len, vss_kind *out) {
  int i, rc = parse_into(kind_dirs, COUNTOF(kind_dirs), s, len, &i);
  if (rc == 0) *out = (vss_kind)i;
  return rc;
}

const char *vss_format_name(vss_format f) {
  return (unsigned)f < VSS_FMT_COUNT ? fmt_names[f] : NULL;
}

const char *vss_format_ext(vss_format f) {
  return (unsigned)f < VSS_FMT_COUNT ? fmt_exts[f] : NULL;
}

int vss_format_parse(const char *s, size_t len, vss_format *out) {
  int i, rc = parse_into(fmt_names, COUNTOF(fmt_names), s, len, &i);
  if (rc == 0) *out = (vss_format)i;
  return rc;
}

int vss_format_from_ext(const char *s, size_t len, vss_format *out) {
  int i, rc = parse_into(fmt_exts, COUNTOF(fmt_exts), s, len, &i);
  if (rc == 0) *out = (vss_format)i;
  return rc;
}

const char *vss_status_name(vss_status s) {
  return (unsigned)s < VSS_STATUS_COUNT ? status_names[s] : NULL;
}

int vss_status_parse(const char *s, size_t len, vss_status *out) {
  int i, rc = parse_into(status_names, COUNTOF(status_names), s, len, &i);
  if (rc == 0) *out = (vss_status)i;
  return rc;
}

/* ---- keys ------------------------------------------------------------ */

/* [A-Za-z0-9@._-], as a table: keys are validated wherever they are
 * read (wire, store), several times per digest entry. */
#define VC(c) [c] = 1
static const uint8_t variant_ok[256] = {
    VC('0'), VC('1'), VC('2'), VC('3'), VC('4'), VC('5'), VC('6'), VC('7'),
    VC('8'), VC('9'), VC('a'), VC('b'), VC('c'), VC('d'), VC('e'), VC('f'),
    VC('g'), VC('h'), VC('i'), VC('j'), VC('k'), VC('l'), VC('m'), VC('n'),
    VC('o'), VC('p'), VC('q'), VC('r'), VC('s'), VC('t'), VC('u'), VC('v'),
    VC('w'), VC('x'), VC('y'), VC('z'), VC('A'), VC('B'), VC('C'), VC('D'),
    VC('E'), VC('F'), VC('G'), VC('H'), VC('I'), VC('J'), VC('K'), VC('L'),
    VC('M'), VC('N'), VC('O'), VC('P'), VC('Q'), VC('R'), VC('S'), VC('T'),
    VC('U'), VC('V'), VC('W'), VC('X'), VC('Y'), VC('Z'), VC('@'), VC('.'),
    VC('_'), VC('-')};
#undef VC

static int variant_char_ok(unsigned char c) {
  return variant_ok[c];
}

int vss_variant_valid(const char *s, size_t len) {
  if (s == NULL || len == 0 || len > VSS_VARIANT_MAX) return 0;
  /* "." and ".." would name a directory, not a file. */
  if (s[0] == '.' && (len == 1 || (len == 2 && s[1] == '.'))) return 0;
  for (size_t i = 0; i < len; i++)
    if (!variant_char_ok((unsigned char)s[i])) return 0;
  return 1;
}

static int key_valid(const vss_key *k) {
  size_t n;

  if (k == NULL || (unsigned)k->kind >= VSS_KIND_COUNT) return 0;
  n = bounded_len(k->variant, sizeof(k->variant));
  return n < sizeof(k->variant) && vss_variant_valid(k->variant, n);
}

int vss_key_set(vss_key *k, const vss_uuid *content, vss_kind kind,
                const char *variant) {
  size_t n;

  if (k == NULL || content == NULL || variant == NULL ||
      (unsigned)kind >= VSS_KIND_COUNT)
    return VSS_ERR_INVALID;
  n = bounded_len(variant, VSS_VARIANT_MAX + 1);
  if (!vss_variant_valid(variant, n)) return VSS_ERR_INVALID;
  /* Zero the whole key so equal keys are equal bytes (hashing, memcmp). */
  memset(k, 0, sizeof(*k));
  k->content = *content;
  k->kind = kind;
  memcpy(k->variant, variant, n);
  return 0;
}

int vss_key_cmp(const vss_key *a, const vss_key *b) {
  int c = vss_uuid_cmp(&a->content, &b->content);
  if (c) return c;
  if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
  c = strcmp(a->variant, b->variant);
  return (c > 0) - (c < 0);
}

unsigned vss_variant_pixels(const char *variant) {
  static const struct {
    const char *name;
    unsigned px;
  } sizes[] = {
      {"grid@1x", 256},    {"grid@2x", 512}, {"detail@1x", 1024},
      {"detail@2x", 2048}, {"icon@1x", 128}, {"icon@2x", 256},
  };

  if (variant == NULL) return 0;
  for (size_t i = 0; i < COUNTOF(sizes); i++)
    if (strcmp(variant, sizes[i].name) == 0) return sizes[i].px;
  return 0;
}

/* ---- URIs and paths -------------------------------------------------- */

#define URI_SCHEME "sidecar://"
#define URI_SCHEME_LEN (sizeof(URI_SCHEME) - 1)

static const char *memchr_c(const char *s, size_t len, char c) {
  return len ? memchr(s, c, len) : NULL;
}

/* "{variant}.{ext}": the variant may hold dots ("v1.2"), the extension
 * never does, so the last dot splits them. */
static int parse_file_name(const char *s, size_t len, vss_key *key,
                           vss_format *fmt) {
  size_t dot = len;

  while (dot > 0 && s[dot - 1] != '.')
    dot--;
  if (dot == 0) return VSS_ERR_INVALID;
  if (vss_format_from_ext(s + dot, len - dot, fmt) != 0) return VSS_ERR_INVALID;
  if (!vss_variant_valid(s, dot - 1)) return VSS_ERR_INVALID;
  memset(key->variant, 0, sizeof(key->variant));
  memcpy(key->variant, s, dot - 1);
  return 0;
}

int vss_uri_parse(const char *uri, size_t len, vss_key *key, vss_format *fmt) {
  const char *p, *slash;
  size_t left;
  vss_key k;
  vss_format f;

  if (uri == NULL || key == NULL || fmt == NULL || len > VSS_URI_MAX ||
      len < URI_SCHEME_LEN || memcmp(uri, URI_SCHEME, URI_SCHEME_LEN) != 0)
    return VSS_ERR_INVALID;
  memset(&k, 0, sizeof(k));
  p = uri + URI_SCHEME_LEN;
  left = len - URI_SCHEME_LEN;

  /* Only the canonical hyphenated uuid, so one key has one URI. */
  if (left < VSS_UUID_STR_LEN + 1 || p[VSS_UUID_STR_LEN] != '/' ||
      vss_uuid_parse(&k.content, p, VSS_UUID_STR_LEN) != 0)
    return VSS_ERR_INVALID;
  p += VSS_UUID_STR_LEN + 1;
  left -= VSS_UUID_STR_LEN + 1;

  slash = memchr_c(p, left, '/');
  if (slash == NULL || vss_kind_from_dir(p, (size_t)(slash - p), &k.kind) != 0)
    return VSS_ERR_INVALID;
  left -= (size_t)(slash - p) + 1;
  p = slash + 1;

  /* The rest is one file name: any further slash is a path. */
  if (memchr_c(p, left, '/') != NULL || parse_file_name(p, left, &k, &f) != 0)
    return VSS_ERR_INVALID;
  *key = k;
  *fmt = f;
  return 0;
}

/* Returns the snprintf length, or VSS_ERR_BUFFER when it did not fit. */
static int fit(int n, size_t cap) {
  if (n < 0) return VSS_ERR_INVALID;
  return (size_t)n < cap ? n : VSS_ERR_BUFFER;
}

int vss_uri_format(const vss_key *key, vss_format fmt, char *buf, size_t cap) {
  char u[VSS_UUID_STR_LEN + 1];

  if (!key_valid(key) || (unsigned)fmt >= VSS_FMT_COUNT || (buf == NULL && cap))
    return VSS_ERR_INVALID;
  vss_uuid_format(&key->content, u);
  return fit(snprintf(buf, cap, URI_SCHEME "%s/%s/%s.%s", u,
                      kind_dirs[key->kind], key->variant, fmt_exts[fmt]),
             cap);
}

int vss_rel_path(const vss_key *key, vss_format fmt, char *buf, size_t cap) {
  char u[VSS_UUID_STR_LEN + 1];

  if (!key_valid(key) || (unsigned)fmt >= VSS_FMT_COUNT || (buf == NULL && cap))
    return VSS_ERR_INVALID;
  vss_uuid_format(&key->content, u);
  /* h0/h1: the first two byte-pairs of the hex, which are u[0..4). */
  return fit(snprintf(buf, cap, "sidecars/content/%.2s/%.2s/%s/%s/%s.%s", u,
                      u + 2, u, kind_dirs[key->kind], key->variant,
                      fmt_exts[fmt]),
             cap);
}

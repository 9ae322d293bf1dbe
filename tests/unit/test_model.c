/*
 * test_model.c - errors, uuids, name tables, keys, URIs, relative paths,
 * and the names of links, strategies and events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vss/vss.h"

#define UUID_S "550e8400-e29b-41d4-a716-446655440000"

static vss_uuid uuid_of(const char *s) {
  vss_uuid u;
  assert_int_equal(vss_uuid_parse(&u, s, strlen(s)), 0);
  return u;
}

static vss_key key_of(const char *u, vss_kind kind, const char *variant) {
  vss_key k;
  vss_uuid id = uuid_of(u);
  assert_int_equal(vss_key_set(&k, &id, kind, variant), 0);
  return k;
}

/* ---- errors ---------------------------------------------------------- */

static void test_strerror(void **state) {
  (void)state;
  assert_string_equal(vss_strerror(VSS_OK), "success");
  assert_string_equal(vss_strerror(VSS_ERR_CHECKSUM), "checksum mismatch");
  assert_string_equal(vss_strerror(VSS_ERR_BUFFER), "output buffer too small");
  for (int rc = VSS_ERR_MIN; rc <= 0; rc++) {
    const char *s = vss_strerror(rc);
    assert_non_null(s);
    assert_true(strlen(s) > 0);
    assert_string_not_equal(s, "unknown error");
    /* Each code has its own text. */
    for (int o = VSS_ERR_MIN; o < rc; o++)
      assert_string_not_equal(s, vss_strerror(o));
  }
  assert_string_equal(vss_strerror(VSS_ERR_MIN - 1), "unknown error");
  assert_string_equal(vss_strerror(1), "unknown error");
  assert_string_equal(vss_strerror(-1000), "unknown error");
}

/* ---- uuid ------------------------------------------------------------ */

static void test_uuid_parse_format(void **state) {
  vss_uuid u, v;
  char s[VSS_UUID_STR_LEN + 1];
  (void)state;

  assert_int_equal(vss_uuid_parse(&u, UUID_S, 36), 0);
  assert_int_equal(u.b[0], 0x55);
  assert_int_equal(u.b[1], 0x0e);
  assert_int_equal(u.b[15], 0x00);
  vss_uuid_format(&u, s);
  assert_string_equal(s, UUID_S);

  /* Upper case and the plain 32-char form give the same uuid. */
  assert_int_equal(
      vss_uuid_parse(&v, "550E8400-E29B-41D4-A716-446655440000", 36), 0);
  assert_int_equal(vss_uuid_cmp(&u, &v), 0);
  assert_int_equal(vss_uuid_parse(&v, "550e8400e29b41d4a716446655440000", 32),
                   0);
  assert_memory_equal(u.b, v.b, 16);
}

static void test_uuid_parse_rejects(void **state) {
  vss_uuid u;
  const char *bad[] = {
      "550e8400-e29b-41d4-a716-44665544000",   /* short */
      "550e8400-e29b-41d4-a716-4466554400000", /* long */
      "550e8400-e29b-41d4-a716-44665544000g",  /* not hex */
      "550e8400xe29b-41d4-a716-446655440000",  /* wrong separator */
      "550e84000e29b-41d4-a716-44665544000",   /* hyphen moved */
      "550e8400e29b41d4a716446655440000-",     /* 33 chars */
      "",
  };
  (void)state;
  memset(&u, 0xaa, sizeof(u));
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(vss_uuid_parse(&u, bad[i], strlen(bad[i])),
                     VSS_ERR_INVALID);
  /* Output untouched on failure. */
  for (int i = 0; i < 16; i++)
    assert_int_equal(u.b[i], 0xaa);
  /* The length is honoured, not the NUL. */
  assert_int_equal(vss_uuid_parse(&u, UUID_S "ff", 36), 0);
}

static void test_uuid_cmp_nil(void **state) {
  vss_uuid a, b, z;
  (void)state;
  memset(&z, 0, sizeof(z));
  a = uuid_of("00000000-0000-0000-0000-000000000001");
  b = uuid_of("01000000-0000-0000-0000-000000000000");
  assert_true(vss_uuid_is_nil(&z));
  assert_false(vss_uuid_is_nil(&a));
  assert_int_equal(vss_uuid_cmp(&a, &b), -1);
  assert_int_equal(vss_uuid_cmp(&b, &a), 1);
  assert_int_equal(vss_uuid_cmp(&a, &a), 0);
}

/* ---- name tables ----------------------------------------------------- */

static void test_kinds(void **state) {
  static const char *names[] = {"thumb",         "thumbstrip", "proxy",
                                "embeddings",    "ocr",        "transcript",
                                "gaussian_splat"};
  static const char *dirs[] = {"thumbs",         "thumbstrips", "proxies",
                               "embeddings",     "ocr",         "transcript",
                               "gaussian_splats"};
  (void)state;
  for (int k = 0; k < VSS_KIND_COUNT; k++) {
    vss_kind out = VSS_KIND_COUNT;
    assert_string_equal(vss_kind_name((vss_kind)k), names[k]);
    assert_string_equal(vss_kind_dir((vss_kind)k), dirs[k]);
    assert_int_equal(vss_kind_parse(names[k], strlen(names[k]), &out), 0);
    assert_int_equal(out, k);
    out = VSS_KIND_COUNT;
    assert_int_equal(vss_kind_from_dir(dirs[k], strlen(dirs[k]), &out), 0);
    assert_int_equal(out, k);
  }
  assert_null(vss_kind_name(VSS_KIND_COUNT));
  assert_null(vss_kind_dir((vss_kind)-1));
  vss_kind out;
  assert_int_equal(vss_kind_parse("thumbs", 6, &out), VSS_ERR_INVALID);
  assert_int_equal(vss_kind_parse("thum", 4, &out), VSS_ERR_INVALID);
  assert_int_equal(vss_kind_parse("Thumb", 5, &out), VSS_ERR_INVALID);
  assert_int_equal(vss_kind_parse("", 0, &out), VSS_ERR_INVALID);
  assert_int_equal(vss_kind_from_dir("thumb", 5, &out), VSS_ERR_INVALID);
  /* A slice: "proxy" inside a longer string. */
  assert_int_equal(vss_kind_parse("proxy/x", 5, &out), 0);
  assert_int_equal(out, VSS_KIND_PROXY);
}

static void test_formats_statuses(void **state) {
  static const char *names[] = {"webp",        "mp4",  "json",
                                "messagepack", "text", "ply"};
  static const char *exts[] = {"webp", "mp4", "json", "msgpack", "txt", "ply"};
  static const char *st[] = {"pending", "ready", "failed"};
  vss_format f;
  vss_status s;
  (void)state;
  for (int i = 0; i < VSS_FMT_COUNT; i++) {
    assert_string_equal(vss_format_name((vss_format)i), names[i]);
    assert_string_equal(vss_format_ext((vss_format)i), exts[i]);
    assert_int_equal(vss_format_parse(names[i], strlen(names[i]), &f), 0);
    assert_int_equal(f, i);
    assert_int_equal(vss_format_from_ext(exts[i], strlen(exts[i]), &f), 0);
    assert_int_equal(f, i);
  }
  assert_null(vss_format_name(VSS_FMT_COUNT));
  assert_int_equal(vss_format_parse("msgpack", 7, &f), VSS_ERR_INVALID);
  assert_int_equal(vss_format_from_ext("messagepack", 11, &f), VSS_ERR_INVALID);
  assert_int_equal(vss_format_from_ext("text", 4, &f), VSS_ERR_INVALID);
  for (int i = 0; i < VSS_STATUS_COUNT; i++) {
    assert_string_equal(vss_status_name((vss_status)i), st[i]);
    assert_int_equal(vss_status_parse(st[i], strlen(st[i]), &s), 0);
    assert_int_equal(s, i);
  }
  assert_null(vss_status_name(VSS_STATUS_COUNT));
  assert_int_equal(vss_status_parse("READY", 5, &s), VSS_ERR_INVALID);
}

/* ---- keys ------------------------------------------------------------ */

static void test_variant_valid(void **state) {
  char long63[64], long64[65];
  (void)state;
  memset(long63, 'a', 63);
  long63[63] = 0;
  memset(long64, 'a', 64);
  long64[64] = 0;
  const char *good[] = {"grid@2x", "detail@1x", "1080p", "all-MiniLM-L6-v2",
                        "default", "v1.2",      "a_b",   "...",
                        ".hidden", "a..b",      long63};
  const char *bad[] = {"",     ".", "..",  "a/b",  "../x", "a b",
                       "a\\b", "é", "a:b", "a\tb", "%2e",  long64};
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    assert_true(vss_variant_valid(good[i], strlen(good[i])));
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_false(vss_variant_valid(bad[i], strlen(bad[i])));
  /* Embedded NUL is not a variant byte. */
  assert_false(vss_variant_valid("ab\0c", 4));
  assert_false(vss_variant_valid(NULL, 0));
}

static void test_key_set_cmp(void **state) {
  vss_key a, b;
  vss_uuid u = uuid_of(UUID_S);
  (void)state;

  memset(&a, 0x5a, sizeof(a));
  assert_int_equal(vss_key_set(&a, &u, VSS_KIND_THUMB, "grid@2x"), 0);
  assert_string_equal(a.variant, "grid@2x");
  assert_int_equal(a.kind, VSS_KIND_THUMB);
  /* Padding after the variant is zeroed: equal keys are equal bytes. */
  assert_int_equal(vss_key_set(&b, &u, VSS_KIND_THUMB, "grid@2x"), 0);
  assert_memory_equal(&a, &b, sizeof(a));
  assert_int_equal(vss_key_cmp(&a, &b), 0);

  assert_int_equal(vss_key_set(&b, &u, VSS_KIND_THUMB, "grid@1x"), 0);
  assert_int_equal(vss_key_cmp(&b, &a), -1);
  assert_int_equal(vss_key_cmp(&a, &b), 1);
  assert_int_equal(vss_key_set(&b, &u, VSS_KIND_OCR, "a"), 0);
  assert_int_equal(vss_key_cmp(&a, &b), -1); /* kind before variant */

  assert_int_equal(vss_key_set(&b, &u, VSS_KIND_COUNT, "x"), VSS_ERR_INVALID);
  assert_int_equal(vss_key_set(&b, &u, VSS_KIND_THUMB, ".."), VSS_ERR_INVALID);
  assert_int_equal(vss_key_set(&b, &u, VSS_KIND_THUMB, "a/b"), VSS_ERR_INVALID);
  assert_int_equal(vss_key_set(&b, &u, VSS_KIND_THUMB, NULL), VSS_ERR_INVALID);
  char long64[65];
  memset(long64, 'x', 64);
  long64[64] = 0;
  assert_int_equal(vss_key_set(&b, &u, VSS_KIND_THUMB, long64),
                   VSS_ERR_INVALID);
}

static void test_variant_pixels(void **state) {
  (void)state;
  assert_int_equal(vss_variant_pixels("grid@1x"), 256);
  assert_int_equal(vss_variant_pixels("grid@2x"), 512);
  assert_int_equal(vss_variant_pixels("detail@1x"), 1024);
  assert_int_equal(vss_variant_pixels("detail@2x"), 2048);
  assert_int_equal(vss_variant_pixels("icon@1x"), 128);
  assert_int_equal(vss_variant_pixels("icon@2x"), 256);
  assert_int_equal(vss_variant_pixels("grid@3x"), 0);
  assert_int_equal(vss_variant_pixels("default"), 0);
  assert_int_equal(vss_variant_pixels(NULL), 0);
}

/* ---- URIs ------------------------------------------------------------ */

static void test_uri_round_trip(void **state) {
  char buf[VSS_URI_MAX + 1];
  vss_key k, out;
  vss_format f;
  (void)state;

  k = key_of(UUID_S, VSS_KIND_THUMB, "grid@2x");
  assert_int_equal(vss_uri_format(&k, VSS_FMT_WEBP, buf, sizeof(buf)),
                   (int)strlen("sidecar://" UUID_S "/thumbs/grid@2x.webp"));
  assert_string_equal(buf, "sidecar://" UUID_S "/thumbs/grid@2x.webp");
  assert_int_equal(vss_uri_parse(buf, strlen(buf), &out, &f), 0);
  assert_int_equal(vss_key_cmp(&k, &out), 0);
  assert_int_equal(f, VSS_FMT_WEBP);

  /* Every kind and format, and variants with dots. */
  const char *variants[] = {"v1.2", "a.b.c", "...", "all-MiniLM-L6-v2"};
  for (int kind = 0; kind < VSS_KIND_COUNT; kind++)
    for (int fmt = 0; fmt < VSS_FMT_COUNT; fmt++)
      for (size_t v = 0; v < 4; v++) {
        k = key_of(UUID_S, (vss_kind)kind, variants[v]);
        int n = vss_uri_format(&k, (vss_format)fmt, buf, sizeof(buf));
        assert_true(n > 0);
        assert_int_equal(vss_uri_parse(buf, (size_t)n, &out, &f), 0);
        assert_int_equal(vss_key_cmp(&k, &out), 0);
        assert_memory_equal(&k, &out, sizeof(k));
        assert_int_equal(f, fmt);
      }

  k = key_of(UUID_S, VSS_KIND_OCR, "v1.2");
  assert_true(vss_uri_format(&k, VSS_FMT_JSON, buf, sizeof(buf)) > 0);
  assert_string_equal(buf, "sidecar://" UUID_S "/ocr/v1.2.json");
}

static void test_uri_format_buffer(void **state) {
  char buf[VSS_URI_MAX + 1];
  vss_key k = key_of(UUID_S, VSS_KIND_THUMB, "grid@2x");
  const char *want = "sidecar://" UUID_S "/thumbs/grid@2x.webp";
  int n = (int)strlen(want);
  (void)state;

  assert_int_equal(vss_uri_format(&k, VSS_FMT_WEBP, buf, (size_t)n + 1), n);
  assert_int_equal(vss_uri_format(&k, VSS_FMT_WEBP, buf, (size_t)n),
                   VSS_ERR_BUFFER);
  assert_int_equal(vss_uri_format(&k, VSS_FMT_WEBP, NULL, 0), VSS_ERR_BUFFER);
  assert_int_equal(vss_uri_format(&k, VSS_FMT_COUNT, buf, sizeof(buf)),
                   VSS_ERR_INVALID);
  k.kind = VSS_KIND_COUNT;
  assert_int_equal(vss_uri_format(&k, VSS_FMT_WEBP, buf, sizeof(buf)),
                   VSS_ERR_INVALID);
}

static void test_uri_rejects(void **state) {
  const char *bad[] = {
      "sidecar://" UUID_S "/thumbs/grid@2x",          /* no ext */
      "sidecar://" UUID_S "/thumbs/grid@2x.png",      /* unknown ext */
      "sidecar://" UUID_S "/thumb/grid@2x.webp",      /* name, not dir */
      "sidecar://" UUID_S "/thumbs//grid@2x.webp",    /* extra slash */
      "sidecar://" UUID_S "//thumbs/grid@2x.webp",    /* extra slash */
      "sidecar://" UUID_S "/thumbs/a/grid@2x.webp",   /* nested path */
      "sidecar://" UUID_S "/thumbs/grid@2x.webp/",    /* trailing slash */
      "sidecar://" UUID_S "/thumbs/grid@2x.webp?x=1", /* trailing junk */
      "sidecar://" UUID_S "/thumbs/grid@2x.webp ",    /* trailing space */
      "sidecar://" UUID_S "/thumbs/..webp",           /* variant "." */
      "sidecar://" UUID_S "/thumbs/...webp",          /* variant ".." */
      "sidecar://" UUID_S "/thumbs/.webp",            /* empty variant */
      "sidecar://" UUID_S "/thumbs/gr id.webp",       /* bad variant */
      "sidecar://" UUID_S "/thumbs",                  /* no file */
      "sidecar://" UUID_S "/thumbs/",                 /* no file */
      "sidecar://" UUID_S,                            /* no kind */
      "sidecar://550e8400e29b41d4a716446655440000/thumbs/grid@2x.webp",
      "sidecar://550e8400-e29b-41d4-a716-44665544000/thumbs/g.webp",
      "sidecar:/" UUID_S "/thumbs/grid@2x.webp", /* bad scheme */
      "Sidecar://" UUID_S "/thumbs/grid@2x.webp",
      "file://" UUID_S "/thumbs/grid@2x.webp",
      "",
      "sidecar://",
  };
  vss_key k;
  vss_format f;
  (void)state;

  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = vss_uri_parse(bad[i], strlen(bad[i]), &k, &f);
    if (rc != VSS_ERR_INVALID) fail_msg("accepted %s", bad[i]);
  }
  /* Embedded NUL inside the length. */
  const char nul[] = "sidecar://" UUID_S "/thumbs/grid@2x.webp\0";
  assert_int_equal(vss_uri_parse(nul, sizeof(nul) - 1, &k, &f),
                   VSS_ERR_INVALID);
  /* Too long overall. */
  char big[VSS_URI_MAX + 2];
  memset(big, 'a', sizeof(big));
  memcpy(big, "sidecar://", 10);
  assert_int_equal(vss_uri_parse(big, sizeof(big), &k, &f), VSS_ERR_INVALID);
}

/* ---- relative paths -------------------------------------------------- */

static void test_rel_path(void **state) {
  char buf[VSS_REL_PATH_MAX + 1];
  vss_key k = key_of(UUID_S, VSS_KIND_THUMB, "grid@2x");
  const char *want = "sidecars/content/55/0e/" UUID_S "/thumbs/grid@2x.webp";
  (void)state;

  assert_int_equal(vss_rel_path(&k, VSS_FMT_WEBP, buf, sizeof(buf)),
                   (int)strlen(want));
  assert_string_equal(buf, want);

  k = key_of("ABCDEF01-2345-6789-abcd-ef0123456789", VSS_KIND_GAUSSIAN_SPLAT,
             "v1.2");
  assert_true(vss_rel_path(&k, VSS_FMT_PLY, buf, sizeof(buf)) > 0);
  assert_string_equal(buf, "sidecars/content/ab/cd/"
                           "abcdef01-2345-6789-abcd-ef0123456789/"
                           "gaussian_splats/v1.2.ply");

  k = key_of(UUID_S, VSS_KIND_THUMB, "grid@2x");
  assert_int_equal(vss_rel_path(&k, VSS_FMT_WEBP, buf, strlen(want)),
                   VSS_ERR_BUFFER);
  assert_int_equal(vss_rel_path(&k, (vss_format)99, buf, sizeof(buf)),
                   VSS_ERR_INVALID);

  /* The longest key still fits the documented maxima. */
  char v[VSS_VARIANT_MAX + 1];
  memset(v, 'x', VSS_VARIANT_MAX);
  v[VSS_VARIANT_MAX] = 0;
  k = key_of(UUID_S, VSS_KIND_GAUSSIAN_SPLAT, v);
  assert_true(vss_rel_path(&k, VSS_FMT_MSGPACK, buf, sizeof(buf)) > 0);
  char ubuf[VSS_URI_MAX + 1];
  assert_true(vss_uri_format(&k, VSS_FMT_MSGPACK, ubuf, sizeof(ubuf)) > 0);
}

/* ---- names ----------------------------------------------------------- */

static void test_link_strategy_names(void **state) {
  static const char *links[] = {"ethernet", "wifi", "internet", "cellular"};
  static const char *strat[] = {"cost", "prefer-fetch", "prefer-generate"};
  vss_link_class c;
  vss_strategy s;
  (void)state;
  for (int i = 0; i < VSS_LINK_COUNT; i++) {
    assert_string_equal(vss_link_class_name((vss_link_class)i), links[i]);
    assert_int_equal(vss_link_class_parse(links[i], strlen(links[i]), &c), 0);
    assert_int_equal(c, i);
  }
  assert_null(vss_link_class_name(VSS_LINK_COUNT));
  assert_int_equal(vss_link_class_parse("wi", 2, &c), VSS_ERR_INVALID);
  assert_int_equal(vss_link_class_parse("WiFi", 4, &c), VSS_ERR_INVALID);
  for (int i = 0; i < 3; i++) {
    assert_string_equal(vss_strategy_name((vss_strategy)i), strat[i]);
    assert_int_equal(vss_strategy_parse(strat[i], strlen(strat[i]), &s), 0);
    assert_int_equal(s, i);
  }
  assert_null(vss_strategy_name((vss_strategy)3));
  assert_int_equal(vss_strategy_parse("prefer_fetch", 12, &s), VSS_ERR_INVALID);
}

static void test_event_names(void **state) {
  (void)state;
  for (int i = 0; i < VSS_EV_COUNT; i++) {
    const char *n = vss_event_name((vss_event_type)i);
    assert_non_null(n);
    for (const char *p = n; *p; p++)
      assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
    for (int j = 0; j < i; j++)
      assert_string_not_equal(n, vss_event_name((vss_event_type)j));
  }
  assert_string_equal(vss_event_name(VSS_EV_DIGEST_SENT), "digest_sent");
  assert_string_equal(vss_event_name(VSS_EV_FETCH_DONE), "fetch_done");
  assert_string_equal(vss_event_name(VSS_EV_PROTO_ERROR), "proto_error");
  assert_null(vss_event_name(VSS_EV_COUNT));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strerror),
      cmocka_unit_test(test_uuid_parse_format),
      cmocka_unit_test(test_uuid_parse_rejects),
      cmocka_unit_test(test_uuid_cmp_nil),
      cmocka_unit_test(test_kinds),
      cmocka_unit_test(test_formats_statuses),
      cmocka_unit_test(test_variant_valid),
      cmocka_unit_test(test_key_set_cmp),
      cmocka_unit_test(test_variant_pixels),
      cmocka_unit_test(test_uri_round_trip),
      cmocka_unit_test(test_uri_format_buffer),
      cmocka_unit_test(test_uri_rejects),
      cmocka_unit_test(test_rel_path),
      cmocka_unit_test(test_link_strategy_names),
      cmocka_unit_test(test_event_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

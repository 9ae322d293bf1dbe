/*
 * test_config.c - config.ini: defaults round trip, file:line errors, the
 * value parsers, and peer sections added, replaced and removed without
 * touching the rest of the file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char path[256];

static int setup(void **st) {
  (void)st;
  snprintf(path, sizeof path, "/tmp/vss-cfg-%d.ini", (int)getpid());
  unlink(path);
  return 0;
}

static int teardown(void **st) {
  (void)st;
  unlink(path);
  return 0;
}

static void write_text(const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_defaults(void **st) {
  cfg c;
  char err[256];
  (void)st;
  assert_int_equal(
      cfg_write_default(path, "alice", "127.0.0.1:7000", err, sizeof err), 0);
  assert_true(cfg_write_default(path, "x", "off", err, sizeof err) < 0);
  assert_int_equal(cfg_load(&c, path, err, sizeof err), 0);
  assert_string_equal(c.name, "alice");
  assert_int_equal(c.listen.port, 7000);
  assert_int_equal(c.core.prefetch.eager_kinds, VSS_KIND_BIT(VSS_KIND_THUMB));
  assert_int_equal(c.core.prefetch.never_kinds, VSS_KIND_BIT(VSS_KIND_PROXY));
  assert_int_equal(c.core.gossip_interval, 300 * VSS_NS_PER_S);
  assert_int_equal(c.npeers, 0);
  cfg_free(&c);
}

static void test_errors_name_line(void **st) {
  cfg c;
  char err[256], want[300];
  (void)st;
  write_text("[node]\nname = a\n\n[gossip]\ninterval = soon\n");
  assert_true(cfg_load(&c, path, err, sizeof err) < 0);
  snprintf(want, sizeof want, "%s:5:", path);
  assert_non_null(strstr(err, want));
  write_text("[node]\nbogus = 1\n");
  assert_true(cfg_load(&c, path, err, sizeof err) < 0);
  assert_non_null(strstr(err, ":2: unknown key in [node]"));
  write_text("[nodes]\nname = a\n");
  assert_true(cfg_load(&c, path, err, sizeof err) < 0);
  assert_non_null(strstr(err, "unknown section"));
  write_text("[peer x]\naddr = 1.2.3.4:5\n");
  assert_true(cfg_load(&c, path, err, sizeof err) < 0);
  assert_non_null(strstr(err, "has no device"));
}

static void test_parsers(void **st) {
  uint64_t v;
  vss_time t;
  cfg_addr a;
  (void)st;
  assert_int_equal(cfg_parse_size("10M", &v), 0);
  assert_int_equal(v, 10u << 20);
  assert_int_equal(cfg_parse_size("1.5KiB", &v), 0);
  assert_int_equal(v, 1536);
  assert_true(cfg_parse_size("-1", &v) < 0);
  assert_true(cfg_parse_size("3X", &v) < 0);
  assert_int_equal(cfg_parse_duration("250ms", &t), 0);
  assert_int_equal(t, 250 * VSS_NS_PER_MS);
  assert_int_equal(cfg_parse_duration("5min", &t), 0);
  assert_int_equal(t, 300 * VSS_NS_PER_S);
  assert_true(cfg_parse_duration("5 weeks", &t) < 0);
  assert_int_equal(cfg_parse_addr("[::1]:80", &a), 0);
  assert_string_equal(a.host, "::1");
  assert_true(cfg_parse_addr("host:99999", &a) < 0);
  assert_true(cfg_parse_addr("host", &a) < 0);
}

/* Loads `text`; expects an error at `line` containing `what`. */
static void refused(const char *text, int line, const char *what) {
  cfg c;
  char err[512], want[300];
  write_text(text);
  if (cfg_load(&c, path, err, sizeof err) == 0) {
    cfg_free(&c);
    fail_msg("accepted: %s", text);
  }
  snprintf(want, sizeof want, "%s:%d: ", path, line);
  if (line > 0 && strstr(err, want) == NULL) fail_msg("no %s in %s", want, err);
  if (strstr(err, what) == NULL) fail_msg("no '%s' in '%s'", what, err);
}

/* Values that used to be taken: nan and inf, zero timeouts (no handshake
 * timer, a tight redial loop), a key given twice, a line inih would have
 * split in two; and the strategy names the message lists are accepted. */
static void test_bad_values(void **st) {
  cfg c;
  char err[512], longline[400];
  (void)st;
  refused("[node]\nupload_limit = nan\n", 2, "upload_limit");
  refused("[node]\nupload_limit = inf\n", 2, "upload_limit");
  refused("[gossip]\njitter = nan\n", 2, "jitter");
  refused("[gossip]\ninterval = nan\n", 2, "duration");
  refused("[node]\nreconnect_min = 0\n", 2, "reconnect_min: expected a");
  refused("[node]\nhandshake_timeout = 0\n", 2, "from 100ms to 10min");
  refused("[node]\nhandshake_timeout = 100h\n", 2, "handshake_timeout");
  refused("[node]\nrecord_timeout = 0\n", 2, "record_timeout");
  refused("[node]\nreconnect_min = 10s\nreconnect_max = 1s\n", 0,
          "reconnect_max is below reconnect_min");
  refused("[node]\nidle_timeout = 1min\n", 0, "twice the gossip interval");
  refused("[node]\nname = a\nlog_level = info\nname = b\n", 4,
          "name: given twice in [node]");
  memset(longline, 'x', sizeof longline);
  memcpy(longline, "[generate]\ncommand = /bin/", 26);
  longline[sizeof longline - 1] = '\0';
  refused(longline, 2, "line longer than 199 characters");
  refused("[node]\nstrategy = fastest\n", 2,
          "expected one of cost, prefer_fetch, prefer_generate");
  write_text("[node]\nstrategy = prefer_fetch\n");
  assert_int_equal(cfg_load(&c, path, err, sizeof err), 0);
  assert_int_equal(c.core.strategy, VSS_STRATEGY_PREFER_FETCH);
  /* idle_timeout defaults to three gossip intervals with jitter */
  assert_int_equal(c.idle_timeout, (vss_time)(3 * 300 * 1.1 * VSS_NS_PER_S));
  cfg_free(&c);
  write_text("[node]\nstrategy = prefer-generate\n");
  assert_int_equal(cfg_load(&c, path, err, sizeof err), 0);
  assert_int_equal(c.no_aes, 0); /* AES-GCM allowed by default */
  cfg_free(&c);
  refused("[node]\ncipher = aes\n", 2,
          "cipher: expected auto or xchacha20poly1305");
  write_text("[node]\ncipher = xchacha20poly1305\n");
  assert_int_equal(cfg_load(&c, path, err, sizeof err), 0);
  assert_int_equal(c.no_aes, 1);
  cfg_free(&c);
}

static void test_peer_sections(void **st) {
  cfg c;
  cfg_peer p;
  char err[256];
  (void)st;
  write_text("; mine\n[node]\nname = a ; keep\n\n[peer old]\n"
             "device = 11111111-1111-4111-8111-111111111111\n");
  memset(&p, 0, sizeof p);
  snprintf(p.name, sizeof p.name, "bob");
  vss_uuid_parse(&p.device, "22222222-2222-4222-8222-222222222222", 36);
  p.has_addr = 1;
  cfg_parse_addr("10.0.0.2:7457", &p.addr);
  assert_int_equal(cfg_set_peer(path, &p, err, sizeof err), 0);
  cfg_parse_addr("10.0.0.3:7457", &p.addr); /* re-pair: replaced */
  assert_int_equal(cfg_set_peer(path, &p, err, sizeof err), 0);
  assert_int_equal(cfg_load(&c, path, err, sizeof err), 0);
  assert_int_equal(c.npeers, 2);
  assert_string_equal(c.peers[1].name, "bob");
  assert_string_equal(c.peers[1].addr.host, "10.0.0.3");
  assert_non_null(cfg_find_peer(&c, &p.device));
  cfg_free(&c);
  assert_int_equal(cfg_remove_peer(path, &p, err, sizeof err), 0);
  assert_int_equal(cfg_load(&c, path, err, sizeof err), 0);
  assert_int_equal(c.npeers, 1);
  assert_string_equal(c.peers[0].name, "old");
  assert_string_equal(c.name, "a");
  cfg_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_name_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_parsers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_peer_sections, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

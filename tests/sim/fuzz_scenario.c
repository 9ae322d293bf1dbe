/*
 * fuzz_scenario.c - libFuzzer target for the scenario file parser
 * (sim/scenario_*.c over inih): any input must end in a scenario or in an
 * error message, never a crash, a leak or an out-of-bounds access.
 * Built with -DVSS_FUZZ=ON and clang, like tests/fuzz.
 */
#include "scenario.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 16 || memchr(data, 0, size)) return 0; /* files have no NUL */
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  static scenario sc;
  char err[SC_ERR];
  if (scenario_load_string(&sc, text, "fuzz.ini", err, sizeof(err)) == 0)
    scenario_free(&sc);
  free(text);
  return 0;
}

/*
 * log.c - stderr logging. One write(2) per record so lines from several
 * processes sharing a log file do not interleave mid-line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_level = LOG_INFO;
static char g_name[64] = "vss-node";

void log_set_level(int level) {
  g_level = level;
}
int log_get_level(void) {
  return g_level;
}

void log_set_name(const char *name) {
  snprintf(g_name, sizeof g_name, "%s", name ? name : "vss-node");
}

int log_level_parse(const char *s) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (strcmp(s, names[i]) == 0) return i;
  return -1;
}

void log_msg(int level, const char *fmt, ...) {
  static const char *const tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};
  char line[1024];
  struct timespec ts;
  struct tm tm;
  va_list ap;
  int n, m;

  if (level > g_level) return;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
               tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, g_name,
               tags[level]);
  if (n < 0) return;
  va_start(ap, fmt);
  m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0) return;
  n += m;
  if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  if (write(STDERR_FILENO, line, (size_t)n) < 0) {
    /* nowhere left to report it */
  }
}

/*
 * log.h - one-line log records on stderr: UTC time, node name, level.
 */
#ifndef VSS_REAL_LOG_H
#define VSS_REAL_LOG_H

enum { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(int level);
int log_get_level(void);
void log_set_name(const char *name);
/* "error" | "warn" | "info" | "debug" -> level, or -1. */
int log_level_parse(const char *s);

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void log_msg(int level, const char *fmt, ...);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif

/* log.h: diagnostics on stderr.
 *
 * One sink (stderr, or syslog later for daemons), four levels. The level is
 * the only process-wide mutable state outside a role's main: it is set once
 * by main from the configuration and read everywhere. Messages are single
 * lines; untrusted text must be escaped by the caller (emit.h) before it is
 * logged.
 */
#ifndef DE_LOG_H
#define DE_LOG_H

#include "macros.h"

enum de_log_level {
	DE_LOG_DEBUG = 0,
	DE_LOG_INFO = 1,
	DE_LOG_WARNING = 2,
	DE_LOG_ERROR = 3,
};

void de_log_set_level(enum de_log_level level);
enum de_log_level de_log_get_level(void);
/* Parse "debug", "info", "warning", "error". Returns 0 or -EINVAL. */
int de_log_level_parse(const char *s, enum de_log_level *out);
const char *de_log_level_name(enum de_log_level level);

void de_log(enum de_log_level level, const char *fmt, ...) DE_PRINTF(2, 3);
/* Log with ": strerror(-err)" appended; returns err (negative errno) so
 * handlers can `return de_log_errno(...)`. */
int de_log_errno(enum de_log_level level, int err, const char *fmt, ...) DE_PRINTF(3, 4);

/* Write a one-line reason into a caller's buffer (the `why`/`err`
 * argument of functions that fail with a negative errno). A NULL or
 * empty buffer is fine; the text is cut to fit. */
void de_why(char *why, size_t len, const char *fmt, ...) DE_PRINTF(3, 4);

#define log_debug(...) de_log(DE_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) de_log(DE_LOG_INFO, __VA_ARGS__)
#define log_warning(...) de_log(DE_LOG_WARNING, __VA_ARGS__)
#define log_error(...) de_log(DE_LOG_ERROR, __VA_ARGS__)

#endif

/* log.c: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

static enum de_log_level current_level = DE_LOG_INFO;

static const char *const level_names[] = {
	[DE_LOG_DEBUG] = "debug",
	[DE_LOG_INFO] = "info",
	[DE_LOG_WARNING] = "warning",
	[DE_LOG_ERROR] = "error",
};

void de_log_set_level(enum de_log_level level) { current_level = level; }
enum de_log_level de_log_get_level(void) { return current_level; }

const char *de_log_level_name(enum de_log_level level)
{
	if ((unsigned)level >= DE_ARRAY_SIZE(level_names))
		return "?";
	return level_names[level];
}

int de_log_level_parse(const char *s, enum de_log_level *out)
{
	for (size_t i = 0; i < DE_ARRAY_SIZE(level_names); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum de_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

DE_PRINTF(3, 0)
static void vlog(enum de_log_level level, int err, const char *fmt, va_list ap)
{
	if (level < current_level)
		return;
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err < 0)
		fprintf(stderr, "daemoneye: %s: %s: %s\n", de_log_level_name(level), msg, strerror(-err));
	else
		fprintf(stderr, "daemoneye: %s: %s\n", de_log_level_name(level), msg);
}

void de_log(enum de_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, 0, fmt, ap);
	va_end(ap);
}

int de_log_errno(enum de_log_level level, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, err, fmt, ap);
	va_end(ap);
	return err;
}

void de_why(char *why, size_t len, const char *fmt, ...)
{
	if (!why || len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(why, len, fmt, ap);
	va_end(ap);
	if (r < 0)
		why[0] = '\0';
}

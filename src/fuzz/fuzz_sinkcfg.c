/* fuzz_sinkcfg.c: libFuzzer target for the alerting.sinks parser.
 *
 * Feeds arbitrary bytes to de_sinks_cfg_parse (in memory) and checks its
 * promises beyond "no crash": an error is one non-empty line and leaves
 * no sink behind; a success gives sinks that each have a valid name and
 * type, the keys their type requires, and values inside their ranges.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sinkcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct de_sink_cfg *s)
{
	size_t n = strnlen(s->name, DE_SINK_NAME_MAX);
	if (n == 0 || n >= DE_SINK_NAME_MAX || s->type < DE_SINK_STDOUT || s->type > DE_SINK_EXEC)
		abort();
	if (s->max_attempts < 1 || s->timeout_ms < 1 || s->breaker_failures < 1 || s->burst < 1)
		abort();
	if (s->retry_max_ms < s->retry_base_ms || s->facility < 0 || s->facility > 23)
		abort();
	if ((unsigned)s->min_severity > DE_SEV_CRITICAL)
		abort();
	if (s->type == DE_SINK_FILE && !s->path)
		abort();
	if (s->type == DE_SINK_SYSLOG && (!s->address || !s->protocol))
		abort();
	if (s->type == DE_SINK_WEBHOOK && (!s->url || (s->token_file && s->token_env)))
		abort();
	if (s->type == DE_SINK_EXEC && (!s->n_argv || s->argv[0][0] != '/' || s->argv[s->n_argv]))
		abort();
	if (s->n_headers > DE_SINK_MAX_LIST || s->n_argv > DE_SINK_MAX_LIST)
		abort();
	for (unsigned i = 0; i < s->n_headers; i++)
		for (const char *p = s->headers[i]; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct de_sinks_cfg c;
	char err[512];
	err[0] = 0;
	int r = de_sinks_cfg_parse(&c, "fuzz.yaml", data, size, err, sizeof(err));
	if (r < 0) {
		if (!err[0] || strchr(err, '\n') || c.n != 0)
			abort();
		return 0;
	}
	if (c.n > DE_SINK_MAX)
		abort();
	for (size_t i = 0; i < c.n; i++) {
		check(&c.v[i]);
		for (size_t k = 0; k < i; k++)
			if (strcmp(c.v[i].name, c.v[k].name) == 0)
				abort();
	}
	de_sinks_cfg_free(&c);
	return 0;
}

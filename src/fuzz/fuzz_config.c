/* fuzz_config.c: libFuzzer target for the YAML configuration parser.
 *
 * Feeds arbitrary bytes to de_config_load_buffer (in memory, nothing on
 * disk) and checks the module's promises beyond "no crash": an error is one
 * non-empty line and leaves the configuration untouched; a success leaves
 * every value inside its schema range and prints as text and JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_ranges(const struct de_config *c)
{
	if ((unsigned)c->log_level > DE_LOG_ERROR || (unsigned)c->collector.source > DE_SOURCE_PROC)
		abort();
	if (c->collector.poll_interval_ms < 100 || c->collector.poll_interval_ms > 3600000)
		abort();
	if (c->collector.argv_max_bytes < 256 || c->collector.argv_max_bytes > 16777216)
		abort();
	if (c->collector.env_max_bytes < 256 || c->collector.env_max_bytes > 16777216)
		abort();
	if (c->hashing.max_file_bytes < 1024 || c->hashing.max_file_bytes > 17179869184ULL)
		abort();
	if (c->hashing.cache_entries < 16 || c->hashing.cache_entries > 1000000)
		abort();
	if (c->state_dir[0] && c->state_dir[0] != '/')
		abort();
	if (c->collector.n_redact_env > DE_CONFIG_MAX_PATTERNS)
		abort();
	for (unsigned i = 0; i < c->collector.n_redact_env; i++) {
		size_t n = strnlen(c->collector.redact_env[i], DE_CONFIG_PATTERN_MAX);
		if (n == 0 || n >= DE_CONFIG_PATTERN_MAX)
			abort();
	}
}

static void print_both(const struct de_config *c)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return;
	if (de_config_print(c, f, false) < 0 || de_config_print(c, f, true) < 0)
		abort();
	fclose(f);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct de_config cfg;
	char err[1024];
	if (de_config_init(&cfg) < 0)
		return 0;
	struct de_config before = cfg;
	err[0] = '\0';
	int r = de_config_load_buffer(&cfg, "fuzz", data, size, err, sizeof(err));
	if (r < 0) {
		if (!err[0] || strchr(err, '\n') || strncmp(err, "fuzz", 4) != 0)
			abort();
		if (memcmp(&cfg, &before, sizeof(cfg)) != 0)
			abort();
	} else {
		check_ranges(&cfg);
		print_both(&cfg);
	}
	de_config_free(&cfg);
	return 0;
}

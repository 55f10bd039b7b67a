/* fuzz_ruleoverrides.c: libFuzzer target for the rule overrides file
 * (rulepack.h: "ID enabled|disabled" lines, written by `daemoneye rules
 * enable|disable`, read by the engine and the CLI).
 *
 * Arbitrary bytes as the file (through a memfd). Beyond "no crash": a
 * failure says FILE:LINE and changes no rule; a success changes at most
 * every rule, and applying the same file again changes nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rulepack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rules[] =
	"rules:\n"
	"  - {id: A, name: a, severity: low, sql: SELECT 1}\n"
	"  - {id: B-2, name: b, severity: high, enabled: false, sql: SELECT 1}\n"
	"  - {id: c.3, name: c, severity: info, sql: SELECT 1}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct de_ruleset rs = { 0 };
	char err[512] = "";
	if (de_rules_load_buffer(&rs, "r.yaml", rules, sizeof(rules) - 1, err, sizeof(err)) < 0)
		abort();
	int fd = memfd_create("overrides", MFD_CLOEXEC);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	bool before[3];
	for (size_t i = 0; i < rs.n; i++)
		before[i] = rs.rules[i].enabled;
	int rc = de_rule_overrides_apply(&rs, path, err, sizeof(err));
	if (rc < 0) {
		if (strncmp(err, path, strlen(path)) != 0)
			abort();
		for (size_t i = 0; i < rs.n; i++)
			if (rs.rules[i].enabled != before[i])
				abort();
	} else {
		if ((size_t)rc > rs.n)
			abort();
		if (de_rule_overrides_apply(&rs, path, err, sizeof(err)) != 0)
			abort(); /* the file's last word per id already holds */
	}
	close(fd);
	de_ruleset_free(&rs);
	return 0;
}

/* fuzz_rules.c: libFuzzer target for the rule-file loader.
 *
 * Arbitrary bytes as a rule file. Beyond "no crash": a failure leaves the
 * set as it was and says FILE:LINE:COL; a success yields only complete
 * rules (id, name, severity and SQL present, values in range).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct de_ruleset rs = { 0 };
	char err[512] = "";
	int rc = de_rules_load_buffer(&rs, "fuzz.yaml", data, size, err, sizeof(err));
	if (rc < 0) {
		if (rs.n != 0 || strncmp(err, "fuzz.yaml", 9) != 0)
			abort();
	} else {
		for (size_t i = 0; i < rs.n; i++) {
			const struct de_rule *r = &rs.rules[i];
			if (!r->id || !r->name || !r->sql || !r->file || r->line == 0 ||
			    (unsigned)r->severity > DE_SEV_CRITICAL || strlen(r->id) > DE_RULE_ID_MAX ||
			    r->mitre.n > DE_RULE_LIST_MAX || r->window_s > 366ull * 86400)
				abort();
		}
	}
	de_ruleset_free(&rs);
	return 0;
}

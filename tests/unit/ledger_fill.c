/* ledger_fill.c: a test program that writes records to a ledger the way
 * procmond will (the daemon is not part of these tests): it loads or
 * creates the signing key in STATE/keys, opens STATE/ledger, appends a mix
 * of record types and closes it.
 *
 *   ledger_fill STATE N [--crash] [--checkpoint-every K] [--origin NAME]
 *
 * Records i = 0..N-1 cycle through: an exec event (pid 1000+i, argv
 * "/bin/true arg-i"), an exit event, an alert ("alert i"), a rule-set
 * change (name "rules-i", content "content i"), and drops (count i). Prints
 * "size SIZE" (records in the ledger after the run) on stdout.
 * --crash syncs the records, then exits without closing (like kill -9 after
 * a group commit: no close record, no final checkpoint).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "event.h"
#include "ledger.h"
#include "statedir.h"

static int fill(struct de_ledger *l, unsigned i)
{
	char buf[128];
	switch (i % 5) {
	case 0:
	case 1: {
		struct de_event ev = { .type = i % 5 ? DE_EV_EXIT : DE_EV_EXEC,
				       .source = DE_EVSRC_EBPF, .seq = i, .time_ns = 1700000000000000000LL + i,
				       .pid = (int32_t)(1000 + i), .tid = (int32_t)(1000 + i) };
		snprintf(ev.comm, sizeof(ev.comm), "true");
		int n = snprintf(buf, sizeof(buf), "/bin/true%carg-%u", '\0', i);
		ev.have = DE_EVF_ARGV | DE_EVF_EXE;
		ev.argv = buf;
		ev.argv_len = (size_t)n + 1;
		ev.argc = 2;
		ev.exe = "/usr/bin/true";
		if (i % 5) {
			ev.have = DE_EVF_EXIT;
			ev.exit_code = (int32_t)(i % 3);
		}
		return de_ledger_append_event(l, &ev, NULL);
	}
	case 2: {
		int n = snprintf(buf, sizeof(buf), "{\"alert\":%u}", i);
		return de_ledger_append(l, DE_LREC_ALERT, buf, (size_t)n, NULL);
	}
	case 3: {
		char name[32];
		snprintf(name, sizeof(name), "rules-%u", i);
		int n = snprintf(buf, sizeof(buf), "content %u", i);
		return de_ledger_append_content(l, DE_LREC_RULESET, name, buf, (size_t)n, NULL);
	}
	default: {
		struct de_ledger_sec s = { .component = "procmond", .source = "ebpf",
					   .has_count = true, .count = i };
		return de_ledger_append_security(l, DE_LREC_DROPS, &s, NULL);
	}
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: ledger_fill STATE N [--crash] [--checkpoint-every K] "
				"[--origin NAME]\n");
		return 2;
	}
	const char *state = argv[1];
	unsigned long n = strtoul(argv[2], NULL, 10);
	struct de_ledger_opts o = { .component = "ledger_fill" };
	int crash = 0;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--crash"))
			crash = 1;
		else if (!strcmp(argv[i], "--checkpoint-every") && i + 1 < argc)
			o.checkpoint_records = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--origin") && i + 1 < argc)
			o.origin = argv[++i];
		else
			return 2;
	}
	char keys[4096], why[512];
	if (mkdir(state, 0755) < 0 && errno != EEXIST) {
		perror(state);
		return 1;
	}
	if (de_state_path(state, DE_STATE_KEYS_DIR, keys, sizeof(keys)) < 0)
		return 1;
	struct de_ledger_key *k = de_ledger_key_load(keys, true, NULL);
	if (!k) {
		perror("key");
		return 1;
	}
	struct de_ledger *l = de_ledger_open(state, k, &o, why, sizeof(why));
	if (!l) {
		fprintf(stderr, "open: %s\n", why);
		de_ledger_key_free(k);
		return 1;
	}
	for (unsigned i = 0; i < n; i++) {
		int r = fill(l, i);
		if (r < 0) {
			fprintf(stderr, "append %u: %s\n", i, strerror(-r));
			return 1;
		}
	}
	if (crash) {
		int r = de_ledger_sync(l);
		printf("size %llu\n", (unsigned long long)de_ledger_size(l));
		fflush(stdout);
		_exit(r < 0 ? 1 : 0);
	}
	uint64_t size = de_ledger_size(l) + 1; /* + the close record */
	int r = de_ledger_close(l);
	de_ledger_key_free(k);
	if (r < 0) {
		fprintf(stderr, "close: %s\n", strerror(-r));
		return 1;
	}
	printf("size %llu\n", (unsigned long long)size);
	return 0;
}

/* outbox_driver.c: a small host of the alert outbox for integration tests
 * (the agent hosts it in production): queues synthetic alerts into a
 * store and runs the delivery workers until everything is delivered or
 * dead-lettered, or until killed.
 *
 *   outbox_driver --store FILE --config FILE [--add N] [--batch N]
 *                 [--severity SEV] [--rate N] [--wait-idle SEC] [--run SEC]
 *
 * --add N      queue N alerts (rule "test-N", dedup_key "n=I", I from 0,
 *              committed in batches of --batch, default 500)
 * --rate N     queue at most N alerts per second (default: as fast as possible)
 * --hostile    argv and rule name full of the characters SIEM formats must
 *              escape (| \ = newline tab ] " and a control byte)
 * --wait-idle  exit 0 once nothing is pending (1 after SEC seconds)
 * --run SEC    keep delivering for SEC seconds, then exit
 * Prints "added N in MS ms" and "idle after MS ms" lines on stdout.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "outbox.h"
#include "sink.h"

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	const char *store = NULL, *config = NULL;
	long add = 0, batch = 500, rate = 0;
	double wait_idle = -1, run = -1;
	int sev = DE_SEV_HIGH;
	bool hostile = false;
	static const struct option lo[] = {
		{ "store", required_argument, NULL, 's' }, { "config", required_argument, NULL, 'c' },
		{ "add", required_argument, NULL, 'a' }, { "batch", required_argument, NULL, 'b' },
		{ "severity", required_argument, NULL, 'v' }, { "rate", required_argument, NULL, 'r' },
		{ "wait-idle", required_argument, NULL, 'w' }, { "run", required_argument, NULL, 'R' },
		{ "hostile", no_argument, NULL, 'H' },
		{ 0 },
	};
	int o;
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 's': store = optarg; break;
		case 'c': config = optarg; break;
		case 'a': add = atol(optarg); break;
		case 'b': batch = atol(optarg); break;
		case 'r': rate = atol(optarg); break;
		case 'w': wait_idle = atof(optarg); break;
		case 'R': run = atof(optarg); break;
		case 'H': hostile = true; break;
		case 'v':
			if ((sev = de_severity_parse(optarg)) < 0) {
				fprintf(stderr, "bad severity\n");
				return 2;
			}
			break;
		default: return 2;
		}
	}
	if (!store || !config || batch < 1) {
		fprintf(stderr, "usage: outbox_driver --store FILE --config FILE [--add N] ...\n");
		return 2;
	}
	de_log_set_level(DE_LOG_WARNING);
	char err[512];
	struct de_sinks_cfg *sc = calloc(1, sizeof(*sc));
	if (!sc || de_sinks_cfg_load(sc, config, err, sizeof(err)) < 0) {
		fprintf(stderr, "outbox_driver: %s\n", err);
		return 1;
	}
	struct de_outbox_opts oo = { .store_path = store, .sinks = sc };
	struct de_outbox *ob = de_outbox_open(&oo, err, sizeof(err));
	if (!ob) {
		fprintf(stderr, "outbox_driver: %s\n", err);
		return 1;
	}
	double t0 = mono_ms();
	struct de_alert *al = calloc((size_t)batch, sizeof(*al));
	const struct de_alert **ap = calloc((size_t)batch, sizeof(*ap));
	struct de_alert_storage *stg = malloc(sizeof(*stg));
	char (*keys)[32] = calloc((size_t)batch, 32);
	char rule[32];
	int rc = 0;
	snprintf(rule, sizeof(rule), "test-%ld", add);
	struct de_alert proto;
	de_alert_sample(&proto, stg, (enum de_severity)sev);
	static const char evil[] = "/bin/sh\0-c\0echo a|b\\c=d\ne\tf ]\"x\0key=val|x\0\xc3\xbcn\x01";
	if (hostile) {
		proto.proc.argv = evil;
		proto.proc.argv_len = sizeof(evil) - 1;
		proto.proc.exe = "/bin/sh";
		proto.rule_name = "Rule|with=pipes\\ and\nnewline";
	}
	for (long i = 0; i < add && rc == 0;) {
		long n = DE_MIN(batch, add - i);
		for (long k = 0; k < n; k++) {
			struct timespec ts;
			al[k] = proto;
			de_alert_new_id(al[k].id);
			clock_gettime(CLOCK_REALTIME, &ts);
			al[k].time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
			al[k].rule_id = rule;
			snprintf(keys[k], 32, "n=%ld", i + k);
			al[k].dedup_key = keys[k];
			ap[k] = &al[k];
		}
		int r = de_outbox_add(ob, ap, (size_t)n);
		if (r < 0) {
			fprintf(stderr, "outbox_driver: adding: %s\n", strerror(-r));
			rc = 1;
		}
		i += n;
		if (rate > 0) {
			double due = t0 + (double)i * 1000.0 / (double)rate;
			double now = mono_ms();
			if (due > now)
				usleep((useconds_t)((due - now) * 1000));
		}
	}
	printf("added %ld in %.1f ms\n", add, mono_ms() - t0);
	fflush(stdout);
	if (wait_idle >= 0) {
		rc = 1;
		while (mono_ms() - t0 < wait_idle * 1000) {
			if (de_outbox_pending(ob) == 0) {
				rc = 0;
				break;
			}
			usleep(5000);
		}
		printf("idle after %.1f ms%s\n", mono_ms() - t0, rc ? " (timed out)" : "");
	} else if (run >= 0) {
		while (mono_ms() - t0 < run * 1000)
			usleep(20000);
	}
	fflush(stdout);
	de_outbox_close(ob);
	de_sinks_cfg_free(sc);
	free(sc);
	free(al);
	free(ap);
	free(stg);
	free(keys);
	return rc;
}

/* bench_proctable.c: the process table's cost per event and its memory.
 *
 * 2. Apply N synthetic events (default 1,000,000): processes forked from a
 *    pool of live parents, each exec'ing one of a few binaries with a
 *    ~100-byte argv and exiting, pids wrapping at 32768 (so pid reuse
 *    happens as on a real host), exited records bounded at 4096. Events are
 *    built before the clock starts; the time is de_pt_apply alone.
 * 1. Add 10,000 live processes (exec with ~100-byte argv) to a fresh
 *    table, first thing in a fresh process: the table's own byte count, and
 *    this process's RSS before and after (VmRSS, /proc/self/status), then
 *    with the hash worker (enrich.c) started beside it.
 *
 * Usage: build/bench/bench_proctable [EVENTS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enrich.h"
#include "proctable.h"

static const uint8_t boot[16] = { 0x5e, 0xed };

static const char *const bins[] = { "/usr/bin/git", "/usr/bin/grep", "/usr/bin/sed",
				    "/usr/lib/gcc/x86_64-linux-gnu/12/cc1", "/bin/sh" };

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	char line[256];
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* A ~100-byte argv for process number i (NUL-separated), into buf. */
static size_t make_argv(char *buf, size_t cap, const char *exe, uint64_t i)
{
	int n = snprintf(buf, cap, "%s%c--color=auto%c-n%c--include=*.c%csrc/collector/file%llu.c%c"
			 "--exclude-dir=build%c",
			 exe, 0, 0, 0, 0, (unsigned long long)i, 0, 0);
	return n > 0 ? (size_t)n : 0;
}

struct argv_buf {
	char s[160];
};

int main(int argc, char **argv)
{
	uint64_t n_events = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	uint64_t n_procs = n_events / 3;

	/* --- 1. memory with 10,000 live processes ------------------------- */
	long rss0 = rss_kib();
	struct de_pt_opts o = { .max_exited = 4096 };
	struct de_proctable *pt = de_pt_new(&o);
	if (!pt)
		return 1;
	struct de_pt_stats st;
	char buf[160];
	for (int i = 0; i < 10000; i++) {
		struct de_event e = { .type = DE_EV_EXEC, .pid = 1000 + i, .start_ticks = 5,
				      .time_ns = i };
		de_entity_id(boot, e.pid, 5, e.entity_id);
		const char *exe = bins[i % 5];
		e.have = DE_EVF_EXE | DE_EVF_FILENAME | DE_EVF_ARGV | DE_EVF_EXE_ID | DE_EVF_PARENT;
		e.exe = e.filename = exe;
		e.argv = buf;
		e.argv_len = make_argv(buf, sizeof(buf), exe, (uint64_t)i);
		e.argc = 7;
		e.exe_ino = 1000 + (uint64_t)i % 5;
		e.ppid = 100;
		de_entity_id(boot, 100, 1, e.parent_entity_id);
		memcpy(e.comm, "worker", 7);
		if (de_pt_apply(pt, &e) < 0)
			return 1;
	}
	long rss1 = rss_kib();
	de_pt_stats(pt, &st);
	printf("10,000 live processes (argv ~%zu bytes): table %llu bytes (%.0f per process); "
	       "RSS %ld -> %ld KiB (+%ld KiB)\n",
	       make_argv(buf, sizeof(buf), bins[0], 1234), (unsigned long long)st.bytes,
	       (double)st.bytes / 10000.0, rss0, rss1, rss1 - rss0);
	/* The hash worker beside it (config defaults: 4,096 hashes, 256
	 * requests in flight), its thread started: what procmond adds. */
	struct de_enrich_opts eo = { .map_entries = 4096, .queue_len = 256 };
	struct de_enrich *en = de_enrich_new(&eo);
	if (!en)
		return 1;
	long rss2 = rss_kib();
	printf("  + hash worker (4,096-entry map, 256-slot ring, thread started): RSS %ld KiB\n",
	       rss2);
	de_enrich_free(en);
	de_pt_free(pt);

	/* --- 2. events per second ---------------------------------------- */
	struct de_event *evs = calloc(n_procs * 3 + 64, sizeof(*evs));
	struct argv_buf *av = calloc(n_procs, sizeof(*av));
	if (!evs || !av) {
		fprintf(stderr, "bench_proctable: out of memory\n");
		return 1;
	}
	size_t k = 0;
	/* 32 long-lived parents (shells, make), seen by a snapshot. */
	for (int i = 0; i < 32; i++) {
		struct de_event *e = &evs[k++];
		e->type = DE_EV_SNAPSHOT;
		e->pid = 100 + i;
		e->start_ticks = 1;
		de_entity_id(boot, e->pid, 1, e->entity_id);
		e->have = DE_EVF_EXE | DE_EVF_ARGV;
		e->exe = "/bin/bash";
		e->argv = "bash";
		e->argv_len = 5;
		e->argc = 1;
	}
	int64_t t = 1000;
	for (uint64_t i = 0; i < n_procs; i++) {
		int32_t pid = 300 + (int32_t)(i % 32000);
		uint64_t start = 10 + i;
		int32_t ppid = 100 + (int32_t)(i % 32);
		struct de_event *f = &evs[k++], *x = &evs[k++], *q = &evs[k++];
		f->type = DE_EV_FORK;
		f->pid = pid;
		f->start_ticks = start;
		f->time_ns = t++;
		de_entity_id(boot, pid, start, f->entity_id);
		f->have = DE_EVF_PARENT;
		f->ppid = ppid;
		de_entity_id(boot, ppid, 1, f->parent_entity_id);
		memcpy(f->comm, "bash", 5);

		*x = *f;
		x->type = DE_EV_EXEC;
		x->time_ns = t++;
		const char *exe = bins[i % 5];
		x->have = DE_EVF_EXE | DE_EVF_FILENAME | DE_EVF_ARGV | DE_EVF_EXE_ID;
		x->exe = x->filename = exe;
		x->argv = av[i].s;
		x->argv_len = make_argv(av[i].s, sizeof(av[i].s), exe, i);
		x->argc = 7;
		x->exe_dev = 0x801;
		x->exe_ino = 1000 + i % 5;

		*q = *f;
		q->type = DE_EV_EXIT;
		q->time_ns = t++;
		q->have = DE_EVF_EXIT;
	}
	pt = de_pt_new(&o);
	if (!pt) {
		fprintf(stderr, "bench_proctable: %s\n", strerror(errno));
		return 1;
	}
	double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	for (size_t i = 0; i < k; i++)
		if (de_pt_apply(pt, &evs[i]) < 0) {
			fprintf(stderr, "bench_proctable: apply failed\n");
			return 1;
		}
	double dt = clock_s(CLOCK_MONOTONIC) - t0;
	double dc = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	de_pt_stats(pt, &st);
	printf("events: %zu applied in %.3f s wall, %.3f s CPU: %.0f ns/event wall, %.0f ns/event "
	       "CPU (%.2f M events/s)\n", k, dt, dc, dt * 1e9 / (double)k, dc * 1e9 / (double)k,
	       (double)k / dt / 1e6);
	printf("  live %llu, exited kept %llu (bound 4096), evicted %llu, table %llu bytes\n",
	       (unsigned long long)st.live, (unsigned long long)st.exited,
	       (unsigned long long)st.evicted, (unsigned long long)st.bytes);
	de_pt_free(pt);
	free(evs);
	free(av);
	return 0;
}

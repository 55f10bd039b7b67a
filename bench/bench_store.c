/* bench_store.c: ingest rate of the agent's event store (a benchmark, not
 * a test). Replays N synthetic process lifetimes (fork, exec with a
 * realistic ~100-byte argv, exit: 3 events each; the parent they fork from
 * is in the store, as on a running host) into a fresh database in
 * batches, one transaction per batch, and reports events/s, CPU time per
 * event and the database size per million exec events.
 *   bench_store [LIFETIMES=200000] [BATCH=512] [DB=/tmp/de-bench-store.db]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	long batch = argc > 2 ? atol(argv[2]) : 512;
	const char *path = argc > 3 ? argv[3] : "/tmp/de-bench-store.db";
	char p[512];
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	struct de_store_opts o = { .path = path };
	char why[256];
	struct de_store *s = de_store_open(&o, why, sizeof(why));
	if (!s) {
		fprintf(stderr, "bench_store: %s\n", why);
		return 1;
	}
	static const char args[] = "/usr/bin/python3\0-m\0http.server\0--bind\0127.0.0.1\0"
				   "--directory\0/var/www/html/site-0001\0" "8080";
	struct de_event ev;
	/* The parent every lifetime forks from, known to the store (as a
	 * running host's processes are after the startup snapshot). */
	memset(&ev, 0, sizeof(ev));
	ev.type = DE_EV_SNAPSHOT;
	ev.source = DE_EVSRC_EBPF;
	ev.time_ns = 1700000000000000000LL;
	ev.pid = ev.tid = 999;
	memset(ev.entity_id, 0x01, DE_ENTITY_ID_LEN);
	snprintf(ev.comm, sizeof(ev.comm), "supervisor");
	if (de_store_add(s, &ev) < 0 || de_store_commit(s) < 0)
		goto fail;
	long events = 0, pending = 0;
	double t0 = now(), c0 = cpu();
	for (long i = 0; i < n; i++) {
		uint64_t id = (uint64_t)i + 1;
		memset(&ev, 0, sizeof(ev));
		ev.source = DE_EVSRC_EBPF;
		ev.time_ns = 1700000000000000000LL + i * 1000;
		ev.pid = (int32_t)(1000 + i % 4000000);
		ev.tid = ev.pid;
		ev.ppid = 1;
		memcpy(ev.entity_id, &id, sizeof(id));
		memset(ev.parent_entity_id, 0x01, DE_ENTITY_ID_LEN);
		snprintf(ev.comm, sizeof(ev.comm), "python3");
		ev.have = DE_EVF_PARENT;
		ev.type = DE_EV_FORK;
		if (de_store_add(s, &ev) < 0)
			goto fail;
		ev.type = DE_EV_EXEC;
		ev.argv = args;
		ev.argv_len = sizeof(args);
		ev.argc = 8;
		ev.exe = ev.filename = "/usr/bin/python3.11";
		ev.exe_dev = 2049;
		ev.exe_ino = 1234 + (uint64_t)(i % 500);
		for (int k = 0; k < 4; k++)
			ev.uid[k] = ev.gid[k] = 33;
		ev.have |= DE_EVF_ARGV | DE_EVF_EXE | DE_EVF_FILENAME | DE_EVF_EXE_ID | DE_EVF_CREDS;
		if (de_store_add(s, &ev) < 0)
			goto fail;
		ev.type = DE_EV_EXIT;
		ev.have = DE_EVF_EXIT;
		if (de_store_add(s, &ev) < 0)
			goto fail;
		events += 3;
		pending += 3;
		if (pending >= batch) {
			if (de_store_commit(s) < 0)
				goto fail;
			pending = 0;
		}
	}
	if (de_store_commit(s) < 0)
		goto fail;
	double dt = now() - t0, dc = cpu() - c0;
	de_store_close(s);
	struct stat st;
	long long bytes = stat(path, &st) == 0 ? (long long)st.st_size : -1;
	snprintf(p, sizeof(p), "%s-wal", path);
	if (stat(p, &st) == 0)
		bytes += (long long)st.st_size;
	printf("lifetimes %ld, events %ld, batch %ld\n", n, events, batch);
	printf("wall %.3f s, cpu %.3f s: %.0f events/s, %.2f us cpu/event\n", dt, dc,
	       (double)events / dt, dc * 1e6 / (double)events);
	printf("database %.1f MB: %.0f MB per million exec events\n", (double)bytes / 1e6,
	       (double)bytes / 1e6 * 1e6 / (double)n);
	return 0;
fail:
	fprintf(stderr, "bench_store: %s\n", de_store_errmsg(s));
	return 1;
}

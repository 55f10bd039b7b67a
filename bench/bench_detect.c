/* bench_detect.c: the detection targets (a benchmark, not a test).
 *
 *   bench_detect ingest [LIFETIMES=100000] [BATCH=4096]
 *       replays synthetic process lifetimes (fork, exec with a ~100-byte
 *       argv, exit) into a fresh store file, one transaction per batch,
 *       and after each commit runs the rule engine (the built-in pack) over
 *       the new window: events/s and CPU per event, store and engine apart.
 *       The default batch is the agent's group-commit cap (agentd.c:
 *       COMMIT_EVENTS events or 25 ms, whichever comes first): at 100,000
 *       events/s a commit holds 2,500-4,096 events. Pin it to one CPU
 *       (taskset -c 0) for the one-core figure: the engine then keeps
 *       every window on one lane.
 *   bench_detect snapshot [PROCESSES=10000] [RULES=100] [CYCLES=5]
 *       the agent's resync case: one running engine with RULES rules (the
 *       built-in pack, plus copies of it under other ids); each cycle a
 *       snapshot of the same PROCESSES processes is committed and the
 *       engine evaluates it (every incremental rule over the snapshot's
 *       window, then every scheduled rule once): wall time per cycle. The
 *       engine's first cycle (its window table still growing) is reported
 *       apart. BENCH_LANES=1 keeps every window on one thread (default:
 *       the engine's own choice, two lanes on a multi-CPU host).
 *   bench_detect latency [COUNT=300] [INTERVAL_MS=20]
 *       the live path: the collector in-process (eBPF as root) feeds the
 *       store, a 10 ms loop commits and runs the engine; COUNT processes
 *       run a harmless command line that DE-RSH-001 matches; latency =
 *       alert time minus the exec's kernel timestamp; p50/p90/p99/max.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "engine.h"
#include "store.h"

static double mono(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double thread_cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Every thread's: the engine's helper lane included. */
static double process_cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int64_t realtime_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void rm_db(const char *path)
{
	char p[512];
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static struct de_store *fresh_store(const char *path)
{
	rm_db(path);
	struct de_store_opts o = { .path = path };
	char why[256];
	struct de_store *s = de_store_open(&o, why, sizeof(why));
	if (!s) {
		fprintf(stderr, "bench_detect: %s\n", why);
		exit(1);
	}
	return s;
}

static struct de_engine *engine(struct de_store *s, const char *path, const char *const *dirs,
				de_engine_alert_fn fn, void *ud)
{
	struct de_engine_opts o = { .store = s, .store_path = path, .on_alert = fn, .ud = ud };
	o.rules.dirs = dirs;
	/* BENCH_LANES=1: evaluate every window on one thread (default: auto) */
	if (getenv("BENCH_LANES"))
		o.lanes = (unsigned)atoi(getenv("BENCH_LANES"));
	struct de_engine *e = NULL;
	char why[1024];
	if (de_engine_open(&o, &e, why, sizeof(why)) < 0) {
		fprintf(stderr, "bench_detect: engine: %s\n", why);
		exit(1);
	}
	return e;
}

static void lifetime(struct de_store *s, long i, struct de_event *ev)
{
	static const char args[] = "/usr/bin/python3\0-m\0http.server\0--bind\0127.0.0.1\0"
				   "--directory\0/var/www/html/site-0001\0" "8080";
	uint64_t id = (uint64_t)i + 1;
	memset(ev, 0, sizeof(*ev));
	ev->source = DE_EVSRC_EBPF;
	ev->time_ns = realtime_ns();
	ev->pid = (int32_t)(1000 + i % 4000000);
	ev->tid = ev->pid;
	ev->ppid = 1;
	memcpy(ev->entity_id, &id, sizeof(id));
	memset(ev->parent_entity_id, 0x01, DE_ENTITY_ID_LEN);
	snprintf(ev->comm, sizeof(ev->comm), "python3");
	ev->have = DE_EVF_PARENT;
	ev->type = DE_EV_FORK;
	if (de_store_add(s, ev) < 0)
		goto fail;
	ev->type = DE_EV_EXEC;
	ev->argv = args;
	ev->argv_len = sizeof(args);
	ev->argc = 8;
	ev->exe = ev->filename = "/usr/bin/python3.11";
	ev->exe_dev = 2049;
	ev->exe_ino = 1234 + (uint64_t)(i % 500);
	for (int k = 0; k < 4; k++)
		ev->uid[k] = ev->gid[k] = 33;
	ev->have |= DE_EVF_ARGV | DE_EVF_EXE | DE_EVF_FILENAME | DE_EVF_EXE_ID | DE_EVF_CREDS;
	if (de_store_add(s, ev) < 0)
		goto fail;
	ev->type = DE_EV_EXIT;
	ev->have = DE_EVF_EXIT;
	if (de_store_add(s, ev) < 0)
		goto fail;
	return;
fail:
	fprintf(stderr, "bench_detect: %s\n", de_store_errmsg(s));
	exit(1);
}

static int bench_ingest(long n, long batch)
{
	const char *path = "/tmp/de-bench-detect.db";
	struct de_store *s = fresh_store(path);
	struct de_engine *e = engine(s, path, NULL, NULL, NULL);
	struct de_event ev;
	/* The parent every lifetime forks from, known to the store. */
	memset(&ev, 0, sizeof(ev));
	ev.type = DE_EV_SNAPSHOT;
	ev.source = DE_EVSRC_EBPF;
	ev.time_ns = realtime_ns();
	ev.pid = ev.tid = 999;
	memset(ev.entity_id, 0x01, DE_ENTITY_ID_LEN);
	snprintf(ev.comm, sizeof(ev.comm), "supervisor");
	if (de_store_add(s, &ev) < 0 || de_store_commit(s) < 0)
		return 1;
	long events = 0, pending = 0, alerts = 0;
	double t0 = mono(), c0 = thread_cpu(), eng = 0;
	for (long i = 0; i < n; i++) {
		lifetime(s, i, &ev);
		events += 3;
		pending += 3;
		if (pending >= batch || i == n - 1) {
			if (de_store_commit(s) < 0)
				return 1;
			double ce = thread_cpu();
			int a = de_engine_on_commit(e, de_store_last_event_id(s));
			eng += thread_cpu() - ce;
			if (a < 0)
				return 1;
			alerts += a;
			pending = 0;
		}
	}
	double dt = mono() - t0, dc = thread_cpu() - c0;
	size_t nr = de_engine_rule_count(e);
	uint64_t total = 0;
	for (size_t i = 0; i < nr; i++) {
		struct de_engine_rule_info info;
		de_engine_rule_info(e, i, &info);
		total += info.total_us;
		if (getenv("BENCH_RULES"))
			printf("  %-14s %8.3f us/event\n", info.rule->id,
			       (double)info.total_us / (double)events);
	}
	printf("rules' own evaluation time: %.2f us/event (the rest of the engine: window, alerts)\n",
	       (double)total / (double)events);
	de_engine_close(e);
	de_store_close(s);
	printf("ingest: %ld lifetimes, %ld events, batch %ld, %zu rules, %ld alerts\n", n, events,
	       batch, nr, alerts);
	printf("wall %.3f s, cpu %.3f s: %.0f events/s wall, %.0f events/s of cpu, %.2f us cpu/event"
	       " (store %.2f, engine %.2f)\n", dt, dc, (double)events / dt, (double)events / dc,
	       dc * 1e6 / (double)events, (dc - eng) * 1e6 / (double)events,
	       eng * 1e6 / (double)events);
	struct stat st;
	long long bytes = stat(path, &st) == 0 ? (long long)st.st_size : 0;
	char p[512];
	snprintf(p, sizeof(p), "%s-wal", path);
	if (stat(p, &st) == 0)
		bytes += (long long)st.st_size;
	printf("database %.1f MB: %.0f MB per million exec events\n", (double)bytes / 1e6,
	       (double)bytes / (double)n);
	rm_db(path);
	return 0;
}

/* A rules directory holding the built-in pack again under new ids (DX-),
 * as many rules as needed to reach `want` with the pack itself. */
static void copies_dir(const char *dir, size_t want, size_t builtin)
{
	mkdir(dir, 0700);
	char p[512];
	snprintf(p, sizeof(p), "%s/copies.yaml", dir);
	FILE *f = fopen(p, "w");
	if (!f)
		exit(1);
	size_t made = 0;
	fputs("rules:\n", f);
	for (size_t i = 0; i < de_rulepack_n_files && builtin + made < want; i++) {
		const char *s = de_rulepack_files[i].data;
		/* Copy the list items of each file, renaming ids. */
		const char *start = strstr(s, "\nrules:\n");
		if (!start)
			continue;
		start += 8;
		for (const char *l = start; *l;) {
			const char *nl = strchr(l, '\n');
			size_t len = nl ? (size_t)(nl - l + 1) : strlen(l);
			if (strncmp(l, "  - id: DE-", 11) == 0) {
				if (builtin + made >= want)
					break;
				fprintf(f, "  - id: DX-%.*s", (int)(len - 11), l + 11);
				made++;
			} else if (made) {
				fwrite(l, 1, len, f);
			}
			l += len;
		}
	}
	fclose(f);
}

/* One resync snapshot of `procs` processes (the same ones every time), committed. */
static int add_snapshot(struct de_store *s, long procs)
{
	static const char args[] = "/usr/sbin/nginx\0-g\0daemon off;\0-c\0/etc/nginx/nginx.conf";
	struct de_event ev;
	for (long i = 0; i < procs; i++) {
		uint64_t id = (uint64_t)i + 1;
		memset(&ev, 0, sizeof(ev));
		ev.type = DE_EV_SNAPSHOT;
		ev.source = DE_EVSRC_EBPF;
		ev.time_ns = realtime_ns();
		ev.pid = ev.tid = (int32_t)(100 + i);
		ev.ppid = (int32_t)(i ? 100 + i / 8 : 0);
		memcpy(ev.entity_id, &id, sizeof(id));
		uint64_t pid_ = (uint64_t)(i / 8) + 1;
		memcpy(ev.parent_entity_id, &pid_, sizeof(pid_));
		snprintf(ev.comm, sizeof(ev.comm), "proc%ld", i % 300);
		ev.argv = args;
		ev.argv_len = sizeof(args);
		ev.argc = 5;
		ev.exe = ev.filename = "/usr/sbin/nginx";
		ev.have = DE_EVF_PARENT | DE_EVF_ARGV | DE_EVF_EXE | DE_EVF_FILENAME | DE_EVF_CREDS;
		if (de_store_add(s, &ev) < 0)
			return -1;
	}
	return de_store_commit(s) < 0 ? -1 : 0;
}

/* The agent's case: one running engine; each cycle, a resync snapshot of
 * every process arrives and every rule evaluates it (incremental rules
 * over the snapshot's window, then the scheduled ones once). The first
 * cycle is reported apart: the engine's window table grows then. */
static int bench_snapshot(long procs, long rules, int cycles)
{
	const char *path = "/tmp/de-bench-snap.db";
	const char *dir = "/tmp/de-bench-snap.rules";
	struct de_store *s = fresh_store(path);
	struct de_engine *probe = engine(s, path, NULL, NULL, NULL);
	size_t builtin = de_engine_rule_count(probe);
	de_engine_close(probe);
	char rm[600];
	snprintf(rm, sizeof(rm), "rm -rf %s", dir);
	if (system(rm) != 0)
		return 1;
	if ((size_t)rules > builtin)
		copies_dir(dir, (size_t)rules, builtin);
	const char *dirs[] = { dir, NULL };
	struct de_engine *e = engine(s, path, dirs, NULL, NULL);
	size_t nr = de_engine_rule_count(e);
	double first = 0, best = 1e9, worst = 0, sum = 0, cpu_best = 1e9;
	for (int c = 0; c <= cycles; c++) {
		if (add_snapshot(s, procs) < 0)
			return 1;
		double t0 = mono(), c0 = process_cpu();
		if (de_engine_on_commit(e, de_store_last_event_id(s)) < 0 ||
		    de_engine_tick(e, realtime_ns()) < 0)
			return 1;
		double dt = mono() - t0, dc = process_cpu() - c0;
		if (c == 0) {
			first = dt;
			continue;
		}
		cpu_best = dc < cpu_best ? dc : cpu_best;
		best = dt < best ? dt : best;
		worst = dt > worst ? dt : worst;
		sum += dt;
	}
	if (getenv("BENCH_RULES"))
		for (size_t i = 0; i < nr; i++) {
			struct de_engine_rule_info info;
			de_engine_rule_info(e, i, &info);
			printf("  %-14s %8.3f ms per cycle\n", info.rule->id,
			       (double)info.total_us / 1e3 / (cycles + 1));
		}
	printf("snapshot: %ld processes, %zu rules, %u lane(s), %d cycles: wall best %.1f ms, mean"
	       " %.1f ms, worst %.1f ms per cycle; cpu (all lanes) best %.1f ms; the"
	       " engine's first cycle %.1f ms\n", procs, nr, de_engine_lanes(e), cycles, best * 1e3,
	       sum / cycles * 1e3, worst * 1e3, cpu_best * 1e3, first * 1e3);
	de_engine_close(e);
	de_store_close(s);
	rm_db(path);
	if (system(rm) != 0)
		return 1;
	return 0;
}

/* ---- latency ----------------------------------------------------------- */

struct live {
	pthread_mutex_t mu;
	struct de_store *store;
	struct de_engine *e;
	struct de_collector *c;
	atomic_int stop;
	long pending;
	double lat_ms[100000];
	size_t n_lat;
	double arrive_ms_sum, eval_ms_sum, eval_ms_max, commit_ms_sum;
	long arrived, evals;
	sqlite3_stmt *exec_time;
};

static int live_sink(const struct de_event *ev, void *ud)
{
	struct live *l = ud;
	pthread_mutex_lock(&l->mu);
	if (ev->type == DE_EV_EXEC) {
		l->arrive_ms_sum += (double)(realtime_ns() - ev->time_ns) / 1e6;
		l->arrived++;
	}
	de_store_add(l->store, ev);
	l->pending++;
	pthread_mutex_unlock(&l->mu);
	return atomic_load(&l->stop) ? -ECANCELED : 0;
}

static void *live_collect(void *ud)
{
	struct live *l = ud;
	de_collector_run(l->c, 600000);
	return NULL;
}

/* Called under l->mu from the engine: the exec's kernel time from the store. */
static void live_alert(const struct de_alert *a, void *ud)
{
	struct live *l = ud;
	if (strcmp(a->rule_id, "DE-RSH-001") != 0 || !a->proc.entity_id)
		return;
	int64_t now = realtime_ns();
	sqlite3_bind_text(l->exec_time, 1, a->proc.entity_id, -1, SQLITE_STATIC);
	if (sqlite3_step(l->exec_time) == SQLITE_ROW && l->n_lat < 100000) {
		int64_t t = sqlite3_column_int64(l->exec_time, 0);
		l->lat_ms[l->n_lat++] = (double)(now - t) / 1e6;
	}
	sqlite3_reset(l->exec_time);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int bench_latency(long count, long interval_ms)
{
	const char *path = "/tmp/de-bench-latency.db";
	static struct live l;
	pthread_mutex_init(&l.mu, NULL);
	l.store = fresh_store(path);
	l.e = engine(l.store, path, NULL, live_alert, &l);
	if (sqlite3_prepare_v2(de_store_db(l.store),
			       "SELECT min(time_ns) FROM process_events WHERE entity_id = ?1"
			       " AND type = 'exec'", -1, &l.exec_time, NULL) != SQLITE_OK)
		return 1;
	struct de_config cfg;
	de_config_init(&cfg);
	struct de_collector_opts co = { .cfg = &cfg, .sink = live_sink, .sink_ud = &l,
					.no_snapshot = true };
	char why[512];
	if (de_collector_open(&co, &l.c, why, sizeof(why)) < 0) {
		fprintf(stderr, "bench_detect: collector: %s\n", why);
		return 1;
	}
	pthread_t ct;
	pthread_create(&ct, NULL, live_collect, &l);
	/* The commit-and-evaluate loop runs in this thread between spawns. */
	double next_commit = mono();
	long spawned = 0;
	double next_spawn = mono() + 0.5, end_after = 0;
	while (true) {
		double t = mono();
		if (spawned < count && t >= next_spawn) {
			char cmd[96];
			snprintf(cmd, sizeof(cmd), ": /dev/tcp/127.0.0.1/9/%ld", spawned);
			pid_t p = fork();
			if (p == 0) {
				execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
				_exit(127);
			}
			(void)p; /* reaped below without blocking the commit loop */
			spawned++;
			next_spawn += (double)interval_ms / 1000.0;
			if (spawned == count)
				end_after = t + 1.0;
		}
		if (t >= next_commit) {
			pthread_mutex_lock(&l.mu);
			if (l.pending) {
				double e0 = mono();
				de_store_commit(l.store);
				l.commit_ms_sum += (mono() - e0) * 1e3;
				de_engine_on_commit(l.e, de_store_last_event_id(l.store));
				l.pending = 0;
				double ems = (mono() - e0) * 1e3;
				l.eval_ms_sum += ems;
				l.eval_ms_max = ems > l.eval_ms_max ? ems : l.eval_ms_max;
				l.evals++;
			}
			pthread_mutex_unlock(&l.mu);
			next_commit = t + 0.010;
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (end_after && t > end_after)
			break;
		usleep(1000);
	}
	atomic_store(&l.stop, 1);
	if (fork() == 0)
		_exit(0);
	wait(NULL);
	pthread_join(ct, NULL);
	qsort(l.lat_ms, l.n_lat, sizeof(double), cmp_d);
	size_t n = l.n_lat;
	printf("latency: source %s, %ld execs, %zu alerted; exec-to-alert ms: p50 %.1f, p90 %.1f,"
	       " p99 %.1f, max %.1f\n", de_event_source_name(de_collector_kind(l.c)), count, n,
	       n ? l.lat_ms[n / 2] : 0, n ? l.lat_ms[n * 9 / 10] : 0,
	       n ? l.lat_ms[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0,
	       n ? l.lat_ms[n - 1] : 0);
	printf("  exec events reach the sink %.1f ms after the exec on average; commit + rules take"
	       " %.1f ms on average (the store's commit %.1f ms; max %.1f ms) per 10 ms cycle\n",
	       l.arrived ? l.arrive_ms_sum / (double)l.arrived : 0,
	       l.evals ? l.eval_ms_sum / (double)l.evals : 0,
	       l.evals ? l.commit_ms_sum / (double)l.evals : 0, l.eval_ms_max);
	if (getenv("BENCH_RULES"))
		for (size_t i = 0; i < de_engine_rule_count(l.e); i++) {
			struct de_engine_rule_info info;
			de_engine_rule_info(l.e, i, &info);
			printf("  %-14s %6.0f us per run (max %llu)\n", info.rule->id,
			       info.runs ? (double)info.total_us / (double)info.runs : 0,
			       (unsigned long long)info.max_us);
		}
	sqlite3_finalize(l.exec_time);
	de_engine_close(l.e);
	de_collector_close(l.c);
	de_store_close(l.store);
	de_config_free(&cfg);
	rm_db(path);
	return n == (size_t)count ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "ingest";
	long a = argc > 2 ? atol(argv[2]) : 0, b = argc > 3 ? atol(argv[3]) : 0;
	long c = argc > 4 ? atol(argv[4]) : 0;
	if (strcmp(mode, "ingest") == 0)
		return bench_ingest(a ? a : 100000, b ? b : 4096);
	if (strcmp(mode, "snapshot") == 0)
		return bench_snapshot(a ? a : 10000, b ? b : 100, c ? (int)c : 5);
	if (strcmp(mode, "latency") == 0)
		return bench_latency(a ? a : 300, b ? b : 20);
	fprintf(stderr, "usage: bench_detect ingest|snapshot|latency [ARGS]\n");
	return 2;
}

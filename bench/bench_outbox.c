/* bench_outbox.c: the alert outbox's numbers (docs/BENCHMARKS.md).
 *
 *   bench_outbox DIR [N]
 *
 * 1. throughput: N alerts (default 100,000) queued in batches of 1,000 to a
 *    file sink (fsync per batch); time until the last is delivered.
 * 2. latency: 2,000 alerts queued one per call at 200/s to a healthy file
 *    sink; alert time -> recorded delivery, p50/p99/max.
 * 3. backlog with a sink down: a webhook at a closed port next to the file
 *    sink; 200,000 alerts queued (an hour at 55 alerts/s) in batches; RSS
 *    after 20,000 and after 200,000, and the store's size.
 * Everything lives in DIR (created; removed afterwards by the caller).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "outbox.h"
#include "sink.h"

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

static struct de_outbox *open_ob(const char *db, const char *yaml, struct de_sinks_cfg *c)
{
	char err[512];
	if (de_sinks_cfg_parse(c, "bench", yaml, strlen(yaml), err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	struct de_outbox_opts o = { .store_path = db, .sinks = c };
	struct de_outbox *ob = de_outbox_open(&o, err, sizeof(err));
	if (!ob) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	return ob;
}

/* Queue n alerts in batches of b (one prototype, fresh ids and times). */
static void add(struct de_outbox *ob, long n, long b)
{
	static struct de_alert proto, al[1000];
	static const struct de_alert *ap[1000];
	static struct de_alert_storage stg;
	if (!proto.rule_id)
		de_alert_sample(&proto, &stg, DE_SEV_HIGH);
	for (long i = 0; i < n; i += b) {
		long k = DE_MIN(b, n - i);
		for (long j = 0; j < k; j++) {
			al[j] = proto;
			de_alert_new_id(al[j].id);
			al[j].time_ns = now_ns();
			ap[j] = &al[j];
		}
		if (de_outbox_add(ob, ap, (size_t)k) != k) {
			fprintf(stderr, "add failed\n");
			exit(1);
		}
	}
}

static int64_t q(const char *db, const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_open(db, &h) == SQLITE_OK && sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_outbox DIR [N]\n");
		return 2;
	}
	const char *dir = argv[1];
	long n = argc > 2 ? atol(argv[2]) : 100000;
	mkdir(dir, 0700);
	de_log_set_level(DE_LOG_ERROR);
	char db[512], yaml[2048], sql[512];

	/* 1. throughput */
	snprintf(db, sizeof(db), "%s/tp.db", dir);
	snprintf(yaml, sizeof(yaml), "alerting:\n  sinks:\n    - {name: f, type: file, path: '%s/tp.jsonl'}\n",
		 dir);
	struct de_sinks_cfg *c = calloc(1, sizeof(*c));
	struct de_outbox *ob = open_ob(db, yaml, c);
	double t0 = mono();
	add(ob, n, 1000);
	double t_add = mono() - t0;
	while (de_outbox_pending(ob) > 0)
		usleep(2000);
	double t_all = mono() - t0;
	de_outbox_close(ob);
	de_sinks_cfg_free(c);
	printf("throughput: %ld alerts to a file sink in %.3f s: %.0f alerts/s"
	       " (queueing alone %.0f alerts/s)\n", n, t_all, (double)n / t_all, (double)n / t_add);

	/* 2. latency at 200 alerts/s */
	snprintf(db, sizeof(db), "%s/lat.db", dir);
	snprintf(yaml, sizeof(yaml), "alerting:\n  sinks:\n    - {name: f, type: file, path: '%s/lat.jsonl'}\n",
		 dir);
	ob = open_ob(db, yaml, c);
	enum { L = 2000 };
	t0 = mono();
	for (long i = 0; i < L; i++) {
		add(ob, 1, 1);
		double due = t0 + (double)(i + 1) / 200.0, now = mono();
		if (due > now)
			usleep((useconds_t)((due - now) * 1e6));
	}
	while (de_outbox_pending(ob) > 0)
		usleep(2000);
	de_outbox_close(ob);
	de_sinks_cfg_free(c);
	static const char *const pct[] = { "p50", "p99", "max" };
	static const double at[] = { 0.50, 0.99, 1.0 };
	printf("latency (alert -> delivered to a file sink, %d alerts at 200/s):", L);
	for (int i = 0; i < 3; i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT d.delivered_ns - o.time_ns FROM delivery_t d JOIN outbox_t o ON o.seq = d.seq"
			 " ORDER BY 1 LIMIT 1 OFFSET %d", (int)(at[i] * (L - 1)));
		printf(" %s %.2f ms", pct[i], (double)q(db, sql) / 1e6);
	}
	printf("\n");

	/* 3. a sink down for an hour's worth of alerts */
	snprintf(db, sizeof(db), "%s/down.db", dir);
	snprintf(yaml, sizeof(yaml),
		 "alerting:\n  sinks:\n    - {name: f, type: file, path: '%s/down.jsonl'}\n"
		 "    - {name: down, type: webhook, url: 'http://127.0.0.1:9/x', timeout_ms: 500,"
		 " max_attempts: 1000000}\n", dir);
	ob = open_ob(db, yaml, c);
	long rss0 = rss_kib();
	add(ob, 20000, 1000);
	long rss1 = rss_kib();
	add(ob, 180000, 1000);
	long rss2 = rss_kib();
	while (q(db, "SELECT count(*) FROM delivery_t WHERE sink = 'f' AND state = 0") > 0)
		usleep(10000);
	long rss3 = rss_kib();
	int64_t pending = de_outbox_pending(ob);
	de_outbox_close(ob);
	de_sinks_cfg_free(c);
	struct stat st;
	stat(db, &st);
	printf("sink down: RSS %ld KiB at start, %ld after 20,000 alerts, %ld after 200,000, %ld"
	       " once the file sink caught up; %lld deliveries pending for the down sink, store %.1f MiB\n",
	       rss0, rss1, rss2, rss3, (long long)pending, (double)st.st_size / 1048576.0);
	free(c);
	return 0;
}

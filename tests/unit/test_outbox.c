/* test_outbox.c: the alert outbox, its policy pieces (backoff, breaker,
 * rate limit), the alerting.sinks parser, and delivery through real file
 * and exec sinks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alertdb.h"
#include "outbox.h"
#include "sink.h"
#include "sinkcfg.h"
#include "store.h"

static char dir[] = "/tmp/de-test-outbox-XXXXXX";

static int setup(void **st)
{
	(void)st;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
	(void)st;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct de_sink_cfg policy(void)
{
	struct de_sink_cfg c = { 0 };
	c.retry_base_ms = 500;
	c.retry_max_ms = 60000;
	c.breaker_failures = 5;
	c.breaker_cooldown_ms = 1000;
	c.rate_limit = 10;
	c.burst = 2;
	return c;
}

static void test_backoff(void **st)
{
	(void)st;
	struct de_sink_cfg c = policy();
	assert_int_equal(de_outbox_backoff_ms(&c, 1, 0), 250);
	assert_int_equal(de_outbox_backoff_ms(&c, 1, UINT32_MAX), 500);
	assert_int_equal(de_outbox_backoff_ms(&c, 3, UINT32_MAX), 2000);
	assert_int_equal(de_outbox_backoff_ms(&c, 3, 0), 1000);
	/* capped */
	assert_int_equal(de_outbox_backoff_ms(&c, 40, UINT32_MAX), 60000);
	assert_int_equal(de_outbox_backoff_ms(&c, 40, 0), 30000);
	uint64_t mid = de_outbox_backoff_ms(&c, 2, UINT32_MAX / 2);
	assert_true(mid > 500 && mid < 1000);
}

static void test_breaker(void **st)
{
	(void)st;
	struct de_sink_cfg c = policy();
	struct de_breaker b = { 0 };
	int64_t t = 1000000000, wait = 0;
	for (int i = 0; i < 4; i++) {
		assert_false(de_breaker_record(&b, &c, false, t));
		assert_true(de_breaker_allow(&b, t, &wait));
	}
	assert_true(de_breaker_record(&b, &c, false, t)); /* 5th: opens */
	assert_int_equal(b.state, DE_BREAKER_OPEN);
	assert_false(de_breaker_allow(&b, t + 500000000, &wait));
	assert_int_equal(wait, 500000000);
	assert_true(de_breaker_allow(&b, t + 1000000000, &wait));
	assert_int_equal(b.state, DE_BREAKER_HALF_OPEN);
	/* a failed probe re-opens at once */
	assert_true(de_breaker_record(&b, &c, false, t + 1000000000));
	assert_int_equal(b.state, DE_BREAKER_OPEN);
	assert_true(de_breaker_allow(&b, t + 2000000000, &wait));
	assert_true(de_breaker_record(&b, &c, true, t + 2000000000));
	assert_int_equal(b.state, DE_BREAKER_CLOSED);
	assert_int_equal(b.failures, 0);
	assert_string_equal(de_breaker_name(DE_BREAKER_HALF_OPEN), "half-open");
}

static void test_bucket(void **st)
{
	(void)st;
	struct de_sink_cfg c = policy();
	struct de_bucket b = { 0 };
	int64_t t = 5000000000;
	assert_int_equal(de_bucket_take(&b, &c, t), 0);
	assert_int_equal(de_bucket_take(&b, &c, t), 0);
	int64_t w = de_bucket_take(&b, &c, t);
	assert_true(w > 99000000 && w <= 100000001);
	assert_int_equal(de_bucket_take(&b, &c, t + 100000001), 0);
	c.rate_limit = 0;
	for (int i = 0; i < 100; i++)
		assert_int_equal(de_bucket_take(&b, &c, t), 0);
}

static const char good_yaml[] =
	"log:\n"
	"  level: info\n"
	"alerting:\n"
	"  sinks:\n"
	"    - name: console\n"
	"      type: stdout\n"
	"      format: json\n"
	"    - name: archive\n"
	"      type: file\n"
	"      path: /var/log/daemoneye/alerts.jsonl\n"
	"      max_bytes: 10M\n"
	"      keep: 3\n"
	"      fsync: always\n"
	"      min_severity: medium\n"
	"    - name: siem\n"
	"      type: syslog\n"
	"      address: '[::1]:6514'\n"
	"      protocol: tls\n"
	"      format: leef\n"
	"      facility: 4\n"
	"      rate_limit: 50\n"
	"    - name: hook\n"
	"      type: webhook\n"
	"      url: https://example.test/hook\n"
	"      headers: {X-Team: blue}\n"
	"      token_env: HOOK_TOKEN\n"
	"      max_attempts: 3\n"
	"    - name: pager\n"
	"      type: exec\n"
	"      argv: [/usr/local/bin/page, --urgent]\n"
	"      timeout_ms: 2000\n";

static void test_cfg_good(void **st)
{
	(void)st;
	struct de_sinks_cfg c;
	char err[256] = "";
	assert_int_equal(de_sinks_cfg_parse(&c, "t.yaml", good_yaml, strlen(good_yaml), err, sizeof(err)),
			 0);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.v[0].type, DE_SINK_STDOUT);
	assert_int_equal(c.v[0].stdout_format, DE_STDOUT_JSON);
	assert_string_equal(c.v[1].path, "/var/log/daemoneye/alerts.jsonl");
	assert_int_equal(c.v[1].max_bytes, 10 << 20);
	assert_int_equal(c.v[1].keep, 3);
	assert_int_equal(c.v[1].fsync, DE_FSYNC_ALWAYS);
	assert_int_equal(c.v[1].min_severity, DE_SEV_MEDIUM);
	assert_int_equal(c.v[2].protocol, DE_SYSLOG_TLS);
	assert_int_equal(c.v[2].format, DE_AF_LEEF);
	assert_int_equal(c.v[2].facility, 4);
	assert_int_equal(c.v[2].rate_limit, 50);
	assert_int_equal(c.v[2].burst, 50);
	assert_string_equal(c.v[2].address, "[::1]:6514");
	assert_string_equal(c.v[3].headers[0], "X-Team: blue");
	assert_string_equal(c.v[3].token_env, "HOOK_TOKEN");
	assert_int_equal(c.v[3].max_attempts, 3);
	assert_true(c.v[3].tls_verify);
	assert_int_equal(c.v[4].n_argv, 2);
	assert_string_equal(c.v[4].argv[1], "--urgent");
	assert_null(c.v[4].argv[2]);
	assert_int_equal(c.v[4].timeout_ms, 2000);
	assert_non_null(de_sinks_cfg_find(&c, "hook"));
	assert_null(de_sinks_cfg_find(&c, "nope"));
	de_sinks_cfg_free(&c);
}

static void expect_error(const char *yaml, const char *msg)
{
	struct de_sinks_cfg c;
	char err[256] = "";
	assert_int_equal(de_sinks_cfg_parse(&c, "t.yaml", yaml, strlen(yaml), err, sizeof(err)), -EINVAL);
	if (!strstr(err, msg))
		fail_msg("expected '%s' in '%s'", msg, err);
}

static void test_cfg_errors(void **st)
{
	(void)st;
	expect_error("alerting:\n  sinks:\n    - name: a\n      type: file\n      colour: red\n",
		     "t.yaml:5:7: sink: unknown key 'colour'");
	expect_error("alerting:\n  sinks:\n    - name: a\n      type: file\n      url: http://x\n"
		     "      path: /x\n", "t.yaml:5:7: sink a: 'url' does not apply to a file sink");
	expect_error("alerting:\n  sinks:\n    - name: a\n      type: file\n",
		     "t.yaml:3:7: sink a: 'path' is required");
	expect_error("alerting:\n  sinks:\n    - {name: a, type: stdout}\n    - {name: a, type: stdout}\n",
		     "t.yaml:4:7: sink a: duplicate name (first defined on line 3)");
	expect_error("alerting:\n  sinks:\n    - {name: a, type: stdout, min_severity: urgent}\n",
		     "t.yaml:3:45: min_severity: 'urgent' is not one of");
	expect_error("alerting:\n  sinks:\n    - {name: a, type: exec, argv: [sh, -c, x]}\n",
		     "must be an absolute path");
	expect_error("alerting:\n  sinks:\n    - {name: a, type: webhook, url: ftp://x}\n",
		     "url must start with https:// or http://");
	expect_error("alerting:\n  sinks:\n    - {name: a, type: webhook, url: 'https://x',"
		     " headers: {Authorization: x}}\n", "token_file or token_env");
	expect_error("alerting:\n  sinks:\n    - {name: a, type: syslog, address: 'h:1', protocol: sctp}\n",
		     "protocol: 'sctp' is not one of udp, tcp, tls, unix");
	expect_error("alerting:\n  sinks: {a: 1}\n", "alerting.sinks: expected a list of sinks");
	expect_error("alerting:\n  sinks:\n    - {name: 'a b', type: stdout}\n", "is not 1-63 letters");
	expect_error("alerting:\n  sinks:\n    - {name: a, type: stdout, rate_limit: -1}\n",
		     "rate_limit: '-1' is not an integer between 0 and 1000000");
	expect_error("alerting: &x\n  sinks: []\n", "t.yaml:1:11:");
	/* other sections are not this parser's business */
	struct de_sinks_cfg c;
	char err[256];
	const char *y = "collector: {source: proc}\nunknown: [1, {a: b}]\n";
	assert_int_equal(de_sinks_cfg_parse(&c, "t.yaml", y, strlen(y), err, sizeof(err)), 0);
	assert_int_equal(c.n, 0);
}

/* Audit checkpoints go to every sink but stdout unless `checkpoints`
 * says otherwise, whatever min_severity says; alerts by severity. */
static void test_cfg_checkpoints(void **st)
{
	(void)st;
	const char *y = "alerting:\n  sinks:\n"
			"    - {name: t, type: stdout}\n"
			"    - {name: f, type: file, path: /x, min_severity: critical}\n"
			"    - {name: g, type: file, path: /y, checkpoints: false}\n"
			"    - {name: s, type: stdout, checkpoints: true}\n";
	struct de_sinks_cfg c;
	char err[256];
	assert_int_equal(de_sinks_cfg_parse(&c, "t.yaml", y, strlen(y), err, sizeof(err)), 0);
	assert_int_equal(c.n, 4);
	struct de_alert cp = { .severity = DE_SEV_INFO, .checkpoint = "o\n1\nr\n" };
	struct de_alert al = { .severity = DE_SEV_HIGH };
	assert_false(de_sink_wants(&c.v[0], &cp));
	assert_true(de_sink_wants(&c.v[1], &cp));
	assert_false(de_sink_wants(&c.v[2], &cp));
	assert_true(de_sink_wants(&c.v[3], &cp));
	assert_true(de_sink_wants(&c.v[0], &al));
	assert_false(de_sink_wants(&c.v[1], &al)); /* high < critical */
	assert_true(de_sink_wants(&c.v[2], &al));
	de_sinks_cfg_free(&c);
	expect_error("alerting:\n  sinks:\n    - {name: a, type: stdout, checkpoints: yes}\n",
		     "checkpoints: expected true or false");
}

/* ---- delivery through real sinks -------------------------------------- */

static int64_t q1(const char *db, const char *sql)
{
	struct de_store_opts so = { .path = db };
	char why[256];
	struct de_store *s = de_store_open(&so, why, sizeof(why));
	assert_non_null(s);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(de_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
	int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	de_store_close(s);
	return v;
}

static void wait_until(const char *db, const char *sql, int64_t want, int seconds)
{
	int64_t got = -1;
	for (int i = 0; i < seconds * 100; i++) {
		if ((got = q1(db, sql)) == want)
			return;
		usleep(10000);
	}
	fail_msg("%s: %lld, expected %lld", sql, (long long)got, (long long)want);
}

static void make_alerts(struct de_alert *a, const struct de_alert **p, char (*keys)[16], size_t n,
			struct de_alert_storage *stg, enum de_severity sev)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(de_alert_sample(&a[i], stg, sev), 0);
		snprintf(keys[i], 16, "n=%u", (unsigned)(i % 100000));
		a[i].dedup_key = keys[i];
		p[i] = &a[i];
	}
}

static void test_file_order(void **st)
{
	(void)st;
	char db[256], out[256], yaml[1024];
	snprintf(db, sizeof(db), "%s/order.db", dir);
	snprintf(out, sizeof(out), "%s/order.jsonl", dir);
	snprintf(yaml, sizeof(yaml),
		 "alerting:\n  sinks:\n    - {name: f, type: file, path: '%s'}\n"
		 "    - {name: hi, type: file, path: '%s.hi', min_severity: high}\n", out, out);
	struct de_sinks_cfg *c = calloc(1, sizeof(*c));
	char err[256];
	assert_int_equal(de_sinks_cfg_parse(c, "t", yaml, strlen(yaml), err, sizeof(err)), 0);
	struct de_outbox_opts o = { .store_path = db, .sinks = c, .batch = 7 };
	struct de_outbox *ob = de_outbox_open(&o, err, sizeof(err));
	assert_non_null(ob);
	enum { N = 300 };
	static struct de_alert a[N];
	static const struct de_alert *p[N];
	static char keys[N][16];
	struct de_alert_storage stg;
	make_alerts(a, p, keys, N, &stg, DE_SEV_MEDIUM);
	for (size_t i = 0; i < N; i += 50)
		assert_int_equal(de_outbox_add(ob, p + i, 50), 50);
	/* the same alerts again: no-op, the id is the key */
	assert_int_equal(de_outbox_add(ob, p, 10), 0);
	for (int i = 0; i < 500 && de_outbox_pending(ob) > 0; i++)
		usleep(10000);
	assert_int_equal(de_outbox_pending(ob), 0);
	de_outbox_close(ob);
	/* every alert once, in order, with its id */
	FILE *f = fopen(out, "r");
	assert_non_null(f);
	char line[8192];
	size_t n = 0;
	while (fgets(line, sizeof(line), f)) {
		assert_true(n < N);
		char want[64];
		snprintf(want, sizeof(want), "\"id\":\"%.36s\"", a[n].id);
		assert_non_null(strstr(line, want));
		snprintf(want, sizeof(want), "\"dedup_key\":\"n=%u\"", (unsigned)n);
		assert_non_null(strstr(line, want));
		n++;
	}
	fclose(f);
	assert_int_equal(n, N);
	/* min_severity high: medium alerts never queued for "hi" */
	assert_int_equal(q1(db, "SELECT count(*) FROM delivery_t WHERE sink = 'hi'"), 0);
	assert_int_equal(q1(db, "SELECT count(*) FROM delivery_t WHERE sink = 'f' AND state = 1"), N);
	assert_int_equal(q1(db, "SELECT count(*) FROM alert_full WHERE json IS NOT NULL"), N);
	de_sinks_cfg_free(c);
	free(c);
}

static void test_rotation(void **st)
{
	(void)st;
	char db[256], out[256], yaml[1024], p2[300];
	snprintf(db, sizeof(db), "%s/rot.db", dir);
	snprintf(out, sizeof(out), "%s/rot.jsonl", dir);
	snprintf(yaml, sizeof(yaml),
		 "alerting:\n  sinks:\n    - {name: f, type: file, path: '%s', max_bytes: 4K,"
		 " keep: 2, fsync: none}\n", out);
	struct de_sinks_cfg *c = calloc(1, sizeof(*c));
	char err[256];
	assert_int_equal(de_sinks_cfg_parse(c, "t", yaml, strlen(yaml), err, sizeof(err)), 0);
	struct de_outbox_opts o = { .store_path = db, .sinks = c };
	struct de_outbox *ob = de_outbox_open(&o, err, sizeof(err));
	assert_non_null(ob);
	enum { N = 40 };
	static struct de_alert a[N];
	static const struct de_alert *p[N];
	static char keys[N][16];
	struct de_alert_storage stg;
	make_alerts(a, p, keys, N, &stg, DE_SEV_LOW);
	assert_int_equal(de_outbox_add(ob, p, N), N);
	for (int i = 0; i < 500 && de_outbox_pending(ob) > 0; i++)
		usleep(10000);
	de_outbox_close(ob);
	struct stat sb;
	assert_int_equal(stat(out, &sb), 0);
	assert_true(sb.st_size <= 4096);
	snprintf(p2, sizeof(p2), "%s.1", out);
	assert_int_equal(stat(p2, &sb), 0);
	assert_true(sb.st_size <= 4096 && sb.st_size > 0);
	snprintf(p2, sizeof(p2), "%s.2", out);
	assert_int_equal(stat(p2, &sb), 0);
	snprintf(p2, sizeof(p2), "%s.3", out);
	assert_int_equal(stat(p2, &sb), -1); /* keep: 2 */
	de_sinks_cfg_free(c);
	free(c);
}

/* An exec sink that fails until a flag file exists: dead-letter after
 * max_attempts, retry, then delivered, in order. */
static void test_dead_letter_retry(void **st)
{
	(void)st;
	char db[256], out[256], flag[256], yaml[1024];
	snprintf(db, sizeof(db), "%s/dead.db", dir);
	snprintf(out, sizeof(out), "%s/dead.out", dir);
	snprintf(flag, sizeof(flag), "%s/dead.flag", dir);
	snprintf(yaml, sizeof(yaml),
		 "alerting:\n  sinks:\n    - name: x\n      type: exec\n"
		 "      argv: [/bin/sh, -c, 'test -e %s && cat >> %s && echo >> %s']\n"
		 "      max_attempts: 2\n      retry_base_ms: 1\n      retry_max_ms: 2\n"
		 "      breaker_failures: 1000\n", flag, out, out);
	struct de_sinks_cfg *c = calloc(1, sizeof(*c));
	char err[256];
	assert_int_equal(de_sinks_cfg_parse(c, "t", yaml, strlen(yaml), err, sizeof(err)), 0);
	struct de_outbox_opts o = { .store_path = db, .sinks = c, .idle_poll_ms = 50 };
	struct de_outbox *ob = de_outbox_open(&o, err, sizeof(err));
	assert_non_null(ob);
	enum { N = 3 };
	struct de_alert a[N];
	const struct de_alert *p[N];
	char keys[N][16];
	struct de_alert_storage stg;
	make_alerts(a, p, keys, N, &stg, DE_SEV_HIGH);
	assert_int_equal(de_outbox_add(ob, p, N), N);
	wait_until(db, "SELECT count(*) FROM delivery_t WHERE state = 2 AND attempts = 2"
		   " AND last_error LIKE 'gave up after 2 attempts: the program exited with status 1'", N,
		   20);
	assert_int_equal(de_outbox_pending(ob), 0);
	FILE *f = fopen(flag, "w");
	assert_non_null(f);
	fclose(f);
	struct de_store_opts so = { .path = db };
	struct de_store *s = de_store_open(&so, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(de_alertdb_retry(de_store_db(s), 0, NULL), N);
	assert_int_equal(de_alertdb_retry(de_store_db(s), 0, NULL), 0);
	de_store_close(s);
	de_outbox_kick(ob);
	wait_until(db, "SELECT count(*) FROM delivery_t WHERE state = 1", N, 20);
	de_outbox_close(ob);
	f = fopen(out, "r");
	assert_non_null(f);
	char line[8192];
	size_t n = 0;
	while (fgets(line, sizeof(line), f)) {
		char want[64];
		snprintf(want, sizeof(want), "\"id\":\"%.36s\"", a[n].id);
		assert_non_null(strstr(line, want));
		n++;
	}
	fclose(f);
	assert_int_equal(n, N);
	de_sinks_cfg_free(c);
	free(c);
}

/* A hanging exec sink (sleeps past its timeout) does not hold up a file
 * sink next to it. */
static void test_isolation(void **st)
{
	(void)st;
	char db[256], out[256], yaml[1024];
	snprintf(db, sizeof(db), "%s/iso.db", dir);
	snprintf(out, sizeof(out), "%s/iso.jsonl", dir);
	snprintf(yaml, sizeof(yaml),
		 "alerting:\n  sinks:\n    - {name: slow, type: exec, argv: [/bin/sleep, '30'],"
		 " timeout_ms: 3000}\n    - {name: f, type: file, path: '%s'}\n", out);
	struct de_sinks_cfg *c = calloc(1, sizeof(*c));
	char err[256];
	assert_int_equal(de_sinks_cfg_parse(c, "t", yaml, strlen(yaml), err, sizeof(err)), 0);
	struct de_outbox_opts o = { .store_path = db, .sinks = c };
	struct de_outbox *ob = de_outbox_open(&o, err, sizeof(err));
	assert_non_null(ob);
	enum { N = 100 };
	static struct de_alert a[N];
	static const struct de_alert *p[N];
	static char keys[N][16];
	struct de_alert_storage stg;
	make_alerts(a, p, keys, N, &stg, DE_SEV_HIGH);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(de_outbox_add(ob, p, N), N);
	wait_until(db, "SELECT count(*) FROM delivery_t WHERE sink = 'f' AND state = 1", N, 10);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	/* the slow sink's first send alone takes 3 s */
	assert_true(ms < 2500);
	assert_int_equal(q1(db, "SELECT count(*) FROM delivery_t WHERE sink = 'slow' AND state = 1"), 0);
	de_outbox_close(ob);
	de_sinks_cfg_free(c);
	free(c);
}

/* The human stdout form: one line, untrusted text escaped, no colour off a
 * terminal; the JSON form is the alert's JSON. */
static void test_stdout_render(void **st)
{
	(void)st;
	struct de_sink_cfg c = policy();
	snprintf(c.name, sizeof(c.name), "console");
	c.type = DE_SINK_STDOUT;
	c.stdout_format = DE_STDOUT_HUMAN;
	char why[128];
	struct de_sink *s = de_sink_open(&c, why, sizeof(why));
	assert_non_null(s);
	assert_false(s->plain_json);
	struct de_alert a;
	struct de_alert_storage stg;
	assert_int_equal(de_alert_sample(&a, &stg, DE_SEV_CRITICAL), 0);
	static const char argv[] = "sh\0-c\0echo \033[31mred\nline";
	a.proc.argv = argv;
	a.proc.argv_len = sizeof(argv) - 1;
	struct de_buf b = DE_BUF_INIT;
	s->ops->render(s, &a, &b);
	const char *t = de_buf_str(&b);
	assert_null(strchr(t, '\n'));
	assert_null(strchr(t, '\033'));
	assert_non_null(strstr(t, "critical"));
	assert_non_null(strstr(t, "daemoneye-test \"DaemonEye test alert\""));
	assert_non_null(strstr(t, "cmd=sh -c echo \\e[31mred\\nline"));
	assert_non_null(strstr(t, a.id));
	de_sink_close(s);
	c.stdout_format = DE_STDOUT_JSON;
	s = de_sink_open(&c, why, sizeof(why));
	assert_non_null(s);
	assert_true(s->plain_json);
	struct de_buf j = DE_BUF_INIT;
	de_buf_reset(&b);
	s->ops->render(s, &a, &b);
	de_alert_json(&j, &a);
	assert_string_equal(de_buf_str(&b), de_buf_str(&j));
	de_buf_free(&b);
	de_buf_free(&j);
	de_sink_close(s);
}

/* A program that exits without reading a payload larger than a pipe
 * holds: the write fails with EPIPE (no SIGPIPE kills the host) and the
 * exit status decides: delivered. */
static void test_exec_epipe(void **st)
{
	(void)st;
	char db[256], yaml[512];
	snprintf(db, sizeof(db), "%s/epipe.db", dir);
	snprintf(yaml, sizeof(yaml), "alerting:\n  sinks:\n    - {name: x, type: exec, argv: [/bin/true]}\n");
	struct de_sinks_cfg *c = calloc(1, sizeof(*c));
	char err[256];
	assert_int_equal(de_sinks_cfg_parse(c, "t", yaml, strlen(yaml), err, sizeof(err)), 0);
	struct de_outbox_opts o = { .store_path = db, .sinks = c };
	struct de_outbox *ob = de_outbox_open(&o, err, sizeof(err));
	assert_non_null(ob);
	struct de_alert a;
	struct de_alert_storage stg;
	assert_int_equal(de_alert_sample(&a, &stg, DE_SEV_HIGH), 0);
	size_t big = 1 << 20;
	char *argv = malloc(big);
	assert_non_null(argv);
	memset(argv, 'A', big);
	argv[big - 1] = 0;
	a.proc.argv = argv;
	a.proc.argv_len = big;
	const struct de_alert *p = &a;
	assert_int_equal(de_outbox_add(ob, &p, 1), 1);
	wait_until(db, "SELECT count(*) FROM delivery_t WHERE state = 1", 1, 20);
	de_outbox_close(ob);
	free(argv);
	de_sinks_cfg_free(c);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_breaker),
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_cfg_good),
		cmocka_unit_test(test_stdout_render),
		cmocka_unit_test(test_cfg_errors),
		cmocka_unit_test(test_cfg_checkpoints),
		cmocka_unit_test(test_file_order),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_dead_letter_retry),
		cmocka_unit_test(test_isolation),
		cmocka_unit_test(test_exec_epipe),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

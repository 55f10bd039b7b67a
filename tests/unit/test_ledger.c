/* test_ledger.c: the ledger writer: group commit driven by tick/timeout,
 * checkpoints by count and by time (signed, handed to the callback), one
 * writer only, the key must match, crash repair (torn tail cut and
 * recorded, lost tree leaves re-appended, a node store ahead of the
 * records rebuilt), and verification of what it wrote. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "ledger.h"
#include "ledger_files.h"
#include "ledger_verify.h"

#define MS 1000000LL

struct env {
	char state[64];
	char ledger[96];
	char records[128];
	struct de_ledger_key *key;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	snprintf(e->state, sizeof(e->state), "/tmp/de-ledger-XXXXXX");
	if (!mkdtemp(e->state))
		return -1;
	snprintf(e->ledger, sizeof(e->ledger), "%s/ledger", e->state);
	snprintf(e->records, sizeof(e->records), "%s/records", e->ledger);
	e->key = de_ledger_key_generate();
	*state = e;
	return e->key ? 0 : -1;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->state);
	if (system(cmd) != 0)
		return -1;
	de_ledger_key_free(e->key);
	free(e);
	return 0;
}

static uint64_t file_size(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void alert(struct de_ledger *l, unsigned i)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "alert %u", i);
	assert_int_equal(de_ledger_append(l, DE_LREC_ALERT, buf, (size_t)n, NULL), 0);
}

static void verify_ok(struct env *e, uint64_t records)
{
	struct de_verify_result res;
	assert_int_equal(de_ledger_verify(e->ledger, NULL, &res), 0);
	if (!res.ok)
		fail_msg("verify: %s", res.reason);
	assert_int_equal(res.records, records);
	assert_int_equal(res.covered, records);
}

static void test_group_commit(void **state)
{
	struct env *e = *state;
	struct de_ledger_opts o = { .sync_ms = 100, .checkpoint_ms = 3600000 };
	char why[256];
	struct de_ledger *l = de_ledger_open(e->state, e->key, &o, why, sizeof(why));
	if (!l)
		fail_msg("open: %s", why);
	/* Opening wrote the open record and checkpointed it. */
	assert_int_equal(de_ledger_size(l), 1);
	assert_int_equal(de_ledger_last_checkpoint(l)->size, 1);
	uint64_t base = file_size(e->records);
	assert_true(base > 0);
	int64_t t0 = de_ledger_now();
	assert_int_equal(de_ledger_timeout_ms(l, t0), -1); /* nothing pending */
	for (unsigned i = 0; i < 10; i++)
		alert(l, i);
	/* Buffered: nothing written yet; a commit is due within half the
	 * bound (the fsync gets the other half). */
	assert_int_equal(file_size(e->records), base);
	int t = de_ledger_timeout_ms(l, de_ledger_now());
	assert_true(t >= 0 && t <= 50);
	assert_int_equal(de_ledger_tick(l, t0), 0);
	assert_int_equal(file_size(e->records), base);
	struct de_ledger_stats st0, st;
	de_ledger_stats(l, &st0);
	assert_int_equal(de_ledger_tick(l, de_ledger_now() + 51 * MS), 0);
	assert_true(file_size(e->records) > base);
	/* The commit thread syncs it without blocking the caller. */
	for (int i = 0; i < 500; i++) {
		de_ledger_stats(l, &st);
		if (st.commits > st0.commits)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(st.commits, st0.commits + 1);
	assert_int_equal(de_ledger_timeout_ms(l, de_ledger_now()) > 0, true); /* checkpoint later */
	/* Appends commit by themselves once the oldest is due. */
	base = file_size(e->records);
	alert(l, 10);
	usleep(60 * 1000);
	alert(l, 11);
	assert_true(file_size(e->records) > base);
	/* A checkpoint once checkpoint_ms has passed. */
	assert_int_equal(de_ledger_tick(l, de_ledger_now() + 3600001 * MS), 0);
	assert_int_equal(de_ledger_last_checkpoint(l)->size, 13);
	assert_int_equal(de_ledger_close(l), 0);
	verify_ok(e, 14);
}

struct seen {
	unsigned n;
	struct de_vkey vk;
	uint64_t last;
};

static void on_cp(void *arg, const char *note, size_t len)
{
	struct seen *s = arg;
	struct de_checkpoint cp;
	size_t used;
	assert_int_equal(de_checkpoint_verify(note, len, &s->vk, &cp, &used, NULL, 0), 0);
	assert_int_equal(used, len);
	assert_true(cp.size > s->last);
	s->last = cp.size;
	s->n++;
}

static void test_checkpoints(void **state)
{
	struct env *e = *state;
	struct seen s = { 0 };
	assert_int_equal(de_vkey_make("test/origin", de_ledger_key_public(e->key), &s.vk), 0);
	struct de_ledger_opts o = { .origin = "test/origin", .checkpoint_records = 100,
				    .on_checkpoint = on_cp, .arg = &s };
	struct de_ledger *l = de_ledger_open(e->state, e->key, &o, NULL, 0);
	assert_non_null(l);
	for (unsigned i = 0; i < 250; i++)
		alert(l, i);
	/* open (1), then every 100 records: 101, 201. */
	assert_int_equal(de_ledger_last_checkpoint(l)->size, 201);
	assert_int_equal(s.n, 3);
	struct de_event ev = { .type = DE_EV_SNAPSHOT };
	assert_int_equal(de_ledger_append_event(l, &ev, NULL), -EINVAL);
	ev.type = DE_EV_EXIT;
	uint64_t seq;
	assert_int_equal(de_ledger_append_event(l, &ev, &seq), 0);
	assert_int_equal(seq, 251);
	assert_int_equal(de_ledger_checkpoint_now(l), 0);
	assert_int_equal(s.last, 252);
	/* One writer at a time. */
	errno = 0;
	char why[256];
	assert_null(de_ledger_open(e->state, e->key, &o, why, sizeof(why)));
	assert_int_equal(errno, EWOULDBLOCK);
	assert_int_equal(de_ledger_close(l), 0);
	assert_int_equal(s.last, 253);
	verify_ok(e, 253);
	/* The ledger stays bound to its key. */
	struct de_ledger_key *other = de_ledger_key_generate();
	assert_null(de_ledger_open(e->state, other, &o, why, sizeof(why)));
	assert_int_equal(errno, EKEYREJECTED);
	de_ledger_key_free(other);
}

/* A child writes n records, syncs and dies without closing. */
static void crash_after(struct env *e, unsigned n)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct de_ledger *l = de_ledger_open(e->state, e->key, NULL, NULL, 0);
		if (!l)
			_exit(1);
		for (unsigned i = 0; i < n; i++) {
			char b[16];
			int k = snprintf(b, sizeof(b), "r%u", i);
			if (de_ledger_append(l, DE_LREC_ALERT, b, (size_t)k, NULL) < 0)
				_exit(1);
		}
		_exit(de_ledger_sync(l) < 0 ? 1 : 0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

struct count {
	unsigned repairs;
	uint64_t last_type;
};

static int count_rec(void *arg, const struct de_lrec *r)
{
	struct count *c = arg;
	if (r->type == DE_LREC_REPAIR)
		c->repairs++;
	c->last_type = r->type;
	return 0;
}

static void test_crash_repair(void **state)
{
	struct env *e = *state;
	crash_after(e, 500);
	uint64_t good = file_size(e->records);
	/* The crash tore the next frame. */
	int fd = open(e->records, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x60\0\0\0partial", 11), 11);
	close(fd);
	struct de_verify_result res;
	assert_int_equal(de_ledger_verify(e->ledger, NULL, &res), 0);
	assert_false(res.ok);
	assert_int_equal(res.first_bad, 501);
	/* Reopen: cut, recorded, tree leaves the store lost re-appended. */
	char why[256];
	struct de_ledger *l = de_ledger_open(e->state, e->key, NULL, why, sizeof(why));
	if (!l)
		fail_msg("reopen: %s", why);
	assert_int_equal(de_ledger_size(l), 501 + 2); /* + open + repair */
	assert_int_equal(de_ledger_close(l), 0);
	verify_ok(e, 504);
	struct count c = { 0 };
	assert_int_equal(de_ledger_each(e->ledger, 0, count_rec, &c), 0);
	assert_int_equal(c.repairs, 1);
	assert_int_equal(c.last_type, DE_LREC_CLOSE);
	char torn[160];
	snprintf(torn, sizeof(torn), "%s/torn-%llu.bin", e->ledger, (unsigned long long)good);
	assert_int_equal(file_size(torn), 11);
}

static void test_store_ahead(void **state)
{
	struct env *e = *state;
	struct de_ledger *l = de_ledger_open(e->state, e->key, NULL, NULL, 0);
	assert_non_null(l);
	for (unsigned i = 0; i < 300; i++)
		alert(l, i);
	assert_int_equal(de_ledger_close(l), 0);
	/* Records lost beyond what any checkpoint still names (checkpoints
	 * and hint gone too): the node store is ahead of the records. */
	struct de_lreader rd;
	struct de_lrec r;
	int fd = open(e->records, O_RDWR);
	assert_int_equal(de_lreader_init(&rd, fd, 0), 0);
	for (unsigned i = 0; i < 100; i++)
		assert_int_equal(de_lreader_next(&rd, &r), 1);
	assert_int_equal(ftruncate(fd, (off_t)rd.off), 0);
	de_lreader_done(&rd);
	close(fd);
	char p[160];
	snprintf(p, sizeof(p), "%s/" DE_LEDGER_CHECKPOINTS, e->ledger);
	unlink(p);
	snprintf(p, sizeof(p), "%s/" DE_LEDGER_TAIL, e->ledger);
	unlink(p);
	char why[256];
	l = de_ledger_open(e->state, e->key, NULL, why, sizeof(why));
	if (!l)
		fail_msg("reopen: %s", why);
	assert_int_equal(de_ledger_size(l), 102);
	assert_int_equal(de_ledger_close(l), 0);
	verify_ok(e, 103);
}

/* procmond's flow: opened as root for the user it drops to, then written
 * by that user through the same handle (checkpoints replace SYNCED and
 * TAIL, the tree grows new level files); everything belongs to that user. */
static void test_owner(void **state)
{
	struct env *e = *state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	assert_int_equal(chmod(e->state, 0755), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct de_ledger_opts o = { .set_owner = true, .owner = 65534 };
		struct de_ledger *l = de_ledger_open(e->state, e->key, &o, NULL, 0);
		if (!l)
			_exit(2);
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(3);
		for (unsigned i = 0; i < 5000; i++)
			if (de_ledger_append(l, DE_LREC_ALERT, "x", 1, NULL) < 0)
				_exit(4);
		if (de_ledger_checkpoint_now(l) < 0)
			_exit(5);
		_exit(de_ledger_close(l) < 0 ? 6 : 0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	verify_ok(e, 5002);
	static const char *const names[] = { "", "/records", "/checkpoints", "/FORMAT", "/PUBKEY",
					     "/TAIL", "/tree", "/tree/level-00", "/tree/level-01",
					     "/tree/level-12", "/tree/FORMAT", "/tree/SYNCED" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char p[256];
		struct stat sb;
		snprintf(p, sizeof(p), "%s%s", e->ledger, names[i]);
		assert_int_equal(stat(p, &sb), 0);
		if (sb.st_uid != 65534)
			fail_msg("%s belongs to uid %u", p, (unsigned)sb.st_uid);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_repair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

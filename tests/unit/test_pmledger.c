/* test_pmledger.c: procmond's ledger wiring (pmledger.h) without the
 * daemon: the records of a run in order (open, start, config, privdrop,
 * source, exec, fork, exit, drops, alert, ruleset, stop, close), which
 * LedgerAppend types the agent may use, the status fields, and a ledger
 * damaged inside a checkpoint: no ledger, nothing recorded, the damage
 * left as it is, status "not open" with EUCLEAN. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "ledger_verify.h"
#include "pmledger.h"
#include "statedir.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/de-pmledger-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct seen {
	uint32_t types[64];
	size_t n;
};

static int collect(void *arg, const struct de_lrec *r)
{
	struct seen *s = arg;
	if (s->n < DE_ARRAY_SIZE(s->types))
		s->types[s->n++] = r->type;
	return 0;
}

static void ledger_dir(char *out, size_t n)
{
	assert_int_equal(de_state_path(dir, DE_STATE_LEDGER_DIR, out, n), 0);
}

static void one_run(void)
{
	struct de_config cfg;
	assert_int_equal(de_config_init(&cfg), 0);
	struct de_pmledger pl;
	assert_int_equal(de_pmledger_open(&pl, dir, getuid(), &cfg), 0);
	assert_true(de_pmledger_active(&pl));
	struct de_ipc_component c = { 0 };
	de_pmledger_status(&pl, &c);
	assert_int_equal(c.ledger_records, 1); /* only the open record before the drop */

	struct de_privdrop_result who = { .uid = 999, .gid = 998, .caps = 0x80004 };
	snprintf(who.user, sizeof(who.user), "daemoneye");
	de_pmledger_privdrop(&pl, 0, &who, NULL);
	de_config_free(&cfg);

	struct de_event st = { .type = DE_EV_STATUS, .status = DE_ST_STARTED,
			       .source = DE_EVSRC_NETLINK, .detail = "netlink (auto; unavailable: ebpf)" };
	de_pmledger_event(&pl, &st);
	char argv[] = "/bin/true\0x";
	struct de_event ex = { .type = DE_EV_EXEC, .source = DE_EVSRC_NETLINK, .pid = 42, .tid = 42,
			       .have = DE_EVF_ARGV, .argv = argv, .argv_len = sizeof(argv), .argc = 2 };
	de_pmledger_event(&pl, &ex);
	struct de_event fk = { .type = DE_EV_FORK, .source = DE_EVSRC_NETLINK, .pid = 43, .ppid = 42 };
	de_pmledger_event(&pl, &fk);
	struct de_event xt = { .type = DE_EV_EXIT, .source = DE_EVSRC_NETLINK, .pid = 42,
			       .have = DE_EVF_EXIT, .exit_code = 1 };
	de_pmledger_event(&pl, &xt);
	struct de_event snap = { .type = DE_EV_SNAPSHOT, .pid = 1 };
	de_pmledger_event(&pl, &snap); /* not recorded */
	struct de_event dr = { .type = DE_EV_STATUS, .status = DE_ST_DROPS,
			       .source = DE_EVSRC_NETLINK, .detail = "lost" };
	dr.drops[DE_EV_EXEC] = 3;
	de_pmledger_event(&pl, &dr);

	struct de_ipc_ledger_append a = { .type = DE_LREC_ALERT, .key = "a1", .payload = "{\"id\":\"a1\"}",
					  .len = 11 };
	assert_int_equal(de_pmledger_agent_append(&pl, &a), 0);
	a = (struct de_ipc_ledger_append){ .type = DE_LREC_RULESET, .key = "rules", .payload = "r",
					   .len = 1 };
	assert_int_equal(de_pmledger_agent_append(&pl, &a), 0);
	const uint32_t forbidden[] = { DE_LREC_EXEC, DE_LREC_EXIT, DE_LREC_FORK, DE_LREC_START,
				       DE_LREC_STOP, DE_LREC_PRIVDROP, DE_LREC_CONFIG, DE_LREC_REPAIR,
				       DE_LREC_OPEN, DE_LREC_CLOSE, 0, 999 };
	for (size_t i = 0; i < DE_ARRAY_SIZE(forbidden); i++) {
		a.type = forbidden[i];
		assert_int_equal(de_pmledger_agent_append(&pl, &a), -EPERM);
	}

	de_pmledger_status(&pl, &c);
	assert_int_equal(c.ledger_state, DE_IPC_LEDGER_RECORDING);
	assert_int_equal(c.ledger_errno, 0);
	assert_int_equal(c.ledger_records, 11); /* open .. ruleset */
	assert_int_equal(c.ledger_checkpoint, 1); /* the checkpoint of the open */
	assert_true(de_pmledger_timeout_ms(&pl) >= 0); /* a group commit is pending */
	de_pmledger_tick(&pl);
	de_pmledger_close(&pl, "test end");
	assert_null(pl.l);
	assert_null(pl.key);
}

static void test_run_records(void **state)
{
	(void)state;
	one_run();
	char ld[4096];
	ledger_dir(ld, sizeof(ld));
	struct de_verify_result res;
	assert_int_equal(de_ledger_verify(ld, NULL, &res), 0);
	assert_true(res.ok);
	assert_int_equal(res.records, 13);
	assert_int_equal(res.covered, 13);
	struct seen s = { 0 };
	assert_int_equal(de_ledger_each(ld, 0, collect, &s), 0);
	const uint32_t want[] = { DE_LREC_OPEN,   DE_LREC_START, DE_LREC_CONFIG, DE_LREC_PRIVDROP,
				  DE_LREC_SOURCE, DE_LREC_EXEC,  DE_LREC_FORK,   DE_LREC_EXIT,
				  DE_LREC_DROPS,  DE_LREC_ALERT, DE_LREC_RULESET, DE_LREC_STOP,
				  DE_LREC_CLOSE };
	assert_int_equal(s.n, DE_ARRAY_SIZE(want));
	for (size_t i = 0; i < DE_ARRAY_SIZE(want); i++)
		assert_int_equal(s.types[i], want[i]);
}

static void test_damaged(void **state)
{
	(void)state;
	one_run();
	char ld[4096], rec[4200], tail[4200];
	ledger_dir(ld, sizeof(ld));
	snprintf(rec, sizeof(rec), "%s/records", ld);
	snprintf(tail, sizeof(tail), "%s/TAIL", ld);
	FILE *f = fopen(tail, "r");
	assert_non_null(f);
	unsigned long long size, end, last;
	assert_int_equal(fscanf(f, "%llu %llu %llu", &size, &end, &last), 3);
	fclose(f);
	int fd = open(rec, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, (off_t)last + 30), 1);
	b ^= 1;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)last + 30), 1);
	struct stat before, after;
	assert_int_equal(fstat(fd, &before), 0);

	struct de_pmledger pl;
	assert_int_equal(de_pmledger_open(&pl, dir, getuid(), NULL), -EUCLEAN);
	assert_false(de_pmledger_active(&pl));
	struct de_ipc_ledger_append a = { .type = DE_LREC_ALERT, .key = "a", .payload = "x", .len = 1 };
	assert_int_equal(de_pmledger_agent_append(&pl, &a), -ENODEV);
	struct de_event ex = { .type = DE_EV_EXEC, .pid = 7 };
	de_pmledger_event(&pl, &ex);
	assert_int_equal(de_pmledger_timeout_ms(&pl), -1);
	struct de_ipc_component c = { 0 };
	de_pmledger_status(&pl, &c);
	assert_int_equal(c.ledger_state, DE_IPC_LEDGER_NOT_OPEN);
	assert_int_equal(c.ledger_errno, EUCLEAN);
	de_pmledger_close(&pl, "end");
	assert_int_equal(fstat(fd, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(pread(fd, &b, 1, (off_t)last + 30), 1);
	close(fd);
	struct de_verify_result res;
	assert_int_equal(de_ledger_verify(ld, NULL, &res), 0);
	assert_false(res.ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_run_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

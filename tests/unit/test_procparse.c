/* test_procparse.c: the /proc text parsers on real and hostile inputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "procparse.h"

static size_t fixture(const char *name, char *buf, size_t cap)
{
	const char *dir = getenv("DE_FIXTURES");
	assert_non_null(dir);
	char path[512];
	snprintf(path, sizeof(path), "%s/proc/%s", dir, name);
	ssize_t n = de_read_file_at(AT_FDCWD, path, buf, cap);
	assert_true(n > 0);
	return (size_t)n;
}

static void test_stat_real(void **state)
{
	(void)state;
	char buf[2048];
	size_t n = fixture("stat_self.txt", buf, sizeof(buf));
	struct de_stat st;
	assert_int_equal(de_parse_stat(buf, n, &st), 0);
	assert_int_equal(st.pid, 6977);
	assert_string_equal(st.comm, "cat");
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.ppid, 6926);
	assert_int_equal(st.pgid, 6926);
	assert_int_equal(st.sid, 1170);
	assert_int_equal(st.tty_nr, 0);
	assert_int_equal(st.minflt, 121);
	assert_int_equal(st.priority, 20);
	assert_int_equal(st.nice, 0);
	assert_int_equal(st.num_threads, 1);
	assert_int_equal(st.starttime, 144191);
	assert_int_equal(st.vsize, 3133440);
	assert_int_equal(st.rss, 412);

	n = fixture("stat_kthread.txt", buf, sizeof(buf));
	assert_int_equal(de_parse_stat(buf, n, &st), 0);
	assert_int_equal(st.pid, 2);
	assert_string_equal(st.comm, "kthreadd");
	assert_true(st.flags & 0x00200000u);
}

static void test_stat_hostile(void **state)
{
	(void)state;
	struct de_stat st;
	/* comm with ") (", spaces and a newline: the LAST ')' ends it */
	const char *s = "42 (a) S 1 (b\nc) R 7 8 9 0 -1 0 1 2 3 4 5 6 7 8 20 -5 3 0 999 4096 10";
	assert_int_equal(de_parse_stat(s, strlen(s), &st), 0);
	assert_string_equal(st.comm, "a) S 1 (b\nc");
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.ppid, 7);
	assert_int_equal(st.nice, -5);
	assert_int_equal(st.starttime, 999);
	/* truncated (process exited mid-read or short buffer) */
	const char *t = "42 (x) S 1 2";
	assert_int_equal(de_parse_stat(t, strlen(t), &st), -EINVAL);
	assert_int_equal(st.pid, 42);
	assert_string_equal(st.comm, "x");
	assert_int_equal(st.ppid, 1);
	/* garbage */
	assert_int_equal(de_parse_stat("", 0, &st), -EINVAL);
	assert_int_equal(de_parse_stat("x (y) S", 7, &st), -EINVAL);
	assert_int_equal(de_parse_stat("1 (noclose S 1", 14, &st), -EINVAL);
	assert_int_equal(de_parse_stat("99999999999999999999 (a) S", 26, &st), -EINVAL);
	/* overlong comm is cut, not overflowed */
	char big[600];
	int k = snprintf(big, sizeof(big), "5 (");
	memset(big + k, 'A', 300);
	k += 300;
	k += snprintf(big + k, sizeof(big) - (size_t)k, ") S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0");
	assert_int_equal(de_parse_stat(big, (size_t)k, &st), 0);
	assert_int_equal(strlen(st.comm), DE_COMM_MAX - 1);
	/* a NUL inside the buffer does not run past it */
	const char z[] = "7 (a\0b) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0";
	assert_int_equal(de_parse_stat(z, sizeof(z) - 1, &st), 0);
	assert_string_equal(st.comm, "a");
}

static void test_status(void **state)
{
	(void)state;
	char buf[8192];
	uint32_t groups[4];
	size_t n = fixture("status_self.txt", buf, sizeof(buf));
	struct de_status st = { .groups = groups, .groups_cap = 4 };
	assert_int_equal(de_parse_status(buf, n, &st), 0);
	assert_int_equal(st.uid[0], 0);
	assert_int_equal(st.ngroups, 0);
	assert_int_equal(st.cap_eff, 0x000001fffeffffffULL); /* as captured */
	assert_int_equal(st.seccomp, 0);
	assert_int_equal(st.no_new_privs, 0);
	assert_false(st.kthread);

	n = fixture("status_kthread.txt", buf, sizeof(buf));
	assert_int_equal(de_parse_status(buf, n, &st), 0);
	assert_true(st.kthread);

	const char *s = "Name:\tx\nUid:\t1000\t1001\t1002\t1003\nGid:\t5\t6\t7\t8\n"
			"Groups:\t10 20 30 40 50 60\nCapInh:\t0\nCapPrm:\t00000000a80425fb\n"
			"CapEff:\t00000000a80425fb\nCapBnd:\tffffffffffffffff\nCapAmb:\t0\n"
			"NoNewPrivs:\t1\nSeccomp:\t2\nThreads:\t7";
	assert_int_equal(de_parse_status(s, strlen(s), &st), 0);
	assert_int_equal(st.uid[1], 1001);
	assert_int_equal(st.uid[3], 1003);
	assert_int_equal(st.gid[2], 7);
	assert_int_equal(st.ngroups, 6); /* counted past the array */
	assert_int_equal(groups[3], 40);
	assert_int_equal(st.cap_eff, 0xa80425fbULL);
	assert_int_equal(st.cap_bnd, UINT64_MAX);
	assert_int_equal(st.no_new_privs, 1);
	assert_int_equal(st.seccomp, 2);
	assert_int_equal(st.threads, 7);

	const char *bad = "Uid:\t1\t2\nGid:\t1\t2\t3\t4\nGroups:\nCapEff:\t0\n";
	assert_int_equal(de_parse_status(bad, strlen(bad), &st), -EINVAL);
	const char *overflow = "Uid:\t1\t1\t1\t99999999999\nGid:\t1\t2\t3\t4\nGroups:\nCapEff:\t0\n";
	assert_int_equal(de_parse_status(overflow, strlen(overflow), &st), -EINVAL);
	const char *cap = "Uid:\t1\t1\t1\t1\nGid:\t1\t2\t3\t4\nGroups:\nCapEff:\t11112222333344445\n";
	assert_int_equal(de_parse_status(cap, strlen(cap), &st), -EINVAL);
	assert_int_equal(de_parse_status("", 0, &st), -EINVAL);
}

static void test_io(void **state)
{
	(void)state;
	char buf[1024];
	size_t n = fixture("io_self.txt", buf, sizeof(buf));
	struct de_io io;
	assert_int_equal(de_parse_io(buf, n, &io), 0);
	const char *s = "rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\nwrite_bytes: 6\n"
			"cancelled_write_bytes: 7\n";
	assert_int_equal(de_parse_io(s, strlen(s), &io), 0);
	assert_int_equal(io.read_bytes, 5);
	assert_int_equal(io.cancelled_write_bytes, 7);
	assert_int_equal(de_parse_io(s, 20, &io), -EINVAL);
	const char *bad = "rchar: x\n";
	assert_int_equal(de_parse_io(bad, strlen(bad), &io), -EINVAL);
}

static void test_u64_file(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(de_parse_u64_file("1000\n", 5, &v), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(de_parse_u64_file("4294967295", 10, &v), 0);
	assert_int_equal(de_parse_u64_file("12x", 3, &v), -EINVAL);
	assert_int_equal(de_parse_u64_file("", 0, &v), -EINVAL);
	assert_int_equal(de_parse_u64_file("-1", 2, &v), -EINVAL);
}

static void test_cgroup_and_container(void **state)
{
	(void)state;
	char path[256], id[65];
	const char *rt;
	const char *v1 = "12:pids:/a\n4:memory:/b\n0::/system.slice/docker-"
			 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope\n";
	assert_true(de_parse_cgroup(v1, strlen(v1), path, sizeof(path)) > 0);
	assert_string_equal(path, "/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope");
	assert_int_equal(de_container_id(path, id, &rt), 1);
	assert_string_equal(id, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	assert_string_equal(rt, "docker");

	const char *only_v1 = "9:name=systemd:/user.slice:odd\n";
	assert_true(de_parse_cgroup(only_v1, strlen(only_v1), path, sizeof(path)) > 0);
	assert_string_equal(path, "/user.slice:odd");
	assert_int_equal(de_container_id(path, id, &rt), 0);
	assert_int_equal(de_parse_cgroup("garbage", 7, path, sizeof(path)), -EINVAL);

	const char *h64 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
	static const struct {
		const char *before, *after, *runtime;
	} cases[] = {
		{ "/docker/", "", "docker" },
		{ "/system.slice/docker-", ".scope", "docker" },
		{ "/kubepods.slice/kubepods-pod1.slice/cri-containerd-", ".scope", "containerd" },
		{ "/kubepods/besteffort/pod1/", "", "containerd" },
		{ "/machine.slice/crio-", ".scope", "cri-o" },
		{ "/machine.slice/libpod-", ".scope/container", "podman" },
		{ "/user.slice/user-1000.slice/user@1000.service/libpod-conmon-", ".scope", "podman" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "%s%s%s", cases[i].before, h64, cases[i].after);
		assert_int_equal(de_container_id(path, id, &rt), 1);
		assert_string_equal(id, h64);
		assert_string_equal(rt, cases[i].runtime);
	}
	assert_int_equal(de_container_id("/", id, &rt), 0);
	assert_int_equal(de_container_id("/user.slice/session-3.scope", id, &rt), 0);
	assert_int_equal(de_container_id("/deadbeef", id, &rt), 0); /* too short, no prefix */
	assert_int_equal(de_container_id("/docker-XYZ.scope", id, &rt), 0);
}

static void test_exe_classify(void **state)
{
	(void)state;
	bool del, memfd;
	char a[] = "/usr/bin/sleep (deleted)";
	assert_int_equal(de_exe_classify(a, strlen(a), &del, &memfd), 14);
	assert_string_equal(a, "/usr/bin/sleep");
	assert_true(del);
	assert_false(memfd);
	char b[] = "/memfd:payload (deleted)";
	de_exe_classify(b, strlen(b), &del, &memfd);
	assert_true(del);
	assert_true(memfd);
	assert_string_equal(b, "/memfd:payload");
	char c[] = "/bin/true";
	de_exe_classify(c, strlen(c), &del, &memfd);
	assert_false(del);
	assert_false(memfd);
}

static void test_cmdline_and_env(void **state)
{
	(void)state;
	assert_int_equal(de_cmdline_argc("", 0), 0);
	assert_int_equal(de_cmdline_argc("\0", 1), 1);
	assert_int_equal(de_cmdline_argc("a\0b\0", 4), 2);
	assert_int_equal(de_cmdline_argc("a\0b", 3), 2);
	assert_int_equal(de_cmdline_argc("a b c", 5), 1);
	const char pats[][64] = { "*TOKEN*", "*PASS", "AWS_*" };
	assert_true(de_env_name_matches("GITHUB_TOKEN", 12, pats, 3));
	assert_true(de_env_name_matches("db_pass", 7, pats, 3));
	assert_true(de_env_name_matches("aws_secret_access_key", 21, pats, 3));
	assert_false(de_env_name_matches("PATH", 4, pats, 3));
	assert_false(de_env_name_matches("PASSWORD_HINT", 13, pats, 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stat_real),
		cmocka_unit_test(test_stat_hostile),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_u64_file),
		cmocka_unit_test(test_cgroup_and_container),
		cmocka_unit_test(test_exe_classify),
		cmocka_unit_test(test_cmdline_and_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

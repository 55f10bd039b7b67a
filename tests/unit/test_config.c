/* test_config.c: unit tests of the configuration module (config.h).
 *
 * Fixture files live in $DE_FIXTURES/config/; every error is checked as the
 * whole one-line message, so a wrong line or column fails the test.
 * Hostile inputs (NUL bytes, huge values, deep nesting, aliases, invalid
 * UTF-8) are generated here. Tests that need the environment clear every
 * DAEMONEYE_* variable first and point HOME/XDG_CONFIG_HOME at a private
 * temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static char tmpdir[PATH_MAX];

static const char *fixture(const char *name)
{
	static char path[PATH_MAX];
	const char *dir = getenv("DE_FIXTURES");
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/config/%s", dir, name);
	return path;
}

/* out = a + b (out has PATH_MAX bytes). */
static char *join(char *out, const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	assert_true(na + nb < PATH_MAX);
	memcpy(out, a, na);
	memcpy(out + na, b, nb + 1);
	return out;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void clear_env(void)
{
	for (;;) {
		char name[256] = "";
		for (char **e = environ; *e; e++) {
			if (strncmp(*e, "DAEMONEYE_", 10) == 0) {
				size_t n = DE_MIN(strcspn(*e, "="), sizeof(name) - 1);
				memcpy(name, *e, n);
				name[n] = '\0';
				break;
			}
		}
		if (!name[0])
			break;
		unsetenv(name);
	}
}

static int setup(void **state)
{
	(void)state;
	clear_env();
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_config.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	setenv("HOME", tmpdir, 1);
	unsetenv("XDG_CONFIG_HOME");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Load only `file` (no other file, no environment) on top of defaults. */
static int load_only(struct de_config *cfg, const char *file, char *err, size_t errlen)
{
	struct de_config_request req = { .explicit_file = file, .skip_env = true };
	return de_config_load(cfg, &req, err, errlen);
}

static void check_defaults(const struct de_config *c)
{
	assert_int_equal(c->log_level, DE_LOG_INFO);
	assert_string_equal(c->state_dir, "");
	assert_int_equal(c->collector.source, DE_SOURCE_AUTO);
	assert_int_equal(c->collector.poll_interval_ms, 1000);
	assert_int_equal(c->collector.argv_max_bytes, 32768);
	assert_false(c->collector.capture_env);
	assert_int_equal(c->collector.env_max_bytes, 16384);
	assert_int_equal(c->collector.n_redact_env, 11);
	assert_string_equal(c->collector.redact_env[0], "*KEY*");
	assert_string_equal(c->collector.redact_env[5], "*PASS");
	assert_string_equal(c->collector.redact_env[10], "*SESSION*");
	assert_true(c->hashing.max_file_bytes == 268435456ULL);
	assert_int_equal(c->hashing.cache_entries, 4096);
	assert_true(c->hashing.enabled);
	assert_int_equal(c->collector.resync_interval_s, 600);
	assert_int_equal(c->collector.ring_buffer_bytes, 0); /* 0: sized by the CPUs (src_ebpf.c) */
	assert_int_equal(c->collector.max_exited, 1024);
}

static void test_defaults(void **state)
{
	(void)state;
	struct de_config c;
	assert_int_equal(de_config_init(&c), 0);
	check_defaults(&c);
	assert_int_equal(c.n_origins, 16);
	assert_string_equal(de_config_origin_of(&c, "log.level"), "default");
	assert_string_equal(de_config_origin_of(&c, "hashing.cache_entries"), "default");
	assert_null(de_config_origin_of(&c, "log"));
	assert_null(de_config_origin_of(&c, "nope"));
	assert_int_equal(c.origins[0].kind, DE_ORIGIN_DEFAULT);
	de_config_free(&c);
	assert_null(c.origins);
	de_config_free(&c); /* twice is harmless */

	/* Nothing at all: no files, no environment, no flags. */
	struct de_config_request req = { .skip_files = true, .skip_env = true };
	char err[512];
	memset(&c, 0, sizeof(c));
	assert_int_equal(de_config_load(&c, &req, err, sizeof(err)), 0);
	check_defaults(&c);
	de_config_free(&c);

	assert_string_equal(de_source_name(DE_SOURCE_AUTO), "auto");
	assert_string_equal(de_source_name(DE_SOURCE_EBPF), "ebpf");
	assert_string_equal(de_source_name(DE_SOURCE_NETLINK), "netlink");
	assert_string_equal(de_source_name(DE_SOURCE_PROC), "proc");
	assert_string_equal(de_source_name((enum de_source_choice)42), "?");
}

static void test_good_file(void **state)
{
	(void)state;
	struct de_config c;
	char err[512], want[PATH_MAX + 32];
	assert_int_equal(de_config_init(&c), 0);
	const char *path = fixture("good.yaml");
	assert_int_equal(load_only(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.log_level, DE_LOG_DEBUG);
	assert_string_equal(c.state_dir, "/var/lib/daemoneye-test");
	assert_int_equal(c.collector.source, DE_SOURCE_PROC);
	assert_int_equal(c.collector.poll_interval_ms, 2500);
	assert_int_equal(c.collector.argv_max_bytes, 4096);
	assert_true(c.collector.capture_env);
	assert_int_equal(c.collector.env_max_bytes, 8192);
	assert_int_equal(c.collector.n_redact_env, 2);
	assert_string_equal(c.collector.redact_env[0], "*TOKEN*");
	assert_string_equal(c.collector.redact_env[1], "*KEY*");
	assert_true(c.hashing.max_file_bytes == 64ULL << 20);
	assert_int_equal(c.hashing.cache_entries, 1024);
	snprintf(want, sizeof(want), "%s:3:10", path);
	assert_string_equal(de_config_origin_of(&c, "log.level"), want);
	snprintf(want, sizeof(want), "%s:8:19", path);
	assert_string_equal(de_config_origin_of(&c, "collector.argv_max_bytes"), want);
	assert_int_equal(c.origins[4].kind, DE_ORIGIN_FILE);
	snprintf(want, sizeof(want), "%s:12:5", path);
	assert_string_equal(de_config_origin_of(&c, "collector.redact_env"), want);
	assert_int_equal(de_config_check_file(path, err, sizeof(err)), 0);
	de_config_free(&c);
}

/* Files that are valid and change nothing, or little. */
static void test_quiet_files(void **state)
{
	(void)state;
	static const char *const nothing[] = { "empty.yaml", "comments.yaml", "doc_only.yaml" };
	char err[512];
	for (size_t i = 0; i < sizeof(nothing) / sizeof(nothing[0]); i++) {
		struct de_config c;
		assert_int_equal(de_config_init(&c), 0);
		assert_int_equal(load_only(&c, fixture(nothing[i]), err, sizeof(err)), 0);
		check_defaults(&c);
		assert_string_equal(de_config_origin_of(&c, "log.level"), "default");
		de_config_free(&c);
	}
	struct de_config c;
	assert_int_equal(de_config_init(&c), 0);
	assert_int_equal(load_only(&c, fixture("flat.yaml"), err, sizeof(err)), 0);
	assert_int_equal(c.collector.argv_max_bytes, 2048);
	assert_true(c.hashing.max_file_bytes == 1024);
	assert_int_equal(c.collector.n_redact_env, 0);
	assert_int_equal(load_only(&c, fixture("empty_section.yaml"), err, sizeof(err)), 0);
	assert_int_equal(c.hashing.cache_entries, 16);
	assert_int_equal(c.collector.argv_max_bytes, 32768); /* a new load starts from defaults */
	de_config_free(&c);
}

struct bad_fixture {
	const char *file;
	const char *where_reason; /* ":LINE:COL: reason" after the path */
};

static const struct bad_fixture bad_fixtures[] = {
	{ "unknown_key.yaml", ":3:3: unknown key 'collector.foo'" },
	{ "unknown_section.yaml", ":3:1: unknown key 'bogus'" },
	{ "bad_type.yaml", ":2:19: collector.argv_max_bytes: expected an integer, got 'abc'" },
	{ "bad_range.yaml",
	  ":2:19: collector.argv_max_bytes: must be between 256 and 16777216, got '100'" },
	{ "huge_integer.yaml", ":2:21: collector.poll_interval_ms: must be between 100 and 3600000, "
			       "got '99999999999999999999999999999999'" },
	{ "bad_bool.yaml", ":2:16: collector.capture_env: expected a boolean (true/false, yes/no, "
			   "on/off), got 'maybe'" },
	{ "bad_enum.yaml",
	  ":2:10: log.level: expected one of debug, info, warning, error, got 'loud'" },
	{ "bad_size.yaml", ":2:19: hashing.max_file_bytes: expected an integer (optionally with a "
			   "K, M or G suffix), got '64X'" },
	{ "leading_zero.yaml", ":2:18: hashing.cache_entries: leading zeros are not allowed, got '0100'" },
	{ "duplicate.yaml", ":3:3: duplicate key 'collector.argv_max_bytes'" },
	{ "duplicate_section.yaml", ":5:1: duplicate key 'collector'" },
	{ "duplicate_flat.yaml", ":3:1: duplicate key 'collector.argv_max_bytes'" },
	{ "anchor.yaml", ":2:19: anchors are not allowed" },
	{ "alias.yaml", ":2:18: aliases are not allowed" },
	{ "billion_laughs.yaml", ":2:15: anchors are not allowed" },
	{ "tag.yaml", ":2:19: tags are not allowed" },
	{ "syntax.yaml", ":2:14: mapping values are not allowed in this context" },
	{ "unclosed.yaml", ":3:1: did not find expected ',' or ']' (while parsing a flow sequence "
			   "started at 2:15)" },
	{ "root_list.yaml", ":1:1: the document root must be a mapping of keys" },
	{ "root_scalar.yaml", ":1:1: the document root must be a mapping of keys" },
	{ "multi_doc.yaml", ":3:1: only one YAML document is allowed" },
	{ "nul_byte.yaml", ":2:12: control characters are not allowed (0x00)" },
	{ "non_utf8.yaml", ":1:18: invalid trailing UTF-8 octet (0x28)" },
	{ "escaped_nul.yaml", ":1:12: state_dir: the value contains a NUL byte" },
	{ "section_scalar.yaml", ":1:12: collector: expected a mapping of collector.* keys, got '5'" },
	{ "list_scalar.yaml", ":2:15: collector.redact_env: expected a list of strings, got '*A*'" },
	{ "list_nested.yaml",
	  ":4:7: collector.redact_env: expected a list of strings, got a list in it" },
	{ "value_mapping.yaml",
	  ":3:5: collector.argv_max_bytes: expected an integer, got a mapping" },
	{ "relative_state_dir.yaml",
	  ":1:12: state_dir: must be an absolute path, got 'var/lib/daemoneye'" },
	{ "complex_key.yaml", ":1:3: mapping keys must be strings, got a list" },
	{ "pattern_long.yaml", ":2:24: collector.redact_env: pattern "
			       "'ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUV...' is longer than 63 bytes" },
};

/* Every bad fixture: the exact message, from check and from load, and the
 * caller's configuration untouched. */
static void test_bad_fixture(void **state)
{
	const struct bad_fixture *bf = *state;
	char err[1024], want[PATH_MAX + 512];
	const char *path = fixture(bf->file);
	snprintf(want, sizeof(want), "%s%s", path, bf->where_reason);

	assert_int_equal(de_config_check_file(path, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
	assert_null(strchr(err, '\n'));

	struct de_config c;
	assert_int_equal(de_config_init(&c), 0);
	assert_int_equal(de_config_set(&c, "collector.argv_max_bytes", "999", "flag --x", err,
				       sizeof(err)), 0);
	struct de_config before = c;
	struct de_config_origin *o = c.origins;
	err[0] = '\0';
	assert_int_equal(load_only(&c, path, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
	assert_memory_equal(&c, &before, sizeof(c));
	assert_ptr_equal(c.origins, o);
	assert_string_equal(de_config_origin_of(&c, "collector.argv_max_bytes"), "flag --x");
	de_config_free(&c);
}

static void test_missing_and_unreadable(void **state)
{
	(void)state;
	char err[1024], want[PATH_MAX + 64], path[PATH_MAX];
	struct de_config c;
	assert_int_equal(de_config_init(&c), 0);

	join(path, tmpdir, "/absent.yaml");
	assert_int_equal(load_only(&c, path, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);
	assert_int_equal(de_config_check_file(path, err, sizeof(err)), -ENOENT);
	assert_int_equal(de_config_load_file(&c, path, err, sizeof(err)), -ENOENT);

	/* A directory exists but is not a readable configuration file. */
	assert_int_equal(load_only(&c, tmpdir, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "%s: not a regular file", tmpdir);
	assert_string_equal(err, want);
	assert_int_equal(load_only(&c, "/dev/null", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/dev/null: not a regular file");

	/* So is one in the default (XDG) location: that is an error, not skipped. */
	char dir[PATH_MAX];
	join(dir, tmpdir, "/xdg-dir");
	join(path, dir, "/daemoneye");
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	join(path, dir, "/daemoneye/daemoneye.yaml");
	assert_int_equal(mkdir(path, 0700), 0);
	setenv("XDG_CONFIG_HOME", dir, 1);
	struct de_config_request req = { .skip_env = true };
	assert_int_equal(de_config_load(&c, &req, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "%s: not a regular file", path);
	assert_string_equal(err, want);
	unsetenv("XDG_CONFIG_HOME");

	/* Permission denied (meaningless as root, who reads anything). */
	if (geteuid() != 0) {
		join(path, tmpdir, "/unreadable.yaml");
		write_file(path, "log:\n  level: info\n", 20);
		assert_int_equal(chmod(path, 0), 0);
		assert_int_equal(load_only(&c, path, err, sizeof(err)), -EACCES);
		snprintf(want, sizeof(want), "%s: Permission denied", path);
		assert_string_equal(err, want);
	}
	check_defaults(&c);
	de_config_free(&c);
}

/* defaults < XDG (or ~/.config) < environment < --set, with provenance;
 * --config replaces the files. */
static void test_layers(void **state)
{
	(void)state;
	char err[1024], want[PATH_MAX + 32], dir[PATH_MAX], path[PATH_MAX];
	struct de_config c;
	assert_int_equal(de_config_init(&c), 0);

	/* ~/.config when XDG_CONFIG_HOME is unset. */
	join(dir, tmpdir, "/.config");
	assert_int_equal(mkdir(dir, 0700), 0);
	join(dir, tmpdir, "/.config/daemoneye");
	assert_int_equal(mkdir(dir, 0700), 0);
	join(path, dir, "/daemoneye.yaml");
	write_file(path, "hashing:\n  cache_entries: 555\n", 30);
	struct de_config_request req = { 0 };
	assert_int_equal(de_config_load(&c, &req, err, sizeof(err)), 0);
	assert_int_equal(c.hashing.cache_entries, 555);
	snprintf(want, sizeof(want), "%s:2:18", path);
	assert_string_equal(de_config_origin_of(&c, "hashing.cache_entries"), want);

	/* XDG_CONFIG_HOME wins over HOME; relative values are ignored. */
	join(dir, tmpdir, "/xdg");
	assert_int_equal(mkdir(dir, 0700), 0);
	join(dir, tmpdir, "/xdg/daemoneye");
	assert_int_equal(mkdir(dir, 0700), 0);
	join(path, dir, "/daemoneye.yaml");
	FILE *src = fopen(fixture("xdg.yaml"), "r");
	assert_non_null(src);
	char data[512];
	size_t n = fread(data, 1, sizeof(data), src);
	fclose(src);
	write_file(path, data, n);
	join(dir, tmpdir, "/xdg");
	setenv("XDG_CONFIG_HOME", dir, 1);
	assert_int_equal(de_config_load(&c, &req, err, sizeof(err)), 0);
	assert_int_equal(c.hashing.cache_entries, 777);
	assert_int_equal(c.collector.poll_interval_ms, 1500);
	snprintf(want, sizeof(want), "%s:5:21", path);
	assert_string_equal(de_config_origin_of(&c, "collector.poll_interval_ms"), want);
	setenv("XDG_CONFIG_HOME", "relative/dir", 1);
	assert_int_equal(de_config_load(&c, &req, err, sizeof(err)), 0);
	assert_int_equal(c.hashing.cache_entries, 555);
	setenv("XDG_CONFIG_HOME", dir, 1);

	/* Environment over the file, --set over the environment. */
	setenv("DAEMONEYE_COLLECTOR_POLL_INTERVAL_MS", "3000", 1);
	setenv("DAEMONEYE_LOG_LEVEL", "warning", 1);
	setenv("DAEMONEYE_COLLECTOR_REDACT_ENV", "*A*, *B* ,*C*", 1);
	setenv("DAEMONEYE_SOMETHING_ELSE", "1", 1); /* not a key: warned about, ignored */
	const char *ov[] = { "log.level=error", "collector.capture_env=on",
			     "collector.capture_env=off", "hashing.max_file_bytes=2G" };
	req.overrides = ov;
	req.n_overrides = 4;
	assert_int_equal(de_config_load(&c, &req, err, sizeof(err)), 0);
	assert_int_equal(c.hashing.cache_entries, 777);
	assert_int_equal(c.collector.poll_interval_ms, 3000);
	assert_string_equal(de_config_origin_of(&c, "collector.poll_interval_ms"),
			    "env DAEMONEYE_COLLECTOR_POLL_INTERVAL_MS");
	assert_int_equal(c.origins[3].kind, DE_ORIGIN_ENV);
	assert_int_equal(c.log_level, DE_LOG_ERROR);
	assert_string_equal(de_config_origin_of(&c, "log.level"), "flag --set");
	assert_int_equal(c.origins[0].kind, DE_ORIGIN_FLAG);
	assert_false(c.collector.capture_env); /* later --set wins */
	assert_true(c.hashing.max_file_bytes == 2ULL << 30);
	assert_int_equal(c.collector.n_redact_env, 3);
	assert_string_equal(c.collector.redact_env[1], "*B*");
	assert_string_equal(de_config_origin_of(&c, "state_dir"), "default");

	/* skip_env ignores the environment. */
	req.skip_env = true;
	assert_int_equal(de_config_load(&c, &req, err, sizeof(err)), 0);
	assert_int_equal(c.collector.poll_interval_ms, 1500);
	req.skip_env = false;

	/* --config replaces the XDG file (and /etc). */
	req.explicit_file = fixture("partial.yaml");
	assert_int_equal(de_config_load(&c, &req, err, sizeof(err)), 0);
	assert_int_equal(c.hashing.cache_entries, 4096);
	assert_string_equal(de_config_origin_of(&c, "hashing.cache_entries"), "default");
	assert_int_equal(c.collector.argv_max_bytes, 4096);
	snprintf(want, sizeof(want), "%s:2:19", req.explicit_file);
	assert_string_equal(de_config_origin_of(&c, "collector.argv_max_bytes"), want);
	assert_int_equal(c.collector.poll_interval_ms, 3000); /* env still over the file */

	/* skip_files loads none. */
	req.skip_files = true;
	assert_int_equal(de_config_load(&c, &req, err, sizeof(err)), 0);
	assert_int_equal(c.collector.argv_max_bytes, 32768);

	clear_env();
	unsetenv("XDG_CONFIG_HOME");
	de_config_free(&c);
}

static void test_env_errors(void **state)
{
	(void)state;
	static const struct {
		const char *name, *value, *err;
	} cases[] = {
		{ "DAEMONEYE_LOG_LEVEL", "loud",
		  "DAEMONEYE_LOG_LEVEL: expected one of debug, info, warning, error, got 'loud'" },
		{ "DAEMONEYE_COLLECTOR_ARGV_MAX_BYTES", "12ab",
		  "DAEMONEYE_COLLECTOR_ARGV_MAX_BYTES: expected an integer, got '12ab'" },
		{ "DAEMONEYE_COLLECTOR_ENV_MAX_BYTES", "1",
		  "DAEMONEYE_COLLECTOR_ENV_MAX_BYTES: must be between 256 and 16777216, got '1'" },
		{ "DAEMONEYE_STATE_DIR", "rel\n", "DAEMONEYE_STATE_DIR: must be an absolute path, got 'rel\\n'" },
		{ "DAEMONEYE_COLLECTOR_REDACT_ENV", "*A*,,*B*", "DAEMONEYE_COLLECTOR_REDACT_ENV: empty pattern" },
		{ "DAEMONEYE_COLLECTOR_CAPTURE_ENV", "", "DAEMONEYE_COLLECTOR_CAPTURE_ENV: expected a "
							 "boolean (true/false, yes/no, on/off), got ''" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct de_config c;
		char err[1024];
		assert_int_equal(de_config_init(&c), 0);
		struct de_config before = c;
		setenv(cases[i].name, cases[i].value, 1);
		struct de_config_request req = { .skip_files = true };
		assert_int_equal(de_config_load(&c, &req, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, cases[i].err);
		assert_memory_equal(&c, &before, sizeof(c));
		unsetenv(cases[i].name);
		de_config_free(&c);
	}
}

static void test_set_errors(void **state)
{
	(void)state;
	static const struct {
		const char *set, *err;
	} cases[] = {
		{ "collector.argv_max_bytes", "--set collector.argv_max_bytes: expected KEY=VALUE" },
		{ "nope=1", "--set nope: unknown key" },
		{ "collector=1", "--set collector: unknown key" },
		{ "=1", "--set : unknown key" },
		{ "collector.argv_max_bytes=abc",
		  "--set collector.argv_max_bytes: expected an integer, got 'abc'" },
		{ "collector.argv_max_bytes=-1",
		  "--set collector.argv_max_bytes: expected an integer, got '-1'" },
		{ "collector.argv_max_bytes=+300",
		  "--set collector.argv_max_bytes: expected an integer, got '+300'" },
		{ "collector.argv_max_bytes= 300",
		  "--set collector.argv_max_bytes: expected an integer, got ' 300'" },
		{ "collector.argv_max_bytes=0x100",
		  "--set collector.argv_max_bytes: expected an integer, got '0x100'" },
		{ "collector.argv_max_bytes=4K",
		  "--set collector.argv_max_bytes: expected an integer, got '4K'" },
		{ "collector.argv_max_bytes=4294967296",
		  "--set collector.argv_max_bytes: must be between 256 and 16777216, got '4294967296'" },
		{ "hashing.max_file_bytes=17G", "--set hashing.max_file_bytes: must be between 1024 "
						"and 17179869184, got '17G'" },
		{ "hashing.max_file_bytes=18446744073709551615K", "--set hashing.max_file_bytes: must "
		  "be between 1024 and 17179869184, got '18446744073709551615K'" },
		{ "hashing.max_file_bytes=18446744073709551616", "--set hashing.max_file_bytes: must "
		  "be between 1024 and 17179869184, got '18446744073709551616'" },
		{ "hashing.max_file_bytes=4k", "--set hashing.max_file_bytes: expected an integer "
					       "(optionally with a K, M or G suffix), got '4k'" },
		{ "hashing.max_file_bytes=K", "--set hashing.max_file_bytes: expected an integer "
					      "(optionally with a K, M or G suffix), got 'K'" },
		{ "collector.capture_env=1", "--set collector.capture_env: expected a boolean "
					     "(true/false, yes/no, on/off), got '1'" },
		{ "collector.source=kernel", "--set collector.source: expected one of auto, ebpf, "
					     "netlink, proc, got 'kernel'" },
		{ "state_dir=/a\x1b[31m", "--set state_dir: path '/a\\e[31m' contains a control character" },
		{ "collector.redact_env=*A*,\t", "--set collector.redact_env: empty pattern" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct de_config c;
		char err[1024];
		assert_int_equal(de_config_init(&c), 0);
		struct de_config before = c;
		const char *ov[] = { "log.level=debug", cases[i].set };
		struct de_config_request req = { .skip_files = true, .skip_env = true,
						 .overrides = ov, .n_overrides = 2 };
		assert_int_equal(de_config_load(&c, &req, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, cases[i].err);
		assert_memory_equal(&c, &before, sizeof(c));
		de_config_free(&c);
	}
}

static void test_values(void **state)
{
	(void)state;
	struct de_config c;
	char err[1024];
	assert_int_equal(de_config_init(&c), 0);
#define SET_OK(k, v) assert_int_equal(de_config_set(&c, k, v, "test", err, sizeof(err)), 0)
	SET_OK("log.level", "DEBUG");
	assert_int_equal(c.log_level, DE_LOG_DEBUG);
	SET_OK("collector.source", "NetLink");
	assert_int_equal(c.collector.source, DE_SOURCE_NETLINK);
	static const char *const truths[] = { "true", "YES", "On" };
	static const char *const lies[] = { "False", "no", "OFF" };
	for (int i = 0; i < 3; i++) {
		SET_OK("collector.capture_env", truths[i]);
		assert_true(c.collector.capture_env);
		SET_OK("collector.capture_env", lies[i]);
		assert_false(c.collector.capture_env);
	}
	SET_OK("collector.poll_interval_ms", "100");
	assert_int_equal(c.collector.poll_interval_ms, 100);
	SET_OK("collector.poll_interval_ms", "3600000");
	assert_int_equal(c.collector.poll_interval_ms, 3600000);
	SET_OK("hashing.max_file_bytes", "16G");
	assert_true(c.hashing.max_file_bytes == 17179869184ULL);
	SET_OK("hashing.max_file_bytes", "1K");
	assert_true(c.hashing.max_file_bytes == 1024);
	SET_OK("hashing.max_file_bytes", "17179869184");
	assert_true(c.hashing.max_file_bytes == 17179869184ULL);
	SET_OK("hashing.cache_entries", "1000000");
	assert_int_equal(c.hashing.cache_entries, 1000000);
	SET_OK("state_dir", "/srv/de");
	assert_string_equal(c.state_dir, "/srv/de");
	SET_OK("state_dir", "");
	assert_string_equal(c.state_dir, "");
	SET_OK("collector.redact_env", "");
	assert_int_equal(c.collector.n_redact_env, 0);
	assert_string_equal(de_config_origin_of(&c, "collector.redact_env"), "test");

	/* List limits: 32 patterns of 63 bytes fit, one more does not. */
	char list[40 * 70] = "", item[64];
	memset(item, 'x', 63);
	item[63] = '\0';
	for (int i = 0; i < 32; i++) {
		item[0] = (char)('A' + i % 26);
		strcat(list, i ? "," : "");
		strcat(list, item);
	}
	SET_OK("collector.redact_env", list);
	assert_int_equal(c.collector.n_redact_env, 32);
	assert_int_equal(strlen(c.collector.redact_env[31]), 63);
	struct de_config before = c;
	strcat(list, ",*X*");
	assert_int_equal(de_config_set(&c, "collector.redact_env", list, "t", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "collector.redact_env: more than 32 patterns");
	assert_memory_equal(&c, &before, sizeof(c));
	memset(item, 'y', 63);
	item[63] = '\0';
	char long_item[80];
	snprintf(long_item, sizeof(long_item), "%sz", item);
	assert_int_equal(de_config_set(&c, "collector.redact_env", long_item, "t", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "is longer than 63 bytes"));
	assert_int_equal(de_config_set(&c, "no.such", "1", "t", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "no.such: unknown key");

	/* state_dir of PATH_MAX bytes does not fit; PATH_MAX - 1 does. */
	char *p = malloc(PATH_MAX + 1);
	assert_non_null(p);
	memset(p, 'd', PATH_MAX);
	p[0] = '/';
	p[PATH_MAX] = '\0';
	assert_int_equal(de_config_set(&c, "state_dir", p, "t", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "state_dir: path is longer than 4095 bytes");
	p[PATH_MAX - 1] = '\0';
	SET_OK("state_dir", p);
	assert_int_equal(strlen(c.state_dir), PATH_MAX - 1);
	free(p);
#undef SET_OK
	de_config_free(&c);
}

/* Generated hostile documents through the in-memory parser. */
static void test_hostile(void **state)
{
	(void)state;
	struct de_config c;
	char err[1024];
	assert_int_equal(de_config_init(&c), 0);
	size_t big = 10u << 20;
	char *doc = malloc(big + 64);
	assert_non_null(doc);

	/* 10 MB value: refused for its size, before parsing. */
	int n = snprintf(doc, 64, "state_dir: /");
	memset(doc + n, 'a', big);
	assert_int_equal(de_config_load_buffer(&c, "big", doc, (size_t)n + big, err, sizeof(err)), -EFBIG);
	assert_string_equal(err, "big: larger than 1048576 bytes");
	/* ... and from a file. */
	char path[PATH_MAX];
	join(path, tmpdir, "/big.yaml");
	write_file(path, doc, (size_t)n + big);
	assert_int_equal(de_config_check_file(path, err, sizeof(err)), -EFBIG);
	/* Just under the cap: parsed, and the value is too long for a path. */
	size_t under = DE_CONFIG_MAX_FILE_BYTES - 16;
	assert_int_equal(de_config_load_buffer(&c, "long", doc, under, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "long:1:12: state_dir: path is longer than 4095 bytes");
	/* A huge value that is not a string is quoted, cut and escaped. */
	memcpy(doc, "log: {level: \"\x01", 15);
	assert_int_equal(de_config_load_buffer(&c, "q", doc, under, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "control characters are not allowed"));
	n = snprintf(doc, 64, "log: {level: \"\\e");
	memset(doc + n, 'b', 5000);
	memcpy(doc + n + 5000, "\"}\n", 4);
	assert_int_equal(de_config_load_buffer(&c, "q", doc, strlen(doc), err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "q:1:14: log.level: expected one of debug, info, warning, error, "
				 "got '\\ebbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb...'");

	/* Deep nesting, at the root and under keys: stops at the first level. */
	memset(doc, '[', 200000);
	assert_int_equal(de_config_load_buffer(&c, "deep", doc, 200000, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "deep:1:1: the document root must be a mapping of keys");
	n = snprintf(doc, 64, "collector: ");
	memset(doc + n, '{', 200000);
	assert_int_equal(de_config_load_buffer(&c, "deep", doc, (size_t)n + 200000, err, sizeof(err)),
			 -EINVAL);
	n = snprintf(doc, 64, "collector:\n  redact_env: ");
	memset(doc + n, '[', 200000);
	assert_int_equal(de_config_load_buffer(&c, "deep", doc, (size_t)n + 200000, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "deep:2:16: collector.redact_env: expected a list of strings, got a "
				 "list in it");
	size_t len = 0;
	for (int i = 0; i < 1000; i++)
		len += (size_t)snprintf(doc + len, big - len, "%*sk%d:\n", i, "", i);
	assert_int_equal(de_config_load_buffer(&c, "deep", doc, len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "deep:1:1: unknown key 'k0'");

	/* Invalid UTF-8 in a key, NUL in a key, control bytes in the file name. */
	assert_int_equal(de_config_load_buffer(&c, "u", "\xff\xfe\xfd: 1\n", 7, err, sizeof(err)),
			 -EINVAL);
	assert_null(strchr(err, '\n'));
	assert_int_equal(de_config_load_buffer(&c, "u", "ab\xe9: 1\n", 7, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "u:1:4: invalid trailing UTF-8 octet (0x3A)");
	assert_int_equal(de_config_load_buffer(&c, "bad\nname", "\"a\\0b\": 1\n", 10, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "bad\\nname:1:1: unknown key 'a\\x00b'");
	assert_int_equal(de_config_load_buffer(&c, "t", "log:\n\tlevel: info\n", 18, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "t:2:1: found character that cannot start any token (while scanning "
				 "for the next token started at 2:1)");

	/* Tiny and absent error buffers are safe. */
	char tiny[8];
	assert_int_equal(de_config_load_buffer(&c, "tiny", "x: 1", 4, tiny, sizeof(tiny)), -EINVAL);
	assert_string_equal(tiny, "tiny:1:");
	assert_int_equal(de_config_load_buffer(&c, "none", "x: 1", 4, NULL, 0), -EINVAL);

	/* Empty input is a valid, empty configuration. */
	assert_int_equal(de_config_load_buffer(&c, "empty", "", 0, err, sizeof(err)), 0);
	for (unsigned i = 0; i < c.n_origins; i++)
		assert_string_equal(c.origins[i].text, "default");
	check_defaults(&c);
	free(doc);
	de_config_free(&c);
}

/* Nothing half-applied: a file whose first key is good and second bad, a
 * good file followed by a bad flag. */
static void test_all_or_nothing(void **state)
{
	(void)state;
	struct de_config c;
	char err[1024];
	assert_int_equal(de_config_init(&c), 0);
	assert_int_equal(load_only(&c, fixture("good.yaml"), err, sizeof(err)), 0);
	struct de_config before = c;
	struct de_config_origin *saved = malloc(sizeof(*saved) * c.n_origins);
	assert_non_null(saved);
	memcpy(saved, c.origins, sizeof(*saved) * c.n_origins);

	static const char doc[] = "collector:\n  argv_max_bytes: 300\n  env_max_bytes: 1\n";
	assert_int_equal(de_config_load_buffer(&c, "doc", doc, strlen(doc), err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "doc:3:18: collector.env_max_bytes: must be between 256 and "
				 "16777216, got '1'");
	assert_int_equal(c.collector.argv_max_bytes, 4096);

	const char *ov[] = { "collector.argv_max_bytes=512", "collector.source=bogus" };
	struct de_config_request req = { .explicit_file = fixture("partial.yaml"), .skip_env = true,
					 .overrides = ov, .n_overrides = 2 };
	assert_int_equal(de_config_load(&c, &req, err, sizeof(err)), -EINVAL);
	assert_memory_equal(&c, &before, sizeof(c));
	assert_memory_equal(c.origins, saved, sizeof(*saved) * c.n_origins);
	assert_int_equal(c.log_level, DE_LOG_DEBUG); /* still good.yaml's */

	/* A good buffer applies on top, keeping the other layers. */
	assert_int_equal(de_config_load_buffer(&c, "doc", doc, 33, err, sizeof(err)), 0);
	assert_int_equal(c.collector.argv_max_bytes, 300);
	assert_string_equal(de_config_origin_of(&c, "collector.argv_max_bytes"), "doc:2:19");
	assert_int_equal(c.collector.source, DE_SOURCE_PROC);

	/* An uninitialised (zeroed) configuration is refused, not crashed on. */
	struct de_config z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(de_config_load_buffer(&z, "doc", doc, 33, err, sizeof(err)), -EINVAL);
	assert_int_equal(de_config_print(&z, stdout, false), -EINVAL);
	free(saved);
	de_config_free(&c);
}

static char *print_to_string(const struct de_config *c, bool json, bool keys)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	assert_int_equal(keys ? de_config_print_keys(f, json) : de_config_print(c, f, json), 0);
	assert_int_equal(fclose(f), 0);
	return out;
}

static void test_print(void **state)
{
	(void)state;
	struct de_config c;
	char err[1024];
	assert_int_equal(de_config_init(&c), 0);
	char *out = print_to_string(&c, false, false);
	assert_non_null(strstr(out, "log.level                   = info  # default\n"));
	assert_non_null(strstr(out, "\ncollector.poll_interval_ms  = 1000  # default\n"));
	assert_non_null(strstr(out, "\nstate_dir                   = \"\"  # default\n"));
	assert_non_null(strstr(out, "\ncollector.capture_env       = false  # default\n"));
	assert_non_null(strstr(out, "\ncollector.redact_env        = [\"*KEY*\", \"*SECRET*\", "));
	assert_non_null(strstr(out, "\nhashing.max_file_bytes      = 268435456  # default\n"));
	int lines = 0;
	for (char *p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 16);
	free(out);

	out = print_to_string(&c, true, false);
	static const char head[] = "{\"log.level\":{\"value\":\"info\",\"origin\":\"default\"},";
	assert_true(strncmp(out, head, strlen(head)) == 0);
	assert_non_null(strstr(out, "\"collector.argv_max_bytes\":{\"value\":32768,"
				    "\"origin\":\"default\"}"));
	assert_non_null(strstr(out, "\"collector.capture_env\":{\"value\":false,"));
	assert_non_null(strstr(out, "\"collector.redact_env\":{\"value\":[\"*KEY*\",\"*SECRET*\","));
	assert_non_null(strstr(out, "\"state_dir\":{\"value\":\"\","));
	assert_int_equal(out[strlen(out) - 1], '\n');
	free(out);

	/* Hostile strings: quotes, backslashes, invalid UTF-8, odd origins. */
	assert_int_equal(de_config_set(&c, "state_dir", "/tmp/a\"b\\c\xff", "flag\n--x", err,
				       sizeof(err)), 0);
	assert_int_equal(de_config_load_buffer(&c, "we\"ird\x1b", "log: {level: debug}", 19, err,
					       sizeof(err)), 0);
	out = print_to_string(&c, false, false);
	assert_non_null(strstr(out, "\nstate_dir                   = \"/tmp/a\\\"b\\\\c\\xff\"  "
				    "# flag\\n--x\n"));
	assert_non_null(strstr(out, "log.level                   = debug  # we\"ird\\e:1:14\n"));
	free(out);
	out = print_to_string(&c, true, false);
	assert_non_null(strstr(out, "\"state_dir\":{\"value\":\"/tmp/a\\\"b\\\\c\xef\xbf\xbd\","
				    "\"origin\":\"flag\\n--x\"}"));
	assert_non_null(strstr(out, "\"origin\":\"we\\\"ird\\u001b:1:14\""));
	free(out);

	out = print_to_string(NULL, false, true);
	assert_non_null(strstr(out, "collector.argv_max_bytes\n    integer: 256..16777216\n    "
				    "default: \"32768\"\n    environment: DAEMONEYE_COLLECTOR_ARGV_MAX_BYTES\n"));
	assert_non_null(strstr(out, "log.level\n    enum: debug, info, warning, error\n"));
	assert_non_null(strstr(out, "hashing.max_file_bytes\n    size: 1024..17179869184 (K, M, G"));
	free(out);
	out = print_to_string(NULL, true, true);
	assert_true(out[0] == '[');
	assert_non_null(strstr(out, "{\"key\":\"collector.source\",\"type\":\"enum\",\"values\":"
				    "[\"auto\",\"ebpf\",\"netlink\",\"proc\"],\"default\":\"auto\","
				    "\"env\":\"DAEMONEYE_COLLECTOR_SOURCE\",\"help\":"));
	free(out);
	de_config_free(&c);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_quiet_files),
		cmocka_unit_test(test_missing_and_unreadable),
		cmocka_unit_test(test_layers),
		cmocka_unit_test(test_env_errors),
		cmocka_unit_test(test_set_errors),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_all_or_nothing),
		cmocka_unit_test(test_print),
	};
	enum { N_FIXED = sizeof(fixed) / sizeof(fixed[0]),
	       N_BAD = sizeof(bad_fixtures) / sizeof(bad_fixtures[0]) };
	static struct CMUnitTest tests[N_FIXED + N_BAD];
	static char names[N_BAD][80];
	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < N_BAD; i++) {
		snprintf(names[i], sizeof(names[i]), "test_bad_fixture(%s)", bad_fixtures[i].file);
		tests[N_FIXED + i] = (struct CMUnitTest){
			.name = names[i],
			.test_func = test_bad_fixture,
			.initial_state = (void *)&bad_fixtures[i],
		};
	}
	/* One group, so the TAP stream has a single plan. */
	return _cmocka_run_group_tests("config", tests, N_FIXED + N_BAD, setup, teardown);
}

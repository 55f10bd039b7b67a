/* procfmt.c: see procfmt.h. */
#include "procfmt.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "macros.h"

void de_fmt_time_ns(struct de_buf *b, int64_t ns)
{
	time_t secs = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	if (frac < 0) {
		frac += 1000000000;
		secs--;
	}
	struct tm tm;
	if (!gmtime_r(&secs, &tm)) {
		de_buf_printf(b, "%" PRId64, ns);
		return;
	}
	char s[40];
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	de_buf_printf(b, "%s.%09ldZ", s, frac);
}

static void join_nul(struct de_buf *b, const char *s, size_t n)
{
	size_t start = b->len;
	de_buf_append(b, s, n);
	if (b->err)
		return;
	for (size_t i = start; i < b->len; i++)
		if (b->data[i] == '\0')
			b->data[i] = ' ';
}

#define U64COL(fname, expr)                                                     \
	static void fname(struct de_buf *b, const struct de_proc *p)            \
	{                                                                       \
		de_buf_printf(b, "%" PRIu64, (uint64_t)(expr));                  \
	}
#define I64COL(fname, expr)                                                     \
	static void fname(struct de_buf *b, const struct de_proc *p)            \
	{                                                                       \
		de_buf_printf(b, "%" PRId64, (int64_t)(expr));                   \
	}

I64COL(f_pid, p->pid)
I64COL(f_ppid, p->ppid)
I64COL(f_pgid, p->pgid)
I64COL(f_sid, p->sid)
U64COL(f_uid, p->uid[DE_ID_REAL])
U64COL(f_euid, p->uid[DE_ID_EFFECTIVE])
U64COL(f_gid, p->gid[DE_ID_REAL])
U64COL(f_egid, p->gid[DE_ID_EFFECTIVE])
I64COL(f_nice, p->nice)
I64COL(f_pri, p->priority)
I64COL(f_threads, p->threads)
U64COL(f_rss, p->rss_bytes / 1024)
U64COL(f_vsz, p->vsize / 1024)
U64COL(f_fds, p->fd_count)
U64COL(f_minflt, p->minflt)
U64COL(f_majflt, p->majflt)
U64COL(f_rbytes, p->io.read_bytes)
U64COL(f_wbytes, p->io.write_bytes)
U64COL(f_exe_ino, p->exe_file.ino)
U64COL(f_pidns, p->ns[DE_NS_PID])
U64COL(f_mntns, p->ns[DE_NS_MNT])
U64COL(f_netns, p->ns[DE_NS_NET])

static void f_user(struct de_buf *b, const struct de_proc *p)
{
	if (p->user)
		de_buf_puts(b, p->user);
	else
		de_buf_printf(b, "%" PRIu32, p->uid[DE_ID_REAL]);
}

static void f_tty(struct de_buf *b, const struct de_proc *p)
{
	char t[32];
	de_tty_name(p->tty_nr, t, sizeof(t));
	de_buf_puts(b, t);
}

static void f_state(struct de_buf *b, const struct de_proc *p)
{
	de_buf_append(b, &p->state, 1);
}

static void f_comm(struct de_buf *b, const struct de_proc *p) { de_buf_puts(b, p->comm); }

static void f_args(struct de_buf *b, const struct de_proc *p)
{
	if (p->kthread || p->argc == 0) {
		de_buf_printf(b, "[%s]", p->comm);
		return;
	}
	join_nul(b, p->argv, p->argv_len);
	if (p->argv_truncated)
		de_buf_puts(b, "...");
}

static void f_exe(struct de_buf *b, const struct de_proc *p)
{
	de_buf_puts(b, p->exe);
	if (p->exe_deleted)
		de_buf_puts(b, " (deleted)");
}

static void f_cwd(struct de_buf *b, const struct de_proc *p) { de_buf_puts(b, p->cwd); }
static void f_root(struct de_buf *b, const struct de_proc *p) { de_buf_puts(b, p->root); }
static void f_cgroup(struct de_buf *b, const struct de_proc *p) { de_buf_puts(b, p->cgroup); }

static void f_container(struct de_buf *b, const struct de_proc *p)
{
	if (p->container_id)
		de_buf_printf(b, "%.12s", p->container_id);
}

static void f_start(struct de_buf *b, const struct de_proc *p)
{
	time_t secs = (time_t)(p->start_time_ns / 1000000000);
	time_t now = time(NULL);
	struct tm tm;
	char s[32];
	if (!localtime_r(&secs, &tm))
		return;
	strftime(s, sizeof(s), now - secs < 86400 ? "%H:%M:%S" : "%Y-%m-%d", &tm);
	de_buf_puts(b, s);
}

static void f_starttime(struct de_buf *b, const struct de_proc *p) { de_fmt_time_ns(b, p->start_time_ns); }

static void f_time(struct de_buf *b, const struct de_proc *p)
{
	uint64_t s = (p->utime_ns + p->stime_ns) / 1000000000;
	de_buf_printf(b, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600, (s / 60) % 60, s % 60);
}

static void f_entity(struct de_buf *b, const struct de_proc *p)
{
	char hex[DE_ENTITY_HEX_LEN];
	de_entity_hex(p->entity_id, hex);
	de_buf_puts(b, hex);
}

static void f_loginuid(struct de_buf *b, const struct de_proc *p)
{
	if (p->loginuid == DE_AUDIT_UNSET)
		de_buf_puts(b, "unset");
	else
		de_buf_printf(b, "%" PRIu32, p->loginuid);
}

static void f_capeff(struct de_buf *b, const struct de_proc *p)
{
	de_buf_printf(b, "%016" PRIx64, p->cap_eff);
}

static const char *seccomp_name(int32_t m)
{
	switch (m) {
	case 0: return "disabled";
	case 1: return "strict";
	case 2: return "filter";
	default: return NULL;
	}
}

static void f_seccomp(struct de_buf *b, const struct de_proc *p)
{
	const char *n = seccomp_name(p->seccomp);
	if (n)
		de_buf_puts(b, n);
	else
		de_buf_printf(b, "%" PRId32, p->seccomp);
}

static void hex_digest(struct de_buf *b, const uint8_t *d)
{
	char hex[DE_HASH_HEX_LEN];
	de_hash_hex(d, hex);
	de_buf_puts(b, hex);
}

static void f_sha256(struct de_buf *b, const struct de_proc *p)
{
	if (p->hashes.algos & DE_HASH_SHA256)
		hex_digest(b, p->hashes.sha256);
}

static void f_blake3(struct de_buf *b, const struct de_proc *p)
{
	if (p->hashes.algos & DE_HASH_BLAKE3)
		hex_digest(b, p->hashes.blake3);
}

const struct de_col de_cols[] = {
	{ "pid", "PID", true, -1, f_pid, "process id" },
	{ "ppid", "PPID", true, DE_PF_STAT, f_ppid, "parent process id" },
	{ "pgid", "PGID", true, DE_PF_STAT, f_pgid, "process group id" },
	{ "sid", "SID", true, DE_PF_STAT, f_sid, "session id" },
	{ "user", "USER", false, DE_PF_STATUS, f_user, "name of the real uid (the number when it has none)" },
	{ "uid", "UID", true, DE_PF_STATUS, f_uid, "real uid" },
	{ "euid", "EUID", true, DE_PF_STATUS, f_euid, "effective uid" },
	{ "gid", "GID", true, DE_PF_STATUS, f_gid, "real gid" },
	{ "egid", "EGID", true, DE_PF_STATUS, f_egid, "effective gid" },
	{ "loginuid", "LOGINUID", true, DE_PF_LOGINUID, f_loginuid, "audit login uid" },
	{ "tty", "TTY", false, DE_PF_STAT, f_tty, "controlling terminal" },
	{ "state", "S", false, DE_PF_STAT, f_state, "state (R running, S sleeping, D disk, Z zombie, ...)" },
	{ "nice", "NI", true, DE_PF_STAT, f_nice, "nice value" },
	{ "pri", "PRI", true, DE_PF_STAT, f_pri, "kernel priority" },
	{ "threads", "THR", true, DE_PF_STAT, f_threads, "number of threads" },
	{ "start", "START", false, DE_PF_STAT, f_start, "start time (local; time of day when today)" },
	{ "starttime", "STARTED", false, DE_PF_STAT, f_starttime, "start time, RFC 3339 UTC" },
	{ "time", "TIME", true, DE_PF_STAT, f_time, "CPU time (user + system)" },
	{ "rss", "RSS", true, DE_PF_STAT, f_rss, "resident memory, KiB" },
	{ "vsz", "VSZ", true, DE_PF_STAT, f_vsz, "virtual memory, KiB" },
	{ "minflt", "MINFLT", true, DE_PF_STAT, f_minflt, "minor page faults" },
	{ "majflt", "MAJFLT", true, DE_PF_STAT, f_majflt, "major page faults" },
	{ "rbytes", "RBYTES", true, DE_PF_IO, f_rbytes, "bytes read from storage" },
	{ "wbytes", "WBYTES", true, DE_PF_IO, f_wbytes, "bytes written to storage" },
	{ "fds", "FDS", true, DE_PF_FD, f_fds, "open file descriptors" },
	{ "caps", "CAPEFF", false, DE_PF_STATUS, f_capeff, "effective capabilities (hex)" },
	{ "seccomp", "SECCOMP", false, DE_PF_STATUS, f_seccomp, "seccomp mode" },
	{ "pidns", "PIDNS", true, DE_PF_NS, f_pidns, "pid namespace inode" },
	{ "mntns", "MNTNS", true, DE_PF_NS, f_mntns, "mount namespace inode" },
	{ "netns", "NETNS", true, DE_PF_NS, f_netns, "network namespace inode" },
	{ "container", "CONTAINER", false, DE_PF_CGROUP, f_container, "container id (12 hex)" },
	{ "cgroup", "CGROUP", false, DE_PF_CGROUP, f_cgroup, "cgroup path" },
	{ "entity", "ENTITY", false, DE_PF_STAT, f_entity, "entity id (unique per process instance)" },
	{ "exe", "EXE", false, DE_PF_EXE, f_exe, "executable path" },
	{ "inode", "INODE", true, DE_PF_EXE_FILE, f_exe_ino, "executable inode" },
	{ "cwd", "CWD", false, DE_PF_CWD, f_cwd, "working directory" },
	{ "root", "ROOT", false, DE_PF_ROOT, f_root, "root directory" },
	{ "sha256", "SHA256", false, DE_PF_HASH, f_sha256, "SHA-256 of the executable (with --hash)" },
	{ "blake3", "BLAKE3", false, DE_PF_HASH, f_blake3, "BLAKE3 of the executable (with --hash)" },
	{ "comm", "COMM", false, DE_PF_STAT, f_comm, "command name (comm)" },
	{ "args", "COMMAND", false, DE_PF_CMDLINE, f_args, "full command line" },
};
const unsigned de_n_cols = DE_ARRAY_SIZE(de_cols);

const struct de_col *de_col_find(const char *name)
{
	for (unsigned i = 0; i < de_n_cols; i++)
		if (strcmp(de_cols[i].name, name) == 0)
			return &de_cols[i];
	return NULL;
}

bool de_col_value(const struct de_col *col, const struct de_proc *p, struct de_buf *b)
{
	if (col->src >= 0) {
		int e = p->err[col->src];
		/* args of a kernel thread is "[comm]", like ps */
		if (e != 0 && !(e == DE_PF_NOT_APPLICABLE && col->fmt == f_args))
			return false;
	}
	size_t before = b->len;
	col->fmt(b, p);
	if (col->src == DE_PF_HASH && b->len == before)
		return false;
	return true;
}

/* --- JSON ----------------------------------------------------------------- */

static bool known(const struct de_proc *p, enum de_pf f) { return p->err[f] == 0; }

static void json_u32_or_null(struct de_json *j, const char *key, bool ok, uint32_t v)
{
	de_json_key(j, key);
	if (ok)
		de_json_uint(j, v);
	else
		de_json_null(j);
}

static void json_ids(struct de_json *j, const char *key, const uint32_t v[4], bool ok)
{
	de_json_key(j, key);
	if (!ok) {
		de_json_null(j);
		return;
	}
	de_json_obj_begin(j);
	static const char *const names[4] = { "real", "effective", "saved", "fs" };
	for (int i = 0; i < 4; i++) {
		de_json_key(j, names[i]);
		de_json_uint(j, v[i]);
	}
	de_json_obj_end(j);
}

void de_json_nul_list(struct de_json *j, const char *s, size_t len, uint32_t count)
{
	de_json_arr_begin(j);
	const char *end = s + len;
	for (uint32_t i = 0; i < count; i++) {
		const char *z = memchr(s, '\0', (size_t)(end - s));
		const char *e = z ? z : end;
		de_json_str(j, s, (size_t)(e - s));
		s = z ? z + 1 : end;
	}
	de_json_arr_end(j);
}

static void json_cap(struct de_json *j, const char *key, bool ok, uint64_t v)
{
	de_json_key(j, key);
	if (!ok) {
		de_json_null(j);
		return;
	}
	char s[20];
	snprintf(s, sizeof(s), "%016" PRIx64, v);
	de_json_cstr(j, s);
}

static void json_str_field(struct de_json *j, const char *key, bool ok, const char *s)
{
	de_json_key(j, key);
	de_json_cstr(j, ok ? s : NULL);
}

static void json_hash(struct de_json *j, const char *key, const struct de_proc *p, unsigned algo,
		      const uint8_t *d)
{
	de_json_key(j, key);
	if (!known(p, DE_PF_HASH) || !(p->hashes.algos & algo)) {
		de_json_null(j);
		return;
	}
	char hex[DE_HASH_HEX_LEN];
	de_hash_hex(d, hex);
	de_json_cstr(j, hex);
}

static void json_errors(struct de_json *j, const struct de_proc *p)
{
	de_json_key(j, "errors");
	de_json_obj_begin(j);
	for (int i = 0; i < DE_PF__COUNT; i++) {
		if (p->err[i] >= 0)
			continue;
		de_json_key(j, de_pf_name((enum de_pf)i));
		const char *name = strerrorname_np(-p->err[i]);
		de_json_cstr(j, name ? name : "EIO");
	}
	de_json_obj_end(j);
}

void de_proc_json(struct de_json *j, const struct de_proc *p)
{
	bool st = known(p, DE_PF_STAT), su = known(p, DE_PF_STATUS);
	char tmp[DE_ENTITY_HEX_LEN > 40 ? DE_ENTITY_HEX_LEN : 40];

	de_json_obj_begin(j);
	de_json_key(j, "entity_id");
	if (st) {
		de_entity_hex(p->entity_id, tmp);
		de_json_cstr(j, tmp);
	} else {
		de_json_null(j);
	}
	de_json_key(j, "pid");
	de_json_int(j, p->pid);
	json_u32_or_null(j, "ppid", st, (uint32_t)p->ppid);
	json_u32_or_null(j, "pgid", st, (uint32_t)p->pgid);
	json_u32_or_null(j, "sid", st, (uint32_t)p->sid);
	de_json_key(j, "tty");
	if (st && p->tty_nr) {
		de_tty_name(p->tty_nr, tmp, sizeof(tmp));
		de_json_cstr(j, tmp);
	} else {
		de_json_null(j);
	}
	de_json_key(j, "state");
	if (st)
		de_json_str(j, &p->state, 1);
	else
		de_json_null(j);
	json_str_field(j, "comm", st, p->comm);
	de_json_key(j, "kernel_thread");
	de_json_bool(j, p->kthread);
	de_json_key(j, "partial");
	de_json_bool(j, p->partial);

	json_str_field(j, "exe", known(p, DE_PF_EXE), p->exe);
	de_json_key(j, "exe_deleted");
	de_json_bool(j, p->exe_deleted);
	de_json_key(j, "exe_memfd");
	de_json_bool(j, p->exe_memfd);
	de_json_key(j, "argv");
	if (known(p, DE_PF_CMDLINE))
		de_json_nul_list(j, p->argv, p->argv_len, p->argc);
	else
		de_json_null(j);
	de_json_key(j, "argv_truncated");
	de_json_bool(j, p->argv_truncated);
	json_str_field(j, "cwd", known(p, DE_PF_CWD), p->cwd);
	json_str_field(j, "root", known(p, DE_PF_ROOT), p->root);

	json_ids(j, "uid", p->uid, su);
	json_ids(j, "gid", p->gid, su);
	de_json_key(j, "groups");
	if (su) {
		de_json_arr_begin(j);
		for (uint32_t i = 0; i < DE_MIN(p->ngroups, (uint32_t)DE_PROC_MAX_GROUPS); i++)
			de_json_uint(j, p->groups[i]);
		de_json_arr_end(j);
	} else {
		de_json_null(j);
	}
	de_json_key(j, "groups_truncated");
	de_json_bool(j, p->groups_truncated);
	json_str_field(j, "user", su, p->user);
	de_json_key(j, "loginuid");
	if (known(p, DE_PF_LOGINUID) && p->loginuid != DE_AUDIT_UNSET)
		de_json_uint(j, p->loginuid);
	else
		de_json_null(j);
	de_json_key(j, "sessionid");
	if (known(p, DE_PF_SESSIONID) && p->sessionid != DE_AUDIT_UNSET)
		de_json_uint(j, p->sessionid);
	else
		de_json_null(j);

	de_json_key(j, "start_time");
	if (st) {
		struct de_buf t = DE_BUF_INIT;
		de_fmt_time_ns(&t, p->start_time_ns);
		de_json_str(j, de_buf_str(&t), t.len);
		de_buf_free(&t);
	} else {
		de_json_null(j);
	}
	de_json_key(j, "start_time_ns");
	if (st)
		de_json_int(j, p->start_time_ns);
	else
		de_json_null(j);
	de_json_key(j, "start_ticks");
	if (st)
		de_json_uint(j, p->start_ticks);
	else
		de_json_null(j);
	de_json_key(j, "threads");
	if (st || su)
		de_json_int(j, p->threads);
	else
		de_json_null(j);
	static const struct {
		const char *key;
		size_t off;
		bool is_signed;
	} stat_nums[] = {
		{ "nice", offsetof(struct de_proc, nice), true },
		{ "priority", offsetof(struct de_proc, priority), true },
		{ "utime_ns", offsetof(struct de_proc, utime_ns), false },
		{ "stime_ns", offsetof(struct de_proc, stime_ns), false },
		{ "vsize", offsetof(struct de_proc, vsize), false },
		{ "rss", offsetof(struct de_proc, rss_bytes), false },
		{ "minflt", offsetof(struct de_proc, minflt), false },
		{ "majflt", offsetof(struct de_proc, majflt), false },
	};
	for (size_t i = 0; i < DE_ARRAY_SIZE(stat_nums); i++) {
		de_json_key(j, stat_nums[i].key);
		uint64_t v;
		memcpy(&v, (const char *)p + stat_nums[i].off, sizeof(v));
		if (!st)
			de_json_null(j);
		else if (stat_nums[i].is_signed)
			de_json_int(j, (int64_t)v);
		else
			de_json_uint(j, v);
	}

	de_json_key(j, "io");
	if (known(p, DE_PF_IO)) {
		de_json_obj_begin(j);
		de_json_key(j, "rchar"); de_json_uint(j, p->io.rchar);
		de_json_key(j, "wchar"); de_json_uint(j, p->io.wchar);
		de_json_key(j, "syscr"); de_json_uint(j, p->io.syscr);
		de_json_key(j, "syscw"); de_json_uint(j, p->io.syscw);
		de_json_key(j, "read_bytes"); de_json_uint(j, p->io.read_bytes);
		de_json_key(j, "write_bytes"); de_json_uint(j, p->io.write_bytes);
		de_json_key(j, "cancelled_write_bytes"); de_json_uint(j, p->io.cancelled_write_bytes);
		de_json_obj_end(j);
	} else {
		de_json_null(j);
	}
	json_u32_or_null(j, "fd_count", known(p, DE_PF_FD), p->fd_count);
	de_json_key(j, "namespaces");
	if (known(p, DE_PF_NS)) {
		de_json_obj_begin(j);
		for (int i = 0; i < DE_NS__COUNT; i++) {
			de_json_key(j, de_ns_name((enum de_ns)i));
			de_json_uint(j, p->ns[i]);
		}
		de_json_obj_end(j);
	} else {
		de_json_null(j);
	}
	json_str_field(j, "cgroup", known(p, DE_PF_CGROUP), p->cgroup);
	json_str_field(j, "container_id", true, p->container_id);
	json_str_field(j, "container_runtime", true, p->container_runtime);

	json_cap(j, "cap_eff", su, p->cap_eff);
	json_cap(j, "cap_prm", su, p->cap_prm);
	json_cap(j, "cap_inh", su, p->cap_inh);
	json_cap(j, "cap_bnd", su, p->cap_bnd);
	json_cap(j, "cap_amb", su, p->cap_amb);
	json_str_field(j, "seccomp", su, seccomp_name(p->seccomp));
	de_json_key(j, "no_new_privs");
	if (su)
		de_json_bool(j, p->no_new_privs);
	else
		de_json_null(j);

	de_json_key(j, "exe_file");
	if (known(p, DE_PF_EXE_FILE)) {
		de_json_obj_begin(j);
		de_json_key(j, "dev"); de_json_uint(j, p->exe_file.dev);
		de_json_key(j, "inode"); de_json_uint(j, p->exe_file.ino);
		de_json_key(j, "size"); de_json_uint(j, p->exe_file.size);
		de_json_key(j, "mtime_ns"); de_json_int(j, p->exe_file.mtime_ns);
		de_json_key(j, "ctime_ns"); de_json_int(j, p->exe_file.ctime_ns);
		de_json_obj_end(j);
	} else {
		de_json_null(j);
	}
	json_hash(j, "sha256", p, DE_HASH_SHA256, p->hashes.sha256);
	json_hash(j, "blake3", p, DE_HASH_BLAKE3, p->hashes.blake3);

	de_json_key(j, "env");
	if (known(p, DE_PF_ENVIRON))
		de_json_nul_list(j, p->env, p->env_len, p->envc);
	else
		de_json_null(j);
	de_json_key(j, "env_truncated");
	de_json_bool(j, p->env_truncated);
	json_errors(j, p);
	de_json_obj_end(j);
}

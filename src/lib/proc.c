/* proc.c: see proc.h.
 *
 * Cost model: a full-detail read is ~15 small procfs reads per process. To
 * keep 10,000 processes well under 250 ms each file is opened relative to
 * the /proc/<pid> directory fd (one path component to walk), read with one
 * read(2) into a reused buffer, and parsed in place; namespaces and the
 * executable's identity come from fstatat() instead of readlink+parse;
 * the fd count comes from st_size of /proc/<pid>/fd (Linux >= 6.2) instead
 * of listing the directory. Nothing is allocated per process.
 */
#include "proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "log.h"
#include "users.h"

#define PF_KTHREAD 0x00200000u
#define STAT_BUF 2048
#define STATUS_BUF 8192
#define STATUS_MAX (1u << 20)

struct de_proc_reader {
	struct de_proc_opts o;
	char proc_root[PATH_MAX];
	int root_fd;
	uint8_t boot_id[16];
	int64_t ns_per_tick;
	int64_t boot_realtime_ns; /* realtime - boottime at reader creation */
	bool fd_size_counts;      /* st_size of /proc/<pid>/fd is the fd count */
	unsigned groups;          /* DE_PF_BIT mask of what to read */
	struct de_users *users;

	char stat_buf[STAT_BUF];
	char status_small[STATUS_BUF];
	char small[256];
	struct de_buf status_big;
	struct de_buf cmdline;
	struct de_buf environ;
	struct de_buf env_out;
	char exe[PATH_MAX], cwd[PATH_MAX], root[PATH_MAX], cgroup[PATH_MAX];
	char container_id[65];
};

static const char *const pf_names[DE_PF__COUNT] = {
	[DE_PF_STAT] = "stat",       [DE_PF_STATUS] = "status",   [DE_PF_CMDLINE] = "cmdline",
	[DE_PF_EXE] = "exe",         [DE_PF_EXE_FILE] = "exe_file", [DE_PF_CWD] = "cwd",
	[DE_PF_ROOT] = "root",       [DE_PF_IO] = "io",           [DE_PF_FD] = "fd",
	[DE_PF_NS] = "ns",           [DE_PF_CGROUP] = "cgroup",   [DE_PF_LOGINUID] = "loginuid",
	[DE_PF_SESSIONID] = "sessionid", [DE_PF_ENVIRON] = "environ", [DE_PF_HASH] = "hash",
};

const char *de_pf_name(enum de_pf f) { return (unsigned)f < DE_PF__COUNT ? pf_names[f] : "?"; }

static const char *const ns_names[DE_NS__COUNT] = {
	[DE_NS_PID] = "pid", [DE_NS_MNT] = "mnt", [DE_NS_NET] = "net", [DE_NS_USER] = "user",
	[DE_NS_UTS] = "uts", [DE_NS_IPC] = "ipc", [DE_NS_CGROUP] = "cgroup",
};
static const char *const ns_paths[DE_NS__COUNT] = {
	"ns/pid", "ns/mnt", "ns/net", "ns/user", "ns/uts", "ns/ipc", "ns/cgroup",
};

const char *de_ns_name(enum de_ns n) { return (unsigned)n < DE_NS__COUNT ? ns_names[n] : "?"; }

void de_proc_opts_from_config(struct de_proc_opts *o, const struct de_config *cfg)
{
	memset(o, 0, sizeof(*o));
	o->proc_root = "/proc";
	o->argv_max_bytes = cfg->collector.argv_max_bytes;
	o->capture_env = cfg->collector.capture_env;
	o->env_max_bytes = cfg->collector.env_max_bytes;
	o->redact_env = (const char(*)[DE_CONFIG_PATTERN_MAX])cfg->collector.redact_env;
	o->n_redact_env = cfg->collector.n_redact_env;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse a UUID text ("8-4-4-4-12" hex) into 16 bytes. */
static int parse_uuid(const char *s, uint8_t out[16])
{
	int k = 0;
	for (const char *p = s; *p && *p != '\n' && k < 32; p++) {
		if (*p == '-')
			continue;
		int v = hexval(*p);
		if (v < 0)
			return -EINVAL;
		if (k % 2 == 0)
			out[k / 2] = (uint8_t)(v << 4);
		else
			out[k / 2] |= (uint8_t)v;
		k++;
	}
	return k == 32 ? 0 : -EINVAL;
}

static int64_t ts_ns(const struct timespec *ts) { return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec; }

struct de_proc_reader *de_proc_reader_new(const struct de_proc_opts *o)
{
	struct de_proc_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->o = *o;
	r->root_fd = -1;
	const char *root = o->proc_root ? o->proc_root : "/proc";
	if (strlen(root) >= sizeof(r->proc_root)) {
		errno = ENAMETOOLONG;
		goto err;
	}
	strcpy(r->proc_root, root);
	r->o.proc_root = r->proc_root;
	if (o->hash_algos && !o->hash_cache) {
		errno = EINVAL;
		goto err;
	}
	/* only the groups that exist: a stray high bit made every process
	 * look incomplete after a BPF snapshot (an open of /proc/PID each) */
	r->groups = o->groups ? o->groups | DE_PF_BIT(DE_PF_STAT) : DE_PF_BIT(DE_PF__COUNT) - 1;
	r->groups &= (DE_PF_BIT(DE_PF__COUNT) - 1) &
		     ~(DE_PF_BIT(DE_PF_ENVIRON) | DE_PF_BIT(DE_PF_HASH));
	if (o->capture_env)
		r->groups |= DE_PF_BIT(DE_PF_ENVIRON);
	if (o->hash_algos)
		r->groups |= DE_PF_BIT(DE_PF_HASH) | DE_PF_BIT(DE_PF_EXE_FILE);
	r->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->root_fd < 0)
		goto err;

	char idbuf[64];
	if (de_read_file_at(r->root_fd, "sys/kernel/random/boot_id", idbuf, sizeof(idbuf)) < 0 ||
	    parse_uuid(idbuf, r->boot_id) < 0) {
		/* No boot id (unusual container setups): entity ids are then only
		 * unique within this boot's (pid, start) pairs; say so. */
		log_warning("cannot read %s/sys/kernel/random/boot_id: entity ids lack a boot id", root);
		memset(r->boot_id, 0, sizeof(r->boot_id));
	}
	long tck = sysconf(_SC_CLK_TCK);
	r->ns_per_tick = tck > 0 ? 1000000000 / tck : 10000000;
	struct timespec rt, bt;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &bt);
	r->boot_realtime_ns = ts_ns(&rt) - ts_ns(&bt);

	struct stat st;
	r->fd_size_counts = fstatat(r->root_fd, "self/fd", &st, 0) == 0 && st.st_size > 0;
	if (!o->skip_users) {
		r->users = de_users_new();
		if (!r->users)
			goto err;
	}
	return r;
err:
	de_proc_reader_free(r);
	return NULL;
}

void de_proc_reader_free(struct de_proc_reader *r)
{
	if (!r)
		return;
	int saved = errno;
	if (r->root_fd >= 0)
		close(r->root_fd);
	de_users_free(r->users);
	de_buf_free(&r->status_big);
	de_buf_free(&r->cmdline);
	de_buf_free(&r->environ);
	de_buf_free(&r->env_out);
	free(r);
	errno = saved;
}

const uint8_t *de_proc_reader_boot_id(const struct de_proc_reader *r) { return r->boot_id; }

void de_entity_id(const uint8_t boot_id[16], int32_t pid, uint64_t start_ticks,
		  uint8_t out[DE_ENTITY_ID_LEN])
{
	uint8_t in[16 + 4 + 8];
	memcpy(in, boot_id, 16);
	for (int i = 0; i < 4; i++)
		in[16 + i] = (uint8_t)((uint32_t)pid >> (8 * i));
	for (int i = 0; i < 8; i++)
		in[20 + i] = (uint8_t)(start_ticks >> (8 * i));
	struct de_hashes h;
	de_hash_mem(in, sizeof(in), DE_HASH_BLAKE3, &h);
	memcpy(out, h.blake3, DE_ENTITY_ID_LEN);
}

void de_entity_hex(const uint8_t id[DE_ENTITY_ID_LEN], char hex[DE_ENTITY_HEX_LEN])
{
	de_hex(id, DE_ENTITY_ID_LEN, hex);
}

void de_tty_name(int32_t tty_nr, char *out, size_t cap)
{
	if (tty_nr == 0) {
		snprintf(out, cap, "?");
		return;
	}
	unsigned major = ((unsigned)tty_nr >> 8) & 0xfff;
	unsigned minor = ((unsigned)tty_nr & 0xff) | (((unsigned)tty_nr >> 12) & 0xfff00);
	if (major >= 136 && major <= 143)
		snprintf(out, cap, "pts/%u", (major - 136) * 256 + minor);
	else if (major == 4 && minor < 64)
		snprintf(out, cap, "tty%u", minor);
	else if (major == 4)
		snprintf(out, cap, "ttyS%u", minor - 64);
	else
		snprintf(out, cap, "%u:%u", major, minor);
}

/* readlinkat into buf, NUL-terminated; returns the length or -errno. */
static ssize_t read_link(int dirfd, const char *name, char *buf, size_t cap)
{
	ssize_t n = readlinkat(dirfd, name, buf, cap - 1);
	if (n < 0) {
		buf[0] = '\0';
		return de_neg_errno();
	}
	buf[n] = '\0';
	return n;
}

static void read_stat(struct de_proc_reader *r, int dfd, struct de_proc *p)
{
	ssize_t n = de_read_file_at(dfd, "stat", r->stat_buf, sizeof(r->stat_buf));
	if (n < 0) {
		p->err[DE_PF_STAT] = (int)n;
		return;
	}
	struct de_stat st;
	if (de_parse_stat(r->stat_buf, (size_t)n, &st) < 0 && st.starttime == 0) {
		p->err[DE_PF_STAT] = -EINVAL;
		return;
	}
	memcpy(p->comm, st.comm, sizeof(p->comm));
	p->state = st.state;
	p->ppid = st.ppid;
	p->pgid = st.pgid;
	p->sid = st.sid;
	p->tty_nr = st.tty_nr;
	p->kthread = (st.flags & PF_KTHREAD) != 0;
	p->minflt = st.minflt;
	p->majflt = st.majflt;
	p->utime_ns = st.utime * (uint64_t)r->ns_per_tick;
	p->stime_ns = st.stime * (uint64_t)r->ns_per_tick;
	p->priority = st.priority;
	p->nice = st.nice;
	p->threads = st.num_threads;
	p->start_ticks = st.starttime;
	p->start_time_ns = r->boot_realtime_ns + (int64_t)st.starttime * r->ns_per_tick;
	p->vsize = st.vsize;
	p->rss_bytes = st.rss > 0 ? (uint64_t)st.rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
	de_entity_id(r->boot_id, p->pid, p->start_ticks, p->entity_id);
}

static void read_status(struct de_proc_reader *r, int dfd, struct de_proc *p)
{
	const char *buf = r->status_small;
	ssize_t n = de_read_file_at(dfd, "status", r->status_small, sizeof(r->status_small));
	if (n == -EFBIG) { /* many supplementary groups */
		bool trunc;
		n = de_read_file_at_buf(dfd, "status", &r->status_big, STATUS_MAX, &trunc);
		buf = de_buf_str(&r->status_big);
	}
	if (n < 0) {
		p->err[DE_PF_STATUS] = (int)n;
		return;
	}
	struct de_status st = { .groups = p->groups, .groups_cap = DE_PROC_MAX_GROUPS };
	if (de_parse_status(buf, (size_t)n, &st) < 0)
		p->err[DE_PF_STATUS] = -EINVAL;
	memcpy(p->uid, st.uid, sizeof(p->uid));
	memcpy(p->gid, st.gid, sizeof(p->gid));
	p->ngroups = st.ngroups;
	p->groups_truncated = st.ngroups > DE_PROC_MAX_GROUPS;
	p->cap_inh = st.cap_inh;
	p->cap_prm = st.cap_prm;
	p->cap_eff = st.cap_eff;
	p->cap_bnd = st.cap_bnd;
	p->cap_amb = st.cap_amb;
	p->seccomp = st.seccomp;
	p->no_new_privs = st.no_new_privs == 1;
	if (st.found & DE_STATUS_HAVE_THREADS)
		p->threads = st.threads;
	if (st.kthread)
		p->kthread = true;
	if ((st.found & DE_STATUS_HAVE_UID) && r->users)
		p->user = de_users_name(r->users, st.uid[DE_ID_REAL]);
}

static void read_cmdline(struct de_proc_reader *r, int dfd, struct de_proc *p)
{
	ssize_t n = de_read_file_at_buf(dfd, "cmdline", &r->cmdline, r->o.argv_max_bytes,
					&p->argv_truncated);
	if (n < 0) {
		p->err[DE_PF_CMDLINE] = (int)n;
		return;
	}
	p->argv = de_buf_str(&r->cmdline);
	p->argc = de_cmdline_argc(p->argv, (size_t)n);
	p->argv_len = (size_t)n;
	if (p->argv_len && p->argv[p->argv_len - 1] == '\0')
		p->argv_len--;
}

static void read_environ(struct de_proc_reader *r, int dfd, struct de_proc *p)
{
	ssize_t n = de_read_file_at_buf(dfd, "environ", &r->environ, r->o.env_max_bytes,
					&p->env_truncated);
	if (n < 0) {
		p->err[DE_PF_ENVIRON] = (int)n;
		return;
	}
	const char *s = de_buf_str(&r->environ), *end = s + n;
	de_buf_reset(&r->env_out);
	p->envc = 0;
	while (s < end) {
		const char *z = memchr(s, '\0', (size_t)(end - s));
		const char *e = z ? z : end;
		const char *eq = memchr(s, '=', (size_t)(e - s));
		if (p->envc)
			de_buf_putc(&r->env_out, '\0');
		if (eq && de_env_name_matches(s, (size_t)(eq - s), r->o.redact_env, r->o.n_redact_env)) {
			de_buf_append(&r->env_out, s, (size_t)(eq - s) + 1);
			de_buf_puts(&r->env_out, "[REDACTED]");
		} else {
			de_buf_append(&r->env_out, s, (size_t)(e - s));
		}
		p->envc++;
		if (!z)
			break;
		s = z + 1;
	}
	if (r->env_out.err) {
		p->err[DE_PF_ENVIRON] = r->env_out.err;
		return;
	}
	p->env = de_buf_str(&r->env_out);
	p->env_len = r->env_out.len;
}

static void read_exe(struct de_proc_reader *r, int dfd, struct de_proc *p)
{
	struct stat st;
	bool have_stat = fstatat(dfd, "exe", &st, 0) == 0;
	if (!have_stat) {
		p->err[DE_PF_EXE_FILE] = de_neg_errno();
	} else {
		p->exe_file = (struct de_file_id){
			.dev = st.st_dev, .ino = st.st_ino, .size = (uint64_t)st.st_size,
			.mtime_ns = ts_ns(&st.st_mtim), .ctime_ns = ts_ns(&st.st_ctim),
		};
	}
	ssize_t n = read_link(dfd, "exe", r->exe, sizeof(r->exe));
	if (n < 0) {
		p->err[DE_PF_EXE] = (int)n;
		return;
	}
	de_exe_classify_links(r->exe, (size_t)n, have_stat, have_stat ? st.st_nlink : 0,
			      &p->exe_deleted, &p->exe_memfd);
	p->exe = r->exe;
}

static void read_link_field(int dfd, const char *name, char *buf, size_t cap, const char **out,
			    int *err)
{
	ssize_t n = read_link(dfd, name, buf, cap);
	if (n < 0)
		*err = (int)n;
	else
		*out = buf;
}

static void read_small_u32(struct de_proc_reader *r, int dfd, const char *name, uint32_t *out,
			   int *err)
{
	ssize_t n = de_read_file_at(dfd, name, r->small, sizeof(r->small));
	uint64_t v;
	if (n < 0)
		*err = (int)n;
	else if (de_parse_u64_file(r->small, (size_t)n, &v) < 0 || v > UINT32_MAX)
		*err = -EINVAL;
	else
		*out = (uint32_t)v;
}

static void read_io(struct de_proc_reader *r, int dfd, struct de_proc *p)
{
	ssize_t n = de_read_file_at(dfd, "io", r->status_small, sizeof(r->status_small));
	if (n < 0)
		p->err[DE_PF_IO] = (int)n;
	else if (de_parse_io(r->status_small, (size_t)n, &p->io) < 0)
		p->err[DE_PF_IO] = -EINVAL;
}

static void read_fd_count(struct de_proc_reader *r, int dfd, struct de_proc *p)
{
	struct stat st;
	if (fstatat(dfd, "fd", &st, 0) < 0) {
		p->err[DE_PF_FD] = de_neg_errno();
		return;
	}
	if (r->fd_size_counts) {
		p->fd_count = (uint32_t)st.st_size;
		return;
	}
	int fd = openat(dfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		p->err[DE_PF_FD] = de_neg_errno();
		if (fd >= 0)
			close(fd);
		return;
	}
	uint32_t count = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			count++;
	closedir(d);
	p->fd_count = count;
}

/* Namespace inodes from the "type:[inode]" link text: on the machines we
 * measured readlinkat() costs ~30% less than fstatat() through nsfs. */
static void read_ns(int dfd, struct de_proc *p)
{
	for (int i = 0; i < DE_NS__COUNT; i++) {
		char buf[64];
		ssize_t n = read_link(dfd, ns_paths[i], buf, sizeof(buf));
		if (n < 0) {
			p->err[DE_PF_NS] = (int)n;
			return;
		}
		const char *open = memchr(buf, '[', (size_t)n);
		char *end;
		unsigned long long v = open ? strtoull(open + 1, &end, 10) : 0;
		if (!open || *end != ']') {
			p->err[DE_PF_NS] = -EINVAL;
			return;
		}
		p->ns[i] = v;
	}
}

static void read_cgroup(struct de_proc_reader *r, int dfd, struct de_proc *p)
{
	ssize_t n = de_read_file_at(dfd, "cgroup", r->status_small, sizeof(r->status_small));
	if (n < 0 && n != -EFBIG) {
		p->err[DE_PF_CGROUP] = (int)n;
		return;
	}
	if (n == -EFBIG)
		n = (ssize_t)strlen(r->status_small);
	if (de_parse_cgroup(r->status_small, (size_t)n, r->cgroup, sizeof(r->cgroup)) < 0) {
		p->err[DE_PF_CGROUP] = -EINVAL;
		return;
	}
	p->cgroup = r->cgroup;
	const char *rt;
	if (de_container_id(r->cgroup, r->container_id, &rt)) {
		p->container_id = r->container_id;
		p->container_runtime = rt;
	}
}

static void read_hash(struct de_proc_reader *r, struct de_proc *p)
{
	struct de_file_id id;
	int e = de_exehash_pid(r->o.hash_cache, r->proc_root, p->pid, r->o.hash_algos, &id,
			       &p->hashes, &p->hash_cached);
	if (e < 0)
		p->err[DE_PF_HASH] = e;
}

static bool gone(int e) { return e == -ESRCH || e == -ENOENT; }

/* Whether group g is to be read (in mask); if not, and p does not already
 * have it (`have`), marks it not requested. */
static bool want(unsigned mask, unsigned have, struct de_proc *p, enum de_pf g)
{
	if (mask & DE_PF_BIT(g))
		return true;
	if (!(have & DE_PF_BIT(g)))
		p->err[g] = DE_PF_NOT_REQUESTED;
	return false;
}

/* Did it exit while we read? A failure that looks like "gone" on any
 * file is confirmed by asking for stat again through the same fd. */
static void check_gone(int dfd, struct de_proc *p)
{
	for (int i = 0; i < DE_PF__COUNT; i++) {
		if (gone(p->err[i]) && i != DE_PF_EXE && i != DE_PF_EXE_FILE && i != DE_PF_HASH) {
			struct stat st;
			if (fstatat(dfd, "stat", &st, 0) < 0 && gone(de_neg_errno()))
				p->partial = true;
			break;
		}
	}
	if (!p->partial && (gone(p->err[DE_PF_EXE]) || p->state == 'Z')) {
		struct stat st;
		if (fstatat(dfd, "stat", &st, 0) < 0)
			p->partial = true;
	}
}

static void mark_kthread(struct de_proc *p)
{
	static const enum de_pf none[] = { DE_PF_CMDLINE, DE_PF_EXE, DE_PF_EXE_FILE, DE_PF_CWD,
					   DE_PF_ROOT, DE_PF_ENVIRON, DE_PF_HASH };
	for (size_t i = 0; i < DE_ARRAY_SIZE(none); i++)
		p->err[none[i]] = DE_PF_NOT_APPLICABLE;
	p->argv = "";
}

/* Read the groups in `mask` (stat excepted) through dfd; `have` are the
 * groups p already holds from elsewhere. */
static void read_groups(struct de_proc_reader *r, int dfd, struct de_proc *p, unsigned mask,
			unsigned have)
{
	int32_t pid = p->pid;
	if (r->o.fault_hook)
		r->o.fault_hook(pid, DE_PF_STAT, r->o.fault_hook_ud);
	if (want(mask, have, p, DE_PF_STATUS))
		read_status(r, dfd, p);
	if (r->o.fault_hook)
		r->o.fault_hook(pid, DE_PF_STATUS, r->o.fault_hook_ud);
	if (p->kthread) {
		mark_kthread(p);
	} else {
		if (want(mask, have, p, DE_PF_CMDLINE))
			read_cmdline(r, dfd, p);
		if (mask & (DE_PF_BIT(DE_PF_EXE) | DE_PF_BIT(DE_PF_EXE_FILE)))
			read_exe(r, dfd, p);
		want(mask, have, p, DE_PF_EXE); /* mark whichever of the two was not asked for */
		want(mask, have, p, DE_PF_EXE_FILE);
		if (want(mask, have, p, DE_PF_CWD))
			read_link_field(dfd, "cwd", r->cwd, sizeof(r->cwd), &p->cwd, &p->err[DE_PF_CWD]);
		if (want(mask, have, p, DE_PF_ROOT))
			read_link_field(dfd, "root", r->root, sizeof(r->root), &p->root,
					&p->err[DE_PF_ROOT]);
		if (want(mask, have, p, DE_PF_ENVIRON))
			read_environ(r, dfd, p);
		if (want(mask, have, p, DE_PF_HASH)) {
			if (p->err[DE_PF_EXE_FILE])
				p->err[DE_PF_HASH] = p->err[DE_PF_EXE_FILE];
			else
				read_hash(r, p);
		}
	}
	if (want(mask, have, p, DE_PF_IO))
		read_io(r, dfd, p);
	if (want(mask, have, p, DE_PF_FD))
		read_fd_count(r, dfd, p);
	if (want(mask, have, p, DE_PF_NS))
		read_ns(dfd, p);
	if (want(mask, have, p, DE_PF_CGROUP))
		read_cgroup(r, dfd, p);
	if (want(mask, have, p, DE_PF_LOGINUID))
		read_small_u32(r, dfd, "loginuid", &p->loginuid, &p->err[DE_PF_LOGINUID]);
	if (want(mask, have, p, DE_PF_SESSIONID))
		read_small_u32(r, dfd, "sessionid", &p->sessionid, &p->err[DE_PF_SESSIONID]);

	check_gone(dfd, p);
}

int de_proc_read(struct de_proc_reader *r, int32_t pid, struct de_proc *p)
{
	memset(p, 0, offsetof(struct de_proc, groups));
	memset(&p->ngroups, 0, sizeof(*p) - offsetof(struct de_proc, ngroups));
	p->pid = pid;
	p->seccomp = -1;
	char name[16];
	snprintf(name, sizeof(name), "%d", (int)pid);
	_cleanup_close_ int dfd = openat(r->root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? -ESRCH : de_neg_errno();

	read_stat(r, dfd, p);
	if (gone(p->err[DE_PF_STAT]))
		return -ESRCH;
	read_groups(r, dfd, p, r->groups, 0);
	return 0;
}

int de_proc_complete(struct de_proc_reader *r, struct de_proc *p, unsigned have)
{
	have |= DE_PF_BIT(DE_PF_STAT);
	p->start_time_ns = r->boot_realtime_ns + (int64_t)p->start_ticks * r->ns_per_tick;
	de_entity_id(r->boot_id, p->pid, p->start_ticks, p->entity_id);
	if ((have & DE_PF_BIT(DE_PF_STATUS)) && !p->err[DE_PF_STATUS] && r->users)
		p->user = de_users_name(r->users, p->uid[DE_ID_REAL]);
	unsigned mask = r->groups & ~have;
	if (p->kthread) /* only what a kernel thread has at all */
		mask &= ~(DE_PF_BIT(DE_PF_CMDLINE) | DE_PF_BIT(DE_PF_EXE) | DE_PF_BIT(DE_PF_EXE_FILE) |
			  DE_PF_BIT(DE_PF_CWD) | DE_PF_BIT(DE_PF_ROOT) | DE_PF_BIT(DE_PF_ENVIRON) |
			  DE_PF_BIT(DE_PF_HASH));
	if (!mask) {
		for (int g = 0; g < DE_PF__COUNT; g++)
			if (!(have & DE_PF_BIT(g)))
				p->err[g] = DE_PF_NOT_REQUESTED;
		if (p->kthread)
			mark_kthread(p);
		return 0;
	}
	char name[16];
	snprintf(name, sizeof(name), "%d", (int)p->pid);
	_cleanup_close_ int dfd = openat(r->root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		/* exited since the snapshot: keep what we have, say so */
		int e = errno == ENOENT ? -ESRCH : de_neg_errno();
		for (int g = 0; g < DE_PF__COUNT; g++)
			if (mask & DE_PF_BIT(g))
				p->err[g] = e;
		p->partial = e == -ESRCH;
		return 0;
	}
	read_groups(r, dfd, p, mask, have);
	return 0;
}

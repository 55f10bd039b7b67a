/* ipcevent.c: struct de_event <-> protobuf Event (ipcevent.h).
 *
 * Encoding never copies event data: protobuf fields point into the event
 * (the casts from const are safe, packing only reads); strings longer
 * than the receiver's bounds are cut there. Decoding copies
 * every string into the arena with a terminating NUL after checking its
 * bound and that it holds no NUL byte, so consumers can use plain C
 * strings; argv and env keep their embedded NULs and get one more. */
#include <errno.h>
#include <string.h>

#include "hash.h"
#include "ipcevent.h"
#include "ipcmsg.h"
#include "macros.h"

/* Scalars with the same name and meaning in struct de_event and Event. */
#define EVENT_SCALARS(X) \
	X(partial) X(seq) X(time_ns) X(pid) X(tid) X(ppid) X(start_ticks) \
	X(loginuid) X(sessionid) X(argc) X(argv_truncated) X(exe_deleted) X(exe_memfd) \
	X(exe_dev) X(exe_ino) X(cgroup_id) X(exit_code) X(exit_signal)

/* C strings of struct de_event: field, bit in Event.present, bound. */
#define EVENT_STRINGS(X) \
	X(filename, 0, DE_IPC_PATH_MAX) X(exe, 2, DE_IPC_PATH_MAX) X(cgroup, 3, DE_IPC_PATH_MAX) \
	X(container_id, 4, DE_IPC_NAME_MAX) X(hash_note, 5, DE_IPC_TEXT_MAX) \
	X(detail, 6, DE_IPC_TEXT_MAX)
#define EVENT_ARGV_BIT 1

#define PROC_SCALARS(X) \
	X(pid) X(ppid) X(pgid) X(sid) X(tty_nr) X(kthread) X(partial) X(start_ticks) \
	X(start_time_ns) X(nice) X(priority) X(threads) X(utime_ns) X(stime_ns) X(vsize) \
	X(rss_bytes) X(minflt) X(majflt) X(ngroups) X(groups_truncated) X(cap_inh) X(cap_prm) \
	X(cap_eff) X(cap_bnd) X(cap_amb) X(seccomp) X(no_new_privs) X(loginuid) X(sessionid) \
	X(fd_count) X(exe_deleted) X(exe_memfd) X(argc) X(argv_truncated) X(envc) \
	X(env_truncated) X(hash_cached)

#define PROC_STRINGS(X) \
	X(user, 0, DE_IPC_NAME_MAX) X(cgroup, 1, DE_IPC_PATH_MAX) \
	X(container_id, 2, DE_IPC_NAME_MAX) X(container_runtime, 3, DE_IPC_NAME_MAX) \
	X(exe, 4, DE_IPC_PATH_MAX) X(cwd, 5, DE_IPC_PATH_MAX) X(root, 6, DE_IPC_PATH_MAX)
#define PROC_ARGV_BIT 7
#define PROC_ENV_BIT 8

#define IO_FIELDS(X) \
	X(rchar) X(wchar) X(syscr) X(syscw) X(read_bytes) X(write_bytes) X(cancelled_write_bytes)

#define FILE_ID_FIELDS(X) X(dev) X(ino) X(size) X(mtime_ns) X(ctime_ns)

#define BAD(cond) do { if (cond) return -EBADMSG; } while (0)
#define TRY(expr) do { int _r = (expr); if (_r < 0) return _r; } while (0)

/* ---- encoding --------------------------------------------------------- */

/* A C string, cut at the receiver's bound: the encoder never produces
 * what a decoder refuses (a path that long cannot be executed anyway). */
static void put_str(ProtobufCBinaryData *d, uint32_t *present, unsigned bit, const char *s,
		    size_t max)
{
	if (!s)
		return;
	d->data = (uint8_t *)(uintptr_t)s;
	d->len = strnlen(s, max);
	*present |= 1u << bit;
}

/* Binary NUL-separated list, cut at max bytes (sets *truncated). */
static void put_list(ProtobufCBinaryData *d, uint32_t *present, unsigned bit, const char *s,
		     size_t len, uint32_t max, protobuf_c_boolean *truncated)
{
	if (!s)
		return;
	if (len > max) {
		len = max;
		*truncated = 1;
	}
	d->data = (uint8_t *)(uintptr_t)s;
	d->len = len;
	*present |= 1u << bit;
}

static void put_bytes(ProtobufCBinaryData *d, const void *p, size_t n)
{
	d->data = (uint8_t *)(uintptr_t)p;
	d->len = n;
}

static int put_hashes(const struct de_hashes *h, struct de_arena *a, Daemoneye__V1__Hashes **out)
{
	if (!h->algos)
		return 0;
	Daemoneye__V1__Hashes *m = de_arena_alloc(a, sizeof(*m));
	if (!m)
		return -ENOMEM;
	daemoneye__v1__hashes__init(m);
	m->algos = h->algos;
	if (h->algos & DE_HASH_SHA256)
		put_bytes(&m->sha256, h->sha256, DE_HASH_LEN);
	if (h->algos & DE_HASH_BLAKE3)
		put_bytes(&m->blake3, h->blake3, DE_HASH_LEN);
	*out = m;
	return 0;
}

static int proc_to_pb(const struct de_proc *p, uint32_t argv_max, struct de_arena *a,
		      Daemoneye__V1__Proc **out)
{
	Daemoneye__V1__Proc *m = de_arena_alloc(a, sizeof(*m));
	Daemoneye__V1__Io *io = de_arena_alloc(a, sizeof(*io));
	Daemoneye__V1__FileId *fid = de_arena_alloc(a, sizeof(*fid));
	int32_t *err = de_arena_alloc(a, sizeof(int32_t) * DE_PF__COUNT);
	if (!m || !io || !fid || !err)
		return -ENOMEM;
	daemoneye__v1__proc__init(m);
	daemoneye__v1__io__init(io);
	daemoneye__v1__file_id__init(fid);

#define ENC(f) m->f = p->f;
	PROC_SCALARS(ENC)
#undef ENC
#define ENC(f) io->f = p->io.f;
	IO_FIELDS(ENC)
#undef ENC
#define ENC(f) fid->f = p->exe_file.f;
	FILE_ID_FIELDS(ENC)
#undef ENC
#define ENC(f, bit, max) put_str(&m->f, &m->present, bit, p->f, max);
	PROC_STRINGS(ENC)
#undef ENC
	m->io = io;
	m->exe_file = fid;
	m->state = (uint8_t)p->state;
	put_bytes(&m->comm, p->comm, strnlen(p->comm, sizeof(p->comm)));
	put_bytes(&m->entity_id, p->entity_id, DE_ENTITY_ID_LEN);
	m->n_uid = 4;
	m->uid = (uint32_t *)(uintptr_t)p->uid;
	m->n_gid = 4;
	m->gid = (uint32_t *)(uintptr_t)p->gid;
	m->n_groups = DE_MIN(p->ngroups, (uint32_t)DE_PROC_MAX_GROUPS);
	m->groups = (uint32_t *)(uintptr_t)p->groups;
	m->n_ns = DE_NS__COUNT;
	m->ns = (uint64_t *)(uintptr_t)p->ns;
	for (unsigned i = 0; i < DE_PF__COUNT; i++)
		err[i] = p->err[i];
	m->n_err = DE_PF__COUNT;
	m->err = err;
	put_list(&m->argv, &m->present, PROC_ARGV_BIT, p->argv, p->argv_len, argv_max,
		 &m->argv_truncated);
	put_list(&m->env, &m->present, PROC_ENV_BIT, p->env, p->env_len, argv_max,
		 &m->env_truncated);
	TRY(put_hashes(&p->hashes, a, &m->hashes));
	*out = m;
	return 0;
}

int de_ipc_event_to_pb(const struct de_event *ev, uint32_t argv_max, struct de_arena *scratch,
		       Daemoneye__V1__Event *m)
{
	daemoneye__v1__event__init(m);
	if (ev->type <= 0 || ev->type >= DE_EV__COUNT || ev->source < DE_EVSRC_EBPF ||
	    ev->source > DE_EVSRC_PROC)
		return -EINVAL;
	m->type = (Daemoneye__V1__EventType)ev->type;
	m->source = (Daemoneye__V1__EventSource)ev->source;
	m->have = ev->have;
	m->status = (uint32_t)ev->status;
#define ENC(f) m->f = ev->f;
	EVENT_SCALARS(ENC)
#undef ENC
#define ENC(f, bit, max) put_str(&m->f, &m->present, bit, ev->f, max);
	EVENT_STRINGS(ENC)
#undef ENC
	put_list(&m->argv, &m->present, EVENT_ARGV_BIT, ev->argv, ev->argv_len, argv_max,
		 &m->argv_truncated);
	put_bytes(&m->entity_id, ev->entity_id, DE_ENTITY_ID_LEN);
	put_bytes(&m->parent_entity_id, ev->parent_entity_id, DE_ENTITY_ID_LEN);
	put_bytes(&m->comm, ev->comm, strnlen(ev->comm, sizeof(ev->comm)));
	if (ev->have & DE_EVF_CREDS) {
		m->n_uid = m->n_gid = 4;
		m->uid = (uint32_t *)(uintptr_t)ev->uid;
		m->gid = (uint32_t *)(uintptr_t)ev->gid;
	}
	for (unsigned i = 0; i < DE_EV__COUNT; i++)
		if (ev->drops[i])
			m->n_drops = DE_EV__COUNT;
	m->drops = m->n_drops ? (uint64_t *)(uintptr_t)ev->drops : NULL;
	TRY(put_hashes(&ev->hashes, scratch, &m->hashes));
	if ((ev->have & DE_EVF_PROC) && ev->proc)
		TRY(proc_to_pb(ev->proc, argv_max, scratch, &m->proc));
	return 0;
}

/* ---- decoding --------------------------------------------------------- */

/* A bounded, NUL-free string from the peer, or NULL when not present. */
static int get_str(struct de_arena *a, const ProtobufCBinaryData *d, uint32_t present,
		   unsigned bit, size_t max, const char **out)
{
	*out = NULL;
	if (!(present & (1u << bit))) {
		BAD(d->len != 0);
		return 0;
	}
	BAD(d->len > max);
	BAD(d->len && memchr(d->data, '\0', d->len));
	char *s = de_arena_strndup(a, d->data, d->len);
	if (!s)
		return -ENOMEM;
	*out = s;
	return 0;
}

/* A NUL-separated list (argv, env): NULs allowed, one more appended. */
static int get_list(struct de_arena *a, const ProtobufCBinaryData *d, uint32_t present,
		    unsigned bit, size_t max, const char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (!(present & (1u << bit))) {
		BAD(d->len != 0);
		return 0;
	}
	BAD(d->len > max);
	char *s = de_arena_strndup(a, d->data, d->len);
	if (!s)
		return -ENOMEM;
	*out = s;
	*len = d->len;
	return 0;
}

/* comm: at most DE_COMM_MAX - 1 bytes, no NUL. */
static int get_comm(const ProtobufCBinaryData *d, char comm[DE_COMM_MAX])
{
	BAD(d->len >= DE_COMM_MAX);
	BAD(d->len && memchr(d->data, '\0', d->len));
	if (d->len)
		memcpy(comm, d->data, d->len);
	comm[d->len] = '\0';
	return 0;
}

/* An entity id: exactly 16 bytes, or absent (all zero). */
static int get_id(const ProtobufCBinaryData *d, uint8_t id[DE_ENTITY_ID_LEN])
{
	BAD(d->len != 0 && d->len != DE_ENTITY_ID_LEN);
	if (d->len)
		memcpy(id, d->data, DE_ENTITY_ID_LEN);
	return 0;
}

static int get_hashes(const Daemoneye__V1__Hashes *m, struct de_hashes *h)
{
	if (!m)
		return 0;
	BAD(m->algos & ~(uint32_t)DE_HASH_ALL);
	h->algos = m->algos;
	const ProtobufCBinaryData *d[2] = { &m->sha256, &m->blake3 };
	uint8_t *dst[2] = { h->sha256, h->blake3 };
	unsigned bits[2] = { DE_HASH_SHA256, DE_HASH_BLAKE3 };
	for (unsigned i = 0; i < 2; i++) {
		BAD(d[i]->len != ((m->algos & bits[i]) ? DE_HASH_LEN : 0));
		if (d[i]->len)
			memcpy(dst[i], d[i]->data, DE_HASH_LEN);
	}
	return 0;
}

static int get_creds(size_t n_uid, const uint32_t *uid, size_t n_gid, const uint32_t *gid,
		     uint32_t out_uid[4], uint32_t out_gid[4])
{
	BAD(n_uid != n_gid || (n_uid != 0 && n_uid != 4));
	if (n_uid) {
		memcpy(out_uid, uid, 4 * sizeof(uint32_t));
		memcpy(out_gid, gid, 4 * sizeof(uint32_t));
	}
	return 0;
}

static int proc_from_pb(const Daemoneye__V1__Proc *m, uint32_t argv_max, struct de_arena *a,
			const struct de_proc **out)
{
	struct de_proc *p = de_arena_zalloc(a, sizeof(*p));
	if (!p)
		return -ENOMEM;
#define DEC(f) p->f = m->f;
	PROC_SCALARS(DEC)
#undef DEC
#define DEC(f, bit, max) TRY(get_str(a, &m->f, m->present, bit, max, &p->f));
	PROC_STRINGS(DEC)
#undef DEC
	if (m->io) {
#define DEC(f) p->io.f = m->io->f;
		IO_FIELDS(DEC)
#undef DEC
	}
	if (m->exe_file) {
#define DEC(f) p->exe_file.f = m->exe_file->f;
		FILE_ID_FIELDS(DEC)
#undef DEC
	}
	BAD(m->state > 0x7e || (m->state && m->state < 0x20));
	p->state = (char)m->state;
	TRY(get_comm(&m->comm, p->comm));
	TRY(get_id(&m->entity_id, p->entity_id));
	TRY(get_creds(m->n_uid, m->uid, m->n_gid, m->gid, p->uid, p->gid));
	BAD(m->n_groups > DE_PROC_MAX_GROUPS || m->n_groups > m->ngroups);
	if (m->n_groups)
		memcpy(p->groups, m->groups, m->n_groups * sizeof(uint32_t));
	BAD(m->n_ns != 0 && m->n_ns != DE_NS__COUNT);
	if (m->n_ns)
		memcpy(p->ns, m->ns, sizeof(p->ns));
	BAD(m->n_err != DE_PF__COUNT);
	for (unsigned i = 0; i < DE_PF__COUNT; i++) {
		int32_t e = m->err[i];
		BAD(e < -4095 || e > DE_PF_NOT_APPLICABLE);
		p->err[i] = e;
	}
	TRY(get_list(a, &m->argv, m->present, PROC_ARGV_BIT, argv_max, &p->argv, &p->argv_len));
	TRY(get_list(a, &m->env, m->present, PROC_ENV_BIT, argv_max, &p->env, &p->env_len));
	TRY(get_hashes(m->hashes, &p->hashes));
	*out = p;
	return 0;
}

/* Bits of de_event.have this version knows; others (a newer minor
 * version's groups) are dropped on decode. */
#define EVF_KNOWN (2u * DE_EVF_PROC - 1u)

int de_ipc_event_from_pb(const Daemoneye__V1__Event *m, uint32_t argv_max, struct de_arena *arena,
			 struct de_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	BAD(m->type <= 0 || m->type >= (int)DE_EV__COUNT);
	BAD(m->source < (int)DE_EVSRC_EBPF || m->source > (int)DE_EVSRC_PROC);
	BAD(m->status > DE_ST_STOPPED);
	ev->type = (enum de_event_type)m->type;
	ev->source = (enum de_event_source)m->source;
	ev->have = m->have & EVF_KNOWN;
	ev->status = (enum de_status_kind)m->status;
#define DEC(f) ev->f = m->f;
	EVENT_SCALARS(DEC)
#undef DEC
#define DEC(f, bit, max) TRY(get_str(arena, &m->f, m->present, bit, max, &ev->f));
	EVENT_STRINGS(DEC)
#undef DEC
	TRY(get_list(arena, &m->argv, m->present, EVENT_ARGV_BIT, argv_max, &ev->argv,
		     &ev->argv_len));
	TRY(get_id(&m->entity_id, ev->entity_id));
	TRY(get_id(&m->parent_entity_id, ev->parent_entity_id));
	TRY(get_comm(&m->comm, ev->comm));
	TRY(get_creds(m->n_uid, m->uid, m->n_gid, m->gid, ev->uid, ev->gid));
	BAD((ev->have & DE_EVF_CREDS) && m->n_uid != 4);
	BAD(m->n_drops > DE_EV__COUNT);
	for (size_t i = 0; i < m->n_drops; i++)
		ev->drops[i] = m->drops[i];
	TRY(get_hashes(m->hashes, &ev->hashes));
	if (m->proc) {
		BAD(!(ev->have & DE_EVF_PROC));
		TRY(proc_from_pb(m->proc, argv_max, arena, &ev->proc));
	} else {
		ev->have &= ~(uint32_t)DE_EVF_PROC;
	}
	return 0;
}

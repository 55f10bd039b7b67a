/* ipc_sample.h: sample events of every type and an exact comparison, for
 * the IPC tests (test_ipcmsg.c, test_ipcsock.c). Header-only on purpose:
 * test helpers, not a library module. */
#ifndef DE_TEST_IPC_SAMPLE_H
#define DE_TEST_IPC_SAMPLE_H

#include <string.h>

#include "event.h"
#include "hash.h"

/* Storage for one sample event's detail record. */
struct sample {
	struct de_event ev;
	struct de_proc proc;
};

static const char sample_argv[] = "/bin/sh\0-c\0echo \x1b[31mred\n\xff\xfe bad utf8\0";

static inline void sample_event(struct sample *s, enum de_event_type type, uint64_t seq)
{
	memset(s, 0, sizeof(*s));
	struct de_event *e = &s->ev;
	e->type = type;
	e->source = DE_EVSRC_EBPF;
	e->seq = seq;
	e->time_ns = 1700000000123456789LL + (int64_t)seq;
	e->pid = 4242 + (int32_t)type;
	e->tid = e->pid + 1;
	e->ppid = 1;
	e->start_ticks = 123456;
	for (int i = 0; i < DE_ENTITY_ID_LEN; i++) {
		e->entity_id[i] = (uint8_t)(i + type);
		e->parent_entity_id[i] = (uint8_t)(0xf0 - i);
	}
	strcpy(e->comm, "sh\n\x1b[0m\xff");
	e->have = DE_EVF_CREDS | DE_EVF_PARENT | DE_EVF_CGROUP;
	for (int i = 0; i < 4; i++) {
		e->uid[i] = 1000u + (uint32_t)i;
		e->gid[i] = 2000u + (uint32_t)i;
	}
	e->cgroup_id = 0x1234;
	e->cgroup = "/system.slice/docker-abc.scope";
	e->container_id = "abc";
	switch (type) {
	case DE_EV_EXEC:
		e->have |= DE_EVF_ARGV | DE_EVF_FILENAME | DE_EVF_EXE | DE_EVF_EXE_ID |
			   DE_EVF_HASH | DE_EVF_LOGINUID;
		e->filename = "/tmp/evil\nname";
		e->argv = sample_argv;
		e->argv_len = sizeof(sample_argv) - 1;
		e->argc = 3;
		e->exe = "/usr/bin/dash";
		e->exe_deleted = true;
		e->exe_dev = 0x803;
		e->exe_ino = 99;
		e->loginuid = DE_AUDIT_UNSET;
		e->sessionid = 7;
		e->hashes.algos = DE_HASH_ALL;
		memset(e->hashes.sha256, 0xaa, DE_HASH_LEN);
		memset(e->hashes.blake3, 0xbb, DE_HASH_LEN);
		break;
	case DE_EV_FORK:
		break;
	case DE_EV_EXIT:
		e->have |= DE_EVF_EXIT;
		e->exit_code = 3;
		e->exit_signal = 0;
		e->hash_note = "deferred";
		break;
	case DE_EV_SNAPSHOT: {
		struct de_proc *p = &s->proc;
		e->have |= DE_EVF_PROC;
		e->proc = p;
		p->pid = e->pid;
		p->ppid = 1;
		p->pgid = 3;
		p->sid = 4;
		p->tty_nr = 34816;
		p->state = 'S';
		strcpy(p->comm, "bash");
		memcpy(p->entity_id, e->entity_id, DE_ENTITY_ID_LEN);
		p->start_ticks = 99;
		p->start_time_ns = -5;
		p->nice = -20;
		p->priority = 39;
		p->threads = 2;
		p->rss_bytes = 1 << 20;
		for (int i = 0; i < 4; i++) {
			p->uid[i] = (uint32_t)i;
			p->gid[i] = (uint32_t)i + 10;
		}
		p->ngroups = 300;
		p->groups_truncated = true;
		for (unsigned i = 0; i < DE_PROC_MAX_GROUPS; i++)
			p->groups[i] = 5000 + i;
		p->cap_eff = 0x1ffffffffffULL;
		p->cap_bnd = ~0ULL;
		p->seccomp = 2;
		p->no_new_privs = true;
		p->user = "root";
		p->loginuid = 1000;
		p->sessionid = 3;
		p->io.rchar = 11;
		p->io.cancelled_write_bytes = 77;
		p->fd_count = 12;
		for (int i = 0; i < DE_NS__COUNT; i++)
			p->ns[i] = 4026531835u + (uint64_t)i;
		p->cgroup = "/user.slice";
		p->container_id = NULL;
		p->exe = "/usr/bin/bash";
		p->exe_file = (struct de_file_id){ 1, 2, 3, 4, -5 };
		p->cwd = "";
		p->root = "/";
		p->argv = sample_argv;
		p->argv_len = sizeof(sample_argv) - 1;
		p->argc = 3;
		p->env = "A=1\0SECRET=<redacted>\0";
		p->env_len = 21;
		p->envc = 2;
		p->hashes.algos = DE_HASH_SHA256;
		memset(p->hashes.sha256, 0x11, DE_HASH_LEN);
		p->err[DE_PF_IO] = -EACCES;
		p->err[DE_PF_ENVIRON] = DE_PF_NOT_REQUESTED;
		p->err[DE_PF_ROOT] = DE_PF_NOT_APPLICABLE;
		break;
	}
	case DE_EV_STATUS:
		e->have = 0; /* no creds: uid/gid are not carried */
		memset(e->uid, 0, sizeof(e->uid));
		memset(e->gid, 0, sizeof(e->gid));
		e->cgroup = NULL;
		e->container_id = NULL;
		e->source = DE_EVSRC_NETLINK;
		e->status = DE_ST_DROPS;
		e->detail = "ring buffer full; 3 execs lost";
		e->drops[DE_EV_EXEC] = 3;
		e->drops[DE_EV_EXIT] = 1;
		break;
	default:
		break;
	}
}

static inline void assert_str_same(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static inline void assert_bytes_same(const char *a, size_t alen, const char *b, size_t blen)
{
	assert_int_equal(alen, blen);
	assert_int_equal(a == NULL, b == NULL);
	if (alen)
		assert_memory_equal(a, b, alen);
}

static inline void assert_proc_same(const struct de_proc *a, const struct de_proc *b)
{
	/* every field but the pointers, then the pointed-to strings */
	struct de_proc x = *a, y = *b;
	const char **sx[] = { &x.user, &x.cgroup, &x.container_id, &x.container_runtime, &x.exe,
			      &x.cwd, &x.root, &x.argv, &x.env };
	const char **sy[] = { &y.user, &y.cgroup, &y.container_id, &y.container_runtime, &y.exe,
			      &y.cwd, &y.root, &y.argv, &y.env };
	for (size_t i = 0; i < sizeof(sx) / sizeof(sx[0]); i++) {
		if (i < 7)
			assert_str_same(*sx[i], *sy[i]);
		*sx[i] = *sy[i] = NULL;
	}
	assert_bytes_same(a->argv, a->argv_len, b->argv, b->argv_len);
	assert_bytes_same(a->env, a->env_len, b->env, b->env_len);
	/* groups beyond the ones carried are not sent */
	unsigned n = x.ngroups < DE_PROC_MAX_GROUPS ? x.ngroups : DE_PROC_MAX_GROUPS;
	memset(x.groups + n, 0, sizeof(x.groups) - n * sizeof(x.groups[0]));
	memset(y.groups + n, 0, sizeof(y.groups) - n * sizeof(y.groups[0]));
	assert_memory_equal(&x, &y, sizeof(x));
}

/* Exact equality of two events (the decoded one against the original). */
static inline void assert_event_same(const struct de_event *a, const struct de_event *b)
{
	struct de_event x = *a, y = *b;
	assert_str_same(a->filename, b->filename);
	assert_str_same(a->exe, b->exe);
	assert_str_same(a->cgroup, b->cgroup);
	assert_str_same(a->container_id, b->container_id);
	assert_str_same(a->hash_note, b->hash_note);
	assert_str_same(a->detail, b->detail);
	assert_bytes_same(a->argv, a->argv_len, b->argv, b->argv_len);
	assert_int_equal(a->proc == NULL, b->proc == NULL);
	if (a->proc)
		assert_proc_same(a->proc, b->proc);
	x.filename = x.exe = x.cgroup = x.container_id = x.hash_note = x.detail = x.argv = NULL;
	y.filename = y.exe = y.cgroup = y.container_id = y.hash_note = y.detail = y.argv = NULL;
	x.proc = y.proc = NULL;
	assert_memory_equal(&x, &y, sizeof(x));
}

#endif

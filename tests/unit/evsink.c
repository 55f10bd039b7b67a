/* evsink.c: see evsink.h. */
#include "evsink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dup_bytes(const char *p, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

int de_test_sink_event(const struct de_event *ev, void *ud)
{
	struct sink *k = ud;
	if (ev->type == DE_EV_SNAPSHOT) {
		k->snapshots++;
		if (ev->pid == getpid() && ev->proc && ev->proc->pid == getpid() && ev->proc->argc > 0)
			k->snap_self = true;
		return 0;
	}
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 4096;
		struct rec *nr = realloc(k->r, k->cap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		k->r = nr;
	}
	struct rec *r = &k->r[k->n++];
	memset(r, 0, sizeof(*r));
	r->type = ev->type;
	r->have = ev->have;
	r->pid = ev->pid;
	r->tid = ev->tid;
	r->ppid = ev->ppid;
	memcpy(r->id, ev->entity_id, sizeof(r->id));
	memcpy(r->pid_id, ev->parent_entity_id, sizeof(r->pid_id));
	r->start_ticks = ev->start_ticks;
	memcpy(r->uid, ev->uid, sizeof(r->uid));
	memcpy(r->gid, ev->gid, sizeof(r->gid));
	r->loginuid = ev->loginuid;
	r->sessionid = ev->sessionid;
	r->cgroup_id = ev->cgroup_id;
	snprintf(r->comm, sizeof(r->comm), "%s", ev->comm);
	if (ev->have & DE_EVF_ARGV) {
		r->argv = dup_bytes(ev->argv, ev->argv_len);
		r->argv_len = ev->argv_len;
		r->argc = ev->argc;
		r->argv_truncated = ev->argv_truncated;
	}
	if (ev->have & DE_EVF_FILENAME)
		r->filename = strdup(ev->filename);
	r->exe_dev = ev->exe_dev;
	r->exe_ino = ev->exe_ino;
	r->have_exe_file = de_event_exe_file(ev, &r->exe_file);
	r->exit_code = ev->exit_code;
	r->exit_signal = ev->exit_signal;
	r->status = ev->status;
	memcpy(r->drops, ev->drops, sizeof(r->drops));
	return 0;
}

void de_test_sink_free(struct sink *k)
{
	for (size_t i = 0; i < k->n; i++) {
		free(k->r[i].argv);
		free(k->r[i].filename);
	}
	free(k->r);
	memset(k, 0, sizeof(*k));
}

const struct rec *de_test_find(const struct sink *k, enum de_event_type type, int32_t pid)
{
	for (size_t i = 0; i < k->n; i++)
		if (k->r[i].type == type && k->r[i].pid == pid)
			return &k->r[i];
	return NULL;
}


size_t de_test_count(const struct sink *k, enum de_event_type type, int32_t pid)
{
	size_t n = 0;
	for (size_t i = 0; i < k->n; i++)
		n += k->r[i].type == type && k->r[i].pid == pid;
	return n;
}


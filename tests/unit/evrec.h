/* evrec.h: test helper shared by the collector tests: a sink that keeps a
 * copy of the fields the tests check for every event it receives. */
#ifndef DE_TEST_EVREC_H
#define DE_TEST_EVREC_H

#include <stdlib.h>
#include <string.h>

#include "event.h"

struct evrec {
	enum de_event_type type;
	enum de_event_source source;
	enum de_status_kind status;
	uint32_t have;
	bool partial;
	uint64_t seq;
	int64_t time_ns;
	int32_t pid, ppid;
	uint32_t uid;
	int32_t exit_code, exit_signal;
	uint64_t start_ticks, drops0;
	uint8_t entity_id[DE_ENTITY_ID_LEN];
	char comm[DE_COMM_MAX];
	char argv[256];  /* NUL-separated args joined with ' ', cut */
	char detail[512];
};

struct evlog {
	struct evrec *v;
	size_t n, cap;
	int (*stop)(const struct evrec *r, void *ud); /* optional: negative stops */
	void *stop_ud;
};

static inline int evlog_sink(const struct de_event *ev, void *ud)
{
	struct evlog *l = ud;
	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 1024;
		struct evrec *nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	struct evrec *r = &l->v[l->n++];
	memset(r, 0, sizeof(*r));
	r->type = ev->type;
	r->source = ev->source;
	r->status = ev->status;
	r->have = ev->have;
	r->partial = ev->partial;
	r->seq = ev->seq;
	r->time_ns = ev->time_ns;
	r->pid = ev->pid;
	r->ppid = ev->ppid;
	r->uid = ev->have & DE_EVF_CREDS ? ev->uid[0] : UINT32_MAX;
	r->exit_code = ev->exit_code;
	r->exit_signal = ev->exit_signal;
	r->start_ticks = ev->start_ticks;
	memcpy(r->entity_id, ev->entity_id, sizeof(r->entity_id));
	r->drops0 = ev->drops[0];
	memcpy(r->comm, ev->comm, sizeof(r->comm));
	if (ev->have & DE_EVF_ARGV && ev->argv) {
		size_t n = ev->argv_len < sizeof(r->argv) - 1 ? ev->argv_len : sizeof(r->argv) - 1;
		memcpy(r->argv, ev->argv, n);
		for (size_t i = 0; i < n; i++)
			if (r->argv[i] == '\0')
				r->argv[i] = ' ';
	}
	if (ev->detail)
		snprintf(r->detail, sizeof(r->detail), "%s", ev->detail);
	return l->stop ? l->stop(r, l->stop_ud) : 0;
}

static inline void evlog_free(struct evlog *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Number of events of this type about pid. */
static inline size_t evlog_count(const struct evlog *l, enum de_event_type t, int32_t pid)
{
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].type == t && l->v[i].pid == pid)
			k++;
	return k;
}

/* Events about our child `pid` (parent `ppid`), from its fork event to its
 * exit event inclusive, as indexes [*from, *to]; pids are reused on a busy
 * machine, so counting by pid alone is not enough. Returns false when the
 * fork or the exit is missing. */
static inline bool evlog_span(const struct evlog *l, int32_t pid, int32_t ppid, size_t *from,
			      size_t *to)
{
	size_t i = 0;
	for (; i < l->n; i++)
		if (l->v[i].type == DE_EV_FORK && l->v[i].pid == pid && l->v[i].ppid == ppid)
			break;
	if (i == l->n)
		return false;
	*from = i;
	for (; i < l->n; i++)
		if (l->v[i].type == DE_EV_EXIT && l->v[i].pid == pid) {
			*to = i;
			return true;
		}
	return false;
}

/* Number of events of type t about pid within [from, to]. */
static inline size_t evlog_count_in(const struct evlog *l, enum de_event_type t, int32_t pid,
				    size_t from, size_t to)
{
	size_t k = 0;
	for (size_t i = from; i <= to && i < l->n; i++)
		if (l->v[i].type == t && l->v[i].pid == pid)
			k++;
	return k;
}

static inline const struct evrec *evlog_find(const struct evlog *l, enum de_event_type t, int32_t pid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].type == t && l->v[i].pid == pid)
			return &l->v[i];
	return NULL;
}

#endif

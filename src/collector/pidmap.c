/* pidmap.c: see pidmap.h. */
#include "pidmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t slot_of(int32_t pid, size_t cap)
{
	/* Fibonacci hashing: pids are dense and sequential. */
	return (size_t)(((uint64_t)(uint32_t)pid * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

void de_pidmap_init(struct de_pidmap *m)
{
	memset(m, 0, sizeof(*m));
}

void de_pidmap_free(struct de_pidmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

struct de_pidmap_ent *de_pidmap_get(struct de_pidmap *m, int32_t pid)
{
	if (!m->cap || pid <= 0)
		return NULL;
	for (size_t i = slot_of(pid, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].pid == pid)
			return &m->slots[i];
		if (m->slots[i].pid == 0)
			return NULL;
	}
}

static int grow(struct de_pidmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 1024;
	struct de_pidmap_ent *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].pid)
			continue;
		size_t j = slot_of(m->slots[i].pid, ncap);
		while (ns[j].pid)
			j = (j + 1) & (ncap - 1);
		ns[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

struct de_pidmap_ent *de_pidmap_put(struct de_pidmap *m, int32_t pid)
{
	if (pid <= 0) {
		errno = EINVAL;
		return NULL;
	}
	struct de_pidmap_ent *e = de_pidmap_get(m, pid);
	if (e)
		return e;
	if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0) { /* load <= 3/4 */
		errno = ENOMEM;
		return NULL;
	}
	size_t i = slot_of(pid, m->cap);
	while (m->slots[i].pid)
		i = (i + 1) & (m->cap - 1);
	memset(&m->slots[i], 0, sizeof(m->slots[i]));
	m->slots[i].pid = pid;
	m->slots[i].uid = UINT32_MAX;
	m->count++;
	return &m->slots[i];
}

void de_pidmap_del(struct de_pidmap *m, int32_t pid)
{
	struct de_pidmap_ent *e = de_pidmap_get(m, pid);
	if (!e)
		return;
	size_t mask = m->cap - 1, i = (size_t)(e - m->slots);
	m->slots[i].pid = 0;
	m->count--;
	/* Backward shift: move later entries of the run into the hole when
	 * their home slot does not lie between the hole and them. */
	for (size_t j = (i + 1) & mask; m->slots[j].pid; j = (j + 1) & mask) {
		size_t home = slot_of(m->slots[j].pid, m->cap);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			m->slots[j].pid = 0;
			i = j;
		}
	}
}

/* proctable.c: the live process table (see proctable.h for the model).
 *
 * Storage: records are fixed-size structs, one malloc each; images are one
 * malloc each (header + strings), shared by reference count between a
 * process and the children it forked before they exec. Two chained hash
 * tables with intrusive links: entity id -> record (every retained record)
 * and pid -> record (live records only). Bucket positions are salted with
 * a random seed. Both grow by doubling at load factor 2 (half a bucket
 * array's memory for chains 1.5 long on average, against 1.25 at load
 * factor 1) and never shrink.
 *
 * Exited records sit on one of two FIFO lists, oldest first: `evictable`
 * (no retained children) and `pinned` (children retained). Eviction takes
 * the oldest evictable record, then, only if none is left, the oldest
 * pinned one. Every record counts its retained children (`kids`, through
 * the DE_PT_F_KID_COUNTED flag on the child), so moving between the lists
 * is O(1).
 */
#include "proctable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "macros.h"

#define DEFAULT_SIZE 1024u

/* 152 bytes is a 160-byte malloc chunk: a byte more costs 16 per record. */
_Static_assert(sizeof(struct de_pt_proc) <= 152, "struct de_pt_proc outgrew its malloc chunk");


struct de_proctable {
	struct de_pt_opts o;
	uint64_t seed;
	struct de_pt_proc **id_b, **pid_b;
	uint32_t id_mask, pid_mask;
	uint64_t n_ids, n_live;
	struct de_age_list evictable, pinned;
	uint32_t gen;
	bool in_resync;
	struct de_pt_stats st;
	struct de_pt_images ims; /* counts into st.bytes */
};

static const uint8_t zero_id[DE_ENTITY_ID_LEN];

/* --- images ------------------------------------------------------------ */

/* Slot of ordinal i among n images, or -1 when not retained: the first
 * DE_PT_IMG_FIRST in order, then the last DE_PT_IMG_LAST in a ring. */
static int image_slot(uint32_t i, uint32_t n)
{
	if (i >= n)
		return -1;
	if (i < DE_PT_IMG_FIRST)
		return (int)i;
	if (n - i > DE_PT_IMG_LAST)
		return -1;
	return DE_PT_IMG_FIRST + (int)((i - DE_PT_IMG_FIRST) % DE_PT_IMG_LAST);
}

const struct de_pt_image *de_pt_image_at(const struct de_pt_proc *p, uint32_t i)
{
	int s = image_slot(i, p->n_images);
	return s < 0 ? NULL : p->img[s];
}

const struct de_pt_image *de_pt_current_image(const struct de_pt_proc *p)
{
	if (p->n_images)
		return de_pt_image_at(p, p->n_images - 1);
	return (p->flags & DE_PT_F_FORK_IMG) ? p->img[0] : NULL;
}

/* Append an image (takes the reference). The one it displaces from the
 * ring, if any, is released and counted as dropped. */
static void push_image(struct de_proctable *pt, struct de_pt_proc *p, struct de_pt_image *im)
{
	uint32_t i = p->n_images;
	int s = image_slot(i, i + 1);
	if (p->flags & DE_PT_F_FORK_IMG) {
		/* From now on it runs its own image (the first, in slot 0). */
		de_pt_image_unref(p->img[0], &pt->ims);
		p->img[0] = NULL;
		p->flags &= (uint16_t)~DE_PT_F_FORK_IMG;
	}
	if (p->img[s]) {
		de_pt_image_unref(p->img[s], &pt->ims);
		pt->st.images_dropped++;
	}
	p->img[s] = im;
	p->n_images++;
	pt->st.images++;
}

/* --- hash tables ------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 31);
}

static uint32_t id_bucket(const struct de_proctable *pt, const uint8_t *id)
{
	uint64_t a, b;
	memcpy(&a, id, 8);
	memcpy(&b, id + 8, 8);
	return (uint32_t)mix(mix(pt->seed, a), b) & pt->id_mask;
}

static uint32_t pid_bucket(const struct de_proctable *pt, int32_t pid)
{
	return (uint32_t)mix(pt->seed, (uint32_t)pid) & pt->pid_mask;
}

static struct de_pt_proc *find(const struct de_proctable *pt, const uint8_t *id)
{
	for (struct de_pt_proc *p = pt->id_b[id_bucket(pt, id)]; p; p = p->id_next)
		if (memcmp(p->entity_id, id, DE_ENTITY_ID_LEN) == 0)
			return p;
	return NULL;
}

static struct de_pt_proc *find_pid(const struct de_proctable *pt, int32_t pid)
{
	for (struct de_pt_proc *p = pt->pid_b[pid_bucket(pt, pid)]; p; p = p->pid_next)
		if (p->pid == pid)
			return p;
	return NULL;
}

/* Double a table (id or pid) past two records per bucket. Failure keeps
 * the old one, which still works, just with longer chains. */
static void grow(struct de_proctable *pt, bool ids)
{
	uint32_t *mask = ids ? &pt->id_mask : &pt->pid_mask;
	struct de_pt_proc ***b = ids ? &pt->id_b : &pt->pid_b;
	uint64_t n = ids ? pt->n_ids : pt->n_live;
	if (n <= 2 * ((uint64_t)*mask + 1) || *mask >= (1u << 30))
		return;
	uint32_t old = *mask + 1, nb = old * 2;
	struct de_pt_proc **nt = calloc(nb, sizeof(*nt));
	if (!nt)
		return;
	struct de_pt_proc **ot = *b;
	*b = nt;
	*mask = nb - 1;
	for (uint32_t i = 0; i < old; i++) {
		struct de_pt_proc *p = ot[i], *next;
		for (; p; p = next) {
			struct de_pt_proc **head;
			if (ids) {
				next = p->id_next;
				head = &nt[id_bucket(pt, p->entity_id)];
				p->id_next = *head;
			} else {
				next = p->pid_next;
				head = &nt[pid_bucket(pt, p->pid)];
				p->pid_next = *head;
			}
			*head = p;
		}
	}
	free(ot);
	pt->st.bytes += (uint64_t)(nb - old) * sizeof(*nt);
}

static void id_link(struct de_proctable *pt, struct de_pt_proc *p)
{
	struct de_pt_proc **head = &pt->id_b[id_bucket(pt, p->entity_id)];
	p->id_next = *head;
	*head = p;
	pt->n_ids++;
	grow(pt, true);
}

static void id_unlink(struct de_proctable *pt, struct de_pt_proc *p)
{
	struct de_pt_proc **pp = &pt->id_b[id_bucket(pt, p->entity_id)];
	while (*pp && *pp != p)
		pp = &(*pp)->id_next;
	if (*pp) {
		*pp = p->id_next;
		pt->n_ids--;
	}
}

static void pid_link(struct de_proctable *pt, struct de_pt_proc *p)
{
	struct de_pt_proc **head = &pt->pid_b[pid_bucket(pt, p->pid)];
	p->pid_next = *head;
	*head = p;
	pt->n_live++;
	grow(pt, false);
}

static void pid_unlink(struct de_proctable *pt, struct de_pt_proc *p)
{
	struct de_pt_proc **pp = &pt->pid_b[pid_bucket(pt, p->pid)];
	while (*pp && *pp != p)
		pp = &(*pp)->pid_next;
	if (*pp) {
		*pp = p->pid_next;
		pt->n_live--;
	}
}

/* --- exited lists ------------------------------------------------------ */

static void list_unlink(struct de_age_list *l, struct de_pt_proc *p)
{
	de_age_unlink(l, &p->age);
}

static void list_push_newest(struct de_age_list *l, struct de_pt_proc *p)
{
	de_age_push_newest(l, &p->age);
}

static void list_push_oldest(struct de_age_list *l, struct de_pt_proc *p)
{
	de_age_push_oldest(l, &p->age);
}

static struct de_age_list *exited_list(struct de_proctable *pt, struct de_pt_proc *p)
{
	return (p->flags & DE_PT_F_PINNED) ? &pt->pinned : &pt->evictable;
}

/* A record gained a retained child: pin it if it has exited. */
static void kid_added(struct de_proctable *pt, struct de_pt_proc *parent)
{
	if (parent->kids++ == 0 && !(parent->flags & DE_PT_F_LIVE)) {
		list_unlink(&pt->evictable, parent);
		parent->flags |= DE_PT_F_PINNED;
		list_push_newest(&pt->pinned, parent);
	}
}

/* A record lost its last retained child: an exited one becomes evictable,
 * at the oldest end. */
static void kid_removed(struct de_proctable *pt, struct de_pt_proc *parent)
{
	if (parent->kids == 0 || --parent->kids > 0 || (parent->flags & DE_PT_F_LIVE))
		return;
	list_unlink(&pt->pinned, parent);
	parent->flags &= (uint16_t)~DE_PT_F_PINNED;
	list_push_oldest(&pt->evictable, parent);
}

/* Link p to its parent's kids count once both are known and retained. */
static void count_kid(struct de_proctable *pt, struct de_pt_proc *p)
{
	if ((p->flags & (DE_PT_F_KID_COUNTED | DE_PT_F_PARENT)) != DE_PT_F_PARENT)
		return;
	struct de_pt_proc *parent = find(pt, p->parent_id);
	if (!parent || parent == p)
		return;
	p->flags |= DE_PT_F_KID_COUNTED;
	kid_added(pt, parent);
}

static void evict(struct de_proctable *pt, struct de_pt_proc *p)
{
	bool pinned = p->flags & DE_PT_F_PINNED;
	list_unlink(exited_list(pt, p), p);
	id_unlink(pt, p);
	pt->st.evicted++;
	if (pinned)
		pt->st.evicted_pinned++;
	if (p->flags & DE_PT_F_KID_COUNTED) {
		struct de_pt_proc *parent = find(pt, p->parent_id);
		if (parent)
			kid_removed(pt, parent);
	}
	for (int s = 0; s < DE_PT_IMG_SLOTS; s++)
		de_pt_image_unref(p->img[s], &pt->ims);
	pt->st.bytes -= sizeof(*p);
	free(p);
}

static void enforce_bound(struct de_proctable *pt)
{
	while (pt->evictable.n + pt->pinned.n > pt->o.max_exited) {
		struct de_pt_proc *victim =
			de_age_entry(pt->evictable.oldest ? pt->evictable.oldest : pt->pinned.oldest,
				     struct de_pt_proc, age);
		evict(pt, victim);
	}
}

/* --- records ----------------------------------------------------------- */

/* Close a record: exited at time_ns, with the event's exit status when ev
 * carries one, else as "exit missed". Enforces the bound, which may evict
 * p itself (max_exited 0): callers must not use p afterwards. */
static void close_record(struct de_proctable *pt, struct de_pt_proc *p, int64_t time_ns,
			 const struct de_event *ev)
{
	if (p->flags & DE_PT_F_LIVE) {
		pid_unlink(pt, p);
		p->flags &= (uint16_t)~DE_PT_F_LIVE;
		if (p->kids > 0) {
			p->flags |= DE_PT_F_PINNED;
			list_push_newest(&pt->pinned, p);
		} else {
			list_push_newest(&pt->evictable, p);
		}
	}
	p->exit_time_ns = time_ns;
	if (ev) {
		p->flags |= DE_PT_F_EXIT_EVENT;
		p->flags &= (uint16_t)~DE_PT_F_EXIT_MISSED;
		if (ev->have & DE_EVF_EXIT) {
			p->exit_code = ev->exit_code;
			p->exit_signal = (uint8_t)(ev->exit_signal > 0 && ev->exit_signal < 256 ? ev->exit_signal : 0);
			p->flags |= DE_PT_F_EXIT_KNOWN;
		}
	} else {
		p->flags |= DE_PT_F_EXIT_MISSED;
		pt->st.exits_missed++;
	}
	enforce_bound(pt);
}

/* Fill identity, parent and comm from an event into a record. */
static void take_fields(struct de_proctable *pt, struct de_pt_proc *p, const struct de_event *ev)
{
	if (ev->comm[0]) {
		size_t n = strnlen(ev->comm, DE_MIN(sizeof(ev->comm), sizeof(p->comm) - 1));
		memcpy(p->comm, ev->comm, n);
		p->comm[n] = '\0';
	}
	if (ev->have & DE_EVF_CREDS)
		p->uid = ev->uid[0];
	if ((ev->have & DE_EVF_PARENT) && !(p->flags & DE_PT_F_PARENT) &&
	    memcmp(ev->parent_entity_id, zero_id, DE_ENTITY_ID_LEN) != 0) {
		memcpy(p->parent_id, ev->parent_entity_id, DE_ENTITY_ID_LEN);
		p->ppid = ev->ppid;
		p->flags |= DE_PT_F_PARENT;
		count_kid(pt, p);
	} else if ((ev->have & DE_EVF_PARENT) && !(p->flags & DE_PT_F_PARENT)) {
		p->ppid = ev->ppid; /* no parent process (pid 1, kthreadd) */
	}
}

/* Retained children of a new record that arrived before it (out of
 * order) cannot be found without a scan; they stay uncounted, which only
 * makes the new record evictable earlier. */
static struct de_pt_proc *new_record(struct de_proctable *pt, const struct de_event *ev,
				     uint16_t flags)
{
	struct de_pt_proc *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	pt->st.bytes += sizeof(*p);
	memcpy(p->entity_id, ev->entity_id, DE_ENTITY_ID_LEN);
	p->pid = ev->pid;
	p->start_ticks = ev->start_ticks;
	p->start_time_ns = ev->time_ns;
	p->uid = DE_AUDIT_UNSET;
	p->flags = flags;
	p->seen_gen = pt->gen;
	id_link(pt, p);

	/* The pid index: a live record on this pid is another instance. The
	 * newer start time owns the pid; the older one must have exited. */
	struct de_pt_proc *cur = find_pid(pt, ev->pid);
	if (cur && cur->start_ticks <= ev->start_ticks) {
		close_record(pt, cur, ev->time_ns, NULL);
		pt->st.pid_reuse_closures++;
		cur = NULL;
	}
	take_fields(pt, p, ev);
	if (!cur) {
		p->flags |= DE_PT_F_LIVE;
		pid_link(pt, p);
	} else {
		/* An event for an older instance arriving after the newer one:
		 * it is dead already. */
		list_push_newest(&pt->evictable, p);
		p->flags |= DE_PT_F_EXIT_MISSED;
		p->exit_time_ns = ev->time_ns;
		pt->st.exits_missed++;
	}
	return p;
}

static int apply_fork(struct de_proctable *pt, const struct de_event *ev)
{
	struct de_pt_proc *p = find(pt, ev->entity_id);
	if (p && (p->flags & DE_PT_F_FORK_SEEN)) {
		pt->st.duplicates++;
		return 0;
	}
	if (p) {
		/* Its exec (or exit) came first: complete the record. */
		p->flags |= DE_PT_F_FORK_SEEN;
		p->start_time_ns = ev->time_ns;
		take_fields(pt, p, ev);
		p->seen_gen = pt->gen;
		return 0;
	}
	p = new_record(pt, ev, DE_PT_F_FORK_SEEN);
	if (!p)
		return -ENOMEM;
	if (p->flags & DE_PT_F_PARENT) {
		struct de_pt_proc *parent = find(pt, p->parent_id);
		const struct de_pt_image *im = parent ? de_pt_current_image(parent) : NULL;
		if (im && !p->n_images) {
			p->img[0] = de_pt_image_ref((struct de_pt_image *)im);
			p->flags |= DE_PT_F_FORK_IMG;
		}
	}
	if (!(p->flags & DE_PT_F_LIVE))
		enforce_bound(pt);
	return 0;
}

static int apply_exec(struct de_proctable *pt, const struct de_event *ev)
{
	struct de_pt_image *im = de_pt_image_new(ev, &pt->ims);
	if (!im)
		return -ENOMEM;
	struct de_pt_proc *p = find(pt, ev->entity_id);
	if (p) {
		const struct de_pt_image *last = de_pt_image_at(p, p->n_images - 1);
		if (p->n_images && de_pt_image_same(last, im)) {
			de_pt_image_unref(im, &pt->ims);
			pt->st.duplicates++;
			return 0;
		}
		take_fields(pt, p, ev);
		p->seen_gen = pt->gen;
	} else {
		p = new_record(pt, ev, DE_PT_F_SYNTH);
		if (!p) {
			de_pt_image_unref(im, &pt->ims);
			return -ENOMEM;
		}
		pt->st.synthesized++;
	}
	push_image(pt, p, im);
	if (!(p->flags & DE_PT_F_LIVE))
		enforce_bound(pt);
	return 0;
}

static int apply_exit(struct de_proctable *pt, const struct de_event *ev)
{
	struct de_pt_proc *p = find(pt, ev->entity_id);
	if (p && (p->flags & DE_PT_F_EXIT_EVENT)) {
		pt->st.duplicates++;
		return 0;
	}
	if (p && !(p->flags & DE_PT_F_LIVE)) {
		/* Closed as missed (pid reuse, resync): the real exit, late. */
		pt->st.late_exits++;
		close_record(pt, p, ev->time_ns, ev);
		return 0;
	}
	if (!p) {
		p = new_record(pt, ev, DE_PT_F_SYNTH);
		if (!p)
			return -ENOMEM;
		pt->st.synthesized++;
		if (!(p->flags & DE_PT_F_LIVE)) {
			/* An older instance: already closed as missed by new_record. */
			pt->st.exits_missed--;
			p->flags &= (uint16_t)~DE_PT_F_EXIT_MISSED;
		}
	}
	take_fields(pt, p, ev);
	close_record(pt, p, ev->time_ns, ev);
	return 0;
}

static int apply_snapshot(struct de_proctable *pt, const struct de_event *ev)
{
	struct de_pt_proc *p = find(pt, ev->entity_id);
	if (p && !(p->flags & DE_PT_F_LIVE)) {
		pt->st.stale++;
		return 0;
	}
	struct de_pt_image *im = de_pt_image_new(ev, &pt->ims);
	if (!im)
		return -ENOMEM;
	if (!p) {
		p = new_record(pt, ev, DE_PT_F_SNAPSHOT);
		if (!p) {
			de_pt_image_unref(im, &pt->ims);
			return -ENOMEM;
		}
		if (pt->in_resync)
			pt->st.resync_added++;
		push_image(pt, p, im);
		if (!(p->flags & DE_PT_F_LIVE))
			enforce_bound(pt);
		return 0;
	}
	take_fields(pt, p, ev);
	p->seen_gen = pt->gen;
	/* A snapshot image that differs from what we know means an exec was
	 * missed: record it. Same binary: nothing to add. */
	const struct de_pt_image *cur = de_pt_current_image(p);
	bool known = cur && (cur->flags & DE_PT_IMG_HAVE_EXE_ID) &&
		     (im->flags & DE_PT_IMG_HAVE_EXE_ID);
	if (!cur || (known && (cur->exe_dev != im->exe_dev || cur->exe_ino != im->exe_ino)))
		push_image(pt, p, im);
	else
		de_pt_image_unref(im, &pt->ims);
	return 0;
}

int de_pt_apply(struct de_proctable *pt, const struct de_event *ev)
{
	int r;
	if (ev->type >= DE_EV_EXEC && ev->type <= DE_EV_SNAPSHOT &&
	    (ev->pid <= 0 || memcmp(ev->entity_id, zero_id, DE_ENTITY_ID_LEN) == 0))
		return -EINVAL;
	switch (ev->type) {
	case DE_EV_FORK: r = apply_fork(pt, ev); break;
	case DE_EV_EXEC: r = apply_exec(pt, ev); break;
	case DE_EV_EXIT: r = apply_exit(pt, ev); break;
	case DE_EV_SNAPSHOT: r = apply_snapshot(pt, ev); break;
	default: return 0;
	}
	if (r == 0)
		pt->st.events++;
	return r;
}

void de_pt_resync_begin(struct de_proctable *pt)
{
	pt->gen++;
	pt->in_resync = true;
}

void de_pt_resync_abort(struct de_proctable *pt)
{
	pt->in_resync = false;
	pt->st.resyncs++;
}

uint32_t de_pt_resync_end(struct de_proctable *pt, int64_t now_ns)
{
	uint32_t closed = 0;
	/* Closing unlinks from the pid index only (never resizes it), so a
	 * saved next pointer keeps the walk valid. */
	for (uint32_t b = 0; b <= pt->pid_mask; b++) {
		struct de_pt_proc *p = pt->pid_b[b], *next;
		for (; p; p = next) {
			next = p->pid_next;
			if (p->seen_gen != pt->gen) {
				close_record(pt, p, now_ns, NULL);
				closed++;
			}
		}
	}
	pt->in_resync = false;
	pt->st.resyncs++;
	pt->st.resync_closed += closed;
	return closed;
}

/* --- queries ----------------------------------------------------------- */

const struct de_pt_proc *de_pt_find(const struct de_proctable *pt,
				    const uint8_t id[DE_ENTITY_ID_LEN])
{
	return find(pt, id);
}

const struct de_pt_proc *de_pt_find_pid(const struct de_proctable *pt, int32_t pid)
{
	return find_pid(pt, pid);
}

/* Bounded by max (and DE_PT_MAX_DEPTH is what callers pass); a cycle is
 * caught by comparing each parent with the chain so far, O(depth^2) on a
 * chain of at most max entries. */
int de_pt_ancestry(const struct de_proctable *pt, const uint8_t id[DE_ENTITY_ID_LEN],
		   const struct de_pt_proc **out, size_t max, enum de_pt_anc_end *end)
{
	const struct de_pt_proc *p = find(pt, id);
	if (!p)
		return -ENOENT;
	size_t n = 0;
	enum de_pt_anc_end why = DE_PT_ANC_ROOT;
	for (;;) {
		if (!(p->flags & DE_PT_F_PARENT)) {
			why = DE_PT_ANC_ROOT;
			break;
		}
		const struct de_pt_proc *parent = find(pt, p->parent_id);
		if (!parent) {
			why = DE_PT_ANC_MISSING;
			break;
		}
		bool cycle = memcmp(parent->entity_id, id, DE_ENTITY_ID_LEN) == 0;
		for (size_t i = 0; i < n && !cycle; i++)
			cycle = out[i] == parent;
		if (cycle) {
			why = DE_PT_ANC_CYCLE;
			break;
		}
		if (n == max) {
			why = DE_PT_ANC_DEPTH;
			break;
		}
		out[n++] = parent;
		p = parent;
	}
	if (end)
		*end = why;
	return (int)n;
}

static struct de_pt_image *image_for(struct de_proctable *pt, const uint8_t *id, uint32_t ordinal)
{
	struct de_pt_proc *p = find(pt, id);
	if (!p)
		return NULL;
	int s = image_slot(ordinal, p->n_images);
	return s < 0 ? NULL : p->img[s];
}

int de_pt_set_hashes(struct de_proctable *pt, const uint8_t id[DE_ENTITY_ID_LEN],
		     uint32_t ordinal, uint64_t exe_dev, uint64_t exe_ino, int err,
		     const struct de_hashes *h)
{
	struct de_pt_image *im = image_for(pt, id, ordinal);
	if (!im)
		return -ENOENT;
	if ((im->flags & DE_PT_IMG_HAVE_EXE_ID) &&
	    (im->exe_dev != exe_dev || im->exe_ino != exe_ino))
		return -ESTALE;
	if (err == 0)
		return de_pt_image_set_hashes(&pt->ims, im, h);
	de_pt_image_set_failed(&pt->ims, im, err);
	return 0;
}

int de_pt_set_hash_state(struct de_proctable *pt, const uint8_t id[DE_ENTITY_ID_LEN],
			 uint32_t ordinal, enum de_pt_hash_state state)
{
	struct de_pt_image *im = image_for(pt, id, ordinal);
	if (!im)
		return -ENOENT;
	if (im->hash_state != DE_PT_HASH_KNOWN)
		im->hash_state = (uint8_t)state;
	return 0;
}

int de_pt_foreach_live(const struct de_proctable *pt,
		       int (*fn)(const struct de_pt_proc *p, void *ud), void *ud)
{
	for (uint32_t b = 0; b <= pt->pid_mask; b++)
		for (const struct de_pt_proc *p = pt->pid_b[b]; p; p = p->pid_next) {
			int r = fn(p, ud);
			if (r)
				return r;
		}
	return 0;
}

static int by_pid(const void *a, const void *b)
{
	const struct de_pt_proc *x = *(const struct de_pt_proc *const *)a;
	const struct de_pt_proc *y = *(const struct de_pt_proc *const *)b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

int de_pt_live_sorted(const struct de_proctable *pt, const struct de_pt_proc ***out, size_t *n)
{
	const struct de_pt_proc **v = malloc((pt->n_live ? pt->n_live : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t k = 0;
	for (uint32_t b = 0; b <= pt->pid_mask; b++)
		for (const struct de_pt_proc *p = pt->pid_b[b]; p; p = p->pid_next)
			v[k++] = p;
	qsort(v, k, sizeof(*v), by_pid);
	*out = v;
	*n = k;
	return 0;
}

void de_pt_stats(const struct de_proctable *pt, struct de_pt_stats *st)
{
	*st = pt->st;
	st->live = pt->n_live;
	st->exited = pt->evictable.n + pt->pinned.n;
	st->pinned = pt->pinned.n;
}

/* --- lifetime ---------------------------------------------------------- */

static uint64_t random_seed(const void *salt)
{
	uint64_t seed;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
		return seed;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)(uintptr_t)salt ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
}

struct de_proctable *de_pt_new(const struct de_pt_opts *o)
{
	_cleanup_free_ struct de_proctable *pt = calloc(1, sizeof(*pt));
	if (!pt)
		return NULL;
	pt->o = *o;
	pt->seed = random_seed(pt);
	uint32_t nb = 64;
	uint32_t want = o->initial_size ? o->initial_size : DEFAULT_SIZE;
	while (nb < want && nb < (1u << 30))
		nb <<= 1;
	pt->id_b = calloc(nb, sizeof(*pt->id_b));
	pt->pid_b = calloc(nb, sizeof(*pt->pid_b));
	if (!pt->id_b || !pt->pid_b) {
		free(pt->id_b);
		free(pt->pid_b);
		errno = ENOMEM;
		return NULL;
	}
	pt->id_mask = pt->pid_mask = nb - 1;
	pt->st.bytes = sizeof(*pt) + 2ull * nb * sizeof(*pt->id_b);
	if (de_pt_images_init(&pt->ims, &pt->st.bytes) < 0) {
		free(pt->id_b);
		free(pt->pid_b);
		errno = ENOMEM;
		return NULL;
	}
	return TAKE_PTR(pt);
}

void de_pt_free(struct de_proctable *pt)
{
	if (!pt)
		return;
	for (uint32_t b = 0; b <= pt->id_mask; b++) {
		struct de_pt_proc *p = pt->id_b[b], *next;
		for (; p; p = next) {
			next = p->id_next;
			for (int s = 0; s < DE_PT_IMG_SLOTS; s++)
				de_pt_image_unref(p->img[s], &pt->ims);
			free(p);
		}
	}
	de_pt_images_free(&pt->ims);
	free(pt->id_b);
	free(pt->pid_b);
	free(pt);
}

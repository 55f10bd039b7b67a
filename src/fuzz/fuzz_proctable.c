/* fuzz_proctable.c: the process table under arbitrary event sequences.
 *
 * Every 8 input bytes are one operation on a small space of pids, start
 * times and parents (so pid reuse, cycles, duplicates and reordering are
 * frequent): fork, exec, exit, snapshot, resync begin/end, hash results.
 * After each operation the table's invariants are checked and a violation
 * aborts: the exited bound holds, the live count matches iteration and the
 * pid index, and every ancestry walk ends within its bound. Leaks show
 * under ASan (the fuzz build). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proctable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EXITED 8

static const uint8_t boot[16] = { 0xf0, 0x22 };

static void check(int ok)
{
	if (!ok)
		abort();
}

struct walk {
	const struct de_proctable *pt;
	uint64_t n;
};

static int visit(const struct de_pt_proc *p, void *ud)
{
	struct walk *w = ud;
	check(p->flags & DE_PT_F_LIVE);
	check(de_pt_find_pid(w->pt, p->pid) == p);
	check(de_pt_find(w->pt, p->entity_id) == p);
	const struct de_pt_proc *anc[DE_PT_MAX_DEPTH];
	enum de_pt_anc_end end;
	int n = de_pt_ancestry(w->pt, p->entity_id, anc, DE_PT_MAX_DEPTH, &end);
	check(n >= 0 && n <= DE_PT_MAX_DEPTH);
	const struct de_pt_image *im = de_pt_current_image(p);
	if (im && de_pt_image_argv(im))
		check(im->argv_len < 64);
	w->n++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct de_pt_opts o = { .max_exited = MAX_EXITED, .initial_size = 1 };
	struct de_proctable *pt = de_pt_new(&o);
	if (!pt)
		return 0;
	struct de_pt_stats st;
	static const char strs[] = "/bin/a\0-x\0/usr/bin/bbbbbbbbbbbb\0--long-option=value\0zz";

	for (size_t off = 0; off + 8 <= size; off += 8) {
		const uint8_t *b = data + off;
		struct de_event ev;
		memset(&ev, 0, sizeof(ev));
		int32_t pid = 1 + (b[1] & 15);
		uint64_t start = b[2] & 7;
		int32_t ppid = b[3] & 15;
		uint64_t pstart = (b[3] >> 4) & 7;
		ev.pid = ev.tid = pid;
		ev.start_ticks = start;
		ev.time_ns = b[7];
		de_entity_id(boot, pid, start, ev.entity_id);
		if (b[4] & 1) {
			ev.have |= DE_EVF_PARENT;
			ev.ppid = ppid;
			if (ppid)
				de_entity_id(boot, ppid, pstart, ev.parent_entity_id);
		}
		if (b[4] & 2) {
			ev.have |= DE_EVF_EXE | DE_EVF_EXE_ID;
			ev.exe = strs + (b[5] & 7);
			ev.exe_ino = b[5] >> 6;
		}
		if (b[4] & 4) {
			ev.have |= DE_EVF_ARGV;
			ev.argv = strs;
			ev.argv_len = b[6] % sizeof(strs);
		}
		if (b[4] & 8) {
			ev.have |= DE_EVF_FILENAME;
			ev.filename = strs + (b[6] & 15);
		}
		if (b[4] & 16) {
			ev.have |= DE_EVF_EXIT;
			ev.exit_code = b[6];
		}
		memcpy(ev.comm, "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz", 37);

		switch (b[0] % 9) {
		case 0: ev.type = DE_EV_FORK; break;
		case 1: case 2: ev.type = DE_EV_EXEC; break;
		case 3: ev.type = DE_EV_EXIT; break;
		case 4: ev.type = DE_EV_SNAPSHOT; break;
		case 5: de_pt_resync_begin(pt); continue;
		case 6: de_pt_resync_end(pt, b[7]); break;
		case 7: {
			struct de_hashes h = { .algos = DE_HASH_SHA256 };
			de_pt_set_hashes(pt, ev.entity_id, b[5] & 7, 0, b[5] >> 6, (b[6] & 1) ? -5 : 0,
					 &h);
			de_pt_set_hash_state(pt, ev.entity_id, b[6] & 7, DE_PT_HASH_DEFERRED);
			break;
		}
		default: ev.type = DE_EV_STATUS; break;
		}
		if (b[0] % 9 < 5 || b[0] % 9 == 8)
			check(de_pt_apply(pt, &ev) == 0);

		de_pt_stats(pt, &st);
		check(st.exited <= MAX_EXITED);
		check(st.pinned <= st.exited);
		struct walk w = { .pt = pt };
		de_pt_foreach_live(pt, visit, &w);
		check(w.n == st.live);
		check(st.live <= 16);
	}

	/* Close everything, then flood with exits: the bound still holds. */
	de_pt_resync_begin(pt);
	de_pt_resync_end(pt, 0);
	for (int i = 0; i < 2 * MAX_EXITED + 2; i++) {
		struct de_event ev = { .type = DE_EV_EXIT, .pid = 1000 + i, .start_ticks = 1 };
		de_entity_id(boot, ev.pid, 1, ev.entity_id);
		check(de_pt_apply(pt, &ev) == 0);
	}
	de_pt_stats(pt, &st);
	check(st.live == 0 && st.exited == MAX_EXITED);
	de_pt_free(pt);
	return 0;
}

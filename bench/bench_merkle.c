/* bench_merkle.c: the audit ledger's Merkle tree against its targets
 * (DESIGN.md section 6: >= 100,000 appends/s, inclusion proof at 10M
 * leaves <= 100 us, root of 1M leaves recomputed <= 2 s) and BLAKE3 against
 * SHA-256 per leaf and per node hash. A benchmark, not a test: it prints
 * numbers and whether each target is met, and removes the store it built.
 *
 * Usage: bench_merkle [-n LEAVES] [-d DIR] [-r RECORD_BYTES] [-s SYNC_EVERY]
 *   -n  leaves in the file-backed tree (default 10,000,000)
 *   -d  parent directory for the store (default $TMPDIR or /tmp)
 *   -r  record size hashed into each leaf (default 256)
 *   -s  also time 1M appends with a store sync (flush, fdatasync, SYNCED)
 *       every SYNC_EVERY appends, and every 100x that (default 1000;
 *       0 = skip). The ledger syncs its records per group commit and the
 *       store only at checkpoints (merkle_store.h).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macros.h"
#include "merkle.h"
#include "merkle_proof.h"
#include "merkle_store.h"

/* The machine is shared: wall time includes waiting for a core, so CPU
 * time (this process) is printed next to it for the throughput figures. */
static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static double cpu(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

/* xorshift64*: reproducible record bytes and proof indices. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void record(uint64_t i, uint8_t *buf, size_t len)
{
	uint64_t s = i * 0x9e3779b97f4a7c15ull + 1;
	for (size_t k = 0; k < len; k += 8) {
		uint64_t v = rnd(&s);
		memcpy(buf + k, &v, DE_MIN((size_t)8, len - k));
	}
}

static void die(const char *what, int r)
{
	fprintf(stderr, "bench_merkle: %s: %s\n", what, strerror(-r));
	exit(1);
}

static void hash_costs(size_t rec_len)
{
	static const unsigned algos[] = { DE_HASH_BLAKE3, DE_HASH_SHA256 };
	uint8_t rec[4096], a[DE_HASH_LEN] = { 1 }, b[DE_HASH_LEN] = { 2 };
	record(0, rec, sizeof(rec));
	const unsigned n = 1000000;
	printf("\n## hash cost (%u operations each)\n", n);
	printf("%-8s %16s %16s\n", "hash", "leaf ns", "node ns");
	for (size_t k = 0; k < DE_ARRAY_SIZE(algos); k++) {
		struct de_merkle_hasher h;
		int r = de_merkle_hasher_init(&h, algos[k]);
		if (r < 0)
			die("hasher", r);
		double t0 = cpu();
		for (unsigned i = 0; i < n; i++)
			de_merkle_leaf_hash(&h, rec, rec_len, a);
		double t1 = cpu();
		for (unsigned i = 0; i < n; i++)
			de_merkle_node_hash(&h, a, b, a);
		double t2 = cpu();
		printf("%-8s %16.1f %16.1f   (CPU time; leaf of %zu bytes)\n", h.name,
		       (t1 - t0) / n * 1e9, (t2 - t1) / n * 1e9, rec_len);
		de_merkle_hasher_done(&h);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Inclusion proofs for random leaves against `size`, timed one by one. */
static void proofs(struct de_merkle_tree *t, uint64_t size, const char *label)
{
	enum { N = 20000 };
	static double lat[N];
	uint64_t s = 42 + size;
	double c0 = cpu();
	struct de_merkle_proof p;
	uint8_t root[DE_HASH_LEN];
	int r = de_merkle_tree_root_at(t, size, root);
	if (r < 0)
		die("root_at", r);
	for (unsigned i = 0; i < N; i++) {
		uint64_t idx = rnd(&s) % size;
		double t0 = now();
		r = de_merkle_tree_inclusion(t, idx, size, &p);
		lat[i] = now() - t0;
		if (r < 0)
			die("inclusion", r);
		if (i % 1000 == 0) {
			/* Spot-check: the proof verifies (not timed). */
			uint8_t leaf[DE_HASH_LEN];
			if ((r = de_merkle_store_get(t->store, 0, idx, leaf)) < 0 ||
			    (r = de_merkle_verify_inclusion(&t->h, idx, size, leaf, &p, root)) < 0)
				die("proof does not verify", r);
		}
	}
	double cpu_us = (cpu() - c0) / N * 1e6;
	qsort(lat, N, sizeof(lat[0]), cmp_double);
	double sum = 0;
	for (unsigned i = 0; i < N; i++)
		sum += lat[i];
	printf("inclusion proof, %s (size %" PRIu64 ", %u elements): wall mean %.1f us, "
	       "median %.1f us, p99 %.1f us, max %.1f us; CPU %.1f us  -> target <= 100 us "
	       "(median): %s\n",
	       label, size, p.count, sum / N * 1e6, lat[N / 2] * 1e6, lat[N * 99 / 100] * 1e6,
	       lat[N - 1] * 1e6, cpu_us, lat[N / 2] * 1e6 <= 100 ? "met" : "NOT met");
}

static void verify_root(uint64_t n, size_t rec_len)
{
	static const unsigned algos[] = { DE_HASH_BLAKE3, DE_HASH_SHA256 };
	uint8_t *recs = malloc(n * rec_len);
	if (!recs)
		die("malloc", -ENOMEM);
	for (uint64_t i = 0; i < n; i++)
		record(i, recs + i * rec_len, rec_len);
	printf("\n## root of %" PRIu64 " leaves recomputed from %zu-byte records in memory\n", n,
	       rec_len);
	for (size_t k = 0; k < DE_ARRAY_SIZE(algos); k++) {
		struct de_merkle_hasher h;
		int r = de_merkle_hasher_init(&h, algos[k]);
		if (r < 0)
			die("hasher", r);
		struct de_merkle_frontier f;
		de_merkle_frontier_init(&f);
		uint8_t leaf[DE_HASH_LEN], root[DE_HASH_LEN];
		double t0 = now(), c0 = cpu();
		for (uint64_t i = 0; i < n; i++) {
			de_merkle_leaf_hash(&h, recs + i * rec_len, rec_len, leaf);
			de_merkle_frontier_append(&h, &f, leaf, NULL, NULL);
		}
		de_merkle_frontier_root(&h, &f, root);
		double dt = now() - t0, dc = cpu() - c0;
		printf("%-8s wall %.3f s, CPU %.3f s  -> target <= 2 s: %s\n", h.name, dt, dc,
		       dt <= 2 ? "met" : "NOT met");
		de_merkle_hasher_done(&h);
	}
	free(recs);
}

static void rm_store(const char *dir)
{
	char p[4200];
	for (unsigned l = 0; l < DE_MERKLE_MAX_LEVELS; l++) {
		snprintf(p, sizeof(p), "%s/level-%02u", dir, l);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/FORMAT", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/SYNCED", dir);
	unlink(p);
	rmdir(dir);
}

/* Appends of n records into a fresh BLAKE3 file store; sync_every > 0
 * adds a group commit every sync_every appends. Returns appends/s. */
static double appends(const char *dir, uint64_t n, size_t rec_len, unsigned sync_every,
		      struct de_merkle_store **keep, double *cpu_rate)
{
	rm_store(dir);
	struct de_merkle_store *s = de_merkle_store_file_open(dir, DE_HASH_BLAKE3, true);
	if (!s)
		die("open store", de_neg_errno());
	struct de_merkle_tree t;
	int r = de_merkle_tree_init(&t, s);
	if (r < 0)
		die("tree", r);
	uint8_t rec[4096];
	double t0 = now(), c0 = cpu();
	for (uint64_t i = 0; i < n; i++) {
		/* Vary the record cheaply: the hashing cost is what matters. */
		record(i & 1023, rec, rec_len);
		memcpy(rec, &i, sizeof(i));
		if ((r = de_merkle_tree_append(&t, rec, rec_len, NULL)) < 0)
			die("append", r);
		if (sync_every && (i + 1) % sync_every == 0 && (r = de_merkle_store_flush(s, true)) < 0)
			die("flush", r);
	}
	if ((r = de_merkle_store_flush(s, sync_every > 0)) < 0)
		die("flush", r);
	double dt = now() - t0;
	*cpu_rate = (double)n / (cpu() - c0);
	de_merkle_tree_done(&t);
	if (keep)
		*keep = s;
	else
		de_merkle_store_free(s);
	return (double)n / dt;
}

int main(int argc, char **argv)
{
	uint64_t n = 10000000;
	size_t rec_len = 256;
	unsigned sync_every = 1000;
	const char *parent = getenv("TMPDIR");
	if (!parent || !*parent)
		parent = "/tmp";
	int c;
	while ((c = getopt(argc, argv, "n:d:r:s:")) != -1) {
		switch (c) {
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 'd':
			parent = optarg;
			break;
		case 'r':
			rec_len = strtoul(optarg, NULL, 10);
			break;
		case 's':
			sync_every = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: bench_merkle [-n LEAVES] [-d DIR] [-r RECORD_BYTES] "
					"[-s SYNC_EVERY]\n");
			return 2;
		}
	}
	if (n < 2 || rec_len == 0 || rec_len > 4096) {
		fprintf(stderr, "bench_merkle: need -n >= 2 and 1 <= -r <= 4096\n");
		return 2;
	}
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/de-bench-merkle.%d", parent, (int)getpid());

	hash_costs(rec_len);

	printf("\n## appends into the file-backed store (BLAKE3, %zu-byte records)\n", rec_len);
	for (unsigned k = 0; sync_every && k < 2; k++) {
		uint64_t m = DE_MIN(n, (uint64_t)1000000);
		unsigned every = k ? 100 * sync_every : sync_every;
		double crate;
		double rate = appends(dir, m, rec_len, every, NULL, &crate);
		printf("%" PRIu64 " appends, store synced every %u: %.0f appends/s (per CPU "
		       "second: %.0f)\n",
		       m, every, rate, crate);
	}
	struct de_merkle_store *s = NULL;
	double crate;
	double rate = appends(dir, n, rec_len, 0, &s, &crate);
	printf("%" PRIu64 " appends, buffered (no fsync): %.0f appends/s (per CPU second: %.0f)"
	       "  -> target >= 100,000/s: %s\n",
	       n, rate, crate, rate >= 100000 ? "met" : "NOT met");

	printf("\n## inclusion proofs from the file-backed store (page cache warm)\n");
	struct de_merkle_tree t;
	int r = de_merkle_tree_init(&t, s);
	if (r < 0)
		die("tree", r);
	proofs(&t, n, "current size");
	proofs(&t, n - n / 3 - 1, "older size");
	de_merkle_tree_done(&t);
	de_merkle_store_free(s);
	rm_store(dir);

	verify_root(1000000, rec_len);
	return 0;
}

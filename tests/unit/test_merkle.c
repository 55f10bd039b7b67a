/* test_merkle.c: the Merkle tree (merkle, merkle_store, merkle_proof)
 * against the RFC 6962 / RFC 9162 test vectors in $DE_TESTDATA/rfc6962 and
 * against an independent recursive MTH, with both hashes:
 *  - every vector file: happy paths accepted, corrupted variants rejected;
 *  - the vectors' reference tree rebuilt from its leaf data: the same roots
 *    and byte-identical proofs generated from our store;
 *  - trees of every size 1..300: inclusion and consistency proofs for every
 *    (index, size) and (m, n) verify, are identical from the memory and the
 *    file store, and every single-bit flip of proof, root or leaf fails;
 *  - the file store across reopen and after simulated crash damage.
 * The proof JSON form is tested in test_merkle_json.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hash.h"
#include "macros.h"
#include "merkle.h"
#include "merkle_proof.h"
#include "merkle_store.h"
#include "testutil.h"

/* --- an independent reference: MTH by the RFC's recursive definition,
 * hashing with de_hash_mem (not the de_hash_ctx path merkle.c uses). */

static void ref_hash(unsigned algo, const uint8_t *msg, size_t n, uint8_t *out)
{
	struct de_hashes d;
	assert_int_equal(de_hash_mem(msg, n, algo, &d), 0);
	memcpy(out, algo == DE_HASH_SHA256 ? d.sha256 : d.blake3, DE_HASH_LEN);
}

static void ref_leaf(unsigned algo, const void *data, size_t n, uint8_t *out)
{
	uint8_t buf[256];
	assert_true(n < sizeof(buf));
	buf[0] = 0;
	memcpy(buf + 1, data, n);
	ref_hash(algo, buf, n + 1, out);
}

static void ref_mth(unsigned algo, const uint8_t (*leaves)[DE_HASH_LEN], size_t n, uint8_t *out)
{
	if (n == 0) {
		ref_hash(algo, NULL, 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves[0], DE_HASH_LEN);
		return;
	}
	size_t k = 1;
	while (2 * k < n)
		k *= 2;
	uint8_t buf[1 + 2 * DE_HASH_LEN];
	buf[0] = 1;
	ref_mth(algo, leaves, k, buf + 1);
	ref_mth(algo, leaves + k, n - k, buf + 1 + DE_HASH_LEN);
	ref_hash(algo, buf, sizeof(buf), out);
}

/* --- RFC 6962 vectors ------------------------------------------------------ */

struct vec_stats {
	unsigned files, accepted, rejected;
};

#define B64_MAX 128

/* The "proof" field: null or an array of base64 strings. */
static size_t read_proof(const char *json, const char *end, uint8_t (*buf)[B64_MAX],
			 struct de_merkle_span *spans, size_t cap)
{
	const char *v = tu_json_field(json, end, "proof");
	assert_non_null(v);
	if (strncmp(v, "null", 4) == 0)
		return 0;
	assert_true(*v == '[');
	size_t n = 0;
	const char *close = strchr(v, ']');
	assert_non_null(close);
	for (const char *q = strchr(v, '"'); q && q < close; q = strchr(q, '"')) {
		const char *e = strchr(q + 1, '"');
		assert_non_null(e);
		assert_true(n < cap);
		spans[n].len = tu_unbase64(q + 1, (size_t)(e - q - 1), buf[n], B64_MAX);
		spans[n].p = buf[n];
		n++;
		q = e + 1;
	}
	return n;
}

static struct de_merkle_span read_b64(const char *json, const char *end, const char *name,
				      uint8_t *buf)
{
	size_t len;
	const char *s = tu_json_str(json, end, name, &len);
	return (struct de_merkle_span){ buf, tu_unbase64(s, len, buf, B64_MAX) };
}

static void check_vector(const char *json, const char *end, const char *path, int r,
			 struct vec_stats *st)
{
	bool want_err = tu_json_bool(json, end, "wantErr");
	if (want_err && r == 0)
		fail_msg("%s: a corrupted proof was accepted", path);
	if (!want_err && r != 0)
		fail_msg("%s: a valid proof was rejected (%d)", path, r);
	st->files++;
	if (r == 0)
		st->accepted++;
	else
		st->rejected++;
}

static void inclusion_file(const char *path, void *arg)
{
	size_t len;
	_cleanup_free_ char *json = tu_slurp(path, &len);
	const char *end = json + len;
	static uint8_t pbuf[DE_MERKLE_MAX_PROOF + 8][B64_MAX];
	struct de_merkle_span proof[DE_MERKLE_MAX_PROOF + 8];
	uint8_t leaf[B64_MAX], root[B64_MAX];
	size_t n = read_proof(json, end, pbuf, proof, DE_ARRAY_SIZE(proof));
	struct de_merkle_hasher h;
	assert_int_equal(de_merkle_hasher_init(&h, DE_HASH_SHA256), 0);
	int r = de_merkle_verify_inclusion_v(&h, tu_json_u64(json, end, "leafIdx"),
					     tu_json_u64(json, end, "treeSize"),
					     read_b64(json, end, "leafHash", leaf), proof, n,
					     read_b64(json, end, "root", root));
	de_merkle_hasher_done(&h);
	check_vector(json, end, path, r, arg);
}

static void consistency_file(const char *path, void *arg)
{
	size_t len;
	_cleanup_free_ char *json = tu_slurp(path, &len);
	const char *end = json + len;
	static uint8_t pbuf[DE_MERKLE_MAX_PROOF + 8][B64_MAX];
	struct de_merkle_span proof[DE_MERKLE_MAX_PROOF + 8];
	uint8_t root1[B64_MAX], root2[B64_MAX];
	size_t n = read_proof(json, end, pbuf, proof, DE_ARRAY_SIZE(proof));
	struct de_merkle_hasher h;
	assert_int_equal(de_merkle_hasher_init(&h, DE_HASH_SHA256), 0);
	int r = de_merkle_verify_consistency_v(&h, tu_json_u64(json, end, "size1"),
					       tu_json_u64(json, end, "size2"),
					       read_b64(json, end, "root1", root1),
					       read_b64(json, end, "root2", root2), proof, n);
	de_merkle_hasher_done(&h);
	check_vector(json, end, path, r, arg);
}

static void test_rfc6962_inclusion(void **state)
{
	(void)state;
	char dir[4096];
	struct vec_stats st = { 0 };
	unsigned n = tu_walk(tu_testdata("rfc6962/inclusion", dir, sizeof(dir)), ".json",
			     inclusion_file, &st);
	print_message("# inclusion vectors: %u files, %u accepted, %u rejected\n", st.files,
		      st.accepted, st.rejected);
	assert_int_equal(n, st.files);
	assert_true(st.files >= 50 && st.accepted >= 5 && st.rejected >= 40);
}

static void test_rfc6962_consistency(void **state)
{
	(void)state;
	char dir[4096];
	struct vec_stats st = { 0 };
	unsigned n = tu_walk(tu_testdata("rfc6962/consistency", dir, sizeof(dir)), ".json",
			     consistency_file, &st);
	print_message("# consistency vectors: %u files, %u accepted, %u rejected\n", st.files,
		      st.accepted, st.rejected);
	assert_int_equal(n, st.files);
	assert_true(st.files >= 50 && st.accepted >= 5 && st.rejected >= 40);
}

/* The vectors' tree: RFC 6962's reference leaves, and its known roots. */
static const struct {
	const char *data;
	size_t len;
} rfc_leaves[8] = {
	{ "", 0 },
	{ "\x00", 1 },
	{ "\x10", 1 },
	{ "\x20\x21", 2 },
	{ "\x30\x31", 2 },
	{ "\x40\x41\x42\x43", 4 },
	{ "\x50\x51\x52\x53\x54\x55\x56\x57", 8 },
	{ "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16 },
};
static const char *const rfc_roots[8] = {
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct regen {
	struct de_merkle_tree *t;
	unsigned compared;
};

/* A happy-path vector about the reference tree: our store must produce
 * exactly its proof. */
static void regen_file(const char *path, void *arg)
{
	struct regen *g = arg;
	size_t len;
	_cleanup_free_ char *json = tu_slurp(path, &len);
	const char *end = json + len;
	if (tu_json_bool(json, end, "wantErr"))
		return;
	static uint8_t pbuf[DE_MERKLE_MAX_PROOF][B64_MAX];
	struct de_merkle_span want[DE_MERKLE_MAX_PROOF];
	size_t n = read_proof(json, end, pbuf, want, DE_ARRAY_SIZE(want));
	struct de_merkle_proof got;
	uint8_t buf[B64_MAX], root[DE_HASH_LEN];
	if (strstr(path, "/inclusion/")) {
		uint64_t size = tu_json_u64(json, end, "treeSize");
		struct de_merkle_span r = read_b64(json, end, "root", buf);
		if (size > 8 || de_merkle_tree_root_at(g->t, size, root) != 0 ||
		    r.len != DE_HASH_LEN || memcmp(r.p, root, DE_HASH_LEN) != 0)
			return; /* another tree */
		assert_int_equal(de_merkle_tree_inclusion(g->t, tu_json_u64(json, end, "leafIdx"),
							  size, &got),
				 0);
	} else {
		uint64_t s1 = tu_json_u64(json, end, "size1"), s2 = tu_json_u64(json, end, "size2");
		struct de_merkle_span r = read_b64(json, end, "root2", buf);
		if (s2 > 8 || s1 == 0 || s1 > s2 || de_merkle_tree_root_at(g->t, s2, root) != 0 ||
		    r.len != DE_HASH_LEN || memcmp(r.p, root, DE_HASH_LEN) != 0)
			return; /* another tree */
		assert_int_equal(de_merkle_tree_consistency(g->t, s1, s2, &got), 0);
	}
	if (got.count != n)
		fail_msg("%s: generated %u proof elements, the vector has %zu", path, got.count, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(want[i].len, DE_HASH_LEN);
		assert_memory_equal(got.hash[i], want[i].p, DE_HASH_LEN);
	}
	g->compared++;
}

static void test_rfc6962_tree(void **state)
{
	(void)state;
	struct de_merkle_store *s = de_merkle_store_mem_new(DE_HASH_SHA256);
	assert_non_null(s);
	struct de_merkle_tree t;
	assert_int_equal(de_merkle_tree_init(&t, s), 0);
	uint8_t root[DE_HASH_LEN], want[DE_HASH_LEN];
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(de_merkle_tree_append(&t, rfc_leaves[i].data, rfc_leaves[i].len,
						       NULL),
				 0);
		assert_int_equal(de_merkle_tree_root(&t, root), 0);
		tu_unhex(rfc_roots[i], 64, want, sizeof(want));
		assert_memory_equal(root, want, DE_HASH_LEN);
	}
	char dir[4096];
	struct regen g = { &t, 0 };
	tu_walk(tu_testdata("rfc6962", dir, sizeof(dir)), ".json", regen_file, &g);
	print_message("# %u happy-path proofs regenerated byte for byte\n", g.compared);
	assert_true(g.compared >= 7);
	de_merkle_tree_done(&t);
	de_merkle_store_free(s);
}

/* --- generated trees ------------------------------------------------------- */

#define NMAX 300

struct fixture {
	unsigned algo;
	char dir[256];
	struct de_merkle_store *mem, *file;
	struct de_merkle_tree tm, tf;
	uint8_t leaves[NMAX][DE_HASH_LEN]; /* reference leaf hashes */
	uint8_t roots[NMAX + 1][DE_HASH_LEN]; /* reference MTH of each size */
};

static void leaf_data(unsigned i, char *buf, size_t *len)
{
	/* Varying lengths, including empty. */
	*len = (size_t)snprintf(buf, 64, "record %u %.*s", i, (int)(i % 23), "abcdefghijklmnopqrstuvw");
	if (i == 7)
		*len = 0;
}

static void rm_store(const char *dir)
{
	char p[512];
	for (unsigned l = 0; l < DE_MERKLE_MAX_LEVELS; l++) {
		snprintf(p, sizeof(p), "%s/level-%02u", dir, l);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/FORMAT", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/SYNCED", dir);
	unlink(p);
	/* Fails when the store left a file this list does not know. */
	assert_int_equal(rmdir(dir), 0);
}

static struct fixture *fixture_new(unsigned algo)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->algo = algo;
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof(f->dir), "%s/de-test-merkle-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	rmdir(f->dir); /* the store creates it */
	f->mem = de_merkle_store_mem_new(algo);
	f->file = de_merkle_store_file_open(f->dir, algo, true);
	assert_non_null(f->mem);
	assert_non_null(f->file);
	assert_int_equal(de_merkle_tree_init(&f->tm, f->mem), 0);
	assert_int_equal(de_merkle_tree_init(&f->tf, f->file), 0);
	ref_mth(algo, f->leaves, 0, f->roots[0]);
	for (unsigned i = 0; i < NMAX; i++) {
		char buf[64];
		size_t len;
		leaf_data(i, buf, &len);
		ref_leaf(algo, buf, len, f->leaves[i]);
		uint8_t lh[DE_HASH_LEN], root[DE_HASH_LEN];
		assert_int_equal(de_merkle_tree_append(&f->tm, buf, len, lh), 0);
		assert_memory_equal(lh, f->leaves[i], DE_HASH_LEN);
		assert_int_equal(de_merkle_tree_append_hash(&f->tf, lh), 0);
		ref_mth(algo, f->leaves, i + 1, f->roots[i + 1]);
		assert_int_equal(de_merkle_tree_root(&f->tm, root), 0);
		assert_memory_equal(root, f->roots[i + 1], DE_HASH_LEN);
		assert_int_equal(de_merkle_tree_root(&f->tf, root), 0);
		assert_memory_equal(root, f->roots[i + 1], DE_HASH_LEN);
		/* The frontier holds one subtree per set bit of the size. */
		assert_int_equal(f->tm.f.count, __builtin_popcount(i + 1));
	}
	return f;
}

static void fixture_free(struct fixture *f)
{
	de_merkle_tree_done(&f->tm);
	de_merkle_tree_done(&f->tf);
	de_merkle_store_free(f->mem);
	de_merkle_store_free(f->file);
	rm_store(f->dir);
	free(f);
}

static void flip(uint8_t *p, unsigned bit)
{
	p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

/* Every single-bit flip of the leaf, the root and each proof element, and
 * one element added or removed, must be rejected. */
static void flips_inclusion(struct de_merkle_hasher *h, uint64_t i, uint64_t n, uint8_t *leaf,
			    struct de_merkle_proof *p, uint8_t *root)
{
	for (unsigned b = 0; b < 8 * DE_HASH_LEN; b++) {
		flip(leaf, b);
		assert_int_not_equal(de_merkle_verify_inclusion(h, i, n, leaf, p, root), 0);
		flip(leaf, b);
		flip(root, b);
		assert_int_not_equal(de_merkle_verify_inclusion(h, i, n, leaf, p, root), 0);
		flip(root, b);
		for (unsigned e = 0; e < p->count; e++) {
			flip(p->hash[e], b);
			assert_int_not_equal(de_merkle_verify_inclusion(h, i, n, leaf, p, root), 0);
			flip(p->hash[e], b);
		}
	}
	if (p->count) {
		p->count--;
		assert_int_equal(de_merkle_verify_inclusion(h, i, n, leaf, p, root), -EBADMSG);
		p->count++;
	}
	memcpy(p->hash[p->count], root, DE_HASH_LEN);
	p->count++;
	assert_int_equal(de_merkle_verify_inclusion(h, i, n, leaf, p, root), -EBADMSG);
	p->count--;
	assert_int_equal(de_merkle_verify_inclusion(h, i, n, leaf, p, root), 0);
}

static void flips_consistency(struct de_merkle_hasher *h, uint64_t m, uint64_t n, uint8_t *r1,
			      uint8_t *r2, struct de_merkle_proof *p)
{
	for (unsigned b = 0; b < 8 * DE_HASH_LEN; b++) {
		flip(r1, b);
		assert_int_not_equal(de_merkle_verify_consistency(h, m, n, r1, r2, p), 0);
		flip(r1, b);
		flip(r2, b);
		assert_int_not_equal(de_merkle_verify_consistency(h, m, n, r1, r2, p), 0);
		flip(r2, b);
		for (unsigned e = 0; e < p->count; e++) {
			flip(p->hash[e], b);
			assert_int_not_equal(de_merkle_verify_consistency(h, m, n, r1, r2, p), 0);
			flip(p->hash[e], b);
		}
	}
	if (p->count) {
		p->count--;
		assert_int_not_equal(de_merkle_verify_consistency(h, m, n, r1, r2, p), 0);
		p->count++;
	}
	memcpy(p->hash[p->count], r2, DE_HASH_LEN);
	p->count++;
	assert_int_not_equal(de_merkle_verify_consistency(h, m, n, r1, r2, p), 0);
	p->count--;
	assert_int_equal(de_merkle_verify_consistency(h, m, n, r1, r2, p), 0);
}

static void check_generated(unsigned algo)
{
	struct fixture *f = fixture_new(algo);
	struct de_merkle_hasher *h = &f->tm.h;
	struct de_merkle_proof pm, pf;
	uint8_t root[DE_HASH_LEN];
	unsigned long proofs = 0, flipped = 0;
	for (uint64_t n = 1; n <= NMAX; n++) {
		/* Roots of older sizes come from the store. */
		assert_int_equal(de_merkle_tree_root_at(&f->tf, n, root), 0);
		assert_memory_equal(root, f->roots[n], DE_HASH_LEN);
		for (uint64_t i = 0; i < n; i++) {
			assert_int_equal(de_merkle_tree_inclusion(&f->tm, i, n, &pm), 0);
			assert_int_equal(de_merkle_tree_inclusion(&f->tf, i, n, &pf), 0);
			assert_int_equal(pm.count, pf.count);
			assert_int_equal(pm.count, de_merkle_inclusion_len(i, n));
			assert_memory_equal(pm.hash, pf.hash, pm.count * DE_HASH_LEN);
			assert_int_equal(de_merkle_verify_inclusion(h, i, n, f->leaves[i], &pm,
								    f->roots[n]),
					 0);
			/* Another leaf's hash at this index fails. */
			assert_int_not_equal(de_merkle_verify_inclusion(h, i, n,
									f->leaves[(i + 1) % NMAX],
									&pm, f->roots[n]),
					     0);
			proofs++;
		}
		for (uint64_t m = 1; m <= n; m++) {
			assert_int_equal(de_merkle_tree_consistency(&f->tm, m, n, &pm), 0);
			assert_int_equal(de_merkle_tree_consistency(&f->tf, m, n, &pf), 0);
			assert_int_equal(pm.count, pf.count);
			assert_int_equal(pm.count, de_merkle_consistency_len(m, n));
			assert_memory_equal(pm.hash, pf.hash, pm.count * DE_HASH_LEN);
			assert_int_equal(de_merkle_verify_consistency(h, m, n, f->roots[m],
								      f->roots[n], &pm),
					 0);
			proofs++;
		}
		/* Bit flips: one inclusion and one consistency proof per size. */
		uint64_t i = (n * 37) % n, m = (n + 1) / 2;
		uint8_t leaf[DE_HASH_LEN], r1[DE_HASH_LEN], r2[DE_HASH_LEN];
		memcpy(leaf, f->leaves[i], DE_HASH_LEN);
		memcpy(r2, f->roots[n], DE_HASH_LEN);
		assert_int_equal(de_merkle_tree_inclusion(&f->tf, i, n, &pf), 0);
		flips_inclusion(h, i, n, leaf, &pf, r2);
		if (m < n) {
			memcpy(r1, f->roots[m], DE_HASH_LEN);
			assert_int_equal(de_merkle_tree_consistency(&f->tf, m, n, &pf), 0);
			flips_consistency(h, m, n, r1, r2, &pf);
		}
		flipped++;
	}
	print_message("# %s: %lu proofs from both stores verified, %lu sizes bit-flipped\n",
		      h->name, proofs, flipped);
	fixture_free(f);
}

static void test_generated_sha256(void **state)
{
	(void)state;
	check_generated(DE_HASH_SHA256);
}

static void test_generated_blake3(void **state)
{
	(void)state;
	check_generated(DE_HASH_BLAKE3);
}

/* Arguments outside what RFC 9162 allows. */
static void test_bad_arguments(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(DE_HASH_BLAKE3);
	struct de_merkle_hasher *h = &f->tm.h;
	struct de_merkle_proof p;
	assert_int_equal(de_merkle_tree_inclusion(&f->tm, 5, 5, &p), -EINVAL);
	assert_int_equal(de_merkle_tree_inclusion(&f->tm, 0, NMAX + 1, &p), -EINVAL);
	assert_int_equal(de_merkle_tree_consistency(&f->tm, 0, 5, &p), -EINVAL);
	assert_int_equal(de_merkle_tree_consistency(&f->tm, 6, 5, &p), -EINVAL);
	assert_int_equal(de_merkle_tree_consistency(&f->tm, 5, NMAX + 1, &p), -EINVAL);
	assert_int_equal(de_merkle_tree_root_at(&f->tm, NMAX + 1, p.hash[0]), -EINVAL);
	/* m == n: the empty proof, equal roots required. */
	assert_int_equal(de_merkle_tree_consistency(&f->tm, 9, 9, &p), 0);
	assert_int_equal(p.count, 0);
	assert_int_equal(de_merkle_verify_consistency(h, 9, 9, f->roots[9], f->roots[9], &p), 0);
	assert_int_equal(de_merkle_verify_consistency(h, 9, 9, f->roots[9], f->roots[8], &p),
			 -EBADMSG);
	/* Size 0 and index >= size. */
	p.count = 0;
	assert_int_equal(de_merkle_verify_inclusion(h, 0, 0, f->leaves[0], &p, f->roots[0]),
			 -EINVAL);
	assert_int_equal(de_merkle_verify_consistency(h, 0, 0, f->roots[0], f->roots[0], &p),
			 -EINVAL);
	assert_int_equal(de_merkle_verify_consistency(h, 0, 3, f->roots[0], f->roots[3], &p),
			 -EINVAL);
	p.count = DE_MERKLE_MAX_PROOF + 1;
	assert_int_equal(de_merkle_verify_inclusion(h, 0, 2, f->leaves[0], &p, f->roots[2]),
			 -EBADMSG);
	/* The empty tree's root is H(""). */
	uint8_t e[DE_HASH_LEN], want[DE_HASH_LEN];
	assert_int_equal(de_merkle_empty_root(h, e), 0);
	tu_unhex("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262", 64, want,
		 sizeof(want));
	assert_memory_equal(e, want, DE_HASH_LEN);
	assert_int_equal(de_merkle_tree_root_at(&f->tm, 0, e), 0);
	assert_memory_equal(e, want, DE_HASH_LEN);
	/* root_of over contiguous leaf hashes matches the reference. */
	assert_int_equal(de_merkle_root_of(h, f->leaves[0], 123, e), 0);
	assert_memory_equal(e, f->roots[123], DE_HASH_LEN);
	/* Stores are append-only. */
	assert_int_equal(de_merkle_store_put(f->mem, 0, 5, e), -EINVAL);
	assert_int_equal(de_merkle_store_put(f->file, 1, NMAX, e), -EINVAL);
	assert_int_equal(de_merkle_store_get(f->file, 0, NMAX, e), -ENOENT);
	assert_int_equal(de_merkle_store_get(f->file, 9, 1, e), -ENOENT);
	fixture_free(f);
}

/* --- the file store across reopen and damage ------------------------------ */

static void file_sizes_ok(struct de_merkle_store *s, uint64_t n)
{
	assert_int_equal(de_merkle_store_size(s), n);
	for (unsigned l = 0; l < DE_MERKLE_MAX_LEVELS; l++)
		assert_int_equal(de_merkle_store_count(s, l), n >> l);
}

static void reopen_and_check(struct fixture *f, uint64_t n)
{
	struct de_merkle_store *s = de_merkle_store_file_open(f->dir, f->algo, false);
	assert_non_null(s);
	file_sizes_ok(s, n);
	struct de_merkle_tree t;
	assert_int_equal(de_merkle_tree_init(&t, s), 0);
	uint8_t root[DE_HASH_LEN];
	assert_int_equal(de_merkle_tree_root(&t, root), 0);
	assert_memory_equal(root, f->roots[n], DE_HASH_LEN);
	struct de_merkle_proof a, b;
	for (uint64_t i = 0; i < n; i += 7) {
		assert_int_equal(de_merkle_tree_inclusion(&t, i, n, &a), 0);
		assert_int_equal(de_merkle_tree_inclusion(&f->tm, i, n, &b), 0);
		assert_int_equal(a.count, b.count);
		assert_memory_equal(a.hash, b.hash, a.count * DE_HASH_LEN);
	}
	de_merkle_tree_done(&t);
	de_merkle_store_free(s);
}

static void file_truncate(const char *dir, unsigned level, off_t size)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/level-%02u", dir, level);
	assert_int_equal(truncate(p, size), 0);
}

static void test_file_store_reopen(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(DE_HASH_BLAKE3);
	/* Close after the first 200 leaves, reopen, append the rest. */
	de_merkle_tree_done(&f->tf);
	de_merkle_store_free(f->file);
	rm_store(f->dir);
	f->file = de_merkle_store_file_open(f->dir, f->algo, true);
	assert_non_null(f->file);
	assert_int_equal(de_merkle_tree_init(&f->tf, f->file), 0);
	for (unsigned i = 0; i < 200; i++)
		assert_int_equal(de_merkle_tree_append_hash(&f->tf, f->leaves[i]), 0);
	assert_int_equal(de_merkle_store_flush(f->file, true), 0);
	de_merkle_tree_done(&f->tf);
	de_merkle_store_free(f->file);
	reopen_and_check(f, 200);

	f->file = de_merkle_store_file_open(f->dir, f->algo, false);
	assert_non_null(f->file);
	assert_int_equal(de_merkle_tree_init(&f->tf, f->file), 0);
	for (unsigned i = 200; i < NMAX; i++)
		assert_int_equal(de_merkle_tree_append_hash(&f->tf, f->leaves[i]), 0);
	de_merkle_tree_done(&f->tf);
	de_merkle_store_free(f->file);
	f->file = NULL;
	reopen_and_check(f, NMAX);

	/* Crash damage: a torn leaf entry and missing parents are repaired
	 * (parents recomputed from the leaves); parents beyond the leaves are
	 * dropped. */
	file_truncate(f->dir, 0, 290 * DE_HASH_LEN + 5);
	file_truncate(f->dir, 1, 100 * DE_HASH_LEN);
	file_truncate(f->dir, 3, 3 * DE_HASH_LEN + 31);
	reopen_and_check(f, 290);

	/* A crash after unsynced appends (a child that writes them out
	 * without a sync and exits): the store reopens at the last sync. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct de_merkle_store *c = de_merkle_store_file_open(f->dir, f->algo, false);
		struct de_merkle_tree ct;
		if (!c || de_merkle_tree_init(&ct, c) < 0)
			_exit(1);
		for (unsigned i = 290; i < NMAX; i++)
			if (de_merkle_tree_append_hash(&ct, f->leaves[i]) < 0)
				_exit(1);
		_exit(de_merkle_store_flush(c, false) < 0 ? 1 : 0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char p0[300];
	snprintf(p0, sizeof(p0), "%s/level-00", f->dir);
	struct stat st;
	assert_int_equal(stat(p0, &st), 0);
	assert_int_equal(st.st_size, NMAX * DE_HASH_LEN); /* written, not synced */
	reopen_and_check(f, 290);

	/* Another hash, or no store without create. */
	errno = 0;
	assert_null(de_merkle_store_file_open(f->dir, DE_HASH_SHA256, false));
	assert_int_equal(errno, EINVAL);
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/none", f->dir);
	assert_null(de_merkle_store_file_open(missing, DE_HASH_BLAKE3, false));
	assert_int_equal(errno, ENOENT);

	f->file = de_merkle_store_file_open(f->dir, f->algo, false);
	assert_non_null(f->file);
	assert_int_equal(de_merkle_tree_init(&f->tf, f->file), 0);
	fixture_free(f);
}

/* Past 4096 leaves the file store serves upper levels from memory: the
 * same proofs as the memory store, before and after reopen and repair. */
static void test_file_store_large(void **state)
{
	(void)state;
	const uint64_t n = 9000;
	struct fixture *f = fixture_new(DE_HASH_SHA256);
	for (uint64_t i = NMAX; i < n; i++) {
		uint8_t lh[DE_HASH_LEN];
		assert_int_equal(de_merkle_tree_append(&f->tm, &i, sizeof(i), lh), 0);
		assert_int_equal(de_merkle_tree_append_hash(&f->tf, lh), 0);
	}
	struct de_merkle_proof a, b;
	uint8_t ra[DE_HASH_LEN], rb[DE_HASH_LEN];
	for (int round = 0; round < 3; round++) {
		file_sizes_ok(f->file, n);
		uint64_t x = 12345;
		for (unsigned k = 0; k < 2000; k++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t size = 1 + (x >> 33) % n, i = (x >> 13) % size;
			if (k % 2)
				size = n;
			i %= size;
			assert_int_equal(de_merkle_tree_inclusion(&f->tm, i, size, &a), 0);
			assert_int_equal(de_merkle_tree_inclusion(&f->tf, i, size, &b), 0);
			assert_int_equal(a.count, b.count);
			assert_memory_equal(a.hash, b.hash, a.count * DE_HASH_LEN);
			assert_int_equal(de_merkle_tree_root_at(&f->tm, size, ra), 0);
			assert_int_equal(de_merkle_tree_root_at(&f->tf, size, rb), 0);
			assert_memory_equal(ra, rb, DE_HASH_LEN);
			assert_int_equal(de_merkle_store_get(f->mem, 0, i, ra), 0);
			assert_int_equal(de_merkle_verify_inclusion(&f->tf.h, i, size, ra, &b, rb), 0);
			uint64_t m = 1 + i % size;
			assert_int_equal(de_merkle_tree_consistency(&f->tm, m, size, &a), 0);
			assert_int_equal(de_merkle_tree_consistency(&f->tf, m, size, &b), 0);
			assert_int_equal(a.count, b.count);
			assert_memory_equal(a.hash, b.hash, a.count * DE_HASH_LEN);
		}
		/* Reopen; the second time after losing the top levels. */
		de_merkle_tree_done(&f->tf);
		de_merkle_store_free(f->file);
		if (round == 1) {
			file_truncate(f->dir, 12, DE_HASH_LEN + 3);
			file_truncate(f->dir, 13, 0);
		}
		f->file = de_merkle_store_file_open(f->dir, f->algo, false);
		assert_non_null(f->file);
		assert_int_equal(de_merkle_tree_init(&f->tf, f->file), 0);
		assert_int_equal(de_merkle_tree_root(&f->tf, ra), 0);
		assert_int_equal(de_merkle_tree_root(&f->tm, rb), 0);
		assert_memory_equal(ra, rb, DE_HASH_LEN);
	}
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6962_inclusion),
		cmocka_unit_test(test_rfc6962_consistency),
		cmocka_unit_test(test_rfc6962_tree),
		cmocka_unit_test(test_generated_sha256),
		cmocka_unit_test(test_generated_blake3),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_file_store_reopen),
		cmocka_unit_test(test_file_store_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* merkle.c: RFC 9162 tree hashing, the frontier, proof verification.
 *
 * The verifiers follow RFC 9162 2.1.3.2 and 2.1.4.2 step by step (fn/sn
 * bit walking), so they never build a tree; every length is checked before
 * a byte is hashed.
 */
#include "merkle.h"

#include <string.h>
#include <sys/uio.h>

#include "macros.h"

static const uint8_t leaf_prefix = 0x00, node_prefix = 0x01;

int de_merkle_hasher_init(struct de_merkle_hasher *h, unsigned algo)
{
	memset(h, 0, sizeof(*h));
	const char *name = de_merkle_algo_name(algo);
	if (!name)
		return -EINVAL;
	h->ctx = de_hash_ctx_new(algo);
	if (!h->ctx)
		return de_neg_errno();
	h->algo = algo;
	h->name = name;
	h->len = DE_HASH_LEN;
	return 0;
}

void de_merkle_hasher_done(struct de_merkle_hasher *h)
{
	de_hash_ctx_free(h->ctx);
	h->ctx = NULL;
}

unsigned de_merkle_algo_from_name(const char *name, size_t len)
{
	if (len == 6 && memcmp(name, "sha256", 6) == 0)
		return DE_HASH_SHA256;
	if (len == 6 && memcmp(name, "blake3", 6) == 0)
		return DE_HASH_BLAKE3;
	return 0;
}

const char *de_merkle_algo_name(unsigned algo)
{
	switch (algo) {
	case DE_HASH_SHA256:
		return "sha256";
	case DE_HASH_BLAKE3:
		return "blake3";
	default:
		return NULL;
	}
}

int de_merkle_leaf_hash(struct de_merkle_hasher *h, const void *data, size_t n, uint8_t *out)
{
	struct iovec v[2] = {
		{ (void *)&leaf_prefix, 1 },
		{ (void *)data, n },
	};
	return de_hash_ctx_digest(h->ctx, v, 2, out);
}

int de_merkle_node_hash(struct de_merkle_hasher *h, const uint8_t *left, const uint8_t *right,
			uint8_t *out)
{
	/* One contiguous message: a single update, and out may alias an
	 * input. */
	uint8_t buf[1 + 2 * DE_MERKLE_MAX_HASH];
	buf[0] = node_prefix;
	memcpy(buf + 1, left, h->len);
	memcpy(buf + 1 + h->len, right, h->len);
	struct iovec v = { buf, 1 + 2 * h->len };
	return de_hash_ctx_digest(h->ctx, &v, 1, out);
}

int de_merkle_empty_root(struct de_merkle_hasher *h, uint8_t *out)
{
	struct iovec v = { (void *)&leaf_prefix, 0 };
	return de_hash_ctx_digest(h->ctx, &v, 1, out);
}

/* --- frontier --------------------------------------------------------- */

void de_merkle_frontier_init(struct de_merkle_frontier *f)
{
	f->size = 0;
	f->count = 0;
}

int de_merkle_frontier_append(struct de_merkle_hasher *h, struct de_merkle_frontier *f,
			      const uint8_t *leaf_hash, de_merkle_node_fn node_fn, void *arg)
{
	if (f->size == UINT64_MAX)
		return -EOVERFLOW;
	uint64_t idx = f->size;
	uint8_t cur[DE_MERKLE_MAX_HASH];
	memcpy(cur, leaf_hash, h->len);
	int r;
	if (node_fn && (r = node_fn(arg, 0, idx, cur)) < 0)
		return r;
	/* Each trailing 1 bit of the old size is a same-height subtree on the
	 * right edge of the frontier to merge with. */
	unsigned merges = 0;
	for (uint64_t s = idx; s & 1; s >>= 1) {
		r = de_merkle_node_hash(h, f->hash[f->count - 1 - merges], cur, cur);
		if (r < 0)
			return r;
		merges++;
		if (node_fn && (r = node_fn(arg, merges, idx >> merges, cur)) < 0)
			return r;
	}
	f->count -= merges;
	memcpy(f->hash[f->count], cur, h->len);
	f->count++;
	f->size++;
	return 0;
}

int de_merkle_frontier_root(struct de_merkle_hasher *h, const struct de_merkle_frontier *f,
			    uint8_t *out)
{
	if (f->count == 0)
		return de_merkle_empty_root(h, out);
	uint8_t r[DE_MERKLE_MAX_HASH];
	memcpy(r, f->hash[f->count - 1], h->len);
	for (unsigned i = f->count - 1; i-- > 0;) {
		int e = de_merkle_node_hash(h, f->hash[i], r, r);
		if (e < 0)
			return e;
	}
	memcpy(out, r, h->len);
	return 0;
}

int de_merkle_root_of(struct de_merkle_hasher *h, const uint8_t *leaf_hashes, uint64_t n,
		      uint8_t *out)
{
	/* ~2 KiB: the frontier, not the leaves, so any n works. */
	struct de_merkle_frontier f;
	de_merkle_frontier_init(&f);
	for (uint64_t i = 0; i < n; i++) {
		int r = de_merkle_frontier_append(h, &f, leaf_hashes + i * h->len, NULL, NULL);
		if (r < 0)
			return r;
	}
	return de_merkle_frontier_root(h, &f, out);
}

/* --- proof sizes ------------------------------------------------------- */

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
	return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

unsigned de_merkle_inclusion_len(uint64_t index, uint64_t size)
{
	if (index >= size)
		return 0;
	unsigned n = 0;
	uint64_t lo = 0, hi = size;
	while (hi - lo > 1) {
		uint64_t k = split_point(hi - lo);
		if (index - lo < k)
			hi = lo + k;
		else
			lo += k;
		n++;
	}
	return n;
}

unsigned de_merkle_consistency_len(uint64_t m, uint64_t n)
{
	if (m == 0 || m >= n)
		return 0;
	unsigned cnt = 0;
	bool whole = true; /* SUBPROOF's b */
	while (m != n) {
		uint64_t k = split_point(n);
		if (m <= k) {
			n = k;
		} else {
			m -= k;
			n -= k;
			whole = false;
		}
		cnt++;
	}
	return cnt + (whole ? 0 : 1);
}

/* --- verification ------------------------------------------------------ */

static bool span_eq(struct de_merkle_span a, const uint8_t *b, size_t len)
{
	return a.len == len && memcmp(a.p, b, len) == 0;
}

int de_merkle_verify_inclusion_v(struct de_merkle_hasher *h, uint64_t index, uint64_t size,
				 struct de_merkle_span leaf_hash, const struct de_merkle_span *proof,
				 size_t nproof, struct de_merkle_span root)
{
	/* 1. */
	if (index >= size)
		return -EINVAL;
	if (leaf_hash.len != h->len || root.len != h->len || nproof > DE_MERKLE_MAX_PROOF)
		return -EBADMSG;
	/* 2., 3. */
	uint64_t fn = index, sn = size - 1;
	uint8_t r[DE_MERKLE_MAX_HASH];
	memcpy(r, leaf_hash.p, h->len);
	/* 4. */
	for (size_t i = 0; i < nproof; i++) {
		if (proof[i].len != h->len)
			return -EBADMSG;
		if (sn == 0)
			return -EBADMSG;
		int e;
		if ((fn & 1) || fn == sn) {
			e = de_merkle_node_hash(h, proof[i].p, r, r);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			e = de_merkle_node_hash(h, r, proof[i].p, r);
		}
		if (e < 0)
			return e;
		fn >>= 1;
		sn >>= 1;
	}
	/* 5. */
	if (sn != 0 || memcmp(r, root.p, h->len) != 0)
		return -EBADMSG;
	return 0;
}

int de_merkle_verify_consistency_v(struct de_merkle_hasher *h, uint64_t size1, uint64_t size2,
				   struct de_merkle_span root1, struct de_merkle_span root2,
				   const struct de_merkle_span *proof, size_t nproof)
{
	if (size1 > size2 || size1 == 0)
		return -EINVAL;
	if (size1 == size2) {
		if (nproof != 0)
			return -EBADMSG;
		return span_eq(root1, root2.p, root2.len) ? 0 : -EBADMSG;
	}
	/* 1. */
	if (nproof == 0 || nproof > DE_MERKLE_MAX_PROOF)
		return -EBADMSG;
	if (root1.len != h->len || root2.len != h->len)
		return -EBADMSG;
	for (size_t i = 0; i < nproof; i++)
		if (proof[i].len != h->len)
			return -EBADMSG;
	/* 2.: the path is root1 then the proof when size1 is a power of 2. */
	bool pow2 = (size1 & (size1 - 1)) == 0;
	size_t npath = nproof + (pow2 ? 1 : 0);
#define PATH(i) (pow2 ? ((i) == 0 ? root1.p : proof[(i) - 1].p) : proof[i].p)
	/* 3., 4. */
	uint64_t fn = size1 - 1, sn = size2 - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	/* 5. */
	uint8_t fr[DE_MERKLE_MAX_HASH], sr[DE_MERKLE_MAX_HASH];
	memcpy(fr, PATH(0), h->len);
	memcpy(sr, PATH(0), h->len);
	/* 6. */
	for (size_t i = 1; i < npath; i++) {
		const uint8_t *c = PATH(i);
		if (sn == 0)
			return -EBADMSG;
		int e;
		if ((fn & 1) || fn == sn) {
			e = de_merkle_node_hash(h, c, fr, fr);
			if (e == 0)
				e = de_merkle_node_hash(h, c, sr, sr);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			e = de_merkle_node_hash(h, sr, c, sr);
		}
		if (e < 0)
			return e;
		fn >>= 1;
		sn >>= 1;
	}
#undef PATH
	/* 7. */
	if (sn != 0 || memcmp(fr, root1.p, h->len) != 0 || memcmp(sr, root2.p, h->len) != 0)
		return -EBADMSG;
	return 0;
}

static void proof_spans(struct de_merkle_hasher *h, const struct de_merkle_proof *p,
			struct de_merkle_span *s)
{
	for (unsigned i = 0; i < p->count && i < DE_MERKLE_MAX_PROOF; i++)
		s[i] = (struct de_merkle_span){ p->hash[i], h->len };
}

int de_merkle_verify_inclusion(struct de_merkle_hasher *h, uint64_t index, uint64_t size,
			       const uint8_t *leaf_hash, const struct de_merkle_proof *proof,
			       const uint8_t *root)
{
	if (proof->count > DE_MERKLE_MAX_PROOF)
		return -EBADMSG;
	struct de_merkle_span s[DE_MERKLE_MAX_PROOF];
	proof_spans(h, proof, s);
	return de_merkle_verify_inclusion_v(h, index, size,
					    (struct de_merkle_span){ leaf_hash, h->len }, s,
					    proof->count, (struct de_merkle_span){ root, h->len });
}

int de_merkle_verify_consistency(struct de_merkle_hasher *h, uint64_t size1, uint64_t size2,
				 const uint8_t *root1, const uint8_t *root2,
				 const struct de_merkle_proof *proof)
{
	if (proof->count > DE_MERKLE_MAX_PROOF)
		return -EBADMSG;
	struct de_merkle_span s[DE_MERKLE_MAX_PROOF];
	proof_spans(h, proof, s);
	return de_merkle_verify_consistency_v(h, size1, size2,
					      (struct de_merkle_span){ root1, h->len },
					      (struct de_merkle_span){ root2, h->len }, s,
					      proof->count);
}

/* test_merkle_json.c: the proof document (merkle_json): round trips of
 * real proofs with both hashes, the exact text of a known proof, and the
 * strict parser's refusals (malformed, unknown or duplicate fields, bad hex,
 * numbers, sizes, every truncation, every bit flip of a hash).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "macros.h"
#include "merkle.h"
#include "merkle_json.h"
#include "merkle_proof.h"
#include "merkle_store.h"

#define NLEAVES 37

struct tree {
	struct de_merkle_store *s;
	struct de_merkle_tree t;
};

static void tree_build(struct tree *x, unsigned algo)
{
	x->s = de_merkle_store_mem_new(algo);
	assert_non_null(x->s);
	assert_int_equal(de_merkle_tree_init(&x->t, x->s), 0);
	for (unsigned i = 0; i < NLEAVES; i++) {
		char d[32];
		int n = snprintf(d, sizeof(d), "entry %u", i);
		assert_int_equal(de_merkle_tree_append(&x->t, d, (size_t)n, NULL), 0);
	}
}

static void tree_free(struct tree *x)
{
	de_merkle_tree_done(&x->t);
	de_merkle_store_free(x->s);
}

static void inclusion_doc(struct tree *x, uint64_t i, uint64_t n, struct de_merkle_proof_doc *d)
{
	memset(d, 0, sizeof(*d));
	d->type = DE_MERKLE_INCLUSION;
	d->algo = x->t.h.algo;
	d->leaf_index = i;
	d->tree_size = n;
	char data[32];
	int len = snprintf(data, sizeof(data), "entry %u", (unsigned)i);
	assert_int_equal(de_merkle_leaf_hash(&x->t.h, data, (size_t)len, d->leaf_hash), 0);
	assert_int_equal(de_merkle_tree_root_at(&x->t, n, d->root), 0);
	assert_int_equal(de_merkle_tree_inclusion(&x->t, i, n, &d->proof), 0);
}

static void consistency_doc(struct tree *x, uint64_t m, uint64_t n, struct de_merkle_proof_doc *d)
{
	memset(d, 0, sizeof(*d));
	d->type = DE_MERKLE_CONSISTENCY;
	d->algo = x->t.h.algo;
	d->first_size = m;
	d->tree_size = n;
	assert_int_equal(de_merkle_tree_root_at(&x->t, m, d->first_root), 0);
	assert_int_equal(de_merkle_tree_root_at(&x->t, n, d->root), 0);
	assert_int_equal(de_merkle_tree_consistency(&x->t, m, n, &d->proof), 0);
}

static char *write_doc(const struct de_merkle_proof_doc *d)
{
	struct de_buf b = DE_BUF_INIT;
	assert_int_equal(de_merkle_proof_write(&b, d), 0);
	return de_buf_steal(&b);
}

static int parse(const char *s, struct de_merkle_proof_doc *d, char *err, size_t errlen)
{
	return de_merkle_proof_parse(s, strlen(s), d, err, errlen);
}

static void round_trip(const struct de_merkle_proof_doc *d)
{
	_cleanup_free_ char *text = write_doc(d);
	struct de_merkle_proof_doc back;
	char err[200];
	if (parse(text, &back, err, sizeof(err)) != 0)
		fail_msg("round trip: %s in %s", err, text);
	assert_int_equal(back.type, d->type);
	assert_int_equal(back.algo, d->algo);
	assert_int_equal(back.tree_size, d->tree_size);
	assert_memory_equal(back.root, d->root, DE_HASH_LEN);
	if (d->type == DE_MERKLE_INCLUSION) {
		assert_int_equal(back.leaf_index, d->leaf_index);
		assert_memory_equal(back.leaf_hash, d->leaf_hash, DE_HASH_LEN);
	} else {
		assert_int_equal(back.first_size, d->first_size);
		assert_memory_equal(back.first_root, d->first_root, DE_HASH_LEN);
	}
	assert_int_equal(back.proof.count, d->proof.count);
	assert_memory_equal(back.proof.hash, d->proof.hash, d->proof.count * DE_HASH_LEN);
	assert_int_equal(de_merkle_proof_doc_verify(&back), 0);
	_cleanup_free_ char *again = write_doc(&back);
	assert_string_equal(again, text);
}

static void test_round_trip(void **state)
{
	(void)state;
	static const unsigned algos[] = { DE_HASH_SHA256, DE_HASH_BLAKE3 };
	struct de_merkle_proof_doc d;
	for (size_t a = 0; a < DE_ARRAY_SIZE(algos); a++) {
		struct tree x;
		tree_build(&x, algos[a]);
		for (uint64_t n = 1; n <= NLEAVES; n++) {
			for (uint64_t i = 0; i < n; i++) {
				inclusion_doc(&x, i, n, &d);
				round_trip(&d);
			}
			for (uint64_t m = 1; m <= n; m++) {
				consistency_doc(&x, m, n, &d);
				round_trip(&d);
			}
		}
		tree_free(&x);
	}
}

/* The exact text: the RFC 6962 reference tree's leaf 0 in size 2 (the
 * hashes are those of the RFC 6962 test vectors). */
static void test_known_text(void **state)
{
	(void)state;
	struct de_merkle_store *s = de_merkle_store_mem_new(DE_HASH_SHA256);
	assert_non_null(s);
	struct de_merkle_tree t;
	assert_int_equal(de_merkle_tree_init(&t, s), 0);
	struct de_merkle_proof_doc d = { .type = DE_MERKLE_INCLUSION, .algo = DE_HASH_SHA256 };
	assert_int_equal(de_merkle_tree_append(&t, "", 0, d.leaf_hash), 0);
	assert_int_equal(de_merkle_tree_append(&t, "\x00", 1, NULL), 0);
	d.tree_size = 2;
	assert_int_equal(de_merkle_tree_root(&t, d.root), 0);
	assert_int_equal(de_merkle_tree_inclusion(&t, 0, 2, &d.proof), 0);
	_cleanup_free_ char *text = write_doc(&d);
	assert_string_equal(
		text,
		"{\"version\":1,\"type\":\"inclusion\",\"hash\":\"sha256\",\"leaf_index\":0,"
		"\"tree_size\":2,"
		"\"leaf_hash\":\"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\","
		"\"root\":\"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125\","
		"\"proof\":[\"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7\"]}");
	/* Whitespace between tokens and any field order are fine. */
	const char *pretty =
		"\n{ \"proof\" : [ \"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7\" ],\r\n"
		"\t\"root\":\"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125\",\n"
		"  \"leaf_hash\":\"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\",\n"
		"  \"tree_size\" : 2, \"leaf_index\" : 0, \"hash\" : \"sha256\", \"type\" : \"inclusion\",\n"
		"  \"version\" : 1 }\n\n";
	struct de_merkle_proof_doc back;
	assert_int_equal(parse(pretty, &back, NULL, 0), 0);
	assert_int_equal(de_merkle_proof_doc_verify(&back), 0);
	_cleanup_free_ char *again = write_doc(&back);
	assert_string_equal(again, text);
	de_merkle_tree_done(&t);
	de_merkle_store_free(s);
}

/* Replace the first `from` in base by `to`. */
static char *subst(const char *base, const char *from, const char *to)
{
	const char *at = strstr(base, from);
	if (!at)
		fail_msg("subst: \"%s\" not in the document", from);
	size_t pre = (size_t)(at - base), fl = strlen(from), tl = strlen(to);
	char *out = malloc(strlen(base) - fl + tl + 1);
	assert_non_null(out);
	memcpy(out, base, pre);
	memcpy(out + pre, to, tl);
	strcpy(out + pre + tl, at + fl);
	return out;
}

static void test_rejects(void **state)
{
	(void)state;
	struct tree x;
	tree_build(&x, DE_HASH_BLAKE3);
	struct de_merkle_proof_doc d, out;
	inclusion_doc(&x, 5, 10, &d);
	_cleanup_free_ char *good = write_doc(&d);
	char root_hex[65], leaf_hex[65];
	de_hex(d.root, DE_HASH_LEN, root_hex);
	de_hex(d.leaf_hash, DE_HASH_LEN, leaf_hex);
	char upper[65];
	for (size_t i = 0; i < 65; i++)
		upper[i] = (char)(root_hex[i] >= 'a' && root_hex[i] <= 'f' ? root_hex[i] - 32 : root_hex[i]);
	char dup_field[128];
	snprintf(dup_field, sizeof(dup_field), "\"root\":\"%s\",\"root\"", root_hex);
	char root_field[128];
	snprintf(root_field, sizeof(root_field), "\"root\":\"%s\"", root_hex);
	char short_root[128];
	snprintf(short_root, sizeof(short_root), "\"root\":\"%.62s\"", root_hex);
	char long_root[128];
	snprintf(long_root, sizeof(long_root), "\"root\":\"%s00\"", root_hex);

	static const char *const whole[] = {
		"", " ", "[]", "{}", "null", "{\"version\":1}", "\"inclusion\"",
		"{\"version\":1,}", "{,\"version\":1}",
	};
	for (size_t i = 0; i < DE_ARRAY_SIZE(whole); i++)
		assert_int_equal(parse(whole[i], &out, NULL, 0), -EBADMSG);

	const struct {
		const char *from, *to;
	} edits[] = {
		{ "\"version\":1", "\"version\":2" },
		{ "\"version\":1", "\"version\":01" },
		{ "\"version\":1", "\"version\":1.0" },
		{ "\"version\":1", "\"version\":1e0" },
		{ "\"version\":1", "\"version\":-1" },
		{ "\"version\":1", "\"version\":\"1\"" },
		{ "\"version\":1,", "" },
		{ "\"type\":\"inclusion\"", "\"type\":\"Inclusion\"" },
		{ "\"type\":\"inclusion\"", "\"type\":\"consistency\"" },
		{ "\"type\":\"inclusion\",", "" },
		{ "\"hash\":\"blake3\"", "\"hash\":\"sha512\"" },
		{ "\"hash\":\"blake3\"", "\"hash\":\"blake3\\u0000\"" },
		{ "\"leaf_index\":5", "\"leaf_index\":18446744073709551616" },
		{ "\"leaf_index\":5", "\"leaf_index\":99999999999999999999999" },
		{ "\"leaf_index\":5", "\"leaf_index\":true" },
		{ "\"leaf_index\":5", "\"leaf_index\":5,\"first_size\":3" },
		{ "\"leaf_index\":5", "\"leaf_index\":5,\"comment\":\"x\"" },
		{ "\"leaf_index\":5", "\"leaf_index\":5,\"leaf_index\":5" },
		{ "\"leaf_index\"", "\"leaf_\\u0069ndex\"" },
		{ "\"leaf_index\"", "\"leaf_index\\u0000\"" },
		{ "\"tree_size\":10", "\"tree_size\":null" },
		{ root_field, dup_field },
		{ root_hex, upper },
		{ root_field, short_root },
		{ root_field, long_root },
		{ root_field, "\"root\":\"\"" },
		{ leaf_hex, "zz" },
		{ "\"proof\":[", "\"proof\":[[]," },
		{ "\"proof\":[", "\"proof\":[\"\"," },
		{ "\"proof\":[", "\"proof\":{" },
		{ "\"proof\":[", "\"proof\":[," },
		{ "]}", ",]}" },
		{ "]}", "]" },
		{ "]}", "]}}" },
		{ "]}", "]}x" },
		{ "]}", "]}{}" },
		{ "]}", "]}\n\x01" },
		{ "{", "{\xef\xbb\xbf" },
		{ "\"type\"", "'type'" },
		{ "\"type\"", "\"ty\npe\"" },
		{ "\"type\"", "\"ty\xc3\xa9pe\"" },
	};
	char err[200];
	for (size_t i = 0; i < DE_ARRAY_SIZE(edits); i++) {
		_cleanup_free_ char *bad = subst(good, edits[i].from, edits[i].to);
		int r = parse(bad, &out, err, sizeof(err));
		if (r != -EBADMSG)
			fail_msg("edit %zu (%s -> %s) was not rejected: %d", i, edits[i].from,
				 edits[i].to, r);
		assert_true(strncmp(err, "offset ", 7) == 0);
	}
	/* The largest uint64 is a number the parser takes (verification then
	 * rejects the index). */
	_cleanup_free_ char *big = subst(good, "\"leaf_index\":5", "\"leaf_index\":18446744073709551615");
	assert_int_equal(parse(big, &out, NULL, 0), 0);
	assert_int_equal(out.leaf_index, UINT64_MAX);
	assert_int_equal(de_merkle_proof_doc_verify(&out), -EINVAL);

	/* Every truncation of a valid document is rejected. */
	size_t len = strlen(good);
	for (size_t n = 0; n < len; n++)
		assert_int_equal(de_merkle_proof_parse(good, n, &out, NULL, 0), -EBADMSG);
	assert_int_equal(de_merkle_proof_parse(good, len, &out, NULL, 0), 0);

	/* Every bit flip inside a hash is refused by the parser (not hex,
	 * upper case) or by the verifier (another hash). */
	_cleanup_free_ char *t = strdup(good);
	assert_non_null(t);
	unsigned flips = 0;
	for (size_t p = 0; p + 64 <= len; p++) {
		if (t[p] != '"' || strspn(t + p + 1, "0123456789abcdef") != 64)
			continue;
		for (size_t q = p + 1; q < p + 65; q++)
			for (unsigned b = 0; b < 8; b++) {
				t[q] ^= (char)(1u << b);
				if (parse(t, &out, NULL, 0) == 0)
					assert_int_not_equal(de_merkle_proof_doc_verify(&out), 0);
				t[q] ^= (char)(1u << b);
				flips++;
			}
		p += 64;
	}
	assert_int_equal(flips, (2 + d.proof.count) * 64 * 8);

	/* Bounds: more than DE_MERKLE_MAX_PROOF elements, more than
	 * DE_MERKLE_JSON_MAX bytes. */
	struct de_buf b = DE_BUF_INIT;
	de_buf_printf(&b, "{\"proof\":[");
	for (unsigned i = 0; i <= DE_MERKLE_MAX_PROOF; i++)
		de_buf_printf(&b, "%s\"%s\"", i ? "," : "", root_hex);
	de_buf_printf(&b, "]}");
	assert_int_equal(parse(de_buf_str(&b), &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "proof elements"));
	de_buf_reset(&b);
	de_buf_puts(&b, good);
	while (b.len <= DE_MERKLE_JSON_MAX)
		de_buf_putc(&b, ' ');
	assert_int_equal(parse(de_buf_str(&b), &out, NULL, 0), -EMSGSIZE);
	de_buf_free(&b);

	/* A consistency document with inclusion fields is refused. */
	consistency_doc(&x, 3, 10, &d);
	_cleanup_free_ char *cons = write_doc(&d);
	_cleanup_free_ char *mixed = subst(cons, "\"first_size\":3", "\"first_size\":3,\"leaf_index\":1");
	assert_int_equal(parse(mixed, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "does not belong"));
	/* The writer refuses what it cannot express. */
	d.algo = 0;
	struct de_buf w = DE_BUF_INIT;
	assert_int_equal(de_merkle_proof_write(&w, &d), -EINVAL);
	de_buf_free(&w);
	tree_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_known_text),
		cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

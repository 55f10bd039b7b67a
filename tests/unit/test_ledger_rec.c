/* test_ledger_rec.c: the ledger's building blocks: record frames (encode,
 * decode, every truncation and bit flip), the chain, canonical bytes of
 * events and security records, the Ed25519 key, C2SP checkpoints and
 * verifier keys (round trips, the known key id rule, rejections). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "emit.h"
#include "hash.h"
#include "ledger_canon.h"
#include "ledger_key.h"
#include "ledger_note.h"
#include "ledger_rec.h"

static const uint8_t zero[32];

static void test_frame_roundtrip(void **state)
{
	(void)state;
	struct de_buf b = DE_BUF_INIT;
	uint8_t c1[32], c2[32], leaf1[32];
	int n1 = de_lrec_encode(&b, 0, 123456789, DE_LREC_ALERT, "hello", 5, zero, leaf1, c1);
	assert_int_equal(n1, DE_LREC_MIN + 5);
	int n2 = de_lrec_encode(&b, 1, -5, DE_LREC_CONFIG, NULL, 0, c1, NULL, c2);
	assert_int_equal(n2, DE_LREC_MIN);
	assert_int_equal(b.len, (size_t)(n1 + n2));
	/* As documented: leaf = BLAKE3(0x00 || R), chain = BLAKE3(prev || leaf),
	 * check = BLAKE3(header || chain)[:8]. */
	uint8_t want[32], tmp[1 + DE_LREC_HDR - 4 + 5], two[64], hc[DE_LREC_HDR + 32];
	tmp[0] = 0;
	memcpy(tmp + 1, b.data + 4, DE_LREC_HDR - 4 + 5);
	de_blake3(tmp, sizeof(tmp), want, 32);
	assert_memory_equal(leaf1, want, 32);
	memcpy(two, zero, 32);
	memcpy(two + 32, leaf1, 32);
	de_blake3(two, 64, want, 32);
	assert_memory_equal(c1, want, 32);
	assert_memory_equal(b.data + DE_LREC_HDR + 5, c1, 32);
	memcpy(hc, b.data, DE_LREC_HDR);
	memcpy(hc + DE_LREC_HDR, c1, 32);
	de_blake3(hc, sizeof(hc), want, 8);
	assert_memory_equal(b.data + n1 - 8, want, 8);

	struct de_lrec r;
	assert_int_equal(de_lrec_decode((uint8_t *)b.data, b.len, &r), n1);
	assert_int_equal(r.seq, 0);
	assert_int_equal(r.time_ns, 123456789);
	assert_int_equal(r.type, DE_LREC_ALERT);
	assert_int_equal(r.payload_len, 5);
	assert_memory_equal(r.payload, "hello", 5);
	assert_memory_equal(r.chain, c1, 32);
	uint8_t leaf[32];
	assert_true(de_lrec_chain_ok(&r, zero, leaf));
	assert_memory_equal(leaf, leaf1, 32);
	assert_false(de_lrec_chain_ok(&r, c1, NULL));
	assert_int_equal(de_lrec_decode((uint8_t *)b.data + n1, (size_t)n2, &r), n2);
	assert_int_equal(r.seq, 1);
	assert_int_equal(r.time_ns, -5);
	assert_true(de_lrec_chain_ok(&r, c1, NULL));
	de_buf_free(&b);
}

static void test_frame_damage(void **state)
{
	(void)state;
	struct de_buf b = DE_BUF_INIT;
	uint8_t c[32];
	int n = de_lrec_encode(&b, 7, 1, DE_LREC_EXEC, "payload bytes", 13, zero, NULL, c);
	struct de_lrec r;
	/* Every prefix is incomplete, never accepted. */
	for (int i = 0; i < n; i++) {
		int x = de_lrec_decode((uint8_t *)b.data, (size_t)i, &r);
		assert_true(x == -EAGAIN || x == -EBADMSG);
		assert_int_equal(x, -EAGAIN);
	}
	/* Every single bit flip is caught: outside the payload by the frame's
	 * check, inside it by the chain. */
	for (int i = 0; i < n * 8; i++) {
		b.data[i / 8] ^= (char)(1 << (i % 8));
		int x = de_lrec_decode((uint8_t *)b.data, (size_t)n, &r);
		if (i / 8 >= (int)DE_LREC_HDR && i / 8 < (int)DE_LREC_HDR + 13) {
			assert_int_equal(x, n);
			assert_false(de_lrec_chain_ok(&r, zero, NULL));
		} else {
			assert_true(x == -EBADMSG || x == -EAGAIN);
		}
		b.data[i / 8] ^= (char)(1 << (i % 8));
	}
	assert_int_equal(de_lrec_decode((uint8_t *)b.data, (size_t)n, &r), n);
	/* Lengths that cannot be. */
	uint8_t tiny[DE_LREC_MIN] = { 4, 0, 0, 0 };
	assert_int_equal(de_lrec_decode(tiny, sizeof(tiny), &r), -EBADMSG);
	uint8_t huge[8] = { 0xff, 0xff, 0xff, 0x7f };
	assert_int_equal(de_lrec_decode(huge, sizeof(huge), &r), -EBADMSG);
	assert_int_equal(de_lrec_encode(&b, 0, 0, 1, b.data, DE_LREC_MAX_PAYLOAD + 1, zero, NULL, c),
			 -EMSGSIZE);
	de_buf_free(&b);
}

static void test_reader(void **state)
{
	(void)state;
	char path[] = "/tmp/de-lrec-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	struct de_buf b = DE_BUF_INIT;
	uint8_t prev[32] = { 0 };
	/* Enough records to cross the reader's 1 MiB buffer several times. */
	char payload[700];
	memset(payload, 'x', sizeof(payload));
	for (unsigned i = 0; i < 5000; i++)
		assert_true(de_lrec_encode(&b, i, i, DE_LREC_ALERT, payload, i % sizeof(payload), prev,
					   NULL, prev) > 0);
	assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
	assert_int_equal(write(fd, b.data, 10), 10); /* a torn tail */
	struct de_lreader rd;
	struct de_lrec r;
	assert_int_equal(de_lreader_init(&rd, fd, 0), 0);
	uint8_t c[32] = { 0 };
	unsigned i = 0;
	int x;
	while ((x = de_lreader_next(&rd, &r)) > 0) {
		assert_int_equal(r.seq, i);
		assert_int_equal(r.payload_len, i % sizeof(payload));
		assert_true(de_lrec_chain_ok(&r, c, NULL));
		memcpy(c, r.chain, 32);
		i++;
	}
	assert_int_equal(x, -EAGAIN);
	assert_int_equal(i, 5000);
	assert_int_equal(rd.off, b.len);
	de_lreader_done(&rd);
	assert_int_equal(ftruncate(fd, (off_t)b.len), 0);
	assert_int_equal(de_lreader_init(&rd, fd, 0), 0);
	for (i = 0; (x = de_lreader_next(&rd, &r)) > 0; i++)
		;
	assert_int_equal(x, 0);
	assert_int_equal(i, 5000);
	de_lreader_done(&rd);
	close(fd);
	de_buf_free(&b);
}

static void test_type_names(void **state)
{
	(void)state;
	for (uint32_t t = 0; t < 64; t++) {
		const char *n = de_lrec_type_name(t);
		if (n)
			assert_int_equal(de_lrec_type_parse(n), (int)t);
	}
	assert_string_equal(de_lrec_type_name(DE_LREC_EXEC), "exec");
	assert_string_equal(de_lrec_type_name(DE_LREC_REPAIR), "repair");
	assert_null(de_lrec_type_name(99));
	assert_int_equal(de_lrec_type_parse("nosuch"), -EINVAL);
}

static void sample_event(struct de_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = DE_EV_EXEC;
	ev->source = DE_EVSRC_NETLINK;
	ev->have = DE_EVF_ARGV | DE_EVF_CREDS | DE_EVF_EXE | DE_EVF_HASH | DE_EVF_PARENT;
	ev->seq = 42;
	ev->time_ns = 1700000000123456789LL;
	ev->pid = 4242;
	ev->tid = 4243;
	ev->ppid = 1;
	snprintf(ev->comm, sizeof(ev->comm), "sh\x1b[31m");
	ev->argv = "sh\0-c\0echo \"hi\"\n";
	ev->argv_len = 17;
	ev->argc = 3;
	ev->uid[0] = 1000;
	ev->gid[3] = 7;
	ev->exe = "/bin/sh";
	ev->hashes.algos = DE_HASH_BLAKE3;
	memset(ev->hashes.blake3, 0xab, 32);
	ev->exit_code = 99; /* outside `have`: must not appear */
}

static void test_canon_event(void **state)
{
	(void)state;
	struct de_event ev;
	sample_event(&ev);
	struct de_buf a = DE_BUF_INIT, b = DE_BUF_INIT, j = DE_BUF_INIT, t = DE_BUF_INIT;
	assert_int_equal(de_canon_event(&a, &ev), 0);
	assert_int_equal(de_canon_event(&b, &ev), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len); /* deterministic */
	assert_true(de_canon_check((uint8_t *)a.data, a.len) > 10);
	/* The first field: tag 1 (type), length 4, value 1 (exec). */
	static const uint8_t head[] = { 1, 4, 1, 0, 0, 0 };
	assert_memory_equal(a.data, head, sizeof(head));

	struct de_json js;
	de_json_init(&js, &j);
	de_json_obj_begin(&js);
	assert_int_equal(de_canon_json(&js, DE_LREC_EXEC, (uint8_t *)a.data, a.len), 0);
	de_json_obj_end(&js);
	const char *s = de_buf_str(&j);
	assert_non_null(strstr(s, "\"pid\":4242,"));
	assert_non_null(strstr(s, "\"ppid\":1,"));
	assert_non_null(strstr(s, "\"comm\":\"sh\\u001b[31m\""));
	assert_non_null(strstr(s, "\"argv\":[\"sh\",\"-c\",\"echo \\\"hi\\\"\\n\"]"));
	assert_non_null(strstr(s, "\"uid\":[1000,0,0,0],\"gid\":[0,0,0,7]"));
	assert_non_null(strstr(s, "\"blake3\":\"abababab"));
	assert_null(strstr(s, "sha256"));
	assert_null(strstr(s, "exit_code"));
	assert_int_equal(de_canon_text(&t, DE_LREC_EXEC, (uint8_t *)a.data, a.len), 0);
	assert_non_null(strstr(de_buf_str(&t), "comm=sh\\e[31m"));
	assert_null(strchr(de_buf_str(&t), '\x1b'));

	/* One changed field changes the bytes. */
	ev.pid++;
	de_buf_reset(&b);
	de_canon_event(&b, &ev);
	assert_true(a.len != b.len || memcmp(a.data, b.data, a.len) != 0);
	de_buf_free(&a);
	de_buf_free(&b);
	de_buf_free(&j);
	de_buf_free(&t);
}

static void test_canon_rejects(void **state)
{
	(void)state;
	/* Tags out of order, a repeated tag, a length past the end, a short
	 * header. */
	static const uint8_t desc[] = { 2, 1, 'a', 1, 1, 'b' };
	static const uint8_t dup[] = { 1, 1, 'a', 1, 1, 'b' };
	static const uint8_t past[] = { 1, 9, 'a' };
	static const uint8_t shorth[] = { 1 };
	static const uint8_t nonmin[] = { 1, 0x81, 0x00, 'a' }; /* 1 in two bytes */
	static const uint8_t unterm[] = { 1, 0x80 };
	static const uint8_t good[] = { 1, 0x80, 0x01 }; /* a 128-byte value is cut: past */
	assert_int_equal(de_canon_check(desc, sizeof(desc)), -EBADMSG);
	assert_int_equal(de_canon_check(dup, sizeof(dup)), -EBADMSG);
	assert_int_equal(de_canon_check(past, sizeof(past)), -EBADMSG);
	assert_int_equal(de_canon_check(shorth, sizeof(shorth)), -EBADMSG);
	assert_int_equal(de_canon_check(nonmin, sizeof(nonmin)), -EBADMSG);
	assert_int_equal(de_canon_check(unterm, sizeof(unterm)), -EBADMSG);
	assert_int_equal(de_canon_check(good, sizeof(good)), -EBADMSG);
	assert_int_equal(de_canon_check(NULL, 0), 0);
	/* Long values round trip through the multi-byte length. */
	struct de_ledger_sec ls = { .detail = NULL };
	char big[300];
	memset(big, 'd', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ls.detail = big;
	struct de_buf lb = DE_BUF_INIT;
	de_canon_security(&lb, &ls);
	assert_int_equal(lb.len, 1 + 2 + 299);
	assert_int_equal((uint8_t)lb.data[1], 0x80 | (299 & 0x7f));
	assert_int_equal((uint8_t)lb.data[2], 299 >> 7);
	assert_int_equal(de_canon_check((uint8_t *)lb.data, lb.len), 1);
	de_buf_free(&lb);
	/* A known tag with the wrong width is shown as raw hex, never half. */
	static const uint8_t badpid[] = { 7, 2, 1, 2 };
	struct de_buf j = DE_BUF_INIT;
	struct de_json js;
	de_json_init(&js, &j);
	de_json_obj_begin(&js);
	assert_int_equal(de_canon_json(&js, DE_LREC_EXEC, badpid, sizeof(badpid)), -EBADMSG);
	de_json_obj_end(&js);
	assert_string_equal(de_buf_str(&j),
			    "{\"payload_error\":\"malformed payload\",\"payload_hex\":\"07020102\"}");
	de_buf_free(&j);
}

static void test_canon_security(void **state)
{
	(void)state;
	struct de_ledger_sec s = { .component = "procmond", .has_result = true, .result = -EPERM,
				   .has_ids = true, .uid = 998, .gid = 997 };
	struct de_buf a = DE_BUF_INIT, t = DE_BUF_INIT;
	assert_int_equal(de_canon_security(&a, &s), 0);
	assert_int_equal(de_canon_text(&t, DE_LREC_PRIVDROP, (uint8_t *)a.data, a.len), 0);
	assert_string_equal(de_buf_str(&t), "component=procmond result=-1 uid=998 gid=997");
	de_buf_free(&a);
	de_buf_free(&t);
}

static void test_key_and_note(void **state)
{
	(void)state;
	struct de_ledger_key *k = de_ledger_key_generate();
	assert_non_null(k);
	struct de_checkpoint cp = { .origin = "example.org/log", .size = 12345 };
	memset(cp.root, 0x5a, sizeof(cp.root));
	struct de_buf note = DE_BUF_INIT, vb = DE_BUF_INIT;
	assert_int_equal(de_checkpoint_sign(&cp, k, &note), 0);
	const char *s = de_buf_str(&note);
	assert_true(strncmp(s, "example.org/log\n12345\nWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\n\n"
			       "\xe2\x80\x94 example.org/log ", 88) == 0);
	struct de_vkey vk, back;
	assert_int_equal(de_vkey_make(cp.origin, de_ledger_key_public(k), &vk), 0);
	/* The key id: SHA-256(name || \n || 0x01 || key)[:4], big-endian. */
	uint8_t in[15 + 2 + 32];
	memcpy(in, "example.org/log\n\x01", 17);
	memcpy(in + 17, de_ledger_key_public(k), 32);
	struct de_hashes h;
	de_hash_mem(in, sizeof(in), DE_HASH_SHA256, &h);
	assert_int_equal(vk.id, (uint32_t)h.sha256[0] << 24 | (uint32_t)h.sha256[1] << 16 |
					(uint32_t)h.sha256[2] << 8 | h.sha256[3]);
	de_vkey_format(&vk, &vb);
	assert_int_equal(de_vkey_parse(vb.data, vb.len, &back), 0);
	assert_int_equal(back.id, vk.id);
	assert_memory_equal(back.pk, vk.pk, 32);
	/* A NUL inside the name is not the same name (found by fuzzing). */
	struct de_buf nb = DE_BUF_INIT;
	de_buf_append(&nb, "example.org/log", 15);
	de_buf_append(&nb, "\0\0", 2);
	de_buf_append(&nb, vb.data + 15, vb.len - 15);
	assert_int_equal(de_vkey_parse(nb.data, nb.len, &back), -EBADMSG);
	de_buf_free(&nb);
	vb.data[20] ^= 1; /* a changed id or key no longer matches */
	assert_int_equal(de_vkey_parse(vb.data, vb.len, &back), -EBADMSG);

	struct de_checkpoint got;
	size_t len;
	char why[160];
	assert_int_equal(de_checkpoint_verify(note.data, note.len, &vk, &got, &len, why, sizeof(why)),
			 0);
	assert_int_equal(len, note.len);
	assert_int_equal(got.size, 12345);
	assert_memory_equal(got.root, cp.root, 32);
	/* Any change to the body breaks the signature. */
	note.data[17] ^= 1;
	int x = de_checkpoint_verify(note.data, note.len, &vk, &got, &len, why, sizeof(why));
	assert_true(x == -EKEYREJECTED || x == -EBADMSG);
	note.data[17] ^= 1;
	/* Another key with the same name: not this key's signature. */
	struct de_ledger_key *k2 = de_ledger_key_generate();
	struct de_vkey vk2;
	de_vkey_make(cp.origin, de_ledger_key_public(k2), &vk2);
	assert_int_equal(de_checkpoint_verify(note.data, note.len, &vk2, &got, &len, why, sizeof(why)),
			 -ENOKEY);
	assert_non_null(strstr(why, "another key"));
	/* Another origin than the key's name. */
	struct de_vkey vk3;
	de_vkey_make("other/log", de_ledger_key_public(k), &vk3);
	assert_int_equal(de_checkpoint_verify(note.data, note.len, &vk3, &got, &len, why, sizeof(why)),
			 -ENOKEY);
	de_ledger_key_free(k2);
	de_ledger_key_free(k);
	de_buf_free(&note);
	de_buf_free(&vb);
}

static void test_note_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"origin\n1\nWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\n",      /* no signature */
		"origin\n01\nWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\n\n\xe2\x80\x94 o AAAAAAAAAAAA\n",
		"origin\n-1\nWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\n\n\xe2\x80\x94 o AAAAAAAAAAAA\n",
		"origin\n18446744073709551616\nWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\n\n\xe2\x80\x94 o AAAAAAAAAAAA\n",
		"origin\n1\nWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpa\n\n\xe2\x80\x94 o AAAAAAAAAAAA\n",
		"origin\n1\nWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlr=\n\n\xe2\x80\x94 o AAAAAAAAAAAA\n",
		"ori gin\n1\nWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\n\n\xe2\x80\x94 o AAAAAAAAAAAA\n",
		"origin\n1\nWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\n\n- o AAAAAAAAAAAA\n",
		"origin\n1\nWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\n\n\xe2\x80\x94 o AAAAAAAAAAAA",
		"origin\n1\n\n\xe2\x80\x94 o AAAAAAAAAAAA\n",
		"origin\n1\nWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\next\tab\n\n\xe2\x80\x94 o AAAAAAAAAAAA\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct de_checkpoint cp;
		size_t len;
		char why[160] = "";
		int r = de_checkpoint_parse(bad[i], strlen(bad[i]), &cp, &len, why, sizeof(why));
		if (r != -EBADMSG)
			fail_msg("case %zu accepted (%d)", i, r);
		assert_true(why[0] != '\0');
	}
	/* Extension lines are allowed; the parse of a good one. */
	static const char good[] =
		"origin\n18446744073709551615\nWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\next\n\n"
		"\xe2\x80\x94 o AAAAAAAAAAAA\n\nnext";
	struct de_checkpoint cp;
	size_t len;
	assert_int_equal(de_checkpoint_parse(good, strlen(good), &cp, &len, NULL, 0), 0);
	assert_int_equal(cp.size, UINT64_MAX);
	assert_int_equal(len, strlen(good) - 5);
}

static void test_key_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/de-keys-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char keys[64], path[96];
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(path, sizeof(path), "%s/" DE_LEDGER_KEY_FILE, keys);
	bool created = false;
	assert_null(de_ledger_key_load(keys, false, &created));
	struct de_ledger_key *k = de_ledger_key_load(keys, true, &created);
	assert_non_null(k);
	assert_true(created);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0400);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(stat(keys, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	uint8_t pk[32];
	memcpy(pk, de_ledger_key_public(k), 32);
	de_ledger_key_free(k);
	k = de_ledger_key_load(keys, true, &created);
	assert_non_null(k);
	assert_false(created);
	assert_memory_equal(de_ledger_key_public(k), pk, 32); /* the same key again */
	uint8_t sig[64];
	assert_int_equal(de_ledger_key_sign(k, "m", 1, sig), 0);
	assert_int_equal(de_ledger_key_sign(k, "m", 1, sig), 0); /* usable again after noaccess */
	de_ledger_key_free(k);
	/* A key others can read is refused. */
	assert_int_equal(chmod(path, 0440), 0);
	assert_null(de_ledger_key_load(keys, true, NULL));
	assert_int_equal(errno, EPERM);
	assert_int_equal(chmod(path, 0400), 0);
	unlink(path);
	rmdir(keys);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_roundtrip), cmocka_unit_test(test_frame_damage),
		cmocka_unit_test(test_reader),          cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_canon_event),     cmocka_unit_test(test_canon_rejects),
		cmocka_unit_test(test_canon_security),  cmocka_unit_test(test_key_and_note),
		cmocka_unit_test(test_note_rejects),    cmocka_unit_test(test_key_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

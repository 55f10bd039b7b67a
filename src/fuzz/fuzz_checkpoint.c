/* fuzz_checkpoint.c: libFuzzer target for the checkpoint (signed note) and
 * verifier key parsers.
 *
 * Checks beyond "no crash": a refusal is -EBADMSG or -EMSGSIZE with a
 * one-line reason; an accepted note lies within the input, its origin is
 * a valid key name, and what it says survives re-encoding (the body of an
 * accepted note starts with exactly "origin\nsize\n"); verification with a
 * fixed key never accepts (the fuzzer cannot forge Ed25519) and fails
 * with one of the documented errors. A vkey that parses formats back to
 * the same text.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ledger_note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct de_checkpoint cp;
	size_t len = 0;
	char why[256];
	int r = de_checkpoint_parse(s, size, &cp, &len, why, sizeof(why));
	if (r < 0) {
		if (r != -EBADMSG && r != -EMSGSIZE)
			abort();
		if (r == -EBADMSG && (!why[0] || strchr(why, '\n')))
			abort();
	} else {
		if (len == 0 || len > size || len > DE_NOTE_MAX || !de_note_name_ok(cp.origin))
			abort();
		char head[DE_NOTE_NAME_MAX + 32];
		int n = snprintf(head, sizeof(head), "%s\n%llu\n", cp.origin,
				 (unsigned long long)cp.size);
		if (n < 0 || (size_t)n > len || memcmp(head, s, (size_t)n) != 0)
			abort();
		static const uint8_t pk[32] = { 1, 2, 3 };
		struct de_vkey vk;
		if (de_vkey_make(cp.origin, pk, &vk) < 0)
			abort();
		int v = de_checkpoint_verify(s, size, &vk, &cp, &len, why, sizeof(why));
		if (v != -ENOKEY && v != -EKEYREJECTED)
			abort();
	}
	struct de_vkey vk;
	if (de_vkey_parse(s, size, &vk) == 0) {
		struct de_buf b = DE_BUF_INIT;
		if (de_vkey_format(&vk, &b) < 0)
			abort();
		size_t n = size && s[size - 1] == '\n' ? size - 1 : size;
		if (b.len != n || memcmp(b.data, s, n) != 0)
			abort();
		de_buf_free(&b);
	}
	return 0;
}

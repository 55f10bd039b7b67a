/* fuzz_merkleproof.c: libFuzzer target for the proof JSON parser.
 *
 * Feeds arbitrary bytes to de_merkle_proof_parse and checks its promises
 * beyond "no crash": a refusal is -EBADMSG or -EMSGSIZE with a one-line
 * reason; an accepted document is within bounds, writes back to text that
 * parses to the same document (the canonical form is a fixed point), and
 * goes through verification without crashing whatever its numbers are.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "merkle_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct de_merkle_proof_doc d, back;
	char err[256];
	int r = de_merkle_proof_parse((const char *)data, size, &d, err, sizeof(err));
	if (r < 0) {
		if (r != -EBADMSG && r != -EMSGSIZE)
			abort();
		if (!err[0] || strchr(err, '\n') || strnlen(err, sizeof(err)) >= sizeof(err))
			abort();
		return 0;
	}
	if (size > DE_MERKLE_JSON_MAX || d.proof.count > DE_MERKLE_MAX_PROOF)
		abort();
	if (d.type != DE_MERKLE_INCLUSION && d.type != DE_MERKLE_CONSISTENCY)
		abort();
	struct de_buf b = DE_BUF_INIT;
	if (de_merkle_proof_write(&b, &d) < 0)
		abort();
	if (de_merkle_proof_parse(b.data, b.len, &back, NULL, 0) != 0)
		abort();
	struct de_buf b2 = DE_BUF_INIT;
	if (de_merkle_proof_write(&b2, &back) < 0 || b2.len != b.len ||
	    memcmp(b.data, b2.data, b.len) != 0)
		abort();
	de_buf_free(&b);
	de_buf_free(&b2);
	(void)de_merkle_proof_doc_verify(&d);
	return 0;
}

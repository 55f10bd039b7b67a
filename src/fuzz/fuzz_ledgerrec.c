/* fuzz_ledgerrec.c: libFuzzer target for the ledger record reader.
 *
 * Decodes the input as a sequence of frames (a records file) and renders
 * every payload the way `audit show` does, checking the promises beyond
 * "no crash": a decoded frame lies within the input and its lengths add
 * up; a refusal is -EAGAIN or -EBADMSG; rendering gives valid text (no
 * control bytes) whatever the payload, and a payload that de_canon_check
 * rejects is rendered as a malformed one.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "emit.h"
#include "ledger_canon.h"
#include "ledger_rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero[32];
	size_t off = 0;
	struct de_buf b = DE_BUF_INIT;
	while (off < size) {
		struct de_lrec r;
		int n = de_lrec_decode(data + off, size - off, &r);
		if (n < 0) {
			if (n != -EAGAIN && n != -EBADMSG)
				abort();
			break;
		}
		if ((size_t)n > size - off || r.frame_len != (uint32_t)n ||
		    r.payload != data + off + DE_LREC_HDR ||
		    r.rec_len != (size_t)n - DE_LREC_MIN + DE_LREC_HDR - 4 ||
		    r.payload_len != (uint32_t)n - DE_LREC_MIN)
			abort();
		uint8_t leaf[32], leaf2[32];
		(void)de_lrec_chain_ok(&r, zero, leaf);
		de_lrec_leaf(&r, leaf2);
		if (memcmp(leaf, leaf2, 32) != 0)
			abort();
		for (int json = 0; json < 2; json++) {
			de_buf_reset(&b);
			int x;
			if (json) {
				struct de_json j;
				de_json_init(&j, &b);
				de_json_obj_begin(&j);
				x = de_canon_json(&j, r.type, r.payload, r.payload_len);
				de_json_obj_end(&j);
			} else {
				x = de_canon_text(&b, r.type, r.payload, r.payload_len);
			}
			if (b.err)
				break;
			for (size_t i = 0; i < b.len; i++)
				if ((unsigned char)b.data[i] < 0x20)
					abort();
			if (x < 0 && x != -EBADMSG)
				abort();
			if (r.type != DE_LREC_ALERT && r.type >= DE_LREC_EXEC &&
			    (r.type <= DE_LREC_FORK || de_lrec_is_security(r.type)) &&
			    de_canon_check(r.payload, r.payload_len) < 0 && x != -EBADMSG)
				abort();
		}
		off += (size_t)n;
	}
	de_buf_free(&b);
	return 0;
}

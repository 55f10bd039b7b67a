/* ledger_note.h: signed checkpoints of the audit ledger in the C2SP
 * formats (c2sp.org/tlog-checkpoint, c2sp.org/signed-note).
 *
 * A checkpoint is a signed note whose body is
 *   <origin>\n<tree size, decimal>\n<root hash, base64>\n[extension lines]
 * followed by an empty line and one or more signature lines
 *   \u2014 <key name> <base64(key id (4 bytes) || Ed25519 signature (64))>\n
 * The signature covers the body bytes (through its last newline). The key
 * id of an Ed25519 key is the first 4 bytes of
 * SHA-256(name || 0x0A || 0x01 || public key). A verifier key ("vkey", what
 * `daemoneye audit pubkey` prints) is
 *   <name>+<key id, 8 hex>+<base64(0x01 || public key)>
 * The ledger's key name is its origin.
 *
 * The parser takes untrusted text (a checkpoint file handed to `audit
 * verify`): at most DE_NOTE_MAX bytes, UTF-8 free of control characters
 * other than newline, every body line non-empty, the size in plain decimal
 * within uint64, the root exactly 32 bytes of canonical padded base64, at
 * most DE_NOTE_MAX_SIGS signature lines. Extension lines are accepted and
 * ignored as the format requires (they are signed, so not smuggled).
 * Signatures by unknown keys are skipped; a signature line that names the
 * verifier's key but carries another id or a bad signature is a rejection.
 * Fuzzed: src/fuzz/fuzz_checkpoint.c.
 */
#ifndef DE_LEDGER_NOTE_H
#define DE_LEDGER_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hash.h"
#include "ledger_key.h"

#define DE_NOTE_MAX 8192
#define DE_NOTE_MAX_SIGS 16
#define DE_NOTE_NAME_MAX 256 /* origin / key name, bytes with the NUL */

struct de_checkpoint {
	char origin[DE_NOTE_NAME_MAX];
	uint64_t size;
	uint8_t root[DE_HASH_LEN];
};

struct de_vkey {
	char name[DE_NOTE_NAME_MAX];
	uint32_t id;
	uint8_t pk[DE_ED25519_PK_LEN];
};

/* Is s a valid key name / origin (non-empty, < DE_NOTE_NAME_MAX bytes,
 * printable ASCII without spaces or '+')? */
bool de_note_name_ok(const char *s);

/* The verifier key for (name, public key). 0 or -EINVAL (bad name). */
int de_vkey_make(const char *name, const uint8_t *pk, struct de_vkey *out);
/* Append the vkey text (no newline). 0 or a negative errno. */
int de_vkey_format(const struct de_vkey *vk, struct de_buf *out);
/* Parse vkey text (one trailing newline allowed). 0 or -EBADMSG (also
 * when the id does not match the name and key). */
int de_vkey_parse(const char *s, size_t n, struct de_vkey *out);

/* Append the checkpoint for cp as a note signed by k under the name
 * cp->origin. 0 or a negative errno. */
int de_checkpoint_sign(const struct de_checkpoint *cp, struct de_ledger_key *k,
		       struct de_buf *out);

/* Parse the note at the start of s[0..n): fills cp, sets *note_len to the
 * bytes of the note (through the newline ending its last signature line).
 * Does not check signatures. Returns 0, -EBADMSG (reason in why), or
 * -EMSGSIZE for a note over DE_NOTE_MAX. */
int de_checkpoint_parse(const char *s, size_t n, struct de_checkpoint *cp, size_t *note_len,
			char *why, size_t whylen);

/* Parse the note at s and check a signature by vk over it (and that the
 * origin equals vk's name). Returns 0 when verified; -EBADMSG malformed;
 * -ENOKEY no signature line by vk's name and id; -EKEYREJECTED a signature
 * by vk's name that does not verify (or a wrong origin). why says which. */
int de_checkpoint_verify(const char *s, size_t n, const struct de_vkey *vk,
			 struct de_checkpoint *cp, size_t *note_len, char *why, size_t whylen);

#endif

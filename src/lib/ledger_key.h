/* ledger_key.h: the audit ledger's Ed25519 signing key (libsodium).
 *
 * The key is generated on first use from libsodium's CSPRNG and kept as its
 * 32-byte seed in KEYS_DIR/ledger.key (directory 0700, file 0400, owned by
 * the user that created it: root in production). Loading reads the seed
 * straight into sodium_malloc'd memory (guard pages, mlock'd, canary),
 * derives the 64-byte secret key into another guarded block, wipes the
 * seed, and marks the secret key inaccessible (sodium_mprotect_noaccess)
 * except inside de_ledger_key_sign. de_ledger_key_free zeroes and releases
 * it (sodium_free wipes). The secret is never copied to the stack, never
 * logged, never printed; only the public key leaves this module.
 *
 * Trade-off: the key is a file on the host, so root can read it; it does
 * not protect history from a root attacker by itself. What does is that
 * checkpoints (and the public key) are exported: a forger who signs a new
 * history with the stolen key still contradicts every checkpoint already
 * published. The public half is exported as a verifier key (ledger_note.h)
 * in the ledger's PUBKEY file and by `daemoneye audit pubkey`.
 */
#ifndef DE_LEDGER_KEY_H
#define DE_LEDGER_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DE_ED25519_PK_LEN 32
#define DE_ED25519_SIG_LEN 64
#define DE_LEDGER_KEY_FILE "ledger.key"

struct de_ledger_key;

/* Initialise libsodium (idempotent). 0 or -EIO. */
int de_sodium_init(void);

/* Load KEYS_DIR/ledger.key, creating the directory (0700) and a new key
 * (0400) when there is none (*created set). Refuses a key file that is a
 * symlink, not a regular file, of the wrong size, or readable by group or
 * others (-EPERM). NULL + errno on failure. */
struct de_ledger_key *de_ledger_key_load(const char *keys_dir, bool create, bool *created);
/* A fresh key in memory only (tests, tools). NULL + errno. */
struct de_ledger_key *de_ledger_key_generate(void);
/* Wipe and release; safe on NULL. */
void de_ledger_key_free(struct de_ledger_key *k);
static inline void de_ledger_key_freep(struct de_ledger_key **k)
{
	de_ledger_key_free(*k);
}

/* The public key (32 bytes). */
const uint8_t *de_ledger_key_public(const struct de_ledger_key *k);

/* Ed25519 signature of msg[0..n) into sig[64]. 0 or a negative errno. */
int de_ledger_key_sign(struct de_ledger_key *k, const void *msg, size_t n, uint8_t *sig);

#endif

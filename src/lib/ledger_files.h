/* ledger_files.h: the files of a ledger directory that both the writer
 * (ledger.h) and the readers (ledger_verify.h, the CLI) use: names, the
 * FORMAT file, the verifier key, the checkpoints file.
 *
 * Readers never repair or write anything here: a ledger may be live (its
 * writer holds the FORMAT lock) and the CLI must not disturb it.
 */
#ifndef DE_LEDGER_FILES_H
#define DE_LEDGER_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ledger_note.h"

#define DE_LEDGER_FORMAT "FORMAT"
#define DE_LEDGER_RECORDS "records"
#define DE_LEDGER_TREE "tree"
#define DE_LEDGER_CHECKPOINTS "checkpoints"
#define DE_LEDGER_PUBKEY "PUBKEY"
#define DE_LEDGER_TAIL "TAIL"
#define DE_LEDGER_MAGIC "daemoneye ledger 1\nhash blake3\n"
#define DE_LEDGER_GROUP "daemoneye"

/* The origin recorded in dirfd/FORMAT. 0, -ENOENT, or -EBADMSG. */
int de_ledger_format_read(int dirfd, char origin[DE_NOTE_NAME_MAX]);

/* The verifier key in a file (PUBKEY or one given by the user). 0 or a
 * negative errno (-EBADMSG: not a vkey). */
int de_ledger_vkey_load(int dirfd, const char *path, struct de_vkey *out);

/* Called for each note of the checkpoints file, in order: index from 0,
 * the note's bytes, its fields and the verdict of checking its signature
 * with vk (0, or ledger_note.h's -ENOKEY / -EKEYREJECTED / -EBADMSG; with
 * -EBADMSG cp is not valid and it is the last call). A non-zero return
 * stops the walk and is returned. */
typedef int (*de_ledger_cp_fn)(void *arg, unsigned index, const char *note, size_t len,
			       const struct de_checkpoint *cp, int verdict, const char *why);

/* Walk dirfd/checkpoints. *end_out (may be NULL) gets the byte offset after
 * the last complete note and its separator: what a writer keeps of a torn
 * file. Returns 0 (also when the file is absent), fn's non-zero return,
 * or a negative errno. */
int de_ledger_checkpoints_each(int dirfd, const struct de_vkey *vk, de_ledger_cp_fn fn,
			       void *arg, uint64_t *end_out);

/* The TAIL hint: `size` records end at byte `end`; the last of them starts
 * at `last` and has chain hash `chain`. */
struct de_ledger_tail {
	uint64_t size, end, last;
	uint8_t chain[32];
};
int de_ledger_tail_read(int dirfd, struct de_ledger_tail *t);
int de_ledger_tail_write(int dirfd, const struct de_ledger_tail *t);

/* Replace dirfd/name with content (temporary file, fsync, rename), mode
 * 0640. 0 or a negative errno. */
int de_ledger_write_file(int dirfd, const char *name, const void *content, size_t n);

#endif

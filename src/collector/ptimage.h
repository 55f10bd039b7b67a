/* ptimage.h: one process image (what an exec loaded) for the process table.
 *
 * An image is a single allocation: a fixed header (time, exe dev/inode,
 * hashes, lengths and flags) followed by its strings (exe, filename, argv),
 * so a process costs no per-field mallocs. The filename is stored only
 * when it differs from exe. Images are immutable apart from their hash
 * fields and reference counted: a forked child that has not exec'd yet
 * shares its parent's image instead of copying it. Counting is plain (not
 * atomic): images belong to the table's thread.
 *
 * Hashes are stored once per value: an image points into its table's pool
 * of hash values (reference counted, found by value), so the 10,000
 * processes running one binary hold one copy of its hashes, not 10,000
 * (68 bytes each). Sharing is by value only: a binary rewritten in place
 * has other hashes, hence another entry.
 */
#ifndef DE_PTIMAGE_H
#define DE_PTIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "hash.h"

/* de_pt_image.flags */
#define DE_PT_IMG_HAVE_EXE      0x01
#define DE_PT_IMG_HAVE_FILENAME 0x02
#define DE_PT_IMG_HAVE_ARGV     0x04
#define DE_PT_IMG_HAVE_EXE_ID   0x08
#define DE_PT_IMG_ARGV_TRUNC    0x10
#define DE_PT_IMG_EXE_DELETED   0x20
#define DE_PT_IMG_EXE_MEMFD     0x40
#define DE_PT_IMG_SNAPSHOT      0x80 /* seen by a snapshot, not by an exec event */
#define DE_PT_IMG_FILENAME_EXE  0x100 /* filename equals exe (stored once) */

/* What is known about an image's hashes. */
enum de_pt_hash_state {
	DE_PT_HASH_NONE = 0,  /* not asked for */
	DE_PT_HASH_DEFERRED,  /* queued to the hash worker */
	DE_PT_HASH_SKIPPED,   /* not hashed: the worker's queue was full */
	DE_PT_HASH_KNOWN,     /* hashes valid */
	DE_PT_HASH_FAILED,    /* hash_err says why (-EACCES, -ESTALE: changed, ...) */
};

struct de_pt_hashval; /* one pooled hash value (ptimage.c) */

/* What the images of one table share: the table's byte counter (images
 * and pooled hash values are counted in it) and the hash value pool. */
struct de_pt_images {
	uint64_t *bytes;
	struct de_pt_hashval **hv_b; /* buckets, hv_mask + 1 of them */
	uint32_t hv_mask, hv_n;
};

/* 0 or -ENOMEM. ims->bytes is set by the caller. */
int de_pt_images_init(struct de_pt_images *ims, uint64_t *bytes);
/* Frees the pool; every image must have been released. */
void de_pt_images_free(struct de_pt_images *ims);

/* One image. Read-only for callers; valid until the record is evicted or
 * the table freed. Strings live in data[]: exe, filename, argv (NUL-
 * separated, argv_len bytes), present as the flags say. */
struct de_pt_image {
	uint32_t refs;
	uint32_t argc, argv_len;
	uint16_t exe_len, filename_len;
	uint16_t flags;         /* DE_PT_IMG_* */
	uint8_t hash_state;     /* enum de_pt_hash_state */
	int16_t hash_err;
	int64_t time_ns;        /* of the exec (or of the snapshot that saw it) */
	uint64_t exe_dev, exe_ino;
	struct de_pt_hashval *hv; /* pooled hashes: set when hash_state is DE_PT_HASH_KNOWN */
	char data[];
};

/* The image's hashes, or NULL unless hash_state is DE_PT_HASH_KNOWN. */
const struct de_hashes *de_pt_image_hashes(const struct de_pt_image *im);
/* Record the image's hashes (state DE_PT_HASH_KNOWN, replacing any
 * earlier value). 0 or -ENOMEM (the image is unchanged). */
int de_pt_image_set_hashes(struct de_pt_images *ims, struct de_pt_image *im,
			   const struct de_hashes *h);
/* Record that hashing failed with err (state DE_PT_HASH_FAILED; a pooled
 * value it held is released). */
void de_pt_image_set_failed(struct de_pt_images *ims, struct de_pt_image *im, int err);

const char *de_pt_image_exe(const struct de_pt_image *im);      /* NULL when unknown */
const char *de_pt_image_filename(const struct de_pt_image *im); /* NULL when unknown */
const char *de_pt_image_argv(const struct de_pt_image *im);     /* NULL when unknown */

/* A new image (refs 1) from an exec or snapshot event: exe, filename,
 * argv, exe identity and hashes from the event, falling back to its
 * de_proc (snapshots) for what the event lacks. Adds its size to the
 * table's bytes. Returns NULL with errno set (ENOMEM). */
struct de_pt_image *de_pt_image_new(const struct de_event *ev, struct de_pt_images *ims);
struct de_pt_image *de_pt_image_ref(struct de_pt_image *im); /* NULL-safe */
/* Drop a reference; the last one frees it (and its hold on a pooled hash
 * value) and subtracts its size from the table's bytes. NULL-safe. */
void de_pt_image_unref(struct de_pt_image *im, struct de_pt_images *ims);
size_t de_pt_image_size(const struct de_pt_image *im);
/* The same exec seen twice (a duplicate event): same time, identity,
 * strings (hashes are not compared). */
bool de_pt_image_same(const struct de_pt_image *a, const struct de_pt_image *b);

#endif

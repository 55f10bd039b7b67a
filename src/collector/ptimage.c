/* ptimage.c: process images for the process table (see ptimage.h). */
#include "ptimage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One hash value in the pool, shared by every image whose binary has it. */
struct de_pt_hashval {
	struct de_pt_hashval *next; /* bucket chain */
	uint32_t refs;
	struct de_hashes h;         /* the digests of algorithms not in h.algos are zero */
};

int de_pt_images_init(struct de_pt_images *ims, uint64_t *bytes)
{
	*ims = (struct de_pt_images){ .bytes = bytes, .hv_mask = 63 };
	ims->hv_b = calloc(ims->hv_mask + 1, sizeof(*ims->hv_b));
	if (!ims->hv_b)
		return -ENOMEM;
	*bytes += (ims->hv_mask + 1) * sizeof(*ims->hv_b);
	return 0;
}

void de_pt_images_free(struct de_pt_images *ims)
{
	if (ims->hv_b)
		*ims->bytes -= (ims->hv_mask + 1) * sizeof(*ims->hv_b);
	free(ims->hv_b);
	ims->hv_b = NULL;
}

/* The value with the digests of algorithms not in algos zeroed: pooled
 * values compare with memcmp. */
static struct de_hashes hv_norm(const struct de_hashes *h)
{
	struct de_hashes n = { .algos = h->algos };
	if (h->algos & DE_HASH_SHA256)
		memcpy(n.sha256, h->sha256, sizeof(n.sha256));
	if (h->algos & DE_HASH_BLAKE3)
		memcpy(n.blake3, h->blake3, sizeof(n.blake3));
	return n;
}

/* Digests are uniformly distributed: their first bytes are the bucket. */
static uint32_t hv_bucket(const struct de_pt_images *ims, const struct de_hashes *n)
{
	uint32_t k;
	memcpy(&k, (n->algos & DE_HASH_SHA256) ? n->sha256 : n->blake3, sizeof(k));
	return (k ^ n->algos) & ims->hv_mask;
}

static void hv_grow(struct de_pt_images *ims)
{
	uint32_t nb = (ims->hv_mask + 1) * 2;
	struct de_pt_hashval **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	struct de_pt_images old = *ims;
	ims->hv_b = b;
	ims->hv_mask = nb - 1;
	for (uint32_t i = 0; i <= old.hv_mask; i++)
		for (struct de_pt_hashval *v = old.hv_b[i], *next; v; v = next) {
			next = v->next;
			uint32_t k = hv_bucket(ims, &v->h);
			v->next = b[k];
			b[k] = v;
		}
	free(old.hv_b);
	*ims->bytes += (uint64_t)(nb - (old.hv_mask + 1)) * sizeof(*b);
}

/* A reference to the pooled value equal to h (added when new); NULL with
 * errno ENOMEM. */
static struct de_pt_hashval *hv_get(struct de_pt_images *ims, const struct de_hashes *h)
{
	struct de_hashes n = hv_norm(h);
	for (struct de_pt_hashval *v = ims->hv_b[hv_bucket(ims, &n)]; v; v = v->next)
		if (memcmp(&v->h, &n, sizeof(n)) == 0) {
			v->refs++;
			return v;
		}
	if (ims->hv_n >= ims->hv_mask + 1)
		hv_grow(ims);
	struct de_pt_hashval *v = malloc(sizeof(*v));
	if (!v)
		return NULL;
	v->refs = 1;
	v->h = n;
	uint32_t k = hv_bucket(ims, &n);
	v->next = ims->hv_b[k];
	ims->hv_b[k] = v;
	ims->hv_n++;
	*ims->bytes += sizeof(*v);
	return v;
}

static void hv_put(struct de_pt_images *ims, struct de_pt_hashval *v)
{
	if (!v || --v->refs > 0)
		return;
	struct de_pt_hashval **pp = &ims->hv_b[hv_bucket(ims, &v->h)];
	while (*pp != v)
		pp = &(*pp)->next;
	*pp = v->next;
	ims->hv_n--;
	*ims->bytes -= sizeof(*v);
	free(v);
}

const struct de_hashes *de_pt_image_hashes(const struct de_pt_image *im)
{
	return im->hash_state == DE_PT_HASH_KNOWN && im->hv ? &im->hv->h : NULL;
}

int de_pt_image_set_hashes(struct de_pt_images *ims, struct de_pt_image *im,
			   const struct de_hashes *h)
{
	struct de_pt_hashval *v = hv_get(ims, h);
	if (!v)
		return -ENOMEM;
	hv_put(ims, im->hv);
	im->hv = v;
	im->hash_state = DE_PT_HASH_KNOWN;
	im->hash_err = 0;
	return 0;
}

void de_pt_image_set_failed(struct de_pt_images *ims, struct de_pt_image *im, int err)
{
	hv_put(ims, im->hv);
	im->hv = NULL;
	im->hash_state = DE_PT_HASH_FAILED;
	im->hash_err = (int16_t)(err < INT16_MIN ? INT16_MIN : err);
}

const char *de_pt_image_exe(const struct de_pt_image *im)
{
	return im->flags & DE_PT_IMG_HAVE_EXE ? im->data : NULL;
}

const char *de_pt_image_filename(const struct de_pt_image *im)
{
	if (!(im->flags & DE_PT_IMG_HAVE_FILENAME))
		return NULL;
	return im->flags & DE_PT_IMG_FILENAME_EXE ? im->data : im->data + im->exe_len + 1;
}

const char *de_pt_image_argv(const struct de_pt_image *im)
{
	return im->flags & DE_PT_IMG_HAVE_ARGV ? im->data + im->exe_len + 1 + im->filename_len + 1
					       : NULL;
}

size_t de_pt_image_size(const struct de_pt_image *im)
{
	return sizeof(*im) + im->exe_len + 1 + im->filename_len + 1 + im->argv_len;
}

void de_pt_image_unref(struct de_pt_image *im, struct de_pt_images *ims)
{
	if (!im || --im->refs > 0)
		return;
	hv_put(ims, im->hv);
	*ims->bytes -= de_pt_image_size(im);
	free(im);
}

struct de_pt_image *de_pt_image_ref(struct de_pt_image *im)
{
	if (im)
		im->refs++;
	return im;
}

static size_t clamp_len(const char *s, size_t max)
{
	return s ? strnlen(s, max) : 0;
}

/* A new image from an exec or snapshot event (strings copied into one
 * allocation). Fields the event lacks come from its de_proc when it has one. */
struct de_pt_image *de_pt_image_new(const struct de_event *ev, struct de_pt_images *ims)
{
	const struct de_proc *pr = (ev->have & DE_EVF_PROC) ? ev->proc : NULL;
	const char *exe = NULL, *filename = NULL, *argv = NULL;
	size_t argv_len = 0;
	uint32_t argc = 0;
	uint16_t flags = ev->type == DE_EV_SNAPSHOT ? DE_PT_IMG_SNAPSHOT : 0;
	uint64_t dev = 0, ino = 0;

	if ((ev->have & DE_EVF_EXE) && ev->exe) {
		exe = ev->exe;
		flags |= (ev->exe_deleted ? DE_PT_IMG_EXE_DELETED : 0) |
			 (ev->exe_memfd ? DE_PT_IMG_EXE_MEMFD : 0);
	} else if (pr && pr->err[DE_PF_EXE] == 0 && pr->exe) {
		exe = pr->exe;
		flags |= (pr->exe_deleted ? DE_PT_IMG_EXE_DELETED : 0) |
			 (pr->exe_memfd ? DE_PT_IMG_EXE_MEMFD : 0);
	}
	if ((ev->have & DE_EVF_FILENAME) && ev->filename)
		filename = ev->filename;
	if ((ev->have & DE_EVF_ARGV) && ev->argv) {
		argv = ev->argv;
		argv_len = ev->argv_len;
		argc = ev->argc;
		flags |= ev->argv_truncated ? DE_PT_IMG_ARGV_TRUNC : 0;
	} else if (pr && pr->err[DE_PF_CMDLINE] == 0 && pr->argv) {
		argv = pr->argv;
		argv_len = pr->argv_len;
		argc = pr->argc;
		flags |= pr->argv_truncated ? DE_PT_IMG_ARGV_TRUNC : 0;
	}
	if (ev->have & DE_EVF_EXE_ID) {
		dev = ev->exe_dev;
		ino = ev->exe_ino;
		flags |= DE_PT_IMG_HAVE_EXE_ID;
	} else if (pr && pr->err[DE_PF_EXE_FILE] == 0) {
		dev = pr->exe_file.dev;
		ino = pr->exe_file.ino;
		flags |= DE_PT_IMG_HAVE_EXE_ID;
	}
	size_t exe_len = clamp_len(exe, UINT16_MAX - 1);
	size_t fn_len = clamp_len(filename, UINT16_MAX - 1);
	if (filename && exe && fn_len == exe_len && memcmp(filename, exe, fn_len) == 0) {
		flags |= DE_PT_IMG_FILENAME_EXE;
		fn_len = 0;
	}
	if (argv_len > UINT32_MAX / 2)
		argv_len = UINT32_MAX / 2;
	size_t size = sizeof(struct de_pt_image) + exe_len + 1 + fn_len + 1 + argv_len;
	struct de_pt_image *im = malloc(size);
	if (!im)
		return NULL;
	memset(im, 0, sizeof(*im));
	im->refs = 1;
	im->argc = argc;
	im->argv_len = (uint32_t)argv_len;
	im->exe_len = (uint16_t)exe_len;
	im->filename_len = (uint16_t)fn_len;
	flags |= (exe ? DE_PT_IMG_HAVE_EXE : 0) | (filename ? DE_PT_IMG_HAVE_FILENAME : 0) |
		 (argv ? DE_PT_IMG_HAVE_ARGV : 0);
	im->flags = flags;
	im->time_ns = ev->time_ns;
	im->exe_dev = dev;
	im->exe_ino = ino;
	if ((ev->have & DE_EVF_HASH) && de_pt_image_set_hashes(ims, im, &ev->hashes) < 0) {
		free(im);
		errno = ENOMEM;
		return NULL;
	}
	char *d = im->data;
	if (exe_len)
		memcpy(d, exe, exe_len);
	d[exe_len] = '\0';
	d += exe_len + 1;
	if (fn_len)
		memcpy(d, filename, fn_len); /* not when it equals exe */
	d[fn_len] = '\0';
	d += fn_len + 1;
	if (argv_len)
		memcpy(d, argv, argv_len);
	*ims->bytes += size;
	return im;
}

bool de_pt_image_same(const struct de_pt_image *a, const struct de_pt_image *b)
{
	return a->time_ns == b->time_ns && a->exe_dev == b->exe_dev && a->exe_ino == b->exe_ino &&
	       a->argv_len == b->argv_len && a->exe_len == b->exe_len &&
	       a->filename_len == b->filename_len && a->flags == b->flags &&
	       memcmp(a->data, b->data, de_pt_image_size(a) - sizeof(*a)) == 0;
}


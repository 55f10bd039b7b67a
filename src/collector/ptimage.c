/* ptimage.c: process images for the process table (see ptimage.h). */
#include "ptimage.h"

#include <stdlib.h>
#include <string.h>

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

void de_pt_image_unref(struct de_pt_image *im, uint64_t *bytes)
{
	if (!im || --im->refs > 0)
		return;
	*bytes -= de_pt_image_size(im);
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
struct de_pt_image *de_pt_image_new(const struct de_event *ev, uint64_t *bytes)
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
	if (ev->have & DE_EVF_HASH) {
		im->hashes = ev->hashes;
		im->hash_state = DE_PT_HASH_KNOWN;
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
	*bytes += size;
	return im;
}

bool de_pt_image_same(const struct de_pt_image *a, const struct de_pt_image *b)
{
	return a->time_ns == b->time_ns && a->exe_dev == b->exe_dev && a->exe_ino == b->exe_ino &&
	       a->argv_len == b->argv_len && a->exe_len == b->exe_len &&
	       a->filename_len == b->filename_len && a->flags == b->flags &&
	       memcmp(a->data, b->data, de_pt_image_size(a) - sizeof(*a)) == 0;
}


/* ledger_files.c: FORMAT, PUBKEY, checkpoints and TAIL (ledger_files.h). */
#include "ledger_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "log.h"
#include "macros.h"

int de_ledger_format_read(int dirfd, char origin[DE_NOTE_NAME_MAX])
{
	char text[512];
	ssize_t n = de_read_file_at(dirfd, DE_LEDGER_FORMAT, text, sizeof(text));
	if (n < 0)
		return n == -EFBIG ? -EBADMSG : (int)n;
	size_t ml = strlen(DE_LEDGER_MAGIC);
	if ((size_t)n < ml || memcmp(text, DE_LEDGER_MAGIC, ml) != 0 ||
	    strncmp(text + ml, "origin ", 7) != 0)
		return -EBADMSG;
	char *o = text + ml + 7, *nl = strchr(o, '\n');
	if (!nl || nl[1] != '\0' || (size_t)(nl - o) >= DE_NOTE_NAME_MAX)
		return -EBADMSG;
	*nl = '\0';
	if (!de_note_name_ok(o))
		return -EBADMSG;
	strcpy(origin, o);
	return 0;
}

int de_ledger_vkey_load(int dirfd, const char *path, struct de_vkey *out)
{
	char text[1024];
	ssize_t n = de_read_file_at(dirfd, path, text, sizeof(text));
	if (n < 0)
		return n == -EFBIG ? -EBADMSG : (int)n;
	return de_vkey_parse(text, (size_t)n, out);
}

/* The whole file into b (the checkpoints file grows by ~250 bytes per
 * checkpoint: a few MiB a year at the default interval). */
static int slurp(int dirfd, const char *name, struct de_buf *b)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return de_neg_errno();
	struct stat st;
	if (fstat(fd, &st) < 0)
		return de_neg_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	size_t want = (size_t)st.st_size;
	int r = de_buf_reserve(b, want + 1);
	if (r < 0)
		return r;
	ssize_t n = de_pread_full(fd, b->data, want, 0);
	if (n < 0)
		return (int)n;
	b->len = (size_t)n;
	b->data[b->len] = '\0';
	return 0;
}

int de_ledger_checkpoints_each(int dirfd, const struct de_vkey *vk, de_ledger_cp_fn fn,
			       void *arg, uint64_t *end_out)
{
	struct de_buf b = DE_BUF_INIT;
	if (end_out)
		*end_out = 0;
	int r = slurp(dirfd, DE_LEDGER_CHECKPOINTS, &b);
	if (r == -ENOENT)
		return 0;
	size_t off = 0;
	for (unsigned i = 0; r >= 0 && off < b.len; i++) {
		struct de_checkpoint cp;
		size_t len = 0;
		char why[160] = "";
		size_t left = DE_MIN(b.len - off, (size_t)DE_NOTE_MAX + 1);
		int v = de_checkpoint_verify(b.data + off, left, vk, &cp, &len, why, sizeof(why));
		if (v == -EBADMSG || v == -EMSGSIZE || off + len >= b.len || b.data[off + len] != '\n') {
			/* Malformed, or the last note is torn (no separator). */
			if (v == 0 || v == -ENOKEY || v == -EKEYREJECTED)
				de_why(why, sizeof(why), "note not terminated by an empty line");
			r = fn(arg, i, b.data + off, b.len - off, &cp, -EBADMSG, why);
			break;
		}
		r = fn(arg, i, b.data + off, len, &cp, v, why);
		if (r != 0)
			break;
		off += len + 1;
		if (end_out)
			*end_out = off;
	}
	de_buf_free(&b);
	return r;
}

int de_ledger_write_file(int dirfd, const char *name, const void *content, size_t n)
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	_cleanup_close_ int fd =
		openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return de_neg_errno();
	errno = 0;
	if (write(fd, content, n) != (ssize_t)n || fsync(fd) < 0)
		return de_neg_errno();
	if (renameat(dirfd, tmp, dirfd, name) < 0)
		return de_neg_errno();
	return 0;
}

int de_ledger_tail_read(int dirfd, struct de_ledger_tail *t)
{
	char text[256], hex[65];
	ssize_t n = de_read_file_at(dirfd, DE_LEDGER_TAIL, text, sizeof(text));
	if (n < 0)
		return (int)n;
	unsigned long long a, b, c;
	if (sscanf(text, "%llu %llu %llu %64s", &a, &b, &c, hex) != 4 || strlen(hex) != 64)
		return -EBADMSG;
	t->size = a;
	t->end = b;
	t->last = c;
	for (unsigned i = 0; i < 32; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EBADMSG;
		t->chain[i] = (uint8_t)v;
	}
	return 0;
}

int de_ledger_tail_write(int dirfd, const struct de_ledger_tail *t)
{
	char hex[65], text[256];
	de_hex(t->chain, 32, hex);
	int n = snprintf(text, sizeof(text), "%llu %llu %llu %s\n", (unsigned long long)t->size,
			 (unsigned long long)t->end, (unsigned long long)t->last, hex);
	return de_ledger_write_file(dirfd, DE_LEDGER_TAIL, text, (size_t)n);
}

/* spill.c: see spill.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipcframe.h"
#include "macros.h"
#include "spill.h"

#define SEG_PREFIX "seg-"

struct de_spill {
	int dirfd;
	uint64_t cap, seg_max;
	uint64_t rd_seg, wr_seg;   /* segment numbers: oldest (read) and newest (write) */
	int rd_fd, wr_fd;          /* -1 when not open */
	uint64_t rd_off, wr_off;   /* read offset in rd_seg, size of wr_seg */
	uint64_t frames, bytes;    /* frames not yet consumed; bytes of every segment on disk */
	uint64_t peeked;           /* length of the frame the last peek returned (0: none) */
};

static void seg_name(uint64_t n, char out[32])
{
	snprintf(out, 32, SEG_PREFIX "%016" PRIx64, n);
}

static int open_seg(struct de_spill *s, uint64_t n, int flags)
{
	char name[32];
	seg_name(n, name);
	int fd = openat(s->dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
	return fd < 0 ? de_neg_errno() : fd;
}

static void unlink_seg(struct de_spill *s, uint64_t n)
{
	char name[32];
	seg_name(n, name);
	unlinkat(s->dirfd, name, 0);
}

int de_spill_open(const struct de_spill_opts *o, struct de_spill **out, uint64_t *discarded)
{
	*discarded = 0;
	struct de_spill *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cap = o->cap_bytes ? o->cap_bytes : DE_SPILL_CAP_DEFAULT;
	s->seg_max = o->segment_bytes ? o->segment_bytes : DE_SPILL_SEGMENT_DEFAULT;
	s->rd_fd = s->wr_fd = -1;
	s->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->dirfd < 0) {
		int r = de_neg_errno();
		free(s);
		return r;
	}
	/* Segments of an earlier run: their seqs mean nothing to this run. */
	int dfd = dup(s->dirfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (strncmp(e->d_name, SEG_PREFIX, strlen(SEG_PREFIX)) != 0)
				continue;
			struct stat st;
			if (fstatat(s->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode))
				*discarded += (uint64_t)st.st_size;
			unlinkat(s->dirfd, e->d_name, 0);
		}
		closedir(d);
	} else if (dfd >= 0) {
		close(dfd);
	}
	*out = s;
	return 0;
}

void de_spill_close(struct de_spill *s)
{
	if (!s)
		return;
	if (s->rd_fd >= 0 && s->rd_fd != s->wr_fd)
		close(s->rd_fd);
	if (s->wr_fd >= 0)
		close(s->wr_fd);
	/* What is left is this run's: a later run would discard it anyway. */
	for (uint64_t n = s->rd_seg; s->frames && n <= s->wr_seg; n++)
		unlink_seg(s, n);
	close(s->dirfd);
	free(s);
}

int de_spill_push(struct de_spill *s, const void *frame, size_t n)
{
	if (s->bytes + n > s->cap)
		return -ENOSPC;
	if (s->wr_fd >= 0 && s->wr_off + n > s->seg_max && s->wr_off > 0) {
		if (s->wr_fd != s->rd_fd)
			close(s->wr_fd);
		s->wr_fd = -1;
		s->wr_seg++;
		s->wr_off = 0;
	}
	if (s->wr_fd < 0) {
		if (!s->frames) { /* empty: start again at a fresh segment */
			s->rd_seg = s->wr_seg;
			s->rd_off = 0;
		}
		int fd = open_seg(s, s->wr_seg, O_RDWR | O_CREAT | O_TRUNC | O_APPEND);
		if (fd < 0)
			return fd;
		s->wr_fd = fd;
	}
	const uint8_t *p = frame;
	size_t left = n;
	while (left) {
		ssize_t w = write(s->wr_fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int r = de_neg_errno();
			/* Cut back what was written, so the file stays whole frames. */
			if (ftruncate(s->wr_fd, (off_t)s->wr_off) < 0)
				return -EIO;
			return r;
		}
		p += w;
		left -= (size_t)w;
	}
	s->wr_off += n;
	s->bytes += n;
	s->frames++;
	return 0;
}

static int read_all(int fd, void *p, size_t n, uint64_t off)
{
	uint8_t *b = p;
	while (n) {
		ssize_t r = pread(fd, b, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return de_neg_errno();
		if (r == 0)
			return -EBADMSG;
		b += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int64_t de_spill_peek(struct de_spill *s, struct de_buf *out)
{
	de_buf_reset(out);
	s->peeked = 0;
	if (!s->frames)
		return 0;
	for (;;) {
		if (s->rd_fd < 0) {
			if (s->rd_seg == s->wr_seg && s->wr_fd >= 0) {
				s->rd_fd = s->wr_fd;
			} else {
				int fd = open_seg(s, s->rd_seg, O_RDONLY);
				if (fd < 0)
					return fd;
				s->rd_fd = fd;
			}
		}
		uint64_t end = s->rd_seg == s->wr_seg ? s->wr_off : UINT64_MAX;
		if (s->rd_seg != s->wr_seg) {
			struct stat st;
			if (fstat(s->rd_fd, &st) < 0)
				return de_neg_errno();
			end = (uint64_t)st.st_size;
		}
		if (s->rd_off < end)
			break;
		/* This segment is used up: delete it and go on to the next. */
		if (s->rd_seg == s->wr_seg)
			return -EBADMSG; /* frames left but no bytes: cannot happen */
		close(s->rd_fd);
		s->rd_fd = -1;
		unlink_seg(s, s->rd_seg);
		s->bytes -= DE_MIN(s->bytes, end);
		s->rd_seg++;
		s->rd_off = 0;
	}
	uint8_t hdr[DE_IPC_HDR_LEN];
	int r = read_all(s->rd_fd, hdr, sizeof(hdr), s->rd_off);
	if (r < 0)
		return r;
	int64_t len = de_ipc_hdr_parse(hdr, DE_IPC_FRAME_MAX_LIMIT);
	if (len < 0)
		return -EBADMSG;
	size_t total = DE_IPC_HDR_LEN + (size_t)len;
	if ((r = de_buf_reserve(out, total)) < 0)
		return r;
	memcpy(out->data, hdr, sizeof(hdr));
	if ((r = read_all(s->rd_fd, out->data + DE_IPC_HDR_LEN, (size_t)len,
			  s->rd_off + DE_IPC_HDR_LEN)) < 0)
		return r;
	out->len = total;
	s->peeked = total;
	return (int64_t)total;
}

void de_spill_pop(struct de_spill *s)
{
	if (!s->peeked || !s->frames)
		return;
	s->rd_off += s->peeked;
	s->peeked = 0;
	s->frames--;
	if (s->frames)
		return;
	/* Empty: delete every segment and start over (keeps the disk clean). */
	if (s->rd_fd >= 0 && s->rd_fd != s->wr_fd)
		close(s->rd_fd);
	if (s->wr_fd >= 0)
		close(s->wr_fd);
	s->rd_fd = s->wr_fd = -1;
	for (uint64_t n = s->rd_seg; n <= s->wr_seg; n++)
		unlink_seg(s, n);
	s->wr_seg++;
	s->rd_seg = s->wr_seg;
	s->rd_off = s->wr_off = 0;
	s->bytes = 0;
}

uint64_t de_spill_frames(const struct de_spill *s)
{
	return s->frames;
}

uint64_t de_spill_bytes(const struct de_spill *s)
{
	return s->bytes;
}

/* fileio.c: see fileio.h. */
#include "fileio.h"

#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "macros.h"

/* The loop behind de_read_full and de_pread_full (off < 0: read(2)). */
static ssize_t read_loop(int fd, void *p, size_t n, int64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = off < 0 ? read(fd, (char *)p + got, n - got)
				    : pread(fd, (char *)p + got, n - got, (off_t)(off + (int64_t)got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return de_neg_errno();
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

ssize_t de_read_full(int fd, void *p, size_t n) { return read_loop(fd, p, n, -1); }

ssize_t de_pread_full(int fd, void *p, size_t n, uint64_t off)
{
	if (off > INT64_MAX)
		return -EINVAL;
	return read_loop(fd, p, n, (int64_t)off);
}

/* read(2) into p[0..n), stopping at end of file or at the first short
 * read: procfs and sysfs hand out a whole (small) file in one read, so a
 * short read means the end, and not asking again saves a syscall per file. */
static ssize_t read_until_short(int fd, char *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		size_t want = n - got;
		ssize_t r = read(fd, p + got, want);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return de_neg_errno();
		}
		got += (size_t)r;
		if ((size_t)r < want)
			break;
	}
	return (ssize_t)got;
}

ssize_t de_read_file_at(int dirfd, const char *name, char *buf, size_t cap)
{
	if (cap == 0)
		return -EINVAL;
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return de_neg_errno();
	ssize_t n = read_until_short(fd, buf, cap - 1);
	if (n < 0) {
		buf[0] = '\0';
		return n;
	}
	buf[n] = '\0';
	if ((size_t)n == cap - 1) {
		char extra;
		ssize_t m = read(fd, &extra, 1);
		if (m > 0)
			return -EFBIG;
	}
	return n;
}

ssize_t de_read_file_at_buf(int dirfd, const char *name, struct de_buf *out, size_t max,
			    bool *truncated)
{
	*truncated = false;
	de_buf_reset(out);
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return de_neg_errno();
	for (;;) {
		size_t want = DE_MIN((size_t)65536, max - out->len);
		if (want == 0) {
			char extra;
			ssize_t m = read(fd, &extra, 1);
			if (m > 0)
				*truncated = true;
			break;
		}
		int r = de_buf_reserve(out, want);
		if (r < 0)
			return r;
		ssize_t n = read(fd, out->data + out->len, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return de_neg_errno();
		}
		out->len += (size_t)n;
		out->data[out->len] = '\0';
		if ((size_t)n < want && n < 4096)
			break; /* short read below a page: the end (see read_until_short) */
	}
	return (ssize_t)out->len;
}

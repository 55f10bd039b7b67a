/* fileio.h: reading small kernel-generated files (procfs, sysfs) fast.
 *
 * procfs files must be read with read(2) until EOF (their size is 0 in
 * stat), relative to an already-open directory so each read costs one path
 * component lookup. A kernel file hands out its content in one read, so a
 * short read is taken as the end of the file (one syscall saved per file;
 * this holds for regular files too). These helpers retry EINTR, refuse to
 * follow a symlink as the last component, and always NUL-terminate.
 */
#ifndef DE_FILEIO_H
#define DE_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* Read the file `name` under `dirfd` into buf[0..cap-1] and NUL-terminate.
 * Returns the number of bytes read (< cap), -EFBIG when the file does not
 * fit (buf then holds the first cap-1 bytes), or a negative errno. */
ssize_t de_read_file_at(int dirfd, const char *name, char *buf, size_t cap);

/* Read up to `max` bytes of `name` under `dirfd` into `out` (replacing its
 * content). Sets *truncated when the file holds more than `max` bytes.
 * Returns the number of bytes kept or a negative errno. */
ssize_t de_read_file_at_buf(int dirfd, const char *name, struct de_buf *out, size_t max,
			    bool *truncated);

/* read(2) retrying EINTR and short reads until `n` bytes or EOF. Returns the
 * bytes read or a negative errno. */
ssize_t de_read_full(int fd, void *p, size_t n);
/* The same with pread(2) from offset `off` (the fd's offset is unchanged). */
ssize_t de_pread_full(int fd, void *p, size_t n, uint64_t off);

#endif

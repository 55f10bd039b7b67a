/* macros.h: small language helpers shared by every module.
 *
 * Resource cleanup uses the compiler's cleanup attribute (the systemd
 * style): a variable declared `_cleanup_free_ char *p = NULL;` is freed when
 * it goes out of scope, so error paths cannot leak. Use `TAKE_PTR(p)` /
 * `TAKE_FD(fd)` to hand ownership out of such a variable.
 *
 * Error convention (the only one in this project): functions return an int,
 * >= 0 on success and a negative errno value on failure. Functions returning
 * a pointer return NULL and set errno. Errors are logged once, by the code
 * that handles them (usually the subcommand), never on the way up.
 */
#ifndef DE_MACROS_H
#define DE_MACROS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DE_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DE_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DE_MAX(a, b) ((a) > (b) ? (a) : (b))
#define DE_UNUSED __attribute__((unused))
#define DE_PRINTF(f, a) __attribute__((format(printf, f, a)))

static inline void de_freep(void *p) { free(*(void **)p); }
static inline void de_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void de_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(de_freep)
#define _cleanup_close_ _cleanup_(de_closep)
#define _cleanup_fclose_ _cleanup_(de_fclosep)

#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

/* Negative errno from the current errno, never 0 (for calls that failed
 * without setting it). */
static inline int de_neg_errno(void) { return errno > 0 ? -errno : -EIO; }

#endif

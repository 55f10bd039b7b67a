/* pidfile.h: the pid files of the running daemons (STATE/procmond.pid,
 * STATE/agent.pid; statedir.h).
 *
 * A pid file holds the decimal pid and a newline. It is written whole
 * (temporary file + rename) so a reader never sees half a number, and a
 * reader checks that the pid is alive and that its comm is daemoneye's
 * before trusting it, so a stale file left by a kill -9 (whose pid may
 * have been reused by an unrelated process) is not believed. Trade-off:
 * no lock file: two instances on one state directory are prevented by
 * the IPC socket (the second bind replaces the first's socket file), not
 * by the pid file.
 */
#ifndef DE_PIDFILE_H
#define DE_PIDFILE_H

#include <sys/types.h>

/* Write getpid() to path. Returns 0 or a negative errno. */
int de_pidfile_write(const char *path);

/* The pid in path when that process is alive and runs the daemoneye
 * executable (comm "daemoneye"). Returns the pid (> 0), -ENOENT (no file),
 * -ESRCH (stale: no such process, or another program), -EBADMSG (not a
 * pid). */
int de_pidfile_read(const char *path);

/* Remove path if it still names this process. */
void de_pidfile_remove(const char *path);

#endif

/* pidfile.c: see pidfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macros.h"
#include "pidfile.h"

int de_pidfile_write(const char *path)
{
	char tmp[4096], line[32];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	int len = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return de_neg_errno();
	if (write(fd, line, (size_t)len) != len) {
		int r = de_neg_errno();
		unlinkat(AT_FDCWD, tmp, 0);
		return r;
	}
	if (rename(tmp, path) < 0) {
		int r = de_neg_errno();
		unlinkat(AT_FDCWD, tmp, 0);
		return r;
	}
	return 0;
}

static int read_pid(const char *path)
{
	char buf[32];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : de_neg_errno();
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -EBADMSG;
	buf[n] = '\0';
	char *end;
	errno = 0;
	long v = strtol(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n') || v <= 0 || v > 0x3fffffff)
		return -EBADMSG;
	return (int)v;
}

int de_pidfile_read(const char *path)
{
	int pid = read_pid(path);
	if (pid < 0)
		return pid;
	char p[64], comm[64];
	snprintf(p, sizeof(p), "/proc/%d/comm", pid);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	ssize_t n = read(fd, comm, sizeof(comm) - 1);
	if (n <= 0)
		return -ESRCH;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	if (strcmp(comm, "daemoneye") != 0)
		return -ESRCH;
	return pid;
}

void de_pidfile_remove(const char *path)
{
	if (read_pid(path) == (int)getpid())
		unlinkat(AT_FDCWD, path, 0); /* unlinkat: what the daemons' seccomp lists allow */
}

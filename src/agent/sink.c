/* sink.c: the sink dispatcher and the local sinks: stdout, file, exec
 * (see sink.h). syslog and webhook live in sink_syslog.c and
 * sink_webhook.c.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "emit.h"
#include "log.h"
#include "sink.h"

void de_sink_fail(struct de_sink_result *r, bool permanent, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	r->permanent = permanent;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void render_json(const struct de_sink *s, const struct de_alert *a, struct de_buf *out)
{
	(void)s;
	de_alert_json(out, a);
}

/* ---- stdout ---------------------------------------------------------------- */

static void put_cmdline(struct de_buf *b, const struct de_alert_proc *p)
{
	for (size_t off = 0; off < p->argv_len;) {
		size_t n = strnlen(p->argv + off, p->argv_len - off);
		if (off)
			de_buf_putc(b, ' ');
		de_emit_text(b, p->argv + off, n);
		off += n + 1;
	}
}

/* One line for a person: time, severity, rule, process; untrusted text
 * through emit's text escaping, colour by severity when on a terminal. */
static void render_human(const struct de_sink *s, const struct de_alert *a, struct de_buf *b)
{
	static const char *const col[] = { "\033[36m", "\033[34m", "\033[33m", "\033[31m",
					   "\033[1;31m" };
	char t[32];
	time_t sec = (time_t)(a->time_ns / 1000000000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	de_buf_printf(b, "%s ", t);
	const char *sev = de_severity_name(a->severity);
	if (s->color && (unsigned)a->severity < DE_ARRAY_SIZE(col))
		de_buf_printf(b, "%s%-8s\033[0m ", col[a->severity], sev);
	else
		de_buf_printf(b, "%-8s ", sev);
	de_emit_text(b, a->rule_id ? a->rule_id : "-", a->rule_id ? strlen(a->rule_id) : 1);
	de_buf_puts(b, " \"");
	if (a->rule_name)
		de_emit_text(b, a->rule_name, strlen(a->rule_name));
	de_buf_puts(b, "\"");
	if (a->proc.present) {
		de_buf_printf(b, " pid=%d", (int)a->proc.pid);
		if (a->proc.user) {
			de_buf_puts(b, " user=");
			de_emit_text(b, a->proc.user, strlen(a->proc.user));
		}
		de_buf_puts(b, " cmd=");
		put_cmdline(b, &a->proc);
	} else if (a->checkpoint && a->dedup_key) {
		de_buf_printf(b, " %s", a->dedup_key);
	}
	de_buf_printf(b, " id=%s", a->id);
}

static void render_stdout(const struct de_sink *s, const struct de_alert *a, struct de_buf *out)
{
	if (s->human)
		render_human(s, a, out);
	else
		de_alert_json(out, a);
}

static int stdout_open(struct de_sink *s, char *why, size_t why_len)
{
	(void)why;
	(void)why_len;
	const char *nc = getenv("NO_COLOR");
	bool tty = isatty(STDOUT_FILENO);
	s->human = s->cfg->stdout_format == DE_STDOUT_HUMAN ||
		   (s->cfg->stdout_format == DE_STDOUT_AUTO && tty);
	s->color = s->human && tty && (!nc || !*nc);
	return 0;
}

static int line_send(int fd, const char *p, size_t n, struct de_sink_result *r, const char *what)
{
	struct iovec io[2] = { { (void *)p, n }, { (void *)"\n", 1 } };
	size_t total = n + 1;
	while (total) {
		ssize_t w = writev(fd, io, 2);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int e = de_neg_errno();
			de_sink_fail(r, false, "writing %s: %s", what, strerror(-e));
			return e;
		}
		total -= (size_t)w;
		for (int i = 0; i < 2 && w > 0; i++) {
			size_t k = DE_MIN((size_t)w, io[i].iov_len);
			io[i].iov_base = (char *)io[i].iov_base + k;
			io[i].iov_len -= k;
			w -= (ssize_t)k;
		}
	}
	return 0;
}

static int stdout_send(struct de_sink *s, const char *id, const char *p, size_t n,
		       struct de_sink_result *r)
{
	(void)s;
	(void)id;
	return line_send(STDOUT_FILENO, p, n, r, "stdout");
}

static const struct de_sink_ops stdout_ops = {
	.open = stdout_open, .render = render_stdout, .send = stdout_send,
};

/* ---- file ------------------------------------------------------------------ */

struct file_sink {
	int fd;
	uint64_t size;
	bool dirty;
};

static int file_reopen(struct de_sink *s, struct file_sink *f, char *why, size_t why_len)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = open(s->cfg->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (f->fd < 0) {
		int e = de_neg_errno();
		de_why(why, why_len, "opening the file: %s", strerror(-e));
		return e;
	}
	struct stat st;
	if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		de_why(why, why_len, "the path is not a regular file");
		close(f->fd);
		f->fd = -1;
		return -EINVAL;
	}
	f->size = (uint64_t)st.st_size;
	return 0;
}

static int file_open(struct de_sink *s, char *why, size_t why_len)
{
	struct file_sink *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = -1;
	s->priv = f;
	return file_reopen(s, f, why, why_len);
}

/* path.N -> path.N+1 for N = keep-1 .. 1, path -> path.1; the oldest
 * beyond `keep` is removed. keep = 0: the file is truncated instead. */
static int file_rotate(struct de_sink *s, struct file_sink *f, struct de_sink_result *r)
{
	const char *p = s->cfg->path;
	char a[PATH_MAX], b[PATH_MAX];
	if (f->fd >= 0 && fsync(f->fd) < 0) {
		int e = de_neg_errno();
		de_sink_fail(r, false, "fsync before rotation: %s", strerror(-e));
		return e;
	}
	if (s->cfg->keep == 0) {
		if (ftruncate(f->fd, 0) < 0)
			return de_neg_errno();
		f->size = 0;
		return 0;
	}
	snprintf(a, sizeof(a), "%s.%u", p, s->cfg->keep);
	unlink(a);
	for (unsigned i = s->cfg->keep; i > 1; i--) {
		snprintf(a, sizeof(a), "%s.%u", p, i - 1);
		snprintf(b, sizeof(b), "%s.%u", p, i);
		rename(a, b);
	}
	snprintf(b, sizeof(b), "%s.1", p);
	if (rename(p, b) < 0) {
		int e = de_neg_errno();
		de_sink_fail(r, false, "rotating: %s", strerror(-e));
		return e;
	}
	char why[DE_SINK_WHY_MAX];
	int e = file_reopen(s, f, why, sizeof(why));
	if (e < 0)
		de_sink_fail(r, false, "%s", why);
	return e;
}

static int file_flush(struct de_sink *s, struct de_sink_result *r)
{
	struct file_sink *f = s->priv;
	if (!f->dirty || s->cfg->fsync == DE_FSYNC_NONE)
		return 0;
	if (fdatasync(f->fd) < 0) {
		int e = de_neg_errno();
		de_sink_fail(r, false, "fsync: %s", strerror(-e));
		return e;
	}
	f->dirty = false;
	return 0;
}

static int file_send(struct de_sink *s, const char *id, const char *p, size_t n,
		     struct de_sink_result *r)
{
	(void)id;
	struct file_sink *f = s->priv;
	int e;
	if (f->fd < 0) {
		char why[DE_SINK_WHY_MAX];
		if ((e = file_reopen(s, f, why, sizeof(why))) < 0) {
			de_sink_fail(r, false, "%s", why);
			return e;
		}
	}
	if (s->cfg->max_bytes && f->size > 0 && f->size + n + 1 > s->cfg->max_bytes &&
	    (e = file_rotate(s, f, r)) < 0)
		return e;
	if ((e = line_send(f->fd, p, n, r, "the file")) < 0)
		return e;
	f->size += n + 1;
	f->dirty = true;
	if (s->cfg->fsync == DE_FSYNC_ALWAYS)
		return file_flush(s, r);
	return 0;
}

static void file_close(struct de_sink *s)
{
	struct file_sink *f = s->priv;
	if (!f)
		return;
	if (f->fd >= 0) {
		if (f->dirty && s->cfg->fsync != DE_FSYNC_NONE)
			fdatasync(f->fd);
		close(f->fd);
	}
	free(f);
}

static const struct de_sink_ops file_ops = {
	.open = file_open, .render = render_json, .send = file_send, .flush = file_flush,
	.close = file_close,
};

/* ---- exec ------------------------------------------------------------------ */

/* Run argv with the payload on stdin (no shell, empty environment except
 * PATH and DAEMONEYE_ALERT_ID, stdout/stderr to /dev/null). Exit status 0
 * is delivery; anything else, or timeout_ms passing (the child is then
 * killed), is a failure worth retrying. */
static int exec_send(struct de_sink *s, const char *id, const char *p, size_t n,
		     struct de_sink_result *r)
{
	int in[2];
	if (pipe2(in, O_CLOEXEC) < 0) {
		int e = de_neg_errno();
		de_sink_fail(r, false, "pipe: %s", strerror(-e));
		return e;
	}
	char idenv[64];
	snprintf(idenv, sizeof(idenv), "DAEMONEYE_ALERT_ID=%s", id);
	char *envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", idenv, NULL };
	pid_t pid = fork();
	if (pid < 0) {
		int e = de_neg_errno();
		close(in[0]);
		close(in[1]);
		de_sink_fail(r, false, "fork: %s", strerror(-e));
		return e;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (dup2(in[0], 0) < 0 || null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(126);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL); /* the worker blocks SIGPIPE */
		signal(SIGPIPE, SIG_DFL);
		execve(s->cfg->argv[0], s->cfg->argv, envp);
		_exit(127);
	}
	close(in[0]);
	int pfd = (int)pidfd_open(pid, 0);
	int64_t deadline = mono_ms() + s->cfg->timeout_ms;
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	int ret = 0;
	size_t off = 0;
	/* feed stdin (the child may exit without reading it all: EPIPE is
	 * fine, the exit status decides) */
	while (off < n) {
		struct pollfd pf = { in[1], POLLOUT, 0 };
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			break;
		if (poll(&pf, 1, (int)left) <= 0)
			continue;
		ssize_t w = write(in[1], p + off, n - off);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (w > 0)
			off += (size_t)w;
	}
	close(in[1]);
	int status = 0;
	bool done = false;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			done = true;
			break;
		}
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			break;
		if (pfd >= 0) {
			struct pollfd pf = { pfd, POLLIN, 0 };
			poll(&pf, 1, (int)left);
		} else {
			usleep(2000);
		}
	}
	if (!done) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		de_sink_fail(r, false, "timed out after %u ms (killed)", s->cfg->timeout_ms);
		ret = -ETIMEDOUT;
	} else if (WIFSIGNALED(status)) {
		de_sink_fail(r, false, "the program was killed by signal %d", WTERMSIG(status));
		ret = -ECHILD;
	} else if (WEXITSTATUS(status) != 0) {
		de_sink_fail(r, false, "the program exited with status %d%s", WEXITSTATUS(status),
			     WEXITSTATUS(status) == 127 ? " (could not run it)" : "");
		ret = -ECHILD;
	}
	if (pfd >= 0)
		close(pfd);
	return ret;
}

static int exec_open(struct de_sink *s, char *why, size_t why_len)
{
	if (access(s->cfg->argv[0], X_OK) < 0) {
		int e = de_neg_errno();
		struct de_buf b = DE_BUF_INIT;
		de_emit_text(&b, s->cfg->argv[0], strlen(s->cfg->argv[0]));
		de_why(why, why_len, "%s: %s", de_buf_str(&b), strerror(-e));
		de_buf_free(&b);
		return e;
	}
	return 0;
}

static const struct de_sink_ops exec_ops = {
	.open = exec_open, .render = render_json, .send = exec_send,
};

/* ---- dispatch -------------------------------------------------------------- */

struct de_sink *de_sink_open(const struct de_sink_cfg *cfg, char *why, size_t why_len)
{
	struct de_sink *s = calloc(1, sizeof(*s));
	if (!s) {
		de_why(why, why_len, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	s->cfg = cfg;
	switch (cfg->type) {
	case DE_SINK_STDOUT: s->ops = &stdout_ops; break;
	case DE_SINK_FILE: s->ops = &file_ops; break;
	case DE_SINK_SYSLOG: s->ops = &de_sink_syslog_ops; break;
	case DE_SINK_WEBHOOK: s->ops = &de_sink_webhook_ops; break;
	case DE_SINK_EXEC: s->ops = &exec_ops; break;
	}
	if (!s->ops) {
		de_why(why, why_len, "unknown sink type");
		free(s);
		errno = EINVAL;
		return NULL;
	}
	int r = s->ops->open ? s->ops->open(s, why, why_len) : 0;
	s->plain_json = cfg->type == DE_SINK_FILE || cfg->type == DE_SINK_WEBHOOK ||
			cfg->type == DE_SINK_EXEC || (cfg->type == DE_SINK_STDOUT && !s->human);
	if (r < 0) {
		de_sink_close(s);
		errno = -r;
		return NULL;
	}
	return s;
}

void de_sink_close(struct de_sink *s)
{
	if (!s)
		return;
	if (s->ops && s->ops->close)
		s->ops->close(s);
	free(s);
}

int de_alert_sample(struct de_alert *a, struct de_alert_storage *st, enum de_severity sev)
{
	memset(a, 0, sizeof(*a));
	memset(st, 0, sizeof(*st));
	int r = de_alert_new_id(a->id);
	if (r < 0)
		return r;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	a->time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	a->rule_id = "daemoneye-test";
	a->rule_name = "DaemonEye test alert";
	a->severity = sev;
	gethostname(st->host, sizeof(st->host) - 1);
	a->hostname = st->host;
	a->proc.present = true;
	a->proc.pid = getpid();
	a->proc.uid = getuid();
	ssize_t n = readlink("/proc/self/exe", st->exe, sizeof(st->exe) - 1);
	if (n > 0)
		a->proc.exe = st->exe;
	snprintf(st->comm, sizeof(st->comm), "daemoneye");
	a->proc.comm = st->comm;
	static const char argv[] = "daemoneye\0sinks\0test";
	memcpy(st->argv, argv, sizeof(argv));
	a->proc.argv = st->argv;
	a->proc.argv_len = sizeof(argv) - 1;
	return 0;
}

/* bench_ebpf.c: how many execs per second the eBPF event source follows
 * without losing one, and what each event costs the consumer.
 *
 *   bench_ebpf [-w WORKERS] [-d SECONDS] [-r RINGBUF_BYTES] [-b BINARY] [-s] [-n]
 *
 * -n runs the same workers without the source: the machine's exec rate
 * without monitoring, for comparison.
 *
 * WORKERS processes fork and exec BINARY (default /bin/true; it must exit
 * 0 whatever its arguments) with a marker argument as fast as they can
 * for SECONDS; -s starts each with posix_spawn() (vfork semantics: no
 * copy of the worker's page tables) instead of fork()+execv(). The
 * fastest exec on a machine is -s with a tiny static program
 * (build/bench/de_true where it is built): the dynamic loader's mappings
 * and page faults are most of an exec of /bin/true. This process
 * consumes the source the way
 * the collector does (epoll on fd(), then dispatch()) and counts the exec
 * events carrying the marker. It prints what was started, what was seen,
 * what the source reported lost (DE_ST_DROPS), and the consumer's own CPU
 * time (getrusage RUSAGE_THREAD: user + system, wakeups included) per event
 * delivered, and the part spent inside dispatch() alone. Needs
 * root. Not a test: the numbers go to docs/BENCHMARKS.md.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "source.h"

extern char **environ;

/* What the workers exec: set once in main(). */
static const char *exec_bin = "/bin/true";
static bool use_spawn;

struct counts {
	const char *marker;
	size_t marker_len, bin_len; /* argv is "BINARY\0MARKER" */
	uint64_t events, execs_marked, exits, forks, drops[DE_EV__COUNT], degraded;
};

static int on_event(const struct de_event *ev, void *ud)
{
	struct counts *c = ud;
	c->events++;
	switch (ev->type) {
	case DE_EV_EXEC:
		if ((ev->have & DE_EVF_ARGV) && ev->argv_len > c->bin_len &&
		    ev->argv_len - c->bin_len == c->marker_len &&
		    memcmp(ev->argv + c->bin_len, c->marker, c->marker_len) == 0)
			c->execs_marked++;
		break;
	case DE_EV_EXIT: c->exits++; break;
	case DE_EV_FORK: c->forks++; break;
	case DE_EV_STATUS:
		if (ev->status == DE_ST_DROPS)
			for (int t = 0; t < DE_EV__COUNT; t++)
				c->drops[t] += ev->drops[t];
		else
			c->degraded++;
		break;
	default: break;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* A worker: exec the binary until the deadline; reports how many ran. */
static void worker(const char *marker, double until, int out_fd)
{
	uint64_t n = 0, failed = 0;
	const char *const argv[] = { exec_bin, marker, NULL };
	while (now_s() < until) {
		pid_t c;
		if (use_spawn) {
			if (posix_spawn(&c, exec_bin, NULL, NULL, (char *const *)argv, environ) != 0) {
				failed++;
				continue;
			}
		} else if ((c = fork()) < 0) {
			continue;
		} else if (c == 0) {
			execv(exec_bin, (char *const *)argv);
			_exit(127);
		}
		int st;
		if (waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			n++;
		else
			failed++;
	}
	uint64_t msg[2] = { n, failed };
	(void)!write(out_fd, msg, sizeof(msg));
	_exit(0);
}

static uint64_t collect(int fd, uint64_t *failed)
{
	uint64_t started = 0, msg[2];
	*failed = 0;
	while (read(fd, msg, sizeof(msg)) == (ssize_t)sizeof(msg)) {
		started += msg[0];
		*failed += msg[1];
	}
	while (wait(NULL) > 0)
		;
	return started;
}

/* The workers alone, nothing watching. */
static int run_bare(int workers, double secs, const char *marker)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		return 1;
	double until = now_s() + secs;
	for (int i = 0; i < workers; i++)
		if (fork() == 0) {
			close(pfd[0]);
			worker(marker, until, pfd[1]);
		}
	close(pfd[1]);
	uint64_t failed, started = collect(pfd[0], &failed);
	printf("workers %d, %.1f s, no source: execs %llu (failed %llu) (%.0f execs/s)\n", workers,
	       secs, (unsigned long long)started, (unsigned long long)failed, (double)started / secs);
	return 0;
}

int main(int argc, char **argv)
{
	int workers = 2, opt;
	bool no_source = false;
	double secs = 5;
	uint32_t rb = 0;
	while ((opt = getopt(argc, argv, "w:d:r:b:sn")) != -1) {
		switch (opt) {
		case 'n': no_source = true; break;
		case 'b': exec_bin = optarg; break;
		case 's': use_spawn = true; break;
		case 'w': workers = atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'r': rb = (uint32_t)strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s [-w WORKERS] [-d SECONDS] [-r RINGBUF_BYTES] [-b BINARY] [-s] [-n]\n",
				argv[0]);
			return 2;
		}
	}
	if (workers < 1 || workers > 64 || secs <= 0) {
		fprintf(stderr, "bench_ebpf: bad -w or -d\n");
		return 2;
	}
	struct de_config cfg;
	if (de_config_init(&cfg) < 0)
		return 1;
	char marker[64];
	snprintf(marker, sizeof(marker), "de-bench-%d", (int)getpid());
	if (access(exec_bin, X_OK) != 0) {
		fprintf(stderr, "bench_ebpf: %s: %s\n", exec_bin, strerror(errno));
		return 2;
	}
	struct counts c = { .marker = marker, .marker_len = strlen(marker),
			    .bin_len = strlen(exec_bin) + 1 };
	struct de_source_opts o = { .cfg = &cfg, .sink = on_event, .sink_ud = &c,
				    .proc_root = "/proc", .ringbuf_bytes = rb };
	struct de_source *s;
	char why[512];
	if (no_source)
		return run_bare(workers, secs, marker);
	int e = de_source_ebpf.open(&o, &s, why, sizeof(why));
	if (e < 0) {
		fprintf(stderr, "bench_ebpf: %s\n", why);
		return 1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ee = { .events = EPOLLIN };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, de_source_ebpf.fd(s), &ee) < 0) {
		perror("bench_ebpf: epoll");
		return 1;
	}
	int pfd[2];
	if (pipe(pfd) < 0)
		return 1;
	double t0 = now_s(), until = t0 + secs;
	for (int i = 0; i < workers; i++) {
		pid_t w = fork();
		if (w == 0) {
			close(pfd[0]);
			worker(marker, until, pfd[1]);
		}
	}
	close(pfd[1]);
	/* after the forks: forking this process (its ring buffer and BPF
	 * mappings) costs milliseconds that procmond never pays */
	double c0 = cpu_s();
	/* consume until the workers are done and the ring stays quiet */
	double quiet_until = 0, in_dispatch = 0;
	uint64_t wakeups = 0;
	for (;;) {
		int to = de_source_ebpf.timeout_ms(s);
		int n = epoll_wait(ep, &ee, 1, to < 0 || to > 100 ? 100 : to);
		wakeups++;
		double d0 = thread_cpu_s();
		e = de_source_ebpf.dispatch(s);
		in_dispatch += thread_cpu_s() - d0;
		if (e < 0) {
			fprintf(stderr, "bench_ebpf: dispatch: %s\n", strerror(-e));
			return 1;
		}
		double t = now_s();
		if (t > until + 0.2) {
			if (n > 0)
				quiet_until = t + 0.3;
			else if (quiet_until == 0)
				quiet_until = t + 0.3;
			if (t >= quiet_until)
				break;
		}
	}
	double cpu = cpu_s() - c0;
	uint64_t failed, started = collect(pfd[0], &failed);
	de_source_ebpf.close(s);
	de_config_free(&cfg);
	printf("workers %d, %.1f s: execs started %llu (failed %llu), seen %llu, lost %llu (%.0f execs/s)\n",
	       workers, secs, (unsigned long long)started, (unsigned long long)failed,
	       (unsigned long long)c.execs_marked, (unsigned long long)(started - c.execs_marked),
	       (double)started / secs);
	printf("source drops reported: exec %llu fork %llu exit %llu; degraded reports %llu\n",
	       (unsigned long long)c.drops[DE_EV_EXEC], (unsigned long long)c.drops[DE_EV_FORK],
	       (unsigned long long)c.drops[DE_EV_EXIT], (unsigned long long)c.degraded);
	printf("events delivered %llu (exec+fork+exit, whole host) in %llu wakeups: consumer CPU %.3f s = %.2f us/event"
	       " (inside dispatch: %.2f us/event)\n",
	       (unsigned long long)c.events, (unsigned long long)wakeups, cpu,
	       c.events ? cpu * 1e6 / (double)c.events : 0.0,
	       c.events ? in_dispatch * 1e6 / (double)c.events : 0.0);
	return started == c.execs_marked ? 0 : 3;
}

/* bench_ipc.c: IPC throughput and latency between two processes.
 *
 * A sender process (procmond's side) connects to a receiver (the agent's
 * side) over a Unix socket made by de_ipc_listen, and streams realistic
 * exec events (creds, parent, argv of 5-9 words, filename, exe and its
 * identity, cgroup, SHA-256) in batches through the real path: encode ->
 * frame -> bounded queue -> non-blocking send | read -> frame reader ->
 * decode into an arena. Two measurements per batch size:
 *   throughput: the sender streams N events as fast as the receiver takes
 *     them (back-pressure through the queue and EPOLLOUT);
 *   latency: one batch at a time, the receiver acks each one; the time
 *     from the start of encoding to the end of decoding (CLOCK_MONOTONIC,
 *     carried in the first event's time_ns, a benchmark-only use) gives
 *     p50 / p99 per batch with no queueing.
 * Not a test: it prints numbers (docs/BENCHMARKS.md records them).
 *
 *   bench_ipc [-n EVENTS] [-b SIZES] [-p]   (-p: add a full de_proc record)
 *
 * With -a DAEMONEYE the receiver is the real agent (`DAEMONEYE agent`,
 * started on a fresh state directory per run) and this program plays
 * procmond on STATE/ipc/procmond.sock: Hello/HelloAck, then the same
 * batches; a run ends when the agent has acknowledged the last seq, i.e.
 * after it stored and committed every event (SQLite included). Latency
 * (ping-pong) is then encode -> agent's commit -> Ack received.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "hash.h"
#include "ipcconn.h"
#include "ipcsock.h"

#define LAT_SAMPLES 2000

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const char *const argvs[] = {
	"/usr/bin/python3\0-m\0pip\0install\0--user\0requests==2.31.0\0",
	"/bin/sh\0-c\0curl -fsSL https://example.invalid/x.sh | sh\0",
	"/usr/bin/git\0-C\0/home/alice/src/daemoneye\0status\0--porcelain=v2\0--branch\0",
	"/usr/lib/systemd/systemd-journald\0",
	"/usr/bin/ssh\0-o\0StrictHostKeyChecking=no\0-i\0/home/bob/.ssh/id_ed25519\0backup@10.0.0.7\0",
};

struct gen {
	struct de_event ev[4096];
	struct de_proc proc;
	bool with_proc;
};

static void make_event(struct gen *g, size_t i, uint64_t seq)
{
	struct de_event *e = &g->ev[i];
	const char *a = argvs[seq % DE_ARRAY_SIZE(argvs)];
	size_t len = 0;
	uint32_t argc = 0;
	while (a[len]) {
		len += strlen(a + len) + 1;
		argc++;
	}
	memset(e, 0, sizeof(*e));
	e->type = DE_EV_EXEC;
	e->source = DE_EVSRC_EBPF;
	e->have = DE_EVF_CREDS | DE_EVF_LOGINUID | DE_EVF_ARGV | DE_EVF_FILENAME | DE_EVF_EXE |
		  DE_EVF_EXE_ID | DE_EVF_CGROUP | DE_EVF_HASH | DE_EVF_PARENT;
	e->seq = seq;
	e->time_ns = 1700000000000000000LL + (int64_t)seq * 1000;
	e->pid = e->tid = 10000 + (int32_t)(seq % 30000);
	e->ppid = 900 + (int32_t)(seq % 7);
	e->start_ticks = 5000000 + seq;
	for (int k = 0; k < DE_ENTITY_ID_LEN; k++) {
		e->entity_id[k] = (uint8_t)(seq >> (k % 8 * 8)) ^ (uint8_t)k;
		e->parent_entity_id[k] = (uint8_t)(0x5a ^ k);
	}
	snprintf(e->comm, sizeof(e->comm), "%.15s", strrchr(a, '/') + 1);
	for (int k = 0; k < 4; k++)
		e->uid[k] = e->gid[k] = 1000;
	e->loginuid = 1000;
	e->sessionid = 3;
	e->filename = a;
	e->argv = a;
	e->argv_len = len;
	e->argc = argc;
	e->exe = a;
	e->exe_dev = 0x803;
	e->exe_ino = 131072 + seq % 100;
	e->cgroup_id = 8412;
	e->cgroup = "/user.slice/user-1000.slice/session-3.scope";
	e->hashes.algos = DE_HASH_SHA256;
	memset(e->hashes.sha256, (int)(seq & 0xff), DE_HASH_LEN);
	if (g->with_proc) {
		e->have |= DE_EVF_PROC;
		e->proc = &g->proc;
	}
}

static void init_proc(struct de_proc *p)
{
	memset(p, 0, sizeof(*p));
	p->pid = 4242;
	p->state = 'S';
	strcpy(p->comm, "python3");
	p->ngroups = 3;
	p->groups[0] = 4, p->groups[1] = 24, p->groups[2] = 27;
	p->cap_bnd = 0x1ffffffffffULL;
	p->user = "alice";
	p->cgroup = "/user.slice/user-1000.slice/session-3.scope";
	p->exe = "/usr/bin/python3.11";
	p->cwd = "/home/alice/src";
	p->root = "/";
	p->argv = argvs[0];
	p->argv_len = 60;
	p->argc = 6;
	for (int i = 0; i < DE_NS__COUNT; i++)
		p->ns[i] = 4026531835u + (uint64_t)i;
	p->err[DE_PF_ENVIRON] = DE_PF_NOT_REQUESTED;
	p->err[DE_PF_HASH] = DE_PF_NOT_REQUESTED;
}

/* Sender: stream `total` events in batches; with `pingpong`, wait for the
 * receiver's Ack after each batch. */
static int sender(const char *path, uint64_t total, size_t batch, bool pingpong, bool with_proc)
{
	int fd = de_ipc_connect(path, 5000);
	if (fd < 0)
		return 2;
	static struct gen g;
	g.with_proc = with_proc;
	init_proc(&g.proc);
	struct de_arena *scratch = de_arena_new(64u << 20);
	struct de_ipc_outq q;
	de_ipc_outq_init(&q, 1u << 20);
	struct de_ipc_reader *r = de_ipc_reader_new(0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event want = { .events = EPOLLOUT, .data.fd = fd };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &want);
	uint64_t seq = 0;
	while (seq < total) {
		size_t n = DE_MIN((uint64_t)batch, total - seq);
		int64_t t0 = now_ns();
		for (size_t i = 0; i < n; i++)
			make_event(&g, i, seq + i);
		g.ev[0].time_ns = t0;
		struct de_ipc_msg m = { .kind = DE_IPC_EVENT_BATCH,
					.batch = { .first_seq = seq, .n = n, .events = g.ev } };
		int64_t rc;
		for (;;) {
			de_arena_reset(scratch);
			rc = de_ipc_outq_push_msg(&q, &m, NULL, scratch);
			if (rc != -ENOBUFS)
				break;
			/* back-pressure: wait until the socket takes more */
			struct epoll_event got;
			int f = de_ipc_outq_flush(&q, fd);
			if (f < 0)
				return 4;
			if (f == 0)
				epoll_wait(ep, &got, 1, -1);
		}
		if (rc < 0)
			return 3;
		seq += n;
		if (de_ipc_outq_flush(&q, fd) < 0)
			return 4;
		if (pingpong) {
			struct epoll_event got;
			while (de_ipc_outq_flush(&q, fd) == 0)
				epoll_wait(ep, &got, 1, -1);
			/* wait for the Ack frame (blocking poll on the fd) */
			uint8_t hdr[64];
			ssize_t k;
			for (;;) {
				k = read(fd, hdr, sizeof(hdr));
				if (k > 0 || (k < 0 && errno != EAGAIN))
					break;
				struct epoll_event in = { .events = EPOLLIN, .data.fd = fd };
				epoll_ctl(ep, EPOLL_CTL_MOD, fd, &in);
				epoll_wait(ep, &got, 1, -1);
				epoll_ctl(ep, EPOLL_CTL_MOD, fd, &want);
			}
			if (k <= 0)
				return 5;
		}
	}
	struct epoll_event got;
	while (de_ipc_outq_flush(&q, fd) == 0)
		epoll_wait(ep, &got, 1, -1);
	de_ipc_reader_free(r);
	de_ipc_outq_free(&q);
	de_arena_free(scratch);
	close(fd);
	return 0;
}

struct recv_state {
	struct de_arena *arena;
	uint64_t events, bytes, frames;
	bool pingpong;
	int fd;
	int64_t lat[LAT_SAMPLES];
	size_t nlat;
};

static int on_frame(const uint8_t *p, size_t len, void *ud)
{
	struct recv_state *s = ud;
	struct de_ipc_msg m;
	de_arena_reset(s->arena);
	int rc = de_ipc_decode(p, len, NULL, s->arena, &m);
	if (rc < 0 || m.kind != DE_IPC_EVENT_BATCH || m.batch.first_seq != s->events)
		return rc < 0 ? rc : -EPROTO;
	int64_t t1 = now_ns();
	if (s->nlat < LAT_SAMPLES && m.batch.n)
		s->lat[s->nlat++] = t1 - m.batch.events[0].time_ns;
	s->events += m.batch.n;
	s->bytes += len + DE_IPC_HDR_LEN;
	s->frames++;
	if (s->pingpong) {
		uint8_t ack[32];
		struct de_buf b = DE_BUF_INIT;
		struct de_ipc_msg a = { .kind = DE_IPC_ACK, .ack_seq = s->events - 1 };
		de_ipc_encode(&a, NULL, s->arena, &b);
		memcpy(ack, b.data, b.len);
		if (write(s->fd, ack, b.len) != (ssize_t)b.len)
			rc = -EIO;
		de_buf_free(&b);
	}
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int64_t cpu_ns(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

/* One run; prints one table row. */
static int run(const char *dir, uint64_t total, size_t batch, bool pingpong, bool with_proc)
{
	struct de_ipc_listen_opts o = { .dir = dir, .name = "bench.sock" };
	int lfd = de_ipc_listen(&o);
	if (lfd < 0) {
		fprintf(stderr, "bench_ipc: listen %s: %s\n", dir, strerror(-lfd));
		return 1;
	}
	char path[256];
	snprintf(path, sizeof(path), "%s/bench.sock", dir);
	int64_t child_cpu0 = cpu_ns(RUSAGE_CHILDREN), self_cpu0 = cpu_ns(RUSAGE_SELF);
	pid_t pid = fork();
	if (pid == 0)
		_exit(sender(path, total, batch, pingpong, with_proc));
	uid_t allow[] = { 0, geteuid() };
	struct de_ipc_peer peer;
	int fd;
	while ((fd = de_ipc_accept(lfd, allow, 2, &peer)) == -EAGAIN)
		usleep(1000);
	if (fd < 0)
		return 1;
	static struct recv_state s;
	memset(&s, 0, sizeof(s));
	s.arena = de_arena_new(de_ipc_arena_cap(0));
	s.pingpong = pingpong;
	s.fd = fd;
	struct de_ipc_reader *r = de_ipc_reader_new(0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ee = { .events = EPOLLIN, .data.fd = fd };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ee);
	int64_t t0 = now_ns();
	int rc = 0;
	while (s.events < total) {
		struct epoll_event got;
		epoll_wait(ep, &got, 1, -1);
		rc = de_ipc_read_frames(fd, r, on_frame, &s);
		if (rc != 0 && rc != 2)
			break;
		rc = 0;
	}
	int64_t el = now_ns() - t0;
	int status;
	waitpid(pid, &status, 0);
	int64_t recv_cpu = cpu_ns(RUSAGE_SELF) - self_cpu0;
	int64_t send_cpu = cpu_ns(RUSAGE_CHILDREN) - child_cpu0;
	if (rc < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "bench_ipc: run failed (rc %d, sender status %d)\n", rc, status);
		return 1;
	}
	qsort(s.lat, s.nlat, sizeof(s.lat[0]), cmp_i64);
	double secs = (double)el / 1e9;
	printf("| %-10s | %5zu | %8llu | %10.0f | %6.1f | %6.0f | %7.1f | %7.1f | %7.1f | %7.1f |\n",
	       pingpong ? "ping-pong" : "stream", batch, (unsigned long long)s.events,
	       (double)s.events / secs, (double)s.bytes / secs / 1048576.0,
	       (double)s.bytes / (double)s.events, (double)send_cpu / (double)s.events,
	       (double)recv_cpu / (double)s.events,
	       s.nlat ? (double)s.lat[s.nlat / 2] / 1000.0 : 0.0,
	       s.nlat ? (double)s.lat[s.nlat * 99 / 100] / 1000.0 : 0.0);
	fflush(stdout);
	de_ipc_reader_free(r);
	de_arena_free(s.arena);
	close(ep);
	close(fd);
	close(lfd);
	return 0;
}

/* ---- -a: the real agent as the receiver ------------------------------ */

struct agent_run {
	struct de_ipc_conn c;
	bool hello;
	uint64_t acked;
};

static int on_agent_frame(const uint8_t *p, size_t len, void *ud)
{
	struct agent_run *a = ud;
	struct de_ipc_msg m;
	int rc = de_ipc_conn_decode(&a->c, p, len, &m);
	if (rc < 0)
		return rc;
	if (m.kind == DE_IPC_HELLO) {
		struct de_ipc_msg ack = { .kind = DE_IPC_HELLO_ACK };
		de_ipc_hello_answer(&m.hello, 1u << DE_IPC_ROLE_AGENT, 0xf, &ack.hello_ack);
		a->hello = true;
		return de_ipc_conn_send(&a->c, &ack) < 0 ? -EIO : 0;
	}
	if (m.kind == DE_IPC_ACK && m.ack_seq > a->acked)
		a->acked = m.ack_seq;
	return 0;
}

/* Wait for the socket, read what is there (acks). */
static int agent_pump(struct agent_run *a, int ep, bool want_out)
{
	struct epoll_event ee = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0u), .data.fd = a->c.fd };
	epoll_ctl(ep, EPOLL_CTL_MOD, a->c.fd, &ee);
	struct epoll_event got;
	if (epoll_wait(ep, &got, 1, 10000) <= 0)
		return -ETIMEDOUT;
	if (de_ipc_conn_flush(&a->c) < 0)
		return -EPIPE;
	int rc = de_ipc_read_frames(a->c.fd, a->c.rd, on_agent_frame, a);
	return rc == 1 ? -ECONNRESET : rc < 0 ? rc : 0;
}

static int run_agent(const char *bin, const char *base, int runno, uint64_t total, size_t batch,
		     bool pingpong, bool with_proc)
{
	char state[256], ipc[300], store[300];
	snprintf(state, sizeof(state), "%s/agent-%d", base, runno);
	snprintf(ipc, sizeof(ipc), "%s/ipc", state);
	snprintf(store, sizeof(store), "%s/store.db", state);
	mkdir(state, 0750);
	struct de_ipc_listen_opts o = { .dir = ipc, .name = "procmond.sock" };
	int lfd = de_ipc_listen(&o);
	if (lfd < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, STDERR_FILENO);
		execl(bin, bin, "agent", "--state-dir", state, "--allow-root", (char *)NULL);
		_exit(127);
	}
	uid_t allow[] = { 0, geteuid() };
	struct de_ipc_peer peer;
	int fd = -EAGAIN;
	for (int i = 0; i < 5000 && fd == -EAGAIN; i++) {
		fd = de_ipc_accept(lfd, allow, 2, &peer);
		if (fd == -EAGAIN)
			usleep(1000);
	}
	if (fd < 0)
		return 1;
	static struct agent_run a;
	static struct gen g;
	static int64_t lat[LAT_SAMPLES];
	size_t nlat = 0;
	memset(&a, 0, sizeof(a));
	de_ipc_conn_open(&a.c, fd, 8u << 20);
	g.with_proc = with_proc;
	init_proc(&g.proc);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ee = { .events = EPOLLIN, .data.fd = fd };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ee);
	int rc = 0;
	while (!a.hello && rc == 0)
		rc = agent_pump(&a, ep, false);
	int64_t t0 = now_ns();
	uint64_t seq = 1;
	while (rc == 0 && seq <= total) {
		size_t n = DE_MIN((uint64_t)batch, total - seq + 1);
		int64_t tb = now_ns();
		for (size_t i = 0; i < n; i++)
			make_event(&g, i, seq + i);
		struct de_ipc_msg m = { .kind = DE_IPC_EVENT_BATCH,
					.batch = { .first_seq = seq, .n = n, .events = g.ev } };
		int64_t r;
		for (;;) {
			de_arena_reset(a.c.scratch);
			r = de_ipc_outq_push_msg(&a.c.q, &m, NULL, a.c.scratch);
			if (r != -ENOBUFS)
				break;
			if ((rc = agent_pump(&a, ep, true)) < 0)
				break;
		}
		if (rc < 0 || r < 0)
			break;
		seq += n;
		de_ipc_conn_flush(&a.c);
		while (pingpong && rc == 0 && a.acked < seq - 1)
			rc = agent_pump(&a, ep, de_ipc_outq_pending(&a.c.q) > 0);
		if (pingpong && nlat < LAT_SAMPLES)
			lat[nlat++] = now_ns() - tb;
	}
	while (rc == 0 && a.acked < total)
		rc = agent_pump(&a, ep, de_ipc_outq_pending(&a.c.q) > 0);
	int64_t el = now_ns() - t0;
	kill(pid, SIGTERM);
	int status;
	struct rusage ru;
	wait4(pid, &status, 0, &ru);
	int64_t agent_cpu = ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
			    ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
	struct stat st;
	long long db = stat(store, &st) == 0 ? (long long)st.st_size : -1;
	de_ipc_conn_close(&a.c);
	close(ep);
	close(lfd);
	if (rc < 0) {
		fprintf(stderr, "bench_ipc: agent run failed: %s (acked %llu of %llu)\n", strerror(-rc),
			(unsigned long long)a.acked, (unsigned long long)total);
		return 1;
	}
	qsort(lat, nlat, sizeof(lat[0]), cmp_i64);
	double secs = (double)el / 1e9;
	printf("| agent %-4s | %5zu | %8llu | %10.0f | %10.0f | %7lld | %7.1f | %7.1f |\n",
	       pingpong ? "pp" : "", batch, (unsigned long long)total, (double)total / secs,
	       (double)agent_cpu / (double)total, db / 1048576, nlat ? (double)lat[nlat / 2] / 1000.0 : 0.0,
	       nlat ? (double)lat[nlat * 99 / 100] / 1000.0 : 0.0);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t total = 1000000;
	const char *sizes = "1,8,32,128,512";
	bool with_proc = false;
	const char *agent_bin = NULL;
	int c;
	while ((c = getopt(argc, argv, "n:b:pa:")) != -1) {
		switch (c) {
		case 'a': agent_bin = optarg; break;
		case 'n': total = strtoull(optarg, NULL, 10); break;
		case 'b': sizes = optarg; break;
		case 'p': with_proc = true; break;
		default:
			fprintf(stderr, "usage: bench_ipc [-n EVENTS] [-b SIZES] [-p] [-a DAEMONEYE]\n");
			return 2;
		}
	}
	char dir[] = "/tmp/de-bench-ipc-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char sockdir[64];
	snprintf(sockdir, sizeof(sockdir), "%s/run", dir);
	if (agent_bin) {
		printf("receiver: %s agent (store included); events: exec%s\n", agent_bin,
		       with_proc ? " + full process record" : "");
		printf("| mode       | batch |   events |   events/s | agent ns/ev | db MiB | p50 us | p99 us |\n");
		printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
		int rc = 0, runno = 0;
		char *list = strdup(sizes);
		for (char *tok = strtok(list, ","); tok && !rc; tok = strtok(NULL, ",")) {
			size_t b = strtoul(tok, NULL, 10);
			if (b < 1 || b > 4096)
				continue;
			rc |= run_agent(agent_bin, dir, runno++, total, b, false, with_proc);
			rc |= run_agent(agent_bin, dir, runno++, DE_MIN((uint64_t)b * LAT_SAMPLES, total),
					b, true, with_proc);
		}
		free(list);
		printf("(state directories left in %s)\n", dir);
		return rc;
	}
	printf("events: exec%s; %llu per stream run, %d batches per ping-pong run\n",
	       with_proc ? " + full process record" : "", (unsigned long long)total, LAT_SAMPLES);
	printf("| mode       | batch |   events |   events/s |  MiB/s | B/event | send ns/ev | recv ns/ev | p50 us | p99 us |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	int rc = 0;
	char *list = strdup(sizes);
	for (char *tok = strtok(list, ","); tok && !rc; tok = strtok(NULL, ",")) {
		size_t b = strtoul(tok, NULL, 10);
		if (b < 1 || b > 4096)
			continue;
		rc |= run(sockdir, total, b, false, with_proc);
		rc |= run(sockdir, (uint64_t)b * LAT_SAMPLES, b, true, with_proc);
	}
	free(list);
	char p[96];
	snprintf(p, sizeof(p), "%s/bench.sock", sockdir);
	unlink(p);
	rmdir(sockdir);
	rmdir(dir);
	return rc;
}

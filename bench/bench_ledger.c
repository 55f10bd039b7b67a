/* bench_ledger.c: the audit ledger's numbers (docs/BENCHMARKS.md).
 *
 * In a fresh state directory under DIR (default $TMPDIR or /tmp) it
 *  1. appends N exec events (realistic canonical bytes, ~300 bytes) through
 *     de_ledger_append_event, calling de_ledger_tick the way procmond's loop
 *     would, with the default group commit (100 ms bound) and checkpoints
 *     (every 100,000 records or 60 s): appends/s sustained, commits (fdatasyncs) and
 *     records per commit;
 *  2. verifies the whole ledger (de_ledger_verify: frames, chain, tree,
 *     every checkpoint's signature and root);
 *  3. generates inclusion proofs for random records against the latest
 *     checkpoint from the node store (what `audit prove` does), each one
 *     verified;
 *  4. measures one BLAKE3 leaf hash of a record and one node hash.
 * Wall and CPU times are printed (the machine may be shared). The state
 * directory is removed at the end unless -k.
 *
 *   bench_ledger [-n RECORDS] [-p PROOFS] [-d DIR] [-k]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"
#include "ledger_files.h"
#include "ledger_verify.h"
#include "merkle.h"
#include "merkle_proof.h"
#include "merkle_store.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void make_event(struct de_event *ev, uint64_t i, char *argv, size_t cap)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = DE_EV_EXEC;
	ev->source = DE_EVSRC_EBPF;
	ev->have = DE_EVF_CREDS | DE_EVF_LOGINUID | DE_EVF_ARGV | DE_EVF_FILENAME | DE_EVF_EXE |
		   DE_EVF_EXE_ID | DE_EVF_CGROUP | DE_EVF_PARENT | DE_EVF_HASH;
	ev->seq = i;
	ev->time_ns = 1790000000000000000LL + (int64_t)i * 1000;
	ev->pid = ev->tid = (int32_t)(10000 + i % 30000);
	ev->ppid = 4242;
	ev->start_ticks = 123456 + i;
	memset(ev->entity_id, (int)(i & 0xff), sizeof(ev->entity_id));
	snprintf(ev->comm, sizeof(ev->comm), "curl");
	int n = snprintf(argv, cap, "curl%c-sS%chttps://example.org/item/%llu%c", 0, 0,
			 (unsigned long long)i, 0);
	ev->argv = argv;
	ev->argv_len = (size_t)n;
	ev->argc = 3;
	ev->filename = "/usr/bin/curl";
	ev->exe = "/usr/bin/curl";
	ev->exe_dev = 0x801;
	ev->exe_ino = 1234567;
	ev->cgroup_id = 4321;
	ev->cgroup = "/user.slice/user-1000.slice/session-2.scope";
	ev->uid[0] = ev->uid[1] = ev->uid[2] = ev->uid[3] = 1000;
	ev->gid[0] = ev->gid[1] = ev->gid[2] = ev->gid[3] = 1000;
	ev->loginuid = 1000;
	ev->sessionid = 2;
	ev->hashes.algos = DE_HASH_SHA256;
	memset(ev->hashes.sha256, 0x3c, sizeof(ev->hashes.sha256));
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000;
	unsigned proofs = 20000;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	bool keep = false;
	int c;
	while ((c = getopt(argc, argv, "n:p:d:k")) != -1) {
		switch (c) {
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 'p':
			proofs = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			base = optarg;
			break;
		case 'k':
			keep = true;
			break;
		default:
			fprintf(stderr, "usage: bench_ledger [-n RECORDS] [-p PROOFS] [-d DIR] [-k]\n");
			return 2;
		}
	}
	char state[2048], ledger[2100], tree[2200];
	if (strlen(base) > 1900) {
		fprintf(stderr, "directory name too long\n");
		return 2;
	}
	snprintf(state, sizeof(state), "%s/bench-ledger-XXXXXX", base);
	if (!mkdtemp(state)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(ledger, sizeof(ledger), "%s/ledger", state);
	snprintf(tree, sizeof(tree), "%s/" DE_LEDGER_TREE, ledger);
	struct de_ledger_key *key = de_ledger_key_generate();
	char why[256];
	struct de_ledger *l = de_ledger_open(state, key, NULL, why, sizeof(why));
	if (!l) {
		fprintf(stderr, "open: %s\n", why);
		return 1;
	}

	/* 1. appends */
	struct de_event ev;
	char av[128];
	struct de_buf one = DE_BUF_INIT;
	make_event(&ev, 0, av, sizeof(av));
	de_canon_event(&one, &ev);
	double t0 = now_s(), c0 = cpu_s();
	for (uint64_t i = 0; i < n; i++) {
		make_event(&ev, i, av, sizeof(av));
		int r = de_ledger_append_event(l, &ev, NULL);
		if (r == 0 && (i & 255) == 0)
			r = de_ledger_tick(l, de_ledger_now());
		if (r < 0) {
			fprintf(stderr, "append %llu: %s\n", (unsigned long long)i, strerror(-r));
			return 1;
		}
	}
	int r = de_ledger_sync(l);
	double t1 = now_s(), c1 = cpu_s();
	struct de_ledger_stats st;
	de_ledger_stats(l, &st);
	printf("appends: %llu exec events (%zu-byte payload), %.2f s wall, %.2f s CPU: %.0f/s "
	       "(%.0f/s CPU); %llu commits (%.0f records each, %.1f ms in fdatasync on average), "
	       "%llu checkpoints, %.1f MiB\n",
	       (unsigned long long)n, one.len, t1 - t0, c1 - c0, (double)n / (t1 - t0),
	       (double)n / (c1 - c0), (unsigned long long)st.commits,
	       st.commits ? (double)n / (double)st.commits : 0.0,
	       st.commits ? (double)st.sync_ns / 1e6 / (double)st.commits : 0.0,
	       (unsigned long long)st.checkpoints,
	       (double)st.bytes / 1048576.0);
	if (r < 0 || (r = de_ledger_close(l)) < 0) {
		fprintf(stderr, "close: %s\n", strerror(-r));
		return 1;
	}

	/* 2. verification */
	struct de_verify_result res;
	t0 = now_s();
	c0 = cpu_s();
	r = de_ledger_verify(ledger, NULL, &res);
	t1 = now_s();
	c1 = cpu_s();
	printf("verify: %llu records, %u checkpoints, %s: %.2f s wall, %.2f s CPU\n",
	       (unsigned long long)res.records, res.checkpoints, res.ok ? "ok" : res.reason, t1 - t0,
	       c1 - c0);
	if (r < 0 || !res.ok)
		return 1;

	/* 3. proofs from the node store, as `audit prove` makes them */
	struct de_merkle_store *s = de_merkle_store_file_open_ro(tree, DE_HASH_BLAKE3);
	struct de_merkle_tree t;
	if (!s || de_merkle_tree_init(&t, s) < 0) {
		fprintf(stderr, "node store: %s\n", strerror(errno));
		return 1;
	}
	uint64_t size = de_merkle_tree_size(&t);
	uint8_t root[32];
	de_merkle_tree_root_at(&t, size, root);
	double *lat = calloc(proofs ? proofs : 1, sizeof(double));
	srand(42);
	c0 = cpu_s();
	unsigned bad = 0;
	for (unsigned i = 0; i < proofs; i++) {
		uint64_t idx = ((uint64_t)rand() << 31 | (uint64_t)rand()) % size;
		struct de_merkle_proof p;
		uint8_t leaf[32];
		double a = now_s();
		if (de_merkle_store_get(s, 0, idx, leaf) < 0 ||
		    de_merkle_tree_inclusion(&t, idx, size, &p) < 0)
			bad++;
		lat[i] = now_s() - a;
		if (de_merkle_verify_inclusion(&t.h, idx, size, leaf, &p, root) != 0)
			bad++;
	}
	c1 = cpu_s();
	qsort(lat, proofs, sizeof(double), cmp_d);
	if (proofs)
		printf("inclusion proof at %llu records (leaf read + proof): median %.1f us, p99 %.1f "
		       "us, %.1f us CPU each incl. verification; %u failures\n",
		       (unsigned long long)size, lat[proofs / 2] * 1e6, lat[proofs * 99 / 100] * 1e6,
		       (c1 - c0) / proofs * 1e6, bad);
	free(lat);
	de_merkle_tree_done(&t);
	de_merkle_store_free(s);

	/* 4. hash costs per record */
	struct de_merkle_hasher h;
	de_merkle_hasher_init(&h, DE_HASH_BLAKE3);
	uint8_t out[32], l2[32] = { 1 };
	const unsigned reps = 1000000;
	size_t rec_len = DE_LREC_HDR - 4 + one.len;
	uint8_t *rec = calloc(1, rec_len);
	c0 = cpu_s();
	for (unsigned i = 0; i < reps; i++) {
		rec[0] = (uint8_t)i;
		de_merkle_leaf_hash(&h, rec, rec_len, out);
	}
	c1 = cpu_s();
	double leaf_ns = (c1 - c0) / reps * 1e9;
	c0 = cpu_s();
	for (unsigned i = 0; i < reps; i++)
		de_merkle_node_hash(&h, out, l2, out);
	c1 = cpu_s();
	printf("BLAKE3 per record: leaf hash of a %zu-byte record %.0f ns, node hash %.0f ns "
	       "(~1 node per leaf amortized)\n",
	       rec_len, leaf_ns, (c1 - c0) / reps * 1e9);
	free(rec);
	de_merkle_hasher_done(&h);
	de_buf_free(&one);
	de_ledger_key_free(key);
	if (!keep) {
		char cmd[4200];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
		if (system(cmd) != 0)
			return 1;
	} else {
		printf("kept: %s\n", state);
	}
	return 0;
}

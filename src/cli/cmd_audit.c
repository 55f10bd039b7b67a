/* cmd_audit.c: `daemoneye audit`, the audit ledger from the outside:
 * verification, proofs, checkpoints, records, the public key.
 *
 * Everything here reads the ledger directory and never writes it, so it is
 * safe while procmond appends (proofs come from the node store as of its
 * last sync, i.e. the latest checkpoint). The one exception is `checkpoint
 * --new`, which opens the ledger as its writer to sign one now, and so
 * needs the signing key and no running writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cli.h"
#include "commands.h"
#include "emit.h"
#include "fileio.h"
#include "ledger.h"
#include "ledger_files.h"
#include "ledger_verify.h"
#include "merkle_json.h"
#include "merkle_proof.h"
#include "merkle_store.h"
#include "statedir.h"

enum { OPT_CHECKPOINT = 0x100, OPT_PUBKEY, OPT_JSON, OPT_NEW, OPT_FROM, OPT_COUNT, OPT_TYPE,
       OPT_SIZE };

struct audit_opts {
	const char *action;
	const char *checkpoint, *pubkey;
	bool json, new_cp;
	uint64_t from, count, size;
	bool have_count, have_size;
	int type; /* 0: all */
	char state[4096], dir[4096];
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye audit verify [--checkpoint FILE] [--pubkey FILE] [--json]\n"
		"       daemoneye audit prove SEQ [--size N]\n"
		"       daemoneye audit verify-proof PROOF --checkpoint FILE [--pubkey FILE]\n"
		"       daemoneye audit consistency OLD NEW\n"
		"       daemoneye audit checkpoint [--new]\n"
		"       daemoneye audit show [--from SEQ] [--count N] [--type TYPE] [--json]\n"
		"       daemoneye audit tail [-n N] [--type TYPE] [--json]\n"
		"       daemoneye audit pubkey\n"
		"\n"
		"The tamper-evident audit ledger that procmond writes (STATE/ledger):\n"
		"  verify        check every record's frame, sequence and BLAKE3 chain, recompute\n"
		"                the Merkle tree and check it against every signed checkpoint.\n"
		"                Exit 0 when intact, 1 with the index of the first bad record\n"
		"                (or checkpoint) when not\n"
		"  prove         inclusion proof (JSON) of record SEQ in the latest checkpoint\n"
		"  verify-proof  check a proof (file or -) against a signed checkpoint, offline\n"
		"  consistency   consistency proof (JSON) between tree sizes OLD and NEW\n"
		"  checkpoint    print the latest signed checkpoint (C2SP format); --new signs\n"
		"                one now (needs the signing key and no running procmond)\n"
		"  show, tail    records as a table or JSON Lines\n"
		"  pubkey        the verifier key, to keep off the host with checkpoints\n"
		"\n"
		"Options:\n"
		"  --checkpoint FILE  verify: also check this exported checkpoint; verify-proof:\n"
		"                     the checkpoint the proof is checked against\n"
		"  --pubkey FILE      the trusted verifier key (default: the ledger's PUBKEY,\n"
		"                     which a root attacker could replace: keep a copy)\n"
		"  --size N           prove: against the tree of N records (at most the latest\n"
		"                     checkpoint's size; default that size)\n"
		"  --from SEQ         show: start at record SEQ (default 0)\n"
		"  --count N          show: at most N records\n"
		"  -n N               tail: the last N records (default 10)\n"
		"  --type TYPE        show/tail: only records of TYPE (exec, exit, fork, alert,\n"
		"                     start, stop, privdrop, source, drops, config, ruleset,\n"
		"                     repair, open, close)\n"
		"  --json             JSON (one object per line for show/tail)\n"
		DE_CLI_COMMON_HELP);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int read_text(const char *path, struct de_buf *b, size_t max)
{
	bool trunc = false;
	int dfd = AT_FDCWD;
	ssize_t n;
	if (strcmp(path, "-") == 0) {
		de_buf_reset(b);
		if (de_buf_reserve(b, max + 1) < 0)
			return -ENOMEM;
		n = de_read_full(STDIN_FILENO, b->data, max + 1);
		if (n >= 0) {
			b->len = (size_t)n;
			b->data[b->len] = '\0';
			trunc = (size_t)n > max;
		}
	} else {
		n = de_read_file_at_buf(dfd, path, b, max, &trunc);
	}
	if (n < 0)
		return (int)n;
	return trunc ? -EFBIG : 0;
}

static int load_vkey(const struct audit_opts *o, struct de_vkey *vk)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/" DE_LEDGER_PUBKEY, o->dir);
	int r = de_ledger_vkey_load(AT_FDCWD, o->pubkey ? o->pubkey : p, vk);
	if (r < 0)
		log_error("audit: public key %s: %s", o->pubkey ? o->pubkey : "PUBKEY",
			  r == -EBADMSG ? "not a verifier key" : strerror(-r));
	return r;
}

/* --- verify --------------------------------------------------------------- */

static int do_verify(const struct audit_opts *o)
{
	struct de_vkey vk;
	struct de_buf cp = DE_BUF_INIT;
	struct de_verify_opts vo = { 0 };
	if (o->pubkey) {
		if (load_vkey(o, &vk) < 0)
			return DE_EXIT_FAIL;
		vo.vk = &vk;
	}
	if (o->checkpoint) {
		int r = read_text(o->checkpoint, &cp, DE_NOTE_MAX);
		if (r < 0) {
			log_error("audit: %s: %s", o->checkpoint, strerror(-r));
			de_buf_free(&cp);
			return DE_EXIT_FAIL;
		}
		vo.checkpoint = cp.data;
		vo.checkpoint_len = cp.len;
	}
	struct de_verify_result res;
	int r = de_ledger_verify(o->dir, &vo, &res);
	de_buf_free(&cp);
	if (r < 0) {
		log_error("audit verify: %s", res.reason);
		return DE_EXIT_FAIL;
	}
	char root[DE_HASH_HEX_LEN];
	de_hash_hex(res.root, root);
	struct de_buf b = DE_BUF_INIT;
	if (o->json) {
		struct de_json j;
		de_json_init(&j, &b);
		de_json_obj_begin(&j);
		de_json_key(&j, "ok");
		de_json_bool(&j, res.ok);
		de_json_key(&j, "records");
		de_json_uint(&j, res.records);
		de_json_key(&j, "root");
		de_json_cstr(&j, root);
		de_json_key(&j, "checkpoints");
		de_json_uint(&j, res.checkpoints);
		de_json_key(&j, "covered");
		de_json_uint(&j, res.covered);
		de_json_key(&j, "live");
		de_json_bool(&j, res.live);
		de_json_key(&j, "first_bad_record");
		if (res.first_bad == DE_VERIFY_NONE)
			de_json_null(&j);
		else
			de_json_uint(&j, res.first_bad);
		de_json_key(&j, "bad_checkpoint");
		if (res.bad_checkpoint == -1)
			de_json_null(&j);
		else if (res.bad_checkpoint == -2)
			de_json_cstr(&j, "given");
		else
			de_json_int(&j, res.bad_checkpoint);
		de_json_key(&j, "reason");
		de_json_cstr(&j, res.ok ? NULL : res.reason);
		de_json_obj_end(&j);
		de_buf_putc(&b, '\n');
	} else if (res.ok) {
		de_buf_printf(&b, "ok: %" PRIu64 " records, chain intact, %u checkpoints verified "
				  "(latest covers %" PRIu64 "%s), root %s\n",
			      res.records, res.checkpoints, res.covered,
			      res.live && res.records > res.covered ? "; writer live, newer records "
								     "not yet checkpointed" : "",
			      root);
	} else {
		de_buf_printf(&b, "FAILED: ");
		de_emit_text(&b, res.reason, strlen(res.reason));
		de_buf_putc(&b, '\n');
		if (res.first_bad != DE_VERIFY_NONE)
			de_buf_printf(&b, "first bad record: %" PRIu64 "\n", res.first_bad);
		if (res.bad_checkpoint >= 0)
			de_buf_printf(&b, "bad checkpoint: %" PRId64 "\n", res.bad_checkpoint);
		else if (res.bad_checkpoint == -2)
			de_buf_printf(&b, "bad checkpoint: the given one\n");
	}
	fwrite(b.data ? b.data : "", 1, b.len, stdout);
	de_buf_free(&b);
	return res.ok ? DE_EXIT_OK : DE_EXIT_FAIL;
}

/* --- proofs ------------------------------------------------------------- */

struct latest {
	struct de_checkpoint cp;
	bool have;
};

static int take_latest(void *arg, unsigned index, const char *note, size_t len,
		       const struct de_checkpoint *cp, int verdict, const char *why)
{
	(void)index;
	(void)note;
	(void)len;
	(void)why;
	struct latest *lt = arg;
	if (verdict == 0) {
		lt->cp = *cp;
		lt->have = true;
	}
	return 0;
}

/* The node store (read-only) and the latest verified checkpoint. */
static int open_tree(const struct audit_opts *o, struct de_merkle_store **s,
		     struct de_merkle_tree *t, struct latest *lt)
{
	struct de_vkey vk;
	if (load_vkey(o, &vk) < 0)
		return -1;
	_cleanup_close_ int dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = dfd < 0 ? de_neg_errno() : de_ledger_checkpoints_each(dfd, &vk, take_latest, lt, NULL);
	if (r < 0 || !lt->have) {
		log_error("audit: %s: %s", o->dir, r < 0 ? strerror(-r) : "no verified checkpoint");
		return -1;
	}
	char path[4200];
	snprintf(path, sizeof(path), "%s/" DE_LEDGER_TREE, o->dir);
	*s = de_merkle_store_file_open_ro(path, DE_HASH_BLAKE3);
	if (!*s || (r = de_merkle_tree_init(t, *s)) < 0) {
		log_error("audit: node store %s: %s", path, strerror(*s ? -r : errno));
		de_merkle_store_free(*s);
		*s = NULL;
		return -1;
	}
	return 0;
}

struct find {
	uint64_t want;
	uint8_t leaf[DE_HASH_LEN];
	bool found;
};

static int find_leaf(void *arg, const struct de_lrec *r)
{
	struct find *f = arg;
	de_lrec_leaf(r, f->leaf);
	f->found = true;
	return 1;
}

static int print_doc(const struct de_merkle_proof_doc *d)
{
	struct de_buf b = DE_BUF_INIT;
	int r = de_merkle_proof_write(&b, d);
	if (r == 0)
		printf("%s\n", b.data);
	de_buf_free(&b);
	return r;
}

static int do_prove(const struct audit_opts *o, uint64_t seq)
{
	struct de_merkle_store *s = NULL;
	struct de_merkle_tree t;
	struct latest lt = { 0 };
	if (open_tree(o, &s, &t, &lt) < 0)
		return DE_EXIT_FAIL;
	int rc = DE_EXIT_FAIL, r;
	struct de_merkle_proof_doc d = { .type = DE_MERKLE_INCLUSION, .algo = DE_HASH_BLAKE3 };
	d.tree_size = o->have_size ? o->size : lt.cp.size;
	d.leaf_index = seq;
	struct find f = { .want = seq };
	uint8_t stored[DE_HASH_LEN];
	if (d.tree_size > lt.cp.size || d.tree_size > de_merkle_tree_size(&t)) {
		log_error("audit prove: --size %" PRIu64 " is past the latest checkpoint (%" PRIu64 ")",
			  d.tree_size, lt.cp.size);
		goto out;
	}
	if (seq >= d.tree_size) {
		log_error("audit prove: record %" PRIu64 " is not covered by a checkpoint of size %"
			  PRIu64 " (yet)", seq, d.tree_size);
		goto out;
	}
	r = de_ledger_each(o->dir, seq, find_leaf, &f);
	if (r < 0 || !f.found || de_merkle_store_get(s, 0, seq, stored) < 0 ||
	    memcmp(stored, f.leaf, DE_HASH_LEN) != 0) {
		log_error("audit prove: record %" PRIu64 " does not match the tree (run audit verify)",
			  seq);
		goto out;
	}
	memcpy(d.leaf_hash, f.leaf, DE_HASH_LEN);
	if ((r = de_merkle_tree_root_at(&t, d.tree_size, d.root)) < 0 ||
	    (r = de_merkle_tree_inclusion(&t, seq, d.tree_size, &d.proof)) < 0) {
		de_log_errno(DE_LOG_ERROR, r, "audit prove");
		goto out;
	}
	if (d.tree_size == lt.cp.size && memcmp(d.root, lt.cp.root, DE_HASH_LEN) != 0) {
		log_error("audit prove: the node store's root differs from the checkpoint's (run "
			  "audit verify)");
		goto out;
	}
	rc = print_doc(&d) < 0 ? DE_EXIT_FAIL : DE_EXIT_OK;
out:
	de_merkle_tree_done(&t);
	de_merkle_store_free(s);
	return rc;
}

static int do_consistency(const struct audit_opts *o, uint64_t m, uint64_t n)
{
	struct de_merkle_store *s = NULL;
	struct de_merkle_tree t;
	struct latest lt = { 0 };
	if (open_tree(o, &s, &t, &lt) < 0)
		return DE_EXIT_FAIL;
	struct de_merkle_proof_doc d = { .type = DE_MERKLE_CONSISTENCY, .algo = DE_HASH_BLAKE3,
					 .first_size = m, .tree_size = n };
	int r = -EINVAL;
	if (m == 0 || m > n || n > lt.cp.size || n > de_merkle_tree_size(&t))
		log_error("audit consistency: need 0 < OLD <= NEW <= %" PRIu64 " (the latest "
			  "checkpoint)", lt.cp.size);
	else if ((r = de_merkle_tree_root_at(&t, m, d.first_root)) < 0 ||
		 (r = de_merkle_tree_root_at(&t, n, d.root)) < 0 ||
		 (r = de_merkle_tree_consistency(&t, m, n, &d.proof)) < 0 || (r = print_doc(&d)) < 0)
		de_log_errno(DE_LOG_ERROR, r, "audit consistency");
	de_merkle_tree_done(&t);
	de_merkle_store_free(s);
	return r < 0 ? DE_EXIT_FAIL : DE_EXIT_OK;
}

static int do_verify_proof(const struct audit_opts *o, const char *proof_path)
{
	struct de_vkey vk;
	struct de_buf pb = DE_BUF_INIT, cb = DE_BUF_INIT;
	struct de_merkle_proof_doc d;
	struct de_checkpoint cp;
	char why[200];
	size_t len;
	int rc = DE_EXIT_FAIL, r;
	if (load_vkey(o, &vk) < 0)
		goto out;
	if ((r = read_text(proof_path, &pb, DE_MERKLE_JSON_MAX)) < 0 ||
	    (r = read_text(o->checkpoint, &cb, DE_NOTE_MAX)) < 0) {
		log_error("audit verify-proof: %s", strerror(-r));
		goto out;
	}
	if (de_merkle_proof_parse(pb.data, pb.len, &d, why, sizeof(why)) < 0) {
		log_error("audit verify-proof: proof: %s", why);
		goto out;
	}
	if (de_checkpoint_verify(cb.data, cb.len, &vk, &cp, &len, why, sizeof(why)) < 0) {
		printf("FAILED: checkpoint: %s\n", why);
		goto out;
	}
	if (d.algo != DE_HASH_BLAKE3 || d.tree_size != cp.size ||
	    memcmp(d.root, cp.root, DE_HASH_LEN) != 0) {
		printf("FAILED: the proof is about another tree than the checkpoint's (size %" PRIu64
		       ")\n", cp.size);
		goto out;
	}
	if ((r = de_merkle_proof_doc_verify(&d)) < 0) {
		printf("FAILED: the proof does not hold (%s)\n", strerror(-r));
		goto out;
	}
	if (d.type == DE_MERKLE_INCLUSION)
		printf("ok: record %" PRIu64 " is in the tree of %" PRIu64 " records signed by %s\n",
		       d.leaf_index, cp.size, cp.origin);
	else
		printf("ok: the tree of %" PRIu64 " records is a prefix of the tree of %" PRIu64
		       " records signed by %s\n", d.first_size, cp.size, cp.origin);
	rc = DE_EXIT_OK;
out:
	de_buf_free(&pb);
	de_buf_free(&cb);
	return rc;
}

/* --- checkpoint, pubkey --------------------------------------------------- */

struct last_note {
	struct de_buf text;
};

static int keep_note(void *arg, unsigned index, const char *note, size_t len,
		     const struct de_checkpoint *cp, int verdict, const char *why)
{
	(void)index;
	(void)cp;
	(void)why;
	struct last_note *ln = arg;
	if (verdict == -EBADMSG)
		return 0;
	de_buf_reset(&ln->text);
	de_buf_append(&ln->text, note, len);
	return 0;
}

static int do_checkpoint(const struct audit_opts *o)
{
	if (o->new_cp) {
		char keys[4200], why[320];
		bool created;
		if (de_state_path(o->state, DE_STATE_KEYS_DIR, keys, sizeof(keys)) < 0)
			return DE_EXIT_FAIL;
		struct de_ledger_key *k = de_ledger_key_load(keys, false, &created);
		if (!k) {
			de_log_errno(DE_LOG_ERROR, de_neg_errno(), "audit checkpoint: signing key %s/%s",
				     keys, DE_LEDGER_KEY_FILE);
			return DE_EXIT_FAIL;
		}
		struct de_ledger_opts lo = { .component = "cli" };
		struct de_ledger *l = de_ledger_open(o->state, k, &lo, why, sizeof(why));
		int r = l ? de_ledger_close(l) : de_neg_errno();
		de_ledger_key_free(k);
		if (r < 0) {
			log_error("audit checkpoint: %s", l ? strerror(-r) : why);
			return DE_EXIT_FAIL;
		}
	}
	struct de_vkey vk;
	if (load_vkey(o, &vk) < 0)
		return DE_EXIT_FAIL;
	struct last_note ln = { DE_BUF_INIT };
	_cleanup_close_ int dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = dfd < 0 ? de_neg_errno() : de_ledger_checkpoints_each(dfd, &vk, keep_note, &ln, NULL);
	if (r < 0 || !ln.text.len) {
		log_error("audit checkpoint: %s: %s", o->dir, r < 0 ? strerror(-r) : "no checkpoint");
		de_buf_free(&ln.text);
		return DE_EXIT_FAIL;
	}
	fwrite(ln.text.data, 1, ln.text.len, stdout);
	de_buf_free(&ln.text);
	return DE_EXIT_OK;
}

static int do_pubkey(const struct audit_opts *o)
{
	struct de_vkey vk;
	struct de_buf b = DE_BUF_INIT;
	if (load_vkey(o, &vk) < 0)
		return DE_EXIT_FAIL;
	de_vkey_format(&vk, &b);
	printf("%s\n", de_buf_str(&b));
	de_buf_free(&b);
	return DE_EXIT_OK;
}

/* --- show, tail ------------------------------------------------------------ */

struct show {
	const struct audit_opts *o;
	uint64_t selected; /* records of the selected type seen */
	uint64_t skip;     /* selected records to pass over first */
	uint64_t left;     /* records still to print */
	struct de_buf b;
};

static void fmt_time(int64_t ns, char *out, size_t n)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	if (!gmtime_r(&s, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(out, n, "%lld", (long long)ns);
		return;
	}
	char ms[8];
	snprintf(ms, sizeof(ms), ".%03uZ", (unsigned)(((ns % 1000000000) + 1000000000) % 1000000000 / 1000000));
	size_t l = strlen(out);
	if (l + strlen(ms) < n)
		memcpy(out + l, ms, strlen(ms) + 1);
}

static bool selected(const struct show *sh, const struct de_lrec *r)
{
	return !sh->o->type || r->type == (uint32_t)sh->o->type;
}

static int show_one(void *arg, const struct de_lrec *r)
{
	struct show *sh = arg;
	if (!selected(sh, r))
		return 0;
	if (sh->skip) {
		sh->skip--;
		return 0;
	}
	if (sh->left == 0)
		return 1;
	sh->left--;
	char when[48], chain[DE_HASH_HEX_LEN], tbuf[16];
	const char *tname = de_lrec_type_name(r->type);
	if (!tname) {
		snprintf(tbuf, sizeof(tbuf), "type-%u", r->type);
		tname = tbuf;
	}
	fmt_time(r->time_ns, when, sizeof(when));
	de_hash_hex(r->chain, chain);
	de_buf_reset(&sh->b);
	if (sh->o->json) {
		struct de_json j;
		de_json_init(&j, &sh->b);
		de_json_obj_begin(&j);
		de_json_key(&j, "seq");
		de_json_uint(&j, r->seq);
		de_json_key(&j, "time");
		de_json_cstr(&j, when);
		de_json_key(&j, "time_ns");
		de_json_int(&j, r->time_ns);
		de_json_key(&j, "type");
		de_json_cstr(&j, tname);
		de_json_key(&j, "chain");
		de_json_cstr(&j, chain);
		(void)de_canon_json(&j, r->type, r->payload, r->payload_len);
		de_json_obj_end(&j);
	} else {
		de_buf_printf(&sh->b, "%-8" PRIu64 " %s %-8s ", r->seq, when, tname);
		(void)de_canon_text(&sh->b, r->type, r->payload, r->payload_len);
	}
	de_buf_putc(&sh->b, '\n');
	if (sh->b.err)
		return sh->b.err;
	fwrite(sh->b.data, 1, sh->b.len, stdout);
	return 0;
}

static int count_one(void *arg, const struct de_lrec *r)
{
	struct show *sh = arg;
	if (selected(sh, r))
		sh->selected++;
	return 0;
}

/* show: from record --from; tail: the last N of the selection (a counting
 * walk, then a printing one: there is no index by position). */
static int do_show(const struct audit_opts *o, bool tail)
{
	struct show sh = { .o = o, .left = o->have_count ? o->count : UINT64_MAX, .b = DE_BUF_INIT };
	uint64_t from = o->from;
	int r = 0;
	if (tail) {
		sh.left = o->have_count ? o->count : 10;
		r = de_ledger_each(o->dir, 0, count_one, &sh);
		sh.skip = sh.selected > sh.left ? sh.selected - sh.left : 0;
		from = 0;
	}
	if (r >= 0)
		r = de_ledger_each(o->dir, from, show_one, &sh);
	de_buf_free(&sh.b);
	if (r < 0) {
		de_log_errno(DE_LOG_ERROR, r, "audit: reading %s/" DE_LEDGER_RECORDS, o->dir);
		return DE_EXIT_FAIL;
	}
	return DE_EXIT_OK;
}

/* --- dispatch ------------------------------------------------------------ */

static const char *const actions[] = { "verify", "prove", "verify-proof", "consistency",
				       "checkpoint", "show", "tail", "pubkey" };

/* Positional arguments each action takes. */
static int nargs(const char *a)
{
	if (!strcmp(a, "prove") || !strcmp(a, "verify-proof"))
		return 1;
	return !strcmp(a, "consistency") ? 2 : 0;
}

static int parse_opts(int argc, char **argv, struct audit_opts *o, struct de_cli_common *c)
{
	static const struct option longopts[] = {
		DE_CLI_COMMON_LONGOPTS,
		{ "checkpoint", required_argument, NULL, OPT_CHECKPOINT },
		{ "pubkey", required_argument, NULL, OPT_PUBKEY },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "new", no_argument, NULL, OPT_NEW },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "hn:", longopts, NULL)) != -1) {
		int r = de_cli_common_opt(c, opt, optarg);
		if (r < 0)
			return -1;
		if (r > 0)
			continue;
		switch (opt) {
		case 'h':
			usage(stdout);
			return 1;
		case OPT_CHECKPOINT:
			o->checkpoint = optarg;
			break;
		case OPT_PUBKEY:
			o->pubkey = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_NEW:
			o->new_cp = true;
			break;
		case OPT_FROM:
			if (parse_u64(optarg, &o->from) < 0) {
				log_error("audit: --from needs a record number");
				return -1;
			}
			break;
		case 'n':
		case OPT_COUNT:
			if (parse_u64(optarg, &o->count) < 0 || o->count == 0) {
				log_error("audit: %s needs a positive count", opt == 'n' ? "-n" : "--count");
				return -1;
			}
			o->have_count = true;
			break;
		case OPT_TYPE:
			if ((o->type = de_lrec_type_parse(optarg)) < 0) {
				log_error("audit: unknown record type '%s'", optarg);
				return -1;
			}
			break;
		case OPT_SIZE:
			if (parse_u64(optarg, &o->size) < 0 || o->size == 0) {
				log_error("audit: --size needs a positive tree size");
				return -1;
			}
			o->have_size = true;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

int cmd_audit_main(int argc, char **argv)
{
	struct audit_opts o = { 0 };
	struct de_cli_common common = { 0 };
	int r = parse_opts(argc, argv, &o, &common);
	if (r != 0)
		return r > 0 ? DE_EXIT_OK : DE_EXIT_USAGE;
	if (optind >= argc) {
		usage(stderr);
		return DE_EXIT_USAGE;
	}
	o.action = argv[optind++];
	bool known = false;
	for (size_t i = 0; i < DE_ARRAY_SIZE(actions); i++)
		known |= strcmp(actions[i], o.action) == 0;
	if (!known) {
		log_error("audit: unknown action '%s' (see 'daemoneye audit --help')", o.action);
		return DE_EXIT_USAGE;
	}
	if (argc - optind != nargs(o.action)) {
		log_error("audit %s: expected %d argument(s)", o.action, nargs(o.action));
		return DE_EXIT_USAGE;
	}
	bool tailish = !strcmp(o.action, "show") || !strcmp(o.action, "tail");
	if ((o.new_cp && strcmp(o.action, "checkpoint")) ||
	    (o.checkpoint && strcmp(o.action, "verify") && strcmp(o.action, "verify-proof")) ||
	    (o.have_size && strcmp(o.action, "prove")) ||
	    ((o.type || o.have_count || o.from) && !tailish) ||
	    (o.from && !strcmp(o.action, "tail")) ||
	    (o.json && !tailish && strcmp(o.action, "verify"))) {
		log_error("audit %s: an option does not apply to this action (see --help)", o.action);
		return DE_EXIT_USAGE;
	}
	if (!strcmp(o.action, "verify-proof") && !o.checkpoint) {
		log_error("audit verify-proof: --checkpoint FILE is required");
		return DE_EXIT_USAGE;
	}
	uint64_t a = 0, b = 0;
	if ((!strcmp(o.action, "prove") && parse_u64(argv[optind], &a) < 0) ||
	    (!strcmp(o.action, "consistency") &&
	     (parse_u64(argv[optind], &a) < 0 || parse_u64(argv[optind + 1], &b) < 0))) {
		log_error("audit %s: record numbers and sizes are plain decimals", o.action);
		return DE_EXIT_USAGE;
	}
	if (de_cli_state_dir(&common, o.state, sizeof(o.state)) != DE_EXIT_OK ||
	    de_state_path(o.state, DE_STATE_LEDGER_DIR, o.dir, sizeof(o.dir)) < 0)
		return DE_EXIT_FAIL;
	struct de_config cfg;
	if (de_config_init(&cfg) < 0)
		return DE_EXIT_FAIL;
	int rc = de_cli_load_config(&common, &cfg);
	de_config_free(&cfg);
	if (rc != DE_EXIT_OK)
		return rc;

	if (!strcmp(o.action, "verify"))
		rc = do_verify(&o);
	else if (!strcmp(o.action, "prove"))
		rc = do_prove(&o, a);
	else if (!strcmp(o.action, "verify-proof"))
		rc = do_verify_proof(&o, argv[optind]);
	else if (!strcmp(o.action, "consistency"))
		rc = do_consistency(&o, a, b);
	else if (!strcmp(o.action, "checkpoint"))
		rc = do_checkpoint(&o);
	else if (!strcmp(o.action, "pubkey"))
		rc = do_pubkey(&o);
	else
		rc = do_show(&o, !strcmp(o.action, "tail"));
	if (fflush(stdout) != 0 || ferror(stdout)) {
		de_log_errno(DE_LOG_ERROR, de_neg_errno(), "audit: writing the output");
		return DE_EXIT_FAIL;
	}
	return rc;
}

/* cmd_ps.c: `daemoneye ps`, a full-detail snapshot of every process.
 *
 * Output is streamed for --json and --csv (one process in memory at a
 * time, so memory stays flat however many processes there are); the table
 * and tree views keep one compact row of pre-escaped cells per process to
 * size the columns. Every byte that came from a process goes through the
 * escapers in emit.h first.
 */
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "bpfsnap.h"
#include "cli.h"
#include "commands.h"
#include "emit.h"
#include "exehash.h"
#include "log.h"
#include "proc.h"
#include "procfmt.h"
#include "procscan.h"

#define PS_MAX_COLS 48
#define PS_MAX_FILTERS 16
#define PS_MAX_PIDS 256

enum ps_format { PS_TABLE, PS_JSON, PS_CSV };
enum ps_source { SRC_AUTO, SRC_BPF, SRC_PROC };
enum filter_op { OP_EQ, OP_NE, OP_HAS, OP_HASNT };

struct filter {
	const struct de_col *col;
	enum filter_op op;
	const char *value;
};

struct row {
	int32_t pid, ppid;
	bool match;    /* selected by the filters (tree mode also shows ancestors) */
	bool shown;
	bool kthread;
	uint32_t first_child, next_sibling; /* tree links, UINT32_MAX = none */
	char *cells;   /* escaped cells, NUL-separated */
	uint32_t off[PS_MAX_COLS];
	uint32_t width[PS_MAX_COLS];
};

struct ps {
	enum ps_format format;
	bool tree, header, wide, color, hash, no_kernel;
	size_t line_budget; /* data rows that still fit the screen (--watch on a tty) */
	size_t lines_cut;   /* data rows that did not */
	unsigned watch_secs;
	enum ps_source source;
	bool bpf_noticed; /* the auto fallback notice was printed */
	struct de_bpfsnap_prog *prog; /* loaded once, kept across --watch redraws */
	bool keep_loaded;             /* collector.pin_snapshot */
	const struct de_col *cols[PS_MAX_COLS];
	unsigned ncols;
	struct filter filters[PS_MAX_FILTERS];
	unsigned nfilters;
	int32_t pids[PS_MAX_PIDS];
	unsigned npids;
	const char *user;
	FILE *out;

	struct de_buf line; /* main thread: the table line being printed */
	struct row *rows;
	uint32_t nrows, cap;
	int err;
};

static const char *const default_cols = "pid,ppid,user,state,start,time,rss,args";

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye ps [OPTIONS]\n"
		"\n"
		"Snapshot of every process on this host, read from /proc. Runs unprivileged\n"
		"too: fields that cannot be read are shown as '-' (table) or null with the\n"
		"reason in \"errors\" (JSON), never guessed.\n"
		"\n"
		"Output:\n"
		"  (default)           aligned table: %s\n"
		"  --json              JSON Lines: one object per process with every field\n"
		"  --csv               CSV of the selected columns, with a header line\n"
		"  -o, --columns LIST  comma-separated columns; '+LIST' adds to the default\n"
		"  --list-columns      list the column names\n"
		"  --tree              process tree (ancestors of matching processes included)\n"
		"  --no-header         omit the table/CSV header\n"
		"  -w, --wide          do not cut table lines to the terminal width\n"
		"  --watch SECS        redraw the table every SECS seconds until interrupted\n"
		"                      (on a terminal, cut to the window's height)\n"
		"\n"
		"Detail:\n"
		"  --hash              hash executables (SHA-256 and BLAKE3; adds a sha256 column)\n"
		"  --env               capture environments (values of secret-looking names redacted,\n"
		"                      see collector.redact_env)\n"
		"\n"
		"Source:\n"
		"  --source SRC        auto (default): a BPF task iterator when it loads (root,\n"
		"                      kernel BTF, a build with BPF), else /proc; bpf: the\n"
		"                      iterator or fail saying why; proc: /proc only. The\n"
		"                      iterator stays loaded for the next run (pinned in\n"
		"                      /sys/fs/bpf/daemoneye; off: --set\n"
		"                      collector.pin_snapshot=false)\n"
		"\n"
		"Selection (all must match):\n"
		"  -p, --pid LIST      only these pids (comma-separated)\n"
		"  -u, --user USER     only processes whose real user is USER (name or uid)\n"
		"  -K, --no-kernel     leave out kernel threads\n"
		"  -f, --filter EXPR   COLUMN=VALUE, COLUMN!=VALUE, COLUMN~TEXT (contains),\n"
		"                      COLUMN!~TEXT; repeatable. Example: -f comm=sshd -f 'args~-D'\n"
		"\n"
		"Common options:\n" DE_CLI_COMMON_HELP
		"\n"
		"Colour is used on a terminal unless NO_COLOR is set.\n",
		default_cols);
}

static void list_columns(void)
{
	for (unsigned i = 0; i < de_n_cols; i++)
		printf("%-10s %s\n", de_cols[i].name, de_cols[i].help);
}

static int add_columns(struct ps *ps, const char *list)
{
	char *copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	int r = 0;
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		const struct de_col *c = de_col_find(t);
		if (!c) {
			log_error("unknown column '%s' (see --list-columns)", t);
			r = -EINVAL;
			break;
		}
		if (ps->ncols >= PS_MAX_COLS) {
			log_error("too many columns");
			r = -E2BIG;
			break;
		}
		ps->cols[ps->ncols++] = c;
	}
	free(copy);
	return r;
}

static int parse_filter(struct ps *ps, const char *expr)
{
	if (ps->nfilters >= PS_MAX_FILTERS) {
		log_error("too many --filter options (at most %d)", PS_MAX_FILTERS);
		return -E2BIG;
	}
	const char *op = strpbrk(expr, "=!~");
	if (!op || op == expr) {
		log_error("--filter '%s': expected COLUMN=VALUE, COLUMN!=VALUE, COLUMN~TEXT or COLUMN!~TEXT", expr);
		return -EINVAL;
	}
	struct filter *f = &ps->filters[ps->nfilters];
	if (op[0] == '=') {
		f->op = OP_EQ;
		f->value = op + 1;
	} else if (op[0] == '~') {
		f->op = OP_HAS;
		f->value = op + 1;
	} else if (op[0] == '!' && op[1] == '=') {
		f->op = OP_NE;
		f->value = op + 2;
	} else if (op[0] == '!' && op[1] == '~') {
		f->op = OP_HASNT;
		f->value = op + 2;
	} else {
		log_error("--filter '%s': unknown operator", expr);
		return -EINVAL;
	}
	char name[32];
	size_t n = (size_t)(op - expr);
	if (n >= sizeof(name)) {
		log_error("--filter '%s': unknown column", expr);
		return -EINVAL;
	}
	memcpy(name, expr, n);
	name[n] = '\0';
	f->col = de_col_find(name);
	if (!f->col) {
		log_error("--filter: unknown column '%s' (see --list-columns)", name);
		return -EINVAL;
	}
	ps->nfilters++;
	return 0;
}

static int parse_pids(struct ps *ps, const char *list)
{
	const char *s = list;
	while (*s) {
		char *end;
		errno = 0;
		long v = strtol(s, &end, 10);
		if (errno || end == s || v <= 0 || v > INT32_MAX || (*end && *end != ',')) {
			log_error("--pid '%s': expected comma-separated process ids", list);
			return -EINVAL;
		}
		if (ps->npids >= PS_MAX_PIDS) {
			log_error("--pid: at most %d pids", PS_MAX_PIDS);
			return -E2BIG;
		}
		ps->pids[ps->npids++] = (int32_t)v;
		s = *end ? end + 1 : end;
	}
	return 0;
}

static bool user_matches(const struct ps *ps, const struct de_proc *p)
{
	if (p->err[DE_PF_STATUS])
		return false;
	char *end;
	unsigned long uid = strtoul(ps->user, &end, 10);
	if (*ps->user && !*end)
		return uid == p->uid[DE_ID_REAL];
	return p->user && strcmp(p->user, ps->user) == 0;
}

static bool matches(const struct ps *ps, const struct de_proc *p, struct de_buf *tmp)
{
	if (ps->npids) {
		bool found = false;
		for (unsigned i = 0; i < ps->npids && !found; i++)
			found = ps->pids[i] == p->pid;
		if (!found)
			return false;
	}
	if (ps->no_kernel && p->kthread)
		return false;
	if (ps->user && !user_matches(ps, p))
		return false;
	for (unsigned i = 0; i < ps->nfilters; i++) {
		const struct filter *f = &ps->filters[i];
		de_buf_reset(tmp);
		if (!de_col_value(f->col, p, tmp) || tmp->err)
			return false; /* an unknown value matches nothing */
		const char *v = de_buf_str(tmp);
		bool ok;
		switch (f->op) {
		case OP_EQ: ok = strcmp(v, f->value) == 0; break;
		case OP_NE: ok = strcmp(v, f->value) != 0; break;
		case OP_HAS: ok = memmem(v, tmp->len, f->value, strlen(f->value)) != NULL; break;
		default: ok = memmem(v, tmp->len, f->value, strlen(f->value)) == NULL; break;
		}
		if (!ok)
			return false;
	}
	return true;
}

/* The field groups the selected columns and filters need (JSON: all). */
static unsigned needed_groups(const struct ps *ps)
{
	unsigned g = DE_PF_BIT(DE_PF_STAT);
	for (unsigned c = 0; c < ps->ncols; c++)
		if (ps->cols[c]->src >= 0)
			g |= DE_PF_BIT(ps->cols[c]->src);
	for (unsigned i = 0; i < ps->nfilters; i++)
		if (ps->filters[i].col->src >= 0)
			g |= DE_PF_BIT(ps->filters[i].col->src);
	if (ps->user)
		g |= DE_PF_BIT(DE_PF_STATUS);
	return g;
}

static int emit_csv_header(struct ps *ps)
{
	for (unsigned c = 0; c < ps->ncols; c++) {
		if (c)
			fputc(',', ps->out);
		fputs(ps->cols[c]->name, ps->out);
	}
	fputs("\r\n", ps->out);
	return 0;
}

static void emit_csv(const struct ps *ps, const struct de_proc *p, struct de_buf *out,
		     struct de_buf *tmp)
{
	for (unsigned c = 0; c < ps->ncols; c++) {
		if (c)
			de_buf_putc(out, ',');
		de_buf_reset(tmp);
		if (de_col_value(ps->cols[c], p, tmp))
			de_emit_csv_field(out, de_buf_str(tmp), tmp->len);
	}
	de_buf_puts(out, "\r\n");
}

/* A table row travels from a worker to the main thread as a record:
 * header, one display width per column, then the escaped cells, each
 * NUL-terminated. */
struct row_rec {
	int32_t pid, ppid;
	uint8_t match, kthread;
	uint32_t cells_len;
};

static void emit_row(const struct ps *ps, const struct de_proc *p, bool match, struct de_buf *out,
		     struct de_buf *tmp)
{
	size_t start = out->len;
	struct row_rec h = { .pid = p->pid, .ppid = p->err[DE_PF_STAT] ? 0 : p->ppid,
			     .match = match, .kthread = p->kthread };
	uint32_t width[PS_MAX_COLS] = { 0 };
	de_buf_append(out, &h, sizeof(h));
	de_buf_append(out, width, ps->ncols * sizeof(width[0]));
	size_t cells = out->len;
	for (unsigned c = 0; c < ps->ncols; c++) {
		size_t off = out->len;
		de_buf_reset(tmp);
		if (de_col_value(ps->cols[c], p, tmp))
			de_emit_text(out, tmp->data ? tmp->data : "", tmp->len);
		else
			de_buf_putc(out, '-');
		if (out->err)
			return;
		width[c] = (uint32_t)de_emit_text_width(out->data + off, out->len - off);
		de_buf_putc(out, '\0');
	}
	if (out->err)
		return;
	h.cells_len = (uint32_t)(out->len - cells);
	memcpy(out->data + start, &h, sizeof(h));
	memcpy(out->data + start + sizeof(h), width, ps->ncols * sizeof(width[0]));
}

/* In a scan worker: filter p and format it for the output. */
static int on_proc(const struct de_proc *p, struct de_buf *out, struct de_buf *tmp, void *ud)
{
	const struct ps *ps = ud;
	bool match = matches(ps, p, tmp);
	if (!match && !ps->tree)
		return 0;
	if (ps->format == PS_JSON) {
		struct de_json j;
		de_json_init(&j, out);
		de_proc_json(&j, p);
		de_buf_putc(out, '\n');
	} else if (ps->format == PS_CSV) {
		emit_csv(ps, p, out, tmp);
	} else {
		emit_row(ps, p, match, out, tmp);
	}
	return out->err;
}

static int keep_rows(struct ps *ps, const char *data, size_t len)
{
	size_t pos = 0;
	while (pos < len) {
		struct row_rec h;
		memcpy(&h, data + pos, sizeof(h));
		pos += sizeof(h);
		if (ps->nrows == ps->cap) {
			uint32_t cap = ps->cap ? ps->cap * 2 : 1024;
			struct row *rows = realloc(ps->rows, cap * sizeof(*rows));
			if (!rows)
				return -ENOMEM;
			ps->rows = rows;
			ps->cap = cap;
		}
		struct row *r = &ps->rows[ps->nrows];
		memset(r, 0, sizeof(*r));
		r->pid = h.pid;
		r->ppid = h.ppid;
		r->match = h.match;
		r->kthread = h.kthread;
		memcpy(r->width, data + pos, ps->ncols * sizeof(r->width[0]));
		pos += ps->ncols * sizeof(r->width[0]);
		r->cells = malloc(h.cells_len);
		if (!r->cells)
			return -ENOMEM;
		memcpy(r->cells, data + pos, h.cells_len);
		uint32_t off = 0;
		for (unsigned c = 0; c < ps->ncols; c++) {
			r->off[c] = off;
			off += (uint32_t)strlen(r->cells + off) + 1;
		}
		pos += h.cells_len;
		ps->nrows++;
	}
	return 0;
}

/* In the main thread, in pid order. */
static int on_batch(const char *data, size_t len, void *ud)
{
	struct ps *ps = ud;
	if (ps->format == PS_TABLE)
		return keep_rows(ps, data, len);
	if (fwrite(data, 1, len, ps->out) != len)
		return -EIO;
	return 0;
}

static int cmp_row_pid(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

static struct row *find_row(struct ps *ps, int32_t pid)
{
	struct row key = { .pid = pid };
	return bsearch(&key, ps->rows, ps->nrows, sizeof(*ps->rows), cmp_row_pid);
}

static unsigned term_width(const struct ps *ps)
{
	if (ps->wide || !isatty(fileno(ps->out)))
		return 0;
	struct winsize ws;
	if (ioctl(fileno(ps->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* Data rows that fit a --watch screen (title, header and the "more"
 * line take three); unlimited otherwise. */
static size_t screen_rows(const struct ps *ps)
{
	struct winsize ws;
	if (!ps->watch_secs || !isatty(fileno(ps->out)) ||
	    ioctl(fileno(ps->out), TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0)
		return SIZE_MAX;
	return ws.ws_row > 4 ? (size_t)ws.ws_row - 3 : 1;
}

static void print_cut(struct ps *ps)
{
	if (ps->lines_cut)
		fprintf(ps->out, "... %zu more (narrow with -u, -f, -K, or enlarge the window)\n",
			ps->lines_cut);
}

/* Append at most `cols` columns of escaped text s (cut at a code point). */
static void put_cut(struct de_buf *b, const char *s, size_t len, size_t *cols)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < len && *cols > 0) {
		size_t l = de_utf8_seq_len(u + i, len - i);
		if (l == 0)
			l = 1;
		i += l;
		(*cols)--;
	}
	de_buf_append(b, s, i);
}

static void print_row(struct ps *ps, const uint32_t *w, const char *const *cells,
		      const uint32_t *cw, const char *prefix, bool header, bool dim, unsigned tw)
{
	if (!header) {
		if (ps->line_budget == 0) {
			ps->lines_cut++;
			return;
		}
		ps->line_budget--;
	}
	struct de_buf *b = &ps->line;
	de_buf_reset(b);
	size_t room = tw ? tw : SIZE_MAX;
	if (ps->color && header)
		de_buf_puts(b, "\033[1m");
	else if (ps->color && dim)
		de_buf_puts(b, "\033[2m");
	for (unsigned c = 0; c < ps->ncols; c++) {
		bool last = c + 1 == ps->ncols;
		size_t pad = w[c] > cw[c] ? w[c] - cw[c] : 0;
		if (c)
			put_cut(b, " ", 1, &room);
		if (ps->cols[c]->right && !last)
			for (size_t k = 0; k < pad && room; k++, room--)
				de_buf_putc(b, ' ');
		if (last && prefix)
			put_cut(b, prefix, strlen(prefix), &room);
		put_cut(b, cells[c], strlen(cells[c]), &room);
		if (!ps->cols[c]->right && !last)
			for (size_t k = 0; k < pad && room; k++, room--)
				de_buf_putc(b, ' ');
	}
	if (ps->color && (header || dim))
		de_buf_puts(b, "\033[0m");
	de_buf_putc(b, '\n');
	fwrite(b->data, 1, b->len, ps->out);
}

static void print_data_row(struct ps *ps, const struct row *r, const uint32_t *w, const char *prefix,
			   unsigned tw)
{
	const char *cells[PS_MAX_COLS];
	for (unsigned c = 0; c < ps->ncols; c++)
		cells[c] = r->cells + r->off[c];
	print_row(ps, w, cells, r->width, prefix, false, r->kthread || !r->match, tw);
}

/* Depth-first print of the subtree at idx; `prefix` holds the connectors. */
static void print_tree(struct ps *ps, uint32_t idx, const uint32_t *w, struct de_buf *prefix,
		       bool last, unsigned depth, unsigned tw)
{
	size_t keep = prefix->len;
	if (depth > 0)
		de_buf_puts(prefix, last ? "`- " : "|- ");
	print_data_row(ps, &ps->rows[idx], w, de_buf_str(prefix), tw);
	if (depth > 0) {
		prefix->len = keep;
		de_buf_puts(prefix, last ? "   " : "|  ");
	}
	for (uint32_t c = ps->rows[idx].first_child; c != UINT32_MAX;) {
		uint32_t next = ps->rows[c].next_sibling;
		while (next != UINT32_MAX && !ps->rows[next].shown)
			next = ps->rows[next].next_sibling;
		if (ps->rows[c].shown)
			print_tree(ps, c, w, prefix, next == UINT32_MAX, depth + (depth < 64), tw);
		c = next;
	}
	prefix->len = keep;
	if (prefix->data)
		prefix->data[keep] = '\0';
}

static void render_table(struct ps *ps)
{
	uint32_t w[PS_MAX_COLS], hw[PS_MAX_COLS];
	const char *heads[PS_MAX_COLS];
	for (unsigned c = 0; c < ps->ncols; c++) {
		heads[c] = ps->cols[c]->header;
		hw[c] = w[c] = (uint32_t)strlen(heads[c]);
	}
	qsort(ps->rows, ps->nrows, sizeof(*ps->rows), cmp_row_pid);
	for (uint32_t i = 0; i < ps->nrows; i++) {
		ps->rows[i].shown = ps->rows[i].match;
		ps->rows[i].first_child = ps->rows[i].next_sibling = UINT32_MAX;
	}
	if (ps->tree) { /* show the ancestors of every match, then link children */
		for (uint32_t i = 0; i < ps->nrows; i++) {
			if (!ps->rows[i].match)
				continue;
			struct row *r = &ps->rows[i];
			for (unsigned hops = 0; hops < 4096 && r->ppid > 0; hops++) {
				struct row *parent = find_row(ps, r->ppid);
				if (!parent || parent->shown)
					break;
				parent->shown = true;
				r = parent;
			}
		}
		for (uint32_t i = ps->nrows; i-- > 0;) {
			struct row *parent = ps->rows[i].ppid > 0 && ps->rows[i].ppid != ps->rows[i].pid
						     ? find_row(ps, ps->rows[i].ppid) : NULL;
			if (parent) {
				ps->rows[i].next_sibling = parent->first_child;
				parent->first_child = i;
			}
		}
	}
	for (uint32_t i = 0; i < ps->nrows; i++)
		if (ps->rows[i].shown)
			for (unsigned c = 0; c < ps->ncols; c++)
				w[c] = DE_MAX(w[c], ps->rows[i].width[c]);
	unsigned tw = term_width(ps);
	ps->line_budget = screen_rows(ps);
	ps->lines_cut = 0;
	if (ps->header)
		print_row(ps, w, heads, hw, NULL, true, false, tw);
	if (!ps->tree) {
		for (uint32_t i = 0; i < ps->nrows; i++)
			if (ps->rows[i].shown)
				print_data_row(ps, &ps->rows[i], w, NULL, tw);
		print_cut(ps);
		return;
	}
	struct de_buf prefix = DE_BUF_INIT;
	for (uint32_t i = 0; i < ps->nrows; i++) {
		struct row *r = &ps->rows[i];
		if (!r->shown)
			continue;
		struct row *parent = r->ppid > 0 && r->ppid != r->pid ? find_row(ps, r->ppid) : NULL;
		if (parent && parent->shown)
			continue; /* printed under its parent */
		de_buf_reset(&prefix);
		print_tree(ps, i, w, &prefix, true, 0, tw);
	}
	de_buf_free(&prefix);
	print_cut(ps);
}

static void free_rows(struct ps *ps)
{
	for (uint32_t i = 0; i < ps->nrows; i++)
		free(ps->rows[i].cells);
	ps->nrows = 0;
}

static unsigned bpf_known(size_t i, struct de_proc *p, void *ud)
{
	return de_bpfsnap_fill(ud, i, p);
}

/* The BPF snapshot, or NULL for /proc (auto, with a notice once). *err < 0
 * when --source bpf cannot have it. The program is loaded on first use and
 * kept for the next snapshot (--watch). */
static struct de_bpfsnap *take_bpf(struct ps *ps, const struct de_proc_opts *po, int *err)
{
	*err = 0;
	if (ps->source == SRC_PROC || ps->bpf_noticed)
		return NULL;
	char why[256];
	int e = 0;
	if (strcmp(po->proc_root ? po->proc_root : "/proc", "/proc") != 0) {
		snprintf(why, sizeof(why), "the process root is not /proc");
		e = -EINVAL;
	} else if (!ps->prog) {
		e = de_bpfsnap_open(po->argv_max_bytes, ps->keep_loaded ? DE_BPFSNAP_SHARED : 0,
				    &ps->prog, why, sizeof(why));
		if (e == 0 && getenv("DE_BPF_STATS"))
			fprintf(stderr, "daemoneye: bpf: %s %.1f ms\n",
				de_bpfsnap_prog_reused(ps->prog) ? "pinned program reused in"
								 : "program load and verification",
				(double)de_bpfsnap_prog_load_ns(ps->prog) / 1e6);
	}
	struct de_bpfsnap *snap = NULL;
	if (e == 0)
		e = de_bpfsnap_read(ps->prog, &snap, why, sizeof(why));
	if (e == 0) {
		if (getenv("DE_BPF_STATS"))
			fprintf(stderr, "daemoneye: bpf: %zu processes, %zu bytes, read %.1f ms\n",
				de_bpfsnap_count(snap), de_bpfsnap_bytes(snap),
				(double)de_bpfsnap_read_ns(snap) / 1e6);
		return snap;
	}
	if (ps->source == SRC_BPF) {
		log_error("--source bpf: %s", why);
		*err = e;
	} else {
		/* expected without root: say it only when debugging */
		de_log(geteuid() ? DE_LOG_DEBUG : DE_LOG_INFO,
		       "reading /proc: no BPF snapshot (%s)", why);
		ps->bpf_noticed = true; /* and /proc from now on */
	}
	return NULL;
}

static int snapshot(struct ps *ps, const struct de_proc_opts *po)
{
	int e;
	struct de_bpfsnap *snap = take_bpf(ps, po, &e);
	if (e < 0)
		return e;
	if (ps->format == PS_CSV && ps->header)
		emit_csv_header(ps);
	struct de_scan scan = {
		.known = snap ? bpf_known : NULL,
		.n_known = snap ? de_bpfsnap_count(snap) : 0,
		.known_ud = snap,
		.opts = po,
		/* the hash cache is shared state: hash on one thread */
		.threads = po->hash_algos ? 1 : 0,
		.emit = on_proc,
		.flush = on_batch,
		.ud = ps,
	};
	int n = de_proc_scan_all(&scan);
	if (n >= 0 && ps->format == PS_TABLE)
		render_table(ps);
	free_rows(ps);
	de_bpfsnap_free(snap);
	return n;
}

static volatile sig_atomic_t watch_stop;
static void on_signal(int sig) { (void)sig; watch_stop = 1; }

/* A snapshot is a few large buffers and many short-lived small ones over
 * 2-3 threads: one malloc arena and a fixed mmap threshold give large
 * buffers back to the kernel when freed, where per-thread arenas and the
 * adaptive threshold kept them (peak RSS over 10,000 processes: 13.2-14.1
 * MiB, against 14.0-18.4 MiB with glibc's defaults). */
static void tune_malloc(void)
{
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_TRIM_THRESHOLD, 256 * 1024);
}

int cmd_ps_main(int argc, char **argv)
{
	tune_malloc();
	enum { OPT_JSON = 0x2000, OPT_CSV, OPT_TREE, OPT_HASH, OPT_ENV, OPT_NOHDR, OPT_WATCH, OPT_LIST, OPT_SOURCE };
	static const struct option longopts[] = {
		DE_CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "csv", no_argument, NULL, OPT_CSV },
		{ "tree", no_argument, NULL, OPT_TREE },
		{ "hash", no_argument, NULL, OPT_HASH },
		{ "env", no_argument, NULL, OPT_ENV },
		{ "no-header", no_argument, NULL, OPT_NOHDR },
		{ "watch", required_argument, NULL, OPT_WATCH },
		{ "list-columns", no_argument, NULL, OPT_LIST },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "columns", required_argument, NULL, 'o' },
		{ "pid", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "filter", required_argument, NULL, 'f' },
		{ "wide", no_argument, NULL, 'w' },
		{ "no-kernel", no_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	struct de_cli_common common = { 0 };
	/* The BPF task iterator when it loads (root, BTF, a BPF build), else
	 * /proc (docs/BENCHMARKS.md) */
	struct ps ps = { .format = PS_TABLE, .header = true, .out = stdout, .source = SRC_AUTO };
	const char *columns = NULL;
	bool capture_env = false;
	int opt, ret = DE_EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "ho:p:u:f:wK", longopts, NULL)) != -1) {
		int c = de_cli_common_opt(&common, opt, optarg);
		if (c < 0)
			return DE_EXIT_USAGE;
		if (c > 0)
			continue;
		switch (opt) {
		case 'h': usage(stdout); return DE_EXIT_OK;
		case OPT_JSON: ps.format = PS_JSON; break;
		case OPT_CSV: ps.format = PS_CSV; break;
		case OPT_TREE: ps.tree = true; break;
		case OPT_HASH: ps.hash = true; break;
		case OPT_ENV: capture_env = true; break;
		case OPT_NOHDR: ps.header = false; break;
		case OPT_LIST: list_columns(); return DE_EXIT_OK;
		case OPT_SOURCE:
			if (strcmp(optarg, "auto") == 0) {
				ps.source = SRC_AUTO;
			} else if (strcmp(optarg, "bpf") == 0) {
				ps.source = SRC_BPF;
			} else if (strcmp(optarg, "proc") == 0) {
				ps.source = SRC_PROC;
			} else {
				log_error("--source: expected auto, bpf or proc, not '%s'", optarg);
				return DE_EXIT_USAGE;
			}
			break;
		case 'o': columns = optarg; break;
		case 'w': ps.wide = true; break;
		case 'K': ps.no_kernel = true; break;
		case 'u': ps.user = optarg; break;
		case 'p':
			if (parse_pids(&ps, optarg) < 0)
				return DE_EXIT_USAGE;
			break;
		case 'f':
			if (parse_filter(&ps, optarg) < 0)
				return DE_EXIT_USAGE;
			break;
		case OPT_WATCH: {
			char *end;
			unsigned long s = strtoul(optarg, &end, 10);
			if (*end || s == 0 || s > 86400) {
				log_error("--watch: expected a number of seconds from 1 to 86400");
				return DE_EXIT_USAGE;
			}
			ps.watch_secs = (unsigned)s;
			break;
		}
		default: usage(stderr); return DE_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see 'daemoneye ps --help')", argv[optind]);
		return DE_EXIT_USAGE;
	}
	if (ps.format != PS_TABLE && (ps.tree || ps.watch_secs)) {
		log_error("--tree and --watch work with the table output only");
		return DE_EXIT_USAGE;
	}

	if (!columns || columns[0] == '+') {
		add_columns(&ps, default_cols);
		if (ps.hash)
			add_columns(&ps, "sha256");
		/* keep the command line last: move it after the added columns */
		if (columns && add_columns(&ps, columns + 1) < 0)
			return DE_EXIT_USAGE;
		for (unsigned i = 0; i + 1 < ps.ncols; i++) {
			if (strcmp(ps.cols[i]->name, "args") == 0) {
				const struct de_col *a = ps.cols[i];
				memmove(&ps.cols[i], &ps.cols[i + 1], (ps.ncols - i - 1) * sizeof(ps.cols[0]));
				ps.cols[ps.ncols - 1] = a;
				break;
			}
		}
	} else if (add_columns(&ps, columns) < 0) {
		return DE_EXIT_USAGE;
	}

	struct de_config cfg;
	if (de_config_init(&cfg) < 0)
		return DE_EXIT_FAIL;
	struct de_exehash_cache *cache = NULL;
	if (de_cli_load_config(&common, &cfg) != DE_EXIT_OK)
		goto out;

	struct de_proc_opts po;
	de_proc_opts_from_config(&po, &cfg);
	ps.keep_loaded = cfg.collector.pin_snapshot;
	if (capture_env)
		po.capture_env = true;
	if (ps.format != PS_JSON) /* read only what the columns and filters show */
		po.groups = needed_groups(&ps);
	if (ps.hash) {
		cache = de_exehash_cache_new(cfg.hashing.cache_entries, cfg.hashing.max_file_bytes);
		if (!cache) {
			log_error("out of memory");
			goto out;
		}
		po.hash_algos = DE_HASH_SHA256 | DE_HASH_BLAKE3;
		po.hash_cache = cache;
	}
	ps.color = ps.format == PS_TABLE && de_cli_use_color();
	static char outbuf[1 << 16];
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));

	if (ps.watch_secs) {
		struct sigaction sa = { .sa_handler = on_signal };
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	do {
		if (ps.watch_secs) {
			if (isatty(STDOUT_FILENO))
				fputs("\033[H\033[2J", ps.out);
			struct de_buf t = DE_BUF_INIT;
			de_fmt_time_ns(&t, (int64_t)time(NULL) * 1000000000);
			fprintf(ps.out, "daemoneye ps  %s  (every %us, Ctrl-C to stop)\n", de_buf_str(&t),
				ps.watch_secs);
			de_buf_free(&t);
		}
		int n = snapshot(&ps, &po);
		if (n < 0 && ps.source == SRC_BPF && n != -EIO && n != -ENOMEM) {
			goto out; /* said why already */
		} else if (n < 0) {
			de_log_errno(DE_LOG_ERROR, n, "cannot read %s", po.proc_root);
			goto out;
		}
		fflush(ps.out);
		for (unsigned s = 0; ps.watch_secs && s < ps.watch_secs * 10 && !watch_stop; s++)
			nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
	} while (ps.watch_secs && !watch_stop);

	if (fflush(ps.out) != 0 || ferror(ps.out)) {
		log_error("writing output failed");
		goto out;
	}
	ret = DE_EXIT_OK;
out:
	de_bpfsnap_close(ps.prog);
	free_rows(&ps);
	free(ps.rows);
	de_buf_free(&ps.line);
	de_exehash_cache_free(cache);
	de_config_free(&cfg);
	return ret;
}

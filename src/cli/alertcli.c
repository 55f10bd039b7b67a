/* alertcli.c: shared pieces of the alerts and sinks subcommands (see
 * alertcli.h). */
#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "alertcli.h"
#include "emit.h"
#include "log.h"
#include "statedir.h"

int de_out_fmt_parse(const char *s, enum de_out_fmt *f)
{
	if (strcmp(s, "table") == 0)
		*f = DE_OUT_TABLE;
	else if (strcmp(s, "json") == 0)
		*f = DE_OUT_JSON;
	else if (strcmp(s, "csv") == 0)
		*f = DE_OUT_CSV;
	else
		return -EINVAL;
	return 0;
}

void de_out_begin(struct de_out *o, enum de_out_fmt fmt, const char *const *cols, unsigned n)
{
	memset(o, 0, sizeof(*o));
	o->fmt = fmt;
	o->cols = cols;
	o->n_cols = n;
	if (fmt == DE_OUT_CSV) {
		struct de_buf b = DE_BUF_INIT;
		for (unsigned i = 0; i < n; i++) {
			if (i)
				de_buf_putc(&b, ',');
			de_emit_csv_field(&b, cols[i], strlen(cols[i]));
		}
		printf("%s\n", de_buf_str(&b));
		de_buf_free(&b);
	} else if (fmt == DE_OUT_TABLE) {
		for (unsigned i = 0; i < n; i++) {
			o->row.len = 0;
			de_out_str(o, cols[i]);
		}
		o->col = 0;
	}
}

static void cell_begin(struct de_out *o)
{
	if (o->fmt == DE_OUT_JSON) {
		de_buf_puts(&o->row, o->col ? "," : "{");
		de_emit_json_string(&o->row, o->cols[o->col], strlen(o->cols[o->col]));
		de_buf_putc(&o->row, ':');
	} else if (o->fmt == DE_OUT_CSV && o->col) {
		de_buf_putc(&o->row, ',');
	}
}

static void table_cell(struct de_out *o, const char *s, size_t n, bool raw)
{
	struct de_buf b = DE_BUF_INIT;
	if (raw)
		de_buf_append(&b, s, n);
	else
		de_emit_text(&b, s, n);
	if (o->n_cells == o->cap_cells) {
		size_t nc = o->cap_cells ? o->cap_cells * 2 : 64;
		char **p = realloc(o->cells, nc * sizeof(*p));
		if (!p) {
			de_buf_free(&b);
			return;
		}
		o->cells = p;
		o->cap_cells = nc;
	}
	o->cells[o->n_cells++] = b.data ? de_buf_steal(&b) : strdup("");
	o->col++;
}

void de_out_str(struct de_out *o, const char *s)
{
	if (o->fmt == DE_OUT_TABLE) {
		table_cell(o, s ? s : "-", s ? strlen(s) : 1, false);
		return;
	}
	cell_begin(o);
	if (o->fmt == DE_OUT_JSON) {
		if (s)
			de_emit_json_string(&o->row, s, strlen(s));
		else
			de_buf_puts(&o->row, "null");
	} else if (s) {
		de_emit_csv_field(&o->row, s, strlen(s));
	}
	o->col++;
}

void de_out_int(struct de_out *o, int64_t v)
{
	char t[32];
	snprintf(t, sizeof(t), "%lld", (long long)v);
	if (o->fmt == DE_OUT_TABLE) {
		table_cell(o, t, strlen(t), true);
		return;
	}
	cell_begin(o);
	de_buf_puts(&o->row, t);
	o->col++;
}

void de_out_json(struct de_out *o, const char *json)
{
	if (o->fmt != DE_OUT_JSON || !json) {
		de_out_str(o, json);
		return;
	}
	cell_begin(o);
	de_buf_puts(&o->row, json);
	o->col++;
}

void de_out_sql(struct de_out *o, sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL: de_out_str(o, NULL); break;
	case SQLITE_INTEGER: de_out_int(o, sqlite3_column_int64(st, i)); break;
	default: de_out_str(o, (const char *)sqlite3_column_text(st, i)); break;
	}
}

void de_out_end_row(struct de_out *o)
{
	if (o->fmt == DE_OUT_JSON)
		de_buf_putc(&o->row, '}');
	if (o->fmt != DE_OUT_TABLE) {
		fwrite(de_buf_str(&o->row), 1, o->row.len, stdout);
		putchar('\n');
	}
	o->row.len = 0;
	o->col = 0;
}

int de_out_finish(struct de_out *o)
{
	if (o->fmt == DE_OUT_TABLE && o->n_cols) {
		size_t w[DE_OUT_MAX_COLS] = { 0 };
		for (size_t i = 0; i < o->n_cells; i++) {
			size_t c = i % o->n_cols, l = de_emit_text_width(o->cells[i], strlen(o->cells[i]));
			if (c < DE_OUT_MAX_COLS && l > w[c])
				w[c] = l;
		}
		for (size_t i = 0; i < o->n_cells; i++) {
			size_t c = i % o->n_cols;
			bool last = c + 1 == o->n_cols;
			fputs(o->cells[i], stdout);
			if (!last) {
				size_t l = de_emit_text_width(o->cells[i], strlen(o->cells[i]));
				for (size_t k = l; k < w[c % DE_OUT_MAX_COLS] + 2; k++)
					putchar(' ');
			} else {
				putchar('\n');
			}
		}
	}
	for (size_t i = 0; i < o->n_cells; i++)
		free(o->cells[i]);
	free(o->cells);
	de_buf_free(&o->row);
	o->cells = NULL;
	o->n_cells = 0;
	if (fflush(stdout) != 0 || ferror(stdout))
		return -EIO;
	return 0;
}

struct de_store *de_cli_open_store(const struct de_cli_common *c)
{
	char dir[PATH_MAX], path[PATH_MAX], why[512];
	if (de_cli_state_dir(c, dir, sizeof(dir)) != DE_EXIT_OK)
		return NULL;
	if (de_state_path(dir, DE_STATE_STORE, path, sizeof(path)) < 0) {
		log_error("state directory: path too long");
		return NULL;
	}
	struct stat st;
	if (stat(path, &st) < 0) {
		struct de_buf b = DE_BUF_INIT;
		de_emit_text(&b, path, strlen(path));
		log_error("no store at %s: %s (is the agent running with this --state-dir?)",
			  de_buf_str(&b), strerror(errno));
		de_buf_free(&b);
		return NULL;
	}
	struct de_store_opts so = { .path = path };
	struct de_store *s = de_store_open(&so, why, sizeof(why));
	if (!s)
		log_error("store: %s", why);
	return s;
}

int64_t de_cli_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int de_cli_parse_time(const char *s, int64_t *ns)
{
	char *end;
	size_t n = strlen(s);
	if (n >= 2 && strchr("smhd", s[n - 1]) && isdigit((unsigned char)s[0])) {
		long long v = strtoll(s, &end, 10);
		if (end != s + n - 1 || v < 0 || v > 36500LL * 86400)
			return -EINVAL;
		long long mul = s[n - 1] == 's' ? 1 : s[n - 1] == 'm' ? 60 : s[n - 1] == 'h' ? 3600 : 86400;
		*ns = de_cli_now_ns() - (int64_t)(v * mul) * 1000000000;
		return 0;
	}
	if (n && strspn(s, "0123456789") == n) {
		long long v = strtoll(s, &end, 10);
		if (v < 0 || v > 32503680000LL)
			return -EINVAL;
		*ns = (int64_t)v * 1000000000;
		return 0;
	}
	struct tm tm = { 0 };
	const char *fmts[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d" };
	for (size_t i = 0; i < DE_ARRAY_SIZE(fmts); i++) {
		memset(&tm, 0, sizeof(tm));
		const char *e = strptime(s, fmts[i], &tm);
		if (e && (*e == 0 || (e[0] == 'Z' && e[1] == 0))) {
			*ns = (int64_t)timegm(&tm) * 1000000000;
			return 0;
		}
	}
	return -EINVAL;
}

const char *de_cli_fmt_time(int64_t ns, char *out, size_t n)
{
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

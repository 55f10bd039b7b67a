/* evprint.c: see evprint.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emit.h"
#include "evprint.h"
#include "hash.h"
#include "log.h"
#include "procfmt.h"

#define EV_TABLE_ARGV_MAX 4096 /* table: escaped argv bytes shown (JSON: all) */

void de_evprint_init(struct de_evprint *e)
{
	*e = (struct de_evprint){ .uid = -1, .line = DE_BUF_INIT };
	e->types = 1u << DE_EV_EXEC | 1u << DE_EV_FORK | 1u << DE_EV_EXIT | 1u << DE_EV_STATUS;
}

void de_evprint_free(struct de_evprint *e)
{
	de_buf_free(&e->line);
}

void de_evprint_header(const struct de_evprint *e)
{
	if (e->json)
		return;
	printf("%-12s %-8s %7s %7s %6s %-16s %s\n", "TIME", "TYPE", "PID", "PPID", "UID", "COMM",
	       "ARGS / EXIT / DETAIL");
	fflush(stdout);
}

int de_evprint_parse_types(struct de_evprint *e, const char *list)
{
	char *copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	int r = 0;
	e->types = 0;
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int ty = de_event_type_parse(t);
		if (ty < 0) {
			log_error("--type: unknown event type '%s' (exec, fork, exit, snapshot, status)", t);
			r = -EINVAL;
			break;
		}
		e->types |= 1u << ty;
	}
	free(copy);
	if (!r && !e->types) {
		log_error("--type: empty list");
		r = -EINVAL;
	}
	return r;
}

static bool matches(const struct de_evprint *e, const struct de_event *ev)
{
	if (!(e->types & (1u << ev->type)))
		return false;
	if (ev->type == DE_EV_STATUS)
		return true; /* about the source, not a process: --comm/--uid do not apply */
	if (e->comm && strcmp(ev->comm, e->comm) != 0)
		return false;
	if (e->uid >= 0 && (!(ev->have & DE_EVF_CREDS) || ev->uid[DE_ID_REAL] != (uint32_t)e->uid))
		return false;
	return true;
}

static void put_entity(struct de_json *j, const char *key, const uint8_t id[DE_ENTITY_ID_LEN],
		       bool known)
{
	de_json_key(j, key);
	if (!known) {
		de_json_null(j);
		return;
	}
	char hex[DE_ENTITY_HEX_LEN];
	de_entity_hex(id, hex);
	de_json_cstr(j, hex);
}

static void put_ids(struct de_json *j, const char *key, const uint32_t ids[4], bool known)
{
	de_json_key(j, key);
	if (!known) {
		de_json_null(j);
		return;
	}
	de_json_arr_begin(j);
	for (int i = 0; i < 4; i++)
		de_json_uint(j, ids[i]);
	de_json_arr_end(j);
}

/* One event as a JSON object: every field, null where unknown. */
static void event_json(struct de_buf *b, const struct de_event *ev)
{
	struct de_json j;
	de_json_init(&j, b);
	de_json_obj_begin(&j);
	de_json_key(&j, "seq");
	de_json_uint(&j, ev->seq);
	de_json_key(&j, "time");
	struct de_buf t = DE_BUF_INIT;
	de_fmt_time_ns(&t, ev->time_ns);
	de_json_str(&j, de_buf_str(&t), t.len);
	de_buf_free(&t);
	de_json_key(&j, "time_ns");
	de_json_int(&j, ev->time_ns);
	de_json_key(&j, "type");
	de_json_cstr(&j, de_event_type_name(ev->type));
	de_json_key(&j, "source");
	de_json_cstr(&j, de_event_source_name(ev->source));
	if (ev->type == DE_EV_STATUS) {
		de_json_key(&j, "status");
		de_json_cstr(&j, de_status_kind_name(ev->status));
		de_json_key(&j, "detail");
		de_json_cstr(&j, ev->detail);
		if (ev->status == DE_ST_DROPS) {
			de_json_key(&j, "drops");
			de_json_obj_begin(&j);
			de_json_key(&j, "unknown_type");
			de_json_uint(&j, ev->drops[0]);
			for (int k = 1; k < DE_EV__COUNT; k++) {
				de_json_key(&j, de_event_type_name((enum de_event_type)k));
				de_json_uint(&j, ev->drops[k]);
			}
			de_json_obj_end(&j);
		}
		de_json_obj_end(&j);
		return;
	}
	bool known_id = ev->start_ticks != 0;
	de_json_key(&j, "partial");
	de_json_bool(&j, ev->partial);
	de_json_key(&j, "detail");
	de_json_cstr(&j, ev->detail);
	de_json_key(&j, "pid");
	de_json_int(&j, ev->pid);
	de_json_key(&j, "tid");
	de_json_int(&j, ev->tid);
	de_json_key(&j, "ppid");
	if (ev->ppid > 0)
		de_json_int(&j, ev->ppid);
	else
		de_json_null(&j);
	de_json_key(&j, "start_ticks");
	if (known_id)
		de_json_uint(&j, ev->start_ticks);
	else
		de_json_null(&j);
	put_entity(&j, "entity_id", ev->entity_id, known_id);
	put_entity(&j, "parent_entity_id", ev->parent_entity_id, ev->have & DE_EVF_PARENT);
	de_json_key(&j, "comm");
	if (ev->comm[0])
		de_json_str(&j, ev->comm, strnlen(ev->comm, sizeof(ev->comm)));
	else
		de_json_null(&j);
	put_ids(&j, "uid", ev->uid, ev->have & DE_EVF_CREDS);
	put_ids(&j, "gid", ev->gid, ev->have & DE_EVF_CREDS);
	bool lu = ev->have & DE_EVF_LOGINUID;
	de_json_key(&j, "loginuid");
	lu ? de_json_uint(&j, ev->loginuid) : de_json_null(&j);
	de_json_key(&j, "sessionid");
	lu ? de_json_uint(&j, ev->sessionid) : de_json_null(&j);
	de_json_key(&j, "filename");
	de_json_cstr(&j, ev->have & DE_EVF_FILENAME ? ev->filename : NULL);
	bool av = ev->have & DE_EVF_ARGV;
	de_json_key(&j, "argv");
	if (av)
		de_json_nul_list(&j, ev->argv, ev->argv_len, ev->argc);
	else
		de_json_null(&j);
	de_json_key(&j, "argv_truncated");
	av ? de_json_bool(&j, ev->argv_truncated) : de_json_null(&j);
	bool exe = ev->have & DE_EVF_EXE;
	de_json_key(&j, "exe");
	de_json_cstr(&j, exe ? ev->exe : NULL);
	de_json_key(&j, "exe_deleted");
	exe ? de_json_bool(&j, ev->exe_deleted) : de_json_null(&j);
	bool eid = ev->have & DE_EVF_EXE_ID;
	de_json_key(&j, "exe_dev");
	eid ? de_json_uint(&j, ev->exe_dev) : de_json_null(&j);
	de_json_key(&j, "exe_ino");
	eid ? de_json_uint(&j, ev->exe_ino) : de_json_null(&j);
	bool cg = ev->have & DE_EVF_CGROUP;
	de_json_key(&j, "cgroup");
	de_json_cstr(&j, cg ? ev->cgroup : NULL);
	de_json_key(&j, "container_id");
	de_json_cstr(&j, cg ? ev->container_id : NULL);
	bool ex = ev->have & DE_EVF_EXIT;
	de_json_key(&j, "exit_code");
	ex ? de_json_int(&j, ev->exit_code) : de_json_null(&j);
	de_json_key(&j, "exit_signal");
	ex ? de_json_int(&j, ev->exit_signal) : de_json_null(&j);
	bool hs = ev->have & DE_EVF_HASH;
	char hex[DE_HASH_HEX_LEN];
	de_json_key(&j, "sha256");
	if (hs && (ev->hashes.algos & DE_HASH_SHA256)) {
		de_hash_hex(ev->hashes.sha256, hex);
		de_json_cstr(&j, hex);
	} else {
		de_json_null(&j);
	}
	de_json_key(&j, "blake3");
	if (hs && (ev->hashes.algos & DE_HASH_BLAKE3)) {
		de_hash_hex(ev->hashes.blake3, hex);
		de_json_cstr(&j, hex);
	} else {
		de_json_null(&j);
	}
	de_json_key(&j, "hash_note");
	de_json_cstr(&j, hs ? NULL : ev->hash_note);
	de_json_key(&j, "proc");
	if (ev->have & DE_EVF_PROC && ev->proc)
		de_proc_json(&j, ev->proc);
	else
		de_json_null(&j);
	de_json_obj_end(&j);
}

static const char *type_color(enum de_event_type t)
{
	switch (t) {
	case DE_EV_EXEC: return "\033[32m";
	case DE_EV_FORK: return "\033[36m";
	case DE_EV_EXIT: return "\033[31m";
	case DE_EV_STATUS: return "\033[33m";
	default: return "";
	}
}

/* The table's last column: argv, exit status, or the status detail. */
static void table_detail(struct de_buf *b, const struct de_event *ev)
{
	if (ev->type == DE_EV_STATUS) {
		de_buf_printf(b, "%s: ", de_status_kind_name(ev->status));
		if (ev->detail)
			de_emit_text(b, ev->detail, strlen(ev->detail));
		return;
	}
	if (ev->type == DE_EV_EXIT) {
		if (!(ev->have & DE_EVF_EXIT))
			de_buf_puts(b, "exit status unknown");
		else if (ev->exit_signal) {
			const char *name = sigabbrev_np(ev->exit_signal);
			de_buf_printf(b, "signal %d (SIG%s)", ev->exit_signal, name ? name : "?");
		} else
			de_buf_printf(b, "exit %d", ev->exit_code);
	} else if (ev->have & DE_EVF_ARGV) {
		size_t start = b->len;
		const char *s = ev->argv, *end = ev->argv + ev->argv_len;
		for (uint32_t i = 0; i < ev->argc && s <= end && b->len - start < EV_TABLE_ARGV_MAX; i++) {
			const char *z = memchr(s, '\0', (size_t)(end - s));
			const char *e = z ? z : end;
			if (i)
				de_buf_putc(b, ' ');
			de_emit_text(b, s, DE_MIN((size_t)(e - s), (size_t)EV_TABLE_ARGV_MAX));
			s = z ? z + 1 : end;
		}
		if (b->len - start >= EV_TABLE_ARGV_MAX || ev->argv_truncated)
			de_buf_puts(b, " ...");
	} else if (ev->type == DE_EV_EXEC || ev->type == DE_EV_SNAPSHOT) {
		de_buf_puts(b, "(argv unknown: process gone before it was read)");
	}
	if (ev->partial)
		de_buf_puts(b, " [partial]");
}

static void table_row(struct de_evprint *e, struct de_buf *b, const struct de_event *ev)
{
	time_t secs = (time_t)(ev->time_ns / 1000000000);
	struct tm tm;
	char ts[16] = "?";
	if (localtime_r(&secs, &tm))
		strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	de_buf_printf(b, "%s.%03d ", ts, (int)(ev->time_ns / 1000000 % 1000));
	if (e->color)
		de_buf_puts(b, type_color(ev->type));
	de_buf_printf(b, "%-8s", de_event_type_name(ev->type));
	if (e->color)
		de_buf_puts(b, "\033[0m");
	if (ev->type == DE_EV_STATUS) {
		de_buf_printf(b, " %7s %7s %6s %-16s ", "-", "-", "-", de_event_source_name(ev->source));
	} else {
		de_buf_printf(b, " %7d ", ev->pid);
		if (ev->ppid > 0)
			de_buf_printf(b, "%7d ", ev->ppid);
		else
			de_buf_printf(b, "%7s ", "-");
		if (ev->have & DE_EVF_CREDS)
			de_buf_printf(b, "%6u ", ev->uid[DE_ID_REAL]);
		else
			de_buf_printf(b, "%6s ", "-");
		size_t n = strnlen(ev->comm, sizeof(ev->comm));
		size_t w = n ? de_emit_text_width(ev->comm, n) : 1;
		if (n)
			de_emit_text(b, ev->comm, n);
		else
			de_buf_putc(b, '-');
		for (; w < 16; w++)
			de_buf_putc(b, ' ');
		de_buf_putc(b, ' ');
	}
	table_detail(b, ev);
}

int de_evprint_event(const struct de_event *ev, void *ud)
{
	struct de_evprint *e = ud;
	if (e->count && e->matched >= e->count)
		return -ECANCELED;
	if (!matches(e, ev)) {
		if (ev->type == DE_EV_STATUS && ev->status != DE_ST_STARTED &&
		    ev->status != DE_ST_STOPPED && ev->status != DE_ST_RESYNC) {
			struct de_buf b = DE_BUF_INIT;
			if (ev->detail)
				de_emit_text(&b, ev->detail, strlen(ev->detail));
			log_warning("%s: %s", de_status_kind_name(ev->status), de_buf_str(&b));
			de_buf_free(&b);
		}
		return 0;
	}
	de_buf_reset(&e->line);
	if (e->json)
		event_json(&e->line, ev);
	else
		table_row(e, &e->line, ev);
	de_buf_putc(&e->line, '\n');
	if (e->line.err)
		return e->line.err;
	if (fwrite(e->line.data, 1, e->line.len, stdout) != e->line.len || fflush(stdout) != 0)
		return -EIO;
	if (ev->type != DE_EV_STATUS)
		e->matched++;
	return e->count && e->matched >= e->count ? -ECANCELED : 0;
}


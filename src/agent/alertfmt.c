/* alertfmt.c: alert renderings for SIEMs (see alertfmt.h).
 *
 * One escaper serves CEF, LEEF and syslog structured data; what differs
 * per format is which printable characters also need a backslash. Control
 * bytes and invalid UTF-8 are always written as text escapes, so no
 * format's framing (spaces, tabs, pipes, newlines, brackets) can be forged
 * by a process's command line.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "alertfmt.h"
#include "de_build.h"
#include "emit.h"
#include "hash.h"
#include "log.h"

/* Characters that get a backslash in a format (besides '\' itself). */
#define ESC_PIPE 0x1u
#define ESC_EQ 0x2u
#define ESC_SD 0x4u

static void escape(struct de_buf *b, const char *s, size_t n, unsigned flags)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		if (c == '\\' || (c == '|' && (flags & ESC_PIPE)) || (c == '=' && (flags & ESC_EQ)) ||
		    ((c == '"' || c == ']') && (flags & ESC_SD))) {
			de_buf_putc(b, '\\');
			de_buf_putc(b, (char)c);
			i++;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			de_buf_putc(b, '\\');
			de_buf_putc(b, c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
			de_buf_append(b, e, 4);
			i++;
		} else if (c < 0x80) {
			de_buf_putc(b, (char)c);
			i++;
		} else {
			size_t len = de_utf8_seq_len(u + i, n - i);
			if (len == 0) {
				char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
				de_buf_append(b, e, 4);
				i++;
			} else {
				de_buf_append(b, s + i, len);
				i += len;
			}
		}
	}
}

void de_cef_header(struct de_buf *b, const char *s, size_t n) { escape(b, s, n, ESC_PIPE); }
void de_cef_value(struct de_buf *b, const char *s, size_t n) { escape(b, s, n, ESC_EQ); }
void de_sd_value(struct de_buf *b, const char *s, size_t n) { escape(b, s, n, ESC_SD); }
void de_leef_value(struct de_buf *b, const char *s, size_t n, bool header)
{
	escape(b, s, n, header ? ESC_PIPE : 0);
}

/* Text of a UUID of version `ver` (RFC 9562) from 16 bytes. */
static void format_uuid(uint8_t r[16], unsigned ver, char id[DE_ALERT_ID_LEN])
{
	r[6] = (uint8_t)((r[6] & 0x0f) | (ver << 4));
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			id[o++] = '-';
		id[o++] = hex[r[i] >> 4];
		id[o++] = hex[r[i] & 15];
	}
	id[o] = 0;
}

int de_alert_new_id(char id[DE_ALERT_ID_LEN])
{
	uint8_t r[16];
	size_t got = 0;
	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return de_neg_errno();
		}
		got += (size_t)n;
	}
	format_uuid(r, 4, id);
	return 0;
}

void de_alert_content_id(const void *data, size_t n, char id[DE_ALERT_ID_LEN])
{
	uint8_t h[32];
	de_blake3(data, n, h, sizeof(h));
	format_uuid(h, 8, id);
}

int de_alert_cef_severity(enum de_severity s)
{
	static const int map[] = { 1, 3, 5, 8, 10 };
	return (unsigned)s < DE_ARRAY_SIZE(map) ? map[s] : 5;
}

int de_alert_syslog_severity(enum de_severity s)
{
	/* info -> informational(6), low -> notice(5), medium -> warning(4),
	 * high -> error(3), critical -> critical(2) */
	static const int map[] = { 6, 5, 4, 3, 2 };
	return (unsigned)s < DE_ARRAY_SIZE(map) ? map[s] : 4;
}

static size_t slen(const char *s) { return s ? strlen(s) : 0; }

/* argv joined by spaces, escaped by fn. */
static void put_cmdline(struct de_buf *b, const struct de_alert_proc *p,
			void (*fn)(struct de_buf *, const char *, size_t))
{
	size_t off = 0;
	bool first = true;
	while (off < p->argv_len) {
		size_t n = strnlen(p->argv + off, p->argv_len - off);
		if (!first)
			fn(b, " ", 1);
		fn(b, p->argv + off, n);
		first = false;
		off += n + 1;
	}
}

/* RFC 3339 UTC with microseconds (RFC 5424 allows at most 6 digits). */
static void put_time(struct de_buf *b, int64_t ns)
{
	time_t sec = (time_t)(ns / 1000000000);
	long us = (long)((ns % 1000000000) / 1000);
	if (us < 0) {
		sec--;
		us += 1000000;
	}
	struct tm tm;
	gmtime_r(&sec, &tm);
	de_buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
}

/* ---- JSON -------------------------------------------------------------- */

static void json_proc(struct de_json *j, const char *key, const struct de_alert_proc *p)
{
	de_json_key(j, key);
	if (!p->present) {
		de_json_null(j);
		return;
	}
	de_json_obj_begin(j);
	de_json_key(j, "pid");
	de_json_int(j, p->pid);
	de_json_key(j, "entity_id");
	de_json_cstr(j, p->entity_id);
	de_json_key(j, "comm");
	de_json_cstr(j, p->comm);
	de_json_key(j, "exe");
	de_json_cstr(j, p->exe);
	de_json_key(j, "user");
	de_json_cstr(j, p->user);
	de_json_key(j, "uid");
	de_json_uint(j, p->uid);
	de_json_key(j, "argv");
	de_json_arr_begin(j);
	for (size_t off = 0; off < p->argv_len;) {
		size_t n = strnlen(p->argv + off, p->argv_len - off);
		de_json_str(j, p->argv + off, n);
		off += n + 1;
	}
	de_json_arr_end(j);
	de_json_obj_end(j);
}

void de_alert_json(struct de_buf *b, const struct de_alert *a)
{
	struct de_json j;
	de_json_init(&j, b);
	de_json_obj_begin(&j);
	de_json_key(&j, "id");
	de_json_cstr(&j, a->id);
	de_json_key(&j, "time");
	struct de_buf t = DE_BUF_INIT;
	put_time(&t, a->time_ns);
	de_json_str(&j, t.data ? t.data : "", t.len);
	de_buf_free(&t);
	de_json_key(&j, "time_ns");
	de_json_int(&j, a->time_ns);
	de_json_key(&j, "rule");
	de_json_obj_begin(&j);
	de_json_key(&j, "id");
	de_json_cstr(&j, a->rule_id);
	de_json_key(&j, "name");
	de_json_cstr(&j, a->rule_name);
	de_json_key(&j, "severity");
	de_json_cstr(&j, de_severity_name(a->severity));
	de_json_key(&j, "mitre");
	de_json_arr_begin(&j);
	for (size_t i = 0; i < a->n_mitre; i++)
		de_json_cstr(&j, a->mitre[i]);
	de_json_arr_end(&j);
	de_json_obj_end(&j);
	de_json_key(&j, "host");
	de_json_obj_begin(&j);
	de_json_key(&j, "name");
	de_json_cstr(&j, a->hostname);
	de_json_key(&j, "id");
	de_json_cstr(&j, a->host_id);
	de_json_obj_end(&j);
	json_proc(&j, "process", &a->proc);
	json_proc(&j, "parent", &a->parent);
	json_proc(&j, "grandparent", &a->grandparent);
	de_json_key(&j, "sha256");
	de_json_cstr(&j, a->sha256);
	de_json_key(&j, "blake3");
	de_json_cstr(&j, a->blake3);
	de_json_key(&j, "container_id");
	de_json_cstr(&j, a->container_id);
	de_json_key(&j, "dedup_key");
	de_json_cstr(&j, a->dedup_key);
	if (a->checkpoint) {
		de_json_key(&j, "checkpoint");
		de_json_cstr(&j, a->checkpoint);
	}
	de_json_obj_end(&j);
}

/* ---- CEF and LEEF ------------------------------------------------------ */

/* One key=value attribute; sep before it unless first. */
struct kv {
	struct de_buf *b;
	const char *sep;
	bool first;
	void (*esc)(struct de_buf *, const char *, size_t);
};

static void kv_key(struct kv *k, const char *key)
{
	if (!k->first)
		de_buf_puts(k->b, k->sep);
	k->first = false;
	de_buf_puts(k->b, key);
	de_buf_putc(k->b, '=');
}

static void kv_str(struct kv *k, const char *key, const char *v)
{
	if (!v)
		return;
	kv_key(k, key);
	k->esc(k->b, v, strlen(v));
}

static void kv_int(struct kv *k, const char *key, int64_t v)
{
	kv_key(k, key);
	de_buf_printf(k->b, "%lld", (long long)v);
}

static void kv_mitre(struct kv *k, const char *key, const struct de_alert *a)
{
	if (!a->n_mitre)
		return;
	kv_key(k, key);
	for (size_t i = 0; i < a->n_mitre; i++) {
		if (i)
			k->esc(k->b, ",", 1);
		k->esc(k->b, a->mitre[i], strlen(a->mitre[i]));
	}
}

static void leef_value(struct de_buf *b, const char *s, size_t n) { de_leef_value(b, s, n, false); }

void de_alert_cef(struct de_buf *b, const struct de_alert *a)
{
	de_buf_puts(b, "CEF:0|DaemonEye|DaemonEye|" DE_VERSION "|");
	de_cef_header(b, a->rule_id, slen(a->rule_id));
	de_buf_putc(b, '|');
	de_cef_header(b, a->rule_name, slen(a->rule_name));
	de_buf_printf(b, "|%d|", de_alert_cef_severity(a->severity));
	struct kv k = { b, " ", true, de_cef_value };
	kv_int(&k, "rt", a->time_ns / 1000000);
	kv_str(&k, "dvchost", a->hostname);
	kv_str(&k, "externalId", a->id);
	if (a->proc.present) {
		kv_int(&k, "spid", a->proc.pid);
		kv_str(&k, "sproc", a->proc.comm);
		kv_str(&k, "filePath", a->proc.exe);
		kv_str(&k, "suser", a->proc.user);
		kv_int(&k, "suid", a->proc.uid);
		kv_str(&k, "cs1Label", "commandLine");
		kv_key(&k, "cs1");
		put_cmdline(b, &a->proc, de_cef_value);
		kv_str(&k, "cs4Label", "entityId");
		kv_str(&k, "cs4", a->proc.entity_id);
	}
	if (a->parent.present) {
		kv_str(&k, "cs2Label", "parentCommandLine");
		kv_key(&k, "cs2");
		put_cmdline(b, &a->parent, de_cef_value);
		kv_str(&k, "cn1Label", "parentPid");
		kv_int(&k, "cn1", a->parent.pid);
	}
	if (a->n_mitre) {
		kv_str(&k, "cs3Label", "mitreTechniques");
		kv_mitre(&k, "cs3", a);
	}
	if (a->container_id) {
		kv_str(&k, "cs5Label", "containerId");
		kv_str(&k, "cs5", a->container_id);
	}
	if (a->checkpoint) {
		kv_str(&k, "cs6Label", "ledgerCheckpoint");
		kv_str(&k, "cs6", a->checkpoint);
	}
	kv_str(&k, "fileHash", a->sha256);
}

void de_alert_leef(struct de_buf *b, const struct de_alert *a)
{
	de_buf_puts(b, "LEEF:2.0|DaemonEye|DaemonEye|" DE_VERSION "|");
	de_leef_value(b, a->rule_id, slen(a->rule_id), true);
	de_buf_puts(b, "|x09|");
	struct kv k = { b, "\t", true, leef_value };
	kv_int(&k, "devTime", a->time_ns / 1000000);
	kv_int(&k, "sev", de_alert_cef_severity(a->severity));
	kv_str(&k, "cat", a->rule_name);
	kv_str(&k, "alertId", a->id);
	kv_str(&k, "identHostName", a->hostname);
	if (a->proc.present) {
		kv_int(&k, "pid", a->proc.pid);
		kv_str(&k, "usrName", a->proc.user);
		kv_int(&k, "uid", a->proc.uid);
		kv_str(&k, "comm", a->proc.comm);
		kv_str(&k, "exe", a->proc.exe);
		kv_key(&k, "cmdline");
		put_cmdline(b, &a->proc, leef_value);
		kv_str(&k, "entityId", a->proc.entity_id);
	}
	if (a->parent.present) {
		kv_int(&k, "parentPid", a->parent.pid);
		kv_key(&k, "parentCmdline");
		put_cmdline(b, &a->parent, leef_value);
	}
	kv_mitre(&k, "mitre", a);
	kv_str(&k, "containerId", a->container_id);
	kv_str(&k, "sha256", a->sha256);
	kv_str(&k, "checkpoint", a->checkpoint);
}

/* ---- RFC 5424 ---------------------------------------------------------- */

/* A header field: printable US-ASCII without spaces, at most max bytes,
 * "-" when empty (RFC 5424 section 6). */
static void put_header_field(struct de_buf *b, const char *s, size_t max)
{
	size_t n = 0;
	for (; s && s[n] && n < max; n++)
		de_buf_putc(b, (s[n] > 0x20 && s[n] < 0x7f) ? s[n] : '_');
	if (n == 0)
		de_buf_putc(b, '-');
}

/* The SD-ID: name@private-enterprise-number. 32473 is the number RFC 5612
 * reserves for documentation and examples; a deployment may register its
 * own. */
#define SD_ID "daemoneye@32473"

void de_alert_syslog(struct de_buf *b, const struct de_alert *a, enum de_alert_format body,
		     int facility)
{
	if (facility < 0 || facility > 23)
		facility = 13;
	de_buf_printf(b, "<%d>1 ", facility * 8 + de_alert_syslog_severity(a->severity));
	put_time(b, a->time_ns);
	de_buf_putc(b, ' ');
	put_header_field(b, a->hostname, 255);
	de_buf_puts(b, " daemoneye ");
	if (a->proc.present)
		de_buf_printf(b, "%d", (int)a->proc.pid);
	else
		de_buf_putc(b, '-');
	de_buf_puts(b, " alert [" SD_ID " id=\"");
	de_sd_value(b, a->id, strlen(a->id));
	de_buf_puts(b, "\" rule=\"");
	de_sd_value(b, a->rule_id, slen(a->rule_id));
	de_buf_puts(b, "\" severity=\"");
	de_buf_puts(b, de_severity_name(a->severity));
	de_buf_puts(b, "\"] \xEF\xBB\xBF");
	if (body == DE_AF_CEF)
		de_alert_cef(b, a);
	else if (body == DE_AF_LEEF)
		de_alert_leef(b, a);
	else
		de_alert_json(b, a);
}

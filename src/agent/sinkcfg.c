/* sinkcfg.c: parsing `alerting.sinks` (see sinkcfg.h).
 *
 * A key table maps each sink key to a setter and the sink types it
 * belongs to; scalar values are typed here (no YAML 1.1 resolution),
 * lists (argv) and mappings (headers) are read as strings only.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "de_build.h"
#include "log.h"
#include "sinkcfg.h"
#include "yamlread.h"

#define _cleanup_ev_ _cleanup_yaml_event_
#define FAIL(y, m, ...) DE_YAML_FAIL((y), (m), __VA_ARGS__)

#define T_ALL 0x3eu
#define T(x) (1u << (x))

const char *de_sink_type_name(enum de_sink_type t)
{
	switch (t) {
	case DE_SINK_STDOUT: return "stdout";
	case DE_SINK_FILE: return "file";
	case DE_SINK_SYSLOG: return "syslog";
	case DE_SINK_WEBHOOK: return "webhook";
	case DE_SINK_EXEC: return "exec";
	}
	return "?";
}

static int parse_enum(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (names[i] && strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	if (!*s || !isdigit((unsigned char)*s) || (s[0] == '0' && s[1]))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t mul = 1;
	if (*end == 'K' || *end == 'M' || *end == 'G') {
		mul = *end == 'K' ? 1024 : *end == 'M' ? 1024 * 1024 : 1024ull * 1024 * 1024;
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
	}
	if (errno || *end || (v && mul > max / v) || v * mul > max)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

enum key_id {
	K_NAME, K_TYPE, K_MINSEV, K_RATE, K_BURST, K_ATTEMPTS, K_RBASE, K_RMAX, K_BFAIL, K_BCOOL,
	K_TIMEOUT, K_FORMAT, K_PATH, K_MAXBYTES, K_KEEP, K_FSYNC, K_ADDRESS, K_PROTOCOL,
	K_FACILITY, K_CA, K_SERVER, K_URL, K_HEADERS, K_TFILE, K_TENV, K_VERIFY, K_ARGV,
	K_CHECKPOINTS,
};

static const struct skey {
	const char *name;
	unsigned types;
	uint64_t max; /* integers */
} skeys[] = {
	[K_NAME] = { "name", T_ALL, 0 },
	[K_TYPE] = { "type", T_ALL, 0 },
	[K_MINSEV] = { "min_severity", T_ALL, 0 },
	[K_RATE] = { "rate_limit", T_ALL, 1000000 },
	[K_BURST] = { "burst", T_ALL, 1000000 },
	[K_ATTEMPTS] = { "max_attempts", T_ALL, 1000000 },
	[K_RBASE] = { "retry_base_ms", T_ALL, 3600000 },
	[K_RMAX] = { "retry_max_ms", T_ALL, 86400000 },
	[K_BFAIL] = { "breaker_failures", T_ALL, 1000000 },
	[K_BCOOL] = { "breaker_cooldown_ms", T_ALL, 86400000 },
	[K_TIMEOUT] = { "timeout_ms", T(DE_SINK_SYSLOG) | T(DE_SINK_WEBHOOK) | T(DE_SINK_EXEC), 600000 },
	[K_FORMAT] = { "format", T(DE_SINK_STDOUT) | T(DE_SINK_SYSLOG), 0 },
	[K_PATH] = { "path", T(DE_SINK_FILE), 0 },
	[K_MAXBYTES] = { "max_bytes", T(DE_SINK_FILE), UINT64_C(1) << 50 },
	[K_KEEP] = { "keep", T(DE_SINK_FILE), 1000 },
	[K_FSYNC] = { "fsync", T(DE_SINK_FILE), 0 },
	[K_ADDRESS] = { "address", T(DE_SINK_SYSLOG), 0 },
	[K_PROTOCOL] = { "protocol", T(DE_SINK_SYSLOG), 0 },
	[K_FACILITY] = { "facility", T(DE_SINK_SYSLOG), 23 },
	[K_CA] = { "ca_file", T(DE_SINK_SYSLOG) | T(DE_SINK_WEBHOOK), 0 },
	[K_SERVER] = { "server_name", T(DE_SINK_SYSLOG), 0 },
	[K_URL] = { "url", T(DE_SINK_WEBHOOK), 0 },
	[K_HEADERS] = { "headers", T(DE_SINK_WEBHOOK), 0 },
	[K_TFILE] = { "token_file", T(DE_SINK_WEBHOOK), 0 },
	[K_TENV] = { "token_env", T(DE_SINK_WEBHOOK), 0 },
	[K_VERIFY] = { "tls_verify", T(DE_SINK_WEBHOOK), 0 },
	[K_ARGV] = { "argv", T(DE_SINK_EXEC), 0 },
	[K_CHECKPOINTS] = { "checkpoints", T_ALL, 0 },
};

static void sink_free(struct de_sink_cfg *s)
{
	free(s->path);
	free(s->address);
	free(s->ca_file);
	free(s->server_name);
	free(s->url);
	free(s->token_file);
	free(s->token_env);
	for (unsigned i = 0; i < s->n_headers; i++)
		free(s->headers[i]);
	for (unsigned i = 0; i < s->n_argv; i++)
		free(s->argv[i]);
	memset(s, 0, sizeof(*s));
}

void de_sinks_cfg_free(struct de_sinks_cfg *c)
{
	for (size_t i = 0; i < c->n; i++)
		sink_free(&c->v[i]);
	c->n = 0;
}

const struct de_sink_cfg *de_sinks_cfg_find(const struct de_sinks_cfg *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].name, name) == 0)
			return &c->v[i];
	return NULL;
}

static int dup_str(struct de_yaml *y, const yaml_event_t *v, const char *key, char **out)
{
	const char *s = (const char *)v->data.scalar.value;
	size_t n = v->data.scalar.length;
	if (n == 0 || memchr(s, '\0', n))
		return FAIL(y, v->start_mark, "%s: expected a non-empty string without NUL bytes", key);
	if (n > 4096)
		return FAIL(y, v->start_mark, "%s: longer than 4096 bytes", key);
	free(*out);
	*out = strndup(s, n);
	return *out ? 0 : -ENOMEM;
}

/* A list of strings (argv) into arr. */
static int read_list(struct de_yaml *y, const char *key, char **arr, unsigned *n)
{
	char q[DE_YAML_QBUF];
	for (;;) {
		_cleanup_ev_ yaml_event_t e = { 0 };
		int r = de_yaml_next(y, &e);
		if (r < 0)
			return r;
		if (e.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (e.type != YAML_SCALAR_EVENT)
			return FAIL(y, e.start_mark, "%s: expected a list of strings, got %s in it", key,
				    de_yaml_got(&e, q, sizeof(q)));
		if (*n >= DE_SINK_MAX_LIST)
			return FAIL(y, e.start_mark, "%s: more than %d items", key, DE_SINK_MAX_LIST);
		arr[*n] = NULL;
		if ((r = dup_str(y, &e, key, &arr[*n])) < 0)
			return r;
		(*n)++;
	}
}

/* headers: a mapping of header name to value, stored "Name: value". */
static int read_headers(struct de_yaml *y, struct de_sink_cfg *s)
{
	char q[DE_YAML_QBUF];
	for (;;) {
		_cleanup_ev_ yaml_event_t k = { 0 }, v = { 0 };
		int r = de_yaml_next(y, &k);
		if (r < 0)
			return r;
		if (k.type == YAML_MAPPING_END_EVENT)
			return 0;
		if ((r = de_yaml_next(y, &v)) < 0)
			return r;
		if (k.type != YAML_SCALAR_EVENT || v.type != YAML_SCALAR_EVENT)
			return FAIL(y, k.start_mark, "headers: expected name: value strings, got %s",
				    de_yaml_got(k.type != YAML_SCALAR_EVENT ? &k : &v, q, sizeof(q)));
		const char *kn = (const char *)k.data.scalar.value;
		const char *vv = (const char *)v.data.scalar.value;
		size_t kl = k.data.scalar.length, vl = v.data.scalar.length;
		if (!kl || kl > 128 || strspn(kn, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					  "0123456789-_") != kl)
			return FAIL(y, k.start_mark, "headers: '%s' is not a valid header name",
				    de_yaml_quote(q, sizeof(q), kn, kl));
		for (size_t i = 0; i < vl; i++)
			if ((unsigned char)vv[i] < 0x20 || vv[i] == 0x7f)
				return FAIL(y, v.start_mark, "headers: %s: control characters are not allowed",
					    kn);
		if (strncasecmp(kn, "Authorization", kl) == 0 && kl == 13)
			return FAIL(y, k.start_mark, "headers: put the bearer token in token_file or "
				    "token_env, not in the configuration");
		if (s->n_headers >= DE_SINK_MAX_LIST)
			return FAIL(y, k.start_mark, "headers: more than %d", DE_SINK_MAX_LIST);
		char *h = NULL;
		if (asprintf(&h, "%.*s: %.*s", (int)kl, kn, (int)vl, vv) < 0)
			return -ENOMEM;
		s->headers[s->n_headers++] = h;
	}
}

static int set_key(struct de_yaml *y, struct de_sink_cfg *s, enum key_id id, const yaml_event_t *v)
{
	const struct skey *k = &skeys[id];
	char q[DE_YAML_QBUF];
	if (id == K_ARGV || id == K_HEADERS) {
		if (id == K_ARGV && v->type == YAML_SEQUENCE_START_EVENT)
			return read_list(y, k->name, s->argv, &s->n_argv);
		if (id == K_HEADERS && v->type == YAML_MAPPING_START_EVENT)
			return read_headers(y, s);
		return FAIL(y, v->start_mark, "%s: expected %s, got %s", k->name,
			    id == K_ARGV ? "a list of strings" : "a mapping", de_yaml_got(v, q, sizeof(q)));
	}
	if (v->type != YAML_SCALAR_EVENT)
		return FAIL(y, v->start_mark, "%s: expected a value, got %s", k->name,
			    de_yaml_got(v, q, sizeof(q)));
	const char *str = (const char *)v->data.scalar.value;
	size_t len = v->data.scalar.length;
	if (memchr(str, '\0', len))
		return FAIL(y, v->start_mark, "%s: the value contains a NUL byte", k->name);
	if (k->max) {
		uint64_t n;
		int r = parse_u64(str, k->max, &n);
		if (r < 0)
			return FAIL(y, v->start_mark, "%s: '%s' is not %s 0 and %" PRIu64, k->name,
				    de_yaml_quote(q, sizeof(q), str, len),
				    r == -ERANGE ? "a number between" : "an integer between", k->max);
		switch (id) {
		case K_RATE: s->rate_limit = (uint32_t)n; break;
		case K_BURST: s->burst = (uint32_t)n; break;
		case K_ATTEMPTS: s->max_attempts = (uint32_t)n; break;
		case K_RBASE: s->retry_base_ms = (uint32_t)n; break;
		case K_RMAX: s->retry_max_ms = (uint32_t)n; break;
		case K_BFAIL: s->breaker_failures = (uint32_t)n; break;
		case K_BCOOL: s->breaker_cooldown_ms = (uint32_t)n; break;
		case K_TIMEOUT: s->timeout_ms = (uint32_t)n; break;
		case K_MAXBYTES: s->max_bytes = n; break;
		case K_KEEP: s->keep = (uint32_t)n; break;
		case K_FACILITY: s->facility = (int)n; break;
		default: break;
		}
		if ((id == K_ATTEMPTS || id == K_TIMEOUT || id == K_BFAIL) && n == 0)
			return FAIL(y, v->start_mark, "%s: must be at least 1", k->name);
		return 0;
	}
	int e;
	switch (id) {
	case K_NAME:
		if (!len || len >= DE_SINK_NAME_MAX ||
		    strspn(str, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != len)
			return FAIL(y, v->start_mark, "name: '%s' is not 1-63 letters, digits, '_', '.', '-'",
				    de_yaml_quote(q, sizeof(q), str, len));
		memcpy(s->name, str, len + 1);
		return 0;
	case K_MINSEV:
		if ((e = de_severity_parse(str)) < 0)
			return FAIL(y, v->start_mark, "min_severity: '%s' is not one of info, low, medium, "
				    "high, critical", de_yaml_quote(q, sizeof(q), str, len));
		s->min_severity = (enum de_severity)e;
		return 0;
	case K_FORMAT:
		if (s->type == DE_SINK_STDOUT) {
			static const char *const f[] = { "auto", "human", "json" };
			if ((e = parse_enum(str, f, 3)) < 0)
				return FAIL(y, v->start_mark, "format: '%s' is not one of auto, human, json",
					    de_yaml_quote(q, sizeof(q), str, len));
			s->stdout_format = (enum de_stdout_fmt)e;
		} else {
			static const char *const f[] = { NULL, "json", "cef", "leef" };
			if ((e = parse_enum(str, f, 4)) < 0)
				return FAIL(y, v->start_mark, "format: '%s' is not one of json, cef, leef",
					    de_yaml_quote(q, sizeof(q), str, len));
			s->format = (enum de_alert_format)e;
		}
		return 0;
	case K_FSYNC: {
		static const char *const f[] = { "batch", "none", "always" };
		if ((e = parse_enum(str, f, 3)) < 0)
			return FAIL(y, v->start_mark, "fsync: '%s' is not one of batch, none, always",
				    de_yaml_quote(q, sizeof(q), str, len));
		s->fsync = (enum de_fsync_policy)e;
		return 0;
	}
	case K_PROTOCOL: {
		static const char *const f[] = { NULL, "udp", "tcp", "tls", "unix" };
		if ((e = parse_enum(str, f, 5)) < 0)
			return FAIL(y, v->start_mark, "protocol: '%s' is not one of udp, tcp, tls, unix",
				    de_yaml_quote(q, sizeof(q), str, len));
		s->protocol = (enum de_syslog_proto)e;
		return 0;
	}
	case K_VERIFY:
		if (strcmp(str, "true") && strcmp(str, "false"))
			return FAIL(y, v->start_mark, "tls_verify: expected true or false");
		s->tls_verify = str[0] == 't';
		return 0;
	case K_CHECKPOINTS:
		if (strcmp(str, "true") && strcmp(str, "false"))
			return FAIL(y, v->start_mark, "checkpoints: expected true or false");
		s->checkpoints = str[0] == 't' ? 1 : 0;
		return 0;
	case K_PATH: return dup_str(y, v, k->name, &s->path);
	case K_ADDRESS: return dup_str(y, v, k->name, &s->address);
	case K_CA: return dup_str(y, v, k->name, &s->ca_file);
	case K_SERVER: return dup_str(y, v, k->name, &s->server_name);
	case K_URL: return dup_str(y, v, k->name, &s->url);
	case K_TFILE: return dup_str(y, v, k->name, &s->token_file);
	case K_TENV: return dup_str(y, v, k->name, &s->token_env);
	default: return -EINVAL;
	}
}

static void defaults(struct de_sink_cfg *s)
{
	s->min_severity = DE_SEV_INFO;
	s->max_attempts = 10;
	s->retry_base_ms = 500;
	s->retry_max_ms = 300000;
	s->breaker_failures = 5;
	s->breaker_cooldown_ms = 30000;
	s->timeout_ms = 5000;
	s->max_bytes = 100ull << 20;
	s->keep = 5;
	s->format = DE_AF_JSON;
	s->facility = 13;
	s->tls_verify = true;
	s->checkpoints = -1;
}

/* One sink: a mapping (its MAPPING_START is `start`). The type must be
 * known before type-specific keys are checked, so keys are read in two
 * passes over a saved list: simpler is to require nothing of the order
 * and check membership after. */
static int read_sink(struct de_yaml *y, struct de_sinks_cfg *c, const yaml_event_t *start)
{
	char q[DE_YAML_QBUF];
	struct de_sink_cfg *s = &c->v[c->n];
	defaults(s);
	s->line = (unsigned)start->start_mark.line + 1;
	uint64_t seen = 0;
	struct { enum key_id id; yaml_mark_t m; } used[DE_ARRAY_SIZE(skeys)];
	unsigned n_used = 0;
	/* the type first, wherever it is: the reader cannot rewind, so parse
	 * type-specific enums (format) after it by remembering the event */
	for (;;) {
		_cleanup_ev_ yaml_event_t k = { 0 };
		int r = de_yaml_next(y, &k);
		if (r < 0)
			return r;
		if (k.type == YAML_MAPPING_END_EVENT)
			break;
		if (k.type != YAML_SCALAR_EVENT)
			return FAIL(y, k.start_mark, "mapping keys must be strings, got %s",
				    de_yaml_got(&k, q, sizeof(q)));
		const char *ks = (const char *)k.data.scalar.value;
		int id = -1;
		for (size_t i = 0; i < DE_ARRAY_SIZE(skeys); i++)
			if (strcmp(skeys[i].name, ks) == 0 && strlen(ks) == k.data.scalar.length)
				id = (int)i;
		if (id < 0)
			return FAIL(y, k.start_mark, "sink: unknown key '%s'",
				    de_yaml_quote(q, sizeof(q), ks, k.data.scalar.length));
		if (seen & (1ull << id))
			return FAIL(y, k.start_mark, "sink: duplicate key '%s'", ks);
		seen |= 1ull << id;
		_cleanup_ev_ yaml_event_t v = { 0 };
		if ((r = de_yaml_next(y, &v)) < 0)
			return r;
		if (id == K_TYPE) {
			static const char *const f[] = { NULL, "stdout", "file", "syslog", "webhook", "exec" };
			int e = v.type == YAML_SCALAR_EVENT ? parse_enum((const char *)v.data.scalar.value, f, 6)
							   : -1;
			if (e < 0)
				return FAIL(y, v.start_mark, "type: expected one of stdout, file, syslog, "
					    "webhook, exec");
			s->type = (enum de_sink_type)e;
			continue;
		}
		if (id == K_FORMAT && !s->type)
			return FAIL(y, k.start_mark, "format: put 'type' before 'format'");
		used[n_used].id = (enum key_id)id;
		used[n_used++].m = k.start_mark;
		if ((r = set_key(y, s, (enum key_id)id, &v)) < 0)
			return r;
	}
	yaml_mark_t m = start->start_mark;
	if (!s->name[0])
		return FAIL(y, m, "sink: 'name' is required");
	if (!s->type)
		return FAIL(y, m, "sink %s: 'type' is required", s->name);
	for (unsigned i = 0; i < n_used; i++)
		if (!(skeys[used[i].id].types & T(s->type)))
			return FAIL(y, used[i].m, "sink %s: '%s' does not apply to a %s sink", s->name,
				    skeys[used[i].id].name, de_sink_type_name(s->type));
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].name, s->name) == 0)
			return FAIL(y, m, "sink %s: duplicate name (first defined on line %u)", s->name,
				    c->v[i].line);
	if (s->type == DE_SINK_FILE && !s->path)
		return FAIL(y, m, "sink %s: 'path' is required for a file sink", s->name);
	if (s->type == DE_SINK_SYSLOG && (!s->address || !s->protocol))
		return FAIL(y, m, "sink %s: 'address' and 'protocol' are required for a syslog sink",
			    s->name);
	if (s->type == DE_SINK_WEBHOOK) {
		if (!s->url)
			return FAIL(y, m, "sink %s: 'url' is required for a webhook sink", s->name);
		if (strncmp(s->url, "https://", 8) && strncmp(s->url, "http://", 7))
			return FAIL(y, m, "sink %s: url must start with https:// or http://", s->name);
		if (s->token_file && s->token_env)
			return FAIL(y, m, "sink %s: token_file and token_env are exclusive", s->name);
	}
	if (s->type == DE_SINK_EXEC && (!s->n_argv || s->argv[0][0] != '/'))
		return FAIL(y, m, "sink %s: 'argv' is required for an exec sink and its first item "
			    "must be an absolute path (no shell, no PATH search)", s->name);
	if (!s->burst)
		s->burst = s->rate_limit ? s->rate_limit : 1;
	if (s->retry_max_ms < s->retry_base_ms)
		s->retry_max_ms = s->retry_base_ms;
	c->n++;
	return 0;
}

static int read_alerting(struct de_yaml *y, struct de_sinks_cfg *c)
{
	char q[DE_YAML_QBUF];
	bool seen_sinks = false;
	for (;;) {
		_cleanup_ev_ yaml_event_t k = { 0 }, v = { 0 };
		int r = de_yaml_next(y, &k);
		if (r < 0)
			return r;
		if (k.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (k.type != YAML_SCALAR_EVENT || strcmp((const char *)k.data.scalar.value, "sinks"))
			return FAIL(y, k.start_mark, "alerting: unknown key '%s' (only 'sinks')",
				    k.type == YAML_SCALAR_EVENT
					    ? de_yaml_quote(q, sizeof(q), (const char *)k.data.scalar.value,
							    k.data.scalar.length)
					    : "?");
		if (seen_sinks)
			return FAIL(y, k.start_mark, "alerting: duplicate key 'sinks'");
		seen_sinks = true;
		if ((r = de_yaml_next(y, &v)) < 0)
			return r;
		if (de_yaml_is_null(&v))
			continue;
		if (v.type != YAML_SEQUENCE_START_EVENT)
			return FAIL(y, v.start_mark, "alerting.sinks: expected a list of sinks, got %s",
				    de_yaml_got(&v, q, sizeof(q)));
		for (;;) {
			_cleanup_ev_ yaml_event_t e = { 0 };
			if ((r = de_yaml_next(y, &e)) < 0)
				return r;
			if (e.type == YAML_SEQUENCE_END_EVENT)
				break;
			if (e.type != YAML_MAPPING_START_EVENT)
				return FAIL(y, e.start_mark, "alerting.sinks: expected a sink (a mapping), "
					    "got %s", de_yaml_got(&e, q, sizeof(q)));
			if (c->n >= DE_SINK_MAX)
				return FAIL(y, e.start_mark, "alerting.sinks: more than %d sinks",
					    DE_SINK_MAX);
			if ((r = read_sink(y, c, &e)) < 0) {
				sink_free(&c->v[c->n]);
				return r;
			}
		}
	}
}

static int parse(struct de_yaml *y, struct de_sinks_cfg *c)
{
	char q[DE_YAML_QBUF];
	_cleanup_ev_ yaml_event_t st = { 0 }, doc = { 0 }, root = { 0 };
	int r = de_yaml_next(y, &st);
	if (r < 0)
		return r;
	if ((r = de_yaml_next(y, &doc)) < 0 || doc.type == YAML_STREAM_END_EVENT)
		return r;
	if ((r = de_yaml_next(y, &root)) < 0)
		return r;
	if (root.type != YAML_MAPPING_START_EVENT)
		return 0; /* config.c reports what is wrong with the root */
	bool seen = false;
	for (;;) {
		_cleanup_ev_ yaml_event_t k = { 0 }, v = { 0 };
		if ((r = de_yaml_next(y, &k)) < 0)
			return r;
		if (k.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (k.type != YAML_SCALAR_EVENT) /* a complex key: config.c says so too */
			return FAIL(y, k.start_mark, "mapping keys must be strings, got %s",
				    de_yaml_got(&k, q, sizeof(q)));
		if ((r = de_yaml_next(y, &v)) < 0)
			return r;
		bool mine = k.type == YAML_SCALAR_EVENT &&
			    strcmp((const char *)k.data.scalar.value, "alerting") == 0;
		if (!mine) {
			if ((r = de_yaml_skip(y, &v)) < 0)
				return r;
			continue;
		}
		if (seen)
			return FAIL(y, k.start_mark, "duplicate key 'alerting'");
		seen = true;
		if (de_yaml_is_null(&v))
			continue;
		if (v.type != YAML_MAPPING_START_EVENT)
			return FAIL(y, v.start_mark, "alerting: expected a mapping, got %s",
				    de_yaml_got(&v, q, sizeof(q)));
		if ((r = read_alerting(y, c)) < 0)
			return r;
	}
}

int de_sinks_cfg_parse(struct de_sinks_cfg *out, const char *name, const void *data, size_t len,
		       char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct de_yaml y;
	int r = de_yaml_open(&y, name, data, len, err, errlen);
	if (r < 0)
		return r;
	r = parse(&y, out);
	de_yaml_close(&y);
	if (r < 0)
		de_sinks_cfg_free(out);
	return r;
}

int de_sinks_cfg_load(struct de_sinks_cfg *out, const char *path, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct de_buf b = DE_BUF_INIT;
	bool found;
	int r = de_yaml_read_file(path, false, DE_CONFIG_MAX_FILE_BYTES, &b, &found, err, errlen);
	if (r >= 0)
		r = de_sinks_cfg_parse(out, path, b.data ? b.data : "", b.len, err, errlen);
	de_buf_free(&b);
	return r;
}

static int load_optional(struct de_sinks_cfg *out, const char *path, bool *found, char *err,
			 size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct de_buf b = DE_BUF_INIT;
	int r = de_yaml_read_file(path, true, DE_CONFIG_MAX_FILE_BYTES, &b, found, err, errlen);
	if (r >= 0 && *found)
		r = de_sinks_cfg_parse(out, path, b.data ? b.data : "", b.len, err, errlen);
	de_buf_free(&b);
	return r;
}

int de_sinks_cfg_load_default(struct de_sinks_cfg *out, const char *explicit, char *err,
			      size_t errlen)
{
	if (explicit)
		return de_sinks_cfg_load(out, explicit, err, errlen);
	char path[4096];
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	bool found = false;
	int n = -1;
	if (xdg && xdg[0] == '/')
		n = snprintf(path, sizeof(path), "%s/daemoneye/daemoneye.yaml", xdg);
	else if (home && home[0])
		n = snprintf(path, sizeof(path), "%s/.config/daemoneye/daemoneye.yaml", home);
	if (n > 0 && (size_t)n < sizeof(path)) {
		int r = load_optional(out, path, &found, err, errlen);
		if (r < 0 || out->n)
			return r;
	}
	return load_optional(out, DE_SYSCONFDIR "/daemoneye.yaml", &found, err, errlen);
}

bool de_sink_wants(const struct de_sink_cfg *c, const struct de_alert *a)
{
	if (a->checkpoint)
		return c->checkpoints < 0 ? c->type != DE_SINK_STDOUT : c->checkpoints > 0;
	return a->severity >= c->min_severity;
}

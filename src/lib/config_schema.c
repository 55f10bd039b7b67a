/* config_schema.c: the table of configuration keys, the parsing of one
 * value from text, the defaults and the printers (`config show`, `config
 * keys`).
 *
 * The table is the single description of every key: the loaders in
 * config.c, the printers here and the defaults all use it. Defaults are
 * stored as text in the --set syntax and parsed by the same code as flags,
 * so they cannot drift from what the parser accepts. Fields are reached by
 * offset, so adding a key is one row here, its field in config.h and
 * DE_CFG_N_KEYS (checked at compile time). The one list type is tied to
 * collector.redact_env and its count field; a second list key would need
 * a count offset in the table.
 *
 * Parsing is strict on purpose: decimal integers only (no sign, no leading
 * zeros, overflow detected), a binary K/M/G suffix only where the table
 * allows it, booleans from a fixed word list, enum names case-insensitive,
 * and no control characters in paths or patterns.
 */
#include "config_schema.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "emit.h"

#define FIELD(m) .offset = offsetof(struct de_config, m), .size = sizeof(((struct de_config *)0)->m)

static const char *const level_names[] = { "debug", "info", "warning", "error", NULL };
static const char *const source_names[] = { "auto", "ebpf", "netlink", "proc", NULL };

const struct de_cfg_key de_cfg_keys[DE_CFG_N_KEYS] = {
	{ .name = "log.level", .type = DE_CFG_ENUM, FIELD(log_level), .names = level_names,
	  .def = "info", .help = "Least severe level of diagnostics written to stderr." },
	{ .name = "state_dir", .type = DE_CFG_PATH, FIELD(state_dir), .def = "",
	  .help = "Directory of the instance's state (store, sockets, ledger, keys); --state-dir overrides it; empty means /var/lib/daemoneye as root, else $XDG_STATE_HOME/daemoneye." },
	{ .name = "collector.source", .type = DE_CFG_ENUM, FIELD(collector.source),
	  .names = source_names, .def = "auto",
	  .help = "Process event source of the collector (used by `daemoneye events`); auto picks ebpf, then netlink, then /proc polling." },
	{ .name = "collector.poll_interval_ms", .type = DE_CFG_UINT, FIELD(collector.poll_interval_ms),
	  .min = 100, .max = 3600000, .def = "1000",
	  .help = "Interval between /proc scans when the collector polls (source proc), in milliseconds." },
	{ .name = "collector.argv_max_bytes", .type = DE_CFG_UINT, FIELD(collector.argv_max_bytes),
	  .min = 256, .max = 16777216, .def = "32768",
	  .help = "Most bytes of a process's command line that are kept." },
	{ .name = "collector.capture_env", .type = DE_CFG_BOOL, FIELD(collector.capture_env),
	  .def = "false", .help = "Whether each process's environment is recorded." },
	{ .name = "collector.env_max_bytes", .type = DE_CFG_UINT, FIELD(collector.env_max_bytes),
	  .min = 256, .max = 16777216, .def = "16384",
	  .help = "Most bytes of a process's environment that are kept." },
	{ .name = "collector.redact_env", .type = DE_CFG_LIST, FIELD(collector.redact_env),
	  .def = "*KEY*,*SECRET*,*TOKEN*,*PASSWORD*,*PASSWD*,*PASS,*CREDENTIAL*,*AUTH*,"
		 "*PRIVATE*,*COOKIE*,*SESSION*",
	  .help = "Glob patterns (case-insensitive) of environment variable names whose "
		  "values are replaced by [REDACTED]." },
	{ .name = "collector.resync_interval_s", .type = DE_CFG_UINT, FIELD(collector.resync_interval_s),
	  .min = 0, .max = 86400, .def = "600",
	  .help = "Seconds between resync snapshots that heal the live process table (0: only after reported drops)." },
	{ .name = "collector.ring_buffer_bytes", .type = DE_CFG_UINT, FIELD(collector.ring_buffer_bytes),
	  .min = 0, .max = 1073741824, .size_suffix = true, .def = "0",
	  .help = "Size of the eBPF ring buffer, a power of two of at least a page (all of it counts in the collector's RSS); 0: 512K per online CPU, from 1M to 16M." },
	{ .name = "collector.max_exited", .type = DE_CFG_UINT, FIELD(collector.max_exited),
	  .min = 0, .max = 1000000, .def = "1024",
	  .help = "Exited processes the live process table keeps (~270 bytes each) for ancestry and late events; the oldest go first, exited ancestors of live processes last." },
	{ .name = "collector.pin_snapshot", .type = DE_CFG_BOOL,
	  FIELD(collector.pin_snapshot), .def = "true",
	  .help = "Keep the BPF snapshot iterator loaded after a command that loaded it (pinned in /sys/fs/bpf/daemoneye, root only), so later snapshots skip loading and verifying it." },
	{ .name = "hashing.enabled", .type = DE_CFG_BOOL, FIELD(hashing.enabled), .def = "true",
	  .help = "Whether the collector hashes executables (SHA-256, BLAKE3) in its worker thread." },
	{ .name = "hashing.inline_max_bytes", .type = DE_CFG_UINT, FIELD(hashing.inline_max_bytes),
	  .min = 0, .max = 16777216, .size_suffix = true, .def = "256K",
	  .help = "New executables up to this size are hashed on the collector's event path (short-lived processes are gone before the worker reads them); larger ones go to the hash worker (0: always the worker)." },
	{ .name = "hashing.max_file_bytes", .type = DE_CFG_UINT, FIELD(hashing.max_file_bytes),
	  .min = 1024, .max = 17179869184ULL, .size_suffix = true, .def = "268435456",
	  .help = "Executables larger than this are not hashed." },
	{ .name = "hashing.cache_entries", .type = DE_CFG_UINT, FIELD(hashing.cache_entries),
	  .min = 16, .max = 1000000, .def = "4096",
	  .help = "Number of executable hashes kept in the cache." },
};

_Static_assert(DE_ARRAY_SIZE(de_cfg_keys) == DE_CFG_N_KEYS, "DE_CFG_N_KEYS");
_Static_assert(DE_CFG_N_KEYS <= 64, "config.c keeps a uint64_t set of keys");
_Static_assert(sizeof(enum de_log_level) == sizeof(int), "enum keys are stored as int");
_Static_assert(sizeof(enum de_source_choice) == sizeof(int), "enum keys are stored as int");


/* ---- Messages, lookup ----------------------------------------------------- */


static void *field_ptr(struct de_config *cfg, const struct de_cfg_key *k)
{
	return (char *)cfg + k->offset;
}

static const void *field_cptr(const struct de_config *cfg, const struct de_cfg_key *k)
{
	return (const char *)cfg + k->offset;
}

int de_cfg_find(const char *name, size_t n)
{
	for (size_t i = 0; i < DE_CFG_N_KEYS; i++)
		if (strlen(de_cfg_keys[i].name) == n && memcmp(de_cfg_keys[i].name, name, n) == 0)
			return (int)i;
	return -1;
}

bool de_cfg_is_section(const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < DE_CFG_N_KEYS; i++)
		if (strncmp(de_cfg_keys[i].name, path, n) == 0 && de_cfg_keys[i].name[n] == '.')
			return true;
	return false;
}

void de_cfg_env_name(const struct de_cfg_key *k, char *out, size_t outlen)
{
	size_t o = strlen(DE_CFG_ENV_PREFIX);
	memcpy(out, DE_CFG_ENV_PREFIX, o);
	for (const char *p = k->name; *p && o + 1 < outlen; p++)
		out[o++] = *p == '.' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	out[o] = '\0';
}

const char *de_cfg_expects(const struct de_cfg_key *k, char *out, size_t outlen)
{
	switch (k->type) {
	case DE_CFG_ENUM: {
		size_t o = 0;
		de_why(out, outlen, "one of ");
		for (size_t i = 0; k->names[i]; i++) {
			o = strlen(out);
			de_why(out + o, outlen - o, "%s%s", i ? ", " : "", k->names[i]);
		}
		return out;
	}
	case DE_CFG_PATH:
		return "an absolute path or an empty string";
	case DE_CFG_UINT:
		return k->size_suffix ? "an integer (optionally with a K, M or G suffix)"
				      : "an integer";
	case DE_CFG_BOOL:
		return "a boolean (true/false, yes/no, on/off)";
	case DE_CFG_LIST:
		return "a list of strings";
	}
	return "?";
}

/* ---- Parsing one value ------------------------------------------------------ */

/* Decimal digits with an optional binary K/M/G suffix. Returns 0, -EINVAL
 * (not a number), -EDOM (leading zero) or -ERANGE (overflows 64 bits). */
static int parse_uint(const char *s, size_t n, bool suffix, uint64_t *out)
{
	unsigned shift = 0;
	if (suffix && n > 1) {
		char c = s[n - 1];
		shift = c == 'K' ? 10 : c == 'M' ? 20 : c == 'G' ? 30 : 0;
		if (shift)
			n--;
	}
	if (n == 0)
		return -EINVAL;
	uint64_t v = 0;
	bool over = false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			over = true;
		else
			v = v * 10 + d;
	}
	if (n > 1 && s[0] == '0')
		return -EDOM;
	if (over || (shift && v > (UINT64_MAX >> shift)))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

static bool has_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

int de_cfg_list_add(struct de_config *cfg, const char *s, size_t n, char *why, size_t whylen)
{
	char q[DE_YAML_QBUF];
	if (n == 0) {
		de_why(why, whylen, "empty pattern");
		return -EINVAL;
	}
	if (n >= DE_CONFIG_PATTERN_MAX) {
		de_why(why, whylen, "pattern '%s' is longer than %d bytes",
			      de_yaml_quote(q, sizeof(q), s, n), DE_CONFIG_PATTERN_MAX - 1);
		return -EINVAL;
	}
	if (has_control(s, n)) {
		de_why(why, whylen, "pattern '%s' contains a control character",
			      de_yaml_quote(q, sizeof(q), s, n));
		return -EINVAL;
	}
	if (cfg->collector.n_redact_env >= DE_CONFIG_MAX_PATTERNS) {
		de_why(why, whylen, "more than %d patterns", DE_CONFIG_MAX_PATTERNS);
		return -EINVAL;
	}
	char *dst = cfg->collector.redact_env[cfg->collector.n_redact_env++];
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* Split a comma-separated list (spaces around items ignored). "" is the
 * empty list. */
static int list_set_text(struct de_config *cfg, const char *s, size_t n, char *why, size_t whylen)
{
	cfg->collector.n_redact_env = 0;
	if (n == 0)
		return 0;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != ',')
			continue;
		size_t a = start, b = i;
		while (a < b && (s[a] == ' ' || s[a] == '\t'))
			a++;
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
			b--;
		int r = de_cfg_list_add(cfg, s + a, b - a, why, whylen);
		if (r < 0)
			return r;
		start = i + 1;
	}
	return 0;
}

static int set_uint(struct de_config *cfg, const struct de_cfg_key *k, const char *s, size_t n,
		    char *why, size_t whylen)
{
	char q[DE_YAML_QBUF], t[128];
	uint64_t v = 0;
	int r = parse_uint(s, n, k->size_suffix, &v);
	if (r == -EINVAL) {
		de_why(why, whylen, "expected %s, got '%s'", de_cfg_expects(k, t, sizeof(t)),
			      de_yaml_quote(q, sizeof(q), s, n));
		return r;
	}
	if (r == -EDOM) {
		de_why(why, whylen, "leading zeros are not allowed, got '%s'",
			      de_yaml_quote(q, sizeof(q), s, n));
		return -EINVAL;
	}
	if (r == -ERANGE || v < k->min || v > k->max) {
		de_why(why, whylen, "must be between %ju and %ju, got '%s'", (uintmax_t)k->min,
			      (uintmax_t)k->max, de_yaml_quote(q, sizeof(q), s, n));
		return -ERANGE;
	}
	if (k->size == sizeof(uint64_t)) {
		uint64_t *p = field_ptr(cfg, k);
		*p = v;
	} else {
		uint32_t *p = field_ptr(cfg, k);
		*p = (uint32_t)v;
	}
	return 0;
}

int de_cfg_set_text(struct de_config *cfg, const struct de_cfg_key *k, const char *s, size_t n,
		    char *why, size_t whylen)
{
	char q[DE_YAML_QBUF], t[128];
	if (memchr(s, '\0', n)) {
		de_why(why, whylen, "the value contains a NUL byte");
		return -EINVAL;
	}
	switch (k->type) {
	case DE_CFG_ENUM:
		for (int i = 0; k->names[i]; i++) {
			if (strlen(k->names[i]) == n && strncasecmp(s, k->names[i], n) == 0) {
				int *p = field_ptr(cfg, k);
				*p = i;
				return 0;
			}
		}
		break;
	case DE_CFG_BOOL: {
		static const char *const yes[] = { "true", "yes", "on" };
		static const char *const no[] = { "false", "no", "off" };
		for (size_t i = 0; i < DE_ARRAY_SIZE(yes); i++) {
			bool *p = field_ptr(cfg, k);
			if (strlen(yes[i]) == n && strncasecmp(s, yes[i], n) == 0) {
				*p = true;
				return 0;
			}
			if (strlen(no[i]) == n && strncasecmp(s, no[i], n) == 0) {
				*p = false;
				return 0;
			}
		}
		break;
	}
	case DE_CFG_UINT:
		return set_uint(cfg, k, s, n, why, whylen);
	case DE_CFG_PATH:
		if (n > 0 && s[0] != '/') {
			de_why(why, whylen, "must be an absolute path, got '%s'",
				      de_yaml_quote(q, sizeof(q), s, n));
			return -EINVAL;
		}
		if (n >= k->size) {
			de_why(why, whylen, "path is longer than %zu bytes", k->size - 1);
			return -EINVAL;
		}
		if (has_control(s, n)) {
			de_why(why, whylen, "path '%s' contains a control character",
				      de_yaml_quote(q, sizeof(q), s, n));
			return -EINVAL;
		}
		memcpy(field_ptr(cfg, k), s, n);
		((char *)field_ptr(cfg, k))[n] = '\0';
		return 0;
	case DE_CFG_LIST:
		return list_set_text(cfg, s, n, why, whylen);
	}
	de_why(why, whylen, "expected %s, got '%s'", de_cfg_expects(k, t, sizeof(t)),
		      de_yaml_quote(q, sizeof(q), s, n));
	return -EINVAL;
}

void de_cfg_set_origin(struct de_config *cfg, size_t idx, enum de_config_origin_kind kind,
		       const char *fmt, ...)
{
	struct de_config_origin *o = &cfg->origins[idx];
	o->kind = kind;
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(o->text, sizeof(o->text), fmt, ap);
	va_end(ap);
	if (r < 0)
		o->text[0] = '\0';
}

/* Defaults come from the table, through the same parser as --set. */
int de_config_init(struct de_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->origins = calloc(DE_CFG_N_KEYS, sizeof(*cfg->origins));
	if (!cfg->origins)
		return -ENOMEM;
	cfg->n_origins = DE_CFG_N_KEYS;
	for (size_t i = 0; i < DE_CFG_N_KEYS; i++) {
		char why[256];
		const struct de_cfg_key *k = &de_cfg_keys[i];
		if (de_cfg_set_text(cfg, k, k->def, strlen(k->def), why, sizeof(why)) < 0) {
			de_config_free(cfg);
			return -EINVAL; /* a schema bug; the unit tests load the defaults */
		}
		de_cfg_set_origin(cfg, i, DE_ORIGIN_DEFAULT, "default");
	}
	return 0;
}

void de_config_free(struct de_config *cfg)
{
	free(cfg->origins);
	cfg->origins = NULL;
	cfg->n_origins = 0;
}

/* ---- Printing ------------------------------------------------------------ */

const char *de_source_name(enum de_source_choice s)
{
	if ((unsigned)s >= DE_ARRAY_SIZE(source_names) - 1)
		return "?";
	return source_names[s];
}

const char *de_config_origin_of(const struct de_config *cfg, const char *key)
{
	int idx = de_cfg_find(key, strlen(key));
	if (idx < 0 || !cfg->origins || (unsigned)idx >= cfg->n_origins)
		return NULL;
	return cfg->origins[idx].text;
}

/* A string in double quotes: text escaping, plus \" for quotes. */
static void put_quoted(struct de_buf *b, const char *s)
{
	de_buf_putc(b, '"');
	for (;;) {
		size_t n = strcspn(s, "\"");
		de_emit_text(b, s, n);
		if (!s[n])
			break;
		de_buf_puts(b, "\\\"");
		s += n + 1;
	}
	de_buf_putc(b, '"');
}

static const char *enum_value(const struct de_config *cfg, const struct de_cfg_key *k)
{
	const int *p = field_cptr(cfg, k);
	for (int i = 0; k->names[i]; i++)
		if (i == *p)
			return k->names[i];
	return "?";
}

static uint64_t uint_value(const struct de_config *cfg, const struct de_cfg_key *k)
{
	if (k->size == sizeof(uint64_t))
		return *(const uint64_t *)field_cptr(cfg, k);
	return *(const uint32_t *)field_cptr(cfg, k);
}

static void value_text(struct de_buf *b, const struct de_config *cfg, const struct de_cfg_key *k)
{
	switch (k->type) {
	case DE_CFG_ENUM:
		de_buf_puts(b, enum_value(cfg, k));
		break;
	case DE_CFG_PATH:
		put_quoted(b, field_cptr(cfg, k));
		break;
	case DE_CFG_UINT:
		de_buf_printf(b, "%ju", (uintmax_t)uint_value(cfg, k));
		break;
	case DE_CFG_BOOL:
		de_buf_puts(b, *(const bool *)field_cptr(cfg, k) ? "true" : "false");
		break;
	case DE_CFG_LIST:
		de_buf_putc(b, '[');
		for (unsigned i = 0; i < cfg->collector.n_redact_env; i++) {
			if (i)
				de_buf_puts(b, ", ");
			put_quoted(b, cfg->collector.redact_env[i]);
		}
		de_buf_putc(b, ']');
		break;
	}
}

static void value_json(struct de_json *j, const struct de_config *cfg, const struct de_cfg_key *k)
{
	switch (k->type) {
	case DE_CFG_ENUM:
		de_json_cstr(j, enum_value(cfg, k));
		break;
	case DE_CFG_PATH:
		de_json_cstr(j, field_cptr(cfg, k));
		break;
	case DE_CFG_UINT:
		de_json_uint(j, uint_value(cfg, k));
		break;
	case DE_CFG_BOOL:
		de_json_bool(j, *(const bool *)field_cptr(cfg, k));
		break;
	case DE_CFG_LIST:
		de_json_arr_begin(j);
		for (unsigned i = 0; i < cfg->collector.n_redact_env; i++)
			de_json_cstr(j, cfg->collector.redact_env[i]);
		de_json_arr_end(j);
		break;
	}
}

static int flush_buf(struct de_buf *b, FILE *out)
{
	int r = b->err;
	if (r == 0 && b->len && fwrite(b->data, 1, b->len, out) != b->len)
		r = -EIO;
	if (r == 0 && fflush(out) != 0)
		r = de_neg_errno();
	de_buf_free(b);
	return r;
}

int de_config_print(const struct de_config *cfg, FILE *out, bool json)
{
	if (!cfg->origins || cfg->n_origins != DE_CFG_N_KEYS)
		return -EINVAL;
	struct de_buf b = DE_BUF_INIT;
	if (json) {
		struct de_json j;
		de_json_init(&j, &b);
		de_json_obj_begin(&j);
		for (size_t i = 0; i < DE_CFG_N_KEYS; i++) {
			de_json_key(&j, de_cfg_keys[i].name);
			de_json_obj_begin(&j);
			de_json_key(&j, "value");
			value_json(&j, cfg, &de_cfg_keys[i]);
			de_json_key(&j, "origin");
			de_json_cstr(&j, cfg->origins[i].text);
			de_json_obj_end(&j);
		}
		de_json_obj_end(&j);
		de_buf_putc(&b, '\n');
		return flush_buf(&b, out);
	}
	int width = 0;
	for (size_t i = 0; i < DE_CFG_N_KEYS; i++)
		width = DE_MAX(width, (int)strlen(de_cfg_keys[i].name));
	for (size_t i = 0; i < DE_CFG_N_KEYS; i++) {
		de_buf_printf(&b, "%-*s = ", width, de_cfg_keys[i].name);
		value_text(&b, cfg, &de_cfg_keys[i]);
		de_buf_puts(&b, "  # ");
		de_emit_text(&b, cfg->origins[i].text, strlen(cfg->origins[i].text));
		de_buf_putc(&b, '\n');
	}
	return flush_buf(&b, out);
}

static const char *type_name(const struct de_cfg_key *k)
{
	static const char *const names[] = {
		[DE_CFG_ENUM] = "enum", [DE_CFG_PATH] = "path", [DE_CFG_UINT] = "integer",
		[DE_CFG_BOOL] = "boolean", [DE_CFG_LIST] = "list",
	};
	return k->type == DE_CFG_UINT && k->size_suffix ? "size" : names[k->type];
}

int de_config_print_keys(FILE *out, bool json)
{
	struct de_buf b = DE_BUF_INIT;
	struct de_json j;
	char env[DE_CFG_KEY_NAME_MAX + sizeof(DE_CFG_ENV_PREFIX)];
	de_json_init(&j, &b);
	if (json)
		de_json_arr_begin(&j);
	for (size_t i = 0; i < DE_CFG_N_KEYS; i++) {
		const struct de_cfg_key *k = &de_cfg_keys[i];
		de_cfg_env_name(k, env, sizeof(env));
		if (json) {
			de_json_obj_begin(&j);
			de_json_key(&j, "key");
			de_json_cstr(&j, k->name);
			de_json_key(&j, "type");
			de_json_cstr(&j, type_name(k));
			if (k->type == DE_CFG_UINT) {
				de_json_key(&j, "min");
				de_json_uint(&j, k->min);
				de_json_key(&j, "max");
				de_json_uint(&j, k->max);
			}
			if (k->type == DE_CFG_ENUM) {
				de_json_key(&j, "values");
				de_json_arr_begin(&j);
				for (size_t v = 0; k->names[v]; v++)
					de_json_cstr(&j, k->names[v]);
				de_json_arr_end(&j);
			}
			de_json_key(&j, "default");
			de_json_cstr(&j, k->def);
			de_json_key(&j, "env");
			de_json_cstr(&j, env);
			de_json_key(&j, "help");
			de_json_cstr(&j, k->help);
			de_json_obj_end(&j);
			continue;
		}
		de_buf_printf(&b, "%s\n    %s: ", k->name, type_name(k));
		if (k->type == DE_CFG_UINT)
			de_buf_printf(&b, "%ju..%ju%s", (uintmax_t)k->min, (uintmax_t)k->max,
				      k->size_suffix ? " (K, M, G suffixes allowed)" : "");
		else if (k->type == DE_CFG_LIST)
			de_buf_printf(&b, "at most %d patterns of at most %d bytes; comma-separated "
				      "in the environment and --set", DE_CONFIG_MAX_PATTERNS,
				      DE_CONFIG_PATTERN_MAX - 1);
		else if (k->type == DE_CFG_BOOL)
			de_buf_puts(&b, "true/false, yes/no, on/off");
		else if (k->type == DE_CFG_PATH)
			de_buf_puts(&b, "absolute, or empty");
		else
			for (size_t v = 0; k->names[v]; v++)
				de_buf_printf(&b, "%s%s", v ? ", " : "", k->names[v]);
		de_buf_puts(&b, "\n    default: ");
		put_quoted(&b, k->def);
		de_buf_printf(&b, "\n    environment: %s\n    %s\n", env, k->help);
	}
	if (json) {
		de_json_arr_end(&j);
		de_buf_putc(&b, '\n');
	}
	return flush_buf(&b, out);
}

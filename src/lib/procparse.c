/* procparse.c: see procparse.h.
 *
 * The parsers never trust a length, a delimiter or a number: numbers are
 * parsed with explicit overflow checks, lines may lack their newline, and
 * the comm field of stat is delimited by the first '(' and the LAST ')'
 * (comm itself may contain ')' and spaces, so sscanf-style parsing is
 * wrong).
 */
#include "procparse.h"

#include <errno.h>
#include <fnmatch.h>
#include <string.h>

#include "macros.h"

/* Parse an unsigned decimal at *p (< end); advances *p. */
static bool parse_u64(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	if (s >= end || *s < '0' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		s++;
	}
	*p = s;
	*out = v;
	return true;
}

static bool parse_i64(const char **p, const char *end, int64_t *out)
{
	bool neg = false;
	if (*p < end && **p == '-') {
		neg = true;
		(*p)++;
	}
	uint64_t v;
	if (!parse_u64(p, end, &v))
		return false;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)v;
	}
	return true;
}

static bool parse_hex_u64(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int digits = 0;
	while (s < end) {
		char c = *s;
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			break;
		if (++digits > 16)
			return false;
		v = (v << 4) | d;
		s++;
	}
	if (!digits)
		return false;
	*p = s;
	*out = v;
	return true;
}

static void skip_blanks(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

int de_parse_stat(const char *buf, size_t n, struct de_stat *out)
{
	memset(out, 0, sizeof(*out));
	const char *end = buf + n;
	const char *p = buf;
	int64_t v;
	if (!parse_i64(&p, end, &v) || v < 0 || v > INT32_MAX)
		return -EINVAL;
	out->pid = (int32_t)v;
	const char *open = memchr(p, '(', (size_t)(end - p));
	if (!open)
		return -EINVAL;
	const char *close = NULL;
	for (const char *q = end; q > open + 1;) {
		q--;
		if (*q == ')') {
			close = q;
			break;
		}
	}
	if (!close)
		return -EINVAL;
	size_t clen = DE_MIN((size_t)(close - open - 1), sizeof(out->comm) - 1);
	memcpy(out->comm, open + 1, clen);
	out->comm[clen] = '\0';
	/* A NUL cannot be in comm, but a hostile buffer can hold one: cut it so
	 * the string and its length agree. */
	p = close + 1;
	if (p + 2 >= end || *p != ' ')
		return -EINVAL;
	p++;
	out->state = *p++;

	/* Fields 4..24 after state, space separated. Indices per proc(5). */
	int64_t f[22] = { 0 };
	int have = 0;
	for (int i = 4; i <= 24; i++) {
		if (p >= end || *p != ' ')
			break;
		p++;
		if (!parse_i64(&p, end, &f[i - 4])) {
			/* unsigned fields larger than INT64_MAX: accept as u64 */
			uint64_t u;
			if (!parse_u64(&p, end, &u))
				break;
			f[i - 4] = (int64_t)u;
		}
		have = i;
	}
	out->ppid = (int32_t)f[0];
	out->pgid = (int32_t)f[1];
	out->sid = (int32_t)f[2];
	out->tty_nr = (int32_t)f[3];
	out->flags = (uint32_t)f[5];
	out->minflt = (uint64_t)f[6];
	out->majflt = (uint64_t)f[8];
	out->utime = (uint64_t)f[10];
	out->stime = (uint64_t)f[11];
	out->priority = f[14];
	out->nice = f[15];
	out->num_threads = f[16];
	out->starttime = (uint64_t)f[18];
	out->vsize = (uint64_t)f[19];
	out->rss = f[20];
	return have == 24 ? 0 : -EINVAL;
}

/* Find "Key:" at the start of a line; returns the value start or NULL. */
static const char *line_value(const char *line, const char *line_end, const char *key, size_t klen)
{
	if ((size_t)(line_end - line) < klen + 1 || memcmp(line, key, klen) != 0 || line[klen] != ':')
		return NULL;
	return line + klen + 1;
}

static bool parse_id4(const char *p, const char *end, uint32_t out[4])
{
	for (int i = 0; i < 4; i++) {
		skip_blanks(&p, end);
		uint64_t v;
		if (!parse_u64(&p, end, &v) || v > UINT32_MAX)
			return false;
		out[i] = (uint32_t)v;
	}
	return true;
}

static bool parse_groups(const char *p, const char *end, struct de_status *out)
{
	out->ngroups = 0;
	for (;;) {
		skip_blanks(&p, end);
		if (p >= end)
			return true;
		uint64_t v;
		if (!parse_u64(&p, end, &v) || v > UINT32_MAX)
			return false;
		if (out->ngroups < out->groups_cap && out->groups)
			out->groups[out->ngroups] = (uint32_t)v;
		if (out->ngroups == UINT32_MAX)
			return false;
		out->ngroups++;
	}
}

static bool parse_cap(const char *p, const char *end, uint64_t *out)
{
	skip_blanks(&p, end);
	return parse_hex_u64(&p, end, out);
}

static bool parse_small(const char *p, const char *end, int32_t *out)
{
	skip_blanks(&p, end);
	uint64_t v;
	if (!parse_u64(&p, end, &v) || v > INT32_MAX)
		return false;
	*out = (int32_t)v;
	return true;
}

int de_parse_status(const char *buf, size_t n, struct de_status *out)
{
	uint32_t *groups = out->groups;
	uint32_t cap = out->groups_cap;
	memset(out, 0, sizeof(*out));
	out->groups = groups;
	out->groups_cap = cap;
	out->seccomp = -1;
	out->no_new_privs = -1;
	const char *end = buf + n;
	const char *line = buf;
	bool bad = false;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *le = nl ? nl : end;
		const char *v;
		uint64_t cap_v;
		int32_t small;
		switch (line[0]) {
		case 'U':
			if ((v = line_value(line, le, "Uid", 3))) {
				if (parse_id4(v, le, out->uid))
					out->found |= DE_STATUS_HAVE_UID;
				else
					bad = true;
			}
			break;
		case 'G':
			if ((v = line_value(line, le, "Gid", 3))) {
				if (parse_id4(v, le, out->gid))
					out->found |= DE_STATUS_HAVE_GID;
				else
					bad = true;
			} else if ((v = line_value(line, le, "Groups", 6))) {
				if (parse_groups(v, le, out))
					out->found |= DE_STATUS_HAVE_GROUPS;
				else
					bad = true;
			}
			break;
		case 'C':
			if ((v = line_value(line, le, "CapInh", 6))) {
				bad |= !parse_cap(v, le, &out->cap_inh);
			} else if ((v = line_value(line, le, "CapPrm", 6))) {
				bad |= !parse_cap(v, le, &out->cap_prm);
			} else if ((v = line_value(line, le, "CapEff", 6))) {
				if (parse_cap(v, le, &cap_v)) {
					out->cap_eff = cap_v;
					out->found |= DE_STATUS_HAVE_CAPS;
				} else {
					bad = true;
				}
			} else if ((v = line_value(line, le, "CapBnd", 6))) {
				bad |= !parse_cap(v, le, &out->cap_bnd);
			} else if ((v = line_value(line, le, "CapAmb", 6))) {
				bad |= !parse_cap(v, le, &out->cap_amb);
			}
			break;
		case 'S':
			if ((v = line_value(line, le, "Seccomp", 7))) {
				if (parse_small(v, le, &small)) {
					out->seccomp = small;
					out->found |= DE_STATUS_HAVE_SECCOMP;
				} else {
					bad = true;
				}
			}
			break;
		case 'N':
			if ((v = line_value(line, le, "NoNewPrivs", 10))) {
				if (parse_small(v, le, &small)) {
					out->no_new_privs = small;
					out->found |= DE_STATUS_HAVE_NNP;
				} else {
					bad = true;
				}
			}
			break;
		case 'T':
			if ((v = line_value(line, le, "Threads", 7))) {
				if (parse_small(v, le, &small)) {
					out->threads = small;
					out->found |= DE_STATUS_HAVE_THREADS;
				} else {
					bad = true;
				}
			}
			break;
		case 'K':
			if ((v = line_value(line, le, "Kthread", 7)) && parse_small(v, le, &small))
				out->kthread = small == 1;
			break;
		default:
			break;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	const unsigned need = DE_STATUS_HAVE_UID | DE_STATUS_HAVE_GID | DE_STATUS_HAVE_GROUPS |
			      DE_STATUS_HAVE_CAPS;
	return bad || (out->found & need) != need ? -EINVAL : 0;
}

int de_parse_io(const char *buf, size_t n, struct de_io *out)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "rchar", offsetof(struct de_io, rchar) },
		{ "wchar", offsetof(struct de_io, wchar) },
		{ "syscr", offsetof(struct de_io, syscr) },
		{ "syscw", offsetof(struct de_io, syscw) },
		{ "read_bytes", offsetof(struct de_io, read_bytes) },
		{ "write_bytes", offsetof(struct de_io, write_bytes) },
		{ "cancelled_write_bytes", offsetof(struct de_io, cancelled_write_bytes) },
	};
	memset(out, 0, sizeof(*out));
	unsigned found = 0;
	const char *end = buf + n, *line = buf;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *le = nl ? nl : end;
		for (size_t i = 0; i < DE_ARRAY_SIZE(keys); i++) {
			const char *v = line_value(line, le, keys[i].key, strlen(keys[i].key));
			if (!v)
				continue;
			skip_blanks(&v, le);
			uint64_t x;
			if (!parse_u64(&v, le, &x))
				return -EINVAL;
			memcpy((char *)out + keys[i].off, &x, sizeof(x));
			found |= 1u << i;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	return found == (1u << DE_ARRAY_SIZE(keys)) - 1 ? 0 : -EINVAL;
}

int de_parse_u64_file(const char *buf, size_t n, uint64_t *out)
{
	const char *p = buf, *end = buf + n;
	if (!parse_u64(&p, end, out))
		return -EINVAL;
	if (p < end && *p == '\n')
		p++;
	return p == end ? 0 : -EINVAL;
}

ssize_t de_parse_cgroup(const char *buf, size_t n, char *out, size_t cap)
{
	const char *end = buf + n, *line = buf;
	const char *best = NULL, *best_end = NULL;
	if (cap == 0)
		return -EINVAL;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *le = nl ? nl : end;
		/* hierarchy-ID:controller-list:cgroup-path; the path may contain ':' */
		const char *c1 = memchr(line, ':', (size_t)(le - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(le - c1 - 1)) : NULL;
		if (c2 && c2 + 1 < le) {
			bool unified = c1 - line == 1 && line[0] == '0' && c2 == c1 + 1;
			if (unified || !best) {
				best = c2 + 1;
				best_end = le;
			}
			if (unified)
				break;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	if (!best)
		return -EINVAL;
	size_t len = DE_MIN((size_t)(best_end - best), cap - 1);
	memcpy(out, best, len);
	out[len] = '\0';
	len = strnlen(out, len);
	return (ssize_t)len;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

int de_container_id(const char *path, char id[65], const char **runtime)
{
	static const struct {
		const char *prefix;
		const char *runtime;
	} prefixes[] = {
		{ "docker-", "docker" },
		{ "cri-containerd-", "containerd" },
		{ "containerd-", "containerd" },
		{ "crio-conmon-", "cri-o" },
		{ "crio-", "cri-o" },
		{ "libpod-conmon-", "podman" },
		{ "libpod-", "podman" },
	};
	id[0] = '\0';
	*runtime = NULL;
	/* Walk components from the last one: the innermost container wins. */
	size_t len = strlen(path);
	size_t end = len;
	while (end > 0) {
		size_t start = end;
		while (start > 0 && path[start - 1] != '/')
			start--;
		const char *comp = path + start;
		size_t clen = end - start;
		if (clen > 6 && memcmp(comp + clen - 6, ".scope", 6) == 0)
			clen -= 6;
		const char *rt = NULL;
		for (size_t i = 0; i < DE_ARRAY_SIZE(prefixes); i++) {
			size_t pl = strlen(prefixes[i].prefix);
			if (clen > pl && memcmp(comp, prefixes[i].prefix, pl) == 0) {
				comp += pl;
				clen -= pl;
				rt = prefixes[i].runtime;
				break;
			}
		}
		if (clen >= 12 && clen <= 64 && all_hex(comp, clen) && (rt || clen == 64)) {
			if (!rt) {
				/* bare id: name the runtime from the parent components */
				if (strstr(path, "/docker/"))
					rt = "docker";
				else if (strstr(path, "kubepods"))
					rt = "containerd";
				else if (strstr(path, "/libpod"))
					rt = "podman";
				else
					rt = "unknown";
			}
			memcpy(id, comp, clen);
			id[clen] = '\0';
			*runtime = rt;
			return 1;
		}
		end = start > 0 ? start - 1 : 0;
	}
	return 0;
}

size_t de_exe_classify(char *path, size_t len, bool *deleted, bool *memfd)
{
	static const char suffix[] = " (deleted)";
	const size_t slen = sizeof(suffix) - 1;
	*deleted = false;
	*memfd = false;
	if (len >= slen && memcmp(path + len - slen, suffix, slen) == 0) {
		*deleted = true;
		len -= slen;
		path[len] = '\0';
	}
	if (len >= 7 && memcmp(path, "/memfd:", 7) == 0)
		*memfd = true;
	return len;
}

size_t de_exe_classify_links(char *path, size_t len, bool have_nlink, uint64_t nlink,
			     bool *deleted, bool *memfd)
{
	size_t kept = de_exe_classify(path, len, deleted, memfd);
	if (*deleted && have_nlink && nlink > 0 && !*memfd) {
		path[kept] = ' '; /* undo the cut: the name really ends so */
		*deleted = false;
		kept = len;
	}
	return kept;
}

uint32_t de_cmdline_argc(const char *buf, size_t n)
{
	uint32_t argc = 0;
	const char *p = buf, *end = buf + n;
	while (p < end) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		argc++;
		if (!z)
			break;
		p = z + 1;
	}
	return argc;
}

bool de_env_name_matches(const char *name, size_t name_len, const char (*patterns)[64],
			 unsigned n_patterns)
{
	char tmp[256];
	size_t len = DE_MIN(name_len, sizeof(tmp) - 1);
	memcpy(tmp, name, len);
	tmp[len] = '\0';
	for (unsigned i = 0; i < n_patterns; i++)
		if (fnmatch(patterns[i], tmp, FNM_CASEFOLD) == 0)
			return true;
	return false;
}

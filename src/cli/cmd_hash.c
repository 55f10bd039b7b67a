/* cmd_hash.c: `daemoneye hash`, BLAKE3 / SHA-256 of files and of the
 * executables of running processes.
 *
 * It hashes exactly the way the collector does (exehash.c: a regular file
 * only, the configured size limit, identity checked before and after the
 * read), so an operator can reproduce the hash DaemonEye recorded for a
 * binary, or for a running process with --pid, and compare it with threat
 * intelligence. The text output is the one b3sum and sha256sum print, so
 * `b3sum -c` / `sha256sum -c` can check it; --json gives one object per
 * input for scripts.
 */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "commands.h"
#include "emit.h"
#include "exehash.h"
#include "hash.h"

#define MAX_PIDS 256

struct hash_opts {
	unsigned algos;
	bool json;
	bool have_max;
	uint64_t max_bytes;
	pid_t pids[MAX_PIDS];
	unsigned n_pids;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye hash [OPTIONS] [FILE...]\n"
		"       daemoneye hash [OPTIONS] --pid PID [--pid PID...] [FILE...]\n"
		"\n"
		"Print the BLAKE3 and/or SHA-256 digest of each FILE, or of the executable\n"
		"of a running process, exactly as DaemonEye hashes executables: only\n"
		"regular files, at most the configured size, and a file that changes while\n"
		"it is read is reported as an error instead of hashed. With no FILE and no\n"
		"--pid, or when FILE is -, standard input is read (any file type).\n"
		"\n"
		"Options:\n"
		"  -a, --algo ALGO   blake3 (default), sha256, or both\n"
		"  -p, --pid PID     hash the executable of process PID, read through\n"
		"                    /proc/PID/exe (so it works for deleted and memfd\n"
		"                    binaries); repeatable; processes come before files\n"
		"      --max-size N  refuse inputs larger than N bytes (K, M, G, T suffixes\n"
		"                    are powers of 1024; 0 = no limit). Default: the\n"
		"                    configuration key hashing.max_file_bytes\n"
		"      --json        one JSON object per line instead of text (below)\n"
		DE_CLI_COMMON_HELP
		"\n"
		"Output:\n"
		"  blake3 or sha256: one line per input, 'HEX  NAME', the format of b3sum\n"
		"    and sha256sum (their -c option checks it).\n"
		"  both: two lines per input in the BSD tag format of 'sha256sum --tag':\n"
		"    'BLAKE3 (NAME) = HEX' then 'SHA256 (NAME) = HEX'.\n"
		"  NAME is the file argument, or for --pid the path the kernel reports for\n"
		"  the opened executable (ending in ' (deleted)' for a deleted binary,\n"
		"  '/memfd:...' for a memfd). A NAME with a backslash, a newline, another\n"
		"  control character or invalid UTF-8 is escaped (\\\\, \\n, \\t, \\xNN) and\n"
		"  the line starts with a backslash, as in coreutils.\n"
		"  --json: {\"file\": NAME, \"size\": BYTES, \"blake3\": HEX, \"sha256\": HEX};\n"
		"    --pid objects also have \"pid\", \"dev\" and \"inode\" (the identity\n"
		"    DaemonEye caches the hash under). Only the requested digests appear.\n"
		"\n"
		"Errors are reported on stderr, one line per input, and hashing goes on.\n"
		"Exit status: 0 if every input was hashed, 1 if any failed, 2 on a usage\n"
		"error.\n");
}

static int parse_algo(const char *s, unsigned *out)
{
	if (strcmp(s, "blake3") == 0)
		*out = DE_HASH_BLAKE3;
	else if (strcmp(s, "sha256") == 0)
		*out = DE_HASH_SHA256;
	else if (strcmp(s, "both") == 0)
		*out = DE_HASH_ALL;
	else
		return -EINVAL;
	return 0;
}

/* Decimal bytes with an optional K/M/G/T (binary) suffix. */
static int parse_size(const char *s, uint64_t *out)
{
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	uint64_t v = 0;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	unsigned shift = 0;
	switch (*s) {
	case '\0': break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default: return -EINVAL;
	}
	if (*s && s[1])
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

static int parse_pid(const char *s, pid_t *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > INT_MAX)
		return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

/* Append NAME for the text formats; returns whether it needed escaping
 * (the line then starts with a backslash, the coreutils convention). */
static bool append_name(struct de_buf *line, const char *name)
{
	size_t start = line->len, n = strlen(name);
	de_emit_text(line, name, n);
	return line->len - start != n || (line->data && memcmp(line->data + start, name, n) != 0);
}

static void print_text(const struct hash_opts *o, const char *name, const struct de_hashes *h)
{
	struct de_buf esc = DE_BUF_INIT, line = DE_BUF_INIT;
	bool escaped = append_name(&esc, name);
	char hex[DE_HASH_HEX_LEN];
	static const struct {
		unsigned algo;
		const char *tag;
		size_t off;
	} algos[] = {
		{ DE_HASH_BLAKE3, "BLAKE3", offsetof(struct de_hashes, blake3) },
		{ DE_HASH_SHA256, "SHA256", offsetof(struct de_hashes, sha256) },
	};
	for (size_t i = 0; i < DE_ARRAY_SIZE(algos); i++) {
		if (!(o->algos & algos[i].algo))
			continue;
		de_hash_hex((const uint8_t *)h + algos[i].off, hex);
		if (escaped)
			de_buf_putc(&line, '\\');
		if (o->algos == DE_HASH_ALL)
			de_buf_printf(&line, "%s (%s) = %s\n", algos[i].tag, de_buf_str(&esc), hex);
		else
			de_buf_printf(&line, "%s  %s\n", hex, de_buf_str(&esc));
	}
	if (!line.err)
		fwrite(line.data, 1, line.len, stdout);
	de_buf_free(&esc);
	de_buf_free(&line);
}

static void print_json(const struct hash_opts *o, const char *name, pid_t pid,
		       const struct de_file_id *id, uint64_t size, const struct de_hashes *h)
{
	struct de_buf b = DE_BUF_INIT;
	struct de_json j;
	char hex[DE_HASH_HEX_LEN];
	de_json_init(&j, &b);
	de_json_obj_begin(&j);
	if (pid > 0) {
		de_json_key(&j, "pid");
		de_json_int(&j, pid);
	}
	de_json_key(&j, "file");
	de_json_cstr(&j, name);
	de_json_key(&j, "size");
	de_json_uint(&j, size);
	if (pid > 0 && id) {
		de_json_key(&j, "dev");
		de_json_uint(&j, id->dev);
		de_json_key(&j, "inode");
		de_json_uint(&j, id->ino);
	}
	if (o->algos & DE_HASH_BLAKE3) {
		de_hash_hex(h->blake3, hex);
		de_json_key(&j, "blake3");
		de_json_cstr(&j, hex);
	}
	if (o->algos & DE_HASH_SHA256) {
		de_hash_hex(h->sha256, hex);
		de_json_key(&j, "sha256");
		de_json_cstr(&j, hex);
	}
	de_json_obj_end(&j);
	de_buf_putc(&b, '\n');
	if (!b.err)
		fwrite(b.data, 1, b.len, stdout);
	de_buf_free(&b);
}

/* One error line on stderr with the (untrusted) name escaped. */
static void report(const struct hash_opts *o, const char *what, const char *name, int err)
{
	struct de_buf esc = DE_BUF_INIT;
	de_emit_text(&esc, name, strlen(name));
	const char *n = de_buf_str(&esc);
	switch (err) {
	case -EFBIG:
		log_error("hash: %s%s: larger than the size limit of %llu bytes (see --max-size)",
			  what, n, (unsigned long long)o->max_bytes);
		break;
	case -EAGAIN:
		log_error("hash: %s%s: changed while it was being read; not hashed", what, n);
		break;
	case -EINVAL:
		log_error("hash: %s%s: not a regular file", what, n);
		break;
	case -ENOENT:
		if (*what)
			log_error("hash: %s%s: no such process, or a kernel thread (no executable)",
				  what, n);
		else
			de_log_errno(DE_LOG_ERROR, err, "hash: %s", n);
		break;
	default:
		de_log_errno(DE_LOG_ERROR, err, "hash: %s%s", what, n);
		break;
	}
	de_buf_free(&esc);
}

static int hash_stdin(const struct hash_opts *o)
{
	struct de_hashes h;
	int64_t n = de_hash_fd(STDIN_FILENO, o->algos, o->max_bytes, &h);
	if (n < 0) {
		report(o, "", "-", (int)n);
		return (int)n;
	}
	if (o->json)
		print_json(o, "-", 0, NULL, (uint64_t)n, &h);
	else
		print_text(o, "-", &h);
	return 0;
}

static int hash_file(const struct hash_opts *o, struct de_exehash_cache *c, const char *path)
{
	if (strcmp(path, "-") == 0)
		return hash_stdin(o);
	/* O_NONBLOCK: opening a FIFO must not hang before fstat rejects it. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	int r = fd < 0 ? de_neg_errno() : 0;
	struct stat st;
	if (r == 0 && fstat(fd, &st) < 0)
		r = de_neg_errno();
	if (r == 0 && S_ISDIR(st.st_mode))
		r = -EISDIR;
	struct de_file_id id;
	struct de_hashes h;
	if (r == 0)
		r = de_exehash_fd(c, fd, o->algos, &id, &h, NULL);
	if (r < 0) {
		report(o, "", path, r);
		return r;
	}
	if (o->json)
		print_json(o, path, 0, &id, id.size, &h);
	else
		print_text(o, path, &h);
	return 0;
}

static int hash_pid(const struct hash_opts *o, struct de_exehash_cache *c, pid_t pid)
{
	char what[32], name[PATH_MAX];
	snprintf(what, sizeof(what), "pid %d: ", (int)pid);
	snprintf(name, sizeof(name), "/proc/%d/exe", (int)pid);
	_cleanup_close_ int fd = de_exehash_open_pid("/proc", pid);
	if (fd < 0) {
		report(o, what, name, fd);
		return fd;
	}
	/* The path of exactly the file opened, not a second lookup that a
	 * concurrent exec could change. */
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t l = readlink(link, name, sizeof(name) - 1);
	if (l > 0)
		name[l] = '\0';
	struct de_file_id id;
	struct de_hashes h;
	int r = de_exehash_fd(c, fd, o->algos, &id, &h, NULL);
	if (r < 0) {
		report(o, what, name, r);
		return r;
	}
	if (o->json)
		print_json(o, name, pid, &id, id.size, &h);
	else
		print_text(o, name, &h);
	return 0;
}

int cmd_hash_main(int argc, char **argv)
{
	enum { OPT_MAX_SIZE = 0x2000, OPT_JSON };
	static const struct option longopts[] = {
		DE_CLI_COMMON_LONGOPTS,
		{ "algo", required_argument, NULL, 'a' },
		{ "pid", required_argument, NULL, 'p' },
		{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct de_cli_common common = { 0 };
	struct hash_opts o = { .algos = DE_HASH_BLAKE3 };
	int opt;
	while ((opt = getopt_long(argc, argv, "a:p:h", longopts, NULL)) != -1) {
		int r = de_cli_common_opt(&common, opt, optarg);
		if (r < 0)
			return DE_EXIT_USAGE;
		if (r > 0)
			continue;
		switch (opt) {
		case 'h':
			usage(stdout);
			return DE_EXIT_OK;
		case 'a':
			if (parse_algo(optarg, &o.algos) < 0) {
				log_error("hash: --algo must be blake3, sha256 or both");
				return DE_EXIT_USAGE;
			}
			break;
		case 'p':
			if (o.n_pids >= MAX_PIDS) {
				log_error("hash: too many --pid options (at most %d)", MAX_PIDS);
				return DE_EXIT_USAGE;
			}
			if (parse_pid(optarg, &o.pids[o.n_pids]) < 0) {
				log_error("hash: --pid needs a positive process id");
				return DE_EXIT_USAGE;
			}
			o.n_pids++;
			break;
		case OPT_MAX_SIZE:
			if (parse_size(optarg, &o.max_bytes) < 0) {
				log_error("hash: --max-size needs a byte count (K, M, G, T suffixes)");
				return DE_EXIT_USAGE;
			}
			o.have_max = true;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		default:
			usage(stderr);
			return DE_EXIT_USAGE;
		}
	}

	struct de_config cfg;
	if (de_config_init(&cfg) < 0) {
		log_error("hash: out of memory");
		return DE_EXIT_FAIL;
	}
	int rc = de_cli_load_config(&common, &cfg);
	if (!o.have_max)
		o.max_bytes = cfg.hashing.max_file_bytes;
	de_config_free(&cfg);
	if (rc != DE_EXIT_OK)
		return rc;

	/* No cache: each input is hashed once anyway. */
	struct de_exehash_cache *c = de_exehash_cache_new(0, o.max_bytes);
	if (!c) {
		de_log_errno(DE_LOG_ERROR, de_neg_errno(), "hash");
		return DE_EXIT_FAIL;
	}
	bool failed = false;
	for (unsigned i = 0; i < o.n_pids; i++)
		if (hash_pid(&o, c, o.pids[i]) < 0)
			failed = true;
	if (optind == argc && o.n_pids == 0) {
		if (hash_stdin(&o) < 0)
			failed = true;
	}
	for (int i = optind; i < argc; i++)
		if (hash_file(&o, c, argv[i]) < 0)
			failed = true;
	de_exehash_cache_free(c);

	if (fflush(stdout) != 0 || ferror(stdout)) {
		de_log_errno(DE_LOG_ERROR, de_neg_errno(), "hash: writing the output");
		return DE_EXIT_FAIL;
	}
	return failed ? DE_EXIT_FAIL : DE_EXIT_OK;
}

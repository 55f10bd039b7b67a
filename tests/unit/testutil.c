/* testutil.c: see testutil.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

char *tu_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s (is DE_TESTDATA set?)", path);
	char *p = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (cap - n < 65536) {
			cap = cap ? 2 * cap : 1 << 16;
			p = realloc(p, cap + 1);
			assert_non_null(p);
		}
		size_t r = fread(p + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	p[n] = '\0';
	*len = n;
	return p;
}

static const char *skip_ws(const char *k)
{
	while (*k == ' ' || *k == '\n' || *k == '\t' || *k == '\r')
		k++;
	return k;
}

const char *tu_json_field(const char *p, const char *end, const char *name)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\"", name);
	const char *k = strstr(p, pat);
	if (!k || k >= end)
		return NULL;
	k = skip_ws(k + strlen(pat));
	if (*k != ':')
		return NULL;
	return skip_ws(k + 1);
}

const char *tu_json_str(const char *p, const char *end, const char *name, size_t *len)
{
	const char *v = tu_json_field(p, end, name);
	if (!v)
		fail_msg("field \"%s\" missing", name);
	assert_true(*v == '"');
	v++;
	const char *q = strchr(v, '"');
	assert_non_null(q);
	*len = (size_t)(q - v);
	return v;
}

uint64_t tu_json_u64(const char *p, const char *end, const char *name)
{
	const char *v = tu_json_field(p, end, name);
	if (!v)
		fail_msg("field \"%s\" missing", name);
	char *e;
	unsigned long long x = strtoull(v, &e, 10);
	assert_true(e != v);
	return x;
}

bool tu_json_bool(const char *p, const char *end, const char *name)
{
	const char *v = tu_json_field(p, end, name);
	if (!v)
		fail_msg("field \"%s\" missing", name);
	if (strncmp(v, "true", 4) == 0)
		return true;
	if (strncmp(v, "false", 5) == 0)
		return false;
	fail_msg("field \"%s\" is not a boolean", name);
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t tu_unhex(const char *hex, size_t n, uint8_t *out, size_t cap)
{
	assert_true(n % 2 == 0);
	assert_true(n / 2 <= cap);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		assert_true(hi >= 0 && lo >= 0);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return n / 2;
}

size_t tu_unbase64(const char *s, size_t n, uint8_t *out, size_t cap)
{
	if (n == 0)
		return 0;
	assert_true(n % 4 == 0);
	assert_true(n / 4 * 3 <= cap);
	int k = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	assert_true(k >= 0);
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	size_t pad = (s[n - 1] == '=') + (s[n - 2] == '=');
	return (size_t)k - pad;
}

unsigned tu_walk(const char *dir, const char *suffix, void (*fn)(const char *path, void *arg),
		 void *arg)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		fail_msg("cannot read directory %s", dir);
	unsigned count = 0;
	size_t slen = strlen(suffix);
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char path[4096];
		if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, name);
			struct stat st;
			assert_int_equal(stat(path, &st), 0);
			size_t len = strlen(name);
			if (S_ISDIR(st.st_mode)) {
				count += tu_walk(path, suffix, fn, arg);
			} else if (S_ISREG(st.st_mode) && len >= slen &&
				   strcmp(name + len - slen, suffix) == 0) {
				fn(path, arg);
				count++;
			}
		}
		free(ents[i]);
	}
	free(ents);
	return count;
}

const char *tu_testdata(const char *rel, char *buf, size_t cap)
{
	const char *dir = getenv("DE_TESTDATA");
	if (!dir || !*dir)
		fail_msg("DE_TESTDATA is not set");
	snprintf(buf, cap, "%s/%s", dir, rel);
	return buf;
}

/* test_alertfmt.c: alert renderings: exact CEF, LEEF and syslog output for
 * a known alert, and escaping that survives any bytes: no framing
 * character leaks out unescaped, and unescaping gives the input back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alertfmt.h"
#include "de_build.h"

static const char argv_hostile[] = "sh\0-c\0a|b\\c=d\ne\tf\x1b[0m\xff g\"h]";

static void fill(struct de_alert *a)
{
	static const char *const mitre[] = { "T1059.004", "T1071" };
	memset(a, 0, sizeof(*a));
	strcpy(a->id, "0b9c6f2e-2d4e-4d1a-9b7e-3c8f1a2b4c5d");
	a->time_ns = 1763971200123456789LL; /* 2025-11-24T08:00:00.123456Z */
	a->rule_id = "DE-X|1";
	a->rule_name = "Reverse shell | pipe";
	a->severity = DE_SEV_HIGH;
	a->mitre = mitre;
	a->n_mitre = 2;
	a->hostname = "web 01";
	a->proc = (struct de_alert_proc){ .present = true, .pid = 4242, .uid = 33,
					  .entity_id = "00112233445566778899aabbccddeeff",
					  .comm = "sh", .exe = "/usr/bin/dash", .user = "www-data",
					  .argv = argv_hostile, .argv_len = sizeof(argv_hostile) };
	a->sha256 = "ab";
}

static void test_cef(void **state)
{
	(void)state;
	struct de_alert a;
	fill(&a);
	struct de_buf b = DE_BUF_INIT;
	de_alert_cef(&b, &a);
	const char *want =
		"CEF:0|DaemonEye|DaemonEye|" DE_VERSION "|DE-X\\|1|Reverse shell \\| pipe|8|"
		"rt=1763971200123 dvchost=web 01 externalId=0b9c6f2e-2d4e-4d1a-9b7e-3c8f1a2b4c5d"
		" spid=4242 sproc=sh filePath=/usr/bin/dash suser=www-data suid=33"
		" cs1Label=commandLine cs1=sh -c a|b\\\\c\\=d\\ne\\tf\\x1b[0m\\xff g\"h]"
		" cs4Label=entityId cs4=00112233445566778899aabbccddeeff"
		" cs3Label=mitreTechniques cs3=T1059.004,T1071 fileHash=ab";
	assert_string_equal(de_buf_str(&b), want);
	de_buf_free(&b);
}

static void test_leef(void **state)
{
	(void)state;
	struct de_alert a;
	fill(&a);
	struct de_buf b = DE_BUF_INIT;
	de_alert_leef(&b, &a);
	const char *want =
		"LEEF:2.0|DaemonEye|DaemonEye|" DE_VERSION "|DE-X\\|1|x09|"
		"devTime=1763971200123\tsev=8\tcat=Reverse shell | pipe"
		"\talertId=0b9c6f2e-2d4e-4d1a-9b7e-3c8f1a2b4c5d\tidentHostName=web 01\tpid=4242"
		"\tusrName=www-data\tuid=33\tcomm=sh\texe=/usr/bin/dash"
		"\tcmdline=sh -c a|b\\\\c=d\\ne\\tf\\x1b[0m\\xff g\"h]"
		"\tentityId=00112233445566778899aabbccddeeff\tmitre=T1059.004,T1071\tsha256=ab";
	assert_string_equal(de_buf_str(&b), want);
	de_buf_free(&b);
}

static void test_syslog(void **state)
{
	(void)state;
	struct de_alert a;
	fill(&a);
	strcpy(a.id, "id\"with]\\");
	struct de_buf b = DE_BUF_INIT;
	de_alert_syslog(&b, &a, DE_AF_CEF, 13);
	/* facility 13 * 8 + error(3) = 107; the space in the host name cannot
	 * appear in a header field */
	const char *want = "<107>1 2025-11-24T08:00:00.123456Z web_01 daemoneye 4242 alert"
			   " [daemoneye@32473 id=\"id\\\"with\\]\\\\\" rule=\"DE-X|1\""
			   " severity=\"high\"] \xEF\xBB\xBF" "CEF:0|";
	assert_memory_equal(de_buf_str(&b), want, strlen(want));
	de_buf_free(&b);
}

static void test_json_is_clean(void **state)
{
	(void)state;
	struct de_alert a;
	fill(&a);
	struct de_buf b = DE_BUF_INIT;
	de_alert_json(&b, &a);
	const char *s = de_buf_str(&b);
	for (size_t i = 0; i < b.len; i++)
		assert_true((unsigned char)s[i] >= 0x20);
	assert_non_null(strstr(s, "\"argv\":[\"sh\",\"-c\",\"a|b\\\\c=d\\ne\\tf\\u001b[0m\xef\xbf\xbd"
				  " g\\\"h]\"]"));
	assert_non_null(strstr(s, "\"time\":\"2025-11-24T08:00:00.123456Z\""));
	assert_non_null(strstr(s, "\"parent\":null"));
	de_buf_free(&b);
}

/* Reverse of the escaper, for the round-trip property. */
static size_t unescape(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			out[o++] = s[i];
			continue;
		}
		char c = s[++i];
		if (c == 'n')
			out[o++] = '\n';
		else if (c == 'r')
			out[o++] = '\r';
		else if (c == 't')
			out[o++] = '\t';
		else if (c == 'x') {
			char h[3] = { s[i + 1], s[i + 2], 0 };
			out[o++] = (char)strtol(h, NULL, 16);
			i += 2;
		} else
			out[o++] = c;
	}
	return o;
}

static void test_escape_round_trip(void **state)
{
	(void)state;
	srand(1234);
	char in[64], back[64 * 4];
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = (size_t)(rand() % 64);
		for (size_t i = 0; i < n; i++)
			in[i] = (char)(rand() % 4 == 0 ? "|=\\\"]\n\t \xc3\xa9\xff"[rand() % 11]
							: rand() % 256);
		void (*fns[])(struct de_buf *, const char *, size_t) = { de_cef_header, de_cef_value,
									  de_sd_value };
		for (size_t f = 0; f < 4; f++) {
			struct de_buf b = DE_BUF_INIT;
			if (f < 3)
				fns[f](&b, in, n);
			else
				de_leef_value(&b, in, n, false);
			const char *s = b.len ? de_buf_str(&b) : "";
			for (size_t i = 0; i < b.len; i++) {
				unsigned char c = (unsigned char)s[i];
				assert_true(c >= 0x20 && c != 0x7f); /* no control byte, tab or newline */
				if (c == '\\') {
					i++; /* the escaped character */
					continue;
				}
				if (f == 0)
					assert_int_not_equal(c, '|');
				if (f == 1)
					assert_int_not_equal(c, '=');
				if (f == 2)
					assert_true(c != '"' && c != ']');
			}
			size_t m = unescape(s, b.len, back);
			assert_int_equal(m, n);
			assert_memory_equal(back, in, n);
			de_buf_free(&b);
		}
	}
}

static void test_uuid(void **state)
{
	(void)state;
	char a[DE_ALERT_ID_LEN], b[DE_ALERT_ID_LEN];
	assert_int_equal(de_alert_new_id(a), 0);
	assert_int_equal(de_alert_new_id(b), 0);
	assert_int_equal(strlen(a), 36);
	assert_string_not_equal(a, b);
	assert_int_equal(a[14], '4');
	assert_non_null(strchr("89ab", a[19]));
	assert_true(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
}

/* A published audit checkpoint: its id derives from the note (same note,
 * same id: queued once), every format carries the note, escaped. */
static void test_checkpoint(void **state)
{
	(void)state;
	static const char note[] = "daemoneye/h\n7\nqrs=\n\n\xe2\x80\x94 daemoneye/h AbC=\n";
	char a1[DE_ALERT_ID_LEN], a2[DE_ALERT_ID_LEN], a3[DE_ALERT_ID_LEN];
	de_alert_content_id(note, strlen(note), a1);
	de_alert_content_id(note, strlen(note), a2);
	de_alert_content_id(note, strlen(note) - 1, a3);
	assert_string_equal(a1, a2);
	assert_string_not_equal(a1, a3);
	assert_int_equal(strlen(a1), 36);
	assert_int_equal(a1[14], '8');
	assert_non_null(strchr("89ab", a1[19]));
	struct de_alert a = { .time_ns = 1, .rule_id = DE_ALERT_CHECKPOINT_RULE,
			      .rule_name = "Audit ledger checkpoint", .severity = DE_SEV_INFO,
			      .dedup_key = "tree_size=7", .checkpoint = note };
	memcpy(a.id, a1, sizeof(a1));
	struct de_buf b = DE_BUF_INIT;
	de_alert_json(&b, &a);
	assert_non_null(strstr(de_buf_str(&b),
		"\"checkpoint\":\"daemoneye/h\\n7\\nqrs=\\n\\n\xe2\x80\x94 daemoneye/h AbC=\\n\"}"));
	de_buf_reset(&b);
	de_alert_cef(&b, &a);
	assert_non_null(strstr(de_buf_str(&b), " cs6Label=ledgerCheckpoint cs6=daemoneye/h\\n7\\nqrs\\=\\n"));
	de_buf_reset(&b);
	de_alert_leef(&b, &a);
	assert_non_null(strstr(de_buf_str(&b), "\tcheckpoint=daemoneye/h\\n7\\nqrs=\\n"));
	de_buf_reset(&b);
	/* an alert has no checkpoint key */
	fill(&a);
	de_alert_json(&b, &a);
	assert_null(strstr(de_buf_str(&b), "checkpoint"));
	de_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cef),
		cmocka_unit_test(test_leef),
		cmocka_unit_test(test_syslog),
		cmocka_unit_test(test_json_is_clean),
		cmocka_unit_test(test_escape_round_trip),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_checkpoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_emit.c: escaping of hostile bytes for JSON, text tables and CSV. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "emit.h"

static const char *json(struct de_buf *b, const char *s, size_t n)
{
	de_buf_reset(b);
	de_emit_json_string(b, s, n);
	return de_buf_str(b);
}

static const char *text(struct de_buf *b, const char *s, size_t n)
{
	de_buf_reset(b);
	de_emit_text(b, s, n);
	return de_buf_str(b);
}

static const char *csv(struct de_buf *b, const char *s)
{
	de_buf_reset(b);
	de_emit_csv_field(b, s, strlen(s));
	return de_buf_str(b);
}

static void test_utf8(void **state)
{
	(void)state;
	const unsigned char ok2[] = { 0xc3, 0xa9 }, ok4[] = { 0xf0, 0x9f, 0x98, 0x80 };
	const unsigned char overlong[] = { 0xc0, 0xaf }, surrogate[] = { 0xed, 0xa0, 0x80 };
	const unsigned char too_big[] = { 0xf4, 0x90, 0x80, 0x80 }, cut[] = { 0xe2, 0x82 };
	assert_int_equal(de_utf8_seq_len(ok2, 2), 2);
	assert_int_equal(de_utf8_seq_len(ok4, 4), 4);
	assert_int_equal(de_utf8_seq_len(overlong, 2), 0);
	assert_int_equal(de_utf8_seq_len(surrogate, 3), 0);
	assert_int_equal(de_utf8_seq_len(too_big, 4), 0);
	assert_int_equal(de_utf8_seq_len(cut, 2), 0);
	assert_int_equal(de_utf8_seq_len((const unsigned char *)"\x80", 1), 0);
}

static void test_json_string(void **state)
{
	(void)state;
	struct de_buf b = DE_BUF_INIT;
	assert_string_equal(json(&b, "plain", 5), "\"plain\"");
	assert_string_equal(json(&b, "a\"b\\c", 5), "\"a\\\"b\\\\c\"");
	assert_string_equal(json(&b, "l1\nl2\tx\r", 8), "\"l1\\nl2\\tx\\r\"");
	assert_string_equal(json(&b, "\x1b[31m", 5), "\"\\u001b[31m\"");
	assert_string_equal(json(&b, "a\0b", 3), "\"a\\u0000b\"");
	assert_string_equal(json(&b, "\x7f", 1), "\"\\u007f\"");
	assert_string_equal(json(&b, "caf\xc3\xa9", 5), "\"caf\xc3\xa9\"");
	/* invalid UTF-8 becomes U+FFFD, one per bad byte */
	assert_string_equal(json(&b, "x\xff\xfey", 4), "\"x\xef\xbf\xbd\xef\xbf\xbdy\"");
	/* C1 control U+009B (CSI) is escaped, not passed to a terminal */
	assert_string_equal(json(&b, "\xc2\x9b", 2), "\"\\u009b\"");
	de_buf_free(&b);
}

static void test_text(void **state)
{
	(void)state;
	struct de_buf b = DE_BUF_INIT;
	assert_string_equal(text(&b, "ls -la", 6), "ls -la");
	assert_string_equal(text(&b, "a\nb", 3), "a\\nb");
	assert_string_equal(text(&b, "\x1b]0;pwned\x07", 10), "\\e]0;pwned\\x07");
	assert_string_equal(text(&b, "back\\slash", 10), "back\\\\slash");
	assert_string_equal(text(&b, "\xff", 1), "\\xff");
	assert_string_equal(text(&b, "\xc2\x9b", 2), "\\xc2\\x9b");
	assert_string_equal(text(&b, "\xe2\x9c\x93", 3), "\xe2\x9c\x93");
	assert_string_equal(text(&b, "nul\0x", 5), "nul\\x00x");
	assert_int_equal(de_emit_text_width("a\nb", 3), 4);
	assert_int_equal(de_emit_text_width("\xe2\x9c\x93", 3), 1);
	assert_int_equal(de_emit_text_width("\xff", 1), 4);
	/* width agrees with the escaped output for every single byte */
	for (int c = 0; c < 256; c++) {
		char s[1] = { (char)c };
		text(&b, s, 1);
		assert_int_equal(de_emit_text_width(s, 1), b.len);
	}
	de_buf_free(&b);
}

static void test_csv(void **state)
{
	(void)state;
	struct de_buf b = DE_BUF_INIT;
	assert_string_equal(csv(&b, "simple"), "simple");
	assert_string_equal(csv(&b, "a,b"), "\"a,b\"");
	assert_string_equal(csv(&b, "say \"hi\""), "\"say \"\"hi\"\"\"");
	assert_string_equal(csv(&b, "two\nlines"), "two\\nlines");
	assert_string_equal(csv(&b, "=cmd|' /C calc'!A0"), "\"'=cmd|' /C calc'!A0\"");
	assert_string_equal(csv(&b, ""), "\"\"");
	de_buf_free(&b);
}

static void test_json_writer(void **state)
{
	(void)state;
	struct de_buf b = DE_BUF_INIT;
	struct de_json j;
	de_json_init(&j, &b);
	de_json_obj_begin(&j);
	de_json_key(&j, "a");
	de_json_int(&j, -5);
	de_json_key(&j, "list");
	de_json_arr_begin(&j);
	de_json_uint(&j, 1);
	de_json_cstr(&j, NULL);
	de_json_bool(&j, true);
	de_json_obj_begin(&j);
	de_json_obj_end(&j);
	de_json_arr_end(&j);
	de_json_key(&j, "s");
	de_json_str(&j, "x\"y", 3);
	de_json_obj_end(&j);
	assert_string_equal(de_buf_str(&b), "{\"a\":-5,\"list\":[1,null,true,{}],\"s\":\"x\\\"y\"}");
	de_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_json_writer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

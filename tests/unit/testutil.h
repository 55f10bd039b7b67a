/* testutil.h: helpers shared by the unit tests (not part of libdaemoneye).
 *
 * A tiny field reader for trusted test-vector JSON files: it finds
 * `"name": value` after a position, which is enough for the fixed files in
 * $DE_TESTDATA and nothing else (no escapes, no nesting awareness). Every
 * helper fails the current cmocka test on malformed input instead of
 * returning an error.
 */
#ifndef DE_TESTUTIL_H
#define DE_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The whole file, NUL-terminated (free() it); fails the test when missing. */
char *tu_slurp(const char *path, size_t *len);

/* First character of the value of `"name":` found in [p, end), or NULL. */
const char *tu_json_field(const char *p, const char *end, const char *name);
/* A string value (no escapes): pointer to its first byte and its length;
 * the field must exist. */
const char *tu_json_str(const char *p, const char *end, const char *name, size_t *len);
/* An unsigned integer or boolean value; the field must exist. */
uint64_t tu_json_u64(const char *p, const char *end, const char *name);
bool tu_json_bool(const char *p, const char *end, const char *name);

/* Decode n hex digits (n even) into out[cap]; returns the byte count. */
size_t tu_unhex(const char *hex, size_t n, uint8_t *out, size_t cap);
/* Decode standard base64 (with '=' padding) of n chars into out[cap];
 * returns the byte count. */
size_t tu_unbase64(const char *s, size_t n, uint8_t *out, size_t cap);

/* Call fn(path, arg) for every regular file under dir whose name ends in
 * `suffix`, recursively, in sorted order; returns how many. */
unsigned tu_walk(const char *dir, const char *suffix, void (*fn)(const char *path, void *arg),
		 void *arg);

/* $DE_TESTDATA/rel into buf (fails the test when DE_TESTDATA is unset). */
const char *tu_testdata(const char *rel, char *buf, size_t cap);

#endif

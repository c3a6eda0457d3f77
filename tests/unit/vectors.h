#ifndef ZK_TEST_VECTORS_H
#define ZK_TEST_VECTORS_H

/*
 * Reading the official test vectors in tests/vectors/ (ZK_VECTORS): a JSON file, its string fields, hex. Include
 * after <cmocka.h>; a missing file or field fails the test that asked for it.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tests/vectors/<dir>/<name>, parsed. */
static inline json_t *vec_load(const char *dir, const char *name)
{
	char path[4096];
	json_error_t err;
	snprintf(path, sizeof path, "%s/%s/%s", ZK_VECTORS, dir, name);
	json_t *j = json_load_file(path, 0, &err);
	if (!j)
		fail_msg("%s: %s (line %d)", path, err.text, err.line);
	return j;
}

static inline const char *vec_str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	if (!s)
		fail_msg("missing string field %s", key);
	return s;
}

/* Hex to a malloc'd buffer (never NULL, even for ""); returns its length. */
static inline size_t vec_unhex(unsigned char **out, const char *hex)
{
	size_t max = strlen(hex) / 2 + 1;
	unsigned char *b = malloc(max);
	size_t n = 0;
	assert_non_null(b);
	assert_int_equal(sodium_hex2bin(b, max, hex, strlen(hex), NULL, &n, NULL), 0);
	*out = b;
	return n;
}

#endif

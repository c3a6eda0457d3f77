/* libFuzzer target for POST /import bodies: the body is parsed as body_object() does, the "vault" envelope goes
   through validate_import_envelope() (native check, or the OCMT check) and validate_export_envelope(), and every
   string in the document goes through the decoders an import applies to its fields: zk_b64_decode (blobs),
   zk_b64_decode_exact (vault_id), zk_hex_decode_exact and zk_parse_iso8601. Bodies that are not JSON objects
   feed the decoders directly. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/mem.h"
#include "vaultd/validate.h"

#define MAX_STRINGS 512 /* decoded per input, to keep each run short */

ZK_FUZZ_INIT_MEM()

static void check_b64_exact(const char *s, size_t expected, int decoded, size_t n)
{
	unsigned char out[32];
	int rc = zk_b64_decode_exact(out, expected, s);
	/* Exactly when the general decoder accepts it with that length. */
	CHECK((rc == 0) == (decoded == 0 && n == expected));
}

static void check_hex_exact(const char *s, size_t expected)
{
	unsigned char out[32];
	if (zk_hex_decode_exact(out, expected, s) != 0)
		return;
	char *back = zk_hex_dup(out, expected);
	CHECK(back && strcasecmp(back, s) == 0);
	free(back);
}

static void decode_string(const char *s)
{
	unsigned char *buf = NULL;
	size_t n = 0;
	int rc = zk_b64_decode(&buf, &n, s);
	if (rc == 0) {
		/* Strict base64: each byte string has exactly one accepted encoding. */
		char *back = zk_b64_dup(buf, n);
		CHECK(back && strcmp(back, s) == 0);
		free(back);
	}
	check_b64_exact(s, ZK_VAULT_ID_BYTES, rc, n);
	check_b64_exact(s, 32, rc, n);
	if (rc == 0)
		free(buf);
	check_hex_exact(s, ZK_VAULT_ID_BYTES);
	check_hex_exact(s, 32);

	int64_t ms;
	if (zk_parse_iso8601(&ms, s) == 0 && ms >= 0 && ms < 253402300800000LL) {
		/* Within years 1970..9999 our own rendering parses back to the same instant. */
		char iso[ZK_ISO8601_MAX];
		int64_t again;
		zk_iso8601(iso, ms);
		CHECK(zk_parse_iso8601(&again, iso) == 0 && again == ms);
	}
}

static void walk(const json_t *j, int *budget)
{
	const char *k;
	json_t *x;
	size_t i;

	if (*budget <= 0)
		return;
	switch (json_typeof(j)) {
	case JSON_STRING:
		(*budget)--;
		decode_string(json_string_value(j));
		break;
	case JSON_ARRAY:
		json_array_foreach(j, i, x)
			walk(x, budget);
		break;
	case JSON_OBJECT:
		json_object_foreach((json_t *)j, k, x) {
			(*budget)--;
			decode_string(k);
			walk(x, budget);
		}
		break;
	default:
		break;
	}
}

static void check_envelope(const json_t *env)
{
	char err[160];
	bool ocmt = true;

	memset(err, 'x', sizeof(err));
	const char *p = validate_import_envelope(env, &ocmt, err, sizeof(err));
	if (p) {
		CHECK(p[0] != '\0');
		if (p == err)
			CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	} else {
		CHECK(json_is_object(env));
		if (!ocmt) {
			/* What handle_import and import_apply then rely on. */
			unsigned char id[ZK_VAULT_ID_BYTES];
			json_t *meta = json_object_get(env, "meta");
			CHECK(!strcmp(json_string_value(json_object_get(env, "format")), EXPORT_FORMAT));
			CHECK(zk_b64_decode_exact(id, sizeof(id), json_string_value(json_object_get(meta, "vault_id"))) ==
			      0);
			CHECK(json_integer_value(json_object_get(env, "revision")) >= 0);
			CHECK(json_array_size(json_object_get(env, "wrappers")) > 0);
		}
	}
	/* Pure: a second run agrees. */
	bool ocmt2;
	char err2[160];
	const char *p2 = validate_import_envelope(env, &ocmt2, err2, sizeof(err2));
	CHECK((p == NULL) == (p2 == NULL) && ocmt == ocmt2 && (!p || strcmp(p, p2) == 0));
	const char *q = validate_export_envelope(env);
	CHECK(!q || q[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = NULL;
	char details[96];
	if (validate_parse_body(&body, data, size, details, sizeof(details)) != NULL) {
		char *s = malloc(size + 1);
		if (!s)
			return 0;
		memcpy(s, data, size);
		s[size] = '\0';
		decode_string(s);
		free(s);
		return 0;
	}
	check_envelope(json_object_get(body, "vault"));
	check_envelope(body);
	int budget = MAX_STRINGS;
	walk(body, &budget);
	json_decref(body);
	return 0;
}

/* libFuzzer target for the request body validation of the vaultd routes (src/vaultd/validate.h). The input is a
   request body: it is parsed exactly as body_object() does (validate_parse_body) and every route's validator
   runs on the result, as does the URL parameter checks on the raw input. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lib/mem.h"
#include "vaultd/validate.h"
#include "vaultd/vaultd.h"

ZK_FUZZ_INIT_MEM()

/* A problem is a non-empty NUL-terminated string; when it is the caller's buffer it fits in it. */
static void check_problem(const char *p, const char *buf, size_t n)
{
	if (!p)
		return;
	CHECK(p[0] != '\0');
	if (p == buf)
		CHECK(memchr(buf, '\0', n) != NULL);
}

static void check_string_arg(const char *s)
{
	const char *problem = secret_name_problem(s);
	size_t n = strlen(s);
	if (!problem) {
		CHECK(n >= 1 && n <= VAULTD_NAME_MAX);
		CHECK(strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n);
	}
	if (valid_uuid(s)) {
		CHECK(n == 36);
		CHECK(s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-');
	}
}

static void run_validators(const json_t *b)
{
	char details[160], err[160];
	unsigned perms = 0xdead;
	int64_t ttl = -7;
	bool ocmt;
	const char *p;

	check_problem(validate_init_body(b), NULL, 0);
	check_problem(validate_unlock_body(b), NULL, 0);
	check_problem(validate_lock_body(b), NULL, 0);
	check_problem(validate_revoke_body(b), NULL, 0);
	check_problem(validate_secret_body(b), NULL, 0);

	memset(details, 'x', sizeof(details));
	p = validate_issue_body(b, &perms, &ttl, details, sizeof(details));
	check_problem(p, details, sizeof(details));
	if (!p) {
		/* What the token is then issued with. */
		CHECK((perms & ~(unsigned)(PERM_READ | PERM_WRITE | PERM_DELETE | PERM_USE | PERM_ADMIN)) == 0);
		CHECK(ttl >= TOKEN_TTL_MIN && ttl <= TOKEN_TTL_MAX);
		CHECK(valid_uuid(json_string_value(json_object_get(b, "userId"))));
		json_t *allowed = json_object_get(b, "allowedSecrets");
		if (allowed)
			CHECK(json_array_size(allowed) >= 1 && json_array_size(allowed) <= CLAIMS_MAX_PATTERNS);
	}

	/* POST /import: the "vault" member, and the body itself as an envelope. */
	memset(err, 'x', sizeof(err));
	p = validate_import_envelope(json_object_get(b, "vault"), &ocmt, err, sizeof(err));
	check_problem(p, err, sizeof(err));
	check_problem(validate_export_envelope(b), NULL, 0);
	p = validate_import_envelope(b, &ocmt, err, sizeof(err));
	check_problem(p, err, sizeof(err));
	if (!p && !ocmt)
		CHECK(validate_export_envelope(b) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* URL parameters (:key, :userId) are C strings from the same untrusted request. */
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_string_arg(s);
	free(s);

	json_t *b = NULL;
	char details[96];
	memset(details, 'x', sizeof(details));
	const char *what = validate_parse_body(&b, data, size, details, sizeof(details));
	if (what) {
		/* Rejected: an error title, NUL-terminated details, and nothing handed back. */
		CHECK(b == NULL && what[0] != '\0' && memchr(details, '\0', sizeof(details)) != NULL);
		return 0;
	}
	CHECK(json_is_object(b));
	run_validators(b);
	/* The validators neither depend on nor change the body: a second run gives the same answers. */
	unsigned perms1, perms2;
	int64_t ttl1, ttl2;
	char d1[160], d2[160];
	const char *p1 = validate_issue_body(b, &perms1, &ttl1, d1, sizeof(d1));
	const char *p2 = validate_issue_body(b, &perms2, &ttl2, d2, sizeof(d2));
	CHECK((p1 == NULL) == (p2 == NULL));
	if (p1)
		CHECK(strcmp(p1, p2) == 0);
	else
		CHECK(perms1 == perms2 && ttl1 == ttl2);
	CHECK(validate_unlock_body(b) == validate_unlock_body(b));
	CHECK(validate_secret_body(b) == validate_secret_body(b));
	json_decref(b);
	return 0;
}

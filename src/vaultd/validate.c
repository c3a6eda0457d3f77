#include "vaultd/validate.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/ocmt.h"
#include "vaultd/tokens.h"

const char *const export_table_keys[EXPORT_NTABLES] = { "wrappers", "records", "audit", "checkpoints",
							 "tokens", "revocations", "subjects" };

const char *validate_parse_body(json_t **out, const unsigned char *body, size_t len, char *details, size_t n)
{
	json_error_t e;
	size_t i = 0;

	while (i < len && isspace(body[i]))
		i++;
	if (i == len) {
		*out = json_object();
		return NULL;
	}
	json_t *o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &e);
	if (!o) {
		/* Only the position: jansson's own text can quote the input, which may hold a secret. */
		snprintf(details, n, "Malformed JSON at line %d column %d", e.line, e.column);
		return "Invalid JSON";
	}
	if (!json_is_object(o)) {
		json_decref(o);
		snprintf(details, n, "Expected object");
		return "Invalid request body";
	}
	*out = o;
	return NULL;
}

bool valid_uuid(const char *s)
{
	static const int groups[] = { 8, 4, 4, 4, 12 };
	if (!s)
		return false;
	for (int g = 0; g < 5; g++) {
		for (int i = 0; i < groups[g]; i++, s++)
			if (!isxdigit((unsigned char)*s))
				return false;
		if (g < 4 && *s++ != '-')
			return false;
	}
	return *s == '\0';
}

const char *secret_name_problem(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0)
		return "Secret key is required";
	if (n > VAULTD_NAME_MAX)
		return "Secret key must be less than 255 characters";
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return "Secret key must contain only letters, numbers, underscores, dots, and hyphens";
	return NULL;
}

const char *validate_init_body(const json_t *b)
{
	json_t *pw = json_object_get(b, "password");
	if (!json_is_string(pw))
		return "password: Required";
	if (json_string_length(pw) < 16)
		return "password: Vault password must be at least 16 characters";
	return NULL;
}

const char *validate_unlock_body(const json_t *b)
{
	json_t *pw = json_object_get(b, "password"), *uid = json_object_get(b, "userId");
	if (!json_is_string(pw) || json_string_length(pw) == 0)
		return json_is_string(pw) ? "password: Password is required" : "password: Required";
	if (uid && !valid_uuid(json_string_value(uid)))
		return "userId: Invalid UUID format";
	return NULL;
}

const char *validate_lock_body(const json_t *b)
{
	json_t *uid = json_object_get(b, "userId");
	if (uid && !valid_uuid(json_string_value(uid)))
		return "userId: Invalid UUID format";
	return NULL;
}

const char *validate_issue_body(const json_t *b, unsigned *perms, int64_t *ttl, char *details, size_t n)
{
	json_t *uid = json_object_get(b, "userId"), *allowed = json_object_get(b, "allowedSecrets");
	json_t *pa = json_object_get(b, "permissions"), *ttlj = json_object_get(b, "ttlSeconds"), *x;
	size_t i;

	if (!uid)
		return "userId: Required";
	if (!valid_uuid(json_string_value(uid)))
		return "userId: Invalid UUID format";
	if (allowed) {
		if (!json_is_array(allowed))
			return "allowedSecrets: Expected array";
		if (!json_array_size(allowed))
			return "allowedSecrets: At least one secret pattern required";
		if (json_array_size(allowed) > CLAIMS_MAX_PATTERNS)
			return "allowedSecrets: Too many patterns (at most 64)";
		size_t total = 0;
		json_array_foreach(allowed, i, x) {
			const char *p = json_string_value(x);
			size_t len = p ? strlen(p) : 0;
			/* What the verifier keeps per token (struct claims): a token must never be issued that it refuses. */
			total += len + 1;
			if (total > CLAIMS_PATTERN_BYTES) {
				snprintf(details, n, "allowedSecrets: Too long (at most %d bytes of patterns in all)",
					 CLAIMS_PATTERN_BYTES);
				return details;
			}
			if (!p) {
				snprintf(details, n, "allowedSecrets.%zu: Expected string", i);
				return details;
			}
			/* A name, "*", or a name prefix ending in "*". */
			char name[VAULTD_NAME_MAX + 2];
			snprintf(name, sizeof(name), "%.*s", (int)(len && p[len - 1] == '*' ? len - 1 : len), p);
			/* The personal namespaces (src/vaultd/personal.h) are named explicitly: "integration:*",
			   "integration:github", "transcript:*"; the rest follows the secret-name rules. */
			const char *rest = name;
			if (!strncmp(name, "integration:", 12) || !strncmp(name, "transcript:", 11))
				rest = strchr(name, ':') + 1;
			bool bad = rest != name ? (*rest ? secret_name_problem(rest) != NULL : p[len - 1] != '*')
						: secret_name_problem(name) != NULL;
			if (len > VAULTD_NAME_MAX || (strcmp(p, "*") && bad)) {
				snprintf(details, n, "allowedSecrets.%zu: Expected a secret name, \"*\" or a prefix ending in \"*\"", i);
				return details;
			}
		}
	}
	*perms = 0;
	if (pa) {
		if (!json_is_array(pa))
			return "permissions: Expected array";
		json_array_foreach(pa, i, x) {
			unsigned p = json_is_string(x) ? perm_parse(json_string_value(x)) : 0;
			if (!p) {
				snprintf(details, n,
					 "permissions.%zu: Invalid enum value. Expected 'read' | 'write' | 'delete' | 'use' | "
					 "'admin'", i);
				return details;
			}
			*perms |= p;
		}
	} else {
		*perms = PERM_READ;
	}
	*ttl = TOKEN_TTL_DEFAULT;
	if (ttlj) {
		if (!json_is_integer(ttlj))
			return json_is_real(ttlj) ? "ttlSeconds: TTL must be a whole number" : "ttlSeconds: Expected number";
		*ttl = json_integer_value(ttlj);
		if (*ttl < TOKEN_TTL_MIN)
			return "ttlSeconds: TTL must be at least 60 seconds";
		if (*ttl > TOKEN_TTL_MAX)
			return "ttlSeconds: TTL cannot exceed 30 days";
	}
	return NULL;
}

const char *validate_revoke_body(const json_t *b)
{
	json_t *by = json_object_get(b, "revokedBy"), *reason = json_object_get(b, "reason");
	if (by && !valid_uuid(json_string_value(by)))
		return "revokedBy: Invalid UUID format";
	if (reason && !json_is_string(reason))
		return "reason: Expected string";
	if (reason && json_string_length(reason) > 500)
		return "reason: String must contain at most 500 character(s)";
	return NULL;
}

const char *validate_secret_body(const json_t *b)
{
	json_t *value = json_object_get(b, "value"), *meta = json_object_get(b, "metadata");
	if (!json_is_string(value))
		return value ? "value: Expected string" : "value: Required";
	if (!json_string_length(value))
		return "value: Value is required";
	if (meta && !json_is_object(meta))
		return "metadata: Expected object";
	return NULL;
}

const char *validate_export_envelope(const json_t *env)
{
	json_t *meta = json_object_get(env, "meta");
	unsigned char id[ZK_VAULT_ID_BYTES];
	if (json_integer_value(json_object_get(env, "version")) != EXPORT_VERSION)
		return "unsupported export version";
	if (!json_is_object(meta))
		return "meta: Required";
	if (zk_b64_decode_exact(id, sizeof(id), json_string_value(json_object_get(meta, "vault_id"))) != 0)
		return "meta.vault_id: Expected 16 bytes of base64";
	if (!json_is_integer(json_object_get(env, "revision")) || json_integer_value(json_object_get(env, "revision")) < 0)
		return "revision: Expected a non-negative integer";
	for (size_t t = 0; t < EXPORT_NTABLES; t++)
		if (!json_is_array(json_object_get(env, export_table_keys[t])))
			return "missing table";
	if (json_array_size(json_object_get(env, "wrappers")) == 0)
		return "wrappers: At least one wrapper required";
	return NULL;
}

const char *validate_import_envelope(const json_t *env, bool *ocmt, char *err, size_t n)
{
	const char *format = json_string_value(json_object_get(env, "format"));
	*ocmt = false;
	if (!json_is_object(env) || !format)
		return "vault: Expected an export envelope";
	if (!strcmp(format, ZK_OCMT_FORMAT)) {
		*ocmt = true;
		if (zk_ocmt_check(env, err, n) != 0)
			return err && n ? err : "Invalid OCMT envelope";
		return NULL;
	}
	if (!strcmp(format, EXPORT_FORMAT))
		return validate_export_envelope(env);
	return "vault.format: Expected \"zkvault-export\" or \"ocmt-group-vault\"";
}

/* zkvault token issue | revoke | revoke-user: capability tokens. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "cli/cli.h"
#include "lib/mem.h"

#define TTL_MAX_SECONDS (10LL * 365 * 86400)

static const struct cli_option issue_options[] = {
	{ "user", 0, "UUID", "the user or agent the token is for (required)", NULL },
	{ "allow", 0, "NAME", "a secret it may use: a name, a prefix ending in '*', or '*' (repeatable; "
			      "default '*')", NULL },
	{ "perm", 0, "PERM", "read, write, delete or use (repeatable or comma-separated; default read)",
	  "read write delete use" },
	{ "ttl", 0, "TIME", "lifetime: seconds, or like 30m, 1h, 7d (default 1h; 60s to 30d)", NULL },
	{ 0 },
};

static const struct cli_spec issue_spec = {
	.name = "token issue",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = issue_options,
	.summary = "Issue a capability token and print it (only the token, for TOKEN=$(...)); --json\n"
		   "prints the token, its id and its lifetime. The vault must be unlocked.",
	.examples = "  zkvault token issue --user 3f0c...e1 --allow 'ci.*' --perm read --ttl 30m\n"
		    "  export ZKVAULT_TOKEN=$(zkvault token issue --user \"$AGENT\" --perm read,write)\n",
};

static const struct cli_option revoke_options[] = {
	{ "reason", 0, "TEXT", "why, for the audit log", NULL },
	{ "by", 0, "UUID", "who revokes, for the audit log", NULL },
	{ 0 },
};

static const struct cli_spec revoke_spec = {
	.name = "token revoke",
	.operands = "ID|TOKEN",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = revoke_options,
	.summary = "Revoke one token, named by its id (32 hex digits, from 'token issue --json') or given\n"
		   "whole (its id is read from it). Revocation survives restarts.",
};

static const struct cli_spec revoke_user_spec = {
	.name = "token revoke-user",
	.operands = "UUID",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = revoke_options,
	.summary = "Revoke every token issued so far to user UUID, including ones this vault process never\n"
		   "saw; tokens issued afterwards are valid.",
};

static const struct cli_spec *const token_subcommands[] = { &issue_spec, &revoke_spec, &revoke_user_spec, NULL };

const struct cli_spec cli_token_spec = {
	.name = "token",
	.operands = "",
	.summary = "Issue and revoke capability tokens (management token needed).",
	.subcommands = token_subcommands,
};

/* "90", "90s", "30m", "1h30m", "7d" -> seconds; -1 if malformed. */
static long long parse_ttl(const char *s)
{
	long long total = 0;
	if (!*s)
		return -1;
	while (*s) {
		long long n = 0;
		if (*s < '0' || *s > '9')
			return -1;
		for (; *s >= '0' && *s <= '9'; s++) {
			n = n * 10 + (*s - '0');
			if (n > TTL_MAX_SECONDS)
				return -1;
		}
		switch (*s) {
		case 'd': n *= 86400; s++; break;
		case 'h': n *= 3600; s++; break;
		case 'm': n *= 60; s++; break;
		case 's': s++; break;
		case '\0': break;
		default: return -1;
		}
		total += n;
		if (total > TTL_MAX_SECONDS)
			return -1;
	}
	return total;
}

static int add_permissions(struct cli *c, json_t *perms, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	int rc = copy ? CLI_OK : cli_error("out of memory");
	for (char *p = copy ? strtok_r(copy, ",", &save) : NULL; p && rc == CLI_OK; p = strtok_r(NULL, ",", &save)) {
		if (strcmp(p, "read") && strcmp(p, "write") && strcmp(p, "delete") && strcmp(p, "use"))
			rc = cli_usage_error(c, "unknown permission '%s' (read, write, delete or use)", p);
		else
			json_array_append_new(perms, json_string(p));
	}
	free(copy);
	return rc;
}

static int issue_body(struct cli *c, json_t **body)
{
	const char *user = cli_opt(c, "user"), *ttl = cli_opt(c, "ttl"), *v;
	json_t *allow = json_array(), *perms = json_array();
	size_t pos = 0;
	int rc = CLI_OK;

	if (!user)
		rc = cli_usage_error(c, "--user UUID is required");
	while (rc == CLI_OK && (v = cli_opt_next(c, "allow", &pos)))
		json_array_append_new(allow, json_string(v));
	for (pos = 0; rc == CLI_OK && (v = cli_opt_next(c, "perm", &pos));)
		rc = add_permissions(c, perms, v);
	long long seconds = ttl ? parse_ttl(ttl) : 0;
	if (rc == CLI_OK && seconds < 0)
		rc = cli_usage_error(c, "--ttl expects seconds or a time like 30m, 1h, 7d");
	if (rc == CLI_OK) {
		*body = json_pack("{ss}", "userId", user);
		if (json_array_size(allow))
			json_object_set(*body, "allowedSecrets", allow);
		if (json_array_size(perms))
			json_object_set(*body, "permissions", perms);
		if (ttl)
			json_object_set_new(*body, "ttlSeconds", json_integer(seconds));
	}
	json_decref(allow);
	json_decref(perms);
	return rc;
}

static int token_issue(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *body = NULL;
	char left[32];
	int rc = cli_begin(&c, &issue_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = issue_body(&c, &body)) == CLI_OK)
		rc = cli_request(&c, "POST", "/tokens", body, &out);
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		json_t *token = json_object_get(out, "token");
		rc = json_is_string(token) ? cli_write_stdout(json_string_value(token), json_string_length(token))
					   : cli_error("the vault's answer has no token");
		if (rc == CLI_OK)
			rc = cli_write_stdout("\n", 1);
		if (rc == CLI_OK && isatty(STDERR_FILENO)) {
			cli_duration(left, sizeof(left), json_integer_value(json_object_get(out, "expiresIn")));
			fprintf(stderr, "Token id %s, valid for %s.\n", cli_str(out, "id"), left);
		}
	}
	json_decref(body);
	json_decref(out);
	cli_end(&c);
	return rc;
}

/* A PASETO v4.public token carries its claims in clear: payload = claims || 64-byte signature. */
static int token_id_from_token(const char *token, char id[33])
{
	static const char prefix[] = "v4.public.";
	const char *b64 = token + sizeof(prefix) - 1, *end;
	size_t max, len;
	int rc = -1;

	if (strncmp(token, prefix, sizeof(prefix) - 1))
		return -1;
	end = strchr(b64, '.');
	max = (end ? (size_t)(end - b64) : strlen(b64)) * 3 / 4 + 1;
	unsigned char *raw = zk_wipe_malloc(max);
	if (raw && zk_base642bin(raw, max, b64, end ? (size_t)(end - b64) : strlen(b64), &len, NULL,
				     sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 && len > 64) {
		json_t *claims = json_loadb((const char *)raw, len - 64, 0, NULL);
		const char *jti = json_string_value(json_object_get(claims, "jti"));
		if (jti && strlen(jti) == 32) {
			memcpy(id, jti, 33);
			rc = 0;
		}
		json_decref(claims);
	}
	zk_wipe_free(raw);
	return rc;
}

static json_t *revoke_body(struct cli *c)
{
	json_t *body = json_object();
	if (body && cli_opt(c, "reason"))
		json_object_set_new(body, "reason", json_string(cli_opt(c, "reason")));
	if (body && cli_opt(c, "by"))
		json_object_set_new(body, "revokedBy", json_string(cli_opt(c, "by")));
	return body;
}

static int token_revoke(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *body;
	char id[33], *path = NULL;
	int rc = cli_begin(&c, &revoke_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	/* A whole token names itself; anything else is passed on as an id for the vault to check. */
	if (!strncmp(c.args[0], "v4.public.", 10)) {
		if (token_id_from_token(c.args[0], id) != 0) {
			rc = cli_usage_error(&c, "cannot read the token id from this token");
			goto out;
		}
	} else if (strlen(c.args[0]) < sizeof(id)) {
		snprintf(id, sizeof(id), "%s", c.args[0]);
	} else {
		rc = cli_usage_error(&c, "expects a token id (32 hex digits) or a v4.public token");
		goto out;
	}
	body = revoke_body(&c);
	if (!(path = cli_path(&c, "/tokens/", id, NULL)) || !body)
		rc = cli_error("out of memory");
	else
		rc = cli_request(&c, "DELETE", path, body, &out);
	json_decref(body);
	if (rc == CLI_OK && c.json)
		rc = cli_print_json(out);
	else if (rc == CLI_OK)
		printf("Revoked token %s.\n", id);
out:
	free(path);
	json_decref(out);
	cli_end(&c);
	return rc;
}

static int token_revoke_user(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *body;
	char *path = NULL;
	int rc = cli_begin(&c, &revoke_user_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	body = revoke_body(&c);
	if (!(path = cli_path(&c, "/tokens/user/", c.args[0], NULL)) || !body)
		rc = cli_error("out of memory");
	else
		rc = cli_request(&c, "DELETE", path, body, &out);
	json_decref(body);
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		json_int_t n = json_integer_value(json_object_get(json_object_get(out, "revokedCount"), "db"));
		printf("Revoked every token of user %s (%lld live).\n", c.args[0], (long long)n);
	}
	free(path);
	json_decref(out);
	cli_end(&c);
	return rc;
}

int cli_token(int argc, char *argv[])
{
	static int (*const fns[])(int, char *[]) = { token_issue, token_revoke, token_revoke_user };
	return cli_dispatch(&cli_token_spec, fns, argc, argv);
}

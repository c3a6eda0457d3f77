/* zkvault token issue | attenuate | revoke | revoke-user: capability tokens. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/tokenchain.h"

#define TTL_MAX_SECONDS (10LL * 365 * 86400)

static const struct cli_option issue_options[] = {
	{ "user", 0, "UUID", "the user or agent the token is for (required)", NULL },
	{ "allow", 0, "NAME", "a secret it may use: a name, a prefix ending in '*', or '*' (repeatable; "
			      "default '*')", NULL },
	{ "perm", 0, "PERM", "read, write, delete or use (repeatable or comma-separated; default read)",
	  "read write delete use" },
	{ "ttl", 0, "TIME", "lifetime: seconds, or like 30m, 1h, 7d (default 1h; 60s to 30d)", NULL },
	{ "aud", 0, "ID", "only for agent ID: requests must send X-Agent-Id: ID (see --agent-id)", NULL },
	{ 0 },
};

static const struct cli_spec issue_spec = {
	.name = "token issue",
	.brief = "issue a capability token (management token, vault unlocked)",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = issue_options,
	.summary = "Issue a capability token and print it (only the token, for TOKEN=$(...)); --json\n"
		   "prints the token, its id and its lifetime. The vault must be unlocked.",
	.examples = "  zkvault token issue --user 3f0c...e1 --allow 'ci.*' --perm read --ttl 30m\n"
		    "  export ZKVAULT_TOKEN=$(zkvault token issue --user \"$AGENT\" --perm read,write)\n",
};

static const struct cli_option attenuate_options[] = {
	{ "allow", 0, "NAME", "keep only these secrets: names or prefixes ending in '*' (repeatable)", NULL },
	{ "perm", 0, "PERM", "keep only these permissions (repeatable or comma-separated)", "read write delete use" },
	{ "ttl", 0, "TIME", "expire within TIME from now (never later than the token does)", NULL },
	{ "aud", 0, "ID", "only for agent ID (requests must send X-Agent-Id: ID)", NULL },
	{ "max-uses", 0, "N", "at most N secret requests", NULL },
	{ 0 },
};

static const struct cli_spec attenuate_spec = {
	.name = "token attenuate",
	.brief = "derive a narrower token offline from the capability token",
	.operands = "",
	.flags = CLI_CAP | CLI_JSON,
	.options = attenuate_options,
	.summary = "Derive a narrower token from the capability token (ZKVAULT_TOKEN or --token-file) offline,\n"
		   "without the vault or its management token: fewer secrets or permissions, an earlier expiry,\n"
		   "an audience, a use limit. What is not given is kept. Prints the new token; the vault refuses\n"
		   "any token whose blocks widen their parent, and revoking the parent revokes it.",
	.examples = "  zkvault token attenuate --allow 'ci.deploy-key' --perm read --ttl 10m --max-uses 1\n",
};

static const struct cli_option revoke_options[] = {
	{ "reason", 0, "TEXT", "why, for the audit log", NULL },
	{ "by", 0, "UUID", "who revokes, for the audit log", NULL },
	{ 0 },
};

static const struct cli_spec revoke_spec = {
	.name = "token revoke",
	.brief = "revoke a token and every token derived from it",
	.operands = "ID|TOKEN",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = revoke_options,
	.summary = "Revoke one token and every token derived from it, named by its id (32 hex digits, from\n"
		   "'token issue --json') or given whole (the vault tells its id). Survives restarts.",
};

static const struct cli_spec revoke_user_spec = {
	.name = "token revoke-user",
	.brief = "revoke every token issued so far to a user",
	.operands = "UUID",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = revoke_options,
	.summary = "Revoke every token issued so far to user UUID, including ones this vault process never\n"
		   "saw; tokens issued afterwards are valid.",
};

/* token_verify.c */
extern const struct cli_spec token_verify_spec;
int token_verify(int argc, char *argv[]);

static const struct cli_spec *const token_subcommands[] = { &issue_spec, &attenuate_spec, &revoke_spec,
							     &revoke_user_spec, &token_verify_spec, NULL };

const struct cli_spec cli_token_spec = {
	.name = "token",
	.operands = "",
	.summary = "Issue and revoke capability tokens (management token needed); attenuate and verify them offline.",
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
		if (cli_opt(c, "aud"))
			json_object_set_new(*body, "aud", json_string(cli_opt(c, "aud")));
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

/* A whole token's own revocation id (its last block's, or its root's id) comes from the vault's introspection. */
static int id_from_token(struct cli *c, const char *token, char id[33])
{
	json_t *body = json_pack("{ss}", "token", token), *out = NULL;
	int rc = body ? cli_request(c, "POST", "/tokens/introspect", body, &out) : cli_error("out of memory");
	json_decref(body);
	if (rc != CLI_OK)
		return rc;
	json_t *rids = json_object_get(out, "revocationIds");
	const char *rid = json_string_value(json_array_get(rids, json_array_size(rids) - 1));
	if (!json_is_true(json_object_get(out, "active")))
		rc = cli_error("this token is not valid now (expired, revoked or not this vault's): nothing to revoke");
	else if (!rid || strlen(rid) != 32)
		rc = cli_error("the vault's introspection has no revocation id");
	else
		memcpy(id, rid, 33);
	json_decref(out);
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

static int parse_chain(const char *token, struct zk_chain **chain, struct zk_caveats *effective)
{
	struct zk_caveats root;
	unsigned char next_pk[32];
	bool has_next = false;
	char *json = NULL;
	size_t len;
	int rc = -1;

	if (zk_chain_parse(chain, token) != 0)
		return cli_error("the capability token is not a zkvault token");
	if (zk_chain_root_payload(&json, &len, *chain) == 0 &&
	    zk_chain_root_caveats(&root, next_pk, &has_next, json, len) == 0 && has_next && (*chain)->has_proof)
		rc = zk_chain_verify(*chain, 0, &root, next_pk, effective);
	free(json);
	if (rc == 0)
		return CLI_OK;
	zk_chain_free(*chain);
	*chain = NULL;
	return cli_error(has_next ? "the capability token's chain does not verify" :
				    "this token cannot be attenuated (it was issued without a key to pass on)");
}

/* What the options ask for, checked before any token is read. */
struct narrowing {
	struct zk_caveats allow; /* its patterns, when has_allow */
	bool has_allow;
	unsigned perms; /* 0: keep */
	long long ttl;  /* 0: keep */
	const char *aud;
	uint32_t max_uses;
};

static int parse_narrowing(struct cli *c, struct narrowing *n)
{
	const char *v, *ttl = cli_opt(c, "ttl"), *uses = cli_opt(c, "max-uses");
	unsigned long long k;
	size_t pos = 0;

	memset(n, 0, sizeof(*n));
	while ((v = cli_opt_next(c, "allow", &pos))) {
		n->has_allow = true;
		if (zk_caveats_add_pattern(&n->allow, v) != 0)
			return cli_usage_error(c, "'%s' is not a secret name, '*' or a prefix ending in '*'", v);
	}
	for (pos = 0; (v = cli_opt_next(c, "perm", &pos));) {
		char *copy = strdup(v), *save = NULL;
		if (!copy)
			return cli_error("out of memory");
		for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
			unsigned bit = zk_chain_perm_parse(p);
			if (!bit || bit == ZK_CHAIN_PERM_ADMIN) {
				cli_usage_error(c, "unknown permission '%s' (read, write, delete or use)", p);
				free(copy);
				return CLI_USAGE;
			}
			n->perms |= bit;
		}
		free(copy);
	}
	if (ttl && (n->ttl = parse_ttl(ttl)) <= 0)
		return cli_usage_error(c, "--ttl expects seconds or a time like 30m, 1h, 7d");
	if ((n->aud = cli_opt(c, "aud")) && !zk_chain_aud_valid(n->aud, strlen(n->aud)))
		return cli_usage_error(c, "--aud '%s' is not a valid agent id", n->aud);
	if (uses) {
		if (cli_parse_number(uses, UINT32_MAX, &k) != 0 || k == 0)
			return cli_usage_error(c, "--max-uses expects a positive whole number");
		n->max_uses = (uint32_t)k;
	}
	return CLI_OK;
}

/* The child: the parent's caveats, narrowed as asked. */
static int narrow(const struct narrowing *n, const struct zk_caveats *parent, struct zk_caveats *child)
{
	*child = *parent;
	if (n->has_allow) {
		child->npatterns = n->allow.npatterns;
		memcpy(child->pattern_off, n->allow.pattern_off, sizeof(child->pattern_off));
		memcpy(child->patterns, n->allow.patterns, sizeof(child->patterns));
	}
	if (n->perms)
		child->perms = n->perms;
	if (n->ttl && zk_now_ms() + n->ttl * 1000 < child->exp_ms)
		child->exp_ms = zk_now_ms() + n->ttl * 1000;
	if (n->aud)
		snprintf(child->aud, sizeof(child->aud), "%s", n->aud);
	if (n->max_uses)
		child->max_uses = n->max_uses;
	if (!zk_caveats_narrows(child, parent))
		return cli_error("the new token would allow more than this one: a token can only be narrowed");
	return CLI_OK;
}

static int token_attenuate(int argc, char *argv[])
{
	struct cli c;
	struct zk_chain *chain = NULL;
	struct zk_caveats parent, child;
	struct narrowing want;
	char *token = NULL, *narrowed = NULL;
	int rc = cli_begin(&c, &attenuate_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = parse_narrowing(&c, &want)) == CLI_OK && (rc = cli_load_token(&c, false, &token)) == CLI_OK &&
	    (rc = parse_chain(token, &chain, &parent)) == CLI_OK && (rc = narrow(&want, &parent, &child)) == CLI_OK &&
	    zk_chain_attenuate(&narrowed, token, &parent, &child) != 0)
		rc = cli_error("cannot attenuate this token (at most %d blocks)", ZK_CHAIN_MAX_BLOCKS);
	if (rc == CLI_OK && c.json) {
		json_t *o = json_pack("{sssi}", "token", narrowed, "depth", chain->nblocks + 1);
		rc = o ? cli_print_json(o) : cli_error("out of memory");
		json_decref(o);
	} else if (rc == CLI_OK) {
		rc = cli_write_stdout(narrowed, strlen(narrowed));
		if (rc == CLI_OK)
			rc = cli_write_stdout("\n", 1);
	}
	if (narrowed) {
		sodium_memzero(narrowed, strlen(narrowed));
		free(narrowed);
	}
	zk_chain_free(chain);
	zk_wipe_str(token);
	sodium_memzero(&parent, sizeof(parent));
	sodium_memzero(&child, sizeof(child));
	cli_end(&c);
	return rc;
}

static int token_revoke(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *body;
	char id[33], *path = NULL;
	int rc = cli_begin(&c, &revoke_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	/* A whole token is introspected; anything else is passed on as an id for the vault to check. */
	if (!strncmp(c.args[0], "v4.", 3)) {
		if ((rc = id_from_token(&c, c.args[0], id)) != CLI_OK)
			goto out;
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
	static int (*const fns[])(int, char *[]) = { token_issue, token_attenuate, token_revoke, token_revoke_user,
						      token_verify };
	return cli_dispatch(&cli_token_spec, fns, argc, argv);
}

/*
 * zkvault threshold setup | status | request | approve | deny: k-of-n unlock of a group vault by its admins
 * (docs/RECOVERY.md §Threshold unlock). An approval opens the admin's sealed share here, with the admin's key,
 * and seals it again to the vault's transport key, bound to the vault and the request: the share never crosses
 * the network in the clear.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/recovery.h"
#include "lib/crypto.h"
#include "lib/mem.h"
#include "lib/shamir.h"

#define SEALED_MAX 4096

/* ---- threshold setup ---- */

static const struct cli_option setup_options[] = {
	{ "k", 'k', "K", "how many admins must approve an unlock (at least 2; required)", NULL },
	{ "admin", 'a', "ID=PUBKEY", "an admin and their X25519 public key from 'zkvault keygen' (repeatable: 2 to 64)",
	  NULL },
	{ "threshold-only", 0, NULL, "make the threshold the only way in: rekeys the vault, removes the password and "
				     "every recovery method", NULL },
	{ "yes", 'y', NULL, "do not ask for confirmation of --threshold-only", NULL },
	{ 0 },
};

static const struct cli_spec setup_spec = {
	.name = "threshold setup",
	.brief = "split an unlock key among admins, k of n",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = setup_options,
	.summary = "Set up threshold unlock: the vault makes a new unlock key and splits it so that any K of the\n"
		   "admins can open the vault together and none alone; each share is sealed to its admin's key and\n"
		   "kept by the vault. Prints each admin's key fingerprint to check against 'zkvault keygen'. A\n"
		   "new setup replaces the old split (a removed admin's share becomes useless) and cancels a\n"
		   "pending request. --threshold-only rekeys the vault so that only the threshold opens it: the\n"
		   "password, recovery phrase, hardware key and social recovery are removed and every token\n"
		   "stops working; it asks for confirmation on the terminal (or --yes). Needs the vault unlocked.",
	.examples = "  zkvault threshold setup -k 2 --admin alice=Hx3...= --admin bob=q9T...= --admin carol=0aZ...=\n",
};

static int threshold_setup(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *body = NULL, *admins, *a;
	unsigned long long k = 0;
	const char *v;
	size_t pos = 0, i;
	int rc = cli_begin(&c, &setup_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	admins = json_array(); /* after cli_begin: jansson allocates through wiped memory from then on */
	bool only = cli_opt(&c, "threshold-only") != NULL;
	rc = CLI_OK;
	if (!cli_opt(&c, "k") || cli_parse_number(cli_opt(&c, "k"), 255, &k) != 0 || k < 2)
		rc = cli_usage_error(&c, "--k K (2 or more) is required");
	while (rc == CLI_OK && (v = cli_opt_next(&c, "admin", &pos)))
		rc = cli_parse_holder(&c, "admin", v, admins);
	if (rc == CLI_OK && json_array_size(admins) < 2)
		rc = cli_usage_error(&c, "give at least two --admin ID=PUBKEY");
	if (rc == CLI_OK && k > json_array_size(admins))
		rc = cli_usage_error(&c, "--k %llu is more than the %zu admins", k, json_array_size(admins));
	if (rc == CLI_OK && only && !cli_opt(&c, "yes")) {
		char question[512];
		snprintf(question, sizeof(question),
			 "Threshold-only: the vault gets a new key that only %llu of these %zu admins together can open.\n"
			 "The password, recovery phrase, hardware key and social recovery are removed, and every\n"
			 "capability token stops working. Nobody can open the vault alone afterwards.",
			 k, json_array_size(admins));
		rc = cli_confirm(&c, question, "--yes");
	}
	if (rc == CLI_OK && !(body = json_pack("{sIsOsb}", "k", (json_int_t)k, "admins", admins, "thresholdOnly", only)))
		rc = cli_error("out of memory");
	if (rc == CLI_OK)
		rc = cli_request(&c, "POST", "/threshold/setup", body, &out);
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		printf("Threshold unlock: any %lld of these %zu admins can unlock the vault together (set %s).\n"
		       "Each admin checks the fingerprint against their own key ('zkvault keygen --from FILE').\n\n",
		       (long long)json_integer_value(json_object_get(out, "k")),
		       json_array_size(json_object_get(out, "admins")), cli_str(out, "setId"));
		json_array_foreach(json_object_get(out, "admins"), i, a)
			printf("  %-24s share %-3lld fingerprint %s\n", cli_str(a, "id"),
			       (long long)json_integer_value(json_object_get(a, "x")), cli_str(a, "fingerprint"));
		if (json_is_true(json_object_get(out, "thresholdOnly"))) {
			printf("\nThe vault was rekeyed: only the threshold opens it now.\n");
			cli_print_rekeyed(out);
		}
	}
	json_decref(body);
	json_decref(admins);
	json_decref(out);
	cli_end(&c);
	return rc;
}

/* ---- threshold status ---- */

static const struct cli_spec status_spec = {
	.name = "threshold status",
	.brief = "the admins, k, and any pending unlock request",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.summary = "Show the threshold set (k, each admin's id and key fingerprint, whether it is the only way\n"
		   "in), whether the vault is unlocked, and the pending unlock request with its approvals.\n"
		   "Exits 4 when threshold unlock is not set up.",
};

static void print_request(const json_t *req)
{
	json_t *who = json_object_get(req, "approvedBy"), *x;
	size_t i;
	printf("request %s by %s: %lld of %lld approvals", cli_str(req, "requestId"), cli_str(req, "requestedBy"),
	       (long long)json_integer_value(json_object_get(req, "approvals")),
	       (long long)json_integer_value(json_object_get(req, "required")));
	json_array_foreach(who, i, x)
		printf("%s%s", i ? ", " : " (", json_string_value(x));
	printf("%s, expires %s\n", json_array_size(who) ? ")" : "", cli_str(req, "expiresAt"));
}

static int threshold_status(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *a;
	size_t i;
	int rc = cli_begin(&c, &status_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request(&c, "GET", "/threshold", NULL, &out);
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		json_t *pending = json_object_get(out, "pending");
		printf("any %lld of %zu admins%s (set %s); the vault is %s\n",
		       (long long)json_integer_value(json_object_get(out, "k")),
		       json_array_size(json_object_get(out, "admins")),
		       json_is_true(json_object_get(out, "thresholdOnly")) ? ", the only way in" : "",
		       cli_str(out, "setId"), json_is_true(json_object_get(out, "unlocked")) ? "unlocked" : "locked");
		json_array_foreach(json_object_get(out, "admins"), i, a)
			printf("  %-24s share %-3lld fingerprint %s\n", cli_str(a, "id"),
			       (long long)json_integer_value(json_object_get(a, "x")), cli_str(a, "fingerprint"));
		if (json_is_object(pending))
			print_request(pending);
		else
			printf("no pending unlock request\n");
	}
	json_decref(out);
	cli_end(&c);
	return rc;
}

/* ---- threshold request ---- */

static const struct cli_option request_options[] = {
	{ "by", 0, "ID", "who asks, for the audit log", NULL },
	{ 0 },
};

static const struct cli_spec request_spec = {
	.name = "threshold request",
	.brief = "ask the admins to unlock the vault; prints the request id",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = request_options,
	.summary = "Open an unlock request and print its id (only the id, for REQ=$(...)); the admins approve\n"
		   "it with 'zkvault threshold approve'. It lives in the vault's memory only, for 15 minutes by\n"
		   "default, one at a time. Exits 1 when the vault is unlocked or a request is pending (its id\n"
		   "is shown).",
	.examples = "  REQ=$(zkvault threshold request --by alice)\n",
};

static int threshold_request(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *body;
	int rc = cli_begin(&c, &request_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	body = json_object();
	if (body && cli_opt(&c, "by"))
		json_object_set_new(body, "requestedBy", json_string(cli_opt(&c, "by")));
	rc = body ? cli_request(&c, "POST", "/threshold/unlock/request", body, &out) : cli_error("out of memory");
	if (rc == CLI_ERROR && c.status == 409 && !strcmp(c.error, "A pending unlock request already exists")) {
		json_t *st = NULL, *pending;
		if (cli_request(&c, "GET", "/threshold", NULL, &st) == CLI_OK &&
		    json_is_object(pending = json_object_get(st, "pending")))
			fprintf(stderr, "zkvault: pending: request %s by %s, %lld of %lld approvals, expires %s\n",
				cli_str(pending, "requestId"), cli_str(pending, "requestedBy"),
				(long long)json_integer_value(json_object_get(pending, "approvals")),
				(long long)json_integer_value(json_object_get(pending, "required")),
				cli_str(pending, "expiresAt"));
		json_decref(st);
	}
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		printf("%s\n", cli_str(out, "requestId"));
		fprintf(stderr, "Unlock request %s: needs %lld admin approvals, until %s.\n", cli_str(out, "requestId"),
			(long long)json_integer_value(json_object_get(out, "required")), cli_str(out, "expiresAt"));
	}
	json_decref(body);
	json_decref(out);
	cli_end(&c);
	return rc;
}

/* ---- threshold approve ---- */

static const struct cli_option approve_options[] = {
	{ "admin", 0, "ID", "your admin id in the threshold set (required)", NULL },
	{ "key", 0, "FILE", "your secret key file, from 'zkvault keygen' (required)", NULL },
	{ "transport-key", 0, "PUBKEY", "pin the vault's transport key (from a copy you trust)", NULL },
	{ "session-file", 0, "FILE", "strict mode: if this approval unlocks the vault, store the vault session in FILE",
	  NULL },
	{ 0 },
};

static const struct cli_spec approve_spec = {
	.name = "threshold approve",
	.brief = "approve an unlock request with your share",
	.operands = "REQUEST_ID",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = approve_options,
	.summary = "Approve an unlock request as an admin: fetches your sealed share from the vault, opens it\n"
		   "here with your secret key, and sends it sealed to the vault's transport key\n"
		   "(/.well-known/zkvault) together with the vault and request ids, so that neither the\n"
		   "network nor a relay can read it or use it for another request. Prints the approvals so\n"
		   "far and whether the vault unlocked (the k-th approval unlocks it). On a vault in strict\n"
		   "mode, --session-file asks for the vault session (sealed to a key made here, inside the\n"
		   "sealed approval) and stores it in FILE when this approval unlocks the vault.",
	.examples = "  zkvault threshold approve \"$REQ\" --admin alice --key ~/.config/zkvault/alice.key\n",
};

/* The admin's share, opened with the admin's key: text in wiped memory, checked against the set and x. */
static int open_admin_share(struct cli *c, const char *admin, const char *keyfile, char **text, json_int_t *x,
			    struct zk_share_info *info)
{
	json_t *out = NULL;
	unsigned char *sk = NULL, pk[32], *box = NULL, *bin = NULL, set_id[16];
	size_t len = 0, size;
	char fp[CLI_FINGERPRINT_MAX], *path = cli_path(c, "/threshold/shares/", admin, NULL);
	enum zk_share_error why = ZK_SHARE_MALFORMED;
	int rc;

	*text = NULL;
	if (!path)
		return cli_error("out of memory");
	if ((rc = cli_load_secret_key(keyfile, &sk, pk)) != CLI_OK || (rc = cli_request(c, "GET", path, NULL, &out)) != CLI_OK)
		goto out;
	*x = json_integer_value(json_object_get(out, "x"));
	if (zk_b64_decode(&box, &len, json_string_value(json_object_get(out, "sealedShare"))) != 0 ||
	    len <= crypto_box_SEALBYTES || len > SEALED_MAX ||
	    zk_hex_decode_exact(set_id, sizeof(set_id), json_string_value(json_object_get(out, "setId"))) != 0) {
		rc = cli_error("the vault's answer holds no sealed share for %s", admin);
		goto out;
	}
	cli_fingerprint(fp, pk);
	*text = zk_wipe_malloc(len - crypto_box_SEALBYTES + 1);
	bin = sodium_malloc(ZK_SHARE_MAX);
	if (!*text || !bin) {
		rc = cli_error("out of memory");
		goto out;
	}
	if (crypto_box_seal_open((unsigned char *)*text, box, len, pk, sk) != 0) {
		rc = cli_error("the key in %s (fingerprint %s) does not open %s's share: wrong key or wrong admin", keyfile,
			       fp, admin);
		goto out;
	}
	(*text)[len - crypto_box_SEALBYTES] = '\0';
	if (strlen(*text) != len - crypto_box_SEALBYTES || zk_share_from_text(bin, &size, *text, &why) != 0 ||
	    zk_share_inspect(info, bin, size, &why) != 0) {
		rc = cli_error("%s's sealed box holds no valid share: %s", admin, zk_share_strerror(why));
		goto out;
	}
	if (memcmp(info->set_id, set_id, sizeof(set_id)) || (json_int_t)info->x != *x) {
		rc = cli_error("%s's share belongs to another threshold set or admin", admin);
		goto out;
	}
	rc = CLI_OK;
out:
	if (rc != CLI_OK) {
		zk_wipe_free(*text);
		*text = NULL;
	}
	free(path);
	free(box);
	sodium_free(sk);
	sodium_free(bin);
	json_decref(out);
	return rc;
}

/* {"purpose":"threshold-approve","vaultId","requestId","x","share"} sealed to the transport key, base64. */
static int seal_approval(struct cli *c, const char *request_id, json_int_t x, const char *share, char **sealed)
{
	json_t *wk = NULL, *inner = NULL;
	unsigned char tpk[32], *box = NULL;
	char *plain = NULL;
	const char *pinned = cli_opt(c, "transport-key");
	int rc = cli_request(c, "GET", "/.well-known/zkvault", NULL, &wk);

	*sealed = NULL;
	if (rc != CLI_OK)
		return rc;
	const char *served = json_string_value(json_object_get(wk, "transportPublicKey"));
	const char *vault = json_string_value(json_object_get(wk, "vaultId"));
	if (!vault || zk_b64_decode_exact(tpk, sizeof(tpk), served) != 0)
		rc = cli_error("the vault's /.well-known/zkvault has no vault id or transport key");
	else if (pinned && strcmp(pinned, served) != 0)
		rc = cli_error("the vault's transport key %s is not the one given with --transport-key: not approving", served);
	else if (!(inner = json_pack("{sssssssIss}", "purpose", "threshold-approve", "vaultId", vault, "requestId",
				     request_id, "x", x, "share", share)) ||
		 (c->session_pk[0] && json_object_set_new(inner, "sessionPublicKey", json_string(c->session_pk))) ||
		 !(plain = json_dumps(inner, JSON_COMPACT)))
		rc = cli_error("out of memory");
	if (rc == CLI_OK) {
		size_t n = strlen(plain);
		if (!(box = malloc(n + crypto_box_SEALBYTES)) || crypto_box_seal(box, (unsigned char *)plain, n, tpk) != 0 ||
		    !(*sealed = zk_b64_dup(box, n + crypto_box_SEALBYTES)))
			rc = cli_error("cannot seal the approval");
	}
	free(box);
	zk_wipe_str(plain);
	json_decref(inner);
	json_decref(wk);
	return rc;
}

static int threshold_approve(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *body = NULL;
	char *share = NULL, *sealed = NULL, *path = NULL;
	json_int_t x = 0;
	struct zk_share_info info;
	unsigned char pk[32], *sk = NULL;
	int rc = cli_begin(&c, &approve_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	const char *admin = cli_opt(&c, "admin"), *key = cli_opt(&c, "key"), *request = c.args[0];
	const char *session_file = cli_opt(&c, "session-file");
	if (session_file && (rc = cli_session_begin(&c, session_file, pk, &sk)) != CLI_OK)
		goto out;
	if (!admin || !key) {
		rc = cli_usage_error(&c, "--admin ID and --key FILE are required");
		goto out;
	}
	if (strspn(request, "0123456789abcdef") != 32 || request[32]) {
		rc = cli_usage_error(&c, "REQUEST_ID is 32 hex digits (from 'zkvault threshold request'), not '%s'", request);
		goto out;
	}
	if ((rc = open_admin_share(&c, admin, key, &share, &x, &info)) != CLI_OK ||
	    (rc = seal_approval(&c, request, x, share, &sealed)) != CLI_OK)
		goto out;
	if (!(path = cli_path(&c, "/threshold/unlock/", request, "/approve")) ||
	    !(body = json_pack("{ssss}", "adminId", admin, "sealed", sealed))) {
		rc = cli_error("out of memory");
		goto out;
	}
	rc = cli_request(&c, "POST", path, body, &out);
	if (rc == CLI_OK && sk && !json_is_false(json_object_get(out, "unlocked")))
		rc = cli_session_save(session_file, out, pk, sk);
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK && json_is_false(json_object_get(out, "unlocked"))) {
		json_int_t have = json_integer_value(json_object_get(out, "approvals")),
			   need = json_integer_value(json_object_get(out, "required"));
		printf("Approved request %s as %s: %lld of %lld approvals; the vault is still locked (%lld more needed).\n",
		       request, admin, (long long)have, (long long)need, (long long)(need - have));
	} else if (rc == CLI_OK) {
		char left[32];
		cli_duration(left, sizeof(left), json_integer_value(json_object_get(out, "expiresIn")));
		printf("Approved request %s as %s: %u of %u approvals; the vault is unlocked for %s.\n", request, admin,
		       info.k, info.k, left);
	}
out:
	zk_wipe_free(share);
	free(sealed);
	free(path);
	sodium_free(sk);
	sodium_memzero(&info, sizeof(info));
	json_decref(body);
	json_decref(out);
	cli_end(&c);
	return rc;
}

/* ---- threshold deny ---- */

static const struct cli_option deny_options[] = {
	{ "admin", 0, "ID", "who denies, for the audit log (required)", NULL },
	{ 0 },
};

static const struct cli_spec deny_spec = {
	.name = "threshold deny",
	.brief = "deny an unlock request: it ends and its approvals are wiped",
	.operands = "REQUEST_ID",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = deny_options,
	.summary = "Deny an unlock request: it ends at once and the shares of its approvals are wiped\n"
		   "(audited). Exits 4 when there is no such pending request.",
	.examples = "  zkvault threshold deny \"$REQ\" --admin carol\n",
};

static int threshold_deny(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *body = NULL;
	char *path = NULL;
	int rc = cli_begin(&c, &deny_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	const char *admin = cli_opt(&c, "admin");
	if (!admin) {
		rc = cli_usage_error(&c, "--admin ID is required");
		goto out;
	}
	if (!(path = cli_path(&c, "/threshold/unlock/", c.args[0], "/deny")) ||
	    !(body = json_pack("{ss}", "adminId", admin))) {
		rc = cli_error("out of memory");
		goto out;
	}
	rc = cli_request(&c, "POST", path, body, &out);
	if (rc == CLI_OK && c.json)
		rc = cli_print_json(out);
	else if (rc == CLI_OK)
		printf("Denied request %s: it is closed and its approvals' shares were wiped.\n", c.args[0]);
out:
	free(path);
	json_decref(body);
	json_decref(out);
	cli_end(&c);
	return rc;
}

static const struct cli_spec *const threshold_subcommands[] = { &setup_spec, &status_spec, &request_spec,
								 &approve_spec, &deny_spec, NULL };

const struct cli_spec cli_threshold_spec = {
	.name = "threshold",
	.operands = "",
	.summary = "Threshold unlock of a group vault: k of n admins approve an unlock request together, and no\n"
		   "admin can open the vault alone (docs/RECOVERY.md). 'zkvault keygen' makes an admin's key.",
	.subcommands = threshold_subcommands,
};

int cli_threshold(int argc, char *argv[])
{
	static int (*const fns[])(int, char *[]) = { threshold_setup, threshold_status, threshold_request,
						      threshold_approve, threshold_deny };
	return cli_dispatch(&cli_threshold_spec, fns, argc, argv);
}

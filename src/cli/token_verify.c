/* zkvault token verify: checks a capability token offline, against the vault's public key and, optionally, its
   signed revocation list (docs/FORMAT.md §Capability tokens, §Revocation list). No network, no credential. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/paseto.h"
#include "lib/revsnap.h"
#include "lib/tokenchain.h"

static const struct cli_option verify_options[] = {
	{ "vault-key", 0, "KEY", "the vault's token key, k4.public.... (tokenPublicKey of /.well-known/zkvault; "
				 "required)", NULL },
	{ "revocations", 0, "FILE", "a GET /revocations answer, or a JSON array of them: a full one, then deltas",
	  NULL },
	{ "aud", 0, "AGENT", "the agent checking: a token for another audience is not valid", NULL },
	{ 0 },
};

const struct cli_spec token_verify_spec = {
	.name = "token verify",
	.operands = "TOKEN",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_JSON,
	.options = verify_options,
	.summary = "Check a token (a root or an attenuated chain) offline against the vault's public key and,\n"
		   "with --revocations, its signed revocation list; print its effective rights. Exit 0 when\n"
		   "valid, 5 when not (the reason on stderr, or in --json).",
	.examples = "  curl -s $ZKVAULT_ADDR/revocations > revocations.json\n"
		    "  zkvault token verify \"$T\" --vault-key k4.public.Xb... --revocations revocations.json\n",
};

struct verified {
	struct zk_caveats cav;
	char sub[129], jti[33], iss[33];
	int64_t iat_ms;
	int depth;
	unsigned char rids[ZK_CHAIN_MAX_BLOCKS][16];
};

/* Signatures and narrowing: NULL and *out, or why the token is not valid. */
static const char *verify_chain(struct verified *out, const char *token, const unsigned char pk[32])
{
	struct zk_chain *ch = NULL;
	char *root = NULL;
	unsigned char *msg = NULL, next_pk[32];
	size_t len;
	bool has_next = false;
	const char *why = NULL;
	json_t *o = NULL;
	struct zk_caveats *root_cav = malloc(sizeof(*root_cav));

	if (!root_cav || zk_chain_parse(&ch, token) != 0 || !(root = strndup(ch->root, ch->root_len)))
		why = "malformed token";
	else if (zk_paseto_v4_public_verify(&msg, &len, NULL, root, NULL, NULL, pk) != 0)
		why = "the root is not signed by this vault key";
	else if (zk_chain_root_caveats(root_cav, next_pk, &has_next, (char *)msg, len) != 0 ||
		 !(o = json_loadb((char *)msg, len, JSON_REJECT_DUPLICATES, NULL)) ||
		 zk_parse_iso8601(&out->iat_ms, json_string_value(json_object_get(o, "iat"))) != 0 ||
		 strlen(cli_str(o, "jti")) != 32)
		why = "malformed claims";
	else if (!has_next ? ch->has_proof : zk_chain_verify(ch, 0, root_cav, next_pk, &out->cav) != 0)
		why = "the chain does not verify (a forged, widened, truncated or reordered block)";
	if (!why) {
		if (!has_next)
			memcpy(&out->cav, root_cav, sizeof(*root_cav));
		snprintf(out->sub, sizeof(out->sub), "%s", cli_str(o, "sub"));
		snprintf(out->jti, sizeof(out->jti), "%s", cli_str(o, "jti"));
		snprintf(out->iss, sizeof(out->iss), "%s", cli_str(o, "iss"));
		out->depth = ch->nblocks;
		for (int i = 0; i < ch->nblocks; i++)
			memcpy(out->rids[i], ch->block[i].rid, 16);
	}
	json_decref(o);
	free(msg);
	free(root);
	free(root_cav);
	zk_chain_free(ch);
	return why;
}

struct revfile {
	json_t *json;
	unsigned char **blobs;
	size_t nblobs;
	struct zk_revview view;
};

static void revfile_free(struct revfile *r)
{
	zk_revview_free(&r->view);
	for (size_t i = 0; i < r->nblobs; i++)
		free(r->blobs[i]);
	free(r->blobs);
	json_decref(r->json);
}

/* One GET /revocations answer, or an array of them (a full one, then deltas in epoch order). */
static int load_revocations(struct revfile *r, const char *file, const unsigned char pk[32], const char *vault_hex)
{
	json_error_t e;
	json_t *x;
	size_t i;
	if (!(r->json = json_load_file(file, JSON_REJECT_DUPLICATES, &e)))
		return cli_error("%s: %s (line %d)", file, e.text, e.line);
	if (json_is_object(r->json)) {
		json_t *a = json_array();
		json_array_append_new(a, r->json);
		r->json = a;
	}
	if (!json_is_array(r->json) || !json_array_size(r->json))
		return cli_error("%s: no revocation list in it", file);
	if (!(r->blobs = calloc(json_array_size(r->json), sizeof(*r->blobs))))
		return cli_error("out of memory");
	json_array_foreach(r->json, i, x) {
		size_t len;
		struct zk_revsnap s;
		char hex[33];
		if (zk_b64_decode(&r->blobs[r->nblobs], &len, json_string_value(json_object_get(x, "snapshot"))) != 0)
			return cli_error("%s: entry %zu has no snapshot", file, i);
		const unsigned char *bin = r->blobs[r->nblobs++];
		if (zk_revsnap_open(&s, bin, len, pk) != 0)
			return cli_error("%s: entry %zu is not signed under this vault key", file, i);
		sodium_bin2hex(hex, sizeof(hex), s.vault_id, 16);
		if (strcmp(hex, vault_hex) != 0)
			return cli_error("%s: entry %zu is another vault's list", file, i);
		if (i == 0 ? zk_revview_init(&r->view, &s) != 0 : zk_revview_apply(&r->view, &s) != 0)
			return cli_error("%s: entry %zu does not follow (a full list first, then deltas in epoch order)",
					 file, i);
	}
	return CLI_OK;
}

static json_t *verified_json(const struct verified *v, const char *why)
{
	json_t *allowed = json_array(), *perms = json_array(), *rids = json_array();
	char exp[ZK_ISO8601_MAX], iat[ZK_ISO8601_MAX];
	for (int i = 0; i < v->cav.npatterns; i++)
		json_array_append_new(allowed, json_string(v->cav.patterns + v->cav.pattern_off[i]));
	for (unsigned b = 1; b <= ZK_CHAIN_PERM_ADMIN; b <<= 1)
		if (v->cav.perms & b)
			json_array_append_new(perms, json_string(zk_chain_perm_name(b)));
	json_array_append_new(rids, json_string(v->jti));
	for (int i = 0; i < v->depth; i++) {
		char hex[33];
		sodium_bin2hex(hex, sizeof(hex), v->rids[i], 16);
		json_array_append_new(rids, json_string(hex));
	}
	zk_iso8601(exp, v->cav.exp_ms);
	zk_iso8601(iat, v->iat_ms);
	json_t *o = json_pack("{sb}", "valid", !why);
	if (why)
		json_object_set_new(o, "reason", json_string(why));
	if (!v->jti[0]) {
		json_decref(allowed);
		json_decref(perms);
		json_decref(rids);
		return o;
	}
	json_object_update_new(o, json_pack("{sssssssssssososiso}", "iss", v->iss, "sub", v->sub, "jti", v->jti, "iat", iat,
					"exp", exp, "allowedSecrets", allowed, "permissions", perms, "depth", v->depth,
					"revocationIds", rids));
	if (v->cav.aud[0])
		json_object_set_new(o, "aud", json_string(v->cav.aud));
	if (v->cav.max_uses)
		json_object_set_new(o, "maxUses", json_integer(v->cav.max_uses));
	return o;
}

static void print_valid(const struct verified *v)
{
	char left[32], exp[ZK_ISO8601_MAX];
	cli_duration(left, sizeof(left), (v->cav.exp_ms - zk_now_ms()) / 1000);
	zk_iso8601(exp, v->cav.exp_ms);
	printf("valid: token %s of %s, until %s (%s left), %d block%s\n  permissions:", v->jti, v->sub, exp, left,
	       v->depth, v->depth == 1 ? "" : "s");
	for (unsigned b = 1; b <= ZK_CHAIN_PERM_ADMIN; b <<= 1)
		if (v->cav.perms & b)
			printf(" %s", zk_chain_perm_name(b));
	printf("\n  secrets:");
	for (int i = 0; i < v->cav.npatterns; i++)
		printf(" %s", v->cav.patterns + v->cav.pattern_off[i]);
	printf("\n");
	if (v->cav.aud[0])
		printf("  audience: %s\n", v->cav.aud);
	if (v->cav.max_uses)
		printf("  use limit: %u\n", v->cav.max_uses);
}

int token_verify(int argc, char *argv[])
{
	struct cli c;
	unsigned char pk[32], jti[16];
	struct revfile revs = { 0 };
	struct verified *v = calloc(1, sizeof(*v));
	const char *why = NULL;
	int rc = cli_begin(&c, &token_verify_spec, argc, argv);

	if (rc != CLI_CONTINUE) {
		free(v);
		return rc;
	}
	const char *key = cli_opt(&c, "vault-key"), *file = cli_opt(&c, "revocations"), *aud = cli_opt(&c, "aud");
	if (!v) {
		rc = cli_error("out of memory");
		goto out;
	}
	if (!key || zk_paserk_k4_public_decode(pk, key) != 0) {
		rc = cli_usage_error(&c, "--vault-key k4.public.... is required");
		goto out;
	}
	why = verify_chain(v, c.args[0], pk);
	if (why)
		memset(v, 0, sizeof(*v));
	if (!why && v->cav.exp_ms < zk_now_ms())
		why = "expired";
	if (!why && v->cav.aud[0] && (!aud || strcmp(aud, v->cav.aud) != 0))
		why = "for another audience (see --aud)";
	if (!why && file) {
		if ((rc = load_revocations(&revs, file, pk, v->iss)) != CLI_OK)
			goto out;
		if (sodium_hex2bin(jti, sizeof(jti), v->jti, 32, NULL, NULL, NULL) != 0 ||
		    zk_revview_revoked(&revs.view, jti, v->iat_ms, (const unsigned char (*)[16])v->rids, (size_t)v->depth))
			why = "revoked";
	}
	rc = CLI_OK;
	if (c.json) {
		json_t *o = verified_json(v, why);
		if (file && !why)
			json_object_set_new(o, "revocationEpoch", json_integer((json_int_t)revs.view.epoch));
		rc = cli_print_json(o);
		json_decref(o);
	} else if (why) {
		fprintf(stderr, "zkvault: token not valid: %s\n", why);
	} else {
		print_valid(v);
	}
	if (rc == CLI_OK && why)
		rc = CLI_DENIED;
out:
	revfile_free(&revs);
	free(v);
	cli_end(&c);
	return rc;
}

/* libFuzzer target for the MCP JSON-RPC input (src/mcp/mcp.c): the input is one message as the stdio transport
   reads it from a line (or as the HTTP transport reads a POST body). The vault is stubbed behind the session's
   function pointer: it answers with a status and body chosen by the input's first byte, so every tool's
   success and error paths run. Each reply must be valid JSON: a JSON-RPC object or a non-empty array of them. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lib/mem.h"
#include "mcp/mcp.h"

ZK_FUZZ_INIT_MEM()

static const struct {
	long status;
	const char *body;
} answers[] = {
	{ 200, "{\"key\":\"k\",\"value\":\"v\",\"metadata\":{},\"version\":1}" },
	{ 200, "{\"vaultUnlocked\":true,\"expiresIn\":5,\"token\":{\"id\":\"x\"},\"secrets\":[{\"key\":\"a\",\"permissions\":[\"use\"],\"allowedOrigins\":[\"https://x\"]},5,null]}" },
	{ 200, "{\"status\":200,\"headers\":{},\"body\":\"[REDACTED]\"}" },
	{ 200, NULL },
	{ 200, "{\"secrets\":{}}" },
	{ 423, "{\"error\":\"Vault is locked\",\"code\":\"VAULT_LOCKED\",\"unlockUrl\":\"https://u\"}" },
	{ 423, "{\"unlockUrl\":7}" },
	{ 401, "{\"error\":\"Invalid or expired capability token\"}" },
	{ 403, "{\"error\":\"Origin not allowed for this secret\",\"code\":\"ORIGIN_NOT_ALLOWED\"}" },
	{ 403, "{\"code\":\"NO_ALLOWED_ORIGINS\"}" },
	{ 404, "{\"error\":\"Secret not found\"}" },
	{ 400, "{\"error\":\"Invalid request body\",\"details\":\"request.url: x\"}" },
	{ 502, "{\"error\":\"The request failed\",\"code\":\"UPSTREAM_ERROR\"}" },
	{ 504, NULL },
	{ 0, NULL }, /* transport failure */
};

static unsigned pick;

static int stub_call(void *ctx, const char *method, const char *path, const json_t *body, long *status,
		     json_t **reply, char *err, size_t errlen)
{
	CHECK(method && path && path[0] == '/');
	const size_t n = sizeof(answers) / sizeof(answers[0]);
	unsigned i = pick++ % n;
	if (!answers[i].status) {
		snprintf(err, errlen, "stubbed transport failure");
		return -1;
	}
	*status = answers[i].status;
	*reply = answers[i].body ? json_loads(answers[i].body, 0, NULL) : NULL;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const versions[] = { "", "2025-03-26", "2025-06-18", "2025-11-25" };
	struct mcp_session s = { .call = stub_call, .unlock_url = size & 1 ? "https://unlock" : NULL };
	bool no_id;

	pick = size ? data[0] : 0;
	/* The second byte picks the negotiated version (batches are allowed only in 2025-03-26). */
	strcpy(s.version, versions[size > 1 ? data[1] % 4 : 0]);
	char *reply = mcp_handle(&s, (const char *)data, size, &no_id);
	if (reply) {
		json_t *j = json_loads(reply, 0, NULL);
		CHECK(j);
		CHECK(json_is_object(j) || (json_is_array(j) && json_array_size(j) > 0));
		if (json_is_object(j)) {
			CHECK(!strcmp(json_string_value(json_object_get(j, "jsonrpc")), "2.0"));
			CHECK(json_object_get(j, "result") || json_object_get(j, "error"));
		}
		CHECK(!no_id || json_is_null(json_object_get(j, "id")));
		json_decref(j);
		zk_wipe_str(reply);
	}
	/* The input as a capability token: the audience the server would send as X-Agent-Id. */
	char *tok = malloc(size + 1);
	if (tok) {
		memcpy(tok, data, size);
		tok[size] = '\0';
		char *aud = mcp_token_audience(tok);
		CHECK(!aud || (*aud && strlen(aud) <= 128));
		zk_wipe_str(aud);
		free(tok);
	}
	return 0;
}

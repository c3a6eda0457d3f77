#ifndef ZK_MCP_H
#define ZK_MCP_H

/*
 * zkvault mcp: an MCP server (JSON-RPC 2.0) whose tools call a vaultd with the capability token of the agent.
 * This is the transport-independent core: one message (or batch) in, one reply (or none) out. The vault is
 * reached through a function pointer, so tests and fuzz/fuzz_mcp.c can stub it. docs/MCP.md.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define MCP_MAX_MESSAGE (4u << 20)
#define MCP_MAX_BATCH 100
#define MCP_LATEST_VERSION "2025-11-25"
/* What a Streamable HTTP request without MCP-Protocol-Version is taken to speak (the spec's rule). */
#define MCP_HTTP_DEFAULT_VERSION "2025-03-26"

/* JSON-RPC error codes */
#define MCP_PARSE_ERROR (-32700)
#define MCP_INVALID_REQUEST (-32600)
#define MCP_METHOD_NOT_FOUND (-32601)
#define MCP_INVALID_PARAMS (-32602)
#define MCP_INTERNAL_ERROR (-32603)

/*
 * One call to the vault: method, path (with query), optional JSON body. Returns 0 when an HTTP answer arrived
 * (*status set, *reply the parsed JSON object or NULL), -1 on a transport failure described in err.
 */
typedef int (*mcp_call_fn)(void *ctx, const char *method, const char *path, const json_t *body, long *status,
			      json_t **reply, char *err, size_t errlen);

struct mcp_session {
	mcp_call_fn call;
	void *ctx;
	const char *unlock_url; /* fallback when the vault's 423 carries none; may be NULL */
	char version[16];       /* negotiated protocol version ("" before initialize) */
	bool initialized;       /* notifications/initialized seen */
};

bool mcp_version_supported(const char *v);

/*
 * Handles one newline-free JSON-RPC message or batch. Returns the reply text (free with zk_wipe_str), or NULL
 * when nothing is to be sent (notifications, responses). *no_id_error is set when the reply is a single error
 * without an id (parse error, invalid request), which the HTTP transport answers with status 400.
 */
char *mcp_handle(struct mcp_session *s, const char *msg, size_t len, bool *no_id_error);

/* The tool list (a new reference), for tests and docs. */
json_t *mcp_tools(void);

/* The effective audience of a token (root or attenuation chain), read without verifying (the vault verifies it
   against X-Agent-Id); NULL if none. */
char *mcp_token_audience(const char *token);

#endif

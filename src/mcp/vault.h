#ifndef ZK_MCP_VAULT_H
#define ZK_MCP_VAULT_H

/*
 * The MCP server's client for one vaultd: src/lib/client.c with the agent's X-Capability-Token and, when the
 * agent names itself, X-Agent-Id (a token with an audience is accepted only with a matching X-Agent-Id). The
 * connection is opened on first use; one handle per thread.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/client.h"

struct mcp_vault {
	const char *addr;
	const char *ca_file;
	const char *token;
	const char *agent_id; /* may be NULL */
	struct zk_client client;
	bool open;
};

/* Checks an address (http:// or https://); *remote_plain is set for http:// to a host that is not loopback. */
int mcp_vault_check_addr(const char *addr, bool *remote_plain, char *err, size_t errlen);
/* An mcp_call_fn (mcp.h): ctx is a struct mcp_vault. */
int mcp_vault_call(void *ctx, const char *method, const char *path, const json_t *body, long *status,
		   json_t **reply, char *err, size_t errlen);
void mcp_vault_close(struct mcp_vault *v);

#endif

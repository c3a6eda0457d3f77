#ifndef ZK_MCP_VAULT_H
#define ZK_MCP_VAULT_H

/*
 * The MCP server's client for one vaultd: JSON over HTTP(S) with libcurl, X-Capability-Token plus X-Agent-Id
 * (a token with an audience is accepted only with a matching X-Agent-Id, so src/lib/client.c, which carries one
 * credential header, does not fit). Every buffer that may hold a credential is wiped when freed. One handle per
 * thread.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define MCP_VAULT_MAX_RESPONSE (16u << 20)

struct mcp_vault {
	void *curl; /* CURL *, created on first use */
	const char *addr;
	const char *ca_file;
	const char *token;
	const char *agent_id; /* may be NULL */
};

/* Checks an address (http:// or https://); *remote_plain is set for http:// to a host that is not loopback. */
int mcp_vault_check_addr(const char *addr, bool *remote_plain, char *err, size_t errlen);
/* An mcp_call_fn (mcp.h): ctx is a struct mcp_vault. */
int mcp_vault_call(void *ctx, const char *method, const char *path, const json_t *body, long *status,
		   json_t **reply, char *err, size_t errlen);
void mcp_vault_close(struct mcp_vault *v);

#endif

#include "mcp/vault.h"

#include <stdio.h>

int mcp_vault_check_addr(const char *addr, bool *remote_plain, char *err, size_t errlen)
{
	struct zk_client c;
	if (zk_client_open(&c, addr, NULL, err, errlen) != 0)
		return -1;
	*remote_plain = c.plaintext_remote;
	zk_client_close(&c);
	return 0;
}

static int vault_open(struct mcp_vault *v, char *err, size_t errlen)
{
	if (v->open)
		return 0;
	if (zk_client_open(&v->client, v->addr, v->ca_file, err, errlen) != 0)
		return -1;
	v->client.user_agent = "zkvault-mcp";
	if (zk_client_add_header(&v->client, "X-Capability-Token", v->token) != 0 ||
	    (v->agent_id && zk_client_add_header(&v->client, "X-Agent-Id", v->agent_id) != 0)) {
		zk_client_close(&v->client);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	v->open = true;
	return 0;
}

int mcp_vault_call(void *ctx, const char *method, const char *path, const json_t *body, long *status,
		   json_t **reply, char *err, size_t errlen)
{
	struct mcp_vault *v = ctx;
	struct zk_response res = { 0 };

	*status = 0;
	*reply = NULL;
	if (vault_open(v, err, errlen) != 0 || zk_client_call(&v->client, method, path, body, &res, err, errlen) != 0)
		return -1;
	*status = res.status;
	*reply = res.body;
	return 0;
}

void mcp_vault_close(struct mcp_vault *v)
{
	if (v->open)
		zk_client_close(&v->client);
	v->open = false;
}

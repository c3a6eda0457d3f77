/* The MCP JSON-RPC core: lifecycle, tools/list, tools/call, and the four tools. */
#include "lib/crypto.h"
#include "mcp/mcp.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "lib/tokenchain.h"

static const char *const versions[] = { "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05" };

bool mcp_version_supported(const char *v)
{
	for (size_t i = 0; v && i < sizeof(versions) / sizeof(versions[0]); i++)
		if (!strcmp(v, versions[i]))
			return true;
	return false;
}

/* Batches exist only in 2025-03-26 (added there, removed in 2025-06-18). */
static bool batch_allowed(const struct mcp_session *s)
{
	return !strcmp(s->version, "2025-03-26");
}

/* ------------------------------------------------------------------ tools */

#define NAME_PATTERN "^[A-Za-z0-9_.-]{1,255}$"

static const char tools_json[] =
	"["
	"{\"name\":\"ocmt_get_credentials\",\"title\":\"Get a credential\","
	"\"description\":\"Returns the value of a credential (API key or token) stored in the zkvault vault, if this "
	"server's capability token has the read permission on it and the vault is unlocked. Prefer vault_use, which "
	"makes an HTTP request with the credential without revealing it. When the vault is locked the result is an "
	"error {\\\"error\\\":\\\"vault_locked\\\",\\\"unlockUrl\\\":...}: ask the user to open the unlock URL, then "
	"try again.\","
	"\"inputSchema\":{\"type\":\"object\",\"properties\":{\"service\":{\"type\":\"string\",\"pattern\":\"" NAME_PATTERN
	"\",\"description\":\"Name of the credential in the vault, e.g. github\"}},\"required\":[\"service\"],"
	"\"additionalProperties\":false},"
	"\"annotations\":{\"readOnlyHint\":true,\"openWorldHint\":false}},"

	"{\"name\":\"vault_status\",\"title\":\"Vault status\","
	"\"description\":\"Whether the vault is unlocked (and for how long), the unlock URL when it is locked, and "
	"what this server's token allows: subject, permissions, secret name patterns, expiry.\","
	"\"inputSchema\":{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false},"
	"\"annotations\":{\"readOnlyHint\":true,\"openWorldHint\":false}},"

	"{\"name\":\"vault_list\",\"title\":\"List credentials\","
	"\"description\":\"Names of the credentials this token may act on, with its permissions on each and, for "
	"those it may use, the origins vault_use may send them to. Never returns a value.\","
	"\"inputSchema\":{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false},"
	"\"annotations\":{\"readOnlyHint\":true,\"openWorldHint\":false}},"

	"{\"name\":\"vault_use\",\"title\":\"HTTP request with a credential\","
	"\"description\":\"Makes an HTTP request with a credential injected into a header (by default "
	"Authorization: Bearer <credential>) and returns {status, headers, body}. The vault itself sends the request "
	"and replaces the credential with [REDACTED] in the answer, so neither you nor this server ever sees it. The "
	"URL's origin must be one of the credential's allowedOrigins (see vault_list); https only; redirects to "
	"another origin are returned, not followed.\","
	"\"inputSchema\":{\"type\":\"object\",\"properties\":{"
	"\"service\":{\"type\":\"string\",\"pattern\":\"" NAME_PATTERN
	"\",\"description\":\"Name of the credential in the vault\"},"
	"\"request\":{\"type\":\"object\",\"properties\":{"
	"\"method\":{\"type\":\"string\",\"enum\":[\"GET\",\"HEAD\",\"POST\",\"PUT\",\"PATCH\",\"DELETE\",\"OPTIONS\"]},"
	"\"url\":{\"type\":\"string\",\"description\":\"Absolute URL, e.g. https://api.github.com/user\"},"
	"\"headers\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},"
	"\"description\":\"Extra request headers (not the one the credential goes into)\"},"
	"\"body\":{\"description\":\"Request body: a string, or a JSON object or array (sent as application/json)\"}"
	"},\"required\":[\"method\",\"url\"],\"additionalProperties\":false}"
	"},\"required\":[\"service\",\"request\"],\"additionalProperties\":false},"
	"\"annotations\":{\"readOnlyHint\":false,\"destructiveHint\":true,\"openWorldHint\":true}}"
	"]";

json_t *mcp_tools(void)
{
	return json_loads(tools_json, 0, NULL);
}

static bool valid_name(const char *s)
{
	size_t n = 0;
	if (!s)
		return false;
	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '.' && s[n] != '-')
			return false;
	return n >= 1 && n <= 255;
}

/* A tool result: the JSON as text content (and structuredContent from 2025-06-18 on). Takes the reference. */
static json_t *tool_result(const struct mcp_session *s, json_t *payload, bool is_error)
{
	char *text = json_dumps(payload, JSON_COMPACT);
	json_t *r = json_pack("{s[{ssss}]sb}", "content", "type", "text", "text", text ? text : "{}", "isError",
			      is_error);
	zk_wipe_str(text);
	if (r && strcmp(s->version, "2025-06-18") >= 0 && strcmp(s->version, "2025-11-25") <= 0 && !is_error)
		json_object_set(r, "structuredContent", payload);
	json_decref(payload);
	return r;
}

static json_t *tool_error(const struct mcp_session *s, const char *error, const char *message)
{
	return tool_result(s, json_pack("{ssss}", "error", error, "message", message), true);
}

/* Turns a vault answer that is not a success into the tool error the model sees. */
static json_t *vault_error(const struct mcp_session *s, long status, json_t *body, const char *what,
			   const char *service)
{
	const char *verr = json_string_value(json_object_get(body, "error"));
	const char *code = json_string_value(json_object_get(body, "code"));
	char msg[512];
	json_t *o;

	switch (status) {
	case 423: {
		const char *url = json_string_value(json_object_get(body, "unlockUrl"));
		if (!url)
			url = s->unlock_url;
		o = json_pack("{ssss}", "error", "vault_locked", "message",
			      "The vault is locked. Ask the user to unlock it (unlockUrl), then try again.");
		json_object_set_new(o, "unlockUrl", url ? json_string(url) : json_null());
		return tool_result(s, o, true);
	}
	case 401:
		return tool_error(s, "invalid_token",
				  "The vault refused this server's capability token (missing, invalid, expired or "
				  "revoked). Ask the user for a new token.");
	case 403:
		if (code && !strcmp(code, "ORIGIN_NOT_ALLOWED"))
			snprintf(msg, sizeof(msg), "The credential %s may not be sent to this origin. vault_list shows "
				 "its allowedOrigins.", service);
		else if (code && !strcmp(code, "NO_ALLOWED_ORIGINS"))
			snprintf(msg, sizeof(msg), "The credential %s has no allowedOrigins; its owner must set them "
				 "before it can be used.", service);
		else if (code && !strcmp(code, "INSECURE_ORIGIN"))
			snprintf(msg, sizeof(msg), "Only https URLs can receive a credential.");
		else
			snprintf(msg, sizeof(msg), "This token does not allow %s on %s.", what, service ? service : "the vault");
		o = json_pack("{ssss}", "error", code && !strcmp(code, "ORIGIN_NOT_ALLOWED") ? "origin_not_allowed"
						 : code && !strcmp(code, "NO_ALLOWED_ORIGINS") ? "no_allowed_origins"
						 : code && !strcmp(code, "INSECURE_ORIGIN")    ? "insecure_origin"
											       : "access_denied",
			      "message", msg);
		return tool_result(s, o, true);
	case 404:
		snprintf(msg, sizeof(msg), "No credential named %s in the vault.", service ? service : "");
		return tool_error(s, "not_connected", msg);
	case 400:
		o = json_pack("{ssss}", "error", "invalid_request", "message", verr ? verr : "Invalid request");
		if (json_is_string(json_object_get(body, "details")))
			json_object_set(o, "details", json_object_get(body, "details"));
		return tool_result(s, o, true);
	default:
		snprintf(msg, sizeof(msg), "The vault answered %ld%s%s", status, verr ? ": " : "", verr ? verr : "");
		o = json_pack("{ssss}", "error", status == 504 ? "upstream_timeout" : status >= 500 ? "vault_error"
											: "unexpected_answer",
			      "message", msg);
		if (code)
			json_object_set_new(o, "code", json_string(code));
		return tool_result(s, o, true);
	}
}

static int call_vault(const struct mcp_session *s, const char *method, const char *path, const json_t *body,
		      long *status, json_t **reply, json_t **err_result)
{
	char err[256] = "";
	*reply = NULL;
	if (s->call(s->ctx, method, path, body, status, reply, err, sizeof(err)) != 0) {
		*err_result = tool_error(s, "vault_unreachable", *err ? err : "Cannot reach the vault");
		return -1;
	}
	return 0;
}

/* Unknown keys in arguments are refused, as the schemas say (additionalProperties: false). */
static const char *check_keys(const json_t *args, const char *const *allowed)
{
	const char *k;
	json_t *x;
	json_object_foreach((json_t *)args, k, x) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok = ok || !strcmp(k, *a);
		if (!ok)
			return k;
	}
	return NULL;
}

static json_t *bad_argument(const struct mcp_session *s, const char *msg)
{
	return tool_error(s, "invalid_arguments", msg);
}

static json_t *tool_get_credentials(struct mcp_session *s, const json_t *args)
{
	static const char *const allowed[] = { "service", NULL };
	const char *service = json_string_value(json_object_get(args, "service"));
	json_t *reply, *res;
	long status;
	char path[300];

	if (check_keys(args, allowed))
		return bad_argument(s, "Unknown argument; ocmt_get_credentials takes {service}");
	if (!service)
		return bad_argument(s, "service: Required (the credential's name, a string)");
	if (!valid_name(service))
		return bad_argument(s, "service: 1-255 characters of A-Z a-z 0-9 _ . -");
	snprintf(path, sizeof(path), "/secrets/%s", service);
	if (call_vault(s, "GET", path, NULL, &status, &reply, &res) != 0)
		return res;
	if (status == 404 || status == 403) {
		/* A personal vault's integration (docs/API.md §Personal vault): the token needs an "integration:"
		   pattern. The agent gets the access token only; the vault keeps (and uses) the refresh token. */
		json_t *reply2 = NULL, *res2 = NULL;
		long status2 = 0;
		snprintf(path, sizeof(path), "/v1/integrations/%s", service);
		if (call_vault(s, "GET", path, NULL, &status2, &reply2, &res2) == 0) {
			json_t *cred = json_object_get(reply2, "credential");
			if (status2 == 200 && json_is_object(cred)) {
				json_t *o = json_pack("{sbsssO}", "success", 1, "service", service, "type",
						      json_object_get(reply2, "type"));
				static const char *const keep[] = { "apiKey", "accessToken", "tokenType", NULL };
				for (int i = 0; o && keep[i]; i++)
					if (json_object_get(cred, keep[i]))
						json_object_set(o, keep[i], json_object_get(cred, keep[i]));
				static const char *const meta[] = { "expiresAt", "scopes", "accountLabel", "version", NULL };
				for (int i = 0; o && meta[i]; i++)
					json_object_set(o, meta[i], json_object_get(reply2, meta[i]) ?: json_null());
				json_decref(reply);
				json_decref(reply2);
				return tool_result(s, o, false);
			}
			json_decref(reply2);
		} else {
			json_decref(res2);
		}
	}
	if (status == 200 && json_is_string(json_object_get(reply, "value"))) {
		res = tool_result(s,
				  json_pack("{sbsssssOsO}", "success", 1, "service", service, "type", "api_key", "apiKey",
					    json_object_get(reply, "value"), "version",
					    json_object_get(reply, "version") ? json_object_get(reply, "version")
									      : json_null()),
				  false);
	} else {
		res = vault_error(s, status == 200 ? 502 : status, reply, "reading the credential", service);
	}
	json_decref(reply);
	return res;
}

static json_t *tool_status(struct mcp_session *s, const json_t *args, bool list)
{
	static const char *const allowed[] = { NULL };
	json_t *reply, *res;
	long status;

	if (check_keys(args, allowed))
		return bad_argument(s, list ? "vault_list takes no arguments" : "vault_status takes no arguments");
	if (call_vault(s, "GET", "/capability", NULL, &status, &reply, &res) != 0)
		return res;
	if (status == 423 && !list) {
		const char *url = json_string_value(json_object_get(reply, "unlockUrl"));
		if (!url)
			url = s->unlock_url;
		res = tool_result(s, json_pack("{sbsbsoss}", "unlocked", 0, "locked", 1, "unlockUrl",
					       url ? json_string(url) : json_null(), "hint",
					       "The vault is locked: ask the user to unlock it, then try again."),
				  false);
	} else if (status == 200 && !list) {
		json_t *tok = json_object_get(reply, "token");
		res = tool_result(s, json_pack("{sbsbsOsOsI}", "unlocked", 1, "locked", 0, "expiresIn",
					       json_object_get(reply, "expiresIn"), "token", tok ? tok : json_null(),
					       "secretCount", (json_int_t)json_array_size(json_object_get(reply, "secrets"))),
				  false);
	} else if (status == 200) {
		json_t *names = json_array(), *x;
		size_t i;
		json_array_foreach(json_object_get(reply, "secrets"), i, x) {
			json_t *item = json_pack("{sOsO}", "name", json_object_get(x, "key"), "permissions",
						 json_object_get(x, "permissions"));
			if (item && json_object_get(x, "allowedOrigins"))
				json_object_set(item, "allowedOrigins", json_object_get(x, "allowedOrigins"));
			if (item)
				json_array_append_new(names, item);
		}
		res = tool_result(s, json_pack("{so}", "secrets", names), false);
	} else {
		res = vault_error(s, status, reply, list ? "listing" : "checking the status", NULL);
	}
	json_decref(reply);
	return res;
}

static json_t *tool_use(struct mcp_session *s, const json_t *args)
{
	static const char *const allowed[] = { "service", "request", NULL };
	const char *service = json_string_value(json_object_get(args, "service"));
	json_t *req = json_object_get(args, "request"), *reply, *res;
	long status;
	char path[310];

	if (check_keys(args, allowed))
		return bad_argument(s, "Unknown argument; vault_use takes {service, request}");
	if (!service)
		return bad_argument(s, "service: Required (the credential's name, a string)");
	if (!valid_name(service))
		return bad_argument(s, "service: 1-255 characters of A-Z a-z 0-9 _ . -");
	if (!json_is_object(req))
		return bad_argument(s, "request: Required, an object {method, url, headers?, body?}");
	if (!json_is_string(json_object_get(req, "method")))
		return bad_argument(s, "request.method: Required (GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)");
	if (!json_is_string(json_object_get(req, "url")))
		return bad_argument(s, "request.url: Required (an absolute https URL)");
	/* The vault validates the rest (and reports what is wrong). */
	json_t *body = json_pack("{sO}", "request", req);
	snprintf(path, sizeof(path), "/secrets/%s/use", service);
	int rc = call_vault(s, "POST", path, body, &status, &reply, &res);
	json_decref(body);
	if (rc != 0)
		return res;
	if (status == 200 && json_is_object(reply))
		res = tool_result(s, json_incref(reply), false);
	else
		res = vault_error(s, status == 200 ? 502 : status, reply, "using the credential", service);
	json_decref(reply);
	return res;
}

/* ------------------------------------------------------------------ JSON-RPC */

static json_t *rpc_error(json_t *id, int code, const char *message)
{
	return json_pack("{sssOs{siss}}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", "code", code,
			 "message", message);
}

static json_t *rpc_result(json_t *id, json_t *result)
{
	return json_pack("{sssOso}", "jsonrpc", "2.0", "id", id, "result", result ? result : json_object());
}

static json_t *handle_initialize(struct mcp_session *s, json_t *id, json_t *params)
{
	const char *want = json_string_value(json_object_get(params, "protocolVersion"));
	if (!json_is_object(params) || !want)
		return rpc_error(id, MCP_INVALID_PARAMS, "initialize needs params.protocolVersion");
	snprintf(s->version, sizeof(s->version), "%s", mcp_version_supported(want) ? want : MCP_LATEST_VERSION);
	json_t *r = json_pack("{sss{s{sb}}s{ssssss}ss}", "protocolVersion", s->version, "capabilities", "tools",
			      "listChanged", 0, "serverInfo", "name", "zkvault", "title", "zkvault credential vault",
			      "version", "0.1.0", "instructions",
			      "Credentials live in a zkvault vault. Prefer vault_use: it sends an HTTP request with the "
			      "credential and returns the answer with the credential redacted, so you never see it. "
			      "vault_list shows the names you may use and where. If a tool answers vault_locked, ask "
			      "the user to open the unlockUrl, then try again.");
	return rpc_result(id, r);
}

static json_t *handle_tools_call(struct mcp_session *s, json_t *id, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t *args = json_object_get(params, "arguments"), *empty = NULL, *res;

	if (!json_is_object(params) || !name)
		return rpc_error(id, MCP_INVALID_PARAMS, "tools/call needs params.name");
	if (args && !json_is_null(args) && !json_is_object(args))
		return rpc_error(id, MCP_INVALID_PARAMS, "tools/call params.arguments must be an object");
	if (!json_is_object(args))
		args = empty = json_object();
	if (!strcmp(name, "ocmt_get_credentials"))
		res = tool_get_credentials(s, args);
	else if (!strcmp(name, "vault_status"))
		res = tool_status(s, args, false);
	else if (!strcmp(name, "vault_list"))
		res = tool_status(s, args, true);
	else if (!strcmp(name, "vault_use"))
		res = tool_use(s, args);
	else {
		json_decref(empty);
		return rpc_error(id, MCP_INVALID_PARAMS, "Unknown tool");
	}
	json_decref(empty);
	return res ? rpc_result(id, res) : rpc_error(id, MCP_INTERNAL_ERROR, "Internal error");
}

static bool valid_id(const json_t *id)
{
	return json_is_string(id) || json_is_integer(id);
}

/* One message: returns the reply, or NULL for notifications and responses. */
static json_t *handle_one(struct mcp_session *s, json_t *m)
{
	if (!json_is_object(m))
		return rpc_error(NULL, MCP_INVALID_REQUEST, "Invalid Request: expected a JSON-RPC object");
	json_t *id = json_object_get(m, "id"), *method = json_object_get(m, "method"),
	       *params = json_object_get(m, "params");
	const char *jsonrpc = json_string_value(json_object_get(m, "jsonrpc"));
	bool has_id = id != NULL;

	if (!method && (json_object_get(m, "result") || json_object_get(m, "error")))
		return NULL; /* a response to a request we never send: ignore */
	if (!jsonrpc || strcmp(jsonrpc, "2.0") || !json_is_string(method) || (has_id && !valid_id(id)) ||
	    (params && !json_is_object(params) && !json_is_array(params)))
		return rpc_error(has_id && valid_id(id) ? id : NULL, MCP_INVALID_REQUEST, "Invalid Request");
	const char *name = json_string_value(method);
	if (!has_id) {
		if (!strcmp(name, "notifications/initialized"))
			s->initialized = true;
		return NULL; /* notifications never get an answer */
	}
	if (!strcmp(name, "initialize"))
		return handle_initialize(s, id, params);
	if (!strcmp(name, "ping"))
		return rpc_result(id, NULL);
	if (!strcmp(name, "tools/list")) {
		if (params && !json_is_object(params))
			return rpc_error(id, MCP_INVALID_PARAMS, "tools/list params must be an object");
		return rpc_result(id, json_pack("{so}", "tools", mcp_tools()));
	}
	if (!strcmp(name, "tools/call"))
		return handle_tools_call(s, id, params);
	return rpc_error(id, MCP_METHOD_NOT_FOUND, "Method not found");
}

static bool is_no_id_error(const json_t *r)
{
	return r && json_is_null(json_object_get(r, "id")) && json_object_get(r, "error");
}

char *mcp_handle(struct mcp_session *s, const char *msg, size_t len, bool *no_id_error)
{
	json_t *in, *out = NULL;
	json_error_t e;

	*no_id_error = false;
	if (len > MCP_MAX_MESSAGE || !(in = json_loadb(msg, len, 0, &e))) {
		out = rpc_error(NULL, MCP_PARSE_ERROR, len > MCP_MAX_MESSAGE ? "Parse error: message too large"
									      : "Parse error");
	} else if (json_is_array(in)) {
		size_t n = json_array_size(in), i;
		json_t *x;
		if (!n)
			out = rpc_error(NULL, MCP_INVALID_REQUEST, "Invalid Request: empty batch");
		else if (!batch_allowed(s))
			out = rpc_error(NULL, MCP_INVALID_REQUEST,
					"Invalid Request: JSON-RPC batches are not part of this MCP protocol version");
		else if (n > MCP_MAX_BATCH)
			out = rpc_error(NULL, MCP_INVALID_REQUEST, "Invalid Request: batch larger than 100");
		else {
			out = json_array();
			json_array_foreach(in, i, x) {
				/* initialize must not be part of a batch. */
				const char *m = json_string_value(json_object_get(x, "method"));
				json_t *r = valid_id(json_object_get(x, "id")) && m && !strcmp(m, "initialize")
						    ? rpc_error(json_object_get(x, "id"), MCP_INVALID_REQUEST,
								"Invalid Request: initialize cannot be batched")
						    : handle_one(s, x);
				if (r)
					json_array_append_new(out, r);
			}
			if (!json_array_size(out)) {
				json_decref(out);
				out = NULL;
			}
		}
		json_decref(in);
	} else {
		out = handle_one(s, in);
		json_decref(in);
	}
	if (!out)
		return NULL;
	*no_id_error = is_no_id_error(out);
	char *text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	return text;
}

char *mcp_token_audience(const char *token)
{
	struct zk_chain *chain = NULL;
	char *aud = NULL, *json = NULL;
	size_t len;

	if (!token || strlen(token) > ZK_CHAIN_MAX_TOKEN || zk_chain_parse(&chain, token) != 0)
		return NULL;
	/* The effective audience: a block may add one when its parent has none, never change it. */
	for (int i = chain->nblocks - 1; i >= 0 && !aud; i--)
		if (chain->block[i].cav.aud[0])
			aud = zk_wipe_strdup(chain->block[i].cav.aud);
	if (!aud && zk_chain_root_payload(&json, &len, chain) == 0) {
		json_t *claims = json_loadb(json, len, 0, NULL);
		const char *a = json_string_value(json_object_get(claims, "aud"));
		if (a && *a)
			aud = zk_wipe_strdup(a);
		json_decref(claims);
	}
	if (json) {
		sodium_memzero(json, len);
		free(json); /* plain malloc (tokenchain.c) */
	}
	zk_chain_free(chain);
	return aud;
}

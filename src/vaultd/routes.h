#ifndef ZK_VAULTD_ROUTES_H
#define ZK_VAULTD_ROUTES_H

#include "lib/http.h"

void handle_secret_list(struct zk_http_req *r, void *app);
void handle_secret_get(struct zk_http_req *r, void *app);
void handle_secret_versions(struct zk_http_req *r, void *app);
void handle_secret_put(struct zk_http_req *r, void *app);
void handle_secret_delete(struct zk_http_req *r, void *app);
void handle_secret_use(struct zk_http_req *r, void *app); /* use.c */
void handle_capability(struct zk_http_req *r, void *app);  /* use.c */

void handle_token_issue(struct zk_http_req *r, void *app);
void handle_token_revoke(struct zk_http_req *r, void *app);
void handle_token_revoke_user(struct zk_http_req *r, void *app);

void handle_export(struct zk_http_req *r, void *app);
void handle_import(struct zk_http_req *r, void *app);

#endif

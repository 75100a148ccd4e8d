/* api.h - route handlers. Each runs in the writer thread inside a nested
 * transaction, after the gauntlet (authz.c) has passed: it validates its
 * body, acts, and sets the result with req_ok/req_fail. A negative return
 * is a storage error (the request fails with 503 and changes nothing). */
#ifndef RSVAULT_API_H
#define RSVAULT_API_H

#include <stdint.h>

#include "req.h"
#include "store.h"

int api_health(struct req *r, struct store_txn *t);

int api_account_create(struct req *r, struct store_txn *t);
int api_account_token(struct req *r, struct store_txn *t);
int api_account_revoke(struct req *r, struct store_txn *t);
int api_account_revoke_token(struct req *r, struct store_txn *t);
int api_account_suspend(struct req *r, struct store_txn *t);
int api_account_reactivate(struct req *r, struct store_txn *t);
int api_me(struct req *r, struct store_txn *t);
int api_me_license(struct req *r, struct store_txn *t);

int api_license_create(struct req *r, struct store_txn *t);
int api_license_show(struct req *r, struct store_txn *t);

int api_ticket_create(struct req *r, struct store_txn *t);
int api_ticket_list(struct req *r, struct store_txn *t);
int api_ticket_show(struct req *r, struct store_txn *t);
int api_ticket_assign(struct req *r, struct store_txn *t);
int api_ticket_close(struct req *r, struct store_txn *t);

int api_cred_create(struct req *r, struct store_txn *t);
int api_cred_list(struct req *r, struct store_txn *t);
int api_cred_delete(struct req *r, struct store_txn *t);
int api_cred_secret(struct req *r, struct store_txn *t);

int api_session_open(struct req *r, struct store_txn *t);
int api_session_list(struct req *r, struct store_txn *t);
int api_session_end(struct req *r, struct store_txn *t);

int api_audit_ticket(struct req *r, struct store_txn *t);
int api_audit_list(struct req *r, struct store_txn *t);
int api_audit_checkpoint(struct req *r, struct store_txn *t);
int api_audit_checkpoints(struct req *r, struct store_txn *t);

/* Create the first admin account and its token on an empty store; the
 * token expires tokens_admin_ttl_ms() after now. Writes the token (caller
 * wipes it) and its id. */
int api_bootstrap_admin(struct store_txn *t, int64_t now, char *token_out, size_t len,
                        char id_out[CRYPTO_TOKEN_ID_LEN]);

/* Crypto-shredding: delete every credential of ticket tid and its wrapped
 * key (in the caller's transaction). */
int tickets_shred(struct store_txn *t, const char *tid);

/* Destroy credentials whose time ran out (a bounded number per call). */
int creds_sweep(struct store_txn *t, int64_t now);

#endif

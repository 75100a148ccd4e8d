/* api.h - route handlers. Each runs in the writer thread inside a nested
 * transaction, after the gauntlet (authz.c) has passed: it validates its
 * body, acts, and sets the result with req_ok/req_fail. A negative return
 * is a storage error (the request fails with 503 and changes nothing). */
#ifndef RSVAULT_API_H
#define RSVAULT_API_H

#include <stdint.h>

#include "creds.h" /* creds_alive, creds_destroy, creds_shred_ticket, creds_sweep */
#include "req.h"
#include "store.h"

int api_health(struct req *r, struct store_txn *t);
/* GET /v1/metrics (api_metrics.c): samples the gauges that need the store,
 * then the HTTP layer answers with metrics_render(). */
int api_metrics(struct req *r, struct store_txn *t);

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
/* On the connection's thread, before an upload is queued: check its body
 * and seal it with the ticket's key, so that the writer only checks the
 * key is unchanged and stores the record (api_credentials.c). */
void api_cred_prepare(struct req *r);
int api_cred_list(struct req *r, struct store_txn *t);
int api_cred_delete(struct req *r, struct store_txn *t);
int api_cred_secret(struct req *r, struct store_txn *t);

int api_session_open(struct req *r, struct store_txn *t);
int api_session_list(struct req *r, struct store_txn *t);
int api_session_end(struct req *r, struct store_txn *t);
int api_session_approve(struct req *r, struct store_txn *t);
int api_session_deny(struct req *r, struct store_txn *t);
int api_ticket_approval(struct req *r, struct store_txn *t);

/* Links and receipts (api_links.c, SPEC 8.2). */
int api_link_create(struct req *r, struct store_txn *t);
int api_link_list(struct req *r, struct store_txn *t);
int api_link_revoke(struct req *r, struct store_txn *t);
int api_link_open(struct req *r, struct store_txn *t);
int api_link_upload(struct req *r, struct store_txn *t);
int api_receipt_view(struct req *r, struct store_txn *t);
/* Append item (its reference taken; NULL fails) to arr; past max entries
 * remove the one whose string member key is smallest (missing counts as
 * ""; the first among equals), so the newest max stay. 0 kept all, 1
 * removed one, -1 failed. The receipt's reads and sessions use it. */
int receipt_keep_newest(json_t *arr, json_t *item, size_t max, const char *key);
int api_receipt_destroy(struct req *r, struct store_txn *t);

/* Revoke every link of ticket tid (it is closing) or every link account
 * made (it is being suspended), each with a link.revoke event caused by
 * request by, with reason. Returns 0 or a store_err. */
int links_revoke_ticket(struct store_txn *t, const char *tid, const struct req *by,
                        const char *reason);
int links_revoke_creator(struct store_txn *t, const char *account, const struct req *by,
                         const char *reason);
/* Was link lid made by owner, so that an upload through it speaks for the
 * owner (docs/policy.md §5, clearing rotation marks by label)? 1 yes, 0
 * no (also for an unknown link), or a store_err. */
int link_speaks_for(struct store_txn *t, const char *lid, const char *owner);

/* The credential kinds (SPEC 6), NULL-terminated. */
extern const char *const cred_kind_words[];

/* Its public view {"id","label","kind","created_at","expires_at"} into
 * *view. Returns 0, STORE_NOTFOUND (absent or expired), CRED_TAMPERED (a
 * stored record fails authentication; logged) or a store_err. */
#define CRED_TAMPERED (-1000)
int cred_view(struct store_txn *t, const char *tid, const char *cid, int64_t now, json_t **view);

int api_audit_ticket(struct req *r, struct store_txn *t);
int api_audit_list(struct req *r, struct store_txn *t);
int api_audit_checkpoint(struct req *r, struct store_txn *t);
int api_audit_checkpoints(struct req *r, struct store_txn *t);

/* Master-key versions and the rewrap (api_keys.c, SPEC 8.4). */
int api_admin_keys(struct req *r, struct store_txn *t);
int api_admin_rewrap(struct req *r, struct store_txn *t);
#ifdef RSVAULT_TESTING
int api_test_seed_keys(struct req *r, struct store_txn *t);
#endif
/* Start the rewrap thread (resuming a rewrap a stop interrupted), after
 * the store is open and the keys unsealed; stop it before the store
 * closes. rewrap_start returns 0 or -1. */
struct vault;
int rewrap_start(struct vault *v);
void rewrap_stop(void);

/* Create the first admin account and its token on an empty store; the
 * token expires tokens_admin_ttl_ms() after now. Writes the token (caller
 * wipes it) and its id. */
int api_bootstrap_admin(struct store_txn *t, int64_t now, char *token_out, size_t len,
                        char id_out[CRYPTO_TOKEN_ID_LEN]);

#endif

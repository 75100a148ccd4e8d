/* authz.h - the one authorization gauntlet (SPEC §6 order):
 * authenticate (401/429) -> suspended (403) -> relation to the ticket (404)
 * -> role (403 forbidden) -> eligibility (403 license_required) -> session
 * (403 session_required / session_expired) -> ticket state (409).
 * Runs in the writer thread inside the request's transaction. */
#ifndef RSVAULT_AUTHZ_H
#define RSVAULT_AUTHZ_H

#include "req.h"
#include "store.h"

/* Failed authentications per address before 429, and the window. */
#define AUTHZ_FAIL_LIMIT 10
#define AUTHZ_FAIL_WINDOW_MS 60000

/* The window in force (AUTHZ_FAIL_WINDOW_MS; test builds may shorten it
 * before traffic starts). */
extern int64_t authz_fail_window_ms;

/* Returns 0 when the request may go on to its handler; otherwise the HTTP
 * status with r's error set (or a negative store_err). */
int authz_run(struct req *r, struct store_txn *t);

/* Session state at time now: "active", "ended" or "expired". */
const char *session_state(const json_t *sess, int64_t now);

#endif

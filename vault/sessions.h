/* sessions.h - ending sessions when the rules say they end: on request,
 * reassignment, close, expiry, ineligible owner, suspended agent. */
#ifndef RSVAULT_SESSIONS_H
#define RSVAULT_SESSIONS_H

#include <jansson.h>

#include "store.h"

/* Public view of a session with its state at time now. New reference. */
json_t *session_view(const json_t *sess, int64_t now);

/* Mark session sid ended at now (if it is still active). Returns 0 or a
 * store_err. */
int session_end(struct store_txn *t, const char *sid, int64_t now);

/* End every active session of ticket tid. With audit_reason non-NULL each
 * end is also recorded as a system event with that reason. */
int sessions_end_ticket(struct store_txn *t, const char *tid, int64_t now,
                        const char *audit_reason);

/* End the active sessions on every ticket owned by / assigned to account. */
int sessions_end_owner(struct store_txn *t, const char *owner, int64_t now, const char *reason);
int sessions_end_agent(struct store_txn *t, const char *agent, int64_t now, const char *reason);

/* The active session on ticket tid, if any (new reference) or NULL. */
int session_active_on(struct store_txn *t, const char *tid, int64_t now, json_t **out);

/* Sweeper: end sessions that expired or whose owner or agent lost the right
 * to them. */
int sessions_sweep(struct store_txn *t, int64_t now);

#endif

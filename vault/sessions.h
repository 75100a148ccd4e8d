/* sessions.h - ending sessions when the rules say they end: on request,
 * reassignment, close, expiry, ineligible owner, suspended agent.
 *
 * Exclusive check-out is kept by an index, DB_TICKET_ACTIVE: ticket id ->
 * the id of the session that was requested or opened last on it and has
 * not ended, been denied or been swept: at most one session per ticket is
 * pending (waiting for the owner's approval, SPEC 8.3) or active.
 *
 * A session record holds "state": pending, active, denied, ended or
 * expired, written in the same transaction as the audit event of the
 * change (session.open, session.approve, session.deny, session.end,
 * session.expire), so whatever reads the record with the event sees the
 * state it reports. Every way a session ends clears its entry in the same
 * transaction; the index can point at a session whose time ran out but
 * that the sweeper has not reached yet, so readers always check the
 * session's state at the time of the request. */
#ifndef RSVAULT_SESSIONS_H
#define RSVAULT_SESSIONS_H

#include <jansson.h>

#include "records.h"
#include "req.h"
#include "store.h"

/* The reason of the session.end event of a session that something other
 * than DELETE /v1/sessions/{sid} ended (docs/policy.md, section 7). */
#define END_REASSIGNED "reassigned"               /* the ticket got another agent */
#define END_TICKET_CLOSED "ticket_closed"         /* the ticket was closed */
#define END_ACCOUNT_SUSPENDED "account_suspended" /* its agent or the owner was suspended */
#define END_LICENSE_REQUIRED "license_required"   /* the owner is no longer eligible */
#define END_CREDENTIAL_DESTROYED                                                                   \
	"credential_destroyed" /* a receipt destroyed a credential the session could read */
#define END_STORE_RESTORED "store_restored" /* the store was restored from a backup */
#define END_CONFLICT                                                                               \
	"conflict" /* not the ticket's agent any more, ticket closed, or a                         \
	              second active session on the ticket (old stores) */

/* Session state at time now: "pending" (waiting for the owner's approval),
 * "active", "denied", "ended" or "expired". The record's "state" field
 * says what was last written; a pending or active session whose time ran
 * out reads "expired" at once, before the sweeper records it. */
const char *session_state(const json_t *sess, int64_t now);
/* The same of a view of the record (the gauntlet's check_session). */
const char *session_state_view(const struct rec_view *sess, int64_t now);

/* The stored session sid (DB_SESSIONS) into *out (new reference), and
 * storing it back. rec_get/rec_put's returns. */
int session_get(struct store_txn *t, const char *sid, json_t **out);
/* The same, maybe shared with the thread's record cache (rec_get_shared):
 * read only. For notify.c's payloads. */
int session_get_shared(struct store_txn *t, const char *sid, const json_t **out);
int session_put(struct store_txn *t, const char *sid, const json_t *s, unsigned flags);

/* The index of a ticket's sessions (DB_TICKET_SESSIONS): add sid to
 * ticket tid's; call fn(sid bytes, length, arg) for each of them in key
 * order (idx_each's contract). */
int session_add_to_ticket(struct store_txn *t, const char *tid, const char *sid);
int sessions_of_ticket_each(struct store_txn *t, const char *tid, idx_fn fn, void *arg);

/* Public view of a session with its state at time now. New reference. */
json_t *session_view(const json_t *sess, int64_t now);

/* The session on ticket tid that is pending or active at time now (new
 * reference), or NULL. An index entry whose session ran out of time is
 * recorded as expired (session.expire) and dropped on the way. */
int session_active_on(struct store_txn *t, const char *tid, int64_t now, json_t **out);

/* Take session sid out of the index of ticket tid, if the index names it
 * (a denied request). Returns 0 or a store_err. */
int session_unindex(struct store_txn *t, const char *tid, const char *sid);

/* Make sid the active session of ticket tid (when it is opened). */
int session_set_active(struct store_txn *t, const char *tid, const char *sid);

/* Mark session sid ended at now if it is still active, and take it out of
 * the index (DELETE /v1/sessions/{sid}: the request's own event records
 * it). Returns 0 or a store_err. */
int session_end(struct store_txn *t, const char *sid, int64_t now);

/* End the active session of ticket tid; of every ticket owned by owner;
 * of every ticket assigned to agent (the agent's own sessions). Each
 * session ended gets its own session.end event with this reason, with the
 * principal of request by as its actor, or none (by NULL: a system event).
 * Returns 0 or a store_err. */
int sessions_end_ticket(struct store_txn *t, const char *tid, int64_t now, const struct req *by,
                        const char *reason);
int sessions_end_owner(struct store_txn *t, const char *owner, int64_t now, const struct req *by,
                       const char *reason);
int sessions_end_agent(struct store_txn *t, const char *agent, int64_t now, const struct req *by,
                       const char *reason);

/* Sweeper: end sessions (pending or active) whose owner or agent lost the
 * right to them (with a system session.end event), and record sessions
 * whose time ran out, pending ones after the approval timeout and active
 * ones after their ttl, as "expired" with one system session.expire event
 * each, taking them out of the index. Looks at up to SESSIONS_SWEEP_MAX
 * sessions per call and goes on from there at the next. */
#define SESSIONS_SWEEP_MAX 4096
int sessions_sweep(struct store_txn *t, int64_t now);

#endif

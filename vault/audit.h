/* audit.h - the server side of the audit log: appending events to the
 * hash chain inside the caller's transaction, and signed checkpoints. The
 * chain's format lives in common/auditlog.h. */
#ifndef RSVAULT_AUDIT_H
#define RSVAULT_AUDIT_H

#include "req.h"
#include "store.h"

/* Append the event for request r with outcome "allow" or "deny" in txn t
 * (same transaction as the change it records). The event's token is the
 * id of the token the request authenticated with; its target is
 * r->a_target, or for a route about an account that did not set one (a
 * denial before the handler ran), the account named in the path. Signs a checkpoint when the
 * new seq is a multiple of AUDIT_CHECKPOINT_EVERY. Returns 0 or a
 * store_err (the caller then fails the request with 503). */
int audit_record(struct store_txn *t, const struct req *r, int allow);

/* The seq of the newest event in t (0: none yet), as the next append
 * would see it (events appended earlier in the same batch included). */
int audit_head(struct store_txn *t, uint64_t *seq);

/* Append a system event (sweeper, implicit session ends): no actor. */
int audit_system(struct store_txn *t, const char *action, const char *ticket,
                 const char *credential, const char *session, const char *reason);

/* Append the auth.limited event of one limited period: actor null,
 * outcome deny, reason rate_limited, ip the address group (NULL for the
 * limit on all addresses), target the refused count in decimal. */
int audit_limited(struct store_txn *t, const char *ip, uint64_t refused);

/* Append a system event that names what it acted on in target (and
 * nothing else): store.admin_token, the bootstrap account.create, ... */
int audit_system_target(struct store_txn *t, const char *action, const char *target);

/* Append an event that request r caused besides its own (a session that
 * its change ended): actor, role, ip and request_id are r's, outcome
 * "allow", with the reason given. In r's transaction, before r's own
 * event. */
int audit_caused(struct store_txn *t, const struct req *r, const char *action, const char *ticket,
                 const char *session, const char *reason);

/* As audit_caused, naming what it acted on in target (a link that a
 * ticket's close or an account's suspension revoked). */
int audit_caused_target(struct store_txn *t, const struct req *r, const char *action,
                        const char *ticket, const char *target, const char *reason);

/* Sign a checkpoint for the newest event if the oldest unsigned event is
 * at least max_age_ms old (or max_age_ms is 0 and any event is unsigned). */
int audit_checkpoint_due(struct store_txn *t, int64_t now, int64_t max_age_ms);

/* Sign a checkpoint for the newest event unless it has one, however
 * recent it is (and whatever the clock did since it was written). */
int audit_checkpoint_now(struct store_txn *t);

/* Sign checkpoints with sk (public half pk) instead of audit.key, or
 * with audit.key again when sk is NULL. Only at start-up, in the writer,
 * to sign the announcement of a new audit key with the key before it
 * (auditkeys.c). */
void audit_set_signer(const unsigned char *sk, const unsigned char *pk);
/* The seq of the newest event as t sees it (0 for an empty log). Returns
 * 0 or a store_err. */
int audit_head_seq(struct store_txn *t, uint64_t *seq);

#define AUDIT_CHECKPOINT_EVERY 100

#endif

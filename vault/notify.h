/* notify.h - notifications derived from audit events (SPEC 8.3), and the
 * rotation prompt.
 *
 * audit.c calls notify_event for every event it appends, in the same
 * transaction, once the event's seq is known: an allowed event of the
 * kinds below becomes one or more notifications (payload JSON, see
 * docs/webhooks.md), each written to the webhook outbox (webhooks.h) for
 * every webhook that takes its type. A rolled-back change so notifies
 * nobody, and a committed one survives restarts.
 *
 *   credential.create, link.upload          -> credential.uploaded
 *   credential.read                         -> credential.read
 *   credential.delete, credential.expire,
 *   receipt.destroy                         -> credential.destroyed
 *   session.open                            -> session.requested (pending)
 *                                              or session.opened (active)
 *   session.approve                         -> session.opened
 *   session.deny, session.end,
 *   session.expire                          -> session.ended, then one
 *                                              rotation.recommended per
 *                                              credential read in it
 *   ticket.close                            -> ticket.closed, then one
 *                                              credential.destroyed per
 *                                              credential it shredded
 *
 * Rotation: each credential has a small record of its own (DB_CRED_META,
 * no secret): read_count, last_read_at, rotate. A read in a session is
 * noted (DB_SESSION_READS); when that session ends every credential read
 * in it that still exists is marked "rotate": true. An upload with the
 * same label, or POST .../rotated, clears the mark. */
#ifndef RSVAULT_NOTIFY_H
#define RSVAULT_NOTIFY_H

#include <jansson.h>

#include "auditlog.h"
#include "req.h"
#include "store.h"

/* In the writer, inside the transaction that appended ev (at time now):
 * the notifications and rotation bookkeeping of ev. Returns 0 or a
 * store_err (the caller then fails, and nothing of ev is kept). */
int notify_event(struct store_txn *t, const struct audit_event *ev, int64_t now);

/* Add "read_count", "last_read_at" and "rotate" of credential (tid, cid)
 * to view (a credential's summary). Returns 0 or a store_err. */
int notify_cred_fields(struct store_txn *t, const char *tid, const char *cid, json_t *view);

/* Is credential (tid, cid) marked for rotation? *rotate 0 or 1. Returns 0
 * or a store_err. */
int notify_cred_rotate(struct store_txn *t, const char *tid, const char *cid, int *rotate);

/* POST /v1/tickets/{tid}/credentials/{cid}/rotated (the owner, or the
 * receipt of that credential): clear the mark, answer the summary. */
int api_cred_rotated(struct req *r, struct store_txn *t);

#endif

/* audit_read.h - reading the audit log: the only reader of the rows of
 * DB_AUDIT, DB_AUDIT_TICKET and DB_CHECKPOINTS (audit.c appends them).
 * Events come out as JSON in the shape of their form (every key present,
 * also for rows written before form 2). Each runs in the caller's
 * transaction; none of them block on anything but the store. */
#ifndef RSVAULT_AUDIT_READ_H
#define RSVAULT_AUDIT_READ_H

#include <stdint.h>

#include <jansson.h>

#include "store.h"

/* Keep event ev in a listing? (arg as given.) */
typedef int (*audit_keep_fn)(const json_t *ev, const void *arg);

/* Every listing shows no row with a seq past upto (UINT64_MAX: no such
 * bound): a page read after its request's commit stops at the newest seq
 * its decision saw (docs/decisions.md, "Audit pages read after the
 * commit").

 * Events with seq > after, oldest first, kept when keep (NULL: all)
 * says so, appended to arr: at most limit of them, scanning at most scan
 * rows. *next = the last seq scanned (after when none), so a sparse
 * filter still pages. Returns 0 or a store_err (a row that does not parse
 * is STORE_ERROR). */
int audit_read_events(struct store_txn *t, int64_t after, int64_t limit, int64_t scan,
                      audit_keep_fn keep, const void *arg, json_t *arr, uint64_t *next,
                      uint64_t upto);

/* Newest first: events with seq < before (before 0: from the newest),
 * kept when keep says so, appended to arr, at most limit of them, looking
 * at most at scan rows. *next = the lowest seq looked at (the before_seq
 * of the next page); with nothing left to look at, the before sent (1
 * once event 1 was listed), or the newest seq + 1 for a before past the
 * end. Returns 0 or a store_err. */
int audit_read_events_desc(struct store_txn *t, int64_t before, int64_t limit, int64_t scan,
                           audit_keep_fn keep, const void *arg, json_t *arr, uint64_t *next,
                           uint64_t upto);

/* Ticket tid's events (every event that names it) with seq > after,
 * oldest first, at most limit, appended to arr; *next = the last seq
 * appended (after when none). Returns 0 or a store_err. */
int audit_read_ticket(struct store_txn *t, const char *tid, int64_t after, int64_t limit,
                      json_t *arr, uint64_t *next, uint64_t upto);

/* Call fn for each audit event of ticket tid (JSON of the event), oldest
 * first; fn returning non-zero stops the walk and is returned. */
typedef int (*audit_event_fn)(const json_t *ev, void *arg);
int audit_ticket_each(struct store_txn *t, const char *tid, audit_event_fn fn, void *arg);

/* Signed checkpoints with seq > after, oldest first, at most limit,
 * appended to arr as served (without time_ms); *next = the last seq
 * appended (after when none). Returns 0 or a store_err. */
int audit_read_checkpoints(struct store_txn *t, int64_t after, int64_t limit, json_t *arr,
                           uint64_t *next, uint64_t upto);

/* The newest checkpoint as served into *out (new reference). Returns 0,
 * STORE_NOTFOUND (none signed yet) or a store_err. */
int audit_read_last_checkpoint(struct store_txn *t, json_t **out);

/* The chain's head in t: the newest event's seq and hash (0 and 32 zero
 * bytes for an empty log). For a backup's copy and `rsvault-keys restore`
 * (the appending writer keeps its own, in audit.c). Returns 0 or a
 * store_err. */
int audit_read_head(struct store_txn *t, uint64_t *seq, unsigned char hash[32]);

#endif

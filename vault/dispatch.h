/* dispatch.h - run one request as a write operation: the gauntlet, the
 * handler and the audit event, committed together. */
#ifndef RSVAULT_DISPATCH_H
#define RSVAULT_DISPATCH_H

#include "req.h"

/* Run r (its route found, its inputs filled) to completion: sets r->status
 * and r->resp or r's error. Blocks until the change and its audit event are
 * durably committed, or fails with 503 unavailable within a bounded time. */
void dispatch(struct req *r);

/* The periodic job: sweep expired credentials, end sessions whose owner
 * lost eligibility or whose agent was suspended, sign due checkpoints. */
int dispatch_tick(struct store_txn *t, void *arg);

#endif

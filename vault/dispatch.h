/* dispatch.h - run one request as a write operation: the gauntlet, the
 * handler and the audit event, committed together. */
#ifndef RSVAULT_DISPATCH_H
#define RSVAULT_DISPATCH_H

#include "req.h"

/* A request parked while the writer works on it: the HTTP layer's, kept
 * in its per-request context from dispatch_start to dispatch_finish. */
struct dispatch_wait {
	struct req *job;              /* the copy the writer works on */
	int rc;                       /* the store's verdict (store_done_fn) */
	void (*wake)(void *wake_ctx); /* called once, from another thread, with
	                               * the verdict set: resume the request */
	void *wake_ctx;
};

/* Start r (its route found, its inputs filled, authz_gate passed;
 * dw->wake and dw->wake_ctx set). Returns 1 when r is answered already (a
 * failure to queue: 503, nothing written, wake never called), 0 when r was queued: then
 * dw->wake is called exactly once, within the store's time bound, and
 * the caller must then call dispatch_finish. */
int dispatch_start(struct req *r, struct dispatch_wait *dw);

/* After the wake: set r->status and r->resp or r's error. A success was
 * durably committed with its audit event; a 503 says whether the request
 * changed nothing or its outcome is unknown. */
void dispatch_finish(struct req *r, struct dispatch_wait *dw);

/* After the wake, for a request whose connection went away before
 * dispatch_finish: free the copy if it is ours. */
void dispatch_drop(struct dispatch_wait *dw);

/* The periodic job: sweep expired credentials, end sessions whose owner
 * lost eligibility or whose agent was suspended, sign due checkpoints. */
int dispatch_tick(struct store_txn *t, void *arg);

#endif

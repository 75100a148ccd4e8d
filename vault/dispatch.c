/* dispatch.c - one request, one write operation.
 *
 * The writer runs op() inside a nested transaction T1. The gauntlet and
 * the handler run in a child T2 of T1. If they allow the request, its audit
 * event is appended in T2 and T2 commits: the change and its event land
 * together. If they deny it, T2 is aborted, so a denial changes nothing,
 * and the deny event is appended in T1. Any storage failure fails the whole
 * operation: 503 and no change, no event.
 *
 * The writer runs the operation on a copy of the request, not on the HTTP
 * layer's request: if the answer cannot wait any longer (the bound of
 * store_submit_async), the connection is answered 503 and the copy stays
 * with the store, which discards it when the writer is done with it. A
 * late commit so never writes into a request that was already answered.
 * The copy and the store's operation are in the request's arena; the
 * operation holds a reference to it, which the store gives back after its
 * last touch of the operation (store_submit_async_in), so the arena
 * outlives a connection that was answered or closed meanwhile.
 *
 * No thread waits for the disk: dispatch_start queues the copy and returns;
 * the HTTP layer parks the connection (suspends it) and the store's
 * verdict, after the batch's durable commit or at the deadline, resumes
 * it; dispatch_finish then takes the result. */
#include "dispatch.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "arena.h"
#include "audit.h"
#include "authz.h"
#include "log.h"
#include "page.h"
#include "route.h"
#include "sessions.h"
#include "util.h"
#include "vault.h"
#include "wipe.h"

static int run(struct req *r, struct store_txn *t)
{
	int st;

	if ((st = authz_run(r, t)) != 0)
		return st;
	if ((st = page_check_query(r)) != 0) /* SPEC 8.6: unknown ones are refused */
		return st;
	if (r->body_state == BODY_INVALID)
		return req_fail(r, 400, "invalid_json", "%s", r->body_error);
	if (!(r->route->flags & R_BODY) && r->body != NULL && json_object_size(r->body) != 0)
		return req_fail(r, 400, "invalid_field", "this route takes no body");
	return r->route->handler(r, t);
}

static int op(struct store_txn *t1, void *arg)
{
	struct req *r = arg;
	struct store_txn *t2;
	int st, rc;

	r->now = util_now_ms();
	if ((rc = store_child_begin(t1, &t2)) != STORE_OK)
		return rc;
	st = run(r, t2);
	if (st < 0) {
		store_child_abort(t2);
		return st;
	}
	if (r->route->flags & R_NOAUDIT) { /* no event, allowed or denied */
		if (st < 400)
			return store_child_commit(t2);
		store_child_abort(t2);
		return STORE_OK;
	}
	if (st < 400) {
		/* Staff work may use the map's reserve: an admin can still act
		 * (close tickets, suspend accounts) and an auditor can still
		 * read the log when ordinary work is refused for lack of room. */
		if (r->who.role == ROLE_ADMIN || r->who.role == ROLE_AUDITOR)
			store_use_reserve(t1);
		if ((rc = audit_record(t2, r, 1)) != STORE_OK) {
			store_child_abort(t2);
			return rc;
		}
		return store_child_commit(t2);
	}
	store_child_abort(t2);
	/* A denial writes only its audit event: that may use the reserve. */
	store_use_reserve(t1);
	return audit_record(t1, r, 0);
}

static void req_discard(struct req *w)
{
	req_post_clear(w);
	json_decref(w->body);
	json_decref(w->resp);
	req_text_clear(w);
	jx_release(w->ticket);
	jx_release(w->session);
	req_uri_clear(w);
	/* (in the arena, which wipes it again when its last holder lets go) */
	arena_wipe(w->arena, w, sizeof *w); /* the bearer token among the rest */
}

/* The store is done with a request whose caller was answered 503 before
 * its commit finished: say how it ended, then free it. */
static void req_release(void *arg, int rc)
{
	struct req *w = arg;

	if (rc != STORE_TIMEOUT)
		log_msg("request %s: answered 503 before its commit finished; it %s", w->request_id,
		        rc == STORE_OK        ? "committed after all"
		        : rc == STORE_UNKNOWN ? "committed, but the sync after it failed"
		                              : "did not commit");
	req_discard(w);
}

/* Move the request into w (w takes its JSON) and back. */
static void req_move(struct req *to, struct req *from)
{
	memcpy(to, from, sizeof *to); /* uri and query: the same buffer, now to's */
	from->uri = NULL;
	from->query = NULL;
	from->body = NULL;
	from->resp = NULL;
	from->resp_text = NULL;
	from->ticket = NULL;
	from->session = NULL;
	from->post_rec = NULL; /* to's now */
	from->post_reclen = 0;
}

/* The store's verdict on a queued request: kept for dispatch_finish, then
 * the HTTP layer is told (it resumes the connection). */
static void job_done(void *ctx, int rc)
{
	struct dispatch_wait *dw = ctx;

	dw->rc = rc;
	dw->wake(dw->wake_ctx);
}

int dispatch_start(struct req *r, struct dispatch_wait *dw)
{
	struct arena *a = r->arena;
	struct req *w;
	void *om;

	authz_prehash(r);    /* the writer only looks the token up */
	api_cred_prepare(r); /* an upload: checked and sealed here, not in the writer */
	w = arena_alloc(a, sizeof *w);
	om = arena_alloc(a, store_op_size());
	if (w == NULL || om == NULL) {
		req_fail(r, 503, "unavailable",
		         "the vault cannot commit right now; nothing changed");
		return 1;
	}
	req_move(w, r);
	dw->job = w;
	dw->rc = STORE_ERROR;
	arena_ref(a); /* the operation's, given back by the store */
	if (store_submit_async_in(r->v->store, om, arena_unref_cb, a, op, w, req_release, job_done,
	                          dw) != STORE_OK) {
		arena_unref(a);
		req_move(r, w);
		arena_wipe(a, w, sizeof *w);
		dw->job = NULL;
		req_fail(r, 503, "unavailable",
		         "the vault cannot commit right now; nothing changed");
		return 1;
	}
	return 0;
}

void dispatch_drop(struct dispatch_wait *dw)
{
	struct req *w = dw->job;

	dw->job = NULL;
	if (w != NULL && dw->rc != STORE_TIMEOUT && dw->rc != STORE_UNKNOWN)
		req_discard(w); /* ours again: the store is done with it */
}

void dispatch_finish(struct req *r, struct dispatch_wait *dw)
{
	struct req *w = dw->job;
	int rc = dw->rc;

	dw->job = NULL;
	if (rc == STORE_TIMEOUT || rc == STORE_UNKNOWN) {
		/* w is the store's now: never touched here again */
		log_msg("request %s: %s", r->request_id,
		        rc == STORE_TIMEOUT ? "not run within the time limit"
		                            : "its commit did not finish within the time limit");
		if (rc == STORE_TIMEOUT)
			req_fail(r, 503, "unavailable",
			         "the vault cannot commit right now; nothing changed");
		else
			req_fail(r, 503, "unavailable",
			         "the vault could not confirm the commit (in time, or its sync "
			         "failed): the outcome is unknown, and a retry is safe only for an "
			         "idempotent request");
		return;
	}
	req_move(r, w);
	arena_wipe(r->arena, w, sizeof *w);
	if (rc != STORE_OK) {
		req_post_clear(r);
		log_msg("request %s: storage failed (%d)", r->request_id, rc);
		if (rc == STORE_FULL)
			req_fail(r, 503, "unavailable",
			         "the vault's storage is full; nothing changed");
		else
			req_fail(r, 503, "unavailable",
			         "the vault cannot commit right now; nothing changed");
		return;
	}
	/* Committed: the work the decision does not need (decryption, the
	 * response) runs here, on the connection's thread, from what the
	 * writer copied out while it decided. */
	if (r->post != NULL && r->status < 400)
		r->post(r);
	req_post_clear(r);
}

int dispatch_tick(struct store_txn *t, void *arg)
{
	struct vault *v = arg;
	int64_t now = util_now_ms();
	int rc;

	if ((rc = creds_sweep(t, now)) != STORE_OK)
		return rc;
	if ((rc = sessions_sweep(t, now)) != STORE_OK)
		return rc;
	if ((rc = authz_tick(t, 0)) != STORE_OK) /* ended rate-limited periods */
		return rc;
	return audit_checkpoint_due(t, now, v->checkpoint_ms);
}

/* dispatch.c - one request, one write operation.
 *
 * The writer runs op() inside a nested transaction T1. The gauntlet and
 * the handler run in a child T2 of T1. If they allow the request, its audit
 * event is appended in T2 and T2 commits: the change and its event land
 * together. If they deny it, T2 is aborted, so a denial changes nothing,
 * and the deny event is appended in T1. Any storage failure fails the whole
 * operation: 503 and no change, no event. */
#include "dispatch.h"

#include "api.h"

#include <string.h>

#include "api.h"
#include "audit.h"
#include "authz.h"
#include "log.h"
#include "route.h"
#include "sessions.h"
#include "util.h"
#include "vault.h"

static int run(struct req *r, struct store_txn *t)
{
	int st;

	if ((st = authz_run(r, t)) != 0)
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
	if (st < 400) {
		if ((rc = audit_record(t2, r, 1)) != STORE_OK) {
			store_child_abort(t2);
			return rc;
		}
		return store_child_commit(t2);
	}
	store_child_abort(t2);
	return audit_record(t1, r, 0);
}

void dispatch(struct req *r)
{
	if (authz_gate(r) != 0) /* refused by a rate limit: answered, nothing written */
		return;
	int rc = store_write(r->v->store, op, r);

	if (rc != STORE_OK) {
		if (rc == STORE_TIMEOUT)
			log_msg("request %s: the writer did not take it in time", r->request_id);
		else
			log_msg("request %s: storage failed (%d)", r->request_id, rc);
		req_fail(r, 503, "unavailable",
		         "the vault cannot commit right now; nothing changed");
	}
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

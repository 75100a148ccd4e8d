/* api_sessions.c - open, list and end remote sessions. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "page.h"
#include "apilimits.h"
#include "authz.h"
#include "crypto.h"
#include "records.h"
#include "sessions.h"
#include "util.h"
#include "validate.h"
#include "vault.h"

/* The ticket's approval mode (SPEC 8.3): "owner" or "none". */
static int needs_approval(const json_t *ticket)
{
	return streq(jx_str(ticket, "approval"), "owner");
}

int api_session_open(struct req *r, struct store_txn *t)
{
	static const char *const fields[] = {"ttl_s", NULL};
	int64_t max = r->v->session_max_ttl_s, ttl;
	json_t *live, *s;
	char sid[64];
	int rc;

	if ((rc = v_only(r, fields)) ||
	    (rc = v_int(r, "ttl_s", 0, 1, max,
	                max < API_SESSION_TTL_DEFAULT ? max : API_SESSION_TTL_DEFAULT, &ttl)))
		return rc;
	if ((rc = session_active_on(t, r->a_ticket, r->now, &live)) != STORE_OK)
		return rc;
	if (live != NULL) {
		/* say until when it runs (SPEC 8.6), not whose it is */
		char until[UTIL_TIME_LEN] = "?";
		int pending = streq(session_state(live, r->now), "pending");
		if (!pending)
			util_format_time(jx_int(live, "expires_at", -1), until);
		json_decref(live);
		if (pending)
			return req_fail(r, 409, "conflict",
			                "a session is already waiting for approval on this ticket");
		return req_fail(r, 409, "conflict",
		                "a session is already active on this ticket until %s", until);
	}
	crypto_new_id(sid);
	snprintf(r->a_session, sizeof r->a_session, "%s", sid);
	if (needs_approval(r->ticket))
		/* its time starts when the owner approves it */
		s = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "id", sid, "ticket",
		              r->a_ticket, "agent", r->who.id, "state", "pending", "requested_at",
		              (json_int_t)r->now, "approve_by",
		              (json_int_t)(r->now + r->v->approval_timeout_s * 1000), "ttl_s",
		              (json_int_t)ttl);
	else
		s = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "id", sid, "ticket",
		              r->a_ticket, "agent", r->who.id, "state", "active", "requested_at",
		              (json_int_t)r->now, "opened_at", (json_int_t)r->now, "expires_at",
		              (json_int_t)(r->now + ttl * 1000));
	if (s == NULL)
		return STORE_ERROR;
	if ((rc = session_put(t, sid, s, STORE_NOOVERWRITE)) == STORE_OK &&
	    (rc = session_add_to_ticket(t, r->a_ticket, sid)) == STORE_OK &&
	    (rc = session_set_active(t, r->a_ticket, sid)) == STORE_OK)
		rc = req_ok(r, 201,
		            json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "id", sid, "ticket",
		                      r->a_ticket, "agent", r->who.id, "state",
		                      session_state(s, r->now), "requested_at", jx_time(r->now),
		                      "opened_at", jx_time(jx_int(s, "opened_at", -1)),
		                      "expires_at", jx_time(jx_int(s, "expires_at", -1))));
	json_decref(s);
	return rc;
}

/* Approving re-checks what opening checked (SPEC 8.3): the gauntlet did
 * the owner's eligibility and the open ticket; here the session's agent
 * must still be the ticket's agent and not suspended. */
static int agent_still_fit(struct req *r, struct store_txn *t, const json_t *s)
{
	json_t *a;
	int rc, ok;

	if (!streq(jx_str(r->ticket, "agent"), jx_str(s, "agent")))
		return req_fail(r, 409, "conflict", "the session's agent is no longer assigned");
	if ((rc = rec_get(t, DB_ACCOUNTS, jx_str(s, "agent"), &a)) == STORE_NOTFOUND)
		return req_fail(r, 409, "conflict", "the session's agent is no longer assigned");
	if (rc != STORE_OK)
		return rc;
	ok = !json_is_true(json_object_get(a, "suspended"));
	json_decref(a);
	if (!ok)
		return req_fail(r, 409, "conflict", "the session's agent is suspended");
	return 0;
}

/* POST /v1/sessions/{sid}/approve and .../deny: the owner's token (the
 * whole ticket) or a receipt of a credential of the ticket (that
 * credential only). Only a pending session can be decided. */
static int decide(struct req *r, struct store_txn *t, int approve)
{
	/* r->session is read only (req.h): the decision changes a copy */
	json_t *s = json_deep_copy(r->session);
	const char *sid, *state;
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	jx_release(r->session);
	r->session = s;
	sid = jx_str(s, "id");
	state = session_state(s, r->now);
	if (sid == NULL)
		return STORE_ERROR;
	if (strcmp(state, "pending") != 0)
		return req_fail(r, 409, "conflict", "the session is %s, not waiting for approval",
		                state);
	if (approve && (rc = agent_still_fit(r, t, s)) != 0)
		return rc;
	json_object_set_new(s, "decided_at", json_integer(r->now));
	json_object_set_new(s, "decided_by", json_string(r->who.id));
	if (approve) {
		/* the ttl asked for when it was requested, within the maximum of
		 * now (a restart may have lowered --session-max-ttl meanwhile) */
		int64_t ttl = jx_int(s, "ttl_s", API_SESSION_TTL_DEFAULT);
		if (ttl > r->v->session_max_ttl_s)
			ttl = r->v->session_max_ttl_s;
		json_object_set_new(s, "state", json_string("active"));
		json_object_set_new(s, "opened_at", json_integer(r->now));
		json_object_set_new(s, "expires_at", json_integer(r->now + ttl * 1000));
		if (r->who.role == ROLE_GUEST) /* a receipt: its own credential only */
			json_object_set_new(s, "credential", json_string(r->a_cred));
	} else {
		json_object_set_new(s, "state", json_string("denied"));
		json_object_set_new(s, "ended_at", json_integer(r->now));
	}
	if ((rc = session_put(t, sid, s, 0)) != STORE_OK)
		return rc;
	if (!approve && (rc = session_unindex(t, r->a_ticket, sid)) != STORE_OK)
		return rc;
	return req_ok(r, 200, session_view(s, r->now));
}

int api_session_approve(struct req *r, struct store_txn *t)
{
	return decide(r, t, 1);
}

int api_session_deny(struct req *r, struct store_txn *t)
{
	return decide(r, t, 0);
}

struct slist {
	struct store_txn *t;
	int64_t now;
	json_t *arr;
	struct page pg;
};

#define PAGE_DONE 1 /* stops the walk: the page is full */

static int add_session(const void *b, size_t blen, void *arg)
{
	struct slist *l = arg;
	char sid[64];
	json_t *s;
	int rc;

	if (blen == 0 || blen >= sizeof sid || page_skip(&l->pg, b, blen))
		return 0;
	memcpy(sid, b, blen);
	sid[blen] = '\0';
	if ((rc = session_get(l->t, sid, &s)) != STORE_OK)
		return rc == STORE_NOTFOUND ? 0 : rc;
	if (page_full(&l->pg)) {
		json_decref(s);
		return PAGE_DONE;
	}
	json_array_append_new(l->arr, session_view(s, l->now));
	page_add(&l->pg, b, blen);
	json_decref(s);
	return 0;
}

int api_session_list(struct req *r, struct store_txn *t)
{
	struct slist l = {.t = t, .now = r->now};
	json_t *body;
	int rc;

	if ((rc = page_init(r, &l.pg)) != 0)
		return rc;
	if ((l.arr = json_array()) == NULL)
		return STORE_ERROR;
	rc = sessions_of_ticket_each(t, r->a_ticket, add_session, &l);
	if (rc != STORE_OK && rc != PAGE_DONE) {
		json_decref(l.arr);
		return rc;
	}
	if ((body = json_pack("{s:o}", "sessions", l.arr)) == NULL ||
	    page_finish(&l.pg, body) != 0) {
		json_decref(body);
		return STORE_ERROR;
	}
	return req_ok(r, 200, body);
}

int api_session_end(struct req *r, struct store_txn *t)
{
	int rc = session_end(t, r->a_session, r->now);

	if (rc != STORE_OK)
		return rc;
	return req_ok(r, 204, NULL);
}

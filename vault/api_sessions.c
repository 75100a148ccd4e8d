/* api_sessions.c - open, list and end remote sessions. */
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

int api_session_open(struct req *r, struct store_txn *t)
{
	static const char *const fields[] = {"ttl_s", NULL};
	int64_t max = r->v->session_max_ttl_s, ttl;
	json_t *active, *s;
	char sid[64];
	int rc;

	if ((rc = v_only(r, fields)) ||
	    (rc = v_int(r, "ttl_s", 0, 1, max,
	                max < API_SESSION_TTL_DEFAULT ? max : API_SESSION_TTL_DEFAULT, &ttl)))
		return rc;
	if ((rc = session_active_on(t, r->a_ticket, r->now, &active)) != STORE_OK)
		return rc;
	if (active != NULL) {
		/* say until when it runs (SPEC 8.6), not whose it is */
		char until[UTIL_TIME_LEN] = "?";
		util_format_time(jx_int(active, "expires_at", -1), until);
		json_decref(active);
		return req_fail(r, 409, "conflict",
		                "a session is already active on this ticket until %s", until);
	}
	crypto_new_id(sid);
	snprintf(r->a_session, sizeof r->a_session, "%s", sid);
	s = json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", sid, "ticket", r->a_ticket, "agent",
	              r->who.id, "opened_at", (json_int_t)r->now, "expires_at",
	              (json_int_t)(r->now + ttl * 1000));
	if (s == NULL)
		return STORE_ERROR;
	if ((rc = session_put(t, sid, s, STORE_NOOVERWRITE)) == STORE_OK &&
	    (rc = session_add_to_ticket(t, r->a_ticket, sid)) == STORE_OK &&
	    (rc = session_set_active(t, r->a_ticket, sid)) == STORE_OK)
		rc = req_ok(r, 201,
		            json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", sid, "ticket", r->a_ticket,
		                      "agent", r->who.id, "opened_at", jx_time(r->now),
		                      "expires_at", jx_time(jx_int(s, "expires_at", -1))));
	json_decref(s);
	return rc;
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

/* api_tickets.c - tickets: create, list, show, assign, close. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "apilimits.h"
#include "authz.h"
#include "creds.h"
#include "crypto.h"
#include "license.h"
#include "log.h"
#include "page.h"
#include "records.h"
#include "sessions.h"
#include "util.h"
#include "validate.h"
#include "vault.h"

static json_t *ticket_view(const json_t *tk, int priority)
{
	json_t *ref = json_object_get(tk, "ref");

	return json_pack("{s:s, s:s, s:O, s:s, s:O, s:s, s:i, s:o, s:o, s:s}", "id",
	                 jx_str(tk, "id"), "subject", jx_str(tk, "subject"), "ref",
	                 ref ? ref : json_null(), "owner", jx_str(tk, "owner"), "agent",
	                 json_object_get(tk, "agent") ? json_object_get(tk, "agent") : json_null(),
	                 "status", jx_str(tk, "status"), "priority", priority, "created_at",
	                 jx_time(jx_int(tk, "created_at", -1)), "closed_at",
	                 jx_time(jx_int(tk, "closed_at", -1)), "approval",
	                 streq(jx_str(tk, "approval"), "owner") ? "owner" : "none");
}

static int view_of(struct req *r, struct store_txn *t, const json_t *tk, json_t **out)
{
	struct standing st;
	int rc;

	if ((rc = license_standing_of(t, jx_str(tk, "owner"), r->now, &st)) != STORE_OK)
		return rc;
	*out = ticket_view(tk, st.priority);
	standing_free(&st);
	return *out ? STORE_OK : STORE_ERROR;
}

/* r->ticket may be shared with the thread's record cache (rec_get_shared)
 * and is read only: a handler that changes the ticket changes a copy of
 * its own, which then stands in for r->ticket. *out is that copy. A change
 * made to the shared object would outlive a transaction that rolls back:
 * the cache would keep answering with it for the unchanged stored bytes. */
static int own_ticket(struct req *r, json_t **out)
{
	json_t *c = json_deep_copy(r->ticket);

	*out = NULL;
	if (c == NULL)
		return STORE_ERROR;
	jx_release(r->ticket);
	r->ticket = c;
	*out = c;
	return STORE_OK;
}

static int reply_ticket(struct req *r, struct store_txn *t, int status, const json_t *tk)
{
	json_t *v;
	int rc;

	if ((rc = view_of(r, t, tk, &v)) != STORE_OK)
		return rc;
	return req_ok(r, status, v);
}

/* The owner of a new ticket: the caller, or for an admin the customer or
 * reseller named in "owner" (SPEC 8.2), which must exist. */
static int ticket_owner(struct req *r, struct store_txn *t, const char **owner)
{
	json_t *a;
	int rc, ok;

	if (r->who.role != ROLE_ADMIN) {
		if (r->body != NULL && json_object_get(r->body, "owner") != NULL)
			return req_fail(r, 400, "invalid_field",
			                "only an admin names the owner of a ticket");
		*owner = r->who.id;
		return 0;
	}
	if ((rc = v_str(r, "owner", 1, 1, 64, 64, 0, owner)))
		return rc;
	if (!util_valid_account_id(*owner))
		return req_fail(r, 400, "invalid_field", "field \"owner\" is not an account id");
	snprintf(r->a_target, sizeof r->a_target, "%s", *owner); /* on whose behalf */
	if ((rc = rec_get(t, DB_ACCOUNTS, *owner, &a)) == STORE_NOTFOUND)
		return req_fail(r, 400, "invalid_field", "no account %s", *owner);
	if (rc != STORE_OK)
		return rc;
	ok = streq(jx_str(a, "role"), "customer") || streq(jx_str(a, "role"), "reseller");
	json_decref(a);
	if (!ok)
		return req_fail(r, 400, "invalid_field",
		                "field \"owner\" must name a customer or reseller account");
	return 0;
}

/* The approval mode in field name (SPEC 8.3): "none" or "owner"; *mode
 * NULL when the field is absent and not required. */
static int approval_mode(struct req *r, const char *name, int required, const char **mode)
{
	int rc;

	if ((rc = v_str(r, name, required, 1, 8, 8, 0, mode)))
		return rc;
	if (*mode != NULL && strcmp(*mode, "none") != 0 && strcmp(*mode, "owner") != 0)
		return req_fail(r, 400, "invalid_field",
		                "field \"%s\" must be \"none\" or \"owner\"", name);
	return 0;
}

int api_ticket_create(struct req *r, struct store_txn *t)
{
	static const char *const fields[] = {"subject", "ref", "owner", "approval", NULL};
	const char *subject, *ref, *owner, *mode;
	char id[64];
	json_t *tk;
	int rc;

	if ((rc = v_only(r, fields)) ||
	    (rc = v_str(r, "subject", 1, 1, API_SUBJECT_MAX, 4 * API_SUBJECT_MAX, 0, &subject)) ||
	    (rc = v_str(r, "ref", 0, 1, 128, 512, 0, &ref)) ||
	    (rc = approval_mode(r, "approval", 0, &mode)) || (rc = ticket_owner(r, t, &owner)))
		return rc;
	crypto_new_id(id);
	snprintf(r->a_ticket, sizeof r->a_ticket, "%s", id);
	tk = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "id", id, "subject", subject, "owner",
	               owner, "status", "open", "created_at", (json_int_t)r->now, "approval",
	               mode != NULL ? mode : "none");
	if (tk == NULL)
		return STORE_ERROR;
	if (ref != NULL)
		json_object_set_new(tk, "ref", json_string(ref));
	if ((rc = rec_put(t, DB_TICKETS, id, tk, STORE_NOOVERWRITE)) == STORE_OK &&
	    (rc = idx_put(t, DB_TICKETS_OWNER, owner, id, strlen(id))) == STORE_OK)
		rc = reply_ticket(r, t, 201, tk);
	json_decref(tk);
	return rc;
}

/* The filters of GET /v1/tickets (SPEC 8.6): each one given must match. */
struct tfilter {
	char status[16], ref[520], owner[72], agent[72];
	int has_status, has_ref, has_owner, has_agent;
};

struct listing {
	struct req *r;
	struct store_txn *t;
	json_t *arr;
	int rc;
	const struct tfilter *f;
};

static int filter_one(struct req *r, const char *name, char *out, size_t len, int *has)
{
	int got = req_query(r, name, out, len);

	if (got < 0 || (got == 1 && out[0] == '\0'))
		return req_fail(r, 400, "invalid_field", "query parameter \"%s\" is malformed",
		                name);
	*has = got;
	return 0;
}

/* Parse and check the filters; 0 or the failure status. */
static int tfilter_parse(struct req *r, struct tfilter *f)
{
	int rc;

	memset(f, 0, sizeof *f);
	if ((rc = filter_one(r, "status", f->status, sizeof f->status, &f->has_status)) ||
	    (rc = filter_one(r, "ref", f->ref, sizeof f->ref, &f->has_ref)) ||
	    (rc = filter_one(r, "owner", f->owner, sizeof f->owner, &f->has_owner)) ||
	    (rc = filter_one(r, "agent", f->agent, sizeof f->agent, &f->has_agent)))
		return rc;
	if (f->has_status && strcmp(f->status, "open") != 0 && strcmp(f->status, "closed") != 0)
		return req_fail(r, 400, "invalid_field", "status must be open or closed");
	if ((f->has_owner && !util_valid_account_id(f->owner)) ||
	    (f->has_agent && !util_valid_account_id(f->agent)))
		return req_fail(r, 400, "invalid_field", "owner and agent must be account ids");
	return 0;
}

static int tfilter_match(const struct tfilter *f, const json_t *tk)
{
	return (!f->has_status || streq(jx_str(tk, "status"), f->status)) &&
	       (!f->has_ref || streq(jx_str(tk, "ref"), f->ref)) &&
	       (!f->has_owner || streq(jx_str(tk, "owner"), f->owner)) &&
	       (!f->has_agent || streq(jx_str(tk, "agent"), f->agent));
}

static int add_ticket(struct listing *l, const char *id)
{
	json_t *tk, *v;
	int rc;

	if ((rc = rec_get(l->t, DB_TICKETS, id, &tk)) != STORE_OK)
		return rc == STORE_NOTFOUND ? 0 : rc;
	if (!tfilter_match(l->f, tk)) {
		json_decref(tk);
		return 0;
	}
	rc = view_of(l->r, l->t, tk, &v);
	json_decref(tk);
	if (rc == STORE_OK)
		json_array_append_new(l->arr, v);
	return rc;
}

static int add_indexed(const void *b, size_t blen, void *arg)
{
	char id[64];

	if (blen == 0 || blen >= sizeof id)
		return 0;
	memcpy(id, b, blen);
	id[blen] = '\0';
	return add_ticket(arg, id);
}

static int cmp_tickets(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c;

	if (jx_int(x, "priority", 5) != jx_int(y, "priority", 5))
		return jx_int(x, "priority", 5) < jx_int(y, "priority", 5) ? -1 : 1;
	/* RFC 3339 strings of one format sort like the times they name */
	if ((c = strcmp(jx_str(x, "created_at"), jx_str(y, "created_at"))) != 0)
		return c;
	return strcmp(jx_str(x, "id"), jx_str(y, "id"));
}

static int all_tickets(struct listing *l)
{
	struct store_cursor *c;
	const void *k;
	size_t kl;
	char id[64];
	int rc;

	if ((rc = store_cursor_open(l->t, DB_TICKETS, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, NULL, 0, &k, &kl, NULL, NULL);
	while (rc == STORE_OK) {
		if (kl > 0 && kl < sizeof id) {
			memcpy(id, k, kl);
			id[kl] = '\0';
			if ((rc = add_ticket(l, id)) != 0)
				break;
		}
		rc = store_cursor_next(c, &k, &kl, NULL, NULL);
	}
	store_cursor_close(c);
	return rc == STORE_NOTFOUND || rc == 1 ? STORE_OK : rc;
}

/* A ticket's place in the list's order, as the page cursor: priority
 * (one digit), created_at (RFC 3339, sorts as the time), id. */
static size_t sort_key(const json_t *v, char *out, size_t len)
{
	int n = snprintf(out, len, "%d\x1f%s\x1f%s", (int)jx_int(v, "priority", 5),
	                 jx_str(v, "created_at") ? jx_str(v, "created_at") : "", jx_str(v, "id"));

	return n < 0 || (size_t)n >= len ? 0 : (size_t)n;
}

static int ticket_list_build(struct store_txn *t, void *arg)
{
	struct req *r = arg;
	struct tfilter f;
	struct listing l = {.r = r, .t = t, .f = &f};
	struct page pg;
	json_t **items, *sorted, *body;
	size_t n;
	int rc;

	if ((rc = authz_recheck(r, t, 0)) != 0 || (rc = tfilter_parse(r, &f)) != 0 ||
	    (rc = page_init(r, &pg)) != 0)
		return rc;
	if ((l.arr = json_array()) == NULL)
		return STORE_ERROR;
	if (r->who.role == ROLE_ADMIN || r->who.role == ROLE_AUDITOR)
		rc = all_tickets(&l);
	else
		rc = idx_each(t, r->who.role == ROLE_AGENT ? DB_TICKETS_AGENT : DB_TICKETS_OWNER,
		              r->who.id, add_indexed, &l);
	if (rc == 1)
		rc = STORE_OK;
	if (rc != STORE_OK) {
		json_decref(l.arr);
		return rc;
	}
	n = json_array_size(l.arr);
	if ((items = calloc(n + 1, sizeof *items)) == NULL) {
		json_decref(l.arr);
		return STORE_ERROR;
	}
	for (size_t i = 0; i < n; i++)
		items[i] = json_array_get(l.arr, i);
	qsort(items, n, sizeof *items, cmp_tickets);
	sorted = json_array();
	for (size_t i = 0; i < n && sorted; i++) {
		char key[PAGE_KEY_MAX];
		size_t kl = sort_key(items[i], key, sizeof key);
		if (kl == 0 || page_skip(&pg, key, kl))
			continue;
		if (page_full(&pg))
			break;
		json_array_append(sorted, items[i]);
		page_add(&pg, key, kl);
	}
	free(items);
	json_decref(l.arr);
	if (sorted == NULL)
		return STORE_ERROR;
	if ((body = json_pack("{s:o}", "tickets", sorted)) == NULL || page_finish(&pg, body) != 0) {
		json_decref(body);
		return STORE_ERROR;
	}
	return req_ok(r, 200, body);
}

/* After the commit of the listing's allow event, on the connection's
 * thread, in a read transaction: the listing shows a state at or after its
 * decision, and the writer does not build it. */
static int ticket_list_post(struct req *r)
{
	int rc;

	AUTHZ_LISTING_PAUSE();
	rc = store_read(r->v->store, ticket_list_build, r);

	if (rc < 0) {
		log_msg("request %s: cannot read the ticket list (%d)", r->request_id, rc);
		return req_fail(r, 503, "unavailable", "the vault cannot read right now");
	}
	return rc;
}

int api_ticket_list(struct req *r, struct store_txn *t)
{
	struct tfilter f;
	struct page pg;
	int rc;

	(void)t;
	/* the query is checked here, so that a bad one is a denied event */
	if ((rc = tfilter_parse(r, &f)) != 0 || (rc = page_init(r, &pg)) != 0)
		return rc;
	r->post = ticket_list_post;
	return req_ok(r, 200, NULL);
}

int api_ticket_show(struct req *r, struct store_txn *t)
{
	return reply_ticket(r, t, 200, r->ticket);
}

int api_ticket_assign(struct req *r, struct store_txn *t)
{
	static const char *const fields[] = {"agent", NULL};
	const char *agent, *old, *tid = r->a_ticket;
	json_t *a, *tk;
	int rc;

	if ((rc = v_only(r, fields)) || (rc = v_str(r, "agent", 1, 1, 64, 64, 0, &agent)) ||
	    (rc = own_ticket(r, &tk)))
		return rc;
	if (!util_valid_account_id(agent))
		return req_fail(r, 400, "invalid_field", "field \"agent\" is not an account id");
	snprintf(r->a_target, sizeof r->a_target, "%s", agent); /* whom it was assigned to */
	if ((rc = rec_get(t, DB_ACCOUNTS, agent, &a)) == STORE_NOTFOUND)
		return req_fail(r, 400, "invalid_field", "no agent account %s", agent);
	if (rc != STORE_OK)
		return rc;
	int ok =
	    streq(jx_str(a, "role"), "agent") && !json_is_true(json_object_get(a, "suspended"));
	json_decref(a);
	if (!ok)
		return req_fail(r, 400, "invalid_field",
		                "field \"agent\" must name an active agent account");
	old = jx_str(tk, "agent");
	if (!streq(old, agent)) {
		/* a reassignment ends the previous agent's session */
		if ((rc = sessions_end_ticket(t, tid, r->now, r, END_REASSIGNED)) != STORE_OK)
			return rc;
		if (old != NULL &&
		    (rc = idx_del(t, DB_TICKETS_AGENT, old, tid, strlen(tid))) != 0 &&
		    rc != STORE_NOTFOUND)
			return rc;
		if ((rc = idx_put(t, DB_TICKETS_AGENT, agent, tid, strlen(tid))) != STORE_OK)
			return rc;
		json_object_set_new(tk, "agent", json_string(agent));
		if ((rc = rec_put(t, DB_TICKETS, tid, tk, 0)) != STORE_OK)
			return rc;
	}
	return reply_ticket(r, t, 200, tk);
}

int api_ticket_close(struct req *r, struct store_txn *t)
{
	const char *tid = r->a_ticket;
	json_t *tk;
	int rc;

	/* crypto-shredding: credentials and the wrapped key go in this transaction */
	if ((rc = own_ticket(r, &tk)) != STORE_OK ||
	    (rc = creds_shred_ticket(t, tid)) != STORE_OK ||
	    (rc = sessions_end_ticket(t, tid, r->now, r, END_TICKET_CLOSED)) != STORE_OK ||
	    (rc = links_revoke_ticket(t, tid, r, END_TICKET_CLOSED)) != STORE_OK)
		return rc;
	json_object_set_new(tk, "status", json_string("closed"));
	json_object_set_new(tk, "closed_at", json_integer(r->now));
	if ((rc = rec_put(t, DB_TICKETS, tid, tk, 0)) != STORE_OK)
		return rc;
	return reply_ticket(r, t, 200, tk);
}

/* POST /v1/tickets/{tid}/approval {"mode"} (SPEC 8.3): the owner sets the
 * mode; a receipt of one of the ticket's credentials may only raise it.
 * Lowering it while a session is pending or active would let that session
 * skip the owner's decision: 409. The event's target is the new mode. */
int api_ticket_approval(struct req *r, struct store_txn *t)
{
	static const char *const fields[] = {"mode", NULL};
	const char *mode, *tid = r->a_ticket;
	json_t *live, *tk;
	int rc;

	if ((rc = v_only(r, fields)) || (rc = approval_mode(r, "mode", 1, &mode)))
		return rc;
	snprintf(r->a_target, sizeof r->a_target, "%s", mode);
	if (streq(jx_str(r->ticket, "approval"), "owner") && strcmp(mode, "none") == 0) {
		if (r->who.role == ROLE_GUEST)
			return req_fail(r, 403, "forbidden",
			                "a receipt may raise the approval mode, never lower it");
		if ((rc = session_active_on(t, tid, r->now, &live)) != STORE_OK)
			return rc;
		if (live != NULL) {
			json_decref(live);
			return req_fail(
			    r, 409, "conflict",
			    "a session is pending or active on this ticket; end it before "
			    "lowering the approval mode");
		}
	}
	if ((rc = own_ticket(r, &tk)) != STORE_OK)
		return rc;
	json_object_set_new(tk, "approval", json_string(mode));
	if ((rc = rec_put(t, DB_TICKETS, tid, tk, 0)) != STORE_OK)
		return rc;
	return reply_ticket(r, t, 200, tk);
}

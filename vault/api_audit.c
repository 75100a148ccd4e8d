/* api_audit.c - reading the audit log (auditor; owner for own ticket).
 *
 * Every listing is paged: GET /v1/audit oldest first by after_seq, or
 * newest first (order=desc) by before_seq; GET /v1/tickets/{tid}/audit
 * oldest first by after_seq; GET /v1/audit/checkpoints by after_seq.
 * limit is 1..1000 (default 100); an unknown or repeated query parameter
 * is 400 invalid_field. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "apilimits.h"
#include "audit.h"
#include "authz.h"
#include "audit_read.h"
#include "auditlog.h"
#include "log.h"
#include "records.h"
#include "util.h"
#include "vault.h"

#define PAGE_DEFAULT 100
#define SCAN_PAGES 50 /* a filtered listing looks at most at limit * this rows */

/* The verifier requires a checkpoint wherever the server signs one. */
_Static_assert(AUDIT_CHECKPOINT_EVERY == AUDIT_CP_EVERY, "checkpoint spacing");

struct filter {
	char ticket[130], actor[130], action[64], outcome[16];
	int has_ticket, has_actor, has_action, has_outcome;
};

static int matches(const json_t *ev, const void *arg)
{
	const struct filter *f = arg;

	return (!f->has_ticket || streq(jx_str(ev, "ticket"), f->ticket)) &&
	       (!f->has_actor || streq(jx_str(ev, "actor"), f->actor)) &&
	       (!f->has_action || streq(jx_str(ev, "action"), f->action)) &&
	       (!f->has_outcome || streq(jx_str(ev, "outcome"), f->outcome));
}

static int query_u64(struct req *r, const char *name, int64_t max, int64_t def, int64_t *out)
{
	char buf[32];
	int got = req_query(r, name, buf, sizeof buf);

	*out = def;
	if (got < 0 || (got == 1 && util_parse_i64(buf, 0, max, out) != 0))
		return req_fail(r, 400, "invalid_field",
		                "query parameter \"%s\" must be an integer from 0 to %lld", name,
		                (long long)max);
	return 0;
}

static int query_str(struct req *r, const char *name, char *out, size_t len, int *has)
{
	int got = req_query(r, name, out, len);

	if (got < 0 || (got == 1 && out[0] == '\0'))
		return req_fail(r, 400, "invalid_field", "query parameter \"%s\" is malformed",
		                name);
	*has = got;
	return 0;
}

static int check_query(struct req *r, const char *const *allowed)
{
	const char *p = r->query;

	while (p != NULL && *p) {
		size_t seg = strcspn(p, "&"), kl = strcspn(p, "=&"), i;
		for (i = 0; allowed[i] != NULL; i++)
			if (strlen(allowed[i]) == kl && memcmp(allowed[i], p, kl) == 0)
				break;
		if (allowed[i] == NULL)
			return req_fail(r, 400, "invalid_field", "unknown query parameter");
		p += seg;
		if (*p == '&')
			p++;
	}
	return 0;
}

/* limit (default 100, 1..1000). */
static int limit_param(struct req *r, int64_t *limit)
{
	int rc;

	if ((rc = query_u64(r, "limit", INT64_MAX, PAGE_DEFAULT, limit)))
		return rc;
	if (*limit < 1 || *limit > API_AUDIT_PAGE_MAX)
		return req_fail(r, 400, "invalid_field", "limit must be from 1 to %d",
		                API_AUDIT_PAGE_MAX);
	return 0;
}

/* after_seq (default 0) and limit (default 100, 1..1000). */
static int page_params(struct req *r, int64_t *after, int64_t *limit)
{
	int rc;

	if ((rc = query_u64(r, "after_seq", INT64_MAX - 1, 0, after)))
		return rc;
	return limit_param(r, limit);
}

/* Is the query parameter name given (with any value)? */
static int query_has(struct req *r, const char *name)
{
	char buf[32];

	return req_query(r, name, buf, sizeof buf) != 0;
}

/* Answer {name: arr, "next_seq": next}, or the store error rc. */
static int reply_page(struct req *r, int rc, json_t *arr, const char *name, uint64_t next)
{
	if (rc != STORE_OK) {
		json_decref(arr);
		return rc;
	}
	return req_ok(r, 200, json_pack("{s:o, s:I}", name, arr, "next_seq", (json_int_t)next));
}

/* A listing decided in the writer and read after its commit. The writer
 * checks the query and notes the newest seq its decision saw (upto); the
 * page is read on the connection's thread in a read-only transaction
 * begun after the commit, and shows no row past upto. Audit rows are
 * never changed or removed once committed, so that page is the one the
 * writer would have built (docs/decisions.md, "Audit pages read after the
 * commit"); the writer's time per listing is the decision only. */
enum listing_kind { L_ASC, L_DESC, L_TICKET, L_CHECKPOINTS };

struct listing {
	enum listing_kind kind;
	struct filter f;
	int64_t after, before, limit;
	uint64_t upto;
	char owner[REQ_PARAM_MAX]; /* L_TICKET: the ticket's owner ("" none) */
};

static int listing_build(struct store_txn *t, void *arg)
{
	struct req *r = arg;
	const struct listing *l = (const struct listing *)(const void *)r->post_rec;
	uint64_t next = 0;
	json_t *arr;
	int rc = STORE_ERROR;

	if (l == NULL || r->post_reclen != sizeof *l)
		return STORE_ERROR;
	if ((rc = authz_recheck(r, t, 0)) != 0)
		return rc;
	if ((arr = json_array()) == NULL)
		return STORE_ERROR;
	switch (l->kind) {
	case L_ASC:
		rc = audit_read_events(t, l->after, l->limit, l->limit * SCAN_PAGES, matches, &l->f,
		                       arr, &next, l->upto);
		break;
	case L_DESC:
		rc = audit_read_events_desc(t, l->before, l->limit, l->limit * SCAN_PAGES, matches,
		                            &l->f, arr, &next, l->upto);
		break;
	case L_TICKET:
		rc = audit_read_trail(t, r->a_ticket, l->owner[0] ? l->owner : NULL, l->after,
		                      l->limit, arr, &next, l->upto);
		break;
	case L_CHECKPOINTS:
		rc = audit_read_checkpoints(t, l->after, l->limit, arr, &next, l->upto);
		return reply_page(r, rc, arr, "checkpoints", next);
	}
	return reply_page(r, rc, arr, "events", next);
}

static int listing_post(struct req *r)
{
	int rc;

	AUTHZ_LISTING_PAUSE();
	rc = store_read(r->v->store, listing_build, r);

	if (rc < 0) {
		log_msg("request %s: cannot read the audit listing (%d)", r->request_id, rc);
		return req_fail(r, 503, "unavailable", "the vault cannot read right now");
	}
	return rc;
}

/* In the writer: note what the decision saw and leave the page to post. */
static int defer(struct req *r, struct store_txn *t, const struct listing *l)
{
	struct listing *copy;
	int rc;

	if ((copy = malloc(sizeof *copy)) == NULL)
		return STORE_ERROR;
	*copy = *l;
	if ((rc = audit_head(t, &copy->upto)) != STORE_OK) {
		free(copy);
		return rc;
	}
	r->post_rec = (unsigned char *)copy;
	r->post_reclen = sizeof *copy;
	r->post = listing_post;
	return req_ok(r, 200, NULL);
}

int api_audit_list(struct req *r, struct store_txn *t)
{
	static const char *const allowed[] = {"ticket",    "actor", "action",
	                                      "outcome",   "order", "before_seq",
	                                      "after_seq", "limit", NULL};
	struct listing l;
	char order[8] = "asc";
	int rc, has_order = 0, desc;

	memset(&l, 0, sizeof l);
	if ((rc = check_query(r, allowed)) ||
	    (rc = query_str(r, "ticket", l.f.ticket, sizeof l.f.ticket, &l.f.has_ticket)) ||
	    (rc = query_str(r, "actor", l.f.actor, sizeof l.f.actor, &l.f.has_actor)) ||
	    (rc = query_str(r, "action", l.f.action, sizeof l.f.action, &l.f.has_action)) ||
	    (rc = query_str(r, "outcome", l.f.outcome, sizeof l.f.outcome, &l.f.has_outcome)) ||
	    (rc = query_str(r, "order", order, sizeof order, &has_order)))
		return rc;
	if (strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0)
		return req_fail(r, 400, "invalid_field", "order must be asc or desc");
	desc = strcmp(order, "desc") == 0;
	/* each direction has its own cursor: after_seq up, before_seq down */
	if (desc && query_has(r, "after_seq"))
		return req_fail(r, 400, "invalid_field",
		                "after_seq is for order=asc; use before_seq");
	if (!desc && query_has(r, "before_seq"))
		return req_fail(r, 400, "invalid_field", "before_seq needs order=desc");
	if (desc) {
		if ((rc = query_u64(r, "before_seq", INT64_MAX, 0, &l.before)) ||
		    (rc = limit_param(r, &l.limit)))
			return rc;
		if (query_has(r, "before_seq") && l.before < 1)
			return req_fail(
			    r, 400, "invalid_field",
			    "query parameter \"before_seq\" must be an integer from 1 to "
			    "%lld",
			    (long long)INT64_MAX);
		l.kind = L_DESC;
		return defer(r, t, &l);
	}
	if ((rc = page_params(r, &l.after, &l.limit)))
		return rc;
	l.kind = L_ASC;
	return defer(r, t, &l);
}

/* A ticket's events (every event that names it, and every further token
 * made for its owner), oldest first, paged like
 * GET /v1/audit: seq > after_seq, at most limit, next_seq the last seq
 * returned (the after_seq sent when there is nothing more). */
int api_audit_ticket(struct req *r, struct store_txn *t)
{
	static const char *const allowed[] = {"after_seq", "limit", NULL};
	struct listing l;
	int rc;

	memset(&l, 0, sizeof l);
	if ((rc = check_query(r, allowed)) || (rc = page_params(r, &l.after, &l.limit)))
		return rc;
	/* with the further tokens made for the owner (SPEC 8.3, policy.md) */
	snprintf(l.owner, sizeof l.owner, "%s",
	         jx_str(r->ticket, "owner") != NULL ? jx_str(r->ticket, "owner") : "");
	l.kind = L_TICKET;
	return defer(r, t, &l);
}

int api_audit_checkpoint(struct req *r, struct store_txn *t)
{
	json_t *cp;
	int rc = audit_read_last_checkpoint(t, &cp);

	if (rc == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no checkpoint has been signed yet");
	if (rc != STORE_OK)
		return rc;
	return req_ok(r, 200, cp);
}

int api_audit_checkpoints(struct req *r, struct store_txn *t)
{
	static const char *const allowed[] = {"after_seq", "limit", NULL};
	struct listing l;
	int rc;

	memset(&l, 0, sizeof l);
	if ((rc = check_query(r, allowed)) || (rc = page_params(r, &l.after, &l.limit)))
		return rc;
	l.kind = L_CHECKPOINTS;
	return defer(r, t, &l);
}

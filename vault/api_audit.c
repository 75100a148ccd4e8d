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
#include "audit.h"
#include "auditlog.h"
#include "log.h"
#include "records.h"
#include "util.h"
#include "vault.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define SCAN_PAGES 50 /* a filtered listing looks at most at limit * this rows */
#define ROW_HDR 40
#define TICKET_KEY_MAX 512 /* ticket id \0 be64(seq) of DB_AUDIT_TICKET */

/* The verifier requires a checkpoint wherever the server signs one. */
_Static_assert(AUDIT_CHECKPOINT_EVERY == AUDIT_CP_EVERY, "checkpoint spacing");

/* Parse the stored row into its event JSON, in the shape of its form:
 * every event comes out with all the keys (seq, form, ..., target,
 * token, cert, prev, hash), also rows written before form 2 existed
 * (which lack "form" and the later fields, and read as form 1). A row
 * that does not parse as an event is an error (NULL). */
static json_t *row_event(const void *v, size_t vl)
{
	struct audit_event ev;
	json_t *stored, *out = NULL;

	if (vl <= ROW_HDR)
		return NULL;
	stored = json_loadb((const char *)v + ROW_HDR, vl - ROW_HDR, 0, NULL);
	if (stored != NULL && audit_event_from_json(stored, &ev) == 0)
		out = audit_event_to_json(&ev);
	json_decref(stored);
	return out;
}

struct filter {
	char ticket[130], actor[130], action[64], outcome[16];
	int has_ticket, has_actor, has_action, has_outcome;
};

static int matches(const struct filter *f, const json_t *ev)
{
	return (!f->has_ticket || streq(js(ev, "ticket"), f->ticket)) &&
	       (!f->has_actor || streq(js(ev, "actor"), f->actor)) &&
	       (!f->has_action || streq(js(ev, "action"), f->action)) &&
	       (!f->has_outcome || streq(js(ev, "outcome"), f->outcome));
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

static json_t *checkpoint_view(const void *v, size_t vl)
{
	json_t *cp = json_loadb(v, vl, 0, NULL);

	if (cp != NULL)
		json_object_del(cp, "time_ms");
	return cp;
}

/* limit (default 100, 1..1000). */
static int limit_param(struct req *r, int64_t *limit)
{
	int rc;

	if ((rc = query_u64(r, "limit", INT64_MAX, PAGE_DEFAULT, limit)))
		return rc;
	if (*limit < 1 || *limit > PAGE_MAX)
		return req_fail(r, 400, "invalid_field", "limit must be from 1 to %d", PAGE_MAX);
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

typedef json_t *(*row_fn)(const void *v, size_t vl);

/* One page of a table keyed by be64(seq): rows with seq > after, oldest
 * first, decoded by decode and kept when f (may be NULL) matches, at most
 * limit of them, scanning at most scan rows. Answers {name: [...],
 * "next_seq": the last seq scanned}, so a sparse filter still pages. */
static int page(struct req *r, struct store_txn *t, enum store_db db, int64_t after, int64_t limit,
                int64_t scan, row_fn decode, const struct filter *f, const char *name,
                uint64_t bound)
{
	struct store_cursor *c;
	unsigned char key[8];
	const void *k, *v;
	size_t kl, vl;
	uint64_t next = (uint64_t)after;
	json_t *arr;
	int rc;

	if ((arr = json_array()) == NULL)
		return STORE_ERROR;
	util_be64_put(key, (uint64_t)after + 1);
	if ((rc = store_cursor_open(t, db, &c)) != STORE_OK) {
		json_decref(arr);
		return rc;
	}
	rc = store_cursor_seek(c, key, 8, &k, &kl, &v, &vl);
	for (int64_t n = 0; rc == STORE_OK && (int64_t)json_array_size(arr) < limit && n < scan;
	     n++) {
		json_t *item;
		if (kl == 8 && util_be64_get(k) > bound) {
			rc = STORE_NOTFOUND; /* newer than the decision: not in this page */
			break;
		}
		item = kl == 8 ? decode(v, vl) : NULL;
		if (item == NULL) {
			rc = STORE_ERROR;
			break;
		}
		next = util_be64_get(k);
		if (f == NULL || matches(f, item))
			json_array_append(arr, item);
		json_decref(item);
		rc = store_cursor_next(c, &k, &kl, &v, &vl);
	}
	store_cursor_close(c);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		json_decref(arr);
		return rc;
	}
	return req_ok(r, 200, json_pack("{s:o, s:I}", name, arr, "next_seq", (json_int_t)next));
}

/* Newest first: events with seq < before (before 0: from the newest),
 * kept when f matches, at most limit of them, looking at most at scan
 * rows. Seqs have no gaps, so each is fetched by its key. Answers
 * {"events": [...], "next_seq": the lowest seq looked at}, which is the
 * before_seq of the next page; with nothing left to look at, next_seq is
 * the before_seq sent (1 once event 1 was listed), or the newest seq + 1
 * for a before_seq past the end. */
static int page_desc(struct req *r, struct store_txn *t, int64_t before, int64_t limit,
                     int64_t scan, const struct filter *f, uint64_t bound)
{
	struct store_cursor *c;
	unsigned char key[8];
	const void *k, *v;
	size_t kl, vl;
	uint64_t head = 0, s, next;
	json_t *arr;
	int rc;

	if ((rc = store_cursor_open(t, DB_AUDIT, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_last(c, &k, &kl, NULL, NULL);
	if (rc == STORE_OK && kl == 8)
		head = util_be64_get(k);
	else if (rc == STORE_OK)
		rc = STORE_ERROR;
	store_cursor_close(c);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	if (head > bound)
		head = bound; /* newer than the decision: not in this page */
	s = before > 0 && (uint64_t)before <= head ? (uint64_t)before - 1 : head;
	next = before > 0 && (uint64_t)before <= head + 1 ? (uint64_t)before : head + 1;
	if ((arr = json_array()) == NULL)
		return STORE_ERROR;
	rc = STORE_OK;
	for (int64_t n = 0; s >= 1 && (int64_t)json_array_size(arr) < limit && n < scan; n++, s--) {
		json_t *item;

		util_be64_put(key, s);
		if ((rc = store_get(t, DB_AUDIT, key, 8, &v, &vl)) != STORE_OK) {
			rc = rc == STORE_NOTFOUND ? STORE_ERROR : rc; /* a gap: corruption */
			break;
		}
		if ((item = row_event(v, vl)) == NULL) {
			rc = STORE_ERROR;
			break;
		}
		next = s;
		if (matches(f, item) && json_array_append(arr, item) != 0)
			rc = STORE_ERROR;
		json_decref(item);
		if (rc != STORE_OK)
			break;
	}
	if (rc != STORE_OK) {
		json_decref(arr);
		return rc;
	}
	return req_ok(r, 200, json_pack("{s:o, s:I}", "events", arr, "next_seq", (json_int_t)next));
}

/* A listing decided in the writer and read after its commit. The writer
 * checks the query and notes the newest seq its decision saw (bound); the
 * page is read on the connection's thread in a read-only transaction
 * begun after the commit, and shows no row past bound. Audit rows are
 * never changed or removed once committed, so that page is the one the
 * writer would have built (docs/decisions.md, "Audit pages read after the
 * commit"); the writer's time per listing is the decision only. */
enum listing_kind { L_ASC, L_DESC, L_TICKET, L_CHECKPOINTS };

struct listing {
	enum listing_kind kind;
	struct filter f;
	int64_t after, before, limit;
	uint64_t bound;
};

static int ticket_page(struct req *r, struct store_txn *t, int64_t after, int64_t limit,
                       uint64_t bound);

static int listing_build(struct store_txn *t, void *arg)
{
	struct req *r = arg;
	const struct listing *l = (const struct listing *)(const void *)r->post_rec;

	if (l == NULL || r->post_reclen != sizeof *l)
		return STORE_ERROR;
	switch (l->kind) {
	case L_ASC:
		return page(r, t, DB_AUDIT, l->after, l->limit, l->limit * SCAN_PAGES, row_event,
		            &l->f, "events", l->bound);
	case L_DESC:
		return page_desc(r, t, l->before, l->limit, l->limit * SCAN_PAGES, &l->f, l->bound);
	case L_TICKET:
		return ticket_page(r, t, l->after, l->limit, l->bound);
	case L_CHECKPOINTS:
		return page(r, t, DB_CHECKPOINTS, l->after, l->limit, l->limit, checkpoint_view,
		            NULL, "checkpoints", l->bound);
	}
	return STORE_ERROR;
}

static int listing_post(struct req *r)
{
	int rc = store_read(r->v->store, listing_build, r);

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
	if ((rc = audit_head(t, &copy->bound)) != STORE_OK) {
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

/* A ticket's events (every event that names it), oldest first, paged like
 * GET /v1/audit: seq > after_seq, at most limit, next_seq the last seq
 * returned (the after_seq sent when there is nothing more). */
static int ticket_page(struct req *r, struct store_txn *t, int64_t after, int64_t limit,
                       uint64_t bound)
{
	unsigned char key[TICKET_KEY_MAX];
	size_t pl = strlen(r->a_ticket) + 1;
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	uint64_t next;
	json_t *arr;
	int rc;

	if (pl + 8 > sizeof key)
		return STORE_ERROR;
	next = (uint64_t)after;
	memcpy(key, r->a_ticket, pl);
	util_be64_put(key + pl, (uint64_t)after + 1);
	if ((arr = json_array()) == NULL)
		return STORE_ERROR;
	if ((rc = store_cursor_open(t, DB_AUDIT_TICKET, &c)) != STORE_OK) {
		json_decref(arr);
		return rc;
	}
	rc = store_cursor_seek(c, key, pl + 8, &k, &kl, NULL, NULL);
	while (rc == STORE_OK && kl == pl + 8 && memcmp(k, key, pl) == 0 &&
	       util_be64_get((const unsigned char *)k + pl) <= bound &&
	       (int64_t)json_array_size(arr) < limit) {
		json_t *ev;

		if ((rc = store_get(t, DB_AUDIT, (const char *)k + pl, 8, &v, &vl)) != STORE_OK ||
		    (ev = row_event(v, vl)) == NULL) {
			rc = rc == STORE_OK || rc == STORE_NOTFOUND ? STORE_ERROR : rc;
			break;
		}
		next = util_be64_get((const unsigned char *)k + pl);
		if (json_array_append_new(arr, ev) != 0) {
			rc = STORE_ERROR;
			break;
		}
		rc = store_cursor_next(c, &k, &kl, NULL, NULL);
	}
	store_cursor_close(c);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		json_decref(arr);
		return rc;
	}
	return req_ok(r, 200, json_pack("{s:o, s:I}", "events", arr, "next_seq", (json_int_t)next));
}

int api_audit_ticket(struct req *r, struct store_txn *t)
{
	static const char *const allowed[] = {"after_seq", "limit", NULL};
	struct listing l;
	int rc;

	memset(&l, 0, sizeof l);
	if ((rc = check_query(r, allowed)) || (rc = page_params(r, &l.after, &l.limit)))
		return rc;
	l.kind = L_TICKET;
	return defer(r, t, &l);
}

int audit_ticket_each(struct store_txn *t, const char *tid, audit_event_fn fn, void *arg)
{
	unsigned char key[TICKET_KEY_MAX];
	size_t pl = strlen(tid) + 1;
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int rc;

	if (pl > sizeof key)
		return STORE_ERROR;
	memcpy(key, tid, pl);
	if ((rc = store_cursor_open(t, DB_AUDIT_TICKET, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, key, pl, &k, &kl, NULL, NULL);
	while (rc == STORE_OK && kl == pl + 8 && memcmp(k, key, pl) == 0) {
		json_t *ev;

		if ((rc = store_get(t, DB_AUDIT, (const char *)k + pl, 8, &v, &vl)) != STORE_OK ||
		    (ev = row_event(v, vl)) == NULL) {
			rc = rc == STORE_OK || rc == STORE_NOTFOUND ? STORE_ERROR : rc;
			break;
		}
		rc = fn(ev, arg);
		json_decref(ev);
		if (rc != 0)
			break;
		rc = store_cursor_next(c, &k, &kl, NULL, NULL);
	}
	store_cursor_close(c);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int api_audit_checkpoint(struct req *r, struct store_txn *t)
{
	struct store_cursor *c;
	const void *v;
	size_t vl;
	json_t *cp;
	int rc;

	if ((rc = store_cursor_open(t, DB_CHECKPOINTS, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_last(c, NULL, NULL, &v, &vl);
	if (rc == STORE_NOTFOUND) {
		store_cursor_close(c);
		return req_fail(r, 404, "not_found", "no checkpoint has been signed yet");
	}
	cp = rc == STORE_OK ? checkpoint_view(v, vl) : NULL;
	store_cursor_close(c);
	if (cp == NULL)
		return rc == STORE_OK ? STORE_ERROR : rc;
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

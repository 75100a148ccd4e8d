/* api_audit.c - reading the audit log (auditor; owner for own ticket). */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "records.h"
#include "util.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define ROW_HDR 40

/* Parse the stored row into its event JSON. */
static json_t *row_event(const void *v, size_t vl)
{
	if (vl <= ROW_HDR)
		return NULL;
	return json_loadb((const char *)v + ROW_HDR, vl - ROW_HDR, 0, NULL);
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

/* after_seq (default 0) and limit (default 100, 1..1000). */
static int page_params(struct req *r, int64_t *after, int64_t *limit)
{
	int rc;

	if ((rc = query_u64(r, "after_seq", INT64_MAX - 1, 0, after)) ||
	    (rc = query_u64(r, "limit", INT64_MAX, PAGE_DEFAULT, limit)))
		return rc;
	if (*limit < 1 || *limit > PAGE_MAX)
		return req_fail(r, 400, "invalid_field", "limit must be from 1 to %d", PAGE_MAX);
	return 0;
}

typedef json_t *(*row_fn)(const void *v, size_t vl);

/* One page of a table keyed by be64(seq): rows with seq > after, oldest
 * first, decoded by decode and kept when f (may be NULL) matches, at most
 * limit of them, scanning at most scan rows. Answers {name: [...],
 * "next_seq": the last seq scanned}, so a sparse filter still pages. */
static int page(struct req *r, struct store_txn *t, enum store_db db, int64_t after, int64_t limit,
                int64_t scan, row_fn decode, const struct filter *f, const char *name)
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
		json_t *item = kl == 8 ? decode(v, vl) : NULL;
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

int api_audit_list(struct req *r, struct store_txn *t)
{
	static const char *const allowed[] = {"ticket",    "actor", "action", "outcome",
	                                      "after_seq", "limit", NULL};
	struct filter f;
	int64_t after, limit;
	int rc;

	memset(&f, 0, sizeof f);
	if ((rc = check_query(r, allowed)) ||
	    (rc = query_str(r, "ticket", f.ticket, sizeof f.ticket, &f.has_ticket)) ||
	    (rc = query_str(r, "actor", f.actor, sizeof f.actor, &f.has_actor)) ||
	    (rc = query_str(r, "action", f.action, sizeof f.action, &f.has_action)) ||
	    (rc = query_str(r, "outcome", f.outcome, sizeof f.outcome, &f.has_outcome)) ||
	    (rc = page_params(r, &after, &limit)))
		return rc;
	/* at most 50 pages' worth of rows per request */
	return page(r, t, DB_AUDIT, after, limit, limit * 50, row_event, &f, "events");
}

int api_audit_ticket(struct req *r, struct store_txn *t)
{
	unsigned char pre[80];
	size_t pl = strlen(r->a_ticket) + 1;
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	json_t *arr = json_array();
	int rc;

	if (arr == NULL)
		return STORE_ERROR;
	memcpy(pre, r->a_ticket, pl);
	if ((rc = store_cursor_open(t, DB_AUDIT_TICKET, &c)) != STORE_OK) {
		json_decref(arr);
		return rc;
	}
	rc = store_cursor_seek(c, pre, pl, &k, &kl, NULL, NULL);
	while (rc == STORE_OK && kl == pl + 8 && memcmp(k, pre, pl) == 0 &&
	       json_array_size(arr) < 10000) {
		json_t *ev;
		if ((rc = store_get(t, DB_AUDIT, (const char *)k + pl, 8, &v, &vl)) != STORE_OK ||
		    (ev = row_event(v, vl)) == NULL) {
			rc = rc == STORE_OK ? STORE_ERROR : rc;
			break;
		}
		json_array_append_new(arr, ev);
		rc = store_cursor_next(c, &k, &kl, NULL, NULL);
	}
	store_cursor_close(c);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		json_decref(arr);
		return rc;
	}
	return req_ok(r, 200, json_pack("{s:o}", "events", arr));
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
	int64_t after, limit;
	int rc;

	if ((rc = check_query(r, allowed)) || (rc = page_params(r, &after, &limit)))
		return rc;
	return page(r, t, DB_CHECKPOINTS, after, limit, limit, checkpoint_view, NULL,
	            "checkpoints");
}

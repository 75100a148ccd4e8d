/* audit_read.c - reading the audit log's rows (see audit_read.h). */
#include <stdlib.h>
#include <string.h>

#include "audit_read.h"
#include "auditlog.h"
#include "util.h"

#define ROW_HDR 40
#define TICKET_KEY_MAX 512 /* ticket id \0 be64(seq) of DB_AUDIT_TICKET */

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

static json_t *checkpoint_view(const void *v, size_t vl)
{
	json_t *cp = json_loadb(v, vl, 0, NULL);

	if (cp != NULL)
		json_object_del(cp, "time_ms");
	return cp;
}

typedef json_t *(*row_fn)(const void *v, size_t vl);

/* One page of a table keyed by be64(seq): rows with seq > after, oldest
 * first, decoded by decode and kept when keep (may be NULL) says so, at
 * most limit of them, scanning at most scan rows, into arr; *next = the
 * last seq scanned. */
static int page(struct store_txn *t, enum store_db db, int64_t after, int64_t limit, int64_t scan,
                row_fn decode, audit_keep_fn keep, const void *arg, json_t *arr, uint64_t *next,
                uint64_t upto)
{
	struct store_cursor *c;
	unsigned char key[8];
	const void *k, *v;
	size_t kl, vl;
	int rc;

	*next = (uint64_t)after;
	util_be64_put(key, (uint64_t)after + 1);
	if ((rc = store_cursor_open(t, db, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, key, 8, &k, &kl, &v, &vl);
	for (int64_t n = 0; rc == STORE_OK && (int64_t)json_array_size(arr) < limit && n < scan;
	     n++) {
		json_t *item;
		if (kl == 8 && util_be64_get(k) > upto) {
			rc = STORE_NOTFOUND; /* past upto: not in this page */
			break;
		}
		item = kl == 8 ? decode(v, vl) : NULL;
		if (item == NULL) {
			rc = STORE_ERROR;
			break;
		}
		*next = util_be64_get(k);
		if (keep == NULL || keep(item, arg))
			json_array_append(arr, item);
		json_decref(item);
		rc = store_cursor_next(c, &k, &kl, &v, &vl);
	}
	store_cursor_close(c);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int audit_read_events(struct store_txn *t, int64_t after, int64_t limit, int64_t scan,
                      audit_keep_fn keep, const void *arg, json_t *arr, uint64_t *next,
                      uint64_t upto)
{
	return page(t, DB_AUDIT, after, limit, scan, row_event, keep, arg, arr, next, upto);
}

int audit_read_checkpoints(struct store_txn *t, int64_t after, int64_t limit, json_t *arr,
                           uint64_t *next, uint64_t upto)
{
	return page(t, DB_CHECKPOINTS, after, limit, limit, checkpoint_view, NULL, NULL, arr, next,
	            upto);
}

/* Seqs have no gaps, so each is fetched by its key. */
int audit_read_events_desc(struct store_txn *t, int64_t before, int64_t limit, int64_t scan,
                           audit_keep_fn keep, const void *arg, json_t *arr, uint64_t *next,
                           uint64_t upto)
{
	struct store_cursor *c;
	unsigned char key[8];
	const void *k, *v;
	size_t kl, vl;
	uint64_t head = 0, s;
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
	if (head > upto)
		head = upto; /* newer events are not in this page */
	s = before > 0 && (uint64_t)before <= head ? (uint64_t)before - 1 : head;
	*next = before > 0 && (uint64_t)before <= head + 1 ? (uint64_t)before : head + 1;
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
		*next = s;
		if ((keep == NULL || keep(item, arg)) && json_array_append(arr, item) != 0)
			rc = STORE_ERROR;
		json_decref(item);
		if (rc != STORE_OK)
			break;
	}
	return rc;
}

int audit_read_ticket(struct store_txn *t, const char *tid, int64_t after, int64_t limit,
                      json_t *arr, uint64_t *next, uint64_t upto)
{
	unsigned char key[TICKET_KEY_MAX];
	size_t pl = strlen(tid) + 1;
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int rc;

	if (pl + 8 > sizeof key)
		return STORE_ERROR;
	*next = (uint64_t)after;
	memcpy(key, tid, pl);
	util_be64_put(key + pl, (uint64_t)after + 1);
	if ((rc = store_cursor_open(t, DB_AUDIT_TICKET, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, key, pl + 8, &k, &kl, NULL, NULL);
	while (rc == STORE_OK && kl == pl + 8 && memcmp(k, key, pl) == 0 &&
	       util_be64_get((const unsigned char *)k + pl) <= upto &&
	       (int64_t)json_array_size(arr) < limit) {
		json_t *ev;

		if ((rc = store_get(t, DB_AUDIT, (const char *)k + pl, 8, &v, &vl)) != STORE_OK ||
		    (ev = row_event(v, vl)) == NULL) {
			rc = rc == STORE_OK || rc == STORE_NOTFOUND ? STORE_ERROR : rc;
			break;
		}
		*next = util_be64_get((const unsigned char *)k + pl);
		if (json_array_append_new(arr, ev) != 0) {
			rc = STORE_ERROR;
			break;
		}
		rc = store_cursor_next(c, &k, &kl, NULL, NULL);
	}
	store_cursor_close(c);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
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

int audit_read_last_checkpoint(struct store_txn *t, json_t **out)
{
	struct store_cursor *c;
	const void *v;
	size_t vl;
	int rc;

	*out = NULL;
	if ((rc = store_cursor_open(t, DB_CHECKPOINTS, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_last(c, NULL, NULL, &v, &vl);
	*out = rc == STORE_OK ? checkpoint_view(v, vl) : NULL;
	store_cursor_close(c);
	if (rc == STORE_OK && *out == NULL)
		return STORE_ERROR;
	return rc;
}

int audit_read_head(struct store_txn *t, uint64_t *seq, unsigned char hash[32])
{
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int rc;

	*seq = 0;
	memset(hash, 0, 32);
	if ((rc = store_cursor_open(t, DB_AUDIT, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_last(c, &k, &kl, &v, &vl);
	if (rc == STORE_OK && (kl != 8 || vl < ROW_HDR))
		rc = STORE_ERROR;
	if (rc == STORE_OK) {
		*seq = util_be64_get(k);
		memcpy(hash, v, 32);
	}
	store_cursor_close(c);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

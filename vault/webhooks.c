/* webhooks.c - webhook routes, the outbox and the delivery thread. */
#include "webhooks.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "audit.h"
#include "be.h"
#include "crypto.h"
#include "jsonx.h"
#include "log.h"
#include "metrics.h"
#include "records.h"
#include "util.h"
#include "validate.h"
#include "vault.h"

#define ID_MAX 64
#define CA_MAX (1024 * 1024) /* the --webhook-ca file */
#define ROUND_MAX 16         /* deliveries attempted at once */
#define POLL_MS 200          /* the delivery thread looks for due work */
#define LIST_MAX 1000        /* SPEC 8.6: limit 1..1000, default 1000 */
#define EVENTS_MAX 8
#define WH_ORDER_KEY "outbox_order" /* DB_META counters, be64 each */
#define WH_COUNT_KEY "outbox_count"
#define WH_PENDING_KEY "outbox_pending"
#define WH_DROPPED_KEY "outbox_dropped"

const char *const webhook_types[] = {
    "credential.uploaded", "credential.read",      "credential.destroyed",
    "session.requested",   "session.opened",       "session.ended",
    "ticket.closed",       "rotation.recommended", NULL};

#ifdef RSVAULT_TESTING
int64_t webhook_window_ms = WEBHOOK_WINDOW_MS;
#define WINDOW_MS webhook_window_ms
#else
#define WINDOW_MS ((int64_t)WEBHOOK_WINDOW_MS)
#endif

static int64_t outbox_max = WEBHOOK_OUTBOX_DEFAULT;
static unsigned char *ca_blob; /* --webhook-ca, or NULL for the system's CAs */
static size_t ca_len;
static int curl_up;
static _Atomic uint64_t m_backlog, m_dropped;

/* ---- small helpers -------------------------------------------------------- */

static int meta_get(struct store_txn *t, const char *name, uint64_t *v)
{
	const void *val;
	size_t vl;
	int rc = store_get(t, DB_META, name, strlen(name), &val, &vl);

	*v = 0;
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	if (vl != 8)
		return STORE_ERROR;
	*v = util_be64_get(val);
	return STORE_OK;
}

static int meta_add(struct store_txn *t, const char *name, int64_t d)
{
	unsigned char b[8];
	uint64_t v;
	int rc;

	if ((rc = meta_get(t, name, &v)) != STORE_OK)
		return rc;
	v = d < 0 && (uint64_t)-d > v ? 0 : v + (uint64_t)d;
	util_be64_put(b, v);
	return store_put(t, DB_META, name, strlen(name), b, 8, 0);
}

/* Keys of the indexes. */
/* Due deliveries: one queue per webhook (so a webhook with a long backlog
 * never hides another's), sorted by time, then by the order they were
 * made in, so the notifications of one event go out in their order:
 * webhook id \0 be64(next attempt ms) be64(order) delivery id. */
#define DUE_KEY_MAX (ID_MAX + 1 + 16 + ID_MAX)
static size_t due_key(unsigned char k[DUE_KEY_MAX], const char *whid, int64_t at, uint64_t order,
                      const char *did)
{
	size_t wl = strlen(whid), n = strlen(did);

	memcpy(k, whid, wl + 1);
	util_be64_put(k + wl + 1, (uint64_t)(at < 0 ? 0 : at));
	util_be64_put(k + wl + 9, order);
	memcpy(k + wl + 17, did, n);
	return wl + 17 + n;
}

static size_t state_key(unsigned char k[1 + 8], char state, uint64_t order)
{
	k[0] = (unsigned char)state;
	util_be64_put(k + 1, order);
	return 9;
}

static size_t deliv_key(unsigned char k[ID_MAX + 9], const char *whid, uint64_t order)
{
	size_t n = strlen(whid);

	memcpy(k, whid, n + 1);
	util_be64_put(k + n + 1, ~order); /* newest first in key order */
	return n + 9;
}

static char state_letter(const char *state)
{
	return streq(state, "delivered") ? 'd' : streq(state, "failed") ? 'f' : 'p';
}

/* Remove delivery rec (JSON of DB_OUTBOX) and its index entries. */
static int delivery_delete(struct store_txn *t, const json_t *rec)
{
	unsigned char k[DUE_KEY_MAX];
	const char *did = jx_str(rec, "id"), *whid = jx_str(rec, "webhook"),
	           *state = jx_str(rec, "state");
	uint64_t order = (uint64_t)jx_int(rec, "order", 0);
	size_t kl;
	int rc;

	if (did == NULL || whid == NULL || strlen(did) >= ID_MAX || strlen(whid) >= ID_MAX)
		return STORE_ERROR;
	if (streq(state, "pending")) {
		kl = due_key(k, whid, jx_int(rec, "next_attempt_at", 0), order, did);
		if ((rc = store_del(t, DB_OUTBOX_DUE, k, kl)) != STORE_OK && rc != STORE_NOTFOUND)
			return rc;
		if ((rc = meta_add(t, WH_PENDING_KEY, -1)) != STORE_OK)
			return rc;
	}
	kl = state_key(k, state_letter(state), order);
	if ((rc = store_del(t, DB_OUTBOX_STATE, k, kl)) != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	kl = deliv_key(k, whid, order);
	if ((rc = store_del(t, DB_WEBHOOK_DELIV, k, kl)) != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	if ((rc = store_del(t, DB_OUTBOX, did, strlen(did))) != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	return meta_add(t, WH_COUNT_KEY, -1);
}

/* The oldest delivery in state letter st into did; STORE_NOTFOUND if none. */
static int oldest_in(struct store_txn *t, char st, char did[ID_MAX])
{
	unsigned char k[1];
	struct store_cursor *c;
	const void *kk, *v;
	size_t kl, vl;
	int rc;

	k[0] = (unsigned char)st;
	if ((rc = store_cursor_open(t, DB_OUTBOX_STATE, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, k, 1, &kk, &kl, &v, &vl);
	if (rc == STORE_OK && (kl != 9 || ((const unsigned char *)kk)[0] != (unsigned char)st))
		rc = STORE_NOTFOUND;
	if (rc == STORE_OK) {
		if (vl == 0 || vl >= ID_MAX) {
			rc = STORE_ERROR;
		} else {
			memcpy(did, v, vl);
			did[vl] = '\0';
		}
	}
	store_cursor_close(c);
	return rc;
}

/* Make room for one more delivery: see webhooks.h. */
static int make_room(struct store_txn *t)
{
	static const char order[] = {'d', 'f', 'p'};
	uint64_t count;
	int rc;

	for (;;) {
		char did[ID_MAX];
		json_t *rec;
		size_t i;

		if ((rc = meta_get(t, WH_COUNT_KEY, &count)) != STORE_OK)
			return rc;
		if ((int64_t)count < outbox_max)
			return STORE_OK;
		for (i = 0; i < sizeof order; i++)
			if ((rc = oldest_in(t, order[i], did)) != STORE_NOTFOUND)
				break;
		if (rc == STORE_NOTFOUND) /* the counter is off: trust the table */
			return meta_add(t, WH_COUNT_KEY, -(int64_t)count);
		if (rc != STORE_OK)
			return rc;
		if ((rc = rec_get(t, DB_OUTBOX, did, &rec)) != STORE_OK)
			return rc == STORE_NOTFOUND ? STORE_ERROR : rc;
		rc = delivery_delete(t, rec);
		if (rc == STORE_OK && order[i] != 'd') {
			char target[ID_MAX];
			snprintf(target, sizeof target, "%s", jx_str(rec, "webhook"));
			if ((rc = meta_add(t, WH_DROPPED_KEY, 1)) == STORE_OK)
				rc = audit_system_target(t, "webhook.dropped", target);
		}
		json_decref(rec);
		if (rc != STORE_OK)
			return rc;
	}
}

static int takes_type(const json_t *wh, const char *type)
{
	const json_t *ev = json_object_get(wh, "events");
	size_t i;
	json_t *e;

	json_array_foreach(ev, i, e) if (streq(json_string_value(e), type)) return 1;
	return 0;
}

static int delivery_new(struct store_txn *t, const char *whid, const char *type, const char *body,
                        int64_t now)
{
	unsigned char k[DUE_KEY_MAX];
	char did[ID_MAX];
	uint64_t order;
	json_t *rec;
	size_t kl;
	int rc;

	if ((rc = make_room(t)) != STORE_OK ||
	    (rc = meta_get(t, WH_ORDER_KEY, &order)) != STORE_OK ||
	    (rc = meta_add(t, WH_ORDER_KEY, 1)) != STORE_OK)
		return rc;
	order++;
	crypto_new_id(did);
	rec = json_pack("{s:s, s:s, s:s, s:s, s:i, s:n, s:I, s:I, s:I, s:s}", "id", did, "webhook",
	                whid, "type", type, "state", "pending", "attempts", 0, "last_status",
	                "created_at", (json_int_t)now, "next_attempt_at", (json_int_t)now, "order",
	                (json_int_t)order, "body", body);
	if (rec == NULL)
		return STORE_ERROR;
	rc = rec_put(t, DB_OUTBOX, did, rec, STORE_NOOVERWRITE);
	json_decref(rec);
	if (rc != STORE_OK)
		return rc;
	kl = due_key(k, whid, now, order, did);
	if ((rc = store_put(t, DB_OUTBOX_DUE, k, kl, "", 0, 0)) != STORE_OK)
		return rc;
	kl = state_key(k, 'p', order);
	if ((rc = store_put(t, DB_OUTBOX_STATE, k, kl, did, strlen(did), 0)) != STORE_OK)
		return rc;
	kl = deliv_key(k, whid, order);
	if ((rc = store_put(t, DB_WEBHOOK_DELIV, k, kl, did, strlen(did), 0)) != STORE_OK)
		return rc;
	if ((rc = meta_add(t, WH_COUNT_KEY, 1)) != STORE_OK)
		return rc;
	return meta_add(t, WH_PENDING_KEY, 1);
}

int webhooks_any(struct store_txn *t)
{
	struct store_cursor *c;
	const void *k;
	size_t kl;
	int rc;

	if ((rc = store_cursor_open(t, DB_WEBHOOKS, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, NULL, 0, &k, &kl, NULL, NULL);
	store_cursor_close(c);
	return rc == STORE_OK ? 1 : rc == STORE_NOTFOUND ? 0 : rc;
}

/* Ids of every webhook, at most WEBHOOK_MAX (the route refuses more). */
static int webhook_ids(struct store_txn *t, char ids[WEBHOOK_MAX][ID_MAX], size_t *n)
{
	struct store_cursor *c;
	const void *k;
	size_t kl;
	int rc;

	*n = 0;
	if ((rc = store_cursor_open(t, DB_WEBHOOKS, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, NULL, 0, &k, &kl, NULL, NULL);
	while (rc == STORE_OK && *n < WEBHOOK_MAX) {
		if (kl > 0 && kl < ID_MAX) {
			memcpy(ids[*n], k, kl);
			ids[*n][kl] = '\0';
			(*n)++;
		}
		rc = store_cursor_next(c, &k, &kl, NULL, NULL);
	}
	store_cursor_close(c);
	return rc == STORE_NOTFOUND || rc == STORE_OK ? STORE_OK : rc;
}

int webhook_enqueue(struct store_txn *t, const char *type, const char *body, int64_t now)
{
	char(*ids)[ID_MAX];
	size_t n;
	int rc;

	if ((ids = malloc(WEBHOOK_MAX * sizeof *ids)) == NULL)
		return STORE_ERROR;
	rc = webhook_ids(t, ids, &n);
	for (size_t i = 0; i < n && rc == STORE_OK; i++) {
		json_t *wh;
		if ((rc = rec_get(t, DB_WEBHOOKS, ids[i], &wh)) == STORE_NOTFOUND) {
			rc = STORE_OK;
			continue;
		}
		if (rc != STORE_OK)
			break;
		if (takes_type(wh, type))
			rc = delivery_new(t, ids[i], type, body, now);
		json_decref(wh);
	}
	free(ids);
	return rc;
}

/* ---- routes ----------------------------------------------------------------- */

/* Only the named query parameters, each at most once. */
static int only_query(struct req *r, const char *const *allowed)
{
	const char *p = r->query;

	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, "=&");
		int ok = 0;
		for (size_t i = 0; allowed[i] != NULL; i++)
			if (strlen(allowed[i]) == n && strncmp(p, allowed[i], n) == 0)
				ok = 1;
		if (!ok)
			return req_fail(r, 400, "invalid_field", "unknown query parameter");
		p = strchr(p, '&');
		if (p != NULL)
			p++;
	}
	return 0;
}

static int query_limit(struct req *r, int64_t *limit)
{
	char buf[24];
	int got = req_query(r, "limit", buf, sizeof buf);

	*limit = LIST_MAX;
	if (got < 0 || (got == 1 && util_parse_i64(buf, 1, LIST_MAX, limit) != 0))
		return req_fail(r, 400, "invalid_field",
		                "query parameter \"limit\" must be an integer from 1 to 1000");
	return 0;
}

/* https://host[:port][/path][?query], no user name or password, no
 * fragment, no spaces or control characters; the host non-empty. */
static int url_ok(const char *url)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL, *user = NULL, *pw = NULL;
	int ok = 0;

	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '#')
			return 0;
	if (strncasecmp(url, "https://", 8) != 0 || (u = curl_url()) == NULL)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0] != '\0' &&
	    strcmp(scheme, "https") == 0 &&
	    curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER &&
	    curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_NO_PASSWORD)
		ok = 1;
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(pw);
	curl_url_cleanup(u);
	return ok;
}

static int known_type(const char *s)
{
	for (size_t i = 0; webhook_types[i] != NULL; i++)
		if (streq(webhook_types[i], s))
			return 1;
	return 0;
}

/* The "events" field: absent or null for every type, else 1..8 known
 * types without repeats. New reference into *out, or a 400 set on r. */
static int events_field(struct req *r, json_t **out)
{
	json_t *ev = json_object_get(r->body, "events"), *e;
	size_t i;

	*out = json_array();
	if (*out == NULL)
		return STORE_ERROR;
	if (ev == NULL || json_is_null(ev)) {
		for (i = 0; webhook_types[i] != NULL; i++)
			json_array_append_new(*out, json_string(webhook_types[i]));
		return 0;
	}
	if (!json_is_array(ev) || json_array_size(ev) == 0 || json_array_size(ev) > EVENTS_MAX)
		goto bad;
	json_array_foreach(ev, i, e)
	{
		const char *s = json_string_value(e);
		if (s == NULL || !known_type(s))
			goto bad;
		for (size_t j = 0; j < i; j++)
			if (streq(json_string_value(json_array_get(ev, j)), s))
				goto bad;
		json_array_append_new(*out, json_string(s));
	}
	return 0;
bad:
	json_decref(*out);
	*out = NULL;
	return req_fail(r, 400, "invalid_field",
	                "\"events\" must be a list of distinct event types (docs/webhooks.md)");
}

static json_t *webhook_view(const json_t *wh)
{
	return json_pack("{s:s, s:s, s:O, s:o}", "id", jx_str(wh, "id"), "url", jx_str(wh, "url"),
	                 "events", json_object_get(wh, "events"), "created_at",
	                 jx_time(jx_int(wh, "created_at", -1)));
}

int api_webhook_create(struct req *r, struct store_txn *t)
{
	static const char *const fields[] = {"url", "events", NULL};
	char whid[ID_MAX], secret[80];
	unsigned char raw[32], wrapped[CRYPTO_WH_WRAPPED_MAX];
	const char *url;
	json_t *events = NULL, *wh = NULL, *view;
	size_t wlen, n;
	int rc;

	if ((rc = v_only(r, fields)) ||
	    (rc = v_str(r, "url", 1, 1, WEBHOOK_URL_MAX, WEBHOOK_URL_MAX, V_LINE, &url)))
		return rc;
	if (!url_ok(url))
		return req_fail(r, 400, "invalid_field",
		                "\"url\" must be an https:// URL without user name, password or "
		                "fragment");
	if ((rc = events_field(r, &events)) != 0)
		return rc;
	{
		char(*all)[ID_MAX] = malloc(WEBHOOK_MAX * sizeof *all);
		if (all == NULL) {
			json_decref(events);
			return STORE_ERROR;
		}
		rc = webhook_ids(t, all, &n);
		free(all);
		if (rc != STORE_OK) {
			json_decref(events);
			return rc;
		}
	}
	if (n >= WEBHOOK_MAX) {
		json_decref(events);
		return req_fail(r, 409, "conflict", "there are %d webhooks already", WEBHOOK_MAX);
	}
	crypto_new_id(whid);
	snprintf(r->a_target, sizeof r->a_target, "%s", whid);
	randombytes_buf(raw, sizeof raw);
	memcpy(secret, "whsec_", 6);
	sodium_bin2base64(secret + 6, sizeof secret - 6, raw, sizeof raw,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
	/* the secret wrapped under the master key, in a table of its own
	 * (row key = webhook id) that the master-key rewrap walks */
	if (crypto_webhook_secret_wrap(whid, secret, strlen(secret), wrapped, sizeof wrapped,
	                               &wlen) != 0) {
		rc = STORE_ERROR;
		goto out;
	}
	wh = json_pack("{s:s, s:s, s:O, s:I, s:s}", "id", whid, "url", url, "events", events,
	               "created_at", (json_int_t)r->now, "creator", r->who.id);
	if (wh == NULL) {
		rc = STORE_ERROR;
		goto out;
	}
	if ((rc = rec_put(t, DB_WEBHOOKS, whid, wh, STORE_NOOVERWRITE)) != STORE_OK ||
	    (rc = store_put(t, DB_WEBHOOK_SECRETS, whid, strlen(whid), wrapped, wlen,
	                    STORE_NOOVERWRITE)) != STORE_OK)
		goto out;
	if ((view = webhook_view(wh)) == NULL ||
	    json_object_set_new(view, "secret", json_string(secret)) != 0) {
		json_decref(view);
		rc = STORE_ERROR;
		goto out;
	}
	r->secret = 1; /* the answer holds the signing secret: wiped after sending */
	rc = req_ok(r, 201, view);
out:
	sodium_memzero(secret, sizeof secret);
	json_decref(events);
	json_decref(wh);
	return rc;
}

int api_webhook_list(struct req *r, struct store_txn *t)
{
	static const char *const q[] = {"limit", "after", NULL};
	char after[ID_MAX] = "";
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int64_t limit;
	json_t *arr, *out;
	int rc, got;

	if ((rc = only_query(r, q)) || (rc = query_limit(r, &limit)))
		return rc;
	if ((got = req_query(r, "after", after, sizeof after)) < 0 ||
	    (got == 1 && !util_valid_server_id(after)))
		return req_fail(r, 400, "invalid_field", "query parameter \"after\" is malformed");
	if ((arr = json_array()) == NULL)
		return STORE_ERROR;
	if ((rc = store_cursor_open(t, DB_WEBHOOKS, &c)) != STORE_OK) {
		json_decref(arr);
		return rc;
	}
	rc = store_cursor_seek(c, after, strlen(after), &k, &kl, &v, &vl);
	while (rc == STORE_OK) {
		json_t *wh;
		if (kl == strlen(after) && memcmp(k, after, kl) == 0) {
			rc = store_cursor_next(c, &k, &kl, &v, &vl);
			continue;
		}
		if ((int64_t)json_array_size(arr) == limit)
			break;
		if ((wh = rec_decode(v, vl)) == NULL) {
			rc = STORE_ERROR;
			break;
		}
		json_array_append_new(arr, webhook_view(wh));
		json_decref(wh);
		rc = store_cursor_next(c, &k, &kl, &v, &vl);
	}
	store_cursor_close(c);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		json_decref(arr);
		return rc;
	}
	out = json_pack("{s:o}", "webhooks", arr);
	if (out != NULL && rc == STORE_OK && json_array_size(arr) > 0)
		json_object_set(
		    out, "next",
		    json_object_get(json_array_get(arr, json_array_size(arr) - 1), "id"));
	return req_ok(r, 200, out);
}

/* Every delivery of webhook whid, a batch at a time. */
static int delete_deliveries(struct store_txn *t, const char *whid)
{
	for (;;) {
		unsigned char pre[ID_MAX + 1], key[ID_MAX + 9];
		size_t pl = strlen(whid) + 1;
		struct store_cursor *c;
		const void *k, *v;
		size_t kl, vl;
		char did[ID_MAX];
		json_t *rec;
		int rc;

		memcpy(pre, whid, pl);
		if ((rc = store_cursor_open(t, DB_WEBHOOK_DELIV, &c)) != STORE_OK)
			return rc;
		rc = store_cursor_seek(c, pre, pl, &k, &kl, &v, &vl);
		if (rc == STORE_OK && (kl != pl + 8 || memcmp(k, pre, pl) != 0))
			rc = STORE_NOTFOUND;
		if (rc == STORE_OK && (vl == 0 || vl >= ID_MAX))
			rc = STORE_ERROR;
		if (rc == STORE_OK) {
			memcpy(did, v, vl);
			did[vl] = '\0';
			memcpy(key, k, kl);
		}
		store_cursor_close(c);
		if (rc == STORE_NOTFOUND)
			return STORE_OK;
		if (rc != STORE_OK)
			return rc;
		if ((rc = rec_get(t, DB_OUTBOX, did, &rec)) == STORE_OK) {
			rc = delivery_delete(t, rec);
			json_decref(rec);
		} else if (rc == STORE_NOTFOUND) { /* a stray index entry */
			rc = store_del(t, DB_WEBHOOK_DELIV, key, pl + 8);
		}
		if (rc != STORE_OK)
			return rc;
	}
}

int api_webhook_delete(struct req *r, struct store_txn *t)
{
	const char *whid = r->params[0];
	int rc;

	snprintf(r->a_target, sizeof r->a_target, "%s", whid);
	rc = store_del(t, DB_WEBHOOKS, whid, strlen(whid));
	if (rc == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no such webhook");
	if (rc != STORE_OK || (rc = delete_deliveries(t, whid)) != STORE_OK)
		return rc;
	rc = store_del(t, DB_WEBHOOK_SECRETS, whid, strlen(whid));
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	return req_ok(r, 204, NULL);
}

static json_t *delivery_view(const json_t *d)
{
	json_t *ls = json_object_get(d, "last_status");

	return json_pack("{s:s, s:s, s:s, s:I, s:O, s:o, s:o}", "id", jx_str(d, "id"), "type",
	                 jx_str(d, "type"), "state", jx_str(d, "state"), "attempts",
	                 jx_int(d, "attempts", 0), "last_status", ls != NULL ? ls : json_null(),
	                 "created_at", jx_time(jx_int(d, "created_at", -1)), "next_attempt_at",
	                 streq(jx_str(d, "state"), "pending")
	                     ? jx_time(jx_int(d, "next_attempt_at", -1))
	                     : json_null());
}

int api_webhook_deliveries(struct req *r, struct store_txn *t)
{
	static const char *const q[] = {"state", "limit", "after", NULL};
	static const char *const states[] = {"pending", "delivered", "failed", NULL};
	const char *whid = r->params[0];
	unsigned char key[ID_MAX + 9];
	char state[16] = "", after[24] = "";
	int64_t limit, aft = 0;
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl, pl = strlen(whid) + 1;
	json_t *wh, *arr, *out;
	int rc, got, more = 0;

	snprintf(r->a_target, sizeof r->a_target, "%s", whid);
	if ((rc = only_query(r, q)) || (rc = query_limit(r, &limit)))
		return rc;
	if ((got = req_query(r, "state", state, sizeof state)) < 0) {
		return req_fail(r, 400, "invalid_field", "query parameter \"state\" is malformed");
	} else if (got == 1) {
		int ok = 0;
		for (size_t i = 0; states[i] != NULL; i++)
			ok |= streq(states[i], state);
		if (!ok)
			return req_fail(r, 400, "invalid_field",
			                "\"state\" must be pending, delivered or failed");
	}
	if ((got = req_query(r, "after", after, sizeof after)) < 0 ||
	    (got == 1 && util_parse_i64(after, 1, INT64_MAX, &aft) != 0))
		return req_fail(r, 400, "invalid_field", "query parameter \"after\" is malformed");
	if ((rc = rec_get(t, DB_WEBHOOKS, whid, &wh)) == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no such webhook");
	if (rc != STORE_OK)
		return rc;
	json_decref(wh);
	if ((arr = json_array()) == NULL)
		return STORE_ERROR;
	/* newest first: the index keys hold ~order; "after" is an order */
	if (aft > 0)
		deliv_key(key, whid, (uint64_t)aft - 1);
	else
		memcpy(key, whid, pl);
	if ((rc = store_cursor_open(t, DB_WEBHOOK_DELIV, &c)) != STORE_OK) {
		json_decref(arr);
		return rc;
	}
	rc = store_cursor_seek(c, key, aft > 0 ? pl + 8 : pl, &k, &kl, &v, &vl);
	while (rc == STORE_OK && kl == pl + 8 && memcmp(k, whid, pl) == 0) {
		char did[ID_MAX];
		json_t *d;
		if (vl > 0 && vl < ID_MAX) {
			memcpy(did, v, vl);
			did[vl] = '\0';
			if ((rc = rec_get(t, DB_OUTBOX, did, &d)) == STORE_OK) {
				if (state[0] == '\0' || streq(jx_str(d, "state"), state)) {
					if ((int64_t)json_array_size(arr) == limit) {
						more = 1;
						json_decref(d);
						break;
					}
					json_array_append_new(arr, delivery_view(d));
					aft = jx_int(d, "order", 0);
				}
				json_decref(d);
			} else if (rc != STORE_NOTFOUND) {
				break;
			}
		}
		rc = store_cursor_next(c, &k, &kl, &v, &vl);
	}
	store_cursor_close(c);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		json_decref(arr);
		return rc;
	}
	out = json_pack("{s:o}", "deliveries", arr);
	if (out != NULL && more) {
		char nx[24];
		snprintf(nx, sizeof nx, "%lld", (long long)aft);
		json_object_set_new(out, "next", json_string(nx));
	}
	return req_ok(r, 200, out);
}

/* ---- the delivery thread ---------------------------------------------------- */

/* One delivery being attempted. Each webhook has at most one in flight,
 * the earliest due, so its deliveries go out in order while it answers;
 * a receiver that hangs holds only its own queue. */
struct job {
	int used;
	char did[ID_MAX];
	char whid[ID_MAX];
	char url[WEBHOOK_URL_MAX + 1];
	char *body;
	unsigned char *wrapped;
	size_t wlen;
	int gone; /* its webhook is gone: no attempt */
	CURL *h;
	struct curl_slist *hdrs;
	int capped;  /* the answer's body began: we ended the transfer there */
	long status; /* HTTP status, 0 for none */
	int ok;
};

/* load_due's argument: the jobs in flight (skipped), the new ones. */
struct scan {
	int64_t now;
	const struct job *busy; /* INFLIGHT_MAX slots */
	struct job *out;        /* free slots are filled */
	size_t nout;
	uint64_t pending, dropped;
};

static void job_free(struct job *j)
{
	if (j->h != NULL)
		curl_easy_cleanup(j->h);
	curl_slist_free_all(j->hdrs);
	free(j->body);
	free(j->wrapped);
	memset(j, 0, sizeof *j);
}

static int whid_busy(const struct job *a, const char *whid, const char *did)
{
	for (size_t i = 0; i < ROUND_MAX; i++)
		if (a[i].used &&
		    (strcmp(a[i].whid, whid) == 0 || (did != NULL && strcmp(a[i].did, did) == 0)))
			return 1;
	return 0;
}

/* Fill job j from delivery did (pending) and its webhook. 1 when filled,
 * 0 to skip it, or a store_err. */
static int job_load(struct store_txn *t, const char *did, const struct scan *sc, struct job *j)
{
	json_t *d, *wh;
	const void *sv = NULL;
	size_t svl = 0;
	int rc;

	if ((rc = rec_get(t, DB_OUTBOX, did, &d)) == STORE_NOTFOUND)
		return 0;
	if (rc != STORE_OK)
		return rc;
	if (!streq(jx_str(d, "state"), "pending") || jx_str(d, "webhook") == NULL ||
	    jx_str(d, "body") == NULL || strlen(jx_str(d, "webhook")) >= ID_MAX ||
	    whid_busy(sc->busy, jx_str(d, "webhook"), did) ||
	    whid_busy(sc->out, jx_str(d, "webhook"), NULL)) {
		json_decref(d);
		return 0;
	}
	memset(j, 0, sizeof *j);
	snprintf(j->did, sizeof j->did, "%s", did);
	snprintf(j->whid, sizeof j->whid, "%s", jx_str(d, "webhook"));
	j->body = strdup(jx_str(d, "body"));
	json_decref(d);
	if (j->body == NULL)
		return STORE_ERROR;
	j->used = 1;
	if ((rc = rec_get(t, DB_WEBHOOKS, j->whid, &wh)) == STORE_NOTFOUND) {
		j->gone = 1;
		return 1;
	}
	if (rc != STORE_OK) {
		job_free(j);
		return rc;
	}
	rc = store_get(t, DB_WEBHOOK_SECRETS, j->whid, strlen(j->whid), &sv, &svl);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		json_decref(wh);
		job_free(j);
		return rc;
	}
	if (jx_str(wh, "url") == NULL || strlen(jx_str(wh, "url")) > WEBHOOK_URL_MAX ||
	    rc == STORE_NOTFOUND || svl == 0 || svl > CRYPTO_WH_WRAPPED_MAX ||
	    (j->wrapped = malloc(svl)) == NULL) {
		j->gone = 1;
	} else {
		memcpy(j->wrapped, sv, svl);
		j->wlen = svl;
		snprintf(j->url, sizeof j->url, "%s", jx_str(wh, "url"));
	}
	json_decref(wh);
	return 1;
}

/* The first due delivery of webhook whid at now into did: 1, 0 (none
 * due), or a store_err. */
static int first_due(struct store_txn *t, const char *whid, int64_t now, char did[ID_MAX])
{
	unsigned char pre[ID_MAX + 1];
	size_t pl = strlen(whid) + 1, kl;
	struct store_cursor *c;
	const void *k;
	int rc;

	if (pl > sizeof pre)
		return 0;
	memcpy(pre, whid, pl);
	if ((rc = store_cursor_open(t, DB_OUTBOX_DUE, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, pre, pl, &k, &kl, NULL, NULL);
	if (rc == STORE_OK) {
		const unsigned char *kb = k;
		if (kl > pl + 16 && kl - pl - 16 < ID_MAX && memcmp(kb, pre, pl) == 0 &&
		    (int64_t)util_be64_get(kb + pl) <= now) {
			memcpy(did, kb + pl + 16, kl - pl - 16);
			did[kl - pl - 16] = '\0';
			rc = 1;
		} else {
			rc = 0;
		}
	}
	store_cursor_close(c);
	return rc == STORE_NOTFOUND ? 0 : rc;
}

/* Read-only: pending deliveries due at sc->now, the earliest of each
 * webhook that has none in flight, into the free slots of sc->out. The
 * webhooks are visited from a rotating start, so none waits behind the
 * others when there are more than slots. */
static int load_due(struct store_txn *t, void *arg)
{
	static size_t start; /* only the delivery thread scans */
	struct scan *sc = arg;
	size_t free_slots = 0, nw = 0, slot = 0;
	char(*ids)[ID_MAX];
	int rc;

	if ((rc = meta_get(t, WH_PENDING_KEY, &sc->pending)) != STORE_OK ||
	    (rc = meta_get(t, WH_DROPPED_KEY, &sc->dropped)) != STORE_OK)
		return rc;
	for (size_t i = 0; i < ROUND_MAX; i++)
		free_slots += !sc->out[i].used;
	if (free_slots == 0)
		return STORE_OK;
	if ((ids = malloc(WEBHOOK_MAX * sizeof *ids)) == NULL)
		return STORE_ERROR;
	if ((rc = webhook_ids(t, ids, &nw)) != STORE_OK || nw == 0) {
		free(ids);
		return rc;
	}
	start %= nw;
	for (size_t n = 0; n < nw && free_slots > 0 && rc == STORE_OK; n++) {
		const char *whid = ids[(start + n) % nw];
		char did[ID_MAX];
		int got;
		if (whid_busy(sc->busy, whid, NULL) ||
		    (got = first_due(t, whid, sc->now, did)) == 0)
			continue;
		if (got < 0) {
			rc = got;
			break;
		}
		while (slot < ROUND_MAX && sc->out[slot].used)
			slot++;
		if (slot == ROUND_MAX)
			break;
		if ((got = job_load(t, did, sc, &sc->out[slot])) < 0) {
			rc = got;
		} else if (got == 1) {
			free_slots--;
			sc->nout++;
		}
	}
	start++;
	free(ids);
	return rc;
}

/* The first bytes of the answer's body: its status line and headers are
 * in, and the status is all a delivery keeps, so the transfer ends here
 * (CURLE_WRITE_ERROR with capped set counts as an answer). A receiver that
 * sends a large body, or trickles one past the attempt's time limit,
 * cannot turn its 2xx into a failure retried for a day. */
static size_t discard(char *p, size_t size, size_t nmemb, void *arg)
{
	struct job *j = arg;

	(void)p;
	(void)size;
	(void)nmemb;
	j->capped = 1;
	return 0;
}

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (curl_easy_setopt(j->h, opt, val) != CURLE_OK)                                  \
			goto fail;                                                                 \
	} while (0)

/* Set up the attempt of job j at unix time ts: signed headers and every
 * option. Returns 0, or -1 (the job counts as a failed attempt). */
static int job_setup(struct job *j, int64_t ts)
{
	char secret[CRYPTO_WH_SECRET_MAX], line[256], tbuf[24], dl[128];
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char hex[2 * sizeof mac + 1];
	crypto_auth_hmacsha256_state st;
	const char *h[4];
	struct curl_slist *l;

	if (crypto_webhook_secret_unwrap(j->whid, j->wrapped, j->wlen, secret) != 0) {
		log_msg("webhook %s: its signing secret fails to unwrap", j->whid);
		return -1;
	}
	snprintf(tbuf, sizeof tbuf, "%lld", (long long)ts);
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)tbuf, strlen(tbuf));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)j->body, strlen(j->body));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof st);
	sodium_memzero(secret, sizeof secret);
	sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
	snprintf(line, sizeof line, "Rsvault-Signature: t=%s,v1=%s", tbuf, hex);
	snprintf(dl, sizeof dl, "Rsvault-Delivery: %s", j->did);
	h[0] = "Content-Type: application/json";
	h[1] = "Expect:";
	h[2] = dl;
	h[3] = line;
	for (int i = 0; i < 4; i++) {
		if ((l = curl_slist_append(j->hdrs, h[i])) == NULL)
			return -1;
		j->hdrs = l;
	}
	if ((j->h = curl_easy_init()) == NULL)
		return -1;
	SET(CURLOPT_URL, j->url);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, (long)WEBHOOK_ATTEMPT_MS);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)WEBHOOK_ATTEMPT_MS);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (ca_blob != NULL) {
		struct curl_blob b = {.data = ca_blob, .len = ca_len, .flags = CURL_BLOB_NOCOPY};
		SET(CURLOPT_CAINFO_BLOB, &b);
		SET(CURLOPT_CAINFO, (char *)NULL);
		SET(CURLOPT_CAPATH, (char *)NULL);
	}
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDS, j->body);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(j->body));
	SET(CURLOPT_HTTPHEADER, j->hdrs);
	SET(CURLOPT_USERAGENT, "rsvault-webhook/" VAULT_VERSION);
	SET(CURLOPT_WRITEFUNCTION, discard);
	SET(CURLOPT_WRITEDATA, j);
	SET(CURLOPT_PRIVATE, j);
	return 0;
fail:
	return -1;
}
#undef SET

static pthread_t d_thread;
static int d_started;
static struct store *d_store;
static CURLM *d_multi; /* with libcurl, on the first delivery (curl_ready) */
static pthread_mutex_t d_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t d_cv;
static int d_stop;

static int stopping(void)
{
	int s;

	pthread_mutex_lock(&d_mu);
	s = d_stop;
	pthread_mutex_unlock(&d_mu);
	return s;
}

/* The outcomes, owned by the writer's operation (see store_submit). */
struct outcome {
	char did[ID_MAX];
	long status;
	int ok, gone;
};
struct outcomes {
	size_t n;
	int64_t now;
	struct outcome o[ROUND_MAX];
};

static int64_t backoff_ms(int64_t attempts)
{
	int64_t d = 1000;

	for (int64_t i = 1; i < attempts && d < WEBHOOK_BACKOFF_MAX_MS; i++)
		d *= 2;
	return d < WEBHOOK_BACKOFF_MAX_MS ? d : WEBHOOK_BACKOFF_MAX_MS;
}

/* One outcome: attempts, last status, and the next state. */
static int apply_one(struct store_txn *t, const struct outcome *o, int64_t now)
{
	unsigned char k[DUE_KEY_MAX];
	json_t *d;
	int64_t attempts, next;
	uint64_t order;
	size_t kl;
	int rc;

	if ((rc = rec_get(t, DB_OUTBOX, o->did, &d)) == STORE_NOTFOUND)
		return STORE_OK; /* dropped or its webhook deleted meanwhile */
	if (rc != STORE_OK)
		return rc;
	if (!streq(jx_str(d, "state"), "pending")) {
		json_decref(d);
		return STORE_OK;
	}
	order = (uint64_t)jx_int(d, "order", 0);
	kl = due_key(k, jx_str(d, "webhook"), jx_int(d, "next_attempt_at", 0), order, o->did);
	if ((rc = store_del(t, DB_OUTBOX_DUE, k, kl)) != STORE_OK && rc != STORE_NOTFOUND)
		goto out;
	attempts = jx_int(d, "attempts", 0) + (o->gone ? 0 : 1);
	json_object_set_new(d, "attempts", json_integer(attempts));
	if (!o->gone)
		json_object_set_new(d, "last_status",
		                    o->status > 0 ? json_integer(o->status) : json_null());
	next = now + backoff_ms(attempts);
	if (o->ok || o->gone || next > jx_int(d, "created_at", 0) + WINDOW_MS) {
		const char *st = o->ok ? "delivered" : "failed";
		kl = state_key(k, 'p', order);
		if ((rc = store_del(t, DB_OUTBOX_STATE, k, kl)) != STORE_OK && rc != STORE_NOTFOUND)
			goto out;
		kl = state_key(k, state_letter(st), order);
		if ((rc = store_put(t, DB_OUTBOX_STATE, k, kl, o->did, strlen(o->did), 0)) !=
		        STORE_OK ||
		    (rc = meta_add(t, WH_PENDING_KEY, -1)) != STORE_OK)
			goto out;
		json_object_set_new(d, "state", json_string(st));
		json_object_set_new(d, "done_at", json_integer(now));
	} else {
		json_object_set_new(d, "next_attempt_at", json_integer(next));
		kl = due_key(k, jx_str(d, "webhook"), next, order, o->did);
		if ((rc = store_put(t, DB_OUTBOX_DUE, k, kl, "", 0, 0)) != STORE_OK)
			goto out;
	}
	rc = rec_put(t, DB_OUTBOX, o->did, d, 0);
out:
	json_decref(d);
	return rc;
}

static int apply_op(struct store_txn *t, void *arg)
{
	struct outcomes *oc = arg;
	int rc = STORE_OK;

	for (size_t i = 0; i < oc->n && rc == STORE_OK; i++)
		rc = apply_one(t, &oc->o[i], oc->now);
	return rc;
}

static void release_outcomes(void *arg, int rc)
{
	(void)rc;
	free(arg);
}

/* Job j is done (ok, failed or gone): its outcome into oc, its slot freed. */
static void job_done(struct job *j, struct outcomes *oc)
{
	struct outcome *o = &oc->o[oc->n++];

	snprintf(o->did, sizeof o->did, "%s", j->did);
	o->status = j->status;
	o->ok = j->ok;
	o->gone = j->gone;
	if (j->h != NULL)
		curl_multi_remove_handle(d_multi, j->h);
	job_free(j);
}

/* Hand the outcomes to the writer and wait for their commit (a small
 * operation; the API's requests queue beside it, not behind a receiver). */
static void record(struct outcomes **oc)
{
	int rc;

	if ((*oc)->n == 0)
		return;
	(*oc)->now = util_now_ms();
	rc = store_submit(d_store, apply_op, *oc, release_outcomes);
	if (rc != STORE_OK)
		log_msg("webhooks: cannot record %zu delivery outcomes (%d); they will be "
		        "attempted again",
		        (*oc)->n, rc);
	if (rc == STORE_TIMEOUT || rc == STORE_UNKNOWN)
		*oc = calloc(1, sizeof **oc); /* the store frees the old one */
	else
		memset(*oc, 0, sizeof **oc);
}

static void idle_wait(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += POLL_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&d_mu);
	if (!d_stop)
		pthread_cond_timedwait(&d_cv, &d_mu, &ts);
	pthread_mutex_unlock(&d_mu);
}

/* libcurl and, through it, OpenSSL and libssh2 are initialised only when
 * needed: at start when a webhook exists, else on the first delivery (by
 * this thread, under the seccomp filter, which allows what that takes:
 * reading openssl.cnf, a socket pair). Until then none of their pages is
 * touched: 2.3 MiB less resident for a vault without webhooks. when says
 * which, for the log. Returns 0, or -1 (logged once; the attempt fails and
 * is retried). */
static int curl_ready(const char *when)
{
	static int said;

	if (d_multi != NULL)
		return 0;
	if (!curl_up && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
		curl_up = 1;
	if (curl_up && (d_multi = curl_multi_init()) != NULL) {
		log_msg("webhooks: libcurl initialised (%s)", when);
		return 0;
	}
	if (!said)
		log_msg("webhooks: cannot initialise libcurl; deliveries are retried");
	said = 1;
	return -1;
}

static void *deliver_loop(void *arg)
{
	struct job *slots = calloc(ROUND_MAX, sizeof *slots);
	struct outcomes *oc = calloc(1, sizeof *oc);
	int64_t last_scan = 0;

	(void)arg;
	while (slots != NULL && oc != NULL && !stopping()) {
		size_t inflight = 0;
		int changed = 0, still = 0;
		CURLMsg *m;
		int left;

		if (crypto_sealed()) { /* the signing secrets need the master key */
			idle_wait();
			continue;
		}
		for (size_t i = 0; i < ROUND_MAX; i++)
			inflight += slots[i].used;
		if (inflight < ROUND_MAX && util_mono_ms() - last_scan >= POLL_MS) {
			struct scan sc = {.now = util_now_ms(), .busy = slots, .out = NULL};
			struct job *fresh = calloc(ROUND_MAX, sizeof *fresh);
			int64_t ts = sc.now / 1000;
			if (fresh == NULL)
				break;
			/* the slots in use count as taken in fresh too */
			for (size_t i = 0; i < ROUND_MAX; i++)
				fresh[i].used = slots[i].used;
			sc.out = fresh;
			last_scan = util_mono_ms();
			if (store_read(d_store, load_due, &sc) == STORE_OK) {
				atomic_store(&m_backlog, sc.pending);
				atomic_store(&m_dropped, sc.dropped);
			}
			for (size_t i = 0; i < ROUND_MAX; i++) {
				struct job *j = &fresh[i];
				if (slots[i].used || !j->used)
					continue;
				slots[i] = *j; /* the slot takes the job */
				j = &slots[i];
				if (j->gone) {
					job_done(j, oc);
				} else if (curl_ready("for the first delivery") != 0 ||
				           job_setup(j, ts) != 0 ||
				           curl_multi_add_handle(d_multi, j->h) != CURLM_OK) {
					if (j->h != NULL)
						curl_easy_cleanup(j->h);
					j->h = NULL;
					job_done(j, oc); /* a failed attempt */
				} else {
					curl_easy_setopt(j->h, CURLOPT_PRIVATE, j);
					curl_easy_setopt(j->h, CURLOPT_WRITEDATA, j);
					inflight++;
				}
			}
			free(fresh);
		}
		if (inflight == 0) {
			record(&oc);
			if (oc == NULL)
				break;
			idle_wait();
			continue;
		}
		if (curl_multi_perform(d_multi, &still) != CURLM_OK)
			break;
		while ((m = curl_multi_info_read(d_multi, &left)) != NULL) {
			struct job *j = NULL;
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			if (j == NULL)
				continue;
			/* an answer whose body we cut is an answer: its status
			 * counts (a 2xx with a body is delivered, however long or
			 * slow the body) */
			if (m->data.result == CURLE_OK ||
			    (m->data.result == CURLE_WRITE_ERROR && j->capped))
				curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &j->status);
			j->ok = j->status >= 200 && j->status <= 299;
			job_done(j, oc);
			changed = 1;
		}
		if (changed) {
			record(&oc);
			if (oc == NULL)
				break;
			last_scan = 0; /* a webhook is free: look for its next one now */
		}
		if (still > 0)
			curl_multi_poll(d_multi, NULL, 0, POLL_MS, NULL);
	}
	/* stopping: transfers in flight are abandoned, still pending */
	for (size_t i = 0; slots != NULL && i < ROUND_MAX; i++) {
		if (slots[i].used && slots[i].h != NULL)
			curl_multi_remove_handle(d_multi, slots[i].h);
		job_free(&slots[i]);
	}
	free(slots);
	free(oc);
	return NULL;
}

/* ---- start and stop --------------------------------------------------------- */

int webhooks_init(const char *ca_file, int64_t max)
{
	outbox_max = max > 0 ? max : WEBHOOK_OUTBOX_DEFAULT;
	if (ca_file != NULL && ca_file[0] != '\0') {
		struct stat st;
		int fd = open(ca_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		ssize_t got;
		if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
		    st.st_size > CA_MAX || (ca_blob = malloc((size_t)st.st_size + 1)) == NULL) {
			log_msg("--webhook-ca %s: cannot read it (%s)", ca_file,
			        fd < 0 ? strerror(errno) : "not a file of 1 byte to 1 MiB");
			if (fd >= 0)
				close(fd);
			return -1;
		}
		ca_len = (size_t)st.st_size;
		got = read(fd, ca_blob, ca_len);
		close(fd);
		if (got == (ssize_t)ca_len)
			ca_blob[ca_len] = '\0';
		if (got != (ssize_t)ca_len ||
		    strstr((const char *)ca_blob, "-----BEGIN CERTIFICATE-----") == NULL) {
			log_msg("--webhook-ca %s: not a PEM certificate file", ca_file);
			free(ca_blob);
			ca_blob = NULL;
			return -1;
		}
	}
	return 0;
}

static int any_webhook(struct store_txn *t, void *arg)
{
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int rc;

	if ((rc = store_cursor_open(t, DB_WEBHOOKS, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_next(c, &k, &kl, &v, &vl);
	store_cursor_close(c);
	*(int *)arg = rc == STORE_OK;
	return rc == STORE_OK || rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int webhooks_start(struct store *s)
{
	pthread_condattr_t ca;
	int any = 0;

	d_store = s;
	/* a vault with webhooks initialises libcurl now, before the filter */
	if (store_read(s, any_webhook, &any) == STORE_OK && any &&
	    curl_ready("at start: a webhook exists") != 0)
		return -1;
	pthread_condattr_init(&ca);
	pthread_cond_init(&d_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&d_thread, NULL, deliver_loop, NULL) != 0) {
		log_msg("webhooks: cannot start the delivery thread");
		return -1;
	}
	d_started = 1;
	return 0;
}

void webhooks_stop(void)
{
	if (d_started) {
		pthread_mutex_lock(&d_mu);
		d_stop = 1;
		pthread_cond_broadcast(&d_cv);
		pthread_mutex_unlock(&d_mu);
		pthread_join(d_thread, NULL);
		d_started = 0;
	}
	if (d_multi != NULL)
		curl_multi_cleanup(d_multi);
	d_multi = NULL;
	free(ca_blob);
	ca_blob = NULL;
	if (curl_up)
		curl_global_cleanup();
	curl_up = 0;
}

uint64_t webhook_backlog(void)
{
	return atomic_load(&m_backlog);
}

uint64_t webhook_dropped_total(void)
{
	return atomic_load(&m_dropped);
}

/* The metrics route (SPEC 8.5): the backlog and the drops, as the delivery
 * thread last read them (no store access at scrape time). */
static double backlog_now(void)
{
	return (double)webhook_backlog();
}

static double dropped_now(void)
{
	return (double)webhook_dropped_total();
}

METRIC_GAUGE_FN(m_webhook_backlog, "rsvault_webhook_backlog",
                "Webhook deliveries pending (not yet delivered nor failed)", backlog_now)
METRIC_COUNTER_FN(m_webhook_dropped, "rsvault_webhook_dropped_total",
                  "Pending or failed webhook deliveries dropped to bound the outbox", dropped_now)

/* api_links.c - upload links and receipts (SPEC 8.2).
 *
 * A link lets whoever holds it upload credentials to one ticket, a limited
 * number of times until it expires; a receipt lets the uploader see who
 * read one credential and destroy it. Both are capabilities
 * "{id}.{secret}": the secret (32 random bytes) is shown once, in the URL
 * the creating answer carries, and stored only as its keyed hash
 * (crypto_cap_hash). authz.c checks them; the handlers here run after the
 * gauntlet passed.
 *
 * DB_LINKS: link id -> {"id","ticket","creator","note"?,"created_at",
 *   "expires_at","uses","used","revoked_at"?,"hash"} (times in ms).
 * DB_TICKET_LINKS: ticket id \0 link id; DB_CREATOR_LINKS: creator \0 link
 * id (revocation when the ticket closes or the creator is suspended).
 * DB_RECEIPTS: receipt id -> {"id","ticket","credential","link",
 *   "created_at","hash"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "page.h"
#include "apilimits.h"
#include "audit.h"
#include "audit_read.h"
#include "authz.h"
#include "crypto.h"
#include "license.h"
#include "notify.h"
#include "records.h"
#include "sessions.h"
#include "util.h"
#include "validate.h"
#include "vault.h"

#define RECEIPT_READS_MAX 1000
#define RECEIPT_SESSIONS_MAX 1000
/* "{public-url}/u/#{id}.{secret}" */
#define CAP_URL_MAX (sizeof(((struct vault *)0)->public_url) + 8 + 64 + CRYPTO_CAP_SECRET_LEN)

static const char *link_state(const json_t *l, int64_t now)
{
	if (json_object_get(l, "revoked_at") != NULL)
		return "revoked";
	if (jx_int(l, "used", 0) >= jx_int(l, "uses", 0))
		return "spent";
	if (now >= jx_int(l, "expires_at", 0))
		return "expired";
	return "active";
}

static json_t *link_view(const json_t *l, int64_t now)
{
	json_int_t left = jx_int(l, "uses", 0) - jx_int(l, "used", 0);
	json_t *note = json_object_get(l, "note");

	return json_pack("{s:s, s:s, s:O, s:o, s:o, s:I, s:I, s:s}", "id", jx_str(l, "id"),
	                 "creator", jx_str(l, "creator"), "note", note ? note : json_null(),
	                 "created_at", jx_time(jx_int(l, "created_at", -1)), "expires_at",
	                 jx_time(jx_int(l, "expires_at", -1)), "uses", jx_int(l, "uses", 0),
	                 "uses_left", left > 0 ? left : 0, "state", link_state(l, now));
}

/* A new capability of kind ("link", "receipt") under path ("u", "r"):
 * its id into id, its URL into url (the caller wipes it), its keyed hash
 * as hex into hex. */
static int cap_make(const struct req *r, const char *kind, const char *path, char id[64],
                    char url[CAP_URL_MAX], char hex[2 * CRYPTO_CAP_HASH_LEN + 1])
{
	char secret[CRYPTO_CAP_SECRET_LEN + 1];
	unsigned char h[CRYPTO_CAP_HASH_LEN];
	int n;

	crypto_new_id(id);
	crypto_cap_new(secret);
	crypto_cap_hash(kind, id, secret, strlen(secret), h);
	sodium_bin2hex(hex, 2 * CRYPTO_CAP_HASH_LEN + 1, h, sizeof h);
	n = snprintf(url, CAP_URL_MAX, "%s/%s/#%s.%s", r->v->public_url, path, id, secret);
	sodium_memzero(secret, sizeof secret);
	sodium_memzero(h, sizeof h);
	return n > 0 && (size_t)n < CAP_URL_MAX ? 0 : -1;
}

static int no_public_url(struct req *r)
{
	return req_fail(r, 409, "conflict",
	                "this server has no --public-url, which links and receipts need when it "
	                "listens beyond loopback");
}

int api_link_create(struct req *r, struct store_txn *t)
{
	static const char *const fields[] = {"ttl_s", "uses", "note", NULL};
	char id[64], url[CAP_URL_MAX], hex[2 * CRYPTO_CAP_HASH_LEN + 1];
	const char *note;
	int64_t ttl, uses, expires;
	json_t *l;
	int rc;

	if ((rc = v_only(r, fields)) ||
	    (rc = v_int(r, "ttl_s", 0, 1, API_LINK_TTL_MAX, API_LINK_TTL_DEFAULT, &ttl)) ||
	    (rc = v_int(r, "uses", 0, 1, API_LINK_USES_MAX, API_LINK_USES_DEFAULT, &uses)) ||
	    (rc = v_str(r, "note", 0, 1, API_LINK_NOTE_MAX, 4 * API_LINK_NOTE_MAX, V_LINE, &note)))
		return rc;
	if (r->v->public_url[0] == '\0')
		return no_public_url(r);
	if (cap_make(r, "link", "u", id, url, hex) != 0) {
		sodium_memzero(url, sizeof url);
		return STORE_ERROR;
	}
	snprintf(r->a_target, sizeof r->a_target, "%s", id);
	expires = r->now + ttl * 1000;
	l = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "id", id, "ticket", r->a_ticket,
	              "creator", r->who.id, "created_at", (json_int_t)r->now, "expires_at",
	              (json_int_t)expires, "uses", (json_int_t)uses, "used", (json_int_t)0, "hash",
	              hex);
	if (l != NULL && note != NULL)
		json_object_set_new(l, "note", json_string(note));
	if (l == NULL)
		rc = STORE_ERROR;
	else if ((rc = rec_put(t, DB_LINKS, id, l, STORE_NOOVERWRITE)) == STORE_OK &&
	         (rc = idx_put(t, DB_TICKET_LINKS, r->a_ticket, id, strlen(id))) == STORE_OK &&
	         (rc = idx_put(t, DB_CREATOR_LINKS, r->who.id, id, strlen(id))) == STORE_OK) {
		r->secret = 1; /* the answer holds the link's secret: wiped after sending */
		rc = req_ok(r, 201,
		            json_pack("{s:s, s:s, s:o, s:I}", "id", id, "url", url, "expires_at",
		                      jx_time(expires), "uses", (json_int_t)uses));
	}
	json_decref(l);
	sodium_memzero(url, sizeof url);
	sodium_memzero(hex, sizeof hex);
	return rc;
}

struct link_walk {
	struct store_txn *t;
	int64_t now;
	json_t *arr;          /* listing: views */
	const struct req *by; /* revoking: the request that causes it */
	const char *reason;   /* revoking */
	const char *ticket;   /* revoking by creator: NULL; by ticket: its id */
	struct page pg;       /* listing */
};

static int walk_id(const void *b, size_t blen, char id[64])
{
	if (blen == 0 || blen >= 64)
		return -1;
	memcpy(id, b, blen);
	id[blen] = '\0';
	return 0;
}

static int list_one(const void *b, size_t blen, void *arg)
{
	struct link_walk *w = arg;
	char id[64];
	json_t *l;
	int rc;

	if (walk_id(b, blen, id) != 0 || page_skip(&w->pg, b, blen))
		return 0;
	if ((rc = rec_get(w->t, DB_LINKS, id, &l)) != STORE_OK)
		return rc == STORE_NOTFOUND ? 0 : rc;
	if (page_full(&w->pg)) {
		json_decref(l);
		return 1;
	}
	page_add(&w->pg, b, blen);
	rc = json_array_append_new(w->arr, link_view(l, w->now)) == 0 ? 0 : STORE_ERROR;
	json_decref(l);
	return rc;
}

int api_link_list(struct req *r, struct store_txn *t)
{
	struct link_walk w = {.t = t, .now = r->now};
	json_t *body;
	int rc;

	if ((rc = page_init(r, &w.pg)) != 0)
		return rc;
	if ((w.arr = json_array()) == NULL)
		return STORE_ERROR;
	rc = idx_each(t, DB_TICKET_LINKS, r->a_ticket, list_one, &w);
	if (rc != STORE_OK && rc != 1) {
		json_decref(w.arr);
		return rc;
	}
	if ((body = json_pack("{s:o}", "links", w.arr)) == NULL || page_finish(&w.pg, body) != 0) {
		json_decref(body);
		return STORE_ERROR;
	}
	return req_ok(r, 200, body);
}

/* Mark link id revoked at now (if it is not already). *done says whether
 * this call revoked it. */
static int revoke(struct store_txn *t, const char *id, int64_t now, json_t **out, int *done)
{
	json_t *l;
	int rc;

	*done = 0;
	if ((rc = rec_get(t, DB_LINKS, id, &l)) != STORE_OK)
		return rc;
	if (json_object_get(l, "revoked_at") == NULL) {
		json_object_set_new(l, "revoked_at", json_integer(now));
		if ((rc = rec_put(t, DB_LINKS, id, l, 0)) != STORE_OK) {
			json_decref(l);
			return rc;
		}
		*done = 1;
	}
	if (out != NULL)
		*out = l;
	else
		json_decref(l);
	return STORE_OK;
}

int api_link_revoke(struct req *r, struct store_txn *t)
{
	int done, rc = revoke(t, r->params[0], r->now, NULL, &done);

	if (rc == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no such link");
	if (rc != STORE_OK)
		return rc;
	return req_ok(r, 204, NULL);
}

/* Side-effect revocation: only links still active get revoked (and an
 * event); spent, expired and revoked ones stay as they are. */
static int revoke_one(const void *b, size_t blen, void *arg)
{
	struct link_walk *w = arg;
	char id[64];
	json_t *l;
	int rc, done;

	if (walk_id(b, blen, id) != 0)
		return 0;
	if ((rc = rec_get(w->t, DB_LINKS, id, &l)) != STORE_OK)
		return rc == STORE_NOTFOUND ? 0 : rc;
	int active = strcmp(link_state(l, w->now), "active") == 0;
	json_decref(l);
	if (!active)
		return 0;
	if ((rc = revoke(w->t, id, w->now, &l, &done)) != STORE_OK)
		return rc;
	if (done)
		rc = audit_caused_target(w->t, w->by, "link.revoke", jx_str(l, "ticket"), id,
		                         w->reason);
	json_decref(l);
	return rc;
}

int links_revoke_ticket(struct store_txn *t, const char *tid, const struct req *by,
                        const char *reason)
{
	struct link_walk w = {.t = t, .now = by->now, .by = by, .reason = reason, .ticket = tid};

	return idx_each(t, DB_TICKET_LINKS, tid, revoke_one, &w);
}

int links_revoke_creator(struct store_txn *t, const char *account, const struct req *by,
                         const char *reason)
{
	struct link_walk w = {.t = t, .now = by->now, .by = by, .reason = reason};

	return idx_each(t, DB_CREATOR_LINKS, account, revoke_one, &w);
}

/* What the upload page needs to check fields before sending (SPEC 6). */
static json_t *upload_limits(void)
{
	return json_pack("{s:i, s:i, s:i, s:i, s:i, s:{s:i, s:i, s:i}}", "label", API_LABEL_MAX,
	                 "username", API_USERNAME_MAX, "secret_bytes", API_SECRET_MAX, "notes",
	                 API_NOTES_MAX, "host", V_HOST_MAX, "ttl_s", "min", 1, "max",
	                 API_CRED_TTL_MAX, "default", API_CRED_TTL_DEFAULT);
}

int api_link_open(struct req *r, struct store_txn *t)
{
	struct standing st;
	json_t *l, *kinds, *ref = json_object_get(r->ticket, "ref");
	int rc;

	if ((rc = rec_get(t, DB_LINKS, r->cap_id, &l)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_ERROR : rc;
	if ((rc = license_standing_of(t, jx_str(r->ticket, "owner"), r->now, &st)) != STORE_OK) {
		json_decref(l);
		return rc;
	}
	kinds = json_array();
	for (size_t i = 0; kinds != NULL && cred_kind_words[i] != NULL; i++)
		json_array_append_new(kinds, json_string(cred_kind_words[i]));
	rc = req_ok(r, 200,
	            json_pack("{s:{s:s, s:s, s:O}, s:o, s:I, s:b, s:o, s:o}", "ticket", "id",
	                      jx_str(r->ticket, "id"), "subject", jx_str(r->ticket, "subject"),
	                      "ref", ref ? ref : json_null(), "expires_at",
	                      jx_time(jx_int(l, "expires_at", -1)), "uses_left",
	                      jx_int(l, "uses", 0) - jx_int(l, "used", 0), "eligible", st.eligible,
	                      "kinds", kinds, "limits", upload_limits()));
	standing_free(&st);
	json_decref(l);
	return r->resp != NULL ? rc : STORE_ERROR;
}

int api_link_upload(struct req *r, struct store_txn *t)
{
	char rid[64], url[CAP_URL_MAX], hex[2 * CRYPTO_CAP_HASH_LEN + 1];
	json_t *l, *rc_rec;
	int rc;

	if (r->v->public_url[0] == '\0')
		return no_public_url(r);
	if ((rc = rec_get(t, DB_LINKS, r->cap_id, &l)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_ERROR : rc;
	/* the upload itself: the same checks and sealing as the owner's */
	if ((rc = api_cred_create(r, t)) != 201) {
		json_decref(l);
		return rc;
	}
	/* one use, in the same transaction as the upload */
	json_object_set_new(l, "used", json_integer(jx_int(l, "used", 0) + 1));
	rc = rec_put(t, DB_LINKS, r->cap_id, l, 0);
	json_decref(l);
	if (rc != STORE_OK)
		return rc;
	if (cap_make(r, "receipt", "r", rid, url, hex) != 0) {
		sodium_memzero(url, sizeof url);
		return STORE_ERROR;
	}
	rc_rec = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "id", rid, "ticket", r->a_ticket,
	                   "credential", r->a_cred, "link", r->cap_id, "created_at",
	                   (json_int_t)r->now, "hash", hex);
	if (rc_rec == NULL)
		rc = STORE_ERROR;
	else if ((rc = rec_put(t, DB_RECEIPTS, rid, rc_rec, STORE_NOOVERWRITE)) == STORE_OK) {
		r->secret = 1; /* the answer holds the receipt's secret */
		if (json_object_set_new(r->resp, "receipt", json_string(url)) != 0)
			rc = STORE_ERROR;
		else
			rc = 201;
	}
	json_decref(rc_rec);
	sodium_memzero(url, sizeof url);
	sodium_memzero(hex, sizeof hex);
	return rc;
}

/* ---- receipts --------------------------------------------------------- */

int link_speaks_for(struct store_txn *t, const char *lid, const char *owner)
{
	json_t *l = NULL;
	int rc, yes;

	if (lid == NULL || owner == NULL)
		return 0;
	if ((rc = rec_get(t, DB_LINKS, lid, &l)) != STORE_OK)
		return rc == STORE_NOTFOUND ? 0 : rc;
	yes = streq(jx_str(l, "creator"), owner);
	json_decref(l);
	return yes;
}

int receipt_keep_newest(json_t *arr, json_t *item, size_t max, const char *key)
{
	size_t i, oldest = 0;
	const char *min = NULL;

	if (item == NULL || json_array_append_new(arr, item) != 0)
		return -1;
	if (json_array_size(arr) <= max)
		return 0;
	/* the first of the smallest wins: among equal times, the earliest added */
	for (i = 0; i < json_array_size(arr); i++) {
		const char *v = jx_str(json_array_get(arr, i), key);
		if (v == NULL)
			v = "";
		if (min == NULL || strcmp(v, min) < 0) {
			min = v;
			oldest = i;
		}
	}
	return json_array_remove(arr, oldest) == 0 ? 1 : -1;
}

struct reads {
	const char *cid;
	json_t *reads;    /* [{"time","agent","session"}], the newest RECEIPT_READS_MAX */
	json_t *sessions; /* set of session ids that read it */
	json_int_t count;
	int truncated; /* reads were left out */
	int failed;
};

static int read_event(const json_t *ev, void *arg)
{
	struct reads *rd = arg;
	const char *sid = jx_str(ev, "session");

	if (!streq(jx_str(ev, "action"), "credential.read") ||
	    !streq(jx_str(ev, "outcome"), "allow") || !streq(jx_str(ev, "credential"), rd->cid))
		return 0;
	rd->count++;
	/* events come oldest first: past the cap the oldest kept one goes */
	switch (
	    receipt_keep_newest(rd->reads,
	                        json_pack("{s:O, s:O, s:O}", "time", json_object_get(ev, "time"),
	                                  "agent", json_object_get(ev, "actor"), "session",
	                                  sid ? json_object_get(ev, "session") : json_null()),
	                        RECEIPT_READS_MAX, "time")) {
	case 1:
		rd->truncated = 1;
		break;
	case -1:
		rd->failed = 1;
		break;
	}
	if (sid != NULL)
		json_object_set_new(rd->sessions, sid, json_true());
	return 0;
}

struct sess_walk {
	struct store_txn *t;
	int64_t now;
	struct reads *rd;
	json_t *arr;
	int truncated; /* sessions were left out */
	int failed;
};

/* May session s read credential cid at now? Pending (if approved) or
 * active, and not approved through another credential's receipt. */
static int may_read(const json_t *s, const char *cid, int64_t now)
{
	const char *state = session_state(s, now), *only = jx_str(s, "credential");

	return (strcmp(state, "active") == 0 || strcmp(state, "pending") == 0) &&
	       (only == NULL || streq(only, cid));
}

/* The ticket's sessions that read this credential, or may (pending,
 * active), with their states. */
static int sess_one(const void *b, size_t blen, void *arg)
{
	struct sess_walk *w = arg;
	char id[64];
	json_t *s;
	int rc;

	if (walk_id(b, blen, id) != 0)
		return 0;
	if ((rc = session_get(w->t, id, &s)) != STORE_OK)
		return rc == STORE_NOTFOUND ? 0 : rc;
	const char *state = session_state(s, w->now);
	if (may_read(s, w->rd->cid, w->now) || json_object_get(w->rd->sessions, id) != NULL) {
		/* the index is in id order, not time: past the cap the one
		 * requested first goes, so the newest RECEIPT_SESSIONS_MAX stay */
		switch (receipt_keep_newest(
		    w->arr,
		    json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "id", id, "agent",
		              jx_str(s, "agent") ? jx_str(s, "agent") : "", "state", state,
		              "requested_at",
		              jx_time(jx_int(s, "requested_at", jx_int(s, "opened_at", -1))),
		              "opened_at", jx_time(jx_int(s, "opened_at", -1)), "expires_at",
		              jx_time(jx_int(s, "expires_at", -1))),
		    RECEIPT_SESSIONS_MAX, "requested_at")) {
		case 1:
			w->truncated = 1;
			break;
		case -1:
			w->failed = 1;
			break;
		}
	}
	json_decref(s);
	return 0;
}

int api_receipt_view(struct req *r, struct store_txn *t)
{
	struct reads rd = {.cid = r->a_cred, .reads = json_array(), .sessions = json_object()};
	struct sess_walk w = {.t = t, .now = r->now, .rd = &rd, .arr = json_array()};
	json_t *view = NULL;
	int rc;

	if (rd.reads == NULL || rd.sessions == NULL || w.arr == NULL) {
		rc = STORE_ERROR;
		goto out;
	}
	rc = cred_view(t, r->a_ticket, r->a_cred, r->now, &view);
	if (rc == CRED_TAMPERED) {
		rc = req_fail(r, 500, "internal", "internal error");
		goto out;
	}
	if (rc != STORE_OK) /* the gauntlet found it alive in this transaction */
		goto out;
	if ((rc = audit_ticket_each(t, r->a_ticket, read_event, &rd)) != STORE_OK)
		goto out;
	rc = sessions_of_ticket_each(t, r->a_ticket, sess_one, &w);
	if (rc != STORE_OK)
		goto out;
	if (rd.failed || w.failed) {
		rc = STORE_ERROR;
		goto out;
	}
	json_object_set_new(view, "read_count", json_integer(rd.count));
	{
		int rot; /* the rotation prompt (SPEC 8.3, notify.c) */
		if ((rc = notify_cred_rotate(t, r->a_ticket, r->a_cred, &rot)) != STORE_OK)
			goto out;
		json_object_set_new(view, "rotate", json_boolean(rot));
	}
	rc = req_ok(
	    r, 200,
	    json_pack("{s:O, s:O, s:O}", "credential", view, "reads", rd.reads, "sessions", w.arr));
	if (r->resp == NULL)
		rc = STORE_ERROR;
	/* the ticket's id: the page's "I have changed it" (.../rotated) names it */
	else if (json_object_set_new(r->resp, "ticket", json_string(r->a_ticket)) != 0)
		rc = STORE_ERROR;
	/* SPEC 8.6, no list truncates silently (docs/decisions.md) */
	else if ((rd.truncated &&
	          json_object_set_new(r->resp, "reads_truncated", json_true()) != 0) ||
	         (w.truncated &&
	          json_object_set_new(r->resp, "sessions_truncated", json_true()) != 0))
		rc = STORE_ERROR;
out:
	json_decref(view);
	json_decref(rd.reads);
	json_decref(rd.sessions);
	json_decref(w.arr);
	return rc;
}

int api_receipt_destroy(struct req *r, struct store_txn *t)
{
	json_t *live;
	int rc, other;

	if ((rc = creds_destroy(t, r->a_ticket, r->a_cred)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_ERROR : rc; /* alive at the gauntlet */
	/* the sessions that may read it: the ticket's pending or active
	 * session ends now, unless another receipt approved it for its own
	 * credential only (it could never read this one) */
	if ((rc = session_active_on(t, r->a_ticket, r->now, &live)) != STORE_OK)
		return rc;
	other = live != NULL && jx_str(live, "credential") != NULL &&
	        !streq(jx_str(live, "credential"), r->a_cred);
	json_decref(live);
	if (!other && (rc = sessions_end_ticket(t, r->a_ticket, r->now, r,
	                                        END_CREDENTIAL_DESTROYED)) != STORE_OK)
		return rc;
	rc = store_del(t, DB_RECEIPTS, r->cap_id, strlen(r->cap_id));
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	return req_ok(r, 204, NULL);
}

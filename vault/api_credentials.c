/* api_credentials.c - upload, list, delete and release of credentials.
 * Plaintext exists only in request/response memory, which is wiped (the
 * JSON allocator wipes on free; buffers here are wiped on every path). */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "arena.h"
#include "page.h"
#include "apilimits.h"
#include "audit.h"
#include "authz.h"
#include "creds.h"
#include "crypto.h"
#include "license.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "records.h"
#include "route.h"
#include "tokens.h"
#include "util.h"
#include "validate.h"
#include "vault.h"
#include "wipe.h"

const char *const cred_kind_words[] = {API_CRED_KINDS, NULL};
#define kind_words cred_kind_words

#define BAD_RECORD CRED_TAMPERED
#define BAD_KEY CREDS_BAD_KEY

/* A stored record failed authentication (rc BAD_KEY or BAD_RECORD): log
 * which, never serve it. */
static int tampered(struct req *r, int rc)
{
	log_msg("request %s: %s of ticket %s failed authentication (corruption or tampering)",
	        r->request_id, rc == BAD_KEY ? "the wrapped key" : "a credential record",
	        r->a_ticket);
	return req_fail(r, 500, "internal", "internal error");
}

/* The body checks of an upload: v_* set a 400 on r and return it. */
struct upload {
	const char *label, *kind, *host, *user, *secret, *notes;
	int64_t ttl;
};

static int upload_check(struct req *r, struct upload *u)
{
	static const char *const fields[] = {"label",  "kind",  "host",  "username",
	                                     "secret", "notes", "ttl_s", NULL};
	int rc;

	if ((rc = v_only(r, fields)) ||
	    (rc = v_str(r, "label", 1, 1, API_LABEL_MAX, 4 * API_LABEL_MAX, 0, &u->label)) ||
	    (rc = v_enum(r, "kind", kind_words, &u->kind)) || (rc = v_host(r, "host", &u->host)) ||
	    (rc =
	         v_str(r, "username", 0, 1, API_USERNAME_MAX, 4 * API_USERNAME_MAX, 0, &u->user)) ||
	    (rc = v_str(r, "secret", 1, 1, API_SECRET_MAX, API_SECRET_MAX, 1, &u->secret)) ||
	    (rc = v_str(r, "notes", 0, 0, API_NOTES_MAX, 4 * API_NOTES_MAX, V_LINES, &u->notes)) ||
	    (rc = v_int(r, "ttl_s", 0, 1, API_CRED_TTL_MAX, API_CRED_TTL_DEFAULT, &u->ttl)))
		return rc;
	return 0;
}

/* Seal the upload u as credential cid of ticket tid with key: the
 * plaintext is the JSON of the fields (the flat object secret_answer_text
 * reads; written directly, the same bytes jansson wrote), in the request's
 * arena a, wiped after. */
static int upload_seal(struct arena *a, const unsigned char key[CRYPTO_TICKET_KEY_LEN],
                       const char *tid, const char *cid, int64_t created, int64_t expires,
                       const struct upload *u, unsigned char **rec, size_t *reclen)
{
	const char *const names[] = {"label", "kind", "host", "username", "secret", "notes"};
	const char *const vals[] = {u->label, u->kind, u->host, u->user, u->secret, u->notes};
	size_t cap = 2, o = 0;
	char *pt;
	int rc;

	for (size_t i = 0; i < 6; i++)
		cap += strlen(names[i]) + 4 + (vals[i] != NULL ? 6 * strlen(vals[i]) + 2 : 4);
	if (u->label == NULL || u->kind == NULL || u->secret == NULL ||
	    (pt = arena_alloc(a, cap)) == NULL)
		return -1;
	pt[o++] = '{';
	for (size_t i = 0; i < 6; i++) {
		if (i > 0)
			pt[o++] = ',';
		o += jx_quote(pt + o, names[i]);
		pt[o++] = ':';
		if (vals[i] != NULL) {
			o += jx_quote(pt + o, vals[i]);
		} else {
			memcpy(pt + o, "null", 4);
			o += 4;
		}
	}
	pt[o++] = '}';
	rc = crypto_record_seal(key, tid, cid, created, expires, (unsigned char *)pt, o, rec,
	                        reclen);
	arena_wipe(a, pt, cap);
	return rc;
}

static size_t put_lit(char *out, const char *s)
{
	size_t n = strlen(s);

	memcpy(out, s, n);
	return n;
}

static json_t *upload_view(const char *cid, const char *label, const char *kind, int64_t created,
                           int64_t expires)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", cid, "label", label, "kind", kind,
	                 "created_at", jx_time(created), "expires_at", jx_time(expires));
}

/* An upload prepared on the connection's thread before it was queued
 * (api_cred_prepare), kept in r->post_rec: either the body's 400, to be
 * answered once the gauntlet has passed (it decides first, as for any
 * request), or the record sealed with the ticket's key as it was then. */
#define PREP_MAGIC 0x55504c44u
#define PREP_STALE 1 /* the ticket's key changed since: do it all in the writer */

struct cred_prep {
	uint32_t magic;
	int status; /* 0, or the body's 400 */
	const char *code;
	char msg[200];
	char tid[REQ_PARAM_MAX];
	char cid[64];
	int64_t created, expires;
	unsigned char wrapped[CRYPTO_WRAPPED_LEN];
	size_t wrappedlen;
	size_t reclen;
	unsigned char rec[]; /* the sealed record (reclen bytes) */
};

static struct cred_prep *prep_of(struct req *r)
{
	struct cred_prep *p = (struct cred_prep *)(void *)r->post_rec;

	if (p == NULL || r->post_reclen < sizeof *p || p->magic != PREP_MAGIC ||
	    r->post_reclen != sizeof *p + p->reclen)
		return NULL;
	return p;
}

static void prep_attach(struct req *r, struct cred_prep *p)
{
	req_post_clear(r);
	r->post_rec = (unsigned char *)p;
	r->post_reclen = sizeof *p + p->reclen;
}

#ifdef RSVAULT_TESTING
/* Test builds: how many uploads were sealed before the writer, so a test
 * can show that a token that may not upload gets no work done for it. */
METRIC_COUNTER(m_prepared, "rsvault_test_uploads_prepared_total",
               "Uploads sealed on the connection's thread before the writer (test builds)")
#define PREPARED() metrics_add(&m_prepared, 1)
#else
#define PREPARED() ((void)0)
#endif

/* The wrapped key of tid, only for a request the gauntlet would most
 * likely let upload: a known token, not expired, of the ticket's owner,
 * who is not suspended and eligible, on an open ticket (the route table's
 * REL_OWNER, R_ELIGIBLE, R_OPEN). Anybody else gets no key unwrapped and
 * nothing sealed for them here; the writer decides as always. */
struct prep_read {
	const struct req *r;
	const char *tid;
	int64_t now;
	unsigned char wrapped[CRYPTO_WRAPPED_LEN];
	size_t wrappedlen;
};

/* Is the token's account the owner of the open ticket tid, not suspended
 * and eligible? 0 yes, STORE_NOTFOUND no, or a store_err. */
static int prep_may_upload(struct store_txn *t, const struct prep_read *pr,
                           const struct token_rec *tr)
{
	struct rec_view tk; /* of this read transaction's bytes */
	struct standing st;
	int rc;

	if (tokens_expired(tr, pr->now))
		return STORE_NOTFOUND;
	if ((rc = rec_view_get(t, DB_TICKETS, pr->tid, &tk)) != STORE_OK)
		return rc;
	rc = streq(rv_str(&tk, "owner"), tr->account) && streq(rv_str(&tk, "status"), "open")
	         ? STORE_OK
	         : STORE_NOTFOUND;
	rec_view_done(&tk);
	/* a missing or suspended account is not eligible */
	if (rc != STORE_OK || (rc = license_standing_of(t, tr->account, pr->now, &st)) != STORE_OK)
		return rc;
	rc = st.eligible ? STORE_OK : STORE_NOTFOUND;
	standing_free(&st);
	return rc;
}

static int prep_read_fn(struct store_txn *t, void *arg)
{
	struct prep_read *pr = arg;
	struct token_rec tr;
	const void *v;
	size_t vl;
	int rc;

	if ((rc = tokens_lookup_hash(t, pr->r->tok_hash, &tr)) != STORE_OK)
		return rc;
	rc = prep_may_upload(t, pr, &tr);
	sodium_memzero(&tr, sizeof tr);
	if (rc != STORE_OK)
		return rc;
	if ((rc = creds_ticket_key_wrapped(t, pr->tid, &v, &vl)) != STORE_OK)
		return rc;
	if (vl > sizeof pr->wrapped)
		return STORE_ERROR;
	memcpy(pr->wrapped, v, vl);
	pr->wrappedlen = vl;
	return STORE_OK;
}

void api_cred_prepare(struct req *r)
{
	struct prep_read pr = {.r = r};
	unsigned char key[CRYPTO_TICKET_KEY_LEN], *rec = NULL;
	struct cred_prep *p;
	struct upload u;
	size_t reclen = 0;
	int64_t now;
	char cid[64];
	int sealed;

	if (r->route->handler != api_cred_create || r->nparams < 1 || r->body_state != BODY_OK)
		return;
	memset(&u, 0, sizeof u);
	if (upload_check(r, &u) != 0) {
		/* keep the 400 for after the gauntlet; r as it was */
		if ((p = arena_calloc(r->arena, 1, sizeof *p)) != NULL) {
			p->magic = PREP_MAGIC;
			p->status = r->status;
			p->code = r->err_code;
			snprintf(p->msg, sizeof p->msg, "%s", r->err_msg);
			prep_attach(r, p);
		}
		req_ok(r, 0, NULL);
		return;
	}
	pr.tid = r->params[0];
	pr.now = util_now_ms();
	if (!r->tok_hashed || store_read_fresh(r->v->store, prep_read_fn, &pr) != STORE_OK)
		return; /* unknown token, no key yet, ...: the writer does it all */
	if (crypto_ticket_key_unwrap(pr.tid, pr.wrapped, pr.wrappedlen, key) != 0)
		return; /* the writer finds it and answers 500 */
	crypto_new_id(cid);
	now = util_now_ms();
	sealed =
	    upload_seal(r->arena, key, pr.tid, cid, now, now + u.ttl * 1000, &u, &rec, &reclen);
	if (sealed == 0 && (p = arena_calloc(r->arena, 1, sizeof *p + reclen)) != NULL) {
		p->magic = PREP_MAGIC;
		snprintf(p->tid, sizeof p->tid, "%s", pr.tid);
		memcpy(p->cid, cid, sizeof p->cid);
		p->created = now;
		p->expires = now + u.ttl * 1000;
		memcpy(p->wrapped, pr.wrapped, pr.wrappedlen);
		p->wrappedlen = pr.wrappedlen;
		p->reclen = reclen;
		memcpy(p->rec, rec, reclen);
		prep_attach(r, p);
		PREPARED();
	}
	sodium_memzero(key, sizeof key);
	free(rec);
}

/* After the commit: the answer, from the body's label and kind. */
static int cred_create_post(struct req *r)
{
	struct cred_prep *p = prep_of(r);
	const char *label = jx_str(r->body, "label"), *kind = jx_str(r->body, "kind");
	char created[UTIL_TIME_LEN], expires[UTIL_TIME_LEN], *text;
	size_t o = 0;

	if (p == NULL || label == NULL || kind == NULL ||
	    util_format_time(p->created, created) != 0 ||
	    util_format_time(p->expires, expires) != 0)
		return req_fail(r, 500, "internal", "internal error");
	/* upload_view's JSON, written as text (jx_quote escapes as jansson) */
	text = arena_alloc(r->arena, 6 * (strlen(p->cid) + strlen(label) + strlen(kind)) +
	                                 2 * UTIL_TIME_LEN + 96);
	if (text == NULL)
		return req_fail(r, 500, "internal", "internal error");
	o += put_lit(text + o, "{\"id\":");
	o += jx_quote(text + o, p->cid);
	o += put_lit(text + o, ",\"label\":");
	o += jx_quote(text + o, label);
	o += put_lit(text + o, ",\"kind\":");
	o += jx_quote(text + o, kind);
	o += put_lit(text + o, ",\"created_at\":");
	o += jx_quote(text + o, created);
	o += put_lit(text + o, ",\"expires_at\":");
	o += jx_quote(text + o, expires);
	memcpy(text + o, "}", 2);
	return req_ok_text(r, 201, text);
}

/* In the writer, for a prepared upload: the key it was sealed with must
 * still be the ticket's (byte for byte), then the record goes in. */
static int cred_create_prepared(struct req *r, struct store_txn *t, struct cred_prep *p)
{
	const void *v;
	size_t vl;
	int rc;

	if (p->status != 0)
		return req_fail(r, p->status, p->code, "%s", p->msg);
	if (strcmp(p->tid, r->a_ticket) != 0)
		return PREP_STALE;
	rc = creds_ticket_key_wrapped(t, r->a_ticket, &v, &vl);
	if (rc == STORE_NOTFOUND)
		return PREP_STALE;
	if (rc != STORE_OK)
		return rc;
	if (vl != p->wrappedlen || sodium_memcmp(v, p->wrapped, vl) != 0)
		return PREP_STALE;
	snprintf(r->a_cred, sizeof r->a_cred, "%s", p->cid);
	if ((rc = creds_put(t, r->a_ticket, p->cid, p->expires, p->rec, p->reclen)) != 0)
		return rc;
	r->post = cred_create_post;
	return req_ok(r, 201, NULL);
}

int api_cred_create(struct req *r, struct store_txn *t)
{
	unsigned char key[CRYPTO_TICKET_KEY_LEN], *rec = NULL;
	struct cred_prep *p = prep_of(r);
	struct upload u;
	char cid[64];
	size_t reclen;
	int64_t expires;
	int rc;

	if (p != NULL && (rc = cred_create_prepared(r, t, p)) != PREP_STALE)
		return rc;
	req_post_clear(r); /* not prepared, or for another key: all of it here */
	if ((rc = upload_check(r, &u)) != 0)
		return rc;
	crypto_new_id(cid);
	snprintf(r->a_cred, sizeof r->a_cred, "%s", cid);
	expires = r->now + u.ttl * 1000;
	if ((rc = creds_ticket_key(t, r->a_ticket, 1, key)) != 0) {
		rc = rc == BAD_KEY ? tampered(r, rc) : rc;
		goto out;
	}
	if (upload_seal(r->arena, key, r->a_ticket, cid, r->now, expires, &u, &rec, &reclen) != 0) {
		rc = STORE_ERROR;
		goto out;
	}
	if ((rc = creds_put(t, r->a_ticket, cid, expires, rec, reclen)) != 0)
		goto out;
	rc = req_ok(r, 201, upload_view(cid, u.label, u.kind, r->now, expires));
out:
	sodium_memzero(key, sizeof key);
	free(rec);
	return rc;
}

/* Open the record at (tid, cid) into *plain (parsed JSON). Returns 0,
 * STORE_NOTFOUND (absent or expired), BAD_RECORD, BAD_KEY (the wrapped
 * ticket key is missing or fails authentication) or a store_err. */
static int open_record(struct store_txn *t, const char *tid, const char *cid, int64_t now,
                       const unsigned char *rec, size_t reclen, json_t **plain, int64_t *created,
                       int64_t *expires)
{
	unsigned char key[CRYPTO_TICKET_KEY_LEN], *pt = NULL;
	size_t ptlen;
	int rc;

	*plain = NULL;
	if (crypto_record_times(rec, reclen, created, expires) != 0)
		return BAD_RECORD;
	if (now >= *expires)
		return STORE_NOTFOUND;
	if ((rc = creds_ticket_key(t, tid, 0, key)) != 0)
		return rc == STORE_NOTFOUND ? BAD_KEY : rc;
	if (crypto_record_open(key, tid, cid, rec, reclen, &pt, &ptlen) != 0) {
		rc = BAD_RECORD;
		goto out;
	}
	if ((*plain = json_loadb((char *)pt, ptlen, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		rc = BAD_RECORD;
out:
	sodium_memzero(key, sizeof key);
	if (pt != NULL) {
		wipe_release(pt, ptlen);
	}
	return rc;
}

static json_t *meta_view(const char *cid, const json_t *plain, int64_t created, int64_t expires)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", cid, "label", jx_str(plain, "label"),
	                 "kind", jx_str(plain, "kind"), "created_at", jx_time(created),
	                 "expires_at", jx_time(expires));
}

int cred_view(struct store_txn *t, const char *tid, const char *cid, int64_t now, json_t **view)
{
	int64_t created, expires;
	json_t *plain = NULL;
	const void *v;
	size_t vl;
	int rc;

	*view = NULL;
	rc = creds_get(t, tid, cid, &v, &vl);
	if (rc == STORE_OK)
		rc = open_record(t, tid, cid, now, v, vl, &plain, &created, &expires);
	if (rc == BAD_RECORD || rc == BAD_KEY) {
		log_msg("%s of ticket %s failed authentication (corruption or tampering)",
		        rc == BAD_KEY ? "the wrapped key" : "a credential record", tid);
		return CRED_TAMPERED;
	}
	if (rc != STORE_OK)
		return rc;
	*view = meta_view(cid, plain, created, expires);
	json_decref(plain);
	return *view != NULL ? STORE_OK : STORE_ERROR;
}

/* One credential for api_cred_list: 0 to go on, LIST_FULL to stop, or an
 * error (BAD_RECORD, BAD_KEY with r->a_cred set, or a store_err). */
#define LIST_FULL 1
struct list_walk {
	struct req *r;
	struct store_txn *t;
	json_t *arr;
	struct page pg;
};

static int list_one(const char *cid, const void *v, size_t vl, void *arg)
{
	struct list_walk *w = arg;
	json_t *plain;
	int64_t created, expires;
	int rc;

	if (page_skip(&w->pg, cid, strlen(cid)))
		return 0;
	rc = open_record(w->t, w->r->a_ticket, cid, w->r->now, v, vl, &plain, &created, &expires);
	if (rc == BAD_RECORD || rc == BAD_KEY) {
		snprintf(w->r->a_cred, sizeof w->r->a_cred, "%s", cid);
		return rc;
	}
	if (rc == STORE_OK) {
		if (page_full(&w->pg)) { /* one more exists: the page says "next" */
			json_decref(plain);
			return LIST_FULL;
		}
		json_t *mv = meta_view(cid, plain, created, expires);
		json_decref(plain);
		/* reads and the rotation mark (SPEC 8.3) */
		if (mv == NULL || (rc = notify_cred_fields(w->t, w->r->a_ticket, cid, mv)) != 0) {
			json_decref(mv);
			return rc != STORE_OK ? rc : STORE_ERROR;
		}
		json_array_append_new(w->arr, mv);
		page_add(&w->pg, cid, strlen(cid));
	} else if (rc != STORE_NOTFOUND) {
		return rc;
	}
	return 0;
}

/* The listing proper: in a read-only transaction begun after the commit
 * of the listing's allow event (cred_list_post). */
static int cred_list_build(struct store_txn *t, void *arg)
{
	struct req *r = arg;
	struct list_walk w = {r, t, NULL, {0}};
	json_t *body;
	int rc;

	/* a reassignment or suspension committed since the decision: the list
	 * never shows a state in which the caller would have been refused */
	if ((rc = authz_recheck(r, t, 1)) != 0)
		return rc;
	if ((rc = page_init(r, &w.pg)) != 0)
		return rc;
	if ((w.arr = json_array()) == NULL)
		return STORE_ERROR;
	rc = creds_each_after(t, r->a_ticket, w.pg.has_after ? w.pg.after : NULL, w.pg.afterlen,
	                      list_one, &w);
	if (rc == BAD_RECORD || rc == BAD_KEY) {
		json_decref(w.arr);
		return tampered(r, rc);
	}
	if (rc != STORE_OK && rc != LIST_FULL) {
		json_decref(w.arr);
		return rc;
	}
	if ((body = json_pack("{s:o}", "credentials", w.arr)) == NULL ||
	    page_finish(&w.pg, body) != 0) {
		json_decref(body);
		return STORE_ERROR;
	}
	return req_ok(r, 200, body);
}

/* After the commit, on the connection's thread: the credentials of a
 * state at or after the decision (like the ticket list), not built by the
 * writer. A record failing authentication is answered 500 as before, but
 * its allow event is already committed; the log names the request. */
static int cred_list_post(struct req *r)
{
	int rc;

	AUTHZ_LISTING_PAUSE();
	rc = store_read(r->v->store, cred_list_build, r);

	if (rc < 0) {
		log_msg("request %s: cannot read the credential list (%d)", r->request_id, rc);
		return req_fail(r, 503, "unavailable", "the vault cannot read right now");
	}
	return rc;
}

int api_cred_list(struct req *r, struct store_txn *t)
{
	struct page pg;
	int rc;

	(void)t;
	/* limit and after are checked here, so that a bad one is a denied event */
	if ((rc = page_init(r, &pg)) != 0)
		return rc;
	r->post = cred_list_post;
	return req_ok(r, 200, NULL);
}

int api_cred_delete(struct req *r, struct store_txn *t)
{
	int rc = creds_destroy(t, r->a_ticket, r->a_cred);

	if (rc == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no such credential");
	if (rc != STORE_OK)
		return rc;
	return req_ok(r, 204, NULL);
}

/* The answer to a secret read, as JSON text written directly from the
 * plaintext's tokens (no parse tree, no second serialization): the
 * plaintext is the flat object upload_seal wrote. NULL when it is not of
 * that plain form (then secret_answer_json parses it in full) or out of
 * memory (*oom set). */
static char *secret_answer_text(const struct req *r, const char *pt, size_t ptlen, int *oom)
{
	static const char *const names[] = {"label", "kind", "host", "username", "secret", "notes"};
	static const char *const keys[] = {",\"label\":",    ",\"kind\":",   ",\"host\":",
	                                   ",\"username\":", ",\"secret\":", ",\"notes\":"};
	struct jx_tok v[6];
	const char *sid = r->a_session; /* check_session */
	char ts[UTIL_TIME_LEN], *out;
	int64_t exp = r->sess_expires_at;
	size_t cap, o = 0;
	int have_ts;

	*oom = 0;
	if (jx_flat_members(pt, ptlen, names, 6, v) != 0 || sid[0] == '\0')
		return NULL;
	/* label, kind and secret are strings; the others a string or null */
	for (size_t i = 0; i < 6; i++)
		if ((v[i].p == NULL || v[i].p[0] != '"') && (i == 0 || i == 1 || i == 4))
			return NULL;
	have_ts = exp >= 0 && util_format_time(exp, ts) == 0;
	cap = 6 * strlen(r->a_cred) + 6 * strlen(sid) + 160;
	for (size_t i = 0; i < 6; i++)
		cap += v[i].n;
	if ((out = arena_alloc(r->arena, cap)) == NULL) {
		*oom = 1;
		return NULL;
	}
	o += put_lit(out + o, "{\"id\":");
	o += jx_quote(out + o, r->a_cred);
	for (size_t i = 0; i < 6; i++) {
		size_t kl = strlen(keys[i]);
		memcpy(out + o, keys[i], kl);
		o += kl;
		if (v[i].p == NULL) {
			memcpy(out + o, "null", 4);
			o += 4;
		} else {
			memcpy(out + o, v[i].p, v[i].n);
			o += v[i].n;
		}
	}
	o += put_lit(out + o, ",\"session\":{\"id\":");
	o += jx_quote(out + o, sid);
	o += put_lit(out + o, ",\"expires_at\":");
	if (!have_ts) {
		memcpy(out + o, "null", 4);
		o += 4;
	} else {
		out[o++] = '"';
		memcpy(out + o, ts, UTIL_TIME_LEN - 1);
		o += UTIL_TIME_LEN - 1;
		out[o++] = '"';
	}
	memcpy(out + o, "}}", 3);
	return out;
}

/* The same answer through a full parse, for a plaintext of another form
 * (older records may differ). NULL if it does not parse. */
static json_t *secret_answer_json(const struct req *r, const unsigned char *pt, size_t ptlen)
{
	json_t *plain = json_loadb((const char *)pt, ptlen, JSON_REJECT_DUPLICATES, NULL), *out;

	if (plain == NULL)
		return NULL;
	out = json_pack(
	    "{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:{s:s, s:o}}", "id", r->a_cred, "label",
	    json_object_get(plain, "label"), "kind", json_object_get(plain, "kind"), "host",
	    json_object_get(plain, "host") ? json_object_get(plain, "host") : json_null(),
	    "username",
	    json_object_get(plain, "username") ? json_object_get(plain, "username") : json_null(),
	    "secret", json_object_get(plain, "secret"), "notes",
	    json_object_get(plain, "notes") ? json_object_get(plain, "notes") : json_null(),
	    "session", "id", r->a_session, "expires_at", jx_time(r->sess_expires_at));
	json_decref(plain);
	if (out == NULL) /* (a record without label, kind or secret) */
		out = json_null();
	return out;
}

/* The release of a secret after its commit (dispatch_finish, on the
 * connection's thread): unwrap the ticket key and open the record that the
 * writer copied out when it decided, build the answer. Nothing is read
 * from the store here: what the decision saw is what is released. */
static int cred_secret_post(struct req *r)
{
	unsigned char key[CRYPTO_TICKET_KEY_LEN], *pt = NULL;
	size_t ptlen = 0, cap = 0;
	json_t *out = NULL;
	char *text = NULL;
	int rc = 0, oom = 0;

	if (crypto_ticket_key_unwrap(r->a_ticket, r->post_key, r->post_keylen, key) != 0)
		return tampered(r, BAD_KEY);
	/* the plaintext in the request's arena (wiped here and again with it) */
	if (r->post_reclen >= CRYPTO_RECORD_OVERHEAD)
		cap = r->post_reclen - CRYPTO_RECORD_OVERHEAD + 1;
	if (cap == 0)
		rc = BAD_RECORD;
	else if ((pt = arena_alloc(r->arena, cap)) == NULL)
		oom = 1;
	else if (crypto_record_open_to(key, r->a_ticket, r->a_cred, r->post_rec, r->post_reclen, pt,
	                               cap, &ptlen) != 0)
		rc = BAD_RECORD;
	sodium_memzero(key, sizeof key);
	if (oom)
		return req_fail(r, 500, "internal", "internal error");
	if (rc == 0 && (text = secret_answer_text(r, (const char *)pt, ptlen, &oom)) == NULL &&
	    !oom && (out = secret_answer_json(r, pt, ptlen)) == NULL)
		rc = BAD_RECORD;
	arena_wipe(r->arena, pt, cap);
	if (rc != 0)
		return tampered(r, rc);
	if (oom || (out != NULL && json_is_null(out))) {
		json_decref(out);
		return req_fail(r, 500, "internal", "internal error");
	}
	r->secret = 1;
	if (text != NULL)
		return req_ok_text(r, 200, text);
	return req_ok(r, 200, out);
}

/* In the writer: the decision only. The gauntlet has checked the session,
 * the relation, the license and the ticket against the state this
 * operation commits with; here the record must exist and be unexpired in
 * that same state. Its sealed bytes and the wrapped ticket key are copied
 * out for cred_secret_post, which decrypts after the commit. */
int api_cred_secret(struct req *r, struct store_txn *t)
{
	int64_t created, expires;
	const void *v;
	size_t vl;
	int rc;

	rc = creds_get(t, r->a_ticket, r->a_cred, &v, &vl);
	if (rc == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no such credential");
	if (rc != STORE_OK)
		return rc;
	if (crypto_record_times(v, vl, &created, &expires) != 0)
		return tampered(r, BAD_RECORD);
	if (r->now >= expires)
		return req_fail(r, 404, "not_found", "no such credential");
	if ((r->post_rec = arena_alloc(r->arena, vl)) == NULL)
		return STORE_ERROR;
	memcpy(r->post_rec, v, vl);
	r->post_reclen = vl;
	rc = creds_ticket_key_wrapped(t, r->a_ticket, &v, &vl);
	if (rc == STORE_NOTFOUND || (rc == STORE_OK && vl > sizeof r->post_key)) {
		req_post_clear(r);
		return tampered(r, BAD_KEY);
	}
	if (rc != STORE_OK) {
		req_post_clear(r);
		return rc;
	}
	memcpy(r->post_key, v, vl);
	r->post_keylen = vl;
	r->post = cred_secret_post;
	return req_ok(r, 200, NULL);
}

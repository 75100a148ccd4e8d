/* api_credentials.c - upload, list, delete and release of credentials.
 * Plaintext exists only in request/response memory, which is wiped (the
 * JSON allocator wipes on free; buffers here are wiped on every path). */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "audit.h"
#include "crypto.h"
#include "log.h"
#include "notify.h"
#include "records.h"
#include "util.h"
#include "validate.h"

#define CRED_LIST_MAX 1000
#define KEY_MAX 200

const char *const cred_kind_words[] = {
    "remote-utilities", "rdp", "ssh", "vnc", "web", "other", NULL};
#define kind_words cred_kind_words

/* "tid\0cid" into k; returns its length. */
static size_t cred_key(unsigned char k[KEY_MAX], const char *tid, const char *cid)
{
	size_t tl = strlen(tid), cl = strlen(cid);

	memcpy(k, tid, tl + 1);
	memcpy(k + tl + 1, cid, cl);
	return tl + 1 + cl;
}

/* The ticket's key: unwrap it, or (create) make and store a new one.
 * Returns 0, STORE_NOTFOUND (none and !create), -1000 for a wrapped key
 * that fails authentication, or a store_err. */
#define BAD_RECORD CRED_TAMPERED
#define BAD_KEY (-1001)
static int ticket_key(struct store_txn *t, const char *tid, int create,
                      unsigned char key[CRYPTO_TICKET_KEY_LEN])
{
	unsigned char wrapped[CRYPTO_WRAPPED_LEN];
	const void *v;
	size_t vl;
	int rc = store_get(t, DB_TICKET_KEYS, tid, strlen(tid), &v, &vl);

	if (rc == STORE_OK)
		return crypto_ticket_key_unwrap(tid, v, vl, key) == 0 ? 0 : BAD_KEY;
	if (rc != STORE_NOTFOUND || !create)
		return rc;
	if (crypto_ticket_key_new(tid, key, wrapped) != 0)
		return STORE_ERROR;
	return store_put(t, DB_TICKET_KEYS, tid, strlen(tid), wrapped, sizeof wrapped,
	                 STORE_NOOVERWRITE);
}

/* A stored record failed authentication (rc BAD_KEY or BAD_RECORD): log
 * which, never serve it. */
static int tampered(struct req *r, int rc)
{
	log_msg("request %s: %s of ticket %s failed authentication (corruption or tampering)",
	        r->request_id, rc == BAD_KEY ? "the wrapped key" : "a credential record",
	        r->a_ticket);
	return req_fail(r, 500, "internal", "internal error");
}

int api_cred_create(struct req *r, struct store_txn *t)
{
	static const char *const fields[] = {"label",  "kind",  "host",  "username",
	                                     "secret", "notes", "ttl_s", NULL};
	const char *label, *kind, *host, *user, *secret, *notes;
	unsigned char key[CRYPTO_TICKET_KEY_LEN], ck[KEY_MAX + 8], *rec = NULL;
	char cid[64], *pt = NULL;
	size_t reclen, kl;
	int64_t ttl, expires;
	json_t *obj = NULL;
	int rc;

	if ((rc = v_only(r, fields)) ||
	    (rc = v_str(r, "label", 1, 1, V_LABEL_MAX, 4 * V_LABEL_MAX, 0, &label)) ||
	    (rc = v_enum(r, "kind", kind_words, &kind)) || (rc = v_host(r, "host", &host)) ||
	    (rc = v_str(r, "username", 0, 1, V_USERNAME_MAX, 4 * V_USERNAME_MAX, 0, &user)) ||
	    (rc = v_str(r, "secret", 1, 1, V_SECRET_MAX, V_SECRET_MAX, 1, &secret)) ||
	    (rc = v_str(r, "notes", 0, 0, V_NOTES_MAX, 4 * V_NOTES_MAX, V_LINES, &notes)) ||
	    (rc = v_int(r, "ttl_s", 0, 1, V_CRED_TTL_MAX, V_CRED_TTL_DEFAULT, &ttl)))
		return rc;
	crypto_new_id(cid);
	snprintf(r->a_cred, sizeof r->a_cred, "%s", cid);
	expires = r->now + ttl * 1000;
	if ((rc = ticket_key(t, r->a_ticket, 1, key)) != 0) {
		rc = rc == BAD_KEY ? tampered(r, rc) : rc;
		goto out;
	}
	obj = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s?}", "label", label, "kind", kind, "host",
	                host, "username", user, "secret", secret, "notes", notes);
	if (obj == NULL || (pt = json_text(obj)) == NULL ||
	    crypto_record_seal(key, r->a_ticket, cid, r->now, expires, (unsigned char *)pt,
	                       strlen(pt), &rec, &reclen) != 0) {
		rc = STORE_ERROR;
		goto out;
	}
	kl = cred_key(ck + 8, r->a_ticket, cid);
	util_be64_put(ck, (uint64_t)expires);
	if ((rc = store_put(t, DB_CREDS, ck + 8, kl, rec, reclen, STORE_NOOVERWRITE)) != 0 ||
	    (rc = store_put(t, DB_CRED_EXPIRY, ck, kl + 8, "", 0, 0)) != 0)
		goto out;
	rc = req_ok(r, 201,
	            json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", cid, "label", label, "kind", kind,
	                      "created_at", jtime(r->now), "expires_at", jtime(expires)));
out:
	sodium_memzero(key, sizeof key);
	if (pt != NULL) {
		sodium_memzero(pt, strlen(pt));
		free(pt);
	}
	free(rec);
	json_decref(obj);
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
	if ((rc = ticket_key(t, tid, 0, key)) != 0)
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
		sodium_memzero(pt, ptlen);
		free(pt);
	}
	return rc;
}

static json_t *meta_view(const char *cid, const json_t *plain, int64_t created, int64_t expires)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", cid, "label", js(plain, "label"),
	                 "kind", js(plain, "kind"), "created_at", jtime(created), "expires_at",
	                 jtime(expires));
}

int cred_view(struct store_txn *t, const char *tid, const char *cid, int64_t now, json_t **view)
{
	unsigned char ck[KEY_MAX];
	int64_t created, expires;
	json_t *plain = NULL;
	const void *v;
	size_t vl;
	int rc;

	*view = NULL;
	if (strlen(tid) + strlen(cid) + 1 > KEY_MAX)
		return STORE_NOTFOUND;
	rc = store_get(t, DB_CREDS, ck, cred_key(ck, tid, cid), &v, &vl);
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

int api_cred_list(struct req *r, struct store_txn *t)
{
	const char *tid = r->a_ticket;
	unsigned char pre[80];
	size_t pl = strlen(tid) + 1;
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	json_t *arr = json_array();
	int rc;

	if (arr == NULL)
		return STORE_ERROR;
	memcpy(pre, tid, pl);
	if ((rc = store_cursor_open(t, DB_CREDS, &c)) != STORE_OK) {
		json_decref(arr);
		return rc;
	}
	rc = store_cursor_seek(c, pre, pl, &k, &kl, &v, &vl);
	while (rc == STORE_OK && kl > pl && memcmp(k, pre, pl) == 0 &&
	       json_array_size(arr) < CRED_LIST_MAX) {
		char cid[64];
		json_t *plain;
		int64_t created, expires;
		if (kl - pl < sizeof cid) {
			memcpy(cid, (const char *)k + pl, kl - pl);
			cid[kl - pl] = '\0';
			rc = open_record(t, tid, cid, r->now, v, vl, &plain, &created, &expires);
			if (rc == BAD_RECORD || rc == BAD_KEY) {
				snprintf(r->a_cred, sizeof r->a_cred, "%s", cid);
				store_cursor_close(c);
				json_decref(arr);
				return tampered(r, rc);
			}
			if (rc == STORE_OK) {
				json_t *mv = meta_view(cid, plain, created, expires);
				json_decref(plain);
				/* reads and the rotation mark (SPEC 8.3) */
				if (mv == NULL ||
				    (rc = notify_cred_fields(t, tid, cid, mv)) != STORE_OK) {
					json_decref(mv);
					rc = rc == STORE_OK ? STORE_ERROR : rc;
					break;
				}
				json_array_append_new(arr, mv);
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
	return req_ok(r, 200, json_pack("{s:o}", "credentials", arr));
}

int cred_destroy(struct store_txn *t, const char *tid, const char *cid)
{
	unsigned char ck[KEY_MAX + 8];
	size_t kl;
	int64_t created, expires;
	const void *v;
	size_t vl;
	int rc;

	if (strlen(tid) + strlen(cid) + 1 > KEY_MAX)
		return STORE_NOTFOUND;
	kl = cred_key(ck + 8, tid, cid);
	if ((rc = store_get(t, DB_CREDS, ck + 8, kl, &v, &vl)) != STORE_OK)
		return rc;
	if (crypto_record_times(v, vl, &created, &expires) == 0) {
		util_be64_put(ck, (uint64_t)expires);
		rc = store_del(t, DB_CRED_EXPIRY, ck, kl + 8);
		if (rc != STORE_OK && rc != STORE_NOTFOUND)
			return rc;
	}
	return store_del(t, DB_CREDS, ck + 8, kl);
}

int cred_alive(struct store_txn *t, const char *tid, const char *cid, int64_t now)
{
	unsigned char ck[KEY_MAX];
	int64_t created, expires;
	const void *v;
	size_t vl;
	int rc;

	if (strlen(tid) + strlen(cid) + 1 > KEY_MAX)
		return STORE_NOTFOUND;
	rc = store_get(t, DB_CREDS, ck, cred_key(ck, tid, cid), &v, &vl);
	if (rc != STORE_OK)
		return rc;
	if (crypto_record_times(v, vl, &created, &expires) != 0 || now >= expires)
		return STORE_NOTFOUND;
	return STORE_OK;
}

int api_cred_delete(struct req *r, struct store_txn *t)
{
	int rc = cred_destroy(t, r->a_ticket, r->a_cred);

	if (rc == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no such credential");
	if (rc != STORE_OK)
		return rc;
	return req_ok(r, 204, NULL);
}

/* The release of a secret after its commit (dispatch_finish, on the
 * connection's thread): unwrap the ticket key and open the record that the
 * writer copied out when it decided, build the answer. Nothing is read
 * from the store here: what the decision saw is what is released. */
static int cred_secret_post(struct req *r)
{
	unsigned char key[CRYPTO_TICKET_KEY_LEN], *pt = NULL;
	size_t ptlen = 0;
	json_t *plain = NULL, *out;
	int rc = 0;

	if (crypto_ticket_key_unwrap(r->a_ticket, r->post_key, r->post_keylen, key) != 0)
		return tampered(r, BAD_KEY);
	if (crypto_record_open(key, r->a_ticket, r->a_cred, r->post_rec, r->post_reclen, &pt,
	                       &ptlen) != 0 ||
	    (plain = json_loadb((char *)pt, ptlen, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		rc = BAD_RECORD;
	sodium_memzero(key, sizeof key);
	if (pt != NULL) {
		sodium_memzero(pt, ptlen);
		free(pt);
	}
	if (rc != 0)
		return tampered(r, rc);
	out = json_pack(
	    "{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:{s:s, s:o}}", "id", r->a_cred, "label",
	    json_object_get(plain, "label"), "kind", json_object_get(plain, "kind"), "host",
	    json_object_get(plain, "host") ? json_object_get(plain, "host") : json_null(),
	    "username",
	    json_object_get(plain, "username") ? json_object_get(plain, "username") : json_null(),
	    "secret", json_object_get(plain, "secret"), "notes",
	    json_object_get(plain, "notes") ? json_object_get(plain, "notes") : json_null(),
	    "session", "id", js(r->session, "id"), "expires_at",
	    jtime(ji(r->session, "expires_at", -1)));
	json_decref(plain);
	if (out == NULL)
		return req_fail(r, 500, "internal", "internal error");
	r->secret = 1;
	return req_ok(r, 200, out);
}

/* In the writer: the decision only. The gauntlet has checked the session,
 * the relation, the license and the ticket against the state this
 * operation commits with; here the record must exist and be unexpired in
 * that same state. Its sealed bytes and the wrapped ticket key are copied
 * out for cred_secret_post, which decrypts after the commit. */
int api_cred_secret(struct req *r, struct store_txn *t)
{
	unsigned char ck[KEY_MAX];
	size_t kl = cred_key(ck, r->a_ticket, r->a_cred);
	int64_t created, expires;
	const void *v;
	size_t vl;
	int rc;

	rc = store_get(t, DB_CREDS, ck, kl, &v, &vl);
	if (rc == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no such credential");
	if (rc != STORE_OK)
		return rc;
	if (crypto_record_times(v, vl, &created, &expires) != 0)
		return tampered(r, BAD_RECORD);
	if (r->now >= expires)
		return req_fail(r, 404, "not_found", "no such credential");
	if ((r->post_rec = malloc(vl)) == NULL)
		return STORE_ERROR;
	memcpy(r->post_rec, v, vl);
	r->post_reclen = vl;
	rc = store_get(t, DB_TICKET_KEYS, r->a_ticket, strlen(r->a_ticket), &v, &vl);
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

/* Destroy credentials whose time ran out (at most 256 per call). */
int creds_sweep(struct store_txn *t, int64_t now)
{
	unsigned char keys[256][KEY_MAX + 8];
	size_t lens[256], n = 0;
	struct store_cursor *c;
	const void *k;
	size_t kl;
	int rc;

	if ((rc = store_cursor_open(t, DB_CRED_EXPIRY, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, NULL, 0, &k, &kl, NULL, NULL);
	while (rc == STORE_OK && n < 256 && kl > 8 && kl <= KEY_MAX + 8 &&
	       (int64_t)util_be64_get(k) <= now) {
		memcpy(keys[n], k, kl);
		lens[n++] = kl;
		rc = store_cursor_next(c, &k, &kl, NULL, NULL);
	}
	store_cursor_close(c);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const char *tid = (const char *)keys[i] + 8;
		size_t tl = strnlen(tid, lens[i] - 8);
		char cid[64];
		if (tl + 1 >= lens[i] - 8 || lens[i] - 8 - tl - 1 >= sizeof cid)
			continue;
		memcpy(cid, tid + tl + 1, lens[i] - 8 - tl - 1);
		cid[lens[i] - 8 - tl - 1] = '\0';
		rc = store_del(t, DB_CREDS, keys[i] + 8, lens[i] - 8);
		if (rc != STORE_OK && rc != STORE_NOTFOUND)
			return rc;
		if ((rc = store_del(t, DB_CRED_EXPIRY, keys[i], lens[i])) != STORE_OK)
			return rc;
		if ((rc = audit_system(t, "credential.expire", tid, cid, NULL, NULL)) != STORE_OK)
			return rc;
	}
	return STORE_OK;
}

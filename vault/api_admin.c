/* api_admin.c - the admin's lists and license changes (SPEC 8.6):
 * GET /v1/accounts, GET /v1/accounts/{id}, GET /v1/licenses,
 * PATCH /v1/licenses/{key}, POST /v1/licenses/{key}/revoke.
 *
 * A license change takes effect at once (SPEC 1): in the same transaction
 * every account whose standing rests on that license and that is no
 * longer eligible has its sessions ended (session.end, reason
 * license_required); reads and uploads check eligibility on every request
 * anyway, so they fail with license_required from the commit on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_admin.h"
#include "license.h"
#include "page.h"
#include "records.h"
#include "sessions.h"
#include "tokens.h"
#include "util.h"
#include "validate.h"

static const char *const type_words[] = {"site", "pro", "plus", "starter", "free", "trial", NULL};

static json_t *account_view(const json_t *a)
{
	return json_pack("{s:s, s:s, s:s, s:b, s:o}", "id", jx_str(a, "id"), "role",
	                 jx_str(a, "role"), "email", jx_str(a, "email"), "suspended",
	                 json_is_true(json_object_get(a, "suspended")), "created_at",
	                 jx_time(jx_int(a, "created_at", -1)));
}

/* Walk table db in key order, paged: fn makes the view of one record (or
 * NULL to leave it out). */
typedef json_t *(*view_fn)(struct req *r, struct store_txn *t, const char *key, const json_t *rec);

static int list_table(struct req *r, struct store_txn *t, enum store_db db, const char *name,
                      view_fn fn)
{
	struct store_cursor *c;
	struct page pg;
	const void *k, *v;
	size_t kl, vl;
	json_t *arr, *body;
	int rc;

	if ((rc = page_init(r, &pg)) != 0)
		return rc;
	if ((arr = json_array()) == NULL)
		return STORE_ERROR;
	if ((rc = store_cursor_open(t, db, &c)) != STORE_OK) {
		json_decref(arr);
		return rc;
	}
	rc = store_cursor_seek(c, pg.has_after ? pg.after : NULL, pg.has_after ? pg.afterlen : 0,
	                       &k, &kl, &v, &vl);
	while (rc == STORE_OK) {
		char key[PAGE_KEY_MAX];
		json_t *rec, *view;
		if (kl == 0 || kl >= sizeof key || page_skip(&pg, k, kl)) {
			rc = store_cursor_next(c, &k, &kl, &v, &vl);
			continue;
		}
		memcpy(key, k, kl);
		key[kl] = '\0';
		if ((rec = rec_decode(v, vl)) == NULL) {
			rc = STORE_ERROR;
			break;
		}
		view = fn(r, t, key, rec);
		json_decref(rec);
		if (view != NULL) {
			if (page_full(&pg)) {
				json_decref(view);
				break;
			}
			json_array_append_new(arr, view);
			page_add(&pg, key, kl);
		}
		rc = store_cursor_next(c, &k, &kl, &v, &vl);
	}
	store_cursor_close(c);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		json_decref(arr);
		return rc;
	}
	if ((body = json_pack("{s:o}", name, arr)) == NULL || page_finish(&pg, body) != 0) {
		json_decref(body);
		return STORE_ERROR;
	}
	return req_ok(r, 200, body);
}

static json_t *account_item(struct req *r, struct store_txn *t, const char *key, const json_t *a)
{
	(void)r;
	(void)t;
	(void)key;
	return account_view(a);
}

int api_account_list(struct req *r, struct store_txn *t)
{
	return list_table(r, t, DB_ACCOUNTS, "accounts", account_item);
}

/* The account's tokens: id, created_at, expires_at (never the hash). */
struct tok_walk {
	struct store_txn *t;
	json_t *arr;
};

static int add_token(const void *b, size_t blen, void *arg)
{
	struct tok_walk *w = arg;
	struct token_rec rec;
	int rc;

	/* every live token: the list is not cut (SPEC 8.6) */
	if (blen != CRYPTO_TOKEN_HASH_LEN)
		return 0;
	if ((rc = tokens_lookup_hash(w->t, b, &rec)) != STORE_OK)
		return rc == STORE_NOTFOUND ? 0 : rc;
	return json_array_append_new(w->arr, json_pack("{s:s, s:o, s:o}", "id", rec.id,
	                                               "created_at", jx_time(rec.created_ms),
	                                               "expires_at", jx_time(rec.expires_ms))) == 0
	           ? 0
	           : STORE_ERROR;
}

int api_account_show(struct req *r, struct store_txn *t)
{
	struct tok_walk w = {.t = t};
	struct standing st;
	json_t *a, *view;
	int rc;

	snprintf(r->a_target, sizeof r->a_target, "%s", r->params[0]);
	if ((rc = rec_get(t, DB_ACCOUNTS, r->params[0], &a)) == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no such account");
	if (rc != STORE_OK)
		return rc;
	if ((rc = license_standing(t, a, r->now, &st)) != STORE_OK) {
		json_decref(a);
		return rc;
	}
	view = account_view(a);
	w.arr = json_array();
	if (view == NULL || w.arr == NULL ||
	    (rc = idx_each(t, DB_ACCOUNT_TOKENS, r->params[0], add_token, &w)) != STORE_OK) {
		json_decref(view);
		json_decref(w.arr);
		standing_free(&st);
		json_decref(a);
		return rc != STORE_OK ? rc : STORE_ERROR;
	}
	json_object_set_new(view, "license", st.license ? license_view(st.license) : json_null());
	json_object_set_new(view, "eligible", json_boolean(st.eligible));
	json_object_set_new(view, "priority", json_integer(st.priority));
	json_object_set_new(view, "tokens", w.arr);
	standing_free(&st);
	json_decref(a);
	return req_ok(r, 200, view);
}

static json_t *license_item(struct req *r, struct store_txn *t, const char *key, const json_t *l)
{
	(void)r;
	(void)t;
	(void)key;
	return license_view(l);
}

int api_license_list(struct req *r, struct store_txn *t)
{
	return list_table(r, t, DB_LICENSES, "licenses", license_item);
}

/* Every account whose standing may rest on license lic (its key applied,
 * or no key applied and the license's e-mail), and that is not eligible
 * now: end its sessions. */
static int enforce(struct req *r, struct store_txn *t, const json_t *lic)
{
	char folded[LICENSE_KEY_MAX + 1], bound[LICENSE_KEY_MAX + 1];
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl, n = 0, cap = 0;
	char **ids = NULL;
	int rc;

	license_fold(jx_str(lic, "key"), folded);
	if ((rc = store_cursor_open(t, DB_ACCOUNTS, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, NULL, 0, &k, &kl, &v, &vl);
	while (rc == STORE_OK) {
		struct rec_view a;
		const char *key, *id;
		int hit;
		if (rec_view_of(v, vl, &a) != 0) {
			rc = STORE_ERROR;
			break;
		}
		key = rv_str(&a, "license_key");
		if (key != NULL) {
			license_fold(key, bound);
			hit = strcmp(bound, folded) == 0;
		} else {
			hit = streq(rv_str(&a, "email"), jx_str(lic, "email"));
		}
		if (hit && (id = rv_str(&a, "id")) != NULL) {
			if (n == cap) {
				char **ni = realloc(ids, (cap = cap ? cap * 2 : 16) * sizeof *ni);
				if (ni == NULL) {
					rec_view_done(&a);
					rc = STORE_ERROR;
					break;
				}
				ids = ni;
			}
			if ((ids[n] = strdup(id)) == NULL) {
				rec_view_done(&a);
				rc = STORE_ERROR;
				break;
			}
			n++;
		}
		rec_view_done(&a);
		rc = store_cursor_next(c, &k, &kl, &v, &vl);
	}
	store_cursor_close(c);
	if (rc == STORE_NOTFOUND)
		rc = STORE_OK;
	for (size_t i = 0; i < n && rc == STORE_OK; i++) {
		struct standing st;
		if ((rc = license_standing_of(t, ids[i], r->now, &st)) != STORE_OK)
			break;
		if (!st.eligible)
			rc = sessions_end_owner(t, ids[i], r->now, r, END_LICENSE_REQUIRED);
		standing_free(&st);
	}
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return rc;
}

/* Load the license named in the path (any case), or 404. */
static int load_license(struct req *r, struct store_txn *t, json_t **lic)
{
	int rc = license_get(t, r->params[0], lic);

	if (rc == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no such license");
	if (rc != STORE_OK)
		return rc;
	license_target(r, *lic);
	return 0;
}

static int save_and_enforce(struct req *r, struct store_txn *t, json_t *lic)
{
	int rc;

	if ((rc = license_put(t, jx_str(lic, "key"), lic, 0)) == STORE_OK &&
	    (rc = enforce(r, t, lic)) == STORE_OK)
		rc = req_ok(r, 200, license_view(lic));
	return rc;
}

int api_license_update(struct req *r, struct store_txn *t)
{
	static const char *const fields[] = {"type", "valid_until", NULL};
	const char *type = NULL, *until_s = NULL;
	json_t *lic, *until_v;
	int64_t until = -1;
	int rc;

	if ((rc = v_only(r, fields)))
		return rc;
	if (json_object_get(r->body, "type") != NULL && (rc = v_enum(r, "type", type_words, &type)))
		return rc;
	until_v = json_object_get(r->body, "valid_until");
	if (until_v != NULL && !json_is_null(until_v)) {
		if ((rc = v_str(r, "valid_until", 1, 1, 40, 40, 0, &until_s)))
			return rc;
		if (util_parse_time(until_s, &until) != 0)
			return req_fail(r, 400, "invalid_field",
			                "field \"valid_until\" must be an RFC 3339 time or null");
	}
	if ((rc = load_license(r, t, &lic)) != 0)
		return rc;
	if (license_revoked(lic)) {
		json_decref(lic);
		return req_fail(r, 409, "conflict", "the license is revoked; revocation is final");
	}
	if (type != NULL)
		json_object_set_new(lic, "type", json_string(type));
	if (until_v != NULL) {
		if (until < 0)
			json_object_del(lic, "valid_until"); /* null: no expiry */
		else
			json_object_set_new(lic, "valid_until", json_integer(until));
	}
	json_object_set_new(lic, "updated_at", json_integer(r->now));
	rc = save_and_enforce(r, t, lic);
	json_decref(lic);
	return rc;
}

int api_license_revoke(struct req *r, struct store_txn *t)
{
	json_t *lic;
	int rc;

	if ((rc = load_license(r, t, &lic)) != 0)
		return rc;
	if (license_revoked(lic)) {
		json_decref(lic);
		return req_fail(r, 409, "conflict", "the license is revoked already");
	}
	json_object_set_new(lic, "revoked_at", json_integer(r->now));
	rc = save_and_enforce(r, t, lic);
	json_decref(lic);
	return rc;
}

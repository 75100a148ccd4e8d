/* api_accounts.c - health, accounts, tokens, licenses, /v1/me. */
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "apilimits.h"
#include "crypto.h"
#include "license.h"
#include "records.h"
#include "sessions.h"
#include "tokens.h"
#include "util.h"
#include "validate.h"
#include "vault.h"

static const char *const role_words[] = {"customer", "reseller", "agent", "auditor", "admin", NULL};
static const char *const type_words[] = {"site", "pro", "plus", "starter", "free", "trial", NULL};

int api_health(struct req *r, struct store_txn *t)
{
	enum store_health h = store_health(r->v->store);

	(void)t;
	if (r->query != NULL && r->query[0] != '\0') /* SPEC 8.6: none on any /v1 route */
		return req_fail(r, 400, "invalid_field", "unknown query parameter");
	if (h == STORE_HEALTH_FAILED)
		return req_fail(r, 503, "unavailable",
		                "storage failed; writes are refused until the server is restarted");
	return req_ok(r, 200,
	              json_pack("{s:s, s:s, s:s}", "status", "ok", "version", VAULT_VERSION,
	                        "storage", h == STORE_HEALTH_LOW ? "low" : "ok"));
}

static json_t *account_view(const json_t *a)
{
	return json_pack("{s:s, s:s, s:s, s:b}", "id", jx_str(a, "id"), "role", jx_str(a, "role"),
	                 "email", jx_str(a, "email"), "suspended",
	                 json_is_true(json_object_get(a, "suspended")));
}

/* Make a token for account id with an optional ttl_s (-1: none) and put
 * "token", "token_id" and "expires_at" into the answer obj; the event's
 * target becomes "id#token id". The token string is wiped here; the
 * answer carries it (r->secret makes the HTTP layer wipe the body). */
static int issue_into(struct req *r, struct store_txn *t, const char *id, int64_t ttl_s,
                      json_t *obj)
{
	char tok[CRYPTO_TOKEN_STR_MAX], tid[CRYPTO_TOKEN_ID_LEN];
	int64_t expires = ttl_s < 0 ? -1 : r->now + tokens_ttl_ms(ttl_s);
	int rc;

	if ((rc = tokens_issue(t, id, r->now, expires, tok, tid)) != STORE_OK)
		return rc;
	snprintf(r->a_target, sizeof r->a_target, "%s#%s", id, tid);
	r->secret = 1;
	if (json_object_set_new(obj, "token", json_string(tok)) != 0 ||
	    json_object_set_new(obj, "token_id", json_string(tid)) != 0 ||
	    json_object_set_new(obj, "expires_at", jx_time(expires)) != 0)
		rc = STORE_ERROR;
	sodium_memzero(tok, sizeof tok);
	return rc;
}

static int put_account(struct store_txn *t, const char *id, const char *role, const char *email,
                       int64_t now)
{
	json_t *a = json_pack("{s:s, s:s, s:s, s:b, s:I}", "id", id, "role", role, "email", email,
	                      "suspended", 0, "created_at", (json_int_t)now);
	int rc;

	if (a == NULL)
		return STORE_ERROR;
	rc = rec_put(t, DB_ACCOUNTS, id, a, STORE_NOOVERWRITE);
	json_decref(a);
	return rc;
}

int api_bootstrap_admin(struct store_txn *t, int64_t now, char *token_out, size_t len,
                        char id_out[CRYPTO_TOKEN_ID_LEN])
{
	char tok[CRYPTO_TOKEN_STR_MAX];
	int rc;

	if (len < sizeof tok)
		return STORE_ERROR;
	if ((rc = put_account(t, "admin", "admin", "admin@localhost", now)) != STORE_OK)
		return rc;
	rc = tokens_issue(t, "admin", now, now + tokens_admin_ttl_ms(), tok, id_out);
	if (rc == STORE_OK)
		memcpy(token_out, tok, sizeof tok);
	sodium_memzero(tok, sizeof tok);
	return rc;
}

/* The optional "ttl_s" of a token: -1 when absent. */
static int token_ttl(struct req *r, int64_t *ttl_s)
{
	return v_int(r, "ttl_s", 0, API_TOKEN_TTL_MIN_S, API_TOKEN_TTL_MAX_S, -1, ttl_s);
}

int api_account_create(struct req *r, struct store_txn *t)
{
	static const char *const fields[] = {"id", "role", "email", "ttl_s", "token", NULL};
	char email[255];
	const char *id, *role;
	int64_t ttl_s;
	json_t *body, *tokf;
	int st, want_token = 1;

	if ((st = v_only(r, fields)) || (st = v_str(r, "id", 1, 1, 64, 64, 0, &id)) ||
	    (st = v_enum(r, "role", role_words, &role)) || (st = v_email(r, "email", email)) ||
	    (st = token_ttl(r, &ttl_s)))
		return st;
	/* "token": false makes no token: a customer who hands over credentials
	 * only through links (SPEC 8.2) */
	if ((tokf = json_object_get(r->body, "token")) != NULL) {
		if (!json_is_boolean(tokf))
			return req_fail(r, 400, "invalid_field",
			                "field \"token\" must be a boolean");
		want_token = json_is_true(tokf);
		if (!want_token && strcmp(role, "customer") != 0 && strcmp(role, "reseller") != 0)
			return req_fail(r, 400, "invalid_field",
			                "only a customer or reseller account may be made without a "
			                "token");
		if (!want_token && json_object_get(r->body, "ttl_s") != NULL)
			return req_fail(r, 400, "invalid_field",
			                "field \"ttl_s\" is for a token, and none is made");
	}
	if (!util_valid_account_id(id))
		return req_fail(r, 400, "invalid_field",
		                "field \"id\" must match [a-z0-9][a-z0-9._-]{0,63}");
	snprintf(r->a_target, sizeof r->a_target, "%s", id);
	st = put_account(t, id, role, email, r->now);
	if (st == STORE_EXISTS)
		return req_fail(r, 409, "conflict", "account %s exists already", id);
	if (st != STORE_OK)
		return st;
	if ((body = json_pack("{s:s, s:s, s:s}", "id", id, "role", role, "email", email)) == NULL)
		return STORE_ERROR;
	if (!want_token)
		return req_ok(r, 201, body);
	if ((st = issue_into(r, t, id, ttl_s, body)) != STORE_OK) {
		json_decref(body);
		return st;
	}
	return req_ok(r, 201, body);
}

/* Load the account named in the path, or 404. */
static int load_account(struct req *r, struct store_txn *t, json_t **a)
{
	int rc = rec_get(t, DB_ACCOUNTS, r->params[0], a);

	if (rc == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no such account");
	return rc;
}

int api_account_token(struct req *r, struct store_txn *t)
{
	static const char *const fields[] = {"ttl_s", NULL};
	int64_t ttl_s;
	json_t *a, *body;
	int st;

	if ((st = v_only(r, fields)) || (st = token_ttl(r, &ttl_s)))
		return st;
	if ((st = load_account(r, t, &a)) != 0)
		return st;
	json_decref(a);
	if ((body = json_object()) == NULL)
		return STORE_ERROR;
	if ((st = issue_into(r, t, r->params[0], ttl_s, body)) != STORE_OK) {
		json_decref(body);
		return st;
	}
	return req_ok(r, 201, body);
}

int api_account_revoke(struct req *r, struct store_txn *t)
{
	json_t *a;
	int st;

	if ((st = load_account(r, t, &a)) != 0)
		return st;
	json_decref(a);
	if (strcmp(r->params[0], r->who.id) == 0)
		return req_fail(r, 409, "conflict", "an admin cannot revoke their own tokens");
	if ((st = tokens_revoke_all(t, r->params[0])) != STORE_OK)
		return st;
	return req_ok(r, 204, NULL);
}

int api_account_revoke_token(struct req *r, struct store_txn *t)
{
	json_t *a;
	int st;

	if ((st = load_account(r, t, &a)) != 0)
		return st;
	json_decref(a);
	st = tokens_revoke_id(t, r->params[0], r->params[1]);
	if (st == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "account %s has no token %s", r->params[0],
		                r->params[1]);
	if (st != STORE_OK)
		return st;
	return req_ok(r, 204, NULL);
}

static int set_suspended(struct req *r, struct store_txn *t, int suspended)
{
	json_t *a;
	int st;

	if ((st = load_account(r, t, &a)) != 0)
		return st;
	if (suspended && strcmp(r->params[0], r->who.id) == 0) {
		json_decref(a);
		return req_fail(r, 409, "conflict", "an admin cannot suspend their own account");
	}
	json_object_set_new(a, "suspended", json_boolean(suspended));
	if ((st = rec_put(t, DB_ACCOUNTS, r->params[0], a, 0)) == STORE_OK && suspended) {
		/* a suspended agent or owner ends every session at once */
		if ((st = sessions_end_agent(t, r->params[0], r->now, r, END_ACCOUNT_SUSPENDED)) ==
		    STORE_OK)
			st = sessions_end_owner(t, r->params[0], r->now, r, END_ACCOUNT_SUSPENDED);
		/* and the links it made stop working (SPEC 8.2) */
		if (st == STORE_OK)
			st = links_revoke_creator(t, r->params[0], r, END_ACCOUNT_SUSPENDED);
	}
	if (st == STORE_OK)
		st = req_ok(r, 200, account_view(a));
	json_decref(a);
	return st;
}

int api_account_suspend(struct req *r, struct store_txn *t)
{
	return set_suspended(r, t, 1);
}

int api_account_reactivate(struct req *r, struct store_txn *t)
{
	return set_suspended(r, t, 0);
}

static int me_view(struct req *r, struct store_txn *t, json_t **out)
{
	struct standing st;
	json_t *a;
	int rc;

	if ((rc = rec_get(t, DB_ACCOUNTS, r->who.id, &a)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_ERROR : rc;
	if ((rc = license_standing(t, a, r->now, &st)) == STORE_OK) {
		*out = json_pack("{s:s, s:s, s:s, s:o, s:b, s:i}", "id", jx_str(a, "id"), "role",
		                 jx_str(a, "role"), "email", jx_str(a, "email"), "license",
		                 st.license ? license_view_for(st.license, jx_str(a, "email"))
		                            : json_null(),
		                 "eligible", st.eligible, "priority", st.priority);
		standing_free(&st);
	}
	json_decref(a);
	return rc;
}

int api_me(struct req *r, struct store_txn *t)
{
	json_t *me = NULL;
	int rc;

	snprintf(r->a_target, sizeof r->a_target, "%s", r->who.id);

	if ((rc = me_view(r, t, &me)) != STORE_OK)
		return rc;
	return req_ok(r, 200, me);
}

int api_me_license(struct req *r, struct store_txn *t)
{
	static const char *const fields[] = {"key", NULL};
	const char *key;
	json_t *lic, *a, *me = NULL;
	struct standing st;
	int64_t wait;
	int rc;

	if ((rc = v_only(r, fields)) || (rc = v_str(r, "key", 1, 1, 128, 128, 0, &key)))
		return rc;
	/* throttled before the key is looked at, so a good key gets the same 429 */
	if ((wait = license_bind_wait_ms(r->who.id, r->now)) > 0) {
		r->retry_after_s = (wait + 999) / 1000;
		return req_fail(r, 429, "rate_limited",
		                "too many unknown license keys from this account; retry later");
	}
	if ((rc = license_get(t, key, &lic)) == STORE_NOTFOUND) {
		license_bind_failed(r->who.id, r->now);
		return req_fail(r, 404, "not_found", "no such license key");
	}
	if (rc != STORE_OK)
		return rc;
	license_target(r, lic);
	json_decref(lic);
	if ((rc = rec_get(t, DB_ACCOUNTS, r->who.id, &a)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_ERROR : rc;
	json_object_set_new(a, "license_key", json_string(key));
	rc = rec_put(t, DB_ACCOUNTS, r->who.id, a, 0);
	if (rc == STORE_OK && (rc = license_standing(t, a, r->now, &st)) == STORE_OK) {
		/* a downgrade stops remote support at once */
		if (!st.eligible)
			rc = sessions_end_owner(t, r->who.id, r->now, r, END_LICENSE_REQUIRED);
		standing_free(&st);
	}
	json_decref(a);
	if (rc == STORE_OK && (rc = me_view(r, t, &me)) == STORE_OK)
		return req_ok(r, 200, me);
	return rc;
}

int api_license_create(struct req *r, struct store_txn *t)
{
	static const char *const fields[] = {"key", "type", "email", "valid_until", NULL};
	const char *key, *type, *until_s;
	char email[255], lid[LICENSE_ID_LEN];
	int64_t until = -1;
	json_t *lic;
	int rc;

	if ((rc = v_only(r, fields)) || (rc = v_str(r, "key", 1, 1, 128, 128, 0, &key)) ||
	    (rc = v_enum(r, "type", type_words, &type)) || (rc = v_email(r, "email", email)) ||
	    (rc = v_str(r, "valid_until", 0, 1, 40, 40, 0, &until_s)))
		return rc;
	for (const char *p = key; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return req_fail(r, 400, "invalid_field",
			                "field \"key\" must match [A-Za-z0-9._-]{1,128}");
	if (until_s != NULL && util_parse_time(until_s, &until) != 0)
		return req_fail(r, 400, "invalid_field",
		                "field \"valid_until\" must be an RFC 3339 time");
	license_new_id(lid);
	lic = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "id", lid, "key", key, "type", type,
	                "email", email, "created_at", (json_int_t)r->now, "valid_until",
	                (json_int_t)until);
	if (lic == NULL)
		return STORE_ERROR;
	if (until < 0)
		json_object_del(lic, "valid_until");
	/* stored under the key folded to lower case: a key that differs from
	 * an existing one only in case is the same key (SPEC 8.6) */
	rc = license_put(t, key, lic, STORE_NOOVERWRITE);
	json_decref(lic);
	if (rc == STORE_EXISTS) {
		/* name the license that exists (by its id, never the key) */
		if ((rc = license_get(t, key, &lic)) != STORE_OK)
			return rc;
		license_target(r, lic);
		json_decref(lic);
		return req_fail(r, 409, "conflict", "license %s exists already", key);
	}
	if (rc == STORE_OK) {
		char folded[LICENSE_KEY_MAX + 1];
		license_fold(key, folded);
		rc = idx_put(t, DB_LICENSE_EMAIL, email, folded, strlen(folded));
	}
	if (rc != STORE_OK)
		return rc;
	if ((rc = license_get(t, key, &lic)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_ERROR : rc;
	license_target(r, lic);
	rc = req_ok(r, 201, license_view(lic));
	json_decref(lic);
	return rc;
}

int api_license_show(struct req *r, struct store_txn *t)
{
	json_t *lic;
	int rc = license_get(t, r->params[0], &lic);

	if (rc == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no such license");
	if (rc != STORE_OK)
		return rc;
	license_target(r, lic);
	rc = req_ok(r, 200, license_view(lic));
	json_decref(lic);
	return rc;
}

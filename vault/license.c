/* license.c - license types, validity, eligibility and priority. */
#include "license.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "records.h"
#include "req.h"
#include "util.h"

static const struct {
	const char *type;
	int commercial;
	int priority;
} types[] = {
    {"site", 1, 1},    {"pro", 1, 2},  {"plus", 1, 3},
    {"starter", 1, 4}, {"free", 0, 5}, {"trial", 0, 5},
};

#define NOT_ELIGIBLE_PRIORITY 5
#define RESELLER_PRIORITY 4

int license_type(const char *type, int *commercial, int *priority)
{
	for (size_t i = 0; type && i < sizeof types / sizeof types[0]; i++) {
		if (strcmp(type, types[i].type) == 0) {
			*commercial = types[i].commercial;
			*priority = types[i].priority;
			return 0;
		}
	}
	return -1;
}

int license_revoked(const json_t *lic)
{
	return json_object_get(lic, "revoked_at") != NULL;
}

int license_valid(const json_t *lic, int64_t now)
{
	json_int_t until = jx_int(lic, "valid_until", -1);

	return !license_revoked(lic) && (until < 0 || now < until);
}

void license_fold(const char *key, char out[LICENSE_KEY_MAX + 1])
{
	size_t i;

	for (i = 0; key[i] != '\0' && i < LICENSE_KEY_MAX; i++)
		out[i] = (key[i] >= 'A' && key[i] <= 'Z') ? (char)(key[i] - 'A' + 'a') : key[i];
	out[i] = '\0';
}

int license_get(struct store_txn *t, const char *key, json_t **out)
{
	char k[LICENSE_KEY_MAX + 1];

	if (strlen(key) > LICENSE_KEY_MAX)
		return STORE_NOTFOUND;
	license_fold(key, k);
	return rec_get(t, DB_LICENSES, k, out);
}

/* As license_get, but the record may be shared (rec_get_shared): read
 * only, for the gauntlet's standing checks. */
static int license_get_shared(struct store_txn *t, const char *key, const json_t **out)
{
	char k[LICENSE_KEY_MAX + 1];

	if (strlen(key) > LICENSE_KEY_MAX)
		return STORE_NOTFOUND;
	license_fold(key, k);
	return rec_get_shared(t, DB_LICENSES, k, out);
}

int license_put(struct store_txn *t, const char *key, const json_t *lic, unsigned flags)
{
	char k[LICENSE_KEY_MAX + 1];

	if (strlen(key) > LICENSE_KEY_MAX)
		return STORE_ERROR;
	license_fold(key, k);
	return rec_put(t, DB_LICENSES, k, lic, flags);
}

json_t *license_view(const json_t *lic)
{
	int commercial = 0, priority = NOT_ELIGIBLE_PRIORITY;

	json_t *v;

	license_type(jx_str(lic, "type"), &commercial, &priority);
	v = json_pack("{s:s?, s:s, s:s, s:s, s:o, s:b, s:i}", "id", jx_str(lic, "id"), "key",
	              jx_str(lic, "key"), "type", jx_str(lic, "type"), "email",
	              jx_str(lic, "email"), "valid_until", jx_time(jx_int(lic, "valid_until", -1)),
	              "commercial", commercial, "priority", priority);
	/* a revoked license says so (SPEC 8.6); others keep the view of SPEC 6 */
	if (v != NULL && license_revoked(lic))
		json_object_set_new(v, "revoked", json_true());
	return v;
}

void license_new_id(char out[LICENSE_ID_LEN])
{
	unsigned char b[8];

	randombytes_buf(b, sizeof b);
	sodium_bin2hex(out, LICENSE_ID_LEN, b, sizeof b);
}

void license_target(struct req *r, const json_t *lic)
{
	const char *id = jx_str(lic, "id");

	if (id != NULL)
		snprintf(r->a_target, sizeof r->a_target, "%s", id);
}

#define MIGRATE_BATCH 256
#define KEY_MAX 160

/* Up to MIGRATE_BATCH license keys after `after` ("" for the first). */
static int key_batch(struct store_txn *t, const char *after, char (*keys)[KEY_MAX], size_t *nk)
{
	struct store_cursor *c;
	const void *k;
	size_t kl, al = strlen(after);
	int rc;

	*nk = 0;
	if ((rc = store_cursor_open(t, DB_LICENSES, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, after, al, &k, &kl, NULL, NULL);
	while (rc == STORE_OK && *nk < MIGRATE_BATCH) {
		if (kl >= KEY_MAX) {
			rc = STORE_ERROR;
			break;
		}
		if (!(kl == al && memcmp(k, after, al) == 0)) {
			memcpy(keys[*nk], k, kl);
			keys[(*nk)++][kl] = '\0';
		}
		rc = store_cursor_next(c, &k, &kl, NULL, NULL);
	}
	store_cursor_close(c);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int license_migrate_ids(struct store_txn *t, int *n)
{
	char(*keys)[KEY_MAX], after[KEY_MAX] = "";
	size_t nk;
	int rc;

	*n = 0;
	if ((keys = malloc(MIGRATE_BATCH * sizeof *keys)) == NULL)
		return STORE_ERROR;
	do {
		if ((rc = key_batch(t, after, keys, &nk)) != STORE_OK)
			break;
		for (size_t i = 0; i < nk && rc == STORE_OK; i++) {
			char lid[LICENSE_ID_LEN];
			json_t *lic;
			if ((rc = rec_get(t, DB_LICENSES, keys[i], &lic)) != STORE_OK)
				break;
			if (jx_str(lic, "id") == NULL) {
				license_new_id(lid);
				if (json_object_set_new(lic, "id", json_string(lid)) != 0)
					rc = STORE_ERROR;
				else if ((rc = rec_put(t, DB_LICENSES, keys[i], lic, 0)) ==
				         STORE_OK)
					(*n)++;
			}
			json_decref(lic);
		}
		if (nk > 0)
			memcpy(after, keys[nk - 1], KEY_MAX);
	} while (rc == STORE_OK && nk == MIGRATE_BATCH);
	free(keys);
	return rc;
}

struct fold_ent {
	char key[KEY_MAX];
	char folded[LICENSE_KEY_MAX + 1];
};

static int fold_cmp(const void *a, const void *b)
{
	const struct fold_ent *x = a, *y = b;
	int c = strcmp(x->folded, y->folded);

	return c != 0 ? c : strcmp(x->key, y->key);
}

/* Every license key of the store, with its folded form. */
static int all_license_keys(struct store_txn *t, struct fold_ent **out, size_t *n)
{
	char(*keys)[KEY_MAX], after[KEY_MAX] = "";
	struct fold_ent *ents = NULL, *ne;
	size_t nk, cap = 0;
	int rc;

	*n = 0;
	if ((keys = malloc(MIGRATE_BATCH * sizeof *keys)) == NULL)
		return STORE_ERROR;
	do {
		if ((rc = key_batch(t, after, keys, &nk)) != STORE_OK)
			break;
		if (*n + nk > cap) {
			cap = (*n + nk) * 2;
			if ((ne = realloc(ents, cap * sizeof *ents)) == NULL) {
				rc = STORE_ERROR;
				break;
			}
			ents = ne;
		}
		for (size_t i = 0; i < nk; i++) {
			memcpy(ents[*n].key, keys[i], KEY_MAX);
			license_fold(keys[i], ents[*n].folded);
			(*n)++;
		}
		if (nk > 0)
			memcpy(after, keys[nk - 1], KEY_MAX);
	} while (nk == MIGRATE_BATCH);
	free(keys);
	*out = ents;
	return rc;
}

/* Move the license at key to its folded key, with its e-mail index. */
static int fold_one(struct store_txn *t, const char *key)
{
	char k[LICENSE_KEY_MAX + 1];
	json_t *lic;
	int rc;

	license_fold(key, k);
	if ((rc = rec_get(t, DB_LICENSES, key, &lic)) != STORE_OK)
		return rc;
	if ((rc = rec_put(t, DB_LICENSES, k, lic, STORE_NOOVERWRITE)) == STORE_OK &&
	    (rc = store_del(t, DB_LICENSES, key, strlen(key))) == STORE_OK &&
	    jx_str(lic, "email")) {
		rc = idx_del(t, DB_LICENSE_EMAIL, jx_str(lic, "email"), key, strlen(key));
		if (rc == STORE_OK || rc == STORE_NOTFOUND)
			rc = idx_put(t, DB_LICENSE_EMAIL, jx_str(lic, "email"), k, strlen(k));
	}
	json_decref(lic);
	return rc;
}

int license_fold_keys(struct store_txn *t, int *moved, char *dups, size_t duplen)
{
	struct fold_ent *ents = NULL;
	size_t n = 0, used = 0;
	int rc, ndup = 0;

	*moved = 0;
	if (duplen > 0)
		dups[0] = '\0';
	if ((rc = all_license_keys(t, &ents, &n)) != STORE_OK) {
		free(ents);
		return rc;
	}
	if (n > 1)
		qsort(ents, n, sizeof *ents, fold_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(ents[i - 1].folded, ents[i].folded) != 0)
			continue;
		ndup++;
		if (used < duplen) {
			int w = snprintf(dups + used, duplen - used, "%s%s = %s", used ? ", " : "",
			                 ents[i - 1].key, ents[i].key);
			used = w < 0 ? duplen : used + (size_t)w;
		}
	}
	for (size_t i = 0; i < n && ndup == 0 && rc == STORE_OK; i++)
		if (strcmp(ents[i].key, ents[i].folded) != 0) {
			if ((rc = fold_one(t, ents[i].key)) == STORE_OK)
				(*moved)++;
		}
	free(ents);
	if (rc != STORE_OK)
		return rc;
	return ndup > 0 ? LICENSE_DUPLICATES : STORE_OK;
}

json_t *license_view_for(const json_t *lic, const char *account_email)
{
	json_t *v = license_view(lic);

	if (v != NULL && !streq(jx_str(lic, "email"), account_email))
		json_object_set_new(v, "email", json_null());
	return v;
}

/* Unknown keys per account: the times of the last LICENSE_BIND_FAIL_LIMIT,
 * in a ring (a sliding window, as authz.c does per address). A slot whose
 * newest failure left the window is free; when none is, the stalest is
 * reused, which can only shorten the wait of the account that had it. */
#define BIND_SLOTS 1024

struct bind_slot {
	char account[72];
	int64_t at[LICENSE_BIND_FAIL_LIMIT]; /* 0: unused */
	int next;                            /* index of the oldest entry */
};

static struct bind_slot bind_rl[BIND_SLOTS];

static int64_t bind_window_ms(void)
{
#ifdef RSVAULT_TESTING
	/* test builds: RSVAULT_TEST_BIND_WINDOW_MS shortens the window */
	static int64_t w = -1;
	const char *s;
	int64_t n;

	if (w < 0) {
		w = LICENSE_BIND_WINDOW_MS;
		if ((s = getenv("RSVAULT_TEST_BIND_WINDOW_MS")) != NULL &&
		    util_parse_i64(s, 1, LICENSE_BIND_WINDOW_MS, &n) == 0)
			w = n;
	}
	return w;
#else
	return LICENSE_BIND_WINDOW_MS;
#endif
}

static int64_t bind_newest(const struct bind_slot *s)
{
	return s->at[(s->next + LICENSE_BIND_FAIL_LIMIT - 1) % LICENSE_BIND_FAIL_LIMIT];
}

static struct bind_slot *bind_find(const char *account, int64_t now, int create)
{
	struct bind_slot *free_slot = NULL, *stalest = &bind_rl[0];
	int64_t win = bind_window_ms();

	for (int i = 0; i < BIND_SLOTS; i++) {
		struct bind_slot *s = &bind_rl[i];
		if (s->account[0] != '\0' && strcmp(s->account, account) == 0)
			return s;
		if (s->account[0] == '\0' || now - bind_newest(s) >= win) {
			if (free_slot == NULL)
				free_slot = s;
		} else if (bind_newest(s) < bind_newest(stalest)) {
			stalest = s;
		}
	}
	if (!create)
		return NULL;
	if (free_slot == NULL)
		free_slot = stalest;
	memset(free_slot, 0, sizeof *free_slot);
	snprintf(free_slot->account, sizeof free_slot->account, "%s", account);
	return free_slot;
}

int64_t license_bind_wait_ms(const char *account, int64_t now)
{
	struct bind_slot *s = bind_find(account, now, 0);
	int64_t win = bind_window_ms();

	if (s == NULL || s->at[s->next] == 0 || now - s->at[s->next] >= win)
		return 0;
	return s->at[s->next] + win - now;
}

void license_bind_failed(const char *account, int64_t now)
{
	struct bind_slot *s = bind_find(account, now, 1);

	s->at[s->next] = now;
	s->next = (s->next + 1) % LICENSE_BIND_FAIL_LIMIT;
}

/* ---- a customer's standing: one set of rules, read through views -------- */

/* Does the license lic count at now (valid, of a known type)? Then its
 * commerciality and priority. As license_valid and license_type. */
static int view_counts(const struct rec_view *lic, int64_t now, int *commercial, int *prio)
{
	int64_t until = rv_int(lic, "valid_until", -1);

	if (rv_has(lic, "revoked_at") || (until >= 0 && now >= until))
		return 0;
	return license_type(rv_str(lic, "type"), commercial, prio) == 0;
}

static int license_view_get(struct store_txn *t, const char *key, struct rec_view *vw)
{
	char k[LICENSE_KEY_MAX + 1];

	memset(vw, 0, sizeof *vw);
	if (strlen(key) > LICENSE_KEY_MAX)
		return STORE_NOTFOUND;
	license_fold(key, k);
	return rec_view_get(t, DB_LICENSES, k, vw);
}

#define CHOSEN_MAX 160 /* a license key as the e-mail index holds it, and its NUL */

struct best_view {
	struct store_txn *t;
	int64_t now;
	int found, commercial, prio;
	char key[CHOSEN_MAX]; /* of the best so far */
	int rc;
};

static int best_view_by_email(const void *b, size_t blen, void *arg)
{
	struct best_view *bs = arg;
	struct rec_view lic;
	char key[CHOSEN_MAX];
	int commercial, prio;

	if (blen == 0 || blen >= sizeof key)
		return 0;
	memcpy(key, b, blen);
	key[blen] = '\0';
	if ((bs->rc = license_view_get(bs->t, key, &lic)) != STORE_OK)
		return bs->rc == STORE_NOTFOUND ? (bs->rc = 0) : bs->rc;
	if (view_counts(&lic, bs->now, &commercial, &prio) && (!bs->found || prio < bs->prio)) {
		bs->found = 1;
		bs->commercial = commercial;
		bs->prio = prio;
		memcpy(bs->key, key, blen + 1);
	}
	rec_view_done(&lic);
	return 0;
}

/* The standing of an account with these fields at now into *st (eligible
 * and priority; st->license untouched) and the key of the license that
 * counts for it into chosen ("" for none): an applied key (whether it
 * counts or not: it wins over any email match), else the valid e-mail
 * match of the best priority. The licenses are read as views of this
 * transaction's bytes and released before it returns. */
static int standing_core(struct store_txn *t, const char *bound, const char *email,
                         const char *role, int suspended, int64_t now, struct standing *st,
                         char chosen[CHOSEN_MAX])
{
	int commercial = 0, prio = NOT_ELIGIBLE_PRIORITY, rc;

	chosen[0] = '\0';
	if (bound != NULL) {
		struct rec_view lic;
		rc = license_view_get(t, bound, &lic);
		if (rc != STORE_OK && rc != STORE_NOTFOUND)
			return rc;
		if (rc == STORE_OK) {
			snprintf(chosen, CHOSEN_MAX, "%s", bound);
			if (view_counts(&lic, now, &commercial, &prio)) {
				st->priority = prio;
				st->eligible = commercial;
			}
		}
		rec_view_done(&lic);
	} else if (email != NULL) {
		struct best_view bs = {.t = t, .now = now};
		if ((rc = idx_each(t, DB_LICENSE_EMAIL, email, best_view_by_email, &bs)) != 0)
			return rc;
		if (bs.found) {
			st->priority = bs.prio;
			st->eligible = bs.commercial;
			memcpy(chosen, bs.key, CHOSEN_MAX);
		}
	}
	if (role != NULL && strcmp(role, "reseller") == 0) {
		st->eligible = 1;
		if (st->priority > RESELLER_PRIORITY)
			st->priority = RESELLER_PRIORITY;
	}
	if (suspended)
		st->eligible = 0;
	return STORE_OK;
}

int license_standing(struct store_txn *t, const json_t *account, int64_t now, struct standing *st)
{
	char chosen[CHOSEN_MAX];
	int rc;

	memset(st, 0, sizeof *st);
	st->priority = NOT_ELIGIBLE_PRIORITY;
	rc = standing_core(t, jx_str(account, "license_key"), jx_str(account, "email"),
	                   jx_str(account, "role"),
	                   json_is_true(json_object_get(account, "suspended")), now, st, chosen);
	/* the license that counts, as an object for the views that show it
	 * (read in the same transaction, with nothing written in between) */
	if (rc == STORE_OK && chosen[0] != '\0') {
		rc = license_get_shared(t, chosen, &st->license); /* read only */
		if (rc == STORE_NOTFOUND)
			rc = STORE_OK;
	}
	return rc;
}

void standing_free(struct standing *st)
{
	jx_release(st->license);
	st->license = NULL;
}

int license_standing_of(struct store_txn *t, const char *account_id, int64_t now,
                        struct standing *st)
{
	struct rec_view acct;
	char chosen[CHOSEN_MAX];
	int rc;

	memset(st, 0, sizeof *st);
	st->priority = NOT_ELIGIBLE_PRIORITY;
	if (account_id == NULL)
		return STORE_OK;
	if ((rc = rec_view_get(t, DB_ACCOUNTS, account_id, &acct)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	rc = standing_core(t, rv_str(&acct, "license_key"), rv_str(&acct, "email"),
	                   rv_str(&acct, "role"), rv_true(&acct, "suspended"), now, st, chosen);
	rec_view_done(&acct);
	return rc;
}

/* records.c - JSON records and index keys. */
#include "records.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define IDX_KEY_MAX 511

int rec_get(struct store_txn *t, enum store_db db, const char *key, json_t **out)
{
	const void *v;
	size_t vl;
	json_error_t e;
	int rc;

	*out = NULL;
	if ((rc = store_get(t, db, key, strlen(key), &v, &vl)) != STORE_OK)
		return rc;
	if ((*out = json_loadb(v, vl, JSON_REJECT_DUPLICATES, &e)) == NULL ||
	    !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		log_msg("store: record in table %d does not parse", (int)db);
		return STORE_ERROR;
	}
	return STORE_OK;
}

int rec_put(struct store_txn *t, enum store_db db, const char *key, const json_t *obj,
            unsigned flags)
{
	char *s = jx_text(obj);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	rc = store_put(t, db, key, strlen(key), s, strlen(s), flags);
	free(s);
	return rc;
}

static size_t idx_key(unsigned char *k, const char *a, const void *b, size_t blen)
{
	size_t al = strlen(a);

	if (al + 1 + blen > IDX_KEY_MAX)
		return 0;
	memcpy(k, a, al);
	k[al] = '\0';
	if (blen)
		memcpy(k + al + 1, b, blen);
	return al + 1 + blen;
}

int idx_put(struct store_txn *t, enum store_db db, const char *a, const void *b, size_t blen)
{
	unsigned char k[IDX_KEY_MAX];
	size_t kl = idx_key(k, a, b, blen);

	if (kl == 0)
		return STORE_ERROR;
	return store_put(t, db, k, kl, "", 0, 0);
}

int idx_del(struct store_txn *t, enum store_db db, const char *a, const void *b, size_t blen)
{
	unsigned char k[IDX_KEY_MAX];
	size_t kl = idx_key(k, a, b, blen);

	if (kl == 0)
		return STORE_NOTFOUND;
	return store_del(t, db, k, kl);
}

int idx_each(struct store_txn *t, enum store_db db, const char *a, idx_fn fn, void *arg)
{
	unsigned char pre[IDX_KEY_MAX];
	size_t pl = idx_key(pre, a, NULL, 0);
	struct store_cursor *c;
	const void *k;
	size_t kl;
	int rc;

	if (pl == 0)
		return STORE_OK;
	if ((rc = store_cursor_open(t, db, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, pre, pl, &k, &kl, NULL, NULL);
	while (rc == STORE_OK) {
		if (kl < pl || memcmp(k, pre, pl) != 0)
			break;
		if ((rc = fn((const unsigned char *)k + pl, kl - pl, arg)) != 0)
			goto out;
		rc = store_cursor_next(c, &k, &kl, NULL, NULL);
	}
	rc = (rc == STORE_OK || rc == STORE_NOTFOUND) ? STORE_OK : rc;
out:
	store_cursor_close(c);
	return rc;
}

int streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

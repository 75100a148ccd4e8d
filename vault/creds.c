/* creds.c - stored credentials, their expiry index, the wrapped ticket
 * keys and crypto-shredding (see creds.h). The key layouts live here
 * only: DB_CREDS "tid\0cid", DB_CRED_EXPIRY be64(expiry ms) "tid\0cid". */
#include <string.h>

#include "audit.h"
#include "creds.h"
#include "crypto.h"
#include "util.h"

/* "tid\0cid" into k; returns its length. */
static size_t cred_key(unsigned char k[CREDS_KEY_MAX], const char *tid, const char *cid)
{
	size_t tl = strlen(tid), cl = strlen(cid);

	memcpy(k, tid, tl + 1);
	memcpy(k + tl + 1, cid, cl);
	return tl + 1 + cl;
}

/* Does "tid\0cid" fit in CREDS_KEY_MAX? */
static int key_fits(const char *tid, const char *cid)
{
	return strlen(tid) + strlen(cid) + 1 <= CREDS_KEY_MAX;
}

int creds_ticket_key(struct store_txn *t, const char *tid, int create,
                     unsigned char key[CRYPTO_TICKET_KEY_LEN])
{
	unsigned char wrapped[CRYPTO_WRAPPED_LEN];
	const void *v;
	size_t vl;
	int rc = store_get(t, DB_TICKET_KEYS, tid, strlen(tid), &v, &vl);

	if (rc == STORE_OK)
		return crypto_ticket_key_unwrap(tid, v, vl, key) == 0 ? 0 : CREDS_BAD_KEY;
	if (rc != STORE_NOTFOUND || !create)
		return rc;
	if (crypto_ticket_key_new(tid, key, wrapped) != 0)
		return STORE_ERROR;
	return store_put(t, DB_TICKET_KEYS, tid, strlen(tid), wrapped, sizeof wrapped,
	                 STORE_NOOVERWRITE);
}

int creds_ticket_key_wrapped(struct store_txn *t, const char *tid, const void **v, size_t *vl)
{
	return store_get(t, DB_TICKET_KEYS, tid, strlen(tid), v, vl);
}

int creds_put(struct store_txn *t, const char *tid, const char *cid, int64_t expires,
              const unsigned char *rec, size_t reclen)
{
	unsigned char ck[CREDS_KEY_MAX + 8];
	size_t kl;
	int rc;

	if (!key_fits(tid, cid))
		return STORE_ERROR;
	kl = cred_key(ck + 8, tid, cid);
	util_be64_put(ck, (uint64_t)expires);
	if ((rc = store_put(t, DB_CREDS, ck + 8, kl, rec, reclen, STORE_NOOVERWRITE)) != 0 ||
	    (rc = store_put(t, DB_CRED_EXPIRY, ck, kl + 8, "", 0, 0)) != 0)
		return rc;
	return STORE_OK;
}

int creds_get(struct store_txn *t, const char *tid, const char *cid, const void **v, size_t *vl)
{
	unsigned char ck[CREDS_KEY_MAX];

	if (!key_fits(tid, cid))
		return STORE_NOTFOUND;
	return store_get(t, DB_CREDS, ck, cred_key(ck, tid, cid), v, vl);
}

int creds_each(struct store_txn *t, const char *tid, creds_fn fn, void *arg)
{
	return creds_each_after(t, tid, NULL, 0, fn, arg);
}

int creds_each_after(struct store_txn *t, const char *tid, const void *after, size_t afterlen,
                     creds_fn fn, void *arg)
{
	unsigned char pre[CREDS_KEY_MAX];
	size_t pl = strlen(tid) + 1, sl;
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int rc;

	if (pl > sizeof pre)
		return STORE_OK;
	memcpy(pre, tid, pl);
	/* The walk starts at "tid\0after", not at the ticket's first
	 * credential: a later page costs its own length, not the pages before
	 * it. A cursor longer than any key is cut; that starts the walk at or
	 * before the first credential after it, and fn skips the rest. */
	if (afterlen > sizeof pre - pl)
		afterlen = sizeof pre - pl;
	if (after != NULL)
		memcpy(pre + pl, after, afterlen);
	sl = pl + (after != NULL ? afterlen : 0);
	if ((rc = store_cursor_open(t, DB_CREDS, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, pre, sl, &k, &kl, &v, &vl);
	while (rc == STORE_OK && kl > pl && memcmp(k, pre, pl) == 0) {
		char cid[64];
		if (kl - pl < sizeof cid) {
			int stop;
			memcpy(cid, (const char *)k + pl, kl - pl);
			cid[kl - pl] = '\0';
			if ((stop = fn(cid, v, vl, arg)) != 0) {
				store_cursor_close(c);
				return stop;
			}
		}
		rc = store_cursor_next(c, &k, &kl, &v, &vl);
	}
	store_cursor_close(c);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int creds_alive(struct store_txn *t, const char *tid, const char *cid, int64_t now)
{
	int64_t created, expires;
	const void *v;
	size_t vl;
	int rc;

	rc = creds_get(t, tid, cid, &v, &vl);
	if (rc != STORE_OK)
		return rc;
	if (crypto_record_times(v, vl, &created, &expires) != 0 || now >= expires)
		return STORE_NOTFOUND;
	return STORE_OK;
}

int creds_destroy(struct store_txn *t, const char *tid, const char *cid)
{
	unsigned char ck[CREDS_KEY_MAX + 8];
	size_t kl;
	int64_t created, expires;
	const void *v;
	size_t vl;
	int rc;

	if (!key_fits(tid, cid))
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

int creds_shred_ticket(struct store_txn *t, const char *tid)
{
	unsigned char pre[80], key[CREDS_KEY_MAX];
	size_t pl = strlen(tid) + 1;
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int rc;

	memcpy(pre, tid, pl);
	for (;;) {
		int64_t created, expires;
		if ((rc = store_cursor_open(t, DB_CREDS, &c)) != STORE_OK)
			return rc;
		rc = store_cursor_seek(c, pre, pl, &k, &kl, &v, &vl);
		if (rc == STORE_OK && (kl < pl || kl >= sizeof key - 8 || memcmp(k, pre, pl) != 0))
			rc = STORE_NOTFOUND;
		if (rc != STORE_OK) {
			store_cursor_close(c);
			break;
		}
		memcpy(key + 8, k, kl);
		if (crypto_record_times(v, vl, &created, &expires) != 0)
			expires = -1;
		store_cursor_close(c);
		if ((rc = store_del(t, DB_CREDS, key + 8, kl)) != STORE_OK)
			return rc;
		if (expires >= 0) {
			util_be64_put(key, (uint64_t)expires);
			rc = store_del(t, DB_CRED_EXPIRY, key, kl + 8);
			if (rc != STORE_OK && rc != STORE_NOTFOUND)
				return rc;
		}
	}
	if (rc != STORE_NOTFOUND)
		return rc;
	rc = store_del(t, DB_TICKET_KEYS, tid, strlen(tid));
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* Destroy credentials whose time ran out (at most 256 per call). */
int creds_sweep(struct store_txn *t, int64_t now)
{
	unsigned char keys[256][CREDS_KEY_MAX + 8];
	size_t lens[256], n = 0;
	struct store_cursor *c;
	const void *k;
	size_t kl;
	int rc;

	if ((rc = store_cursor_open(t, DB_CRED_EXPIRY, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, NULL, 0, &k, &kl, NULL, NULL);
	while (rc == STORE_OK && n < 256 && kl > 8 && kl <= CREDS_KEY_MAX + 8 &&
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

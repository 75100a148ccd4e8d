/* wrapped.c - the tables of wrapped values, counted and rewrapped. */
#include "wrapped.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto.h"
#include "log.h"

struct wrapped_table {
	enum store_db db;
	const char *tag; /* crypto_wrap()'s tag for this table's values */
};

/* Every table of values wrapped with crypto_wrap(), row key = the id. To add
 * one (webhook secrets, ...), add its line: the rewrap, the counts and
 * retire-master's check then cover it. */
static const struct wrapped_table wrapped_tables[] = {
    {DB_TICKET_KEYS, CRYPTO_TICKET_KEY_TAG},
    {DB_WEBHOOK_SECRETS, CRYPTO_WEBHOOK_SECRET_TAG}, /* webhooks.c */
};
#define NTABLES (sizeof wrapped_tables / sizeof wrapped_tables[0])

static struct wrapped_count *slot(struct wrapped_count *out, size_t max, size_t *n, uint32_t v)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (out[i].version == v)
			return &out[i];
	if (*n >= max)
		return NULL;
	for (i = *n; i > 0 && out[i - 1].version > v; i--)
		out[i] = out[i - 1];
	memset(&out[i], 0, sizeof out[i]);
	out[i].version = v;
	(*n)++;
	return &out[i];
}

int wrapped_count(struct store_txn *t, struct wrapped_count *out, size_t max, size_t *n,
                  uint64_t *malformed)
{
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int rc;

	*n = 0;
	*malformed = 0;
	for (size_t ti = 0; ti < NTABLES; ti++) {
		if ((rc = store_cursor_open(t, wrapped_tables[ti].db, &c)) != STORE_OK)
			return rc;
		for (rc = store_cursor_seek(c, "", 0, &k, &kl, &v, &vl); rc == STORE_OK;
		     rc = store_cursor_next(c, &k, &kl, &v, &vl)) {
			uint32_t ver = crypto_wrapped_version(v, vl);
			struct wrapped_count *s;
			if (ver == 0 || (s = slot(out, max, n, ver)) == NULL) {
				(*malformed)++;
				continue;
			}
			s->all++;
			if (wrapped_tables[ti].db == DB_TICKET_KEYS)
				s->ticket_keys++;
		}
		store_cursor_close(c);
		if (rc != STORE_NOTFOUND)
			return rc;
	}
	return STORE_OK;
}

struct wr_row {
	unsigned char key[WRAPPED_KEY_MAX];
	size_t klen;
	unsigned char val[CRYPTO_WRAP_OVERHEAD + CRYPTO_WRAP_PT_MAX];
	size_t vlen;
};

int wrapped_rewrap_batch(struct store_txn *t, struct wrapped_pos *pos, size_t scan, size_t max,
                         size_t *rewrapped, size_t *failed, int *finished)
{
	uint32_t cur = crypto_mk_current();
	struct wr_row *rows;
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl, nrows = 0, seen = 0;
	int rc = STORE_OK, end = 0;

	*rewrapped = *failed = 0;
	*finished = 0;
	if (pos->table >= NTABLES) {
		*finished = 1;
		return STORE_OK;
	}
	if ((rows = sodium_allocarray(max, sizeof *rows)) == NULL)
		return STORE_ERROR;
	/* Collect first, write after the cursor is closed. */
	if ((rc = store_cursor_open(t, wrapped_tables[pos->table].db, &c)) != STORE_OK)
		goto out;
	rc = store_cursor_seek(c, pos->key, pos->klen, &k, &kl, &v, &vl);
	if (rc == STORE_OK && pos->klen > 0 && kl == pos->klen && memcmp(k, pos->key, kl) == 0)
		rc = store_cursor_next(c, &k, &kl, &v, &vl); /* done already */
	for (; rc == STORE_OK; rc = store_cursor_next(c, &k, &kl, &v, &vl)) {
		if (kl > WRAPPED_KEY_MAX) /* not a row of ours: skipped */
			continue;
		memcpy(pos->key, k, kl);
		pos->klen = kl;
		if (crypto_wrapped_version(v, vl) != cur && vl <= sizeof rows[0].val) {
			memcpy(rows[nrows].key, k, kl);
			rows[nrows].klen = kl;
			memcpy(rows[nrows].val, v, vl);
			rows[nrows].vlen = vl;
			nrows++;
		}
		if (++seen >= scan || nrows >= max)
			break;
	}
	store_cursor_close(c);
	if (rc == STORE_NOTFOUND) {
		end = 1;
		rc = STORE_OK;
	}
	if (rc != STORE_OK)
		goto out;
	for (size_t i = 0; i < nrows; i++) {
		unsigned char nv[sizeof rows[0].val];
		size_t nl = 0;
		int r = crypto_rewrap(wrapped_tables[pos->table].tag, rows[i].key, rows[i].klen,
		                      rows[i].val, rows[i].vlen, nv, sizeof nv, &nl);
		if (r < 0) {
			(*failed)++;
			log_msg(
			    "rewrap: a value in table %d does not open (version %u); left as it is",
			    (int)wrapped_tables[pos->table].db,
			    (unsigned)crypto_wrapped_version(rows[i].val, rows[i].vlen));
			continue;
		}
		if (r == 0) {
			rc = store_put(t, wrapped_tables[pos->table].db, rows[i].key, rows[i].klen,
			               nv, nl, 0);
			sodium_memzero(nv, sizeof nv);
			if (rc != STORE_OK)
				goto out;
			(*rewrapped)++;
		}
	}
	if (end) {
		pos->table++;
		pos->klen = 0;
		*finished = pos->table >= NTABLES;
	}
out:
	sodium_free(rows); /* wipes */
	return rc;
}

/* tokens.c - API tokens in the store (layouts in tokens.h). */
#include "tokens.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "records.h"
#include "util.h"

#define ROW_MAX (CRYPTO_TOKEN_HASH_LEN + 72 + 1 + 16)
#define NOTES_KEY "admin_token_notes"
#define NOTES_MAX 1000

#ifdef RSVAULT_TESTING
static int64_t test_env(const char *name, int64_t min, int64_t max, int64_t def)
{
	const char *s = getenv(name);
	int64_t n;

	return s != NULL && util_parse_i64(s, min, max, &n) == 0 ? n : def;
}
#endif

int64_t tokens_ttl_ms(int64_t ttl_s)
{
	int64_t second = 1000;

#ifdef RSVAULT_TESTING
	second = test_env("RSVAULT_TEST_TOKEN_SECOND_MS", 1, 1000, 1000);
#endif
	return ttl_s * second;
}

int64_t tokens_admin_ttl_ms(void)
{
#ifdef RSVAULT_TESTING
	return test_env("RSVAULT_TEST_ADMIN_TOKEN_TTL_MS", 1, TOKENS_ADMIN_TTL_MS,
	                TOKENS_ADMIN_TTL_MS);
#else
	return TOKENS_ADMIN_TTL_MS;
#endif
}

int tokens_issue(struct store_txn *t, const char *account, int64_t now, int64_t expires_ms,
                 char tok[CRYPTO_TOKEN_STR_MAX], char id[CRYPTO_TOKEN_ID_LEN])
{
	unsigned char row[ROW_MAX];
	size_t alen = strlen(account), off;
	int rc;

	if (alen == 0 || alen >= 72)
		return STORE_ERROR;
	crypto_token_new(tok, row);
	off = CRYPTO_TOKEN_HASH_LEN;
	memcpy(row + off, account, alen);
	off += alen;
	row[off++] = 0x00;
	util_be64_put(row + off, (uint64_t)now);
	util_be64_put(row + off + 8, expires_ms < 0 ? 0 : (uint64_t)expires_ms);
	off += 16;
	crypto_token_id(row, id);
	rc = store_put(t, DB_TOKENS, row, CRYPTO_TOKEN_LOOKUP_LEN, row, off, STORE_NOOVERWRITE);
	if (rc == STORE_OK)
		rc = idx_put(t, DB_ACCOUNT_TOKENS, account, row, CRYPTO_TOKEN_HASH_LEN);
	sodium_memzero(row, sizeof row);
	return rc == STORE_EXISTS ? STORE_ERROR : rc;
}

/* Parse a DB_TOKENS value of either layout into rec (hash checked by the
 * caller). Returns 0 or -1 for a malformed value. */
static int parse_row(const unsigned char *v, size_t vl, struct token_rec *rec)
{
	const unsigned char *acct = v + CRYPTO_TOKEN_HASH_LEN, *nul;
	size_t rest, alen;
	uint64_t exp;

	if (vl <= CRYPTO_TOKEN_HASH_LEN)
		return -1;
	rest = vl - CRYPTO_TOKEN_HASH_LEN;
	nul = memchr(acct, 0x00, rest);
	alen = nul != NULL ? (size_t)(nul - acct) : rest;
	if (alen == 0 || alen >= sizeof rec->account)
		return -1;
	memcpy(rec->account, acct, alen);
	rec->account[alen] = '\0';
	rec->created_ms = -1;
	rec->expires_ms = -1;
	if (nul != NULL) {
		if (rest - alen - 1 != 16)
			return -1;
		rec->created_ms = (int64_t)util_be64_get(nul + 1);
		exp = util_be64_get(nul + 9);
		rec->expires_ms = exp == 0 ? -1 : (int64_t)exp;
	}
	memcpy(rec->hash, v, CRYPTO_TOKEN_HASH_LEN);
	crypto_token_id(rec->hash, rec->id);
	return 0;
}

int tokens_lookup(struct store_txn *t, const char *tok, size_t len, struct token_rec *rec)
{
	unsigned char h[CRYPTO_TOKEN_HASH_LEN];
	int rc;

	crypto_token_hash(tok, len, h);
	rc = tokens_lookup_hash(t, h, rec);
	sodium_memzero(h, sizeof h);
	return rc;
}

int tokens_lookup_hash(struct store_txn *t, const unsigned char h[CRYPTO_TOKEN_HASH_LEN],
                       struct token_rec *rec)
{
	const void *v;
	size_t vl;
	int rc;

	memset(rec, 0, sizeof *rec);
	rc = store_get(t, DB_TOKENS, h, CRYPTO_TOKEN_LOOKUP_LEN, &v, &vl);
	if (rc == STORE_OK &&
	    (vl <= CRYPTO_TOKEN_HASH_LEN || sodium_memcmp(v, h, CRYPTO_TOKEN_HASH_LEN) != 0 ||
	     parse_row(v, vl, rec) != 0))
		rc = STORE_NOTFOUND;
	if (rc != STORE_OK)
		memset(rec, 0, sizeof *rec);
	return rc;
}

int tokens_expired(const struct token_rec *rec, int64_t now)
{
	return rec->expires_ms >= 0 && now >= rec->expires_ms;
}

/* Remove one token: its record (if it still belongs to this hash) and its
 * index entry. */
static int remove_token(struct store_txn *t, const char *account,
                        const unsigned char h[CRYPTO_TOKEN_HASH_LEN])
{
	const void *v;
	size_t vl;
	int rc;

	rc = store_get(t, DB_TOKENS, h, CRYPTO_TOKEN_LOOKUP_LEN, &v, &vl);
	if (rc == STORE_OK && vl > CRYPTO_TOKEN_HASH_LEN &&
	    sodium_memcmp(v, h, CRYPTO_TOKEN_HASH_LEN) == 0)
		rc = store_del(t, DB_TOKENS, h, CRYPTO_TOKEN_LOOKUP_LEN);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	rc = idx_del(t, DB_ACCOUNT_TOKENS, account, h, CRYPTO_TOKEN_HASH_LEN);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

struct find_id {
	const char *id;
	unsigned char h[CRYPTO_TOKEN_HASH_LEN];
	int found;
};

static int match_id(const void *b, size_t blen, void *arg)
{
	struct find_id *f = arg;
	char id[CRYPTO_TOKEN_ID_LEN];

	if (blen != CRYPTO_TOKEN_HASH_LEN)
		return 0;
	crypto_token_id(b, id);
	if (strcmp(id, f->id) != 0)
		return 0;
	memcpy(f->h, b, blen);
	f->found = 1;
	return 1; /* stop the walk */
}

int tokens_revoke_id(struct store_txn *t, const char *account, const char *id)
{
	struct find_id f = {.id = id};
	int rc;

	rc = idx_each(t, DB_ACCOUNT_TOKENS, account, match_id, &f);
	if (rc != STORE_OK && !(rc == 1 && f.found))
		return rc;
	if (!f.found)
		return STORE_NOTFOUND;
	return remove_token(t, account, f.h);
}

#define BATCH 256

struct hashes {
	unsigned char h[BATCH][CRYPTO_TOKEN_HASH_LEN];
	size_t n;
};

static int collect_hash(const void *b, size_t blen, void *arg)
{
	struct hashes *hs = arg;

	if (blen == CRYPTO_TOKEN_HASH_LEN && hs->n < BATCH)
		memcpy(hs->h[hs->n++], b, blen);
	return hs->n == BATCH; /* a full batch: stop, remove, walk again */
}

int tokens_revoke_all(struct store_txn *t, const char *account)
{
	struct hashes *hs;
	int rc;

	if ((hs = malloc(sizeof *hs)) == NULL)
		return STORE_ERROR;
	do {
		hs->n = 0;
		rc = idx_each(t, DB_ACCOUNT_TOKENS, account, collect_hash, hs);
		if (rc < 0)
			break;
		rc = STORE_OK;
		for (size_t i = 0; i < hs->n && rc == STORE_OK; i++)
			rc = remove_token(t, account, hs->h[i]);
	} while (rc == STORE_OK && hs->n == BATCH);
	free(hs);
	return rc;
}

static int notes_get(struct store_txn *t, json_t **out)
{
	const void *v;
	size_t vl;
	json_error_t e;
	int rc;

	*out = NULL;
	rc = store_get(t, DB_META, NOTES_KEY, strlen(NOTES_KEY), &v, &vl);
	if (rc != STORE_OK)
		return rc;
	*out = json_loadb(v, vl, JSON_REJECT_DUPLICATES, &e);
	if (!json_is_array(*out)) {
		json_decref(*out);
		*out = NULL;
		return STORE_ERROR;
	}
	return STORE_OK;
}

int tokens_note_add(struct store_txn *t, const char *action, const char *target, int64_t now)
{
	json_t *notes = NULL;
	char *s;
	int rc;

	rc = notes_get(t, &notes);
	if (rc == STORE_NOTFOUND)
		notes = json_array();
	else if (rc != STORE_OK)
		return rc;
	if (notes == NULL || json_array_size(notes) >= NOTES_MAX ||
	    json_array_append_new(notes, json_pack("{s:s, s:s, s:I}", "action", action, "target",
	                                           target, "time_ms", (json_int_t)now)) != 0) {
		json_decref(notes);
		return STORE_ERROR;
	}
	if ((s = jx_text(notes)) == NULL) {
		json_decref(notes);
		return STORE_ERROR;
	}
	rc = store_put(t, DB_META, NOTES_KEY, strlen(NOTES_KEY), s, strlen(s), 0);
	free(s);
	json_decref(notes);
	return rc;
}

int tokens_notes_take(struct store_txn *t, tokens_note_fn fn, void *arg)
{
	json_t *notes, *n;
	size_t i;
	int rc;

	rc = notes_get(t, &notes);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	json_array_foreach(notes, i, n)
	{
		if (jx_str(n, "action") == NULL || jx_str(n, "target") == NULL) {
			rc = STORE_ERROR;
			break;
		}
		if ((rc = fn(t, jx_str(n, "action"), jx_str(n, "target"), jx_int(n, "time_ms", -1),
		             arg)) != 0)
			break;
	}
	json_decref(notes);
	if (rc != STORE_OK)
		return rc;
	return store_del(t, DB_META, NOTES_KEY, strlen(NOTES_KEY));
}

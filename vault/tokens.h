/* tokens.h - API tokens in the store: issue, look up, expire, revoke.
 *
 * DB_TOKENS: key = the first CRYPTO_TOKEN_LOOKUP_LEN bytes of the token's
 * keyed hash; value, in one of two layouts:
 *   hash (32) | account id                                 (first version)
 *   hash (32) | account id | 0x00 | be64 created ms | be64 expires ms
 * (expires 0: never). Account ids never contain a NUL, so the layouts
 * cannot be confused; a record of the first layout has no expiry.
 * DB_ACCOUNT_TOKENS: account id 0x00 hash (32) -> "" (every token of an
 * account, for revocation).
 *
 * A token's public id (crypto_token_id) is computed from its hash, so it is
 * never stored: tokens of either layout have one. */
#ifndef RSVAULT_TOKENS_H
#define RSVAULT_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "store.h"

/* Lifetime of the bootstrap admin token and of one made by
 * `rsvault-keys admin-token`: 24 h. */
#define TOKENS_ADMIN_TTL_MS (24LL * 3600 * 1000)

struct token_rec {
	char account[72];
	char id[CRYPTO_TOKEN_ID_LEN];
	unsigned char hash[CRYPTO_TOKEN_HASH_LEN];
	int64_t created_ms; /* -1 when unknown (first layout) */
	int64_t expires_ms; /* -1: never */
};

/* Milliseconds a ttl_s of ttl_s seconds lasts (ttl_s * 1000; test builds
 * may shorten the second with RSVAULT_TEST_TOKEN_SECOND_MS, so a test can
 * show expiry without waiting a minute). */
int64_t tokens_ttl_ms(int64_t ttl_s);

/* Lifetime of an admin token written to DATA/admin.token
 * (TOKENS_ADMIN_TTL_MS; test builds: RSVAULT_TEST_ADMIN_TOKEN_TTL_MS). */
int64_t tokens_admin_ttl_ms(void);

/* Make a new token for account (which must exist), valid from now until
 * expires_ms (-1: no expiry). Writes the token string into tok (the caller
 * wipes it) and its id into id. Returns 0 or a store_err. */
int tokens_issue(struct store_txn *t, const char *account, int64_t now, int64_t expires_ms,
                 char tok[CRYPTO_TOKEN_STR_MAX], char id[CRYPTO_TOKEN_ID_LEN]);

/* Find the record of a presented token (expired ones included: the caller
 * decides). Returns 0 with rec filled, STORE_NOTFOUND for an unknown or
 * revoked token (or a record that does not belong to it), or another
 * store_err. */
int tokens_lookup(struct store_txn *t, const char *tok, size_t len, struct token_rec *rec);
/* The same, from the token's keyed hash (crypto_token_hash), computed
 * before the request is queued so that the writer does not. */
int tokens_lookup_hash(struct store_txn *t, const unsigned char h[CRYPTO_TOKEN_HASH_LEN],
                       struct token_rec *rec);

/* Is the token of rec expired at time now? */
int tokens_expired(const struct token_rec *rec, int64_t now);

/* Revoke the token with this id among account's tokens. Returns 0,
 * STORE_NOTFOUND if the account has no such token, or a store_err. */
int tokens_revoke_id(struct store_txn *t, const char *account, const char *id);

/* Revoke every token of account. Returns 0 or a store_err. */
int tokens_revoke_all(struct store_txn *t, const char *account);

/* Offline admin tokens (`rsvault-keys admin-token`): the key tool cannot
 * write audit events (the server owns the chain), so it leaves a note in
 * DB_META that the server turns into events at its next start, in the
 * same transaction that removes the note. Each note is an object
 * {"action","target","time_ms"}. */
int tokens_note_add(struct store_txn *t, const char *action, const char *target, int64_t now);

/* Call fn for every note, oldest first, then remove them all. fn returning
 * non-zero stops and is returned (nothing is removed then). */
typedef int (*tokens_note_fn)(struct store_txn *t, const char *action, const char *target,
                              int64_t time_ms, void *arg);
int tokens_notes_take(struct store_txn *t, tokens_note_fn fn, void *arg);

#endif

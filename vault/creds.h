/* creds.h - the one owner of stored credentials: their records in
 * DB_CREDS (key "tid\0cid"), the expiry index DB_CRED_EXPIRY (key
 * be64(expiry ms) "tid\0cid"), the wrapped ticket keys in DB_TICKET_KEYS,
 * crypto-shredding and the expiry sweep. No other file builds or splits
 * these keys. Each runs in the caller's (writer) transaction. */
#ifndef RSVAULT_CREDS_H
#define RSVAULT_CREDS_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "store.h"

/* Longest "tid\0cid" key; a longer pair names no credential. */
#define CREDS_KEY_MAX 200

/* The wrapped ticket key fails authentication (creds_ticket_key). */
#define CREDS_BAD_KEY (-1001)

/* The ticket's key: unwrap it, or (create) make and store a new one.
 * Returns 0, STORE_NOTFOUND (none and !create), CREDS_BAD_KEY, or a
 * store_err. */
int creds_ticket_key(struct store_txn *t, const char *tid, int create,
                     unsigned char key[CRYPTO_TICKET_KEY_LEN]);

/* The ticket's wrapped key as stored (valid until the transaction
 * changes). Returns 0, STORE_NOTFOUND or a store_err. */
int creds_ticket_key_wrapped(struct store_txn *t, const char *tid, const void **v, size_t *vl);

/* Store the sealed record of a new credential (tid, cid) and its expiry
 * entry. Returns 0, STORE_EXISTS or a store_err. */
int creds_put(struct store_txn *t, const char *tid, const char *cid, int64_t expires,
              const unsigned char *rec, size_t reclen);

/* The sealed record of (tid, cid) (valid until the transaction changes).
 * Returns 0, STORE_NOTFOUND or a store_err. */
int creds_get(struct store_txn *t, const char *tid, const char *cid, const void **v, size_t *vl);

/* Call fn(cid, sealed record, its length, arg) for each credential of
 * ticket tid, in key order; fn returning non-zero stops the walk and is
 * returned. Returns 0 at the end, or a store_err. */
typedef int (*creds_fn)(const char *cid, const void *rec, size_t reclen, void *arg);
int creds_each(struct store_txn *t, const char *tid, creds_fn fn, void *arg);

/* The same, from the first credential whose id sorts after `after` (a
 * page's cursor: afterlen bytes, compared as LMDB orders keys) without
 * visiting the ones before it; fn may still see the one equal to it. */
int creds_each_after(struct store_txn *t, const char *tid, const void *after, size_t afterlen,
                     creds_fn fn, void *arg);

/* Does the credential (tid, cid) exist and is its time not yet out?
 * Returns 0, STORE_NOTFOUND or a store_err. */
int creds_alive(struct store_txn *t, const char *tid, const char *cid, int64_t now);

/* Delete the credential's record and its expiry entry. Returns 0,
 * STORE_NOTFOUND or a store_err. */
int creds_destroy(struct store_txn *t, const char *tid, const char *cid);

/* Crypto-shredding: delete every credential of ticket tid, their expiry
 * entries and the ticket's wrapped key (in the caller's transaction). */
int creds_shred_ticket(struct store_txn *t, const char *tid);

/* Destroy credentials whose time ran out (a bounded number per call),
 * auditing each as credential.expire. */
int creds_sweep(struct store_txn *t, int64_t now);

#endif

/* records.h - JSON records and two-part index keys on top of store.h.
 * Non-secret records (accounts, licenses, tickets, sessions) are stored as
 * compact JSON; credentials are sealed (crypto.h). */
#ifndef RSVAULT_RECORDS_H
#define RSVAULT_RECORDS_H

#include <jansson.h>

#include "jsonx.h" /* jx_str, jx_int, jx_time, jx_text */
#include "store.h"

/* Load the JSON record db[key] into *out (new reference). Returns 0,
 * STORE_NOTFOUND, or STORE_ERROR for a record that does not parse. */
int rec_get(struct store_txn *t, enum store_db db, const char *key, json_t **out);

/* As rec_get, but *out may be shared with other callers of this thread
 * (and kept for later ones): read it, never change it, and json_decref
 * it like a record of rec_get. For the gauntlet's hot reads. */
int rec_get_shared(struct store_txn *t, enum store_db db, const char *key, json_t **out);

/* Store obj as db[key]. Returns 0 or a store_err. */
int rec_put(struct store_txn *t, enum store_db db, const char *key, const json_t *obj,
            unsigned flags);

/* Index keys "a\0b": put (value empty) and delete. */
int idx_put(struct store_txn *t, enum store_db db, const char *a, const void *b, size_t blen);
int idx_del(struct store_txn *t, enum store_db db, const char *a, const void *b, size_t blen);

/* Call fn(b, blen, arg) for every index key "a\0b" with prefix a, in key
 * order. fn returning non-zero stops the walk and is returned. */
typedef int (*idx_fn)(const void *b, size_t blen, void *arg);
int idx_each(struct store_txn *t, enum store_db db, const char *a, idx_fn fn, void *arg);

/* Both non-NULL and equal. */
int streq(const char *a, const char *b);
#endif

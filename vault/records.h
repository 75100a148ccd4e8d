/* records.h - JSON records and two-part index keys on top of store.h.
 * Non-secret records (accounts, licenses, tickets, sessions) are stored as
 * compact JSON; credentials are sealed (crypto.h). */
#ifndef RSVAULT_RECORDS_H
#define RSVAULT_RECORDS_H

#include <jansson.h>

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

/* Convenience accessors: the string at key, or NULL; the integer, or def. */
const char *js(const json_t *o, const char *key);
json_int_t ji(const json_t *o, const char *key, json_int_t def);

/* A JSON time value: RFC 3339 string for ms >= 0, null for ms < 0. */
json_t *jtime(int64_t ms);

/* Compact JSON text of obj in a libc malloc'd, NUL-terminated buffer (the
 * caller frees it with free(), after wiping if it held a secret). jansson's
 * own json_dumps() result would need jansson's (wiping) allocator to free. */
char *json_text(const json_t *obj);

/* Both non-NULL and equal. */
int streq(const char *a, const char *b);
#endif

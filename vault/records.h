/* records.h - records and two-part index keys on top of store.h.
 * Non-secret records (accounts, licenses, tickets, sessions, links,
 * receipts, webhooks, ...) are JSON objects stored in the compact binary
 * form of common/brec.h; those written as JSON text by older versions are
 * still read, and are stored in the binary form when they next change.
 * Credentials are sealed (crypto.h). */
#ifndef RSVAULT_RECORDS_H
#define RSVAULT_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "brec.h"
#include "jsonx.h" /* jx_str, jx_int, jx_time, jx_text */
#include "store.h"

/* The record stored as v[0..vl), in either form (binary, or the JSON
 * text of older versions), as a new object; NULL when it is neither a
 * valid encoding nor a JSON object. Every reader of records goes through
 * it (or through rec_view_get). */
json_t *rec_decode(const void *v, size_t vl);

/* Load the record db[key] into *out (new reference). Returns 0,
 * STORE_NOTFOUND, or STORE_ERROR for a record that does not decode. */
int rec_get(struct store_txn *t, enum store_db db, const char *key, json_t **out);

/* As rec_get, but *out may be shared with other callers of this thread
 * (and kept for later ones): read it, never change it (a change would
 * outlive a transaction that rolls back: the cache compares the stored
 * bytes, not the object), and release it with jx_release. const, so that
 * the compiler holds every caller to that. For the gauntlet's hot reads. */
int rec_get_shared(struct store_txn *t, enum store_db db, const char *key, const json_t **out);

/* Store obj as db[key], in the binary form. Returns 0 or a store_err
 * (STORE_ERROR for an object with no encoding: brec_encode). */
int rec_put(struct store_txn *t, enum store_db db, const char *key, const json_t *obj,
            unsigned flags);

/* A record read without building a JSON object, for the hot path: a view
 * of its bytes in the caller's transaction (brec.h), or, for a record
 * still in the JSON text of an older version, its parse (shared, as
 * rec_get_shared's). The rv_ accessors answer as jx_str, jx_int and
 * json_is_true do on the object. Valid until the transaction ends or
 * the transaction next changes the store (LMDB may move the bytes then),
 * whichever comes first: read it, decide, then write. Release with
 * rec_view_done (a no-op for the binary form). */
struct rec_view {
	struct brec b;
	const json_t *j; /* the older JSON form, or NULL */
};

/* Returns 0, STORE_NOTFOUND, or STORE_ERROR for a record that does not
 * decode. *vw is empty (every lookup absent) unless 0 is returned. */
int rec_view_get(struct store_txn *t, enum store_db db, const char *key, struct rec_view *vw);
/* The same of the bytes v[0..vl) (a cursor's value, say): 0, or -1 for
 * bytes that are neither form; an older JSON text is parsed (not
 * shared). */
int rec_view_of(const void *v, size_t vl, struct rec_view *vw);
void rec_view_done(struct rec_view *vw);
const char *rv_str(const struct rec_view *vw, const char *name);
int64_t rv_int(const struct rec_view *vw, const char *name, int64_t dflt);
int rv_true(const struct rec_view *vw, const char *name); /* the value true */
int rv_has(const struct rec_view *vw, const char *name);  /* present, null included */

/* Index keys "a\0b": put (value empty) and delete. */
int idx_put(struct store_txn *t, enum store_db db, const char *a, const void *b, size_t blen);
int idx_del(struct store_txn *t, enum store_db db, const char *a, const void *b, size_t blen);

/* Call fn(b, blen, arg) for every index key "a\0b" with prefix a, in key
 * order. fn returning non-zero stops the walk and is returned. */
typedef int (*idx_fn)(const void *b, size_t blen, void *arg);
int idx_each(struct store_txn *t, enum store_db db, const char *a, idx_fn fn, void *arg);

/* A credential's read and rotation note (DB_CRED_META "tid\0cid", kept by
 * notify.c), read and written on every secret read. Stored in a fixed
 * binary form of CRED_META_LEN bytes: a version byte (1; a JSON text
 * starts with '{'), the rotation mark (0 never set, 1 cleared, 2 set) and
 * four big-endian int64: read_count, last_read_at, rotate_since,
 * rotated_at (ms; -1 where absent). Notes written as JSON by older
 * versions are still read (and rewritten in the binary form when they
 * next change). */
#define CRED_META_LEN 34
struct cred_meta {
	int64_t read_count;
	int64_t last_read_at; /* -1: never read */
	int rotate;           /* -1 never set, 0 cleared, 1 set */
	int64_t rotate_since; /* -1: absent */
	int64_t rotated_at;   /* -1: absent */
};

/* The note of no reads and no mark. */
void cred_meta_init(struct cred_meta *m);

/* Decode v[0..vl) (binary or the older JSON) into *m. Returns 0, or -1
 * for anything else (wrong length, unknown version, out-of-range values,
 * JSON that is not an object of the right types). */
int cred_meta_decode(const void *v, size_t vl, struct cred_meta *m);

/* Encode *m into out. */
void cred_meta_encode(const struct cred_meta *m, unsigned char out[CRED_META_LEN]);

/* Both non-NULL and equal. */
int streq(const char *a, const char *b);
#endif

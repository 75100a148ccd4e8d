/* store.h - the vault's storage: one LMDB environment with named
 * sub-databases, and one writer thread that commits operations in groups.
 *
 * This is the only module that calls LMDB. Everything above it speaks in
 * records (byte keys and values in a named table) and transactions, so a
 * second backend can be added beside it.
 *
 * Writes: store_write() queues an operation and blocks until the writer
 * thread has run it inside its own nested transaction and the whole batch
 * has been durably committed (or has failed). Nobody is answered before
 * their commit. */
#ifndef RSVAULT_STORE_H
#define RSVAULT_STORE_H

#include <stddef.h>
#include <stdint.h>

enum store_db {
	DB_META,            /* name -> value */
	DB_ACCOUNTS,        /* account id -> JSON */
	DB_TOKENS,          /* hash[0..16) -> hash (32) account id */
	DB_ACCOUNT_TOKENS,  /* account id \0 token hash -> "" */
	DB_LICENSES,        /* license key -> JSON */
	DB_LICENSE_EMAIL,   /* email \0 license key -> "" */
	DB_TICKETS,         /* ticket id -> JSON */
	DB_TICKETS_OWNER,   /* owner \0 ticket id -> "" */
	DB_TICKETS_AGENT,   /* agent \0 ticket id -> "" */
	DB_TICKET_KEYS,     /* ticket id -> wrapped ticket key */
	DB_CREDS,           /* ticket id \0 credential id -> sealed record */
	DB_CRED_EXPIRY,     /* be64(expiry ms) ticket id \0 credential id -> "" */
	DB_SESSIONS,        /* session id -> JSON */
	DB_TICKET_SESSIONS, /* ticket id \0 session id -> "" */
	DB_AUDIT,           /* be64(seq) -> hash(32) be64(time ms) JSON */
	DB_AUDIT_TICKET,    /* ticket id \0 be64(seq) -> "" */
	DB_CHECKPOINTS,     /* be64(seq) -> JSON */
	DB_ACTIVE_SESSIONS, /* legacy: session id -> ""; moved to DB_TICKET_ACTIVE */
	DB_TICKET_ACTIVE,   /* ticket id -> id of its active session (sessions.c) */
	DB_COUNT
};

/* Error codes (negative); 0 is success. */
enum store_err {
	STORE_OK = 0,
	STORE_NOTFOUND = -1,
	STORE_EXISTS = -2,
	STORE_FULL = -3,    /* map full: 503 */
	STORE_ERROR = -4,   /* any other storage failure: 503 */
	STORE_TIMEOUT = -5, /* the writer did not take the operation in time: 503 */
	STORE_ABORT = -6,   /* the operation asked for its changes to be dropped */
};

struct store;     /* opaque */
struct store_txn; /* opaque: one (possibly nested) transaction */
struct store_cursor;

#define STORE_NOOVERWRITE 0x1u
#define STORE_APPEND 0x2u

/* An operation run by the writer thread inside a nested transaction. A
 * return of 0 keeps its changes; any other value drops them and is handed
 * back by store_write(). */
typedef int (*store_op_fn)(struct store_txn *txn, void *arg);

/* A periodic job the writer runs about once a second, in a transaction of
 * its own (sweeper, checkpoints). */
typedef int (*store_tick_fn)(struct store_txn *txn, void *arg);

/* Open (creating if needed) the environment in dir with the given map size
 * and start the writer thread. *created is set to 1 when the store was
 * empty. Returns 0 or a store_err. */
int store_open(const char *dir, size_t mapsize, int queue_timeout_ms, struct store **out,
               int *created);

/* Install the periodic job (call before traffic). */
void store_set_tick(struct store *s, store_tick_fn fn, void *arg);

/* Stop the writer (after finishing queued work) and close the environment. */
void store_close(struct store *s);

/* Queue fn(arg) for the writer and wait for its durable commit. Returns
 * fn's own return value when it was non-zero (its changes dropped), 0 when
 * committed, or STORE_FULL / STORE_ERROR / STORE_TIMEOUT. Blocks. */
int store_write(struct store *s, store_op_fn fn, void *arg);

/* Run fn(arg) in a read-only transaction. Returns fn's value or a
 * store_err. */
int store_read(struct store *s, store_op_fn fn, void *arg);

/* Nested transactions inside an operation. */
int store_child_begin(struct store_txn *parent, struct store_txn **child);
int store_child_commit(struct store_txn *child);
void store_child_abort(struct store_txn *child);

/* Record access. store_get's *val points into the map and is valid only
 * until the transaction (or a write to that table) ends: copy it out. */
int store_get(struct store_txn *t, enum store_db db, const void *key, size_t klen, const void **val,
              size_t *vlen);
int store_put(struct store_txn *t, enum store_db db, const void *key, size_t klen, const void *val,
              size_t vlen, unsigned flags);
int store_del(struct store_txn *t, enum store_db db, const void *key, size_t klen);

/* Cursors. store_cursor_seek positions at the first key >= key (with
 * klen 0: the first key); next moves on; last goes to the final key.
 * Each returns 0, STORE_NOTFOUND at the end, or another error. */
int store_cursor_open(struct store_txn *t, enum store_db db, struct store_cursor **c);
int store_cursor_seek(struct store_cursor *c, const void *key, size_t klen, const void **k,
                      size_t *kl, const void **v, size_t *vl);
int store_cursor_next(struct store_cursor *c, const void **k, size_t *kl, const void **v,
                      size_t *vl);
int store_cursor_last(struct store_cursor *c, const void **k, size_t *kl, const void **v,
                      size_t *vl);
void store_cursor_close(struct store_cursor *c);

/* Statistics for tests and benchmarks. */
struct store_stats {
	uint64_t commits;
	uint64_t ops;
	uint64_t max_batch;
};
void store_get_stats(struct store *s, struct store_stats *st);

#endif

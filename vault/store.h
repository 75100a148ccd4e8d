/* store.h - the vault's storage: one LMDB environment with named
 * sub-databases, and one writer thread that commits operations in groups.
 *
 * This is the only module that calls LMDB. Everything above it speaks in
 * records (byte keys and values in a named table) and transactions, so a
 * second backend can be added beside it.
 *
 * Writes: an operation is queued for the writer thread, which runs it
 * inside its own nested transaction and commits the whole batch; a sync
 * then makes the commit durable while the writer runs the next batch.
 * Nobody is told "committed" before the commit is durable. store_submit()
 * (requests) waits at most queue_timeout_ms in all, even once the writer
 * has taken the operation; store_write() (start-up, tools) waits for the
 * durable commit.
 *
 * Headroom: a reserve at the end of the map (STORE_RESERVE_*) is kept for
 * work that declares it may use it (store_use_reserve): audit-only events
 * and staff work. Ordinary work fails with STORE_FULL once only the reserve
 * is left, so the audit trail never hits "map full" first. */
#ifndef RSVAULT_STORE_H
#define RSVAULT_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
	DB_LINKS,           /* link id -> JSON (links.c) */
	DB_TICKET_LINKS,    /* ticket id \0 link id -> "" */
	DB_CREATOR_LINKS,   /* creator account id \0 link id -> "" */
	DB_RECEIPTS,        /* receipt id -> JSON (links.c) */
	DB_WEBHOOKS,        /* webhook id -> JSON (webhooks.c) */
	DB_OUTBOX,          /* delivery id -> JSON with the payload (webhooks.c) */
	DB_OUTBOX_DUE,      /* webhook id \0 be64(next ms) be64(order) did -> "" (pending) */
	DB_OUTBOX_STATE,    /* state letter be64(order) -> delivery id (oldest first) */
	DB_WEBHOOK_DELIV,   /* webhook id \0 be64(~order) -> delivery id (newest first) */
	DB_CRED_META,       /* ticket id \0 credential id -> JSON reads, rotate (notify.c) */
	DB_SESSION_READS,   /* session id \0 credential id -> ""; sid \0 -> "ended" (notify.c) */
	DB_WEBHOOK_SECRETS, /* webhook id -> wrapped signing secret (crypto_wrap; wrapped.c) */
	DB_AUDIT_TOKENS,    /* account id \0 be64(seq) -> "": events that issued it a token */
	DB_COUNT
};

/* Error codes (negative); 0 is success. */
enum store_err {
	STORE_OK = 0,
	STORE_NOTFOUND = -1,
	STORE_EXISTS = -2,
	STORE_FULL = -3,    /* map full: 503 */
	STORE_ERROR = -4,   /* any other storage failure: 503 */
	STORE_TIMEOUT = -5, /* not run in time, and it never will be: 503, nothing changed */
	STORE_ABORT = -6,   /* the operation asked for its changes to be dropped */
	STORE_UNKNOWN = -7, /* it ran, but its commit did not finish in time: 503, and the
	                     * change may still be committed later */
};

/* The reserve: STORE_RESERVE_PERCENT of the map, at least
 * STORE_RESERVE_MIN_BYTES, at most a quarter of the map. */
#define STORE_RESERVE_PERCENT 2
#define STORE_RESERVE_MIN_BYTES ((size_t)8 << 20)

/* What store_health() reports. */
enum store_health {
	STORE_HEALTH_OK = 0,
	STORE_HEALTH_LOW = 1,    /* only the reserve is left: ordinary writes get STORE_FULL */
	STORE_HEALTH_FAILED = 2, /* LMDB reported a fatal error: no writes until restart */
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

/* Device and inode of the file LMDB maps (data.mdb; LMDB does not say
 * where it maps it), so main can find that mapping and keep the ciphertext
 * out of mlockall. Returns 0 or STORE_ERROR. */
int store_map_file(struct store *s, dev_t *dev, ino_t *ino);

/* Install the periodic job (before traffic; the writer reads it under
 * the store's lock, so a later call is safe too). */
void store_set_tick(struct store *s, store_tick_fn fn, void *arg);

/* Stop the writer (after finishing queued work) and close the environment.
 * No other thread may be in a store_* call, or start one, from here on:
 * the store's lock and memory are gone when it returns (main stops the
 * HTTP server and every other user first). */
void store_close(struct store *s);

/* Called by the writer thread for an operation its caller gave up on,
 * once the writer is done with it: rc is what the operation came to
 * (0 committed, else not). It must free arg. */
typedef void (*store_release_fn)(void *arg, int rc);

/* Queue fn(arg) for the writer and wait for its durable commit, at most
 * queue_timeout_ms from now in all. Returns 0 when committed, fn's own
 * non-zero return value (its changes dropped), STORE_FULL or STORE_ERROR
 * (nothing changed); in these cases arg is the caller's again. On
 * STORE_TIMEOUT (fn never ran and never will) or STORE_UNKNOWN (fn ran and
 * its batch's commit had not finished or not been made durable: it may
 * still commit, or the sync after it failed) arg belongs to the store from
 * then on: fn may still be running on it, and release(arg, rc) frees it
 * (later, or at once). So arg must hold everything fn touches; fn must
 * never reach the caller's memory through it. */
int store_submit(struct store *s, store_op_fn fn, void *arg, store_release_fn release);

/* Told the outcome of an async operation: rc as store_submit would return
 * it, with the same rule about who owns arg. Called exactly once, from the
 * writer or the store's deadline watcher (never from the caller's thread),
 * within queue_timeout_ms of the submission; it must not block and must
 * not call into the store. */
typedef void (*store_done_fn)(void *ctx, int rc);

/* Queue fn(arg) without waiting: store_submit's contract, but the outcome
 * comes through done(ctx, rc). Returns 0 (queued: done will be called) or
 * STORE_ERROR (not queued, stopping or failed: done will not be called,
 * arg is the caller's). */
int store_submit_async(struct store *s, store_op_fn fn, void *arg, store_release_fn release,
                       store_done_fn done, void *ctx);

/* store_submit_async with the operation's own memory from the caller (a
 * request's arena): mem holds at least store_op_size() bytes aligned for
 * any type. When queued, the store calls put(put_ctx) exactly once, after
 * its last touch of mem (after done and any release), from the writer or
 * the watcher; when not queued (STORE_ERROR) put is not called and mem is
 * the caller's again. */
size_t store_op_size(void);
int store_submit_async_in(struct store *s, void *mem, void (*put)(void *), void *put_ctx,
                          store_op_fn fn, void *arg, store_release_fn release, store_done_fn done,
                          void *ctx);

/* Queue fn(arg) and wait: at most queue_timeout_ms for the writer to take
 * it (else STORE_TIMEOUT, fn never runs), then until its commit, however
 * long it takes. For start-up and tools, not for requests. The operation
 * may use the reserve. Returns as store_submit, except that arg is always
 * the caller's again (on STORE_TIMEOUT fn never ran; on STORE_UNKNOWN it
 * committed but the sync after it failed). */
int store_write(struct store *s, store_op_fn fn, void *arg);

/* Inside an operation: declare that it may use the map's reserve (an
 * audit-only event, staff work). Without it, an operation that returns 0
 * while only the reserve is left has its changes dropped and gets
 * STORE_FULL. */
void store_use_reserve(struct store_txn *t);

/* The store's state for the health route; cheap, any thread. */
enum store_health store_health(struct store *s);

/* Run fn(arg) in a read-only transaction over a durable state: the
 * newest commit, once a sync has made it durable (waiting for that at most
 * queue_timeout_ms; usually well under one fdatasync). Returns fn's value
 * or a store_err (STORE_ERROR: not durable in time, or the store failed;
 * fn did not run). For every read whose result leaves the process
 * (answers, webhooks). */
int store_read(struct store *s, store_op_fn fn, void *arg);

/* store_read without the wait: fn may see commits not yet durable, which
 * a power loss could still undo. Only for reads whose result goes back
 * through the writer, which decides again and answers after its own
 * commit is durable (an upload sealed beforehand, the rate limiter's
 * token probe). */
int store_read_fresh(struct store *s, store_op_fn fn, void *arg);

/* A small value that follows the transactions of the writer: a child
 * starts with its parent's, a committed child hands its own to the parent,
 * an aborted one's is dropped, and the value of a committed top-level
 * transaction is what the next one starts with (a failed commit forgets
 * it). The audit module keeps the chain's head in it, so that appending an
 * event needs no search for the last row and a rolled-back append never
 * advances the head. valid 0: not known, look it up. Read-only
 * transactions have none (store_memo returns NULL). */
struct store_memo {
	int valid;
	uint64_t seq;
	unsigned char hash[32];
};
struct store_memo *store_memo(struct store_txn *t);

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

/* Backups (SPEC 8.5). Write a compacted copy of the store (LMDB's
 * mdb_env_copyfd2 with MDB_CP_COMPACT: free pages, and with them the
 * ciphertext of destroyed records, are left out) to fd, a new empty file
 * opened for writing, and fsync it. The copy is the snapshot of one read
 * transaction, so it is consistent; the writer keeps committing meanwhile.
 * Returns once the copied state is durable in the store too (a copy of
 * commits a power loss could still undo is no backup). Blocks for as long
 * as the copy takes: never call it from the writer
 * thread (an operation or a tick). Returns 0 or STORE_ERROR. */
int store_backup(struct store *s, int fd);

/* Open the store copy in the file path (a backup) read-only, without a
 * lock file, and run fn(arg) in a read transaction over it: what a caller
 * learns there (the audit head, the master-key versions) is what the copy
 * holds. Returns fn's value or a store_err (STORE_ERROR: not an rsvault
 * store). */
int store_inspect(const char *path, store_op_fn fn, void *arg);

/* The number of records in db as t sees them (LMDB's count: no scan).
 * Returns 0 or a store_err. */
int store_count(struct store_txn *t, enum store_db db, uint64_t *n);

/* Statistics for tests and benchmarks. */
struct store_stats {
	uint64_t commits;
	uint64_t ops;
	uint64_t max_batch;
	uint64_t abandoned; /* operations whose caller got STORE_TIMEOUT/UNKNOWN once taken */
	uint64_t refused;   /* operations refused STORE_FULL to keep the reserve */
};
void store_get_stats(struct store *s, struct store_stats *st);

#endif

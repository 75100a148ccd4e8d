/* store.c - LMDB environment, tables, and the group-commit writer thread.
 * The only file that calls LMDB. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

#define STORE_MAX_BATCH 256
#define STORE_TICK_MS 1000

/* One line per group of tables, so that a new table is an added line. */
/* clang-format off */
static const char *const db_names[DB_COUNT] = {
    "meta",          "accounts",      "tokens",          "account_tokens",  "licenses",
    "license_email", "tickets",       "tickets_owner",   "tickets_agent",   "ticket_keys",
    "creds",         "cred_expiry",   "sessions",        "ticket_sessions", "audit",
    "audit_ticket",  "checkpoints",   "active_sessions", "ticket_active",   "links",
    "ticket_links",  "creator_links", "receipts",
    "webhooks", "outbox", "outbox_due", "outbox_state", "webhook_deliv", /* webhooks.c */
    "cred_meta", "session_reads", "webhook_secrets",                      /* notify.c, webhooks.c */
    "audit_tokens",
};
/* clang-format on */

/* An operation's life: queued by its caller, taken into a batch by the
 * writer, running (fn called), committed (its batch's commit returned; it
 * waits for a sync that makes that commit durable), done (durable, or the
 * batch failed). The caller waits on done_cv; if it gives up first it sets
 * abandoned, and from then on the store owns the op and its arg (see
 * store_submit). */
enum op_state { OP_QUEUED, OP_TAKEN, OP_RUNNING, OP_COMMITTED, OP_DONE };

#define OPF_RESERVE 0x1u /* may use the map's reserve */

struct op {
	store_op_fn fn;
	void *arg;
	store_release_fn release; /* NULL: the caller never gives up once taken */
	store_done_fn done;       /* store_submit_async: told the outcome, once */
	void *ctx;                /* done's argument */
	int64_t deadline;         /* monotonic ms: the caller's answer is due */
	int rc;
	unsigned flags; /* OPF_*; written by the writer while the op runs */
	enum op_state state;
	int abandoned;  /* its caller was told TIMEOUT/UNKNOWN: release it */
	uint64_t txnid; /* OP_COMMITTED: the commit it must wait for */
	struct op *next;
	/* store_submit_async_in: the op's memory is the caller's, given back
	 * with put(put_ctx) instead of free() */
	void (*put)(void *);
	void *put_ctx;
};

/* The store is done with o: nothing touches it after this. */
static void op_free(struct op *o)
{
	void (*put)(void *) = o->put;
	void *ctx = o->put_ctx;

	if (put != NULL)
		put(ctx);
	else
		free(o);
}

/* How much of the map is left, measured by the writer before each batch. */
enum zone {
	ZONE_OK,   /* more than the reserve plus a full batch's worth */
	ZONE_NEAR, /* close to the reserve: one operation per batch */
	ZONE_LOW,  /* only the reserve is left: ordinary operations get STORE_FULL */
};

/* A generous bound on the pages one operation adds (a 64 KiB body sealed,
 * its indexes, its audit event, the copied branch pages). Within
 * STORE_MAX_BATCH * STORE_OP_PAGES pages of the reserve, batches shrink to
 * one operation, so ordinary work never eats into the reserve by more than
 * one operation's worth. */
#define STORE_OP_PAGES 64

struct store {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	char dir[4096];
	int queue_timeout_ms;
	size_t reserve_pages;

	pthread_t writer;
	pthread_t watcher; /* answers overdue async operations (see watcher_main) */
	pthread_t syncer;  /* makes commits durable (see syncer_main) */
	pthread_mutex_t mu;
	pthread_cond_t work_cv;    /* writer waits for work */
	pthread_cond_t done_cv;    /* callers wait for their op */
	pthread_cond_t watch_cv;   /* the watcher sleeps on it */
	pthread_cond_t sync_cv;    /* the syncer waits for a commit to sync */
	pthread_cond_t durable_cv; /* readers wait for their snapshot to be durable */
	struct op *head, *tail;
	struct op *cur[STORE_MAX_BATCH]; /* the batch being run (under mu) */
	int ncur;
	struct op *pend, *pend_tail; /* committed, waiting for durability (under mu) */
	uint64_t committed;          /* under mu: txn id of the last commit */
	uint64_t durable;            /* under mu: commits up to this id are durable */
	int sync_fd;                 /* data.mdb again: the syncer's own descriptor */
	int stopping;
	int watch_stop;
	int sync_stop;
	int started;
	enum zone zone; /* under mu (written by the writer) */
	int failed;     /* under mu: LMDB said MDB_PANIC, or a sync failed; no more writes */

	store_tick_fn tick;
	void *tick_arg;
	int64_t last_tick;

	unsigned char absent[DB_COUNT]; /* store_inspect: tables the copy lacks */

	struct store_stats stats; /* under mu */
	struct store_memo memo;   /* the last committed write's (writer thread only) */
};

struct store_txn {
	MDB_txn *txn;
	struct store *s;
	unsigned *opflags; /* the running operation's flags, or NULL */
	struct store_txn *parent;
	int writable;
	struct store_memo memo; /* see store_memo() */
};

struct store_cursor {
	MDB_cursor *c;
};

static int map_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return STORE_OK;
	case MDB_NOTFOUND:
		return STORE_NOTFOUND;
	case MDB_KEYEXIST:
		return STORE_EXISTS;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return STORE_FULL;
	default:
		return STORE_ERROR;
	}
}

/* A failure of the whole batch: full, or any other storage error. */
static int batch_err(int rc)
{
	return map_err(rc) == STORE_FULL ? STORE_FULL : STORE_ERROR;
}

static void cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

static void deadline_ts(struct timespec *ts, int64_t mono_ms)
{
	ts->tv_sec = (time_t)(mono_ms / 1000);
	ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

#ifdef RSVAULT_TESTING
/* Test builds only: while DATA/fault-stall exists the writer takes no work,
 * so the bounded wait of store_write() can be shown. */
static int fault_stalled(struct store *s)
{
	char p[4200];

	snprintf(p, sizeof p, "%s/fault-stall", s->dir);
	return access(p, F_OK) == 0;
}

/* Test builds only: the most rows (gets and cursor steps) that one writer
 * operation, one periodic tick or one read transaction visited, so a test
 * can show that none of them grows with the number of stored rows. */
static _Thread_local int64_t rows_seen;
METRIC_GAUGE(m_rows_op, "rsvault_test_store_op_rows_max",
             "Most rows one writer operation visited (test builds)")
METRIC_GAUGE(m_rows_tick, "rsvault_test_store_tick_rows_max",
             "Most rows one periodic tick visited (test builds)")
METRIC_GAUGE(m_rows_read, "rsvault_test_store_read_rows_max",
             "Most rows one read transaction visited (test builds)")
static void rows_max(struct metric *m)
{
	int64_t old = atomic_load(&m->value);

	while (rows_seen > old && !atomic_compare_exchange_weak(&m->value, &old, rows_seen))
		;
}
#define ROWS_START() (rows_seen = 0)
#define ROWS_SEEN() (rows_seen++)
#define ROWS_END(m) rows_max(m)
#else
#define ROWS_START() ((void)0)
#define ROWS_SEEN() ((void)0)
#define ROWS_END(m) ((void)0)
#endif

/* Group commit, as a scrape sees it (GET /v1/metrics). */
static const double commit_batch_b[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
static const double commit_secs_b[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
                                       0.05,   0.1,   0.25,  0.5,   1,    2.5};
METRIC_HISTOGRAM(m_commit_batch, "rsvault_store_commit_batch_size",
                 "Operations per commit of the writer", commit_batch_b)
METRIC_HISTOGRAM(m_commit_seconds, "rsvault_store_commit_duration_seconds",
                 "Time to run and commit one batch (its data pages synced; the meta page's "
                 "sync is rsvault_store_sync_duration_seconds)",
                 commit_secs_b)
METRIC_COUNTER(m_commit_failed, "rsvault_store_commit_failures_total",
               "Batches whose commit failed (their requests were answered 503)")
METRIC_HISTOGRAM(m_sync_seconds, "rsvault_store_sync_duration_seconds",
                 "Time of one fdatasync of the syncer, which makes the commits before it "
                 "durable",
                 commit_secs_b)
METRIC_COUNTER(m_sync_failed, "rsvault_store_sync_failures_total",
               "Syncs that failed (the store then refuses writes until a restart)")

/* Mark the store failed (mu held): no more writes, the syncer stops, and
 * whatever still waits for durability is answered "outcome unknown"
 * (take_pending). */
static void set_failed(struct store *s, const char *why)
{
	if (!s->failed)
		log_msg("store: %s in %s: refusing every write until the server is restarted", why,
		        s->dir);
	s->failed = 1;
	pthread_cond_broadcast(&s->durable_cv);
	pthread_cond_signal(&s->sync_cv);
}

/* Unlink from the pending list the operations that may be answered now
 * (mu held): those whose commit is durable, or all of them once the store
 * failed; an operation that changed something and whose commit was not
 * known durable then gets STORE_UNKNOWN. Returns them as a list. */
static struct op *take_pending(struct store *s)
{
	struct op *list = NULL, **tail = &list;

	while (s->pend != NULL && (s->failed || s->pend->txnid <= s->durable)) {
		struct op *o = s->pend;
		s->pend = o->next;
		if (o->txnid > s->durable && o->rc == 0)
			o->rc = STORE_UNKNOWN;
		o->next = NULL;
		*tail = o;
		tail = &o->next;
	}
	if (s->pend == NULL)
		s->pend_tail = NULL;
	return list;
}

/* Tell the operations of list their outcome (mu held; dropped for the
 * callbacks and taken again). A waiting caller is woken and frees its op;
 * an async one is told through done; one whose caller gave up is released.
 * STORE_UNKNOWN for an async caller: done is told, then arg released (it
 * is the store's, as after the watcher's STORE_UNKNOWN). */
static void finish_ops(struct store *s, struct op *list)
{
	struct op *gone = NULL, *told = NULL;

	if (list == NULL)
		return;
	while (list != NULL) {
		struct op *o = list;
		list = o->next;
		if (o->abandoned) {
			if (o->state == OP_TAKEN)
				o->rc = STORE_TIMEOUT; /* it never started */
			/* its caller has left: the op is ours to release */
			s->stats.abandoned++;
			o->next = gone;
			gone = o;
		} else if (o->done != NULL) {
			o->next = told;
			told = o;
		}
		o->state = OP_DONE; /* a waiting caller's op is its own from now on */
	}
	pthread_cond_broadcast(&s->done_cv);
	if (gone == NULL && told == NULL)
		return;
	pthread_mutex_unlock(&s->mu);
	while (told != NULL) {
		struct op *o = told;
		/* never STORE_TIMEOUT here: that means "never ran", and this
		 * op is finished */
		int rc = o->rc == STORE_TIMEOUT ? STORE_ERROR : o->rc;
		told = o->next;
		o->done(o->ctx, rc);
		if (rc == STORE_UNKNOWN)
			o->release(o->arg, rc);
		op_free(o);
	}
	while (gone != NULL) {
		struct op *o = gone;
		gone = o->next;
		o->release(o->arg, o->rc);
		op_free(o);
	}
	pthread_mutex_lock(&s->mu);
}

/* After a failed begin or commit: LMDB marks the environment unusable
 * (MDB_PANIC from every later transaction) when writing a meta page failed,
 * since it can no longer tell which meta is on disk. A failed data write or
 * fdatasync leaves it usable: the meta still names the last commit (but
 * see after_commit: not when an earlier meta page was not yet synced). */
static void check_fatal(struct store *s, int rc)
{
	MDB_txn *t;

	if (rc != MDB_PANIC) {
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t);
		if (rc == MDB_SUCCESS) {
			mdb_txn_abort(t);
			return;
		}
	}
	if (rc != MDB_PANIC)
		return;
	pthread_mutex_lock(&s->mu);
	set_failed(s, "LMDB reports a fatal error");
	finish_ops(s, take_pending(s));
	pthread_mutex_unlock(&s->mu);
}

/* The writer after a top-level commit (ops, n: its batch; none for the
 * periodic job), rc what mdb_txn_commit returned.
 *
 * Committed: the environment runs with MDB_NOMETASYNC, so the commit wrote
 * its data pages, synced them, and then wrote its meta page without a
 * sync. Its operations wait (OP_COMMITTED, the pending list) for a sync
 * that starts after it returned: the syncer's, or the next commit's own
 * data sync (which is why this commit makes the one before it durable).
 * Only a commit that wrote anything advances LMDB's txn id; an empty one
 * synced nothing, and its operations wait for the last commit's id.
 *
 * Failed with an I/O error (rc > 0: a write or fdatasync) while an earlier
 * commit was not yet durable: that fdatasync may have been the one to
 * learn that the earlier meta page never reached the disk, and LMDB's next
 * commits would build on it (it reuses the pages the meta before it still
 * names). So the store gives up as after a failed meta write. With every
 * commit durable it is LMDB's own case: the batch is dropped and the next
 * one tries again. */
static void after_commit(struct store *s, int rc, struct op **ops, int n)
{
	MDB_envinfo ei;
	uint64_t id = 0;
	struct op *failed = NULL;
	int absorb = 0;

	if (rc == MDB_SUCCESS && mdb_env_info(s->env, &ei) != MDB_SUCCESS) {
		/* cannot tell which commit this was, so cannot tell when it is
		 * durable: answer nothing as done (LMDB fails here only for
		 * NULL arguments; fail closed all the same) */
		pthread_mutex_lock(&s->mu);
		set_failed(s, "the commit's transaction id cannot be read");
		for (int i = 0; i < n; i++)
			if (ops[i]->rc == 0)
				ops[i]->rc = STORE_UNKNOWN; /* committed, maybe not durable */
		pthread_mutex_unlock(&s->mu);
		rc = MDB_PANIC; /* below: answered at once, as failed */
	} else if (rc == MDB_SUCCESS) {
		id = (uint64_t)ei.me_last_txnid;
	}
	pthread_mutex_lock(&s->mu);
	if (n > 0)
		s->ncur = 0; /* the watcher finds them on the pending list now */
	if (rc == MDB_SUCCESS) {
		if (id > s->committed) {
			if (s->committed > s->durable)
				s->durable = s->committed;
			s->committed = id;
			pthread_cond_broadcast(&s->durable_cv);
			pthread_cond_signal(&s->sync_cv);
		}
		for (int i = 0; i < n; i++) {
			struct op *o = ops[i];
			if (o->state != OP_TAKEN)
				o->state = OP_COMMITTED;
			o->txnid = s->committed;
			o->next = NULL;
			if (s->pend_tail != NULL)
				s->pend_tail->next = o;
			else
				s->pend = o;
			s->pend_tail = o;
		}
	} else {
		if (rc > 0 && s->committed > s->durable)
			set_failed(s, "a commit failed while an earlier one was not yet durable");
		else if (rc > 0)
			absorb = 1;
		for (int i = n - 1; i >= 0; i--) {
			ops[i]->next = failed;
			failed = ops[i];
		}
	}
	finish_ops(s, take_pending(s));
	finish_ops(s, failed);
	pthread_mutex_unlock(&s->mu);
	/* Everything before this commit is durable and the syncer is idle
	 * (only this thread commits): a write-back error this failure may
	 * have left is taken off the syncer's descriptor here, so that its
	 * next sync reports only errors after this point. */
	if (absorb)
		(void)fdatasync(s->sync_fd);
}

/* Pages left: unused map pages past the last one ever used, plus the
 * pages on LMDB's free list (counted only when needed, and only until
 * `enough` is reached, so the scan stays short). Writer thread only. */
static size_t room_pages(struct store *s, size_t total, size_t enough)
{
	MDB_envinfo ei;
	MDB_txn *t;
	MDB_cursor *c;
	MDB_val k, v;
	size_t room, used;

	if (mdb_env_info(s->env, &ei) != MDB_SUCCESS)
		return 0;
	used = (size_t)ei.me_last_pgno + 1;
	room = total > used ? total - used : 0;
	if (room >= enough)
		return room;
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t) != MDB_SUCCESS)
		return room;
	/* dbi 0 is LMDB's free list: key txn id, value a count then ids */
	if (mdb_cursor_open(t, 0, &c) == MDB_SUCCESS) {
		while (room < enough && mdb_cursor_get(c, &k, &v, MDB_NEXT) == MDB_SUCCESS) {
			size_t n;
			if (v.mv_size < sizeof n)
				continue;
			memcpy(&n, v.mv_data, sizeof n);
			room += n;
		}
		mdb_cursor_close(c);
	}
	mdb_txn_abort(t);
	return room;
}

/* Measure the room left; *max (if not NULL) is how many operations the
 * next batch may hold: as many as fit above the reserve at STORE_OP_PAGES
 * each, at least one, at most STORE_MAX_BATCH. */
static enum zone measure(struct store *s, int *max)
{
	MDB_envinfo ei;
	MDB_stat st;
	size_t total, margin = (size_t)STORE_MAX_BATCH * STORE_OP_PAGES, room;
	enum zone z;

	if (mdb_env_info(s->env, &ei) != MDB_SUCCESS || mdb_env_stat(s->env, &st) != MDB_SUCCESS ||
	    st.ms_psize == 0)
		return ZONE_LOW;
	total = ei.me_mapsize / st.ms_psize;
	if (s->reserve_pages == 0) {
		size_t r = total / 100 * STORE_RESERVE_PERCENT,
		       min = STORE_RESERVE_MIN_BYTES / st.ms_psize;
		if (r < min)
			r = min;
		if (r > total / 4)
			r = total / 4;
		s->reserve_pages = r > 0 ? r : 1;
	}
	room = room_pages(s, total, s->reserve_pages + margin);
	z = room < s->reserve_pages            ? ZONE_LOW
	    : room < s->reserve_pages + margin ? ZONE_NEAR
	                                       : ZONE_OK;
	if (max != NULL) {
		size_t fit = z == ZONE_LOW ? 1 : (room - s->reserve_pages) / STORE_OP_PAGES;
		*max = fit < 1 ? 1 : fit > STORE_MAX_BATCH ? STORE_MAX_BATCH : (int)fit;
	}
	pthread_mutex_lock(&s->mu);
	if (z != s->zone) {
		if (z == ZONE_LOW)
			log_msg(
			    "store: %zu pages left of %zu, the reserve is %zu: refusing ordinary "
			    "writes",
			    room, total, s->reserve_pages);
		else if (s->zone == ZONE_LOW)
			log_msg("store: %zu pages left of %zu: ordinary writes accepted again",
			        room, total);
		s->zone = z;
	}
	pthread_mutex_unlock(&s->mu);
	return z;
}

/* Run one batch in one write transaction and commit it (not yet durable:
 * see after_commit, which the caller runs). Returns 0 if it committed,
 * -1 if it could not begin, else what the commit returned. */
static int run_batch(struct store *s, struct op **ops, int n, enum zone zone)
{
	struct store_txn top = {.s = s, .writable = 1, .memo = s->memo};
	int rc, refused = 0;

	rc = mdb_txn_begin(s->env, NULL, 0, &top.txn);
	if (rc != MDB_SUCCESS) {
		log_msg("store: begin: %s", mdb_strerror(rc));
		for (int i = 0; i < n; i++)
			ops[i]->rc = STORE_ERROR;
		check_fatal(s, rc);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct op *o = ops[i];
		struct store_txn child = {
		    .s = s, .opflags = &o->flags, .parent = &top, .writable = 1, .memo = top.memo};
		int skip;

		/* An operation whose caller already gave up (and was told that
		 * nothing changed) is not started. */
		pthread_mutex_lock(&s->mu);
		skip = o->abandoned;
		if (!skip)
			o->state = OP_RUNNING;
		pthread_mutex_unlock(&s->mu);
		if (skip) {
			o->rc = STORE_TIMEOUT;
			continue;
		}
		rc = mdb_txn_begin(s->env, top.txn, 0, &child.txn);
		if (rc != MDB_SUCCESS) {
			o->rc = batch_err(rc);
			continue;
		}
		ROWS_START();
		o->rc = o->fn(&child, o->arg);
		ROWS_END(&m_rows_op);
		if (o->rc == 0 && zone == ZONE_LOW && !(o->flags & OPF_RESERVE)) {
			/* keep the reserve for audit-only and staff work */
			mdb_txn_abort(child.txn);
			o->rc = STORE_FULL;
			refused++;
		} else if (o->rc == 0) {
			rc = mdb_txn_commit(child.txn); /* frees child.txn either way */
			if (rc != MDB_SUCCESS)
				o->rc = batch_err(rc);
			else
				top.memo = child.memo;
		} else {
			mdb_txn_abort(child.txn);
		}
	}
	rc = mdb_txn_commit(top.txn); /* one commit for the batch */
	pthread_mutex_lock(&s->mu);
	s->stats.refused += (uint64_t)refused;
	pthread_mutex_unlock(&s->mu);
	s->memo = rc == MDB_SUCCESS ? top.memo : (struct store_memo){0};
	if (rc != MDB_SUCCESS) {
		log_msg("store: commit of %d operations failed: %s", n, mdb_strerror(rc));
		for (int i = 0; i < n; i++)
			if (ops[i]->rc == 0)
				ops[i]->rc = batch_err(rc);
		check_fatal(s, rc);
		return rc == 0 ? -1 : rc;
	}
	return 0;
}

/* fn and arg: s->tick and s->tick_arg as the writer read them under mu
 * (store_set_tick may come after the writer started). */
static void run_tick(struct store *s, store_tick_fn fn, void *arg)
{
	struct store_txn t = {.s = s, .writable = 1, .memo = s->memo};
	int rc;

	if (fn == NULL)
		return;
	measure(s, NULL); /* keeps the health report current while idle */
	rc = mdb_txn_begin(s->env, NULL, 0, &t.txn);
	if (rc != MDB_SUCCESS) {
		check_fatal(s, rc);
		return;
	}
	/* the sweeper destroys data and the checkpoints are audit work: both
	 * may use the reserve */
	ROWS_START();
	rc = fn(&t, arg);
	ROWS_END(&m_rows_tick);
	if (rc != 0) {
		mdb_txn_abort(t.txn);
		return;
	}
	rc = mdb_txn_commit(t.txn);
	s->memo = rc == MDB_SUCCESS ? t.memo : (struct store_memo){0};
	if (rc != MDB_SUCCESS) {
		log_msg("store: periodic commit failed: %s", mdb_strerror(rc));
		check_fatal(s, rc);
	}
	after_commit(s, rc, NULL, 0);
}

static void *writer_main(void *arg)
{
	struct store *s = arg;
	struct op *batch[STORE_MAX_BATCH];

	pthread_mutex_lock(&s->mu);
	for (;;) {
		int n = 0, max = STORE_MAX_BATCH, rc;
		int64_t now = util_mono_ms(), t0;
		enum zone zone;

		if (now - s->last_tick >= STORE_TICK_MS) {
			s->last_tick = now;
			if (!s->failed) {
				store_tick_fn tick = s->tick;
				void *tick_arg = s->tick_arg;
				pthread_mutex_unlock(&s->mu);
				run_tick(s, tick, tick_arg);
				pthread_mutex_lock(&s->mu);
			}
			continue;
		}
#ifdef RSVAULT_TESTING
		if (fault_stalled(s)) {
			pthread_mutex_unlock(&s->mu);
			usleep(20000);
			pthread_mutex_lock(&s->mu);
			continue;
		}
#endif
		if (s->head == NULL) {
			struct timespec ts;
			if (s->stopping)
				break;
			deadline_ts(&ts, s->last_tick + STORE_TICK_MS);
			pthread_cond_timedwait(&s->work_cv, &s->mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		zone = measure(s, &max);
		pthread_mutex_lock(&s->mu);
		while (s->head != NULL && n < max) {
			struct op *o = s->head;
			s->head = o->next;
			if (s->head == NULL)
				s->tail = NULL;
			o->state = OP_TAKEN;
			o->next = NULL;
			batch[n++] = o;
		}
		if (n == 0)
			continue; /* their callers gave up meanwhile */
		if (s->failed) {
			/* queued before the store failed: never run */
			struct op *list = NULL;
			for (int i = n - 1; i >= 0; i--) {
				batch[i]->rc = STORE_ERROR;
				batch[i]->next = list;
				list = batch[i];
			}
			finish_ops(s, list);
			continue;
		}
		memcpy(s->cur, batch, (size_t)n * sizeof batch[0]);
		s->ncur = n; /* the watcher's to see */
		pthread_mutex_unlock(&s->mu);
		t0 = metrics_now_us();
		rc = run_batch(s, batch, n, zone);
		if (rc == 0) {
			metrics_observe(&m_commit_seconds, (double)(metrics_now_us() - t0) / 1e6);
			metrics_observe(&m_commit_batch, (double)n);
		} else {
			metrics_add(&m_commit_failed, 1);
		}
		pthread_mutex_lock(&s->mu);
		if (rc == 0) {
			s->stats.commits++;
			s->stats.ops += (uint64_t)n;
			if ((uint64_t)n > s->stats.max_batch)
				s->stats.max_batch = (uint64_t)n;
		}
		pthread_mutex_unlock(&s->mu);
		after_commit(s, rc, batch, n);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* The syncer: while a commit is not yet durable, one fdatasync of the data
 * file, through a descriptor of its own (see store_open), covering every
 * commit that returned before it started; their operations are then
 * answered. Several commits share a sync when they came while it ran. A
 * failed sync fails the store (set_failed): LMDB's next commits would
 * reuse pages that the meta page before the unsynced one still names. */
static void *syncer_main(void *arg)
{
	struct store *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		uint64_t target;
		int64_t t0;
		int rc, err;

		if (s->failed || s->committed <= s->durable) {
			if (s->sync_stop)
				break;
			pthread_cond_wait(&s->sync_cv, &s->mu);
			continue;
		}
		target = s->committed;
		pthread_mutex_unlock(&s->mu);
		t0 = metrics_now_us();
		rc = fdatasync(s->sync_fd);
		err = errno;
		metrics_observe(&m_sync_seconds, (double)(metrics_now_us() - t0) / 1e6);
		pthread_mutex_lock(&s->mu);
		if (rc == 0) {
			if (target > s->durable)
				s->durable = target;
			pthread_cond_broadcast(&s->durable_cv);
		} else {
			log_msg("store: fdatasync of committed work failed: %s", strerror(err));
			metrics_add(&m_sync_failed, 1);
			set_failed(s, "a sync of committed work failed");
		}
		finish_ops(s, take_pending(s));
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* The watcher keeps the time bound of async operations (store_submit_async)
 * while the writer is busy, even inside a commit that takes seconds: an
 * operation still queued at its deadline is unlinked (it never runs) and
 * its caller told STORE_TIMEOUT; one the writer has taken is marked
 * abandoned and its caller told STORE_TIMEOUT (not started yet: the writer
 * will skip it) or STORE_UNKNOWN (running or committing); the writer then
 * releases it when its batch ends. Deadlines follow the queue's order (one
 * timeout for all, set under the lock), so the scan of the queue stops at
 * the first operation not yet due. */
/* What the watcher tells an async caller, outside the lock. */
struct told {
	store_done_fn done;
	void *ctx;
	int rc;
};

/* An operation in flight (mu held): if its answer is due, mark it
 * abandoned, fill *t and return 1; else lower *next to its deadline. */
static int overdue(struct op *o, int64_t now, int64_t *next, struct told *t)
{
	if (o->done == NULL || o->abandoned)
		return 0;
	if (o->deadline > now) {
		if (o->deadline < *next)
			*next = o->deadline;
		return 0;
	}
	o->abandoned = 1;
	t->done = o->done;
	t->ctx = o->ctx;
	t->rc = o->state == OP_TAKEN ? STORE_TIMEOUT : STORE_UNKNOWN;
	return 1;
}

static void *watcher_main(void *arg)
{
	struct store *s = arg;
	struct told told[STORE_MAX_BATCH];

	pthread_mutex_lock(&s->mu);
	while (!s->watch_stop) {
		int64_t now = util_mono_ms(), next = now + s->queue_timeout_ms;
		struct op *expired = NULL, **pp = &s->head, *prev = NULL;
		int nt = 0;
		struct timespec ts;

		while (*pp != NULL) {
			struct op *o = *pp;
			if (o->done == NULL) { /* a waiting caller keeps its own time */
				prev = o;
				pp = &o->next;
				continue;
			}
			if (o->deadline > now) {
				next = o->deadline;
				break;
			}
			*pp = o->next;
			if (s->tail == o)
				s->tail = prev;
			o->next = expired;
			expired = o;
		}
		/* the batch being run, then the committed ones waiting for a
		 * sync (at most STORE_MAX_BATCH told at a time: the loop comes
		 * back for the rest) */
		for (int i = 0; i < s->ncur && nt < STORE_MAX_BATCH; i++)
			nt += overdue(s->cur[i], now, &next, &told[nt]);
		for (struct op *o = s->pend; o != NULL && nt < STORE_MAX_BATCH; o = o->next)
			nt += overdue(o, now, &next, &told[nt]);
		if (expired != NULL || nt > 0) {
			/* o of told[] may be released by the store from now on:
			 * only the copies are used */
			pthread_mutex_unlock(&s->mu);
			for (int i = 0; i < nt; i++)
				told[i].done(told[i].ctx, told[i].rc);
			while (expired != NULL) {
				struct op *o = expired;
				expired = o->next;
				o->done(o->ctx, STORE_TIMEOUT);
				o->release(o->arg, STORE_TIMEOUT);
				op_free(o);
			}
			pthread_mutex_lock(&s->mu);
			continue;
		}
		deadline_ts(&ts, next);
		pthread_cond_timedwait(&s->watch_cv, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static int open_tables(struct store *s, int *created)
{
	MDB_txn *txn;
	MDB_val k = {.mv_size = 6, .mv_data = "schema"}, v;
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != MDB_SUCCESS)
		return map_err(rc);
	for (int i = 0; i < DB_COUNT; i++) {
		if ((rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i])) != MDB_SUCCESS) {
			mdb_txn_abort(txn);
			return map_err(rc);
		}
	}
	rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		*created = 1;
		v.mv_size = 1;
		v.mv_data = "1";
		if ((rc = mdb_put(txn, s->dbi[DB_META], &k, &v, 0)) != MDB_SUCCESS) {
			mdb_txn_abort(txn);
			return map_err(rc);
		}
	} else if (rc != MDB_SUCCESS) {
		mdb_txn_abort(txn);
		return map_err(rc);
	} else if (v.mv_size != 1 || ((const char *)v.mv_data)[0] != '1') {
		log_msg("store: unknown schema version in %s", s->dir);
		mdb_txn_abort(txn);
		return STORE_ERROR;
	}
	return map_err(mdb_txn_commit(txn));
}

/* The syncer's descriptor: data.mdb opened again (read-only is enough for
 * fdatasync), the file LMDB maps. Its own open file description, so that
 * Linux reports a write-back error to its fdatasync even when the writer's
 * commit, which syncs through LMDB's descriptor, saw it first (errors are
 * reported once per open file). Returns the descriptor or -1. */
static int open_sync_fd(struct store *s)
{
	char p[4200];
	struct stat a, b;
	mdb_filehandle_t mfd;
	int fd;

	snprintf(p, sizeof p, "%s/data.mdb", s->dir);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
		log_msg("store: cannot open %s: %s", p, strerror(errno));
		return -1;
	}
	if (mdb_env_get_fd(s->env, &mfd) != MDB_SUCCESS || fstat(mfd, &a) != 0 ||
	    fstat(fd, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		log_msg("store: %s is not the file LMDB opened", p);
		close(fd);
		return -1;
	}
	return fd;
}

/* Stop the syncer once every commit is durable (or the store failed). */
static void stop_syncer(struct store *s)
{
	pthread_mutex_lock(&s->mu);
	s->sync_stop = 1;
	pthread_cond_signal(&s->sync_cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->syncer, NULL);
}

int store_open(const char *dir, size_t mapsize, int queue_timeout_ms, struct store **out,
               int *created)
{
	struct store *s;
	MDB_envinfo ei;
	int rc, dead = 0;

	*created = 0;
	if ((s = calloc(1, sizeof *s)) == NULL)
		return STORE_ERROR;
	if (snprintf(s->dir, sizeof s->dir, "%s", dir) >= (int)sizeof s->dir)
		goto fail;
	s->queue_timeout_ms = queue_timeout_ms;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_msg("store: cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((rc = mdb_env_create(&s->env)) != MDB_SUCCESS)
		goto fail;
	if (mdb_env_set_maxdbs(s->env, DB_COUNT + 4) != MDB_SUCCESS ||
	    mdb_env_set_mapsize(s->env, mapsize) != MDB_SUCCESS)
		goto fail_env;
	/* MDB_NOMETASYNC: a commit syncs its data pages, then writes its meta
	 * page without waiting for the disk; the syncer makes it durable
	 * while the writer runs the next batch (docs/architecture.md,
	 * "Durability: pipelined syncs"). */
	if ((rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0600)) != MDB_SUCCESS) {
		log_msg("store: cannot open %s: %s", dir, mdb_strerror(rc));
		goto fail_env;
	}
	if ((s->sync_fd = open_sync_fd(s)) < 0)
		goto fail_env;
	mdb_reader_check(s->env, &dead);
	if ((rc = open_tables(s, created)) != STORE_OK) {
		log_msg("store: cannot open tables in %s", dir);
		goto fail_fd;
	}
	if (fdatasync(s->sync_fd) != 0 || mdb_env_info(s->env, &ei) != MDB_SUCCESS) {
		log_msg("store: cannot sync %s: %s", dir, strerror(errno));
		goto fail_fd;
	}
	s->committed = s->durable = (uint64_t)ei.me_last_txnid;
	pthread_mutex_init(&s->mu, NULL);
	cond_init_mono(&s->work_cv);
	cond_init_mono(&s->done_cv);
	cond_init_mono(&s->watch_cv);
	cond_init_mono(&s->sync_cv);
	cond_init_mono(&s->durable_cv);
	s->last_tick = util_mono_ms();
	if (pthread_create(&s->syncer, NULL, syncer_main, s) != 0)
		goto fail_fd;
	if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
		stop_syncer(s);
		goto fail_fd;
	}
	if (pthread_create(&s->watcher, NULL, watcher_main, s) != 0) {
		pthread_mutex_lock(&s->mu);
		s->stopping = 1;
		pthread_cond_signal(&s->work_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->writer, NULL);
		stop_syncer(s);
		goto fail_fd;
	}
	s->started = 1;
	*out = s;
	return STORE_OK;
fail_fd:
	close(s->sync_fd);
fail_env:
	mdb_env_close(s->env);
fail:
	free(s);
	return STORE_ERROR;
}

int store_map_file(struct store *s, dev_t *dev, ino_t *ino)
{
	struct stat st;
	mdb_filehandle_t fd;

	if (mdb_env_get_fd(s->env, &fd) != MDB_SUCCESS || fstat(fd, &st) != 0)
		return STORE_ERROR;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return STORE_OK;
}

void store_set_tick(struct store *s, store_tick_fn fn, void *arg)
{
	pthread_mutex_lock(&s->mu);
	s->tick = fn;
	s->tick_arg = arg;
	pthread_mutex_unlock(&s->mu);
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		s->stopping = 1;
		pthread_cond_signal(&s->work_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->writer, NULL);
		/* the writer has run every queued operation; the syncer makes
		 * the last commits durable and answers them */
		stop_syncer(s);
		/* nothing is in flight any more */
		pthread_mutex_lock(&s->mu);
		s->watch_stop = 1;
		pthread_cond_signal(&s->watch_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->watcher, NULL);
		log_msg(
		    "store: %llu operations in %llu commits (largest batch %llu); %llu answered "
		    "before their commit, %llu refused to keep the reserve",
		    (unsigned long long)s->stats.ops, (unsigned long long)s->stats.commits,
		    (unsigned long long)s->stats.max_batch, (unsigned long long)s->stats.abandoned,
		    (unsigned long long)s->stats.refused);
	}
	mdb_env_close(s->env);
	close(s->sync_fd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->done_cv);
	pthread_cond_destroy(&s->watch_cv);
	pthread_cond_destroy(&s->sync_cv);
	pthread_cond_destroy(&s->durable_cv);
	free(s);
}

/* Unlink a queued op (caller holds mu). */
static void unqueue(struct store *s, struct op *o)
{
	struct op **pp = &s->head, *prev = NULL;

	while (*pp != o) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	*pp = o->next;
	if (s->tail == o)
		s->tail = prev;
}

/* o (zeroed) as a queued-to-be op. */
static void op_init(struct op *o, store_op_fn fn, void *arg, store_release_fn release,
                    unsigned flags, store_done_fn done, void *ctx)
{
	o->fn = fn;
	o->arg = arg;
	o->release = release;
	o->flags = flags;
	o->done = done;
	o->ctx = ctx;
	o->state = OP_QUEUED;
}

/* A new queued-to-be op (calloc'd), or NULL. */
static struct op *op_new(store_op_fn fn, void *arg, store_release_fn release, unsigned flags,
                         store_done_fn done, void *ctx)
{
	struct op *o = calloc(1, sizeof *o);

	if (o != NULL)
		op_init(o, fn, arg, release, flags, done, ctx);
	return o;
}

/* Take s->mu, append o to the queue and wake the writer: STORE_OK with
 * s->mu held. An asynchronous op (o->done set) gets its deadline under
 * the lock, so deadlines follow the queue's order. With the store
 * stopping or failed: returns STORE_ERROR, s->mu not held, o the
 * caller's. */
static int enqueue(struct store *s, struct op *o)
{
	pthread_mutex_lock(&s->mu);
	if (s->stopping || s->failed) {
		pthread_mutex_unlock(&s->mu);
		return STORE_ERROR;
	}
	if (o->done != NULL)
		o->deadline = util_mono_ms() + s->queue_timeout_ms;
	if (s->tail)
		s->tail->next = o;
	else
		s->head = o;
	s->tail = o;
	pthread_cond_signal(&s->work_cv);
	return STORE_OK;
}

static int submit(struct store *s, store_op_fn fn, void *arg, store_release_fn release,
                  unsigned flags)
{
	struct op *o;
	int64_t deadline = util_mono_ms() + s->queue_timeout_ms;
	struct timespec ts;
	int rc;

	if ((o = op_new(fn, arg, release, flags, NULL, NULL)) == NULL)
		return STORE_ERROR;
	if (enqueue(s, o) != STORE_OK) {
		free(o);
		return STORE_ERROR;
	}
	while (o->state != OP_DONE) {
		if (util_mono_ms() >= deadline) {
			if (o->state == OP_QUEUED) {
				/* Not taken in time: unlink it so it never runs. */
				unqueue(s, o);
				pthread_mutex_unlock(&s->mu);
				free(o);
				if (release != NULL)
					release(arg, STORE_TIMEOUT);
				return STORE_TIMEOUT;
			}
			if (release != NULL) {
				/* Taken: the writer may be running it or committing
				 * its batch. Leave it to the writer, which skips it
				 * if it has not started it yet and releases it. */
				rc = o->state == OP_TAKEN ? STORE_TIMEOUT : STORE_UNKNOWN;
				o->abandoned = 1;
				pthread_mutex_unlock(&s->mu);
				return rc;
			}
		}
		deadline_ts(&ts, o->state == OP_QUEUED || release != NULL ? deadline
		                                                          : util_mono_ms() + 1000);
		pthread_cond_timedwait(&s->done_cv, &s->mu, &ts);
	}
	rc = o->rc;
	pthread_mutex_unlock(&s->mu);
	free(o);
	if (rc == STORE_UNKNOWN) {
		/* committed, but its sync failed: the store gives arg up now
		 * (store_write: arg stays the caller's) */
		if (release != NULL)
			release(arg, STORE_UNKNOWN);
		return STORE_UNKNOWN;
	}
	/* "never ran": not for a finished op */
	return rc == STORE_TIMEOUT ? STORE_ERROR : rc;
}

int store_submit(struct store *s, store_op_fn fn, void *arg, store_release_fn release)
{
	if (release == NULL)
		return STORE_ERROR;
	return submit(s, fn, arg, release, 0);
}

int store_submit_async(struct store *s, store_op_fn fn, void *arg, store_release_fn release,
                       store_done_fn done, void *ctx)
{
	struct op *o;

	if (release == NULL || done == NULL || (o = op_new(fn, arg, release, 0, done, ctx)) == NULL)
		return STORE_ERROR;
	if (enqueue(s, o) != STORE_OK) {
		free(o);
		return STORE_ERROR;
	}
	pthread_mutex_unlock(&s->mu);
	return STORE_OK;
}

size_t store_op_size(void)
{
	return sizeof(struct op);
}

int store_submit_async_in(struct store *s, void *mem, void (*put)(void *), void *put_ctx,
                          store_op_fn fn, void *arg, store_release_fn release, store_done_fn done,
                          void *ctx)
{
	struct op *o = mem;

	if (mem == NULL || put == NULL || release == NULL || done == NULL)
		return STORE_ERROR;
	memset(o, 0, sizeof *o);
	op_init(o, fn, arg, release, 0, done, ctx);
	o->put = put;
	o->put_ctx = put_ctx;
	if (enqueue(s, o) != STORE_OK)
		return STORE_ERROR; /* put not called: mem is the caller's again */
	pthread_mutex_unlock(&s->mu);
	return STORE_OK;
}

int store_write(struct store *s, store_op_fn fn, void *arg)
{
	return submit(s, fn, arg, NULL, OPF_RESERVE);
}

void store_use_reserve(struct store_txn *t)
{
	if (t->opflags != NULL)
		*t->opflags |= OPF_RESERVE;
}

enum store_health store_health(struct store *s)
{
	enum store_health h;

	pthread_mutex_lock(&s->mu);
	h = s->failed             ? STORE_HEALTH_FAILED
	    : s->zone == ZONE_LOW ? STORE_HEALTH_LOW
	                          : STORE_HEALTH_OK;
	pthread_mutex_unlock(&s->mu);
	return h;
}

/* Wait until the commit with txn id `id` is durable, at most
 * queue_timeout_ms. Returns 0, or STORE_ERROR (the store failed first, or
 * time ran out). */
static int wait_durable(struct store *s, uint64_t id)
{
	int64_t deadline = util_mono_ms() + s->queue_timeout_ms;
	struct timespec ts;
	int rc = STORE_OK;

	pthread_mutex_lock(&s->mu);
	while (s->durable < id) {
		if (s->failed || util_mono_ms() >= deadline) {
			rc = STORE_ERROR;
			break;
		}
		deadline_ts(&ts, deadline);
		pthread_cond_timedwait(&s->durable_cv, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int read_txn(struct store *s, store_op_fn fn, void *arg, int durable)
{
	struct store_txn t = {.s = s};
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t.txn)) != MDB_SUCCESS)
		return map_err(rc);
	/* a read-only transaction's id is that of the commit it sees */
	if (durable && wait_durable(s, (uint64_t)mdb_txn_id(t.txn)) != STORE_OK) {
		mdb_txn_abort(t.txn);
		return STORE_ERROR;
	}
	ROWS_START();
	rc = fn(&t, arg);
	ROWS_END(&m_rows_read);
	mdb_txn_abort(t.txn);
	return rc;
}

int store_read(struct store *s, store_op_fn fn, void *arg)
{
	return read_txn(s, fn, arg, 1);
}

int store_read_fresh(struct store *s, store_op_fn fn, void *arg)
{
	return read_txn(s, fn, arg, 0);
}

int store_child_begin(struct store_txn *parent, struct store_txn **child)
{
	struct store_txn *c;
	int rc;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return STORE_ERROR;
	c->s = parent->s;
	c->opflags = parent->opflags;
	c->parent = parent;
	c->writable = parent->writable;
	c->memo = parent->memo;
	if ((rc = mdb_txn_begin(parent->s->env, parent->txn, 0, &c->txn)) != MDB_SUCCESS) {
		free(c);
		return map_err(rc);
	}
	*child = c;
	return STORE_OK;
}

int store_child_commit(struct store_txn *child)
{
	int rc = mdb_txn_commit(child->txn);

	if (rc == MDB_SUCCESS && child->parent != NULL)
		child->parent->memo = child->memo;
	free(child);
	return map_err(rc);
}

void store_child_abort(struct store_txn *child)
{
	mdb_txn_abort(child->txn);
	free(child);
}

struct store_memo *store_memo(struct store_txn *t)
{
	return t->writable ? &t->memo : NULL;
}

int store_get(struct store_txn *t, enum store_db db, const void *key, size_t klen, const void **val,
              size_t *vlen)
{
	MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, v;
	int rc;

	if (klen == 0 || klen > 511 || t->s->absent[db])
		return STORE_NOTFOUND;
	ROWS_SEEN();
	rc = mdb_get(t->txn, t->s->dbi[db], &k, &v);
	if (rc != MDB_SUCCESS)
		return map_err(rc);
	*val = v.mv_data;
	*vlen = v.mv_size;
	return STORE_OK;
}

int store_count(struct store_txn *t, enum store_db db, uint64_t *n)
{
	MDB_stat st;
	int rc;

	if ((rc = mdb_stat(t->txn, t->s->dbi[db], &st)) != MDB_SUCCESS)
		return map_err(rc);
	*n = (uint64_t)st.ms_entries;
	return STORE_OK;
}

int store_put(struct store_txn *t, enum store_db db, const void *key, size_t klen, const void *val,
              size_t vlen, unsigned flags)
{
	MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
	MDB_val v = {.mv_size = vlen, .mv_data = (void *)val};
	unsigned f = 0;

	if (klen == 0 || klen > 511)
		return STORE_ERROR;
	if (flags & STORE_NOOVERWRITE)
		f |= MDB_NOOVERWRITE;
	if (flags & STORE_APPEND)
		f |= MDB_APPEND;
	return map_err(mdb_put(t->txn, t->s->dbi[db], &k, &v, f));
}

int store_del(struct store_txn *t, enum store_db db, const void *key, size_t klen)
{
	MDB_val k = {.mv_size = klen, .mv_data = (void *)key};

	if (klen == 0 || klen > 511)
		return STORE_NOTFOUND;
	return map_err(mdb_del(t->txn, t->s->dbi[db], &k, NULL));
}

int store_cursor_open(struct store_txn *t, enum store_db db, struct store_cursor **c)
{
	struct store_cursor *cur;
	int rc;

	if (t->s->absent[db])
		return STORE_NOTFOUND;
	if ((cur = calloc(1, sizeof *cur)) == NULL)
		return STORE_ERROR;
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[db], &cur->c)) != MDB_SUCCESS) {
		free(cur);
		return map_err(rc);
	}
	*c = cur;
	return STORE_OK;
}

static int cursor_get(struct store_cursor *c, MDB_val *k, MDB_cursor_op op, const void **kp,
                      size_t *kl, const void **vp, size_t *vl)
{
	MDB_val v;
	int rc = mdb_cursor_get(c->c, k, &v, op);

	ROWS_SEEN();

	if (rc != MDB_SUCCESS)
		return map_err(rc);
	if (kp)
		*kp = k->mv_data;
	if (kl)
		*kl = k->mv_size;
	if (vp)
		*vp = v.mv_data;
	if (vl)
		*vl = v.mv_size;
	return STORE_OK;
}

int store_cursor_seek(struct store_cursor *c, const void *key, size_t klen, const void **k,
                      size_t *kl, const void **v, size_t *vl)
{
	MDB_val mk = {.mv_size = klen, .mv_data = (void *)key};

	if (klen == 0)
		return cursor_get(c, &mk, MDB_FIRST, k, kl, v, vl);
	if (klen > 511)
		return STORE_NOTFOUND;
	return cursor_get(c, &mk, MDB_SET_RANGE, k, kl, v, vl);
}

int store_cursor_next(struct store_cursor *c, const void **k, size_t *kl, const void **v,
                      size_t *vl)
{
	MDB_val mk;

	return cursor_get(c, &mk, MDB_NEXT, k, kl, v, vl);
}

int store_cursor_last(struct store_cursor *c, const void **k, size_t *kl, const void **v,
                      size_t *vl)
{
	MDB_val mk;

	return cursor_get(c, &mk, MDB_LAST, k, kl, v, vl);
}

void store_cursor_close(struct store_cursor *c)
{
	if (c == NULL)
		return;
	mdb_cursor_close(c->c);
	free(c);
}

int store_backup(struct store *s, int fd)
{
	MDB_envinfo ei;
	int rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);

	if (rc != MDB_SUCCESS) {
		log_msg("store: backup copy failed: %s", mdb_strerror(rc));
		return STORE_ERROR;
	}
	if (fsync(fd) != 0) {
		log_msg("store: backup copy cannot be synced: %s", strerror(errno));
		return STORE_ERROR;
	}
	/* The copy's snapshot is at most the last commit now: it is only a
	 * backup once that is durable (else a power loss could leave the
	 * copy holding events the store itself lost). */
	if (mdb_env_info(s->env, &ei) != MDB_SUCCESS ||
	    wait_durable(s, (uint64_t)ei.me_last_txnid) != STORE_OK) {
		log_msg("store: backup copy holds commits that could not be made durable");
		return STORE_ERROR;
	}
	return STORE_OK;
}

/* The tables of a copy: meta, audit and ticket_keys must be there (every
 * store has them); a table that a copy made by an earlier version lacks
 * reads as empty. */
static int inspect_tables(struct store *s, MDB_txn *txn)
{
	MDB_val k = {.mv_size = 6, .mv_data = "schema"}, v;
	int rc;

	for (int i = 0; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], 0, &s->dbi[i]);
		if (rc == MDB_NOTFOUND && i != DB_META && i != DB_AUDIT && i != DB_TICKET_KEYS)
			s->absent[i] = 1;
		else if (rc != MDB_SUCCESS)
			return STORE_ERROR;
	}
	if (mdb_get(txn, s->dbi[DB_META], &k, &v) != MDB_SUCCESS || v.mv_size != 1 ||
	    ((const char *)v.mv_data)[0] != '1')
		return STORE_ERROR;
	return STORE_OK;
}

int store_inspect(const char *path, store_op_fn fn, void *arg)
{
	struct store *s;
	struct store_txn t;
	int rc;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return STORE_ERROR;
	if (mdb_env_create(&s->env) != MDB_SUCCESS) {
		free(s);
		return STORE_ERROR;
	}
	rc = STORE_ERROR;
	if (mdb_env_set_maxdbs(s->env, DB_COUNT + 4) != MDB_SUCCESS ||
	    mdb_env_open(s->env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOTLS, 0600) !=
	        MDB_SUCCESS)
		goto out;
	memset(&t, 0, sizeof t);
	t.s = s;
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t.txn) != MDB_SUCCESS)
		goto out;
	if ((rc = inspect_tables(s, t.txn)) == STORE_OK)
		rc = fn(&t, arg);
	mdb_txn_abort(t.txn);
out:
	mdb_env_close(s->env);
	free(s);
	return rc;
}

void store_get_stats(struct store *s, struct store_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->stats;
	pthread_mutex_unlock(&s->mu);
}

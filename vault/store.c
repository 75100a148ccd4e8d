/* store.c - LMDB environment, tables, and the group-commit writer thread.
 * The only file that calls LMDB. */
#include "store.h"

#include <errno.h>
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
 * writer, running (fn called), done (the batch committed or failed). The
 * caller waits on done_cv; if it gives up first it sets abandoned, and from
 * then on the writer owns the op and its arg (see store_submit). */
enum op_state { OP_QUEUED, OP_TAKEN, OP_RUNNING, OP_DONE };

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
	int abandoned; /* its caller was told TIMEOUT/UNKNOWN: release it */
	struct op *next;
};

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
	pthread_mutex_t mu;
	pthread_cond_t work_cv;  /* writer waits for work */
	pthread_cond_t done_cv;  /* callers wait for their op */
	pthread_cond_t watch_cv; /* the watcher sleeps on it */
	struct op *head, *tail;
	struct op *cur[STORE_MAX_BATCH]; /* the batch being run (under mu) */
	int ncur;
	int stopping;
	int watch_stop;
	int started;
	enum zone zone; /* under mu (written by the writer) */
	int failed;     /* under mu: LMDB said MDB_PANIC; no more writes */

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

/* After a failed begin or commit: LMDB marks the environment unusable
 * (MDB_PANIC from every later transaction) when writing a meta page failed,
 * since it can no longer tell which meta is on disk. A failed data write or
 * fdatasync leaves it usable: the meta still names the last commit. */
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
	if (!s->failed)
		log_msg("store: LMDB reports a fatal error in %s: refusing every write until "
		        "the server is restarted",
		        s->dir);
	s->failed = 1;
	pthread_mutex_unlock(&s->mu);
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

/* Run one batch in one write transaction; returns 1 if it committed. */
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
		return 0;
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
	rc = mdb_txn_commit(top.txn); /* one durable commit for the batch */
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
		return 0;
	}
	return 1;
}

static void run_tick(struct store *s)
{
	struct store_txn t = {.s = s, .writable = 1, .memo = s->memo};
	int rc;

	if (s->tick == NULL)
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
	rc = s->tick(&t, s->tick_arg);
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
}

/* Group commit, as a scrape sees it (GET /v1/metrics). */
static const double commit_batch_b[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
static const double commit_secs_b[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
                                       0.05,   0.1,   0.25,  0.5,   1,    2.5};
METRIC_HISTOGRAM(m_commit_batch, "rsvault_store_commit_batch_size",
                 "Operations per durable commit of the writer", commit_batch_b)
METRIC_HISTOGRAM(m_commit_seconds, "rsvault_store_commit_duration_seconds",
                 "Time to run and durably commit one batch", commit_secs_b)
METRIC_COUNTER(m_commit_failed, "rsvault_store_commit_failures_total",
               "Batches whose commit failed (their requests were answered 503)")

static void *writer_main(void *arg)
{
	struct store *s = arg;
	struct op *batch[STORE_MAX_BATCH];

	pthread_mutex_lock(&s->mu);
	for (;;) {
		int n = 0, max = STORE_MAX_BATCH, ok;
		int64_t now = util_mono_ms(), t0;
		enum zone zone;
		struct op *gone = NULL, *told = NULL;

		if (now - s->last_tick >= STORE_TICK_MS) {
			s->last_tick = now;
			if (!s->failed) {
				pthread_mutex_unlock(&s->mu);
				run_tick(s);
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
			batch[n++] = o;
		}
		if (n == 0)
			continue; /* their callers gave up meanwhile */
		memcpy(s->cur, batch, (size_t)n * sizeof batch[0]);
		s->ncur = n; /* the watcher's to see */
		pthread_mutex_unlock(&s->mu);
		t0 = metrics_now_us();
		ok = run_batch(s, batch, n, zone);
		if (ok) {
			metrics_observe(&m_commit_seconds, (double)(metrics_now_us() - t0) / 1e6);
			metrics_observe(&m_commit_batch, (double)n);
		} else {
			metrics_add(&m_commit_failed, 1);
		}
		pthread_mutex_lock(&s->mu);
		s->ncur = 0;
		if (ok) {
			s->stats.commits++;
			s->stats.ops += (uint64_t)n;
			if ((uint64_t)n > s->stats.max_batch)
				s->stats.max_batch = (uint64_t)n;
		}
		for (int i = 0; i < n; i++) {
			struct op *o = batch[i];
			if (o->abandoned) {
				if (o->state == OP_TAKEN)
					o->rc = STORE_TIMEOUT; /* it never started */
				/* its caller has left: the op is ours to release */
				s->stats.abandoned++;
				o->next = gone;
				gone = o;
			} else if (o->done != NULL) {
				/* an async caller: told below, outside the lock */
				o->next = told;
				told = o;
			}
			o->state = OP_DONE;
		}
		pthread_cond_broadcast(&s->done_cv);
		if (gone != NULL || told != NULL) {
			pthread_mutex_unlock(&s->mu);
			while (told != NULL) {
				struct op *o = told;
				told = o->next;
				/* never STORE_TIMEOUT/UNKNOWN here: those mean "arg
				 * is the store's", and this op is finished */
				o->done(o->ctx, o->rc == STORE_TIMEOUT || o->rc == STORE_UNKNOWN
				                    ? STORE_ERROR
				                    : o->rc);
				free(o);
			}
			while (gone != NULL) {
				struct op *o = gone;
				gone = o->next;
				o->release(o->arg, o->rc);
				free(o);
			}
			pthread_mutex_lock(&s->mu);
		}
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
static void *watcher_main(void *arg)
{
	struct store *s = arg;
	struct told {
		store_done_fn done;
		void *ctx;
		int rc;
	} told[STORE_MAX_BATCH];

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
		for (int i = 0; i < s->ncur; i++) {
			struct op *o = s->cur[i];
			if (o->done == NULL || o->abandoned)
				continue;
			if (o->deadline > now) {
				if (o->deadline < next)
					next = o->deadline;
				continue;
			}
			o->abandoned = 1;
			told[nt].done = o->done;
			told[nt].ctx = o->ctx;
			told[nt].rc = o->state == OP_TAKEN ? STORE_TIMEOUT : STORE_UNKNOWN;
			nt++;
		}
		if (expired != NULL || nt > 0) {
			/* o of told[] may be released by the writer from now on:
			 * only the copies are used */
			pthread_mutex_unlock(&s->mu);
			for (int i = 0; i < nt; i++)
				told[i].done(told[i].ctx, told[i].rc);
			while (expired != NULL) {
				struct op *o = expired;
				expired = o->next;
				o->done(o->ctx, STORE_TIMEOUT);
				o->release(o->arg, STORE_TIMEOUT);
				free(o);
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

int store_open(const char *dir, size_t mapsize, int queue_timeout_ms, struct store **out,
               int *created)
{
	struct store *s;
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
	if ((rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600)) != MDB_SUCCESS) {
		log_msg("store: cannot open %s: %s", dir, mdb_strerror(rc));
		goto fail_env;
	}
	mdb_reader_check(s->env, &dead);
	if ((rc = open_tables(s, created)) != STORE_OK) {
		log_msg("store: cannot open tables in %s", dir);
		goto fail_env;
	}
	pthread_mutex_init(&s->mu, NULL);
	cond_init_mono(&s->work_cv);
	cond_init_mono(&s->done_cv);
	cond_init_mono(&s->watch_cv);
	s->last_tick = util_mono_ms();
	if (pthread_create(&s->writer, NULL, writer_main, s) != 0)
		goto fail_env;
	if (pthread_create(&s->watcher, NULL, watcher_main, s) != 0) {
		pthread_mutex_lock(&s->mu);
		s->stopping = 1;
		pthread_cond_signal(&s->work_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->writer, NULL);
		goto fail_env;
	}
	s->started = 1;
	*out = s;
	return STORE_OK;
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
		/* the writer has finished every queued operation: nothing is in
		 * flight any more */
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
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->done_cv);
	pthread_cond_destroy(&s->watch_cv);
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

/* A new queued-to-be op (calloc'd), or NULL. */
static struct op *op_new(store_op_fn fn, void *arg, store_release_fn release, unsigned flags,
                         store_done_fn done, void *ctx)
{
	struct op *o = calloc(1, sizeof *o);

	if (o == NULL)
		return NULL;
	o->fn = fn;
	o->arg = arg;
	o->release = release;
	o->flags = flags;
	o->done = done;
	o->ctx = ctx;
	o->state = OP_QUEUED;
	return o;
}

/* Take s->mu, append o to the queue and wake the writer: STORE_OK with
 * s->mu held. An asynchronous op (o->done set) gets its deadline under
 * the lock, so deadlines follow the queue's order. With the store
 * stopping or failed: frees o and returns STORE_ERROR, s->mu not held. */
static int enqueue(struct store *s, struct op *o)
{
	pthread_mutex_lock(&s->mu);
	if (s->stopping || s->failed) {
		pthread_mutex_unlock(&s->mu);
		free(o);
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
	if (enqueue(s, o) != STORE_OK)
		return STORE_ERROR;
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
	/* these two mean "arg is the store's now": never from a finished op */
	return rc == STORE_TIMEOUT || rc == STORE_UNKNOWN ? STORE_ERROR : rc;
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
	if (enqueue(s, o) != STORE_OK)
		return STORE_ERROR;
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

int store_read(struct store *s, store_op_fn fn, void *arg)
{
	struct store_txn t = {.s = s};
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t.txn)) != MDB_SUCCESS)
		return map_err(rc);
	ROWS_START();
	rc = fn(&t, arg);
	ROWS_END(&m_rows_read);
	mdb_txn_abort(t.txn);
	return rc;
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
	int rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);

	if (rc != MDB_SUCCESS) {
		log_msg("store: backup copy failed: %s", mdb_strerror(rc));
		return STORE_ERROR;
	}
	if (fsync(fd) != 0) {
		log_msg("store: backup copy cannot be synced: %s", strerror(errno));
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

/* api_keys.c - master-key versions and the rewrap (SPEC 8.4):
 * GET /v1/admin/keys, POST /v1/admin/rewrap, and the rewrap job.
 *
 * The rewrap is a background job (docs/decisions.md): the route marks it
 * started (DB_META "rewrap", so a restart resumes it) and wakes a thread
 * of its own, which submits one bounded batch at a time to the writer
 * (store_write), each batch its own operation with its own key.rewrap
 * event, so requests queue between batches and the API keeps serving. A
 * crash between batches loses nothing: every row is under the old or the
 * new version, both loaded, and the next start resumes the walk from the
 * beginning (rows already rewrapped are skipped). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api.h"
#include "audit.h"
#include "crypto.h"
#include "log.h"
#include "metrics.h"
#include "records.h"
#include "vault.h"
#include "wrapped.h"

#define REWRAP_SCAN 4096 /* rows looked at per batch */
#define REWRAP_MAX 128   /* rows rewrapped per batch */
#define REWRAP_META "rewrap"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int up, stop, running;
	uint64_t done, failed;
	struct vault *v;
	pthread_t th;
} J = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static double rewrap_running(void);
METRIC_COUNTER(m_rewrapped, "rsvault_rewrapped_total",
               "Wrapped values rewrapped to the current master-key version");
METRIC_GAUGE_FN(m_rewrap_running, "rsvault_rewrap_running", "1 while a rewrap job runs",
                rewrap_running);

struct batch {
	struct wrapped_pos pos;
	size_t rewrapped, failed;
	int finished;
};

static int batch_op(struct store_txn *t, void *arg)
{
	struct batch *b = arg;
	char target[16];
	int rc;

	if ((rc = wrapped_rewrap_batch(t, &b->pos, REWRAP_SCAN, REWRAP_MAX, &b->rewrapped,
	                               &b->failed, &b->finished)) != STORE_OK)
		return rc;
	store_use_reserve(t); /* staff work */
	if (b->rewrapped > 0) {
		snprintf(target, sizeof target, "%u", (unsigned)crypto_mk_current());
		if ((rc = audit_system_target(t, "key.rewrap", target)) != STORE_OK)
			return rc;
	}
	if (b->finished) {
		rc = store_del(t, DB_META, REWRAP_META, strlen(REWRAP_META));
		if (rc != STORE_OK && rc != STORE_NOTFOUND)
			return rc;
	}
	return STORE_OK;
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void *job(void *arg)
{
	struct batch b, *cur = sodium_malloc(sizeof *cur);
	int rc;

	(void)arg;
	if (cur == NULL) {
		log_msg("rewrap: cannot allocate; the rewrap job is off");
		return NULL;
	}
	memset(&b, 0, sizeof b);
	pthread_mutex_lock(&J.mu);
	for (;;) {
		while (!J.running && !J.stop)
			pthread_cond_wait(&J.cv, &J.mu);
		if (J.stop)
			break;
		pthread_mutex_unlock(&J.mu);
		*cur = b; /* a failed batch leaves b where it was */
		rc = store_write(J.v->store, batch_op, cur);
		pthread_mutex_lock(&J.mu);
		if (rc != STORE_OK) {
			pthread_mutex_unlock(&J.mu);
			log_msg("rewrap: a batch did not commit (%d); retrying in a second", rc);
			pause_ms(1000);
			pthread_mutex_lock(&J.mu);
			continue;
		}
		b.pos = cur->pos;
		J.done += cur->rewrapped;
		metrics_add(&m_rewrapped, (int64_t)cur->rewrapped);
		J.failed += cur->failed;
		if (cur->finished) {
			log_msg("rewrap: done: %llu value(s) rewrapped to master-key version %u, "
			        "%llu could not be opened",
			        (unsigned long long)J.done, (unsigned)crypto_mk_current(),
			        (unsigned long long)J.failed);
			J.running = 0;
			memset(&b, 0, sizeof b);
		}
	}
	pthread_mutex_unlock(&J.mu);
	sodium_free(cur);
	return NULL;
}

/* At start: is a rewrap to be resumed? And does the store hold values
 * under a version that is not loaded (a retired one: a restored backup
 * that needs it)? That is logged, once per version. */
static int resume_op(struct store_txn *t, void *arg)
{
	struct wrapped_count counts[WRAPPED_VERSIONS_MAX];
	uint32_t loaded[CRYPTO_MK_MAX];
	const void *v;
	size_t vl, n = 0, nl, i, j;
	uint64_t malformed = 0;
	int rc;

	*(int *)arg = store_get(t, DB_META, REWRAP_META, strlen(REWRAP_META), &v, &vl) == STORE_OK;
	if ((rc = wrapped_count(t, counts, WRAPPED_VERSIONS_MAX, &n, &malformed)) != STORE_OK)
		return rc;
	nl = crypto_mk_versions(loaded, CRYPTO_MK_MAX);
	for (i = 0; i < n; i++) {
		for (j = 0; j < nl && loaded[j] != counts[i].version; j++)
			;
		if (j == nl)
			log_msg(
			    "WARNING: %llu wrapped value(s) in the store (%llu ticket key(s)) need "
			    "master-key version %u, which is not in the key directory (retired?): "
			    "their tickets' credentials cannot be read until that version's file "
			    "is put back",
			    (unsigned long long)counts[i].all,
			    (unsigned long long)counts[i].ticket_keys, (unsigned)counts[i].version);
	}
	if (malformed > 0)
		log_msg("WARNING: %llu row(s) among the wrapped values are not wrapped values "
		        "(damage?)",
		        (unsigned long long)malformed);
	return STORE_OK;
}

static double rewrap_running(void)
{
	int r;

	pthread_mutex_lock(&J.mu);
	r = J.running;
	pthread_mutex_unlock(&J.mu);
	return r;
}

int rewrap_start(struct vault *v)
{
	int resume = 0;

	J.v = v;
	if (store_read(v->store, resume_op, &resume) != STORE_OK)
		return -1;
	if (pthread_create(&J.th, NULL, job, NULL) != 0) {
		log_msg("rewrap: cannot start the rewrap thread");
		return -1;
	}
	J.up = 1;
	if (resume) {
		log_msg("rewrap: a rewrap was running at the last stop; resuming it");
		pthread_mutex_lock(&J.mu);
		J.running = 1;
		pthread_cond_signal(&J.cv);
		pthread_mutex_unlock(&J.mu);
	}
	return 0;
}

void rewrap_stop(void)
{
	if (!J.up)
		return;
	pthread_mutex_lock(&J.mu);
	J.stop = 1;
	pthread_cond_signal(&J.cv);
	pthread_mutex_unlock(&J.mu);
	pthread_join(J.th, NULL);
	J.up = 0;
}

int api_admin_rewrap(struct req *r, struct store_txn *t)
{
	int rc, running;

	snprintf(r->a_target, sizeof r->a_target, "%u", (unsigned)crypto_mk_current());
	pthread_mutex_lock(&J.mu);
	running = J.running;
	pthread_mutex_unlock(&J.mu);
	if (running)
		return req_fail(r, 409, "conflict", "a rewrap is running already");
	if (!J.up)
		return req_fail(r, 503, "unavailable", "the rewrap job is not running");
	if ((rc = store_put(t, DB_META, REWRAP_META, strlen(REWRAP_META), "1", 1, 0)) != STORE_OK)
		return rc;
	/* Woken now, its first batch is queued behind this operation's commit. */
	pthread_mutex_lock(&J.mu);
	J.running = 1;
	J.done = 0;
	J.failed = 0;
	pthread_cond_signal(&J.cv);
	pthread_mutex_unlock(&J.mu);
	return req_ok(r, 202, json_pack("{s:b}", "started", 1));
}

int api_admin_keys(struct req *r, struct store_txn *t)
{
	struct wrapped_count counts[WRAPPED_VERSIONS_MAX];
	uint32_t loaded[CRYPTO_MK_MAX], cur = crypto_mk_current();
	size_t n = 0, nl, i, j;
	uint64_t malformed = 0, left = 0, done;
	json_t *versions, *o;
	int rc, running;

	if ((rc = wrapped_count(t, counts, WRAPPED_VERSIONS_MAX, &n, &malformed)) != STORE_OK)
		return rc;
	nl = crypto_mk_versions(loaded, CRYPTO_MK_MAX);
	versions = json_array();
	/* every loaded version, and any version the store names that is not */
	for (i = 0, j = 0; i < nl || j < n;) {
		uint32_t ver;
		uint64_t tk = 0, all = 0;
		int is_loaded;
		if (j >= n || (i < nl && loaded[i] <= counts[j].version)) {
			ver = loaded[i];
			is_loaded = 1;
			if (j < n && counts[j].version == ver) {
				tk = counts[j].ticket_keys;
				all = counts[j].all;
				j++;
			}
			i++;
		} else {
			ver = counts[j].version;
			tk = counts[j].ticket_keys;
			all = counts[j].all;
			is_loaded = 0;
			j++;
		}
		if (ver != cur)
			left += all;
		o = json_pack("{s:I, s:I, s:I, s:b, s:b}", "version", (json_int_t)ver,
		              "ticket_keys", (json_int_t)tk, "wrapped", (json_int_t)all, "current",
		              ver == cur, "loaded", is_loaded);
		json_array_append_new(versions, o);
	}
	pthread_mutex_lock(&J.mu);
	running = J.running;
	done = J.done;
	pthread_mutex_unlock(&J.mu);
	return req_ok(r, 200,
	              json_pack("{s:o, s:{s:b, s:I, s:I}, s:I}", "versions", versions, "rewrap",
	                        "running", running, "done", (json_int_t)done, "left",
	                        (json_int_t)left, "malformed", (json_int_t)malformed));
}

#ifdef RSVAULT_TESTING
/* Test builds only: POST /v1/test/ticket-keys {"count":N} stores N wrapped
 * ticket keys under the current version for made-up ticket ids (no
 * tickets), to measure a rewrap of many keys. */
int api_test_seed_keys(struct req *r, struct store_txn *t)
{
	json_int_t count = 0;
	unsigned char key[CRYPTO_TICKET_KEY_LEN], wrapped[CRYPTO_WRAPPED_LEN];
	char tid[64];
	int rc;

	if (json_unpack_ex(r->body, NULL, JSON_STRICT, "{s:I}", "count", &count) != 0 ||
	    count < 1 || count > 20000)
		return req_fail(r, 400, "invalid_field", "count: 1..20000");
	for (json_int_t i = 0; i < count; i++) {
		crypto_new_id(tid);
		if (crypto_ticket_key_new(tid, key, wrapped) != 0)
			return STORE_ERROR;
		sodium_memzero(key, sizeof key);
		if ((rc = store_put(t, DB_TICKET_KEYS, tid, strlen(tid), wrapped, sizeof wrapped,
		                    STORE_NOOVERWRITE)) != STORE_OK)
			return rc;
	}
	return req_ok(r, 201, json_pack("{s:I}", "count", count));
}
#endif

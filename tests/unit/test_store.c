/* Unit tests for vault/store.c: the bound on a write once the writer has
 * taken it (abandoned operations are skipped or released, never touched
 * by their caller again) and the map's reserve. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <sodium.h>

#include "store.h"

static char dir[64];

static void rm_store(void)
{
	char p[128];

	snprintf(p, sizeof p, "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/lock.mdb", dir);
	unlink(p);
	rmdir(dir);
}

static void new_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/rsv-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
}

/* --- abandoned operations ------------------------------------------------ */

/* What happened to each operation, kept outside the operations' own
 * memory (which the store frees through release). */
struct outcome {
	int ran;      /* fn was called */
	int released; /* release was called */
	int release_rc;
	int rc; /* what store_submit returned */
};

static struct outcome out[3];
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

struct slow {
	int idx;
	int sleep_ms;
	char key[8];
	struct store *s;
};

static int slow_op(struct store_txn *t, void *arg)
{
	struct slow *o = arg;

	pthread_mutex_lock(&out_mu);
	out[o->idx].ran = 1;
	pthread_mutex_unlock(&out_mu);
	usleep((useconds_t)o->sleep_ms * 1000);
	return store_put(t, DB_META, o->key, strlen(o->key), "v", 1, 0);
}

static void slow_release(void *arg, int rc)
{
	struct slow *o = arg;

	pthread_mutex_lock(&out_mu);
	out[o->idx].released++;
	out[o->idx].release_rc = rc;
	pthread_mutex_unlock(&out_mu);
	free(o);
}

static void *submitter(void *arg)
{
	struct slow *o = arg;
	int idx = o->idx, rc = store_submit(o->s, slow_op, o, slow_release);

	pthread_mutex_lock(&out_mu);
	out[idx].rc = rc;
	pthread_mutex_unlock(&out_mu);
	if (rc != STORE_TIMEOUT && rc != STORE_UNKNOWN)
		free(o); /* still ours */
	return NULL;
}

static pthread_t submit_slow(struct store *s, int idx, int sleep_ms, const char *key)
{
	struct slow *o = calloc(1, sizeof *o);
	pthread_t th;

	assert_non_null(o);
	o->idx = idx;
	o->sleep_ms = sleep_ms;
	o->s = s;
	snprintf(o->key, sizeof o->key, "%s", key);
	assert_int_equal(pthread_create(&th, NULL, submitter, o), 0);
	return th;
}

struct probe {
	const char *key;
	int found;
};

static int probe_op(struct store_txn *t, void *arg)
{
	struct probe *p = arg;
	const void *v;
	size_t vl;

	p->found = store_get(t, DB_META, p->key, strlen(p->key), &v, &vl) == STORE_OK;
	return 0;
}

static int has_key(struct store *s, const char *key)
{
	struct probe p = {key, 0};

	assert_int_equal(store_read(s, probe_op, &p), 0);
	return p.found;
}

static void test_abandoned(void **st)
{
	struct store *s;
	pthread_t th[3];
	int created, seen = 0;

	(void)st;
	memset(out, 0, sizeof out);
	new_dir();
	/* a map large enough for full batches */
	assert_int_equal(store_open(dir, (size_t)256 << 20, 1000, &s, &created), STORE_OK);
	/* X keeps the writer busy for 300 ms; A and B queue behind it and
	 * then form one batch: A runs for 1800 ms, past both callers' bound
	 * (1 s: X's commit and sync must fit in the rest on a loaded disk). */
	th[0] = submit_slow(s, 0, 300, "x");
	usleep(50 * 1000);
	th[1] = submit_slow(s, 1, 1800, "a");
	usleep(20 * 1000);
	th[2] = submit_slow(s, 2, 0, "b");
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(out[0].rc, STORE_OK);
	assert_int_equal(out[1].rc, STORE_UNKNOWN); /* running when time ran out */
	assert_int_equal(out[2].rc, STORE_TIMEOUT); /* taken, not started */
	for (int i = 0; i < 500 && !seen; i++) {    /* A's batch ends at about 2.1 s */
		struct store_stats sst;
		store_get_stats(s, &sst);
		if (sst.commits == 2 && sst.abandoned == 2) {
			/* A and B were in one batch and both given up on after
			 * the writer took them (not unlinked from the queue);
			 * they are counted once their commit is durable */
			assert_int_equal(sst.max_batch, 2);
			assert_int_equal(sst.abandoned, 2);
			seen = 1;
		}
		usleep(10 * 1000);
	}
	assert_true(seen);
	store_close(s);
	assert_int_equal(out[0].released, 0); /* answered: the caller's */
	assert_int_equal(out[1].released, 1);
	assert_int_equal(out[1].release_rc, STORE_OK); /* committed after all */
	assert_int_equal(out[2].released, 1);
	assert_int_equal(out[2].ran, 0); /* skipped */
	assert_int_equal(out[2].release_rc, STORE_TIMEOUT);
	assert_int_equal(store_open(dir, (size_t)256 << 20, 500, &s, &created), STORE_OK);
	assert_true(has_key(s, "x"));
	assert_true(has_key(s, "a"));
	assert_false(has_key(s, "b"));
	store_close(s);
	rm_store();
}

/* --- the reserve --------------------------------------------------------- */

struct put {
	unsigned n; /* key */
	size_t len;
	int reserve;
	int del_below; /* >0: delete keys [0, del_below) instead */
};

static int put_op(struct store_txn *t, void *arg)
{
	struct put *p = arg;
	unsigned char val[4000];
	char key[16];
	int rc;

	if (p->reserve)
		store_use_reserve(t);
	if (p->del_below > 0) {
		for (int i = 0; i < p->del_below; i++) {
			snprintf(key, sizeof key, "k%08d", i);
			if ((rc = store_del(t, DB_META, key, strlen(key))) != STORE_OK)
				return rc;
		}
		return STORE_OK;
	}
	memset(val, 0x5a, sizeof val);
	snprintf(key, sizeof key, "k%08u", p->n);
	return store_put(t, DB_META, key, strlen(key), val, p->len, 0);
}

static int abandoned; /* these operations are never given up on */

static void never_released(void *arg, int rc)
{
	(void)arg;
	(void)rc;
	pthread_mutex_lock(&out_mu);
	abandoned++;
	pthread_mutex_unlock(&out_mu);
}

static int put(struct store *s, unsigned n, size_t len, int reserve)
{
	struct put p = {.n = n, .len = len, .reserve = reserve};

	return store_submit(s, put_op, &p, never_released);
}

static void test_reserve(void **st)
{
	struct store *s;
	unsigned n;
	int created, rc = STORE_OK;

	(void)st;
	new_dir();
	/* 1 MiB map: 256 pages, a reserve of 64 */
	assert_int_equal(store_open(dir, (size_t)1 << 20, 5000, &s, &created), STORE_OK);
	for (n = 0; n < 1000 && (rc = put(s, n, 3000, 0)) == STORE_OK; n++)
		;
	assert_int_equal(rc, STORE_FULL);
	assert_true(n > 50);
	assert_int_equal(store_health(s), STORE_HEALTH_LOW);
	/* ordinary work is refused, even small; reserve work goes on */
	assert_int_equal(put(s, 100000, 10, 0), STORE_FULL);
	assert_int_equal(put(s, 100001, 10, 1), STORE_OK);
	assert_int_equal(put(s, 100002, 3000, 1), STORE_OK);
	assert_int_equal(put(s, 100003, 10, 0), STORE_FULL);
	/* deleting frees pages: the free list counts as room again */
	{
		struct put d = {.reserve = 1, .del_below = (int)n};
		assert_int_equal(store_submit(s, put_op, &d, never_released), STORE_OK);
	}
	assert_int_equal(put(s, 100004, 10, 0), STORE_OK);
	assert_int_equal(store_health(s), STORE_HEALTH_OK);
	store_close(s);
	assert_int_equal(abandoned, 0);
	rm_store();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_abandoned),
	    cmocka_unit_test(test_reserve),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for vault/records.c: rec_get_shared's per-thread cache of
 * parsed records answers only for the very bytes the caller's transaction
 * holds (a change in the same transaction, a change of the same length, a
 * rolled-back change, many keys sharing slots), and jx_text writes texts
 * longer than its first buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "jsonx.h"
#include "records.h"
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

/* One step, run by the writer: put (if val) and read back key. */
struct step {
	const char *key;
	const char *put; /* raw record text, or NULL */
	int abort;       /* drop the changes after reading */
	json_int_t got;  /* "a" of what rec_get_shared answered */
	int rc;
	json_t *obj;
};

static int step_op(struct store_txn *t, void *arg)
{
	struct step *s = arg;
	json_t *o = NULL;

	if (s->put != NULL &&
	    store_put(t, DB_ACCOUNTS, s->key, strlen(s->key), s->put, strlen(s->put), 0) != 0)
		return STORE_ERROR;
	s->rc = rec_get_shared(t, DB_ACCOUNTS, s->key, &o);
	s->got = o != NULL ? jx_int(o, "a", -1) : -1;
	s->obj = o;
	json_decref(o); /* the cache keeps its own reference */
	return s->abort ? STORE_ABORT : 0;
}

static json_int_t run(struct store *st, const char *key, const char *put, int abort, json_t **obj)
{
	struct step s = {.key = key, .put = put, .abort = abort};
	int rc = store_write(st, step_op, &s);

	assert_int_equal(rc, abort ? STORE_ABORT : 0);
	assert_int_equal(s.rc, STORE_OK);
	if (obj != NULL)
		*obj = s.obj;
	return s.got;
}

static void test_shared(void **state)
{
	struct store *st;
	int created;
	json_t *o1, *o2;
	char key[32], val[64];

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/rsv-records-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(store_open(dir, (size_t)64 << 20, 5000, &st, &created), STORE_OK);

	assert_int_equal(run(st, "k", "{\"a\":1}", 0, &o1), 1);
	assert_int_equal(run(st, "k", NULL, 0, &o2), 1);
	assert_ptr_equal(o1, o2); /* the second read was answered from the cache */
	/* changed in the same transaction, to a text of the same length */
	assert_int_equal(run(st, "k", "{\"a\":2}", 0, NULL), 2);
	/* a change that is rolled back: its parse must not answer later */
	assert_int_equal(run(st, "k", "{\"a\":3}", 1, NULL), 3);
	assert_int_equal(run(st, "k", NULL, 0, NULL), 2);
	/* another length */
	assert_int_equal(run(st, "k", "{\"a\":12345}", 0, NULL), 12345);
	/* many keys: slots are shared and overwritten, answers stay right */
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof key, "key-%d", i);
		snprintf(val, sizeof val, "{\"a\":%d}", i);
		assert_int_equal(run(st, key, val, 0, NULL), i);
	}
	for (int i = 299; i >= 0; i--) {
		snprintf(key, sizeof key, "key-%d", i);
		assert_int_equal(run(st, key, NULL, 0, NULL), i);
	}
	/* not an object: an error, as for rec_get */
	{
		struct step s = {.key = "bad", .put = "[1]"};
		assert_int_equal(store_write(st, step_op, &s), 0);
		assert_int_equal(s.rc, STORE_ERROR);
	}
	store_close(st);
	rm_store();
}

static void test_jx_text(void **state)
{
	json_t *o = json_object();
	char *small, *big, *want;
	size_t n = 5000;

	(void)state;
	assert_non_null(o);
	json_object_set_new(o, "x", json_string("y"));
	small = jx_text(o);
	assert_string_equal(small, "{\"x\":\"y\"}");
	free(small);
	want = malloc(n + 1);
	assert_non_null(want);
	memset(want, 'z', n);
	want[n] = '\0';
	json_object_set_new(o, "x", json_string(want));
	big = jx_text(o);
	assert_non_null(big);
	assert_int_equal(strlen(big), n + 8);
	assert_memory_equal(big + 6, want, n);
	assert_string_equal(big + 6 + n, "\"}");
	free(big);
	free(want);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shared),
	    cmocka_unit_test(test_jx_text),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

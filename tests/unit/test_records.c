/* Unit tests for vault/records.c: rec_get_shared's per-thread cache of
 * parsed records answers only for the very bytes the caller's transaction
 * holds (a change in the same transaction, a change of the same length, a
 * rolled-back change, many keys sharing slots), and jx_text writes texts
 * longer than its first buffer; the credential note's binary codec
 * round-trips, reads the JSON notes of older versions and refuses
 * malformed bytes; the view's lookups answer as jx_str, jx_int,
 * json_is_true and json_object_get do, in both forms, for fields of any
 * type. */
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
	const json_t *obj;
};

static int step_op(struct store_txn *t, void *arg)
{
	struct step *s = arg;
	const json_t *o = NULL;

	if (s->put != NULL &&
	    store_put(t, DB_ACCOUNTS, s->key, strlen(s->key), s->put, strlen(s->put), 0) != 0)
		return STORE_ERROR;
	s->rc = rec_get_shared(t, DB_ACCOUNTS, s->key, &o);
	s->got = o != NULL ? jx_int(o, "a", -1) : -1;
	s->obj = o;
	jx_release(o); /* the cache keeps its own reference */
	return s->abort ? STORE_ABORT : 0;
}

static json_int_t run(struct store *st, const char *key, const char *put, int abort,
                      const json_t **obj)
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
	const json_t *o1, *o2;
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

/* The two forms: rec_put writes the binary one; a record written as JSON
 * text by an older version (put raw here, as such a version did) reads
 * the same through rec_get, rec_get_shared, rec_view_get and rec_view_of,
 * and is stored in the binary form when it is put back changed. */
struct forms {
	int phase;
	int rc[8];
	unsigned char first; /* first byte stored after the phase's put */
	json_t *got;
	const char *role;
	int64_t at;
	int susp, has_null, has_absent;
};

#define OLD_TEXT                                                                                   \
	"{\"id\":\"acct-old\",\"role\":\"agent\",\"suspended\":true,\"at\":1764650000000,"         \
	"\"gone\":null}"

static void view_fields(struct forms *f, const struct rec_view *vw)
{
	f->role = rv_str(vw, "role");
	f->at = rv_int(vw, "at", -1);
	f->susp = rv_true(vw, "suspended");
	f->has_null = rv_has(vw, "gone");
	f->has_absent = rv_has(vw, "nope");
}

static int forms_op(struct store_txn *t, void *arg)
{
	struct forms *f = arg;
	struct rec_view vw;
	const json_t *sh = NULL;
	const void *v;
	size_t vl;

	if (f->phase == 0) /* an older version's record */
		f->rc[0] = store_put(t, DB_ACCOUNTS, "old", 3, OLD_TEXT, strlen(OLD_TEXT), 0);
	if (f->phase == 1) { /* changed and put back */
		json_t *o = NULL;
		f->rc[0] = rec_get(t, DB_ACCOUNTS, "old", &o);
		if (o != NULL)
			json_object_set_new(o, "role", json_string("admin"));
		f->rc[7] = rec_put(t, DB_ACCOUNTS, "old", o, 0);
		json_decref(o);
	}
	f->rc[1] = store_get(t, DB_ACCOUNTS, "old", 3, &v, &vl);
	f->first = f->rc[1] == STORE_OK && vl > 0 ? *(const unsigned char *)v : 0;
	f->rc[2] = rec_get(t, DB_ACCOUNTS, "old", &f->got);
	f->rc[3] = rec_get_shared(t, DB_ACCOUNTS, "old", &sh);
	if (sh != NULL && f->got != NULL && !json_equal(sh, f->got))
		f->rc[3] = -100;
	jx_release(sh);
	f->rc[4] = rec_view_get(t, DB_ACCOUNTS, "old", &vw);
	view_fields(f, &vw);
	/* the view's strings are copied out before it goes */
	f->role = f->role != NULL && strcmp(f->role, f->phase ? "admin" : "agent") == 0 ? "same"
	                                                                                : "differs";
	rec_view_done(&vw);
	if (f->rc[1] == STORE_OK) {
		f->rc[5] = rec_view_of(v, vl, &vw);
		if (f->rc[5] == 0 &&
		    (rv_int(&vw, "at", -1) != f->at || rv_true(&vw, "suspended") != f->susp))
			f->rc[5] = -100;
		rec_view_done(&vw);
	}
	f->rc[6] = rec_view_get(t, DB_ACCOUNTS, "missing", &vw);
	if (rv_str(&vw, "role") != NULL || rv_has(&vw, "role"))
		f->rc[6] = -100;
	rec_view_done(&vw);
	return 0;
}

static void test_forms(void **state)
{
	struct store *st;
	int created;
	json_t *want = json_loads(OLD_TEXT, 0, NULL);

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/rsv-records-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(store_open(dir, (size_t)64 << 20, 5000, &st, &created), STORE_OK);
	for (int phase = 0; phase < 2; phase++) {
		struct forms f = {.phase = phase};
		assert_int_equal(store_write(st, forms_op, &f), 0);
		assert_int_equal(f.rc[0], STORE_OK);
		for (int i = 1; i <= 5; i++)
			assert_int_equal(f.rc[i], STORE_OK);
		assert_int_equal(f.rc[6], STORE_NOTFOUND);
		/* JSON text first, the binary form once changed */
		assert_int_equal(f.first, phase == 0 ? '{' : BREC_V1);
		if (phase == 1) {
			assert_int_equal(f.rc[7], STORE_OK);
			json_object_set_new(want, "role", json_string("admin"));
		}
		assert_true(json_equal(f.got, want));
		assert_string_equal(f.role, "same");
		assert_int_equal(f.at, 1764650000000LL);
		assert_int_equal(f.susp, 1);
		assert_int_equal(f.has_null, 1);
		assert_int_equal(f.has_absent, 0);
		json_decref(f.got);
	}
	json_decref(want);
	store_close(st);
	rm_store();
}

/* Bytes that are neither form, and an object with no binary form. */
static int bad_op(struct store_txn *t, void *arg)
{
	static const unsigned char cut[] = {BREC_V1, 'o', 0, 0, 0, 9, 0, 0, 0, 1};
	int *rc = arg;
	struct rec_view vw;
	json_t *o = NULL, *real = json_pack("{s:f}", "x", 0.5);
	const json_t *sh = NULL;

	rc[0] = store_put(t, DB_ACCOUNTS, "cut", 3, cut, sizeof cut, 0);
	rc[1] = rec_get(t, DB_ACCOUNTS, "cut", &o);
	rc[2] = rec_get_shared(t, DB_ACCOUNTS, "cut", &sh);
	rc[3] = rec_view_get(t, DB_ACCOUNTS, "cut", &vw);
	rc[4] = rv_str(&vw, "id") == NULL && o == NULL && sh == NULL ? 0 : -100;
	rec_view_done(&vw);
	rc[5] = rec_put(t, DB_ACCOUNTS, "real", real, 0);
	rc[6] =
	    rec_decode("[1]", 3) == NULL && rec_decode("{\"a\":1,\"a\":2}", 13) == NULL ? 0 : -100;
	json_decref(real);
	return 0;
}

static void test_bad_records(void **state)
{
	struct store *st;
	int created, rc[7];

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/rsv-records-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(store_open(dir, (size_t)64 << 20, 5000, &st, &created), STORE_OK);
	assert_int_equal(store_write(st, bad_op, rc), 0);
	assert_int_equal(rc[0], STORE_OK);
	assert_int_equal(rc[1], STORE_ERROR);
	assert_int_equal(rc[2], STORE_ERROR);
	assert_int_equal(rc[3], STORE_ERROR);
	assert_int_equal(rc[4], 0);
	assert_int_equal(rc[5], STORE_ERROR);
	assert_int_equal(rc[6], 0);
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

static void test_cred_meta(void **state)
{
	struct cred_meta m, back;
	unsigned char b[CRED_META_LEN], bad[CRED_META_LEN];
	const char *js;

	(void)state;
	/* round trip, with and without the optional fields */
	cred_meta_init(&m);
	cred_meta_encode(&m, b);
	assert_int_equal(b[0], 1);
	assert_int_equal(cred_meta_decode(b, sizeof b, &back), 0);
	assert_int_equal(back.read_count, 0);
	assert_int_equal(back.last_read_at, -1);
	assert_int_equal(back.rotate, -1);
	assert_int_equal(back.rotate_since, -1);
	assert_int_equal(back.rotated_at, -1);
	m.read_count = 123456789012LL;
	m.last_read_at = 1764633600123LL;
	m.rotate = 1;
	m.rotate_since = 1764633600000LL;
	m.rotated_at = 5;
	cred_meta_encode(&m, b);
	assert_int_equal(cred_meta_decode(b, sizeof b, &back), 0);
	assert_int_equal(back.read_count, m.read_count);
	assert_int_equal(back.last_read_at, m.last_read_at);
	assert_int_equal(back.rotate, 1);
	assert_int_equal(back.rotate_since, m.rotate_since);
	assert_int_equal(back.rotated_at, 5);
	m.rotate = 0;
	cred_meta_encode(&m, b);
	assert_int_equal(cred_meta_decode(b, sizeof b, &back), 0);
	assert_int_equal(back.rotate, 0);

	/* the JSON notes older versions wrote */
	js = "{\"read_count\":7,\"last_read_at\":1700000000000,\"rotate\":true,"
	     "\"rotate_since\":1600000000000}";
	assert_int_equal(cred_meta_decode(js, strlen(js), &back), 0);
	assert_int_equal(back.read_count, 7);
	assert_int_equal(back.last_read_at, 1700000000000LL);
	assert_int_equal(back.rotate, 1);
	assert_int_equal(back.rotate_since, 1600000000000LL);
	assert_int_equal(back.rotated_at, -1);
	js = "{\"read_count\":0}";
	assert_int_equal(cred_meta_decode(js, strlen(js), &back), 0);
	assert_int_equal(back.read_count, 0);
	assert_int_equal(back.last_read_at, -1);
	assert_int_equal(back.rotate, -1);
	js = "{\"rotate\":false,\"rotated_at\":9}";
	assert_int_equal(cred_meta_decode(js, strlen(js), &back), 0);
	assert_int_equal(back.rotate, 0);
	assert_int_equal(back.rotated_at, 9);
	/* times below -1 read as absent, as the binary form allows no other */
	js = "{\"read_count\":-3,\"last_read_at\":-5,\"rotate_since\":-2,\"rotated_at\":-9}";
	assert_int_equal(cred_meta_decode(js, strlen(js), &back), 0);
	assert_int_equal(back.read_count, 0);
	assert_int_equal(back.last_read_at, -1);
	assert_int_equal(back.rotate_since, -1);
	assert_int_equal(back.rotated_at, -1);

	/* malformed: every length but the right one, an unknown version, an
	 * unknown mark, negative counts and times, JSON that is no object */
	cred_meta_encode(&m, b);
	for (size_t n = 0; n < sizeof b; n++)
		assert_int_equal(cred_meta_decode(b, n, &back), -1);
	{
		unsigned char longer[CRED_META_LEN + 1];
		memcpy(longer, b, sizeof b);
		longer[CRED_META_LEN] = 0;
		assert_int_equal(cred_meta_decode(longer, sizeof longer, &back), -1);
	}
	memcpy(bad, b, sizeof b);
	bad[0] = 2;
	assert_int_equal(cred_meta_decode(bad, sizeof bad, &back), -1);
	memcpy(bad, b, sizeof b);
	bad[1] = 3;
	assert_int_equal(cred_meta_decode(bad, sizeof bad, &back), -1);
	for (size_t f = 0; f < 4; f++) {
		memcpy(bad, b, sizeof b);
		memset(bad + 2 + 8 * f, 0xff, 8);
		bad[2 + 8 * f + 7] = 0xfe; /* -2 */
		assert_int_equal(cred_meta_decode(bad, sizeof bad, &back), -1);
		/* and the decoder leaves no half-read note behind */
		assert_int_equal(back.read_count, 0);
		assert_int_equal(back.rotate, -1);
	}
	assert_int_equal(cred_meta_decode("[1]", 3, &back), -1);
	assert_int_equal(cred_meta_decode("{\"read_count\":", 14, &back), -1);
	assert_int_equal(cred_meta_decode("{\"a\":1,\"a\":2}", 15, &back), -1);
}

/* The hot path's decisions read fields through rv_str, rv_int, rv_true and
 * rv_has where the JSON path used jx_str, jx_int, json_is_true and
 * json_object_get: for records whose fields have any type (a string, an
 * integer at the edges, true, false, null, an array, an object, or absent),
 * both forms of the record (the binary form, and the JSON text of older
 * versions) must answer every lookup exactly as the object does, so no
 * role, suspension, session state, expiry or license rule reads a
 * mistyped or missing field differently. */
static uint64_t eq_rng = 0x9e3779b97f4a7c15ull;

static uint32_t eq_next(uint32_t n)
{
	eq_rng ^= eq_rng << 13;
	eq_rng ^= eq_rng >> 7;
	eq_rng ^= eq_rng << 17;
	return (uint32_t)(eq_rng % n);
}

static json_t *eq_value(void)
{
	static const json_int_t ints[] = {0, -1, 1, 1764650000000LL, INT64_MIN, INT64_MAX, -2};
	static const char *const strs[] = {"",         "admin",   "active", "pending",
	                                   "ended",    "true",    "1",      "\xc3\xa9t\xc3\xa9",
	                                   "reseller", "customer"};

	switch (eq_next(8)) {
	case 0:
		return json_string(strs[eq_next(sizeof strs / sizeof strs[0])]);
	case 1:
		return json_integer(ints[eq_next(sizeof ints / sizeof ints[0])]);
	case 2:
		return json_true();
	case 3:
		return json_false();
	case 4:
		return json_null();
	case 5:
		return json_pack("[s,i]", "role", 1);
	case 6:
		return json_pack("{s:b,s:s}", "suspended", 1, "role", "admin");
	default:
		return NULL; /* absent */
	}
}

static void eq_check(const json_t *o, const struct rec_view *vw, const char *const *names, size_t n)
{
	static const int64_t dflts[] = {-1, 0, 7};

	for (size_t i = 0; i < n; i++) {
		const char *want = jx_str(o, names[i]), *got = rv_str(vw, names[i]);
		assert_true((want == NULL) == (got == NULL));
		if (want != NULL)
			assert_string_equal(got, want);
		for (size_t d = 0; d < 3; d++)
			assert_true(rv_int(vw, names[i], dflts[d]) ==
			            (int64_t)jx_int(o, names[i], dflts[d]));
		assert_int_equal(rv_true(vw, names[i]), json_is_true(json_object_get(o, names[i])));
		assert_int_equal(rv_has(vw, names[i]), json_object_get(o, names[i]) != NULL);
	}
}

static void test_view_equivalence(void **state)
{
	/* the fields the gauntlet reads, names around them in the sort order,
	 * and names never present */
	static const char *const names[] = {
	    "role",        "suspended", "state",  "expires_at",  "ended_at", "approve_by",
	    "credential",  "agent",     "ticket", "license_key", "email",    "revoked_at",
	    "valid_until", "type",      "owner",  "status",      "",         "r",
	    "roles",       "suspende",  "zzz",    "expires_at2"};
	size_t nn = sizeof names / sizeof names[0];

	(void)state;
	for (int round = 0; round < 2000; round++) {
		json_t *o = json_object();
		unsigned char *b;
		size_t bl;
		char *text;
		struct rec_view vw;
		for (size_t i = 0; i < nn - 4; i++) {
			json_t *v = eq_value();
			if (v != NULL)
				assert_int_equal(json_object_set_new(o, names[i], v), 0);
		}
		/* the binary form */
		assert_int_equal(brec_encode(o, &b, &bl), 0);
		assert_int_equal(rec_view_of(b, bl, &vw), 0);
		assert_null(vw.j);
		eq_check(o, &vw, names, nn);
		rec_view_done(&vw);
		free(b);
		/* the JSON text of an older version */
		text = json_dumps(o, JSON_COMPACT);
		assert_non_null(text);
		assert_int_equal(rec_view_of(text, strlen(text), &vw), 0);
		assert_non_null(vw.j);
		eq_check(o, &vw, names, nn);
		rec_view_done(&vw);
		free(text);
		json_decref(o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shared),      cmocka_unit_test(test_forms),
	    cmocka_unit_test(test_bad_records), cmocka_unit_test(test_jx_text),
	    cmocka_unit_test(test_cred_meta),   cmocka_unit_test(test_view_equivalence),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

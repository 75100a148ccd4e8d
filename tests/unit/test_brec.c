/* Unit tests for common/brec.c, the binary form of stored records: round
 * trips of every type and of nesting up to the depth limit, one encoding
 * per object (members sorted), the zero-copy view's lookups, and hostile
 * bytes: every truncation of a valid encoding and every trailing extra
 * byte refused, every single-bit flip and random bytes never crash and are
 * either refused or canonical, embedded NULs, duplicate and unsorted
 * names, bad UTF-8, lengths past the end, nesting past the limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "be.h"
#include "brec.h"

static unsigned char *enc(const json_t *o, size_t *n)
{
	unsigned char *b = NULL;

	assert_int_equal(brec_encode(o, &b, n), 0);
	assert_non_null(b);
	return b;
}

/* Accepted by both readers, or by neither; and if accepted, canonical. */
static int accepted(const unsigned char *b, size_t n)
{
	struct brec vw;
	json_t *o = brec_decode(b, n);
	int viewed = brec_view(&vw, b, n) == 0;

	assert_int_equal(viewed, o != NULL);
	if (o != NULL) {
		unsigned char *again;
		size_t m;
		assert_int_equal(brec_encode(o, &again, &m), 0);
		assert_int_equal(m, n);
		assert_memory_equal(again, b, n);
		free(again);
		json_decref(o);
	} else {
		assert_null(vw.p);
		assert_null(brec_str(&vw, "id"));
		assert_int_equal(brec_int(&vw, "n", 42), 42);
	}
	return viewed;
}

static const char *sample_text =
    "{\"id\":\"s1\",\"agent\":\"acct-1\",\"state\":\"active\",\"expires_at\":1764650000000,"
    "\"ended_at\":null,\"suspended\":true,\"approved\":false,\"zero\":0,"
    "\"min\":-9223372036854775808,\"max\":9223372036854775807,\"empty\":\"\","
    "\"utf8\":\"\\u00e9\\u4e2d\\ud83d\\ude00\",\"list\":[1,\"two\",true,false,null,[],{},[[]]],"
    "\"obj\":{\"b\":1,\"a\":{\"c\":[\"d\"]}},\"\":\"empty name\",\"ab\":1,\"a\":2,\"b\":3}";

static json_t *sample(void)
{
	json_error_t e;
	json_t *o = json_loads(sample_text, JSON_REJECT_DUPLICATES, &e);

	assert_non_null(o);
	return o;
}

static void test_round_trip(void **state)
{
	json_t *o = sample(), *back;
	size_t n;
	unsigned char *b = enc(o, &n);

	(void)state;
	assert_true(brec_is(b, n));
	assert_int_equal(b[0], BREC_V1);
	back = brec_decode(b, n);
	assert_non_null(back);
	assert_true(json_equal(o, back));
	assert_int_equal(json_integer_value(json_object_get(back, "min")), INT64_MIN);
	assert_int_equal(json_integer_value(json_object_get(back, "max")), INT64_MAX);
	assert_true(accepted(b, n));
	json_decref(back);
	free(b);
	/* the empty object */
	back = json_object();
	b = enc(back, &n);
	assert_int_equal(n, 10);
	assert_true(accepted(b, n));
	json_decref(back);
	free(b);
	json_decref(o);
}

static void test_canonical(void **state)
{
	json_t *x = json_pack("{s:i, s:s, s:b}", "b", 1, "a", "x", "ab", 1);
	json_t *y = json_object();
	unsigned char *bx, *by;
	size_t nx, ny;

	(void)state;
	json_object_set_new(y, "ab", json_true());
	json_object_set_new(y, "a", json_string("x"));
	json_object_set_new(y, "b", json_integer(1));
	bx = enc(x, &nx);
	by = enc(y, &ny);
	assert_int_equal(nx, ny);
	assert_memory_equal(bx, by, nx);
	free(bx);
	free(by);
	json_decref(x);
	json_decref(y);
}

static void test_view(void **state)
{
	json_t *o = sample();
	size_t n;
	unsigned char *b = enc(o, &n);
	struct brec vw;
	const char *s;

	(void)state;
	assert_int_equal(brec_view(&vw, b, n), 0);
	s = brec_str(&vw, "agent");
	assert_string_equal(s, "acct-1");
	/* zero copy: the string lies in the encoding */
	assert_true((const unsigned char *)s > b && (const unsigned char *)s < b + n);
	assert_string_equal(brec_str(&vw, ""), "empty name");
	assert_string_equal(brec_str(&vw, "empty"), "");
	assert_string_equal(brec_str(&vw, "utf8"), "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
	assert_int_equal(brec_int(&vw, "expires_at", -1), 1764650000000LL);
	assert_int_equal(brec_int(&vw, "min", 0), INT64_MIN);
	assert_int_equal(brec_int(&vw, "max", 0), INT64_MAX);
	assert_int_equal(brec_int(&vw, "zero", 5), 0);
	assert_int_equal(brec_int(&vw, "a", 0), 2);
	assert_int_equal(brec_int(&vw, "ab", 0), 1);
	assert_int_equal(brec_int(&vw, "b", 0), 3);
	/* wrong types and absent names: as jx_str / jx_int */
	assert_null(brec_str(&vw, "expires_at"));
	assert_int_equal(brec_int(&vw, "agent", -7), -7);
	assert_int_equal(brec_int(&vw, "ended_at", -1), -1);
	assert_null(brec_str(&vw, "nope"));
	assert_null(brec_str(&vw, "ag"));
	assert_null(brec_str(&vw, "agentx"));
	assert_null(brec_str(&vw, "zz"));
	assert_int_equal(brec_int(&vw, "nope", 9), 9);
	assert_int_equal(brec_bool(&vw, "suspended", -1), 1);
	assert_int_equal(brec_bool(&vw, "approved", -1), 0);
	assert_int_equal(brec_bool(&vw, "ended_at", -1), -1);
	assert_int_equal(brec_bool(&vw, "nope", -1), -1);
	assert_true(brec_has(&vw, "ended_at")); /* null is present */
	assert_false(brec_has(&vw, "nope"));
	assert_int_equal(brec_type(&vw, "list"), BREC_ARRAY);
	assert_int_equal(brec_type(&vw, "obj"), BREC_OBJECT);
	assert_int_equal(brec_type(&vw, "ended_at"), BREC_NULL);
	assert_int_equal(brec_type(&vw, "nope"), BREC_ABSENT);
	/* every member of the object reads the same through the view */
	{
		const char *k;
		json_t *v;
		json_object_foreach(o, k, v)
		{
			assert_true(brec_has(&vw, k));
			if (json_is_string(v))
				assert_string_equal(brec_str(&vw, k), json_string_value(v));
			if (json_is_integer(v))
				assert_int_equal(brec_int(&vw, k, 0), json_integer_value(v));
		}
	}
	free(b);
	json_decref(o);
}

static void test_refused_encodings(void **state)
{
	unsigned char *b = (unsigned char *)"x";
	size_t n = 1;
	json_t *o;
	char longname[BREC_NAME_MAX + 2];

	(void)state;
	/* not an object */
	o = json_array();
	assert_int_equal(brec_encode(o, &b, &n), -1);
	assert_null(b);
	assert_int_equal(n, 0);
	json_decref(o);
	/* a real, at the top and nested */
	o = json_pack("{s:f}", "x", 1.5);
	assert_int_equal(brec_encode(o, &b, &n), -1);
	json_decref(o);
	o = json_pack("{s:[i,f]}", "x", 1, 1.5);
	assert_int_equal(brec_encode(o, &b, &n), -1);
	json_decref(o);
	/* a string with a NUL inside */
	o = json_object();
	json_object_set_new(o, "s", json_stringn("a\0b", 3));
	assert_int_equal(brec_encode(o, &b, &n), -1);
	json_decref(o);
#if JANSSON_VERSION_HEX >= 0x020e00
	/* a name with a NUL inside */
	o = json_object();
	json_object_setn_new(o, "a\0b", 3, json_integer(1));
	assert_int_equal(brec_encode(o, &b, &n), -1);
	json_decref(o);
#endif
	/* names: the longest allowed, one longer */
	memset(longname, 'n', sizeof longname);
	longname[BREC_NAME_MAX] = '\0';
	o = json_pack("{s:i}", longname, 1);
	assert_int_equal(brec_encode(o, &b, &n), 0);
	assert_true(accepted(b, n));
	free(b);
	json_decref(o);
	longname[BREC_NAME_MAX] = 'n';
	longname[BREC_NAME_MAX + 1] = '\0';
	o = json_pack("{s:i}", longname, 1);
	assert_int_equal(brec_encode(o, &b, &n), -1);
	json_decref(o);
}

/* An object nested depth deep (the record itself is depth 1), alternating
 * arrays and objects. */
static json_t *nested(int depth)
{
	json_t *o = json_object(), *cur = o;

	for (int d = 2; d <= depth; d++) {
		json_t *c = d % 2 ? json_object() : json_array();
		if (json_is_object(cur))
			json_object_set_new(cur, "k", c);
		else
			json_array_append_new(cur, c);
		cur = c;
	}
	return o;
}

static void test_depth(void **state)
{
	json_t *o = nested(BREC_DEPTH_MAX), *back;
	unsigned char *b;
	size_t n;

	(void)state;
	b = enc(o, &n);
	back = brec_decode(b, n);
	assert_non_null(back);
	assert_true(json_equal(o, back));
	json_decref(back);
	free(b);
	json_decref(o);
	o = nested(BREC_DEPTH_MAX + 1);
	assert_int_equal(brec_encode(o, &b, &n), -1);
	json_decref(o);
}

/* A record of one member "k" holding levels - 1 nested arrays, the
 * innermost empty. */
static unsigned char *deep_bytes(int levels, size_t *len)
{
	size_t n = 1 + 9 + 3 + (size_t)(levels - 1) * 9, off;
	unsigned char *h = calloc(1, n);

	assert_non_null(h);
	h[0] = BREC_V1;
	h[1] = BREC_OBJECT;
	util_be32_put(h + 2, (uint32_t)(n - 6));
	util_be32_put(h + 6, 1);
	h[10] = 1;
	h[11] = 'k';
	h[12] = 0;
	for (int i = 0; i < levels - 1; i++) {
		off = 13 + (size_t)i * 9;
		h[off] = BREC_ARRAY;
		util_be32_put(h + off + 1, (uint32_t)(n - off - 5));
		util_be32_put(h + off + 5, i == levels - 2 ? 0 : 1);
	}
	*len = n;
	return h;
}

static void test_depth_bytes(void **state)
{
	size_t n;
	unsigned char *h;

	(void)state;
	h = deep_bytes(BREC_DEPTH_MAX, &n);
	assert_true(accepted(h, n));
	free(h);
	h = deep_bytes(BREC_DEPTH_MAX + 1, &n);
	assert_false(accepted(h, n));
	free(h);
	h = deep_bytes(10000, &n); /* no recursion that deep */
	assert_false(accepted(h, n));
	free(h);
}

static void test_truncations(void **state)
{
	json_t *o = sample();
	size_t n;
	unsigned char *b = enc(o, &n), *c;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		/* a copy of exactly i bytes, so that ASan sees a read past it */
		c = malloc(i ? i : 1);
		assert_non_null(c);
		memcpy(c, b, i);
		assert_false(accepted(c, i));
		free(c);
	}
	c = malloc(n + 1);
	assert_non_null(c);
	memcpy(c, b, n);
	for (int x = 0; x < 256; x++) {
		c[n] = (unsigned char)x;
		assert_false(accepted(c, n + 1));
	}
	free(c);
	free(b);
	json_decref(o);
}

static void test_bit_flips(void **state)
{
	json_t *o = sample();
	size_t n;
	unsigned char *b = enc(o, &n), *c = malloc(n);
	int kept = 0;

	(void)state;
	assert_non_null(c);
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(c, b, n);
			c[i] ^= (unsigned char)(1u << bit);
			kept += accepted(c, n); /* crashes, or a non-canonical accept, fail */
		}
	}
	/* some flips (in string bytes, integers) still make valid records */
	assert_true(kept > 0);
	free(c);
	free(b);
	json_decref(o);
}

static void test_random(void **state)
{
	json_t *o = sample();
	size_t n;
	unsigned char *b = enc(o, &n), *c = malloc(n);
	unsigned long long x = 0x9e3779b97f4a7c15ULL;

	(void)state;
	assert_non_null(c);
	for (int round = 0; round < 20000; round++) {
		size_t k, len;
		memcpy(c, b, n);
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = 1 + x % 4;
		for (size_t j = 0; j < k; j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			c[1 + x % (n - 1)] = (unsigned char)(x >> 32);
		}
		len = round % 3 == 0 ? (size_t)(x >> 40) % (n + 1) : n;
		(void)accepted(c, len);
	}
	free(c);
	free(b);
	json_decref(o);
}

/* A record of one member, name given raw, value a string given raw (len
 * as stored, then the bytes as given, which include or lack the NUL). */
static unsigned char *one_member(const char *name, size_t nl, const char *val, size_t vlen,
                                 size_t vbytes, size_t *len)
{
	size_t n = 1 + 9 + 1 + nl + 1 + 5 + vbytes;
	unsigned char *h = calloc(1, n);

	assert_non_null(h);
	h[0] = BREC_V1;
	h[1] = BREC_OBJECT;
	util_be32_put(h + 2, (uint32_t)(n - 6));
	util_be32_put(h + 6, 1);
	h[10] = (unsigned char)nl;
	memcpy(h + 11, name, nl);
	h[11 + nl] = 0;
	h[12 + nl] = BREC_STRING;
	util_be32_put(h + 13 + nl, (uint32_t)vlen);
	memcpy(h + 17 + nl, val, vbytes);
	*len = n;
	return h;
}

static void test_hostile_strings(void **state)
{
	size_t n;
	unsigned char *h;
	struct brec vw;

	(void)state;
	/* a valid one, built by hand: the helper is right */
	h = one_member("id", 2, "abc", 3, 4, &n);
	assert_true(accepted(h, n));
	assert_int_equal(brec_view(&vw, h, n), 0);
	assert_string_equal(brec_str(&vw, "id"), "abc");
	free(h);
	/* an embedded NUL: refused whole, never read as "a" */
	h = one_member("id", 2, "a\0c", 3, 4, &n);
	assert_false(accepted(h, n));
	assert_int_equal(brec_view(&vw, h, n), -1);
	assert_null(brec_str(&vw, "id"));
	free(h);
	/* the same in a longer string (checked eight bytes at a time) */
	h = one_member("id", 2, "abcdefgh\0jklmnopq", 17, 18, &n);
	assert_false(accepted(h, n));
	free(h);
	h = one_member("id", 2, "abc\0efghijklmnopq", 17, 18, &n);
	assert_false(accepted(h, n));
	free(h);
	h = one_member("id", 2, "abcdefghijklmnopq", 17, 18, &n);
	assert_true(accepted(h, n));
	free(h);
	/* the trailing NUL missing */
	h = one_member("id", 2, "abcd", 3, 4, &n);
	assert_false(accepted(h, n));
	free(h);
	/* a NUL inside a name */
	h = one_member("i\0d", 3, "abc", 3, 4, &n);
	assert_false(accepted(h, n));
	free(h);
	/* a string length past the end, and the largest */
	h = one_member("id", 2, "abc", 4, 4, &n);
	assert_false(accepted(h, n));
	free(h);
	h = one_member("id", 2, "abc", UINT32_MAX, 4, &n);
	assert_false(accepted(h, n));
	free(h);
	/* bad UTF-8: a lone continuation byte, an overlong '/', a surrogate,
	 * past U+10FFFF, a cut sequence; in a value and in a name */
	{
		static const char *bad[] = {
		    "\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe4\xb8", "\xff"};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			size_t bl = strlen(bad[i]);
			char v[8] = {0};
			memcpy(v, bad[i], bl);
			h = one_member("id", 2, v, bl, bl + 1, &n);
			assert_false(accepted(h, n));
			free(h);
			h = one_member(v, bl, "x", 1, 2, &n);
			assert_false(accepted(h, n));
			free(h);
		}
	}
	/* the good multi-byte forms pass */
	h = one_member("\xc3\xa9", 2, "\xf0\x9f\x98\x80", 4, 5, &n);
	assert_true(accepted(h, n));
	free(h);
}

static void test_duplicates_and_order(void **state)
{
	/* two members "a" (ints), then "b" before "a" */
	unsigned char h[] = {BREC_V1, BREC_OBJECT, 0, 0, 0, 0, 0, 0, 0, 2, 1, 'a',
	                     0,       BREC_INT,    0, 0, 0, 0, 0, 0, 0, 1, 1, 'a',
	                     0,       BREC_INT,    0, 0, 0, 0, 0, 0, 0, 2};
	json_t *o;

	(void)state;
	util_be32_put(h + 2, (uint32_t)(sizeof h - 6));
	assert_false(accepted(h, sizeof h));
	h[23] = 'b';
	assert_true(accepted(h, sizeof h));
	o = brec_decode(h, sizeof h);
	assert_int_equal(json_integer_value(json_object_get(o, "b")), 2);
	json_decref(o);
	h[11] = 'c'; /* "c" then "b": out of order */
	assert_false(accepted(h, sizeof h));
	/* a prefix first is in order ("a" < "ab"), the other way round not */
	{
		json_t *x = json_pack("{s:i, s:i}", "ab", 1, "a", 2);
		size_t n;
		unsigned char *b = enc(x, &n);
		assert_int_equal(b[11], 'a');
		assert_int_equal(b[12], 0);
		free(b);
		json_decref(x);
	}
}

static void test_sizes(void **state)
{
	json_t *o = json_pack("{s:[i,i], s:s}", "a", 1, 2, "b", "x");
	size_t n;
	unsigned char *b = enc(o, &n), *c = malloc(n);
	static const uint32_t vals[] = {0, 3, 4, 5, 0x7fffffff, 0xffffffff};

	(void)state;
	assert_non_null(c);
	/* the record's size and count, and the array's (at 13: 'a' tag) */
	for (size_t f = 0; f < 4; f++) {
		size_t off = f == 0 ? 2 : f == 1 ? 6 : f == 2 ? 14 : 18;
		uint32_t orig = util_be32_get(b + off);
		for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
			if (vals[i] == orig)
				continue;
			memcpy(c, b, n);
			util_be32_put(c + off, vals[i]);
			assert_false(accepted(c, n));
		}
	}
	assert_int_equal(b[13], BREC_ARRAY);
	/* an unknown tag, and a JSON text, are not this form */
	memcpy(c, b, n);
	c[13] = 'x';
	assert_false(accepted(c, n));
	assert_false(brec_is("{}", 2));
	assert_null(brec_decode("{}", 2));
	assert_false(brec_is("", 0));
	assert_null(brec_decode(NULL, 0));
	free(c);
	free(b);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_canonical),
	    cmocka_unit_test(test_view),
	    cmocka_unit_test(test_refused_encodings),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_depth_bytes),
	    cmocka_unit_test(test_truncations),
	    cmocka_unit_test(test_bit_flips),
	    cmocka_unit_test(test_random),
	    cmocka_unit_test(test_hostile_strings),
	    cmocka_unit_test(test_duplicates_and_order),
	    cmocka_unit_test(test_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for common/jsonx.c's text helpers: jx_flat_members takes the
 * tokens of the flat objects jx_text writes (every value copied out means
 * what jansson reads from it), refuses every other text, and jx_quote
 * writes the very bytes jansson writes for a string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "jsonx.h"

static const char *const names[] = {"label", "kind", "host", "username", "secret", "notes"};

/* The value of member k as jansson reads the copied token. */
static json_t *tok_value(const struct jx_tok *t)
{
	char *buf = malloc(t->n + 1);
	json_t *v;

	assert_non_null(buf);
	memcpy(buf, t->p, t->n);
	buf[t->n] = '\0';
	v = json_loads(buf, JSON_DECODE_ANY, NULL);
	free(buf);
	assert_non_null(v);
	return v;
}

/* A random string: ASCII, controls, quotes, backslashes and multi-byte
 * UTF-8. */
static void random_string(char *out, size_t max)
{
	static const char *const parts[] = {"a",  "Z",  "0", " ", "\"", "\\", "/", "\n", "\t", "\r",
	                                    "\b", "\f", "é", "€", "😀",  "ü",  "{", "}",  ",",  ":"};
	size_t o = 0, n = randombytes_uniform(40);

	for (size_t i = 0; i < n; i++) {
		const char *p = parts[randombytes_uniform(sizeof parts / sizeof parts[0])];
		size_t l = strlen(p);
		if (o + l + 1 > max)
			break;
		memcpy(out + o, p, l);
		o += l;
	}
	out[o] = '\0';
}

static void test_flat_round_trip(void **st)
{
	(void)st;
	for (int round = 0; round < 2000; round++) {
		char s[6][256];
		struct jx_tok v[6];
		json_t *o = json_object();
		char *text;
		int present[6];

		assert_non_null(o);
		for (size_t k = 0; k < 6; k++) {
			random_string(s[k], sizeof s[k]);
			present[k] = (int)randombytes_uniform(3); /* 0 absent, 1 null, 2 string */
			if (present[k] == 1)
				json_object_set_new(o, names[k], json_null());
			else if (present[k] == 2)
				json_object_set_new(o, names[k], json_string(s[k]));
		}
		text = jx_text(o);
		assert_non_null(text);
		if (strstr(text, "\\u") != NULL) {
			/* jansson escaped a control byte as \u00XX: not taken */
			assert_int_equal(jx_flat_members(text, strlen(text), names, 6, v), -1);
		} else {
			assert_int_equal(jx_flat_members(text, strlen(text), names, 6, v), 0);
			for (size_t k = 0; k < 6; k++) {
				if (present[k] == 0) {
					assert_null(v[k].p);
					continue;
				}
				json_t *got = tok_value(&v[k]);
				assert_true(json_equal(got, json_object_get(o, names[k])));
				json_decref(got);
			}
		}
		free(text);
		json_decref(o);
	}
}

static void test_flat_refuses(void **st)
{
	struct jx_tok v[6];
	const char *good = "{\"label\":\"a\",\"kind\":\"password\",\"secret\":\"s\",\"host\":null}";
	const char *bad[] = {
	    "",
	    "[]",
	    "{",
	    "{\"label\":\"a\"",
	    "{\"label\":\"a\",}",
	    "{\"label\":\"a\"} x",
	    "{\"label\":1}",
	    "{\"label\":true}",
	    "{\"label\":{}}",
	    "{\"label\":nul}",
	    "{\"other\":\"a\"}",                 /* a key not asked for */
	    "{\"label\":\"a\",\"label\":\"b\"}", /* repeated */
	    "{\"lab\\u0065l\":\"a\"}",           /* an escaped key */
	    "{\"label\":\"a\\u0041\"}",          /* a \u escape in a value */
	    "{\"label\":\"a\\x\"}",              /* an unknown escape */
	    "{\"label\":\"a\nb\"}",              /* a raw control byte */
	    "{\"label\":\"\xc3\"}",              /* truncated UTF-8 */
	    "{\"label\":\"\xc0\xaf\"}",          /* overlong */
	    "{\"label\":\"\xed\xa0\x80\"}",      /* a surrogate */
	    "{\"label\":\"\xf4\x90\x80\x80\"}",  /* above U+10FFFF */
	    "{\"label\":\"\xff\"}",
	    "{\"label\" \"a\"}",
	    "{\"label\":\"a\" \"kind\":\"b\"}",
	};

	(void)st;
	assert_int_equal(jx_flat_members(good, strlen(good), names, 6, v), 0);
	assert_int_equal(v[0].n, 3);
	assert_memory_equal(v[0].p, "\"a\"", 3);
	assert_memory_equal(v[2].p, "null", 4);
	assert_null(v[3].p);
	/* a NUL inside: the length says where the text ends */
	assert_int_equal(jx_flat_members("{\"label\":\"a\0\"}", 14, names, 6, v), -1);
	/* whitespace between tokens is allowed */
	{
		const char *ws = " { \"label\" : \"a\" , \"kind\" : null }\n";
		assert_int_equal(jx_flat_members(ws, strlen(ws), names, 6, v), 0);
		assert_memory_equal(v[1].p, "null", 4);
	}
	assert_int_equal(jx_flat_members("{}", 2, names, 6, v), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(jx_flat_members(bad[i], strlen(bad[i]), names, 6, v), -1);
	/* every truncation of a good text is refused */
	for (size_t n = 0; n < strlen(good); n++)
		assert_int_equal(jx_flat_members(good, n, names, 6, v), -1);
}

static void test_quote(void **st)
{
	const char *in[] = {"", "abc", "a\"b", "a\\b", "\x01\x1f", "tab\there", "é€😀"};
	char out[6 * 256 + 2];

	(void)st;
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		size_t n = jx_quote(out, in[i]);
		json_t *v;
		out[n] = '\0';
		v = json_loads(out, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		assert_string_equal(json_string_value(v), in[i]);
		json_decref(v);
	}
	/* the same bytes as jansson writes: uploads are sealed with them */
	for (int round = 0; round < 3000; round++) {
		char str[256], *want;
		json_t *js;
		size_t n;
		random_string(str, sizeof str);
		if (round % 3 == 0 && strlen(str) < sizeof str - 3)
			strcat(str, round % 2 ? "\x01\x7f" : "\x1f");
		js = json_string(str);
		assert_non_null(js);
		want = json_dumps(js, JSON_ENCODE_ANY | JSON_COMPACT);
		assert_non_null(want);
		n = jx_quote(out, str);
		assert_int_equal(n, strlen(want));
		assert_memory_equal(out, want, n);
		free(want);
		json_decref(js);
	}
	assert_int_equal(jx_quote(out, "\x01"), 8);
	out[8] = '\0';
	assert_string_equal(out, "\"\\u0001\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flat_round_trip),
	    cmocka_unit_test(test_flat_refuses),
	    cmocka_unit_test(test_quote),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

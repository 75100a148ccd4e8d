/* test_output.c - unit tests for the client's terminal-safe output
 * (client/output.c): which characters are escaped and how, the width of
 * escaped text and where it is cut, the escaping of secrets, and the
 * re-encoding of --json answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "output.h"
#include "secret.h"

/* cli_clean(in, 0) must give want. */
static void clean_is(const char *in, const char *want)
{
	char *got = cli_clean(in, 0);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_clean_controls(void **st)
{
	(void)st;
	/* OSC title, CSI clear screen, BEL */
	clean_is("X\x1b]0;pwned\x07", "X\\x1b]0;pwned\\x07");
	clean_is("\x1b[2Jgone", "\\x1b[2Jgone");
	clean_is("a\tb\nc\rd", "a\\tb\\nc\\rd");
	clean_is("del\x7f", "del\\x7f");
	clean_is("\x01\x1f", "\\x01\\x1f");
	/* C1 controls as UTF-8: U+009B (CSI), U+0085 (NEL) */
	clean_is("a\xc2\x9b"
	         "31mred",
	         "a\\u009b31mred");
	clean_is("\xc2\x85", "\\u0085");
	/* raw C1 bytes that are not UTF-8 */
	clean_is("a\x9b"
	         "31m",
	         "a\\x9b31m");
	clean_is("\x80\x9f", "\\x80\\x9f");
	/* bidi override, isolates, zero-width, separators, BOM, tags */
	clean_is("abc\xe2\x80\xae"
	         "fdp.exe",
	         "abc\\u202efdp.exe");
	clean_is("\xe2\x81\xa6x\xe2\x81\xa9", "\\u2066x\\u2069");
	clean_is("a\xe2\x80\x8b"
	         "b",
	         "a\\u200bb");
	clean_is("\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029");
	clean_is("\xef\xbb\xbf", "\\ufeff");
	clean_is("\xf3\xa0\x81\x81", "\\U000e0041");
	clean_is("\xf3\xa0\x80\x80", "\\U000e0000");
	clean_is("\xd8\x9c", "\\u061c");
	/* invalid UTF-8: truncated, overlong, surrogate, out of range */
	clean_is("ok\xc2", "ok\\xc2");
	clean_is("\xc0\x80", "\\xc0\\x80");
	clean_is("\xed\xa0\x80", "\\xed\\xa0\\x80");
	clean_is("\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80");
	clean_is("\xe2\x80", "\\xe2\\x80");
}

static void test_clean_keeps(void **st)
{
	(void)st;
	/* ordinary text, backslashes and printable non-ASCII stay */
	clean_is("office PC", "office PC");
	clean_is("DOMAIN\\admin", "DOMAIN\\admin");
	clean_is("p\xc3\xa4ss \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x91",
	         "p\xc3\xa4ss \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x91");
	clean_is("\xc2\xa0nbsp", "\xc2\xa0nbsp");
	clean_is(NULL, "-");
	clean_is("", "");
}

static void test_width_and_cut(void **st)
{
	char *c;

	(void)st;
	assert_int_equal(cli_width("abc"), 3);
	assert_int_equal(cli_width("a\x1b"), 5);
	assert_int_equal(cli_width("\xe2\x80\xae"), 6);
	assert_int_equal(cli_width(NULL), 1);
	/* the escape would cross the limit: it is left out whole */
	c = cli_clean("abcd\x1b"
	              "efgh",
	              8);
	assert_non_null(c);
	assert_string_equal(c, "abcd...");
	free(c);
	c = cli_clean("ab\x1b"
	              "cdefgh",
	              10);
	assert_non_null(c);
	assert_string_equal(c, "ab\\x1bc...");
	free(c);
	c = cli_clean("short", 10);
	assert_string_equal(c, "short");
	free(c);
	/* every cell of a table is escaped */
	{
		struct cli_table t;
		const char *row[2] = {"\x1b]0;t\x07", "\xe2\x80\xae"};

		cli_table_init(&t, 2, NULL, 60);
		assert_int_equal(cli_table_add(&t, row), 0);
		assert_string_equal(t.cells[0], "\\x1b]0;t\\x07");
		assert_string_equal(t.cells[1], "\\u202e");
		cli_table_free(&t);
	}
}

static void test_secret(void **st)
{
	static const char plain[] = "Sup3r\\Secret with spaces";
	static const char lines[] = "-----BEGIN KEY-----\nAAAA\n-----END KEY-----";
	static const char osc[] = "X\x1b]0;pwned\x07";
	static const char mixed[] = "a\\x1b\x1b\nb\t\xc2\x9b\xe2\x80\xae";
	size_t n = 0;
	char *e;

	(void)st;
	/* a backslash alone or line feeds alone need no escaping */
	assert_int_equal(cli_esc_needed(plain, strlen(plain), CLI_ESC_SECRET), 0);
	assert_int_equal(cli_esc_needed(lines, strlen(lines), CLI_ESC_SECRET), 0);
	assert_int_equal(cli_esc_needed(lines, strlen(lines), CLI_ESC_LINE), 1);
	assert_int_equal(cli_esc_needed(osc, strlen(osc), CLI_ESC_SECRET), 1);
	assert_int_equal(cli_esc_needed("a\tb", 3, CLI_ESC_SECRET), 1);
	assert_int_equal(cli_esc_needed("a\rb", 3, CLI_ESC_SECRET), 1);
	assert_int_equal(cli_esc_needed("\xc2\x9b", 2, CLI_ESC_SECRET), 1);
	assert_int_equal(cli_esc_needed("\xe2\x80\xae", 3, CLI_ESC_SECRET), 1);
	assert_int_equal(cli_esc_needed("", 0, CLI_ESC_SECRET), 0);

	/* escaped: backslashes doubled, line feeds kept */
	e = cli_esc_dup(mixed, sizeof mixed - 1, CLI_ESC_SECRET, &n);
	assert_non_null(e);
	assert_string_equal(e, "a\\\\x1b\\x1b\nb\\t\\u009b\\u202e");
	assert_int_equal(n, strlen(e));
	wipe_free(e);
	/* a length, not a NUL, ends the input */
	e = cli_esc_dup("ab\x1b", 2, CLI_ESC_LINE, &n);
	assert_string_equal(e, "ab");
	assert_int_equal(n, 2);
	wipe_free(e);
	/* a truncated sequence at the end of the given length */
	e = cli_esc_dup("a\xe2\x80\xae", 3, CLI_ESC_LINE, &n);
	assert_string_equal(e, "a\\xe2\\x80");
	wipe_free(e);
}

/* A reader's check, independent of output.c: s is valid UTF-8 and holds
 * no C0 (except a line feed when lf_ok), DEL, C1, or one of the format,
 * separator and direction characters a terminal or a reader trips on. */
static int terminal_safe(const unsigned char *s, size_t n, int lf_ok)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		unsigned long cp;
		size_t k;

		if (c < 0x80) {
			if ((c < 0x20 && !(lf_ok && c == '\n')) || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		k = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
		if (k == 0 || c > 0xf4 || i + k >= n)
			return 0;
		cp = c & (0x3f >> k);
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((cp >= 0x80 && cp <= 0x9f) || cp == 0xad || cp == 0x61c ||
		    (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
		    (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
		    (cp >= 0xe0000 && cp <= 0xe007f))
			return 0;
		i += k + 1;
	}
	return 1;
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Random input, biased towards the bytes that matter: whatever goes in,
 * what comes out is safe for a terminal. */
static void test_random(void **st)
{
	static const unsigned char pick[] = {0x1b, 0x07, 0x9b, 0x80, 0x9f, 0xc2, 0xe2, 0x80,
	                                     0xae, 0xa8, 0x81, 0xa6, 0xf3, 0xa0, 0xef, 0xbb,
	                                     0xbf, 0x7f, '\n', '\t', '\r', '\\', 'a',  0xf0};
	uint64_t x = 0x9e3779b97f4a7c15u;
	unsigned char in[64];

	(void)st;
	for (int round = 0; round < 200000; round++) {
		size_t n = (size_t)(xorshift(&x) % sizeof in), outlen;
		char *c, *e;

		for (size_t i = 0; i < n; i++) {
			uint64_t r = xorshift(&x);

			in[i] = (r & 1) ? (unsigned char)(r >> 8) : pick[(r >> 8) % sizeof pick];
			if (in[i] == 0)
				in[i] = 'z';
		}
		e = cli_esc_dup((const char *)in, n, CLI_ESC_SECRET, &outlen);
		assert_non_null(e);
		assert_true(terminal_safe((const unsigned char *)e, outlen, 1));
		wipe_free(e);
		e = cli_esc_dup((const char *)in, n, CLI_ESC_LINE, &outlen);
		assert_non_null(e);
		assert_true(terminal_safe((const unsigned char *)e, outlen, 0));
		wipe_free(e);
		in[n] = '\0';
		c = cli_clean((const char *)in, (size_t)(x % 20));
		assert_non_null(c);
		assert_true(terminal_safe((const unsigned char *)c, strlen(c), 0));
		free(c);
	}
}

/* Run cli_print_json on body with stdout sent to a temporary file; return
 * its result and what it wrote (malloc'd) in *out. */
static int print_json(const char *body, char **out)
{
	char path[] = "/tmp/rsv-test-output-XXXXXX";
	int fd = mkstemp(path), saved, rc;
	long n;
	FILE *f;

	assert_true(fd >= 0);
	unlink(path);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fd, STDOUT_FILENO) >= 0);
	rc = cli_print_json(body, strlen(body));
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);
	f = fdopen(fd, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	*out = calloc(1, (size_t)n + 1);
	assert_non_null(*out);
	assert_int_equal(fread(*out, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return rc;
}

static void test_json(void **st)
{
	/* raw C1, bidi override, isolate, line separator, DEL, a tag and
	 * characters that stay: the C0 ones are escaped by JSON itself */
	static const char body[] = "{\"secret\":\"X\\u001b]0;pwned\\u0007 \xc2\x9b"
	                           "1 \xe2\x80\xae"
	                           "a \xe2\x81\xa7"
	                           "b \xe2\x80\xa8 \x7f \xf3\xa0\x80\x81 "
	                           "p\xc3\xa4ss \xf0\x9f\x94\x91\",\"n\":1}";
	json_t *a, *b;
	char *out = NULL;

	(void)st;
	assert_int_equal(print_json(body, &out), 0);
	assert_string_equal(out, "{\"secret\":\"X\\u001b]0;pwned\\u0007 \\u009b1 \\u202ea "
	                         "\\u2067b \\u2028 \\u007f \\udb40\\udc01 "
	                         "p\xc3\xa4ss \xf0\x9f\x94\x91\",\"n\":1}\n");
	/* the same document */
	a = json_loads(body, 0, NULL);
	b = json_loads(out, 0, NULL);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	free(out);

	/* a body that already ends in a newline gets no second one */
	assert_int_equal(print_json("{}\n", &out), 0);
	assert_string_equal(out, "{}\n");
	free(out);

	/* never passed on: a raw control or a byte that is not UTF-8 */
	assert_int_equal(print_json("{\"a\":\"\x1b[2J\"}", &out), -1);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(print_json("{\"a\":\"\x9b\"}", &out), -1);
	assert_string_equal(out, "");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean_controls), cmocka_unit_test(test_clean_keeps),
	    cmocka_unit_test(test_width_and_cut),  cmocka_unit_test(test_secret),
	    cmocka_unit_test(test_json),           cmocka_unit_test(test_random),
	};

	if (sodium_init() < 0)
		return 1;
	json_set_alloc_funcs(wipe_malloc, wipe_free);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

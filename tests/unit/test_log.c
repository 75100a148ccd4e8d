/* Unit tests for vault/log.c: whatever a caller passes, no log line carries
 * a terminal control. The text format escapes C0 controls, DEL, backslash,
 * C1 controls, format characters (Cf, Zl, Zp, tags) and ill-formed UTF-8
 * as \xNN in every field and in messages and keeps other UTF-8; the JSON format escapes every byte
 * outside printable ASCII. Lines are written to a scratch file with log_open and read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static char path[64];

/* Everything written to the log file since the last call, NUL-ended. */
static char *take(size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 16);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 16) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	assert_int_equal(truncate(path, 0), 0);
	return buf;
}

/* No byte below 0x20 but the one newline at the end, no DEL, well-formed
 * UTF-8 without C1 controls (U+0080..U+009F). */
static void assert_clean_line(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	assert_true(len > 0);
	assert_int_equal(p[len - 1], '\n');
	for (size_t i = 0; i + 1 < len; i++) {
		assert_true(p[i] >= 0x20);
		assert_true(p[i] != 0x7f);
		if (p[i] < 0x80)
			continue;
		/* a lead byte and its continuation bytes, well-formed */
		size_t n = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : 2;
		assert_true(p[i] >= 0xc2 && p[i] <= 0xf4);
		assert_false(p[i] == 0xc2 && p[i + 1] < 0xa0); /* C1 */
		for (size_t k = 1; k < n; k++)
			assert_true(i + k + 1 < len && (p[i + k] & 0xc0) == 0x80);
		i += n - 1;
	}
}

static void test_text_request(void **st)
{
	size_t len;
	char *got;

	(void)st;
	log_set_format(LOG_TEXT);
	log_request("127.0.0.1\r\n2026-01-01T00:00:00.000Z rsvaultd: forged", "ad\x1b[2Jmin",
	            "GE\x1b[31mT",
	            "/v1/\xc2\x9b"
	            "31m\x7f\\x",
	            400, 3, "r\x07id", 0);
	got = take(&len);
	assert_clean_line(got, len);
	assert_non_null(strstr(got,
	                       " rsvaultd: GE\\x1b[31mT /v1/\\xc2\\x9b31m\\x7f\\x5cx 400 3ms "
	                       "ip=127.0.0.1\\x0d\\x0a2026-01-01T00:00:00.000Z rsvaultd: forged "
	                       "actor=ad\\x1b[2Jmin rid=r\\x07id\n"));
	assert_int_equal(strchr(got, '\n') - got, (long)len - 1); /* one line */
	free(got);

	/* well-formed UTF-8 is kept; ill-formed bytes are escaped one by one */
	log_request("-", NULL, "GET",
	            "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" /* é € U+1F600 */
	            "|\xff|\xc3|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82|\x80",
	            200, 0, "rid", 1);
	got = take(&len);
	assert_clean_line(got, len);
	assert_non_null(strstr(got,
	                       "GET \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\\xff|\\xc3|\\xc0\\xaf|"
	                       "\\xed\\xa0\\x80|\\xf4\\x90\\x80\\x80|\\xe2\\x82|\\x80 200 0ms "
	                       "ip=- actor=- rid=rid (aborted)\n"));
	free(got);

	/* format characters that reorder or hide text (U+202E right-to-left
	 * override, U+2066 isolate, U+200B zero width space, U+2028 line
	 * separator, U+E0041 tag) are escaped byte by byte; the characters
	 * around them (U+00E9, U+4E2D, U+2030 per mille) are kept */
	log_request("-",
	            "\xe2\x80\xae"
	            "nimda",
	            "GET",
	            "/v1/\xc3\xa9\xe2\x81\xa6x\xe2\x80\x8by\xe2\x80\xa8z\xf3\xa0\x81\x81"
	            "\xe4\xb8\xad\xe2\x80\xb0",
	            200, 0, "rid", 0);
	got = take(&len);
	assert_clean_line(got, len);
	assert_non_null(strstr(got, "GET /v1/\xc3\xa9\\xe2\\x81\\xa6x\\xe2\\x80\\x8by"
	                            "\\xe2\\x80\\xa8z\\xf3\\xa0\\x81\\x81\xe4\xb8\xad\xe2\x80\xb0"
	                            " 200 0ms ip=- actor=\\xe2\\x80\\xaenimda rid=rid\n"));
	free(got);
}

static void test_text_msg(void **st)
{
	char big[1000];
	size_t len;
	char *got;

	(void)st;
	log_set_format(LOG_TEXT);
	log_msg("webhook %s: %s", "x\x1b]0;pwn\x07", "a\rb\tc\x9b");
	got = take(&len);
	assert_clean_line(got, len);
	assert_non_null(strstr(got, " rsvaultd: webhook x\\x1b]0;pwn\\x07: a\\x0db\\x09c\\x9b\n"));
	free(got);
	/* a message of nothing but controls still makes one clean line */
	memset(big, 0x1b, sizeof big - 1);
	big[sizeof big - 1] = '\0';
	log_msg("%s", big);
	got = take(&len);
	assert_clean_line(got, len);
	assert_int_equal(strchr(got, '\n') - got, (long)len - 1);
	assert_non_null(strstr(got, "\\x1b\\x1b\n"));
	free(got);
}

/* A field longer than a line: cut, but never inside an escape or a UTF-8
 * character, and the line still ends in its newline. */
static void test_text_cut(void **st)
{
	char *route = malloc(20001);
	size_t len;
	char *got;

	(void)st;
	assert_non_null(route);
	log_set_format(LOG_TEXT);
	for (int i = 0; i < 20000; i += 2) {
		route[i] = (char)0xc2; /* C1: four bytes out per byte in */
		route[i + 1] = (char)(i % 3 ? 0x9b : 0xa9);
	}
	route[20000] = '\0';
	log_request("-", NULL, "GET", route, 200, 0, "rid", 0);
	got = take(&len);
	assert_true(len < 8192);
	assert_clean_line(got, len);
	assert_int_equal(strchr(got, '\n') - got, (long)len - 1);
	free(got);
	/* the same with kept two-byte characters (U+00A9) */
	for (int i = 0; i < 20000; i += 2) {
		route[i] = (char)0xc2;
		route[i + 1] = (char)0xa9;
	}
	log_request("-", NULL, "GET", route, 200, 0, "rid", 0);
	got = take(&len);
	assert_true(len < 8192);
	assert_clean_line(got, len);
	free(got);
	free(route);
}

static void test_json(void **st)
{
	size_t len;
	char *got;

	(void)st;
	log_set_format(LOG_JSON);
	log_request("1.2.3.4", "a\"b", "GE\x1bT", "/v1/\xc2\x9b\xff\x7f", 400, 1, "rid\n", 0);
	got = take(&len);
	for (size_t i = 0; i + 1 < len; i++)
		assert_true((unsigned char)got[i] >= 0x20 && (unsigned char)got[i] < 0x7f);
	assert_int_equal(got[len - 1], '\n');
	assert_non_null(strstr(got, "\"actor\":\"a\\\"b\",\"method\":\"GE\\u001bT\","
	                            "\"route\":\"/v1/\\u00c2\\u009b\\u00ff\\u007f\""));
	assert_non_null(strstr(got, "\"request_id\":\"rid\\u000a\"}\n"));
	free(got);
	log_msg("x\x9b\xe2\x80\xae");
	got = take(&len);
	for (size_t i = 0; i + 1 < len; i++)
		assert_true((unsigned char)got[i] >= 0x20 && (unsigned char)got[i] < 0x7f);
	assert_non_null(strstr(got, "\"msg\":\"x\\u009b\\u00e2\\u0080\\u00ae\"}\n"));
	free(got);
	log_set_format(LOG_TEXT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_request),
	    cmocka_unit_test(test_text_msg),
	    cmocka_unit_test(test_text_cut),
	    cmocka_unit_test(test_json),
	};
	char dir[] = "/tmp/rsv-test-log-XXXXXX";
	int rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof path, "%s/log", dir);
	if (log_open(path) != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	log_open(NULL);
	unlink(path);
	rmdir(dir);
	return rc;
}

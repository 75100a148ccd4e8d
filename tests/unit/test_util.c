/* Unit tests for common/util.c: times, bounded integers, ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "util.h"

static void test_format_time(void **st)
{
	char buf[UTIL_TIME_LEN];

	(void)st;
	assert_int_equal(util_format_time(0, buf), 0);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	assert_int_equal(util_format_time(INT64_C(1795341600123), buf), 0);
	assert_string_equal(buf, "2026-11-22T10:00:00.123Z");
	assert_int_equal(util_format_time(-1, buf), -1);
	assert_int_equal(util_format_time(INT64_C(253402300800000), buf), -1);
}

/* util_format_time computes the civil date itself: it must agree with
 * gmtime_r on every day of the range and on the edges (leap days, century
 * years, the last millisecond). */
static void test_format_time_vs_gmtime(void **st)
{
	char buf[UTIL_TIME_LEN], want[96];
	const int64_t edges[] = {INT64_C(951782400000),    /* 2000-02-29 */
	                         INT64_C(951868799999),    /* 2000-02-29T23:59:59.999 */
	                         INT64_C(4107542400000),   /* 2100-03-01 */
	                         INT64_C(4107455999999),   /* 2100-02-28T23:59:59.999 */
	                         INT64_C(253402300799999), /* 9999-12-31T23:59:59.999 */
	                         INT64_C(1709164800000)};  /* 2024-02-29 */
	struct tm tm;

	(void)st;
	for (int64_t i = -(int64_t)(sizeof edges / sizeof edges[0]); i < 2932897; i++) {
		/* every day from 1970 to 9999, at a time of day that moves */
		int64_t t = i < 0 ? edges[-i - 1] : i * INT64_C(86400000) + (i * 7919) % 86400000;
		time_t secs = (time_t)(t / 1000);
		assert_non_null(gmtime_r(&secs, &tm));
		snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		         tm.tm_sec, (int)(t % 1000));
		assert_int_equal(util_format_time(t, buf), 0);
		assert_string_equal(buf, want);
	}
}

static void test_parse_time(void **st)
{
	int64_t ms;

	(void)st;
	assert_int_equal(util_parse_time("2026-11-22T10:00:00.123Z", &ms), 0);
	assert_true(ms == INT64_C(1795341600123));
	assert_int_equal(util_parse_time("2026-11-22T11:00:00+01:00", &ms), 0);
	assert_true(ms == INT64_C(1795341600000));
	assert_int_equal(util_parse_time("2026-11-22T10:00:00.5Z", &ms), 0);
	assert_true(ms == INT64_C(1795341600500));
	assert_int_equal(util_parse_time("2024-02-29T00:00:00Z", &ms), 0);
	/* malformed */
	const char *bad[] = {"",
	                     "2026-11-22",
	                     "2026-11-22 10:00:00Z",
	                     "2026-13-01T00:00:00Z",
	                     "2025-02-29T00:00:00Z",
	                     "2026-11-22T24:00:00Z",
	                     "2026-11-22T10:00:00",
	                     "2026-11-22T10:00:00.Z",
	                     "2026-11-22T10:00:00Zjunk",
	                     "1969-12-31T23:59:59Z",
	                     "2026-11-22T10:00:00+1:00",
	                     "+2026-11-22T10:00:00Z"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(util_parse_time(bad[i], &ms), -1);
}

static void test_round_trip(void **st)
{
	char buf[UTIL_TIME_LEN];
	int64_t ms;

	(void)st;
	for (int64_t t = 0; t < INT64_C(253402300799999); t += INT64_C(9876543210987)) {
		assert_int_equal(util_format_time(t, buf), 0);
		assert_int_equal(util_parse_time(buf, &ms), 0);
		assert_true(ms == t);
	}
}

static void test_parse_i64(void **st)
{
	int64_t v;

	(void)st;
	assert_int_equal(util_parse_i64("0", 0, 10, &v), 0);
	assert_true(v == 0);
	assert_int_equal(util_parse_i64("9223372036854775807", 0, INT64_MAX, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(util_parse_i64("9223372036854775808", 0, INT64_MAX, &v), -1);
	assert_int_equal(util_parse_i64("11", 0, 10, &v), -1);
	assert_int_equal(util_parse_i64("-1", -5, 10, &v), -1);
	assert_int_equal(util_parse_i64(" 1", 0, 10, &v), -1);
	assert_int_equal(util_parse_i64("1 ", 0, 10, &v), -1);
	assert_int_equal(util_parse_i64("", 0, 10, &v), -1);
	assert_int_equal(util_parse_i64("0x10", 0, 100, &v), -1);
}

static void test_ids(void **st)
{
	char a[UTIL_ID_MAX], b[UTIL_ID_MAX];

	(void)st;
	util_random_id(a);
	util_random_id(b);
	assert_int_equal(strlen(a), 22);
	assert_true(util_valid_server_id(a));
	assert_string_not_equal(a, b);
	assert_false(util_valid_server_id("short"));
	assert_false(util_valid_server_id("AAAAAAAAAAAAAAAAAAAAA/"));
	assert_false(util_valid_server_id("AAAAAAAAAAAAAAAAAAAAAAA"));
	assert_true(util_valid_account_id("alice"));
	assert_true(util_valid_account_id("a.b_c-d9"));
	assert_false(util_valid_account_id("Alice"));
	assert_false(util_valid_account_id("-x"));
	assert_false(util_valid_account_id(""));
	assert_false(util_valid_account_id("a b"));
	char long_id[66];
	memset(long_id, 'a', 65);
	long_id[65] = '\0';
	assert_false(util_valid_account_id(long_id));
	long_id[64] = '\0';
	assert_true(util_valid_account_id(long_id));
}

static void test_hexval(void **st)
{
	(void)st;
	assert_int_equal(util_hexval('0'), 0);
	assert_int_equal(util_hexval('9'), 9);
	assert_int_equal(util_hexval('a'), 10);
	assert_int_equal(util_hexval('F'), 15);
	assert_int_equal(util_hexval('g'), -1);
	assert_int_equal(util_hexval('/'), -1);
	assert_int_equal(util_hexval(0), -1);
}

static void test_ip_group(void **st)
{
	char g[UTIL_IP_GROUP_LEN];

	(void)st;
	assert_int_equal(util_ip_group("192.0.2.7", g), 0);
	assert_string_equal(g, "192.0.2.7");
	assert_int_equal(util_ip_group("2001:db8:1:2:3:4:5:6", g), 0);
	assert_string_equal(g, "2001:db8:1:2::/64");
	assert_int_equal(util_ip_group("2001:db8:1:2:ffff::1", g), 0);
	assert_string_equal(g, "2001:db8:1:2::/64");
	assert_int_equal(util_ip_group("2001:db8:1:3::1", g), 0);
	assert_string_equal(g, "2001:db8:1:3::/64");
	assert_int_equal(util_ip_group("::ffff:198.51.100.9", g), 0);
	assert_string_equal(g, "198.51.100.9");
	assert_int_equal(util_ip_group("::1", g), 0);
	assert_string_equal(g, "::/64");
	assert_int_equal(util_ip_group("not-an-ip", g), -1);
	assert_int_equal(util_ip_group("unknown", g), -1);
}

static void test_be(void **st)
{
	unsigned char b[8];

	(void)st;
	util_be64_put(b, UINT64_C(0x0102030405060708));
	assert_int_equal(b[0], 1);
	assert_int_equal(b[7], 8);
	assert_true(util_be64_get(b) == UINT64_C(0x0102030405060708));
	util_be32_put(b, 0xA1B2C3D4u);
	assert_int_equal(b[0], 0xA1);
	assert_true(util_be32_get(b) == 0xA1B2C3D4u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_time),
	    cmocka_unit_test(test_parse_time),
	    cmocka_unit_test(test_format_time_vs_gmtime),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_parse_i64),
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_be),
	    cmocka_unit_test(test_hexval),
	    cmocka_unit_test(test_ip_group),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the failed-authentication limiter in vault/authz.c: the
 * per-group window (IPv6 per /64), the limit on all addresses, and the
 * limited periods it hands to the audit log. Times are explicit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "authz.h"

#define T0 INT64_C(1000000)
#define DUE_MAX 8

static struct authz_limited due[DUE_MAX];

static int setup(void **st)
{
	(void)st;
	authz_fail_window_ms = AUTHZ_FAIL_WINDOW_MS;
	authz_anon_rate = 1000000; /* out of the way unless a test wants it */
	authz_anon_burst = 1000000;
	authz_rl_reset();
	return 0;
}

static void fail_n(const char *ip, int n, int64_t now)
{
	int global;

	for (int i = 0; i < n; i++)
		assert_true(authz_rl_fail(ip, now, &global) == 0);
}

/* Ten failures from different addresses of one /64 limit the whole /64,
 * and only it; a v4-mapped address counts as its IPv4 address. */
static void test_ipv6_per_64(void **st)
{
	char ip[64];
	int global = -1;

	(void)st;
	for (int i = 0; i < AUTHZ_FAIL_LIMIT; i++) {
		snprintf(ip, sizeof ip, "2001:db8:1:2::%x", i + 1);
		assert_true(authz_rl_fail(ip, T0 + i, &global) == 0);
	}
	assert_true(authz_rl_wait("2001:db8:1:2:ffff:ffff:ffff:ffff", T0 + 20) > 0);
	assert_true(authz_rl_refuse("2001:db8:1:2:abcd::1", T0 + 20, &global) > 0);
	assert_int_equal(global, 0);
	assert_true(authz_rl_wait("2001:db8:1:3::1", T0 + 20) == 0);
	assert_true(authz_rl_wait("2001:db8:1:2::1", T0 + AUTHZ_FAIL_WINDOW_MS) == 0);

	fail_n("::ffff:192.0.2.7", AUTHZ_FAIL_LIMIT - 1, T0);
	fail_n("192.0.2.7", 1, T0);
	assert_true(authz_rl_wait("192.0.2.7", T0 + 1) > 0);
	assert_true(authz_rl_wait("::ffff:192.0.2.7", T0 + 1) > 0);
	assert_true(authz_rl_wait("192.0.2.8", T0 + 1) == 0);
}

/* The sliding window, the refused count of one period, and its record. */
static void test_period(void **st)
{
	int global;
	int64_t w;

	(void)st;
	fail_n("198.51.100.1", AUTHZ_FAIL_LIMIT, T0);
	w = authz_rl_fail("198.51.100.1", T0 + 1000, &global);
	assert_true(w == AUTHZ_FAIL_WINDOW_MS - 1000);
	for (int i = 0; i < 7; i++)
		assert_true(authz_rl_refuse("198.51.100.1", T0 + 2000 + i, &global) > 0);
	/* still limited: nothing due, unless at shutdown */
	assert_int_equal(authz_rl_due(due, DUE_MAX, T0 + 3000, 0), 0);
	assert_int_equal(authz_rl_due(due, DUE_MAX, T0 + 3000, 1), 1);
	assert_string_equal(due[0].ip, "198.51.100.1");
	assert_true(due[0].refused == 7);
	/* the limit lifts when the oldest failure is a window old */
	assert_true(authz_rl_refuse("198.51.100.1", T0 + AUTHZ_FAIL_WINDOW_MS, &global) == 0);
	assert_int_equal(authz_rl_due(due, DUE_MAX, T0 + AUTHZ_FAIL_WINDOW_MS, 0), 1);
	assert_string_equal(due[0].ip, "198.51.100.1");
	assert_true(due[0].refused == 7);
	authz_rl_recorded(due, 1);
	assert_int_equal(authz_rl_due(due, DUE_MAX, T0 + AUTHZ_FAIL_WINDOW_MS, 1), 0);
}

/* A new period that starts before the old one is recorded keeps both
 * counts, recorded together. */
static void test_periods_before_record(void **st)
{
	const int64_t W = AUTHZ_FAIL_WINDOW_MS;
	int global;

	(void)st;
	fail_n("203.0.113.9", AUTHZ_FAIL_LIMIT, T0);
	assert_true(authz_rl_refuse("203.0.113.9", T0 + 1, &global) > 0);
	assert_true(authz_rl_refuse("203.0.113.9", T0 + 2, &global) > 0);
	fail_n("203.0.113.9", AUTHZ_FAIL_LIMIT, T0 + W);
	assert_true(authz_rl_refuse("203.0.113.9", T0 + W + 1, &global) > 0);
	/* the first period ended: due now, the second still runs */
	assert_int_equal(authz_rl_due(due, DUE_MAX, T0 + W + 2, 0), 1);
	assert_true(due[0].refused == 2);
	authz_rl_recorded(due, 1);
	assert_int_equal(authz_rl_due(due, DUE_MAX, T0 + 2 * W, 0), 1);
	assert_true(due[0].refused == 1);
}

/* Many addresses, each below its own limit, together run the bucket dry:
 * then every address is refused until it is full again, and the refusals
 * make one aggregate period with no address. */
static void test_global_bucket(void **st)
{
	char ip[32];
	int global = -1, n401 = 0, n429 = 0;
	int64_t w = 0;

	(void)st;
	authz_anon_rate = 10; /* per second */
	authz_anon_burst = 5;
	authz_rl_reset();
	for (int i = 0; i < 20; i++) {
		snprintf(ip, sizeof ip, "10.0.0.%d", i + 1);
		if (authz_rl_wait(ip, T0) > 0) {
			w = authz_rl_refuse(ip, T0, &global);
			assert_int_equal(global, 1);
			n429++;
		} else {
			assert_true(authz_rl_fail(ip, T0, &global) == 0);
			n401++;
		}
	}
	assert_int_equal(n401, 5);
	assert_int_equal(n429, 15);
	assert_true(w == 500); /* 5 failures at 10/s */
	assert_int_equal(authz_rl_due(due, DUE_MAX, T0 + 499, 0), 0);
	assert_true(authz_rl_wait("10.0.0.99", T0 + 499) > 0);
	assert_true(authz_rl_wait("10.0.0.99", T0 + 500) == 0);
	assert_int_equal(authz_rl_due(due, DUE_MAX, T0 + 500, 0), 1);
	assert_string_equal(due[0].ip, "");
	assert_true(due[0].refused == 15);
	authz_rl_recorded(due, 1);
	assert_int_equal(authz_rl_due(due, DUE_MAX, T0 + 600, 1), 0);
}

/* When the table is full, reusing a slot never loses a refused count: it
 * joins the aggregate. */
static void test_reuse_keeps_counts(void **st)
{
	char ip[32];
	int global;

	(void)st;
	fail_n("192.0.2.200", AUTHZ_FAIL_LIMIT, T0);
	for (int i = 0; i < 3; i++)
		assert_true(authz_rl_refuse("192.0.2.200", T0 + 1, &global) > 0);
	for (int i = 0; i < 3 * 4096; i++) {
		snprintf(ip, sizeof ip, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		fail_n(ip, 1, T0 + 10);
	}
	/* the limited slot was the stalest: reused, its limit gone, its count kept */
	assert_true(authz_rl_wait("192.0.2.200", T0 + 11) == 0);
	assert_int_equal(authz_rl_due(due, DUE_MAX, T0 + 11, 0), 1);
	assert_string_equal(due[0].ip, "");
	assert_true(due[0].refused == 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_ipv6_per_64, setup),
	    cmocka_unit_test_setup(test_period, setup),
	    cmocka_unit_test_setup(test_periods_before_record, setup),
	    cmocka_unit_test_setup(test_global_bucket, setup),
	    cmocka_unit_test_setup(test_reuse_keeps_counts, setup),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

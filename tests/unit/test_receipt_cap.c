/* Unit tests for receipt_keep_newest (vault/api_links.c): the receipt's
 * reads and sessions lists keep the newest entries past their cap and say
 * that one was left out (SPEC 8.6, no list truncates silently). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api.h"

static json_t *entry(const char *key, const char *time, int n)
{
	return time ? json_pack("{s:s, s:i}", key, time, "n", n)
	            : json_pack("{s:n, s:i}", key, "n", n);
}

static int n_at(json_t *arr, size_t i)
{
	return (int)json_integer_value(json_object_get(json_array_get(arr, i), "n"));
}

/* in time order (the reads): the oldest goes, order kept */
static void test_in_order(void **state)
{
	json_t *arr = json_array();
	char t[32];
	int dropped = 0;

	(void)state;
	for (int i = 0; i < 1005; i++) {
		snprintf(t, sizeof t, "2026-12-01T10:%02d:%02d.000Z", i / 60 % 60, i % 60);
		int rc = receipt_keep_newest(arr, entry("time", t, i), 1000, "time");
		assert_true(rc == 0 || rc == 1);
		assert_int_equal(rc, i >= 1000 ? 1 : 0);
		dropped += rc;
	}
	assert_int_equal(dropped, 5);
	assert_int_equal(json_array_size(arr), 1000);
	assert_int_equal(n_at(arr, 0), 5);
	assert_int_equal(n_at(arr, 999), 1004);
	json_decref(arr);
}

/* equal times: the first added goes first */
static void test_ties(void **state)
{
	json_t *arr = json_array();

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(
		    receipt_keep_newest(arr, entry("time", "2026-12-01T10:00:00Z", i), 3, "time"),
		    i >= 3 ? 1 : 0);
	assert_int_equal(json_array_size(arr), 3);
	assert_int_equal(n_at(arr, 0), 1);
	assert_int_equal(n_at(arr, 2), 3);
	json_decref(arr);
}

/* out of order (sessions walked by id): the smallest time goes, a missing
 * time (never opened) counts as oldest */
static void test_out_of_order(void **state)
{
	json_t *arr = json_array();

	(void)state;
	assert_int_equal(
	    receipt_keep_newest(arr, entry("opened_at", "2026-12-03T00:00:00Z", 0), 2, "opened_at"),
	    0);
	assert_int_equal(receipt_keep_newest(arr, entry("opened_at", NULL, 1), 2, "opened_at"), 0);
	assert_int_equal(
	    receipt_keep_newest(arr, entry("opened_at", "2026-12-01T00:00:00Z", 2), 2, "opened_at"),
	    1);
	assert_int_equal(json_array_size(arr), 2);
	assert_int_equal(n_at(arr, 0), 0);
	assert_int_equal(n_at(arr, 1), 2);
	/* an older one than all kept is itself dropped */
	assert_int_equal(
	    receipt_keep_newest(arr, entry("opened_at", "2025-01-01T00:00:00Z", 3), 2, "opened_at"),
	    1);
	assert_int_equal(n_at(arr, 0), 0);
	assert_int_equal(n_at(arr, 1), 2);
	assert_int_equal(receipt_keep_newest(arr, NULL, 2, "opened_at"), -1);
	assert_int_equal(json_array_size(arr), 2);
	json_decref(arr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_in_order),
	    cmocka_unit_test(test_ties),
	    cmocka_unit_test(test_out_of_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

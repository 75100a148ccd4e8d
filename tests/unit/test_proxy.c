/* Unit tests for vault/proxy.c (--trusted-proxy, SPEC 8.5) and the
 * exposition of vault/metrics.c. Peers outside loopback cannot be made by
 * the integration tests, so the walk over X-Forwarded-For is shown here
 * with proxies and clients anywhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "proxy.h"

static void test_cidr(void **st)
{
	struct proxy_cidr c;
	const char *why;

	(void)st;
	assert_int_equal(proxy_parse_cidr("10.0.0.0/8", &c, &why), 0);
	assert_int_equal(c.bits, 8);
	assert_int_equal(proxy_parse_cidr("192.0.2.7", &c, &why), 0);
	assert_int_equal(c.bits, 32);
	assert_int_equal(proxy_parse_cidr("2001:db8::/32", &c, &why), 0);
	assert_int_equal(proxy_parse_cidr("::1", &c, &why), 0);
	assert_int_equal(c.bits, 128);
	assert_int_equal(proxy_parse_cidr("10.0.0.0/8", &c, &why), 0);
	assert_int_equal(proxy_parse_cidr("2001:db8::/32", &c, &why), 0);
	assert_int_equal(c.bits, 32);
	/* shorter prefixes would trust nearly every client (SPEC 8.5) */
	for (unsigned b = 0; b < 8; b++) {
		char s[32];
		snprintf(s, sizeof s, "0.0.0.0/%u", b);
		assert_int_equal(proxy_parse_cidr(s, &c, &why), -1);
		assert_non_null(strstr(why, "/8"));
	}
	for (unsigned b = 0; b < 32; b++) {
		char s[32];
		snprintf(s, sizeof s, "::/%u", b);
		assert_int_equal(proxy_parse_cidr(s, &c, &why), -1);
		assert_non_null(strstr(why, "/32"));
	}
	const char *bad[] = {"",
	                     "/8",
	                     "10.0.0.0/",
	                     "10.0.0.0/33",
	                     "10.0.0.1/8",
	                     "10.0.0.0/-1",
	                     "10.0.0.0/8x",
	                     "fe80::/129",
	                     "host/8",
	                     "10.0.0.0 /8",
	                     "[::1]/128",
	                     "10.0.0.0/08/1",
	                     "1.2.3.4.5",
	                     "::1%lo",
	                     "10.0.0.0/0x10",
	                     "10.0.0.0/+8",
	                     "::ffff:10.0.0.0/104"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(proxy_parse_cidr(bad[i], &c, &why), -1);
}

static void test_trusted(void **st)
{
	struct proxy_cidr c[3];
	const char *why;

	(void)st;
	assert_int_equal(proxy_parse_cidr("10.0.0.0/8", &c[0], &why), 0);
	assert_int_equal(proxy_parse_cidr("192.0.2.128/25", &c[1], &why), 0);
	assert_int_equal(proxy_parse_cidr("2001:db8:1::/48", &c[2], &why), 0);
	assert_true(proxy_trusted(c, 3, "10.255.255.255"));
	assert_false(proxy_trusted(c, 3, "11.0.0.0"));
	assert_true(proxy_trusted(c, 3, "192.0.2.128"));
	assert_false(proxy_trusted(c, 3, "192.0.2.127"));
	assert_true(proxy_trusted(c, 3, "2001:db8:1:ffff::1"));
	assert_false(proxy_trusted(c, 3, "2001:db8:2::1"));
	assert_true(proxy_trusted(c, 3, "::ffff:10.1.2.3")); /* mapped: as IPv4 */
	assert_false(proxy_trusted(c, 3, "garbage"));
	assert_false(proxy_trusted(c, 0, "10.1.2.3"));
}

static const char *client(const struct proxy_cidr *c, size_t n, const char *peer, const char *xff)
{
	static char out[PROXY_ADDR_LEN];
	const char *v[1] = {xff};

	proxy_client(c, n, peer, v, xff ? 1 : 0, out);
	return out;
}

static void test_client(void **st)
{
	struct proxy_cidr c[2];
	const char *why, *two[2] = {"198.51.100.1", "203.0.113.5, 10.0.0.2"};
	char out[PROXY_ADDR_LEN], *big;

	(void)st;
	assert_int_equal(proxy_parse_cidr("10.0.0.0/8", &c[0], &why), 0);
	assert_int_equal(proxy_parse_cidr("2001:db8::/32", &c[1], &why), 0);
	/* an untrusted peer: the header is never read */
	assert_string_equal(client(c, 2, "192.0.2.1", "203.0.113.5"), "192.0.2.1");
	assert_string_equal(client(c, 0, "10.0.0.1", "203.0.113.5"), "10.0.0.1");
	/* a trusted one: the rightmost untrusted entry */
	assert_string_equal(client(c, 2, "10.0.0.1", "203.0.113.5"), "203.0.113.5");
	assert_string_equal(client(c, 2, "10.0.0.1", "1.1.1.1, 203.0.113.5, 10.0.0.9"),
	                    "203.0.113.5");
	assert_string_equal(client(c, 2, "10.0.0.1", " 203.0.113.5 ,10.0.0.9 "), "203.0.113.5");
	assert_string_equal(client(c, 2, "2001:db8::1", "2001:DB9:0:0:1::7"), "2001:db9::1:0:0:7");
	assert_string_equal(client(c, 2, "10.0.0.1", "10.0.0.3, 10.0.0.2"), "10.0.0.3");
	/* hostile values stop the walk at the last trusted hop */
	assert_string_equal(client(c, 2, "10.0.0.1", "unknown"), "10.0.0.1");
	assert_string_equal(client(c, 2, "10.0.0.1", "203.0.113.5:80"), "10.0.0.1");
	assert_string_equal(client(c, 2, "10.0.0.1", "[2001:db8::5]"), "10.0.0.1");
	assert_string_equal(client(c, 2, "10.0.0.1", "fe80::1%eth0"), "10.0.0.1");
	assert_string_equal(client(c, 2, "10.0.0.1", ""), "10.0.0.1");
	assert_string_equal(client(c, 2, "10.0.0.1", ",,,"), "10.0.0.1");
	assert_string_equal(client(c, 2, "10.0.0.1", "203.0.113.5,"), "10.0.0.1");
	assert_string_equal(client(c, 2, "10.0.0.1", "x, 10.0.0.7"), "10.0.0.7");
	assert_string_equal(client(c, 2, "10.0.0.1", "1.2.3.4\n"), "10.0.0.1");
	assert_string_equal(client(c, 2, "10.0.0.1", "\"1.2.3.4\""), "10.0.0.1");
	/* two headers are one list, in order */
	assert_int_equal(proxy_client(c, 2, "10.0.0.1", two, 2, out), 1);
	assert_string_equal(out, "203.0.113.5");
	/* over-long: one entry longer than what is read is no entry */
	big = malloc(2 * PROXY_XFF_MAX + 64);
	assert_non_null(big);
	memset(big, ' ', PROXY_XFF_MAX + 15);
	memcpy(big + PROXY_XFF_MAX, "1.2.3.4", 7);
	big[PROXY_XFF_MAX + 15] = '\0';
	assert_string_equal(client(c, 2, "10.0.0.1", big), "10.0.0.1");
	/* a client's long left part does not hide what the proxies appended
	 * (the rightmost PROXY_XFF_MAX bytes are read) */
	big[0] = '\0';
	for (int i = 0; i < 600; i++)
		strcat(big, "1.1.1.1,");
	strcat(big, " 203.0.113.8");
	assert_true(strlen(big) > PROXY_XFF_MAX);
	assert_string_equal(client(c, 2, "10.0.0.1", big), "203.0.113.8");
	assert_int_equal(proxy_client(c, 2, "10.0.0.1", (const char *const *)&big, 1, out), 1);
	strcat(big, ", 10.0.0.2");
	assert_string_equal(client(c, 2, "10.0.0.1", big), "203.0.113.8");
	/* as separate headers: the client's (long) line, then the proxy's */
	const char *lines[3] = {big, "10.0.0.9", "203.0.113.9"};
	assert_int_equal(proxy_client(c, 2, "10.0.0.1", lines, 3, out), 1);
	assert_string_equal(out, "203.0.113.9");
	lines[2] = "203.0.113.9, 10.0.0.3";
	assert_int_equal(proxy_client(c, 2, "10.0.0.1", lines, 3, out), 1);
	assert_string_equal(out, "203.0.113.9");
	/* the entry the cut falls in is dropped whole, never read in part:
	 * "203.0.113.99" cut to "3.0.113.99" is not an address to believe */
	size_t pad = PROXY_XFF_MAX + 2 - strlen("203.0.113.99,10.0.0.5");
	strcpy(big, "203.0.113.99,");
	memset(big + 13, ' ', pad);
	strcpy(big + 13 + pad, "10.0.0.5");
	assert_int_equal(strlen(big), PROXY_XFF_MAX + 2);
	assert_string_equal(client(c, 2, "10.0.0.1", big), "10.0.0.5");
	/* cut just after a comma: the entry right of it is whole and read */
	pad = PROXY_XFF_MAX - strlen("203.0.113.98");
	strcpy(big, "198.51.100.1,");
	memset(big + 13, ' ', pad);
	strcpy(big + 13 + pad, "203.0.113.98");
	assert_string_equal(client(c, 2, "10.0.0.1", big), "203.0.113.98");
	/* more entries than are walked, all trusted: the walk stops short */
	size_t at = 0;
	for (int i = 0; i < PROXY_XFF_ENTRIES + 5; i++)
		at += (size_t)snprintf(big + at, PROXY_XFF_MAX + 16 - at, "%s10.0.0.%d",
		                       i ? "," : "", i % 250);
	assert_string_not_equal(client(c, 2, "10.0.0.1", big), "10.0.0.0");
	free(big);
}

METRIC_COUNTER(m_test, "rsvault_test_things_total", "Things")
static const double test_b[] = {1, 10};
METRIC_HISTOGRAM(m_hist, "rsvault_test_size", "Sizes", test_b)

static void test_metrics(void **st)
{
	char *text;

	(void)st;
	metrics_add(&m_test, 3);
	metrics_observe(&m_hist, 0.5);
	metrics_observe(&m_hist, 5);
	metrics_observe(&m_hist, 50);
	metrics_request("GET", "/v1/health", 200, 1500);
	metrics_request("BREW", "/v1/x\"y", 418, 20000000);
	text = metrics_render();
	assert_non_null(text);
	assert_non_null(strstr(text, "# TYPE rsvault_test_things_total counter\n"
	                             "rsvault_test_things_total 3\n"));
	assert_non_null(strstr(text, "rsvault_test_size_bucket{le=\"1\"} 1\n"
	                             "rsvault_test_size_bucket{le=\"10\"} 2\n"
	                             "rsvault_test_size_bucket{le=\"+Inf\"} 3\n"
	                             "rsvault_test_size_sum 55.500000\n"
	                             "rsvault_test_size_count 3\n"));
	assert_non_null(strstr(
	    text,
	    "rsvault_http_requests_total{method=\"GET\",route=\"/v1/health\",status=\"200\"} 1\n"));
	/* an unknown method is "other"; a quote in a label is escaped */
	assert_non_null(strstr(
	    text,
	    "rsvault_http_requests_total{method=\"other\",route=\"/v1/x\\\"y\",status=\"418\"} 1"));
	assert_non_null(strstr(text, "rsvault_http_request_duration_seconds_bucket{method=\"GET\","
	                             "route=\"/v1/health\",le=\"0.0025\"} 1\n"));
	assert_null(strstr(text, "BREW"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cidr),
	    cmocka_unit_test(test_trusted),
	    cmocka_unit_test(test_client),
	    cmocka_unit_test(test_metrics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

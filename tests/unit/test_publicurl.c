/* Unit tests for vault/publicurl.c: the --public-url rule (SPEC 8.2). A
 * listener beyond loopback cannot be bound by the integration tests (they
 * stay on loopback), so the rule is shown here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "publicurl.h"

static void test_loopback(void **st)
{
	char host[72];

	(void)st;
	assert_int_equal(publicurl_listen_loopback("127.0.0.1:8443", host), 1);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(publicurl_listen_loopback("127.5.6.7:0", host), 1);
	assert_int_equal(publicurl_listen_loopback("[::1]:8443", host), 1);
	assert_string_equal(host, "[::1]");
	assert_int_equal(publicurl_listen_loopback("[::ffff:127.0.0.1]:1", host), 1);
	assert_int_equal(publicurl_listen_loopback("0.0.0.0:8443", host), 0);
	assert_int_equal(publicurl_listen_loopback("192.0.2.1:8443", host), 0);
	assert_int_equal(publicurl_listen_loopback("[::]:8443", host), 0);
	assert_int_equal(publicurl_listen_loopback("[2001:db8::1]:8443", host), 0);
	assert_int_equal(publicurl_listen_loopback("localhost:8443", host), -1);
	assert_int_equal(publicurl_listen_loopback("nocolon", host), -1);
}

static void test_check(void **st)
{
	char out[64];
	const char *why;

	(void)st;
	assert_int_equal(publicurl_check("https://vault.example.com/", out, sizeof out, &why), 0);
	assert_string_equal(out, "https://vault.example.com");
	assert_int_equal(publicurl_check("https://v.example:8443/sub", out, sizeof out, &why), 0);
	assert_string_equal(out, "https://v.example:8443/sub");
	assert_int_equal(publicurl_check("http://vault.example.com", out, sizeof out, &why), -1);
	assert_non_null(why);
	assert_int_equal(publicurl_check("https://", out, sizeof out, &why), -1);
	assert_int_equal(publicurl_check("https:///x", out, sizeof out, &why), -1);
	assert_int_equal(publicurl_check("https://a b", out, sizeof out, &why), -1);
	assert_int_equal(publicurl_check("https://a/#x", out, sizeof out, &why), -1);
	assert_int_equal(publicurl_check("https://a/?x", out, sizeof out, &why), -1);
	assert_int_equal(publicurl_check("https://a\"<script>", out, sizeof out, &why), -1);
	assert_int_equal(
	    publicurl_check("https://a-very-long-host-name-that-does-not-fit.example.com/path/x",
	                    out, sizeof out, &why),
	    -1);
}

static void test_resolve(void **st)
{
	char out[128];

	(void)st;
	/* loopback without --public-url: the listener's own address */
	assert_int_equal(publicurl_resolve("", "127.0.0.1:0", 4443, out, sizeof out), 0);
	assert_string_equal(out, "https://127.0.0.1:4443");
	assert_int_equal(publicurl_resolve("", "[::1]:0", 4443, out, sizeof out), 0);
	assert_string_equal(out, "https://[::1]:4443");
	/* beyond loopback without it: none, so making links is refused (409) */
	assert_int_equal(publicurl_resolve("", "0.0.0.0:8443", 8443, out, sizeof out), 0);
	assert_string_equal(out, "");
	assert_int_equal(publicurl_resolve("", "192.0.2.1:8443", 8443, out, sizeof out), 0);
	assert_string_equal(out, "");
	/* given: kept, also when out is the same buffer */
	strcpy(out, "https://vault.example.com");
	assert_int_equal(publicurl_resolve(out, "0.0.0.0:8443", 8443, out, sizeof out), 0);
	assert_string_equal(out, "https://vault.example.com");
	assert_int_equal(publicurl_resolve("", "bad", 1, out, sizeof out), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loopback),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_resolve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for vault/page.c (list paging, SPEC 8.6), the license-key
 * folding of vault/license.c, the backup manifest's signed bytes
 * (common/backupmf.c) and the client's durations (client/cli.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "backupmf.h"
#include "cli.h"
#include "license.h"
#include "page.h"

static void test_keycmp_and_skip(void **st)
{
	struct page p;

	(void)st;
	assert_true(page_keycmp("a", 1, "b", 1) < 0);
	assert_true(page_keycmp("ab", 2, "a", 1) > 0); /* the longer one after */
	assert_int_equal(page_keycmp("ab", 2, "ab", 2), 0);
	memset(&p, 0, sizeof p);
	p.limit = 2;
	assert_int_equal(page_skip(&p, "a", 1), 0); /* no cursor: nothing skipped */
	p.has_after = 1;
	memcpy(p.after, "bob", 3);
	p.afterlen = 3;
	assert_int_equal(page_skip(&p, "alice", 5), 1);
	assert_int_equal(page_skip(&p, "bob", 3), 1); /* the cursor's own item */
	assert_int_equal(page_skip(&p, "bobby", 5), 0);
	assert_int_equal(page_skip(&p, "carol", 5), 0);
}

static void test_full_and_next(void **st)
{
	struct page p;
	json_t *body = json_object();
	const char *dec;
	unsigned char raw[16];
	size_t rl;

	(void)st;
	memset(&p, 0, sizeof p);
	p.limit = 2;
	assert_int_equal(page_full(&p), 0);
	page_add(&p, "x1", 2);
	assert_int_equal(page_full(&p), 0);
	page_add(&p, "x2", 2);
	assert_int_equal(page_finish(&p, body), 0);
	assert_null(json_object_get(body, "next")); /* full, but nothing more seen */
	assert_int_equal(page_full(&p), 1);         /* a third item exists */
	assert_int_equal(page_finish(&p, body), 0);
	dec = json_string_value(json_object_get(body, "next"));
	assert_non_null(dec);
	assert_int_equal(sodium_base642bin(raw, sizeof raw, dec, strlen(dec), NULL, &rl, NULL,
	                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	                 0);
	assert_int_equal(rl, 2);
	assert_memory_equal(raw, "x2", 2); /* the cursor is the last item shown */
	json_decref(body);
}

static void test_license_fold(void **st)
{
	char out[LICENSE_KEY_MAX + 1];

	(void)st;
	license_fold("RU-Pro_0042.x", out);
	assert_string_equal(out, "ru-pro_0042.x");
	license_fold("", out);
	assert_string_equal(out, "");
}

static void test_backup_message(void **st)
{
	char msg[BACKUPMF_MSG_MAX], sha[65], hash[65], sig_hex[129];
	unsigned char pk[32], sk[64], sig[64];

	(void)st;
	memset(sha, 'a', 64);
	sha[64] = '\0';
	memset(hash, '0', 64);
	hash[64] = '\0';
	assert_int_equal(backupmf_message(sha, 42, hash, msg, sizeof msg),
	                 17 + 1 + 64 + 1 + 2 + 1 + 64 + 1);
	assert_memory_equal(msg, "rsvault-backup-v1\naaaa", 22);
	assert_int_equal(backupmf_message("short", 1, hash, msg, sizeof msg), -1);
	assert_int_equal(backupmf_message(sha, 1, hash, msg, 10), -1);
	crypto_sign_keypair(pk, sk);
	backupmf_message(sha, 42, hash, msg, sizeof msg);
	crypto_sign_detached(sig, NULL, (unsigned char *)msg, strlen(msg), sk);
	sodium_bin2hex(sig_hex, sizeof sig_hex, sig, sizeof sig);
	assert_int_equal(backupmf_verify(sha, 42, hash, sig_hex, pk), 0);
	assert_int_equal(backupmf_verify(sha, 43, hash, sig_hex, pk), -1); /* another seq */
	sha[0] = 'b';
	assert_int_equal(backupmf_verify(sha, 42, hash, sig_hex, pk), -1); /* another file */
	sha[0] = 'a';
	sig_hex[0] = sig_hex[0] == '0' ? '1' : '0';
	assert_int_equal(backupmf_verify(sha, 42, hash, sig_hex, pk), -1);
	assert_int_equal(backupmf_verify(sha, 42, hash, "zz", pk), -1);
}

static void test_durations(void **st)
{
	int64_t v = 0;

	(void)st;
	assert_int_equal(cli_parse_duration("90", 1, 100000, &v), 0);
	assert_int_equal(v, 90);
	assert_int_equal(cli_parse_duration("90s", 1, 100000, &v), 0);
	assert_int_equal(v, 90);
	assert_int_equal(cli_parse_duration("30m", 1, 100000, &v), 0);
	assert_int_equal(v, 1800);
	assert_int_equal(cli_parse_duration("2h", 1, 100000, &v), 0);
	assert_int_equal(v, 7200);
	assert_int_equal(cli_parse_duration("7d", 1, 2592000, &v), 0);
	assert_int_equal(v, 604800);
	assert_int_equal(cli_parse_duration("31d", 1, 2592000, &v), -1); /* above max */
	assert_int_equal(cli_parse_duration("30s", 60, 100, &v), -1);    /* below min */
	assert_int_equal(cli_parse_duration("0", 1, 100, &v), -1);
	assert_int_equal(cli_parse_duration("5x", 1, 100, &v), -1);
	assert_int_equal(cli_parse_duration("m", 1, 100, &v), -1);
	assert_int_equal(cli_parse_duration("", 1, 100, &v), -1);
	assert_int_equal(cli_parse_duration("-5m", 1, 100000, &v), -1);
	assert_int_equal(cli_parse_duration("99999999999999999d", 1, 100000, &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keycmp_and_skip), cmocka_unit_test(test_full_and_next),
	    cmocka_unit_test(test_license_fold),    cmocka_unit_test(test_backup_message),
	    cmocka_unit_test(test_durations),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for vault/crypto.c: ticket-key wrapping and credential
 * records bind their ids and times; tokens hash under a derived key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto.h"
#include "keyfile.h"

static char keydir[] = "/tmp/rsvault-test-crypto-XXXXXX";

static int setup(void **st)
{
	unsigned char mk[32], sk[64], pk[32];
	unsigned char mimg[KEYFILE_MASTER_LEN], aimg[KEYFILE_AUDIT_LEN];
	char path[256];

	(void)st;
	if (mkdtemp(keydir) == NULL)
		return -1;
	randombytes_buf(mk, sizeof mk);
	crypto_sign_keypair(pk, sk);
	keyfile_encode_master(mimg, mk, 1);
	keyfile_encode_audit(aimg, sk);
	snprintf(path, sizeof path, "%s/master.key", keydir);
	if (keyfile_write_new(path, mimg, sizeof mimg, 0600) != 0)
		return -1;
	snprintf(path, sizeof path, "%s/audit.key", keydir);
	if (keyfile_write_new(path, aimg, sizeof aimg, 0600) != 0)
		return -1;
	return crypto_init(keydir);
}

static int teardown(void **st)
{
	char path[256];

	(void)st;
	crypto_shutdown();
	snprintf(path, sizeof path, "%s/master.key", keydir);
	unlink(path);
	snprintf(path, sizeof path, "%s/audit.key", keydir);
	unlink(path);
	rmdir(keydir);
	return 0;
}

static int contains(const unsigned char *h, size_t hl, const char *n, size_t nl)
{
	for (size_t i = 0; i + nl <= hl; i++)
		if (memcmp(h + i, n, nl) == 0)
			return 1;
	return 0;
}

static const char T1[] = "AAAAAAAAAAAAAAAAAAAAAA", T2[] = "BBBBBBBBBBBBBBBBBBBBBB";
static const char C1[] = "CCCCCCCCCCCCCCCCCCCCCC", C2[] = "DDDDDDDDDDDDDDDDDDDDDD";

static void test_wrap(void **st)
{
	unsigned char key[32], back[32], w[CRYPTO_WRAPPED_LEN];

	(void)st;
	assert_int_equal(crypto_ticket_key_new(T1, key, w), 0);
	assert_int_equal(w[0], 1);
	assert_int_equal(crypto_ticket_key_unwrap(T1, w, sizeof w, back), 0);
	assert_memory_equal(key, back, 32);
	/* another ticket's id does not open it */
	assert_int_equal(crypto_ticket_key_unwrap(T2, w, sizeof w, back), -1);
	/* any flipped bit fails */
	for (size_t i = 0; i < sizeof w; i++) {
		w[i] ^= 0x01;
		assert_int_equal(crypto_ticket_key_unwrap(T1, w, sizeof w, back), -1);
		w[i] ^= 0x01;
	}
	assert_int_equal(crypto_ticket_key_unwrap(T1, w, sizeof w - 1, back), -1);
}

/* Webhook signing secrets: wrapped values bound to their webhook id and
 * tag, never in clear, refused when changed. */
static void test_webhook_secret(void **st)
{
	const char *sec = "whsec_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
	char out[CRYPTO_WH_SECRET_MAX];
	unsigned char w[CRYPTO_WH_WRAPPED_MAX], pt[64];
	size_t wl = 0, n = 0;

	(void)st;
	assert_int_equal(crypto_webhook_secret_wrap("hookA", sec, strlen(sec), w, sizeof w, &wl),
	                 0);
	assert_int_equal(wl, CRYPTO_WRAP_OVERHEAD + strlen(sec));
	assert_int_equal(crypto_wrapped_version(w, wl), crypto_mk_current());
	assert_false(contains(w, wl, "whsec_", 6)); /* never stored in clear */
	assert_int_equal(crypto_webhook_secret_unwrap("hookA", w, wl, out), 0);
	assert_string_equal(out, sec);
	/* another webhook's id, another tag, a changed byte, a cut blob: refused */
	assert_int_equal(crypto_webhook_secret_unwrap("hookB", w, wl, out), -1);
	assert_int_equal(out[0], '\0');
	assert_int_equal(crypto_unwrap(CRYPTO_TICKET_KEY_TAG, "hookA", 5, w, wl, pt, sizeof pt, &n),
	                 -1);
	w[wl - 1] ^= 1;
	assert_int_equal(crypto_webhook_secret_unwrap("hookA", w, wl, out), -1);
	w[wl - 1] ^= 1;
	assert_int_equal(crypto_webhook_secret_unwrap("hookA", w, wl - 1, out), -1);
	/* empty or too long secrets are not wrapped */
	assert_int_equal(crypto_webhook_secret_wrap("hookA", sec, 0, w, sizeof w, &wl), -1);
}

static void test_record(void **st)
{
	unsigned char key[32], w[CRYPTO_WRAPPED_LEN], *rec, *pt;
	const char msg[] = "{\"secret\":\"p\xc3\xa4ss\"}";
	size_t reclen, ptlen;
	int64_t c, e;

	(void)st;
	assert_int_equal(crypto_ticket_key_new(T1, key, w), 0);
	assert_int_equal(crypto_record_seal(key, T1, C1, 1000, 2000, (const unsigned char *)msg,
	                                    strlen(msg), &rec, &reclen),
	                 0);
	assert_int_equal(reclen, CRYPTO_RECORD_OVERHEAD + strlen(msg));
	assert_false(contains(rec, reclen, "p\xc3\xa4ss", 5));
	assert_int_equal(crypto_record_times(rec, reclen, &c, &e), 0);
	assert_true(c == 1000 && e == 2000);
	assert_int_equal(crypto_record_open(key, T1, C1, rec, reclen, &pt, &ptlen), 0);
	assert_int_equal(ptlen, strlen(msg));
	assert_memory_equal(pt, msg, ptlen);
	free(pt);
	/* moved to another credential id or ticket: refused */
	assert_int_equal(crypto_record_open(key, T1, C2, rec, reclen, &pt, &ptlen), -1);
	assert_null(pt);
	assert_int_equal(crypto_record_open(key, T2, C1, rec, reclen, &pt, &ptlen), -1);
	/* an extended expiry in the clear header: refused */
	rec[16] ^= 0x10;
	assert_int_equal(crypto_record_open(key, T1, C1, rec, reclen, &pt, &ptlen), -1);
	rec[16] ^= 0x10;
	/* a flipped ciphertext bit: refused */
	rec[reclen - 1] ^= 0x80;
	assert_int_equal(crypto_record_open(key, T1, C1, rec, reclen, &pt, &ptlen), -1);
	rec[reclen - 1] ^= 0x80;
	/* wrong format byte: refused before any crypto */
	rec[0] = 2;
	assert_int_equal(crypto_record_times(rec, reclen, &c, &e), -1);
	assert_int_equal(crypto_record_open(key, T1, C1, rec, reclen, &pt, &ptlen), -1);
	free(rec);
}

static void test_tokens(void **st)
{
	char tok[CRYPTO_TOKEN_STR_MAX];
	unsigned char h1[32], h2[32];

	(void)st;
	crypto_token_new(tok, h1);
	assert_int_equal(strncmp(tok, "rsv_", 4), 0);
	assert_int_equal(strlen(tok), 4 + 43);
	crypto_token_hash(tok, strlen(tok), h2);
	assert_memory_equal(h1, h2, 32);
	/* keyed: the plain BLAKE2b of the token differs */
	crypto_generichash(h2, 32, (const unsigned char *)tok, strlen(tok), NULL, 0);
	assert_memory_not_equal(h1, h2, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wrap),
	    cmocka_unit_test(test_record),
	    cmocka_unit_test(test_webhook_secret),
	    cmocka_unit_test(test_tokens),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}

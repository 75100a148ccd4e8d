/* Unit tests for vault/mtls.c: option parsing, verification of a
 * presented chain against the client CA (valid, another CA, self-signed,
 * none, the fingerprint), and mtls_reload swapping the CA in, keeping the
 * old one when the new files do not load. Certificates are made with the
 * key tool's own OpenSSL code (keys/cert.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "cert.h"
#include "keyfile.h"
#include "mtls.h"

static char dir[] = "/tmp/rsvault-test-mtls-XXXXXX";
static char ca_path[256];

struct ca {
	EVP_PKEY *key;
	X509 *cert;
};

struct leaf {
	unsigned char *der;
	int len;
	char fp[65];
};

static void write_pem(const char *path, X509 *x)
{
	struct keys_pem pem;

	unlink(path);
	assert_int_equal(keys_cert_pem_cert(x, &pem), 0);
	assert_int_equal(keyfile_write_new(path, pem.kp_data, pem.kp_len, 0644), 0);
	keys_cert_pem_free(&pem);
}

static void make_ca(struct ca *ca)
{
	assert_int_equal(keys_cert_make_client_ca(&ca->key, &ca->cert), 0);
}

static void free_ca(struct ca *ca)
{
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
}

/* A staff certificate for account from ca (self-signed when ca is NULL:
 * the CA itself, CN "rsvault client CA"). */
static void make_leaf(const struct ca *ca, const char *account, struct leaf *l)
{
	unsigned char h[32], *p;
	EVP_PKEY *key = keys_cert_new_key();
	X509 *x = NULL;

	assert_non_null(key);
	assert_int_equal(keys_cert_make_client(ca->key, ca->cert, account, key, &x), 0);
	l->len = i2d_X509(x, NULL);
	assert_true(l->len > 0);
	l->der = malloc((size_t)l->len);
	assert_non_null(l->der);
	p = l->der;
	assert_int_equal(i2d_X509(x, &p), l->len);
	crypto_hash_sha256(h, l->der, (unsigned long long)l->len);
	sodium_bin2hex(l->fp, sizeof l->fp, h, sizeof h);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void leaf_of_ca(const struct ca *ca, struct leaf *l)
{
	unsigned char h[32], *p;

	l->len = i2d_X509(ca->cert, NULL);
	l->der = malloc((size_t)l->len);
	assert_non_null(l->der);
	p = l->der;
	assert_int_equal(i2d_X509(ca->cert, &p), l->len);
	crypto_hash_sha256(h, l->der, (unsigned long long)l->len);
	sodium_bin2hex(l->fp, sizeof l->fp, h, sizeof h);
}

static int verify(const struct leaf *l, struct req *r)
{
	gnutls_datum_t d = {.data = l->der, .size = (unsigned)l->len};

	memset(r, 0, sizeof *r);
	mtls_verify_chain(&d, 1, r);
	return r->cert_state;
}

static void test_configure(void **state)
{
	(void)state;
	assert_int_equal(mtls_configure(NULL, NULL, NULL), 0);
	assert_int_equal(mtls_enabled(), 0);
	assert_int_equal(mtls_configure(NULL, NULL, "agent"), -1);
	assert_int_equal(mtls_configure("", "crl.pem", NULL), -1);
	assert_int_equal(mtls_configure("ca.pem", NULL, "agent,guest"), -1);
	assert_int_equal(mtls_configure("ca.pem", NULL, "agent,root"), -1);
	mtls_shutdown();
	assert_int_equal(mtls_configure("ca.pem", NULL, "agent,admin"), 0);
	assert_int_equal(mtls_enabled(), 1);
	assert_int_equal(mtls_roles(), ROLE_AGENT | ROLE_ADMIN);
	mtls_shutdown();
	assert_int_equal(mtls_roles(), 0);
}

static void test_verify_and_reload(void **state)
{
	struct ca ca1, ca2;
	struct leaf a1, a2, self, b1;
	struct req r;
	char crl_path[256];

	(void)state;
	make_ca(&ca1);
	make_ca(&ca2);
	make_leaf(&ca1, "agent1", &a1);
	make_leaf(&ca2, "agent1", &a2);
	make_leaf(&ca1, "bob", &b1);
	leaf_of_ca(&ca1, &self);
	write_pem(ca_path, ca1.cert);

	assert_int_equal(mtls_configure(ca_path, NULL, "agent"), 0);
	assert_int_equal(mtls_load(), 0);
	assert_non_null(mtls_ca_pem());
	assert_non_null(strstr(mtls_ca_pem(), "BEGIN CERTIFICATE"));

	/* the right CA: valid, with its CN and fingerprint */
	assert_int_equal(verify(&a1, &r), MTLS_VALID);
	assert_string_equal(r.cert_account, "agent1");
	assert_string_equal(r.cert_fp, a1.fp);
	assert_int_equal(verify(&b1, &r), MTLS_VALID);
	assert_string_equal(r.cert_account, "bob");
	/* another CA, and the CA's own self-signed certificate (no clientAuth) */
	assert_int_equal(verify(&a2, &r), MTLS_INVALID);
	assert_string_equal(r.cert_fp, a2.fp);
	assert_string_equal(r.cert_account, "");
	assert_int_equal(verify(&self, &r), MTLS_INVALID);
	/* nothing presented */
	memset(&r, 0, sizeof r);
	mtls_verify_chain(NULL, 0, &r);
	assert_int_equal(r.cert_state, MTLS_NONE);
	assert_string_equal(r.cert_fp, "");
	/* garbage DER */
	{
		unsigned char junk[40];
		gnutls_datum_t d = {.data = junk, .size = sizeof junk};
		memset(junk, 0x30, sizeof junk);
		memset(&r, 0, sizeof r);
		mtls_verify_chain(&d, 1, &r);
		assert_int_equal(r.cert_state, MTLS_INVALID);
	}

	/* reload with the other CA: the roles swap */
	write_pem(ca_path, ca2.cert);
	assert_int_equal(mtls_reload(), 0);
	assert_int_equal(verify(&a1, &r), MTLS_INVALID);
	assert_int_equal(verify(&a2, &r), MTLS_VALID);
	/* a reload that fails keeps what was in force */
	unlink(ca_path);
	assert_int_equal(mtls_reload(), -1);
	assert_int_equal(verify(&a2, &r), MTLS_VALID);
	assert_int_equal(verify(&a1, &r), MTLS_INVALID);
	mtls_shutdown();

	/* a CRL file that is no CRL: refused at load, nothing in force */
	write_pem(ca_path, ca1.cert);
	snprintf(crl_path, sizeof crl_path, "%s/crl.pem", dir);
	write_pem(crl_path, ca1.cert);
	assert_int_equal(mtls_configure(ca_path, crl_path, "agent"), 0);
	assert_int_equal(mtls_load(), -1);
	assert_int_equal(verify(&a1, &r), MTLS_INVALID);
	mtls_shutdown();
	unlink(crl_path);
	unlink(ca_path);

	free(a1.der);
	free(a2.der);
	free(b1.der);
	free(self.der);
	free_ca(&ca1);
	free_ca(&ca2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_configure),
	    cmocka_unit_test(test_verify_and_reload),
	};
	int rc;

	if (sodium_init() < 0 || mkdtemp(dir) == NULL)
		return 1;
	snprintf(ca_path, sizeof ca_path, "%s/client-ca.pem", dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return rc;
}

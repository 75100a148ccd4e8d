/* cert.c - CA and server certificates for rsvault (see cert.h). */
#include <arpa/inet.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cert.h"

#define KEYS_CA_CN "rsvault CA"
#define KEYS_SERVER_CN "localhost"
#define KEYS_CURVE "P-256"

static int keys_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static char keys_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Check one label s[0..len-1]; first says whether it is the leftmost. */
static int keys_dns_label_ok(const char *s, size_t len, int first, int more)
{
	size_t i;

	if (len == 0 || len > KEYS_DNS_LABEL_MAX)
		return 0;
	if (len == 1 && s[0] == '*')
		return first && more;
	if (s[0] == '-' || s[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!keys_is_alnum(s[i]) && s[i] != '-')
			return 0;
	return 1;
}

static int keys_all_digits(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int keys_dns_ok(const char *name, size_t len)
{
	const char *label = name, *dot;
	size_t llen;
	int first = 1;

	if (len == 0 || len > KEYS_DNS_MAX)
		return 0;
	for (;;) {
		dot = memchr(label, '.', len - (size_t)(label - name));
		llen = dot ? (size_t)(dot - label) : len - (size_t)(label - name);
		if (!keys_dns_label_ok(label, llen, first, dot != NULL))
			return 0;
		if (dot == NULL)
			break;
		label = dot + 1;
		first = 0;
	}
	/* label is now the last one. */
	return !keys_all_digits(label, llen);
}

int keys_cert_parse_san(const char *name, struct keys_san *out)
{
	size_t len, i;

	memset(out, 0, sizeof *out);
	if (name == NULL)
		return -1;
	len = strnlen(name, KEYS_DNS_MAX + 1);
	if (len == 0 || len > KEYS_DNS_MAX)
		return -1;
	if (inet_pton(AF_INET, name, out->ks_ip) == 1) {
		out->ks_kind = KEYS_SAN_IP;
		out->ks_iplen = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, name, out->ks_ip) == 1) {
		out->ks_kind = KEYS_SAN_IP;
		out->ks_iplen = 16;
		return 0;
	}
	memset(out->ks_ip, 0, sizeof out->ks_ip);
	if (!keys_dns_ok(name, len))
		return -1;
	for (i = 0; i < len; i++)
		out->ks_dns[i] = keys_lower(name[i]);
	out->ks_dns[len] = '\0';
	out->ks_kind = KEYS_SAN_DNS;
	return 0;
}

/* --- building blocks ---------------------------------------------------- */

static EVP_PKEY *keys_new_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", KEYS_CURVE);
}

static int keys_set_serial(X509 *x)
{
	BIGNUM *bn;
	int rc = -1;

	if ((bn = BN_new()) == NULL)
		return -1;
	/* Exactly 159 bits: positive, non-zero, 20 bytes in DER. */
	if (!BN_rand(bn, KEYS_CERT_SERIAL_BITS, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY))
		goto done;
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto done;
	rc = 0;
done:
	BN_free(bn);
	return rc;
}

static int keys_set_cn(X509_NAME *name, const char *cn)
{
	return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
	                                  -1, 0)
	           ? 0
	           : -1;
}

/* Version 3, serial, validity from now for days, subject CN, issuer, key. */
static int keys_cert_base(X509 *x, const char *cn, X509 *issuer, EVP_PKEY *key, long days)
{
	X509_NAME *name = NULL;
	int rc = -1;

	if (!X509_set_version(x, X509_VERSION_3))
		return -1;
	if (keys_set_serial(x))
		return -1;
	if (X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL)
		return -1;
	if (X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL)
		return -1;
	if ((name = X509_NAME_new()) == NULL)
		return -1;
	if (keys_set_cn(name, cn))
		goto done;
	if (!X509_set_subject_name(x, name))
		goto done;
	if (!X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name))
		goto done;
	if (!X509_set_pubkey(x, key))
		goto done;
	rc = 0;
done:
	X509_NAME_free(name);
	return rc;
}

static int keys_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* Append one name to gens unless an equal one is already there. */
static int keys_push_name(GENERAL_NAMES *gens, const struct keys_san *san)
{
	GENERAL_NAME *g;
	ASN1_STRING *s;
	int i, type;

	if ((g = GENERAL_NAME_new()) == NULL)
		return -1;
	if (san->ks_kind == KEYS_SAN_IP) {
		type = GEN_IPADD;
		s = ASN1_OCTET_STRING_new();
		if (s == NULL || !ASN1_OCTET_STRING_set(s, san->ks_ip, (int)san->ks_iplen))
			goto fail_s;
	} else if (san->ks_kind == KEYS_SAN_DNS) {
		type = GEN_DNS;
		s = ASN1_IA5STRING_new();
		if (s == NULL || !ASN1_STRING_set(s, san->ks_dns, -1))
			goto fail_s;
	} else {
		GENERAL_NAME_free(g);
		return -1;
	}
	GENERAL_NAME_set0_value(g, type, s);
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(gens, i), g) == 0) {
			GENERAL_NAME_free(g);
			return 0;
		}
	}
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		return -1;
	}
	return 0;
fail_s:
	ASN1_STRING_free(s);
	GENERAL_NAME_free(g);
	return -1;
}

static int keys_add_sans(X509 *x, const struct keys_san *sans, size_t nsans)
{
	static const char *const defaults[] = {"localhost", "127.0.0.1"};
	struct keys_san d;
	GENERAL_NAMES *gens;
	size_t i;
	int rc = -1;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		return -1;
	for (i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
		if (keys_cert_parse_san(defaults[i], &d) || keys_push_name(gens, &d))
			goto done;
	}
	for (i = 0; i < nsans; i++)
		if (keys_push_name(gens, &sans[i]))
			goto done;
	if (!X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT))
		goto done;
	rc = 0;
done:
	GENERAL_NAMES_free(gens);
	return rc;
}

/* --- the two certificates ----------------------------------------------- */

/* A self-signed CA certificate named cn with basic constraints bc. */
static int make_ca(const char *cn, const char *bc, EVP_PKEY **keyp, X509 **certp)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;

	*keyp = NULL;
	*certp = NULL;
	if ((key = keys_new_key()) == NULL)
		goto fail;
	if ((x = X509_new()) == NULL)
		goto fail;
	if (keys_cert_base(x, cn, NULL, key, KEYS_CERT_CA_DAYS))
		goto fail;
	if (keys_add_ext(x, x, NID_basic_constraints, bc) ||
	    keys_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    keys_add_ext(x, x, NID_subject_key_identifier, "hash"))
		goto fail;
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		goto fail;
	*keyp = key;
	*certp = x;
	return 0;
fail:
	X509_free(x);
	EVP_PKEY_free(key);
	return -1;
}

int keys_cert_make_ca(EVP_PKEY **keyp, X509 **certp)
{
	return make_ca(KEYS_CA_CN, "critical,CA:TRUE", keyp, certp);
}

int keys_cert_make_server(EVP_PKEY *cakey, X509 *cacert, const struct keys_san *sans, size_t nsans,
                          EVP_PKEY **keyp, X509 **certp)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;

	*keyp = NULL;
	*certp = NULL;
	if (nsans > KEYS_SAN_MAX)
		return -1;
	if ((key = keys_new_key()) == NULL)
		goto fail;
	if ((x = X509_new()) == NULL)
		goto fail;
	if (keys_cert_base(x, KEYS_SERVER_CN, cacert, key, KEYS_CERT_SERVER_DAYS))
		goto fail;
	if (keys_add_ext(x, cacert, NID_basic_constraints, "critical,CA:FALSE") ||
	    keys_add_ext(x, cacert, NID_key_usage, "critical,digitalSignature") ||
	    keys_add_ext(x, cacert, NID_ext_key_usage, "serverAuth") ||
	    keys_add_ext(x, cacert, NID_subject_key_identifier, "hash") ||
	    keys_add_ext(x, cacert, NID_authority_key_identifier, "keyid:always"))
		goto fail;
	if (keys_add_sans(x, sans, nsans))
		goto fail;
	if (X509_sign(x, cakey, EVP_sha256()) <= 0)
		goto fail;
	*keyp = key;
	*certp = x;
	return 0;
fail:
	X509_free(x);
	EVP_PKEY_free(key);
	return -1;
}

/* --- staff client certificates (SPEC 8.4) -------------------------------- */

int keys_cert_make_client_ca(EVP_PKEY **keyp, X509 **certp)
{
	/* it signs only end-entity certificates: no CA below it */
	return make_ca(KEYS_CLIENT_CA_CN, "critical,CA:TRUE,pathlen:0", keyp, certp);
}

int keys_cert_make_client(EVP_PKEY *cakey, X509 *cacert, const char *account, EVP_PKEY *pub,
                          X509 **certp)
{
	X509 *x = NULL;

	*certp = NULL;
	if ((x = X509_new()) == NULL)
		goto fail;
	if (keys_cert_base(x, account, cacert, pub, KEYS_CERT_CLIENT_DAYS))
		goto fail;
	if (keys_add_ext(x, cacert, NID_basic_constraints, "critical,CA:FALSE") ||
	    keys_add_ext(x, cacert, NID_key_usage, "critical,digitalSignature") ||
	    keys_add_ext(x, cacert, NID_ext_key_usage, "clientAuth") ||
	    keys_add_ext(x, cacert, NID_subject_key_identifier, "hash") ||
	    keys_add_ext(x, cacert, NID_authority_key_identifier, "keyid:always"))
		goto fail;
	if (X509_sign(x, cakey, EVP_sha256()) <= 0)
		goto fail;
	*certp = x;
	return 0;
fail:
	X509_free(x);
	return -1;
}

EVP_PKEY *keys_cert_new_key(void)
{
	return keys_new_key();
}

/* --- PEM in wiped memory ------------------------------------------------ */

static int keys_pem_finish(struct keys_pem *pem)
{
	char *data = NULL;
	long n;

	n = BIO_get_mem_data(pem->kp_bio, &data);
	if (n <= 0 || data == NULL) {
		keys_cert_pem_free(pem);
		return -1;
	}
	pem->kp_data = (const unsigned char *)data;
	pem->kp_len = (size_t)n;
	return 0;
}

int keys_cert_pem_key(EVP_PKEY *key, struct keys_pem *pem)
{
	memset(pem, 0, sizeof *pem);
	if ((pem->kp_bio = BIO_new(BIO_s_secmem())) == NULL)
		return -1;
	if (!PEM_write_bio_PrivateKey(pem->kp_bio, key, NULL, NULL, 0, NULL, NULL)) {
		keys_cert_pem_free(pem);
		return -1;
	}
	return keys_pem_finish(pem);
}

int keys_cert_pem_cert(X509 *cert, struct keys_pem *pem)
{
	memset(pem, 0, sizeof *pem);
	if ((pem->kp_bio = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	if (!PEM_write_bio_X509(pem->kp_bio, cert)) {
		keys_cert_pem_free(pem);
		return -1;
	}
	return keys_pem_finish(pem);
}

void keys_cert_pem_free(struct keys_pem *pem)
{
	char *data = NULL;
	long n;

	if (pem->kp_bio != NULL) {
		n = BIO_get_mem_data(pem->kp_bio, &data);
		if (n > 0 && data != NULL)
			OPENSSL_cleanse(data, (size_t)n);
		BIO_free(pem->kp_bio);
	}
	memset(pem, 0, sizeof *pem);
}

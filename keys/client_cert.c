/* client_cert.c - the client CA, staff certificates and their CRL.
 *
 *   client-ca     --dir DIR      DIR/client-ca.pem (0644), DIR/client-ca.key
 *                                (0600) and an empty DIR/client-crl.pem
 *   client-cert   --dir DIR --account ID --out DIR2 [--csr FILE]
 *                                DIR2/ID.pem, and DIR2/ID.key unless --csr
 *   client-revoke --dir DIR (--serial HEX | --renew)
 *                                DIR/client-crl.pem re-signed with HEX added
 *                                (--renew: only a fresh date)
 *
 * A certificate's subject (CN=ID) and extensions are always the tool's
 * own: from a request only the public key is used, after its signature
 * proved that the requester holds the private key. Files are created
 * O_EXCL (never overwritten), except the CRL, which is replaced
 * atomically (a new file renamed over it). */
#include "client_cert.h"

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "cert.h"
#include "keyfile.h"

#define CC_PATH 4200
#define CC_PEM_MAX (64 * 1024)
#define CC_CRL_DAYS 30 /* a CRL is valid this long; then client-revoke --renew */
#define CC_SERIAL_HEX_MAX 40
#define CC_ACCOUNT_MAX 64

const char keys_client_usage[] =
    "       rsvault-keys client-ca --dir DIR\n"
    "       rsvault-keys client-cert --dir DIR --account ID --out DIR2 [--csr FILE]\n"
    "       rsvault-keys client-revoke --dir DIR (--serial HEX | --renew)\n";
const char keys_client_help[] =
    "client-ca makes a client CA of its own for staff certificates:\n"
    "client-ca.pem, client-ca.key (0600) and an empty client-crl.pem (valid 30\n"
    "days). Keep client-ca.key away from API admins. client-cert issues a\n"
    "certificate for account ID (CN=ID, clientAuth, one year) into DIR2/ID.pem,\n"
    "with a new key in DIR2/ID.key, or with --csr FILE for the key of a request\n"
    "made on the staff machine (only its public key is used). It prints the\n"
    "serial. client-revoke adds a serial (hex, as `openssl x509 -serial` prints\n"
    "it) to client-crl.pem; --renew only re-signs it with a fresh date. The\n"
    "server refuses every mTLS role once its CRL is out of date.\n";

struct cc_opts {
	const char *dir, *account, *out, *csr, *serial;
	int renew;
};

static void cc_ossl(const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof buf);
		warnx("%s: %s", what, buf);
	} else {
		warnx("%s", what);
	}
	ERR_clear_error();
}

static int cc_path(char *out, const char *dir, const char *name, const char *ext)
{
	int n = snprintf(out, CC_PATH, "%s/%s%s", dir, name, ext ? ext : "");

	if (n < 0 || n >= CC_PATH) {
		warnx("path too long");
		return -1;
	}
	return 0;
}

static int cc_exists(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	warn("%s", path);
	return -1;
}

/* Account ids as the API takes them: [a-z0-9][a-z0-9._-]{0,63}. */
static int cc_account_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CC_ACCOUNT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return 0;
	}
	return 1;
}

static int cc_parse(int argc, char **argv, struct cc_opts *o)
{
	static const char *const names[] = {"--dir", "--account", "--out", "--csr", "--serial"};
	const char **slots[] = {&o->dir, &o->account, &o->out, &o->csr, &o->serial};

	for (int i = 2; i < argc; i++) {
		size_t k;
		if (strcmp(argv[i], "--renew") == 0) {
			o->renew = 1;
			continue;
		}
		for (k = 0; k < sizeof names / sizeof names[0]; k++)
			if (strcmp(argv[i], names[k]) == 0)
				break;
		if (k == sizeof names / sizeof names[0] || i + 1 >= argc || *slots[k] != NULL ||
		    argv[i + 1][0] == '\0') {
			warnx("unknown, repeated or incomplete argument: %.*s", 64, argv[i]);
			return -1;
		}
		*slots[k] = argv[++i];
	}
	if (o->dir == NULL) {
		warnx("%s needs --dir DIR", argv[1]);
		return -1;
	}
	return 0;
}

/* Read a PEM file of at most CC_PEM_MAX bytes into a BIO. A secret one is
 * opened with keyfile_open_secret (private to its owner) and its bytes
 * wiped after parsing. */
static BIO *cc_read(const char *path, int secret)
{
	unsigned char *buf;
	struct stat st;
	ssize_t n;
	BIO *b = NULL;
	int fd;

	fd = secret ? keyfile_open_secret(path) : open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (secret)
			warnx("%s", keyfile_error());
		else
			warn("%s", path);
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > CC_PEM_MAX) {
		warnx("%s: not a PEM file of at most %d bytes", path, CC_PEM_MAX);
		close(fd);
		return NULL;
	}
	if ((buf = sodium_malloc((size_t)st.st_size)) == NULL) {
		close(fd);
		return NULL;
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n == st.st_size)
		b = BIO_new(BIO_s_mem());
	if (b != NULL && BIO_write(b, buf, (int)n) != (int)n) {
		BIO_free(b);
		b = NULL;
	}
	sodium_free(buf); /* wipes */
	if (b == NULL)
		warnx("cannot read %s", path);
	return b;
}

/* Load DIR's client CA (certificate and key). */
static int cc_load_ca(const char *dir, X509 **ca, EVP_PKEY **key)
{
	char p[CC_PATH];
	BIO *b;

	*ca = NULL;
	*key = NULL;
	if (cc_path(p, dir, "client-ca", ".pem") || (b = cc_read(p, 0)) == NULL)
		return -1;
	*ca = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (*ca == NULL) {
		cc_ossl("client-ca.pem is not a certificate");
		return -1;
	}
	if (cc_path(p, dir, "client-ca", ".key") || (b = cc_read(p, 1)) == NULL)
		goto fail;
	*key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free_all(b);
	if (*key == NULL) {
		cc_ossl("client-ca.key is not a private key");
		goto fail;
	}
	if (X509_check_private_key(*ca, *key) != 1) {
		cc_ossl("client-ca.key does not belong to client-ca.pem");
		goto fail;
	}
	return 0;
fail:
	X509_free(*ca);
	EVP_PKEY_free(*key);
	*ca = NULL;
	*key = NULL;
	return -1;
}

/* Write a PEM object with keyfile_write_new (O_EXCL). */
static int cc_write_pem(const char *path, const struct keys_pem *pem, mode_t mode)
{
	if (keyfile_write_new(path, pem->kp_data, pem->kp_len, mode) != 0) {
		warn("cannot write %s", path);
		return -1;
	}
	return 0;
}

static int cc_pem_crl(X509_CRL *crl, struct keys_pem *pem)
{
	BUF_MEM *m;

	memset(pem, 0, sizeof *pem);
	if ((pem->kp_bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509_CRL(pem->kp_bio, crl) || BIO_get_mem_ptr(pem->kp_bio, &m) <= 0) {
		keys_cert_pem_free(pem);
		return -1;
	}
	pem->kp_data = (const unsigned char *)m->data;
	pem->kp_len = m->length;
	return 0;
}

/* A CRL of ca: the entries of old (if any) plus serial (if any), number
 * one more than old's, valid from now for CC_CRL_DAYS. */
static X509_CRL *cc_make_crl(X509 *ca, EVP_PKEY *key, X509_CRL *old, const ASN1_INTEGER *serial)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *now = ASN1_TIME_new(), *next = ASN1_TIME_new();
	ASN1_INTEGER *num = NULL;
	BIGNUM *bn = NULL;
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok = 0, dup = 0;

	if (crl == NULL || now == NULL || next == NULL ||
	    !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) ||
	    X509_gmtime_adj(now, 0) == NULL ||
	    X509_time_adj_ex(next, CC_CRL_DAYS, 0, NULL) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, now) || !X509_CRL_set1_nextUpdate(crl, next))
		goto done;
	if (old != NULL) {
		STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(old);
		for (int i = 0; i < sk_X509_REVOKED_num(rev); i++) {
			X509_REVOKED *r = X509_REVOKED_dup(sk_X509_REVOKED_value(rev, i));
			if (serial != NULL &&
			    ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(r), serial) == 0)
				dup = 1;
			if (r == NULL || !X509_CRL_add0_revoked(crl, r)) {
				X509_REVOKED_free(r);
				goto done;
			}
		}
	}
	if (serial != NULL && !dup) {
		X509_REVOKED *r = X509_REVOKED_new();
		if (r == NULL || !X509_REVOKED_set_serialNumber(r, (ASN1_INTEGER *)serial) ||
		    !X509_REVOKED_set_revocationDate(r, now) || !X509_CRL_add0_revoked(crl, r)) {
			X509_REVOKED_free(r);
			goto done;
		}
	}
	/* crlNumber: old + 1 (1 for the first) */
	if ((bn = BN_new()) == NULL)
		goto done;
	if (old != NULL) {
		ASN1_INTEGER *on = X509_CRL_get_ext_d2i(old, NID_crl_number, NULL, NULL);
		if (on != NULL && ASN1_INTEGER_to_BN(on, bn) == NULL) {
			ASN1_INTEGER_free(on);
			goto done;
		}
		ASN1_INTEGER_free(on);
	}
	if (!BN_add_word(bn, 1) || (num = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
		goto done;
	X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier,
	                                "keyid:always")) == NULL)
		goto done;
	ok = X509_CRL_add_ext(crl, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok)
		goto done;
	ok = X509_CRL_sort(crl) && X509_CRL_sign(crl, key, EVP_sha256()) > 0;
done:
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	ASN1_INTEGER_free(num);
	BN_free(bn);
	if (!ok) {
		X509_CRL_free(crl);
		return NULL;
	}
	return crl;
}

/* Replace path with crl: written to path.new (O_EXCL) then renamed. */
static int cc_replace_crl(const char *path, X509_CRL *crl)
{
	char tmp[CC_PATH];
	struct keys_pem pem;
	int rc = -1;

	if (snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp) {
		warnx("path too long");
		return -1;
	}
	if (cc_pem_crl(crl, &pem) != 0) {
		cc_ossl("cannot encode the CRL");
		return -1;
	}
	(void)unlink(tmp); /* a leftover of a run cut short */
	if (cc_write_pem(tmp, &pem, 0644) == 0) {
		if (rename(tmp, path) == 0)
			rc = 0;
		else
			warn("cannot move %s to %s", tmp, path);
	}
	if (rc != 0)
		(void)unlink(tmp);
	keys_cert_pem_free(&pem);
	return rc;
}

/* A directory for keys: used if only its owner may write it, else made 0700. */
static int cc_out_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
			warnx("%s: not a directory only its owner may write", dir);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT || mkdir(dir, 0700) != 0) {
		warn("%s", dir);
		return -1;
	}
	return 0;
}

static int cmd_client_ca(const struct cc_opts *o)
{
	char pem_path[CC_PATH], key_path[CC_PATH], crl_path[CC_PATH];
	struct keys_pem kp = {0}, cp = {0};
	EVP_PKEY *key = NULL;
	X509 *ca = NULL;
	X509_CRL *crl = NULL;
	int rc = 1, made = 0;

	if (cc_path(pem_path, o->dir, "client-ca", ".pem") ||
	    cc_path(key_path, o->dir, "client-ca", ".key") ||
	    cc_path(crl_path, o->dir, "client-crl", ".pem") || cc_out_dir(o->dir) != 0)
		return 1;
	if (cc_exists(pem_path) != 0 || cc_exists(key_path) != 0 || cc_exists(crl_path) != 0) {
		warnx("%s already holds a client CA (or cannot be checked); refusing to "
		      "overwrite; nothing was changed",
		      o->dir);
		return 1;
	}
	if (keys_cert_make_client_ca(&key, &ca) != 0 ||
	    (crl = cc_make_crl(ca, key, NULL, NULL)) == NULL) {
		cc_ossl("cannot make the client CA");
		goto done;
	}
	if (keys_cert_pem_key(key, &kp) != 0 || keys_cert_pem_cert(ca, &cp) != 0) {
		cc_ossl("cannot encode the client CA");
		goto done;
	}
	if (cc_write_pem(key_path, &kp, 0600) != 0)
		goto done;
	made = 1;
	if (cc_write_pem(pem_path, &cp, 0644) != 0)
		goto done;
	made = 2;
	if (cc_replace_crl(crl_path, crl) != 0)
		goto done;
	printf("%s\n%s\n%s\n", pem_path, key_path, crl_path);
	rc = 0;
done:
	if (rc != 0 && made >= 1)
		unlink(key_path);
	if (rc != 0 && made >= 2)
		unlink(pem_path);
	keys_cert_pem_free(&kp);
	keys_cert_pem_free(&cp);
	X509_CRL_free(crl);
	X509_free(ca);
	EVP_PKEY_free(key);
	return rc;
}

/* The public key of a CSR whose signature verifies with it (proof that
 * the requester holds the private key), of a kind TLS clients use: EC
 * P-256/P-384 or RSA of 2048 bits or more. Everything else in the
 * request is ignored. */
static EVP_PKEY *cc_csr_key(const char *path)
{
	X509_REQ *req;
	EVP_PKEY *pub = NULL;
	BIO *b;
	int id, bits;

	if ((b = cc_read(path, 0)) == NULL)
		return NULL;
	req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
	BIO_free(b);
	if (req == NULL) {
		cc_ossl("--csr: not a PEM certificate request");
		return NULL;
	}
	pub = X509_REQ_get_pubkey(req);
	if (pub == NULL || X509_REQ_verify(req, pub) != 1) {
		cc_ossl("--csr: the request's signature does not verify with its key");
		goto fail;
	}
	id = EVP_PKEY_get_base_id(pub);
	bits = EVP_PKEY_get_bits(pub);
	if (!((id == EVP_PKEY_EC && (bits == 256 || bits == 384)) ||
	      (id == EVP_PKEY_RSA && bits >= 2048))) {
		warnx("--csr: the key must be EC P-256/P-384 or RSA of 2048 bits or more");
		goto fail;
	}
	X509_REQ_free(req);
	return pub;
fail:
	EVP_PKEY_free(pub);
	X509_REQ_free(req);
	return NULL;
}

static int cmd_client_cert(const struct cc_opts *o)
{
	char pem_path[CC_PATH], key_path[CC_PATH], *hex = NULL;
	struct keys_pem kp = {0}, cp = {0};
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *x = NULL;
	BIGNUM *bn = NULL;
	int rc = 1, wrote_key = 0;

	if (o->account == NULL || o->out == NULL) {
		warnx("client-cert needs --account ID and --out DIR2");
		return 2;
	}
	if (!cc_account_ok(o->account)) {
		warnx("--account: not an account id ([a-z0-9][a-z0-9._-]{0,63})");
		return 2;
	}
	if (cc_path(pem_path, o->out, o->account, ".pem") ||
	    cc_path(key_path, o->out, o->account, ".key"))
		return 1;
	if (cc_load_ca(o->dir, &ca, &cakey) != 0 || cc_out_dir(o->out) != 0)
		goto done;
	if (cc_exists(pem_path) != 0 || (o->csr == NULL && cc_exists(key_path) != 0)) {
		warnx("%s already holds a certificate or key for %s; nothing was changed", o->out,
		      o->account);
		goto done;
	}
	key = o->csr ? cc_csr_key(o->csr) : keys_cert_new_key();
	if (key == NULL) {
		if (o->csr == NULL)
			cc_ossl("cannot make a key");
		goto done;
	}
	if (keys_cert_make_client(cakey, ca, o->account, key, &x) != 0 ||
	    keys_cert_pem_cert(x, &cp) != 0 ||
	    (o->csr == NULL && keys_cert_pem_key(key, &kp) != 0)) {
		cc_ossl("cannot make the certificate");
		goto done;
	}
	if (o->csr == NULL) {
		if (cc_write_pem(key_path, &kp, 0600) != 0)
			goto done;
		wrote_key = 1;
	}
	if (cc_write_pem(pem_path, &cp, 0644) != 0)
		goto done;
	if ((bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(x), NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL) {
		cc_ossl("cannot print the serial");
		goto done;
	}
	printf("%s\n", pem_path);
	if (o->csr == NULL)
		printf("%s\n", key_path);
	printf("serial: %s\n", hex);
	rc = 0;
done:
	if (rc != 0 && wrote_key)
		unlink(key_path);
	OPENSSL_free(hex);
	BN_free(bn);
	keys_cert_pem_free(&kp);
	keys_cert_pem_free(&cp);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	return rc;
}

/* "4F1A..." or "serial=4F1A...": 1..40 hex digits. */
static ASN1_INTEGER *cc_parse_serial(const char *s)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	size_t n;

	if (strncmp(s, "serial=", 7) == 0)
		s += 7;
	n = strlen(s);
	if (n == 0 || n > CC_SERIAL_HEX_MAX || strspn(s, "0123456789abcdefABCDEF") != n)
		return NULL;
	if (BN_hex2bn(&bn, s) != (int)n || BN_is_zero(bn)) {
		BN_free(bn);
		return NULL;
	}
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return ai;
}

static int cmd_client_revoke(const struct cc_opts *o)
{
	char crl_path[CC_PATH];
	ASN1_INTEGER *serial = NULL;
	X509_CRL *old = NULL, *crl = NULL;
	EVP_PKEY *cakey = NULL, *pub;
	X509 *ca = NULL;
	BIO *b;
	int rc = 1, e;

	if ((o->serial == NULL) == (o->renew == 0)) {
		warnx("client-revoke needs --serial HEX or --renew");
		return 2;
	}
	if (o->serial != NULL && (serial = cc_parse_serial(o->serial)) == NULL) {
		warnx("--serial: not a certificate serial in hex (1 to %d digits)",
		      CC_SERIAL_HEX_MAX);
		return 2;
	}
	if (cc_path(crl_path, o->dir, "client-crl", ".pem") || cc_load_ca(o->dir, &ca, &cakey) != 0)
		goto done;
	if ((e = cc_exists(crl_path)) < 0)
		goto done;
	if (e == 1) {
		if ((b = cc_read(crl_path, 0)) == NULL)
			goto done;
		old = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
		BIO_free(b);
		pub = X509_get0_pubkey(ca);
		if (old == NULL || pub == NULL || X509_CRL_verify(old, pub) != 1) {
			cc_ossl("client-crl.pem is not a CRL signed by client-ca.key; nothing was "
			        "changed");
			goto done;
		}
	}
	if ((crl = cc_make_crl(ca, cakey, old, serial)) == NULL) {
		cc_ossl("cannot make the CRL");
		goto done;
	}
	if (cc_replace_crl(crl_path, crl) != 0)
		goto done;
	printf("%s\n%d certificate(s) revoked; valid for %d days\n", crl_path,
	       sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), CC_CRL_DAYS);
	rc = 0;
done:
	ASN1_INTEGER_free(serial);
	X509_CRL_free(old);
	X509_CRL_free(crl);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return rc;
}

int keys_client_is_cmd(const char *name)
{
	return strcmp(name, "client-ca") == 0 || strcmp(name, "client-cert") == 0 ||
	       strcmp(name, "client-revoke") == 0;
}

int keys_client_cmd(int argc, char **argv)
{
	struct cc_opts o;

	memset(&o, 0, sizeof o);
	if (cc_parse(argc, argv, &o) != 0)
		return 2;
	if (strcmp(argv[1], "client-ca") == 0)
		return cmd_client_ca(&o);
	if (strcmp(argv[1], "client-cert") == 0)
		return cmd_client_cert(&o);
	return cmd_client_revoke(&o);
}

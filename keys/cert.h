/* cert.h - the key tool's X.509 half: parsing --san names, making the CA
 * and the server certificate (ECDSA P-256, SHA-256), and PEM encoding into
 * memory that is wiped when freed. Nothing here touches the file system or
 * prints; callers report errors. None of these block.
 *
 * Certificates made here:
 *   CA:     CN "rsvault CA", 10 years, random 159-bit serial,
 *           basicConstraints critical CA:TRUE, keyUsage critical
 *           keyCertSign,cRLSign, subjectKeyIdentifier.
 *   server: CN "localhost", issued by the CA, 825 days, random serial,
 *           basicConstraints critical CA:FALSE, keyUsage critical
 *           digitalSignature, extendedKeyUsage serverAuth,
 *           subjectKeyIdentifier, authorityKeyIdentifier, subjectAltName
 *           DNS:localhost, IP:127.0.0.1 and the extra names (deduplicated). */
#ifndef RSVAULT_KEYS_CERT_H
#define RSVAULT_KEYS_CERT_H

#include <stddef.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define KEYS_CERT_CA_DAYS 3650
#define KEYS_CERT_SERVER_DAYS 825
#define KEYS_CERT_SERIAL_BITS 159
#define KEYS_SAN_MAX 64  /* extra names on one certificate */
#define KEYS_DNS_MAX 253 /* characters in a DNS name */
#define KEYS_DNS_LABEL_MAX 63

#define KEYS_SAN_DNS 1
#define KEYS_SAN_IP 2

/* One parsed subjectAltName entry. */
struct keys_san {
	int ks_kind;                   /* KEYS_SAN_DNS or KEYS_SAN_IP */
	unsigned char ks_ip[16];       /* network order, KEYS_SAN_IP */
	size_t ks_iplen;               /* 4 or 16 */
	char ks_dns[KEYS_DNS_MAX + 1]; /* lower-cased, KEYS_SAN_DNS */
};

/* Parse a --san value. An IPv4 or IPv6 literal (inet_pton) is an IP name;
 * anything else must be a DNS name: 1..253 characters of [A-Za-z0-9.-],
 * labels of 1..63 characters not starting or ending with '-', no empty
 * label (so no leading, trailing or doubled dot), a last label that is not
 * all digits (so "10.1" or "1.2.3.256" are not mistaken for names), and
 * '*' only as the whole leftmost label of a name with more labels.
 * Returns 0 and fills *out, or -1 (out is then cleared). */
int keys_cert_parse_san(const char *name, struct keys_san *out);

/* Make a fresh P-256 key and a self-signed CA certificate for it.
 * On success the caller owns *keyp and *certp (EVP_PKEY_free, X509_free).
 * Returns 0, or -1 with the reason on the OpenSSL error queue. */
int keys_cert_make_ca(EVP_PKEY **keyp, X509 **certp);

/* Make a fresh P-256 key and a server certificate for it, signed by
 * cakey/cacert, carrying the default names plus sans[0..nsans-1]
 * (nsans <= KEYS_SAN_MAX). The caller owns *keyp and *certp on success.
 * Returns 0 or -1. */
int keys_cert_make_server(EVP_PKEY *cakey, X509 *cacert, const struct keys_san *sans, size_t nsans,
                          EVP_PKEY **keyp, X509 **certp);

#define KEYS_CERT_CLIENT_DAYS 365
#define KEYS_CLIENT_CA_CN "rsvault client CA"

/* A client CA of its own (SPEC 8.4): fresh P-256 key, self-signed, CN
 * "rsvault client CA", 10 years, CA:TRUE pathlen 0, keyCertSign and
 * cRLSign. The caller owns *keyp and *certp. Returns 0 or -1. */
int keys_cert_make_client_ca(EVP_PKEY **keyp, X509 **certp);

/* A staff certificate for account over pub (whatever public key it holds;
 * only the public half is used), issued by the client CA: subject
 * CN=account and nothing else, one year, CA:FALSE, keyUsage critical
 * digitalSignature, EKU clientAuth, subject and authority key ids, random
 * 159-bit serial. Nothing is taken from a request but its key. The caller
 * owns *certp. Returns 0 or -1. */
int keys_cert_make_client(EVP_PKEY *cakey, X509 *cacert, const char *account, EVP_PKEY *pub,
                          X509 **certp);

/* A fresh P-256 key (NULL on failure). */
EVP_PKEY *keys_cert_new_key(void);

/* A PEM document in memory. kp_data/kp_len are valid until
 * keys_cert_pem_free, which wipes the bytes before freeing them. */
struct keys_pem {
	BIO *kp_bio;
	const unsigned char *kp_data;
	size_t kp_len;
};

/* Encode a private key as unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY").
 * Returns 0 or -1; on -1 *pem holds nothing to free. */
int keys_cert_pem_key(EVP_PKEY *key, struct keys_pem *pem);

/* Encode a certificate as PEM. Returns 0 or -1. */
int keys_cert_pem_cert(X509 *cert, struct keys_pem *pem);

/* Wipe and free a PEM document; safe on a zeroed or already freed one. */
void keys_cert_pem_free(struct keys_pem *pem);

#endif

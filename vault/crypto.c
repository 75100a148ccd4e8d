/* crypto.c - master key, derived keys, token hashes, envelopes. */
#include "crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keyfile.h"
#include "log.h"
#include "util.h"
#include "wipe.h"

#define WRAP_FORMAT 0x01
#define RECORD_FORMAT 0x01
#define AD_MAX 512

struct keys {
	unsigned char master[32];
	unsigned char kek[32];
	unsigned char tokkey[32];
	unsigned char tokidkey[32];
	unsigned char capkey[32];
	unsigned char audit_sk[64];
	unsigned char audit_pk[32];
	uint32_t mk_version;
};

static struct keys *K;

int crypto_init(const char *keys_dir)
{
	char path[4096];

	if ((K = sodium_malloc(sizeof *K)) == NULL) {
		log_msg("crypto: cannot allocate guarded memory");
		return -1;
	}
	sodium_memzero(K, sizeof *K);
	if (snprintf(path, sizeof path, "%s/master.key", keys_dir) >= (int)sizeof path ||
	    keyfile_read_master(path, K->master, &K->mk_version) != 0) {
		log_msg("crypto: cannot load the master key: %s", keyfile_error());
		goto fail;
	}
	if (snprintf(path, sizeof path, "%s/audit.key", keys_dir) >= (int)sizeof path ||
	    keyfile_read_audit_sk(path, K->audit_sk) != 0) {
		log_msg("crypto: cannot load the audit signing key: %s", keyfile_error());
		goto fail;
	}
	crypto_sign_ed25519_sk_to_pk(K->audit_pk, K->audit_sk);
	if (crypto_kdf_derive_from_key(K->kek, sizeof K->kek, 1, "rsvwrap1", K->master) != 0 ||
	    crypto_kdf_derive_from_key(K->tokkey, sizeof K->tokkey, 2, "rsvtokn1", K->master) !=
	        0 ||
	    crypto_kdf_derive_from_key(K->tokidkey, sizeof K->tokidkey, 3, "rsvtkid1", K->master) !=
	        0 ||
	    crypto_kdf_derive_from_key(K->capkey, sizeof K->capkey, 4, "rsvcapa1", K->master) != 0)
		goto fail;
	sodium_mprotect_readonly(K);
	return 0;
fail:
	sodium_free(K); /* sodium_free wipes */
	K = NULL;
	return -1;
}

void crypto_shutdown(void)
{
	if (K != NULL)
		sodium_free(K);
	K = NULL;
}

const unsigned char *crypto_audit_sk(void)
{
	return K->audit_sk;
}

const unsigned char *crypto_audit_pk(void)
{
	return K->audit_pk;
}

void crypto_token_hash(const char *tok, size_t len, unsigned char hash[CRYPTO_TOKEN_HASH_LEN])
{
	crypto_generichash(hash, CRYPTO_TOKEN_HASH_LEN, (const unsigned char *)tok, len, K->tokkey,
	                   sizeof K->tokkey);
}

void crypto_token_id(const unsigned char hash[CRYPTO_TOKEN_HASH_LEN], char out[CRYPTO_TOKEN_ID_LEN])
{
	/* crypto_generichash's shortest output is 16 bytes; the id keeps 8 */
	unsigned char h[crypto_generichash_BYTES_MIN];

	crypto_generichash(h, sizeof h, hash, CRYPTO_TOKEN_HASH_LEN, K->tokidkey,
	                   sizeof K->tokidkey);
	sodium_bin2hex(out, CRYPTO_TOKEN_ID_LEN, h, 8);
}

int crypto_valid_token_id(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n >= 16 || !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == 16;
}

void crypto_token_new(char out[CRYPTO_TOKEN_STR_MAX], unsigned char hash[CRYPTO_TOKEN_HASH_LEN])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof raw);
	memcpy(out, "rsv_", 4);
	sodium_bin2base64(out + 4, CRYPTO_TOKEN_STR_MAX - 4, raw, sizeof raw,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
	crypto_token_hash(out, strlen(out), hash);
}

void crypto_cap_new(char secret[CRYPTO_CAP_SECRET_LEN + 1])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof raw);
	sodium_bin2base64(secret, CRYPTO_CAP_SECRET_LEN + 1, raw, sizeof raw,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
}

void crypto_cap_hash(const char *kind, const char *id, const char *secret, size_t len,
                     unsigned char hash[CRYPTO_CAP_HASH_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, K->capkey, sizeof K->capkey, CRYPTO_CAP_HASH_LEN);
	crypto_generichash_update(&st, (const unsigned char *)kind, strlen(kind) + 1);
	crypto_generichash_update(&st, (const unsigned char *)id, strlen(id) + 1);
	crypto_generichash_update(&st, (const unsigned char *)secret, len);
	crypto_generichash_final(&st, hash, CRYPTO_CAP_HASH_LEN);
	sodium_memzero(&st, sizeof st);
}

void crypto_new_id(char out[64])
{
	util_random_id(out);
}

/* Append a u32 BE length and the bytes; returns new length or 0 on overflow. */
static size_t ad_field(unsigned char *ad, size_t off, const void *p, size_t n)
{
	if (off + 4 + n > AD_MAX)
		return 0;
	util_be32_put(ad + off, (uint32_t)n);
	memcpy(ad + off + 4, p, n);
	return off + 4 + n;
}

static size_t ad_tag(unsigned char *ad, const char *tag)
{
	size_t n = strlen(tag) + 1;

	memcpy(ad, tag, n);
	return n;
}

static size_t wrap_ad(unsigned char ad[AD_MAX], const char *tid, uint32_t version)
{
	size_t off = ad_tag(ad, "rsvault-ticket-key-v1");

	if ((off = ad_field(ad, off, tid, strlen(tid))) == 0 || off + 4 > AD_MAX)
		return 0;
	util_be32_put(ad + off, version);
	return off + 4;
}

int crypto_ticket_key_new(const char *tid, unsigned char key[CRYPTO_TICKET_KEY_LEN],
                          unsigned char wrapped[CRYPTO_WRAPPED_LEN])
{
	unsigned char ad[AD_MAX];
	size_t adlen;

	if ((adlen = wrap_ad(ad, tid, K->mk_version)) == 0)
		return -1;
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	wrapped[0] = WRAP_FORMAT;
	util_be32_put(wrapped + 1, K->mk_version);
	randombytes_buf(wrapped + 5, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(wrapped + 29, NULL, key, CRYPTO_TICKET_KEY_LEN,
	                                           ad, adlen, NULL, wrapped + 5, K->kek);
	return 0;
}

int crypto_ticket_key_unwrap(const char *tid, const unsigned char *wrapped, size_t len,
                             unsigned char key[CRYPTO_TICKET_KEY_LEN])
{
	unsigned char ad[AD_MAX];
	size_t adlen;
	uint32_t version;

	if (len != CRYPTO_WRAPPED_LEN || wrapped[0] != WRAP_FORMAT)
		return -1;
	version = util_be32_get(wrapped + 1);
	if (version != K->mk_version) /* rotation will keep older versions here */
		return -1;
	if ((adlen = wrap_ad(ad, tid, version)) == 0)
		return -1;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(key, NULL, NULL, wrapped + 29, 48, ad, adlen,
	                                               wrapped + 5, K->kek) != 0) {
		sodium_memzero(key, CRYPTO_TICKET_KEY_LEN);
		return -1;
	}
	return 0;
}

static size_t record_ad(unsigned char ad[AD_MAX], const char *tid, const char *cid, int64_t created,
                        int64_t expires)
{
	size_t off = ad_tag(ad, "rsvault-credential-v1");

	if ((off = ad_field(ad, off, tid, strlen(tid))) == 0 ||
	    (off = ad_field(ad, off, cid, strlen(cid))) == 0 || off + 16 > AD_MAX)
		return 0;
	util_be64_put(ad + off, (uint64_t)created);
	util_be64_put(ad + off + 8, (uint64_t)expires);
	return off + 16;
}

int crypto_record_seal(const unsigned char key[CRYPTO_TICKET_KEY_LEN], const char *tid,
                       const char *cid, int64_t created, int64_t expires, const unsigned char *pt,
                       size_t ptlen, unsigned char **out, size_t *outlen)
{
	unsigned char ad[AD_MAX], *rec;
	size_t adlen;

	if ((adlen = record_ad(ad, tid, cid, created, expires)) == 0)
		return -1;
	if (ptlen > 1024 * 1024 || (rec = malloc(CRYPTO_RECORD_OVERHEAD + ptlen)) == NULL)
		return -1;
	rec[0] = RECORD_FORMAT;
	util_be64_put(rec + 1, (uint64_t)created);
	util_be64_put(rec + 9, (uint64_t)expires);
	randombytes_buf(rec + 17, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(rec + 41, NULL, pt, ptlen, ad, adlen, NULL,
	                                           rec + 17, key);
	*out = rec;
	*outlen = CRYPTO_RECORD_OVERHEAD + ptlen;
	return 0;
}

int crypto_record_times(const unsigned char *rec, size_t len, int64_t *created, int64_t *expires)
{
	if (len < CRYPTO_RECORD_OVERHEAD || rec[0] != RECORD_FORMAT)
		return -1;
	*created = (int64_t)util_be64_get(rec + 1);
	*expires = (int64_t)util_be64_get(rec + 9);
	return 0;
}

int crypto_record_open(const unsigned char key[CRYPTO_TICKET_KEY_LEN], const char *tid,
                       const char *cid, const unsigned char *rec, size_t len, unsigned char **pt,
                       size_t *ptlen)
{
	unsigned char ad[AD_MAX], *buf;
	size_t adlen, n;
	int64_t created, expires;

	*pt = NULL;
	if (crypto_record_times(rec, len, &created, &expires) != 0)
		return -1;
	if ((adlen = record_ad(ad, tid, cid, created, expires)) == 0)
		return -1;
	n = len - CRYPTO_RECORD_OVERHEAD;
	if ((buf = malloc(n + 1)) == NULL)
		return -1;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(buf, NULL, NULL, rec + 41, len - 41, ad,
	                                               adlen, rec + 17, key) != 0) {
		wipe_release(buf, n + 1);
		return -1;
	}
	buf[n] = '\0';
	*pt = buf;
	*ptlen = n;
	return 0;
}

/* ---- webhook signing secrets ---------------------------------------------- */

#define WH_FORMAT 0x01

static size_t wh_ad(unsigned char ad[AD_MAX], const char *whid, uint32_t version)
{
	size_t off = ad_tag(ad, "rsvault-webhook-secret-v1");

	if ((off = ad_field(ad, off, whid, strlen(whid))) == 0 || off + 4 > AD_MAX)
		return 0;
	util_be32_put(ad + off, version);
	return off + 4;
}

int crypto_webhook_secret_wrap(const char *whid, const char *secret, size_t len,
                               unsigned char **out, size_t *outlen)
{
	unsigned char ad[AD_MAX], *b;
	size_t adlen;

	*out = NULL;
	if (len == 0 || len >= CRYPTO_WH_SECRET_MAX ||
	    (adlen = wh_ad(ad, whid, K->mk_version)) == 0)
		return -1;
	if ((b = malloc(CRYPTO_WH_WRAP_OVERHEAD + len)) == NULL)
		return -1;
	b[0] = WH_FORMAT;
	util_be32_put(b + 1, K->mk_version);
	randombytes_buf(b + 5, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(b + 29, NULL, (const unsigned char *)secret, len,
	                                           ad, adlen, NULL, b + 5, K->kek);
	*out = b;
	*outlen = CRYPTO_WH_WRAP_OVERHEAD + len;
	return 0;
}

int crypto_webhook_secret_unwrap(const char *whid, const unsigned char *blob, size_t len,
                                 char out[CRYPTO_WH_SECRET_MAX], uint32_t *version)
{
	unsigned char ad[AD_MAX];
	size_t adlen, n;
	uint32_t v;

	sodium_memzero(out, CRYPTO_WH_SECRET_MAX);
	if (len <= CRYPTO_WH_WRAP_OVERHEAD || blob[0] != WH_FORMAT)
		return -1;
	n = len - CRYPTO_WH_WRAP_OVERHEAD;
	if (n >= CRYPTO_WH_SECRET_MAX)
		return -1;
	v = util_be32_get(blob + 1);
	if (v != K->mk_version) /* rotation will keep older versions here */
		return -1;
	if ((adlen = wh_ad(ad, whid, v)) == 0)
		return -1;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)out, NULL, NULL, blob + 29,
	                                               len - 29, ad, adlen, blob + 5,
	                                               K->kek) != 0) {
		sodium_memzero(out, CRYPTO_WH_SECRET_MAX);
		return -1;
	}
	out[n] = '\0';
	if (version != NULL)
		*version = v;
	return 0;
}

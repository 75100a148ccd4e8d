/* crypto.c - master key, derived keys, token hashes, envelopes. */
#include "crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keyfile.h"
#include "mkset.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "wipe.h"

#define WRAP_FORMAT 0x01
#define RECORD_FORMAT 0x01
#define AD_MAX 512

struct mkv {
	uint32_t version;
	unsigned char kek[32];
};

struct keys {
	struct mkv mk[MKSET_MAX]; /* increasing versions; the last is current */
	size_t nmk;
	unsigned char tokkey[32];
	unsigned char tokidkey[32];
	unsigned char capkey[32];
	unsigned char audit_sk[64];
	unsigned char audit_pk[32];
};

static struct keys *K;
/* The master-key files, read at start-up and kept (sodium_malloc) only
 * while they are sealed. */
static struct mkset *MS;
static struct mkset_unsealer *MU;
static _Atomic int sealed_flag;

/* From the unsealed set MS: every version's KEK and the hash keys into K;
 * MS is wiped and freed. Returns 0 or -1 (logged). */
static int install_set(void)
{
	unsigned char master[32], hk[KEYFILE_HASH_KEYS_LEN];
	char err[512];
	int rc = -1;

	if (mkset_hash_keys(MS, hk, err, sizeof err) != 0) {
		log_msg("crypto: %s", err);
		goto done;
	}
	sodium_mprotect_readwrite(K);
	for (size_t i = 0; i < MS->n; i++) {
		if (mkset_key(MS, i, master) != 0) {
			log_msg("crypto: %s: damaged", MS->e[i].name);
			sodium_mprotect_readonly(K);
			goto done;
		}
		K->mk[i].version = MS->e[i].version;
		mkset_kek(master, K->mk[i].kek);
	}
	K->nmk = MS->n;
	memcpy(K->tokkey, hk, 32);
	memcpy(K->tokidkey, hk + 32, 32);
	memcpy(K->capkey, hk + 64, 32);
	sodium_mprotect_readonly(K);
	sodium_free(MS); /* wipes */
	MS = NULL;
	if (MU != NULL)
		sodium_free(MU);
	MU = NULL;
	rc = 0;
done:
	sodium_memzero(master, sizeof master);
	sodium_memzero(hk, sizeof hk);
	return rc;
}

int crypto_init(const char *keys_dir)
{
	char path[4096], err[512];

	if ((K = sodium_malloc(sizeof *K)) == NULL || (MS = sodium_malloc(sizeof *MS)) == NULL) {
		log_msg("crypto: cannot allocate guarded memory");
		goto fail;
	}
	sodium_memzero(K, sizeof *K);
	if (mkset_load(keys_dir, MS, err, sizeof err) != 0) {
		log_msg("crypto: cannot load the master keys: %s", err);
		goto fail;
	}
	if (snprintf(path, sizeof path, "%s/audit.key", keys_dir) >= (int)sizeof path ||
	    keyfile_read_audit_sk(path, K->audit_sk) != 0) {
		log_msg("crypto: cannot load the audit signing key: %s", keyfile_error());
		goto fail;
	}
	crypto_sign_ed25519_sk_to_pk(K->audit_pk, K->audit_sk);
	sodium_mprotect_readonly(K);
	if (MS->sealed) {
		if ((MU = sodium_malloc(sizeof *MU)) == NULL)
			goto fail;
		sodium_memzero(MU, sizeof *MU);
		sealed_flag = 1;
		return 0;
	}
	if (install_set() != 0)
		goto fail;
	return 0;
fail:
	if (K != NULL)
		sodium_free(K); /* sodium_free wipes */
	if (MS != NULL)
		sodium_free(MS);
	K = NULL;
	MS = NULL;
	return -1;
}

int crypto_sealed(void)
{
	return sealed_flag;
}

static double sealed_now(void)
{
	return (double)sealed_flag;
}

/* SPEC 8.5 "sealed state". While sealed every route but health answers 503
 * (SPEC 8.4), GET /v1/metrics included, so a successful scrape reads 0; the
 * 1 shows only in a scrape that raced the unseal. Alert on health's 503. */
METRIC_GAUGE_FN(m_sealed, "rsvault_sealed", "1 while the master key is sealed, 0 once unsealed",
                sealed_now)

int crypto_seal_kind(unsigned *k)
{
	if (MS == NULL)
		return 0;
	*k = MS->seal.k;
	return MS->seal.kind;
}

void crypto_seal_open(void)
{
	if (MS == NULL)
		sealed_flag = 0;
}

int crypto_unseal_line(const char *line, size_t len, const char **msg)
{
	int rc;

	*msg = "not sealed";
	if (MS == NULL)
		return 1;
	rc = mkset_feed(MS, MU, line, len, msg, NULL);
	if (rc == 1 && install_set() != 0) {
		*msg = "the unsealed master keys are damaged";
		return -1;
	}
	return rc;
}

void crypto_shutdown(void)
{
	if (K != NULL)
		sodium_free(K);
	if (MS != NULL)
		sodium_free(MS);
	if (MU != NULL)
		sodium_free(MU);
	K = NULL;
	MS = NULL;
	MU = NULL;
}

uint32_t crypto_mk_current(void)
{
	return K->nmk > 0 ? K->mk[K->nmk - 1].version : 0;
}

size_t crypto_mk_versions(uint32_t *out, size_t max)
{
	size_t i;

	for (i = 0; i < K->nmk && i < max; i++)
		out[i] = K->mk[i].version;
	return i;
}

static const unsigned char *kek_of(uint32_t version)
{
	for (size_t i = 0; i < K->nmk; i++)
		if (K->mk[i].version == version)
			return K->mk[i].kek;
	return NULL;
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

static size_t wrap_ad(unsigned char ad[AD_MAX], const char *tag, const void *id, size_t idlen,
                      uint32_t version)
{
	size_t off;

	if (strlen(tag) + 1 > AD_MAX / 2)
		return 0;
	off = ad_tag(ad, tag);
	if ((off = ad_field(ad, off, id, idlen)) == 0 || off + 4 > AD_MAX)
		return 0;
	util_be32_put(ad + off, version);
	return off + 4;
}

static int wrap_under(uint32_t version, const char *tag, const void *id, size_t idlen,
                      const unsigned char *pt, size_t ptlen, unsigned char *out, size_t cap,
                      size_t *outlen)
{
	unsigned char ad[AD_MAX];
	const unsigned char *kek = kek_of(version);
	size_t adlen;

	if (kek == NULL || ptlen > CRYPTO_WRAP_PT_MAX || cap < CRYPTO_WRAP_OVERHEAD + ptlen ||
	    (adlen = wrap_ad(ad, tag, id, idlen, version)) == 0)
		return -1;
	out[0] = WRAP_FORMAT;
	util_be32_put(out + 1, version);
	randombytes_buf(out + 5, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + 29, NULL, pt, ptlen, ad, adlen, NULL,
	                                           out + 5, kek);
	*outlen = CRYPTO_WRAP_OVERHEAD + ptlen;
	return 0;
}

int crypto_wrap(const char *tag, const void *id, size_t idlen, const unsigned char *pt,
                size_t ptlen, unsigned char *out, size_t cap, size_t *outlen)
{
	return wrap_under(crypto_mk_current(), tag, id, idlen, pt, ptlen, out, cap, outlen);
}

uint32_t crypto_wrapped_version(const unsigned char *in, size_t len)
{
	if (len < CRYPTO_WRAP_OVERHEAD || in[0] != WRAP_FORMAT)
		return 0;
	return util_be32_get(in + 1);
}

int crypto_unwrap(const char *tag, const void *id, size_t idlen, const unsigned char *in,
                  size_t len, unsigned char *pt, size_t cap, size_t *ptlen)
{
	unsigned char ad[AD_MAX];
	const unsigned char *kek;
	uint32_t version = crypto_wrapped_version(in, len);
	size_t adlen, n;

	if (version == 0)
		return -1;
	n = len - CRYPTO_WRAP_OVERHEAD;
	if (n > cap)
		return -1;
	if ((kek = kek_of(version)) == NULL) {
		log_msg("crypto: a value is wrapped under master-key version %u, which is not "
		        "loaded (retired, or missing from the key directory)",
		        (unsigned)version);
		return -1;
	}
	if ((adlen = wrap_ad(ad, tag, id, idlen, version)) == 0)
		return -1;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, in + 29, len - 29, ad, adlen,
	                                               in + 5, kek) != 0) {
		sodium_memzero(pt, cap);
		return -1;
	}
	*ptlen = n;
	return 0;
}

int crypto_rewrap(const char *tag, const void *id, size_t idlen, const unsigned char *in,
                  size_t len, unsigned char *out, size_t cap, size_t *outlen)
{
	unsigned char pt[CRYPTO_WRAP_PT_MAX];
	size_t n = 0;
	int rc;

	if (crypto_wrapped_version(in, len) == crypto_mk_current())
		return 1;
	if (crypto_unwrap(tag, id, idlen, in, len, pt, sizeof pt, &n) != 0)
		return -1;
	rc = crypto_wrap(tag, id, idlen, pt, n, out, cap, outlen);
	sodium_memzero(pt, sizeof pt);
	return rc;
}

int crypto_ticket_key_new(const char *tid, unsigned char key[CRYPTO_TICKET_KEY_LEN],
                          unsigned char wrapped[CRYPTO_WRAPPED_LEN])
{
	size_t n;

	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	if (crypto_wrap(CRYPTO_TICKET_KEY_TAG, tid, strlen(tid), key, CRYPTO_TICKET_KEY_LEN,
	                wrapped, CRYPTO_WRAPPED_LEN, &n) != 0) {
		sodium_memzero(key, CRYPTO_TICKET_KEY_LEN);
		return -1;
	}
	return 0;
}

int crypto_ticket_key_unwrap(const char *tid, const unsigned char *wrapped, size_t len,
                             unsigned char key[CRYPTO_TICKET_KEY_LEN])
{
	size_t n = 0;

	if (len != CRYPTO_WRAPPED_LEN ||
	    crypto_unwrap(CRYPTO_TICKET_KEY_TAG, tid, strlen(tid), wrapped, len, key,
	                  CRYPTO_TICKET_KEY_LEN, &n) != 0 ||
	    n != CRYPTO_TICKET_KEY_LEN) {
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

int crypto_record_open_to(const unsigned char key[CRYPTO_TICKET_KEY_LEN], const char *tid,
                          const char *cid, const unsigned char *rec, size_t len, unsigned char *pt,
                          size_t cap, size_t *ptlen)
{
	unsigned char ad[AD_MAX];
	size_t adlen, n;
	int64_t created, expires;

	if (crypto_record_times(rec, len, &created, &expires) != 0)
		return -1;
	if ((adlen = record_ad(ad, tid, cid, created, expires)) == 0)
		return -1;
	n = len - CRYPTO_RECORD_OVERHEAD;
	if (cap < n + 1)
		return -1;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, rec + 41, len - 41, ad,
	                                               adlen, rec + 17, key) != 0) {
		sodium_memzero(pt, n + 1);
		return -1;
	}
	pt[n] = '\0';
	*ptlen = n;
	return 0;
}

int crypto_record_open(const unsigned char key[CRYPTO_TICKET_KEY_LEN], const char *tid,
                       const char *cid, const unsigned char *rec, size_t len, unsigned char **pt,
                       size_t *ptlen)
{
	unsigned char *buf;
	size_t n;

	*pt = NULL;
	if (len < CRYPTO_RECORD_OVERHEAD)
		return -1;
	n = len - CRYPTO_RECORD_OVERHEAD;
	if ((buf = malloc(n + 1)) == NULL)
		return -1;
	if (crypto_record_open_to(key, tid, cid, rec, len, buf, n + 1, ptlen) != 0) {
		free(buf); /* wiped by crypto_record_open_to */
		return -1;
	}
	*pt = buf;
	return 0;
}
_Static_assert(CRYPTO_MK_MAX == MKSET_MAX, "one limit");

/* ---- webhook signing secrets (SPEC 8.3) ----------------------------------- */

int crypto_webhook_secret_wrap(const char *whid, const char *secret, size_t len, unsigned char *out,
                               size_t cap, size_t *outlen)
{
	if (len == 0 || len >= CRYPTO_WH_SECRET_MAX)
		return -1;
	return crypto_wrap(CRYPTO_WEBHOOK_SECRET_TAG, whid, strlen(whid),
	                   (const unsigned char *)secret, len, out, cap, outlen);
}

int crypto_webhook_secret_unwrap(const char *whid, const unsigned char *blob, size_t len,
                                 char out[CRYPTO_WH_SECRET_MAX])
{
	size_t n = 0;

	if (crypto_unwrap(CRYPTO_WEBHOOK_SECRET_TAG, whid, strlen(whid), blob, len,
	                  (unsigned char *)out, CRYPTO_WH_SECRET_MAX - 1, &n) != 0) {
		sodium_memzero(out, CRYPTO_WH_SECRET_MAX);
		return -1;
	}
	out[n] = '\0';
	return 0;
}

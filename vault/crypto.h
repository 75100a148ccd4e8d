/* crypto.h - the vault's keys and envelopes (libsodium).
 *
 * Key hierarchy: a master key (keys/master.key, master-N.key: every
 * version is loaded, common/mkset.h) never encrypts data itself. Subkeys
 * are derived with crypto_kdf:
 *   id 1, context "rsvwrap1": per version, the KEK that wraps per-ticket
 *         keys (and any other wrapped value) under that version;
 * and, from version 1 only (carried unchanged by later versions' files, so
 * retiring version 1 changes none of them):
 *   id 2, context "rsvtokn1": key for the keyed BLAKE2b hash of API tokens;
 *   id 3, context "rsvtkid1": key for the public token id (below);
 *   id 4, context "rsvcapa1": key for the keyed hash of link and receipt
 *         secrets (capabilities, SPEC 8.2).
 * All of them live in sodium_malloc memory (locked, guarded, not dumped),
 * read-only after start-up.
 *
 * Wrapped ticket key (77 bytes):
 *   0x01 | u32 BE master-key version | nonce (24) | XChaCha20-Poly1305(key) (48)
 *   AD = "rsvault-ticket-key-v1" 0x00 | u32 BE len | ticket id | u32 BE mk version
 * Sealed credential record:
 *   0x01 | u64 BE created ms | u64 BE expires ms | nonce (24) | ciphertext
 *   AD = "rsvault-credential-v1" 0x00 | u32 BE len | ticket id | u32 BE len |
 *        credential id | u64 BE created ms | u64 BE expires ms
 * so a record moved to another ticket or id, or with its times changed,
 * fails to open. */
#ifndef RSVAULT_CRYPTO_H
#define RSVAULT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_TICKET_KEY_LEN 32
#define CRYPTO_WRAPPED_LEN 77
#define CRYPTO_TOKEN_HASH_LEN 32
/* Tokens are found by the first bytes of their keyed hash; the whole hash
 * is then compared in constant time. */
#define CRYPTO_TOKEN_LOOKUP_LEN 16
#define CRYPTO_TOKEN_STR_MAX 64 /* "rsv_" + 43 base64url chars + NUL */
#define CRYPTO_RECORD_OVERHEAD (1 + 8 + 8 + 24 + 16)

/* Load every master-key version and audit.key from keys_dir into guarded
 * memory. If the master keys are sealed, they are held encrypted and
 * crypto_sealed() is 1 until crypto_unseal_line() opens them: no file is
 * opened after this call. Returns 0, or -1 with a message logged. */
int crypto_init(const char *keys_dir);

/* 1 while the master keys are sealed (any thread): from crypto_init on a
 * sealed directory until crypto_seal_open(), which the server calls once
 * the keys are unsealed AND the store is ready, so no request runs in
 * between. */
int crypto_sealed(void);
void crypto_seal_open(void);

/* While sealed: the seal's kind (SEAL_KIND_PASSPHRASE or SEAL_KIND_SHARES,
 * common/seal.h) and its threshold in *k; 0 when not sealed. */
int crypto_seal_kind(unsigned *k);

/* Feed one line of unseal input (a passphrase, or a share line): returns 1
 * unsealed (every key installed), 0 share taken and more needed, -1 line
 * refused (*msg says why: wrong passphrase, bad or foreign share, shares
 * that do not open the seal). One thread only, before any key is used. */
int crypto_unseal_line(const char *line, size_t len, const char **msg);

/* The newest (current) master-key version, and every loaded version in
 * increasing order (returns the count). */
#define CRYPTO_MK_MAX 32 /* = MKSET_MAX */
uint32_t crypto_mk_current(void);
size_t crypto_mk_versions(uint32_t *out, size_t max);

/* Wrapped values under a master-key version (generic: ticket keys, and
 * anything else a table of rewrap.c lists):
 *   0x01 | u32 BE master-key version | nonce (24) | XChaCha20-Poly1305(pt)
 *   AD = tag 0x00 | u32 BE len | id | u32 BE version
 * crypto_wrap wraps under the current version (out holds
 * CRYPTO_WRAP_OVERHEAD + ptlen bytes); crypto_unwrap opens under whichever
 * loaded version the value names (pt: cap bytes, wiped on failure);
 * crypto_rewrap returns 1 if in is under the current version already, 0
 * with out written under it, -1 if in does not open. crypto_wrapped_version
 * is 0 for a malformed value. */
#define CRYPTO_WRAP_OVERHEAD (1 + 4 + 24 + 16)
#define CRYPTO_WRAP_PT_MAX 256
#define CRYPTO_TICKET_KEY_TAG "rsvault-ticket-key-v1"
int crypto_wrap(const char *tag, const void *id, size_t idlen, const unsigned char *pt,
                size_t ptlen, unsigned char *out, size_t cap, size_t *outlen);
__attribute__((warn_unused_result)) int crypto_unwrap(const char *tag, const void *id, size_t idlen,
                                                      const unsigned char *in, size_t len,
                                                      unsigned char *pt, size_t cap, size_t *ptlen);
int crypto_rewrap(const char *tag, const void *id, size_t idlen, const unsigned char *in,
                  size_t len, unsigned char *out, size_t cap, size_t *outlen);
uint32_t crypto_wrapped_version(const unsigned char *in, size_t len);

/* Wipe and free every key. */
void crypto_shutdown(void);

/* The audit signing key (64 bytes) and its public half (32 bytes). */
const unsigned char *crypto_audit_sk(void);
const unsigned char *crypto_audit_pk(void);

/* New API token: writes "rsv_" + base64url(32 random bytes) into out and
 * its keyed hash into hash. */
void crypto_token_new(char out[CRYPTO_TOKEN_STR_MAX], unsigned char hash[CRYPTO_TOKEN_HASH_LEN]);

/* Keyed BLAKE2b hash of a presented token string. */
void crypto_token_hash(const char *tok, size_t len, unsigned char hash[CRYPTO_TOKEN_HASH_LEN]);

/* The public id of a token (SPEC 8.1): 16 lowercase hex characters, the
 * first 8 bytes of BLAKE2b keyed with the token-id key over the token's
 * keyed hash. A keyed one-way function of the token: it names a token in
 * audit events and revocations without revealing or verifying it, and it
 * can be computed from the stored hash, so tokens made before ids existed
 * have one too. */
#define CRYPTO_TOKEN_ID_LEN 17 /* 16 hex + NUL */
void crypto_token_id(const unsigned char hash[CRYPTO_TOKEN_HASH_LEN],
                     char out[CRYPTO_TOKEN_ID_LEN]);

/* Is s a well-formed token id (16 lowercase hex characters)? */
int crypto_valid_token_id(const char *s);

/* Make a fresh ticket key (caller's buffer; caller wipes) and wrap it.
 * Returns 0 or -1. */
int crypto_ticket_key_new(const char *tid, unsigned char key[CRYPTO_TICKET_KEY_LEN],
                          unsigned char wrapped[CRYPTO_WRAPPED_LEN]);

/* Unwrap a stored ticket key. Returns 0, or -1 if the blob is malformed or
 * fails authentication (corruption or tampering); key is wiped then. */
__attribute__((warn_unused_result)) int
crypto_ticket_key_unwrap(const char *tid, const unsigned char *wrapped, size_t len,
                         unsigned char key[CRYPTO_TICKET_KEY_LEN]);

/* Seal plaintext for (tid, cid, created, expires) under key. *out is
 * malloc'd (CRYPTO_RECORD_OVERHEAD + ptlen bytes). Returns 0 or -1. */
int crypto_record_seal(const unsigned char key[CRYPTO_TICKET_KEY_LEN], const char *tid,
                       const char *cid, int64_t created, int64_t expires, const unsigned char *pt,
                       size_t ptlen, unsigned char **out, size_t *outlen);

/* Read the clear header of a sealed record (format checked first). */
int crypto_record_times(const unsigned char *rec, size_t len, int64_t *created, int64_t *expires);

/* Open a sealed record. *pt is malloc'd (NUL-terminated, *ptlen excludes
 * the NUL); the caller wipes and frees it. Returns 0, or -1 on a bad format
 * or failed authentication. */
__attribute__((warn_unused_result)) int
crypto_record_open(const unsigned char key[CRYPTO_TICKET_KEY_LEN], const char *tid, const char *cid,
                   const unsigned char *rec, size_t len, unsigned char **pt, size_t *ptlen);

/* crypto_record_open into the caller's buffer pt of cap bytes, which must
 * hold len - CRYPTO_RECORD_OVERHEAD + 1 (plaintext and NUL); the caller
 * wipes it. On failure nothing of the plaintext is left in pt. */
__attribute__((warn_unused_result)) int
crypto_record_open_to(const unsigned char key[CRYPTO_TICKET_KEY_LEN], const char *tid,
                      const char *cid, const unsigned char *rec, size_t len, unsigned char *pt,
                      size_t cap, size_t *ptlen);

/* Capabilities (links and receipts, SPEC 8.2): "{id}.{secret}", where
 * secret is 32 random bytes in base64url without padding (43 characters).
 * Only the keyed hash is stored: BLAKE2b-256 keyed with the capability key
 * over kind ("link" or "receipt"), 0x00, id, 0x00, secret, so a hash is
 * bound to its kind and id. */
#define CRYPTO_CAP_SECRET_LEN 43
#define CRYPTO_CAP_HASH_LEN 32
void crypto_cap_new(char secret[CRYPTO_CAP_SECRET_LEN + 1]);
void crypto_cap_hash(const char *kind, const char *id, const char *secret, size_t len,
                     unsigned char hash[CRYPTO_CAP_HASH_LEN]);

/* Webhook signing secrets (SPEC 8.3): wrapped values like ticket keys
 * (crypto_wrap above, under the current master-key version), with this
 * tag and the webhook id in the associated data; stored in
 * DB_WEBHOOK_SECRETS (row key = webhook id), which wrapped.c lists, so
 * the rewrap, the per-version counts and retire-master cover them.
 * crypto_webhook_secret_wrap is the one place that encrypts them (out:
 * cap bytes, at least CRYPTO_WH_WRAPPED_MAX); unwrap writes the secret
 * NUL-terminated into out (wiped on failure). Both return 0 or -1. */
#define CRYPTO_WEBHOOK_SECRET_TAG "rsvault-webhook-secret-v1"
#define CRYPTO_WH_SECRET_MAX 128 /* with the NUL */
#define CRYPTO_WH_WRAPPED_MAX (CRYPTO_WRAP_OVERHEAD + CRYPTO_WH_SECRET_MAX)
int crypto_webhook_secret_wrap(const char *whid, const char *secret, size_t len, unsigned char *out,
                               size_t cap, size_t *outlen);
__attribute__((warn_unused_result)) int
crypto_webhook_secret_unwrap(const char *whid, const unsigned char *blob, size_t len,
                             char out[CRYPTO_WH_SECRET_MAX]);

/* A fresh random id for a ticket, credential or session (22 chars). */
void crypto_new_id(char out[64]);

#endif

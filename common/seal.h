/* seal.h - the sealed master key (SPEC 8.4): the sealed-file format, the
 * passphrase key derivation, Shamir secret sharing over GF(2^8) and the
 * share lines. Shared by the key tool (which seals) and the server (which
 * unseals); no I/O here.
 *
 * Sealed master-key file (DIR/master.key.sealed, DIR/master-N.key.sealed,
 * mode 0600), binary:
 *   "RSVK" | type 0x03 | format 0x01 | kind (1 passphrase, 2 shares) |
 *   seal id (16) | K (1; 0 for a passphrase) | salt (16; zero for shares) |
 *   u64 BE opslimit | u64 BE memlimit (0 for shares) | u32 BE version |
 *   nonce (24) | XChaCha20-Poly1305(master-key file image) (image + 16)
 * AD = every byte before the nonce, so a file cannot be moved to another
 * seal, version or set of parameters. The AEAD key is the seal key:
 * Argon2id(passphrase, salt, opslimit, memlimit) for kind 1, a random key
 * split into shares for kind 2. Every file of one directory belongs to one
 * seal (same id, same seal key).
 *
 * Share line (text, one line per share file):
 *   rsvault-share-v1 SEALID(32 hex) K INDEX SHARE(64 hex) CHECK(8 hex)
 * CHECK is the first 4 bytes of BLAKE2b-256 over the line up to and
 * including the space before it: it catches a mistyped or truncated line.
 * The share is the 32 y-values of the seal key's 32 byte polynomials at
 * x = INDEX (1..255). */
#ifndef RSVAULT_SEAL_H
#define RSVAULT_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEAL_KEY_LEN 32
#define SEAL_ID_LEN 16
#define SEAL_SALT_LEN 16
#define SEAL_KIND_PASSPHRASE 1
#define SEAL_KIND_SHARES 2
#define SEAL_HDR_LEN 84 /* 6 + 1 + 16 + 1 + 16 + 8 + 8 + 4 + 24 (through the nonce) */
#define SEAL_AD_LEN (SEAL_HDR_LEN - 24)
#define SEAL_IMAGE_MAX 160
#define SEAL_FILE_MAX (SEAL_HDR_LEN + SEAL_IMAGE_MAX + 16)
#define SEAL_SHARES_MAX 255
#define SEAL_SHARE_LINE_MAX 160
#define SEAL_PASSPHRASE_MAX 1024
/* The longest passphrase or share line the key tool and the server read,
 * in bytes before its "\n" (a "\r" before it counts). A longer line is
 * refused whole, with a message, and never tried in part: neither its
 * first bytes nor the rest after them are taken as a line. */
#define SEAL_LINE_MAX 2047

struct seal_params {
	int kind;
	unsigned char id[SEAL_ID_LEN];
	unsigned k; /* threshold (shares); 0 for a passphrase */
	unsigned char salt[SEAL_SALT_LEN];
	uint64_t opslimit;
	uint64_t memlimit;
};

struct seal_share {
	unsigned char id[SEAL_ID_LEN];
	unsigned k;
	unsigned index; /* 1..255 */
	unsigned char y[SEAL_KEY_LEN];
};

/* Multiplication in GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1
 * (0x11b), constant time. Exposed for the tests. */
unsigned char seal_gf_mul(unsigned char a, unsigned char b);

/* Multiplicative inverse in GF(2^8) (a^254); 0 for 0. */
unsigned char seal_gf_inv(unsigned char a);

/* Fresh parameters for a passphrase seal (random id and salt, Argon2id at
 * libsodium's MODERATE limits) or a K-of-N share seal (random id). */
void seal_params_passphrase(struct seal_params *p);
void seal_params_shares(struct seal_params *p, unsigned k);

/* The seal key from a passphrase (Argon2id, the params' salt and limits).
 * Returns 0 or -1 (out of memory, or limits below MODERATE: refused). */
int seal_key_from_passphrase(const struct seal_params *p, const char *pw, size_t len,
                             unsigned char key[SEAL_KEY_LEN]);

/* Split key into n shares with threshold k (2 <= k <= n <= 255), using
 * libsodium's randombytes for the coefficients (wiped). out[i].index = i+1.
 * Returns 0 or -1 (bad k, n). */
int seal_split(const struct seal_params *p, const unsigned char key[SEAL_KEY_LEN], unsigned n,
               struct seal_share *out);

/* Combine shares: Lagrange interpolation at x = 0 over the first k given
 * shares. They must be at least k, of one seal id, with distinct indexes.
 * Returns 0, or -1 with *why set (a static string). */
int seal_combine(const struct seal_share *s, size_t n, unsigned char key[SEAL_KEY_LEN],
                 const char **why);

/* Format a share line (NUL-terminated, with "\n") into line. */
void seal_share_format(const struct seal_share *s, char line[SEAL_SHARE_LINE_MAX]);

/* Parse one share line (trailing "\r\n" or "\n" allowed). Returns 0, or -1
 * with *why set (never echoes the input). */
int seal_share_parse(const char *line, size_t len, struct seal_share *s, const char **why);

/* Encrypt a master-key file image into out (SEAL_FILE_MAX bytes); *outlen
 * gets the length. Returns 0 or -1. */
int seal_file_encrypt(const struct seal_params *p, const unsigned char key[SEAL_KEY_LEN],
                      uint32_t version, const unsigned char *img, size_t imglen, unsigned char *out,
                      size_t *outlen);

/* Read the clear header of a sealed file (format checked first). Returns 0
 * or -1. */
int seal_file_header(const unsigned char *f, size_t len, struct seal_params *p, uint32_t *version);

/* Decrypt a sealed file with key into img (SEAL_IMAGE_MAX bytes). Returns
 * 0, or -1 on a bad format or a failed authentication (the wrong key); img
 * is wiped then. */
__attribute__((warn_unused_result)) int seal_file_decrypt(const unsigned char *f, size_t len,
                                                          const unsigned char key[SEAL_KEY_LEN],
                                                          unsigned char *img, size_t *imglen);

/* The length of a passphrase or share line without its line ending ("\n",
 * "\r\n") and without trailing spaces and tabs. Every entry path reads a
 * line through this: the key tool (prompt or standard input, new and
 * current passphrases) and the server (--unseal-fd, terminal, systemd
 * credential, through mkset_feed), so both sides hash the same bytes.
 * Leading white space is kept (it is part of the passphrase). */
size_t seal_line_len(const char *line, size_t len);

/* Do two parameter sets name the same seal? */
int seal_same(const struct seal_params *a, const struct seal_params *b);

#endif

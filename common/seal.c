/* seal.c - sealed master-key files, passphrase keys and Shamir shares
 * (formats in seal.h). */
#include "seal.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "util.h"

#define SEAL_MAGIC "RSVK"
#define SEAL_TYPE 0x03
#define SEAL_FORMAT 0x01
#define SEAL_TAG "rsvault-share-v1"
#define SEAL_CHECK_LEN 4

unsigned char seal_gf_mul(unsigned char a, unsigned char b)
{
	unsigned char p = 0, hi;

	for (int i = 0; i < 8; i++) {
		p ^= (unsigned char)(-(b & 1) & a);
		hi = (unsigned char)(-(a >> 7) & 0x1b);
		a = (unsigned char)((a << 1) ^ hi);
		b >>= 1;
	}
	return p;
}

unsigned char seal_gf_inv(unsigned char a)
{
	/* a^254 = a^-1 in GF(2^8) (and 0 -> 0): square-and-multiply */
	unsigned char r = 1, x = a;
	unsigned e = 254;

	while (e) {
		if (e & 1)
			r = seal_gf_mul(r, x);
		x = seal_gf_mul(x, x);
		e >>= 1;
	}
	return r;
}

void seal_params_passphrase(struct seal_params *p)
{
	memset(p, 0, sizeof *p);
	p->kind = SEAL_KIND_PASSPHRASE;
	randombytes_buf(p->id, sizeof p->id);
	randombytes_buf(p->salt, sizeof p->salt);
	p->opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
	p->memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
}

void seal_params_shares(struct seal_params *p, unsigned k)
{
	memset(p, 0, sizeof *p);
	p->kind = SEAL_KIND_SHARES;
	randombytes_buf(p->id, sizeof p->id);
	p->k = k;
}

int seal_same(const struct seal_params *a, const struct seal_params *b)
{
	return a->kind == b->kind && sodium_memcmp(a->id, b->id, SEAL_ID_LEN) == 0 &&
	       a->k == b->k && sodium_memcmp(a->salt, b->salt, SEAL_SALT_LEN) == 0 &&
	       a->opslimit == b->opslimit && a->memlimit == b->memlimit;
}

int seal_key_from_passphrase(const struct seal_params *p, const char *pw, size_t len,
                             unsigned char key[SEAL_KEY_LEN])
{
	if (p->kind != SEAL_KIND_PASSPHRASE || p->opslimit < crypto_pwhash_OPSLIMIT_MODERATE ||
	    p->memlimit < crypto_pwhash_MEMLIMIT_MODERATE ||
	    p->opslimit > crypto_pwhash_OPSLIMIT_SENSITIVE ||
	    p->memlimit > crypto_pwhash_MEMLIMIT_SENSITIVE)
		return -1;
	if (crypto_pwhash(key, SEAL_KEY_LEN, pw, len, p->salt, (unsigned long long)p->opslimit,
	                  (size_t)p->memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
		sodium_memzero(key, SEAL_KEY_LEN);
		return -1;
	}
	return 0;
}

int seal_split(const struct seal_params *p, const unsigned char key[SEAL_KEY_LEN], unsigned n,
               struct seal_share *out)
{
	unsigned char coef[SEAL_SHARES_MAX];
	unsigned k = p->k;

	if (k < 2 || k > n || n > SEAL_SHARES_MAX)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		memcpy(out[i].id, p->id, SEAL_ID_LEN);
		out[i].k = k;
		out[i].index = i + 1;
	}
	for (unsigned j = 0; j < SEAL_KEY_LEN; j++) {
		/* f(x) = key[j] + coef[1] x + ... + coef[k-1] x^(k-1) */
		coef[0] = key[j];
		randombytes_buf(coef + 1, k - 1);
		for (unsigned i = 0; i < n; i++) {
			unsigned char x = (unsigned char)(i + 1), y = 0;
			for (unsigned c = k; c-- > 0;) /* Horner */
				y = (unsigned char)(seal_gf_mul(y, x) ^ coef[c]);
			out[i].y[j] = y;
		}
	}
	sodium_memzero(coef, sizeof coef);
	return 0;
}

int seal_combine(const struct seal_share *s, size_t n, unsigned char key[SEAL_KEY_LEN],
                 const char **why)
{
	unsigned char lag[SEAL_SHARES_MAX];
	unsigned k;

	*why = NULL;
	if (n == 0) {
		*why = "no shares";
		return -1;
	}
	k = s[0].k;
	if (k < 2 || k > SEAL_SHARES_MAX) {
		*why = "a share names an impossible threshold";
		return -1;
	}
	if (n < k) {
		*why = "too few shares";
		return -1;
	}
	for (unsigned i = 0; i < k; i++) {
		if (s[i].k != k || sodium_memcmp(s[i].id, s[0].id, SEAL_ID_LEN) != 0) {
			*why = "shares of different seals";
			return -1;
		}
		if (s[i].index < 1 || s[i].index > SEAL_SHARES_MAX) {
			*why = "a share index is out of range";
			return -1;
		}
		for (unsigned m = 0; m < i; m++)
			if (s[m].index == s[i].index) {
				*why = "the same share twice";
				return -1;
			}
	}
	/* Lagrange basis at 0: L_i = prod_{m != i} x_m / (x_m - x_i); in
	 * GF(2^8) subtraction is XOR. */
	for (unsigned i = 0; i < k; i++) {
		unsigned char num = 1, den = 1;
		for (unsigned m = 0; m < k; m++) {
			if (m == i)
				continue;
			num = seal_gf_mul(num, (unsigned char)s[m].index);
			den = seal_gf_mul(den, (unsigned char)(s[m].index ^ s[i].index));
		}
		lag[i] = seal_gf_mul(num, seal_gf_inv(den));
	}
	for (unsigned j = 0; j < SEAL_KEY_LEN; j++) {
		unsigned char v = 0;
		for (unsigned i = 0; i < k; i++)
			v ^= seal_gf_mul(s[i].y[j], lag[i]);
		key[j] = v;
	}
	sodium_memzero(lag, sizeof lag);
	return 0;
}

static void seal_check(const char *text, size_t len, char hex[2 * SEAL_CHECK_LEN + 1])
{
	unsigned char h[32];

	crypto_generichash(h, sizeof h, (const unsigned char *)text, len, NULL, 0);
	sodium_bin2hex(hex, 2 * SEAL_CHECK_LEN + 1, h, SEAL_CHECK_LEN);
}

void seal_share_format(const struct seal_share *s, char line[SEAL_SHARE_LINE_MAX])
{
	char id[2 * SEAL_ID_LEN + 1], y[2 * SEAL_KEY_LEN + 1], chk[2 * SEAL_CHECK_LEN + 1];
	int n;

	sodium_bin2hex(id, sizeof id, s->id, SEAL_ID_LEN);
	sodium_bin2hex(y, sizeof y, s->y, SEAL_KEY_LEN);
	n = snprintf(line, SEAL_SHARE_LINE_MAX, "%s %s %u %u %s ", SEAL_TAG, id, s->k, s->index, y);
	seal_check(line, (size_t)n, chk);
	snprintf(line + n, SEAL_SHARE_LINE_MAX - (size_t)n, "%s\n", chk);
	sodium_memzero(y, sizeof y);
}

/* Parse a decimal 1..255 field of at most 3 digits at *p, followed by ' '. */
static int seal_small(const char **p, const char *end, unsigned *out)
{
	unsigned v = 0, nd = 0;

	while (*p < end && **p >= '0' && **p <= '9' && nd < 4) {
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
		nd++;
	}
	if (nd == 0 || nd > 3 || v < 1 || v > 255 || *p >= end || **p != ' ')
		return -1;
	(*p)++;
	*out = v;
	return 0;
}

static int seal_hex(const char **p, const char *end, unsigned char *out, size_t n)
{
	size_t bin = 0;

	if ((size_t)(end - *p) < 2 * n)
		return -1;
	for (size_t i = 0; i < 2 * n; i++)
		if (util_hexval((unsigned char)(*p)[i]) < 0 || ((*p)[i] >= 'A' && (*p)[i] <= 'F'))
			return -1;
	if (sodium_hex2bin(out, n, *p, 2 * n, NULL, &bin, NULL) != 0 || bin != n)
		return -1;
	*p += 2 * n;
	return 0;
}

int seal_share_parse(const char *line, size_t len, struct seal_share *s, const char **why)
{
	const char *p = line, *end, *chkpos;
	char chk[2 * SEAL_CHECK_LEN + 1];
	size_t taglen = strlen(SEAL_TAG);
	int rc = -1;

	*why = "not a share line (rsvault-share-v1 ...)";
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	end = line + len;
	if (len >= SEAL_SHARE_LINE_MAX || len < taglen + 1 || memcmp(p, SEAL_TAG, taglen) != 0 ||
	    p[taglen] != ' ')
		goto done;
	p += taglen + 1;
	*why = "a share line is malformed";
	if (seal_hex(&p, end, s->id, SEAL_ID_LEN) != 0 || p >= end || *p++ != ' ')
		goto done;
	if (seal_small(&p, end, &s->k) != 0 || s->k < 2 || seal_small(&p, end, &s->index) != 0)
		goto done;
	if (seal_hex(&p, end, s->y, SEAL_KEY_LEN) != 0 || p >= end || *p++ != ' ')
		goto done;
	chkpos = p;
	if (end - p != 2 * SEAL_CHECK_LEN)
		goto done;
	seal_check(line, (size_t)(chkpos - line), chk);
	if (sodium_memcmp(chk, chkpos, 2 * SEAL_CHECK_LEN) != 0) {
		*why = "a share line's checksum does not match (mistyped or damaged)";
		goto done;
	}
	*why = NULL;
	rc = 0;
done:
	if (rc != 0)
		sodium_memzero(s, sizeof *s);
	return rc;
}

static void seal_put_header(const struct seal_params *p, uint32_t version, unsigned char *f)
{
	memcpy(f, SEAL_MAGIC, 4);
	f[4] = SEAL_TYPE;
	f[5] = SEAL_FORMAT;
	f[6] = (unsigned char)p->kind;
	memcpy(f + 7, p->id, SEAL_ID_LEN);
	f[23] = (unsigned char)p->k;
	memcpy(f + 24, p->salt, SEAL_SALT_LEN);
	util_be64_put(f + 40, p->opslimit);
	util_be64_put(f + 48, p->memlimit);
	util_be32_put(f + 56, version);
}

int seal_file_header(const unsigned char *f, size_t len, struct seal_params *p, uint32_t *version)
{
	if (len < SEAL_HDR_LEN + 16 || len > SEAL_FILE_MAX || memcmp(f, SEAL_MAGIC, 4) != 0 ||
	    f[4] != SEAL_TYPE || f[5] != SEAL_FORMAT)
		return -1;
	memset(p, 0, sizeof *p);
	p->kind = f[6];
	memcpy(p->id, f + 7, SEAL_ID_LEN);
	p->k = f[23];
	memcpy(p->salt, f + 24, SEAL_SALT_LEN);
	p->opslimit = util_be64_get(f + 40);
	p->memlimit = util_be64_get(f + 48);
	*version = util_be32_get(f + 56);
	if (p->kind == SEAL_KIND_PASSPHRASE)
		return p->k == 0 && *version > 0 ? 0 : -1;
	if (p->kind == SEAL_KIND_SHARES)
		return p->k >= 2 && p->opslimit == 0 && p->memlimit == 0 && *version > 0 ? 0 : -1;
	return -1;
}

int seal_file_encrypt(const struct seal_params *p, const unsigned char key[SEAL_KEY_LEN],
                      uint32_t version, const unsigned char *img, size_t imglen, unsigned char *out,
                      size_t *outlen)
{
	if (imglen == 0 || imglen > SEAL_IMAGE_MAX)
		return -1;
	seal_put_header(p, version, out);
	randombytes_buf(out + SEAL_AD_LEN, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + SEAL_HDR_LEN, NULL, img, imglen, out,
	                                           SEAL_AD_LEN, NULL, out + SEAL_AD_LEN, key);
	*outlen = SEAL_HDR_LEN + imglen + 16;
	return 0;
}

int seal_file_decrypt(const unsigned char *f, size_t len, const unsigned char key[SEAL_KEY_LEN],
                      unsigned char *img, size_t *imglen)
{
	struct seal_params p;
	uint32_t v;

	if (seal_file_header(f, len, &p, &v) != 0)
		return -1;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(img, NULL, NULL, f + SEAL_HDR_LEN,
	                                               len - SEAL_HDR_LEN, f, SEAL_AD_LEN,
	                                               f + SEAL_AD_LEN, key) != 0) {
		sodium_memzero(img, SEAL_IMAGE_MAX);
		return -1;
	}
	*imglen = len - SEAL_HDR_LEN - 16;
	return 0;
}
_Static_assert(SEAL_AD_LEN == 60, "header fields end where the nonce starts");

size_t seal_line_len(const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
	                   line[len - 1] == '\t'))
		len--;
	return len;
}

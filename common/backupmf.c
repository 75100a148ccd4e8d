/* backupmf.c - the bytes a backup manifest's signature covers. */
#include "backupmf.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

int backupmf_message(const char *sha256_hex, uint64_t seq, const char *hash_hex, char *out,
                     size_t len)
{
	int n;

	if (strlen(sha256_hex) != 64 || strlen(hash_hex) != 64)
		return -1;
	n = snprintf(out, len, BACKUPMF_TAG "\n%s\n%llu\n%s\n", sha256_hex, (unsigned long long)seq,
	             hash_hex);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

int backupmf_verify(const char *sha256_hex, uint64_t seq, const char *hash_hex,
                    const char *signature_hex, const unsigned char pk[32])
{
	unsigned char sig[crypto_sign_BYTES];
	char msg[BACKUPMF_MSG_MAX];
	size_t sl;
	int n;

	if ((n = backupmf_message(sha256_hex, seq, hash_hex, msg, sizeof msg)) < 0)
		return -1;
	if (strlen(signature_hex) != 2 * sizeof sig ||
	    sodium_hex2bin(sig, sizeof sig, signature_hex, strlen(signature_hex), NULL, &sl,
	                   NULL) != 0 ||
	    sl != sizeof sig)
		return -1;
	return crypto_sign_verify_detached(sig, (const unsigned char *)msg, (unsigned long long)n,
	                                   pk) == 0
	           ? 0
	           : -1;
}

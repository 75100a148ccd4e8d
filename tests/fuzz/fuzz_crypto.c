/* fuzz_crypto.c - the vault's binary record decoders (vault/crypto.c):
 * crypto_record_times, crypto_record_open and crypto_ticket_key_unwrap on
 * arbitrary blobs, plus seal/open and wrap/unwrap round trips.
 *
 * Keys are fixed so a corpus of valid blobs stays valid: master key
 * 0x40..0x5f (version 1), audit seed 0x20..0x3f, written once into a
 * mkdtemp directory for crypto_init, which is removed again at once.
 * Records are opened with ticket key 0x60..0x7f for ticket FUZZ_TID and
 * credential FUZZ_CID.
 *
 * Input: a flags byte, then the blob.
 *   flags & 1: seal the blob (first 16 bytes = created, expires, BE; the
 *              rest the plaintext) and check times/open round-trip, and
 *              that any flipped bit (position from the blob) is refused;
 *   flags & 2: wrap a fresh key for a ticket id taken from the blob and
 *              check unwrap gives it back, and no other id does;
 *   flags & 4: decode with a ticket id too long for the associated data;
 *   always:    the three decoders on the blob, checked against the
 *              documented layout (lengths, format byte, version). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto.h"
#include "fuzz.h"
#include "keyfile.h"
#include "util.h"

#define FUZZ_TID "AAAAAAAAAAAAAAAAAAAAAA"
#define FUZZ_CID "CCCCCCCCCCCCCCCCCCCCCC"
#define TID_MAX 129 /* a path parameter: < REQ_PARAM_MAX */

static unsigned char tkey[CRYPTO_TICKET_KEY_LEN];
static char long_tid[600];

static void setup(void)
{
	char dir[] = "/tmp/rsvault-fuzz-crypto-XXXXXX", mpath[64], apath[64];
	unsigned char mk[32], seed[32], pk[32], sk[64];
	unsigned char mimg[KEYFILE_MASTER_LEN], aimg[KEYFILE_AUDIT_LEN];
	int rc;

	if (sodium_init() < 0 || mkdtemp(dir) == NULL)
		fuzz_fail("set-up: sodium_init or mkdtemp");
	for (int i = 0; i < 32; i++) {
		mk[i] = (unsigned char)(0x40 + i);
		seed[i] = (unsigned char)(0x20 + i);
		tkey[i] = (unsigned char)(0x60 + i);
	}
	crypto_sign_seed_keypair(pk, sk, seed);
	keyfile_encode_master(mimg, mk, 1);
	keyfile_encode_audit(aimg, sk);
	snprintf(mpath, sizeof mpath, "%s/master.key", dir);
	snprintf(apath, sizeof apath, "%s/audit.key", dir);
	rc = keyfile_write_new(mpath, mimg, sizeof mimg, 0600) == 0 &&
	     keyfile_write_new(apath, aimg, sizeof aimg, 0600) == 0 && crypto_init(dir) == 0;
	unlink(mpath);
	unlink(apath);
	rmdir(dir);
	if (!rc)
		fuzz_fail("set-up: crypto_init");
	memset(long_tid, 'A', sizeof long_tid - 1);
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int all(const unsigned char *p, size_t n, unsigned char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

static void decode(const char *tid, const uint8_t *blob, size_t len)
{
	unsigned char key[CRYPTO_TICKET_KEY_LEN], *pt = (unsigned char *)"x";
	size_t ptlen = 0;
	int64_t c = -1, e = -1;
	int rc;

	/* times: the clear header of any long-enough blob with format 1 */
	rc = crypto_record_times(blob, len, &c, &e);
	fuzz_check((rc == 0) == (len >= CRYPTO_RECORD_OVERHEAD && blob[0] == 0x01));
	if (rc == 0)
		fuzz_check(c == (int64_t)be64(blob + 1) && e == (int64_t)be64(blob + 9));
	else
		fuzz_check(c == -1 && e == -1);

	/* open: only what times accepts, and then the whole payload */
	rc = crypto_record_open(tkey, tid, FUZZ_CID, blob, len, &pt, &ptlen);
	if (rc == 0) {
		fuzz_check(len >= CRYPTO_RECORD_OVERHEAD && blob[0] == 0x01);
		fuzz_check(pt != NULL && ptlen == len - CRYPTO_RECORD_OVERHEAD && pt[ptlen] == 0);
		sodium_memzero(pt, ptlen);
		free(pt);
	} else {
		fuzz_check(rc == -1 && pt == NULL);
	}

	/* unwrap: 77 bytes, format 1, master-key version 1; the key buffer is
	 * either untouched or wiped on failure, never half-written */
	memset(key, 0xa5, sizeof key);
	rc = crypto_ticket_key_unwrap(tid, blob, len, key);
	if (rc == 0)
		fuzz_check(len == CRYPTO_WRAPPED_LEN && blob[0] == 0x01 &&
		           util_be32_get(blob + 1) == 1);
	else
		fuzz_check(rc == -1 && (all(key, sizeof key, 0xa5) || all(key, sizeof key, 0)));
	sodium_memzero(key, sizeof key);
}

static void seal_round_trip(const uint8_t *blob, size_t len)
{
	unsigned char *rec = NULL, *pt = NULL;
	size_t reclen = 0, ptlen = 0, bit;
	int64_t created, expires, c, e;

	if (len < 16)
		return;
	created = (int64_t)be64(blob);
	expires = (int64_t)be64(blob + 8);
	fuzz_check(crypto_record_seal(tkey, FUZZ_TID, FUZZ_CID, created, expires, blob + 16,
	                              len - 16, &rec, &reclen) == 0);
	fuzz_check(reclen == CRYPTO_RECORD_OVERHEAD + len - 16);
	fuzz_check(crypto_record_times(rec, reclen, &c, &e) == 0 && c == created && e == expires);
	fuzz_check(crypto_record_open(tkey, FUZZ_TID, FUZZ_CID, rec, reclen, &pt, &ptlen) == 0);
	fuzz_check(ptlen == len - 16 && memcmp(pt, blob + 16, ptlen) == 0);
	free(pt);
	/* bound to the ids */
	fuzz_check(crypto_record_open(tkey, FUZZ_CID, FUZZ_TID, rec, reclen, &pt, &ptlen) == -1);
	/* any flipped bit is refused */
	bit = (size_t)(be64(blob) % (reclen * 8));
	rec[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	fuzz_check(crypto_record_open(tkey, FUZZ_TID, FUZZ_CID, rec, reclen, &pt, &ptlen) == -1);
	free(rec);
}

static void wrap_round_trip(const uint8_t *blob, size_t len)
{
	unsigned char key[32], back[32], w[CRYPTO_WRAPPED_LEN];
	char tid[TID_MAX + 1];
	size_t n = len < TID_MAX ? len : TID_MAX;

	memcpy(tid, blob, n);
	tid[n] = '\0';
	fuzz_check(crypto_ticket_key_new(tid, key, w) == 0);
	fuzz_check(crypto_ticket_key_unwrap(tid, w, sizeof w, back) == 0);
	fuzz_check(memcmp(key, back, 32) == 0);
	fuzz_check(crypto_ticket_key_unwrap(strcmp(tid, FUZZ_TID) ? FUZZ_TID : FUZZ_CID, w,
	                                    sizeof w, back) == -1);
	fuzz_check(all(back, sizeof back, 0));
	sodium_memzero(key, sizeof key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	uint8_t flags;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size == 0)
		return 0;
	flags = data[0];
	data++;
	size--;
	decode(FUZZ_TID, data, size);
	if (flags & 4)
		decode(long_tid, data, size);
	if (flags & 1)
		seal_round_trip(data, size);
	if (flags & 2)
		wrap_round_trip(data, size);
	return 0;
}

/* fuzz_keyfile.c - the key-file readers keyfile_read_master,
 * keyfile_read_audit_sk and keyfile_read_pub (common/keyfile.c).
 *
 * They take a path, so each input is written to one temporary file
 * (created once with mkstemp, rewritten in place, removed at exit) and all
 * three readers are run on it. Results are compared with the layouts in
 * keyfile.h:
 *   master.key: 42 bytes, "RSVK" 01 01, u32 BE version != 0, key;
 *   audit.key:  70 bytes, "RSVK" 02 01, a libsodium Ed25519 secret key
 *               whose public half is the one its seed derives;
 *   audit.pub:  64 hex digits (either case) then only ' ', \t, \r, \n,
 *               128 bytes at most.
 * Outputs are written only on success. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fuzz.h"
#include "keyfile.h"
#include "util.h"

/* A private directory: secret key files in a world-writable one such as
 * /tmp are refused (keyfile_open_secret). */
static char dir[] = "/tmp/rsvault-fuzz-keyfile-XXXXXX";
static char path[sizeof dir + 8];
static int fd = -1;

static void cleanup(void)
{
	if (fd >= 0) {
		close(fd);
		unlink(path);
		rmdir(dir);
	}
}

static void check_master(const uint8_t *d, size_t n)
{
	unsigned char key[32];
	uint32_t ver = 0xdeadbeef;
	int ok = n == KEYFILE_MASTER_LEN && memcmp(d, "RSVK\x01\x01", 6) == 0 &&
	         (d[6] | d[7] | d[8] | d[9]) != 0;

	memset(key, 0x5a, sizeof key);
	fuzz_check((keyfile_read_master(path, key, &ver) == 0) == ok);
	if (ok) {
		fuzz_check(ver == ((uint32_t)d[6] << 24 | (uint32_t)d[7] << 16 |
		                   (uint32_t)d[8] << 8 | d[9]));
		fuzz_check(memcmp(key, d + 10, 32) == 0);
	} else {
		fuzz_check(ver == 0xdeadbeef);
		for (size_t i = 0; i < sizeof key; i++)
			fuzz_check(key[i] == 0x5a);
	}
}

static void check_audit(const uint8_t *d, size_t n)
{
	unsigned char sk[64], pk2[32], sk2[64];
	int ok = n == KEYFILE_AUDIT_LEN && memcmp(d, "RSVK\x02\x01", 6) == 0;

	if (ok) {
		crypto_sign_seed_keypair(pk2, sk2, d + 6); /* seed = first 32 bytes */
		ok = memcmp(sk2, d + 6, 64) == 0;
	}
	memset(sk, 0x5a, sizeof sk);
	fuzz_check((keyfile_read_audit_sk(path, sk) == 0) == ok);
	if (ok) {
		fuzz_check(memcmp(sk, d + 6, 64) == 0);
	} else {
		for (size_t i = 0; i < sizeof sk; i++)
			fuzz_check(sk[i] == 0x5a);
	}
}

static void check_pub(const uint8_t *d, size_t n)
{
	unsigned char pk[32];
	int ok = n >= 64 && n <= 128;

	for (size_t i = 0; ok && i < 64; i++)
		ok = util_hexval(d[i]) >= 0;
	for (size_t i = 64; ok && i < n; i++)
		ok = d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n';
	memset(pk, 0x5a, sizeof pk);
	fuzz_check((keyfile_read_pub(path, pk) == 0) == ok);
	for (size_t i = 0; i < sizeof pk; i++)
		fuzz_check(pk[i] == (ok ? (unsigned char)(util_hexval(d[2 * i]) << 4 |
		                                          util_hexval(d[2 * i + 1]))
		                        : 0x5a));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fd < 0) {
		if (sodium_init() < 0 || mkdtemp(dir) == NULL ||
		    snprintf(path, sizeof path, "%s/key", dir) >= (int)sizeof path ||
		    (fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
			fuzz_fail("set-up: sodium_init, mkdtemp or open");
		atexit(cleanup);
	}
	if (size > 4096)
		return 0;
	if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		fuzz_fail("cannot rewrite the temporary key file");
	check_master(data, size);
	check_audit(data, size);
	check_pub(data, size);
	return 0;
}

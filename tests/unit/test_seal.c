/* test_seal.c - unit tests for common/seal.c (GF(2^8), Shamir shares,
 * share lines, sealed files, the passphrase key) and common/mkset.c (the
 * set of master-key versions and their hash keys).
 *
 * GF(2^8) is checked against the published examples of FIPS-197 section 4
 * (the AES field, polynomial 0x11b) and exhaustively for inverses; the
 * interpolation against a vector worked out by hand; tests/integration/
 * test_seal.py checks it against a second implementation in Python. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keyfile.h"
#include "mkset.h"
#include "seal.h"

static void test_gf_fips197(void **state)
{
	(void)state;
	/* FIPS-197 4.2: {57} . {83} = {c1} */
	assert_int_equal(seal_gf_mul(0x57, 0x83), 0xc1);
	/* 4.2.1: {57} . {13} = {fe}, and the xtime chain of {57} */
	assert_int_equal(seal_gf_mul(0x57, 0x13), 0xfe);
	assert_int_equal(seal_gf_mul(0x57, 0x02), 0xae);
	assert_int_equal(seal_gf_mul(0x57, 0x04), 0x47);
	assert_int_equal(seal_gf_mul(0x57, 0x08), 0x8e);
	assert_int_equal(seal_gf_mul(0x57, 0x10), 0x07);
	/* the S-box's inverse of {53} is {ca} (FIPS-197 5.1.1) */
	assert_int_equal(seal_gf_inv(0x53), 0xca);
	assert_int_equal(seal_gf_inv(0), 0);
}

static void test_gf_field(void **state)
{
	(void)state;
	for (unsigned a = 0; a < 256; a++) {
		assert_int_equal(seal_gf_mul((unsigned char)a, 1), a);
		assert_int_equal(seal_gf_mul((unsigned char)a, 0), 0);
		if (a != 0)
			assert_int_equal(
			    seal_gf_mul((unsigned char)a, seal_gf_inv((unsigned char)a)), 1);
		for (unsigned b = 0; b < 256; b += 7)
			assert_int_equal(seal_gf_mul((unsigned char)a, (unsigned char)b),
			                 seal_gf_mul((unsigned char)b, (unsigned char)a));
	}
}

/* f(x) = 0x42 + 0x07 x: f(1) = 0x45, f(2) = 0x42 ^ 0x0e = 0x4c,
 * f(3) = 0x42 ^ 0x09 = 0x4b (0x07 . 3 = 0x07 ^ 0x0e). */
static void test_combine_by_hand(void **state)
{
	struct seal_share s[3];
	unsigned char key[SEAL_KEY_LEN];
	const char *why;

	(void)state;
	memset(s, 0, sizeof s);
	for (int i = 0; i < 3; i++) {
		s[i].k = 2;
		s[i].index = (unsigned)i + 1;
	}
	memset(s[0].y, 0x45, SEAL_KEY_LEN);
	memset(s[1].y, 0x4c, SEAL_KEY_LEN);
	memset(s[2].y, 0x4b, SEAL_KEY_LEN);
	assert_int_equal(seal_combine(s, 2, key, &why), 0);
	assert_int_equal(key[0], 0x42);
	assert_int_equal(seal_combine(s + 1, 2, key, &why), 0);
	assert_int_equal(key[31], 0x42);
	s[1] = s[2];
	s[1].index = 1; /* the same x twice */
	assert_int_equal(seal_combine(s, 2, key, &why), -1);
	assert_non_null(why);
}

static void test_split_combine(void **state)
{
	struct seal_params p;
	struct seal_share sh[5], pick[5];
	unsigned char key[SEAL_KEY_LEN], got[SEAL_KEY_LEN];
	const char *why;
	int subsets = 0;

	(void)state;
	seal_params_shares(&p, 3);
	randombytes_buf(key, sizeof key);
	assert_int_equal(seal_split(&p, key, 5, sh), 0);
	for (unsigned m = 0; m < 32; m++) {
		size_t n = 0;
		for (unsigned i = 0; i < 5; i++)
			if (m & (1u << i))
				pick[n++] = sh[i];
		if (n < 3) {
			if (n > 0) {
				assert_int_equal(seal_combine(pick, n, got, &why), -1);
				assert_string_equal(why, "too few shares");
			}
			continue;
		}
		assert_int_equal(seal_combine(pick, n, got, &why), 0);
		assert_memory_equal(got, key, sizeof key);
		subsets++;
	}
	assert_int_equal(subsets, 16); /* 10 of 3, 5 of 4, 1 of 5 */
	/* a share from another seal */
	pick[0] = sh[0];
	pick[1] = sh[1];
	pick[2] = sh[2];
	pick[2].id[0] ^= 1;
	assert_int_equal(seal_combine(pick, 3, got, &why), -1);
	/* bad parameters */
	assert_int_equal(seal_split(&p, key, 2, sh), -1);
	p.k = 1;
	assert_int_equal(seal_split(&p, key, 5, sh), -1);
}

static void test_share_line(void **state)
{
	struct seal_params p;
	struct seal_share sh[2], back;
	unsigned char key[SEAL_KEY_LEN];
	char line[SEAL_SHARE_LINE_MAX], bad[SEAL_SHARE_LINE_MAX];
	const char *why;

	(void)state;
	seal_params_shares(&p, 2);
	randombytes_buf(key, sizeof key);
	assert_int_equal(seal_split(&p, key, 2, sh), 0);
	seal_share_format(&sh[1], line);
	assert_true(strncmp(line, "rsvault-share-v1 ", 17) == 0);
	assert_int_equal(line[strlen(line) - 1], '\n');
	assert_int_equal(seal_share_parse(line, strlen(line), &back, &why), 0);
	assert_memory_equal(&back, &sh[1], sizeof back);
	/* every single changed character is caught */
	for (size_t i = 0; i + 1 < strlen(line); i++) {
		memcpy(bad, line, sizeof bad);
		bad[i] = bad[i] == '1' ? '2' : '1';
		assert_int_equal(seal_share_parse(bad, strlen(bad), &back, &why), -1);
	}
	/* truncated, extra field, upper-case hex, index 0 */
	assert_int_equal(seal_share_parse(line, strlen(line) - 3, &back, &why), -1);
	snprintf(bad, sizeof bad, "%.*s 00\n", (int)strlen(line) - 1, line);
	assert_int_equal(seal_share_parse(bad, strlen(bad), &back, &why), -1);
	assert_int_equal(seal_share_parse("rsvault-share-v1 ", 17, &back, &why), -1);
	assert_int_equal(seal_share_parse("", 0, &back, &why), -1);
	sh[0].index = 0;
	seal_share_format(&sh[0], bad);
	assert_int_equal(seal_share_parse(bad, strlen(bad), &back, &why), -1);
}

static void test_sealed_file(void **state)
{
	struct seal_params p, q;
	unsigned char key[SEAL_KEY_LEN], key2[SEAL_KEY_LEN], mk[32];
	unsigned char img[KEYFILE_MASTER_LEN], out[SEAL_FILE_MAX], back[SEAL_IMAGE_MAX];
	size_t outlen, backlen;
	uint32_t v;

	(void)state;
	seal_params_shares(&p, 3);
	randombytes_buf(key, sizeof key);
	randombytes_buf(key2, sizeof key2);
	randombytes_buf(mk, sizeof mk);
	keyfile_encode_master(img, mk, 1);
	assert_int_equal(seal_file_encrypt(&p, key, 1, img, sizeof img, out, &outlen), 0);
	assert_int_equal(outlen, SEAL_HDR_LEN + sizeof img + 16);
	for (size_t off = 0; off + sizeof mk <= outlen; off++)
		assert_memory_not_equal(out + off, mk, sizeof mk);
	assert_int_equal(seal_file_header(out, outlen, &q, &v), 0);
	assert_int_equal(v, 1);
	assert_true(seal_same(&p, &q));
	assert_int_equal(seal_file_decrypt(out, outlen, key, back, &backlen), 0);
	assert_int_equal(backlen, sizeof img);
	assert_memory_equal(back, img, sizeof img);
	assert_int_equal(seal_file_decrypt(out, outlen, key2, back, &backlen), -1);
	/* every header byte is bound: change the version, the seal id, K */
	for (size_t off = 0; off < SEAL_HDR_LEN; off += 5) {
		out[off] ^= 0x01;
		assert_int_equal(seal_file_decrypt(out, outlen, key, back, &backlen), -1);
		out[off] ^= 0x01;
	}
	assert_int_equal(seal_file_decrypt(out, outlen - 1, key, back, &backlen), -1);
	assert_int_equal(seal_file_decrypt(out, outlen, key, back, &backlen), 0);
}

/* One rule for every passphrase line (tool and server): the line ending
 * and trailing spaces and tabs go, leading and inner ones stay. */
static void test_line_len(void **state)
{
	(void)state;
	assert_int_equal(seal_line_len("abcdefgh12 \n", 12), 10);
	assert_int_equal(seal_line_len("abcdefgh12\r\n", 12), 10);
	assert_int_equal(seal_line_len("abcdefgh12 \t \r\n", 15), 10);
	assert_int_equal(seal_line_len("abcdefgh12", 10), 10);
	assert_int_equal(seal_line_len(" ab cd", 6), 6);
	assert_int_equal(seal_line_len("  \t\n", 4), 0);
	assert_int_equal(seal_line_len("", 0), 0);
	/* only the given length counts (lines are not NUL-terminated) */
	assert_int_equal(seal_line_len("ab  cd", 4), 2);
}

static void test_passphrase(void **state)
{
	struct seal_params p;
	unsigned char a[SEAL_KEY_LEN], b[SEAL_KEY_LEN];

	(void)state;
	seal_params_passphrase(&p);
	assert_true(p.opslimit >= crypto_pwhash_OPSLIMIT_MODERATE);
	assert_true(p.memlimit >= crypto_pwhash_MEMLIMIT_MODERATE);
	assert_int_equal(seal_key_from_passphrase(&p, "correct horse", 13, a), 0);
	assert_int_equal(seal_key_from_passphrase(&p, "correct horsf", 13, b), 0);
	assert_memory_not_equal(a, b, sizeof a);
	p.opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE; /* weaker than MODERATE: refused */
	assert_int_equal(seal_key_from_passphrase(&p, "correct horse", 13, a), -1);
}

static char t_dir[256];

static void t_write(const char *name, const void *buf, size_t len)
{
	char path[512];

	snprintf(path, sizeof path, "%s/%s", t_dir, name);
	unlink(path);
	assert_int_equal(keyfile_write_new(path, buf, len, 0600), 0);
}

static void test_mkset(void **state)
{
	struct mkset *s = sodium_malloc(sizeof *s);
	unsigned char k1[32], k2[32], hk[KEYFILE_HASH_KEYS_LEN], got[KEYFILE_HASH_KEYS_LEN];
	unsigned char img1[KEYFILE_MASTER_LEN], img2[KEYFILE_MASTER2_LEN];
	unsigned char sealkey[SEAL_KEY_LEN], out[SEAL_FILE_MAX];
	struct seal_params p;
	char err[512], path[512];
	size_t outlen;

	(void)state;
	assert_non_null(s);
	snprintf(t_dir, sizeof t_dir, "/tmp/rsv-seal-XXXXXX");
	assert_non_null(mkdtemp(t_dir));
	randombytes_buf(k1, sizeof k1);
	randombytes_buf(k2, sizeof k2);
	crypto_kdf_derive_from_key(hk, 32, 2, "rsvtokn1", k1);
	crypto_kdf_derive_from_key(hk + 32, 32, 3, "rsvtkid1", k1);
	crypto_kdf_derive_from_key(hk + 64, 32, 4, "rsvcapa1", k1);
	keyfile_encode_master(img1, k1, 1);
	keyfile_encode_master2(img2, k2, 2, hk);
	t_write("master.key", img1, sizeof img1);
	t_write("master-2.key", img2, sizeof img2);
	assert_int_equal(mkset_load(t_dir, s, err, sizeof err), 0);
	assert_int_equal(s->n, 2);
	assert_int_equal(s->e[0].version, 1);
	assert_int_equal(s->e[1].version, 2);
	assert_int_equal(mkset_hash_keys(s, got, err, sizeof err), 0);
	assert_memory_equal(got, hk, sizeof hk);
	/* version 1 gone: the hash keys come from version 2's file, unchanged */
	snprintf(path, sizeof path, "%s/master.key", t_dir);
	unlink(path);
	assert_int_equal(mkset_load(t_dir, s, err, sizeof err), 0);
	assert_int_equal(mkset_hash_keys(s, got, err, sizeof err), 0);
	assert_memory_equal(got, hk, sizeof hk);
	/* a version 1 whose derived keys differ from what version 2 carries */
	randombytes_buf(k1, sizeof k1);
	keyfile_encode_master(img1, k1, 1);
	t_write("master.key", img1, sizeof img1);
	assert_int_equal(mkset_load(t_dir, s, err, sizeof err), 0);
	assert_int_equal(mkset_hash_keys(s, got, err, sizeof err), -1);
	/* name and inner version disagree */
	keyfile_encode_master2(img2, k2, 3, hk);
	t_write("master-2.key", img2, sizeof img2);
	assert_int_equal(mkset_load(t_dir, s, err, sizeof err), -1);
	/* plain beside sealed: refused */
	keyfile_encode_master2(img2, k2, 2, hk);
	t_write("master-2.key", img2, sizeof img2);
	seal_params_shares(&p, 2);
	randombytes_buf(sealkey, sizeof sealkey);
	assert_int_equal(seal_file_encrypt(&p, sealkey, 1, img1, sizeof img1, out, &outlen), 0);
	t_write("master.key.sealed", out, outlen);
	assert_int_equal(mkset_load(t_dir, s, err, sizeof err), -1);
	/* all sealed: loads sealed, unseals with the key only */
	snprintf(path, sizeof path, "%s/master.key", t_dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/master-2.key", t_dir);
	unlink(path);
	/* a stray staged file (FILE.sealed.new) is not a key file */
	t_write("master-2.key.sealed.new", out, outlen);
	assert_int_equal(mkset_load(t_dir, s, err, sizeof err), 0);
	assert_int_equal(s->n, 1);
	snprintf(path, sizeof path, "%s/master-2.key.sealed.new", t_dir);
	unlink(path);
	/* a switch to a new seal under way: refused, naming the command */
	t_write(MKSET_SWITCH, "switch\n", 7);
	assert_int_equal(mkset_load(t_dir, s, err, sizeof err), -1);
	assert_non_null(strstr(err, "seal --dir"));
	assert_non_null(strstr(err, "--finish"));
	snprintf(path, sizeof path, "%s/%s", t_dir, MKSET_SWITCH);
	unlink(path);
	assert_int_equal(mkset_load(t_dir, s, err, sizeof err), 0);
	assert_int_equal(s->sealed, 1);
	assert_int_equal(mkset_hash_keys(s, got, err, sizeof err), -1);
	out[0] = 0;
	assert_int_equal(mkset_unseal(s, out + 1), -1);
	assert_int_equal(s->sealed, 1);
	assert_int_equal(mkset_unseal(s, sealkey), 0);
	assert_int_equal(s->sealed, 0);
	assert_int_equal(mkset_key(s, 0, k2), 0);
	assert_memory_equal(k2, k1, sizeof k1);
	snprintf(path, sizeof path, "%s/master.key.sealed", t_dir);
	unlink(path);
	rmdir(t_dir);
	sodium_free(s);
}

/* A sealed file whose clear header (and so its name) says version 2 but
 * whose key file image inside is version 3's: the seal key opens it, yet
 * it is refused whole, by mkset_unseal and through mkset_feed, with the
 * message that says so; nothing is unsealed. */
static void test_sealed_inner_version(void **state)
{
	struct mkset *s = sodium_malloc(sizeof *s);
	struct mkset_unsealer *u = sodium_malloc(sizeof *u);
	unsigned char k[32], hk[KEYFILE_HASH_KEYS_LEN], img[KEYFILE_MASTER2_LEN];
	unsigned char sealkey[SEAL_KEY_LEN], out[SEAL_FILE_MAX];
	struct seal_share sh[2];
	struct seal_params p;
	char err[512], path[512], line[SEAL_SHARE_LINE_MAX];
	const char *msg = NULL;
	size_t outlen;

	(void)state;
	assert_non_null(s);
	assert_non_null(u);
	snprintf(t_dir, sizeof t_dir, "/tmp/rsv-seal-XXXXXX");
	assert_non_null(mkdtemp(t_dir));
	randombytes_buf(k, sizeof k);
	randombytes_buf(hk, sizeof hk);
	seal_params_shares(&p, 2);
	randombytes_buf(sealkey, sizeof sealkey);
	/* the right version inside: unseals */
	keyfile_encode_master2(img, k, 2, hk);
	assert_int_equal(seal_file_encrypt(&p, sealkey, 2, img, sizeof img, out, &outlen), 0);
	t_write("master-2.key.sealed", out, outlen);
	assert_int_equal(mkset_load(t_dir, s, err, sizeof err), 0);
	assert_int_equal(mkset_unseal(s, sealkey), 0);
	assert_int_equal(s->sealed, 0);
	/* version 3's image sealed under a header (and file name) of version 2 */
	keyfile_encode_master2(img, k, 3, hk);
	assert_int_equal(seal_file_encrypt(&p, sealkey, 2, img, sizeof img, out, &outlen), 0);
	t_write("master-2.key.sealed", out, outlen);
	assert_int_equal(mkset_load(t_dir, s, err, sizeof err), 0);
	assert_int_equal(s->e[0].version, 2);
	assert_int_equal(mkset_unseal(s, sealkey), -2);
	assert_int_equal(s->sealed, 1);
	assert_memory_equal(s->e[0].blob, out, outlen); /* nothing replaced */
	/* the same through share lines, as the server and the key tool read them */
	assert_int_equal(seal_split(&p, sealkey, 2, sh), 0);
	sodium_memzero(u, sizeof *u);
	seal_share_format(&sh[0], line);
	assert_int_equal(mkset_feed(s, u, line, strlen(line), &msg, NULL), 0);
	seal_share_format(&sh[1], line);
	assert_int_equal(mkset_feed(s, u, line, strlen(line), &msg, NULL), -1);
	assert_string_equal(msg, MKSET_MSG_INNER_VERSION);
	assert_int_equal(s->sealed, 1);
	/* a damaged image inside (not a key file at all) is refused the same way */
	memset(img, 0x41, sizeof img);
	assert_int_equal(seal_file_encrypt(&p, sealkey, 2, img, sizeof img, out, &outlen), 0);
	t_write("master-2.key.sealed", out, outlen);
	assert_int_equal(mkset_load(t_dir, s, err, sizeof err), 0);
	assert_int_equal(mkset_unseal(s, sealkey), -2);
	assert_int_equal(s->sealed, 1);
	snprintf(path, sizeof path, "%s/master-2.key.sealed", t_dir);
	unlink(path);
	rmdir(t_dir);
	sodium_free(u);
	sodium_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gf_fips197),      cmocka_unit_test(test_gf_field),
	    cmocka_unit_test(test_combine_by_hand), cmocka_unit_test(test_split_combine),
	    cmocka_unit_test(test_share_line),      cmocka_unit_test(test_sealed_file),
	    cmocka_unit_test(test_passphrase),      cmocka_unit_test(test_mkset),
	    cmocka_unit_test(test_line_len),        cmocka_unit_test(test_sealed_inner_version),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

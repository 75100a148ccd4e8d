/* test_keyfile.c - unit tests for common/keyfile.c: encoders, readers, the
 * no-overwrite writer and the secret-file checks (mode, owner, directory),
 * against real files in a private temp dir. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keyfile.h"

#define T_PATH_MAX 512

static char t_dir[T_PATH_MAX];

/* Every name a test may create; teardown removes them all. */
static const char *const t_names[] = {
    "master", "audit",      "pub",    "exists", "target",  "link",    "dangling",
    "fifo",   "subdir/key", "subdir", "bad",    "mode600", "mode644",
};

/* Path of name in the test dir. Rotates over a few static buffers, so two
 * results can be used in one call (symlink(t_path(a), t_path(b))). */
static const char *t_path(const char *name)
{
	static char bufs[4][T_PATH_MAX];
	static unsigned int next;
	char *buf = bufs[next++ % 4];
	int n;

	n = snprintf(buf, T_PATH_MAX, "%s/%s", t_dir, name);
	assert_true(n > 0 && n < T_PATH_MAX);
	return buf;
}

/* Write raw bytes to name (plain create/truncate: test set-up only), mode
 * 0600 so that a secret reader judges the content, not the mode. */
static void t_put(const char *name, const void *buf, size_t len)
{
	FILE *fp = fopen(t_path(name), "wb");

	assert_non_null(fp);
	if (len > 0)
		assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(t_path(name), 0600), 0);
}

static size_t t_get(const char *name, unsigned char *buf, size_t cap)
{
	FILE *fp = fopen(t_path(name), "rb");
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, cap, fp);
	assert_int_equal(fclose(fp), 0);
	return n;
}

static int t_setup(void **state)
{
	char *tmp = getenv("TMPDIR");
	int n;

	(void)state;
	if (sodium_init() < 0)
		return -1;
	n = snprintf(t_dir, sizeof t_dir, "%s/rsv-keyfile-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (n < 0 || (size_t)n >= sizeof t_dir)
		return -1;
	return mkdtemp(t_dir) ? 0 : -1;
}

static int t_teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof t_names / sizeof t_names[0]; i++) {
		const char *p = t_path(t_names[i]);
		if (unlink(p) != 0)
			rmdir(p);
	}
	return rmdir(t_dir);
}

/* Before each test: none of the names exists. */
static int t_clean(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof t_names / sizeof t_names[0]; i++) {
		unlink(t_path(t_names[i]));
		rmdir(t_path(t_names[i]));
	}
	return 0;
}

static void t_master_image(unsigned char img[KEYFILE_MASTER_LEN], unsigned char key[32], uint32_t v)
{
	size_t i;

	for (i = 0; i < 32; i++)
		key[i] = (unsigned char)(0xA0 + i);
	keyfile_encode_master(img, key, v);
}

static void t_audit_image(unsigned char img[KEYFILE_AUDIT_LEN], unsigned char pk[32],
                          unsigned char sk[64])
{
	assert_int_equal(crypto_sign_keypair(pk, sk), 0);
	keyfile_encode_audit(img, sk);
}

/* --- encoders ----------------------------------------------------------- */

static void test_encode_master_layout(void **state)
{
	unsigned char img[KEYFILE_MASTER_LEN], key[32];

	(void)state;
	t_master_image(img, key, 0x01020304u);
	assert_memory_equal(img, "RSVK", 4);
	assert_int_equal(img[4], KEYFILE_TYPE_MASTER);
	assert_int_equal(img[5], KEYFILE_FORMAT);
	assert_int_equal(img[6], 0x01);
	assert_int_equal(img[7], 0x02);
	assert_int_equal(img[8], 0x03);
	assert_int_equal(img[9], 0x04);
	assert_memory_equal(img + 10, key, 32);
}

static void test_encode_audit_layout(void **state)
{
	unsigned char img[KEYFILE_AUDIT_LEN], pk[32], sk[64];

	(void)state;
	t_audit_image(img, pk, sk);
	assert_memory_equal(img, "RSVK", 4);
	assert_int_equal(img[4], KEYFILE_TYPE_AUDIT);
	assert_int_equal(img[5], KEYFILE_FORMAT);
	assert_memory_equal(img + 6, sk, 64);
	/* libsodium's secret key carries the public key in its second half. */
	assert_memory_equal(img + 6 + 32, pk, 32);
}

/* --- round trips -------------------------------------------------------- */

static void test_master_round_trip(void **state)
{
	unsigned char img[KEYFILE_MASTER_LEN], key[32], got[32];
	uint32_t v = 0;

	(void)state;
	t_master_image(img, key, 7);
	assert_int_equal(keyfile_write_new(t_path("master"), img, sizeof img, 0600), 0);
	assert_int_equal(keyfile_read_master(t_path("master"), got, &v), 0);
	assert_memory_equal(got, key, 32);
	assert_int_equal(v, 7);
}

static void test_audit_round_trip(void **state)
{
	unsigned char img[KEYFILE_AUDIT_LEN], pk[32], sk[64], got[64];
	unsigned char sig[crypto_sign_BYTES];
	static const unsigned char msg[] = "checkpoint";

	(void)state;
	t_audit_image(img, pk, sk);
	assert_int_equal(keyfile_write_new(t_path("audit"), img, sizeof img, 0600), 0);
	assert_int_equal(keyfile_read_audit_sk(t_path("audit"), got), 0);
	assert_memory_equal(got, sk, 64);
	/* And the key read back signs for the public key. */
	assert_int_equal(crypto_sign_detached(sig, NULL, msg, sizeof msg, got), 0);
	assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pk), 0);
}

static void test_pub_round_trip(void **state)
{
	unsigned char pk[32], sk[64], got[32];
	char hex[65], text[66];

	(void)state;
	assert_int_equal(crypto_sign_keypair(pk, sk), 0);
	sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
	memcpy(text, hex, 64);
	text[64] = '\n';
	t_put("pub", text, 65);
	assert_int_equal(keyfile_read_pub(t_path("pub"), got), 0);
	assert_memory_equal(got, pk, 32);

	/* No trailing newline, and trailing CRLF/spaces: both fine. */
	t_put("pub", hex, 64);
	memset(got, 0, sizeof got);
	assert_int_equal(keyfile_read_pub(t_path("pub"), got), 0);
	assert_memory_equal(got, pk, 32);
	{
		char ws[70];
		memcpy(ws, hex, 64);
		memcpy(ws + 64, " \t\r\n", 4);
		t_put("pub", ws, 68);
		memset(got, 0, sizeof got);
		assert_int_equal(keyfile_read_pub(t_path("pub"), got), 0);
		assert_memory_equal(got, pk, 32);
	}
}

/* --- malformed master / audit files are refused -------------------------- */

/* Write img as "bad", expect the master reader to fail and leave out alone. */
static void t_master_refused(const unsigned char *img, size_t len)
{
	unsigned char key[32];
	uint32_t v = 0xdeadbeef;

	memset(key, 0x5a, sizeof key);
	t_put("bad", img, len);
	assert_int_equal(keyfile_read_master(t_path("bad"), key, &v), -1);
	assert_int_equal(v, 0xdeadbeef);
	for (size_t i = 0; i < sizeof key; i++)
		assert_int_equal(key[i], 0x5a);
	unlink(t_path("bad"));
}

static void test_master_bad_magic(void **state)
{
	unsigned char img[KEYFILE_MASTER_LEN], key[32];

	(void)state;
	t_master_image(img, key, 1);
	img[0] = 'X';
	t_master_refused(img, sizeof img);
	t_master_image(img, key, 1);
	img[3] = 'k';
	t_master_refused(img, sizeof img);
}

static void test_master_bad_type(void **state)
{
	unsigned char img[KEYFILE_MASTER_LEN], key[32];

	(void)state;
	t_master_image(img, key, 1);
	img[4] = KEYFILE_TYPE_AUDIT;
	t_master_refused(img, sizeof img);
	img[4] = 0x00;
	t_master_refused(img, sizeof img);
}

static void test_master_bad_format(void **state)
{
	unsigned char img[KEYFILE_MASTER_LEN], key[32];

	(void)state;
	t_master_image(img, key, 1);
	img[5] = KEYFILE_FORMAT + 1;
	t_master_refused(img, sizeof img);
	img[5] = 0x00;
	t_master_refused(img, sizeof img);
}

static void test_master_bad_size(void **state)
{
	unsigned char img[KEYFILE_MASTER_LEN + 1], key[32];

	(void)state;
	t_master_image(img, key, 1);
	img[KEYFILE_MASTER_LEN] = '\n';
	t_master_refused(img, KEYFILE_MASTER_LEN - 1); /* short by one */
	t_master_refused(img, KEYFILE_MASTER_LEN + 1); /* one trailing byte */
	t_master_refused(img, 0);                      /* empty */
	t_master_refused(img, 6);                      /* header only */
}

static void test_master_version_zero(void **state)
{
	unsigned char img[KEYFILE_MASTER_LEN], key[32];

	(void)state;
	t_master_image(img, key, 0);
	t_master_refused(img, sizeof img);
}

static void t_audit_refused(const unsigned char *img, size_t len)
{
	unsigned char sk[64];

	memset(sk, 0x5a, sizeof sk);
	t_put("bad", img, len);
	assert_int_equal(keyfile_read_audit_sk(t_path("bad"), sk), -1);
	for (size_t i = 0; i < sizeof sk; i++)
		assert_int_equal(sk[i], 0x5a);
	unlink(t_path("bad"));
}

static void test_audit_malformed(void **state)
{
	unsigned char img[KEYFILE_AUDIT_LEN + 1], pk[32], sk[64];
	unsigned char mimg[KEYFILE_MASTER_LEN], mkey[32];

	(void)state;
	t_audit_image(img, pk, sk);
	img[KEYFILE_AUDIT_LEN] = 0;
	t_audit_refused(img, KEYFILE_AUDIT_LEN - 1);
	t_audit_refused(img, KEYFILE_AUDIT_LEN + 1);

	img[0] = 'r';
	t_audit_refused(img, KEYFILE_AUDIT_LEN);
	img[0] = 'R';
	img[4] = KEYFILE_TYPE_MASTER;
	t_audit_refused(img, KEYFILE_AUDIT_LEN);
	img[4] = KEYFILE_TYPE_AUDIT;
	img[5] = 0x02;
	t_audit_refused(img, KEYFILE_AUDIT_LEN);
	img[5] = KEYFILE_FORMAT;

	/* Public half that does not belong to the seed: a spliced file. */
	img[6 + 63] ^= 0x01;
	t_audit_refused(img, KEYFILE_AUDIT_LEN);
	img[6 + 63] ^= 0x01;

	/* A master key file is not an audit key, and vice versa. */
	t_master_image(mimg, mkey, 1);
	t_audit_refused(mimg, sizeof mimg);
	t_master_refused(img, KEYFILE_AUDIT_LEN);
}

/* --- keyfile_write_new -------------------------------------------------- */

static void test_write_refuses_existing(void **state)
{
	static const char old[] = "old contents";
	unsigned char buf[64];
	size_t n;

	(void)state;
	t_put("exists", old, sizeof old - 1);
	errno = 0;
	assert_int_equal(keyfile_write_new(t_path("exists"), "new", 3, 0600), -1);
	assert_int_equal(errno, EEXIST);
	n = t_get("exists", buf, sizeof buf);
	assert_int_equal(n, sizeof old - 1);
	assert_memory_equal(buf, old, n);
}

static void test_write_refuses_symlink(void **state)
{
	static const char old[] = "target contents";
	unsigned char buf[64];
	struct stat st;
	size_t n;

	(void)state;
	/* A link to an existing file: not followed, target unchanged. */
	t_put("target", old, sizeof old - 1);
	assert_int_equal(symlink(t_path("target"), t_path("link")), 0);
	assert_int_equal(keyfile_write_new(t_path("link"), "new", 3, 0600), -1);
	n = t_get("target", buf, sizeof buf);
	assert_int_equal(n, sizeof old - 1);
	assert_memory_equal(buf, old, n);
	assert_int_equal(lstat(t_path("link"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));

	/* A dangling link: the file it names must not be created. */
	assert_int_equal(symlink("subdir", t_path("dangling")), 0);
	assert_int_equal(keyfile_write_new(t_path("dangling"), "new", 3, 0600), -1);
	assert_int_equal(lstat(t_path("subdir"), &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_write_modes(void **state)
{
	struct stat st;
	mode_t old;

	(void)state;
	/* The mode is exact whatever the umask. */
	old = umask(0);
	assert_int_equal(keyfile_write_new(t_path("mode600"), "x", 1, 0600), 0);
	umask(077);
	assert_int_equal(keyfile_write_new(t_path("mode644"), "y", 1, 0644), 0);
	umask(old);
	assert_int_equal(stat(t_path("mode600"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 1);
	assert_int_equal(stat(t_path("mode644"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
}

static void test_write_missing_dir(void **state)
{
	(void)state;
	assert_int_equal(keyfile_write_new(t_path("subdir/x"), "x", 1, 0600), -1);
	assert_int_equal(errno, ENOENT);
}

/* --- readers refuse what is not a plain regular file ---------------------- */

static void test_read_refuses_non_regular(void **state)
{
	unsigned char img[KEYFILE_MASTER_LEN], key[32], out[32], pk[32];
	uint32_t v;

	(void)state;
	/* Missing. */
	assert_int_equal(keyfile_read_master(t_path("master"), out, &v), -1);
	assert_int_equal(keyfile_read_pub(t_path("pub"), pk), -1);

	/* A symlink to a valid key file is not followed. */
	t_master_image(img, key, 1);
	t_put("target", img, sizeof img);
	assert_int_equal(keyfile_read_master(t_path("target"), out, &v), 0);
	assert_int_equal(symlink(t_path("target"), t_path("link")), 0);
	assert_int_equal(keyfile_read_master(t_path("link"), out, &v), -1);

	/* A directory. */
	assert_int_equal(mkdir(t_path("subdir"), 0700), 0);
	assert_int_equal(keyfile_read_master(t_path("subdir"), out, &v), -1);

	/* A FIFO: refused without blocking for a writer (if a reader ever
	 * blocks, the alarm kills the test instead of hanging it). */
	assert_int_equal(mkfifo(t_path("fifo"), 0600), 0);
	alarm(10);
	assert_int_equal(keyfile_read_master(t_path("fifo"), out, &v), -1);
	assert_int_equal(keyfile_read_audit_sk(t_path("fifo"), (unsigned char[64]){0}), -1);
	assert_int_equal(keyfile_read_pub(t_path("fifo"), pk), -1);
	alarm(0);
}

/* --- audit.pub parsing -------------------------------------------------- */

static void t_pub_refused(const char *text, size_t len)
{
	unsigned char pk[32];

	memset(pk, 0x5a, sizeof pk);
	t_put("bad", text, len);
	assert_int_equal(keyfile_read_pub(t_path("bad"), pk), -1);
	for (size_t i = 0; i < sizeof pk; i++)
		assert_int_equal(pk[i], 0x5a);
	unlink(t_path("bad"));
}

static void test_pub_rejects_bad(void **state)
{
	char good[65], buf[256];

	(void)state;
	memset(good, 'a', 64);
	good[64] = '\n';

	/* Lengths: 63 and 65/66 hex digits, empty, a lone newline. */
	t_pub_refused(good + 1, 64); /* 63 hex + newline */
	memcpy(buf, good, 64);
	memcpy(buf + 64, "b\n", 2);
	t_pub_refused(buf, 66); /* 65 hex + newline */
	memcpy(buf + 64, "bb\n", 3);
	t_pub_refused(buf, 67); /* 66 hex + newline */
	t_pub_refused("", 0);
	t_pub_refused("\n", 1);

	/* Characters that are not hex, at the start, middle and end. */
	memcpy(buf, good, 65);
	buf[0] = 'g';
	t_pub_refused(buf, 65);
	memcpy(buf, good, 65);
	buf[31] = 'x';
	t_pub_refused(buf, 65);
	memcpy(buf, good, 65);
	buf[63] = ':';
	t_pub_refused(buf, 65);
	memcpy(buf, good, 65);
	buf[10] = '\0';
	t_pub_refused(buf, 65);

	/* Leading whitespace, separators, junk after the key. */
	buf[0] = ' ';
	memcpy(buf + 1, good, 65);
	t_pub_refused(buf, 66);
	memcpy(buf, good, 64);
	memcpy(buf + 64, "\nzz", 3);
	t_pub_refused(buf, 67);
	memcpy(buf, good, 64);
	buf[64] = '\0';
	t_pub_refused(buf, 65);

	/* Oversized: hex followed by far too much whitespace. */
	memcpy(buf, good, 64);
	memset(buf + 64, '\n', sizeof buf - 64);
	t_pub_refused(buf, sizeof buf);
}

/* --- secret files: mode, owner and directory ------------------------------ */

/* Read name as a master key; 0 or -1. */
static int t_read_master(const char *name)
{
	unsigned char out[32];
	uint32_t v;
	int rc = keyfile_read_master(t_path(name), out, &v);

	sodium_memzero(out, sizeof out);
	return rc;
}

static int t_read_audit(const char *name)
{
	unsigned char sk[64];
	int rc = keyfile_read_audit_sk(t_path(name), sk);

	sodium_memzero(sk, sizeof sk);
	return rc;
}

/* The last error names the file and contains want (the fix). */
static void t_error_says(const char *name, const char *want)
{
	const char *e = keyfile_error();

	if (strstr(e, t_path(name)) == NULL || strstr(e, want) == NULL)
		fail_msg("keyfile_error() = \"%s\", wanted the path and \"%s\"", e, want);
}

static void test_secret_mode(void **state)
{
	static const mode_t refused[] = {0644, 0640, 0604, 0620, 0602, 0610, 0601, 0660, 0666};
	unsigned char img[KEYFILE_MASTER_LEN], key[32], aimg[KEYFILE_AUDIT_LEN], pk[32], sk[64];

	(void)state;
	t_master_image(img, key, 1);
	t_put("master", img, sizeof img);
	t_audit_image(aimg, pk, sk);
	t_put("audit", aimg, sizeof aimg);
	assert_int_equal(t_read_master("master"), 0);
	assert_int_equal(t_read_audit("audit"), 0);
	assert_string_equal(keyfile_error(), "");
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		assert_int_equal(chmod(t_path("master"), refused[i]), 0);
		assert_int_equal(t_read_master("master"), -1);
		t_error_says("master", "chmod 600");
		assert_int_equal(chmod(t_path("audit"), refused[i]), 0);
		assert_int_equal(t_read_audit("audit"), -1);
		t_error_says("audit", "chmod 600");
	}
	/* Read-only for the owner is fine too. */
	assert_int_equal(chmod(t_path("master"), 0400), 0);
	assert_int_equal(t_read_master("master"), 0);
	/* The public key file is not a secret: 0644 is its normal mode. */
	{
		char hex[65];
		sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
		t_put("pub", hex, 64);
		assert_int_equal(chmod(t_path("pub"), 0644), 0);
		assert_int_equal(keyfile_read_pub(t_path("pub"), pk), 0);
	}
}

static void test_secret_directory(void **state)
{
	static const mode_t refused[] = {0770, 0777, 0730, 0703, 01777};
	static const mode_t fine[] = {0700, 0755, 0711, 0500};
	unsigned char img[KEYFILE_MASTER_LEN], key[32];
	int fd;

	(void)state;
	assert_int_equal(mkdir(t_path("subdir"), 0700), 0);
	t_master_image(img, key, 1);
	t_put("subdir/key", img, sizeof img);
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		assert_int_equal(chmod(t_path("subdir"), refused[i]), 0);
		assert_int_equal(t_read_master("subdir/key"), -1);
		t_error_says("subdir/key", "chmod 700");
		errno = 0;
		assert_int_equal(keyfile_open_secret(t_path("subdir/key")), -1);
		assert_int_equal(errno, EPERM);
	}
	for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
		assert_int_equal(chmod(t_path("subdir"), fine[i]), 0);
		assert_int_equal(t_read_master("subdir/key"), 0);
	}
	assert_int_equal(chmod(t_path("subdir"), 0700), 0);

	/* A bare name is looked up in the current directory, with the same
	 * checks on ".". */
	{
		char cwd[T_PATH_MAX];
		assert_non_null(getcwd(cwd, sizeof cwd));
		assert_int_equal(chdir(t_path("subdir")), 0);
		fd = keyfile_open_secret("key");
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(chmod(".", 0777), 0);
		assert_int_equal(keyfile_open_secret("key"), -1);
		assert_non_null(strstr(keyfile_error(), "chmod 700 ."));
		assert_int_equal(chmod(".", 0700), 0);
		assert_int_equal(chdir(cwd), 0);
	}
	/* No file name at all. */
	assert_int_equal(keyfile_open_secret(""), -1);
	assert_int_equal(keyfile_open_secret("/"), -1);
	assert_int_equal(keyfile_open_secret(t_path("subdir/")), -1);
	assert_int_equal(keyfile_open_secret(t_path("subdir/..")), -1);
}

/* Owned by someone else (needs root to set up; skipped otherwise). */
static void test_secret_owner(void **state)
{
	unsigned char img[KEYFILE_MASTER_LEN], key[32];
	const uid_t other = 65534; /* nobody */

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(mkdir(t_path("subdir"), 0700), 0);
	t_master_image(img, key, 1);
	t_put("subdir/key", img, sizeof img);
	assert_int_equal(t_read_master("subdir/key"), 0);

	assert_int_equal(chown(t_path("subdir/key"), other, (gid_t)-1), 0);
	assert_int_equal(t_read_master("subdir/key"), -1);
	t_error_says("subdir/key", "owned by uid 65534");
	t_error_says("subdir/key", "chown 0 ");

	assert_int_equal(chown(t_path("subdir/key"), 0, (gid_t)-1), 0);
	assert_int_equal(chown(t_path("subdir"), other, (gid_t)-1), 0);
	assert_int_equal(t_read_master("subdir/key"), -1);
	assert_non_null(strstr(keyfile_error(), "its directory"));
	assert_non_null(strstr(keyfile_error(), "owned by uid 65534"));

	/* The group owning it does not matter while the mode keeps it out. */
	assert_int_equal(chown(t_path("subdir"), 0, other), 0);
	assert_int_equal(chown(t_path("subdir/key"), 0, other), 0);
	assert_int_equal(t_read_master("subdir/key"), 0);
}

/* The check is on the opened file, never on a name that can be swapped:
 * a symlink in place of the key is refused even when it points at a good
 * key, and a FIFO does not block. */
static void test_secret_no_follow(void **state)
{
	unsigned char img[KEYFILE_MASTER_LEN], key[32];

	(void)state;
	t_master_image(img, key, 1);
	t_put("target", img, sizeof img);
	assert_int_equal(symlink(t_path("target"), t_path("link")), 0);
	assert_int_equal(keyfile_open_secret(t_path("link")), -1);
	assert_int_equal(errno, ELOOP);
	t_error_says("link", "symbolic link");
	assert_int_equal(mkfifo(t_path("fifo"), 0600), 0);
	alarm(10);
	assert_int_equal(keyfile_open_secret(t_path("fifo")), -1);
	alarm(0);
	t_error_says("fifo", "not a regular file");
	assert_int_equal(keyfile_open_secret(t_path("master")), -1);
	assert_int_equal(errno, ENOENT);
	t_error_says("master", "No such file");
}

/* keyfile_shred: a regular file is overwritten with zeros over its whole
 * size, synced and unlinked; another hard link to it then reads zeros. */
static void test_shred_regular_and_hard_link(void **state)
{
	unsigned char buf[200], back[300];
	size_t i;

	(void)state;
	memset(buf, 0xA5, sizeof buf);
	t_put("master", buf, sizeof buf);
	assert_int_equal(link(t_path("master"), t_path("exists")), 0);
	assert_int_equal(keyfile_shred(t_path("master")), 0);
	assert_int_equal(access(t_path("master"), F_OK), -1);
	assert_int_equal(t_get("exists", back, sizeof back), sizeof buf);
	for (i = 0; i < sizeof buf; i++)
		assert_int_equal(back[i], 0);
}

/* A symlink is never followed: refused (ELOOP), link and target kept as
 * they were. */
static void test_shred_symlink(void **state)
{
	unsigned char buf[64], back[64];

	(void)state;
	memset(buf, 0x5A, sizeof buf);
	t_put("target", buf, sizeof buf);
	assert_int_equal(symlink(t_path("target"), t_path("link")), 0);
	errno = 0;
	assert_int_equal(keyfile_shred(t_path("link")), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(t_get("target", back, sizeof back), sizeof buf);
	assert_memory_equal(back, buf, sizeof buf);
	assert_int_equal(access(t_path("link"), F_OK), 0);
}

/* A FIFO (nobody reading) and a directory are refused at once, kept. */
static void test_shred_not_regular(void **state)
{
	(void)state;
	assert_int_equal(mkfifo(t_path("fifo"), 0600), 0);
	assert_int_equal(keyfile_shred(t_path("fifo")), -1);
	assert_int_equal(access(t_path("fifo"), F_OK), 0);
	assert_int_equal(mkdir(t_path("subdir"), 0700), 0);
	assert_int_equal(keyfile_shred(t_path("subdir")), -1);
	assert_int_equal(access(t_path("subdir"), F_OK), 0);
}

/* KEYFILE_SHRED_MAX bytes: overwritten and removed; one byte more:
 * refused (EINVAL), nothing written, the file kept. */
static void test_shred_size_bound(void **state)
{
	unsigned char tail = 0;
	struct stat st;
	int fd;

	(void)state;
	fd = open(t_path("bad"), O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "K", 1, KEYFILE_SHRED_MAX), 1); /* MAX + 1 bytes */
	assert_int_equal(close(fd), 0);
	errno = 0;
	assert_int_equal(keyfile_shred(t_path("bad")), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(stat(t_path("bad"), &st), 0);
	assert_int_equal(st.st_size, KEYFILE_SHRED_MAX + 1);
	fd = open(t_path("bad"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &tail, 1, KEYFILE_SHRED_MAX), 1);
	assert_int_equal(close(fd), 0);
	assert_int_equal(tail, 'K');
	assert_int_equal(truncate(t_path("bad"), KEYFILE_SHRED_MAX), 0);
	assert_int_equal(link(t_path("bad"), t_path("exists")), 0);
	assert_int_equal(keyfile_shred(t_path("bad")), 0);
	assert_int_equal(access(t_path("bad"), F_OK), -1);
	assert_int_equal(stat(t_path("exists"), &st), 0);
	assert_int_equal(st.st_size, KEYFILE_SHRED_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_encode_master_layout, t_clean),
	    cmocka_unit_test_setup(test_encode_audit_layout, t_clean),
	    cmocka_unit_test_setup(test_master_round_trip, t_clean),
	    cmocka_unit_test_setup(test_audit_round_trip, t_clean),
	    cmocka_unit_test_setup(test_pub_round_trip, t_clean),
	    cmocka_unit_test_setup(test_master_bad_magic, t_clean),
	    cmocka_unit_test_setup(test_master_bad_type, t_clean),
	    cmocka_unit_test_setup(test_master_bad_format, t_clean),
	    cmocka_unit_test_setup(test_master_bad_size, t_clean),
	    cmocka_unit_test_setup(test_master_version_zero, t_clean),
	    cmocka_unit_test_setup(test_audit_malformed, t_clean),
	    cmocka_unit_test_setup(test_write_refuses_existing, t_clean),
	    cmocka_unit_test_setup(test_write_refuses_symlink, t_clean),
	    cmocka_unit_test_setup(test_write_modes, t_clean),
	    cmocka_unit_test_setup(test_write_missing_dir, t_clean),
	    cmocka_unit_test_setup(test_read_refuses_non_regular, t_clean),
	    cmocka_unit_test_setup(test_pub_rejects_bad, t_clean),
	    cmocka_unit_test_setup(test_secret_mode, t_clean),
	    cmocka_unit_test_setup(test_secret_directory, t_clean),
	    cmocka_unit_test_setup(test_secret_owner, t_clean),
	    cmocka_unit_test_setup(test_secret_no_follow, t_clean),
	    cmocka_unit_test_setup(test_shred_regular_and_hard_link, t_clean),
	    cmocka_unit_test_setup(test_shred_symlink, t_clean),
	    cmocka_unit_test_setup(test_shred_not_regular, t_clean),
	    cmocka_unit_test_setup(test_shred_size_bound, t_clean),
	};

	return cmocka_run_group_tests(tests, t_setup, t_teardown);
}

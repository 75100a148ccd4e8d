/* keyfile.c - read and write rsvault's key files (formats in keyfile.h).
 *
 * Writers never overwrite: files are created O_EXCL|O_NOFOLLOW, so an
 * existing file or a planted symlink is an error, not a target.
 * Readers open O_NOFOLLOW|O_NONBLOCK (a FIFO cannot block us), insist on a
 * regular file (a secret one also private to its owner, in a directory
 * nobody else can write: keyfile_open_secret) whose size is within the format's bounds, read it
 * whole, check that nothing follows, and only then look at magic, type and format. Every buffer
 * that held key bytes is wiped before return, on every path.
 *
 * Stricter than the bare layout, on purpose:
 *  - a master key with version 0 is refused (versions start at 1);
 *  - an audit key whose stored public half does not match the one derived
 *    from its seed is refused (a corrupt or spliced file). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keyfile.h"
#include "be.h"

#define KF_MAGIC_LEN 4
#define KF_HDR_LEN (KF_MAGIC_LEN + 2) /* magic | type | format */
#define KF_MASTER_KEY_LEN 32
#define KF_AUDIT_SK_LEN 64
#define KF_PUB_HEX_LEN 64
#define KF_PUB_MAX 128 /* 64 hex + at most 64 bytes of whitespace */

/* Largest file any reader accepts (the buffer size). */
#define KF_READ_MAX KF_PUB_MAX
#define KF_ERR_MAX 640
#define KF_DIR_MAX 4096

/* The reason for the last failure of this thread (keyfile_error). */
static _Thread_local char kf_err[KF_ERR_MAX];

__attribute__((format(printf, 1, 2))) static void kf_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(kf_err, sizeof kf_err, fmt, ap);
	va_end(ap);
}

const char *keyfile_error(void)
{
	return kf_err;
}

static void kf_put_header(unsigned char *out, unsigned char type)
{
	memcpy(out, KEYFILE_MAGIC, KF_MAGIC_LEN);
	out[KF_MAGIC_LEN] = type;
	out[KF_MAGIC_LEN + 1] = KEYFILE_FORMAT;
}

/* 0 if buf (at least KF_HDR_LEN bytes) starts with our magic, the given
 * type and the one format we know; -1 otherwise. */
static int kf_check_header(const unsigned char *buf, unsigned char type)
{
	if (memcmp(buf, KEYFILE_MAGIC, KF_MAGIC_LEN) != 0)
		return -1;
	if (buf[KF_MAGIC_LEN] != type)
		return -1;
	if (buf[KF_MAGIC_LEN + 1] != KEYFILE_FORMAT)
		return -1;
	return 0;
}

static int kf_write_all(int fd, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int kf_write_new(const char *path, const void *buf, size_t len, mode_t mode, int own,
                        unsigned uid, unsigned gid)
{
	int fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (own && geteuid() == 0 && fchown(fd, (uid_t)uid, (gid_t)gid) != 0)
		goto fail;
	/* The umask may have taken bits off (or a caller's umask may be
	 * wider than we want): make the mode exactly what was asked. */
	if (fchmod(fd, mode) != 0)
		goto fail;
	if (kf_write_all(fd, buf, len) != 0)
		goto fail;
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return 0;

fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	/* We created it (O_EXCL), so removing it cannot hit someone else's. */
	unlink(path);
	errno = saved;
	return -1;
}

int keyfile_shred(const char *path)
{
	static const unsigned char zero[4096];
	struct stat st;
	off_t off = 0;
	int fd, saved;

	fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode) || st.st_size > KEYFILE_SHRED_MAX) {
		errno = EINVAL;
		goto fail;
	}
	while (off < st.st_size) {
		size_t n = (size_t)(st.st_size - off) < sizeof zero ? (size_t)(st.st_size - off)
		                                                    : sizeof zero;
		ssize_t w = pwrite(fd, zero, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			goto fail;
		}
		off += w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0)
		return -1;
	return unlink(path);
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int keyfile_write_new(const char *path, const void *buf, size_t len, mode_t mode)
{
	return kf_write_new(path, buf, len, mode, 0, 0, 0);
}

int keyfile_write_new_owned(const char *path, const void *buf, size_t len, mode_t mode,
                            unsigned uid, unsigned gid)
{
	return kf_write_new(path, buf, len, mode, 1, uid, gid);
}

/* Split path into its directory (copied to dir) and its last component
 * (returned, pointing into path). NULL if there is no usable last
 * component or the directory does not fit. */
static const char *kf_split(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/'), *base = path;
	size_t n;

	if (slash == NULL) {
		if (cap < 2)
			return NULL;
		memcpy(dir, ".", 2);
	} else {
		base = slash + 1;
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= cap)
			return NULL;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return NULL;
	return base;
}

/* Who may own a secret file or its directory: this user, or root (a server
 * started as root reads root's keys before it drops to --user). */
static int kf_owner_ok(uid_t owner, uid_t also)
{
	return owner == geteuid() || owner == 0 || (also != (uid_t)-1 && owner == also);
}

static int kf_open_secret(const char *path, uid_t also);

int keyfile_open_secret(const char *path)
{
	return kf_open_secret(path, (uid_t)-1);
}

int keyfile_open_secret_also(const char *path, uid_t also)
{
	return kf_open_secret(path, also);
}

static int kf_open_secret(const char *path, uid_t also)
{
	char dir[KF_DIR_MAX];
	const char *base;
	struct stat st;
	int dfd, fd = -1, saved;

	kf_err[0] = '\0';
	if ((base = kf_split(path, dir, sizeof dir)) == NULL) {
		kf_fail("%s: not a file name", path);
		errno = EINVAL;
		return -1;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		saved = errno;
		kf_fail("%s: cannot open its directory %s: %s", path, dir, strerror(saved));
		errno = saved;
		return -1;
	}
	if (fstat(dfd, &st) != 0) {
		saved = errno;
		kf_fail("%s: cannot stat its directory %s: %s", path, dir, strerror(saved));
		errno = saved;
		goto done;
	}
	if (!kf_owner_ok(st.st_uid, also)) {
		kf_fail("%s: its directory %s is owned by uid %u, not by this user (uid %u) or "
		        "root; fix: chown %u %s",
		        path, dir, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(),
		        dir);
		errno = EPERM;
		goto done;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		kf_fail("%s: its directory %s is writable by group or others (mode %04o); fix: "
		        "chmod 700 %s",
		        path, dir, (unsigned)(st.st_mode & 07777), dir);
		errno = EPERM;
		goto done;
	}
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		saved = errno;
		if (saved == ELOOP)
			kf_fail("%s: is a symbolic link (refused: name the file itself)", path);
		else
			kf_fail("%s: %s", path, strerror(saved));
		errno = saved;
		goto done;
	}
	if (fstat(fd, &st) != 0) {
		saved = errno;
		kf_fail("%s: cannot stat: %s", path, strerror(saved));
		errno = saved;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		kf_fail("%s: not a regular file", path);
		errno = EINVAL;
		goto fail;
	}
	if (!kf_owner_ok(st.st_uid, also)) {
		kf_fail("%s: owned by uid %u, not by this user (uid %u) or root; fix: chown %u %s",
		        path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path);
		errno = EPERM;
		goto fail;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		kf_fail("%s: group or others may access this secret key (mode %04o); fix: chmod "
		        "600 %s",
		        path, (unsigned)(st.st_mode & 07777), path);
		errno = EPERM;
		goto fail;
	}
	goto done;
fail:
	saved = errno;
	close(fd);
	fd = -1;
	errno = saved;
done:
	saved = errno;
	close(dfd);
	errno = saved;
	return fd;
}

/* Read the whole of path into buf (capacity cap) if it is a regular file of
 * min..max bytes (max <= cap); a secret file is opened with
 * keyfile_open_secret. *lenp gets the size. Returns 0 or -1 (the reason in
 * kf_err). On -1 the caller still wipes buf: part of it may have been
 * filled. */
static int kf_read_file(const char *path, int secret, unsigned char *buf, size_t cap, size_t min,
                        size_t max, size_t *lenp)
{
	struct stat st;
	unsigned char extra;
	size_t got = 0, want;
	ssize_t n;
	int fd, rc = -1;

	kf_err[0] = '\0';
	if (max > cap)
		return -1;
	if (secret) {
		if ((fd = keyfile_open_secret(path)) < 0)
			return -1;
	} else if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) <
	           0) {
		kf_fail("%s: %s", path, errno == ELOOP ? "is a symbolic link" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		kf_fail("%s: not a regular file", path);
		goto done;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size < min || (uintmax_t)st.st_size > max) {
		kf_fail("%s: wrong size (%lld bytes) for this kind of key file", path,
		        (long long)st.st_size);
		goto done;
	}
	want = (size_t)st.st_size;
	while (got < want) {
		n = read(fd, buf + got, want - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			kf_fail("%s: %s", path, strerror(errno));
			goto done;
		}
		if (n == 0) {
			kf_fail("%s: shrank while being read", path);
			goto done; /* shrank under us */
		}
		got += (size_t)n;
	}
	/* The file must end where fstat said it does. */
	for (;;) {
		n = read(fd, &extra, 1);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	sodium_memzero(&extra, sizeof extra);
	if (n != 0) {
		kf_fail("%s: grew while being read", path);
		goto done;
	}
	*lenp = got;
	rc = 0;
done:
	close(fd);
	return rc;
}

void keyfile_encode_master(unsigned char out[KEYFILE_MASTER_LEN], const unsigned char key[32],
                           uint32_t version)
{
	kf_put_header(out, KEYFILE_TYPE_MASTER);
	util_be32_put(out + KF_HDR_LEN, version);
	memcpy(out + KF_HDR_LEN + 4, key, KF_MASTER_KEY_LEN);
}

void keyfile_encode_audit(unsigned char out[KEYFILE_AUDIT_LEN], const unsigned char sk[64])
{
	kf_put_header(out, KEYFILE_TYPE_AUDIT);
	memcpy(out + KF_HDR_LEN, sk, KF_AUDIT_SK_LEN);
}

void keyfile_encode_master2(unsigned char out[KEYFILE_MASTER2_LEN], const unsigned char key[32],
                            uint32_t version, const unsigned char hk[KEYFILE_HASH_KEYS_LEN])
{
	kf_put_header(out, KEYFILE_TYPE_MASTER);
	out[KF_MAGIC_LEN + 1] = KEYFILE_FORMAT_MASTER2;
	util_be32_put(out + KF_HDR_LEN, version);
	memcpy(out + KF_HDR_LEN + 4, key, KF_MASTER_KEY_LEN);
	memcpy(out + KF_HDR_LEN + 4 + KF_MASTER_KEY_LEN, hk, KEYFILE_HASH_KEYS_LEN);
}

int keyfile_decode_master(const unsigned char *buf, size_t len, unsigned char key[32],
                          uint32_t *version, unsigned char hk[KEYFILE_HASH_KEYS_LEN], int *has_hk)
{
	uint32_t v;

	if (len < KF_HDR_LEN || memcmp(buf, KEYFILE_MAGIC, KF_MAGIC_LEN) != 0 ||
	    buf[KF_MAGIC_LEN] != KEYFILE_TYPE_MASTER)
		return -1;
	if (!((buf[KF_MAGIC_LEN + 1] == KEYFILE_FORMAT && len == KEYFILE_MASTER_LEN) ||
	      (buf[KF_MAGIC_LEN + 1] == KEYFILE_FORMAT_MASTER2 && len == KEYFILE_MASTER2_LEN)))
		return -1;
	if ((v = util_be32_get(buf + KF_HDR_LEN)) == 0)
		return -1;
	memcpy(key, buf + KF_HDR_LEN + 4, KF_MASTER_KEY_LEN);
	*version = v;
	*has_hk = len == KEYFILE_MASTER2_LEN;
	if (*has_hk)
		memcpy(hk, buf + KF_HDR_LEN + 4 + KF_MASTER_KEY_LEN, KEYFILE_HASH_KEYS_LEN);
	return 0;
}

int keyfile_read_secret(const char *path, unsigned char *buf, size_t cap, size_t min, size_t max,
                        size_t *len)
{
	return kf_read_file(path, 1, buf, cap, min, max, len);
}

int keyfile_read_master(const char *path, unsigned char key[32], uint32_t *version)
{
	unsigned char buf[KF_READ_MAX];
	size_t len = 0;
	uint32_t v;
	int rc = -1;

	if (kf_read_file(path, 1, buf, sizeof buf, KEYFILE_MASTER_LEN, KEYFILE_MASTER_LEN, &len))
		goto done;
	if (len != KEYFILE_MASTER_LEN || kf_check_header(buf, KEYFILE_TYPE_MASTER)) {
		kf_fail("%s: not a master key file (magic, type or format)", path);
		goto done;
	}
	v = util_be32_get(buf + KF_HDR_LEN);
	if (v == 0) {
		kf_fail("%s: master key version 0 is not valid", path);
		goto done;
	}
	memcpy(key, buf + KF_HDR_LEN + 4, KF_MASTER_KEY_LEN);
	*version = v;
	rc = 0;
done:
	sodium_memzero(buf, sizeof buf);
	return rc;
}

int keyfile_read_audit_sk(const char *path, unsigned char sk[64])
{
	unsigned char buf[KF_READ_MAX];
	unsigned char seed[crypto_sign_SEEDBYTES];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk2[crypto_sign_SECRETKEYBYTES];
	size_t len = 0;
	int rc = -1;

	if (kf_read_file(path, 1, buf, sizeof buf, KEYFILE_AUDIT_LEN, KEYFILE_AUDIT_LEN, &len))
		goto done;
	if (len != KEYFILE_AUDIT_LEN || kf_check_header(buf, KEYFILE_TYPE_AUDIT)) {
		kf_fail("%s: not an audit key file (magic, type or format)", path);
		goto done;
	}
	kf_fail("%s: the two halves of the audit key do not match", path);
	/* libsodium's secret key is seed | public key: both halves must agree. */
	if (crypto_sign_ed25519_sk_to_seed(seed, buf + KF_HDR_LEN) != 0)
		goto done;
	if (crypto_sign_seed_keypair(pk, sk2, seed) != 0)
		goto done;
	if (sodium_memcmp(sk2, buf + KF_HDR_LEN, sizeof sk2) != 0)
		goto done;
	memcpy(sk, buf + KF_HDR_LEN, KF_AUDIT_SK_LEN);
	kf_err[0] = '\0';
	rc = 0;
done:
	sodium_memzero(buf, sizeof buf);
	sodium_memzero(seed, sizeof seed);
	sodium_memzero(sk2, sizeof sk2);
	sodium_memzero(pk, sizeof pk);
	return rc;
}

static int kf_is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int kf_is_space(unsigned char c)
{
	return c == '\n' || c == '\r' || c == ' ' || c == '\t';
}

int keyfile_read_pub(const char *path, unsigned char pk[32])
{
	unsigned char buf[KF_READ_MAX];
	unsigned char out[crypto_sign_PUBLICKEYBYTES];
	size_t len = 0, binlen = 0, i;
	const char *end = NULL;
	int rc = -1;

	if (kf_read_file(path, 0, buf, sizeof buf, KF_PUB_HEX_LEN, KF_PUB_MAX, &len))
		goto done;
	kf_fail("%s: not a public key (64 hex digits)", path);
	for (i = 0; i < KF_PUB_HEX_LEN; i++)
		if (!kf_is_hex(buf[i]))
			goto done;
	for (; i < len; i++)
		if (!kf_is_space(buf[i]))
			goto done;
	if (sodium_hex2bin(out, sizeof out, (const char *)buf, KF_PUB_HEX_LEN, NULL, &binlen,
	                   &end) != 0)
		goto done;
	if (binlen != sizeof out || end != (const char *)buf + KF_PUB_HEX_LEN)
		goto done;
	memcpy(pk, out, sizeof out);
	kf_err[0] = '\0';
	rc = 0;
done:
	sodium_memzero(buf, sizeof buf);
	sodium_memzero(out, sizeof out);
	return rc;
}

/* keyfile.h - on-disk formats of rsvault's key files, shared by the key
 * tool (which writes them) and the server and client (which read them).
 *
 * master.key (binary, 42 bytes, mode 0600):
 *   "RSVK" | type 0x01 | format 0x01 | u32 BE master-key version | 32 key bytes
 * master-N.key (made by rotate-master; binary, 138 bytes, mode 0600):
 *   "RSVK" | type 0x01 | format 0x02 | u32 BE version N | 32 key bytes |
 *   96 bytes: the token-hash, token-id and capability-hash keys, carried
 *   over unchanged from the version before (first derived from version 1),
 *   so tokens, links and receipts outlive the retirement of any version.
 * Sealed, each file is replaced by FILE.sealed (common/seal.h).
 * audit.key (binary, 70 bytes, mode 0600):
 *   "RSVK" | type 0x02 | format 0x01 | 64-byte Ed25519 secret key (libsodium)
 * audit.pub (text, mode 0644):
 *   64 lowercase hex characters of the Ed25519 public key, then "\n"
 *
 * Readers check length, magic, type and format before using any byte.
 *
 * Secret files (master.key, audit.key, server.key, ca.key) are opened only
 * through keyfile_open_secret(), which refuses a file that others could
 * read or replace: see its contract below and docs/keys.md. */
#ifndef RSVAULT_KEYFILE_H
#define RSVAULT_KEYFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KEYFILE_MAGIC "RSVK"
#define KEYFILE_TYPE_MASTER 0x01
#define KEYFILE_TYPE_AUDIT 0x02
#define KEYFILE_FORMAT 0x01
#define KEYFILE_MASTER_LEN 42
#define KEYFILE_FORMAT_MASTER2 0x02
#define KEYFILE_MASTER2_LEN 138
#define KEYFILE_HASH_KEYS_LEN 96
#define KEYFILE_AUDIT_LEN 70

/* Create path with O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC and mode,
 * write all of buf, fsync, close. Never overwrites: an existing file is an
 * error (errno EEXIST). Returns 0, or -1 with errno set; on a write error
 * the partial file is removed. */
int keyfile_write_new(const char *path, const void *buf, size_t len, mode_t mode);
/* The same, and when this process is root, the new file is given to
 * uid:gid through its descriptor (never by its path) before anything is
 * written to it. */
int keyfile_write_new_owned(const char *path, const void *buf, size_t len, mode_t mode,
                            unsigned uid, unsigned gid);

/* Overwrite the contents of the regular file at path (opened O_NOFOLLOW,
 * never through a symlink) with zeros over its whole size, fsync it, then
 * unlink path. Every hard link to the file reads zeros afterwards. On a
 * copy-on-write or journalling file system the old blocks may survive
 * elsewhere (docs/keys.md). Refuses (errno EINVAL) anything that is not a
 * regular file of at most KEYFILE_SHRED_MAX bytes. Returns 0, or -1 with
 * errno set; the file is then NOT removed unless the overwrite and fsync
 * succeeded. */
#define KEYFILE_SHRED_MAX (1024 * 1024)
int keyfile_shred(const char *path);

/* Open a SECRET key file for reading, refusing it unless it is safe:
 *  - its directory (opened first; fstat on that descriptor) is owned by the
 *    effective user or root and is not writable by group or others;
 *  - the file is opened inside that directory with O_NOFOLLOW|O_NONBLOCK
 *    (a symlink or FIFO is refused without blocking), and fstat on the
 *    opened descriptor (no check-then-open race) shows a regular file owned
 *    by the effective user or root with no permission bit for group or
 *    others (0600 or 0400).
 * Returns the descriptor (O_RDONLY|O_NONBLOCK|O_CLOEXEC; caller closes), or -1 with
 * errno set and keyfile_error() naming the file, the reason and the fix. */
int keyfile_open_secret(const char *path);

/* As keyfile_open_secret, but a file (and directory) owned by also is
 * accepted too, besides the effective user and root ((uid_t)-1: nobody
 * else). For the server's TLS key only: a server started as root passes
 * its --user, whose key it reads again, as that user, on SIGHUP. */
int keyfile_open_secret_also(const char *path, uid_t also);

/* Why the last keyfile_* call of this thread failed: one line that names
 * the file and, where there is one, the fix ("chmod 600 PATH"). Never any
 * key byte. "" when nothing failed yet. */
const char *keyfile_error(void);

/* Read a master key file (opened with keyfile_open_secret). key is written
 * only on success (caller should pass locked memory); the internal read
 * buffer is wiped on every path. Returns 0, or -1 (unsafe permissions or
 * owner, missing, unreadable, wrong size, magic, type, format; the reason
 * is in keyfile_error()). */
int keyfile_read_master(const char *path, unsigned char key[32], uint32_t *version);

/* Read an audit signing key file into sk (64 bytes, libsodium Ed25519 secret
 * key), opened with keyfile_open_secret. Same rules as keyfile_read_master. Returns 0 or -1. */
int keyfile_read_audit_sk(const char *path, unsigned char sk[64]);

/* Read audit.pub (64 hex chars, optional trailing newline/whitespace).
 * Returns 0 or -1. */
int keyfile_read_pub(const char *path, unsigned char pk[32]);

/* Encode a master key file image into out (KEYFILE_MASTER_LEN bytes). */
void keyfile_encode_master(unsigned char out[KEYFILE_MASTER_LEN], const unsigned char key[32],
                           uint32_t version);

/* Encode a format-2 master key file image (KEYFILE_MASTER2_LEN bytes). */
void keyfile_encode_master2(unsigned char out[KEYFILE_MASTER2_LEN], const unsigned char key[32],
                            uint32_t version, const unsigned char hk[KEYFILE_HASH_KEYS_LEN]);

/* Decode a master key file image of either format (lengths, magic, type,
 * format and version > 0 checked first). hk is filled and *has_hk set to 1
 * for format 2; 0 for format 1. Returns 0 or -1. */
int keyfile_decode_master(const unsigned char *buf, size_t len, unsigned char key[32],
                          uint32_t *version, unsigned char hk[KEYFILE_HASH_KEYS_LEN], int *has_hk);

/* Read a whole secret file (keyfile_open_secret) of min..max bytes into
 * buf (cap bytes). Returns 0 with *len set, or -1 (reason in
 * keyfile_error(); buf may be partly filled: the caller wipes it). */
int keyfile_read_secret(const char *path, unsigned char *buf, size_t cap, size_t min, size_t max,
                        size_t *len);

/* Encode an audit key file image into out (KEYFILE_AUDIT_LEN bytes). */
void keyfile_encode_audit(unsigned char out[KEYFILE_AUDIT_LEN], const unsigned char sk[64]);

#endif

/* backupmf.h - the signed manifest of a store backup (SPEC 8.5), shared by
 * the server (which writes it) and rsvault-keys restore (which checks it).
 *
 * {file}.manifest.json beside the copy {file}:
 *   {"file","time","audit_seq","audit_hash","sha256","bytes",
 *    "master_versions","signature"}
 * signature: hex Ed25519 signature by the audit key over the bytes
 *   "rsvault-backup-v1\n{sha256}\n{audit_seq}\n{audit_hash}\n"
 * (sha256 and audit_hash as 64 lowercase hex characters, audit_seq in
 * decimal). The other fields are not signed: file and time are for
 * people, bytes is checked against the file (whose SHA-256 is signed),
 * and master_versions is only a claim: rsvault-keys restore reads the
 * versions the copy needs from the copy itself and refuses a manifest
 * that leaves one out (keys/restore.c, docs/decisions.md). */
#ifndef RSVAULT_BACKUPMF_H
#define RSVAULT_BACKUPMF_H

#include <stddef.h>
#include <stdint.h>

#define BACKUPMF_TAG "rsvault-backup-v1"
#define BACKUPMF_MSG_MAX 192

/* Write the signed bytes into out (len bytes). Returns their length, or
 * -1 if a hex argument is not 64 characters or out is too small. */
int backupmf_message(const char *sha256_hex, uint64_t seq, const char *hash_hex, char *out,
                     size_t len);

/* Check signature_hex (128 hex characters) over the message for these
 * values with the Ed25519 public key pk. Returns 0 if it verifies, -1
 * otherwise. */
__attribute__((warn_unused_result)) int backupmf_verify(const char *sha256_hex, uint64_t seq,
                                                        const char *hash_hex,
                                                        const char *signature_hex,
                                                        const unsigned char pk[32]);

#endif

/* auditkeys.h - the chain of audit signing keys (SPEC 8.4).
 *
 * Files in the key directory:
 *   audit.key      the newest private key, the one the server signs with
 *                  (crypto.c loads it);
 *   audit.pub      the FIRST public key, version 1: what auditors trust;
 *   audit-N.pub    the public key of version N (N >= 2), made by
 *                  `rsvault-keys rotate-audit`;
 *   audit-N.key    the private key of version N once a newer one took its
 *                  place, kept until `rsvault-keys retire-audit` deletes it.
 * The store remembers which key signs the log (DB_META "audit_pk"). At
 * start, when audit.key is newer than that key, the server announces each
 * newer version in turn: a key.audit event whose target is the new public
 * key (hex), with a checkpoint on that event signed by the key before it.
 * From then on checkpoints are signed with audit.key. */
#ifndef RSVAULT_AUDITKEYS_H
#define RSVAULT_AUDITKEYS_H

#include "store.h"

#define AUDITKEYS_MAX 64 /* versions of the audit key */

/* DB_META key of the public key the log is signed with (32 bytes; absent
 * until the first announcement: version 1). `rsvault-keys retire-audit`
 * reads it to refuse retiring before the hand-over was announced. */
#define AUDITKEYS_META_PK "audit_pk"

/* Read audit.pub and every audit-N.pub (N = 2, 3, ... until one is
 * missing), find the version of audit.key (loaded by crypto_init, which
 * must have run) among them, and read the older private keys audit-N.key
 * that are still there. Call with the start-up privileges. Returns 0, or
 * -1 with the reason logged (audit.key matches no public key, an unsafe
 * or malformed file). */
int auditkeys_load(const char *keys_dir);

/* In one write transaction: announce every version newer than the one
 * the log is signed with, up to audit.key's, and record the key in use.
 * Then wipe the older private keys. Blocks on the store's writer. Returns
 * 0, or -1 with the reason logged (the log is signed by a key not in the
 * directory, or an older private key needed for an announcement is
 * gone). */
int auditkeys_announce(struct store *s);

/* Wipe and free what auditkeys_load read. */
void auditkeys_shutdown(void);

#endif

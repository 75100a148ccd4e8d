/* backup.h - backups of the store while serving, and the first start of
 * a restored store (SPEC 8.5). */
#ifndef RSVAULT_BACKUP_H
#define RSVAULT_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "req.h"
#include "store.h"

/* POST /v1/admin/backup (admin): decides in the writer (409 without
 * --backup-dir; the event's target is the new file's name) and leaves the
 * copy to the request's post step, after the commit, on the connection's
 * thread: 201 with the signed manifest, or 503 with no file left. */
int api_admin_backup(struct req *r, struct store_txn *t);

/* The first start of a store that `rsvault-keys restore` put in place
 * (in the start-up transaction): append store.restore with target
 * "{audit_seq}:{audit_hash}" of the backup's manifest, then revoke every
 * link and receipt and end every session (session.end events with reason
 * END_STORE_RESTORED). Returns 0 or a store_err. */
int backup_restored(struct store_txn *t, const char *target);

#endif

/* license.h - license types and a customer's eligibility (SPEC §1). */
#ifndef RSVAULT_LICENSE_H
#define RSVAULT_LICENSE_H

#include <jansson.h>

#include "store.h"

/* Commercial flag and priority of a license type; -1 for an unknown type. */
int license_type(const char *type, int *commercial, int *priority);

/* Is a license record valid at time now (valid_until absent or later)? */
int license_valid(const json_t *lic, int64_t now);

/* Public view of a license: id, key, type, email, valid_until,
 * commercial, priority. New reference. */
json_t *license_view(const json_t *lic);

/* A license's id (SPEC 8.1): 16 lowercase hex characters of 8 random
 * bytes, made when the license is registered. Events name a license by it,
 * never by its key (a bearer proof that binds the license to an account). */
#define LICENSE_ID_LEN 17
void license_new_id(char out[LICENSE_ID_LEN]);

struct req;
/* Make license record lic the target of r's audit event (its id). */
void license_target(struct req *r, const json_t *lic);

/* Give every license record stored before licenses had ids an id (start-up
 * migration, in the caller's transaction). *n counts the records changed.
 * Returns 0 or a store_err. */
int license_migrate_ids(struct store_txn *t, int *n);

/* The license view as its holder sees it (GET /v1/me and the answer of
 * POST /v1/me/license): "email" is the delivery e-mail only when it is
 * account_email, the caller's own address, and null otherwise, since a
 * key bound by hand may have been delivered to somebody else. */
json_t *license_view_for(const json_t *lic, const char *account_email);

/* Binding a key (POST /v1/me/license) is throttled per account: after
 * LICENSE_BIND_FAIL_LIMIT unknown keys within LICENSE_BIND_WINDOW_MS every
 * bind of that account gets 429 until the oldest of them leaves the window
 * (also with a good key, so the limit answers nothing about keys). The
 * table is in memory and touched only by the writer thread. */
#define LICENSE_BIND_FAIL_LIMIT 10
#define LICENSE_BIND_WINDOW_MS (10 * 60 * 1000)

/* Milliseconds until account may try a key again, or 0 if it may now. */
int64_t license_bind_wait_ms(const char *account, int64_t now);

/* Count an unknown key tried by account at now. */
void license_bind_failed(const char *account, int64_t now);

/* License keys are compared without regard to case (SPEC 8.6): a
 * license is stored under its key folded to lower case (ASCII; keys are
 * [A-Za-z0-9._-]), its record keeping the key as it was registered. */
#define LICENSE_KEY_MAX 128
void license_fold(const char *key, char out[LICENSE_KEY_MAX + 1]);

/* Load the license with this key (any case). Returns 0, STORE_NOTFOUND or
 * a store_err. */
int license_get(struct store_txn *t, const char *key, json_t **out);

/* Store lic under its folded key (flags as store_put). */
int license_put(struct store_txn *t, const char *key, const json_t *lic, unsigned flags);

/* Start-up: move licenses stored under a key that is not folded (by an
 * earlier version) to their folded key, with their e-mail index entries.
 * If two keys differ only in case nothing is moved: *dups then lists them
 * ("A = a, B = b"; truncated to duplen) and LICENSE_DUPLICATES is
 * returned. *moved counts the records moved. */
#define LICENSE_DUPLICATES (-100)
int license_fold_keys(struct store_txn *t, int *moved, char *dups, size_t duplen);

/* A license that the admin revoked (SPEC 8.6) is never valid again. */
int license_revoked(const json_t *lic);

struct standing {
	const json_t
	    *license; /* the license that counts (a shared reference: read only), or NULL */
	int eligible; /* may receive remote support now */
	int priority; /* 1 (first) .. 5 */
};

/* The standing of an account record at time now: an applied key wins over
 * an email match; among email matches the valid one with the best priority
 * counts; resellers are eligible without a license; suspended accounts are
 * never eligible. Returns 0 or a store_err. Free with standing_free. */
int license_standing(struct store_txn *t, const json_t *account, int64_t now, struct standing *st);
void standing_free(struct standing *st);

/* Standing of the account with this id (NULL-safe for a missing account:
 * not eligible, priority 5): eligible and priority only, st->license is
 * NULL. Read through views of the records' bytes (records.h), without
 * building JSON objects: the gauntlet's license check. */
int license_standing_of(struct store_txn *t, const char *account_id, int64_t now,
                        struct standing *st);

#endif

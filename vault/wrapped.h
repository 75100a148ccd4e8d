/* wrapped.h - every value stored wrapped under a master-key version, for
 * counting per version (GET /v1/admin/keys, `rsvault-keys retire-master`)
 * and for the rewrap to the current version (POST /v1/admin/rewrap).
 *
 * The values live in the tables listed in wrapped.c (wrapped_tables[]):
 * each row's key is the id bound into the value's associated data and its
 * value is a crypto_wrap() blob with that table's tag (crypto.h). Another
 * kind of wrapped value joins with one line there. */
#ifndef RSVAULT_WRAPPED_H
#define RSVAULT_WRAPPED_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define WRAPPED_VERSIONS_MAX 64
#define WRAPPED_KEY_MAX 512

struct wrapped_count {
	uint32_t version;
	uint64_t ticket_keys; /* in DB_TICKET_KEYS */
	uint64_t all;         /* in every table */
};

/* Count the wrapped values per master-key version (versions in increasing
 * order, at most max of them; *malformed: rows that are no wrapped value).
 * Reads every row of every table: O(rows). Returns 0 or a store_err. */
int wrapped_count(struct store_txn *t, struct wrapped_count *out, size_t max, size_t *n,
                  uint64_t *malformed);

/* Where a rewrap is: the table and the last row key it looked at. */
struct wrapped_pos {
	size_t table;
	unsigned char key[WRAPPED_KEY_MAX];
	size_t klen; /* 0: from the table's first row */
};

/* One bounded batch of the rewrap, in the caller's transaction: from pos,
 * look at up to scan rows and rewrap up to max of them (those under an
 * older version) to the current version; advances pos. *rewrapped gets the
 * number rewrapped, *failed those that do not open (left as they are, and
 * logged), *finished 1 once every table was walked to its end. Returns 0
 * or a store_err. */
int wrapped_rewrap_batch(struct store_txn *t, struct wrapped_pos *pos, size_t scan, size_t max,
                         size_t *rewrapped, size_t *failed, int *finished);

#endif

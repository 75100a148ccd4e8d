/* mkset.h - every master-key version of a key directory (SPEC 8.4).
 *
 * Version 1 is DIR/master.key, version N >= 2 is DIR/master-N.key; sealed,
 * each is FILE.sealed instead (common/seal.h). A directory is either all
 * plain or all sealed under one seal. The set is read whole (every file
 * through keyfile_open_secret) before anything is decrypted, so a caller
 * can read it with its start-up privileges and unseal later without
 * opening a file.
 *
 * Keys derived from a master-key version with crypto_kdf (8-byte context,
 * subkey id):
 *   1 "rsvwrap1"  the KEK that wraps ticket keys (and other wrapped values)
 *                 under that version;
 *   2 "rsvtokn1", 3 "rsvtkid1", 4 "rsvcapa1": the token-hash, token-id and
 *                 capability-hash keys, derived from version 1 only; every
 *                 later version's file carries them (keyfile.h), so they
 *                 never change and do not need version 1 to stay. */
#ifndef RSVAULT_MKSET_H
#define RSVAULT_MKSET_H

#include <stddef.h>
#include <stdint.h>

#include "keyfile.h"
#include "seal.h"

#define MKSET_MAX 32
#define MKSET_NAME_MAX 40
/* Present while `rsvault-keys seal` switches DIR to a new seal (every
 * FILE.sealed.new written, renames under way): the set is refused until
 * `rsvault-keys seal --dir DIR --finish` (or any seal) finishes it. */
#define MKSET_SWITCH "master.seal-switch"

struct mkset_entry {
	uint32_t version;
	char name[MKSET_NAME_MAX]; /* file name inside the directory */
	/* the file's bytes; once unsealed (or if plain) the key file image */
	unsigned char blob[SEAL_FILE_MAX];
	size_t len;
};

struct mkset {
	size_t n; /* entries, in increasing version order */
	int sealed;
	struct seal_params seal; /* when sealed */
	struct mkset_entry e[MKSET_MAX];
};

/* File name of version v (sealed or not) into out. Returns 0 or -1. */
int mkset_name(uint32_t v, int sealed, char out[MKSET_NAME_MAX]);

/* Read every master-key file of dir into s (caller's memory: sodium_malloc
 * it, it will hold keys). Refuses a directory without master.key*
 * files, a file whose name and inner version disagree, a mix of plain and
 * sealed files or of two seals, more than MKSET_MAX versions, a directory
 * whose switch to a new seal was interrupted (MKSET_SWITCH). Returns 0,
 * or -1 with err set (never a key byte). */
int mkset_load(const char *dir, struct mkset *s, char *err, size_t errlen);

/* Unseal every entry with the seal key: replaces each blob by its key
 * file image. All or nothing: on a wrong key nothing changes. Returns 0,
 * -1 (the key does not open the seal), or -2 (the key opens every file,
 * but the key file image inside one is damaged or of another version than
 * its file name and clear header say: nothing changes either). */
#define MKSET_MSG_INNER_VERSION                                                                    \
	"a sealed master-key file holds a key of another version than its name says (a file "      \
	"renamed, or sealed for another version): nothing was unsealed, still sealed"
__attribute__((warn_unused_result)) int mkset_unseal(struct mkset *s,
                                                     const unsigned char key[SEAL_KEY_LEN]);

/* Of an unsealed set: the master key of entry i, and the three hash keys
 * (token hash | token id | capability, 96 bytes) as the rule in the header
 * says: carried by the format-2 files (all must agree), or derived from
 * version 1's format-1 file. Returns 0, or -1 with err set. */
int mkset_key(const struct mkset *s, size_t i, unsigned char key[32]);
int mkset_hash_keys(const struct mkset *s, unsigned char hk[KEYFILE_HASH_KEYS_LEN], char *err,
                    size_t errlen);

/* Unsealing from input lines: a passphrase (one line, one attempt) or share
 * lines (collected until the seal's K distinct shares are in). */
struct mkset_unsealer {
	struct seal_share shares[SEAL_SHARES_MAX];
	size_t n;
};

/* Feed one line (without or with its "\n"; not NUL-terminated) to unseal
 * the sealed set s. Returns 1 when s is unsealed; 0 when the line was taken
 * and more shares are needed; -1 when the line changed nothing (a wrong
 * passphrase, a malformed share, a share of another seal, a share given
 * twice, or K shares that do not open the seal: then the collected shares
 * are dropped; or a sealed file whose inner version is not its name's,
 * MKSET_MSG_INNER_VERSION). *msg (static text, never the input) says which. With
 * The line is read as seal_line_len says (line ending and trailing spaces
 * and tabs are not part of a passphrase); for a directory sealed by an
 * earlier key tool under a passphrase ending in spaces, the line with its
 * trailing spaces is tried second (one more Argon2id). With
 * key_out (SEAL_KEY_LEN bytes) non-NULL, the seal key is copied there on
 * success (the key tool seals a new version with it). Key
 * material is wiped on every path. */
int mkset_feed(struct mkset *s, struct mkset_unsealer *u, const char *line, size_t len,
               const char **msg, unsigned char *key_out);

/* The KEK of a master key (subkey 1, "rsvwrap1"). */
void mkset_kek(const unsigned char master[32], unsigned char kek[32]);

#endif

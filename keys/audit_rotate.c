/* audit_rotate.c - rotate-audit and retire-audit (SPEC 8.4).
 *
 * Layout (vault/auditkeys.h): audit.key is always the newest private key,
 * audit.pub the first public key, audit-N.pub version N's public key,
 * audit-N.key version N's private key after a newer one took its place.
 *
 * rotate-audit, from version N to N+1, with nothing overwritten in place:
 *   1. write audit.key.next (0600) and audit-(N+1).pub (0644), O_EXCL;
 *   2. link audit.key to audit-N.key (the old key under its version);
 *   3. rename audit.key.next over audit.key (atomic), fsync DIR.
 * A run cut short after step 1 or 2 is finished by the next run (it finds
 * audit.key.next holding the newest public key's private half). Until
 * step 3 the server still uses version N and ignores audit-(N+1).pub. */
#include "audit_rotate.h"

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "auditkeys.h"
#include "keyfile.h"
#include "util.h"

#define AR_MAX 64 /* versions, as the server's AUDITKEYS_MAX */
#define AR_PATH 4200

const char keys_audit_rotate_usage[] =
    "       rsvault-keys rotate-audit --dir DIR\n"
    "       rsvault-keys retire-audit --dir DIR [--data DATADIR]\n";
const char keys_audit_rotate_help[] =
    "rotate-audit adds a new audit signing key: audit.key becomes the new key\n"
    "(the old one is kept as audit-N.key) and audit-M.pub its public half. At\n"
    "its next start the server announces it with a key.audit event whose\n"
    "checkpoint the old key signs; auditors keep verifying with the first\n"
    "audit.pub. retire-audit then deletes the older private keys\n"
    "(audit-N.key), overwriting each with zeros first. With --data DATADIR\n"
    "(the server's --data) it does so only once that store records the\n"
    "hand-over to audit.key (start the server once first); without it,\n"
    "nothing is checked and it says so.\n";

struct ar {
	char dir[AR_PATH];
	const char *data;             /* retire-audit: the server's data directory */
	unsigned char pk[AR_MAX][32]; /* pk[i]: version i + 1 */
	int npub;
};

/* DIR/name, or for version >= 1 DIR/audit-VERSION.name ("key", "pub"),
 * where version 1 of "pub" is audit.pub. */
static int ar_path(char *out, const struct ar *a, const char *name, int version)
{
	int n;

	if (version == 1 && strcmp(name, "pub") == 0)
		n = snprintf(out, AR_PATH, "%s/audit.pub", a->dir);
	else if (version >= 1)
		n = snprintf(out, AR_PATH, "%s/audit-%d.%s", a->dir, version, name);
	else
		n = snprintf(out, AR_PATH, "%s/%s", a->dir, name);
	if (n < 0 || n >= AR_PATH) {
		warnx("directory name too long");
		return -1;
	}
	return 0;
}

static int ar_exists(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	warn("%s", path);
	return -1;
}

/* The path of audit-N.key into out: 1 when it exists, 0 when not, -1
 * when that cannot be told (said). */
static int ar_old_key(char *out, const struct ar *a, int version)
{
	if (ar_path(out, a, "key", version))
		return -1;
	return ar_exists(out);
}

static int ar_parse(int argc, char **argv, struct ar *a)
{
	const char *dir = NULL;
	int retire = strcmp(argv[1], "retire-audit") == 0;
	size_t n;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc && dir == NULL)
			dir = argv[++i];
		else if (strncmp(argv[i], "--dir=", 6) == 0 && dir == NULL)
			dir = argv[i] + 6;
		else if (retire && strcmp(argv[i], "--data") == 0 && i + 1 < argc &&
		         a->data == NULL)
			a->data = argv[++i];
		else if (retire && strncmp(argv[i], "--data=", 7) == 0 && a->data == NULL)
			a->data = argv[i] + 7;
		else {
			warnx("unknown argument: %.*s", 64, argv[i]);
			return -1;
		}
	}
	if (dir == NULL || dir[0] == '\0') {
		warnx("%s needs --dir DIR", argv[1]);
		return -1;
	}
	if (retire && a->data != NULL && a->data[0] == '\0') {
		warnx("--data needs a directory");
		return -1;
	}
	if (retire && a->data == NULL)
		warnx("without --data DATADIR nothing checks that the server has announced "
		      "the new key; if it has not, it cannot start without the old one");
	if ((n = strlen(dir)) >= AR_PATH - 64) {
		warnx("directory name too long");
		return -1;
	}
	memcpy(a->dir, dir, n + 1);
	while (n > 1 && a->dir[n - 1] == '/')
		a->dir[--n] = '\0';
	return 0;
}

/* Read audit.pub, audit-2.pub, ... until one is missing. */
static int ar_read_pubs(struct ar *a)
{
	char path[AR_PATH];
	int e;

	for (int i = 0; i < AR_MAX; i++) {
		if (ar_path(path, a, "pub", i + 1) != 0 || (e = ar_exists(path)) < 0)
			return -1;
		if (e == 0) {
			if (i == 0) {
				warnx("%s: missing (run init first)", path);
				return -1;
			}
			return 0;
		}
		if (keyfile_read_pub(path, a->pk[i]) != 0) {
			warnx("%s: not an audit public key", path);
			return -1;
		}
		a->npub = i + 1;
	}
	return 0;
}

/* The version (1-based) whose public key is the public half of the key in
 * path, or 0 if none; -1 if it cannot be read. */
static int ar_version_of(const struct ar *a, const char *path)
{
	unsigned char sk[64], pk[32];
	int v = 0;

	if (keyfile_read_audit_sk(path, sk) != 0) {
		warnx("%s", keyfile_error());
		return -1;
	}
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	sodium_memzero(sk, sizeof sk);
	for (int i = 0; i < a->npub; i++)
		if (sodium_memcmp(pk, a->pk[i], 32) == 0)
			v = i + 1;
	return v;
}

/* Steps 2 and 3: keep the old key as audit-OLD.key, move .next in. */
static int ar_switch(const struct ar *a, int old)
{
	char cur[AR_PATH], next[AR_PATH], kept[AR_PATH];
	int e;

	if (ar_path(cur, a, "audit.key", 0) || ar_path(next, a, "audit.key.next", 0) ||
	    ar_path(kept, a, "key", old))
		return -1;
	if ((e = ar_exists(kept)) < 0)
		return -1;
	if (e == 1) { /* left by a run cut short: it must be the same key */
		if (ar_version_of(a, kept) != old) {
			warnx("%s exists and is not version %d's key; nothing changed", kept, old);
			return -1;
		}
	} else if (link(cur, kept) != 0) {
		warn("cannot keep the old key as %s", kept);
		return -1;
	}
	if (rename(next, cur) != 0) {
		warn("cannot move %s to %s", next, cur);
		return -1;
	}
	if (util_sync_dir(a->dir) != 0) {
		warn("cannot sync %s", a->dir);
		return -1;
	}
	return 0;
}

int keys_rotate_audit(int argc, char **argv)
{
	struct ar a;
	char cur[AR_PATH], next[AR_PATH], pubp[AR_PATH], pubtext[66];
	unsigned char pk[32], sk[64], file[KEYFILE_AUDIT_LEN];
	int v, e, rc = 1;

	memset(&a, 0, sizeof a);
	if (ar_parse(argc, argv, &a) != 0)
		return 2;
	if (ar_read_pubs(&a) != 0 || ar_path(cur, &a, "audit.key", 0) ||
	    ar_path(next, &a, "audit.key.next", 0))
		return 1;
	if ((v = ar_version_of(&a, cur)) <= 0) {
		if (v == 0)
			warnx("%s matches neither audit.pub nor any audit-N.pub", cur);
		return 1;
	}
	if ((e = ar_exists(next)) < 0)
		return 1;
	if (e == 1) { /* an earlier run stopped before the switch: finish it */
		if (v + 1 != a.npub || ar_version_of(&a, next) != a.npub) {
			warnx("%s is left over but is not the private half of audit-%d.pub; "
			      "nothing changed",
			      next, v + 1);
			return 1;
		}
		if (ar_switch(&a, v) != 0)
			return 1;
		printf("finished an interrupted rotation: audit.key is now version %d\n", v + 1);
		return 0;
	}
	if (v != a.npub) {
		warnx("audit-%d.pub exists but audit.key is version %d: a rotation was cut "
		      "short before its key was written; remove audit-%d.pub and run "
		      "rotate-audit again",
		      v + 1, v, v + 1);
		return 1;
	}
	if (a.npub >= AR_MAX) {
		warnx("already %d audit keys; no more versions", AR_MAX);
		return 1;
	}
	if (ar_path(pubp, &a, "pub", v + 1))
		return 1;
	if (crypto_sign_keypair(pk, sk) != 0) {
		warnx("cannot make the audit signing key");
		goto done;
	}
	keyfile_encode_audit(file, sk);
	sodium_bin2hex(pubtext, sizeof pubtext, pk, 32);
	pubtext[64] = '\n';
	pubtext[65] = '\0';
	if (keyfile_write_new(next, file, sizeof file, 0600) != 0) {
		warn("cannot write %s", next);
		goto done;
	}
	if (keyfile_write_new(pubp, pubtext, 65, 0644) != 0) {
		warn("cannot write %s", pubp);
		unlink(next);
		goto done;
	}
	if (ar_switch(&a, v) != 0) {
		warnx("run rotate-audit again to finish");
		goto done;
	}
	printf("%s/audit.key\n%s\n%s/audit-%d.key\n", a.dir, pubp, a.dir, v);
	printf("audit key version %d made; the server announces it at its next start "
	       "(signed by version %d); then run retire-audit\n",
	       v + 1, v);
	rc = 0;
done:
	sodium_memzero(sk, sizeof sk);
	sodium_memzero(file, sizeof file);
	return rc;
}

struct ar_logkey {
	int found;            /* DB_META audit_pk present */
	unsigned char pk[32]; /* and its value */
};

static int ar_read_logkey(struct store_txn *t, void *arg)
{
	struct ar_logkey *k = arg;
	const void *v;
	size_t vl;
	int rc;

	rc = store_get(t, DB_META, AUDITKEYS_META_PK, strlen(AUDITKEYS_META_PK), &v, &vl);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK || vl != 32)
		return STORE_ERROR;
	memcpy(k->pk, v, 32);
	k->found = 1;
	return STORE_OK;
}

/* Has the store in a->data announced version v (the key of audit.key)?
 * The server records the key the log is signed with in DB_META once it
 * has written the key.audit events and their checkpoints; until then the
 * older private keys are needed to sign the hand-over. Read-only, without
 * a lock file, as a running server allows. 0 if announced, else -1 with
 * the reason. */
static int ar_announced(const struct ar *a, int v)
{
	char path[AR_PATH];
	struct ar_logkey k;
	struct stat st;
	int n, from = 0;

	n = snprintf(path, sizeof path, "%s/data.mdb", a->data);
	if (n < 0 || n >= (int)sizeof path) {
		warnx("--data: path too long");
		return -1;
	}
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		warnx("%.*s holds no rsvault store (no data.mdb): cannot check that audit key "
		      "version %d was announced",
		      256, a->data, v);
		return -1;
	}
	memset(&k, 0, sizeof k);
	if (store_inspect(path, ar_read_logkey, &k) != STORE_OK) {
		warnx("cannot read the store %.*s: cannot check that audit key version %d was "
		      "announced",
		      256, path, v);
		return -1;
	}
	if (!k.found)
		from = 1; /* never rotated: the log is signed with audit.pub */
	else
		for (int i = 0; i < a->npub; i++)
			if (sodium_memcmp(a->pk[i], k.pk, 32) == 0)
				from = i + 1;
	if (from == v)
		return 0;
	if (from > v)
		warnx("refused: the store's audit log is signed with version %d, newer than "
		      "audit.key (version %d): an old key directory?",
		      from, v);
	else if (from == 0)
		warnx("refused: the store's audit log is signed with a key that is none of the "
		      "public keys in %s (another vault's store or key directory?)",
		      a->dir);
	else
		warnx("refused: the store's audit log is still signed with version %d, and "
		      "audit.key is version %d: the hand-over is not announced yet. Start the "
		      "server once with this key directory (it announces the new key, signed by "
		      "the old one), then run retire-audit again",
		      from, v);
	return -1;
}

int keys_retire_audit(int argc, char **argv)
{
	struct ar a;
	char cur[AR_PATH], old[AR_PATH];
	struct stat cst, ost;
	int v, e, removed = 0;

	memset(&a, 0, sizeof a);
	if (ar_parse(argc, argv, &a) != 0)
		return 2;
	if (ar_read_pubs(&a) != 0 || ar_path(cur, &a, "audit.key", 0))
		return 1;
	if ((v = ar_version_of(&a, cur)) <= 0) {
		if (v == 0)
			warnx("%s matches neither audit.pub nor any audit-N.pub", cur);
		return 1;
	}
	if (v > 1 && a.data != NULL && ar_announced(&a, v) != 0)
		return 1;
	if (stat(cur, &cst) != 0) {
		warn("%s", cur);
		return 1;
	}
	/* every old name is checked before any is touched: a refusal removes
	 * nothing (as it says), not the versions before the one refused */
	for (int i = 1; i < v; i++) {
		if ((e = ar_old_key(old, &a, i)) < 0)
			return 1;
		if (e == 0)
			continue;
		/* never the current key under another name (a hand-made link) */
		if (lstat(old, &ost) != 0 || !S_ISREG(ost.st_mode) ||
		    (ost.st_dev == cst.st_dev && ost.st_ino == cst.st_ino)) {
			warnx("%s is not a file of its own (a link to audit.key, or not a regular "
			      "file); nothing was removed",
			      old);
			return 1;
		}
	}
	for (int i = 1; i < v; i++) {
		if ((e = ar_old_key(old, &a, i)) < 0)
			return 1;
		if (e == 0)
			continue;
		/* its bytes are overwritten with zeros and synced before the name
		 * goes, so no other link to it and no later reader of the freed
		 * blocks finds the key (docs/keys.md says where this falls short) */
		if (keyfile_shred(old) != 0) {
			warn("cannot overwrite and remove %s", old);
			return 1;
		}
		printf("removed %s (overwritten with zeros first)\n", old);
		removed++;
	}
	if (removed == 0) {
		warnx("no older audit private key in %s (audit.key is version %d)", a.dir, v);
		return 1;
	}
	if (util_sync_dir(a.dir) != 0) {
		warn("cannot sync %s", a.dir);
		return 1;
	}
	return 0;
}

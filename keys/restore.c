/* restore.c - `rsvault-keys restore --backup FILE --data DIR [--keys DIR]`:
 * put a backup made by POST /v1/admin/backup in place (SPEC 8.5).
 *
 * Checks, in order:
 *  1. FILE.manifest.json parses, has every field, and its signature
 *     verifies with one of the vault's audit public keys that may still
 *     sign: audit.key's, or an older one whose audit-N.key is still there
 *     (a version retired by retire-audit only with
 *     --accept-retired-audit-key N; verify_any);
 *  2. every master-key version the manifest lists is in KEYS (a backup
 *     needing a retired version says which one);
 *  3. FILE is a regular file and neither it nor its directory is writable
 *     by group or others (anyone who could write there could replace it);
 *  4. DIR holds no store (data.mdb): a restore never overwrites one; move
 *     the old data directory aside first.
 * Then FILE is read once (opened O_NOFOLLOW, checked again on its
 * descriptor): copied into DIR under a temporary name (created
 * O_EXCL | O_NOFOLLOW, synced, root's until checked), and the checks run on that copy, the bytes
 * that will be installed: its SHA-256 and size are the manifest's, and it
 * opens as a store whose audit head is the manifest's audit_seq/audit_hash,
 * and every master-key version its wrapped values are under is listed in
 * the manifest's master_versions (which the signature does not cover, so
 * it is checked against the signed bytes) and is in KEYS.
 * Only then is it renamed to DIR/data.mdb (on any failure the copy is
 * removed), and in the restored store, in one transaction, a note asks the
 * server to record store.restore with target "{audit_seq}:{audit_hash}" at
 * its next start, before any other event, and to revoke every link and
 * receipt and end every session then (vault/backup.c). Stop signals are
 * blocked from the copy to the note. The audit chain
 * belongs to the server, which signs it; this tool never appends to it. */
#include "restore.h"

#include "admin_token.h"

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "audit_read.h"
#include "backupmf.h"
#include "keyfile.h"
#include "log.h"
#include "mkset.h"
#include "records.h"
#include "store.h"
#include "tokens.h"
#include "util.h"
#include "wrapped.h"

#define RS_PATH_MAX 4096
#define RS_MANIFEST_MAX (64 * 1024)
#define RS_MAP_MB 4096
#define RS_QUEUE_TIMEOUT_MS 30000
#define RS_VERSIONS_MAX 64
#define RS_AUDIT_KEYS_MAX 64

const char keys_restore_usage[] =
    "       rsvault-keys restore --backup FILE --data DIR [--keys DIR]\n"
    "                            [--accept-retired-audit-key N]\n";

const char keys_restore_help[] =
    "restore puts a backup (a file written by POST /v1/admin/backup, with its\n"
    "FILE.manifest.json beside it) in place as the store of a new data\n"
    "directory, with the server stopped. It checks the manifest's signature\n"
    "against the audit public keys of --keys that can still sign (audit.key's,\n"
    "and older ones not yet retired by retire-audit), the file's SHA-256 and\n"
    "size, that the copy's audit log ends where the manifest says, and that\n"
    "every master-key version the copy needs is listed in the manifest and in\n"
    "--keys; it never overwrites a store. The\n"
    "checks run on the copy made in --data, so what is installed is what was\n"
    "checked; a backup whose file or directory group or others can write is\n"
    "refused. At\n"
    "its next start the server records store.restore, then revokes every\n"
    "upload link and receipt and ends every session.\n"
    "\n"
    "  --backup FILE  the backup file (FILE.manifest.json must be beside it)\n"
    "  --data DIR     the data directory to restore into (made 0700 if missing;\n"
    "                 must not hold a store)\n"
    "  --keys DIR     the key directory (default: DIR/../keys)\n"
    "  --accept-retired-audit-key N\n"
    "                 also trust audit key version N although retire-audit\n"
    "                 retired it (for a backup made before; see docs/keys.md)\n";

struct rs_opts {
	const char *backup;
	const char *data;
	const char *keys;
	const char *retired; /* --accept-retired-audit-key N */
	int retired_version;
};

struct rs_manifest {
	char sha256[65];
	char audit_hash[65];
	uint64_t audit_seq;
	uint64_t bytes;
	uint32_t versions[RS_VERSIONS_MAX];
	size_t nversions;
	int64_t time_ms;   /* "time": when the manifest was written (not signed) */
	int64_t signed_ms; /* the time of the copy's last audit event (signed), once read */
};

/* How much later than the copy's last audit event its manifest may say it
 * was written: the copy of a large store takes a while, and events may
 * follow the store.backup event before the copy begins. */
#define RS_TIME_SLACK_MS (60LL * 60 * 1000)
/* How much earlier (clocks are not exact). */
#define RS_TIME_SKEW_MS (5LL * 60 * 1000)

static int rs_parse(int argc, char **argv, struct rs_opts *o)
{
	const struct keys_opt opts[] = {{"--backup", &o->backup},
	                                {"--data", &o->data},
	                                {"--keys", &o->keys},
	                                {"--accept-retired-audit-key", &o->retired},
	                                {NULL, NULL}};
	int64_t v;

	if (keys_opts_parse("restore", argc, argv, opts) != 0)
		return -1;
	if (o->backup == NULL || o->data == NULL) {
		warnx("restore needs --backup FILE and --data DIR");
		return -1;
	}
	if (o->retired != NULL) {
		if (util_parse_i64(o->retired, 1, RS_AUDIT_KEYS_MAX, &v) != 0) {
			warnx("--accept-retired-audit-key wants a version number (1 to %d)",
			      RS_AUDIT_KEYS_MAX);
			return -1;
		}
		o->retired_version = (int)v;
	}
	return 0;
}

static int is_hex64(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

/* Does the signature verify with an audit public key this restore
 * trusts? The vault's audit public keys are audit.pub (version 1) and
 * audit-2.pub, audit-3.pub, ... that `rsvault-keys rotate-audit` wrote
 * beside it. Trusted are only the versions that may still sign: the one
 * whose private half is audit.key (the server signs with it; without an
 * audit.key in the directory, the newest audit-N.pub) and each older one
 * whose private key audit-N.key is still there (rotated, not yet
 * retired). A version retired by `rsvault-keys retire-audit` (its
 * audit-N.key removed) is trusted only when named by
 * --accept-retired-audit-key N; a newer audit-N.pub left by a rotation cut
 * short never signed anything and is not trusted. Returns the version
 * that verified (>= 1), -1 (none trusted does; said why), -2 (the key
 * directory cannot be read; said why). */
static int verify_any(const char *keys, int accept_retired, const char *sha, uint64_t seq,
                      const char *hash, const char *sig)
{
	unsigned char(*pk)[32] = calloc(RS_AUDIT_KEYS_MAX, 32);
	unsigned char cur[32], sk[64];
	char path[RS_PATH_MAX];
	struct stat st;
	int npub = 0, cur_version = 0, retired_match = 0, have_cur, rc = -2;

	if (pk == NULL) {
		warnx("out of memory");
		return -2;
	}
	if (snprintf(path, sizeof path, "%s/audit.key", keys) >= (int)sizeof path) {
		warnx("--keys: path too long");
		goto out;
	}
	/* audit.key is optional here: a restore's key directory may hold only
	 * public keys and master keys (docs/operations.md) */
	have_cur = lstat(path, &st) == 0;
	if (have_cur && keyfile_read_audit_sk(path, sk) != 0) {
		warnx("cannot read the audit signing key: %s", keyfile_error());
		goto out;
	}
	if (have_cur)
		crypto_sign_ed25519_sk_to_pk(cur, sk);
	sodium_memzero(sk, sizeof sk);
	for (int v = 1; v <= RS_AUDIT_KEYS_MAX; v++) {
		int n = v == 1 ? snprintf(path, sizeof path, "%s/audit.pub", keys)
		               : snprintf(path, sizeof path, "%s/audit-%d.pub", keys, v);
		if (n < 0 || (size_t)n >= sizeof path)
			goto out;
		if (v > 1 && stat(path, &st) != 0)
			break; /* the keys end at the first one missing */
		if (keyfile_read_pub(path, pk[v - 1]) != 0) {
			warnx("cannot read the audit public key: %s", keyfile_error());
			goto out;
		}
		npub = v;
		if (have_cur && cur_version == 0 && sodium_memcmp(pk[v - 1], cur, 32) == 0)
			cur_version = v;
	}
	if (!have_cur)
		cur_version = npub; /* without audit.key: the newest public key */
	if (cur_version == 0) {
		warnx("%s/audit.key matches neither audit.pub nor any audit-N.pub", keys);
		goto out;
	}
	rc = -1;
	/* versions after audit.key's (a rotation cut short) never signed */
	for (int v = 1; v <= cur_version && v <= npub; v++) {
		int n = snprintf(path, sizeof path, "%s/audit-%d.key", keys, v), kept;
		if (n < 0 || (size_t)n >= sizeof path) {
			rc = -2;
			goto out;
		}
		if (backupmf_verify(sha, seq, hash, sig, pk[v - 1]) != 0)
			continue;
		kept = v == cur_version || lstat(path, &st) == 0;
		if (kept || v == accept_retired) {
			if (!kept)
				fprintf(
				    stderr,
				    "rsvault-keys: the manifest is signed by audit key version %d, "
				    "which is retired; accepted because --accept-retired-audit-key "
				    "%d says so\n",
				    v, v);
			rc = v;
			goto out;
		}
		retired_match = v;
	}
	if (retired_match > 0)
		warnx("the manifest is signed by audit key version %d, which is retired: its "
		      "private key audit-%d.key is not in %s (retire-audit removed it, or it was "
		      "not copied there), and a restore trusts only audit keys that can still "
		      "sign. If this backup was made before that key was retired and you trust "
		      "the file (it comes from your own backup store), give "
		      "--accept-retired-audit-key %d",
		      retired_match, retired_match, keys, retired_match);
	else
		warnx("the signature does not verify with this vault's audit keys (audit.key's "
		      "and those not retired): not a backup of this vault, or the manifest was "
		      "changed");
out:
	free(pk);
	return rc;
}

/* Parse the manifest at path: a regular file (opened O_NOFOLLOW |
 * O_NONBLOCK: in the backup's directory, whoever writes there could make
 * it a link to a root-only file, or a FIFO that never ends) of at most
 * RS_MANIFEST_MAX bytes. A parse error is reported without jansson's
 * "near '...'", which quotes the file's bytes: the message must not
 * show a piece of whatever file the name was made to point to. Returns
 * the JSON, or NULL (said why). */
static json_t *load_manifest(const char *path, json_error_t *jerr)
{
	char *buf = NULL, *near;
	struct stat st;
	size_t have = 0;
	ssize_t n;
	json_t *j = NULL;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		warn("%s", path);
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > RS_MANIFEST_MAX) {
		warnx("%s: not a manifest (not a regular file, or over %d bytes)", path,
		      RS_MANIFEST_MAX);
		goto out;
	}
	if ((buf = malloc(RS_MANIFEST_MAX + 1)) == NULL) {
		warnx("out of memory");
		goto out;
	}
	while (have <= RS_MANIFEST_MAX) {
		n = read(fd, buf + have, RS_MANIFEST_MAX + 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			warn("%s", path);
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have > RS_MANIFEST_MAX) {
		warnx("%s: not a manifest (over %d bytes)", path, RS_MANIFEST_MAX);
		goto out;
	}
	j = json_loadb(buf, have, JSON_REJECT_DUPLICATES, jerr);
	if (j == NULL) {
		if ((near = strstr(jerr->text, " near ")) != NULL)
			*near = '\0';
		warnx("%s: not a manifest: %s (line %d, column %d)", path, jerr->text, jerr->line,
		      jerr->column);
	}
out:
	free(buf);
	close(fd);
	return j;
}

/* Read and check the manifest's shape and signature. */
static int read_manifest(const char *path, const char *keys, int accept_retired,
                         struct rs_manifest *m)
{
	json_error_t jerr;
	json_t *j, *vers, *x;
	const char *sha, *hash, *sig;
	json_int_t seq, bytes;
	size_t i;
	int rc = -1;

	if ((j = load_manifest(path, &jerr)) == NULL)
		return -1;
	sha = jx_str(j, "sha256");
	hash = jx_str(j, "audit_hash");
	sig = jx_str(j, "signature");
	seq = jx_int(j, "audit_seq", -1);
	bytes = jx_int(j, "bytes", -1);
	vers = json_object_get(j, "master_versions");
	if (!is_hex64(sha) || !is_hex64(hash) || sig == NULL || seq < 1 || bytes < 1 ||
	    !json_is_array(vers) || json_array_size(vers) > RS_VERSIONS_MAX ||
	    util_parse_time(jx_str(j, "time"), &m->time_ms) != 0) {
		warnx("%s: a field is missing or malformed (sha256, audit_seq, audit_hash, bytes, "
		      "master_versions, time, signature)",
		      path);
		goto out;
	}
	if (verify_any(keys, accept_retired, sha, (uint64_t)seq, hash, sig) < 1) {
		warnx("%s: refused", path);
		rc = -1;
		goto out;
	}
	rc = -1; /* until every field is taken */
	memcpy(m->sha256, sha, 65);
	memcpy(m->audit_hash, hash, 65);
	m->audit_seq = (uint64_t)seq;
	m->bytes = (uint64_t)bytes;
	m->nversions = 0;
	json_array_foreach(vers, i, x)
	{
		if (!json_is_integer(x) || json_integer_value(x) < 1 ||
		    json_integer_value(x) > (json_int_t)UINT32_MAX) {
			warnx("%s: master_versions holds something other than a version", path);
			goto out;
		}
		m->versions[m->nversions++] = (uint32_t)json_integer_value(x);
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* SHA-256 (hex) and size of the file at path. */
static int hash_file(const char *path, char hex[65], uint64_t *bytes)
{
	crypto_hash_sha256_state st;
	unsigned char buf[65536], sum[crypto_hash_sha256_BYTES];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	*bytes = 0;
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
		*bytes += (uint64_t)n;
	}
	close(fd);
	crypto_hash_sha256_final(&st, sum);
	sodium_bin2hex(hex, 65, sum, sizeof sum);
	return 0;
}

struct head {
	uint64_t seq;
	unsigned char hash[32];
	struct wrapped_count wc[WRAPPED_VERSIONS_MAX];
	size_t nwc;
	uint64_t malformed;
	int64_t last_ms; /* the time of the event at seq */
};

/* The copy's audit head, and the master-key versions its wrapped values
 * (ticket keys, webhook secrets) are under: read from the bytes the
 * signed SHA-256 covers, not taken from the manifest's unsigned list. */
static int read_head(struct store_txn *t, void *arg)
{
	struct head *h = arg;
	int rc;

	json_t *arr;
	uint64_t next = 0;

	if ((rc = audit_read_head(t, &h->seq, h->hash)) != STORE_OK)
		return rc;
	if (h->seq < 1 || (arr = json_array()) == NULL)
		return STORE_ERROR;
	rc = audit_read_events(t, (int64_t)h->seq - 1, 1, 1, NULL, NULL, arr, &next, h->seq);
	if (rc == STORE_OK &&
	    (json_array_size(arr) != 1 ||
	     util_parse_time(jx_str(json_array_get(arr, 0), "time"), &h->last_ms) != 0))
		rc = STORE_ERROR;
	json_decref(arr);
	if (rc != STORE_OK)
		return rc;
	return wrapped_count(t, h->wc, WRAPPED_VERSIONS_MAX, &h->nwc, &h->malformed);
}

/* Is every master-key version the backup needs in the key directory
 * (master.key, master-N.key, plain or sealed: only the file names and
 * versions are looked at, nothing is unsealed)? */
static int check_versions(const char *keys, const uint32_t *versions, size_t nversions)
{
	struct mkset *set;
	char err[256];
	int rc = 0;

	if ((set = sodium_malloc(sizeof *set)) == NULL) {
		warnx("out of memory");
		return -1;
	}
	if (mkset_load(keys, set, err, sizeof err) != 0) {
		warnx("cannot read the master keys of %s: %s", keys, err);
		sodium_free(set);
		return -1;
	}
	for (size_t i = 0; i < nversions; i++) {
		size_t j;
		for (j = 0; j < set->n && set->e[j].version != versions[i]; j++)
			;
		if (j == set->n) {
			warnx("the backup needs master-key version %u, which %s does not hold: it "
			      "was retired, or the directory belongs to another vault",
			      (unsigned)versions[i], keys);
			rc = -1;
		}
	}
	sodium_free(set);
	return rc;
}

/* Copy src to a new file dst (O_EXCL, 0600), synced. src is opened
 * O_NOFOLLOW | O_NONBLOCK and checked on its descriptor (a regular file
 * that group and others cannot write): check_backup_dir looked at the
 * name, but whoever can write the backup's directory can put a link there
 * after it looked, and this tool, run as root, would copy whatever the
 * link names (a file only root may read) into the data directory. The
 * copy stays root's until it has passed its checks (the caller then gives
 * it away through *outfd, the descriptor of the copy, open on success). */
static int copy_file(const char *src, const char *dst, int *outfd)
{
	char buf[65536];
	struct stat st;
	ssize_t n;
	int in, out, rc = -1;

	*outfd = -1;
	if ((in = open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		warnx("%s was replaced after it was checked (now not a regular file, or writable "
		      "by group or others); nothing was read from it",
		      src);
		close(in);
		errno = EPERM;
		return -1;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -1;
	}
	for (;;) {
		n = read(in, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n == 0 ? 0 : -1;
			break;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				goto done;
			off += w;
		}
	}
	if (rc == 0 && fsync(out) != 0)
		rc = -1;
done:
	close(in);
	if (rc == 0)
		*outfd = out;
	else
		close(out);
	return rc;
}

struct note {
	char target[160];
};

static int note_op(struct store_txn *t, void *arg)
{
	struct note *n = arg;
	const void *v;
	size_t vl;

	if (store_get(t, DB_META, "bootstrapped", 12, &v, &vl) != STORE_OK)
		return STORE_ERROR;
	return tokens_note_add(t, "store.restore", n->target, util_now_ms());
}

/* Is the directory holding path (the backup file) writable by group or
 * others? Anyone who can write there can replace the backup. Returns 0 when
 * it is not, -1 (said why) otherwise. */
static int check_backup_dir(const char *path)
{
	char dir[RS_PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (slash == NULL)
		memcpy(dir, ".", 2);
	else if (slash == path)
		memcpy(dir, "/", 2);
	else if ((size_t)(slash - path) < sizeof dir) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	} else {
		warnx("--backup: path too long");
		return -1;
	}
	if (stat(dir, &st) != 0) {
		warn("%s", dir);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		warnx("%s (the directory of the backup) is writable by group or others (mode "
		      "%04o): anyone who can write there can replace the backup; refusing to "
		      "restore from it (chmod go-w, or copy the backup and its manifest to a "
		      "directory only root can write)",
		      dir, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if (lstat(path, &st) != 0) {
		warn("%s", path);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		warnx("%s: not a regular file, or writable by group or others (mode %04o); "
		      "refusing to restore from it",
		      path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Check the copy at tmp (in the data directory, which only this tool and
 * the server's account can write): its SHA-256 and size are the
 * manifest's, it is a store whose audit head is the manifest's, and the
 * master-key versions its wrapped values are under are all in the
 * manifest's master_versions and in keys. What is checked is what is
 * installed: the backup file is read once, by the copy. */
static int check_copy(const char *backup, const char *keys, const char *tmp, struct rs_manifest *m)
{
	struct head *hp = calloc(1, sizeof *hp);
	char sha[65], hhex[65];
	uint32_t need[WRAPPED_VERSIONS_MAX];
	size_t nneed = 0;
	uint64_t bytes;
	int rc = -1;

	if (hp == NULL) {
		warnx("out of memory");
		return -1;
	}
	if (hash_file(tmp, sha, &bytes) != 0) {
		warn("cannot read the copy %s", tmp);
		goto out;
	}
	if (bytes != m->bytes || sodium_memcmp(sha, m->sha256, 64) != 0) {
		warnx("%s does not match its manifest (%s): the file is damaged or not the one "
		      "the manifest describes",
		      backup, bytes != m->bytes ? "size" : "SHA-256");
		goto out;
	}
	if (store_inspect(tmp, read_head, hp) != STORE_OK) {
		warnx("%s is not an rsvault store", backup);
		goto out;
	}
	sodium_bin2hex(hhex, sizeof hhex, hp->hash, sizeof hp->hash);
	if (hp->seq != m->audit_seq || strcmp(hhex, m->audit_hash) != 0) {
		warnx("the audit log in %s ends at %llu, not where its manifest says (%llu)",
		      backup, (unsigned long long)hp->seq, (unsigned long long)m->audit_seq);
		goto out;
	}
	/* Nor is the manifest's time: the signed copy's last audit event says
	 * when the backup was made. A manifest moved to a newer backup's name
	 * with its time changed (to have an older state restored as the newest
	 * one) shows here. */
	if (m->time_ms < hp->last_ms - RS_TIME_SKEW_MS ||
	    m->time_ms > hp->last_ms + RS_TIME_SLACK_MS) {
		char got[UTIL_TIME_LEN], said[UTIL_TIME_LEN];
		if (util_format_time(hp->last_ms, got) != 0 ||
		    util_format_time(m->time_ms, said) != 0)
			snprintf(got, sizeof got, "?");
		warnx("%s: its audit log ends at an event of %s, but its manifest says it was "
		      "made at %s: the manifest was changed (its time is not covered by its "
		      "signature; the file is)",
		      backup, got, said);
		goto out;
	}
	m->signed_ms = hp->last_ms;
	/* master_versions is not covered by the signature (SPEC 8.5 fixes the
	 * signed bytes): the versions the copy needs are read from the copy,
	 * whose bytes the signed SHA-256 covers, and a manifest that leaves
	 * one of them out was changed */
	for (size_t i = 0; i < hp->nwc && i < WRAPPED_VERSIONS_MAX; i++) {
		size_t k;
		if (hp->wc[i].all == 0)
			continue;
		for (k = 0; k < m->nversions && m->versions[k] != hp->wc[i].version; k++)
			;
		if (k == m->nversions) {
			warnx(
			    "%s holds %llu value(s) wrapped under master-key version %u, which its "
			    "manifest's master_versions does not list: the manifest was changed "
			    "(master_versions is not covered by its signature; the file is)",
			    backup, (unsigned long long)hp->wc[i].all, (unsigned)hp->wc[i].version);
			goto out;
		}
		need[nneed++] = hp->wc[i].version;
	}
	rc = check_versions(keys, need, nneed);
out:
	free(hp);
	return rc;
}

static int place(const struct rs_opts *o, struct rs_manifest *m)
{
	char dst[RS_PATH_MAX], tmp[RS_PATH_MAX], lock[RS_PATH_MAX];
	struct note n;
	struct store *s = NULL;
	struct stat st;
	struct keys_owner owner;
	int created = 0, rc, cfd = -1;

	if (snprintf(dst, sizeof dst, "%s/data.mdb", o->data) >= (int)sizeof dst ||
	    snprintf(tmp, sizeof tmp, "%s/.data.mdb.restore", o->data) >= (int)sizeof tmp ||
	    snprintf(lock, sizeof lock, "%s/lock.mdb", o->data) >= (int)sizeof lock) {
		warnx("--data: path too long");
		return -1;
	}
	if (mkdir(o->data, 0700) != 0 && errno != EEXIST) {
		warn("cannot create %s", o->data);
		return -1;
	}
	/* Run as root, the files belong to the owner of the data directory
	 * (the account the server runs as), who can also put symlinks there:
	 * the copy is given to it by descriptor, and the store is opened (its
	 * lock.mdb created) with that account's rights only. */
	if (keys_data_dir(o->data, &owner) != 0)
		return -1;
	if (lstat(dst, &st) == 0 || errno != ENOENT) {
		warnx("%s holds a store already (data.mdb): a restore never overwrites one; move "
		      "the directory aside and restore into a new one",
		      o->data);
		return -1;
	}
	/* a copy left by an interrupted restore: ours (the name is ours, and
	 * the copy is made O_EXCL below, so a link put there is never followed) */
	if (lstat(tmp, &st) == 0 && S_ISREG(st.st_mode))
		unlink(tmp);
	if (copy_file(o->backup, tmp, &cfd) != 0) {
		warn("cannot copy %s to %s", o->backup, tmp);
		if (errno != EEXIST)
			unlink(tmp);
		return -1;
	}
	/* run as root, the copy is given to the data directory's owner only
	 * once it has passed its checks, through its own descriptor */
	if (check_copy(o->backup, o->keys, tmp, m) != 0 ||
	    (geteuid() == 0 && fchown(cfd, (uid_t)owner.uid, (gid_t)owner.gid) != 0)) {
		close(cfd);
		unlink(tmp);
		return -1;
	}
	if (close(cfd) != 0) {
		warn("%s", tmp);
		unlink(tmp);
		return -1;
	}
	/* a lock file left by an earlier store there describes another map */
	if (unlink(lock) != 0 && errno != ENOENT) {
		warn("cannot remove the stale %s", lock);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, dst) != 0) {
		warn("cannot rename %s to %s", tmp, dst);
		unlink(tmp);
		return -1;
	}
	snprintf(n.target, sizeof n.target, "%llu:%s", (unsigned long long)m->audit_seq,
	         m->audit_hash);
	if (keys_as_owner(&owner) != 0)
		goto undo;
	if (store_open(o->data, (size_t)RS_MAP_MB * 1024 * 1024, RS_QUEUE_TIMEOUT_MS, &s,
	               &created) != STORE_OK ||
	    created) {
		warnx("the copy in %s does not open as a store", dst);
		if (s != NULL)
			store_close(s);
		keys_as_root(&owner);
		goto undo;
	}
	rc = store_write(s, note_op, &n);
	store_close(s);
	if (keys_as_root(&owner) != 0)
		goto undo;
	if (rc != STORE_OK) {
		warnx("cannot mark the restored store for its first start; nothing restored");
		goto undo;
	}
	if (util_sync_dir(o->data) != 0)
		warn("cannot sync %s", o->data);
	return 0;
undo:
	unlink(dst);
	unlink(lock);
	return -1;
}

int keys_restore(int argc, char **argv)
{
	struct rs_opts o = {0};
	struct rs_manifest m;
	char keys[RS_PATH_MAX], mpath[RS_PATH_MAX];
	sigset_t block, old;
	int rc;

	if (rs_parse(argc, argv, &o) != 0)
		return 2;
	log_set_name("rsvault-keys");
	if (o.keys == NULL) {
		if (keys_default_dir(o.data, keys, sizeof keys) != 0) {
			warnx("--data: path too long");
			return 1;
		}
		o.keys = keys;
	}
	if (snprintf(mpath, sizeof mpath, "%s.manifest.json", o.backup) >= (int)sizeof mpath) {
		warnx("path too long");
		return 1;
	}
	memset(&m, 0, sizeof m);
	if (read_manifest(mpath, o.keys, o.retired_version, &m) != 0)
		return 1;
	if (check_backup_dir(o.backup) != 0)
		return 1;
	if (check_versions(o.keys, m.versions, m.nversions) != 0)
		return 1;
	/* no stop signal between the copy, its checks and the note */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigprocmask(SIG_BLOCK, &block, &old);
	rc = place(&o, &m);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return 1;
	{
		char when[UTIL_TIME_LEN];
		if (util_format_time(m.signed_ms, when) != 0)
			snprintf(when, sizeof when, "?");
		printf("restored %s into %s; audit log up to %llu:%s, its last event at %s (the "
		       "state the store had then)\n",
		       o.backup, o.data, (unsigned long long)m.audit_seq, m.audit_hash, when);
	}
	fprintf(stderr,
	        "rsvault-keys: at its next start the server records store.restore, revokes "
	        "every link and receipt and ends every session. Pins taken after seq %llu no "
	        "longer match.\n",
	        (unsigned long long)m.audit_seq);
	return fflush(stdout) == 0 ? 0 : 1;
}

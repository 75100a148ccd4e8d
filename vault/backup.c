/* backup.c - POST /v1/admin/backup and what a restored store does at its
 * first start (SPEC 8.5).
 *
 * A backup is decided in the writer like every request (admin only, a
 * --backup-dir configured); its store.backup event, naming the file, is
 * committed first. The copy itself runs after that commit, on the
 * connection's thread (the request's post step), never in the writer: the
 * writer keeps committing while LMDB copies one read snapshot, compacted.
 * The snapshot therefore holds the backup's own store.backup event. The
 * manifest is then read from the copy itself (store_inspect): the audit
 * head it holds and the master-key versions its wrapped ticket keys need,
 * so it describes exactly what the file contains. Its signature, by the
 * audit key, covers "rsvault-backup-v1\n{sha256}\n{audit_seq}\n
 * {audit_hash}\n" (common/backupmf.h).
 *
 * Files: {dir}/rsvault-{YYYYmmddTHHMMSSZ}-{8 hex}.mdb and beside it
 * {file}.manifest.json, both 0600, written under a temporary name and
 * renamed into place (the manifest last), so a file with a manifest is
 * complete. One backup runs at a time; a second waits for the first. */
#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "api.h"
#include "audit.h"
#include "audit_read.h"
#include "backupmf.h"
#include "crypto.h"
#include "log.h"
#include "records.h"
#include "sessions.h"
#include "util.h"
#include "vault.h"
#include "wrapped.h"

#define BACKUP_NAME_MAX 64
#define BACKUP_PATH_MAX (sizeof(((struct vault *)0)->backup_dir) + BACKUP_NAME_MAX + 32)
#define BACKUP_VERSIONS_MAX 64

static pthread_mutex_t backup_mu = PTHREAD_MUTEX_INITIALIZER;

/* What the copy holds: read inside it by store_inspect. */
struct copy_facts {
	uint64_t seq;
	unsigned char hash[32];
	uint32_t versions[BACKUP_VERSIONS_MAX];
	size_t nversions;
};

static void add_version(struct copy_facts *f, uint32_t v)
{
	for (size_t i = 0; i < f->nversions; i++)
		if (f->versions[i] == v)
			return;
	if (f->nversions < BACKUP_VERSIONS_MAX)
		f->versions[f->nversions++] = v;
}

static int read_facts(struct store_txn *t, void *arg)
{
	struct copy_facts *f = arg;
	struct wrapped_count wc[BACKUP_VERSIONS_MAX];
	uint64_t malformed = 0;
	size_t n = 0;
	int rc;

	if ((rc = audit_read_head(t, &f->seq, f->hash)) != STORE_OK)
		return rc;
	/* the master-key versions its wrapped values (ticket keys, webhook
	 * secrets) are under, and the current one, whose file carries the
	 * token, link and receipt hash keys */
	if ((rc = wrapped_count(t, wc, BACKUP_VERSIONS_MAX, &n, &malformed)) != STORE_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		add_version(f, wc[i].version);
	add_version(f, crypto_mk_current());
	return STORE_OK;
}

/* SHA-256 of the file open at fd (from its start) and its size. */
static int hash_file(int fd, unsigned char out[crypto_hash_sha256_BYTES], uint64_t *bytes)
{
	crypto_hash_sha256_state st;
	unsigned char buf[65536];
	ssize_t n;

	*bytes = 0;
	if (lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
		*bytes += (uint64_t)n;
	}
	crypto_hash_sha256_final(&st, out);
	return 0;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The manifest (SPEC 8.5) of the copy in path with these facts. */
static json_t *manifest(const char *path, const struct copy_facts *f, const char *sha_hex,
                        uint64_t bytes)
{
	char when[UTIL_TIME_LEN], hash_hex[65], msg[BACKUPMF_MSG_MAX],
	    sig_hex[2 * crypto_sign_BYTES + 1];
	unsigned char sig[crypto_sign_BYTES];
	json_t *m, *vers;

	sodium_bin2hex(hash_hex, sizeof hash_hex, f->hash, sizeof f->hash);
	if (util_format_time(util_now_ms(), when) != 0 ||
	    backupmf_message(sha_hex, f->seq, hash_hex, msg, sizeof msg) < 0 ||
	    crypto_sign_detached(sig, NULL, (const unsigned char *)msg, strlen(msg),
	                         crypto_audit_sk()) != 0)
		return NULL;
	sodium_bin2hex(sig_hex, sizeof sig_hex, sig, sizeof sig);
	if ((vers = json_array()) == NULL)
		return NULL;
	for (size_t i = 0; i < f->nversions; i++)
		json_array_append_new(vers, json_integer((json_int_t)f->versions[i]));
	m = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:o, s:s}", "file", path, "time", when,
	              "audit_seq", (json_int_t)f->seq, "audit_hash", hash_hex, "sha256", sha_hex,
	              "bytes", (json_int_t)bytes, "master_versions", vers, "signature", sig_hex);
	return m;
}

/* Write the manifest text to final (through tmp, 0600, synced). */
static int put_manifest(const char *tmp, const char *final, const json_t *m)
{
	char *s = jx_text(m);
	int fd, rc = -1;

	if (s == NULL)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write_all(fd, s, strlen(s)) == 0 && write_all(fd, "\n", 1) == 0 &&
		    fsync(fd) == 0)
			rc = 0;
		if (close(fd) != 0)
			rc = -1;
		if (rc == 0 && rename(tmp, final) != 0)
			rc = -1;
		if (rc != 0)
			unlink(tmp);
	}
	free(s);
	return rc;
}

/* The copy, after the request's event committed: on this connection's
 * thread, one backup at a time. */
static int backup_post(struct req *r)
{
	const char *dir = r->v->backup_dir, *name = r->a_target;
	char path[BACKUP_PATH_MAX], tmp[BACKUP_PATH_MAX], mpath[BACKUP_PATH_MAX],
	    mtmp[BACKUP_PATH_MAX], sha_hex[2 * crypto_hash_sha256_BYTES + 1];
	unsigned char sha[crypto_hash_sha256_BYTES];
	struct copy_facts facts;
	uint64_t bytes = 0;
	json_t *m = NULL;
	int fd = -1, made = 0, placed = 0, ok = 0;

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
	    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= (int)sizeof tmp ||
	    snprintf(mpath, sizeof mpath, "%s.manifest.json", path) >= (int)sizeof mpath ||
	    snprintf(mtmp, sizeof mtmp, "%s/.%s.manifest.tmp", dir, name) >= (int)sizeof mtmp)
		return req_fail(r, 503, "unavailable", "the backup path is too long");
	memset(&facts, 0, sizeof facts);
	pthread_mutex_lock(&backup_mu);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_msg("backup: cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	made = 1;
	if (store_backup(r->v->store, fd) != STORE_OK)
		goto out;
	if (hash_file(fd, sha, &bytes) != 0) {
		log_msg("backup: cannot read back %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (store_inspect(tmp, read_facts, &facts) != STORE_OK) {
		log_msg("backup: the copy %s does not read as a store", tmp);
		goto out;
	}
	sodium_bin2hex(sha_hex, sizeof sha_hex, sha, sizeof sha);
	if ((m = manifest(path, &facts, sha_hex, bytes)) == NULL) {
		log_msg("backup: cannot make the manifest");
		goto out;
	}
	if (rename(tmp, path) != 0) {
		log_msg("backup: cannot rename %s: %s", tmp, strerror(errno));
		goto out;
	}
	made = 0;
	placed = 1;
	if (put_manifest(mtmp, mpath, m) != 0) {
		log_msg("backup: cannot write %s: %s", mpath, strerror(errno));
		goto out;
	}
	if (util_sync_dir(dir) != 0)
		log_msg("backup: cannot sync %s: %s", dir, strerror(errno));
	ok = 1;
	log_msg("backup: %s, %llu bytes, audit seq %llu", path, (unsigned long long)bytes,
	        (unsigned long long)facts.seq);
out:
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(tmp);
	if (!ok && placed)
		unlink(path); /* no file without its manifest */
	pthread_mutex_unlock(&backup_mu);
	if (!ok) {
		json_decref(m);
		return req_fail(r, 503, "unavailable",
		                "the backup could not be written (see the server log); no file "
		                "was left");
	}
	return req_ok(r, 201, m);
}

int api_admin_backup(struct req *r, struct store_txn *t)
{
	char when[UTIL_TIME_LEN], stamp[32], rnd_hex[9];
	unsigned char rnd[4];
	size_t j = 0;

	(void)t;
	if (r->v->backup_dir[0] == '\0')
		return req_fail(r, 409, "conflict",
		                "no backup directory: start the server with --backup-dir DIR");
	if (util_format_time(r->now, when) != 0)
		return STORE_ERROR;
	/* 2026-11-22T10:00:00.123Z -> 20261122T100000Z */
	for (size_t i = 0; when[i] != '\0' && when[i] != '.' && j < sizeof stamp - 2; i++)
		if (when[i] != '-' && when[i] != ':')
			stamp[j++] = when[i];
	stamp[j++] = 'Z';
	stamp[j] = '\0';
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(rnd_hex, sizeof rnd_hex, rnd, sizeof rnd);
	snprintf(r->a_target, sizeof r->a_target, "rsvault-%s-%s.mdb", stamp, rnd_hex);
	r->post = backup_post;
	return req_ok(r, 201, NULL);
}

/* ---- restore ------------------------------------------------------------ */

/* Keys of table db (up to max bytes each), in order, into a malloc'd
 * array of NUL-terminated strings. */
static int all_keys(struct store_txn *t, enum store_db db, char ***out, size_t *n)
{
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl, cap = 0;
	char **keys = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = store_cursor_open(t, db, &c)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	rc = store_cursor_seek(c, NULL, 0, &k, &kl, &v, &vl);
	while (rc == STORE_OK) {
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nk = realloc(keys, nc * sizeof *nk);
			if (nk == NULL) {
				rc = STORE_ERROR;
				break;
			}
			keys = nk;
			cap = nc;
		}
		if ((keys[*n] = malloc(kl + 1)) == NULL) {
			rc = STORE_ERROR;
			break;
		}
		memcpy(keys[*n], k, kl);
		keys[(*n)++][kl] = '\0';
		rc = store_cursor_next(c, &k, &kl, &v, &vl);
	}
	store_cursor_close(c);
	*out = keys;
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static void free_keys(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* Mark every record of db (links or receipts) revoked at now. */
static int revoke_all(struct store_txn *t, enum store_db db, int64_t now, size_t *count)
{
	char **keys;
	size_t n;
	int rc;

	*count = 0;
	if ((rc = all_keys(t, db, &keys, &n)) != STORE_OK)
		return rc;
	for (size_t i = 0; i < n && rc == STORE_OK; i++) {
		json_t *rec;
		if ((rc = rec_get(t, db, keys[i], &rec)) != STORE_OK)
			break;
		if (json_object_get(rec, "revoked_at") == NULL) {
			if (json_object_set_new(rec, "revoked_at", json_integer(now)) != 0)
				rc = STORE_ERROR;
			else if ((rc = rec_put(t, db, keys[i], rec, 0)) == STORE_OK)
				(*count)++;
		}
		json_decref(rec);
	}
	free_keys(keys, n);
	return rc;
}

int backup_restored(struct store_txn *t, const char *target)
{
	int64_t now = util_now_ms();
	size_t links = 0, receipts = 0, n = 0;
	char **tids;
	int rc;

	/* first the event that says where the chain was restored from */
	if ((rc = audit_system_target(t, "store.restore", target)) != STORE_OK)
		return rc;
	if ((rc = revoke_all(t, DB_LINKS, now, &links)) != STORE_OK ||
	    (rc = revoke_all(t, DB_RECEIPTS, now, &receipts)) != STORE_OK)
		return rc;
	/* every ticket with a session that may still be running */
	if ((rc = all_keys(t, DB_TICKET_ACTIVE, &tids, &n)) != STORE_OK)
		return rc;
	for (size_t i = 0; i < n && rc == STORE_OK; i++)
		rc = sessions_end_ticket(t, tids[i], now, NULL, END_STORE_RESTORED);
	free_keys(tids, n);
	if (rc == STORE_OK)
		log_msg("restored store: the chain goes on from %s; %zu link(s) and %zu "
		        "receipt(s) revoked, sessions of %zu ticket(s) ended",
		        target, links, receipts, n);
	return rc;
}

/* admin_token.c - `rsvault-keys admin-token --data DIR [--keys DIR]
 * [--account ID]`: make a new admin token offline.
 *
 * Token hashes are keyed with a key derived from the master key, and the
 * token records live in the vault's LMDB store, so this verb links the
 * server's own store, crypto and token code (vault/store.c, crypto.c,
 * records.c, tokens.c) instead of a second copy of their formats.
 *
 * In one store transaction it revokes the token that DIR/admin.token holds
 * (if it is one of that account's), issues a new token that expires 24 h
 * later, and leaves a note from which the server records the events
 * store.admin_token (target "ID#{new token id}") and account.revoke
 * (target "ID#{old token id}") at its next start: the audit chain belongs
 * to the server, which signs it. The token goes first to a fresh file
 * (O_EXCL, 0600) in DIR, which replaces DIR/admin.token by rename() once
 * the transaction has committed; a failed commit removes it again.
 *
 * The server must be stopped. LMDB keeps a shared fcntl() lock on the
 * first byte of DIR/lock.mdb for as long as a process has the environment
 * open, so a conflicting lock there means a server (or another tool) has
 * the store open, and the verb refuses. The probe's descriptor stays open
 * until the environment is closed: closing any descriptor of a file drops
 * every fcntl() lock this process holds on it, LMDB's own included. */
#include "admin_token.h"
#include "master.h"

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto.h"
#include "keyfile.h"
#include "log.h"
#include "records.h"
#include "store.h"
#include "tokens.h"
#include "util.h"

#define AT_PATH_MAX 4096
#define AT_MAP_MB 4096
#define AT_QUEUE_TIMEOUT_MS 30000

const char keys_admin_token_usage[] =
    "       rsvault-keys admin-token --data DIR [--keys DIR] [--account ID]\n";

const char keys_admin_token_help[] =
    "admin-token makes a new admin token while the server is stopped and writes\n"
    "it to DIR/admin.token (mode 0600), replacing that file; it prints the path,\n"
    "never the token. The token in the replaced file is revoked. The new token\n"
    "expires 24 h after it is made, like the first one: use it to make the\n"
    "accounts and tokens you need. The server records the events\n"
    "store.admin_token and account.revoke at its next start. It needs the\n"
    "master key (--keys, default: the directory keys beside DIR) and refuses\n"
    "while a server has the store open.\n"
    "\n"
    "  --data DIR     the server's data directory (required)\n"
    "  --keys DIR     the server's key directory (default: DIR/../keys)\n"
    "  --account ID   an admin account other than admin\n";

struct at_opts {
	const char *data;
	const char *keys;
	const char *account;
};

/* The state of one run, shared with the store operation. */
struct at_run {
	const struct at_opts *o;
	char token_path[AT_PATH_MAX];
	char tmp_path[AT_PATH_MAX];
	char old[CRYPTO_TOKEN_STR_MAX + 2]; /* token in the file being replaced */
	size_t old_len;
	int tmp_made;
	char new_id[CRYPTO_TOKEN_ID_LEN];
	char old_id[CRYPTO_TOKEN_ID_LEN];
	int old_revoked;
	const char *error;       /* a refusal found inside the transaction */
	struct keys_owner owner; /* of the data directory */
};

int keys_opts_parse(const char *verb, int argc, char **argv, const struct keys_opt *opts)
{
	for (int i = 2; i < argc; i++) {
		const char **slot = NULL;
		for (const struct keys_opt *p = opts; p->name != NULL && slot == NULL; p++)
			if (strcmp(argv[i], p->name) == 0)
				slot = p->slot;
		if (slot == NULL || i + 1 >= argc || argv[i + 1][0] == '\0' || *slot != NULL) {
			warnx("%s: %s %.64s", verb,
			      slot == NULL    ? "unknown argument"
			      : *slot != NULL ? "given twice:"
			                      : "needs a value:",
			      argv[i]);
			return -1;
		}
		*slot = argv[++i];
	}
	return 0;
}

static int at_parse(int argc, char **argv, struct at_opts *o)
{
	const struct keys_opt opts[] = {
	    {"--data", &o->data}, {"--keys", &o->keys}, {"--account", &o->account}, {NULL, NULL}};

	if (keys_opts_parse("admin-token", argc, argv, opts) != 0)
		return -1;
	if (o->data == NULL) {
		warnx("admin-token needs --data DIR");
		return -1;
	}
	if (o->account == NULL)
		o->account = "admin";
	if (!util_valid_account_id(o->account)) {
		warnx("--account: not an account id");
		return -1;
	}
	return 0;
}

int keys_default_dir(const char *data, char *out, size_t n)
{
	char d[AT_PATH_MAX];
	size_t len;

	if (snprintf(d, sizeof d, "%s", data) >= (int)sizeof d)
		return -1;
	len = strlen(d);
	while (len > 1 && d[len - 1] == '/')
		d[--len] = '\0';
	return snprintf(out, n, "%s/../keys", d) >= (int)n ? -1 : 0;
}

/* Does another process hold a lock on the first byte of the lock file
 * open at fd? 1 yes (its pid in *pid), 0 no, -1 error. This process's own
 * locks never conflict with the probe. */
int keys_lock_probe(int fd, long *pid)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 1;
	if (fcntl(fd, F_GETLK, &fl) != 0)
		return -1;
	*pid = (long)fl.l_pid;
	return fl.l_type != F_UNLCK;
}

/* Open DIR/lock.mdb into *fd (-1 if it does not exist: no process has the
 * store open) and probe it. Returns as lock_probe. */
int keys_store_in_use(const char *data, int *fd, long *pid)
{
	char p[AT_PATH_MAX];

	*fd = -1;
	if (snprintf(p, sizeof p, "%s/lock.mdb", data) >= (int)sizeof p)
		return -1;
	if ((*fd = open(p, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? 0 : -1;
	return keys_lock_probe(*fd, pid);
}

int keys_data_dir(const char *dir, struct keys_owner *owner)
{
	struct stat st;

	memset(owner, 0, sizeof *owner);
	if (lstat(dir, &st) != 0) {
		warn("%s", dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		warnx("%s is not a directory%s: give the data directory itself", dir,
		      S_ISLNK(st.st_mode) ? " but a symbolic link" : "");
		return -1;
	}
	owner->uid = (unsigned)st.st_uid;
	owner->gid = (unsigned)st.st_gid;
	return 0;
}

int keys_as_owner(struct keys_owner *owner)
{
	gid_t g[64];
	int n;

	if (geteuid() != 0 || owner->uid == 0)
		return 0;
	if ((n = getgroups(64, g)) < 0) {
		warn("cannot read the supplementary groups");
		return -1;
	}
	for (int i = 0; i < n; i++)
		owner->groups[i] = (unsigned)g[i];
	owner->ngroups = n;
	if (setgroups(0, NULL) != 0 || setegid((gid_t)owner->gid) != 0 ||
	    seteuid((uid_t)owner->uid) != 0) {
		warn("cannot act as uid %u, the owner of the data directory", owner->uid);
		owner->switched = 1;
		keys_as_root(owner);
		return -1;
	}
	owner->switched = 1;
	return 0;
}

int keys_as_root(struct keys_owner *owner)
{
	gid_t g[64];

	if (!owner->switched)
		return 0;
	for (int i = 0; i < owner->ngroups; i++)
		g[i] = (gid_t)owner->groups[i];
	if (seteuid(0) != 0 || setegid(getgid()) != 0 ||
	    setgroups((size_t)owner->ngroups, g) != 0) {
		warn("cannot switch back to root");
		return -1;
	}
	owner->switched = 0;
	return 0;
}

/* Read the token in DIR/admin.token, if any, into run->old. */
static int read_old(struct at_run *run)
{
	int fd = open(run->token_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	run->old_len = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	n = read(fd, run->old, sizeof run->old - 1);
	close(fd);
	if (n < 0)
		return -1;
	while (n > 0 &&
	       (run->old[n - 1] == '\n' || run->old[n - 1] == '\r' || run->old[n - 1] == ' '))
		n--;
	run->old[n] = '\0';
	run->old_len = (size_t)n;
	return 0;
}

static int write_tmp(struct at_run *run, const char *tok)
{
	unsigned char rnd[8];
	char hex[17], line[CRYPTO_TOKEN_STR_MAX + 2];
	int rc;

	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	if (snprintf(run->tmp_path, sizeof run->tmp_path, "%s/.admin.token.%s", run->o->data,
	             hex) >= (int)sizeof run->tmp_path)
		return -1;
	snprintf(line, sizeof line, "%s\n", tok);
	/* The file belongs to the owner of the data directory, the account
	 * the server runs as (it refuses files of another user there). It is
	 * created by that account (keys_as_owner) or, run as root for a
	 * directory of root's, given by descriptor: never chown by a path in
	 * a directory another account can write. */
	rc = keyfile_write_new_owned(run->tmp_path, line, strlen(line), 0600, run->owner.uid,
	                             run->owner.gid);
	sodium_memzero(line, sizeof line);
	if (rc == 0)
		run->tmp_made = 1;
	return rc;
}

/* The store operation: checks, revocation, new token, notes, temp file. */
static int at_op(struct store_txn *t, void *arg)
{
	struct at_run *run = arg;
	const char *account = run->o->account;
	char tok[CRYPTO_TOKEN_STR_MAX], target[128];
	struct token_rec old;
	const void *v;
	size_t vl;
	json_t *a;
	int64_t now = util_now_ms();
	int rc;

	if (store_get(t, DB_META, "bootstrapped", 12, &v, &vl) != STORE_OK) {
		run->error = "the store has no admin account yet (start the server once first)";
		return STORE_ABORT;
	}
	if ((rc = rec_get(t, DB_ACCOUNTS, account, &a)) != STORE_OK) {
		if (rc == STORE_NOTFOUND)
			run->error = "no such account in the store";
		return rc == STORE_NOTFOUND ? STORE_ABORT : rc;
	}
	if (!streq(jx_str(a, "role"), "admin") || json_is_true(json_object_get(a, "suspended")))
		run->error = "the account is not an active admin account";
	json_decref(a);
	if (run->error != NULL)
		return STORE_ABORT;
	if (run->old_len > 0) {
		rc = tokens_lookup(t, run->old, run->old_len, &old);
		if (rc == STORE_OK && strcmp(old.account, account) == 0) {
			if ((rc = tokens_revoke_id(t, account, old.id)) != STORE_OK)
				return rc;
			memcpy(run->old_id, old.id, sizeof run->old_id);
			run->old_revoked = 1;
		} else if (rc != STORE_OK && rc != STORE_NOTFOUND) {
			return rc;
		}
	}
	rc = tokens_issue(t, account, now, now + tokens_admin_ttl_ms(), tok, run->new_id);
	if (rc == STORE_OK) {
		snprintf(target, sizeof target, "%s#%s", account, run->new_id);
		rc = tokens_note_add(t, "store.admin_token", target, now);
	}
	if (rc == STORE_OK && run->old_revoked) {
		snprintf(target, sizeof target, "%s#%s", account, run->old_id);
		rc = tokens_note_add(t, "account.revoke", target, now);
	}
	if (rc == STORE_OK && write_tmp(run, tok) != 0) {
		warn("cannot write a new token file in %s", run->o->data);
		rc = STORE_ABORT;
	}
	sodium_memzero(tok, sizeof tok);
	return rc;
}

static int at_run_store(struct at_run *run, const char *keys)
{
	struct store *s = NULL;
	int created = 0, rc, lockfd = -1, status = 1;
	long pid = 0;

	if ((rc = keys_store_in_use(run->o->data, &lockfd, &pid)) != 0) {
		if (rc > 0)
			warnx("the store in %s is open in process %ld (a running rsvaultd?): stop "
			      "the server first",
			      run->o->data, pid);
		else
			warn("cannot check whether the store in %s is in use", run->o->data);
		goto out;
	}
	if (crypto_init(keys) != 0) {
		warnx("cannot load the keys in %s (the server's --keys directory)", keys);
		goto out;
	}
	if (crypto_sealed() && keys_unseal_crypto() != 0)
		goto out_keys;
	/* from here to store_close: the data directory's account (the store
	 * library opens and creates lock.mdb and data.mdb by path) */
	if (keys_as_owner(&run->owner) != 0)
		goto out_keys;
	if (store_open(run->o->data, (size_t)AT_MAP_MB * 1024 * 1024, AT_QUEUE_TIMEOUT_MS, &s,
	               &created) != STORE_OK) {
		warnx("cannot open the store in %s", run->o->data);
		goto out_root;
	}
	/* a server that started since the first probe (the lock file exists
	 * now: this process has the environment open) */
	if (lockfd < 0)
		rc = keys_store_in_use(run->o->data, &lockfd, &pid);
	else
		rc = keys_lock_probe(lockfd, &pid);
	if (rc != 0) {
		if (rc > 0)
			warnx("a server started on %s meanwhile (process %ld); nothing changed",
			      run->o->data, pid);
		else
			warn("cannot check whether the store in %s is in use", run->o->data);
		goto out_store;
	}
	rc = store_write(s, at_op, run);
	if (rc != STORE_OK) {
		if (run->tmp_made)
			unlink(run->tmp_path);
		run->tmp_made = 0;
		if (run->error != NULL)
			warnx("%s: %s; nothing changed", run->o->account, run->error);
		else if (rc != STORE_ABORT)
			warnx("the store transaction failed; nothing changed");
		goto out_store;
	}
	if (rename(run->tmp_path, run->token_path) != 0) {
		warn("the new token is in %s but could not replace %s", run->tmp_path,
		     run->token_path);
		goto out_store;
	}
	run->tmp_made = 0;
	if (util_sync_dir(run->o->data) != 0)
		warn("cannot sync %s", run->o->data);
	status = 0;
out_store:
	store_close(s);
out_root:
	if (keys_as_root(&run->owner) != 0)
		status = 1;
out_keys:
	crypto_shutdown();
out:
	if (lockfd >= 0)
		close(lockfd); /* after the environment is closed (see the top) */
	return status;
}

int keys_admin_token(int argc, char **argv)
{
	struct at_opts o = {0};
	struct at_run *run;
	char keys[AT_PATH_MAX], p[AT_PATH_MAX];
	struct stat st;
	sigset_t block, old;
	int status = 1;

	if (at_parse(argc, argv, &o) != 0)
		return 2;
	log_set_name("rsvault-keys");
	if (o.keys == NULL) {
		if (keys_default_dir(o.data, keys, sizeof keys) != 0) {
			warnx("--data: path too long");
			return 1;
		}
		o.keys = keys;
	}
	if (snprintf(p, sizeof p, "%s/data.mdb", o.data) >= (int)sizeof p || stat(p, &st) != 0 ||
	    !S_ISREG(st.st_mode)) {
		warnx("%s holds no rsvault store (no data.mdb)", o.data);
		return 1;
	}
	if ((run = sodium_malloc(sizeof *run)) == NULL) {
		warnx("out of memory");
		return 1;
	}
	memset(run, 0, sizeof *run);
	run->o = &o;
	if (snprintf(run->token_path, sizeof run->token_path, "%s/admin.token", o.data) >=
	    (int)sizeof run->token_path) {
		warnx("--data: path too long");
		goto out;
	}
	if (keys_data_dir(o.data, &run->owner) != 0)
		goto out;
	if (read_old(run) != 0) {
		warn("cannot read %s", run->token_path);
		goto out;
	}
	/* no stop signal between the commit and the rename */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigprocmask(SIG_BLOCK, &block, &old);
	status = at_run_store(run, o.keys);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (status == 0) {
		printf("%s\n", run->token_path);
		if (fflush(stdout) != 0)
			status = 1;
		fprintf(stderr,
		        "rsvault-keys: new token %s for %s, valid for 24 h%s; the server records "
		        "it at its next start\n",
		        run->new_id, o.account,
		        run->old_revoked ? "; the token the file held is revoked" : "");
	}
out:
	sodium_free(run); /* wipes the old token */
	return status;
}

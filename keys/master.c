/* master.c - master-key versions and sealing (SPEC 8.4):
 *
 *   rsvault-keys rotate-master --dir DIR
 *   rsvault-keys retire-master --dir DIR --version N --data DATADIR
 *   rsvault-keys seal --dir DIR [--passphrase]
 *   rsvault-keys seal --dir DIR --shares N --threshold K --out DIR2
 *   rsvault-keys seal --dir DIR --finish
 *
 * Files and formats: common/mkset.h, common/keyfile.h, common/seal.h;
 * what to do when: docs/keys.md. Passphrases and share lines come from a
 * no-echo prompt on the terminal or, when standard input is not one, from
 * standard input (one per line). */
#include "master.h"

#include <err.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "admin_token.h"
#include "crypto.h"
#include "keyfile.h"
#include "mkset.h"
#include "seal.h"
#include "store.h"
#include "util.h"
#include "wrapped.h"

#define M_PATH_MAX 4200
#define M_LINE_MAX (SEAL_LINE_MAX + 2)
#define M_PASS_MIN 8
#define M_MAP_MB 4096
#define M_QUEUE_TIMEOUT_MS 30000

const char keys_master_usage[] =
    "       rsvault-keys rotate-master --dir DIR\n"
    "       rsvault-keys retire-master --dir DIR --version N --data DATADIR\n"
    "       rsvault-keys seal --dir DIR [--passphrase]\n"
    "       rsvault-keys seal --dir DIR --shares N --threshold K --out DIR2\n"
    "       rsvault-keys seal --dir DIR --finish\n";

const char keys_master_help[] =
    "rotate-master adds a master key of the next version (DIR/master-N.key; sealed\n"
    "under the same seal if DIR is sealed: it then asks for the passphrase or the\n"
    "shares). Restart the server to use it, then POST /v1/admin/rewrap.\n"
    "retire-master removes version N, only if the store in DATADIR (server stopped)\n"
    "holds nothing wrapped under it and N is not the newest version.\n"
    "seal encrypts every master-key file under a passphrase (Argon2id) or a random\n"
    "key split into N Shamir shares, K needed, written to DIR2/share-I.txt (DIR2\n"
    "must not be DIR). On a sealed DIR it asks for the current passphrase or\n"
    "shares first and seals anew (the old shares or passphrase stop working for\n"
    "the files in DIR). Passphrases and share lines: no-echo prompt, or one per\n"
    "line on standard input; spaces and tabs at the end of a line are not part\n"
    "of it. Every new file is written (FILE.sealed.new) before any old one is\n"
    "replaced; a seal interrupted during the switch is finished by the next\n"
    "seal, or by seal --finish alone (one stopped before it is rolled back).\n";

/* One line from the terminal (no echo, prompt on stderr) or stdin, without
 * its newline, into buf (M_LINE_MAX bytes). Returns the length, -1 at the
 * end of the input, or -2 for a line longer than SEAL_LINE_MAX bytes: it
 * is read up to its end and dropped whole (the buffer wiped), so neither
 * its start nor its rest is ever taken as a line. */
static ssize_t m_line(const char *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	int tty = isatty(STDIN_FILENO), restore = 0, c, any = 0;
	size_t n = 0, got = 0;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
			restore = tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
		}
	}
	/* stdin is unbuffered (keys_master): one byte at a time, no copy */
	while ((c = getc(stdin)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		if (got < SEAL_LINE_MAX && got + 1 < cap)
			buf[n++] = (char)c;
		got++;
	}
	if (restore) {
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
		fprintf(stderr, "\n");
	}
	if (got > SEAL_LINE_MAX || got > n) {
		sodium_memzero(buf, cap);
		return -2;
	}
	buf[n] = '\0';
	if (!any)
		return -1;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return (ssize_t)n;
}

#define M_TOO_LONG                                                                                 \
	"a line longer than 2047 bytes: refused whole, nothing in it was used (not its start, "    \
	"not its rest)"
_Static_assert(SEAL_LINE_MAX == 2047, "the message names the limit");
_Static_assert(M_LINE_MAX > SEAL_LINE_MAX, "a line of SEAL_LINE_MAX bytes fits");

/* Unseal s from input lines; the seal key into key. Returns 0 or -1. */
static int m_unseal(struct mkset *s, unsigned char key[SEAL_KEY_LEN])
{
	struct mkset_unsealer *u = sodium_malloc(sizeof *u);
	char *line = sodium_malloc(M_LINE_MAX);
	const char *msg;
	ssize_t n;
	int rc = -1, r;

	if (u == NULL || line == NULL)
		goto done;
	sodium_memzero(u, sizeof *u);
	for (;;) {
		n = m_line(s->seal.kind == SEAL_KIND_PASSPHRASE
		               ? "passphrase of the sealed master keys: "
		               : "a share line (rsvault-share-v1 ...): ",
		           line, M_LINE_MAX);
		if (n == -2) {
			warnx("%s", M_TOO_LONG);
			if (s->seal.kind == SEAL_KIND_PASSPHRASE && !isatty(STDIN_FILENO))
				goto done; /* one attempt from a pipe */
			continue;
		}
		if (n < 0) {
			warnx("the input ended: still sealed%s",
			      s->seal.kind == SEAL_KIND_SHARES ? " (too few shares)" : "");
			goto done;
		}
		r = mkset_feed(s, u, line, (size_t)n, &msg, key);
		sodium_memzero(line, M_LINE_MAX);
		if (r == 1)
			break;
		if (r < 0 || isatty(STDIN_FILENO))
			warnx("%s", msg);
		if (r < 0 && s->seal.kind == SEAL_KIND_PASSPHRASE && !isatty(STDIN_FILENO))
			goto done; /* one attempt from a pipe */
	}
	rc = 0;
done:
	if (u != NULL)
		sodium_free(u);
	if (line != NULL)
		sodium_free(line);
	return rc;
}

int keys_unseal_crypto(void)
{
	char *line = sodium_malloc(M_LINE_MAX);
	const char *msg;
	ssize_t n;
	int rc = -1, r;

	if (line == NULL)
		return -1;
	setvbuf(stdin, NULL, _IONBF, 0); /* no copy of a passphrase in stdio's buffer */
	for (;;) {
		if ((n = m_line("unseal the master keys (passphrase or share line): ", line,
		                M_LINE_MAX)) == -2) {
			warnx("%s", M_TOO_LONG);
			continue;
		}
		if (n < 0) {
			warnx("the input ended: the master keys are still sealed");
			goto done;
		}
		r = crypto_unseal_line(line, (size_t)n, &msg);
		sodium_memzero(line, M_LINE_MAX);
		if (r == 1)
			break;
		if (r < 0)
			warnx("%s", msg);
	}
	crypto_seal_open();
	rc = 0;
done:
	sodium_free(line);
	return rc;
}

static int m_path(char *out, const char *dir, const char *name)
{
	if (snprintf(out, M_PATH_MAX, "%s/%s", dir, name) >= M_PATH_MAX) {
		warnx("path too long");
		return -1;
	}
	return 0;
}

/* Overwrite a plain key file with zeros, then remove it (keyfile_shred;
 * the blocks may survive on a copy-on-write or journalling file system:
 * docs/keys.md). */
static int m_shred(const char *path)
{
	return keyfile_shred(path);
}

/* Write the image of version v into DIR as a plain or sealed file. */
static int m_write_version(const char *dir, const struct mkset *s, const unsigned char *sealkey,
                           uint32_t v, const unsigned char *img, size_t imglen, char *path)
{
	unsigned char out[SEAL_FILE_MAX];
	char name[MKSET_NAME_MAX];
	size_t outlen = imglen;
	int rc;

	if (mkset_name(v, s->sealed, name) != 0 || m_path(path, dir, name) != 0)
		return -1;
	if (s->sealed) {
		if (seal_file_encrypt(&s->seal, sealkey, v, img, imglen, out, &outlen) != 0)
			return -1;
		rc = keyfile_write_new(path, out, outlen, 0600);
	} else {
		rc = keyfile_write_new(path, img, imglen, 0600);
	}
	sodium_memzero(out, sizeof out);
	if (rc != 0)
		warn("cannot write %s", path);
	return rc;
}

struct m_opts {
	const char *dir, *data, *out;
	int64_t version, shares, threshold;
	int passphrase;
	int finish;
};

static int m_parse(int argc, char **argv, struct m_opts *o)
{
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		int64_t *num = NULL;
		const char **str = NULL;
		if (strcmp(a, "--passphrase") == 0) {
			o->passphrase = 1;
			continue;
		}
		if (strcmp(a, "--finish") == 0) {
			o->finish = 1;
			continue;
		}
		if (strcmp(a, "--dir") == 0)
			str = &o->dir;
		else if (strcmp(a, "--data") == 0)
			str = &o->data;
		else if (strcmp(a, "--out") == 0)
			str = &o->out;
		else if (strcmp(a, "--version") == 0)
			num = &o->version;
		else if (strcmp(a, "--shares") == 0)
			num = &o->shares;
		else if (strcmp(a, "--threshold") == 0)
			num = &o->threshold;
		if ((str == NULL && num == NULL) || val == NULL || val[0] == '\0') {
			warnx("%s: %.64s",
			      str == NULL && num == NULL ? "unknown argument" : "needs a value", a);
			return -1;
		}
		if (str != NULL) {
			if (*str != NULL) {
				warnx("%s given twice", a);
				return -1;
			}
			*str = val;
		} else if (util_parse_i64(val, 1, 0xffffffffLL, num) != 0) {
			warnx("%s wants a positive number", a);
			return -1;
		}
		i++;
	}
	if (o->dir == NULL) {
		warnx("--dir DIR is required");
		return -1;
	}
	return 0;
}

static struct mkset *m_load(const char *dir)
{
	struct mkset *s = sodium_malloc(sizeof *s);
	char err[512];

	if (s == NULL) {
		warnx("out of memory");
		return NULL;
	}
	if (mkset_load(dir, s, err, sizeof err) != 0) {
		warnx("%s", err);
		sodium_free(s);
		return NULL;
	}
	return s;
}

static int m_rotate(const struct m_opts *o)
{
	struct mkset *s = m_load(o->dir);
	unsigned char *sec =
	    sodium_malloc(SEAL_KEY_LEN + 32 + KEYFILE_HASH_KEYS_LEN + KEYFILE_MASTER2_LEN);
	unsigned char *sealkey, *key, *hk, *img;
	char err[512], path[M_PATH_MAX];
	int was_sealed, rc = 1;
	uint32_t v;

	if (s == NULL || sec == NULL)
		goto done;
	sealkey = sec;
	key = sealkey + SEAL_KEY_LEN;
	hk = key + 32;
	img = hk + KEYFILE_HASH_KEYS_LEN;
	was_sealed = s->sealed;
	if (was_sealed && m_unseal(s, sealkey) != 0)
		goto done;
	if (mkset_hash_keys(s, hk, err, sizeof err) != 0) {
		warnx("%s", err);
		goto done;
	}
	v = s->e[s->n - 1].version;
	if (v == 0xffffffffu || s->n >= MKSET_MAX) {
		warnx("no room for another version: retire old ones first");
		goto done;
	}
	v++;
	randombytes_buf(key, 32);
	keyfile_encode_master2(img, key, v, hk);
	s->sealed = was_sealed; /* write the new file as the others are */
	if (m_write_version(o->dir, s, sealkey, v, img, KEYFILE_MASTER2_LEN, path) != 0 ||
	    util_sync_dir(o->dir) != 0)
		goto done;
	printf("%s\n", path);
	fprintf(stderr,
	        "master-key version %u added%s. Restart the server to wrap new ticket keys under "
	        "it, then rewrap the older ones: POST /v1/admin/rewrap.\n",
	        (unsigned)v, was_sealed ? " (sealed under the same seal)" : "");
	rc = 0;
done:
	if (s != NULL)
		sodium_free(s);
	if (sec != NULL)
		sodium_free(sec);
	return rc;
}

struct m_count {
	struct wrapped_count c[WRAPPED_VERSIONS_MAX];
	size_t n;
	uint64_t malformed;
};

static int m_count_op(struct store_txn *t, void *arg)
{
	struct m_count *mc = arg;

	return wrapped_count(t, mc->c, WRAPPED_VERSIONS_MAX, &mc->n, &mc->malformed);
}

static int m_retire(const struct m_opts *o)
{
	struct mkset *s = NULL;
	struct store *st = NULL;
	struct m_count mc;
	struct keys_owner own = {0};
	char path[M_PATH_MAX], lockp[M_PATH_MAX];
	struct stat sb;
	long pid = 0;
	int lockfd = -1, created = 0, rc = 1, r;
	size_t i, idx = SIZE_MAX;

	if (o->version == 0 || o->data == NULL) {
		warnx("retire-master needs --version N and --data DATADIR");
		return 2;
	}
	if ((s = m_load(o->dir)) == NULL)
		goto done;
	for (i = 0; i < s->n; i++)
		if (s->e[i].version == (uint32_t)o->version)
			idx = i;
	if (idx == SIZE_MAX) {
		warnx("%s has no master key of version %lld", o->dir, (long long)o->version);
		goto done;
	}
	if (idx == s->n - 1) {
		warnx("version %lld is the newest (current) one: rotate first (rotate-master), "
		      "rewrap, then retire it",
		      (long long)o->version);
		goto done;
	}
	/* The store must exist: an empty or new directory proves nothing. */
	if (m_path(lockp, o->data, "data.mdb") != 0)
		goto done;
	if (stat(lockp, &sb) != 0) {
		warnx("%s: no store there (%s); nothing was retired", o->data, strerror(errno));
		goto done;
	}
	/* the data directory is the service account's: root opens the store
	 * there with that account's rights only (admin_token.h) */
	if (keys_data_dir(o->data, &own) != 0)
		goto done;
	if ((r = keys_store_in_use(o->data, &lockfd, &pid)) != 0) {
		if (r > 0)
			warnx("the store in %s is open in process %ld (a running rsvaultd?): stop "
			      "the "
			      "server first",
			      o->data, pid);
		else
			warn("cannot check whether the store in %s is in use", o->data);
		goto done;
	}
	if (keys_as_owner(&own) != 0)
		goto done;
	if (store_open(o->data, (size_t)M_MAP_MB * 1024 * 1024, M_QUEUE_TIMEOUT_MS, &st,
	               &created) != STORE_OK) {
		warnx("cannot open the store in %s", o->data);
		goto done;
	}
	memset(&mc, 0, sizeof mc);
	if (store_read(st, m_count_op, &mc) != STORE_OK) {
		warnx("cannot read the store in %s", o->data);
		goto done;
	}
	store_close(st);
	st = NULL;
	if (keys_as_root(&own) != 0)
		goto done;
	for (i = 0; i < mc.n; i++)
		if (mc.c[i].version == (uint32_t)o->version && mc.c[i].all > 0) {
			warnx("refused: %llu value(s) in %s (%llu ticket key(s)) are still wrapped "
			      "under master-key version %lld. Rewrap them first (POST "
			      "/v1/admin/rewrap; GET /v1/admin/keys shows when none are left); "
			      "nothing was removed",
			      (unsigned long long)mc.c[i].all, o->data,
			      (unsigned long long)mc.c[i].ticket_keys, (long long)o->version);
			goto done;
		}
	if (m_path(path, o->dir, s->e[idx].name) != 0)
		goto done;
	if (m_shred(path) != 0 || util_sync_dir(o->dir) != 0) {
		warn("cannot remove %s", path);
		goto done;
	}
	printf("%s\n", path);
	fprintf(stderr,
	        "master-key version %lld retired (nothing in %s was wrapped under it). A backup "
	        "of the store made before the rewrap needs this version: keep a copy of the "
	        "file with such backups, or they cannot be read.\n",
	        (long long)o->version, o->data);
	rc = 0;
done:
	if (st != NULL)
		store_close(st);
	if (keys_as_root(&own) != 0)
		rc = 1;
	if (lockfd >= 0)
		close(lockfd);
	if (s != NULL)
		sodium_free(s);
	return rc;
}

/* Are a and b the same directory? */
static int m_same_dir(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* The new seal key from a new passphrase (asked twice on a terminal). */
static int m_new_passphrase(const struct seal_params *p, unsigned char key[SEAL_KEY_LEN])
{
	char *a = sodium_malloc(M_LINE_MAX), *b = sodium_malloc(M_LINE_MAX);
	ssize_t n, m, trimmed;
	int rc = -1;

	if (a == NULL || b == NULL)
		goto done;
	if ((n = m_line("new passphrase: ", a, M_LINE_MAX)) == -2) {
		warnx("the new passphrase is refused: %s; nothing was sealed", M_TOO_LONG);
		goto done;
	}
	if (n < 0) {
		warnx("no passphrase given");
		goto done;
	}
	/* read as the server reads it (seal_line_len): trailing spaces and
	 * tabs are not part of the passphrase */
	trimmed = (ssize_t)seal_line_len(a, (size_t)n);
	if (trimmed < M_PASS_MIN) {
		warnx("the passphrase is too short (at least %d characters, not counting spaces "
		      "and tabs at its end)",
		      M_PASS_MIN);
		goto done;
	}
	if (trimmed != n)
		fprintf(stderr, "rsvault-keys: the spaces or tabs at the end of the passphrase are "
		                "not part of it (the server drops them too)\n");
	n = trimmed;
	if (isatty(STDIN_FILENO)) {
		if ((m = m_line("the same again: ", b, M_LINE_MAX)) < 0 ||
		    (ssize_t)seal_line_len(b, (size_t)m) != n || memcmp(a, b, (size_t)n)) {
			warnx("the two passphrases differ");
			goto done;
		}
	}
	if (seal_key_from_passphrase(p, a, (size_t)n, key) != 0) {
		warnx("cannot derive the key (out of memory?)");
		goto done;
	}
	rc = 0;
done:
	if (a != NULL)
		sodium_free(a);
	if (b != NULL)
		sodium_free(b);
	return rc;
}

static int m_write_shares(const struct m_opts *o, const struct seal_share *sh, unsigned n)
{
	char path[M_PATH_MAX], name[32], line[SEAL_SHARE_LINE_MAX];
	struct stat st;
	unsigned i;

	if (mkdir(o->out, 0700) != 0 && errno != EEXIST) {
		warn("mkdir %s", o->out);
		return -1;
	}
	if (m_same_dir(o->out, o->dir)) {
		warnx(
		    "--out must not be the key directory: shares never lie beside the sealed key");
		return -1;
	}
	for (i = 1; i <= n; i++) {
		snprintf(name, sizeof name, "share-%u.txt", i);
		if (m_path(path, o->out, name) != 0)
			return -1;
		if (lstat(path, &st) == 0) {
			warnx("%s exists already; nothing was written", path);
			return -1;
		}
	}
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "share-%u.txt", i + 1);
		if (m_path(path, o->out, name) != 0)
			return -1;
		seal_share_format(&sh[i], line);
		if (keyfile_write_new(path, line, strlen(line), 0600) != 0) {
			warn("cannot write %s", path);
			sodium_memzero(line, sizeof line);
			return -1;
		}
		sodium_memzero(line, sizeof line);
		printf("%s\n", path);
	}
	return util_sync_dir(o->out);
}

/* Remove the .sealed.new files of the first n versions of s (a seal that
 * stopped before its switch). */
static void m_unstage(const char *dir, const struct mkset *s, size_t n)
{
	char name[MKSET_NAME_MAX], path[M_PATH_MAX], tmp[M_PATH_MAX];

	for (size_t i = 0; i < n; i++)
		if (mkset_name(s->e[i].version, 1, name) == 0 && m_path(path, dir, name) == 0 &&
		    snprintf(tmp, sizeof tmp, "%s.new", path) < (int)sizeof tmp)
			unlink(tmp);
	(void)util_sync_dir(dir);
	fprintf(stderr, "rsvault-keys: nothing changed: the master keys in %s are as they were\n",
	        dir);
}

/* Does name end with suffix? */
static int m_ends(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);

	return n > k && strcmp(name + n - k, suffix) == 0;
}

/* Shred every plain master-key file (master.key, master-N.key) that has a
 * sealed one beside it. */
static int m_drop_plain(const char *dir)
{
	char path[M_PATH_MAX], sealed[M_PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(dir);
	int rc = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "master", 6) != 0 || !m_ends(de->d_name, ".key") ||
		    m_path(path, dir, de->d_name) != 0 ||
		    snprintf(sealed, sizeof sealed, "%s.sealed", path) >= (int)sizeof sealed)
			continue;
		if (lstat(sealed, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (m_shred(path) != 0) {
			warn("cannot remove the plain %s: remove it by hand", path);
			rc = -1;
		}
	}
	closedir(d);
	return rc == 0 ? util_sync_dir(dir) : -1;
}

/* An interrupted seal: with the marker MKSET_SWITCH every new file was
 * written before it, so the switch is finished (each remaining .new
 * renamed over its file, the plain files removed, the marker last);
 * without it nothing of the old seal was touched, so the .new files are
 * removed. Returns 0 (nothing to do, or done) or -1. */
static int m_recover(const char *dir)
{
	char marker[M_PATH_MAX], path[M_PATH_MAX], dst[M_PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int forward, rc = 0, count = 0;

	if (m_path(marker, dir, MKSET_SWITCH) != 0)
		return -1;
	forward = lstat(marker, &st) == 0;
	if ((d = opendir(dir)) == NULL) {
		warn("%s", dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "master", 6) != 0 ||
		    !m_ends(de->d_name, ".key.sealed.new") || m_path(path, dir, de->d_name) != 0)
			continue;
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			warnx("%s: left by an interrupted seal but not a file: remove it by hand",
			      path);
			rc = -1;
			continue;
		}
		memcpy(dst, path, strlen(path) + 1);
		dst[strlen(dst) - 4] = '\0'; /* without ".new" */
		if (forward ? rename(path, dst) != 0 : unlink(path) != 0) {
			warn("%s", path);
			rc = -1;
			continue;
		}
		count++;
	}
	closedir(d);
	if (rc != 0 || util_sync_dir(dir) != 0)
		return -1;
	if (forward) {
		if (m_drop_plain(dir) != 0 || unlink(marker) != 0 || util_sync_dir(dir) != 0) {
			warn("cannot finish the switch in %s", dir);
			return -1;
		}
		fprintf(stderr,
		        "rsvault-keys: finished a seal that was interrupted (%d file(s) switched): "
		        "%s is sealed under the new seal\n",
		        count, dir);
	} else if (count > 0) {
		fprintf(
		    stderr,
		    "rsvault-keys: removed %d file(s) of a seal that stopped before its switch: "
		    "%s is sealed as before it\n",
		    count, dir);
	}
	return 0;
}

static int m_seal(const struct m_opts *o)
{
	struct mkset *s = NULL;
	struct seal_params np;
	struct seal_share *sh = NULL;
	unsigned char *keys = sodium_malloc(2 * SEAL_KEY_LEN), *oldkey, *newkey;
	unsigned char out[SEAL_FILE_MAX];
	char path[M_PATH_MAX], tmp[M_PATH_MAX], name[MKSET_NAME_MAX], marker[M_PATH_MAX];
	sigset_t block, oldmask;
	int was_sealed, rc = 1;
	size_t i, outlen;

	if (keys == NULL)
		goto done;
	if (m_recover(o->dir) != 0)
		goto done;
	if (o->finish) {
		rc = 0;
		goto done;
	}
	if ((s = m_load(o->dir)) == NULL)
		goto done;
	oldkey = keys;
	newkey = keys + SEAL_KEY_LEN;
	if (o->shares != 0 || o->threshold != 0 || o->out != NULL) {
		if (o->passphrase || o->shares < 2 || o->threshold < 2 ||
		    o->threshold > o->shares || o->shares > SEAL_SHARES_MAX || o->out == NULL) {
			warnx("seal with shares needs --shares N --threshold K --out DIR2 with 2 "
			      "<= K "
			      "<= N <= %d (and no --passphrase)",
			      SEAL_SHARES_MAX);
			rc = 2;
			goto done;
		}
	}
	was_sealed = s->sealed;
	if (was_sealed && m_unseal(s, oldkey) != 0)
		goto done;
	if (o->shares != 0) {
		seal_params_shares(&np, (unsigned)o->threshold);
		randombytes_buf(newkey, SEAL_KEY_LEN);
		if ((sh = sodium_allocarray((size_t)o->shares, sizeof *sh)) == NULL ||
		    seal_split(&np, newkey, (unsigned)o->shares, sh) != 0 ||
		    m_write_shares(o, sh, (unsigned)o->shares) != 0)
			goto done;
	} else {
		seal_params_passphrase(&np);
		if (m_new_passphrase(&np, newkey) != 0)
			goto done;
	}
	/* Every version sealed into FILE.sealed.new (O_EXCL, synced) first; no
	 * file of the old seal is touched until all are written. Then, with
	 * stop signals blocked, the marker MKSET_SWITCH commits the switch,
	 * every .new is renamed over its file, the plain files go, and the
	 * marker goes last. A run stopped before the marker leaves the old
	 * seal (the next seal removes the .new files); one stopped after it
	 * is finished by `seal --finish` (m_recover), which every seal runs
	 * first. */
	for (i = 0; i < s->n; i++) {
		if (seal_file_encrypt(&np, newkey, s->e[i].version, s->e[i].blob, s->e[i].len, out,
		                      &outlen) != 0 ||
		    mkset_name(s->e[i].version, 1, name) != 0 || m_path(path, o->dir, name) != 0 ||
		    snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp) {
			warnx("cannot seal version %u", (unsigned)s->e[i].version);
			m_unstage(o->dir, s, i);
			goto done;
		}
		if (keyfile_write_new(tmp, out, outlen, 0600) != 0) {
			warn("cannot write %s", tmp);
			m_unstage(o->dir, s, i);
			goto done;
		}
	}
	if (m_path(marker, o->dir, MKSET_SWITCH) != 0 || util_sync_dir(o->dir) != 0) {
		m_unstage(o->dir, s, s->n);
		goto done;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigprocmask(SIG_BLOCK, &block, &oldmask);
	if (keyfile_write_new(marker, "switch\n", 7, 0600) != 0 || util_sync_dir(o->dir) != 0) {
		warn("cannot write %s; nothing changed", marker);
		unlink(marker);
		m_unstage(o->dir, s, s->n);
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		goto done;
	}
	for (i = 0; i < s->n; i++) {
		if (mkset_name(s->e[i].version, 1, name) != 0 || m_path(path, o->dir, name) != 0 ||
		    snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp ||
		    rename(tmp, path) != 0) {
			warn("cannot rename %s to %s: the switch to the new seal was interrupted; "
			     "finish it with: rsvault-keys seal --dir %s --finish",
			     tmp, path, o->dir);
			sigprocmask(SIG_SETMASK, &oldmask, NULL);
			goto done;
		}
	}
	if (util_sync_dir(o->dir) != 0 || (!was_sealed && m_drop_plain(o->dir) != 0) ||
	    unlink(marker) != 0 || util_sync_dir(o->dir) != 0) {
		warn("the switch to the new seal was interrupted; finish it with: rsvault-keys "
		     "seal --dir %s --finish",
		     o->dir);
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		goto done;
	}
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	if (o->shares != 0)
		fprintf(stderr,
		        "sealed %zu master-key version(s) in %s: %lld shares, any %lld of them "
		        "unseal.\nHand each share file to a different person, keep none of them "
		        "on this machine, and delete %s once they are handed out.\n",
		        s->n, o->dir, (long long)o->shares, (long long)o->threshold, o->out);
	else
		fprintf(stderr, "sealed %zu master-key version(s) in %s under the passphrase\n",
		        s->n, o->dir);
	rc = 0;
done:
	sodium_memzero(out, sizeof out);
	if (sh != NULL)
		sodium_free(sh);
	if (keys != NULL)
		sodium_free(keys);
	if (s != NULL)
		sodium_free(s);
	return rc;
}

int keys_master(int argc, char **argv)
{
	struct m_opts o;
	int r;

	memset(&o, 0, sizeof o);
	setvbuf(stdin, NULL, _IONBF, 0); /* no copy of a passphrase in stdio's buffer */
	if (m_parse(argc, argv, &o) != 0)
		return 2;
	if (strcmp(argv[1], "rotate-master") == 0)
		r = m_rotate(&o);
	else if (strcmp(argv[1], "retire-master") == 0)
		r = m_retire(&o);
	else
		r = m_seal(&o);
	if (fflush(stdout) != 0)
		r = 1;
	return r;
}

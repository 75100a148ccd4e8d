/* rsvault-keys - make the keys an rsvault server needs.
 *
 *   rsvault-keys init --dir DIR [--san NAME]...
 *
 * Everything is generated in memory first; only then are the seven files
 * written, each with O_CREAT|O_EXCL|O_NOFOLLOW, so an existing file or a
 * planted symlink is never written through. If any write fails, the files
 * this run created are removed again (and DIR, if this run made it). */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <sodium.h>

#include "admin_token.h"
#include "audit_rotate.h"
#include "client_cert.h"
#include "restore.h"
#include "auditlog.h"
#include "keyfile.h"
#include "cert.h"
#include "master.h"
#include "version.h"

#define KEYS_PATH_MAX 4096
#define KEYS_MASTER_VERSION 1
#define KEYS_MODE_SECRET 0600
#define KEYS_MODE_PUBLIC 0644
#define KEYS_MODE_DIR 0700
#define KEYS_PUB_TEXT_LEN (crypto_sign_PUBLICKEYBYTES * 2 + 1) /* hex + '\n' */

enum keys_file {
	KF_MASTER,
	KF_AUDIT_KEY,
	KF_AUDIT_PUB,
	KF_CA_KEY,
	KF_CA_PEM,
	KF_SERVER_KEY,
	KF_SERVER_PEM,
	KF_COUNT
};

static const struct {
	const char *name;
	mode_t mode;
} keys_files[KF_COUNT] = {
    [KF_MASTER] = {"master.key", KEYS_MODE_SECRET},
    [KF_AUDIT_KEY] = {"audit.key", KEYS_MODE_SECRET},
    [KF_AUDIT_PUB] = {"audit.pub", KEYS_MODE_PUBLIC},
    [KF_CA_KEY] = {"ca.key", KEYS_MODE_SECRET},
    [KF_CA_PEM] = {"ca.pem", KEYS_MODE_PUBLIC},
    [KF_SERVER_KEY] = {"server.key", KEYS_MODE_SECRET},
    [KF_SERVER_PEM] = {"server.pem", KEYS_MODE_PUBLIC},
};

struct keys_opts {
	const char *ko_dir;
	struct keys_san ko_sans[KEYS_SAN_MAX];
	size_t ko_nsans;
};

/* Raw key material, kept in sodium_malloc memory (locked, not dumped,
 * guarded; sodium_free wipes it). */
struct keys_secrets {
	unsigned char ks_master[32];
	unsigned char ks_master_file[KEYFILE_MASTER_LEN];
	unsigned char ks_audit_pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char ks_audit_sk[crypto_sign_SECRETKEYBYTES];
	unsigned char ks_audit_file[KEYFILE_AUDIT_LEN];
	char ks_audit_pub[KEYS_PUB_TEXT_LEN + 1];
};

/* What the run writes: file images, and which files it has created. */
struct keys_run {
	char kr_dir[KEYS_PATH_MAX];
	char kr_path[KF_COUNT][KEYS_PATH_MAX];
	const unsigned char *kr_data[KF_COUNT];
	size_t kr_len[KF_COUNT];
	int kr_created[KF_COUNT];
	int kr_made_dir;
	struct keys_pem kr_pem[KF_COUNT];
	struct keys_secrets *kr_sec;
};

static void usage(FILE *fp, int full)
{
	fprintf(fp,
	        "usage: rsvault-keys init --dir DIR [--san NAME]...\n"
	        "       rsvault-keys verify-audit FILE --pubkey PATH [--pin SEQ:HASH]\n"
	        "%s%s%s%s%s"
	        "       rsvault-keys --help | --version\n",
	        keys_admin_token_usage, keys_master_usage, keys_audit_rotate_usage,
	        keys_client_usage, keys_restore_usage);
	if (!full)
		return;
	fprintf(
	    fp,
	    "\n"
	    "init makes the keys an rsvault server needs, in DIR:\n"
	    "  master.key  audit.key  ca.key  server.key   (secret, mode 0600)\n"
	    "  audit.pub   ca.pem     server.pem           (public, mode 0644)\n"
	    "DIR is created with mode 0700 if it does not exist (its parent must).\n"
	    "If any of the files already exists, nothing is changed and the exit\n"
	    "status is non-zero: keys are never overwritten.\n"
	    "\n"
	    "  --dir DIR    where to write the keys (required)\n"
	    "  --san NAME   add a DNS name or IP address to the server certificate;\n"
	    "               repeat for more (up to %d). localhost and 127.0.0.1 are\n"
	    "               always included.\n"
	    "  -h, --help   print this help\n"
	    "\n"
	    "verify-audit checks an audit export (JSON lines from `rsvault audit\n"
	    "export`) offline against audit.pub: the hash chain, every checkpoint\n"
	    "signature, that every 100th event has its checkpoint and, with --pin,\n"
	    "that the export still reaches a checkpoint pinned earlier; it prints\n"
	    "the pin to keep (pin: SEQ:HASH). FILE - reads standard input.\n"
	    "Exit status: 0 everything verified and signed; 5 the chain verified\n"
	    "but no checkpoint signs it; 6 verification failed; 1 usage error or\n"
	    "unreadable file.\n"
	    "\n"
	    "%s"
	    "\n"
	    "%s"
	    "\n"
	    "%s"
	    "\n"
	    "%s"
	    "\n"
	    "%s"
	    "\n"
	    "examples:\n"
	    "  rsvault-keys init --dir /etc/rsvault/keys --san vault.example.com --san 10.0.0.5\n"
	    "  rsvault-keys verify-audit log.jsonl --pubkey audit.pub --pin 100:4f1c...\n"
	    "  rsvault-keys admin-token --data /var/lib/rsvault --keys /etc/rsvault/keys\n",
	    KEYS_SAN_MAX, keys_admin_token_help, keys_master_help, keys_audit_rotate_help,
	    keys_client_help, keys_restore_help);
}

/* Print the first OpenSSL error, if any, after our own message. */
static void keys_ossl_warn(const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof buf);
		warnx("%s: %s", what, buf);
	} else {
		warnx("%s", what);
	}
	ERR_clear_error();
}

/* "--opt VALUE" or "--opt=VALUE". Returns 1 if argv[*i] is opt (and sets
 * *val, advancing *i past a separate value), 0 if it is not, -1 if the
 * value is missing. */
static int keys_opt_value(int argc, char **argv, int *i, const char *opt, const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(opt);

	if (strncmp(a, opt, n) != 0)
		return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
	} else if (a[n] == '\0') {
		if (*i + 1 >= argc)
			return -1;
		*val = argv[++*i];
	} else {
		return 0;
	}
	if ((*val)[0] == '\0' || (*val)[0] == '-')
		return -1;
	return 1;
}

/* Parse the options of init. Returns 0, 1 for help, -1 on a usage error
 * (already reported). */
static int keys_parse_init(int argc, char **argv, struct keys_opts *o)
{
	const char *val;
	int i, r;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
		if ((r = keys_opt_value(argc, argv, &i, "--dir", &val)) != 0) {
			if (r < 0) {
				warnx("--dir needs a directory");
				return -1;
			}
			if (o->ko_dir != NULL) {
				warnx("--dir given twice");
				return -1;
			}
			o->ko_dir = val;
		} else if ((r = keys_opt_value(argc, argv, &i, "--san", &val)) != 0) {
			if (r < 0) {
				warnx("--san needs a name");
				return -1;
			}
			if (o->ko_nsans >= KEYS_SAN_MAX) {
				warnx("too many --san names (at most %d)", KEYS_SAN_MAX);
				return -1;
			}
			if (keys_cert_parse_san(val, &o->ko_sans[o->ko_nsans]) != 0) {
				warnx("--san: not an IP address or a valid DNS name: \"%.*s\"",
				      KEYS_DNS_MAX, val);
				return -1;
			}
			o->ko_nsans++;
		} else {
			warnx("unknown argument: %.*s", 64, argv[i]);
			return -1;
		}
	}
	if (o->ko_dir == NULL) {
		warnx("init needs --dir DIR");
		return -1;
	}
	return 0;
}

static int keys_build_paths(struct keys_run *r, const char *dir)
{
	const char *sep, *name;
	size_t len, slen, nlen;
	int i;

	len = strnlen(dir, sizeof r->kr_dir);
	if (len >= sizeof r->kr_dir)
		goto toolong;
	memcpy(r->kr_dir, dir, len + 1);
	while (len > 1 && r->kr_dir[len - 1] == '/')
		r->kr_dir[--len] = '\0';
	sep = strcmp(r->kr_dir, "/") == 0 ? "" : "/";
	slen = strlen(sep);
	for (i = 0; i < KF_COUNT; i++) {
		name = keys_files[i].name;
		nlen = strlen(name);
		if (len + slen + nlen >= sizeof r->kr_path[i])
			goto toolong;
		memcpy(r->kr_path[i], r->kr_dir, len);
		memcpy(r->kr_path[i] + len, sep, slen);
		memcpy(r->kr_path[i] + len + slen, name, nlen + 1);
	}
	return 0;
toolong:
	warnx("directory name too long");
	return -1;
}

/* Use DIR if it is a directory that only its owner may write, or make it
 * 0700 if it does not exist. */
static int keys_prepare_dir(struct keys_run *r)
{
	struct stat st;

	if (stat(r->kr_dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			warnx("%s: not a directory", r->kr_dir);
			return -1;
		}
		if (st.st_mode & (S_IWGRP | S_IWOTH)) {
			warnx("%s: writable by group or others; refusing to put keys there",
			      r->kr_dir);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		warn("%s", r->kr_dir);
		return -1;
	}
	if (mkdir(r->kr_dir, KEYS_MODE_DIR) != 0) {
		if (errno == ENOENT)
			warnx("%s: parent directory does not exist", r->kr_dir);
		else
			warn("mkdir %s", r->kr_dir);
		return -1;
	}
	r->kr_made_dir = 1;
	return 0;
}

/* Refuse if any of the files exists (as anything, even a dangling link). */
static int keys_check_absent(const struct keys_run *r)
{
	struct stat st;
	int i, bad = 0;

	for (i = 0; i < KF_COUNT; i++) {
		if (lstat(r->kr_path[i], &st) == 0) {
			warnx("%s already exists", r->kr_path[i]);
			bad = 1;
		} else if (errno != ENOENT) {
			warn("%s", r->kr_path[i]);
			bad = 1;
		}
	}
	if (bad)
		warnx("refusing to overwrite keys; nothing was changed");
	return bad ? -1 : 0;
}

static int keys_make_sodium(struct keys_run *r)
{
	struct keys_secrets *s = r->kr_sec;

	randombytes_buf(s->ks_master, sizeof s->ks_master);
	keyfile_encode_master(s->ks_master_file, s->ks_master, KEYS_MASTER_VERSION);
	sodium_memzero(s->ks_master, sizeof s->ks_master);

	if (crypto_sign_keypair(s->ks_audit_pk, s->ks_audit_sk) != 0) {
		warnx("cannot make the audit signing key");
		return -1;
	}
	keyfile_encode_audit(s->ks_audit_file, s->ks_audit_sk);
	sodium_memzero(s->ks_audit_sk, sizeof s->ks_audit_sk);
	sodium_bin2hex(s->ks_audit_pub, sizeof s->ks_audit_pub, s->ks_audit_pk,
	               sizeof s->ks_audit_pk);
	s->ks_audit_pub[KEYS_PUB_TEXT_LEN - 1] = '\n';
	s->ks_audit_pub[KEYS_PUB_TEXT_LEN] = '\0';

	r->kr_data[KF_MASTER] = s->ks_master_file;
	r->kr_len[KF_MASTER] = sizeof s->ks_master_file;
	r->kr_data[KF_AUDIT_KEY] = s->ks_audit_file;
	r->kr_len[KF_AUDIT_KEY] = sizeof s->ks_audit_file;
	r->kr_data[KF_AUDIT_PUB] = (const unsigned char *)s->ks_audit_pub;
	r->kr_len[KF_AUDIT_PUB] = KEYS_PUB_TEXT_LEN;
	return 0;
}

static void keys_use_pem(struct keys_run *r, enum keys_file f)
{
	r->kr_data[f] = r->kr_pem[f].kp_data;
	r->kr_len[f] = r->kr_pem[f].kp_len;
}

static int keys_make_tls(struct keys_run *r, const struct keys_opts *o)
{
	EVP_PKEY *cakey = NULL, *srvkey = NULL;
	X509 *cacert = NULL, *srvcert = NULL;
	int rc = -1;

	if (keys_cert_make_ca(&cakey, &cacert) != 0) {
		keys_ossl_warn("cannot make the CA certificate");
		goto done;
	}
	if (keys_cert_make_server(cakey, cacert, o->ko_sans, o->ko_nsans, &srvkey, &srvcert)) {
		keys_ossl_warn("cannot make the server certificate");
		goto done;
	}
	if (keys_cert_pem_key(cakey, &r->kr_pem[KF_CA_KEY]) ||
	    keys_cert_pem_cert(cacert, &r->kr_pem[KF_CA_PEM]) ||
	    keys_cert_pem_key(srvkey, &r->kr_pem[KF_SERVER_KEY]) ||
	    keys_cert_pem_cert(srvcert, &r->kr_pem[KF_SERVER_PEM])) {
		keys_ossl_warn("cannot encode keys and certificates as PEM");
		goto done;
	}
	keys_use_pem(r, KF_CA_KEY);
	keys_use_pem(r, KF_CA_PEM);
	keys_use_pem(r, KF_SERVER_KEY);
	keys_use_pem(r, KF_SERVER_PEM);
	rc = 0;
done:
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(srvkey);
	X509_free(cacert);
	X509_free(srvcert);
	return rc;
}

/* Undo this run: remove what it created, newest first. */
static void keys_rollback(struct keys_run *r)
{
	int i;

	for (i = KF_COUNT - 1; i >= 0; i--) {
		if (r->kr_created[i] && unlink(r->kr_path[i]) != 0)
			warn("cannot remove %s", r->kr_path[i]);
		r->kr_created[i] = 0;
	}
	if (r->kr_made_dir && rmdir(r->kr_dir) != 0)
		warn("cannot remove %s", r->kr_dir);
	r->kr_made_dir = 0;
}

static int keys_sync_dir(const char *dir)
{
	int fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Write every file; on any failure remove the ones written. Signals that
 * would stop us are held off so a rollback is never cut short. */
static int keys_write_all(struct keys_run *r)
{
	sigset_t block, old;
	int i, rc = -1;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGPIPE);
	sigprocmask(SIG_BLOCK, &block, &old);
	for (i = 0; i < KF_COUNT; i++) {
		if (keyfile_write_new(r->kr_path[i], r->kr_data[i], r->kr_len[i],
		                      keys_files[i].mode) != 0) {
			warn("cannot write %s", r->kr_path[i]);
			goto done;
		}
		r->kr_created[i] = 1;
	}
	if (keys_sync_dir(r->kr_dir) != 0) {
		warn("cannot sync %s", r->kr_dir);
		goto done;
	}
	rc = 0;
done:
	if (rc != 0) {
		keys_rollback(r);
		warnx("no keys were written");
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static int keys_init(const struct keys_opts *o)
{
	struct keys_run *r;
	int i, rc = -1;

	if ((r = calloc(1, sizeof *r)) == NULL) {
		warn("calloc");
		return -1;
	}
	if ((r->kr_sec = sodium_malloc(sizeof *r->kr_sec)) == NULL) {
		warn("sodium_malloc");
		goto done;
	}
	sodium_memzero(r->kr_sec, sizeof *r->kr_sec);
	if (keys_build_paths(r, o->ko_dir) || keys_prepare_dir(r) || keys_check_absent(r))
		goto fail;
	if (keys_make_sodium(r) || keys_make_tls(r, o))
		goto fail;
	if (keys_write_all(r))
		goto done;
	for (i = 0; i < KF_COUNT; i++)
		printf("%s\n", r->kr_path[i]);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		warnx("keys were written, but the list of files could not be printed");
		goto done;
	}
	rc = 0;
	goto done;
fail:
	keys_rollback(r);
done:
	for (i = 0; i < KF_COUNT; i++)
		keys_cert_pem_free(&r->kr_pem[i]);
	sodium_free(r->kr_sec);
	free(r);
	return rc;
}

/* verify-audit FILE --pubkey PATH [--pin SEQ:HASH]: the same offline
 * verifier, output and exit statuses as `rsvault audit verify`
 * (common/auditlog.c): 0 verified with a checkpoint, 5 nothing signed, 6
 * failed, 1 usage or unreadable input. Returns -1 for a usage error. */
static int keys_verify_audit(int argc, char **argv)
{
	const char *file = NULL, *pub = NULL, *pin = NULL;
	struct audit_verify v;
	FILE *f;
	int i, result;

	memset(&v, 0, sizeof v);
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--pubkey") == 0 && i + 1 < argc && pub == NULL)
			pub = argv[++i];
		else if (strcmp(argv[i], "--pin") == 0 && i + 1 < argc && pin == NULL)
			pin = argv[++i];
		else if ((argv[i][0] != '-' || strcmp(argv[i], "-") == 0) && file == NULL)
			file = argv[i];
		else
			return -1;
	}
	if (file == NULL || pub == NULL)
		return -1;
	if (pin != NULL && audit_parse_pin(pin, &v) != 0) {
		warnx("--pin: %s", v.error);
		return AUDIT_EXIT_USAGE;
	}
	if (keyfile_read_pub(pub, v.pk) != 0) {
		warnx("cannot read the audit public key %s", pub);
		return AUDIT_EXIT_USAGE;
	}
	f = strcmp(file, "-") == 0 ? stdin : fopen(file, "re");
	if (f == NULL) {
		warn("cannot open %s", file);
		return AUDIT_EXIT_USAGE;
	}
	result = audit_verify_stream(f, &v);
	if (f != stdin)
		fclose(f);
	if (audit_verify_print(&v, result, stdout) != 0) {
		warnx("cannot write the result");
		return AUDIT_EXIT_USAGE;
	}
	return audit_verify_exit_status(result);
}

/* The admin token, generated private keys, the master key and passphrase
 * lines pass through this process's memory: as in rsvaultd and rsvault,
 * no core file, and no ptrace or /proc/PID/mem by other processes of the
 * same user (SECURITY.md "Process hardening"). */
static void harden(void)
{
	struct rlimit rl = {0, 0};

	umask(077);
	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		err(1, "cannot turn off core dumps");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		errx(1, "cannot make the process non-dumpable");
}

int main(int argc, char **argv)
{
	struct keys_opts *o;
	int rc = 1, r;

	harden();
	if (sodium_init() < 0)
		errx(1, "cannot initialise libsodium");
	if (argc < 2) {
		usage(stderr, 0);
		return 1;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout, 1);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("rsvault-keys %s\n", RSVAULT_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "verify-audit") == 0) {
		if ((r = keys_verify_audit(argc, argv)) < 0) {
			usage(stderr, 0);
			return AUDIT_EXIT_USAGE;
		}
		return r;
	}
	if (strcmp(argv[1], "admin-token") == 0) {
		if ((r = keys_admin_token(argc, argv)) == 2)
			usage(stderr, 0);
		return r == 0 ? 0 : 1;
	}
	if (strcmp(argv[1], "rotate-master") == 0 || strcmp(argv[1], "retire-master") == 0 ||
	    strcmp(argv[1], "seal") == 0) {
		if ((r = keys_master(argc, argv)) == 2)
			usage(stderr, 0);
		return r == 0 ? 0 : 1;
	}
	if (strcmp(argv[1], "rotate-audit") == 0 || strcmp(argv[1], "retire-audit") == 0) {
		r = argv[1][1] == 'o' ? keys_rotate_audit(argc, argv)
		                      : keys_retire_audit(argc, argv);
		if (r == 2)
			usage(stderr, 0);
		return r == 0 ? 0 : 1;
	}
	if (keys_client_is_cmd(argv[1])) {
		if ((r = keys_client_cmd(argc, argv)) == 2)
			usage(stderr, 0);
		return r == 0 ? 0 : 1;
	}
	if (strcmp(argv[1], "restore") == 0) {
		if ((r = keys_restore(argc, argv)) == 2)
			usage(stderr, 0);
		return r == 0 ? 0 : 1;
	}
	if (strcmp(argv[1], "init") != 0) {
		warnx("unknown command: %.*s", 64, argv[1]);
		usage(stderr, 0);
		return 1;
	}
	if ((o = calloc(1, sizeof *o)) == NULL)
		err(1, "calloc");
	r = keys_parse_init(argc, argv, o);
	if (r == 1) {
		usage(stdout, 1);
		rc = 0;
	} else if (r < 0) {
		usage(stderr, 0);
	} else if (keys_init(o) == 0) {
		rc = 0;
	}
	free(o);
	return rc;
}

/* main.c - rsvaultd: start-up, signals, shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "api.h"
#include "audit.h"
#include "auditkeys.h"
#include "authz.h"
#include "backup.h"
#include "crypto.h"
#include "dispatch.h"
#include "http.h"
#include "keyfile.h"
#include "license.h"
#include "log.h"
#include "mtls.h"
#include "proxy.h"
#include "publicurl.h"
#include "sandbox.h"
#include "store.h"
#include "tokens.h"
#include "unseal.h"
#include "util.h"
#include "vault.h"
#include "webhooks.h"
#include "wipe.h"

#define DEFAULT_LISTEN "127.0.0.1:8443"
#define DEFAULT_THREADS 4
#define DEFAULT_SESSION_MAX_TTL 14400
#define DEFAULT_APPROVAL_TIMEOUT 900
#define DEFAULT_MAP_MB 4096
#define DEFAULT_QUEUE_TIMEOUT_MS 5000
#define DEFAULT_CHECKPOINT_MS 60000
#define CONFIG_MAX (64 * 1024) /* bytes of a --config file */

#ifdef RSVAULT_TESTING
void audit_test_fault_dir(const char *dir);
#endif

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: rsvaultd [--config FILE] --data DIR --keys DIR [--listen ADDR:PORT]...\n"
	       "                [--session-max-ttl S] [--threads N] [--map-size MIB]\n"
	       "                [--max-per-address N] [--user NAME [--group NAME]]\n"
	       "                [--public-url URL] [--tls-cert FILE --tls-key FILE]\n"
	       "                [--trusted-proxy CIDR]... [--log-format text|json]\n"
	       "                [--log-file FILE] [--unseal-fd FD] [--backup-dir DIR]\n"
	       "                [--webhook-ca FILE] [--webhook-outbox-max N] [--no-seccomp]\n"
	       "       rsvaultd --version | --help\n"
	       "\n"
	       "  --config FILE          read options from FILE, one \"name = value\" a line\n"
	       "                         (name without the dashes; # starts a comment line;\n"
	       "                         no-seccomp = true); options on the command line\n"
	       "                         win, and a --listen or --trusted-proxy there\n"
	       "                         replaces all of the file's\n"
	       "  --data DIR             LMDB store and admin.token (made 0700 if missing)\n"
	       "  --keys DIR             master.key, audit.key, server.pem, server.key\n"
	       "  --listen ADDR:PORT     HTTPS listener (default " DEFAULT_LISTEN "); may repeat;\n"
	       "                         ADDR an IPv4 address, [IPv6] ([::] for all, IPv6\n"
	       "                         only) or a host name (every address it resolves to)\n"
	       "  --session-max-ttl S    longest session in seconds (default 14400)\n"
	       "  --approval-timeout S   a session waiting for the owner's approval expires\n"
	       "                         after S seconds undecided (default 900)\n"
	       "  --threads N            HTTP worker threads (default 4)\n"
	       "  --map-size MIB         LMDB map size in MiB (default 4096)\n"
	       "  --max-per-address N    connections at once from one IPv4 address or\n"
	       "                         IPv6 /64 (default 32)\n"
	       "  --user NAME            required when started as root: the account to switch\n"
	       "                         to once keys are read and the port is bound; it must\n"
	       "                         own --data (CAP_IPC_LOCK alone is kept, for mlock)\n"
	       "  --group NAME           its group (default: the user's primary group)\n"
	       "  --public-url URL       https:// address where customers reach this server, the\n"
	       "                         base of link and receipt URLs; required to make links\n"
	       "                         when --listen is not loopback (default there:\n"
	       "                         https://ADDR:PORT of the listener)\n"
	       "  --tls-cert FILE        serve this certificate (PEM chain) instead of the key\n"
	       "  --tls-key FILE         directory's server.pem/server.key; both or neither;\n"
	       "                         the key file must be private to its owner\n"
	       "  --trusted-proxy CIDR   a reverse proxy's address range; may repeat. For\n"
	       "                         requests from it the client address (audit, rate\n"
	       "                         limits, logs) is the rightmost X-Forwarded-For entry\n"
	       "                         that is not a trusted proxy itself\n"
	       "  --log-format F         text (default) or json (one object a line)\n"
	       "  --log-file FILE        append the log to FILE (opened as --user; reopened on\n"
	       "                         SIGHUP) instead of stderr\n"
	       "  --backup-dir DIR       where POST /v1/admin/backup writes copies of the store\n"
	       "                         (a directory the server's user may write)\n"
	       "  --unseal-fd FD         sealed master keys: read the passphrase or share lines\n"
	       "                         from this descriptor (else a systemd credential\n"
	       "                         " UNSEAL_CREDENTIAL ", else the terminal); docs/keys.md\n"
	       "  --client-ca FILE       ask clients for a certificate and verify it against this\n"
	       "                         CA (the client CA of `rsvault-keys client-ca`)\n"
	       "  --mtls-roles LIST      roles (agent,admin,auditor,...) whose tokens work only\n"
	       "                         with a valid client certificate naming the account\n"
	       "  --client-crl FILE      the client CA's CRL (client-crl.pem); when it is out of\n"
	       "                         date no client certificate is accepted\n"
	       "  --webhook-ca FILE      trust only the CA certificates in FILE (PEM) for\n"
	       "                         webhook receivers (default: the system's CAs)\n"
	       "  --webhook-outbox-max N undelivered and recent webhook deliveries kept at\n"
	       "                         most (default 10000; docs/webhooks.md)\n"
	       "  --no-seccomp           do not install the system-call filter (debugging only)\n"
	       "  --version              print the version and exit\n"
	       "\n"
	       "SIGHUP reloads the TLS certificate and key, the client CA and CRL, and\n"
	       "reopens --log-file.\n"
	       "\n"
	       "example: rsvaultd --data ./var/data --keys ./var/keys\n");
}

static int opt_i64(const char *name, const char *val, int64_t min, int64_t max, int64_t *out)
{
	if (val == NULL || util_parse_i64(val, min, max, out) != 0) {
		fprintf(stderr, "rsvaultd: %s wants an integer from %lld to %lld\n", name,
		        (long long)min, (long long)max);
		return -1;
	}
	return 0;
}

static int opt_str(const char *name, const char *val, char *out, size_t len)
{
	if (snprintf(out, len, "%s", val) >= (int)len) {
		fprintf(stderr, "rsvaultd: %s value is too long\n", name);
		return -1;
	}
	return 0;
}

/* Where options come from: the --config file first, then the command line,
 * which overrides it. A list option (--listen, --trusted-proxy) given on
 * the command line replaces the file's list instead of adding to it. */
struct opts {
	struct vault *v;
	struct sandbox *sb;
	int cli;               /* 1 while the command line is applied */
	int cli_listen;        /* the command line has given a --listen already */
	int cli_proxy;         /* ... a --trusted-proxy */
	enum log_format fmt;   /* --log-format */
	char client_ca[2048];  /* --client-ca (mtls.c) */
	char client_crl[2048]; /* --client-crl */
	char mtls_roles[128];  /* --mtls-roles */
};

/* Apply one option (a is "--name", val its value; NULL for --no-seccomp on
 * the command line): the one table of options, for both sources. Returns
 * 0, or -1 after a message on stderr. */
static int set_option(struct opts *o, const char *a, const char *val)
{
	struct vault *v = o->v;
	struct sandbox *sb = o->sb;
	int64_t n;

	if (strcmp(a, "--no-seccomp") == 0) { /* the one option without a value */
		if (val == NULL || strcmp(val, "true") == 0) {
			sb->sb_no_seccomp = 1;
		} else if (strcmp(val, "false") == 0) {
			sb->sb_no_seccomp = 0;
		} else {
			fprintf(stderr, "rsvaultd: no-seccomp wants true or false\n");
			return -1;
		}
		return 0;
	}
	if (val == NULL) {
		fprintf(stderr, "rsvaultd: %s needs a value\n", a);
		return -1;
	}
	{
		if (strcmp(a, "--data") == 0) {
			if (opt_str(a, val, v->data_dir, sizeof v->data_dir))
				return -1;
		} else if (strcmp(a, "--keys") == 0) {
			if (opt_str(a, val, v->keys_dir, sizeof v->keys_dir))
				return -1;
		} else if (strcmp(a, "--listen") == 0) {
			if (o->cli && !o->cli_listen) {
				o->cli_listen = 1;
				v->nlisten = 0; /* the command line's list replaces the file's */
			}
			if (v->nlisten == VAULT_LISTEN_MAX) {
				fprintf(stderr, "rsvaultd: at most %d --listen\n",
				        VAULT_LISTEN_MAX);
				return -1;
			}
			if (opt_str(a, val, v->listens[v->nlisten], sizeof v->listens[0]))
				return -1;
			v->nlisten++;
		} else if (strcmp(a, "--trusted-proxy") == 0) {
			const char *why;
			if (o->cli && !o->cli_proxy) {
				o->cli_proxy = 1;
				v->nproxies = 0;
			}
			if (v->nproxies == PROXY_MAX) {
				fprintf(stderr, "rsvaultd: at most %d --trusted-proxy\n",
				        PROXY_MAX);
				return -1;
			}
			if (proxy_parse_cidr(val, &v->proxies[v->nproxies], &why) != 0) {
				fprintf(stderr, "rsvaultd: --trusted-proxy %s: %s\n", val, why);
				return -1;
			}
			v->nproxies++;
		} else if (strcmp(a, "--log-format") == 0) {
			if (log_parse_format(val, &o->fmt) != 0) {
				fprintf(stderr, "rsvaultd: --log-format wants text or json\n");
				return -1;
			}
		} else if (strcmp(a, "--log-file") == 0) {
			if (opt_str(a, val, v->log_file, sizeof v->log_file))
				return -1;
		} else if (strcmp(a, "--session-max-ttl") == 0) {
			if (opt_i64(a, val, 1, 86400 * 7, &v->session_max_ttl_s))
				return -1;
		} else if (strcmp(a, "--approval-timeout") == 0) {
			if (opt_i64(a, val, 1, 86400 * 7, &v->approval_timeout_s))
				return -1;
		} else if (strcmp(a, "--threads") == 0) {
			if (opt_i64(a, val, 1, 64, &n))
				return -1;
			v->threads = (unsigned)n;
		} else if (strcmp(a, "--max-per-address") == 0) {
			if (opt_i64(a, val, 1, 65535, &n))
				return -1;
			v->max_per_addr = (unsigned)n;
		} else if (strcmp(a, "--map-size") == 0) {
			if (opt_i64(a, val, 1, 1024 * 1024, &n))
				return -1;
			v->mapsize = (size_t)n * 1024 * 1024;
		} else if (strcmp(a, "--client-ca") == 0) {
			if (opt_str(a, val, o->client_ca, sizeof o->client_ca))
				return -1;
		} else if (strcmp(a, "--client-crl") == 0) {
			if (opt_str(a, val, o->client_crl, sizeof o->client_crl))
				return -1;
		} else if (strcmp(a, "--mtls-roles") == 0) {
			if (opt_str(a, val, o->mtls_roles, sizeof o->mtls_roles))
				return -1;
		} else if (strcmp(a, "--public-url") == 0) {
			const char *why;
			if (publicurl_check(val, v->public_url, sizeof v->public_url, &why) != 0) {
				fprintf(stderr, "rsvaultd: --public-url: %s\n", why);
				return -1;
			}
		} else if (strcmp(a, "--backup-dir") == 0) {
			if (opt_str(a, val, v->backup_dir, sizeof v->backup_dir))
				return -1;
		} else if (strcmp(a, "--tls-cert") == 0) {
			if (opt_str(a, val, v->tls_cert, sizeof v->tls_cert))
				return -1;
		} else if (strcmp(a, "--tls-key") == 0) {
			if (opt_str(a, val, v->tls_key, sizeof v->tls_key))
				return -1;
		} else if (strcmp(a, "--webhook-ca") == 0) {
			if (opt_str(a, val, v->webhook_ca, sizeof v->webhook_ca))
				return -1;
		} else if (strcmp(a, "--webhook-outbox-max") == 0) {
			if (opt_i64(a, val, 1, WEBHOOK_OUTBOX_MAX, &v->webhook_outbox_max))
				return -1;
		} else if (strcmp(a, "--unseal-fd") == 0) {
			if (opt_i64(a, val, 0, 65535, &n))
				return -1;
			v->unseal_fd = (int)n;
		} else if (strcmp(a, "--user") == 0) {
			if (opt_str(a, val, sb->sb_user, sizeof sb->sb_user))
				return -1;
		} else if (strcmp(a, "--group") == 0) {
			if (opt_str(a, val, sb->sb_group, sizeof sb->sb_group))
				return -1;
		} else {
			fprintf(stderr, "rsvaultd: unknown option %s\n", a);
			return -1;
		}
	}
	return 0;
}

/* Read --config FILE: "name = value" lines (name as the option without
 * its dashes), blank lines, and lines whose first non-blank is '#'. Each
 * goes through set_option, as a command-line option would. */
static int read_config(struct opts *o, const char *path)
{
	char *buf = NULL, *line, *next;
	struct stat st;
	ssize_t got;
	int fd, rc = -1, lineno = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		fprintf(stderr, "rsvaultd: --config %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX) {
		fprintf(stderr, "rsvaultd: --config %s: not a regular file of at most %d bytes\n",
		        path, CONFIG_MAX);
		goto out;
	}
	/* The file can turn off seccomp, trust proxies and name the keys: only
	 * root and the user starting the server may be able to change it. */
	if (st.st_mode & (S_IWOTH | S_IWGRP)) {
		int other = (st.st_mode & S_IWOTH) != 0;
		fprintf(stderr,
		        "rsvaultd: --config %s is writable by %s (mode %04o): fix: chmod %s %s\n",
		        path, other ? "everyone" : "its group", (unsigned)(st.st_mode & 07777),
		        other ? "go-w" : "g-w", path);
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != getuid()) {
		fprintf(stderr,
		        "rsvaultd: --config %s is owned by uid %u, neither root nor the user "
		        "starting rsvaultd (uid %u): fix: chown root %s\n",
		        path, (unsigned)st.st_uid, (unsigned)getuid(), path);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		goto out;
	if ((got = read(fd, buf, (size_t)st.st_size)) != st.st_size) {
		fprintf(stderr, "rsvaultd: --config %s: short read\n", path);
		goto out;
	}
	buf[got] = '\0';
	if (strlen(buf) != (size_t)got) {
		fprintf(stderr, "rsvaultd: --config %s: contains a NUL byte\n", path);
		goto out;
	}
	for (line = buf; line != NULL; line = next) {
		char opt[80], *eq, *key, *val, *end;
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		if ((eq = strchr(line, '=')) == NULL) {
			fprintf(stderr, "rsvaultd: %s line %d: want \"name = value\"\n", path,
			        lineno);
			goto out;
		}
		key = line;
		for (end = eq; end > key && (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		*end = '\0';
		val = eq + 1;
		while (*val == ' ' || *val == '\t')
			val++;
		if (*key == '\0' || *val == '\0' || strcmp(key, "config") == 0 ||
		    strcmp(key, "help") == 0 || strcmp(key, "version") == 0 || key[0] == '-' ||
		    snprintf(opt, sizeof opt, "--%s", key) >= (int)sizeof opt) {
			fprintf(stderr,
			        "rsvaultd: %s line %d: want \"name = value\" with an option's "
			        "name\n",
			        path, lineno);
			goto out;
		}
		if (set_option(o, opt, val) != 0) {
			fprintf(stderr, "rsvaultd: (in %s line %d)\n", path, lineno);
			goto out;
		}
	}
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

static int parse_args(int argc, char **argv, struct vault *v, struct sandbox *sb)
{
	struct opts o = {.v = v, .sb = sb, .fmt = LOG_TEXT};
	struct stat bst;
	const char *config = NULL;

	/* --help, --version and --config first: the file is read before the
	 * command line is applied over it */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("rsvaultd %s\n", VAULT_VERSION);
			exit(0);
		}
	}
	for (int i = 1; i < argc; i += 2) {
		if (strcmp(argv[i], "--no-seccomp") == 0) {
			i--; /* the loop steps by two */
			continue;
		}
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc || config != NULL) {
				fprintf(stderr, "rsvaultd: --config takes one FILE, once\n");
				return -1;
			}
			config = argv[i + 1];
		}
	}
	if (config != NULL && read_config(&o, config) != 0)
		return -1;
	o.cli = 1;
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--no-seccomp") == 0) {
			if (set_option(&o, a, NULL) != 0)
				return -1;
			i--; /* the loop steps by two */
			continue;
		}
		if (strcmp(a, "--config") == 0)
			continue;
		if (set_option(&o, a, val) != 0)
			return -1;
	}
	if (v->nlisten == 0) {
		snprintf(v->listens[0], sizeof v->listens[0], "%s", DEFAULT_LISTEN);
		v->nlisten = 1;
	}
	snprintf(v->listen, sizeof v->listen, "%s", v->listens[0]);
	log_set_format(o.fmt);
	if (v->data_dir[0] == '\0' || v->keys_dir[0] == '\0') {
		fprintf(stderr, "rsvaultd: --data and --keys are required\n");
		return -1;
	}
	/* anyone who can write there can replace a backup (rsvault-keys
	 * restore refuses such a directory too) */
	if (v->backup_dir[0] != '\0' && stat(v->backup_dir, &bst) == 0 &&
	    (bst.st_mode & (S_IWGRP | S_IWOTH))) {
		fprintf(stderr,
		        "rsvaultd: --backup-dir %s is writable by group or others (mode %04o): "
		        "fix: chmod go-w %s\n",
		        v->backup_dir, (unsigned)(bst.st_mode & 07777), v->backup_dir);
		return -1;
	}
	if ((v->tls_cert[0] == '\0') != (v->tls_key[0] == '\0')) {
		fprintf(stderr, "rsvaultd: --tls-cert and --tls-key go together\n");
		return -1;
	}
	if (mtls_configure(o.client_ca, o.client_crl, o.mtls_roles) != 0)
		return -1;
	return 0;
}

static void harden_process(void)
{
	struct rlimit rl = {0, 0};

	umask(077);
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
}

struct boot {
	const char *path;
	int made;
};

/* A note left by `rsvault-keys admin-token` becomes a system event. */
static int announce_note(struct store_txn *t, const char *action, const char *target,
                         int64_t time_ms, void *arg)
{
	char when[UTIL_TIME_LEN] = "?";

	(void)arg;
	util_format_time(time_ms, when);
	if (strcmp(action, "store.restore") == 0) {
		log_msg("first start after a restore (put in place at %s)", when);
		return backup_restored(t, target);
	}
	if (strcmp(action, "store.admin_token") != 0 && strcmp(action, "account.revoke") != 0)
		return STORE_ERROR; /* not a note the key tool writes */
	log_msg("recording %s %s (made offline at %s)", action, target, when);
	return audit_system_target(t, action, target);
}

/* License keys are compared without regard to case (SPEC 8.6): move the
 * ones an earlier version stored otherwise, or refuse to start when two
 * differ only in case. */
static int fold_license_keys(struct store_txn *t)
{
	char dups[1024];
	int n, rc = license_fold_keys(t, &n, dups, sizeof dups);

	if (rc == LICENSE_DUPLICATES)
		log_msg("license keys are compared without regard to case, and the store holds "
		        "keys that differ only in case: %s. Remove or rename one of each pair with "
		        "an earlier version, then start again",
		        dups);
	else if (rc == STORE_OK && n > 0)
		log_msg("stored %d license(s) under their lower-case key", n);
	return rc;
}

/* Every start, in one write transaction:
 * - first start: create the admin account and write its token, 0600, to
 *   DATA/admin.token. The token expires 24 h after it is written (an
 *   operator makes a new one with `rsvault-keys admin-token`). The file is
 *   made with O_EXCL first, so an existing token is never overwritten; it
 *   is removed again if the commit fails. The event account.create names
 *   admin#{token id}, so every later admin event's token traces back to it;
 * - give licenses stored by an earlier version their ids;
 * - record the events of admin tokens made offline since the last start. */
static int boot_op(struct store_txn *t, void *arg)
{
	struct boot *b = arg;
	char tok[CRYPTO_TOKEN_STR_MAX + 1], tid[CRYPTO_TOKEN_ID_LEN], target[96];
	const void *v;
	size_t vl;
	int rc, n;

	if (store_get(t, DB_META, "bootstrapped", 12, &v, &vl) == STORE_OK)
		goto migrate;
	if ((rc = api_bootstrap_admin(t, util_now_ms(), tok, sizeof tok, tid)) != STORE_OK)
		goto out;
	if ((rc = store_put(t, DB_META, "bootstrapped", 12, "1", 1, 0)) != STORE_OK)
		goto out;
	snprintf(target, sizeof target, "admin#%s", tid);
	if ((rc = audit_system_target(t, "account.create", target)) != STORE_OK)
		goto out;
	strcat(tok, "\n");
	if (keyfile_write_new(b->path, tok, strlen(tok), 0600) != 0) {
		log_msg("cannot write %s: %s", b->path, strerror(errno));
		rc = STORE_ERROR;
		goto out;
	}
	b->made = 1;
migrate:
	if ((rc = fold_license_keys(t)) != STORE_OK)
		goto out;
	if ((rc = license_migrate_ids(t, &n)) != STORE_OK)
		goto out;
	if (n > 0)
		log_msg("gave %d license(s) of an earlier version an id", n);
	rc = tokens_notes_take(t, announce_note, NULL);
out:
	sodium_memzero(tok, sizeof tok);
	return rc;
}

static int bootstrap(struct vault *v)
{
	char path[2100];
	struct boot b = {.path = path};
	int rc;

	if (snprintf(path, sizeof path, "%s/admin.token", v->data_dir) >= (int)sizeof path)
		return -1;
	rc = store_write(v->store, boot_op, &b);
	if (rc != STORE_OK) {
		if (b.made)
			unlink(path);
		log_msg("cannot start the store (admin account, migration or start-up events)");
		return -1;
	}
	if (b.made)
		log_msg("first start: admin token written to %s (valid for 24 h)", path);
	return 0;
}

#ifdef RSVAULT_TESTING
static void test_overrides(struct vault *v)
{
	const char *s;
	int64_t n;

	if ((s = getenv("RSVAULT_TEST_QUEUE_TIMEOUT_MS")) && util_parse_i64(s, 1, 600000, &n) == 0)
		v->queue_timeout_ms = (int)n;
	if ((s = getenv("RSVAULT_TEST_CHECKPOINT_MS")) && util_parse_i64(s, 0, 3600000, &n) == 0)
		v->checkpoint_ms = n;
	if ((s = getenv("RSVAULT_TEST_FAIL_WINDOW_MS")) && util_parse_i64(s, 1, 600000, &n) == 0)
		authz_fail_window_ms = n;
	if ((s = getenv("RSVAULT_TEST_ANON_RATE")) && util_parse_i64(s, 1, 100000, &n) == 0)
		authz_anon_rate = n;
	if ((s = getenv("RSVAULT_TEST_ANON_BURST")) && util_parse_i64(s, 1, 100000, &n) == 0)
		authz_anon_burst = n;
	if ((s = getenv("RSVAULT_TEST_WEBHOOK_WINDOW_MS")) &&
	    util_parse_i64(s, 1, WEBHOOK_WINDOW_MS, &n) == 0)
		webhook_window_ms = n;
	if ((s = getenv("RSVAULT_TEST_LIST_DELAY_MS")) && util_parse_i64(s, 1, 60000, &n) == 0)
		authz_test_listing_delay_ms = n;
	audit_test_fault_dir(v->data_dir);
}
#endif

/* SIGHUP (SPEC 8.5): everything that is reloaded, in this one place, in
 * this order. Each step reads its files by path with the rights the server
 * has now (after --user, that user's: what it reads must be readable by
 * it), logs its own outcome, and on failure keeps what it had; the server
 * never stops here. */
static void reload(struct vault *v, struct http *h)
{
	int failed = 0;

	log_msg("SIGHUP: reloading");
	if (v->log_file[0] != '\0') {
		if (log_open(v->log_file) != 0) {
			failed = 1;
			log_msg(
			    "reload: cannot reopen the log file %s: %s; still writing to the old "
			    "one",
			    v->log_file, strerror(errno));
		} else {
			log_msg("reload: log file %s reopened", v->log_file);
		}
	}
	if (http_reload_tls(h) != 0)
		failed = 1;
	/* The client CA and CRL of mTLS reload here too, with the same rule
	 * (a bad file keeps the ones in use and says why). */
	if (mtls_enabled() && mtls_reload() != 0)
		failed = 1;
	log_msg("SIGHUP: reload %s; still running",
	        failed ? "incomplete (see above): what failed kept its old state" : "done");
}

/* Wait for a signal: SIGHUP reloads, SIGINT and SIGTERM end the wait. */
static void wait_for_stop(const sigset_t *set, struct vault *v, struct http *h)
{
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			return;
		if (sig != SIGHUP) {
			log_msg("signal %d: shutting down", sig);
			return;
		}
		reload(v, h);
	}
}

/* The base of link and receipt URLs: --public-url, or with every
 * listening address on loopback, the first one's. */
static int resolve_public_url(struct vault *v, struct http *h)
{
	char first[sizeof v->public_url] = "", one[sizeof v->public_url], spec[128];
	const char *shown;
	uint16_t port;

	for (unsigned i = 0; i < http_listeners(h); i++) {
		http_listener(h, i, &shown, &port);
		snprintf(spec, sizeof spec, "%s:%u", shown, (unsigned)port);
		if (publicurl_resolve(v->public_url, spec, port, one, sizeof one) != 0)
			return -1;
		if (one[0] == '\0') { /* beyond loopback, and no --public-url */
			v->public_url[0] = '\0';
			return 0;
		}
		if (i == 0)
			snprintf(first, sizeof first, "%s", one);
	}
	snprintf(v->public_url, sizeof v->public_url, "%s", first);
	return 0;
}

int main(int argc, char **argv)
{
	struct vault v = {
	    .listen = DEFAULT_LISTEN,
	    .session_max_ttl_s = DEFAULT_SESSION_MAX_TTL,
	    .approval_timeout_s = DEFAULT_APPROVAL_TIMEOUT,
	    .threads = DEFAULT_THREADS,
	    .mapsize = (size_t)DEFAULT_MAP_MB * 1024 * 1024,
	    .queue_timeout_ms = DEFAULT_QUEUE_TIMEOUT_MS,
	    .checkpoint_ms = DEFAULT_CHECKPOINT_MS,
	    .run_uid = -1,
	    .webhook_outbox_max = WEBHOOK_OUTBOX_DEFAULT,
	    .unseal_fd = -1,
	};
	struct sandbox sb = {.sb_user = ""};
	struct http *h = NULL;
	sigset_t set;
	uint16_t port;
	const char *shown;
	dev_t map_dev = 0;
	ino_t map_ino = 0;
	int created, have_map, status = 1, sealed, sig = 0;
	struct unseal_src us = {.fd = -1};

	harden_process();
	/* Block the stop signals (and SIGHUP, whose default would stop us
	 * too) before any thread exists: every thread (the store's writer,
	 * libmicrohttpd's pool) inherits the mask, and only main takes them,
	 * in sigwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (parse_args(argc, argv, &v, &sb) != 0) {
		usage(stderr);
		return 1;
	}
	if (sandbox_init(&sb) != 0)
		return 1;
	if (sb.sb_switch) /* a TLS key it rereads on SIGHUP may be that user's */
		v.run_uid = (long)sb.sb_uid;
	if (sodium_init() < 0) {
		fprintf(stderr, "rsvaultd: libsodium failed to initialise\n");
		return 1;
	}
	json_set_alloc_funcs(wipe_malloc, wipe_free); /* JSON that held a secret is wiped */
#ifdef RSVAULT_TESTING
	test_overrides(&v);
#endif
	/* With the start-up privileges: read the keys, bind the port. */
	if (crypto_init(v.keys_dir) != 0)
		return 1;
	/* the --webhook-ca file while it can be read (libcurl: webhooks_start) */
	if (webhooks_init(v.webhook_ca, v.webhook_outbox_max) != 0)
		goto out;
	if (auditkeys_load(v.keys_dir) != 0 || mtls_load() != 0)
		goto out;
	/* Sealed: what unsealing needs is opened now, before the sandbox. */
	if ((sealed = crypto_sealed()) != 0 && unseal_prepare(v.unseal_fd, &us) != 0)
		goto out;
	sb.sb_tty_fd = unseal_tty_fd(&us);
	if (http_prepare(&v, &h) != 0)
		goto out;
	/* Then give them up, before any thread exists. */
	if (sandbox_drop(&sb) != 0 || sandbox_check_data_dir(&sb, v.data_dir) != 0)
		goto out;
	/* The log file as the user the server runs as, who reopens it on
	 * SIGHUP. */
	if (v.log_file[0] != '\0') {
		if (log_open(v.log_file) != 0) {
			log_msg("cannot open the log file %s: %s", v.log_file, strerror(errno));
			goto out;
		}
		log_msg("rsvaultd %s starting; logging to %s", VAULT_VERSION, v.log_file);
	}
	if (store_open(v.data_dir, v.mapsize, v.queue_timeout_ms, &v.store, &created) != 0) {
		log_msg("cannot open the store in %s", v.data_dir);
		goto out;
	}
	if (auditkeys_announce(v.store) != 0) /* before any other event */
		goto out;
	/* Every step that depends on the configuration runs before the
	 * first start's admin token is written (bootstrap): a start that
	 * fails leaves no token behind. Until http_ready, requests that
	 * reach the store are answered 503. */
	if (http_start(&v, &h, &port) != 0)
		goto out;
	/* the base of link and receipt URLs, now that the ports are known */
	if (resolve_public_url(&v, h) != 0)
		goto out;
	if (v.public_url[0] == '\0')
		log_msg("no --public-url and a listen address beyond loopback: making links is "
		        "refused until one is set");
	else
		log_msg("links and receipts point to %s", v.public_url);
	/* Every thread and library is up: lock memory, then the filter. */
	have_map = store_map_file(v.store, &map_dev, &map_ino) == STORE_OK;
	sandbox_lock_memory(have_map, map_dev, map_ino);
	/* bootstrap writes files (the token) with calls the filter refuses
	 * (a sealed server's runs later: sandbox.c allows it those calls) */
	if (!sealed && (bootstrap(&v) != 0 || rewrap_start(&v) != 0))
		goto out;
	if (!sealed)
		store_set_tick(v.store, dispatch_tick, &v);
	/* the delivery thread (and libcurl if a webhook exists), before the filter
	 * (while sealed it waits: the signing secrets need the master key) */
	if (webhooks_start(v.store) != 0)
		goto out;
#ifdef RSVAULT_TESTING
	{
		/* test builds: hold the start here, listeners up and the filter
		 * not yet on (test_privileges.py: nothing is served meanwhile) */
		const char *d = getenv("RSVAULT_TEST_SANDBOX_DELAY_MS");
		if (d != NULL && atoi(d) > 0)
			usleep((useconds_t)atoi(d) * 1000);
	}
#endif
	if (sandbox_seccomp(&sb) != 0)
		goto out;
	http_ready(h);
	for (unsigned i = 0; i < http_listeners(h); i++) {
		http_listener(h, i, &shown, &port);
		log_msg("rsvaultd %s listening on https://%s:%u", VAULT_VERSION, shown,
		        (unsigned)port);
	}
	if (sealed) {
		/* Until unsealed, every route answers 503 (http.c). */
		log_msg("the master keys are sealed: serving only /v1/health (503 sealed) until "
		        "unsealed from the %s",
		        us.what);
		switch (unseal_run(&us, &set, &sig)) {
		case 1:
			unseal_done(&us);
			if (bootstrap(&v) != 0 || rewrap_start(&v) != 0)
				goto out;
			store_set_tick(v.store, dispatch_tick, &v);
			crypto_seal_open(); /* now requests may come in */
			log_msg("unsealed: master-key version %u is current; serving",
			        (unsigned)crypto_mk_current());
			break;
		case -1:
			log_msg("signal %d: shutting down (still sealed)", sig);
			status = 0;
			goto out;
		default:
			unseal_done(&us);
			log_msg("the unseal input ended and the keys are STILL SEALED; every route "
			        "answers 503 until the server is restarted with the right input");
			break;
		}
	}
	wait_for_stop(&set, &v, h);
	status = 0;
out:
	unseal_done(&us);
	http_stop(h);
	webhooks_stop(); /* before the store it reads */
	rewrap_stop();
	authz_shutdown(v.store); /* pending rate-limited periods, before the store closes */
	store_close(v.store);
	auditkeys_shutdown();
	mtls_shutdown();
	crypto_shutdown();
	return status;
}

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
#include "authz.h"
#include "crypto.h"
#include "dispatch.h"
#include "http.h"
#include "keyfile.h"
#include "license.h"
#include "log.h"
#include "publicurl.h"
#include "sandbox.h"
#include "store.h"
#include "tokens.h"
#include "util.h"
#include "vault.h"
#include "webhooks.h"
#include "wipe.h"

#define DEFAULT_LISTEN "127.0.0.1:8443"
#define DEFAULT_THREADS 4
#define DEFAULT_SESSION_MAX_TTL 14400
#define DEFAULT_MAP_MB 4096
#define DEFAULT_QUEUE_TIMEOUT_MS 5000
#define DEFAULT_CHECKPOINT_MS 60000

#ifdef RSVAULT_TESTING
void audit_test_fault_dir(const char *dir);
#endif

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: rsvaultd --data DIR --keys DIR [--listen ADDR:PORT]\n"
	        "                [--session-max-ttl S] [--threads N] [--map-size MIB]\n"
	        "                [--max-per-address N] [--user NAME [--group NAME]]\n"
	        "                [--public-url URL] [--tls-cert FILE --tls-key FILE]\n"
	        "                [--webhook-ca FILE] [--webhook-outbox-max N]\n"
	        "                [--no-seccomp]\n"
	        "\n"
	        "  --data DIR             LMDB store and admin.token (made 0700 if missing)\n"
	        "  --keys DIR             master.key, audit.key, server.pem, server.key\n"
	        "  --listen ADDR:PORT     HTTPS listener (default " DEFAULT_LISTEN ")\n"
	        "  --session-max-ttl S    longest session in seconds (default 14400)\n"
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
	        "  --webhook-ca FILE      trust only the CA certificates in FILE (PEM) for\n"
	        "                         webhook receivers (default: the system's CAs)\n"
	        "  --webhook-outbox-max N undelivered and recent webhook deliveries kept at\n"
	        "                         most (default 10000; docs/webhooks.md)\n"
	        "  --no-seccomp           do not install the system-call filter (debugging only)\n"
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

static int parse_args(int argc, char **argv, struct vault *v, struct sandbox *sb)
{
	int64_t n;

	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--no-seccomp") == 0) { /* the one option without a value */
			sb->sb_no_seccomp = 1;
			i--; /* the loop steps by two */
			continue;
		}
		if (val == NULL) {
			fprintf(stderr, "rsvaultd: %s needs a value\n", a);
			return -1;
		}
		if (strcmp(a, "--data") == 0) {
			if (opt_str(a, val, v->data_dir, sizeof v->data_dir))
				return -1;
		} else if (strcmp(a, "--keys") == 0) {
			if (opt_str(a, val, v->keys_dir, sizeof v->keys_dir))
				return -1;
		} else if (strcmp(a, "--listen") == 0) {
			if (opt_str(a, val, v->listen, sizeof v->listen))
				return -1;
		} else if (strcmp(a, "--session-max-ttl") == 0) {
			if (opt_i64(a, val, 1, 86400 * 7, &v->session_max_ttl_s))
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
		} else if (strcmp(a, "--public-url") == 0) {
			const char *why;
			if (publicurl_check(val, v->public_url, sizeof v->public_url, &why) != 0) {
				fprintf(stderr, "rsvaultd: --public-url: %s\n", why);
				return -1;
			}
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
	if (v->data_dir[0] == '\0' || v->keys_dir[0] == '\0') {
		fprintf(stderr, "rsvaultd: --data and --keys are required\n");
		return -1;
	}
	if ((v->tls_cert[0] == '\0') != (v->tls_key[0] == '\0')) {
		fprintf(stderr, "rsvaultd: --tls-cert and --tls-key go together\n");
		return -1;
	}
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
	if (strcmp(action, "store.admin_token") != 0 && strcmp(action, "account.revoke") != 0)
		return STORE_ERROR; /* not a note the key tool writes */
	util_format_time(time_ms, when);
	log_msg("recording %s %s (made offline at %s)", action, target, when);
	return audit_system_target(t, action, target);
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
	audit_test_fault_dir(v->data_dir);
}
#endif

/* Wait for a signal: SIGHUP is logged and waited past (a later version
 * reloads on it), SIGINT and SIGTERM end the wait. */
static void wait_for_stop(const sigset_t *set)
{
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			return;
		if (sig != SIGHUP) {
			log_msg("signal %d: shutting down", sig);
			return;
		}
		log_msg("SIGHUP: nothing to reload yet; still running");
	}
}

int main(int argc, char **argv)
{
	struct vault v = {
	    .listen = DEFAULT_LISTEN,
	    .session_max_ttl_s = DEFAULT_SESSION_MAX_TTL,
	    .threads = DEFAULT_THREADS,
	    .mapsize = (size_t)DEFAULT_MAP_MB * 1024 * 1024,
	    .queue_timeout_ms = DEFAULT_QUEUE_TIMEOUT_MS,
	    .checkpoint_ms = DEFAULT_CHECKPOINT_MS,
	    .webhook_outbox_max = WEBHOOK_OUTBOX_DEFAULT,
	};
	struct sandbox sb = {.sb_user = ""};
	struct http *h = NULL;
	sigset_t set;
	uint16_t port;
	dev_t map_dev = 0;
	ino_t map_ino = 0;
	int created, have_map, status = 1;

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
	/* libcurl before any thread; the --webhook-ca file while it can be read */
	if (webhooks_init(v.webhook_ca, v.webhook_outbox_max) != 0)
		goto out;
	if (http_prepare(&v, &h) != 0)
		goto out;
	/* Then give them up, before any thread exists. */
	if (sandbox_drop(&sb) != 0 || sandbox_check_data_dir(&sb, v.data_dir) != 0)
		goto out;
	if (store_open(v.data_dir, v.mapsize, v.queue_timeout_ms, &v.store, &created) != 0) {
		log_msg("cannot open the store in %s", v.data_dir);
		goto out;
	}
	if (bootstrap(&v) != 0)
		goto out;
	store_set_tick(v.store, dispatch_tick, &v);
	if (webhooks_start(v.store) != 0)
		goto out;

	if (http_start(&v, &h, &port) != 0)
		goto out;
	/* the base of link and receipt URLs, now that the port is known */
	if (publicurl_resolve(v.public_url, v.listen, port, v.public_url, sizeof v.public_url) != 0)
		goto out;
	if (v.public_url[0] == '\0')
		log_msg("no --public-url and a listen address beyond loopback: making links is "
		        "refused until one is set");
	else
		log_msg("links and receipts point to %s", v.public_url);
	/* Every thread and library is up: lock memory, then the filter. */
	have_map = store_map_file(v.store, &map_dev, &map_ino) == STORE_OK;
	sandbox_lock_memory(have_map, map_dev, map_ino);
	if (sandbox_seccomp(&sb) != 0)
		goto out;
	{
		char host[128];
		snprintf(host, sizeof host, "%s", v.listen);
		char *colon = strrchr(host, ':');
		if (colon)
			*colon = '\0';
		log_msg("rsvaultd %s listening on https://%s:%u", VAULT_VERSION, host,
		        (unsigned)port);
	}
	wait_for_stop(&set);
	status = 0;
out:
	http_stop(h);
	webhooks_stop();         /* before the store it reads */
	authz_shutdown(v.store); /* pending rate-limited periods, before the store closes */
	store_close(v.store);
	crypto_shutdown();
	return status;
}

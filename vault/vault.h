/* vault.h - the server's configuration and shared state. */
#ifndef RSVAULT_VAULT_H
#define RSVAULT_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include "proxy.h"
#include "store.h"
#include "version.h"

#define VAULT_VERSION RSVAULT_VERSION

#define VAULT_LISTEN_MAX 16 /* --listen addresses */

struct vault {
	char data_dir[2048];
	char keys_dir[2048];
	char listen[128]; /* the first --listen (the base of the default public URL) */
	/* every --listen, listens[0] == listen; a host name is every address
	 * it resolves to at start-up */
	char listens[VAULT_LISTEN_MAX][128];
	unsigned nlisten;
	/* --trusted-proxy ranges (SPEC 8.5, proxy.h) */
	struct proxy_cidr proxies[PROXY_MAX];
	unsigned nproxies;
	/* the --user a server started as root switches to, -1 for none: the
	 * TLS key may belong to it (it is read again as that user on SIGHUP) */
	long run_uid;
	/* --log-file: "" for stderr; reopened on SIGHUP */
	char log_file[2048];
	/* Where customers reach this server: the base of link and receipt
	 * URLs (SPEC 8.2). "" when none is set and a listen address is not
	 * loopback: then making a link is refused (409). */
	char public_url[512];
	char tls_cert[2048]; /* --tls-cert / --tls-key: "" for the key directory's */
	char tls_key[2048];
	int64_t session_max_ttl_s;
	int64_t approval_timeout_s; /* a pending session expires after this (SPEC 8.3) */
	unsigned threads;
	unsigned max_per_addr; /* connections at once per address group; 0: default */
	size_t mapsize;
	int queue_timeout_ms;
	int64_t checkpoint_ms; /* sign a checkpoint when the oldest unsigned event is this old */
	int unseal_fd;         /* --unseal-fd (sealed master keys, SPEC 8.4); -1: none */
	/* --backup-dir: where POST /v1/admin/backup writes; "" none */
	char backup_dir[2048];

	/* webhooks (webhooks.c) */
	char webhook_ca[2048];      /* --webhook-ca: "" for the system's CAs */
	int64_t webhook_outbox_max; /* --webhook-outbox-max */
	struct store *store;
};

#endif

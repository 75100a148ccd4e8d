/* http.h - libmicrohttpd glue: TLS-only daemons (one per listening
 * address), per-request context, bounded body reading, JSON responses with
 * the SPEC's headers, one log line per request, and the certificate that
 * SIGHUP reloads. */
#ifndef RSVAULT_HTTP_H
#define RSVAULT_HTTP_H

#include <stdint.h>

#include "vault.h"

struct http;

/* What needs the start-up privileges, before they are dropped and before
 * any thread exists: read and check the TLS certificate and key (from
 * --tls-cert/--tls-key or v->keys_dir; the key with keyfile_open_secret's
 * checks; it must parse, match the certificate and be valid now), then
 * resolve, bind and listen on every v->listens[] (a host name on every
 * address it resolves to; a port in use is said so). Sets *out (NULL on
 * failure). Returns 0 or -1 (logged). */
int http_prepare(struct vault *v, struct http **out);

/* Start the HTTPS daemons' threads on the sockets of http_prepare (*out
 * from it; if *out is NULL, http_prepare runs first). Writes the first
 * listener's bound port into *port. Until http_ready, every request that
 * would reach the store is answered 503 (health and pages are served).
 * Returns 0, or -1 (logged; *out freed and set to NULL). */
int http_start(struct vault *v, struct http **out, uint16_t *port);

/* Start-up is complete (the store bootstrapped): serve every route. */
void http_ready(struct http *h);

/* The listening sockets: how many, and each one's address as shown in
 * URLs ("127.0.0.1", "[::1]") and bound port. */
unsigned http_listeners(const struct http *h);
void http_listener(const struct http *h, unsigned i, const char **shown, uint16_t *port);

/* SIGHUP: read the certificate and key again, by path, with the rights the
 * server has now (after --user: that user's), check them as http_prepare
 * does and put them in use for new handshakes. On any failure the current
 * certificate stays and the reason is logged. Returns 0 or -1. */
int http_reload_tls(struct http *h);

/* Stop accepting, finish and close connections, free. */
void http_stop(struct http *h);

#endif

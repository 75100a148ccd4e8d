/* http.h - libmicrohttpd glue: TLS-only daemon, per-request context,
 * bounded body reading, JSON responses with the SPEC's headers, and one log
 * line per request. */
#ifndef RSVAULT_HTTP_H
#define RSVAULT_HTTP_H

#include <stdint.h>

#include "vault.h"

struct http;

/* What needs the start-up privileges, before they are dropped and before
 * any thread exists: read server.pem and server.key from v->keys_dir (the
 * key with keyfile_open_secret's checks) and bind and listen on v->listen.
 * Sets *out (NULL on failure). Returns 0 or -1 (logged). */
int http_prepare(struct vault *v, struct http **out);

/* Start the HTTPS daemon's threads on the socket of http_prepare (*out
 * from it; if *out is NULL, http_prepare runs first). Writes the bound port
 * into *port. Returns 0, or -1 (logged; *out freed and set to NULL). */
int http_start(struct vault *v, struct http **out, uint16_t *port);

/* Stop accepting, finish and close connections, free. */
void http_stop(struct http *h);

#endif

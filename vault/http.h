/* http.h - libmicrohttpd glue: TLS-only daemon, per-request context,
 * bounded body reading, JSON responses with the SPEC's headers, and one log
 * line per request. */
#ifndef RSVAULT_HTTP_H
#define RSVAULT_HTTP_H

#include <stdint.h>

#include "vault.h"

struct http;

/* Start the HTTPS daemon on v->listen with keys from v->keys_dir. Writes
 * the bound port into *port. Returns 0 or -1 (logged). */
int http_start(struct vault *v, struct http **out, uint16_t *port);

/* Stop accepting, finish and close connections, free. */
void http_stop(struct http *h);

#endif

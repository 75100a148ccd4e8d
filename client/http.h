/* http.h - the client's only road to the vault: HTTPS through libcurl,
 * trusting exactly one CA file, never a proxy, never a redirect; and the
 * JSON layer above it that turns a response into an exit status.
 *
 * Every call here blocks for at most the connect (10 s) and total (60 s)
 * timeouts. Response bodies live in wiping memory and are zeroed when
 * freed, since some of them carry a secret or a token. */
#ifndef RSVAULT_CLIENT_HTTP_H
#define RSVAULT_CLIENT_HTTP_H

#include <stddef.h>

#include <jansson.h>

#include "cli.h"

#define CLI_BODY_MAX (16UL * 1024 * 1024) /* largest response body accepted */
#define CLI_ADDR_MAX 512                  /* longest vault address */
#define CLI_CACERT_MAX 4096               /* longest CA file path */
#define CLI_CONNECT_TIMEOUT_S 10L
#define CLI_TOTAL_TIMEOUT_S 60L
#define CLI_REQUEST_ID_MAX 80

struct cli_http_conf {
	const char *addr;   /* vault address; must pass cli_http_check_addr */
	const char *cacert; /* the one CA file to trust */
	const char *token;  /* bearer token, or NULL to send none */
	const char *cert;   /* client certificate file (PEM), or NULL */
	const char *key;    /* its private key file (PEM), with cert */
};

/* Check a vault address: it must start with https://, name a host, hold no
 * user info, space or control character, and fit CLI_ADDR_MAX. On success
 * copies it without trailing '/' into base (CLI_ADDR_MAX bytes) and
 * returns 0; otherwise writes the reason into msg and returns -1. Pure: no
 * network. */
int cli_http_check_addr(const char *addr, char base[CLI_ADDR_MAX], char *msg, size_t msgsz);

/* Once per process, before any other libcurl call: drops SSLKEYLOGFILE
 * from the environment and initialises OpenSSL's and libcurl's allocators
 * to the wiping one, then libcurl.
 * Returns 0 or -1 (message printed). */
int cli_http_global_init(void);
void cli_http_global_cleanup(void);

/* Make a connection handle for conf (nothing is sent yet). The address is
 * checked again here. Returns 0 with *out set, or -1 (message printed).
 * The handle owns copies of everything in conf. */
int cli_http_open(const struct cli_http_conf *conf, struct cli_http **out);

/* Close the handle and wipe its copy of the token. NULL is fine. */
void cli_http_close(struct cli_http *h);

/* Percent-encode s for a path segment or a query value. Returns a string
 * to release with cli_http_free_str, or NULL on allocation failure. */
char *cli_http_escape(struct cli_http *h, const char *s);
void cli_http_free_str(char *s);

/* A response. body and json are wiped when freed. */
struct cli_resp {
	long status;
	char *body;   /* NUL-terminated, or NULL if the body was empty */
	size_t len;   /* bytes in body */
	json_t *json; /* the parsed body of a 2xx answer, NULL if it had none */
	char request_id[CLI_REQUEST_ID_MAX];
};

/* One API call: METHOD base+path, with req serialised as the JSON body
 * (NULL: no body and no Content-Type) and session as X-Session-Id (NULL:
 * none). Returns CLI_OK for a 2xx answer whose body is empty or a JSON
 * object (then in r->json). Otherwise prints one message to stderr
 * ("rsvault: CODE: MESSAGE" for an error body) and returns the exit
 * status: CLI_UNAUTH for 401, CLI_FORBIDDEN for 403, CLI_NOTFOUND for
 * 404, CLI_ERR for anything else, including transport errors and
 * malformed answers. Always release r with cli_resp_free. Never prints a
 * response body. */
int cli_api(struct cli_ctx *c, const char *method, const char *path, json_t *req,
            const char *session, struct cli_resp *r);

void cli_resp_free(struct cli_resp *r);

#endif

/* config.h - where the client finds the vault, the CA to trust and its
 * token: command-line flags first, then the environment, then defaults.
 *
 *   address  --addr, RSVAULT_ADDR, else https://127.0.0.1:8443
 *   CA file  --cacert, RSVAULT_CACERT, else the per-user file
 *   client certificate and key (staff, SPEC 8.4)  --cert/--key, else
 *            RSVAULT_CERT/RSVAULT_KEY; both or neither
 *            $XDG_CONFIG_HOME/rsvault/ca.pem (an absolute XDG_CONFIG_HOME)
 *            or ~/.config/rsvault/ca.pem, refused unless it and its
 *            directory belong to the user (or root) and are not writable
 *            by group or others; never the system store, never a file
 *            found relative to the current directory
 *   token    --token-file (first line), RSVAULT_TOKEN, the file
 *            RSVAULT_TOKEN_FILE names, else the per-user file
 *            $XDG_CONFIG_HOME/rsvault/token or ~/.config/rsvault/token
 *            when it exists (what `rsvault login` writes) */
#ifndef RSVAULT_CLIENT_CONFIG_H
#define RSVAULT_CLIENT_CONFIG_H

#include "cli.h"
#include "http.h"

#define CLI_DEFAULT_ADDR "https://127.0.0.1:8443"
#define CLI_USER_CACERT "rsvault/ca.pem" /* under the user's configuration directory */
#define CLI_TOKEN_MAX 512                /* longest token accepted */
#define CLI_TOKEN_FILE_MAX 4096          /* largest token file read */

struct cli_conf {
	char addr[CLI_ADDR_MAX];
	char cacert[CLI_CACERT_MAX];
	char cert[CLI_CACERT_MAX]; /* client certificate, "" for none */
	char key[CLI_CACERT_MAX];  /* its key */
	char token[CLI_TOKEN_MAX + 1];
	int have_token;
};

/* Resolve address, CA file and token for c. The address is checked
 * (https:// only) before anything else, so a refused address never gets a
 * connection. Returns CLI_OK, or prints why and returns CLI_ERR (bad
 * address, no CA file or an unsafe per-user one, unreadable or malformed
 * token file) or CLI_UNAUTH
 * (no token at all). Reads files; does not touch the network. */
int cli_conf_load(const struct cli_ctx *c, struct cli_conf *conf);

/* Read a token file: its first line without the line end, at most
 * CLI_TOKEN_MAX bytes of printable ASCII, file at most CLI_TOKEN_FILE_MAX
 * bytes. Warns if the file is readable by group or others. Returns 0 or
 * -1 (message printed). The read buffer is wiped. */
int cli_read_token_file(const char *path, char token[CLI_TOKEN_MAX + 1]);

/* Open c->http if it is not open yet: resolve the configuration (above),
 * initialise libcurl, make the handle, wipe the local copy of the token.
 * Called by cli_api before the first request; a handler calls it itself
 * when it must fail early (before prompting for a secret, before creating
 * an output file). Returns an exit status (message printed). No network
 * traffic happens here. */
int cli_connect(struct cli_ctx *c);

/* Close c->http and clean up libcurl if cli_connect set it up. */
void cli_disconnect(struct cli_ctx *c);

/* Where the token file is: RSVAULT_TOKEN_FILE (*from_env 1), else the
 * per-user file beside the per-user CA file. Returns 0 or -1. */
int cli_token_path(char *out, size_t n, int *from_env);

/* `rsvault login`: read a token (no-echo prompt or standard input) and
 * write it to cli_token_path (0600, parents made 0700, replaced by
 * rename). Returns an exit status. */
int cli_cmd_login(struct cli_ctx *c);

/* Wipe the token. */
void cli_conf_wipe(struct cli_conf *conf);

#endif

/* cli.h - the parsed command line, the command table's shape, exit
 * statuses and small helpers shared by the modules of the rsvault client.
 *
 * Every external name of the client starts with "cli_": the client's
 * objects are linked together with the server's and the key tool's into
 * the unit tests, so the prefix keeps the names apart. */
#ifndef RSVAULT_CLI_H
#define RSVAULT_CLI_H

#include "version.h"

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>

#define CLI_VERSION RSVAULT_VERSION

/* Limits of the command line. */
#define CLI_MAX_ARGS 4    /* positional arguments after VERB SUB */
#define CLI_MAX_OPTS 8    /* options of one command */
#define CLI_PATH_MAX 4096 /* an API path with its query */

/* Exit statuses (SPEC section 7). */
enum cli_exit {
	CLI_OK = 0,
	CLI_ERR = 1,       /* usage, TLS, network, other server errors */
	CLI_UNAUTH = 2,    /* 401 unauthenticated */
	CLI_FORBIDDEN = 3, /* 403 */
	CLI_NOTFOUND = 4,  /* 404 */
};

/* One option of a command. arg is the value's name in the usage text, or
 * NULL for a flag. */
struct cli_opt {
	const char *name;
	const char *arg;
	int required; /* 0, 1, or CLI_OPT_REPEAT */
	const char *help;
};
/* An optional option that may be given more than once: cli_opt then
 * returns every value given, joined with ','. */
#define CLI_OPT_REPEAT 2

struct cli_ctx;
struct cli_http;

/* One command: VERB [SUB] with its arity, options, handler and help. */
struct cli_cmd {
	const char *verb;
	const char *sub;  /* NULL for a verb without sub-commands (me) */
	const char *args; /* positional arguments for the usage line */
	int min_args;
	int max_args;
	const struct cli_opt *opts; /* ends with a NULL name */
	int (*run)(struct cli_ctx *c);
	const char *summary;
	const char *example;
};

/* The parsed command line. Strings point into argv. */
struct cli_ctx {
	const struct cli_cmd *cmd;
	int json;               /* --json */
	const char *addr;       /* --addr */
	const char *cacert;     /* --cacert */
	const char *token_file; /* --token-file */
	const char *cert;       /* --cert: client certificate (PEM) */
	const char *key;        /* --key: its private key (PEM) */
	int nargs;
	const char *args[CLI_MAX_ARGS];
	const char *optv[CLI_MAX_OPTS]; /* by index into cmd->opts; "" for a set flag */
	struct cli_http *http;          /* connection, opened by cli_connect */
	int curl_up;                    /* libcurl initialised */
};

/* Value of option name of the current command, or NULL if not given.
 * A flag that was given has the value "". */
const char *cli_opt(const struct cli_ctx *c, const char *name);

/* Print "rsvault: MESSAGE" to stderr. The first message is also kept for
 * --json (cli_err_json). */
void cli_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "rsvault: MESSAGE" to stderr: a warning that is not the run's
 * error (never kept for --json). */
void cli_notex(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --json errors (SPEC 8.6). cli_warnx and cli_usage keep the first message
 * of a run with a code: "usage" for cli_usage, the code set by cli_err_code
 * before the cli_warnx (e.g. "connection", "tls"), or "client". The
 * message is what standard error says, never a token or a secret.
 * cli_err_printed notes that the vault's own error object is already on
 * standard output. cli_err_json prints {"error":{"code","message"}} on
 * standard output unless that happened or nothing was kept. */
void cli_err_code(const char *code);
void cli_err_keepv(const char *code, const char *fmt, va_list ap);
void cli_err_printed(void);
void cli_err_json(void);

/* Print "rsvault: MESSAGE", the command's usage line and a hint to stderr.
 * Returns CLI_ERR, for `return cli_usage(c, ...)`. */
int cli_usage(const struct cli_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print the usage line "usage: rsvault VERB SUB ARGS [OPTIONS]" of cmd. */
void cli_print_synopsis(FILE *fp, const struct cli_cmd *cmd, const char *lead);

/* A server-made id (ticket, credential, session): base64url, 1..64
 * characters. Returns 1 if valid. */
int cli_valid_server_id(const char *s);

/* Check a server id given on the command line; on failure print a usage
 * error naming `what` and return -1. */
int cli_check_id(const struct cli_ctx *c, const char *what, const char *s);

/* Check an account id ([a-z0-9][a-z0-9._-]{0,63}); as cli_check_id. */
int cli_check_account(const struct cli_ctx *c, const char *what, const char *s);

/* Parse option name as an integer in [min, max] into *out. Absent: *out
 * untouched, returns 0. Malformed: usage error, returns -1. */
int cli_opt_int(const struct cli_ctx *c, const char *name, int64_t min, int64_t max, int64_t *out);

/* A duration (SPEC 8.6): whole seconds, or a number with s, m, h or d
 * (90s, 30m, 2h, 7d). Returns 0 with *out in seconds within [min, max],
 * or -1. */
int cli_parse_duration(const char *s, int64_t min, int64_t max, int64_t *out);

/* Option name as a duration in [min, max] seconds, as cli_opt_int. */
int cli_opt_duration(const struct cli_ctx *c, const char *name, int64_t min, int64_t max,
                     int64_t *out);

/* Return 1 if s is one of the NULL-terminated words. */
int cli_one_of(const char *s, const char *const *words);

/* snprintf into buf; returns 0, or -1 if it did not fit. */
int cli_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

/* cmd.h - the client's command handlers and what they share. Each handler
 * gets the parsed command line (arity and required options already
 * checked by the parser, the connection open if the command is a network
 * one) and returns the process exit status (enum cli_exit). Handlers print
 * their own results and errors. */
#ifndef RSVAULT_CLIENT_CMD_H
#define RSVAULT_CLIENT_CMD_H

#include <jansson.h>

#include "cli.h"
#include "http.h"

/* cmd_ticket.c */
int cli_cmd_me(struct cli_ctx *c);
int cli_cmd_ticket_create(struct cli_ctx *c);
int cli_cmd_ticket_list(struct cli_ctx *c);
int cli_cmd_ticket_show(struct cli_ctx *c);
int cli_cmd_ticket_assign(struct cli_ctx *c);
int cli_cmd_ticket_close(struct cli_ctx *c);
int cli_cmd_ticket_approval(struct cli_ctx *c);

/* cmd_cred.c */
int cli_cmd_cred_add(struct cli_ctx *c);
int cli_cmd_cred_list(struct cli_ctx *c);
int cli_cmd_cred_get(struct cli_ctx *c);
int cli_cmd_cred_rm(struct cli_ctx *c);
int cli_cmd_session_open(struct cli_ctx *c);
int cli_cmd_session_list(struct cli_ctx *c);
int cli_cmd_session_end(struct cli_ctx *c);
int cli_cmd_session_approve(struct cli_ctx *c);
int cli_cmd_session_deny(struct cli_ctx *c);
int cli_cmd_link_create(struct cli_ctx *c);
int cli_cmd_link_list(struct cli_ctx *c);
int cli_cmd_link_revoke(struct cli_ctx *c);

/* cmd_admin.c */
int cli_cmd_license_add(struct cli_ctx *c);
int cli_cmd_license_show(struct cli_ctx *c);
int cli_cmd_license_bind(struct cli_ctx *c);
int cli_cmd_account_add(struct cli_ctx *c);
int cli_cmd_account_token(struct cli_ctx *c);
int cli_cmd_account_revoke(struct cli_ctx *c);
int cli_cmd_account_suspend(struct cli_ctx *c);
int cli_cmd_account_reactivate(struct cli_ctx *c);
int cli_cmd_account_list(struct cli_ctx *c);
int cli_cmd_account_show(struct cli_ctx *c);
int cli_cmd_license_list(struct cli_ctx *c);
int cli_cmd_license_update(struct cli_ctx *c);
int cli_cmd_license_revoke(struct cli_ctx *c);
int cli_cmd_backup(struct cli_ctx *c);

/* cmd_webhook.c */
int cli_cmd_webhook_add(struct cli_ctx *c);
int cli_cmd_webhook_list(struct cli_ctx *c);
int cli_cmd_webhook_rm(struct cli_ctx *c);
int cli_cmd_webhook_deliveries(struct cli_ctx *c);

/* cmd_audit.c */
int cli_cmd_audit_list(struct cli_ctx *c);
int cli_cmd_audit_export(struct cli_ctx *c);
int cli_cmd_audit_verify(struct cli_ctx *c);

/* cmd_common.c */

/* Set key to the string val in obj (val NULL: leave key out). Returns 0,
 * or -1 if val is not valid UTF-8 or memory ran out. */
int cli_json_set_str(json_t *obj, const char *key, const char *val);

/* Print a single-object answer: the body with --json (cli_print_json),
 * else "key: value" lines. Nothing for an empty body. Returns an exit status. */
int cli_show_object(const struct cli_ctx *c, const struct cli_resp *r);

/* method path with the JSON body req (may be NULL), then print the answer
 * as an object (cli_show_object). */
int cli_call_show(struct cli_ctx *c, const char *method, const char *path, json_t *req);

/* Print one string member of the answer (an id, a token) alone on a line,
 * or the body with --json (cli_print_json). A missing member, or one that
 * is not printable ASCII, is a malformed answer (CLI_ERR). The value is written without stdio
 * buffering. */
int cli_show_field(const struct cli_ctx *c, const struct cli_resp *r, const char *key);

/* The array member key of the answer, or NULL after printing that the
 * answer is malformed. */
json_t *cli_resp_array(const struct cli_resp *r, const char *key);

/* Make "/v1/PREFIX/ID/SUFFIX"-like paths: fmt is used with the arguments;
 * on overflow prints an error and returns -1. */
int cli_path(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Percent-encode s with the connection's libcurl into buf, connecting
 * first if needed. 0 or -1 (message printed). */
int cli_escape(struct cli_ctx *c, const char *s, char *buf, size_t n);

/* GET path, a list whose array member is key, and every further page:
 * follows "next" (as after=) to the end, so no list is cut short, and
 * leaves one answer in r holding all items (its body too, for --json).
 * Returns as cli_api. */
int cli_api_list(struct cli_ctx *c, const char *path, const char *key, struct cli_resp *r);

/* The list's objects as a table: the members keys under the headings head
 * (ncols <= CLI_TABLE_MAXCOLS); "..._at" and "valid_until" as local times.
 * what names the list in the error of a member that is not an object. */
int cli_list_table(json_t *list, const char *what, const char *const *head, const char *const *keys,
                   size_t ncols);

/* GET path (every page, cli_api_list) and print its array member key as a
 * table (cli_list_table), or the whole body with --json. */
int cli_get_list(struct cli_ctx *c, const char *path, const char *key, const char *const *head,
                 const char *const *keys, size_t ncols);

/* Report a malformed answer; returns CLI_ERR. */
int cli_malformed(const char *what);

/* Report a failed write to standard output; returns CLI_ERR. */
int cli_write_failed(void);

#endif

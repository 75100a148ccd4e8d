/* main.c - rsvault, the command-line client of the vault: the command
 * table, the command-line parser, help texts and main.
 *
 * Global options (--json, --token-file, --addr, --cacert, --cert, --key,
 * --help) may stand before or after the command; a command's own options come after
 * VERB SUB. "--" ends the options. An argument that starts with '-' but
 * is no known option is taken as an argument when it looks like a
 * server-made id (those may begin with '-'). */
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"
#include "cmd.h"
#include "config.h"
#include "http.h"
#include "secret.h"

#define OPT_NAME_MAX 32
#define ID_LIKE_MIN 16 /* shortest '-'-led argument taken as an id */
#define HELP_WIDTH 78

/* ---- options of each command ------------------------------------------- */

static const struct cli_opt o_none[] = {{NULL, NULL, 0, NULL}};

static const struct cli_opt o_ticket_create[] = {
    {"--ref", "REF", 0, "your own reference, e.g. an order or case number"},
    {"--owner", "ID", 0, "admin: the customer or reseller the ticket is for (required)"},
    {"--approval", "MODE", 0,
     "none (default), or owner: every session waits for the owner's approval"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_link_create[] = {
    {"--ttl", "DUR", 0, "how long it works: 90s, 30m, 2h, 1d or seconds (default 1d, at most 7d)"},
    {"--uses", "N", 0, "how many uploads it takes (default 1, at most 10)"},
    {"--note", "TEXT", 0, "a note for the link list (no secrets here)"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_cred_add[] = {
    {"--label", "L", 1, "name shown in lists, 1 to 128 characters"},
    {"--kind", "K", 1, "remote-utilities, rdp, ssh, vnc, web or other"},
    {"--host", "H", 0, "host name, address or Remote Utilities ID"},
    {"--user", "U", 0, "user name"},
    {"--ttl", "DUR", 0,
     "until the vault destroys it: 90s, 30m, 2h, 7d or seconds (default 7d, at most 30d)"},
    {"--notes", "N", 0, "notes for the agent (no secrets here)"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_ticket_list[] = {
    {"--status", "S", 0, "only open or only closed tickets"},
    {"--ref", "REF", 0, "only tickets with this reference"},
    {"--owner", "ID", 0, "only tickets of this customer or reseller"},
    {"--agent", "ID", 0, "only tickets assigned to this agent"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_license_update[] = {
    {"--type", "T", 0, "site, pro, plus, starter, free or trial"},
    {"--valid-until", "TIME", 0, "RFC 3339 expiry, or never to remove it"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_completion[] = {{NULL, NULL, 0, NULL}};

static const struct cli_opt o_cred_get[] = {
    {"--session", "SID", 0, "your open session on the ticket (default: $RSVAULT_SESSION)"},
    {"--field", "F", 0, "what to print: secret (default), host, username or all"},
    {"--raw", NULL, 0, "print the secret exactly as stored even on a terminal"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_session_open[] = {
    {"--ttl", "DUR", 0,
     "length: 90s, 30m, 2h or seconds (default 30m, at most the vault's maximum)"},
    {"-q", NULL, 0, "print the session id alone"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_license_add[] = {
    {"--type", "T", 1, "site, pro, plus, starter, free or trial"},
    {"--email", "E", 1, "delivery e-mail; a customer account with it gets the license"},
    {"--valid-until", "TIME", 0, "RFC 3339 expiry, e.g. 2027-12-31T23:59:59Z (default: none)"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_account_add[] = {
    {"--role", "R", 1, "customer, reseller, agent, auditor or admin"},
    {"--email", "E", 1, "e-mail address (customers: matched against licenses)"},
    {"--ttl", "DUR", 0,
     "the token expires after DUR: 30m, 12h, 90d or seconds (1m to 365d; default: never)"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_account_token[] = {
    {"--ttl", "DUR", 0,
     "the token expires after DUR: 30m, 12h, 90d or seconds (1m to 365d; default: never)"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_account_revoke[] = {
    {"--token", "TOKEN_ID", 0, "revoke only this token (its id, 16 hex characters)"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_audit_list[] = {
    {"--ticket", "T", 0, "only events of this ticket (owners may use this too)"},
    {"--actor", "A", 0, "only events of this account"},
    {"--action", "X", 0, "only this action, e.g. cred.read"},
    {"--outcome", "O", 0, "allow or deny"},
    {"--after", "N", 0, "only events with a sequence number above N"},
    {"--newest", NULL, 0, "newest first"},
    {"--before", "N", 0, "with --newest: only events with a sequence number below N"},
    {"--limit", "N", 0, "at most N events (1 to 1000, default 100)"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_audit_export[] = {
    {"-o", "FILE", 0, "write to FILE (created with mode 0600) instead of standard output"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_webhook_add[] = {
    {"--event", "T", CLI_OPT_REPEAT,
     "only this event type; repeat for more (default: every type, docs/webhooks.md)"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_webhook_deliveries[] = {
    {"--state", "S", 0, "only pending, delivered or failed ones"},
    {"--limit", "N", 0, "only the newest N (1 to 1000; default: all)"},
    {NULL, NULL, 0, NULL}};

static const struct cli_opt o_audit_verify[] = {
    {"--pubkey", "PATH", 1, "the vault's audit.pub"},
    {"--pin", "SEQ:HASH", 0, "the pin printed by an earlier verify; detects truncation"},
    {NULL, NULL, 0, NULL}};

/* ---- the command table --------------------------------------------------- */

static int cli_cmd_help(struct cli_ctx *c);
static int cli_cmd_completion(struct cli_ctx *c);

#define TID "q3V8kR2mXw9LtZc1Pn0bYA"
#define CID "c7Hn2LpQx8RmV4sTz1KwDg"
#define SID "s9Wb3NfK6yJr0hQe2XmUaQ"

static const struct cli_cmd commands[] = {
    {"me", NULL, "", 0, 0, o_none, cli_cmd_me,
     "Show your account, your license, whether you are eligible for remote support and "
     "your priority.",
     "rsvault me"},
    {"ticket", "create", "SUBJECT", 1, 1, o_ticket_create, cli_cmd_ticket_create,
     "Open a support ticket (customers and resellers) and print its id. Never put a "
     "password in the subject: upload it with `rsvault cred add`.",
     "rsvault ticket create \"File server does not boot\" --ref ORDER-1234\n"
     "rsvault ticket create \"Printer offline\" --owner acme-it   # admin"},
    {"login", NULL, "", 0, 0, o_none, cli_cmd_login,
     "Store your API token so that later commands need no --token-file: read from a "
     "no-echo prompt, or from standard input when that is not a terminal, and written "
     "to $RSVAULT_TOKEN_FILE or ~/.config/rsvault/token (mode 0600).",
     "rsvault login\n"
     "rsvault login < alice.token"},
    {"ticket", "list", "", 0, 0, o_ticket_list, cli_cmd_ticket_list,
     "List tickets: your own (customer, reseller), those assigned to you (agent), or all "
     "(admin, auditor); most urgent first. Every page is fetched.",
     "rsvault ticket list --status open\n"
     "rsvault ticket list --owner acme-it --agent alice   # admin"},
    {"ticket", "show", "TID", 1, 1, o_none, cli_cmd_ticket_show, "Show one ticket.",
     "rsvault ticket show " TID},
    {"ticket", "assign", "TID AGENT", 2, 2, o_none, cli_cmd_ticket_assign,
     "Assign a ticket to an agent (admin). Ends any session of the previous agent.",
     "rsvault ticket assign " TID " alice"},
    {"ticket", "approval", "TID MODE", 2, 2, o_none, cli_cmd_ticket_approval,
     "Set a ticket's approval mode (owner): owner makes every new session wait for your "
     "approval (`rsvault session approve`), none lets the assigned agent open sessions "
     "alone. Lowering it is refused while a session is pending or active.",
     "rsvault ticket approval " TID " owner"},
    {"ticket", "close", "TID", 1, 1, o_none, cli_cmd_ticket_close,
     "Close a ticket (owner, assigned agent, admin). Its credentials are destroyed.",
     "rsvault ticket close " TID},
    {"cred", "add", "TID", 1, 1, o_cred_add, cli_cmd_cred_add,
     "Upload a credential to your ticket and print its id. The secret is asked for with "
     "echo off (twice), or read from standard input when that is not a terminal (one "
     "trailing newline removed). There is no option that takes the secret.",
     "rsvault cred add " TID " --label \"office PC\" --kind remote-utilities \\\n"
     "    --host 123-456-789\n"
     "rsvault cred add " TID " --label router --kind ssh --host 10.0.0.1 \\\n"
     "    --user admin < router-password.txt"},
    {"cred", "list", "TID", 1, 1, o_none, cli_cmd_cred_list,
     "List the credentials of a ticket (never their secrets).", "rsvault cred list " TID},
    {"cred", "get", "TID CID", 2, 2, o_cred_get, cli_cmd_cred_get,
     "Print a credential's secret (the assigned agent, inside an open session). Only the "
     "secret and a newline go to standard output, byte for byte when that is a pipe or "
     "a file. On a terminal a secret holding control or invisible characters is shown "
     "escaped (\\x1b, \\u202e, ...) with a note on standard error; --raw prints it as "
     "stored. --json prints the whole record.",
     "export RSVAULT_SESSION=$(rsvault session open " TID " -q)\n"
     "rsvault cred get " TID " " CID},
    {"cred", "rm", "TID CID", 2, 2, o_none, cli_cmd_cred_rm, "Delete a credential (owner, admin).",
     "rsvault cred rm " TID " " CID},
    {"session", "open", "TID", 1, 1, o_session_open, cli_cmd_session_open,
     "Open a time-limited session on a ticket assigned to you (agent). One pending or "
     "active session per ticket. On a ticket whose owner approves sessions it is "
     "pending until the owner approves it; its time starts then.",
     "rsvault session open " TID " --ttl 3600 -q"},
    {"session", "list", "TID", 1, 1, o_none, cli_cmd_session_list, "List the sessions of a ticket.",
     "rsvault session list " TID},
    {"session", "approve", "SID", 1, 1, o_none, cli_cmd_session_approve,
     "Approve a session that waits for your approval (the ticket owner): it becomes "
     "active and its time starts now.",
     "rsvault session approve " SID},
    {"session", "deny", "SID", 1, 1, o_none, cli_cmd_session_deny,
     "Deny a session that waits for your approval (the ticket owner).",
     "rsvault session deny " SID},
    {"session", "end", "SID", 1, 1, o_none, cli_cmd_session_end,
     "End a session (its agent, the ticket owner, admin).", "rsvault session end " SID},
    {"link", "create", "TID", 1, 1, o_link_create, cli_cmd_link_create,
     "Make an upload link for a ticket (owner, assigned agent, admin) and print its URL. "
     "Whoever has the URL can upload credentials to the ticket from a browser until it "
     "expires or its uses run out: send it to the customer only, and by a channel you "
     "trust. It is shown once.",
     "rsvault link create " TID " --ttl 2h --uses 3 --note \"printer\""},
    {"link", "list", "TID", 1, 1, o_none, cli_cmd_link_list,
     "List a ticket's links with their state (active, spent, expired, revoked); never "
     "their secrets.",
     "rsvault link list " TID},
    {"link", "revoke", "LID", 1, 1, o_none, cli_cmd_link_revoke,
     "Revoke a link now (its creator, the ticket owner, admin).", "rsvault link revoke " SID},
    {"license", "add", "KEY", 1, 1, o_license_add, cli_cmd_license_add, "Record a license (admin).",
     "rsvault license add RU-PRO-0042 --type pro --email it@example.com \\\n"
     "    --valid-until 2027-12-31T23:59:59Z"},
    {"license", "show", "KEY", 1, 1, o_none, cli_cmd_license_show, "Show a license (admin).",
     "rsvault license show RU-PRO-0042"},
    {"license", "list", "", 0, 0, o_none, cli_cmd_license_list,
     "List every license (admin), every page.", "rsvault license list"},
    {"license", "update", "KEY", 1, 1, o_license_update, cli_cmd_license_update,
     "Change a license's type or expiry (admin). A downgrade takes effect at once: "
     "sessions of customers who lose remote support end, and their reads fail.",
     "rsvault license update RU-PRO-0042 --type starter\n"
     "rsvault license update RU-PRO-0042 --valid-until never"},
    {"license", "revoke", "KEY", 1, 1, o_none, cli_cmd_license_revoke,
     "Revoke a license for good (admin); it stops remote support at once.",
     "rsvault license revoke RU-PRO-0042"},
    {"license", "bind", "KEY", 1, 1, o_none, cli_cmd_license_bind,
     "Apply a license key to your account (customer); replaces an earlier one.",
     "rsvault license bind RU-PRO-0042"},
    {"account", "add", "ID", 1, 1, o_account_add, cli_cmd_account_add,
     "Create an account (admin) and print its first token. The token is shown once; its "
     "id (which names it in the audit log and in `account revoke --token`) goes to "
     "standard error.",
     "rsvault account add acme-it --role customer --email it@example.com \\\n"
     "    > acme-it.token"},
    {"account", "list", "", 0, 0, o_none, cli_cmd_account_list,
     "List every account (admin), every page.", "rsvault account list"},
    {"account", "show", "ID", 1, 1, o_none, cli_cmd_account_show,
     "Show an account (admin): its role, license, eligibility and tokens (ids only).",
     "rsvault account show acme-it"},
    {"account", "token", "ID", 1, 1, o_account_token, cli_cmd_account_token,
     "Make a further token for an account (admin) and print it; its id and expiry go to "
     "standard error (--json prints the whole answer).",
     "rsvault account token alice --ttl 86400 > alice.token"},
    {"account", "revoke", "ID", 1, 1, o_account_revoke, cli_cmd_account_revoke,
     "Revoke every token of an account (admin), or with --token only that one.",
     "rsvault account revoke alice\n"
     "rsvault account revoke alice --token 3f9c0a6e1b2d4c58"},
    {"account", "suspend", "ID", 1, 1, o_none, cli_cmd_account_suspend,
     "Suspend an account (admin): it can do nothing until reactivated.",
     "rsvault account suspend acme-it"},
    {"account", "reactivate", "ID", 1, 1, o_none, cli_cmd_account_reactivate,
     "Lift a suspension (admin).", "rsvault account reactivate acme-it"},
    {"webhook", "add", "URL", 1, 1, o_webhook_add, cli_cmd_webhook_add,
     "Send notifications of tickets, credentials and sessions to an https:// URL (admin). "
     "Prints the signing secret once; its id goes to standard error.",
     "rsvault webhook add https://helpdesk.example.com/hooks/rsvault \\\n"
     "    --event credential.read --event rotation.recommended > hook.secret"},
    {"webhook", "list", "", 0, 0, o_none, cli_cmd_webhook_list, "List the webhooks (admin).",
     "rsvault webhook list"},
    {"webhook", "rm", "ID", 1, 1, o_none, cli_cmd_webhook_rm,
     "Remove a webhook and its deliveries (admin).", "rsvault webhook rm " TID},
    {"webhook", "deliveries", "ID", 1, 1, o_webhook_deliveries, cli_cmd_webhook_deliveries,
     "Show a webhook's deliveries, newest first: state, attempts, last HTTP status (admin).",
     "rsvault webhook deliveries " TID " --state failed"},
    {"backup", NULL, "", 0, 0, o_none, cli_cmd_backup,
     "Write a copy of the vault's store to its --backup-dir while it serves (admin), and "
     "print the signed manifest. Restore with `rsvault-keys restore`.",
     "rsvault backup"},
    {"completion", NULL, "SHELL", 1, 1, o_completion, cli_cmd_completion,
     "Print a completion script for bash or zsh.",
     "source <(rsvault completion bash)\n"
     "rsvault completion zsh > \"${fpath[1]}/_rsvault\""},
    {"help", NULL, "[VERB [SUB]]", 0, 2, o_none, cli_cmd_help,
     "Show help: all commands, a verb's, or one command's.", "rsvault help cred get"},
    {"audit", "list", "", 0, 0, o_audit_list, cli_cmd_audit_list,
     "List audit events, oldest first or with --newest newest first (auditor; with "
     "--ticket also the ticket's owner and admins, the whole trail).",
     "rsvault audit list --outcome deny --limit 20\n"
     "rsvault audit list --newest --action credential.read\n"
     "rsvault audit list --ticket " TID},
    {"audit", "export", "", 0, 0, o_audit_export, cli_cmd_audit_export,
     "Export the whole audit log with its signed checkpoints as JSON lines (auditor).",
     "rsvault audit export -o audit-2026-11.jsonl"},
    {"audit", "verify", "FILE", 1, 1, o_audit_verify, cli_cmd_audit_verify,
     "Verify an export offline: hash chain, checkpoint signatures, a checkpoint at every "
     "100th event and, with --pin, that nothing was cut off; prints the pin to keep. "
     "Needs no vault and no token. FILE - reads standard input. Exit status 0 verified "
     "and signed, 5 nothing signed, 6 failed, 1 usage or unreadable file.",
     "rsvault audit verify audit-2026-11.jsonl --pubkey audit.pub \\\n"
     "    --pin 1200:3f5a9c0e1d2b4a6f8e7d9c0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct cli_opt global_opts[] = {
    {"--json", NULL, 0,
     "print the vault's JSON answer (control and invisible characters as \\u escapes)"},
    {"--token-file", "FILE", 0, "read the API token from the first line of FILE"},
    {"--addr", "URL", 0, "vault address (default $RSVAULT_ADDR or " CLI_DEFAULT_ADDR ")"},
    {"--cacert", "PATH", 0, "the CA certificate to trust (default: see RSVAULT_CACERT)"},
    {"--cert", "PATH", 0, "staff client certificate (PEM; default $RSVAULT_CERT)"},
    {"--key", "PATH", 0, "its private key (PEM; default $RSVAULT_KEY)"},
    {"--help", NULL, 0, "show help (also -h); after a command: help for it"},
    {"--version", NULL, 0, "show the version"},
    {NULL, NULL, 0, NULL}};

/* ---- lookup -------------------------------------------------------------- */

static const struct cli_cmd *find_verb(const char *verb)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].verb, verb) == 0)
			return &commands[i];
	return NULL;
}

static const struct cli_cmd *find_cmd(const char *verb, const char *sub)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].verb, verb) == 0 && commands[i].sub != NULL &&
		    strcmp(commands[i].sub, sub) == 0)
			return &commands[i];
	return NULL;
}

/* ---- help ---------------------------------------------------------------- */

/* Print text with indent before every line. */
static void print_indented(FILE *fp, const char *indent, const char *text)
{
	const char *p = text;

	while (*p) {
		size_t n = strcspn(p, "\n");

		fprintf(fp, "%s%.*s\n", indent, (int)n, p);
		p += n;
		if (*p == '\n')
			p++;
	}
}

/* Print text as a paragraph wrapped at HELP_WIDTH columns, every line
 * starting with indent. */
static void print_wrapped(FILE *fp, const char *indent, const char *text)
{
	size_t col = 0, ilen = strlen(indent);
	const char *p = text;

	while (*p) {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n == 0)
			break;
		if (col > 0 && col + 1 + n > HELP_WIDTH) {
			fputc('\n', fp);
			col = 0;
		}
		if (col == 0) {
			fputs(indent, fp);
			col = ilen;
		} else {
			fputc(' ', fp);
			col++;
		}
		fprintf(fp, "%.*s", (int)n, p);
		col += n;
		p += n;
	}
	if (col > 0)
		fputc('\n', fp);
}

static void print_opts(FILE *fp, const struct cli_opt *opts)
{
	for (const struct cli_opt *o = opts; o->name != NULL; o++) {
		char name[OPT_NAME_MAX + 16];

		snprintf(name, sizeof name, "%s%s%s", o->name, o->arg ? " " : "",
		         o->arg ? o->arg : "");
		fprintf(fp, "  %-20s %s\n", name, o->help);
	}
}

static void verb_synopses(FILE *fp, const char *verb, const char *lead)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].verb, verb) == 0)
			cli_print_synopsis(fp, &commands[i], lead);
}

static void help_command(const struct cli_cmd *cmd)
{
	cli_print_synopsis(stdout, cmd, "usage: ");
	putchar('\n');
	print_wrapped(stdout, "", cmd->summary);
	if (cmd->opts[0].name != NULL) {
		puts("\noptions:");
		print_opts(stdout, cmd->opts);
	}
	puts("\nglobal options: --json, --token-file FILE, --addr URL, --cacert PATH,\n"
	     "                --cert PATH --key PATH");
	puts("\nexample:");
	print_indented(stdout, "  ", cmd->example);
}

static void help_verb(const char *verb)
{
	puts("usage:");
	verb_synopses(stdout, verb, "  ");
	putchar('\n');
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i].verb, verb) != 0)
			continue;
		printf("%s %s\n", commands[i].verb, commands[i].sub ? commands[i].sub : "");
		print_wrapped(stdout, "    ", commands[i].summary);
	}
	puts("\nexamples:");
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].verb, verb) == 0)
			print_indented(stdout, "  ", commands[i].example);
	printf("\nRun 'rsvault %s SUB --help' for the options of one command.\n", verb);
}

static void help_global(void)
{
	puts("rsvault - command-line client of the rsvault remote-support credential vault\n");
	puts("usage: rsvault [global options] COMMAND [arguments] [options]\n");
	puts("commands:");
	for (size_t i = 0; i < NCOMMANDS; i++)
		cli_print_synopsis(stdout, &commands[i], "  ");
	puts("\nglobal options (before or after the command):");
	print_opts(stdout, global_opts);
	puts("\nenvironment:\n"
	     "  RSVAULT_ADDR     vault address, https:// only (default " CLI_DEFAULT_ADDR ")\n"
	     "  RSVAULT_TOKEN    API token (--token-file wins)\n"
	     "  RSVAULT_TOKEN_FILE  file holding the token (default\n"
	     "                   ~/.config/rsvault/token, written by `rsvault login`)\n"
	     "  RSVAULT_CACERT   the vault's CA certificate; the only one trusted\n"
	     "                   (default $XDG_CONFIG_HOME/rsvault/ca.pem, else\n"
	     "                   ~/.config/rsvault/ca.pem; never the current directory)\n"
	     "  RSVAULT_CERT     staff client certificate, with RSVAULT_KEY its key\n"
	     "                   (--cert/--key win), for servers that demand one\n"
	     "  RSVAULT_SESSION  session id for `cred get` (--session wins)");
	puts("\nexit status: 0 success, 2 unauthenticated, 3 forbidden, 4 not found,\n"
	     "             1 anything else (usage, TLS, network, other errors)");
	puts("\nexample:\n"
	     "  export RSVAULT_ADDR=https://vault.example.com:8443\n"
	     "  install -D -m 644 ca.pem ~/.config/rsvault/ca.pem\n"
	     "  rsvault login < my.token\n"
	     "  rsvault ticket list");
	puts("\nRun 'rsvault VERB --help' or 'rsvault VERB SUB --help' for more.");
}

/* `rsvault help [VERB [SUB]]`. */
static int cli_cmd_help(struct cli_ctx *c)
{
	const struct cli_cmd *v;

	if (c->nargs == 0) {
		help_global();
	} else if ((v = find_verb(c->args[0])) == NULL) {
		return cli_usage(c, "no command '%.40s'", c->args[0]);
	} else if (c->nargs == 1) {
		if (v->sub == NULL)
			help_command(v);
		else
			help_verb(c->args[0]);
	} else if ((v = find_cmd(c->args[0], c->args[1])) == NULL) {
		return cli_usage(c, "no command '%.40s %.40s'", c->args[0], c->args[1]);
	} else {
		help_command(v);
	}
	return fflush(stdout) == 0 ? CLI_OK : CLI_ERR;
}

/* Print the words of a shell case arm: sub-commands of verb, or the
 * options of one command, space-separated. */
static void words_subs(const char *verb)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].verb, verb) == 0 && commands[i].sub != NULL)
			printf(" %s", commands[i].sub);
}

static void words_opts(const struct cli_opt *o)
{
	for (; o->name != NULL; o++)
		printf(" %s", o->name);
}

/* `rsvault completion bash|zsh`: a bash completion function made from the
 * command table (zsh runs it through bashcompinit). */
static int cli_cmd_completion(struct cli_ctx *c)
{
	const char *sh = c->args[0];

	if (strcmp(sh, "bash") != 0 && strcmp(sh, "zsh") != 0)
		return cli_usage(c, "SHELL must be bash or zsh");
	puts("# rsvault completion (generated by `rsvault completion SHELL`)");
	if (strcmp(sh, "zsh") == 0)
		puts("autoload -U +X bashcompinit && bashcompinit");
	puts("_rsvault() {\n"
	     "    local cur=${COMP_WORDS[COMP_CWORD]} verb= sub= i skip=0 words\n"
	     "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
	     "        if ((skip)); then skip=0; continue; fi\n"
	     "        case ${COMP_WORDS[i]} in\n"
	     "        --token-file|--addr|--cacert) skip=1 ;;\n"
	     "        -*) ;;\n"
	     "        *) if [[ -z $verb ]]; then verb=${COMP_WORDS[i]}\n"
	     "           elif [[ -z $sub ]]; then sub=${COMP_WORDS[i]}; fi ;;\n"
	     "        esac\n"
	     "    done\n"
	     "    case \"$verb/$sub\" in");
	printf("    /) words=\"");
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (find_verb(commands[i].verb) == &commands[i])
			printf(" %s", commands[i].verb);
	puts("\" ;;");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct cli_cmd *k = &commands[i];
		if (k->sub == NULL) {
			printf("    %s/*) words=\"", k->verb);
			if (strcmp(k->verb, "completion") == 0)
				printf(" bash zsh");
			words_opts(k->opts);
			puts("\" ;;");
			continue;
		}
		if (find_verb(k->verb) == k) {
			printf("    %s/) words=\"", k->verb);
			words_subs(k->verb);
			puts("\" ;;");
		}
		printf("    %s/%s) words=\"", k->verb, k->sub);
		words_opts(k->opts);
		puts("\" ;;");
	}
	puts("    esac\n"
	     "    COMPREPLY=($(compgen -W \"$words --json --token-file --addr --cacert --help\" "
	     "-- \"$cur\"))\n"
	     "}\n"
	     "complete -F _rsvault rsvault");
	return fflush(stdout) == 0 ? CLI_OK : CLI_ERR;
}

/* ---- parsing ------------------------------------------------------------- */

struct parse {
	const char *verb;
	int help;
	int version;
};

/* Short usage for errors before a command is known. Returns -1. */
__attribute__((format(printf, 2, 3))) static int usage_error(const struct parse *p, const char *fmt,
                                                             ...)
{
	va_list ap;

	fputs("rsvault: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	va_start(ap, fmt);
	cli_err_keepv("usage", fmt, ap);
	va_end(ap);
	if (p->verb != NULL && find_verb(p->verb) != NULL) {
		fputs("usage:\n", stderr);
		verb_synopses(stderr, p->verb, "  ");
		fprintf(stderr, "Try 'rsvault %s --help'.\n", p->verb);
	} else {
		fputs("usage: rsvault [--json] [--token-file F] [--addr URL] [--cacert PATH] "
		      "COMMAND ...\nTry 'rsvault --help'.\n",
		      stderr);
	}
	return -1;
}

/* An argument that begins with '-' yet is an id, not an option. */
static int looks_like_id(const char *a)
{
	return strlen(a) >= ID_LIKE_MIN && cli_valid_server_id(a);
}

/* The value of option name: after '=', or the next argument. */
static const char *take_value(int argc, char **argv, int *i, const char *inline_val,
                              const struct cli_ctx *c, const char *name)
{
	if (inline_val != NULL)
		return inline_val;
	if (*i + 1 >= argc) {
		cli_usage(c, "option %s needs a value", name);
		return NULL;
	}
	return argv[++*i];
}

/* One of --token-file, --addr, --cacert: store its value. */
static int global_value(int argc, char **argv, int *i, const char *name, const char *inline_val,
                        struct cli_ctx *c)
{
	const char **slot = strcmp(name, "--token-file") == 0 ? &c->token_file
	                    : strcmp(name, "--addr") == 0     ? &c->addr
	                    : strcmp(name, "--cert") == 0     ? &c->cert
	                    : strcmp(name, "--key") == 0      ? &c->key
	                                                      : &c->cacert;

	*slot = take_value(argc, argv, i, inline_val, c, name);
	return *slot ? 0 : -1;
}

/* A global option or one of the current command's. Returns 0 if it was
 * one, 1 if it is to be taken as an argument, -1 on error. */
static int parse_option(int argc, char **argv, int *i, struct cli_ctx *c, struct parse *p)
{
	const char *a = argv[*i], *eq = NULL, *inline_val = NULL;
	char name[OPT_NAME_MAX];
	const struct cli_opt *o;

	if (a[1] == '-' && (eq = strchr(a, '=')) != NULL) {
		if ((size_t)(eq - a) >= sizeof name)
			return looks_like_id(a) ? 1 : usage_error(p, "unknown option '%s'", a);
		memcpy(name, a, (size_t)(eq - a));
		name[eq - a] = '\0';
		inline_val = eq + 1;
	} else if (cli_fmt(name, sizeof name, "%s", a) != 0) {
		return looks_like_id(a) ? 1 : usage_error(p, "unknown option '%.40s'", a);
	}
	if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 ||
	    strcmp(name, "--version") == 0 || strcmp(name, "--json") == 0) {
		if (inline_val != NULL)
			return usage_error(p, "option %s takes no value", name);
		if (strcmp(name, "--json") == 0)
			c->json = 1;
		else if (strcmp(name, "--version") == 0)
			p->version = 1;
		else
			p->help = 1;
		return 0;
	}
	if (strcmp(name, "--token-file") == 0 || strcmp(name, "--addr") == 0 ||
	    strcmp(name, "--cacert") == 0 || strcmp(name, "--cert") == 0 ||
	    strcmp(name, "--key") == 0)
		return global_value(argc, argv, i, name, inline_val, c);
	for (o = c->cmd ? c->cmd->opts : o_none; o->name != NULL; o++) {
		size_t k = (size_t)(o - c->cmd->opts);

		if (strcmp(o->name, name) != 0)
			continue;
		if (c->optv[k] != NULL && o->required == CLI_OPT_REPEAT && o->arg != NULL) {
			/* a repeatable option: the values joined with ',' */
			static char joined[CLI_MAX_OPTS][1024];
			const char *more = take_value(argc, argv, i, inline_val, c, name);
			if (more == NULL)
				return -1;
			if (cli_fmt(joined[k], sizeof joined[k], "%s,%s", c->optv[k], more) != 0) {
				cli_usage(c, "option %s given too often", name);
				return -1;
			}
			c->optv[k] = joined[k];
			return 0;
		}
		if (c->optv[k] != NULL) {
			cli_usage(c, "option %s given twice", name);
			return -1;
		}
		if (o->arg == NULL) {
			if (inline_val != NULL) {
				cli_usage(c, "option %s takes no value", name);
				return -1;
			}
			c->optv[k] = "";
			return 0;
		}
		c->optv[k] = take_value(argc, argv, i, inline_val, c, name);
		return c->optv[k] ? 0 : -1;
	}
	if (looks_like_id(a))
		return 1;
	if (c->cmd != NULL) {
		cli_usage(c, "unknown option '%.40s'", a);
		return -1;
	}
	return usage_error(p, "unknown option '%.40s' (command options go after the command)", a);
}

/* VERB, then SUB, then the command's arguments. */
static int add_positional(struct cli_ctx *c, struct parse *p, const char *a)
{
	const struct cli_cmd *v;

	if (p->verb == NULL) {
		p->verb = a;
		v = find_verb(a);
		if (v == NULL)
			return usage_error(p, "unknown command '%.40s'", a);
		if (v->sub == NULL)
			c->cmd = v;
		return 0;
	}
	if (c->cmd == NULL) {
		c->cmd = find_cmd(p->verb, a);
		if (c->cmd == NULL)
			return usage_error(p, "unknown sub-command '%.40s'", a);
		return 0;
	}
	if (c->nargs >= c->cmd->max_args || c->nargs >= CLI_MAX_ARGS) {
		cli_usage(c, "too many arguments (from '%.40s' on)", a);
		return -1;
	}
	c->args[c->nargs++] = a;
	return 0;
}

static int parse_args(int argc, char **argv, struct cli_ctx *c, struct parse *p)
{
	int dashdash = 0, r;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!dashdash && strcmp(a, "--") == 0) {
			dashdash = 1;
			continue;
		}
		if (!dashdash && a[0] == '-' && a[1] != '\0') {
			r = parse_option(argc, argv, &i, c, p);
			if (r < 0)
				return -1;
			if (r == 0)
				continue;
		}
		if (add_positional(c, p, a) != 0)
			return -1;
	}
	return 0;
}

/* After parsing: is the command complete? Returns 0 or -1 (printed). */
static int check_complete(struct cli_ctx *c, const struct parse *p)
{
	const struct cli_opt *o;

	if (p->verb == NULL)
		return usage_error(p, "no command given");
	if (c->cmd == NULL)
		return usage_error(p, "'%s' needs a sub-command", p->verb);
	if (c->nargs < c->cmd->min_args) {
		cli_usage(c, "missing argument%s", c->cmd->min_args - c->nargs > 1 ? "s" : "");
		return -1;
	}
	for (o = c->cmd->opts; o->name != NULL; o++)
		if (o->required == 1 && c->optv[o - c->cmd->opts] == NULL) {
			cli_usage(c, "option %s is required", o->name);
			return -1;
		}
	return 0;
}

/* ---- main ---------------------------------------------------------------- */

/* No core dumps and no ptrace by other processes of the user: the process
 * holds tokens and secrets. */
static void harden(void)
{
	struct rlimit rl = {0, 0};

	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* --json before "--" anywhere on the line: for an error found before the
 * parser reached it. */
static int wants_json(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json") == 0)
			return 1;
	return 0;
}

/* The exit status rc; under --json a failure's first error also goes to
 * standard output as one JSON object (SPEC 8.6), unless the vault's own
 * error object is already there. */
static int finish(const struct cli_ctx *c, int argc, char **argv, int rc)
{
	if (rc != CLI_OK && (c->json || wants_json(argc, argv)))
		cli_err_json();
	return rc;
}

int main(int argc, char **argv)
{
	struct cli_ctx c;
	struct parse p;
	int rc;

	memset(&c, 0, sizeof c);
	memset(&p, 0, sizeof p);
	harden();
	setlocale(LC_CTYPE, "");
	if (sodium_init() < 0) {
		cli_warnx("cannot initialise libsodium");
		return CLI_ERR;
	}
	json_set_alloc_funcs(wipe_malloc, wipe_free);

	if (parse_args(argc, argv, &c, &p) != 0)
		return finish(&c, argc, argv, CLI_ERR);
	if (p.version) {
		puts("rsvault " CLI_VERSION);
		return CLI_OK;
	}
	if (p.help) {
		if (c.cmd != NULL)
			help_command(c.cmd);
		else if (p.verb != NULL)
			help_verb(p.verb);
		else
			help_global();
		return fflush(stdout) == 0 ? CLI_OK : CLI_ERR;
	}
	if (check_complete(&c, &p) != 0)
		return finish(&c, argc, argv, CLI_ERR);
	rc = c.cmd->run(&c);
	cli_disconnect(&c);
	if ((fflush(stdout) != 0 || ferror(stdout)) && rc == CLI_OK)
		rc = cli_write_failed();
	return finish(&c, argc, argv, rc);
}

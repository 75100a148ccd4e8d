/* cmd_cred.c - `rsvault cred ...` and `rsvault session ...`.
 *
 * cred add reads the secret from a no-echo prompt or standard input (never
 * the command line) and cred get writes it to standard output (escaped on
 * a terminal if it holds control characters, unless --raw); every
 * buffer that holds it (input, JSON request, response, jansson's copies)
 * is wiped before it is freed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "apilimits.h"
#include "cli.h"
#include "cmd.h"
#include "config.h"
#include "http.h"
#include "output.h"
#include "secret.h"
#include "util.h"

#define SESSION_TTL_MAX 31536000 /* the server applies its own, lower limit */

static const char *const kinds[] = {API_CRED_KINDS, NULL};

/* Build the body of cred add around the secret. Returns NULL (message
 * printed) on invalid input. */
static json_t *cred_request(struct cli_ctx *c, const char *secret, size_t len, int64_t ttl)
{
	json_t *req = json_object(), *s;

	if (req == NULL)
		goto oom;
	if (cli_json_set_str(req, "label", cli_opt(c, "--label")) != 0 ||
	    cli_json_set_str(req, "kind", cli_opt(c, "--kind")) != 0 ||
	    cli_json_set_str(req, "host", cli_opt(c, "--host")) != 0 ||
	    cli_json_set_str(req, "username", cli_opt(c, "--user")) != 0) {
		cli_usage(c, "--label, --host and --user must be valid UTF-8");
		goto fail;
	}
	s = json_stringn(secret, len);
	if (s == NULL) {
		cli_warnx("the secret is not valid UTF-8; nothing was sent");
		goto fail;
	}
	if (json_object_set_new(req, "secret", s) != 0)
		goto oom;
	if (cli_json_set_str(req, "notes", cli_opt(c, "--notes")) != 0) {
		cli_usage(c, "--notes must be valid UTF-8");
		goto fail;
	}
	if (ttl > 0 && json_object_set_new(req, "ttl_s", json_integer(ttl)) != 0)
		goto oom;
	return req;
oom:
	cli_warnx("out of memory");
fail:
	json_decref(req);
	return NULL;
}

int cli_cmd_cred_add(struct cli_ctx *c)
{
	const char *label = cli_opt(c, "--label"), *kind = cli_opt(c, "--kind");
	struct cli_resp r = {0};
	char path[CLI_PATH_MAX];
	char *secret = NULL;
	size_t len = 0;
	int64_t ttl = 0;
	json_t *req = NULL;
	int rc = CLI_ERR;

	if (cli_check_id(c, "TID", c->args[0]) != 0)
		return CLI_ERR;
	if (label[0] == '\0' || strlen(label) > 4 * API_LABEL_MAX)
		return cli_usage(c, "--label must have 1 to 128 characters");
	if (!cli_one_of(kind, kinds))
		return cli_usage(c, "--kind must be one of remote-utilities, rdp, ssh, vnc, "
		                    "web, other");
	if (cli_opt_duration(c, "--ttl", 1, API_CRED_TTL_MAX, &ttl) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/tickets/%s/credentials", c->args[0]) != 0)
		return CLI_ERR;
	/* configuration problems show before the secret is typed */
	if ((rc = cli_connect(c)) != CLI_OK)
		goto done;
	rc = CLI_ERR;
	if (cli_secret_read(&secret, &len) != 0)
		goto done;
	req = cred_request(c, secret, len, ttl);
	if (req == NULL)
		goto done;
	rc = cli_api(c, "POST", path, req, NULL, &r);
	if (rc == CLI_OK)
		rc = cli_show_field(c, &r, "id");
done:
	json_decref(req);
	wipe_free(secret);
	cli_resp_free(&r);
	return rc;
}

int cli_cmd_cred_list(struct cli_ctx *c)
{
	static const char *const head[] = {"ID", "LABEL", "KIND", "CREATED", "EXPIRES"};
	static const char *const keys[] = {"id", "label", "kind", "created_at", "expires_at"};
	char path[CLI_PATH_MAX];

	if (cli_check_id(c, "TID", c->args[0]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/tickets/%s/credentials", c->args[0]) != 0)
		return CLI_ERR;
	return cli_get_list(c, path, "credentials", head, keys, 5);
}

/* Print the secret s[0..n). Exactly as it is with --raw or when standard
 * output is not a terminal (a pipe, a file: scripts get the exact bytes).
 * On a terminal, a secret that holds control, invisible or direction
 * characters is shown escaped, with a note on stderr after it, so that it
 * cannot drive the terminal and the agent sees what is there. */
static int print_secret(const struct cli_ctx *c, const char *s, size_t n)
{
	char *esc;
	size_t elen;
	int rc = CLI_OK;

	if (cli_opt(c, "--raw") != NULL || !isatty(STDOUT_FILENO) ||
	    !cli_esc_needed(s, n, CLI_ESC_SECRET))
		return cli_print_secret(s, n) == 0 ? CLI_OK : cli_write_failed();
	esc = cli_esc_dup(s, n, CLI_ESC_SECRET, &elen);
	if (esc == NULL) {
		cli_warnx("out of memory");
		return CLI_ERR;
	}
	if (cli_print_secret(esc, elen) != 0)
		rc = cli_write_failed();
	else
		cli_warnx("the secret holds control or invisible characters; shown escaped "
		          "(\\xHH, \\uXXXX, \\t, \\r; a backslash as \\\\). Use --raw, or "
		          "redirect standard output, to get it exactly as stored");
	wipe_free(esc);
	return rc;
}

int cli_cmd_cred_get(struct cli_ctx *c)
{
	static const char *const fields[] = {"secret", "host", "username", "all", NULL};
	const char *sid = cli_opt(c, "--session"), *field = cli_opt(c, "--field");
	struct cli_resp r = {0};
	char path[CLI_PATH_MAX];
	json_t *v;
	int rc;

	if (field == NULL)
		field = "secret";
	if (!cli_one_of(field, fields))
		return cli_usage(c, "--field must be secret, host, username or all");

	if (cli_check_id(c, "TID", c->args[0]) != 0 || cli_check_id(c, "CID", c->args[1]) != 0)
		return CLI_ERR;
	if (sid == NULL)
		sid = getenv("RSVAULT_SESSION");
	if (sid == NULL || sid[0] == '\0')
		return cli_usage(c, "no session: pass --session SID or set RSVAULT_SESSION "
		                    "(open one with `rsvault session open TID -q`)");
	if (cli_check_id(c, "the session id", sid) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/tickets/%s/credentials/%s/secret", c->args[0],
	             c->args[1]) != 0)
		return CLI_ERR;
	rc = cli_api(c, "GET", path, NULL, sid, &r);
	if (rc != CLI_OK)
		goto done;
	if (c->json) {
		rc = cli_print_json(r.body, r.len) == 0 ? CLI_OK : CLI_ERR;
		goto done;
	}
	if (strcmp(field, "all") == 0) {
		/* every field as "key: value" lines, cleaned for the terminal */
		rc = cli_print_object(r.json, stdout) == 0 ? CLI_OK : CLI_ERR;
		goto done;
	}
	v = json_object_get(r.json, field);
	if (json_is_null(v) && strcmp(field, "secret") != 0) {
		rc = CLI_OK; /* no host or user name stored: an empty line */
		if (puts("") == EOF)
			rc = cli_write_failed();
		goto done;
	}
	if (!json_is_string(v)) {
		rc = cli_malformed("no such field in the answer");
		goto done;
	}
	rc = print_secret(c, json_string_value(v), json_string_length(v));
done:
	cli_resp_free(&r);
	return rc;
}

int cli_cmd_cred_rm(struct cli_ctx *c)
{
	struct cli_resp r;
	char path[CLI_PATH_MAX];
	int rc;

	if (cli_check_id(c, "TID", c->args[0]) != 0 || cli_check_id(c, "CID", c->args[1]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/tickets/%s/credentials/%s", c->args[0], c->args[1]) !=
	    0)
		return CLI_ERR;
	rc = cli_api(c, "DELETE", path, NULL, NULL, &r);
	cli_resp_free(&r);
	return rc;
}

int cli_cmd_session_open(struct cli_ctx *c)
{
	struct cli_resp r = {0};
	char path[CLI_PATH_MAX];
	int64_t ttl = 0;
	json_t *req = NULL;
	int rc = CLI_ERR;

	if (cli_check_id(c, "TID", c->args[0]) != 0)
		return CLI_ERR;
	if (cli_opt_duration(c, "--ttl", 1, SESSION_TTL_MAX, &ttl) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/tickets/%s/sessions", c->args[0]) != 0)
		return CLI_ERR;
	if (ttl > 0) {
		req = json_pack("{sI}", "ttl_s", (json_int_t)ttl);
		if (req == NULL) {
			cli_warnx("out of memory");
			goto done;
		}
	}
	rc = cli_api(c, "POST", path, req, NULL, &r);
	if (rc != CLI_OK)
		goto done;
	if (cli_opt(c, "-q") != NULL) {
		struct cli_ctx plain = *c;

		plain.json = 0;
		rc = cli_show_field(&plain, &r, "id");
	} else {
		rc = cli_show_object(c, &r);
	}
done:
	json_decref(req);
	cli_resp_free(&r);
	return rc;
}

int cli_cmd_session_list(struct cli_ctx *c)
{
	static const char *const head[] = {"ID",     "AGENT",   "STATE",
	                                   "OPENED", "EXPIRES", "REQUESTED"};
	static const char *const keys[] = {"id",        "agent",      "state",
	                                   "opened_at", "expires_at", "requested_at"};
	char path[CLI_PATH_MAX];

	if (cli_check_id(c, "TID", c->args[0]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/tickets/%s/sessions", c->args[0]) != 0)
		return CLI_ERR;
	return cli_get_list(c, path, "sessions", head, keys, 6);
}

int cli_cmd_session_end(struct cli_ctx *c)
{
	struct cli_resp r;
	char path[CLI_PATH_MAX];
	int rc;

	if (cli_check_id(c, "SID", c->args[0]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/sessions/%s", c->args[0]) != 0)
		return CLI_ERR;
	rc = cli_api(c, "DELETE", path, NULL, NULL, &r);
	cli_resp_free(&r);
	return rc;
}

/* POST /v1/sessions/SID/{verb}: the owner decides a pending session. */
static int session_decide(struct cli_ctx *c, const char *verb)
{
	char path[CLI_PATH_MAX];
	int rc;

	if (cli_check_id(c, "SID", c->args[0]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/sessions/%s/%s", c->args[0], verb) != 0)
		return CLI_ERR;
	rc = cli_call_show(c, "POST", path, NULL);
	return rc;
}

int cli_cmd_session_approve(struct cli_ctx *c)
{
	return session_decide(c, "approve");
}

int cli_cmd_session_deny(struct cli_ctx *c)
{
	return session_decide(c, "deny");
}

/* ---- upload links (SPEC 8.2) -------------------------------------------- */

int cli_cmd_link_create(struct cli_ctx *c)
{
	const char *ttl = cli_opt(c, "--ttl"), *note = cli_opt(c, "--note");
	struct cli_resp r = {0};
	char path[CLI_PATH_MAX];
	int64_t ttl_s = 0, uses = 0;
	json_t *req = NULL;
	int rc = CLI_ERR;

	if (cli_check_id(c, "TID", c->args[0]) != 0)
		return CLI_ERR;
	if (ttl != NULL && cli_parse_duration(ttl, 1, API_LINK_TTL_MAX, &ttl_s) != 0)
		return cli_usage(c, "--ttl wants a duration from 1s to 7d (90s, 30m, 2h, 1d or "
		                    "seconds)");
	if (cli_opt_int(c, "--uses", 1, 10, &uses) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/tickets/%s/links", c->args[0]) != 0)
		return CLI_ERR;
	if ((req = json_object()) == NULL)
		goto done;
	if ((ttl_s > 0 && json_object_set_new(req, "ttl_s", json_integer(ttl_s)) != 0) ||
	    (uses > 0 && json_object_set_new(req, "uses", json_integer(uses)) != 0))
		goto done;
	if (cli_json_set_str(req, "note", note) != 0) {
		rc = cli_usage(c, "--note must be valid UTF-8");
		goto done;
	}
	rc = cli_api(c, "POST", path, req, NULL, &r);
	if (rc == CLI_OK)
		rc = cli_show_field(c, &r, "url");
done:
	json_decref(req);
	cli_resp_free(&r); /* wipes the answer: it held the link's secret */
	return rc;
}

int cli_cmd_link_list(struct cli_ctx *c)
{
	static const char *const head[] = {"ID",      "STATE",   "USES LEFT", "EXPIRES",
	                                   "CREATOR", "CREATED", "NOTE"};
	static const char *const keys[] = {"id",      "state",      "uses_left", "expires_at",
	                                   "creator", "created_at", "note"};
	char path[CLI_PATH_MAX];

	if (cli_check_id(c, "TID", c->args[0]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/tickets/%s/links", c->args[0]) != 0)
		return CLI_ERR;
	return cli_get_list(c, path, "links", head, keys, 7);
}

int cli_cmd_link_revoke(struct cli_ctx *c)
{
	struct cli_resp r;
	char path[CLI_PATH_MAX];
	int rc;

	if (cli_check_id(c, "LID", c->args[0]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/links/%s", c->args[0]) != 0)
		return CLI_ERR;
	rc = cli_api(c, "DELETE", path, NULL, NULL, &r);
	cli_resp_free(&r);
	return rc;
}

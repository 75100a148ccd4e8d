/* cmd_admin.c - `rsvault license ...` and `rsvault account ...`. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "apilimits.h"
#include "cli.h"
#include "cmd.h"
#include "http.h"
#include "output.h"
#include "util.h"

#define KEY_MAX_BYTES 256
#define EMAIL_MAX_BYTES 254

static const char *const license_types[] = {"site", "pro",   "plus", "starter",
                                            "free", "trial", NULL};
static const char *const roles[] = {"customer", "reseller", "agent", "auditor", "admin", NULL};

/* A license key: 1..KEY_MAX_BYTES bytes, no control characters. */
static int check_key(const struct cli_ctx *c, const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
			n = 0;
	if (n == 0 || n > KEY_MAX_BYTES) {
		cli_usage(c, "KEY must have 1 to %d characters and no control characters",
		          KEY_MAX_BYTES);
		return -1;
	}
	return 0;
}

static int check_email(const struct cli_ctx *c, const char *email)
{
	size_t n = strlen(email);

	if (n == 0 || n > EMAIL_MAX_BYTES || strchr(email, '@') == NULL) {
		cli_usage(c, "--email must be an e-mail address");
		return -1;
	}
	return 0;
}

int cli_cmd_license_add(struct cli_ctx *c)
{
	const char *key = c->args[0], *type = cli_opt(c, "--type");
	const char *email = cli_opt(c, "--email"), *until = cli_opt(c, "--valid-until");
	char norm[UTIL_TIME_LEN];
	int64_t ms;
	json_t *req = NULL;
	int rc = CLI_ERR;

	if (check_key(c, key) != 0 || check_email(c, email) != 0)
		return CLI_ERR;
	if (!cli_one_of(type, license_types))
		return cli_usage(c, "--type must be one of site, pro, plus, starter, free, "
		                    "trial");
	if (until != NULL) {
		/* any RFC 3339 offset is accepted and sent as UTC */
		if (util_parse_time(until, &ms) != 0 || util_format_time(ms, norm) != 0)
			return cli_usage(c, "--valid-until must be an RFC 3339 time, e.g. "
			                    "2027-01-31T23:59:59Z");
		until = norm;
	}
	req = json_object();
	if (req == NULL || cli_json_set_str(req, "key", key) != 0 ||
	    cli_json_set_str(req, "type", type) != 0 ||
	    cli_json_set_str(req, "email", email) != 0 ||
	    cli_json_set_str(req, "valid_until", until) != 0) {
		rc = cli_usage(c, "KEY and --email must be valid UTF-8");
		goto done;
	}
	rc = cli_call_show(c, "POST", "/v1/licenses", req);
done:
	json_decref(req);
	return rc;
}

int cli_cmd_license_show(struct cli_ctx *c)
{
	char path[CLI_PATH_MAX], enc[CLI_PATH_MAX / 2];
	int rc;

	if (check_key(c, c->args[0]) != 0)
		return CLI_ERR;
	if (cli_escape(c, c->args[0], enc, sizeof enc) != 0 ||
	    cli_path(path, sizeof path, "/v1/licenses/%s", enc) != 0)
		return CLI_ERR;
	rc = cli_call_show(c, "GET", path, NULL);
	return rc;
}

int cli_cmd_license_bind(struct cli_ctx *c)
{
	json_t *req;
	int rc;

	if (check_key(c, c->args[0]) != 0)
		return CLI_ERR;
	req = json_object();
	if (req == NULL || cli_json_set_str(req, "key", c->args[0]) != 0) {
		json_decref(req);
		return cli_usage(c, "KEY must be valid UTF-8");
	}
	rc = cli_call_show(c, "POST", "/v1/me/license", req);
	json_decref(req);
	return rc;
}

/* Token lifetimes the vault takes (seconds). */

/* Put the --ttl of a token command into req as "ttl_s" (absent: none).
 * Returns 0, or -1 after a usage error. */
static int token_ttl(const struct cli_ctx *c, json_t *req)
{
	int64_t ttl = -1;

	if (cli_opt_duration(c, "--ttl", API_TOKEN_TTL_MIN_S, API_TOKEN_TTL_MAX_S, &ttl) != 0)
		return -1;
	if (ttl >= 0 && json_object_set_new(req, "ttl_s", json_integer((json_int_t)ttl)) != 0) {
		cli_warnx("out of memory");
		return -1;
	}
	return 0;
}

static int is_token_id(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n >= 16 || !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == 16;
}

/* A new token's answer: the token alone on standard output (or the whole
 * answer with --json); its public id and expiry on standard error, so a
 * script that keeps the token in a file also sees which one it is. */
static int show_token(const struct cli_ctx *c, const struct cli_resp *r)
{
	const char *id = json_string_value(json_object_get(r->json, "token_id"));
	const char *exp = json_string_value(json_object_get(r->json, "expires_at"));
	char when[64];
	int rc = cli_show_field(c, r, "token");

	if (rc != CLI_OK || c->json || id == NULL || !is_token_id(id))
		return rc;
	if (exp != NULL) {
		/* cleaned and shown in local time, like every time the client prints */
		cli_time_local(exp, CLI_TIME_FULL, when, sizeof when);
		fprintf(stderr, "rsvault: token id %s, expires %s\n", id, when);
	} else {
		fprintf(stderr, "rsvault: token id %s, does not expire\n", id);
	}
	return rc;
}

int cli_cmd_account_add(struct cli_ctx *c)
{
	const char *role = cli_opt(c, "--role"), *email = cli_opt(c, "--email");
	struct cli_resp r = {0};
	json_t *req = NULL;
	int rc = CLI_ERR;

	if (cli_check_account(c, "ID", c->args[0]) != 0 || check_email(c, email) != 0)
		return CLI_ERR;
	if (!cli_one_of(role, roles))
		return cli_usage(c, "--role must be one of customer, reseller, agent, "
		                    "auditor, admin");
	req = json_object();
	if (req == NULL || cli_json_set_str(req, "id", c->args[0]) != 0 ||
	    cli_json_set_str(req, "role", role) != 0 ||
	    cli_json_set_str(req, "email", email) != 0) {
		rc = cli_usage(c, "--email must be valid UTF-8");
		goto done;
	}
	if (token_ttl(c, req) != 0)
		goto done;
	rc = cli_api(c, "POST", "/v1/accounts", req, NULL, &r);
	if (rc == CLI_OK)
		rc = show_token(c, &r);
done:
	json_decref(req);
	cli_resp_free(&r);
	return rc;
}

/* METHOD /v1/accounts/ID/SUFFIX; print the account or nothing. */
static int account_call(struct cli_ctx *c, const char *method, const char *suffix)
{
	char path[CLI_PATH_MAX];
	int rc;

	if (cli_check_account(c, "ID", c->args[0]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/accounts/%s/%s", c->args[0], suffix) != 0)
		return CLI_ERR;
	rc = cli_call_show(c, method, path, NULL);
	return rc;
}

int cli_cmd_account_token(struct cli_ctx *c)
{
	struct cli_resp r = {0};
	char path[CLI_PATH_MAX];
	json_t *req;
	int rc = CLI_ERR;

	if (cli_check_account(c, "ID", c->args[0]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/accounts/%s/tokens", c->args[0]) != 0)
		return CLI_ERR;
	if ((req = json_object()) == NULL) {
		cli_warnx("out of memory");
		return CLI_ERR;
	}
	if (token_ttl(c, req) != 0)
		goto done;
	/* no --ttl: no body at all, as the route allows */
	rc = cli_api(c, "POST", path, json_object_size(req) ? req : NULL, NULL, &r);
	if (rc == CLI_OK)
		rc = show_token(c, &r);
done:
	json_decref(req);
	cli_resp_free(&r);
	return rc;
}

int cli_cmd_account_revoke(struct cli_ctx *c)
{
	const char *tok = cli_opt(c, "--token");
	char suffix[32];

	if (tok == NULL)
		return account_call(c, "DELETE", "tokens");
	if (!is_token_id(tok))
		return cli_usage(c, "--token wants a token id: 16 lowercase hex characters, as "
		                    "printed when the token was made");
	if (cli_fmt(suffix, sizeof suffix, "tokens/%s", tok) != 0)
		return CLI_ERR;
	return account_call(c, "DELETE", suffix);
}

int cli_cmd_account_suspend(struct cli_ctx *c)
{
	return account_call(c, "POST", "suspend");
}

int cli_cmd_account_reactivate(struct cli_ctx *c)
{
	return account_call(c, "POST", "reactivate");
}

/* ---- lists and license changes (SPEC 8.6) ------------------------------- */

int cli_cmd_account_list(struct cli_ctx *c)
{
	static const char *const head[] = {"ID", "ROLE", "EMAIL", "SUSPENDED", "CREATED"};
	static const char *const keys[] = {"id", "role", "email", "suspended", "created_at"};

	return cli_get_list(c, "/v1/accounts", "accounts", head, keys, 5);
}

int cli_cmd_account_show(struct cli_ctx *c)
{
	char path[CLI_PATH_MAX];
	int rc;

	if (cli_check_account(c, "ID", c->args[0]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/accounts/%s", c->args[0]) != 0)
		return CLI_ERR;
	rc = cli_call_show(c, "GET", path, NULL);
	return rc;
}

int cli_cmd_license_list(struct cli_ctx *c)
{
	static const char *const head[] = {"KEY",         "TYPE",     "EMAIL",
	                                   "VALID UNTIL", "PRIORITY", "REVOKED"};
	static const char *const keys[] = {"key",         "type",     "email",
	                                   "valid_until", "priority", "revoked"};

	return cli_get_list(c, "/v1/licenses", "licenses", head, keys, 6);
}

/* /v1/licenses/KEY[/suffix] with the key percent-encoded. */
static int license_path(struct cli_ctx *c, const char *suffix, char *path, size_t n)
{
	char enc[CLI_PATH_MAX / 2];

	if (check_key(c, c->args[0]) != 0 || cli_escape(c, c->args[0], enc, sizeof enc) != 0 ||
	    cli_path(path, n, "/v1/licenses/%s%s", enc, suffix) != 0)
		return -1;
	return 0;
}

int cli_cmd_license_update(struct cli_ctx *c)
{
	const char *type = cli_opt(c, "--type"), *until = cli_opt(c, "--valid-until");
	struct cli_resp r = {0};
	char path[CLI_PATH_MAX], norm[UTIL_TIME_LEN];
	json_t *req = NULL;
	int64_t ms;
	int rc = CLI_ERR;

	if (type == NULL && until == NULL)
		return cli_usage(c, "give --type, --valid-until or both");
	if (type != NULL && !cli_one_of(type, license_types))
		return cli_usage(c, "--type must be one of site, pro, plus, starter, free, "
		                    "trial");
	if (until != NULL && strcmp(until, "never") != 0) {
		if (util_parse_time(until, &ms) != 0 || util_format_time(ms, norm) != 0)
			return cli_usage(c, "--valid-until must be an RFC 3339 time, e.g. "
			                    "2027-01-31T23:59:59Z, or never");
		until = norm;
	}
	if (license_path(c, "", path, sizeof path) != 0)
		return CLI_ERR;
	if ((req = json_object()) == NULL || cli_json_set_str(req, "type", type) != 0 ||
	    (until != NULL &&
	     json_object_set_new(req, "valid_until",
	                         strcmp(until, "never") == 0 ? json_null() : json_string(until)) !=
	         0)) {
		cli_warnx("out of memory");
		goto done;
	}
	rc = cli_api(c, "PATCH", path, req, NULL, &r);
	if (rc == CLI_OK)
		rc = cli_show_object(c, &r);
done:
	json_decref(req);
	cli_resp_free(&r);
	return rc;
}

int cli_cmd_license_revoke(struct cli_ctx *c)
{
	char path[CLI_PATH_MAX];

	if (license_path(c, "/revoke", path, sizeof path) != 0)
		return CLI_ERR;
	return cli_call_show(c, "POST", path, NULL);
}

int cli_cmd_backup(struct cli_ctx *c)
{
	return cli_call_show(c, "POST", "/v1/admin/backup", NULL);
}

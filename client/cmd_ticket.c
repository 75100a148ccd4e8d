/* cmd_ticket.c - `rsvault me` and `rsvault ticket ...`. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cmd.h"
#include "http.h"
#include "output.h"
#include "util.h"

int cli_cmd_me(struct cli_ctx *c)
{
	return cli_call_show(c, "GET", "/v1/me", NULL);
}

/* A ticket's approval mode (SPEC 8.3). */
static int valid_mode(const char *m)
{
	return strcmp(m, "none") == 0 || strcmp(m, "owner") == 0;
}

int cli_cmd_ticket_create(struct cli_ctx *c)
{
	const char *subject = c->args[0], *ref = cli_opt(c, "--ref"),
	           *owner = cli_opt(c, "--owner"), *approval = cli_opt(c, "--approval");
	struct cli_resp r = {0};
	json_t *req = NULL;
	int rc = CLI_ERR;

	if (subject[0] == '\0')
		return cli_usage(c, "the subject is empty");
	if (approval != NULL && !valid_mode(approval))
		return cli_usage(c, "--approval takes none or owner");
	req = json_object();
	if (req == NULL)
		goto done;
	if (owner != NULL && cli_check_account(c, "--owner", owner) != 0)
		goto done;
	if (cli_json_set_str(req, "subject", subject) != 0 ||
	    cli_json_set_str(req, "ref", ref) != 0 || cli_json_set_str(req, "owner", owner) != 0 ||
	    cli_json_set_str(req, "approval", approval) != 0) {
		rc = cli_usage(c, "SUBJECT and REF must be valid UTF-8");
		goto done;
	}
	rc = cli_api(c, "POST", "/v1/tickets", req, NULL, &r);
	if (rc == CLI_OK)
		rc = cli_show_field(c, &r, "id");
done:
	json_decref(req);
	cli_resp_free(&r);
	return rc;
}

/* One table row per ticket. */
static int ticket_table(json_t *list)
{
	static const char *const head[] = {"ID",    "PRIORITY", "STATUS", "AGE",
	                                   "OWNER", "AGENT",    "SUBJECT"};
	struct cli_table t;
	long long now = util_now_ms();
	size_t i;
	json_t *tk;
	int rc = CLI_OK;

	cli_table_init(&t, 7, head, CLI_CELL_MAXCOLS);
	json_array_foreach(list, i, tk)
	{
		char prio[32], age[32], b1[32], b2[32], b3[32];
		const char *row[7];

		if (!json_is_object(tk)) {
			rc = cli_malformed("tickets");
			goto done;
		}
		cli_age(jx_str(tk, "created_at"), now, age, sizeof age);
		row[0] = cli_jtext(tk, "id", b1, sizeof b1);
		row[1] = cli_jtext(tk, "priority", prio, sizeof prio);
		row[2] = cli_jtext(tk, "status", b2, sizeof b2);
		row[3] = age;
		row[4] = cli_jtext(tk, "owner", b3, sizeof b3);
		row[5] = jx_str(tk, "agent");
		row[6] = jx_str(tk, "subject");
		if (cli_table_add(&t, row) != 0) {
			cli_warnx("out of memory");
			rc = CLI_ERR;
			goto done;
		}
	}
	cli_table_print(&t, stdout);
done:
	cli_table_free(&t);
	return rc;
}

/* Add "&name=value" (percent-encoded) for option opt, if given. */
static int add_filter(struct cli_ctx *c, char *path, size_t n, const char *name, const char *opt)
{
	const char *v = cli_opt(c, opt);
	char enc[1024];
	size_t used = strlen(path);

	if (v == NULL)
		return 0;
	if (v[0] == '\0') {
		cli_usage(c, "%s wants a value", opt);
		return -1;
	}
	if (cli_escape(c, v, enc, sizeof enc) != 0)
		return -1;
	if (cli_fmt(path + used, n - used, "%c%s=%s", strchr(path, '?') ? '&' : '?', name, enc) !=
	    0) {
		cli_usage(c, "%s is too long", opt);
		return -1;
	}
	return 0;
}

int cli_cmd_ticket_list(struct cli_ctx *c)
{
	static const char *const statuses[] = {"open", "closed", NULL};
	const char *status = cli_opt(c, "--status");
	char path[CLI_PATH_MAX] = "/v1/tickets";
	struct cli_resp r = {0};
	json_t *list;
	int rc;

	if (status != NULL && !cli_one_of(status, statuses))
		return cli_usage(c, "--status must be open or closed");
	if ((cli_opt(c, "--owner") && cli_check_account(c, "--owner", cli_opt(c, "--owner"))) ||
	    (cli_opt(c, "--agent") && cli_check_account(c, "--agent", cli_opt(c, "--agent"))))
		return CLI_ERR;
	if (add_filter(c, path, sizeof path, "status", "--status") != 0 ||
	    add_filter(c, path, sizeof path, "ref", "--ref") != 0 ||
	    add_filter(c, path, sizeof path, "owner", "--owner") != 0 ||
	    add_filter(c, path, sizeof path, "agent", "--agent") != 0)
		return CLI_ERR;
	rc = cli_api_list(c, path, "tickets", &r);
	if (rc != CLI_OK)
		goto done;
	if (c->json) {
		rc = cli_show_object(c, &r);
		goto done;
	}
	list = cli_resp_array(&r, "tickets");
	rc = list ? ticket_table(list) : CLI_ERR;
done:
	cli_resp_free(&r);
	return rc;
}

int cli_cmd_ticket_show(struct cli_ctx *c)
{
	char path[CLI_PATH_MAX];
	int rc;

	if (cli_check_id(c, "TID", c->args[0]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/tickets/%s", c->args[0]) != 0)
		return CLI_ERR;
	rc = cli_call_show(c, "GET", path, NULL);
	return rc;
}

int cli_cmd_ticket_assign(struct cli_ctx *c)
{
	struct cli_resp r = {0};
	char path[CLI_PATH_MAX];
	json_t *req = NULL;
	int rc = CLI_ERR;

	if (cli_check_id(c, "TID", c->args[0]) != 0 ||
	    cli_check_account(c, "AGENT", c->args[1]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/tickets/%s/assign", c->args[0]) != 0)
		return CLI_ERR;
	req = json_object();
	if (req == NULL || cli_json_set_str(req, "agent", c->args[1]) != 0) {
		cli_warnx("out of memory");
		goto done;
	}
	rc = cli_api(c, "POST", path, req, NULL, &r);
	if (rc == CLI_OK)
		rc = cli_show_object(c, &r);
done:
	json_decref(req);
	cli_resp_free(&r);
	return rc;
}

int cli_cmd_ticket_close(struct cli_ctx *c)
{
	char path[CLI_PATH_MAX];
	int rc;

	if (cli_check_id(c, "TID", c->args[0]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/tickets/%s/close", c->args[0]) != 0)
		return CLI_ERR;
	rc = cli_call_show(c, "POST", path, NULL);
	return rc;
}

int cli_cmd_ticket_approval(struct cli_ctx *c)
{
	struct cli_resp r = {0};
	char path[CLI_PATH_MAX];
	json_t *req = NULL;
	int rc = CLI_ERR;

	if (cli_check_id(c, "TID", c->args[0]) != 0)
		return CLI_ERR;
	if (!valid_mode(c->args[1]))
		return cli_usage(c, "MODE is none or owner");
	if (cli_path(path, sizeof path, "/v1/tickets/%s/approval", c->args[0]) != 0)
		return CLI_ERR;
	req = json_object();
	if (req == NULL || cli_json_set_str(req, "mode", c->args[1]) != 0) {
		cli_warnx("out of memory");
		goto done;
	}
	rc = cli_api(c, "POST", path, req, NULL, &r);
	if (rc == CLI_OK)
		rc = cli_show_object(c, &r);
done:
	json_decref(req);
	cli_resp_free(&r);
	return rc;
}

/* cmd_webhook.c - `rsvault webhook add|list|rm|deliveries` (admin; SPEC 8.3,
 * docs/webhooks.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cmd.h"
#include "http.h"
#include "output.h"

#define URL_MAX 2048
#define PAGE_QUERY_MAX 256

static const char *const states[] = {"pending", "delivered", "failed", NULL};

/* --event values (joined with ',') into a JSON array; NULL: every type. */
static int events_of(const struct cli_ctx *c, json_t *req)
{
	const char *ev = cli_opt(c, "--event");
	char buf[1024], *save = NULL, *tok;
	json_t *arr;

	if (ev == NULL)
		return 0;
	if (cli_fmt(buf, sizeof buf, "%s", ev) != 0 || (arr = json_array()) == NULL)
		return cli_usage(c, "too many --event values");
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
		if (json_array_append_new(arr, json_string(tok)) != 0) {
			json_decref(arr);
			return cli_usage(c, "--event wants an event type such as credential.read");
		}
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		return cli_usage(c, "--event wants an event type such as credential.read");
	}
	return json_object_set_new(req, "events", arr) == 0 ? 0 : CLI_ERR;
}

int cli_cmd_webhook_add(struct cli_ctx *c)
{
	const char *url = c->args[0];
	struct cli_resp r = {0};
	json_t *req = NULL;
	int rc = CLI_ERR;

	if (strncmp(url, "https://", 8) != 0 || strlen(url) > URL_MAX)
		return cli_usage(c, "URL must be an https:// address of at most %d bytes", URL_MAX);
	req = json_object();
	if (req == NULL || cli_json_set_str(req, "url", url) != 0) {
		rc = cli_usage(c, "URL must be valid UTF-8");
		goto done;
	}
	if ((rc = events_of(c, req)) != 0)
		goto done;
	rc = cli_api(c, "POST", "/v1/webhooks", req, NULL, &r);
	if (rc == CLI_OK) {
		/* the signing secret alone on stdout (shown once); its id to stderr */
		const char *id = jx_str(r.json, "id");
		rc = cli_show_field(c, &r, "secret");
		if (rc == CLI_OK && !c->json && id != NULL && cli_valid_server_id(id))
			fprintf(stderr,
			        "rsvault: webhook %s; keep the secret to verify signatures\n", id);
	}
done:
	json_decref(req);
	cli_resp_free(&r); /* wipes the answer: it held the signing secret */
	return rc;
}

int cli_cmd_webhook_list(struct cli_ctx *c)
{
	static const char *const head[] = {"ID", "URL", "EVENTS", "CREATED"};
	struct cli_table t;
	struct cli_resp r = {0};
	json_t *list, *o;
	size_t i;
	int rc;

	rc = cli_api(c, "GET", "/v1/webhooks", NULL, NULL, &r);
	if (rc != CLI_OK || c->json) {
		if (rc == CLI_OK)
			rc = cli_show_object(c, &r);
		cli_resp_free(&r);
		return rc;
	}
	if ((list = cli_resp_array(&r, "webhooks")) == NULL) {
		cli_resp_free(&r);
		return CLI_ERR;
	}
	cli_table_init(&t, 4, head, 0);
	json_array_foreach(list, i, o)
	{
		char events[512] = "", created[64];
		const char *row[4];
		json_t *e;
		size_t k;
		json_array_foreach(json_object_get(o, "events"), k, e)
		{
			const char *s = json_string_value(e);
			size_t n = strlen(events);
			if (s != NULL)
				snprintf(events + n, sizeof events - n, "%s%s", n ? "," : "", s);
		}
		cli_time_local(jx_str(o, "created_at"), CLI_TIME_MINUTES, created, sizeof created);
		row[0] = jx_str(o, "id");
		row[1] = jx_str(o, "url");
		row[2] = events;
		row[3] = created;
		if (cli_table_add(&t, row) != 0) {
			rc = CLI_ERR;
			break;
		}
	}
	if (rc == CLI_OK)
		cli_table_print(&t, stdout);
	cli_table_free(&t);
	cli_resp_free(&r);
	return rc;
}

int cli_cmd_webhook_rm(struct cli_ctx *c)
{
	struct cli_resp r;
	char path[CLI_PATH_MAX];
	int rc;

	if (cli_check_id(c, "ID", c->args[0]) != 0)
		return CLI_ERR;
	if (cli_path(path, sizeof path, "/v1/webhooks/%s", c->args[0]) != 0)
		return CLI_ERR;
	rc = cli_api(c, "DELETE", path, NULL, NULL, &r);
	cli_resp_free(&r);
	return rc;
}

/* Every page (or, with --limit, the first one), newest first. */
int cli_cmd_webhook_deliveries(struct cli_ctx *c)
{
	static const char *const head[] = {"ID",          "TYPE",    "STATE",       "ATTEMPTS",
	                                   "LAST STATUS", "CREATED", "NEXT ATTEMPT"};
	static const char *const keys[] = {
	    "id", "type", "state", "attempts", "last_status", "created_at", "next_attempt_at"};
	const char *state = cli_opt(c, "--state");
	char after[64] = "";
	struct cli_table t;
	json_t *all;
	int64_t limit = 0;
	int rc = CLI_OK;

	if (cli_check_id(c, "ID", c->args[0]) != 0)
		return CLI_ERR;
	if (state != NULL && !cli_one_of(state, states))
		return cli_usage(c, "--state must be pending, delivered or failed");
	if (cli_opt_int(c, "--limit", 1, 1000, &limit) != 0)
		return CLI_ERR;
	if ((all = json_array()) == NULL)
		return CLI_ERR;
	for (;;) {
		char path[CLI_PATH_MAX], q[PAGE_QUERY_MAX];
		struct cli_resp r = {0};
		json_t *page;
		const char *next;
		if (cli_fmt(q, sizeof q, "?limit=%lld%s%s%s%s", (long long)(limit ? limit : 1000),
		            state ? "&state=" : "", state ? state : "", after[0] ? "&after=" : "",
		            after) != 0 ||
		    cli_path(path, sizeof path, "/v1/webhooks/%s/deliveries%s", c->args[0], q) !=
		        0) {
			rc = CLI_ERR;
			break;
		}
		if ((rc = cli_api(c, "GET", path, NULL, NULL, &r)) != CLI_OK) {
			cli_resp_free(&r);
			break;
		}
		if ((page = cli_resp_array(&r, "deliveries")) == NULL) {
			cli_resp_free(&r);
			rc = CLI_ERR;
			break;
		}
		json_array_extend(all, page);
		next = jx_str(r.json, "next");
		if (limit || next == NULL || strspn(next, "0123456789") != strlen(next) ||
		    cli_fmt(after, sizeof after, "%s", next) != 0) {
			cli_resp_free(&r);
			break;
		}
		cli_resp_free(&r);
	}
	if (rc == CLI_OK && c->json) {
		json_t *o = json_pack("{s:O}", "deliveries", all);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		rc = s != NULL && cli_print_json(s, strlen(s)) == 0 ? CLI_OK : CLI_ERR;
		free(s);
		json_decref(o);
	} else if (rc == CLI_OK) {
		json_t *o;
		size_t i;
		cli_table_init(&t, 7, head, 0);
		json_array_foreach(all, i, o)
		{
			char buf[7][64];
			const char *row[7];
			for (size_t k = 0; k < 7; k++) {
				size_t kl = strlen(keys[k]);
				if (kl > 3 && strcmp(keys[k] + kl - 3, "_at") == 0) {
					cli_time_local(jx_str(o, keys[k]), CLI_TIME_SECONDS, buf[k],
					               sizeof buf[k]);
					row[k] = buf[k];
				} else {
					row[k] = cli_jtext(o, keys[k], buf[k], sizeof buf[k]);
				}
			}
			if (cli_table_add(&t, row) != 0) {
				rc = CLI_ERR;
				break;
			}
		}
		if (rc == CLI_OK)
			cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(all);
	return rc;
}

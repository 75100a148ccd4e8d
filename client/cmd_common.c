/* cmd_common.c - small pieces every command handler uses. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cmd.h"
#include "config.h"
#include "http.h"
#include "jsonx.h"
#include "output.h"
#include "secret.h"

int cli_json_set_str(json_t *obj, const char *key, const char *val)
{
	json_t *s;

	if (val == NULL)
		return 0;
	s = json_string(val);
	if (s == NULL)
		return -1;
	return json_object_set_new(obj, key, s);
}

int cli_malformed(const char *what)
{
	cli_warnx("malformed answer from the vault: %s", what);
	return CLI_ERR;
}

int cli_write_failed(void)
{
	cli_warnx("cannot write to standard output: %s", strerror(errno));
	return CLI_ERR;
}

int cli_show_object(const struct cli_ctx *c, const struct cli_resp *r)
{
	if (r->body == NULL)
		return CLI_OK;
	if (c->json)
		return cli_print_json(r->body, r->len) == 0 ? CLI_OK : CLI_ERR;
	if (cli_print_object(r->json, stdout) != 0) {
		cli_warnx("out of memory");
		return CLI_ERR;
	}
	return CLI_OK;
}

int cli_show_field(const struct cli_ctx *c, const struct cli_resp *r, const char *key)
{
	json_t *v = json_object_get(r->json, key);

	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (s == NULL || n == 0)
		return cli_malformed(key);
	/* ids and tokens are printable ASCII: written as they are, nothing
	 * else may pass (no control, no C1, no direction character) */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return cli_malformed(key);
	if (c->json)
		return cli_print_json(r->body, r->len) == 0 ? CLI_OK : CLI_ERR;
	if (cli_print_secret(s, n) != 0)
		return cli_write_failed();
	return CLI_OK;
}

json_t *cli_resp_array(const struct cli_resp *r, const char *key)
{
	json_t *a = json_object_get(r->json, key);

	if (!json_is_array(a)) {
		cli_malformed(key);
		return NULL;
	}
	return a;
}

int cli_path(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= n) {
		cli_warnx("request path too long");
		return -1;
	}
	return 0;
}

int cli_escape(struct cli_ctx *c, const char *s, char *buf, size_t n)
{
	char *e;
	int rc = -1;

	/* libcurl's allocator must be in place before it allocates */
	if (cli_connect(c) != CLI_OK)
		return -1;
	e = cli_http_escape(c->http, s);
	if (e == NULL) {
		cli_warnx("out of memory");
		return -1;
	}
	if (cli_fmt(buf, n, "%s", e) == 0)
		rc = 0;
	else
		cli_warnx("value too long for a URL");
	cli_http_free_str(e);
	return rc;
}

/* Is s a cursor as the vault makes them (base64url, at most 1024)? */
static int is_cursor(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n >= 1024 || !((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
		                   (s[n] >= '0' && s[n] <= '9') || s[n] == '-' || s[n] == '_'))
			return 0;
	return n > 0;
}

int cli_api_list(struct cli_ctx *c, const char *path, const char *key, struct cli_resp *r)
{
	char next_path[CLI_PATH_MAX + 1100];
	int rc, pages = 1;

	if ((rc = cli_api(c, "GET", path, NULL, NULL, r)) != CLI_OK)
		return rc;
	for (;;) {
		const char *next = json_string_value(json_object_get(r->json, "next"));
		json_t *mine = json_object_get(r->json, key), *more, *item;
		struct cli_resp r2;
		size_t i;

		if (next == NULL)
			break;
		if (!is_cursor(next) || !json_is_array(mine))
			return cli_malformed("next");
		if (cli_fmt(next_path, sizeof next_path, "%s%cafter=%s", path,
		            strchr(path, '?') ? '&' : '?', next) != 0)
			return cli_malformed("next");
		if ((rc = cli_api(c, "GET", next_path, NULL, NULL, &r2)) != CLI_OK) {
			cli_resp_free(&r2);
			return rc;
		}
		more = json_object_get(r2.json, key);
		if (!json_is_array(more)) {
			cli_resp_free(&r2);
			return cli_malformed(key);
		}
		json_array_foreach(more, i, item) json_array_append(mine, item);
		if (json_object_get(r2.json, "next") != NULL)
			json_object_set(r->json, "next", json_object_get(r2.json, "next"));
		else
			json_object_del(r->json, "next");
		cli_resp_free(&r2);
		pages++;
	}
	if (pages > 1) {
		/* the body --json prints: every page in one answer */
		char *body = json_dumps(r->json, JSON_COMPACT);
		if (body == NULL) {
			cli_warnx("out of memory");
			return CLI_ERR;
		}
		wipe_free(r->body);
		r->body = body;
		r->len = strlen(body);
	}
	return CLI_OK;
}

/* Is key a time member, shown in local time: "..._at" or "valid_until". */
static int is_time_key(const char *key)
{
	size_t kl = strlen(key);

	return (kl > 3 && strcmp(key + kl - 3, "_at") == 0) || strcmp(key, "valid_until") == 0;
}

int cli_list_table(json_t *list, const char *what, const char *const *head, const char *const *keys,
                   size_t ncols)
{
	struct cli_table t;
	size_t i;
	json_t *o;
	int rc = CLI_OK;

	if (ncols > CLI_TABLE_MAXCOLS)
		return CLI_ERR;
	cli_table_init(&t, ncols, head, CLI_CELL_MAXCOLS);
	json_array_foreach(list, i, o)
	{
		char buf[CLI_TABLE_MAXCOLS][96];
		const char *row[CLI_TABLE_MAXCOLS];

		if (!json_is_object(o)) {
			rc = cli_malformed(what);
			goto done;
		}
		for (size_t k = 0; k < ncols; k++) {
			if (is_time_key(keys[k])) {
				cli_time_local(jx_str(o, keys[k]), CLI_TIME_MINUTES, buf[k],
				               sizeof buf[k]);
				row[k] = buf[k];
			} else {
				row[k] = cli_jtext(o, keys[k], buf[k], sizeof buf[k]);
			}
		}
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

int cli_get_list(struct cli_ctx *c, const char *path, const char *key, const char *const *head,
                 const char *const *keys, size_t ncols)
{
	struct cli_resp r = {0};
	json_t *list;
	int rc = cli_api_list(c, path, key, &r);

	if (rc == CLI_OK) {
		if (c->json)
			rc = cli_show_object(c, &r);
		else if ((list = cli_resp_array(&r, key)) == NULL)
			rc = CLI_ERR;
		else
			rc = cli_list_table(list, key, head, keys, ncols);
	}
	cli_resp_free(&r);
	return rc;
}

int cli_call_show(struct cli_ctx *c, const char *method, const char *path, json_t *req)
{
	struct cli_resp r = {0};
	int rc = cli_api(c, method, path, req, NULL, &r);

	if (rc == CLI_OK)
		rc = cli_show_object(c, &r);
	cli_resp_free(&r);
	return rc;
}

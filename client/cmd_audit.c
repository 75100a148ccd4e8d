/* cmd_audit.c - `rsvault audit list | export | verify`.
 *
 * list shows one page of GET /v1/audit (oldest first, or newest first with
 * --newest), or with --ticket the whole trail of one ticket, page by page.
 * export pages through GET /v1/audit and GET /v1/audit/checkpoints and
 * writes JSON lines in log order: every event as {"type":"event", ...},
 * and right after event S the checkpoint for S, if the vault has one.
 * verify is offline: it needs the export and audit.pub, no vault and no
 * token; its exit statuses are those of common/auditlog.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "apilimits.h"
#include "auditlog.h"
#include "cli.h"
#include "cmd.h"
#include "config.h"
#include "http.h"
#include "keyfile.h"
#include "output.h"
#include "wipe.h"

#define LIST_LIMIT_DEFAULT 100

static const char *const outcomes[] = {"allow", "deny", NULL};

/* ---- paging --------------------------------------------------------------- */

/* One paged listing (events or checkpoints). */
struct pager {
	struct cli_ctx *c;
	const char *route; /* "/v1/audit" */
	const char *key;   /* "events" */
	uint64_t after;    /* after_seq of the next page */
	struct cli_resp resp;
	json_t *items;
	size_t idx;
	size_t n;
	int stalled; /* the last page was short: the listing is caught up */
};

/* Fetch the next page. Returns an exit status. */
static int pager_fetch(struct pager *p)
{
	char path[CLI_PATH_MAX];
	json_t *next;
	int rc;

	cli_resp_free(&p->resp);
	p->items = NULL;
	p->idx = p->n = 0;
	if (cli_path(path, sizeof path, "%s?after_seq=%" PRIu64 "&limit=%d", p->route, p->after,
	             API_AUDIT_PAGE_MAX) != 0)
		return CLI_ERR;
	rc = cli_api(p->c, "GET", path, NULL, NULL, &p->resp);
	if (rc != CLI_OK)
		return rc;
	p->items = cli_resp_array(&p->resp, p->key);
	if (p->items == NULL)
		return CLI_ERR;
	p->n = json_array_size(p->items);
	if (p->n > API_AUDIT_PAGE_MAX)
		return cli_malformed("page larger than the limit asked for");
	/* A page of API_AUDIT_PAGE_MAX items may have more behind it. A shorter page
	 * means caught up: since every page read is itself audited, waiting
	 * for an empty page of events would never end. */
	p->stalled = p->n < API_AUDIT_PAGE_MAX;
	if (p->n > 0) {
		next = json_object_get(p->resp.json, "next_seq");
		if (!json_is_integer(next) || json_integer_value(next) < 0 ||
		    (uint64_t)json_integer_value(next) <= p->after)
			return cli_malformed("next_seq does not advance");
		p->after = (uint64_t)json_integer_value(next);
	}
	return CLI_OK;
}

/* The next item, fetching a page if the current one is used up and the
 * listing is not caught up. *item is NULL at the end. */
static int pager_peek(struct pager *p, json_t **item)
{
	int rc;

	*item = NULL;
	if (p->idx >= p->n) {
		if (p->stalled)
			return CLI_OK;
		rc = pager_fetch(p);
		if (rc != CLI_OK)
			return rc;
	}
	if (p->idx < p->n)
		*item = json_array_get(p->items, p->idx);
	return CLI_OK;
}

/* ---- audit list --------------------------------------------------------- */

/* Append "&name=escaped(value)" (or "?name=..." first) to path. */
static int add_query(struct cli_ctx *c, char *path, size_t n, const char *name, const char *value)
{
	char enc[CLI_PATH_MAX / 4];
	size_t used = strlen(path);

	if (value == NULL)
		return 0;
	if (cli_escape(c, value, enc, sizeof enc) != 0)
		return -1;
	return cli_path(path + used, n - used, "%c%s=%s", strchr(path, '?') ? '&' : '?', name, enc);
}

/* Does event e pass the filters applied on the client side? */
static int event_matches(const struct cli_ctx *c, json_t *e, int64_t after)
{
	static const char *const fields[][2] = {
	    {"--actor", "actor"}, {"--action", "action"}, {"--outcome", "outcome"}};
	json_t *seq = json_object_get(e, "seq");

	if (!json_is_integer(seq) || json_integer_value(seq) <= after)
		return 0;
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		const char *want = cli_opt(c, fields[i][0]), *got;

		if (want == NULL)
			continue;
		got = jx_str(e, fields[i][1]);
		if (got == NULL || strcmp(got, want) != 0)
			return 0;
	}
	return 1;
}

static int event_table(json_t *events)
{
	static const char *const head[] = {"SEQ",    "TIME",    "ACTOR", "ACTION",
	                                   "TICKET", "OUTCOME", "REASON"};
	struct cli_table t;
	size_t i;
	json_t *e;
	int rc = CLI_OK;

	cli_table_init(&t, 7, head, CLI_CELL_MAXCOLS);
	json_array_foreach(events, i, e)
	{
		char seq[32], tm[64];
		const char *row[7];

		if (!json_is_object(e)) {
			rc = cli_malformed("events");
			goto done;
		}
		cli_time_local(jx_str(e, "time"), CLI_TIME_SECONDS, tm, sizeof tm);
		row[0] = cli_jtext(e, "seq", seq, sizeof seq);
		row[1] = tm;
		row[2] = jx_str(e, "actor");
		row[3] = jx_str(e, "action");
		row[4] = jx_str(e, "ticket");
		row[5] = jx_str(e, "outcome");
		row[6] = jx_str(e, "reason");
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

/* Reverse a JSON array in place. */
static void reverse_array(json_t *arr)
{
	size_t n = json_array_size(arr);

	for (size_t i = 0; i < n / 2; i++) {
		json_t *a = json_incref(json_array_get(arr, i));
		json_t *b = json_incref(json_array_get(arr, n - 1 - i));

		json_array_set_new(arr, i, b);
		json_array_set_new(arr, n - 1 - i, a);
	}
}

/* With --ticket: GET /v1/tickets/T/audit, which owners may read too, page
 * by page from --after to the end (a short page: every read of the trail
 * is itself an event of the ticket, so an empty page would never come).
 * The other filters are applied here; --newest reverses the order, so it
 * reads the whole trail first. --limit caps what is shown. */
static int list_ticket(struct cli_ctx *c, int64_t after, int64_t limit, int newest)
{
	char route[CLI_PATH_MAX];
	struct pager p;
	json_t *keep, *e;
	int rc;

	if (cli_path(route, sizeof route, "/v1/tickets/%s/audit", cli_opt(c, "--ticket")) != 0)
		return CLI_ERR;
	memset(&p, 0, sizeof p);
	p = (struct pager){.c = c, .route = route, .key = "events", .after = (uint64_t)after};
	if ((keep = json_array()) == NULL) {
		cli_warnx("out of memory");
		return CLI_ERR;
	}
	for (;;) {
		if ((rc = pager_peek(&p, &e)) != CLI_OK || e == NULL)
			break;
		p.idx++;
		if (!json_is_object(e)) {
			rc = cli_malformed("events");
			break;
		}
		if (!event_matches(c, e, after))
			continue;
		if (json_array_append(keep, e) != 0) {
			cli_warnx("out of memory");
			rc = CLI_ERR;
			break;
		}
		if (!newest && (int64_t)json_array_size(keep) >= limit)
			break;
	}
	cli_resp_free(&p.resp);
	if (rc == CLI_OK && newest) {
		reverse_array(keep);
		while ((int64_t)json_array_size(keep) > limit)
			json_array_remove(keep, json_array_size(keep) - 1);
	}
	if (rc == CLI_OK && c->json) {
		/* the vault's text, escaped like every other --json answer */
		json_t *out = json_pack("{sO}", "events", keep);
		char *s = out != NULL ? json_dumps(out, JSON_COMPACT) : NULL;

		if (s == NULL) {
			cli_warnx("out of memory");
			rc = CLI_ERR;
		} else if (cli_print_json(s, strlen(s)) != 0) {
			rc = CLI_ERR;
		}
		if (s != NULL) {
			json_free_t jfree = NULL;

			json_get_alloc_funcs(NULL, &jfree);
			jfree(s);
		}
		json_decref(out);
	} else if (rc == CLI_OK) {
		rc = event_table(keep);
	}
	json_decref(keep);
	return rc;
}

int cli_cmd_audit_list(struct cli_ctx *c)
{
	const char *outcome = cli_opt(c, "--outcome"), *ticket = cli_opt(c, "--ticket");
	int newest = cli_opt(c, "--newest") != NULL;
	struct cli_resp r = {0};
	char path[CLI_PATH_MAX] = "/v1/audit";
	int64_t after = 0, before = 0, limit = LIST_LIMIT_DEFAULT;
	json_t *events, *next;
	int rc;

	if (outcome != NULL && !cli_one_of(outcome, outcomes))
		return cli_usage(c, "--outcome must be allow or deny");
	if (cli_opt_int(c, "--after", 0, INT64_MAX, &after) != 0 ||
	    cli_opt_int(c, "--before", 1, INT64_MAX, &before) != 0 ||
	    cli_opt_int(c, "--limit", 1, API_AUDIT_PAGE_MAX, &limit) != 0)
		return CLI_ERR;
	if (cli_opt(c, "--before") != NULL && !newest)
		return cli_usage(c, "--before goes with --newest (use --after for oldest first)");
	if (cli_opt(c, "--after") != NULL && newest)
		return cli_usage(c, "--after goes without --newest (use --before with --newest)");
	if (ticket != NULL) {
		if (cli_check_id(c, "--ticket", ticket) != 0)
			return CLI_ERR;
		if (cli_opt(c, "--before") != NULL)
			return cli_usage(c, "--before is not available with --ticket");
		if (cli_opt(c, "--limit") == NULL)
			limit = INT64_MAX;
		return list_ticket(c, after, limit, newest);
	}
	if (add_query(c, path, sizeof path, "actor", cli_opt(c, "--actor")) != 0 ||
	    add_query(c, path, sizeof path, "action", cli_opt(c, "--action")) != 0 ||
	    add_query(c, path, sizeof path, "outcome", outcome) != 0 ||
	    add_query(c, path, sizeof path, "order", newest ? "desc" : NULL) != 0 ||
	    add_query(c, path, sizeof path, "before_seq", cli_opt(c, "--before")) != 0 ||
	    add_query(c, path, sizeof path, "after_seq", cli_opt(c, "--after")) != 0 ||
	    add_query(c, path, sizeof path, "limit", cli_opt(c, "--limit")) != 0)
		return CLI_ERR;
	rc = cli_api(c, "GET", path, NULL, NULL, &r);
	if (rc != CLI_OK)
		goto done;
	if (c->json) {
		rc = cli_show_object(c, &r);
		goto done;
	}
	events = cli_resp_array(&r, "events");
	if (events == NULL) {
		rc = CLI_ERR;
		goto done;
	}
	rc = event_table(events);
	next = json_object_get(r.json, "next_seq");
	if (rc == CLI_OK && (int64_t)json_array_size(events) >= limit && json_is_integer(next))
		fprintf(
		    stderr,
		    newest
		        ? "(more events: rsvault audit list --newest --before %" JSON_INTEGER_FORMAT
		          " ...)\n"
		        : "(more events: rsvault audit list --after %" JSON_INTEGER_FORMAT
		          " ...)\n",
		    json_integer_value(next));
done:
	cli_resp_free(&r);
	return rc;
}

/* ---- audit export ------------------------------------------------------- */

/* The state of one export. */
struct export
{
	FILE *out;
	struct pager ev;
	struct pager cp;
	uint64_t last_ev; /* seq of the last event written */
	int cp_written;   /* a checkpoint already follows last_ev */
	uint64_t events;  /* lines written */
	uint64_t checkpoints;
	uint64_t skipped; /* checkpoints that could not follow their event */
};

/* One line of the export, to a file or to standard output alike: DEL, C1
 * and the invisible characters a hostile vault may put in an event are
 * written as \uXXXX escapes (cli_json_clean), so `cat` of the export
 * cannot drive a terminal either. The verifier reads each line as JSON,
 * where an escape is the same character, and hashes the decoded fields,
 * so the escapes change nothing it checks (docs/client.md). */
static int write_line(struct export *x, json_t *obj)
{
	json_free_t jfree = NULL;
	char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER), *clean = NULL;
	size_t n = 0;
	int rc = 0;

	if (s == NULL) {
		cli_warnx("out of memory");
		return -1;
	}
	if ((clean = cli_json_clean(s, strlen(s), &n)) == NULL)
		rc = -1;
	else if (fwrite(clean, 1, n, x->out) != n || fputc('\n', x->out) == EOF) {
		cli_warnx("cannot write the export: %s", strerror(errno));
		rc = -1;
	}
	wipe_free(clean);
	json_get_alloc_funcs(NULL, &jfree);
	jfree(s);
	return rc;
}

static int is_hex(const char *s, size_t n)
{
	return s != NULL && strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

/* Write the checkpoint cp as {"type","seq","hash","signature","public_key"}. */
static int write_checkpoint(struct export *x, json_t *cp, json_int_t seq)
{
	const char *hash = jx_str(cp, "hash"), *sig = jx_str(cp, "signature");
	const char *pk = jx_str(cp, "public_key");
	json_t *line;
	int rc;

	if (!is_hex(hash, 64) || !is_hex(sig, 128) || !is_hex(pk, 64)) {
		cli_malformed("checkpoint");
		return -1;
	}
	line = json_pack("{sssIssssss}", "type", "checkpoint", "seq", seq, "hash", hash,
	                 "signature", sig, "public_key", pk);
	if (line == NULL) {
		cli_warnx("out of memory");
		return -1;
	}
	rc = write_line(x, line);
	json_decref(line);
	if (rc == 0)
		x->checkpoints++;
	return rc;
}

/* Write the checkpoint of the last event written if one is known, and
 * drop those that can no longer directly follow their event (stale or
 * duplicate). Checkpoints of later events stay queued. */
static int place_checkpoints(struct export *x)
{
	json_t *cp, *seqv;
	json_int_t seq;
	int rc;

	for (;;) {
		rc = pager_peek(&x->cp, &cp);
		if (rc != CLI_OK)
			return rc;
		if (cp == NULL)
			return CLI_OK;
		seqv = json_object_get(cp, "seq");
		if (!json_is_object(cp) || !json_is_integer(seqv) || json_integer_value(seqv) < 1)
			return cli_malformed("checkpoint");
		seq = json_integer_value(seqv);
		if ((uint64_t)seq > x->last_ev)
			return CLI_OK;
		if ((uint64_t)seq == x->last_ev && !x->cp_written) {
			if (write_checkpoint(x, cp, seq) != 0)
				return CLI_ERR;
			x->cp_written = 1;
		} else {
			x->skipped++;
		}
		x->cp.idx++;
	}
}

/* Normalise one event with the shared audit code and write it. */
static int write_event(struct export *x, json_t *e)
{
	struct audit_event ev;
	json_t *fields = NULL, *line = NULL;
	int rc = CLI_ERR;

	if (!json_is_object(e) || audit_event_from_json(e, &ev) != 0)
		return cli_malformed("event");
	if (ev.seq <= x->last_ev)
		return cli_malformed("events out of order");
	fields = audit_event_to_json(&ev);
	line = json_pack("{ss}", "type", "event");
	if (fields == NULL || line == NULL || json_object_update(line, fields) != 0) {
		cli_warnx("out of memory");
		goto done;
	}
	if (write_line(x, line) != 0)
		goto done;
	x->last_ev = ev.seq;
	x->cp_written = 0;
	x->events++;
	rc = CLI_OK;
done:
	json_decref(fields);
	json_decref(line);
	return rc;
}

static int export_run(struct export *x)
{
	int rc;

	for (;;) {
		rc = pager_fetch(&x->ev);
		if (rc != CLI_OK)
			return rc;
		/* checkpoints made since the last look may now be listed */
		x->cp.stalled = 0;
		for (size_t i = 0; i < x->ev.n; i++) {
			if ((rc = place_checkpoints(x)) != CLI_OK)
				return rc;
			if ((rc = write_event(x, json_array_get(x->ev.items, i))) != CLI_OK)
				return rc;
			if ((rc = place_checkpoints(x)) != CLI_OK)
				return rc;
		}
		if (x->ev.stalled)
			return CLI_OK;
	}
}

/* Open -o FILE: created 0600, truncated, not through a symlink. */
static FILE *open_output(const char *path)
{
	FILE *f;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		cli_warnx("cannot create %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fchmod(fd, 0600) != 0 || (f = fdopen(fd, "w")) == NULL) {
		cli_warnx("cannot open %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	return f;
}

/* Flush and close the export; fsync a file. Returns 0 or -1. */
static int finish_output(FILE *f, const char *path)
{
	int rc = 0;

	if (fflush(f) != 0 || ferror(f))
		rc = -1;
	if (path != NULL) {
		if (rc == 0 && fsync(fileno(f)) != 0)
			rc = -1;
		if (fclose(f) != 0)
			rc = -1;
	}
	if (rc != 0)
		cli_warnx("cannot write the export to %s: %s", path ? path : "standard output",
		          strerror(errno));
	return rc;
}

int cli_cmd_audit_export(struct cli_ctx *c)
{
	const char *path = cli_opt(c, "-o");
	struct export x;
	int rc;

	memset(&x, 0, sizeof x);
	x.ev = (struct pager){.c = c, .route = "/v1/audit", .key = "events"};
	x.cp = (struct pager){.c = c, .route = "/v1/audit/checkpoints", .key = "checkpoints"};
	/* configuration problems show before FILE is truncated */
	if ((rc = cli_connect(c)) != CLI_OK)
		return rc;
	x.out = path ? open_output(path) : stdout;
	if (x.out == NULL)
		return CLI_ERR;
	rc = export_run(&x);
	if (finish_output(x.out, path) != 0 && rc == CLI_OK)
		rc = CLI_ERR;
	if (rc != CLI_OK && path != NULL) {
		/* a cut-off export still verifies up to where it stops: remove it */
		unlink(path);
		cli_warnx("export failed; %s removed", path);
	}
	if (rc == CLI_OK)
		fprintf(stderr, "exported %" PRIu64 " events and %" PRIu64 " checkpoints%s%s\n",
		        x.events, x.checkpoints, path ? " to " : "", path ? path : "");
	if (rc == CLI_OK && x.skipped > 0)
		cli_notex("warning: %" PRIu64 " checkpoints were left out because they did not "
		          "match the event before them",
		          x.skipped);
	cli_resp_free(&x.ev.resp);
	cli_resp_free(&x.cp.resp);
	return rc;
}

/* ---- audit verify ------------------------------------------------------- */

/* Exit statuses (SPEC 8.1, common/auditlog.h): 0 verified with at least
 * one checkpoint; 5 the chain verified but nothing is signed; 6 a
 * verification failure; 1 a usage error or a file that cannot be read. */
static const char *result_name(int result)
{
	switch (result) {
	case AUDIT_VERIFY_OK:
		return "ok";
	case AUDIT_VERIFY_UNSIGNED:
		return "unsigned";
	case AUDIT_VERIFY_FAILED:
		return "failed";
	default:
		return "error";
	}
}

static int report_verify(const struct cli_ctx *c, const struct audit_verify *v, int result)
{
	char pin[AUDIT_PIN_LEN];
	json_t *j;
	int rc = 0;

	if (!c->json)
		return audit_verify_print(v, result, stdout);
	j = json_pack("{sssbsIsIsIsIsI}", "result", result_name(result), "ok",
	              result == AUDIT_VERIFY_OK, "events", (json_int_t)v->events, "checkpoints",
	              (json_int_t)v->checkpoints, "last_seq", (json_int_t)v->last_seq,
	              "last_checkpoint_seq", (json_int_t)v->last_cp_seq, "unsigned_events",
	              (json_int_t)v->unsigned_tail);
	if (j == NULL)
		return -1;
	if (result == AUDIT_VERIFY_OK && audit_verify_pin(v, pin, sizeof pin) == 0)
		rc |= json_object_set_new(j, "pin", json_string(pin));
	else
		rc |= json_object_set_new(j, "pin", json_null());
	if (result == AUDIT_VERIFY_FAILED) {
		rc |= json_object_set_new(j, "bad_seq", json_integer((json_int_t)v->bad_seq));
		rc |= json_object_set_new(j, "line", json_integer((json_int_t)v->bad_line));
	}
	if (result < AUDIT_VERIFY_OK)
		rc |= json_object_set_new(j, "error", json_string(v->error));
	if (rc != 0 || json_dumpf(j, stdout, JSON_ENSURE_ASCII) != 0 || fputc('\n', stdout) == EOF)
		rc = -1;
	json_decref(j);
	return rc;
}

int cli_cmd_audit_verify(struct cli_ctx *c)
{
	const char *file = c->args[0], *pub = cli_opt(c, "--pubkey"), *pin = cli_opt(c, "--pin");
	struct audit_verify v;
	FILE *f;
	int result;

	memset(&v, 0, sizeof v);
	if (pin != NULL && audit_parse_pin(pin, &v) != 0)
		return cli_usage(c, "--pin: %s", v.error);
	if (keyfile_read_pub(pub, v.pk) != 0) {
		cli_warnx("cannot read the audit public key %s (64 hex characters expected)", pub);
		return AUDIT_EXIT_USAGE;
	}
	f = strcmp(file, "-") == 0 ? stdin : fopen(file, "re");
	if (f == NULL) {
		cli_warnx("cannot open %s: %s", file, strerror(errno));
		return AUDIT_EXIT_USAGE;
	}
	result = audit_verify_stream(f, &v);
	if (f != stdin)
		fclose(f);
	if (report_verify(c, &v, result) != 0)
		return cli_write_failed();
	return audit_verify_exit_status(result);
}

/* output.c - tables, key/value lines, local times and terminal-safe text. */
#define _XOPEN_SOURCE 700 /* wcwidth */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "cli.h"
#include "output.h"
#include "secret.h"
#include "util.h"

#define ELLIPSIS "..."
#define ELLIPSIS_COLS 3
#define KEY_MAX 256
#define REPLACEMENT '?'

/* Decode one UTF-8 sequence at s (which is NUL-terminated). Returns the
 * bytes it used (at least 1) and the code point in *cp, or -1 in *cp for
 * a malformed, overlong or surrogate sequence. */
static size_t utf8_next(const unsigned char *s, long *cp)
{
	unsigned char c = s[0];
	size_t need, i;
	long v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		v = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		v = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		v = c & 0x07;
		min = 0x10000;
	} else {
		*cp = -1;
		return 1;
	}
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*cp = -1;
			return i;
		}
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		v = -1;
	*cp = v;
	return need + 1;
}

/* Code points that must not reach a terminal as they are: C0, DEL, C1,
 * and the invisible format and direction controls that can make text look
 * like something else. */
static int unsafe(long cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c ||
	       (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
	       (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff;
}

/* Columns one (safe) code point takes. */
static size_t cols(long cp)
{
	int w = wcwidth((wchar_t)cp);

	return w < 0 ? 1 : (size_t)w;
}

size_t cli_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "-");
	size_t w = 0;

	while (*p) {
		long cp;

		p += utf8_next(p, &cp);
		w += (cp < 0 || unsafe(cp)) ? 1 : cols(cp);
	}
	return w;
}

char *cli_clean(const char *s, size_t maxcols)
{
	const unsigned char *p;
	size_t limit = SIZE_MAX, w = 0, o = 0;
	char *out;

	if (s == NULL)
		s = "-";
	out = malloc(strlen(s) + sizeof ELLIPSIS);
	if (out == NULL)
		return NULL;
	if (maxcols > ELLIPSIS_COLS && cli_width(s) > maxcols)
		limit = maxcols - ELLIPSIS_COLS;
	for (p = (const unsigned char *)s; *p;) {
		long cp;
		size_t k = utf8_next(p, &cp), cw;
		int bad = cp < 0 || unsafe(cp);

		cw = bad ? 1 : cols(cp);
		if (w + cw > limit) {
			memcpy(out + o, ELLIPSIS, sizeof ELLIPSIS - 1);
			o += sizeof ELLIPSIS - 1;
			break;
		}
		if (bad) {
			out[o++] = REPLACEMENT;
		} else {
			memcpy(out + o, p, k);
			o += k;
		}
		w += cw;
		p += k;
	}
	out[o] = '\0';
	return out;
}

static size_t format_tm(const struct tm *tm, enum cli_time_style style, char *out, size_t n)
{
	switch (style) {
	case CLI_TIME_MINUTES:
		return strftime(out, n, "%Y-%m-%d %H:%M", tm);
	case CLI_TIME_SECONDS:
		return strftime(out, n, "%Y-%m-%d %H:%M:%S", tm);
	case CLI_TIME_FULL:
	default:
		return strftime(out, n, "%Y-%m-%d %H:%M:%S %Z", tm);
	}
}

void cli_time_local(const char *s, enum cli_time_style style, char *out, size_t n)
{
	int64_t ms;
	struct tm tm;
	time_t t;
	char *c;

	if (n == 0)
		return;
	if (s == NULL) {
		snprintf(out, n, "-");
		return;
	}
	if (util_parse_time(s, &ms) == 0) {
		tzset();
		t = (time_t)(ms / 1000);
		if (localtime_r(&t, &tm) != NULL && format_tm(&tm, style, out, n) > 0)
			return;
	}
	c = cli_clean(s, 40);
	snprintf(out, n, "%s", c ? c : "?");
	free(c);
}

void cli_age(const char *s, long long now_ms, char *out, size_t n)
{
	int64_t ms;
	long long secs;

	if (s == NULL || util_parse_time(s, &ms) != 0) {
		snprintf(out, n, "-");
		return;
	}
	secs = now_ms > ms ? (now_ms - ms) / 1000 : 0;
	if (secs < 60)
		snprintf(out, n, "%llds", secs);
	else if (secs < 3600)
		snprintf(out, n, "%lldm", secs / 60);
	else if (secs < 86400)
		snprintf(out, n, "%lldh", secs / 3600);
	else
		snprintf(out, n, "%lldd", secs / 86400);
}

void cli_table_init(struct cli_table *t, size_t ncols, const char *const *head, size_t maxcols)
{
	memset(t, 0, sizeof *t);
	t->ncols = ncols > CLI_TABLE_MAXCOLS ? CLI_TABLE_MAXCOLS : ncols;
	t->maxcols = maxcols;
	for (size_t i = 0; head != NULL && i < t->ncols; i++)
		t->head[i] = head[i];
}

int cli_table_add(struct cli_table *t, const char *const *vals)
{
	size_t i;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p;

		if (cap > SIZE_MAX / t->ncols / sizeof *p)
			return -1;
		p = realloc(t->cells, cap * t->ncols * sizeof *p);
		if (p == NULL)
			return -1;
		t->cells = p;
		t->cap = cap;
	}
	for (i = 0; i < t->ncols; i++) {
		char *c = cli_clean(vals[i], t->maxcols);

		if (c == NULL) {
			while (i-- > 0)
				free(t->cells[t->nrows * t->ncols + i]);
			return -1;
		}
		t->cells[t->nrows * t->ncols + i] = c;
	}
	t->nrows++;
	return 0;
}

static void print_row(const struct cli_table *t, const char *const *row, const size_t *w, FILE *f)
{
	for (size_t i = 0; i < t->ncols; i++) {
		fputs(row[i], f);
		if (i + 1 < t->ncols) {
			size_t pad = w[i] - cli_width(row[i]) + 2;

			while (pad-- > 0)
				fputc(' ', f);
		}
	}
	fputc('\n', f);
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
	size_t w[CLI_TABLE_MAXCOLS] = {0};
	size_t r, i;
	int has_head = t->head[0] != NULL;

	for (i = 0; i < t->ncols; i++) {
		if (has_head)
			w[i] = cli_width(t->head[i]);
		for (r = 0; r < t->nrows; r++) {
			size_t cw = cli_width(t->cells[r * t->ncols + i]);

			if (cw > w[i])
				w[i] = cw;
		}
	}
	if (has_head)
		print_row(t, t->head, w, f);
	for (r = 0; r < t->nrows; r++)
		print_row(t, (const char *const *)&t->cells[r * t->ncols], w, f);
}

void cli_table_free(struct cli_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof *t);
}

const char *cli_jstr(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

const char *cli_jtext(json_t *obj, const char *key, char *buf, size_t n)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, n, "%g", json_real_value(v));
	else if (json_is_true(v))
		snprintf(buf, n, "yes");
	else if (json_is_false(v))
		snprintf(buf, n, "no");
	else
		snprintf(buf, n, "-");
	return buf;
}

static int is_time_key(const char *key)
{
	size_t n = strlen(key);

	return (n > 3 && strcmp(key + n - 3, "_at") == 0) || strcmp(key, "time") == 0 ||
	       strcmp(key, "valid_until") == 0;
}

/* Add the members of obj to the two-column table t, nested objects with
 * prefix "parent.". */
static int add_members(struct cli_table *t, json_t *obj, const char *prefix)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		char name[KEY_MAX], label[KEY_MAX + 1], buf[128];
		const char *text = buf;
		char *dump = NULL;
		const char *row[2];
		int rc;

		if (cli_fmt(name, sizeof name, "%s%s", prefix, key) != 0 ||
		    cli_fmt(label, sizeof label, "%s:", name) != 0)
			continue;
		if (json_is_object(v) && json_object_size(v) > 0) {
			char sub[KEY_MAX + 1];

			if (cli_fmt(sub, sizeof sub, "%s.", name) != 0)
				continue;
			if (add_members(t, v, sub) != 0)
				return -1;
			continue;
		}
		if (json_is_string(v) && is_time_key(key)) {
			cli_time_local(json_string_value(v), CLI_TIME_FULL, buf, sizeof buf);
		} else if (json_is_array(v) || json_is_object(v)) {
			dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			text = dump ? dump : "?";
		} else {
			text = cli_jtext(obj, key, buf, sizeof buf);
		}
		row[0] = label;
		row[1] = text;
		rc = cli_table_add(t, row);
		if (dump != NULL) {
			json_free_t jfree = NULL;

			json_get_alloc_funcs(NULL, &jfree);
			jfree(dump);
		}
		if (rc != 0)
			return -1;
	}
	return 0;
}

int cli_print_object(json_t *obj, FILE *f)
{
	struct cli_table t;
	int rc;

	cli_table_init(&t, 2, NULL, 0);
	rc = add_members(&t, obj, "");
	if (rc == 0)
		cli_table_print(&t, f);
	cli_table_free(&t);
	return rc;
}

int cli_print_raw(const char *body, size_t len)
{
	if (fflush(stdout) != 0)
		return -1;
	if (body != NULL && cli_write_all(STDOUT_FILENO, body, len) != 0)
		return -1;
	if (body == NULL || len == 0 || body[len - 1] != '\n')
		return cli_write_all(STDOUT_FILENO, "\n", 1);
	return 0;
}

int cli_print_secret(const char *s, size_t len)
{
	if (fflush(stdout) != 0)
		return -1;
	if (cli_write_all(STDOUT_FILENO, s, len) != 0)
		return -1;
	return cli_write_all(STDOUT_FILENO, "\n", 1);
}

/* output.c - tables, key/value lines, local times and terminal-safe text. */
#define _XOPEN_SOURCE 700 /* wcwidth */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <sodium.h>

#include "cli.h"
#include "output.h"
#include "secret.h"
#include "util.h"

#define ELLIPSIS "..."
#define ELLIPSIS_COLS 3
#define KEY_MAX 256
#define ESC_MAX 11 /* longest escape: "\U000e007f" and its NUL */
/* An escape takes at most 4 bytes per input byte: "\x1b" for 1 byte,
 * "\u009b" for 2, "\u202e" for 3, "\U000e0041" for 4. */
#define ESC_GROWTH 4

static const char hexdig[] = "0123456789abcdef";

/* Decode one UTF-8 sequence from s, which has n > 0 bytes. Returns the
 * bytes it used and the code point in *cp. A byte that does not begin a
 * complete, shortest-form, non-surrogate sequence gives -1 and uses that
 * one byte only, so every byte of invalid input is shown on its own. */
static size_t utf8_next(const unsigned char *s, size_t n, long *cp)
{
	unsigned char c = s[0];
	size_t need, i;
	long v, min;

	*cp = -1;
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
		return 1;
	}
	if (need >= n)
		return 1;
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 1;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 1;
	*cp = v;
	return need + 1;
}

/* Code points above DEL that must not reach a terminal as they are: the C1
 * controls (0x9b is CSI on many terminals, 0x9d OSC), and the invisible
 * format characters, line/paragraph separators and direction controls
 * (Unicode categories Cf, Zl, Zp) that can make text look like something
 * else: "abc\u202edcba" is shown as "abcabcd". */
static int invisible(long cp)
{
	static const long ranges[][2] = {
	    {0x0080, 0x009f},   {0x00ad, 0x00ad},   {0x0600, 0x0605},   {0x061c, 0x061c},
	    {0x06dd, 0x06dd},   {0x070f, 0x070f},   {0x0890, 0x0891},   {0x08e2, 0x08e2},
	    {0x180e, 0x180e},   {0x200b, 0x200f},   {0x2028, 0x202e},   {0x2060, 0x206f},
	    {0xfeff, 0xfeff},   {0xfff0, 0xfffb},   {0x110bd, 0x110bd}, {0x110cd, 0x110cd},
	    {0x13430, 0x1343f}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a}, {0xe0000, 0xe007f},
	};

	if (cp < 0x80)
		return 0;
	for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
		if (cp >= ranges[i][0] && cp <= ranges[i][1])
			return 1;
	return 0;
}

/* Write "\" letter and the low ndig hex digits of v into out. */
static void put_hex(char *out, char letter, unsigned long v, int ndig)
{
	*out++ = '\\';
	*out++ = letter;
	for (int i = ndig - 1; i >= 0; i--)
		*out++ = hexdig[(v >> (4 * i)) & 0xf];
	*out = '\0';
}

/* One character of input and how it is shown. */
struct unit {
	size_t len;        /* input bytes it covers */
	long cp;           /* its code point, -1 for an invalid byte */
	int bad;           /* a control, invisible character or invalid byte */
	char esc[ESC_MAX]; /* what is shown instead, or "" to show it as it is */
};

/* Classify the character at p (n > 0 bytes left) for mode. */
static void next_unit(const unsigned char *p, size_t n, enum cli_esc mode, struct unit *u)
{
	u->len = utf8_next(p, n, &u->cp);
	u->bad = 1;
	u->esc[0] = '\0';
	if (u->cp < 0) {
		put_hex(u->esc, 'x', p[0], 2);
	} else if (u->cp == '\n' && mode == CLI_ESC_SECRET) {
		u->bad = 0;
	} else if (u->cp == '\t' || u->cp == '\n' || u->cp == '\r') {
		u->esc[0] = '\\';
		u->esc[1] = u->cp == '\t' ? 't' : u->cp == '\n' ? 'n' : 'r';
		u->esc[2] = '\0';
	} else if (u->cp < 0x20 || u->cp == 0x7f) {
		put_hex(u->esc, 'x', (unsigned long)u->cp, 2);
	} else if (invisible(u->cp)) {
		if (u->cp <= 0xffff)
			put_hex(u->esc, 'u', (unsigned long)u->cp, 4);
		else
			put_hex(u->esc, 'U', (unsigned long)u->cp, 8);
	} else {
		u->bad = 0;
		if (u->cp == '\\' && mode == CLI_ESC_SECRET)
			memcpy(u->esc, "\\\\", 3);
	}
}

/* Columns one unit takes on the screen. */
static size_t unit_cols(const struct unit *u)
{
	int w;

	if (u->esc[0] != '\0')
		return strlen(u->esc);
	w = wcwidth((wchar_t)u->cp);
	return w < 0 ? 1 : (size_t)w;
}

int cli_esc_needed(const char *s, size_t n, enum cli_esc mode)
{
	const unsigned char *p = (const unsigned char *)s;
	struct unit u;
	int bad = 0;

	while (n > 0 && !bad) {
		next_unit(p, n, mode, &u);
		bad = u.bad;
		p += u.len;
		n -= u.len;
	}
	sodium_memzero(&u, sizeof u);
	return bad;
}

char *cli_esc_dup(const char *s, size_t n, enum cli_esc mode, size_t *outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = n, o = 0;
	struct unit u;
	char *out;

	if (n > (SIZE_MAX - 1) / ESC_GROWTH)
		return NULL;
	out = wipe_malloc(n * ESC_GROWTH + 1);
	if (out == NULL)
		return NULL;
	while (left > 0) {
		next_unit(p, left, mode, &u);
		if (u.esc[0] != '\0') {
			size_t k = strlen(u.esc);

			memcpy(out + o, u.esc, k);
			o += k;
		} else {
			memcpy(out + o, p, u.len);
			o += u.len;
		}
		p += u.len;
		left -= u.len;
	}
	out[o] = '\0';
	sodium_memzero(&u, sizeof u);
	if (outlen != NULL)
		*outlen = o;
	return out;
}

size_t cli_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "-");
	size_t n = strlen((const char *)p), w = 0;
	struct unit u;

	while (n > 0) {
		next_unit(p, n, CLI_ESC_LINE, &u);
		w += unit_cols(&u);
		p += u.len;
		n -= u.len;
	}
	return w;
}

char *cli_clean(const char *s, size_t maxcols)
{
	const unsigned char *p;
	size_t limit = SIZE_MAX, w = 0, o = 0, n;
	char *out;

	if (s == NULL)
		s = "-";
	n = strlen(s);
	if (n > (SIZE_MAX - sizeof ELLIPSIS) / ESC_GROWTH)
		return NULL;
	out = malloc(n * ESC_GROWTH + sizeof ELLIPSIS);
	if (out == NULL)
		return NULL;
	if (maxcols > ELLIPSIS_COLS && cli_width(s) > maxcols)
		limit = maxcols - ELLIPSIS_COLS;
	for (p = (const unsigned char *)s; n > 0;) {
		struct unit u;
		size_t cw;

		next_unit(p, n, CLI_ESC_LINE, &u);
		cw = unit_cols(&u);
		if (w + cw > limit) {
			memcpy(out + o, ELLIPSIS, sizeof ELLIPSIS - 1);
			o += sizeof ELLIPSIS - 1;
			break;
		}
		if (u.esc[0] != '\0') {
			memcpy(out + o, u.esc, strlen(u.esc));
			o += strlen(u.esc);
		} else {
			memcpy(out + o, p, u.len);
			o += u.len;
		}
		w += cw;
		p += u.len;
		n -= u.len;
	}
	out[o] = '\0';
	return out;
}

static size_t format_tm(const struct tm *tm, enum cli_time_style style, char *out, size_t n)
{
	switch (style) {
	/* every style names its zone (SPEC 8.6: times in tables show it) */
	case CLI_TIME_MINUTES:
		return strftime(out, n, "%Y-%m-%d %H:%M %Z", tm);
	case CLI_TIME_SECONDS:
		return strftime(out, n, "%Y-%m-%d %H:%M:%S %Z", tm);
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

/* Append the JSON escape of code point cp ("\u00XX", or a surrogate pair
 * above U+FFFF) at out; returns the bytes written. */
static size_t json_escape(char *out, long cp)
{
	if (cp <= 0xffff) {
		put_hex(out, 'u', (unsigned long)cp, 4);
		return 6;
	}
	cp -= 0x10000;
	put_hex(out, 'u', 0xd800 + ((unsigned long)cp >> 10), 4);
	put_hex(out + 6, 'u', 0xdc00 + ((unsigned long)cp & 0x3ff), 4);
	return 12;
}

/* Copy a JSON text to out (NULL: only count), escaping DEL, C1 and the
 * invisible characters. Returns the bytes it takes, or SIZE_MAX if the
 * text holds an invalid UTF-8 byte or a raw control character other than
 * the whitespace JSON allows between tokens. */
static size_t json_clean(const unsigned char *p, size_t left, char *out)
{
	char esc[2 * 6 + 1];
	size_t o = 0;

	while (left > 0) {
		long cp;
		size_t k = utf8_next(p, left, &cp), e;

		if (cp < 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r')) {
			o = SIZE_MAX;
			break;
		}
		if (cp == 0x7f || invisible(cp)) {
			/* outside a string JSON allows only ASCII, so this is
			 * inside one, where \uXXXX means the same character */
			e = json_escape(esc, cp);
			if (out != NULL)
				memcpy(out + o, esc, e);
			o += e;
		} else {
			if (out != NULL)
				memcpy(out + o, p, k);
			o += k;
		}
		p += k;
		left -= k;
	}
	sodium_memzero(esc, sizeof esc);
	return o;
}

int cli_print_json(const char *body, size_t len)
{
	char *out = NULL;
	size_t n;
	int rc = -1;

	if (body == NULL || len == 0) {
		cli_warnx("the vault's answer is empty");
		return -1;
	}
	n = json_clean((const unsigned char *)body, len, NULL);
	if (n == SIZE_MAX) {
		/* cannot happen for a body jansson accepted */
		cli_warnx("the vault's answer is not clean JSON; not printed");
		return -1;
	}
	out = wipe_malloc(n + 1);
	if (out == NULL) {
		cli_warnx("out of memory");
		return -1;
	}
	json_clean((const unsigned char *)body, len, out);
	if (out[n - 1] != '\n')
		out[n++] = '\n';
	if (fflush(stdout) != 0 || cli_write_all(STDOUT_FILENO, out, n) != 0) {
		cli_warnx("cannot write to standard output: %s", strerror(errno));
		goto done;
	}
	rc = 0;
done:
	wipe_free(out);
	return rc;
}

char *cli_json_clean(const char *p, size_t len, size_t *outlen)
{
	char *out;
	size_t n = json_clean((const unsigned char *)p, len, NULL);

	if (n == SIZE_MAX) {
		cli_warnx("the vault's answer is not clean JSON; not printed");
		return NULL;
	}
	if ((out = wipe_malloc(n + 1)) == NULL) {
		cli_warnx("out of memory");
		return NULL;
	}
	json_clean((const unsigned char *)p, len, out);
	out[n] = '\0';
	*outlen = n;
	return out;
}

int cli_print_secret(const char *s, size_t len)
{
	if (fflush(stdout) != 0)
		return -1;
	if (cli_write_all(STDOUT_FILENO, s, len) != 0)
		return -1;
	return cli_write_all(STDOUT_FILENO, "\n", 1);
}

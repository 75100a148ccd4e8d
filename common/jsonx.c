/* jsonx.c - small jansson helpers (see jsonx.h). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonx.h"
#include "util.h"
#include "wipe.h"

const char *jx_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

json_int_t jx_int(const json_t *o, const char *key, json_int_t def)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

json_t *jx_time(int64_t ms)
{
	char buf[UTIL_TIME_LEN];

	if (ms < 0 || util_format_time(ms, buf) != 0)
		return json_null();
	return json_string(buf);
}

char *jx_text(const json_t *obj)
{
	/* One pass for the usual small text: json_dumpb() to measure first
	 * would serialize everything twice. */
	size_t cap = 1024, n;
	char *buf = malloc(cap), *big;

	if (buf == NULL)
		return NULL;
	n = json_dumpb(obj, buf, cap - 1, JSON_COMPACT);
	if (n == 0) {
		free(buf);
		return NULL;
	}
	if (n < cap) {
		buf[n] = '\0';
		return buf;
	}
	/* too long: what was written is a prefix of the text, which may hold
	 * a secret: wipe it, then write the whole of it */
	wipe_release(buf, cap - 1);
	if ((big = malloc(n + 1)) == NULL)
		return NULL;
	if (json_dumpb(obj, big, n, JSON_COMPACT) != n) {
		wipe_release(big, n);
		return NULL;
	}
	big[n] = '\0';
	return big;
}

/* The length of the valid UTF-8 sequence at s[0..n) (a lead byte >= 0x80),
 * or 0: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A string token at t[*i] (the opening quote); *i moves past it.
 * esc: set when it holds an escape. Returns 0 or -1. */
static int flat_string(const char *t, size_t len, size_t *i, int *esc)
{
	size_t j = *i + 1;

	*esc = 0;
	while (j < len) {
		unsigned char c = (unsigned char)t[j];
		if (c == '"') {
			*i = j + 1;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (j + 1 >= len || strchr("\"\\/bfnrt", t[j + 1]) == NULL ||
			    t[j + 1] == '\0')
				return -1; /* \u and anything unknown */
			*esc = 1;
			j += 2;
		} else if (c >= 0x80) {
			size_t l = utf8_seq((const unsigned char *)t + j, len - j);
			if (l == 0)
				return -1;
			j += l;
		} else {
			j++;
		}
	}
	return -1;
}

static size_t skip_ws(const char *t, size_t len, size_t i)
{
	while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
		i++;
	return i;
}

int jx_flat_members(const char *text, size_t len, const char *const *names, size_t n,
                    struct jx_tok *vals)
{
	size_t i = skip_ws(text, len, 0);
	int esc;

	for (size_t k = 0; k < n; k++)
		vals[k].p = NULL, vals[k].n = 0;
	if (i >= len || text[i] != '{')
		return -1;
	i = skip_ws(text, len, i + 1);
	if (i < len && text[i] == '}')
		return skip_ws(text, len, i + 1) == len ? 0 : -1;
	for (;;) {
		size_t ks, k;
		if (i >= len || text[i] != '"')
			return -1;
		ks = i;
		if (flat_string(text, len, &i, &esc) != 0 || esc)
			return -1;
		for (k = 0; k < n; k++)
			if (strlen(names[k]) == i - ks - 2 &&
			    memcmp(names[k], text + ks + 1, i - ks - 2) == 0)
				break;
		if (k == n || vals[k].p != NULL)
			return -1; /* a key not asked for, or a repeated one */
		i = skip_ws(text, len, i);
		if (i >= len || text[i] != ':')
			return -1;
		i = skip_ws(text, len, i + 1);
		vals[k].p = text + i;
		if (i < len && text[i] == '"') {
			if (flat_string(text, len, &i, &esc) != 0)
				return -1;
		} else if (len - i >= 4 && memcmp(text + i, "null", 4) == 0) {
			i += 4;
		} else {
			return -1;
		}
		vals[k].n = (size_t)(text + i - vals[k].p);
		i = skip_ws(text, len, i);
		if (i < len && text[i] == ',') {
			i = skip_ws(text, len, i + 1);
			continue;
		}
		if (i < len && text[i] == '}')
			return skip_ws(text, len, i + 1) == len ? 0 : -1;
		return -1;
	}
}

size_t jx_quote(char *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	out[o++] = '"';
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		const char *sh = c == '\b'   ? "b"
		                 : c == '\f' ? "f"
		                 : c == '\n' ? "n"
		                 : c == '\r' ? "r"
		                 : c == '\t' ? "t"
		                             : NULL;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (sh != NULL) {
			out[o++] = '\\';
			out[o++] = *sh;
		} else if (c < 0x20) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 15];
			o += 6;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	return o;
}

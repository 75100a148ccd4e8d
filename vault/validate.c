/* validate.c - field rules for request bodies. */
#include "validate.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

int v_only(struct req *r, const char *const *allowed)
{
	const char *key;
	json_t *val;

	if (r->body == NULL)
		return 0;
	json_object_foreach(r->body, key, val)
	{
		size_t i;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], key) == 0)
				break;
		if (allowed[i] == NULL)
			return req_fail(r, 400, "invalid_field", "unknown field \"%.40s\"", key);
	}
	return 0;
}

/* Characters refused in text fields that people read: C0 and C1 controls,
 * DEL, and the bidirectional overrides and isolates (U+202A..U+202E,
 * U+2066..U+2069) that can make text display other than it reads. */
static int is_display_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/* Code points of valid UTF-8 (jansson has checked it); flags controls. */
static size_t utf8_count(const char *s, size_t len, int *has_ctl)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0, i = 0;

	*has_ctl = 0;
	while (i < len) {
		uint32_t cp = p[i];
		size_t extra = cp < 0x80 ? 0 : cp < 0xe0 ? 1 : cp < 0xf0 ? 2 : 3;
		if (extra > 0)
			cp &= 0x3fu >> extra;
		for (size_t k = 1; k <= extra && i + k < len; k++)
			cp = (cp << 6) | (p[i + k] & 0x3f);
		if (is_display_control(cp))
			*has_ctl = 1;
		i += extra + 1;
		n++;
	}
	return n;
}

int v_str(struct req *r, const char *name, int required, size_t min_cp, size_t max_cp,
          size_t max_bytes, int allow_ctl, const char **out)
{
	json_t *v = r->body ? json_object_get(r->body, name) : NULL;
	size_t len, cp;
	int ctl;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return req_fail(r, 400, "invalid_field", "field \"%s\" is required", name);
		return 0;
	}
	if (!json_is_string(v))
		return req_fail(r, 400, "invalid_field", "field \"%s\" must be a string", name);
	len = json_string_length(v);
	if (memchr(json_string_value(v), '\0', len) != NULL)
		return req_fail(r, 400, "invalid_field", "field \"%s\" holds a NUL", name);
	cp = utf8_count(json_string_value(v), len, &ctl);
	if (cp < min_cp || cp > max_cp || len > max_bytes)
		return req_fail(r, 400, "invalid_field",
		                "field \"%s\" must be %zu to %zu characters (at most %zu bytes)",
		                name, min_cp, max_cp, max_bytes);
	if (ctl && !allow_ctl)
		return req_fail(r, 400, "invalid_field",
		                "field \"%s\" must not hold control characters", name);
	*out = json_string_value(v);
	return 0;
}

int v_int(struct req *r, const char *name, int required, int64_t min, int64_t max, int64_t def,
          int64_t *out)
{
	json_t *v = r->body ? json_object_get(r->body, name) : NULL;

	*out = def;
	if (v == NULL) {
		if (required)
			return req_fail(r, 400, "invalid_field", "field \"%s\" is required", name);
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return req_fail(r, 400, "invalid_field",
		                "field \"%s\" must be an integer from %lld to %lld", name,
		                (long long)min, (long long)max);
	*out = (int64_t)json_integer_value(v);
	return 0;
}

int v_email(struct req *r, const char *name, char out[255])
{
	const char *s, *at;
	size_t len;
	int st;

	if ((st = v_str(r, name, 1, 3, 254, 254, 0, &s)) != 0)
		return st;
	len = strlen(s);
	at = strchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL)
		goto bad;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f)
			goto bad;
		out[i] = (char)tolower(c);
	}
	out[len] = '\0';
	return 0;
bad:
	return req_fail(r, 400, "invalid_field", "field \"%s\" must be an e-mail address", name);
}

int v_enum(struct req *r, const char *name, const char *const *words, const char **out)
{
	const char *s;
	int st;

	if ((st = v_str(r, name, 1, 1, 32, 32, 0, &s)) != 0)
		return st;
	for (size_t i = 0; words[i] != NULL; i++) {
		if (strcmp(words[i], s) == 0) {
			*out = words[i];
			return 0;
		}
	}
	return req_fail(r, 400, "invalid_field", "field \"%s\" has an unknown value", name);
}

/* validate.c - field rules for request bodies. */
#include "validate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "display.h"

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

/* Code points of valid UTF-8 (jansson has checked it). *bad is set to the
 * first code point that text (V_LINE, V_LINES) refuses, or UINT32_MAX. */
static size_t utf8_count(const char *s, size_t len, int text, uint32_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0, i = 0;

	*bad = UINT32_MAX;
	while (i < len) {
		uint32_t cp = p[i];
		size_t extra = cp < 0x80 ? 0 : cp < 0xe0 ? 1 : cp < 0xf0 ? 2 : 3;
		if (extra > 0)
			cp &= 0x3fu >> extra;
		for (size_t k = 1; k <= extra && i + k < len; k++)
			cp = (cp << 6) | (p[i + k] & 0x3f);
		if (text != V_RAW && *bad == UINT32_MAX && display_refused(cp) &&
		    !(text == V_LINES && (cp == '\t' || cp == '\n' ||
		                          (cp == '\r' && i + 1 < len && p[i + 1] == '\n'))))
			*bad = cp;
		i += extra + 1;
		n++;
	}
	return n;
}

int v_str(struct req *r, const char *name, int required, size_t min_cp, size_t max_cp,
          size_t max_bytes, int text, const char **out)
{
	json_t *v = r->body ? json_object_get(r->body, name) : NULL;
	size_t len, cp;
	uint32_t bad;

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
	cp = utf8_count(json_string_value(v), len, text, &bad);
	if (cp < min_cp || cp > max_cp || len > max_bytes)
		return req_fail(r, 400, "invalid_field",
		                "field \"%s\" must be %zu to %zu characters (at most %zu bytes)",
		                name, min_cp, max_cp, max_bytes);
	if (bad != UINT32_MAX)
		return req_fail(r, 400, "invalid_field",
		                "field \"%s\" must not hold control, format or separator "
		                "characters (U+%04X)",
		                name, (unsigned)bad);
	*out = json_string_value(v);
	return 0;
}

/* Host names, addresses and ports (v_host). */

static int is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A port: 1..65535 in decimal, no sign, no leading zero. */
static int valid_port(const char *p, size_t n)
{
	unsigned long v = 0;

	if (n == 0 || n > 5 || p[0] == '0')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	return v <= 65535;
}

/* An RFC 1123 host name, or (all digits and dots) an IPv4 address. */
static int valid_name_or_ipv4(const char *s, size_t n)
{
	char buf[V_HOST_MAX + 1];
	unsigned char addr[16];
	size_t label = 0;
	int numeric = 1;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '.' && (s[i] < '0' || s[i] > '9'))
			numeric = 0;
	}
	if (numeric && memchr(s, '.', n) != NULL) {
		/* dotted decimal is never a name (RFC 1123 2.1): it is IPv4 */
		memcpy(buf, s, n);
		buf[n] = '\0';
		return inet_pton(AF_INET, buf, addr) == 1;
	}
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return 0;
			label = 0;
		} else if (is_alnum((unsigned char)s[i]) || (s[i] == '-' && label > 0)) {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

static int valid_ipv6(const char *s, size_t n)
{
	char buf[64];
	unsigned char addr[16];

	if (n == 0 || n >= sizeof buf)
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, addr) == 1;
}

static int valid_host(const char *s)
{
	size_t n = strlen(s);
	const char *colon;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (close == NULL || !valid_ipv6(s + 1, (size_t)(close - s - 1)))
			return 0;
		if (close[1] == '\0')
			return 1;
		return close[1] == ':' && valid_port(close + 2, strlen(close + 2));
	}
	colon = strchr(s, ':');
	if (colon != NULL && strchr(colon + 1, ':') != NULL)
		return valid_ipv6(s, n); /* two or more colons: IPv6 without a port */
	if (colon == NULL)
		return valid_name_or_ipv4(s, n);
	return valid_name_or_ipv4(s, (size_t)(colon - s)) &&
	       valid_port(colon + 1, strlen(colon + 1));
}

int v_host(struct req *r, const char *name, const char **out)
{
	int st;

	if ((st = v_str(r, name, 0, 1, V_HOST_MAX, V_HOST_MAX, V_LINE, out)) != 0 || *out == NULL)
		return st;
	if (!valid_host(*out)) {
		*out = NULL;
		return req_fail(r, 400, "invalid_field",
		                "field \"%s\" must be a host name, an IPv4 address or an IPv6 "
		                "address, optionally with :port ([IPv6]:port)",
		                name);
	}
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

/* fuzz_validate.c - the request body validators v_only, v_str, v_int,
 * v_email and v_enum (vault/validate.c).
 *
 * Input: a request body. It is parsed as http.c parses bodies
 * (json_loadb with JSON_REJECT_DUPLICATES; anything but an object leaves
 * no body), then every body-taking route's validation chain runs on it,
 * field for field as in vault/api_*.c, each on a fresh request context.
 * Checked, besides memory safety and leaks:
 *  - a failure is a 400 "invalid_field" with a message, and the status
 *    returned is the one recorded;
 *  - a success means what the SPEC rules say: only allowed keys; strings
 *    within their code-point and byte bounds, NULL only when optional and
 *    absent or null; integers in range (or the default when absent); enum
 *    values from the list; e-mail addresses with one inner '@', printable
 *    ASCII, lowercased;
 *  - a string field passes v_str exactly when the reference model says so:
 *    bounds, no NUL, and (text V_LINE) no code point of the categories Cc,
 *    Cf, Zl, Zp nor of the Tags block, or (V_LINES) the same but tab, LF
 *    and CR-LF; the model checks the code points the issue names one by
 *    one and the rest by a linear walk of the generated table, not the
 *    binary search that validate.c uses;
 *  - a host passes v_host exactly when the reference model of a host name
 *    (RFC 1123 labels), IPv4 or IPv6 address with an optional port says
 *    so. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "req.h"
#include "unicode_display.h"
#include "validate.h"

#define CRED_TTL_DEFAULT 604800 /* vault/api_credentials.c */
#define CRED_TTL_MAX 2592000
#define SESSION_TTL_DEFAULT 1800 /* vault/api_sessions.c */
#define SESSION_TTL_MAX 14400    /* DEFAULT_SESSION_MAX_TTL, vault/main.c */

static const char *const role_words[] = {"customer", "reseller", "agent", "auditor", "admin", NULL};
static const char *const type_words[] = {"site", "pro", "plus", "starter", "free", "trial", NULL};
static const char *const kind_words[] = {
    "remote-utilities", "rdp", "ssh", "vnc", "web", "other", NULL};

static json_t *body;

static struct req *fresh(struct req *r)
{
	memset(r, 0, sizeof *r);
	r->body = body;
	return r;
}

/* Every validator's failure: a recorded 400 invalid_field. */
static int failed(const struct req *r, int st)
{
	if (st == 0) {
		fuzz_check(r->status == 0 && r->err_code == NULL);
		return 0;
	}
	fuzz_check(st == 400 && r->status == 400);
	fuzz_check(r->err_code != NULL && strcmp(r->err_code, "invalid_field") == 0);
	fuzz_check(r->err_msg[0] != '\0' && memchr(r->err_msg, '\0', sizeof r->err_msg) != NULL);
	fuzz_check(r->resp == NULL);
	return 1;
}

static int only(struct req *r, const char *const *allowed)
{
	const char *key;
	json_t *val;

	if (failed(r, v_only(r, allowed)))
		return 1;
	if (body != NULL)
		json_object_foreach(body, key, val)
		{
			size_t i;
			for (i = 0; allowed[i] != NULL && strcmp(allowed[i], key) != 0; i++)
				;
			fuzz_check(allowed[i] != NULL);
		}
	return 0;
}

/* Code points of valid UTF-8, by lead byte. */
static size_t ref_cp(const unsigned char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; n++) {
		if (s[i] < 0x80)
			i += 1;
		else if (s[i] >= 0xf0)
			i += 4;
		else if (s[i] >= 0xe0)
			i += 3;
		else
			i += 2;
	}
	return n;
}

/* Refused in displayed text: the classes named by issue 9 spelled out,
 * then the generated table walked from start to end. */
static int ref_refused(uint32_t cp)
{
	static const uint32_t named[] = {0x061c, 0x200b, 0x200c, 0x200d, 0x200e, 0x200f,
	                                 0x2028, 0x2029, 0xfeff, 0x00ad, 0x2060};
	int in_table = 0;

	for (size_t i = 0; i < sizeof unicode_refused / sizeof unicode_refused[0]; i++)
		if (cp >= unicode_refused[i].lo && cp <= unicode_refused[i].hi)
			in_table = 1;
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
		if (cp == named[i])
			fuzz_check(in_table);
	if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069) || (cp >= 0xe0000 && cp <= 0xe007f))
		fuzz_check(in_table);
	return in_table;
}

/* Does the text rule (V_LINE, V_RAW, V_LINES) let s through? */
static int ref_text_ok(const unsigned char *s, size_t len, int text)
{
	if (text == V_RAW)
		return 1;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n;
		if (s[i] < 0x80) {
			cp = s[i];
			n = 1;
		} else if (s[i] < 0xe0) {
			cp = (uint32_t)(s[i] & 0x1f) << 6 | (s[i + 1] & 0x3f);
			n = 2;
		} else if (s[i] < 0xf0) {
			cp = (uint32_t)(s[i] & 0x0f) << 12 | (uint32_t)(s[i + 1] & 0x3f) << 6 |
			     (s[i + 2] & 0x3f);
			n = 3;
		} else {
			cp = (uint32_t)(s[i] & 0x07) << 18 | (uint32_t)(s[i + 1] & 0x3f) << 12 |
			     (uint32_t)(s[i + 2] & 0x3f) << 6 | (s[i + 3] & 0x3f);
			n = 4;
		}
		if (ref_refused(cp)) {
			int line_ok =
			    text == V_LINES && (cp == 0x09 || cp == 0x0a ||
			                        (cp == 0x0d && i + 1 < len && s[i + 1] == 0x0a));
			if (!line_ok)
				return 0;
		}
		i += n;
	}
	return 1;
}

static int str(struct req *r, const char *name, int required, size_t min_cp, size_t max_cp,
               size_t max_bytes, int text, const char **out)
{
	json_t *v = body ? json_object_get(body, name) : NULL;
	int st = v_str(r, name, required, min_cp, max_cp, max_bytes, text, out);
	size_t len;

	if (v != NULL && json_is_string(v)) {
		const unsigned char *p = (const unsigned char *)json_string_value(v);
		size_t l = json_string_length(v), n = ref_cp(p, l);
		int want = memchr(p, '\0', l) == NULL && n >= min_cp && n <= max_cp &&
		           l <= max_bytes && ref_text_ok(p, l, text);
		fuzz_check((st == 0) == want);
	}
	if (failed(r, st)) {
		fuzz_check(*out == NULL);
		return 1;
	}
	if (*out == NULL) {
		fuzz_check(!required && (v == NULL || json_is_null(v)));
		return 0;
	}
	fuzz_check(json_is_string(v) && *out == json_string_value(v));
	len = strlen(*out);
	fuzz_check(len == json_string_length(v) && len <= max_bytes);
	fuzz_check(ref_cp((const unsigned char *)*out, len) >= min_cp &&
	           ref_cp((const unsigned char *)*out, len) <= max_cp);
	fuzz_check(ref_text_ok((const unsigned char *)*out, len, text));
	return 0;
}

/* Reference model of a host, written apart from validate.c. */
static int ref_port(const char *p)
{
	char *end;
	long v;

	if (p[0] < '1' || p[0] > '9' || strlen(p) > 5)
		return 0;
	for (const char *q = p; *q; q++)
		if (!isdigit((unsigned char)*q))
			return 0;
	v = strtol(p, &end, 10);
	return *end == '\0' && v >= 1 && v <= 65535;
}

static int ref_v6(const char *s, size_t n)
{
	char buf[128];
	unsigned char a[16];

	if (n >= sizeof buf)
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, a) == 1;
}

static int ref_name(const char *s, size_t n)
{
	char buf[V_HOST_MAX + 2], *save = NULL, *lab;
	unsigned char a[4];
	int labels = 0;

	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.' || strstr(s, "..") != NULL)
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (memchr(buf, '.', n) != NULL && strspn(buf, "0123456789.") == n)
		return inet_pton(AF_INET, buf, a) == 1;
	for (lab = strtok_r(buf, ".", &save); lab != NULL; lab = strtok_r(NULL, ".", &save)) {
		size_t l = strlen(lab);
		if (l < 1 || l > 63 || lab[0] == '-' || lab[l - 1] == '-')
			return 0;
		for (size_t i = 0; i < l; i++)
			if (!(isalnum((unsigned char)lab[i]) && (unsigned char)lab[i] < 0x80) &&
			    lab[i] != '-')
				return 0;
		labels++;
	}
	return labels > 0;
}

static int ref_host(const char *s)
{
	size_t n = strlen(s), colons = 0;
	const char *c;

	for (size_t i = 0; i < n; i++)
		colons += s[i] == ':';
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || !ref_v6(s + 1, (size_t)(rb - s - 1)))
			return 0;
		return rb[1] == '\0' || (rb[1] == ':' && ref_port(rb + 2));
	}
	if (colons >= 2)
		return ref_v6(s, n);
	if (colons == 0)
		return ref_name(s, n);
	c = strchr(s, ':');
	return ref_name(s, (size_t)(c - s)) && ref_port(c + 1);
}

static int host(struct req *r, const char *name, const char **out)
{
	json_t *v = body ? json_object_get(body, name) : NULL;
	int st = v_host(r, name, out);

	if (v != NULL && json_is_string(v)) {
		const char *p = json_string_value(v);
		size_t l = json_string_length(v);
		int want = l >= 1 && l <= V_HOST_MAX && memchr(p, '\0', l) == NULL && ref_host(p);
		fuzz_check((st == 0) == want);
	}
	if (failed(r, st)) {
		fuzz_check(*out == NULL);
		return 1;
	}
	if (*out == NULL) {
		fuzz_check(v == NULL || json_is_null(v));
		return 0;
	}
	fuzz_check(*out == json_string_value(v) && ref_host(*out));
	for (const char *q = *out; *q; q++)
		fuzz_check((unsigned char)*q > 0x20 && (unsigned char)*q < 0x7f);
	return 0;
}

static int integer(struct req *r, const char *name, int required, int64_t min, int64_t max,
                   int64_t def, int64_t *out)
{
	json_t *v = body ? json_object_get(body, name) : NULL;

	if (failed(r, v_int(r, name, required, min, max, def, out)))
		return 1;
	if (v == NULL)
		fuzz_check(!required && *out == def);
	else
		fuzz_check(json_is_integer(v) && *out == json_integer_value(v) && *out >= min &&
		           *out <= max);
	return 0;
}

static int email(struct req *r, const char *name, char out[255])
{
	const char *s, *at;
	size_t len;

	memset(out, 0x5a, 255);
	if (failed(r, v_email(r, name, out)))
		return 1;
	s = json_string_value(json_object_get(body, name));
	fuzz_check(s != NULL);
	len = strlen(s);
	fuzz_check(len >= 3 && len <= 254 && memchr(out, '\0', 255) == out + len);
	at = strchr(out, '@');
	fuzz_check(at != NULL && at != out && at[1] != '\0' && strchr(at + 1, '@') == NULL);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i];
		fuzz_check(c > 0x20 && c < 0x7f && !isupper(c));
		fuzz_check(c == (unsigned char)tolower((unsigned char)s[i]));
	}
	return 0;
}

static int enumer(struct req *r, const char *name, const char *const *words, const char **out)
{
	size_t i;

	*out = NULL;
	if (failed(r, v_enum(r, name, words, out)))
		return 1;
	for (i = 0; words[i] != NULL && words[i] != *out; i++)
		;
	fuzz_check(words[i] != NULL);
	fuzz_check(strcmp(*out, json_string_value(json_object_get(body, name))) == 0);
	return 0;
}

/* The chains of vault/api_*.c, in their order. */
static void routes(struct req *r)
{
	const char *a, *b, *c, *d, *e;
	char em[255];
	int64_t n;

	/* POST /v1/accounts */
	static const char *const acct[] = {"id", "role", "email", NULL};
	(void)(only(fresh(r), acct) || str(r, "id", 1, 1, 64, 64, 0, &a) ||
	       enumer(r, "role", role_words, &b) || email(r, "email", em));

	/* POST /v1/me/license */
	static const char *const bind[] = {"key", NULL};
	(void)(only(fresh(r), bind) || str(r, "key", 1, 1, 128, 128, 0, &a));

	/* POST /v1/licenses */
	static const char *const lic[] = {"key", "type", "email", "valid_until", NULL};
	(void)(only(fresh(r), lic) || str(r, "key", 1, 1, 128, 128, 0, &a) ||
	       enumer(r, "type", type_words, &b) || email(r, "email", em) ||
	       str(r, "valid_until", 0, 1, 40, 40, 0, &c));

	/* POST /v1/tickets/{}/credentials */
	static const char *const cred[] = {"label",  "kind",  "host",  "username",
	                                   "secret", "notes", "ttl_s", NULL};
	(void)(only(fresh(r), cred) || str(r, "label", 1, 1, 128, 512, 0, &a) ||
	       enumer(r, "kind", kind_words, &b) || host(r, "host", &c) ||
	       str(r, "username", 0, 1, 256, 1024, 0, &d) ||
	       str(r, "secret", 1, 1, 8192, 8192, V_RAW, &e) ||
	       str(r, "notes", 0, 0, 4096, 16384, V_LINES, &e) ||
	       integer(r, "ttl_s", 0, 1, CRED_TTL_MAX, CRED_TTL_DEFAULT, &n));

	/* POST /v1/tickets/{}/sessions */
	static const char *const sess[] = {"ttl_s", NULL};
	(void)(only(fresh(r), sess) ||
	       integer(r, "ttl_s", 0, 1, SESSION_TTL_MAX, SESSION_TTL_DEFAULT, &n));

	/* POST /v1/tickets */
	static const char *const tick[] = {"subject", "ref", NULL};
	(void)(only(fresh(r), tick) || str(r, "subject", 1, 1, 200, 800, 0, &a) ||
	       str(r, "ref", 0, 1, 128, 512, 0, &b));

	/* POST /v1/tickets/{}/assign */
	static const char *const asg[] = {"agent", NULL};
	(void)(only(fresh(r), asg) || str(r, "agent", 1, 1, 64, 64, 0, &a));

	/* routes without a body: only {} or nothing */
	static const char *const none[] = {NULL};
	(void)only(fresh(r), none);
}

/* Every key of the body through the generic validators, tight bounds. */
static void each_key(struct req *r)
{
	const char *key, *s;
	json_t *val;
	int64_t n;
	char em[255];

	if (body == NULL)
		return;
	json_object_foreach(body, key, val)
	{
		(void)str(fresh(r), key, 1, 0, 3, 4, V_LINE, &s);
		(void)str(fresh(r), key, 0, 2, 2, 8, V_RAW, &s);
		(void)str(fresh(r), key, 0, 0, 64, 256, V_LINES, &s);
		(void)host(fresh(r), key, &s);
		(void)integer(fresh(r), key, 1, INT64_MIN, INT64_MAX, 0, &n);
		(void)integer(fresh(r), key, 1, -5, 5, 0, &n);
		(void)email(fresh(r), key, em);
		(void)enumer(fresh(r), key, kind_words, &s);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct req *r;

	if (size > API_BODY_MAX)
		return 0; /* http.c answers 413 first */
	if ((r = malloc(sizeof *r)) == NULL)
		return 0;
	body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (body != NULL && !json_is_object(body)) {
		json_decref(body);
		body = NULL;
	}
	routes(r);
	each_key(r);
	json_decref(body);
	body = NULL;
	free(r);
	return 0;
}

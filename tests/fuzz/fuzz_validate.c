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
 *    within their code-point and byte bounds, without control characters
 *    (C0, DEL, C1) or bidirectional overrides and isolates
 *    unless allowed, NULL only when optional and absent or null;
 *    integers in range (or the default when absent); enum values from the
 *    list; e-mail addresses with one inner '@', printable ASCII,
 *    lowercased. */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "req.h"
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

static int str(struct req *r, const char *name, int required, size_t min_cp, size_t max_cp,
               size_t max_bytes, int allow_ctl, const char **out)
{
	json_t *v = body ? json_object_get(body, name) : NULL;
	size_t len;

	if (failed(r, v_str(r, name, required, min_cp, max_cp, max_bytes, allow_ctl, out))) {
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
	if (!allow_ctl) {
		const unsigned char *p = (const unsigned char *)*out;
		for (size_t i = 0; i < len; i++) {
			fuzz_check(p[i] >= 0x20 && p[i] != 0x7f);
			/* no C1 control (U+0080..U+009F: C2 80..C2 9F) */
			fuzz_check(
			    !(p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f));
			/* no bidi override or isolate (E2 80 AA..AE, E2 81 A6..A9) */
			fuzz_check(!(p[i] == 0xe2 && i + 2 < len && p[i + 1] == 0x80 &&
			             p[i + 2] >= 0xaa && p[i + 2] <= 0xae));
			fuzz_check(!(p[i] == 0xe2 && i + 2 < len && p[i + 1] == 0x81 &&
			             p[i + 2] >= 0xa6 && p[i + 2] <= 0xa9));
		}
	}
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
	       enumer(r, "kind", kind_words, &b) || str(r, "host", 0, 1, 255, 1020, 0, &c) ||
	       str(r, "username", 0, 1, 256, 1024, 0, &d) ||
	       str(r, "secret", 1, 1, 8192, 8192, 1, &e) ||
	       str(r, "notes", 0, 0, 4096, 16384, 1, &e) ||
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
		(void)str(fresh(r), key, 1, 0, 3, 4, 0, &s);
		(void)str(fresh(r), key, 0, 2, 2, 8, 1, &s);
		(void)integer(fresh(r), key, 1, INT64_MIN, INT64_MAX, 0, &n);
		(void)integer(fresh(r), key, 1, -5, 5, 0, &n);
		(void)email(fresh(r), key, em);
		(void)enumer(fresh(r), key, kind_words, &s);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct req *r;

	if (size > REQ_BODY_MAX)
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

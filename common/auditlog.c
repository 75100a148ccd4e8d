/* auditlog.c - the audit log's canonical form, hash chain, checkpoint
 * signatures and the offline verifier of an export. The contract is in
 * auditlog.h; docs/audit.md explains the format for auditors.
 *
 * Nothing here allocates long-lived state or blocks beyond reading the
 * FILE handed to audit_verify_stream. libsodium must have been initialised
 * (sodium_init) by the program before any of these are called. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "auditlog.h"
#include "be.h"

#define AUDIT_FIELD_MAX 65535u         /* longest string field, bytes */
#define AUDIT_LINE_MAX (1024u * 1024u) /* longest export line, bytes (no \n) */
#define AUDIT_LINE_START 4096u         /* first size of the line buffer */
#define AUDIT_TIME_CHARS 24            /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
#define AUDIT_HASH_HEX 64
#define AUDIT_SEQ_MAX ((uint64_t)INT64_MAX) /* largest seq JSON can carry */
#define AUDIT_NSTR 13                       /* string fields after time */
#define AUDIT_NSTR_V1 10                    /* of which form 1 hashes the first 10 */

_Static_assert(sizeof(json_int_t) >= 8, "json_int_t must hold a 64-bit seq");
_Static_assert(UTIL_TIME_LEN == AUDIT_TIME_CHARS + 1, "time buffer size");

/* The keys of an event object, in SPEC order. */
static const char *const event_keys[] = {
    "seq",        "form",       "time",    "actor",   "role",   "action",
    "ticket",     "credential", "session", "outcome", "reason", "ip",
    "request_id", "target",     "token",   "cert",    "prev",   "hash",
};
#define EVENT_NKEYS (sizeof(event_keys) / sizeof(event_keys[0]))

/* Values of the nullable string fields (after time), in canonical order. */
static void event_get_strs(const struct audit_event *ev, const char *out[AUDIT_NSTR])
{
	out[0] = ev->actor;
	out[1] = ev->role;
	out[2] = ev->action;
	out[3] = ev->ticket;
	out[4] = ev->credential;
	out[5] = ev->session;
	out[6] = ev->outcome;
	out[7] = ev->reason;
	out[8] = ev->ip;
	out[9] = ev->request_id;
	out[10] = ev->target;
	out[11] = ev->token;
	out[12] = ev->cert;
}

/* The reverse of event_get_strs. */
static void event_set_strs(struct audit_event *ev, const char *const in[AUDIT_NSTR])
{
	ev->actor = in[0];
	ev->role = in[1];
	ev->action = in[2];
	ev->ticket = in[3];
	ev->credential = in[4];
	ev->session = in[5];
	ev->outcome = in[6];
	ev->reason = in[7];
	ev->ip = in[8];
	ev->request_id = in[9];
	ev->target = in[10];
	ev->token = in[11];
	ev->cert = in[12];
}

/* Names of the same fields, same order (for JSON and messages). */
static const char *const str_field_names[AUDIT_NSTR] = {
    "actor",  "role", "action",     "ticket", "credential", "session", "outcome",
    "reason", "ip",   "request_id", "target", "token",      "cert",
};

/* Number of string fields hashed by a form, or 0 for an unknown form. */
static size_t form_nstr(int form)
{
	return form == 1 ? AUDIT_NSTR_V1 : form == 2 ? AUDIT_NSTR : 0;
}

/* ---- byte helpers ------------------------------------------------------ */

/* Decode exactly 2*binlen lowercase hex characters (s has slen bytes).
 * Returns 0, or -1 (wrong length, uppercase, any other character). */
static int hex_decode_strict(const char *s, size_t slen, unsigned char *bin, size_t binlen)
{
	size_t got = 0;
	const char *end = NULL;

	if (s == NULL || slen != binlen * 2)
		return -1;
	for (size_t i = 0; i < slen; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
	}
	if (sodium_hex2bin(bin, binlen, s, slen, NULL, &got, &end) != 0 || got != binlen ||
	    end != s + slen)
		return -1;
	return 0;
}

/* Lowercase hex of bin into out (2*binlen + 1 bytes). */
static void hex_encode(char *out, size_t outlen, const unsigned char *bin, size_t binlen)
{
	(void)sodium_bin2hex(out, outlen, bin, binlen);
}

/* ---- canonical form and hash ------------------------------------------ */

/* Feed one present string field: 0x01 | u32 BE length | bytes. */
static int hash_present(crypto_generichash_state *st, const char *s, size_t len)
{
	unsigned char hdr[5];

	hdr[0] = 0x01;
	util_be32_put(hdr + 1, (uint32_t)len);
	if (crypto_generichash_update(st, hdr, sizeof(hdr)) != 0)
		return -1;
	return crypto_generichash_update(st, (const unsigned char *)s, len);
}

/* Feed one nullable string field: 0x00 if NULL, else as present. */
static int hash_nullable(crypto_generichash_state *st, const char *s)
{
	static const unsigned char null_byte = 0x00;

	if (s == NULL)
		return crypto_generichash_update(st, &null_byte, 1);
	return hash_present(st, s, strlen(s));
}

/* Every field within bounds: time NUL-terminated in its buffer, every
 * string at most AUDIT_FIELD_MAX bytes. */
static int event_lengths_ok(const struct audit_event *ev)
{
	const char *f[AUDIT_NSTR];

	if (memchr(ev->time, '\0', sizeof(ev->time)) == NULL)
		return -1;
	event_get_strs(ev, f);
	for (size_t i = 0; i < AUDIT_NSTR; i++)
		if (f[i] != NULL && strnlen(f[i], AUDIT_FIELD_MAX + 1) > AUDIT_FIELD_MAX)
			return -1;
	return 0;
}

/* time is always present (it is an array, never null); an empty time
 * would be hashed as a present empty string. An unterminated time buffer
 * counts as too long. */
int audit_event_hash(const struct audit_event *ev, unsigned char out[32])
{
	crypto_generichash_state st;
	const char *f[AUDIT_NSTR];
	unsigned char seq_be[8];
	unsigned char digest[32];
	size_t nstr;
	int rc = -1;

	if (ev == NULL || out == NULL || (nstr = form_nstr(ev->form)) == 0 ||
	    event_lengths_ok(ev) != 0)
		return -1;
	util_be64_put(seq_be, ev->seq);
	event_get_strs(ev, f);
	/* form 1 has no place for the later fields: they must be null */
	for (size_t i = nstr; i < AUDIT_NSTR; i++)
		if (f[i] != NULL)
			return -1;

	if (crypto_generichash_init(&st, NULL, 0, sizeof(digest)) != 0 ||
	    crypto_generichash_update(&st, ev->prev, sizeof(ev->prev)) != 0 ||
	    crypto_generichash_update(
	        &st, (const unsigned char *)(ev->form == 1 ? AUDIT_EVENT_TAG : AUDIT_EVENT_TAG_V2),
	        sizeof(AUDIT_EVENT_TAG)) != 0 ||
	    crypto_generichash_update(&st, seq_be, sizeof(seq_be)) != 0 ||
	    hash_present(&st, ev->time, strlen(ev->time)) != 0)
		goto done;
	for (size_t i = 0; i < nstr; i++)
		if (hash_nullable(&st, f[i]) != 0)
			goto done;
	if (crypto_generichash_final(&st, digest, sizeof(digest)) != 0)
		goto done;
	memcpy(out, digest, sizeof(digest));
	rc = 0;
done:
	sodium_memzero(&st, sizeof(st));
	return rc;
}

/* ---- checkpoints --------------------------------------------------------- */

void audit_checkpoint_msg(uint64_t seq, const unsigned char hash[32],
                          unsigned char out[AUDIT_CP_MSG_LEN])
{
	memcpy(out, AUDIT_CHECKPOINT_TAG, sizeof(AUDIT_CHECKPOINT_TAG)); /* with its NUL */
	util_be64_put(out + sizeof(AUDIT_CHECKPOINT_TAG), seq);
	memcpy(out + sizeof(AUDIT_CHECKPOINT_TAG) + 8, hash, 32);
}

int audit_checkpoint_sign(uint64_t seq, const unsigned char hash[32], const unsigned char sk[64],
                          unsigned char sig[64])
{
	unsigned char msg[AUDIT_CP_MSG_LEN];

	audit_checkpoint_msg(seq, hash, msg);
	if (crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk) != 0) {
		sodium_memzero(sig, 64);
		return -1;
	}
	return 0;
}

int audit_checkpoint_verify(uint64_t seq, const unsigned char hash[32], const unsigned char sig[64],
                            const unsigned char pk[32])
{
	unsigned char msg[AUDIT_CP_MSG_LEN];

	audit_checkpoint_msg(seq, hash, msg);
	if (crypto_sign_verify_detached(sig, msg, sizeof(msg), pk) != 0)
		return -1;
	return 0;
}

/* ---- event <-> JSON ---------------------------------------------------- */

static int set_str_or_null(json_t *obj, const char *key, const char *s)
{
	json_t *val = s != NULL ? json_string(s) : json_null();

	if (val == NULL)
		return -1;
	return json_object_set_new(obj, key, val);
}

static int set_hex32(json_t *obj, const char *key, const unsigned char bin[32])
{
	char hex[AUDIT_HASH_HEX + 1];

	hex_encode(hex, sizeof(hex), bin, 32);
	return json_object_set_new(obj, key, json_string(hex));
}

/* Also returns NULL (not only on allocation failure) for an event that
 * could never verify: seq 0 or above INT64_MAX, a field too long, an
 * unterminated time, or a string jansson refuses (invalid UTF-8). */
json_t *audit_event_to_json(const struct audit_event *ev)
{
	const char *f[AUDIT_NSTR];
	json_t *obj = NULL;

	if (ev == NULL || ev->seq == 0 || ev->seq > AUDIT_SEQ_MAX || form_nstr(ev->form) == 0 ||
	    event_lengths_ok(ev) != 0)
		return NULL;
	event_get_strs(ev, f);
	for (size_t i = form_nstr(ev->form); i < AUDIT_NSTR; i++)
		if (f[i] != NULL)
			return NULL;
	if ((obj = json_object()) == NULL)
		return NULL;
	if (json_object_set_new(obj, "seq", json_integer((json_int_t)ev->seq)) != 0 ||
	    json_object_set_new(obj, "form", json_integer(ev->form)) != 0 ||
	    set_str_or_null(obj, "time", ev->time) != 0)
		goto fail;
	for (size_t i = 0; i < AUDIT_NSTR; i++)
		if (set_str_or_null(obj, str_field_names[i], f[i]) != 0)
			goto fail;
	if (set_hex32(obj, "prev", ev->prev) != 0 || set_hex32(obj, "hash", ev->hash) != 0)
		goto fail;
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

/* A growing text buffer for audit_event_text. */
struct tbuf {
	char *p;
	size_t len, cap;
	int bad;
};

static void tb_put(struct tbuf *b, const char *s, size_t n)
{
	if (b->bad)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		char *np;
		while (b->len + n + 1 > cap)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->bad = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Length of the valid UTF-8 sequence at s (jansson's rules: no overlong
 * form, no surrogate, at most U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2, cp = s[0] & 0x1Fu;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3, cp = s[0] & 0x0Fu;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3Fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* A JSON string as jansson's compact dump writes it (no ASCII escaping,
 * no escaped '/'), or null. */
static void tb_str(struct tbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *run;

	if (s == NULL) {
		tb_put(b, "null", 4);
		return;
	}
	tb_put(b, "\"", 1);
	run = p; /* bytes written as they are, put in one go */
	while (*p != '\0') {
		size_t n;
		char esc[8];
		if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
			p++;
			continue;
		}
		if (*p >= 0x80) {
			if ((n = utf8_seq(p)) == 0) {
				b->bad = 1; /* jansson refuses it too */
				return;
			}
			p += n;
			continue;
		}
		tb_put(b, (const char *)run, (size_t)(p - run));
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			tb_put(b, esc, 2);
		} else {
			const char *short_esc = *p == '\b'   ? "\\b"
			                        : *p == '\f' ? "\\f"
			                        : *p == '\n' ? "\\n"
			                        : *p == '\r' ? "\\r"
			                        : *p == '\t' ? "\\t"
			                                     : NULL;
			if (short_esc != NULL) {
				tb_put(b, short_esc, 2);
			} else {
				snprintf(esc, sizeof esc, "\\u%04X", (unsigned)*p);
				tb_put(b, esc, 6);
			}
		}
		run = ++p;
	}
	tb_put(b, (const char *)run, (size_t)(p - run));
	tb_put(b, "\"", 1);
}

static void tb_key(struct tbuf *b, const char *key)
{
	tb_put(b, ",\"", 2);
	tb_put(b, key, strlen(key));
	tb_put(b, "\":", 2);
}

char *audit_event_text(const struct audit_event *ev)
{
	const char *f[AUDIT_NSTR];
	char num[48], hex[AUDIT_HASH_HEX + 1];
	struct tbuf b = {0};
	int n;

	if (ev == NULL || ev->seq == 0 || ev->seq > AUDIT_SEQ_MAX || form_nstr(ev->form) == 0 ||
	    event_lengths_ok(ev) != 0)
		return NULL;
	event_get_strs(ev, f);
	for (size_t i = form_nstr(ev->form); i < AUDIT_NSTR; i++)
		if (f[i] != NULL)
			return NULL;
	n = snprintf(num, sizeof num, "{\"seq\":%" PRIu64 ",\"form\":%d", ev->seq, ev->form);
	tb_put(&b, num, (size_t)n);
	tb_key(&b, "time");
	tb_str(&b, ev->time);
	for (size_t i = 0; i < AUDIT_NSTR; i++) {
		tb_key(&b, str_field_names[i]);
		tb_str(&b, f[i]);
	}
	hex_encode(hex, sizeof(hex), ev->prev, 32);
	tb_key(&b, "prev");
	tb_str(&b, hex);
	hex_encode(hex, sizeof(hex), ev->hash, 32);
	tb_key(&b, "hash");
	tb_str(&b, hex);
	tb_put(&b, "}", 1);
	if (b.bad) {
		if (b.p != NULL)
			sodium_memzero(b.p, b.cap);
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* Format a message into err (if any). */
__attribute__((format(printf, 3, 4))) static void seterr(char *err, size_t errlen, const char *fmt,
                                                         ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int is_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int two_digits(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

static int days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* Exactly "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes) with a real calendar date
 * and a time of day 00:00:00.000 .. 23:59:59.999 (the server formats times
 * from the clock, so a leap second 60 never appears). */
static int valid_time(const char *s, size_t len)
{
	int year, month, day;

	if (len != AUDIT_TIME_CHARS)
		return 0;
	if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
	    s[19] != '.' || s[23] != 'Z')
		return 0;
	if (!is_digits(s, 4) || !is_digits(s + 5, 2) || !is_digits(s + 8, 2) ||
	    !is_digits(s + 11, 2) || !is_digits(s + 14, 2) || !is_digits(s + 17, 2) ||
	    !is_digits(s + 20, 3))
		return 0;
	year = two_digits(s) * 100 + two_digits(s + 2);
	month = two_digits(s + 5);
	day = two_digits(s + 8);
	if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
		return 0;
	return two_digits(s + 11) <= 23 && two_digits(s + 14) <= 59 && two_digits(s + 17) <= 59;
}

static int is_event_key(const char *key)
{
	for (size_t i = 0; i < EVENT_NKEYS; i++)
		if (strcmp(key, event_keys[i]) == 0)
			return 1;
	return 0;
}

/* Only the event keys (seq, form, time, the string fields, prev, hash) and
 * an optional "type": "event". */
static int check_event_keys(json_t *obj, char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val)
	{
		if (is_event_key(key))
			continue;
		if (strcmp(key, "type") == 0) {
			if (!json_is_string(val) || strcmp(json_string_value(val), "event") != 0) {
				seterr(err, errlen, "event: \"type\" is not \"event\"");
				return -1;
			}
			continue;
		}
		seterr(err, errlen, "event: unknown key");
		return -1;
	}
	return 0;
}

/* A string (without embedded NUL, at most AUDIT_FIELD_MAX bytes) or null. */
static int get_str_or_null(json_t *obj, const char *key, const char **out, char *err, size_t errlen)
{
	json_t *val = json_object_get(obj, key);
	const char *s;
	size_t len;

	if (val == NULL) {
		seterr(err, errlen, "event: missing \"%s\"", key);
		return -1;
	}
	if (json_is_null(val)) {
		*out = NULL;
		return 0;
	}
	if (!json_is_string(val)) {
		seterr(err, errlen, "event: \"%s\" is not a string or null", key);
		return -1;
	}
	s = json_string_value(val);
	len = json_string_length(val);
	if (strlen(s) != len || len > AUDIT_FIELD_MAX) {
		seterr(err, errlen, "event: \"%s\" too long or holds a NUL", key);
		return -1;
	}
	*out = s;
	return 0;
}

static int get_hex32(json_t *obj, const char *key, unsigned char out[32], const char *what,
                     char *err, size_t errlen)
{
	json_t *val = json_object_get(obj, key);

	if (val == NULL) {
		seterr(err, errlen, "%s: missing \"%s\"", what, key);
		return -1;
	}
	if (!json_is_string(val) ||
	    hex_decode_strict(json_string_value(val), json_string_length(val), out, 32) != 0) {
		seterr(err, errlen, "%s: \"%s\" is not 64 lowercase hex characters", what, key);
		return -1;
	}
	return 0;
}

/* A JSON integer in [1, INT64_MAX]. */
static int get_seq(json_t *obj, uint64_t *out, const char *what, char *err, size_t errlen)
{
	json_t *val = json_object_get(obj, "seq");

	if (val == NULL) {
		seterr(err, errlen, "%s: missing \"seq\"", what);
		return -1;
	}
	if (!json_is_integer(val) || json_integer_value(val) < 1) {
		seterr(err, errlen, "%s: \"seq\" is not an integer >= 1", what);
		return -1;
	}
	*out = (uint64_t)json_integer_value(val);
	return 0;
}

static int get_time(json_t *obj, char out[UTIL_TIME_LEN], char *err, size_t errlen)
{
	json_t *val = json_object_get(obj, "time");

	if (val == NULL) {
		seterr(err, errlen, "event: missing \"time\"");
		return -1;
	}
	if (!json_is_string(val) || !valid_time(json_string_value(val), json_string_length(val))) {
		seterr(err, errlen, "event: \"time\" is not YYYY-MM-DDTHH:MM:SS.mmmZ");
		return -1;
	}
	memcpy(out, json_string_value(val), AUDIT_TIME_CHARS + 1);
	return 0;
}

/* "form": absent means 1 (events written before forms were numbered);
 * otherwise an integer, 1 or 2. */
static int get_form(json_t *obj, int *out, char *err, size_t errlen)
{
	json_t *val = json_object_get(obj, "form");

	if (val == NULL) {
		*out = 1;
		return 0;
	}
	if (!json_is_integer(val) || json_integer_value(val) < 1 ||
	    json_integer_value(val) > AUDIT_FORM_CURRENT) {
		seterr(err, errlen, "event: \"form\" is not 1 or 2");
		return -1;
	}
	*out = (int)json_integer_value(val);
	return 0;
}

/* audit_event_from_json with a reason for the failure in err. */
static int event_from_json(json_t *obj, struct audit_event *ev, char *err, size_t errlen)
{
	struct audit_event tmp;
	const char *f[AUDIT_NSTR];

	memset(&tmp, 0, sizeof(tmp));
	if (!json_is_object(obj)) {
		seterr(err, errlen, "event: not a JSON object");
		return -1;
	}
	if (check_event_keys(obj, err, errlen) != 0 || get_form(obj, &tmp.form, err, errlen) != 0 ||
	    get_seq(obj, &tmp.seq, "event", err, errlen) != 0 ||
	    get_time(obj, tmp.time, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < AUDIT_NSTR; i++) {
		f[i] = NULL;
		/* form 1 may omit the later fields; if present they must be null */
		if (i >= form_nstr(tmp.form) && json_object_get(obj, str_field_names[i]) == NULL)
			continue;
		if (get_str_or_null(obj, str_field_names[i], &f[i], err, errlen) != 0)
			return -1;
		if (i >= form_nstr(tmp.form) && f[i] != NULL) {
			seterr(err, errlen, "event: form %d has no \"%s\" (must be null)", tmp.form,
			       str_field_names[i]);
			return -1;
		}
	}
	event_set_strs(&tmp, f);
	if (tmp.outcome == NULL ||
	    (strcmp(tmp.outcome, "allow") != 0 && strcmp(tmp.outcome, "deny") != 0)) {
		seterr(err, errlen, "event: \"outcome\" is not \"allow\" or \"deny\"");
		return -1;
	}
	if (get_hex32(obj, "prev", tmp.prev, "event", err, errlen) != 0 ||
	    get_hex32(obj, "hash", tmp.hash, "event", err, errlen) != 0)
		return -1;
	*ev = tmp;
	return 0;
}

int audit_event_from_json(json_t *obj, struct audit_event *ev)
{
	if (ev == NULL)
		return -1;
	return event_from_json(obj, ev, NULL, 0);
}

/* ---- pin ---------------------------------------------------------------- */

/* Decimal in [1, INT64_MAX]: digits only, no sign, no leading zero. */
static int parse_seq_dec(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 19 || s[0] == '0' || !is_digits(s, len))
		return -1;
	for (size_t i = 0; i < len; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (AUDIT_SEQ_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* On failure v's pin is left as it was and v->error says why. */
int audit_parse_pin(const char *s, struct audit_verify *v)
{
	const char *colon;
	uint64_t seq;
	unsigned char hash[32];

	if (v == NULL)
		return -1;
	if (s == NULL || (colon = strchr(s, ':')) == NULL) {
		seterr(v->error, sizeof(v->error), "pin is not SEQ:HASH");
		return -1;
	}
	if (parse_seq_dec(s, (size_t)(colon - s), &seq) != 0) {
		seterr(v->error, sizeof(v->error), "pin: SEQ is not a decimal number >= 1");
		return -1;
	}
	if (hex_decode_strict(colon + 1, strlen(colon + 1), hash, sizeof(hash)) != 0) {
		seterr(v->error, sizeof(v->error), "pin: HASH is not 64 lowercase hex characters");
		return -1;
	}
	v->have_pin = 1;
	v->pin_seq = seq;
	memcpy(v->pin_hash, hash, sizeof(hash));
	return 0;
}

/* ---- verifier ------------------------------------------------------------ */

/* Verifier state beyond what struct audit_verify reports. */
struct vstate {
	struct audit_verify *v;
	unsigned long line;            /* current line, 1-based */
	unsigned char last_hash[32];   /* hash of the last event (zeros before seq 1) */
	int prev_was_event;            /* the previous line was an event */
	uint64_t due;                  /* seq whose checkpoint must come next, 0 if none */
	uint64_t announce_seq;         /* seq of a key.audit event awaiting its checkpoint */
	unsigned char announce_pk[32]; /* the key it announces */
	int io_error;                  /* the input could not be read */
	char *buf;                     /* line buffer of cap bytes, grown as needed */
	size_t cap;                    /* AUDIT_LINE_START .. AUDIT_LINE_MAX */
};

/* Record the first problem: seq, line and a message. */
__attribute__((format(printf, 4, 5))) static int fail(struct vstate *vs, uint64_t seq,
                                                      unsigned long line, const char *fmt, ...)
{
	va_list ap;

	vs->v->bad_seq = seq;
	vs->v->bad_line = line;
	va_start(ap, fmt);
	(void)vsnprintf(vs->v->error, sizeof(vs->v->error), fmt, ap);
	va_end(ap);
	return -1;
}

/* The seq the next event must have. */
static uint64_t expected_seq(const struct vstate *vs)
{
	return vs->v->last_seq + 1;
}

/* Read one line (without its '\n') into vs->buf, doubling the buffer up
 * to AUDIT_LINE_MAX as needed. Returns 1 with *len set, 0 at end of file,
 * -1 on a read error, no memory, or a line longer than AUDIT_LINE_MAX (the
 * rest of an overlong line is not read). */
static int read_line(FILE *f, struct vstate *vs, size_t *len)
{
	size_t n = 0;
	int c = EOF;

	flockfile(f);
	while ((c = getc_unlocked(f)) != EOF && c != '\n') {
		if (n == vs->cap) {
			size_t ncap = vs->cap * 2 > AUDIT_LINE_MAX ? AUDIT_LINE_MAX : vs->cap * 2;
			char *nbuf;

			if (vs->cap >= AUDIT_LINE_MAX) {
				funlockfile(f);
				return fail(vs, expected_seq(vs), vs->line + 1,
				            "line longer than %u bytes", AUDIT_LINE_MAX);
			}
			if ((nbuf = realloc(vs->buf, ncap)) == NULL) {
				funlockfile(f);
				vs->io_error = 1;
				return fail(vs, expected_seq(vs), vs->line + 1, "out of memory");
			}
			vs->buf = nbuf;
			vs->cap = ncap;
		}
		vs->buf[n++] = (char)c;
	}
	funlockfile(f);
	if (ferror(f)) {
		vs->io_error = 1;
		return fail(vs, expected_seq(vs), vs->line + 1, "read error");
	}
	if (c == EOF && n == 0)
		return 0;
	vs->line++;
	*len = n;
	return 1;
}

/* Copy a string from a parse error, keeping printable ASCII only (the
 * input may hold terminal escapes). */
static void printable(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < dstlen && src[i] != '\0'; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	if (dstlen > 0)
		dst[i] = '\0';
}

/* A key.audit event (already hashed and chained): form 2, allowed, its
 * target a well-formed key other than the one in use. Noted as pending
 * until its checkpoint, signed by the key in use, follows. */
static int check_announcement(struct vstate *vs, const struct audit_event *ev)
{
	unsigned char pk[32];

	if (ev->form < 2 || ev->target == NULL || ev->outcome == NULL ||
	    strcmp(ev->outcome, "allow") != 0)
		return fail(vs, ev->seq, vs->line,
		            "key.audit event %llu is not an allowed form-2 event naming a key",
		            (unsigned long long)ev->seq);
	if (hex_decode_strict(ev->target, strlen(ev->target), pk, sizeof(pk)) != 0)
		return fail(vs, ev->seq, vs->line,
		            "key.audit event %llu: target is not 64 lowercase hex characters",
		            (unsigned long long)ev->seq);
	if (sodium_memcmp(pk, vs->v->cur_pk, 32) == 0)
		return fail(vs, ev->seq, vs->line,
		            "key.audit event %llu announces the key already in use",
		            (unsigned long long)ev->seq);
	memcpy(vs->announce_pk, pk, 32);
	vs->announce_seq = ev->seq;
	return 0;
}

static int verify_event(struct vstate *vs, json_t *obj)
{
	struct audit_verify *v = vs->v;
	struct audit_event ev;
	unsigned char h[32];
	char why[160];

	if (event_from_json(obj, &ev, why, sizeof(why)) != 0)
		return fail(vs, expected_seq(vs), vs->line, "%s", why);
	if (vs->announce_seq != 0)
		return fail(
		    vs, vs->announce_seq, vs->line,
		    "the key.audit event %llu is not followed by its checkpoint (a new audit "
		    "key counts only when the key in use signs its announcement)",
		    (unsigned long long)vs->announce_seq);
	if (vs->due != 0)
		return fail(vs, vs->due, vs->line,
		            "the checkpoint due after event %llu is missing (every %dth event is "
		            "signed; were checkpoint lines removed?)",
		            (unsigned long long)vs->due, AUDIT_CP_EVERY);
	if (ev.seq != expected_seq(vs)) {
		if (v->events == 0)
			return fail(vs, 1, vs->line, "first event has seq %llu, expected 1",
			            (unsigned long long)ev.seq);
		return fail(vs, expected_seq(vs), vs->line,
		            "event seq %llu where %llu was expected (missing, reordered or "
		            "inserted event)",
		            (unsigned long long)ev.seq, (unsigned long long)expected_seq(vs));
	}
	if (ev.form < v->last_form)
		return fail(vs, ev.seq, vs->line,
		            "event %llu has form %d after an event of form %d (the form never goes "
		            "down)",
		            (unsigned long long)ev.seq, ev.form, v->last_form);
	if (sodium_memcmp(ev.prev, vs->last_hash, 32) != 0)
		return fail(vs, ev.seq, vs->line, "event %llu: prev does not match the hash of %s",
		            (unsigned long long)ev.seq,
		            ev.seq == 1 ? "nothing (must be all zeros)" : "the previous event");
	if (audit_event_hash(&ev, h) != 0 || sodium_memcmp(h, ev.hash, 32) != 0)
		return fail(vs, ev.seq, vs->line,
		            "event %llu: hash does not match its contents (edited event)",
		            (unsigned long long)ev.seq);
	if (v->have_pin && ev.seq == v->pin_seq && sodium_memcmp(h, v->pin_hash, 32) != 0)
		return fail(vs, ev.seq, vs->line, "hash at pinned seq %llu differs",
		            (unsigned long long)ev.seq);
	if (ev.action != NULL && strcmp(ev.action, AUDIT_KEY_ACTION) == 0 &&
	    check_announcement(vs, &ev) != 0)
		return -1;
	if (ev.action != NULL && strcmp(ev.action, AUDIT_RESTORE_ACTION) == 0) {
		if (v->restores < AUDIT_RESTORES_KEPT) {
			v->restore[v->restores].seq = ev.seq;
			printable(v->restore[v->restores].target,
			          sizeof(v->restore[v->restores].target),
			          ev.target != NULL ? ev.target : "");
		}
		v->restores++;
	}
	memcpy(vs->last_hash, h, 32);
	v->last_seq = ev.seq;
	v->last_form = ev.form;
	v->events++;
	vs->prev_was_event = 1;
	if (ev.seq % AUDIT_CP_EVERY == 0)
		vs->due = ev.seq;
	return 0;
}

/* Exactly type, seq, hash, signature, public_key, well formed. */
static int parse_checkpoint(json_t *obj, uint64_t *seq, unsigned char hash[32],
                            unsigned char sig[64], unsigned char pk[32], char *err, size_t errlen)
{
	json_t *sv;

	if (json_object_size(obj) != 5 || json_object_get(obj, "signature") == NULL ||
	    json_object_get(obj, "public_key") == NULL || json_object_get(obj, "hash") == NULL ||
	    json_object_get(obj, "seq") == NULL) {
		seterr(err, errlen,
		       "checkpoint: keys must be exactly type, seq, hash, signature, public_key");
		return -1;
	}
	if (get_seq(obj, seq, "checkpoint", err, errlen) != 0 ||
	    get_hex32(obj, "hash", hash, "checkpoint", err, errlen) != 0 ||
	    get_hex32(obj, "public_key", pk, "checkpoint", err, errlen) != 0)
		return -1;
	sv = json_object_get(obj, "signature");
	if (!json_is_string(sv) ||
	    hex_decode_strict(json_string_value(sv), json_string_length(sv), sig, 64) != 0) {
		seterr(err, errlen,
		       "checkpoint: \"signature\" is not 128 lowercase hex characters");
		return -1;
	}
	return 0;
}

static int verify_checkpoint(struct vstate *vs, json_t *obj)
{
	struct audit_verify *v = vs->v;
	uint64_t seq;
	unsigned char hash[32], sig[64], pk[32];
	char why[160];

	if (parse_checkpoint(obj, &seq, hash, sig, pk, why, sizeof(why)) != 0)
		return fail(vs, v->events ? v->last_seq : 1, vs->line, "%s", why);
	if (v->events == 0)
		return fail(vs, 1, vs->line, "checkpoint %llu before any event",
		            (unsigned long long)seq);
	if (!vs->prev_was_event)
		return fail(vs, seq, vs->line,
		            "checkpoint %llu does not directly follow its event (duplicate "
		            "checkpoint)",
		            (unsigned long long)seq);
	if (seq != v->last_seq) /* ahead: an event is missing; behind: misplaced */
		return fail(vs, seq > v->last_seq ? expected_seq(vs) : seq, vs->line,
		            "checkpoint for seq %llu follows event %llu", (unsigned long long)seq,
		            (unsigned long long)v->last_seq);
	if (sodium_memcmp(pk, v->cur_pk, 32) != 0)
		return fail(vs, seq, vs->line,
		            "checkpoint %llu carries a different public key than the trusted one "
		            "(the first audit.pub, or a key announced by a key.audit event that "
		            "the key before it signed)",
		            (unsigned long long)seq);
	if (audit_checkpoint_verify(seq, hash, sig, v->cur_pk) != 0)
		return fail(vs, seq, vs->line, "checkpoint %llu: bad signature",
		            (unsigned long long)seq);
	if (sodium_memcmp(hash, vs->last_hash, 32) != 0)
		return fail(vs, seq, vs->line,
		            "event %llu differs from its signed checkpoint (rewritten history)",
		            (unsigned long long)seq);
	v->checkpoints++;
	v->last_cp_seq = seq;
	memcpy(v->last_cp_hash, hash, 32);
	vs->prev_was_event = 0;
	vs->due = 0;
	if (vs->announce_seq != 0) { /* the hand-over: the announced key from now on */
		memcpy(v->cur_pk, vs->announce_pk, 32);
		v->key_changes++;
		vs->announce_seq = 0;
	}
	return 0;
}

/* Parse and verify the line in vs->buf (len bytes). */
static int verify_line(struct vstate *vs, size_t len)
{
	json_error_t jerr;
	json_t *obj = NULL, *type;
	const char *t;
	char msg[160];
	int rc;

	if (len == 0)
		return fail(vs, expected_seq(vs), vs->line, "blank line");
	obj = json_loadb(vs->buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		printable(msg, sizeof(msg), jerr.text);
		return fail(vs, expected_seq(vs), vs->line, "invalid JSON: %s", msg);
	}
	type = json_object_get(obj, "type");
	t = json_is_string(type) ? json_string_value(type) : NULL;
	if (!json_is_object(obj) || t == NULL)
		rc = fail(vs, expected_seq(vs), vs->line, "not an object with a \"type\" string");
	else if (strcmp(t, "event") == 0)
		rc = verify_event(vs, obj);
	else if (strcmp(t, "checkpoint") == 0)
		rc = verify_checkpoint(vs, obj);
	else
		rc = fail(vs, expected_seq(vs), vs->line,
		          "\"type\" is neither \"event\" nor \"checkpoint\"");
	json_decref(obj);
	return rc;
}

/* End-of-file checks: at least one event, no due checkpoint missing, the
 * pin reached. */
static int verify_end(struct vstate *vs)
{
	struct audit_verify *v = vs->v;

	if (v->events == 0)
		return fail(vs, 1, vs->line + 1, "no events");
	if (vs->announce_seq != 0)
		return fail(vs, vs->announce_seq, vs->line + 1,
		            "the export ends without the checkpoint of the key.audit event %llu",
		            (unsigned long long)vs->announce_seq);
	if (vs->due != 0)
		return fail(vs, vs->due, vs->line + 1,
		            "the export ends without the checkpoint due after event %llu (every "
		            "%dth event is signed)",
		            (unsigned long long)vs->due, AUDIT_CP_EVERY);
	if (v->have_pin && v->last_seq < v->pin_seq)
		return fail(vs, expected_seq(vs), vs->line + 1,
		            "export does not reach pinned checkpoint %llu (last event is %llu: "
		            "truncated)",
		            (unsigned long long)v->pin_seq, (unsigned long long)v->last_seq);
	return 0;
}

/* On failure bad_line is the line of the problem; for problems found at
 * end of file (no events, a due checkpoint or the pin not reached) it is
 * one past the last line. The counters always describe the part verified
 * before any problem. */
int audit_verify_stream(FILE *f, struct audit_verify *v)
{
	struct vstate vs;
	size_t len = 0;
	int rc = AUDIT_VERIFY_FAILED, r;

	if (v == NULL)
		return AUDIT_VERIFY_ERROR;
	v->events = v->checkpoints = v->last_seq = v->last_cp_seq = 0;
	memset(v->last_cp_hash, 0, sizeof(v->last_cp_hash));
	v->unsigned_tail = v->bad_seq = 0;
	v->last_form = 0;
	v->key_changes = 0;
	v->restores = 0;
	memset(v->restore, 0, sizeof(v->restore));
	memcpy(v->cur_pk, v->pk, 32);
	v->bad_line = 0;
	v->error[0] = '\0';
	memset(&vs, 0, sizeof(vs));
	vs.v = v;
	if (f == NULL) {
		fail(&vs, 0, 0, "no input");
		return AUDIT_VERIFY_ERROR;
	}
	if ((vs.buf = malloc(AUDIT_LINE_START)) == NULL) {
		fail(&vs, 0, 0, "out of memory");
		return AUDIT_VERIFY_ERROR;
	}
	vs.cap = AUDIT_LINE_START;
	while ((r = read_line(f, &vs, &len)) == 1)
		if (verify_line(&vs, len) != 0)
			goto done;
	if (r < 0 || verify_end(&vs) != 0)
		goto done;
	/* By the due rule the unsigned tail is below AUDIT_CP_EVERY, and an
	 * export without any checkpoint has fewer events than that. */
	rc = v->checkpoints > 0 ? AUDIT_VERIFY_OK : AUDIT_VERIFY_UNSIGNED;
done:
	if (vs.io_error)
		rc = AUDIT_VERIFY_ERROR;
	v->unsigned_tail = v->last_seq - v->last_cp_seq;
	free(vs.buf);
	return rc;
}

int audit_verify_exit_status(int result)
{
	switch (result) {
	case AUDIT_VERIFY_OK:
		return AUDIT_EXIT_OK;
	case AUDIT_VERIFY_UNSIGNED:
		return AUDIT_EXIT_UNSIGNED;
	case AUDIT_VERIFY_FAILED:
		return AUDIT_EXIT_FAILED;
	default:
		return AUDIT_EXIT_USAGE;
	}
}

void audit_verify_describe(const struct audit_verify *v, int result, char *out, size_t len)
{
	if (out == NULL || len == 0)
		return;
	switch (result) {
	case AUDIT_VERIFY_OK:
		snprintf(out, len,
		         "OK: %" PRIu64 " events, %" PRIu64 " checkpoints verified; last "
		         "checkpoint seq %" PRIu64 "; %" PRIu64
		         " events after it are not yet signed",
		         v->events, v->checkpoints, v->last_cp_seq, v->unsigned_tail);
		break;
	case AUDIT_VERIFY_UNSIGNED:
		snprintf(out, len,
		         "UNSIGNED: %" PRIu64 " events, hash chain verified, but no checkpoint: "
		         "nothing in the export is signed",
		         v->events);
		break;
	case AUDIT_VERIFY_FAILED:
		snprintf(out, len, "FAILED at seq %" PRIu64 " (line %lu): %s", v->bad_seq,
		         v->bad_line, v->error);
		break;
	default:
		snprintf(out, len, "ERROR: %s", v->error[0] ? v->error : "cannot verify");
		break;
	}
}

int audit_verify_pin(const struct audit_verify *v, char *out, size_t len)
{
	char hex[AUDIT_HASH_HEX + 1];
	int n;

	if (out == NULL || len == 0)
		return -1;
	out[0] = '\0';
	if (v == NULL || v->checkpoints == 0 || v->last_cp_seq == 0)
		return -1;
	hex_encode(hex, sizeof(hex), v->last_cp_hash, 32);
	n = snprintf(out, len, "%" PRIu64 ":%s", v->last_cp_seq, hex);
	if (n < 0 || (size_t)n >= len) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* One note per store.restore event verified: the log's history has a gap
 * there although the chain is whole (the restored store chains on its
 * backup point). */
static int print_restores(const struct audit_verify *v, FILE *out)
{
	uint64_t i;

	for (i = 0; i < v->restores && i < AUDIT_RESTORES_KEPT; i++)
		if (fprintf(out,
		            "note: a restore is recorded at seq %" PRIu64
		            " (back to the backup point %s, seq:hash): events written after its "
		            "backup point and before it are not in this log\n",
		            v->restore[i].seq,
		            v->restore[i].target[0] ? v->restore[i].target : "(none named)") < 0)
			return -1;
	if (v->restores > AUDIT_RESTORES_KEPT &&
	    fprintf(out,
	            "note: %" PRIu64 " more restores are recorded after seq %" PRIu64
	            ", each with events missing before it\n",
	            v->restores - AUDIT_RESTORES_KEPT, v->restore[AUDIT_RESTORES_KEPT - 1].seq) < 0)
		return -1;
	return 0;
}

int audit_verify_print(const struct audit_verify *v, int result, FILE *out)
{
	char line[512], pin[AUDIT_PIN_LEN];

	audit_verify_describe(v, result, line, sizeof(line));
	if (fprintf(out, "%s\n", line) < 0)
		return -1;
	if (result == AUDIT_VERIFY_OK && audit_verify_pin(v, pin, sizeof(pin)) == 0) {
		if (fprintf(out, "pin: %s\n", pin) < 0)
			return -1;
		if (v->key_changes > 0) {
			char hex[AUDIT_HASH_HEX + 1];
			hex_encode(hex, sizeof(hex), v->cur_pk, 32);
			if (fprintf(out,
			            "keys: the audit key was handed over %" PRIu64
			            " time(s), each announced and signed by the key before it; "
			            "the key in use is %s\n",
			            v->key_changes, hex) < 0)
				return -1;
		}
		if (v->unsigned_tail > 0 &&
		    fprintf(out,
		            "note: the last %" PRIu64 " events are covered by the hash chain only, "
		            "not yet by a signature; a later export signs them\n",
		            v->unsigned_tail) < 0)
			return -1;
	} else if (result == AUDIT_VERIFY_UNSIGNED &&
	           fprintf(out, "note: without a checkpoint anyone can rewrite these events and "
	                        "recompute the chain; verify a later export\n") < 0) {
		return -1;
	}
	if ((result == AUDIT_VERIFY_OK || result == AUDIT_VERIFY_UNSIGNED) &&
	    print_restores(v, out) != 0)
		return -1;
	return fflush(out) == 0 ? 0 : -1;
}

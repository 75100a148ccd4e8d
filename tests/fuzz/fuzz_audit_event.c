/* fuzz_audit_event.c - one audit event: the strict JSON reader
 * (audit_event_from_json), the canonical form and hash (audit_event_hash)
 * and the writer (audit_event_to_json), all in common/auditlog.c.
 *
 * The input is one JSON text, parsed as the export verifier parses a line
 * (JSON_REJECT_DUPLICATES). For every event the reader accepts:
 *  - the object holds the keys of its form and no others, plus
 *    "type": "event": form 2 all 18 keys with "form": 2; form 1 the 14
 *    keys of form 1, and "form" (then 1), target, token and cert only
 *    if present and null;
 *  - the hash equals an independent computation of the canonical form of
 *    that form described in docs/audit.md section 2, and differs from the
 *    same fields hashed in the other form;
 *  - writing it out and reading it back (as an object and as text) gives
 *    the same event and the same hash; the writer always writes all 18
 *    keys. */
#include <stdint.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "auditlog.h"
#include "fuzz.h"

/* Keys of form 1, then the keys form 2 adds. */
static const char *const keys[] = {
    "seq",    "time", "actor",      "role", "action", "ticket", "credential", "session", "outcome",
    "reason", "ip",   "request_id", "prev", "hash",   "form",   "target",     "token",   "cert",
};
#define NKEYS (sizeof keys / sizeof keys[0])
#define NKEYS_V1 14
#define NSTR 13    /* string fields after time, form 2 */
#define NSTR_V1 10 /* of which form 1 hashes these */

static void strs(const struct audit_event *ev, const char *out[NSTR])
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

static void be(unsigned char *out, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		out[i] = (unsigned char)(v & 0xff);
}

static void ref_field(crypto_generichash_state *st, const char *s)
{
	unsigned char hdr[5] = {0};

	if (s == NULL) {
		crypto_generichash_update(st, hdr, 1);
		return;
	}
	hdr[0] = 1;
	be(hdr + 1, strlen(s), 4);
	crypto_generichash_update(st, hdr, 5);
	crypto_generichash_update(st, (const unsigned char *)s, strlen(s));
}

/* docs/audit.md section 2, restated: BLAKE2b-256(prev || tag 0x00 ||
 * be64 seq || time || each field as 0x00 or 0x01 be32 len bytes), with
 * tag "rsvault-audit-event-v1" and 10 fields after time for form 1,
 * "rsvault-audit-event-v2" and 13 (target, token, cert added) for form 2.
 * The fields are taken as they are, whatever the form says: the caller
 * compares against the library only where they fit the form. */
static void ref_hash(const struct audit_event *ev, int form, unsigned char out[32])
{
	static const char tag1[] = "rsvault-audit-event-v1", tag2[] = "rsvault-audit-event-v2";
	crypto_generichash_state st;
	const char *f[NSTR];
	unsigned char seq[8];
	int n = form == 1 ? NSTR_V1 : NSTR;

	strs(ev, f);
	be(seq, ev->seq, 8);
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, ev->prev, 32);
	crypto_generichash_update(&st, (const unsigned char *)(form == 1 ? tag1 : tag2),
	                          sizeof tag1); /* with NUL; both tags are as long */
	crypto_generichash_update(&st, seq, 8);
	ref_field(&st, ev->time);
	for (int i = 0; i < n; i++)
		ref_field(&st, f[i]);
	crypto_generichash_final(&st, out, 32);
}

static int same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_same(const struct audit_event *a, const struct audit_event *b)
{
	const char *fa[NSTR], *fb[NSTR];

	strs(a, fa);
	strs(b, fb);
	fuzz_check(a->seq == b->seq);
	fuzz_check(a->form == b->form);
	fuzz_check(strcmp(a->time, b->time) == 0);
	for (int i = 0; i < NSTR; i++)
		fuzz_check(same_str(fa[i], fb[i]));
	fuzz_check(memcmp(a->prev, b->prev, 32) == 0);
	fuzz_check(memcmp(a->hash, b->hash, 32) == 0);
}

/* The accepted object has exactly the documented keys of its form. */
static void check_keys(json_t *obj, int form)
{
	const char *key;
	json_t *val;
	size_t n = 0;

	json_object_foreach(obj, key, val)
	{
		size_t i;
		for (i = 0; i < NKEYS; i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (i == NKEYS) {
			fuzz_check(strcmp(key, "type") == 0);
			fuzz_check(json_is_string(val) &&
			           strcmp(json_string_value(val), "event") == 0);
		} else if (i < NKEYS_V1) {
			n++;
		} else if (strcmp(key, "form") == 0) {
			fuzz_check(json_is_integer(val) && json_integer_value(val) == form);
		} else if (form == 1) {
			fuzz_check(json_is_null(val)); /* target, token, cert */
		} else {
			n++;
		}
	}
	if (form == 2) {
		fuzz_check(json_integer_value(json_object_get(obj, "form")) == 2);
		fuzz_check(n == NKEYS - 1);
	} else {
		fuzz_check(n == NKEYS_V1);
	}
}

static void check_event(json_t *obj, const struct audit_event *ev)
{
	struct audit_event ev2, ev3;
	unsigned char h[32], r[32], h2[32];
	json_t *out, *back;
	char *text;

	fuzz_check(ev->form == 1 || ev->form == 2);
	check_keys(obj, ev->form);
	if (ev->form == 1)
		fuzz_check(ev->target == NULL && ev->token == NULL && ev->cert == NULL);
	fuzz_check(ev->seq >= 1 && ev->seq <= (uint64_t)INT64_MAX);
	fuzz_check(strlen(ev->time) == 24);
	fuzz_check(ev->outcome != NULL &&
	           (strcmp(ev->outcome, "allow") == 0 || strcmp(ev->outcome, "deny") == 0));

	fuzz_check(audit_event_hash(ev, h) == 0);
	ref_hash(ev, ev->form, r);
	fuzz_check(memcmp(h, r, 32) == 0);
	/* the form is bound into the hash: the other form's bytes differ */
	ref_hash(ev, 3 - ev->form, r);
	fuzz_check(memcmp(h, r, 32) != 0);
	if (ev->form == 1) {
		struct audit_event as2 = *ev;
		as2.form = 2;
		fuzz_check(audit_event_hash(&as2, r) == 0 && memcmp(h, r, 32) != 0);
	} else if (ev->target != NULL || ev->token != NULL || ev->cert != NULL) {
		struct audit_event as1 = *ev;
		as1.form = 1;
		fuzz_check(audit_event_hash(&as1, r) == -1);
	}

	/* an event the reader accepts, the writer must be able to write */
	out = audit_event_to_json(ev);
	fuzz_check(out != NULL);
	fuzz_check(json_object_size(out) == NKEYS);
	fuzz_check(audit_event_from_json(out, &ev2) == 0);
	check_same(ev, &ev2);
	fuzz_check(audit_event_hash(&ev2, h2) == 0 && memcmp(h, h2, 32) == 0);

	text = json_dumps(out, JSON_COMPACT);
	fuzz_check(text != NULL);
	back = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	fuzz_check(back != NULL);
	fuzz_check(audit_event_from_json(back, &ev3) == 0);
	check_same(ev, &ev3);
	json_decref(back);
	free(text);
	json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct audit_event ev;
	json_error_t err;
	json_t *obj;

	if (!ready) {
		if (sodium_init() < 0)
			fuzz_fail("sodium_init");
		ready = 1;
	}
	obj = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
	if (obj == NULL)
		return 0;
	memset(&ev, 0, sizeof ev);
	if (audit_event_from_json(obj, &ev) == 0)
		check_event(obj, &ev);
	fuzz_check(audit_event_from_json(obj, NULL) == -1);
	json_decref(obj);
	return 0;
}

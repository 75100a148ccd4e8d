/* fuzz_audit_verify.c - the offline export verifier, audit_verify_stream
 * (common/auditlog.c), fed through fmemopen, with audit_parse_pin,
 * audit_verify_describe, audit_verify_pin and audit_verify_print.
 *
 * Input: an export (JSON lines), optionally preceded by one line
 * "#pin SEQ:HASH" that is given to audit_parse_pin first. The trusted key
 * is the unit tests' fixed Ed25519 key (seed 0x20..0x3f, public key
 * 29acbae1...966dd7, the one docs/audit.md section 5 signs with).
 *
 * A fuzzer cannot compute BLAKE2b chains or Ed25519 signatures, so before
 * verifying, the harness fills in what it could not guess, and only that:
 * in a line that parses as a JSON object,
 *   event:      "prev": null -> hash of the previous event line (as the
 *               harness computed it); "hash": null -> the event's real hash;
 *   checkpoint: "hash": null -> hash of the previous event line;
 *               "public_key": null -> the trusted key;
 *               "signature": null -> a valid signature over (seq, hash);
 *   "#pin SEQ:=" -> SEQ and the hash computed for that event;
 *   a line "#gen N F" -> N valid events of form F continuing the chain
 *               (so that exports past the 100th event, where a checkpoint
 *               is due, fit in a short input); at most MAX_GEN in all.
 * Other lines reach the verifier byte for byte. So the
 * fuzzer explores the verifier's ordering, linking, checkpoint and pin
 * logic with real hashes and signatures, and still every malformed-input
 * path, including the rules of SPEC 8.1: due checkpoints at every 100th
 * event (the corpus has valid exports of 100+ events to mutate), forms
 * that never go down, mixed form-1/form-2 chains. The result is checked
 * for consistency: counters, error report, printable output, the result
 * code against the counters (OK needs a checkpoint and a tail under 100,
 * UNSIGNED means no checkpoint and under 100 events), and the pin that
 * is printed verifies the same export again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "auditlog.h"
#include "fuzz.h"

#define MAX_GEN 400 /* events one "#gen" line may make */

static unsigned char pk[32], sk[64];

struct fix {
	unsigned char last[32];      /* hash of the last event line seen */
	uint64_t next_seq;           /* seq after the last event line seen */
	uint64_t want_seq;           /* the SEQ of "#pin SEQ:=", 0 if none */
	unsigned char want_hash[32]; /* the hash of the first event with it */
	int have_want;
	unsigned long generated; /* events made by "#gen" so far */
};

/* Remember the hash of the event "#pin SEQ:=" names (the first one). */
static void note_event(struct fix *fx, uint64_t seq, const unsigned char hash[32])
{
	if (!fx->have_want && fx->want_seq != 0 && seq == fx->want_seq) {
		memcpy(fx->want_hash, hash, 32);
		fx->have_want = 1;
	}
}

static int is_null(json_t *o, const char *key)
{
	return json_is_null(json_object_get(o, key));
}

static void set_hex(json_t *o, const char *key, const unsigned char *bin, size_t n)
{
	char hex[129];

	sodium_bin2hex(hex, sizeof hex, bin, n);
	json_object_set_new(o, key, json_string(hex));
}

static int get_hex32(json_t *o, const char *key, unsigned char out[32])
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && strlen(s) == 64 && sodium_hex2bin(out, 32, s, 64, NULL, NULL, NULL) == 0
	           ? 0
	           : -1;
}

/* Fill an event's null prev/hash. Returns 1 if obj changed. */
static int fix_event(json_t *obj, struct fix *fx)
{
	struct audit_event ev;
	unsigned char h[32];
	int changed = 0, want_hash = is_null(obj, "hash");

	if (is_null(obj, "prev")) {
		set_hex(obj, "prev", fx->last, 32);
		changed = 1;
	}
	if (want_hash) {
		memset(h, 0, sizeof h);
		set_hex(obj, "hash", h, 32); /* a placeholder the reader accepts */
		changed = 1;
	}
	if (audit_event_from_json(obj, &ev) == 0 && audit_event_hash(&ev, h) == 0) {
		if (want_hash)
			set_hex(obj, "hash", h, 32);
		memcpy(fx->last, h, 32);
		fx->next_seq = ev.seq < (uint64_t)INT64_MAX ? ev.seq + 1 : ev.seq;
		note_event(fx, ev.seq, h);
	}
	return changed;
}

/* Fill a checkpoint's null hash/public_key/signature. */
static int fix_checkpoint(json_t *obj, struct fix *fx)
{
	json_t *seq = json_object_get(obj, "seq");
	unsigned char h[32], sig[64];
	int changed = 0;

	if (is_null(obj, "hash")) {
		set_hex(obj, "hash", fx->last, 32);
		changed = 1;
	}
	if (is_null(obj, "public_key")) {
		set_hex(obj, "public_key", pk, 32);
		changed = 1;
	}
	if (is_null(obj, "signature")) {
		memset(sig, 0, sizeof sig);
		if (json_is_integer(seq) && json_integer_value(seq) >= 1 &&
		    get_hex32(obj, "hash", h) == 0)
			fuzz_check(audit_checkpoint_sign((uint64_t)json_integer_value(seq), h, sk,
			                                 sig) == 0);
		set_hex(obj, "signature", sig, 64);
		changed = 1;
	}
	return changed;
}

/* "#gen N F": N (1..MAX_GEN) events of form F (1 or 2) continuing the
 * chain from the last event line, each correctly linked and hashed, as
 * lines separated by '\n'. Returns the number of lines written, or 0 if
 * the directive is malformed (then nothing is written). */
static unsigned long gen_events(FILE *out, const char *line, size_t len, struct fix *fx)
{
	char arg[16], prev[65], hash[65];
	unsigned long n = 0;
	int form = 0;
	char *end;

	if (len < 6 || len - 5 >= sizeof arg)
		return 0;
	memcpy(arg, line + 5, len - 5);
	arg[len - 5] = '\0';
	n = strtoul(arg, &end, 10);
	if (end == arg || *end != ' ' || (end[1] != '1' && end[1] != '2') || end[2] != '\0' ||
	    n < 1 || n > MAX_GEN - fx->generated)
		return 0;
	form = end[1] - '0';
	fx->generated += n;
	for (unsigned long i = 0; i < n; i++) {
		struct audit_event ev;
		const char *outcome = i % 3 ? "allow" : "deny";

		memset(&ev, 0, sizeof ev);
		ev.form = form;
		ev.seq = fx->next_seq;
		strcpy(ev.time, "2026-11-22T10:00:00.000Z");
		ev.action = "audit.list";
		ev.outcome = outcome;
		memcpy(ev.prev, fx->last, 32);
		fuzz_check(audit_event_hash(&ev, ev.hash) == 0);
		sodium_bin2hex(prev, sizeof prev, ev.prev, 32);
		sodium_bin2hex(hash, sizeof hash, ev.hash, 32);
		/* written directly (cheaper than through jansson): the fields
		 * audit_event_to_json would write, in its order */
		fprintf(out,
		        "%s{\"type\":\"event\",\"seq\":%llu,\"form\":%d,\"time\":\"%s\","
		        "\"actor\":null,\"role\":null,\"action\":\"audit.list\",\"ticket\":null,"
		        "\"credential\":null,\"session\":null,\"outcome\":\"%s\",\"reason\":null,"
		        "\"ip\":null,\"request_id\":null,%s\"prev\":\"%s\",\"hash\":\"%s\"}",
		        i > 0 ? "\n" : "", (unsigned long long)ev.seq, form, ev.time, outcome,
		        form == 2 ? "\"target\":null,\"token\":null,\"cert\":null," : "", prev,
		        hash);
		memcpy(fx->last, ev.hash, 32);
		note_event(fx, ev.seq, ev.hash);
		if (fx->next_seq < (uint64_t)INT64_MAX)
			fx->next_seq++;
	}
	return n;
}

/* Write one line (fixed up if it asks for it, or the events "#gen"
 * makes) to out, without '\n'. Returns the number of lines written. */
static unsigned long emit_line(FILE *out, const char *line, size_t len, struct fix *fx)
{
	unsigned long generated;
	json_t *obj;
	const char *type;
	int changed = 0;

	if (len >= 5 && memcmp(line, "#gen ", 5) == 0 &&
	    (generated = gen_events(out, line, len, fx)))
		return generated;
	obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	type = json_string_value(json_object_get(obj, "type"));
	if (json_is_object(obj) && type != NULL) {
		if (strcmp(type, "event") == 0)
			changed = fix_event(obj, fx);
		else if (strcmp(type, "checkpoint") == 0)
			changed = fix_checkpoint(obj, fx);
	}
	if (changed) {
		char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fuzz_check(s != NULL && strchr(s, '\n') == NULL);
		fputs(s, out);
		free(s);
	} else {
		fwrite(line, 1, len, out);
	}
	json_decref(obj);
	return 1;
}

/* If pin is "SEQ:=" with SEQ in canonical decimal, the SEQ; else 0. */
static uint64_t pin_want(const char *pin, size_t len)
{
	const char *colon = memchr(pin, ':', len);
	char digits[24], again[24];
	unsigned long long n;
	size_t dl;

	if (colon == NULL || len - (size_t)(colon - pin) != 2 || colon[1] != '=')
		return 0;
	dl = (size_t)(colon - pin);
	if (dl == 0 || dl >= sizeof digits || strspn(pin, "0123456789") < dl)
		return 0;
	memcpy(digits, pin, dl);
	digits[dl] = '\0';
	n = strtoull(digits, NULL, 10);
	snprintf(again, sizeof again, "%llu", n);
	return strcmp(again, digits) == 0 ? (uint64_t)n : 0;
}

/* "#pin SEQ:=": SEQ with the hash the fix-up computed for that event
 * (zeros if there was none); any other pin text as it is. */
static void resolve_pin(const char *pin, size_t len, const struct fix *fx, char *out, size_t outlen)
{
	const char *colon = memchr(pin, ':', len);
	char hex[65] = "0000000000000000000000000000000000000000000000000000000000000000";

	if (colon == NULL || len - (size_t)(colon - pin) != 2 || colon[1] != '=' ||
	    (size_t)(colon - pin) > 20) {
		snprintf(out, outlen, "%.*s", (int)len, pin);
		return;
	}
	if (fx->have_want)
		sodium_bin2hex(hex, sizeof hex, fx->want_hash, 32);
	snprintf(out, outlen, "%.*s:%s", (int)(colon - pin), pin, hex);
}

/* What audit_verify_print writes: lines of printable ASCII. */
static void check_print(const struct audit_verify *v, int rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (m == NULL)
		return;
	fuzz_check(audit_verify_print(v, rc, m) == 0);
	fuzz_check(fclose(m) == 0);
	fuzz_check(len > 0 && buf[len - 1] == '\n');
	for (size_t i = 0; i < len; i++)
		fuzz_check(buf[i] == '\n' || (buf[i] >= 0x20 && buf[i] < 0x7f));
	fuzz_check((strstr(buf, "\npin: ") != NULL) == (rc == AUDIT_VERIFY_OK));
	free(buf);
}

/* The pin printed for an OK export verifies that export again. */
static void check_pin_again(const char *export, size_t len, const struct audit_verify *v)
{
	struct audit_verify again;
	char pin[AUDIT_PIN_LEN];
	FILE *in;

	fuzz_check(audit_verify_pin(v, pin, sizeof pin) == 0);
	memset(&again, 0, sizeof again);
	memcpy(again.pk, v->pk, sizeof again.pk);
	fuzz_check(audit_parse_pin(pin, &again) == 0);
	fuzz_check(again.pin_seq == v->last_cp_seq &&
	           memcmp(again.pin_hash, v->last_cp_hash, 32) == 0);
	if ((in = fmemopen((void *)export, len, "r")) == NULL)
		return;
	fuzz_check(audit_verify_stream(in, &again) == AUDIT_VERIFY_OK);
	fuzz_check(again.events == v->events && again.last_cp_seq == v->last_cp_seq);
	fclose(in);
}

static void check_result(int rc, const struct audit_verify *v, unsigned long lines)
{
	char summary[512], pin[AUDIT_PIN_LEN];

	fuzz_check(memchr(v->error, '\0', sizeof v->error) != NULL);
	/* a memory stream never fails to read */
	fuzz_check(rc == AUDIT_VERIFY_OK || rc == AUDIT_VERIFY_UNSIGNED ||
	           rc == AUDIT_VERIFY_FAILED);
	audit_verify_describe(v, rc, summary, sizeof summary);
	fuzz_check(memchr(summary, '\0', sizeof summary) != NULL && summary[0] != '\0');
	/* shown to an auditor's terminal: one line of printable ASCII, nothing
	 * copied from the export that could carry escape sequences */
	for (const char *c = summary; *c; c++)
		fuzz_check(*c >= 0x20 && *c < 0x7f);
	check_print(v, rc);
	fuzz_check(v->last_seq == v->events);
	fuzz_check(v->checkpoints <= v->events && v->last_cp_seq <= v->last_seq);
	fuzz_check(v->unsigned_tail == v->last_seq - v->last_cp_seq);
	fuzz_check((v->checkpoints == 0) == (v->last_cp_seq == 0));
	fuzz_check(v->last_form == 0 ? v->events == 0 : v->last_form == 1 || v->last_form == 2);
	if (rc == AUDIT_VERIFY_OK || rc == AUDIT_VERIFY_UNSIGNED) {
		fuzz_check(v->events >= 1 && v->error[0] == '\0');
		fuzz_check(v->bad_line == 0 && v->bad_seq == 0);
		fuzz_check(!v->have_pin || v->pin_seq <= v->last_seq);
		/* the due rule: never 100 unsigned events in a passing export */
		fuzz_check(v->unsigned_tail < AUDIT_CP_EVERY);
	}
	if (rc == AUDIT_VERIFY_OK) {
		fuzz_check(v->checkpoints >= 1);
		fuzz_check(audit_verify_pin(v, pin, sizeof pin) == 0);
	} else if (rc == AUDIT_VERIFY_UNSIGNED) {
		fuzz_check(v->checkpoints == 0 && v->events < AUDIT_CP_EVERY);
		fuzz_check(audit_verify_pin(v, pin, sizeof pin) == -1 && pin[0] == '\0');
	} else {
		fuzz_check(v->error[0] != '\0');
		fuzz_check(v->bad_line >= 1 && v->bad_line <= lines + 1);
		fuzz_check(v->bad_seq >= 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	const char *p = (const char *)data, *end = p + size;
	struct audit_verify v;
	struct fix fx;
	char *buf = NULL, pin[128];
	size_t buflen = 0, pinlen = 0;
	const char *pinsrc = NULL;
	unsigned long lines = 0;
	FILE *out, *in;
	int rc;

	if (!ready) {
		unsigned char seed[32];
		for (int i = 0; i < 32; i++)
			seed[i] = (unsigned char)(0x20 + i);
		if (sodium_init() < 0 || crypto_sign_seed_keypair(pk, sk, seed) != 0)
			fuzz_fail("key set-up");
		ready = 1;
	}
	memset(&v, 0, sizeof v);
	memset(&fx, 0, sizeof fx);
	fx.next_seq = 1;
	memcpy(v.pk, pk, sizeof pk);

	if (size >= 5 && memcmp(p, "#pin ", 5) == 0) {
		const char *nl = memchr(p, '\n', size);
		pinsrc = p + 5;
		pinlen = (size_t)((nl ? nl : end) - pinsrc);
		fx.want_seq = pin_want(pinsrc, pinlen);
		p = nl ? nl + 1 : end;
	}

	if ((out = open_memstream(&buf, &buflen)) == NULL)
		return 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		lines += emit_line(out, p, len, &fx);
		if (nl)
			fputc('\n', out);
		p = nl ? nl + 1 : end;
	}
	fuzz_check(fclose(out) == 0);

	if (pinsrc != NULL && pinlen < 100 && memchr(pinsrc, '\0', pinlen) == NULL) {
		resolve_pin(pinsrc, pinlen, &fx, pin, sizeof pin);
		if (audit_parse_pin(pin, &v) != 0) {
			/* a refused pin leaves the pin unset and says why */
			fuzz_check(v.have_pin == 0 && v.error[0] != '\0');
			memset(v.error, 0, sizeof v.error);
		}
	}

	/* an empty export is a real, empty stream (fmemopen refuses size 0) */
	in = buflen > 0 ? fmemopen(buf, buflen, "r") : fopen("/dev/null", "r");
	rc = audit_verify_stream(in, &v);
#ifdef FUZZ_VERBOSE /* -DFUZZ_VERBOSE: say what the verifier concluded */
	fprintf(stderr, "verify: rc %d events %llu checkpoints %llu line %lu seq %llu: %s\n", rc,
	        (unsigned long long)v.events, (unsigned long long)v.checkpoints, v.bad_line,
	        (unsigned long long)v.bad_seq, v.error);
#endif
	if (in != NULL) {
		check_result(rc, &v, lines);
		fclose(in);
		if (rc == AUDIT_VERIFY_OK && buflen > 0)
			check_pin_again(buf, buflen, &v);
	} else {
		fuzz_check(rc == AUDIT_VERIFY_ERROR && v.error[0] != '\0');
	}
	free(buf);
	return 0;
}

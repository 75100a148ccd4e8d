/* test_auditlog.c - canonical form vectors, checkpoint signatures, strict
 * event JSON, pin parsing and the offline export verifier.
 *
 * The hex constants below were produced once, independently of this C
 * code, by tests/unit/vectors_auditlog.py (hashlib.blake2b and a small
 * RFC 8032 Ed25519 that checks itself against RFC 8032 test 1). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "auditlog.h"

/* ---- vectors from vectors_auditlog.py ------------------------------------ */

#define FULL_HASH "768701d283142c2cfedb2effb83b65fda9114573fc31e609981c94a24c72f099"
#define NULLS_HASH "7d96a62c70312c0d7fd0c4f0fe941d7de833b07a897d155ac8eff7e20709f3a2"
#define DOC_HASH "e2bbfa602a6c216d5142f2a09bef5666591779a07db873d75ab9c871fdfe8784"
#define CP_MSG                                                                                     \
	"72737661756c742d61756469742d636865636b706f696e742d7631000000000000000064"                 \
	"768701d283142c2cfedb2effb83b65fda9114573fc31e609981c94a24c72f099"
#define CP_PK "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7"
#define CP_SIG                                                                                     \
	"c812bca6bfeffd3d26f2baa906939f2f833e6db6dfcbbe622151e8460d07d57c"                         \
	"8850bf87b2a6731957bcd8dd0d8a626ee8823f40b2cf16fb1667254691e0da0f"

#define LINE_MAX_BYTES (1024u * 1024u)
#define CHAIN_EVENTS 250
#define CHAIN_LINES (CHAIN_EVENTS + 2) /* checkpoints after 100 and 200 */
#define MAX_LINES (CHAIN_LINES + 8)

/* ---- helpers ------------------------------------------------------------- */

static void to_hex(char *out, size_t outlen, const unsigned char *bin, size_t len)
{
	assert_true(outlen >= len * 2 + 1);
	sodium_bin2hex(out, outlen, bin, len);
}

static void assert_hex(const unsigned char *bin, size_t len, const char *want)
{
	char hex[257];

	to_hex(hex, sizeof(hex), bin, len);
	assert_string_equal(hex, want);
}

static void cp_seed(unsigned char seed[32])
{
	for (int i = 0; i < 32; i++)
		seed[i] = (unsigned char)(0x20 + i);
}

static void cp_keys(unsigned char pk[32], unsigned char sk[64])
{
	unsigned char seed[32];

	cp_seed(seed);
	assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
}

static void other_keys(unsigned char pk[32], unsigned char sk[64])
{
	unsigned char seed[32];

	memset(seed, 0x77, sizeof(seed));
	assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
}

/* The FULL vector: every field present, prev = 00 01 .. 1f. */
static void fill_full(struct audit_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->form = 1;
	ev->seq = 42;
	strcpy(ev->time, "2026-11-22T10:00:00.123Z");
	ev->actor = "agent.bob";
	ev->role = "agent";
	ev->action = "credential.read";
	ev->ticket = "Xq3v9Lk2Rt8Yb1Np4Wz7Hc";
	ev->credential = "Cd5Fg6Hj7Kl8Mn9Pq0Rs1T";
	ev->session = "Se2Ss3Io4Nn5Id6Ab7Cd8E";
	ev->outcome = "deny";
	ev->reason = "session_expired";
	ev->ip = "192.0.2.10";
	ev->request_id = "Rq9Id8Xy7Zw6Vu5Ts4Rq3P";
	for (int i = 0; i < 32; i++)
		ev->prev[i] = (unsigned char)i;
}

/* The NULLS vector: a failed authentication, mostly null. */
static void fill_nulls(struct audit_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->form = 1;
	ev->seq = UINT64_C(0x0102030405060708);
	strcpy(ev->time, "1999-12-31T23:59:59.999Z");
	ev->action = "auth";
	ev->outcome = "deny";
	ev->reason = "unauthenticated";
	ev->ip = "";
	ev->request_id = "r\xc3\xa9q"; /* "réq" in UTF-8: 4 bytes */
	memset(ev->prev, 0xff, sizeof(ev->prev));
}

/* The worked example of docs/audit.md. */
static void fill_doc(struct audit_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->form = 1;
	ev->seq = 1;
	strcpy(ev->time, "2026-11-22T10:00:00.123Z");
	ev->actor = "admin";
	ev->role = "admin";
	ev->action = "account.create";
	ev->outcome = "allow";
	ev->ip = "127.0.0.1";
	ev->request_id = "req-1";
}

/* ---- canonical form vectors ---------------------------------------------- */

static void test_vector_full(void **state)
{
	struct audit_event ev;
	unsigned char h[32];

	(void)state;
	fill_full(&ev);
	assert_int_equal(audit_event_hash(&ev, h), 0);
	assert_hex(h, 32, FULL_HASH);
	/* out may be ev->hash */
	assert_int_equal(audit_event_hash(&ev, ev.hash), 0);
	assert_hex(ev.hash, 32, FULL_HASH);
}

static void test_vector_nulls(void **state)
{
	struct audit_event ev;
	unsigned char h[32];

	(void)state;
	fill_nulls(&ev);
	assert_int_equal(audit_event_hash(&ev, h), 0);
	assert_hex(h, 32, NULLS_HASH);
}

static void test_vector_doc(void **state)
{
	struct audit_event ev;
	unsigned char h[32];

	(void)state;
	fill_doc(&ev);
	assert_int_equal(audit_event_hash(&ev, h), 0);
	assert_hex(h, 32, DOC_HASH);
}

/* Null and empty differ; moving a value to the next field changes it. */
static void test_hash_null_empty_and_shift(void **state)
{
	struct audit_event a, b;
	unsigned char ha[32], hb[32];

	(void)state;
	fill_nulls(&a);
	fill_nulls(&b);
	b.ip = NULL; /* "" in a */
	assert_int_equal(audit_event_hash(&a, ha), 0);
	assert_int_equal(audit_event_hash(&b, hb), 0);
	assert_memory_not_equal(ha, hb, 32);

	fill_full(&a);
	fill_full(&b);
	b.ticket = NULL;
	b.credential = "Xq3v9Lk2Rt8Yb1Np4Wz7Hc"; /* the ticket id, one field later */
	b.session = NULL;
	assert_int_equal(audit_event_hash(&a, ha), 0);
	assert_int_equal(audit_event_hash(&b, hb), 0);
	assert_memory_not_equal(ha, hb, 32);

	/* prev is hashed */
	fill_full(&b);
	b.prev[31] ^= 1;
	assert_int_equal(audit_event_hash(&b, hb), 0);
	assert_memory_not_equal(ha, hb, 32);
}

static void test_hash_field_limits(void **state)
{
	struct audit_event ev;
	unsigned char h[32];
	char *big = malloc(65537);

	(void)state;
	assert_non_null(big);
	memset(big, 'a', 65536);
	big[65536] = '\0';
	fill_full(&ev);
	ev.reason = big; /* 65536 bytes: too long */
	assert_int_equal(audit_event_hash(&ev, h), -1);
	big[65535] = '\0'; /* 65535: the maximum */
	assert_int_equal(audit_event_hash(&ev, h), 0);
	/* an unterminated time buffer is rejected, not read past */
	fill_full(&ev);
	memset(ev.time, '1', sizeof(ev.time));
	assert_int_equal(audit_event_hash(&ev, h), -1);
	free(big);
}

/* ---- checkpoints ------------------------------------------------------------ */

static void test_checkpoint_msg_vector(void **state)
{
	struct audit_event ev;
	unsigned char msg[AUDIT_CP_MSG_LEN];

	(void)state;
	assert_int_equal(AUDIT_CP_MSG_LEN, 68);
	fill_full(&ev);
	assert_int_equal(audit_event_hash(&ev, ev.hash), 0);
	audit_checkpoint_msg(100, ev.hash, msg);
	assert_hex(msg, sizeof(msg), CP_MSG);
}

static void test_checkpoint_sign_verify(void **state)
{
	struct audit_event ev;
	unsigned char pk[32], sk[64], opk[32], osk[64];
	unsigned char sig[64], sig2[64], bad[64], h2[32];

	(void)state;
	cp_keys(pk, sk);
	other_keys(opk, osk);
	assert_hex(pk, 32, CP_PK);
	fill_full(&ev);
	assert_int_equal(audit_event_hash(&ev, ev.hash), 0);

	assert_int_equal(audit_checkpoint_sign(100, ev.hash, sk, sig), 0);
	assert_hex(sig, 64, CP_SIG); /* matches the independent RFC 8032 code */
	assert_int_equal(audit_checkpoint_sign(100, ev.hash, sk, sig2), 0);
	assert_memory_equal(sig, sig2, 64); /* deterministic */
	assert_int_equal(audit_checkpoint_verify(100, ev.hash, sig, pk), 0);

	/* every single flipped bit of the signature fails */
	for (int bit = 0; bit < 64 * 8; bit++) {
		memcpy(bad, sig, 64);
		bad[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		assert_int_equal(audit_checkpoint_verify(100, ev.hash, bad, pk), -1);
	}
	/* another seq, another hash, another key */
	assert_int_equal(audit_checkpoint_verify(101, ev.hash, sig, pk), -1);
	assert_int_equal(
	    audit_checkpoint_verify(UINT64_C(100) | (UINT64_C(1) << 56), ev.hash, sig, pk), -1);
	memcpy(h2, ev.hash, 32);
	h2[0] ^= 0x80;
	assert_int_equal(audit_checkpoint_verify(100, h2, sig, pk), -1);
	assert_int_equal(audit_checkpoint_verify(100, ev.hash, sig, opk), -1);
	assert_int_equal(audit_checkpoint_sign(100, ev.hash, osk, sig2), 0);
	assert_memory_not_equal(sig, sig2, 64);
	assert_int_equal(audit_checkpoint_verify(100, ev.hash, sig2, pk), -1);
	assert_int_equal(audit_checkpoint_verify(100, ev.hash, sig2, opk), 0);
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(osk, sizeof(osk));
}

/* ---- event JSON ------------------------------------------------------------ */

static const char *const spec_order[] = {
    "seq",     "time",    "actor",  "role", "action",     "ticket", "credential",
    "session", "outcome", "reason", "ip",   "request_id", "prev",   "hash",
};

static void test_json_roundtrip(void **state)
{
	struct audit_event ev, back;
	json_t *obj, *loaded;
	json_error_t jerr;
	const char *key;
	json_t *val;
	char *text;
	size_t i = 0;

	(void)state;
	fill_nulls(&ev);
	ev.seq = 7;
	assert_int_equal(audit_event_hash(&ev, ev.hash), 0);
	obj = audit_event_to_json(&ev);
	assert_non_null(obj);
	json_object_foreach(obj, key, val)
	{
		assert_true(i < 14);
		assert_string_equal(key, spec_order[i]);
		i++;
	}
	assert_int_equal(i, 14);
	assert_true(json_is_null(json_object_get(obj, "actor")));
	assert_string_equal(json_string_value(json_object_get(obj, "ip")), "");
	assert_string_equal(json_string_value(json_object_get(obj, "prev")),
	                    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");

	text = json_dumps(obj, JSON_COMPACT);
	assert_non_null(text);
	loaded = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(loaded);
	assert_int_equal(audit_event_from_json(loaded, &back), 0);
	assert_int_equal(back.seq, 7);
	assert_string_equal(back.time, ev.time);
	assert_null(back.actor);
	assert_null(back.role);
	assert_null(back.ticket);
	assert_string_equal(back.action, "auth");
	assert_string_equal(back.ip, "");
	assert_string_equal(back.request_id, "r\xc3\xa9q");
	assert_memory_equal(back.prev, ev.prev, 32);
	assert_memory_equal(back.hash, ev.hash, 32);
	/* "type": "event" is allowed */
	assert_int_equal(json_object_set_new(loaded, "type", json_string("event")), 0);
	assert_int_equal(audit_event_from_json(loaded, &back), 0);

	json_decref(loaded);
	json_decref(obj);
	free(text);

	/* to_json refuses what could never verify */
	ev.seq = 0;
	assert_null(audit_event_to_json(&ev));
	ev.seq = UINT64_C(1) << 63;
	assert_null(audit_event_to_json(&ev));
}

/* A mutation of a good event JSON text that must be rejected. */
struct bad_event {
	const char *key;   /* key to change */
	const char *value; /* new JSON value, or NULL to delete the key */
};

static const struct bad_event bad_events[] = {
    {"seq", NULL},
    {"time", NULL},
    {"actor", NULL},
    {"role", NULL},
    {"action", NULL},
    {"ticket", NULL},
    {"credential", NULL},
    {"session", NULL},
    {"outcome", NULL},
    {"reason", NULL},
    {"ip", NULL},
    {"request_id", NULL},
    {"prev", NULL},
    {"hash", NULL},
    {"extra", "1"},
    {"Seq", "1"},
    {"type", "\"checkpoint\""},
    {"type", "\"Event\""},
    {"type", "1"},
    {"type", "null"},
    {"seq", "0"},
    {"seq", "-1"},
    {"seq", "1.0"},
    {"seq", "\"1\""},
    {"seq", "null"},
    {"time", "null"},
    {"time", "\"2026-11-22T10:00:00Z\""},
    {"time", "\"2026-11-22T10:00:00.1234Z\""},
    {"time", "\"2026-11-22T10:00:00.123+00:00\""},
    {"time", "\"2026-11-22 10:00:00.123Z\""},
    {"time", "\"2026-11-22t10:00:00.123z\""},
    {"time", "\"2026-13-22T10:00:00.123Z\""},
    {"time", "\"2026-02-29T10:00:00.123Z\""},
    {"time", "\"2026-11-31T10:00:00.123Z\""},
    {"time", "\"2026-11-22T24:00:00.123Z\""},
    {"time", "\"2026-11-22T10:60:00.123Z\""},
    {"time", "\"2026-11-22T10:00:60.123Z\""},
    {"time", "\"2026-11-2aT10:00:00.123Z\""},
    {"time", "\"+026-11-22T10:00:00.123Z\""},
    {"actor", "1"},
    {"actor", "true"},
    {"actor", "[]"},
    {"request_id", "{}"},
    {"outcome", "null"},
    {"outcome", "\"maybe\""},
    {"outcome", "\"Allow\""},
    {"outcome", "\"\""},
    {"prev", "null"},
    {"prev", "\"00\""},
    {"prev", "\"000000000000000000000000000000000000000000000000000000000000000\""},
    {"prev", "\"00000000000000000000000000000000000000000000000000000000000000000\""},
    {"prev", "\"000000000000000000000000000000000000000000000000000000000000000A\""},
    {"hash", "\"000000000000000000000000000000000000000000000000000000000000000g\""},
    {"hash", "\" 00000000000000000000000000000000000000000000000000000000000000\""},
    {"hash", "\"00000000000000000000000000000000:0000000000000000000000000000000\""},
};

static json_t *good_event_json(void)
{
	struct audit_event ev;
	json_t *obj;

	fill_full(&ev);
	assert_int_equal(audit_event_hash(&ev, ev.hash), 0);
	obj = audit_event_to_json(&ev);
	assert_non_null(obj);
	return obj;
}

static void test_from_json_strict(void **state)
{
	struct audit_event ev;
	json_t *obj, *val;
	json_error_t jerr;
	char *big;

	(void)state;
	obj = good_event_json();
	assert_int_equal(audit_event_from_json(obj, &ev), 0);
	json_decref(obj);

	for (size_t i = 0; i < sizeof(bad_events) / sizeof(bad_events[0]); i++) {
		obj = good_event_json();
		if (bad_events[i].value == NULL) {
			assert_int_equal(json_object_del(obj, bad_events[i].key), 0);
		} else {
			val = json_loads(bad_events[i].value, JSON_DECODE_ANY, &jerr);
			assert_non_null(val);
			assert_int_equal(json_object_set_new(obj, bad_events[i].key, val), 0);
		}
		if (audit_event_from_json(obj, &ev) != -1)
			fail_msg("accepted bad event #%zu: %s = %s", i, bad_events[i].key,
			         bad_events[i].value ? bad_events[i].value : "(deleted)");
		json_decref(obj);
	}

	/* not an object */
	val = json_array();
	assert_int_equal(audit_event_from_json(val, &ev), -1);
	json_decref(val);
	assert_int_equal(audit_event_from_json(NULL, &ev), -1);

	/* field length: 65535 accepted, 65536 refused, embedded NUL refused */
	big = malloc(65537);
	assert_non_null(big);
	memset(big, 'x', 65536);
	big[65536] = '\0';
	obj = good_event_json();
	assert_int_equal(json_object_set_new(obj, "reason", json_stringn(big, 65535)), 0);
	assert_int_equal(audit_event_from_json(obj, &ev), 0);
	assert_int_equal(strlen(ev.reason), 65535);
	assert_int_equal(json_object_set_new(obj, "reason", json_stringn(big, 65536)), 0);
	assert_int_equal(audit_event_from_json(obj, &ev), -1);
	assert_int_equal(json_object_set_new(obj, "reason", json_stringn("a\0b", 3)), 0);
	assert_int_equal(audit_event_from_json(obj, &ev), -1);
	json_decref(obj);
	free(big);

	/* a leap day is a real date */
	obj = good_event_json();
	assert_int_equal(json_object_set_new(obj, "time", json_string("2028-02-29T23:59:59.999Z")),
	                 0);
	assert_int_equal(audit_event_from_json(obj, &ev), 0);
	assert_string_equal(ev.time, "2028-02-29T23:59:59.999Z");
	json_decref(obj);
}

/* ---- pin parsing -------------------------------------------------------- */

#define H64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void test_parse_pin(void **state)
{
	static const char *const bad[] = {
	    "",
	    "100",
	    "100:",
	    ":" H64,
	    "0:" H64,
	    "00:" H64,
	    "0100:" H64,
	    "-1:" H64,
	    "+1:" H64,
	    " 1:" H64,
	    "1 :" H64,
	    "1: " H64,
	    "1:" H64 " ",
	    "1:" H64 "\n",
	    "1:" H64 "0",
	    "1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeef",
	    "1:00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff",
	    "1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg",
	    "1:" H64 ":2",
	    "9223372036854775808:" H64,  /* INT64_MAX + 1 */
	    "18446744073709551616:" H64, /* UINT64_MAX + 1 */
	    "99999999999999999999999:" H64,
	    "0x10:" H64,
	    "1e3:" H64,
	};
	struct audit_verify v;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&v, 0, sizeof(v));
		if (audit_parse_pin(bad[i], &v) != -1)
			fail_msg("accepted pin #%zu \"%s\"", i, bad[i]);
		assert_int_equal(v.have_pin, 0);
		assert_true(v.error[0] != '\0');
	}
	memset(&v, 0, sizeof(v));
	assert_int_equal(audit_parse_pin(NULL, &v), -1);

	memset(&v, 0, sizeof(v));
	assert_int_equal(audit_parse_pin("200:" H64, &v), 0);
	assert_int_equal(v.have_pin, 1);
	assert_int_equal(v.pin_seq, 200);
	assert_hex(v.pin_hash, 32, H64);
	assert_int_equal(audit_parse_pin("9223372036854775807:" H64, &v), 0);
	assert_int_equal(v.pin_seq, UINT64_C(9223372036854775807));
	/* a failed parse leaves the previous pin alone */
	assert_int_equal(audit_parse_pin("5:zz", &v), -1);
	assert_int_equal(v.pin_seq, UINT64_C(9223372036854775807));
}

/* ---- verifier ---------------------------------------------------------------- */

/* An export held as lines (each malloc'd, without '\n'). */
struct exp {
	char *line[MAX_LINES];
	size_t n;
	unsigned char hash[CHAIN_EVENTS + 2][32]; /* hash[seq] of the good chain */
	unsigned char pk[32];
	unsigned char sk[64];
};

/* Index (0-based) of event seq in the good chain's lines. */
static size_t ev_idx(uint64_t seq)
{
	return (size_t)(seq - 1) + (seq > 100) + (seq > 200);
}

static char *dump_line(json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT);

	assert_non_null(s);
	json_decref(obj);
	return s;
}

/* An export line for event seq linking to prev, with a correct hash; the
 * fields vary with seq and with forged (a different actor). */
static char *event_line(uint64_t seq, const unsigned char prev[32], int forged,
                        unsigned char hash_out[32])
{
	static const char *const actions[] = {"ticket.create", "credential.add", "session.open",
	                                      "credential.read", "ticket.close"};
	struct audit_event ev;
	char actor[32], rid[32];
	json_t *obj, *line;

	memset(&ev, 0, sizeof(ev));
	ev.seq = seq;
	snprintf(ev.time, sizeof(ev.time), "2026-11-22T1%01u:%02u:%02u.%03uZ",
	         (unsigned)(seq / 3600 % 10), (unsigned)(seq / 60 % 60), (unsigned)(seq % 60),
	         (unsigned)(seq * 7 % 1000));
	snprintf(actor, sizeof(actor), "%s%03u", forged ? "mallory" : "user", (unsigned)seq);
	snprintf(rid, sizeof(rid), "req-%06u", (unsigned)seq);
	ev.actor = actor;
	ev.role = seq % 2 ? "agent" : "customer";
	ev.action = actions[seq % 5];
	ev.ticket = "Xq3v9Lk2Rt8Yb1Np4Wz7Hc";
	ev.credential = seq % 3 ? "Cd5Fg6Hj7Kl8Mn9Pq0Rs1T" : NULL;
	ev.session = seq % 4 ? NULL : "Se2Ss3Io4Nn5Id6Ab7Cd8E";
	ev.outcome = seq % 7 ? "allow" : "deny";
	ev.reason = seq % 7 ? NULL : "forbidden";
	ev.ip = "198.51.100.7";
	ev.request_id = rid;
	memcpy(ev.prev, prev, 32);
	assert_int_equal(audit_event_hash(&ev, ev.hash), 0);
	memcpy(hash_out, ev.hash, 32);

	line = json_pack("{s:s}", "type", "event");
	obj = audit_event_to_json(&ev);
	assert_non_null(line);
	assert_non_null(obj);
	assert_int_equal(json_object_update(line, obj), 0);
	json_decref(obj);
	return dump_line(line);
}

/* A checkpoint line signed with sk, carrying pk. */
static char *cp_line(uint64_t seq, const unsigned char hash[32], const unsigned char sk[64],
                     const unsigned char pk[32])
{
	unsigned char sig[64];
	char hh[65], sh[129], ph[65];

	assert_int_equal(audit_checkpoint_sign(seq, hash, sk, sig), 0);
	to_hex(hh, sizeof(hh), hash, 32);
	to_hex(sh, sizeof(sh), sig, 64);
	to_hex(ph, sizeof(ph), pk, 32);
	return dump_line(json_pack("{s:s,s:I,s:s,s:s,s:s}", "type", "checkpoint", "seq",
	                           (json_int_t)seq, "hash", hh, "signature", sh, "public_key", ph));
}

/* The good export: events 1..250, checkpoints after 100 and 200. */
static struct exp *build_chain(void)
{
	struct exp *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	cp_keys(e->pk, e->sk);
	memset(e->hash[0], 0, 32);
	for (uint64_t seq = 1; seq <= CHAIN_EVENTS; seq++) {
		e->line[e->n++] = event_line(seq, e->hash[seq - 1], 0, e->hash[seq]);
		if (seq % 100 == 0)
			e->line[e->n++] = cp_line(seq, e->hash[seq], e->sk, e->pk);
	}
	assert_int_equal(e->n, CHAIN_LINES);
	assert_int_equal(ev_idx(150), 150);
	return e;
}

static void free_chain(struct exp *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->line[i]);
	sodium_memzero(e->sk, sizeof(e->sk));
	free(e);
}

static void del_line(struct exp *e, size_t i)
{
	free(e->line[i]);
	memmove(&e->line[i], &e->line[i + 1], (e->n - i - 1) * sizeof(e->line[0]));
	e->n--;
}

static void ins_line(struct exp *e, size_t i, char *s)
{
	assert_true(e->n < MAX_LINES);
	memmove(&e->line[i + 1], &e->line[i], (e->n - i) * sizeof(e->line[0]));
	e->line[i] = s;
	e->n++;
}

static void swap_lines(struct exp *e, size_t i, size_t j)
{
	char *t = e->line[i];

	e->line[i] = e->line[j];
	e->line[j] = t;
}

/* Change the first character of the value after marker, keeping it JSON. */
static void edit_after(char *line, const char *marker)
{
	char *p = strstr(line, marker);

	assert_non_null(p);
	p += strlen(marker);
	assert_true(*p != '"' && *p != '\\' && *p != '\0');
	*p = *p == '1' ? '2' : '1';
}

static FILE *export_file(const struct exp *e)
{
	FILE *f = tmpfile();

	assert_non_null(f);
	for (size_t i = 0; i < e->n; i++)
		assert_true(fprintf(f, "%s\n", e->line[i]) > 0);
	rewind(f);
	return f;
}

/* Verify e against trusted pk (pin if given); return the verifier result. */
static int verify_with(const struct exp *e, const unsigned char pk[32], const char *pin,
                       struct audit_verify *v)
{
	FILE *f = export_file(e);
	int rc;

	memset(v, 0, sizeof(*v));
	memcpy(v->pk, pk, 32);
	if (pin != NULL)
		assert_int_equal(audit_parse_pin(pin, v), 0);
	rc = audit_verify_stream(f, v);
	fclose(f);
	if (rc == 0) {
		assert_int_equal(v->bad_seq, 0);
		assert_int_equal(v->bad_line, 0);
		assert_string_equal(v->error, "");
	} else {
		assert_true(v->error[0] != '\0');
	}
	return rc;
}

static int verify(const struct exp *e, const char *pin, struct audit_verify *v)
{
	return verify_with(e, e->pk, pin, v);
}

/* Fails at seq with line (1-based) and an error holding want. */
static void assert_fail(int rc, const struct audit_verify *v, uint64_t seq, unsigned long line,
                        const char *want)
{
	assert_int_equal(rc, -1);
	if (v->bad_seq != seq || v->bad_line != line || strstr(v->error, want) == NULL)
		fail_msg("got seq %llu line %lu \"%s\"; want seq %llu line %lu \"%s\"",
		         (unsigned long long)v->bad_seq, v->bad_line, v->error,
		         (unsigned long long)seq, line, want);
}

static void pin_of(const struct exp *e, uint64_t seq, char out[96])
{
	char hex[65];

	to_hex(hex, sizeof(hex), e->hash[seq], 32);
	snprintf(out, 96, "%llu:%s", (unsigned long long)seq, hex);
}

static void test_verify_good(void **state)
{
	struct exp *e = build_chain();
	struct audit_verify v;
	char pin[96];

	(void)state;
	assert_int_equal(verify(e, NULL, &v), 0);
	assert_int_equal(v.events, 250);
	assert_int_equal(v.checkpoints, 2);
	assert_int_equal(v.last_seq, 250);
	assert_int_equal(v.last_cp_seq, 200);
	assert_int_equal(v.unsigned_tail, 50);

	/* pinned at either checkpoint, or at an event in the unsigned tail */
	pin_of(e, 200, pin);
	assert_int_equal(verify(e, pin, &v), 0);
	pin_of(e, 100, pin);
	assert_int_equal(verify(e, pin, &v), 0);
	pin_of(e, 250, pin);
	assert_int_equal(verify(e, pin, &v), 0);

	/* the struct's results are reset by each run */
	v.events = 999;
	v.bad_seq = 5;
	{
		FILE *f = export_file(e);
		assert_int_equal(audit_verify_stream(f, &v), 0);
		fclose(f);
	}
	assert_int_equal(v.events, 250);
	assert_int_equal(v.bad_seq, 0);

	/* no trailing newline on the last line is fine */
	{
		FILE *f = tmpfile();
		assert_non_null(f);
		fputs(e->line[0], f);
		rewind(f);
		memset(&v, 0, sizeof(v));
		memcpy(v.pk, e->pk, 32);
		assert_int_equal(audit_verify_stream(f, &v), 0);
		assert_int_equal(v.events, 1);
		assert_int_equal(v.unsigned_tail, 1);
		assert_int_equal(v.last_cp_seq, 0);
		fclose(f);
	}
	free_chain(e);
}

static void test_verify_edited_field(void **state)
{
	static const char *const markers[] = {"\"actor\":\"",      "\"time\":\"", "\"ip\":\"",
	                                      "\"request_id\":\"", "\"hash\":\"", "\"prev\":\""};
	struct audit_verify v;

	(void)state;
	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
		struct exp *e = build_chain();
		edit_after(e->line[ev_idx(150)], markers[i]);
		if (i == 5) /* prev no longer links */
			assert_fail(verify(e, NULL, &v), &v, 150, 151, "prev");
		else
			assert_fail(verify(e, NULL, &v), &v, 150, 151, "hash does not match");
		free_chain(e);
	}
	/* seq itself: 150 -> 250 breaks the sequence */
	{
		struct exp *e = build_chain();
		edit_after(e->line[ev_idx(150)], "\"seq\":");
		assert_fail(verify(e, NULL, &v), &v, 150, 151, "where 150 was expected");
		free_chain(e);
	}
	/* the first event and a checkpointed event */
	{
		struct exp *e = build_chain();
		edit_after(e->line[ev_idx(1)], "\"actor\":\"");
		assert_fail(verify(e, NULL, &v), &v, 1, 1, "hash does not match");
		free_chain(e);
	}
	{
		struct exp *e = build_chain();
		edit_after(e->line[ev_idx(100)], "\"role\":\"");
		assert_fail(verify(e, NULL, &v), &v, 100, 100, "hash does not match");
		free_chain(e);
	}
}

/* Without audit.key, rewriting an event and re-hashing everything after it
 * is caught by the next signed checkpoint. */
static void test_verify_rewritten_history(void **state)
{
	struct exp *e = build_chain();
	struct audit_verify v;

	(void)state;
	for (uint64_t seq = 150; seq <= CHAIN_EVENTS; seq++) {
		size_t i = ev_idx(seq);
		free(e->line[i]);
		e->line[i] = event_line(seq, e->hash[seq - 1], seq == 150, e->hash[seq]);
	}
	assert_fail(verify(e, NULL, &v), &v, 200, 202, "signed checkpoint");
	assert_int_equal(v.checkpoints, 1);
	free_chain(e);
}

static void test_verify_deleted_line(void **state)
{
	struct exp *e = build_chain();
	struct audit_verify v;

	(void)state;
	del_line(e, ev_idx(150));
	assert_fail(verify(e, NULL, &v), &v, 150, 151, "where 150 was expected");
	free_chain(e);

	e = build_chain();
	del_line(e, 0);
	assert_fail(verify(e, NULL, &v), &v, 1, 1, "first event has seq 2");
	free_chain(e);

	/* the last event before a checkpoint */
	e = build_chain();
	del_line(e, ev_idx(100));
	assert_fail(verify(e, NULL, &v), &v, 100, 100, "checkpoint for seq 100 follows event 99");
	free_chain(e);

	/* removing a checkpoint line leaves a valid (less attested) export */
	e = build_chain();
	del_line(e, ev_idx(100) + 1);
	assert_int_equal(verify(e, NULL, &v), 0);
	assert_int_equal(v.checkpoints, 1);
	assert_int_equal(v.last_cp_seq, 200);
	free_chain(e);
}

static void test_verify_swapped_lines(void **state)
{
	struct exp *e = build_chain();
	struct audit_verify v;

	(void)state;
	swap_lines(e, ev_idx(150), ev_idx(151));
	assert_fail(verify(e, NULL, &v), &v, 150, 151, "seq 151 where 150 was expected");
	free_chain(e);

	/* an event and its checkpoint */
	e = build_chain();
	swap_lines(e, ev_idx(100), ev_idx(100) + 1);
	assert_fail(verify(e, NULL, &v), &v, 100, 100, "checkpoint for seq 100 follows event 99");
	free_chain(e);

	/* lines far apart */
	e = build_chain();
	swap_lines(e, ev_idx(10), ev_idx(240));
	assert_fail(verify(e, NULL, &v), &v, 10, 10, "seq 240 where 10 was expected");
	free_chain(e);
}

static void test_verify_inserted_line(void **state)
{
	struct exp *e = build_chain();
	struct audit_verify v;
	unsigned char h[32];

	(void)state;
	/* a forged copy of event 150 (not re-hashed) before the real one */
	ins_line(e, ev_idx(150), strdup(e->line[ev_idx(150)]));
	edit_after(e->line[ev_idx(150)], "\"actor\":\"");
	assert_fail(verify(e, NULL, &v), &v, 150, 151, "hash does not match");
	free_chain(e);

	/* a consistent forged event 150 (right prev and hash): the real 150
	 * that follows is out of sequence */
	e = build_chain();
	ins_line(e, ev_idx(150), event_line(150, e->hash[149], 1, h));
	assert_fail(verify(e, NULL, &v), &v, 151, 152, "seq 150 where 151 was expected");
	free_chain(e);

	/* a forged checkpoint line in the middle of events */
	e = build_chain();
	ins_line(e, ev_idx(150) + 1, cp_line(150, e->hash[150], e->sk, e->pk));
	assert_int_equal(verify(e, NULL, &v), 0); /* genuinely signed: fine */
	assert_int_equal(v.checkpoints, 3);
	free_chain(e);
}

/* The documented limit: events after the newest checkpoint are unsigned. */
static void test_verify_appended_unsigned(void **state)
{
	struct exp *e = build_chain();
	struct audit_verify v;
	unsigned char h[32];

	(void)state;
	ins_line(e, e->n, event_line(251, e->hash[250], 1, h));
	assert_int_equal(verify(e, NULL, &v), 0);
	assert_int_equal(v.last_seq, 251);
	assert_int_equal(v.last_cp_seq, 200);
	assert_int_equal(v.unsigned_tail, 51);
	free_chain(e);
}

static void test_verify_bad_signature(void **state)
{
	struct exp *e = build_chain();
	struct audit_verify v;

	(void)state;
	edit_after(e->line[ev_idx(200) + 1], "\"signature\":\"");
	assert_fail(verify(e, NULL, &v), &v, 200, 202, "bad signature");
	assert_int_equal(v.checkpoints, 1);
	free_chain(e);

	/* a checkpoint whose hash was changed (signature no longer matches) */
	e = build_chain();
	edit_after(e->line[ev_idx(100) + 1], "\"hash\":\"");
	assert_fail(verify(e, NULL, &v), &v, 100, 101, "bad signature");
	free_chain(e);

	/* a genuinely signed checkpoint for a different hash */
	e = build_chain();
	free(e->line[ev_idx(100) + 1]);
	e->line[ev_idx(100) + 1] = cp_line(100, e->hash[99], e->sk, e->pk);
	assert_fail(verify(e, NULL, &v), &v, 100, 101, "differs from its signed checkpoint");
	free_chain(e);

	/* a genuinely signed checkpoint for a different seq */
	e = build_chain();
	free(e->line[ev_idx(100) + 1]);
	e->line[ev_idx(100) + 1] = cp_line(99, e->hash[100], e->sk, e->pk);
	assert_fail(verify(e, NULL, &v), &v, 99, 101, "checkpoint for seq 99 follows event 100");
	free_chain(e);
}

static void test_verify_other_key(void **state)
{
	struct exp *e = build_chain();
	struct audit_verify v;
	unsigned char opk[32], osk[64];

	(void)state;
	other_keys(opk, osk);
	/* re-signed with another key that it also names */
	free(e->line[ev_idx(100) + 1]);
	e->line[ev_idx(100) + 1] = cp_line(100, e->hash[100], osk, opk);
	assert_fail(verify(e, NULL, &v), &v, 100, 101, "different public key");
	free_chain(e);

	/* right signature, but a different public_key stated */
	e = build_chain();
	free(e->line[ev_idx(200) + 1]);
	e->line[ev_idx(200) + 1] = cp_line(200, e->hash[200], e->sk, opk);
	assert_fail(verify(e, NULL, &v), &v, 200, 202, "different public key");
	free_chain(e);

	/* other key claiming the trusted public key: signature fails */
	e = build_chain();
	free(e->line[ev_idx(200) + 1]);
	e->line[ev_idx(200) + 1] = cp_line(200, e->hash[200], osk, e->pk);
	assert_fail(verify(e, NULL, &v), &v, 200, 202, "bad signature");
	free_chain(e);

	/* the auditor trusts another audit.pub */
	e = build_chain();
	assert_fail(verify_with(e, opk, NULL, &v), &v, 100, 101, "different public key");
	free_chain(e);
	sodium_memzero(osk, sizeof(osk));
}

static void test_verify_pin(void **state)
{
	struct exp *e = build_chain();
	struct audit_verify v;
	char pin[96];

	(void)state;
	/* truncated after event 150: undetectable without a pin ... */
	while (e->n > ev_idx(150) + 1)
		del_line(e, e->n - 1);
	assert_int_equal(verify(e, NULL, &v), 0);
	assert_int_equal(v.last_seq, 150);
	assert_int_equal(v.unsigned_tail, 50);
	/* ... and caught against a pin at 200 */
	pin_of(e, 200, pin);
	assert_fail(verify(e, pin, &v), &v, 151, 152,
	            "export does not reach pinned checkpoint 200");
	/* a pin inside what is left still passes */
	pin_of(e, 100, pin);
	assert_int_equal(verify(e, pin, &v), 0);
	free_chain(e);

	/* a pin whose hash differs from the export at that seq */
	e = build_chain();
	pin_of(e, 99, pin);
	memmove(pin + 1, pin, strlen(pin) + 1);
	memcpy(pin, "100", 3); /* "100:<hash of 99>" */
	assert_fail(verify(e, pin, &v), &v, 100, 100, "hash at pinned seq 100 differs");
	free_chain(e);

	/* a pin far beyond the end */
	e = build_chain();
	assert_fail(verify(e, "9223372036854775807:" H64, &v), &v, 251, 253,
	            "does not reach pinned checkpoint 9223372036854775807");
	free_chain(e);
}

/* Verify raw text; returns the verifier result. */
static int verify_text(const char *text, size_t len, struct audit_verify *v)
{
	FILE *f = tmpfile();
	int rc;

	assert_non_null(f);
	if (len > 0)
		assert_int_equal(fwrite(text, 1, len, f), len);
	rewind(f);
	memset(v, 0, sizeof(*v));
	cp_keys(v->pk, (unsigned char[64]){0});
	rc = audit_verify_stream(f, v);
	fclose(f);
	return rc;
}

static void test_verify_stream_format(void **state)
{
	struct exp *e = build_chain();
	struct audit_verify v;
	char buf[4096];
	const char *ev1 = e->line[0], *ev2 = e->line[1];

	(void)state;
	assert_fail(verify_text("", 0, &v), &v, 1, 1, "no events");

	snprintf(buf, sizeof(buf), "%s\n\n%s\n", ev1, ev2);
	assert_fail(verify_text(buf, strlen(buf), &v), &v, 2, 2, "blank line");
	snprintf(buf, sizeof(buf), "%s\n%s\n\n", ev1, ev2);
	assert_fail(verify_text(buf, strlen(buf), &v), &v, 3, 3, "blank line");
	assert_fail(verify_text("\n", 1, &v), &v, 1, 1, "blank line");

	snprintf(buf, sizeof(buf), "%s\n{\"type\":\"event\",\n", ev1);
	assert_fail(verify_text(buf, strlen(buf), &v), &v, 2, 2, "invalid JSON");
	snprintf(buf, sizeof(buf), "%s\n%s x\n", ev1, ev2);
	assert_fail(verify_text(buf, strlen(buf), &v), &v, 2, 2, "invalid JSON");
	snprintf(buf, sizeof(buf), "[1]\n");
	assert_fail(verify_text(buf, strlen(buf), &v), &v, 1, 1, "not an object");
	snprintf(buf, sizeof(buf), "{\"seq\":1}\n");
	assert_fail(verify_text(buf, strlen(buf), &v), &v, 1, 1, "not an object with a");
	snprintf(buf, sizeof(buf), "{\"type\":\"note\"}\n");
	assert_fail(verify_text(buf, strlen(buf), &v), &v, 1, 1, "neither");
	/* duplicate key */
	snprintf(buf, sizeof(buf), "{\"type\":\"event\",\"type\":\"event\"}\n");
	assert_fail(verify_text(buf, strlen(buf), &v), &v, 1, 1, "invalid JSON");
	/* \u0000 and raw control bytes in the error do not reach the message */
	snprintf(buf, sizeof(buf), "{\"type\":\"ev\\u0000\"}\n");
	assert_fail(verify_text(buf, strlen(buf), &v), &v, 1, 1, "invalid JSON");
	snprintf(buf, sizeof(buf), "{\"type\":\x1b[31m\"event\"}\n");
	assert_fail(verify_text(buf, strlen(buf), &v), &v, 1, 1, "invalid JSON");
	assert_null(strchr(v.error, '\x1b'));
	/* an event with an extra key */
	snprintf(buf, sizeof(buf), "%.*s,\"x\":1}\n", (int)strlen(ev1) - 1, ev1);
	assert_fail(verify_text(buf, strlen(buf), &v), &v, 1, 1, "unknown key");
	free_chain(e);
}

static void test_verify_checkpoint_format(void **state)
{
	struct exp *e = build_chain();
	struct audit_verify v;
	char *cp = e->line[ev_idx(100) + 1];
	char buf[8192];
	size_t cplen;

	(void)state;
	/* checkpoint first */
	snprintf(buf, sizeof(buf), "%s\n%s\n", cp, e->line[0]);
	assert_fail(verify_text(buf, strlen(buf), &v), &v, 1, 1, "before any event");
	free_chain(e);

	/* duplicate checkpoint line */
	e = build_chain();
	ins_line(e, ev_idx(100) + 1, strdup(e->line[ev_idx(100) + 1]));
	assert_fail(verify(e, NULL, &v), &v, 100, 102, "does not directly follow");
	free_chain(e);

	/* an extra key, a missing key, uppercase hex, seq as a string */
	e = build_chain();
	cp = e->line[ev_idx(100) + 1];
	cplen = strlen(cp);
	{
		char *with_extra = malloc(cplen + 16);
		assert_non_null(with_extra);
		snprintf(with_extra, cplen + 16, "%.*s,\"x\":1}", (int)cplen - 1, cp);
		free(e->line[ev_idx(100) + 1]);
		e->line[ev_idx(100) + 1] = with_extra;
		assert_fail(verify(e, NULL, &v), &v, 100, 101, "keys must be exactly");
	}
	free_chain(e);

	e = build_chain();
	{
		json_error_t jerr;
		json_t *o = json_loads(e->line[ev_idx(100) + 1], 0, &jerr);
		assert_non_null(o);
		assert_int_equal(json_object_del(o, "public_key"), 0);
		free(e->line[ev_idx(100) + 1]);
		e->line[ev_idx(100) + 1] = dump_line(o);
		assert_fail(verify(e, NULL, &v), &v, 100, 101, "keys must be exactly");
	}
	free_chain(e);

	e = build_chain();
	{
		char *p = strstr(e->line[ev_idx(100) + 1], "\"signature\":\"");
		assert_non_null(p);
		p += strlen("\"signature\":\"");
		for (; *p != '"'; p++)
			if (*p >= 'a' && *p <= 'f')
				*p = (char)(*p - 'a' + 'A');
		assert_fail(verify(e, NULL, &v), &v, 100, 101, "128 lowercase hex");
	}
	free_chain(e);

	e = build_chain();
	{
		json_error_t jerr;
		json_t *o = json_loads(e->line[ev_idx(100) + 1], 0, &jerr);
		assert_non_null(o);
		assert_int_equal(json_object_set_new(o, "seq", json_string("100")), 0);
		free(e->line[ev_idx(100) + 1]);
		e->line[ev_idx(100) + 1] = dump_line(o);
		assert_fail(verify(e, NULL, &v), &v, 100, 101, "\"seq\" is not an integer");
	}
	free_chain(e);

	/* a checkpoint that runs ahead of the events: the missing event */
	e = build_chain();
	del_line(e, ev_idx(100));
	del_line(e, ev_idx(99));
	assert_fail(verify(e, NULL, &v), &v, 99, 99, "checkpoint for seq 100 follows event 98");
	free_chain(e);
}

static void test_verify_line_cap(void **state)
{
	struct audit_verify v;
	char *buf = malloc(LINE_MAX_BYTES + 2);

	(void)state;
	assert_non_null(buf);
	/* exactly the cap: read whole, then rejected as JSON */
	memset(buf, ' ', LINE_MAX_BYTES);
	buf[LINE_MAX_BYTES] = '\n';
	assert_fail(verify_text(buf, LINE_MAX_BYTES + 1, &v), &v, 1, 1, "invalid JSON");
	/* one byte over */
	memset(buf, ' ', LINE_MAX_BYTES + 1);
	buf[LINE_MAX_BYTES + 1] = '\n';
	assert_fail(verify_text(buf, LINE_MAX_BYTES + 2, &v), &v, 1, 1, "longer than");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vector_full),
	    cmocka_unit_test(test_vector_nulls),
	    cmocka_unit_test(test_vector_doc),
	    cmocka_unit_test(test_hash_null_empty_and_shift),
	    cmocka_unit_test(test_hash_field_limits),
	    cmocka_unit_test(test_checkpoint_msg_vector),
	    cmocka_unit_test(test_checkpoint_sign_verify),
	    cmocka_unit_test(test_json_roundtrip),
	    cmocka_unit_test(test_from_json_strict),
	    cmocka_unit_test(test_parse_pin),
	    cmocka_unit_test(test_verify_good),
	    cmocka_unit_test(test_verify_edited_field),
	    cmocka_unit_test(test_verify_rewritten_history),
	    cmocka_unit_test(test_verify_deleted_line),
	    cmocka_unit_test(test_verify_swapped_lines),
	    cmocka_unit_test(test_verify_inserted_line),
	    cmocka_unit_test(test_verify_appended_unsigned),
	    cmocka_unit_test(test_verify_bad_signature),
	    cmocka_unit_test(test_verify_other_key),
	    cmocka_unit_test(test_verify_pin),
	    cmocka_unit_test(test_verify_stream_format),
	    cmocka_unit_test(test_verify_checkpoint_format),
	    cmocka_unit_test(test_verify_line_cap),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_auditlog.c - canonical form vectors (forms 1 and 2), checkpoint
 * signatures, strict event JSON, pin parsing and the offline export
 * verifier with its rules (due checkpoints, forms that never go down,
 * result codes and exit statuses).
 *
 * The hex constants below were produced independently of this C code by
 * tests/unit/vectors_auditlog.py (hashlib.blake2b and a small RFC 8032
 * Ed25519 that checks itself against RFC 8032 test 1);
 * `vectors_auditlog.py --check tests/unit/test_auditlog.c` compares them
 * (tests/integration/test_verify.py runs it). */
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
#define FULL2_HASH "51cde793f103524ab1667a09a2b852308b1bca5220c973a0cc00c30a5c10d280"
#define NULLS2_HASH "e5a3b6a322facc12a5aa67554df7900a4f48005819564e22d5b1d7d6be355c08"
#define FULL_AS2_HASH "7a2f027c7af739553e2638b4598486d8f80190ff4db2845f796911e3702b3262"
#define DOC2_HASH "748ab036889a621b986e616ce59b1c2acb931d365eb389f5680ec94479524467"
#define DOC2_CP_SIG                                                                                \
	"d533652a9dc92379debc80bf3f59c074df536fed9139d5e88be3cc32658c892a"                         \
	"bdfd87c8ab9cf42ce5773aae723767298ab9f1e7ba0bc08a6c60e116a35e5204"
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
#define CHAIN_FORM2 121                /* events from here on are form 2 */
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

/* The FULL2 vector: FULL in form 2 with target, token and cert. */
static void fill_full2(struct audit_event *ev)
{
	fill_full(ev);
	ev->form = 2;
	ev->target = "acme-it#0123456789abcdef";
	ev->token = "fedcba9876543210";
	ev->cert = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
}

/* The NULLS2 vector: form 2, every field that may be null is null. */
static void fill_nulls2(struct audit_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->form = 2;
	ev->seq = UINT64_C(0x7fffffffffffffff);
	strcpy(ev->time, "2000-02-29T00:00:00.000Z");
	ev->outcome = "allow";
	memset(ev->prev, 0x5a, sizeof(ev->prev));
}

/* The form-2 worked example of docs/audit.md: event 2 after DOC. */
static void fill_doc2(struct audit_event *ev)
{
	struct audit_event first;

	fill_doc(&first);
	assert_int_equal(audit_event_hash(&first, first.hash), 0);
	memset(ev, 0, sizeof(*ev));
	ev->form = 2;
	ev->seq = 2;
	strcpy(ev->time, "2026-11-22T10:00:01.456Z");
	ev->actor = "admin";
	ev->role = "admin";
	ev->action = "account.token";
	ev->outcome = "allow";
	ev->ip = "127.0.0.1";
	ev->request_id = "req-2";
	ev->target = "agent1#8f14e45fceea167a";
	ev->token = "c4ca4238a0b92382";
	memcpy(ev->prev, first.hash, 32);
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

static void test_vector_form2(void **state)
{
	struct audit_event ev;
	unsigned char h[32], sig[64], pk[32], sk[64];

	(void)state;
	fill_full2(&ev);
	assert_int_equal(audit_event_hash(&ev, h), 0);
	assert_hex(h, 32, FULL2_HASH);
	fill_nulls2(&ev);
	assert_int_equal(audit_event_hash(&ev, h), 0);
	assert_hex(h, 32, NULLS2_HASH);
	fill_doc2(&ev);
	assert_int_equal(audit_event_hash(&ev, h), 0);
	assert_hex(h, 32, DOC2_HASH);
	/* the docs' checkpoint over the mixed two-event log */
	cp_keys(pk, sk);
	assert_int_equal(audit_checkpoint_sign(2, h, sk, sig), 0);
	assert_hex(sig, 64, DOC2_CP_SIG);
	sodium_memzero(sk, sizeof(sk));
}

/* The form is bound into the hash: the same fields in the other form hash
 * differently, and form 1 has no place for target, token or cert. */
static void test_form_binding(void **state)
{
	struct audit_event ev;
	unsigned char h1[32], h2[32];

	(void)state;
	fill_full(&ev);
	assert_int_equal(audit_event_hash(&ev, h1), 0);
	ev.form = 2; /* target, token, cert stay null */
	assert_int_equal(audit_event_hash(&ev, h2), 0);
	assert_hex(h2, 32, FULL_AS2_HASH);
	assert_memory_not_equal(h1, h2, 32);

	/* a form-1 event with any of the later fields does not hash or write */
	for (int i = 0; i < 3; i++) {
		fill_full(&ev);
		if (i == 0)
			ev.target = "acme-it";
		else if (i == 1)
			ev.token = "fedcba9876543210";
		else
			ev.cert = "";
		assert_int_equal(audit_event_hash(&ev, h1), -1);
		assert_null(audit_event_to_json(&ev));
	}
	/* a form-2 event relabelled as form 1 is refused, not silently cut */
	fill_full2(&ev);
	ev.form = 1;
	assert_int_equal(audit_event_hash(&ev, h1), -1);
	/* unknown forms */
	for (int form = -1; form <= 4; form++) {
		if (form == 1 || form == 2)
			continue;
		fill_nulls2(&ev);
		ev.form = form;
		assert_int_equal(audit_event_hash(&ev, h1), -1);
		assert_null(audit_event_to_json(&ev));
	}
	/* in form 2 each later field counts: null, empty and a value differ */
	fill_nulls2(&ev);
	assert_int_equal(audit_event_hash(&ev, h1), 0);
	ev.cert = "";
	assert_int_equal(audit_event_hash(&ev, h2), 0);
	assert_memory_not_equal(h1, h2, 32);
	fill_nulls2(&ev);
	ev.token = "x";
	assert_int_equal(audit_event_hash(&ev, h2), 0);
	assert_memory_not_equal(h1, h2, 32);
	fill_nulls2(&ev);
	ev.target = "x"; /* the same value one field earlier */
	assert_int_equal(audit_event_hash(&ev, h1), 0);
	assert_memory_not_equal(h1, h2, 32);
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
    "seq",        "form",       "time",    "actor",   "role",   "action",
    "ticket",     "credential", "session", "outcome", "reason", "ip",
    "request_id", "target",     "token",   "cert",    "prev",   "hash",
};
#define NSPEC (sizeof(spec_order) / sizeof(spec_order[0]))

/* obj's keys are exactly spec_order, in that order. */
static void assert_spec_order(json_t *obj)
{
	const char *key;
	json_t *val;
	size_t i = 0;

	json_object_foreach(obj, key, val)
	{
		assert_true(i < NSPEC);
		assert_string_equal(key, spec_order[i]);
		i++;
	}
	assert_int_equal(i, NSPEC);
}

/* Dump obj as compact text and parse it again, as the verifier does. */
static json_t *reload(json_t *obj)
{
	json_error_t jerr;
	char *text = json_dumps(obj, JSON_COMPACT);
	json_t *back;

	assert_non_null(text);
	back = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(back);
	free(text);
	return back;
}

static void test_json_roundtrip(void **state)
{
	struct audit_event ev, back;
	json_t *obj, *loaded;

	(void)state;
	fill_nulls(&ev);
	ev.seq = 7;
	assert_int_equal(audit_event_hash(&ev, ev.hash), 0);
	obj = audit_event_to_json(&ev);
	assert_non_null(obj);
	assert_spec_order(obj);
	/* a form-1 event is written with "form": 1 and null later fields */
	assert_int_equal(json_integer_value(json_object_get(obj, "form")), 1);
	assert_true(json_is_null(json_object_get(obj, "target")));
	assert_true(json_is_null(json_object_get(obj, "token")));
	assert_true(json_is_null(json_object_get(obj, "cert")));
	assert_true(json_is_null(json_object_get(obj, "actor")));
	assert_string_equal(json_string_value(json_object_get(obj, "ip")), "");
	assert_string_equal(json_string_value(json_object_get(obj, "prev")),
	                    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");

	loaded = reload(obj);
	assert_int_equal(audit_event_from_json(loaded, &back), 0);
	assert_int_equal(back.form, 1);
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
	/* an event written before forms were numbered: no "form", no later
	 * fields; it reads as form 1 and hashes the same */
	assert_int_equal(json_object_del(loaded, "form"), 0);
	assert_int_equal(json_object_del(loaded, "target"), 0);
	assert_int_equal(json_object_del(loaded, "token"), 0);
	assert_int_equal(json_object_del(loaded, "cert"), 0);
	memset(&back, 0, sizeof(back));
	assert_int_equal(audit_event_from_json(loaded, &back), 0);
	assert_int_equal(back.form, 1);
	assert_null(back.target);
	assert_int_equal(audit_event_hash(&back, back.hash), 0);
	assert_memory_equal(back.hash, ev.hash, 32);

	json_decref(loaded);
	json_decref(obj);

	/* to_json refuses what could never verify */
	ev.seq = 0;
	assert_null(audit_event_to_json(&ev));
	ev.seq = UINT64_C(1) << 63;
	assert_null(audit_event_to_json(&ev));
}

static void test_json_roundtrip_form2(void **state)
{
	struct audit_event ev, back;
	json_t *obj, *loaded;
	unsigned char h[32];

	(void)state;
	fill_full2(&ev);
	assert_int_equal(audit_event_hash(&ev, ev.hash), 0);
	obj = audit_event_to_json(&ev);
	assert_non_null(obj);
	assert_spec_order(obj);
	assert_int_equal(json_integer_value(json_object_get(obj, "form")), 2);
	assert_string_equal(json_string_value(json_object_get(obj, "target")), ev.target);
	assert_string_equal(json_string_value(json_object_get(obj, "token")), ev.token);
	assert_string_equal(json_string_value(json_object_get(obj, "cert")), ev.cert);
	loaded = reload(obj);
	assert_int_equal(audit_event_from_json(loaded, &back), 0);
	assert_int_equal(back.form, 2);
	assert_int_equal(back.seq, ev.seq);
	assert_string_equal(back.target, ev.target);
	assert_string_equal(back.token, ev.token);
	assert_string_equal(back.cert, ev.cert);
	assert_string_equal(back.request_id, ev.request_id);
	assert_memory_equal(back.hash, ev.hash, 32);
	assert_int_equal(audit_event_hash(&back, h), 0);
	assert_hex(h, 32, FULL2_HASH);
	json_decref(loaded);
	json_decref(obj);

	/* all-null form 2 */
	fill_nulls2(&ev);
	assert_int_equal(audit_event_hash(&ev, ev.hash), 0);
	obj = audit_event_to_json(&ev);
	assert_non_null(obj);
	loaded = reload(obj);
	assert_int_equal(audit_event_from_json(loaded, &back), 0);
	assert_int_equal(back.form, 2);
	assert_int_equal(back.seq, UINT64_C(0x7fffffffffffffff));
	assert_null(back.target);
	assert_null(back.token);
	assert_null(back.cert);
	assert_null(back.action);
	assert_int_equal(audit_event_hash(&back, h), 0);
	assert_hex(h, 32, NULLS2_HASH);
	json_decref(loaded);
	json_decref(obj);
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

/* Form-specific rules of the reader. */
static void test_from_json_forms(void **state)
{
	static const char *const bad_form[] = {"0",   "3",    "-1",   "\"2\"",
	                                       "2.0", "null", "true", "9223372036854775807"};
	static const char *const later[] = {"target", "token", "cert"};
	struct audit_event ev, e2;
	json_t *obj, *val;
	json_error_t jerr;

	(void)state;
	/* "form" must be the integer 1 or 2 */
	for (size_t i = 0; i < sizeof(bad_form) / sizeof(bad_form[0]); i++) {
		obj = good_event_json();
		val = json_loads(bad_form[i], JSON_DECODE_ANY, &jerr);
		assert_non_null(val);
		assert_int_equal(json_object_set_new(obj, "form", val), 0);
		if (audit_event_from_json(obj, &ev) != -1)
			fail_msg("accepted form %s", bad_form[i]);
		json_decref(obj);
	}
	for (size_t i = 0; i < 3; i++) {
		/* form 1 (stated or implied) with a later field set: refused */
		obj = good_event_json();
		assert_int_equal(json_object_set_new(obj, later[i], json_string("x")), 0);
		assert_int_equal(audit_event_from_json(obj, &ev), -1);
		assert_int_equal(json_object_del(obj, "form"), 0);
		assert_int_equal(audit_event_from_json(obj, &ev), -1);
		/* ... and with it a wrong type too */
		assert_int_equal(json_object_set_new(obj, later[i], json_integer(1)), 0);
		assert_int_equal(audit_event_from_json(obj, &ev), -1);
		/* absent in form 1: fine */
		assert_int_equal(json_object_del(obj, later[i]), 0);
		assert_int_equal(audit_event_from_json(obj, &ev), 0);
		json_decref(obj);

		/* form 2 needs every later field, as a string or null */
		fill_full2(&e2);
		assert_int_equal(audit_event_hash(&e2, e2.hash), 0);
		obj = audit_event_to_json(&e2);
		assert_non_null(obj);
		assert_int_equal(audit_event_from_json(obj, &ev), 0);
		assert_int_equal(json_object_set_new(obj, later[i], json_null()), 0);
		assert_int_equal(audit_event_from_json(obj, &ev), 0);
		assert_int_equal(json_object_set_new(obj, later[i], json_true()), 0);
		assert_int_equal(audit_event_from_json(obj, &ev), -1);
		assert_int_equal(json_object_del(obj, later[i]), 0);
		assert_int_equal(audit_event_from_json(obj, &ev), -1);
		json_decref(obj);
	}
	/* a form-2 event without "form" is read as form 1: refused for its
	 * later fields, and with them null it is a different event (hash) */
	fill_full2(&e2);
	assert_int_equal(audit_event_hash(&e2, e2.hash), 0);
	obj = audit_event_to_json(&e2);
	assert_non_null(obj);
	assert_int_equal(json_object_del(obj, "form"), 0);
	assert_int_equal(audit_event_from_json(obj, &ev), -1);
	json_decref(obj);
	fill_full(&e2);
	e2.form = 2;
	assert_int_equal(audit_event_hash(&e2, e2.hash), 0);
	obj = audit_event_to_json(&e2);
	assert_non_null(obj);
	assert_int_equal(json_object_set_new(obj, "form", json_integer(1)), 0);
	assert_int_equal(audit_event_from_json(obj, &ev), 0);
	assert_int_equal(ev.form, 1);
	assert_int_equal(audit_event_hash(&ev, ev.hash), 0);
	assert_memory_not_equal(ev.hash, e2.hash, 32);
	json_decref(obj);
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

/* An export line for event seq of the given form linking to prev, with a
 * correct hash; the other fields vary with content (normally seq) and
 * with forged (a different actor). Form-2 events name a target, a token
 * and sometimes a certificate. */
static char *event_line_as(uint64_t seq, uint64_t content, int form, const unsigned char prev[32],
                           int forged, unsigned char hash_out[32])
{
	static const char *const actions[] = {"ticket.create", "credential.add", "session.open",
	                                      "credential.read", "ticket.close"};
	struct audit_event ev;
	char actor[32], rid[32], target[48];
	const uint64_t c = content;
	json_t *obj, *line;

	memset(&ev, 0, sizeof(ev));
	ev.form = form;
	ev.seq = seq;
	snprintf(ev.time, sizeof(ev.time), "2026-11-22T1%01u:%02u:%02u.%03uZ",
	         (unsigned)(c / 3600 % 10), (unsigned)(c / 60 % 60), (unsigned)(c % 60),
	         (unsigned)(c * 7 % 1000));
	snprintf(actor, sizeof(actor), "%s%03u", forged ? "mallory" : "user", (unsigned)c);
	snprintf(rid, sizeof(rid), "req-%06u", (unsigned)c);
	ev.actor = actor;
	ev.role = c % 2 ? "agent" : "customer";
	ev.action = actions[c % 5];
	ev.ticket = "Xq3v9Lk2Rt8Yb1Np4Wz7Hc";
	ev.credential = c % 3 ? "Cd5Fg6Hj7Kl8Mn9Pq0Rs1T" : NULL;
	ev.session = c % 4 ? NULL : "Se2Ss3Io4Nn5Id6Ab7Cd8E";
	ev.outcome = c % 7 ? "allow" : "deny";
	ev.reason = c % 7 ? NULL : "forbidden";
	ev.ip = "198.51.100.7";
	ev.request_id = rid;
	if (form >= 2) {
		snprintf(target, sizeof(target), "agent%03u#%08x", (unsigned)(c % 1000),
		         (unsigned)(c * 2654435761u));
		ev.target = c % 3 ? target : NULL;
		ev.token = c % 2 ? "0123456789abcdef" : NULL;
		ev.cert = c % 5
		              ? NULL
		              : "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	}
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

/* The form event seq has in the test chains: 1 before CHAIN_FORM2, then 2. */
static int chain_form(uint64_t seq)
{
	return seq < CHAIN_FORM2 ? 1 : 2;
}

static char *event_line(uint64_t seq, const unsigned char prev[32], int forged,
                        unsigned char hash_out[32])
{
	return event_line_as(seq, seq, chain_form(seq), prev, forged, hash_out);
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

/* An export of events 1..n (n <= CHAIN_EVENTS + 1) in the chain's forms,
 * with a checkpoint after every seq for which cp_at says so. */
static struct exp *build_events(uint64_t n, int (*cp_at)(uint64_t seq))
{
	struct exp *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	assert_true(n <= CHAIN_EVENTS + 1);
	cp_keys(e->pk, e->sk);
	for (uint64_t seq = 1; seq <= n; seq++) {
		assert_true(e->n < MAX_LINES);
		e->line[e->n++] = event_line(seq, e->hash[seq - 1], 0, e->hash[seq]);
		if (cp_at(seq)) {
			assert_true(e->n < MAX_LINES);
			e->line[e->n++] = cp_line(seq, e->hash[seq], e->sk, e->pk);
		}
	}
	return e;
}

static int cp_none(uint64_t seq)
{
	(void)seq;
	return 0;
}

static int cp_due(uint64_t seq)
{
	return seq % 100 == 0;
}

/* The due ones plus timed extras in between. */
static int cp_due_and_extra(uint64_t seq)
{
	return seq % 100 == 0 || seq == 1 || seq == 37 || seq == 150 || seq == 199 || seq == 250;
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
	if (rc == AUDIT_VERIFY_OK || rc == AUDIT_VERIFY_UNSIGNED) {
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
	assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_OK);
	assert_int_equal(v.events, 250);
	assert_int_equal(v.checkpoints, 2);
	assert_int_equal(v.last_seq, 250);
	assert_int_equal(v.last_cp_seq, 200);
	assert_memory_equal(v.last_cp_hash, e->hash[200], 32);
	assert_int_equal(v.unsigned_tail, 50);
	/* a mixed log: form-1 events, then form-2 events, both checked */
	assert_int_equal(v.last_form, 2);
	assert_non_null(strstr(e->line[ev_idx(CHAIN_FORM2 - 1)], "\"form\":1,"));
	assert_non_null(strstr(e->line[ev_idx(CHAIN_FORM2)], "\"form\":2,"));
	assert_non_null(strstr(e->line[ev_idx(CHAIN_FORM2 + 1)], "\"target\":\"agent"));

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
		/* the chain verifies, but nothing signs it */
		assert_int_equal(audit_verify_stream(f, &v), AUDIT_VERIFY_UNSIGNED);
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

	/* removing a due checkpoint line is a failure, not a weaker pass */
	e = build_chain();
	del_line(e, ev_idx(100) + 1);
	assert_fail(verify(e, NULL, &v), &v, 100, 101, "checkpoint due after event 100 is missing");
	assert_int_equal(v.checkpoints, 0);
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

/* ---- audit-key hand-over (SPEC 8.4) ---------------------------------------- */

static void third_keys(unsigned char pk[32], unsigned char sk[64])
{
	unsigned char seed[32];

	memset(seed, 0x3c, sizeof(seed));
	assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
}

/* A key.audit event line announcing target_hex (any string), as the
 * server writes it: form 2, system event, the new key in target. */
static char *key_event_line(uint64_t seq, const unsigned char prev[32], const char *target_hex,
                            const char *outcome, unsigned char hash_out[32])
{
	struct audit_event ev;
	json_t *obj, *line;

	memset(&ev, 0, sizeof(ev));
	ev.form = 2;
	ev.seq = seq;
	snprintf(ev.time, sizeof(ev.time), "2026-11-23T08:00:%02u.000Z", (unsigned)(seq % 60));
	ev.action = AUDIT_KEY_ACTION;
	ev.outcome = outcome;
	ev.reason = strcmp(outcome, "allow") == 0 ? NULL : "forbidden";
	ev.target = target_hex;
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

/* How a test export hands the audit key over. */
struct rot {
	uint64_t n;                   /* events 1..n */
	uint64_t at;                  /* seq of the key.audit event, 0 for none */
	const char *target;           /* what it announces (hex) */
	const char *outcome;          /* its outcome (NULL: "allow") */
	const unsigned char *ann_sk;  /* signs its checkpoint; NULL: no checkpoint */
	const unsigned char *ann_pk;  /* the key that checkpoint carries */
	const unsigned char *post_sk; /* signs the due checkpoints after it */
	const unsigned char *post_pk;
};

/* Events 1..n in the chain's forms, checkpoints at the due seqs: before
 * the hand-over signed with the first key (cp_keys), after it with
 * post_sk. Lines are recorded in e->line, hashes in e->hash. */
static struct exp *build_rotation(const struct rot *r)
{
	struct exp *e = calloc(1, sizeof(*e));
	int handed = 0;

	assert_non_null(e);
	assert_true(r->n <= CHAIN_EVENTS + 1);
	cp_keys(e->pk, e->sk);
	for (uint64_t seq = 1; seq <= r->n; seq++) {
		assert_true(e->n + 2 <= MAX_LINES);
		if (seq == r->at) {
			e->line[e->n++] =
			    key_event_line(seq, e->hash[seq - 1], r->target,
			                   r->outcome ? r->outcome : "allow", e->hash[seq]);
			if (r->ann_sk != NULL)
				e->line[e->n++] = cp_line(seq, e->hash[seq], r->ann_sk, r->ann_pk);
			handed = 1;
			continue;
		}
		e->line[e->n++] = event_line(seq, e->hash[seq - 1], 0, e->hash[seq]);
		if (seq % 100 == 0)
			e->line[e->n++] = handed
			                      ? cp_line(seq, e->hash[seq], r->post_sk, r->post_pk)
			                      : cp_line(seq, e->hash[seq], e->sk, e->pk);
	}
	return e;
}

static void test_key_rotation_honest(void **state)
{
	unsigned char pk1[32], sk1[64], pk2[32], sk2[64], pk3[32], sk3[64];
	char hex2[65], hex3[65], out[2048];
	struct audit_verify v;
	struct exp *e;
	FILE *f;

	(void)state;
	cp_keys(pk1, sk1);
	other_keys(pk2, sk2);
	third_keys(pk3, sk3);
	to_hex(hex2, sizeof(hex2), pk2, 32);
	to_hex(hex3, sizeof(hex3), pk3, 32);

	/* key 1 signs 100 and the announcement at 130; key 2 signs 200 */
	struct rot r = {.n = 250,
	                .at = 130,
	                .target = hex2,
	                .ann_sk = sk1,
	                .ann_pk = pk1,
	                .post_sk = sk2,
	                .post_pk = pk2};
	e = build_rotation(&r);
	assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_OK);
	assert_int_equal(v.events, 250);
	assert_int_equal(v.checkpoints, 3);
	assert_int_equal(v.key_changes, 1);
	assert_memory_equal(v.cur_pk, pk2, 32);
	assert_int_equal(v.last_cp_seq, 200);
	/* the print names the hand-over and the key in use */
	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(audit_verify_print(&v, AUDIT_VERIFY_OK, f), 0);
	rewind(f);
	out[fread(out, 1, sizeof(out) - 1, f)] = '\0';
	fclose(f);
	assert_non_null(strstr(out, "handed over 1 time(s)"));
	assert_non_null(strstr(out, hex2));
	/* only the first key is trusted: starting from key 2 fails at 100 */
	assert_fail(verify_with(e, pk2, NULL, &v), &v, 100, 101, "different public key");
	free_chain(e);

	/* the announcement at a due seq: its due checkpoint is the old key's */
	r.at = 200;
	e = build_rotation(&r);
	assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_OK);
	assert_int_equal(v.key_changes, 1);
	assert_int_equal(v.checkpoints, 2);
	free_chain(e);

	/* announcement as the last event, followed by its checkpoint */
	r.n = 130;
	r.at = 130;
	e = build_rotation(&r);
	assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_OK);
	assert_int_equal(v.key_changes, 1);
	assert_int_equal(v.last_cp_seq, 130);
	assert_memory_equal(v.cur_pk, pk2, 32);
	free_chain(e);

	/* two hand-overs: 1 -> 2 at 130, then 2 -> 3 at 210 signed by 2 */
	r.n = 250;
	r.at = 130;
	e = build_rotation(&r);
	{
		size_t i = ev_idx(210) + 1; /* 130 and 200 have a checkpoint line each */
		unsigned char h[32];
		free(e->line[i]);
		e->line[i] = key_event_line(210, e->hash[209], hex3, "allow", h);
		ins_line(e, i + 1, cp_line(210, h, sk2, pk2));
		/* re-chain 211..250: key 3 signs nothing (no due seq), but the
		 * chain must link to the new 210 */
		memcpy(e->hash[210], h, 32);
		for (uint64_t seq = 211; seq <= 250; seq++) {
			size_t j = i + 1 + (size_t)(seq - 210);
			free(e->line[j]);
			e->line[j] = event_line(seq, e->hash[seq - 1], 0, e->hash[seq]);
		}
	}
	assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_OK);
	assert_int_equal(v.key_changes, 2);
	assert_memory_equal(v.cur_pk, pk3, 32);
	free_chain(e);
	sodium_memzero(sk2, sizeof(sk2));
	sodium_memzero(sk3, sizeof(sk3));
}

static void test_key_rotation_forged(void **state)
{
	unsigned char pk1[32], sk1[64], pk2[32], sk2[64];
	char hex1[65], hex2[65];
	struct audit_verify v;
	struct exp *e;

	(void)state;
	cp_keys(pk1, sk1);
	other_keys(pk2, sk2);
	to_hex(hex1, sizeof(hex1), pk1, 32);
	to_hex(hex2, sizeof(hex2), pk2, 32);

	/* forged announcement: the new key signs its own announcement */
	struct rot r = {.n = 250,
	                .at = 130,
	                .target = hex2,
	                .ann_sk = sk2,
	                .ann_pk = pk2,
	                .post_sk = sk2,
	                .post_pk = pk2};
	e = build_rotation(&r);
	assert_fail(verify(e, NULL, &v), &v, 130, 132, "different public key");
	assert_int_equal(v.key_changes, 0);
	free_chain(e);

	/* ... or claims the old key's name without its signature */
	r.ann_pk = pk1;
	e = build_rotation(&r);
	assert_fail(verify(e, NULL, &v), &v, 130, 132, "bad signature");
	free_chain(e);

	/* an announcement without its checkpoint does not hand over */
	r.ann_sk = NULL;
	e = build_rotation(&r);
	assert_fail(verify(e, NULL, &v), &v, 130, 132, "not followed by its checkpoint");
	free_chain(e);
	r.n = 130; /* ... also when the export ends there */
	e = build_rotation(&r);
	assert_fail(verify(e, NULL, &v), &v, 130, 132, "ends without the checkpoint");
	free_chain(e);

	/* checkpoints by a key that was never announced */
	r.n = 250;
	r.at = 0;
	e = build_rotation(&r);
	free(e->line[ev_idx(200) + 1]);
	e->line[ev_idx(200) + 1] = cp_line(200, e->hash[200], sk2, pk2);
	assert_fail(verify(e, NULL, &v), &v, 200, 202, "different public key");
	free_chain(e);

	/* after the hand-over the old key is no longer accepted */
	r.at = 130;
	r.ann_sk = sk1;
	r.ann_pk = pk1;
	r.post_sk = sk1;
	r.post_pk = pk1;
	e = build_rotation(&r);
	assert_fail(verify(e, NULL, &v), &v, 200, 203, "different public key");
	free_chain(e);

	/* malformed announcements: the key in use, not hex, a denial */
	r.post_sk = sk2;
	r.post_pk = pk2;
	r.target = hex1;
	e = build_rotation(&r);
	assert_fail(verify(e, NULL, &v), &v, 130, 131, "already in use");
	free_chain(e);
	r.target = "agent7";
	e = build_rotation(&r);
	assert_fail(verify(e, NULL, &v), &v, 130, 131, "64 lowercase hex");
	free_chain(e);
	r.target = hex2;
	r.outcome = "deny";
	e = build_rotation(&r);
	assert_fail(verify(e, NULL, &v), &v, 130, 131, "not an allowed form-2 event");
	free_chain(e);

	/* the announced key edited after the fact breaks the chain */
	r.outcome = NULL;
	e = build_rotation(&r);
	{
		char *p = strstr(e->line[ev_idx(130)], hex2);
		assert_non_null(p);
		p[0] = p[0] == 'a' ? 'b' : 'a';
	}
	assert_fail(verify(e, NULL, &v), &v, 130, 131, "hash does not match");
	free_chain(e);
	sodium_memzero(sk2, sizeof(sk2));
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

/* SPEC 8.1: a checkpoint is due at every 100th event; the timed ones in
 * between are extra. */
static void test_verify_due_checkpoints(void **state)
{
	struct exp *e;
	struct audit_verify v;
	char pin[96];

	(void)state;
	/* extra checkpoints anywhere after their event are fine */
	e = build_events(250, cp_due_and_extra);
	assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_OK);
	assert_int_equal(v.checkpoints, 7);
	assert_int_equal(v.last_cp_seq, 250);
	assert_int_equal(v.unsigned_tail, 0);
	free_chain(e);

	/* ... but an extra one never replaces a due one */
	e = build_events(250, cp_due_and_extra);
	/* line 206: 200 events and 5 checkpoints (after 1, 37, 100, 150, 199) before it */
	assert_non_null(strstr(e->line[205], "{\"type\":\"checkpoint\",\"seq\":200,"));
	del_line(e, 205);
	assert_fail(verify(e, NULL, &v), &v, 200, 206, "checkpoint due after event 200 is missing");
	free_chain(e);

	/* 99 events and no checkpoint: the chain verifies, nothing is signed */
	e = build_events(99, cp_none);
	assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_UNSIGNED);
	assert_int_equal(v.events, 99);
	assert_int_equal(v.checkpoints, 0);
	assert_int_equal(v.unsigned_tail, 99);
	assert_int_equal(audit_verify_pin(&v, pin, sizeof(pin)), -1);
	assert_string_equal(pin, "");
	free_chain(e);

	/* 99 events with a timed checkpoint: signed */
	e = build_events(99, cp_due_and_extra);
	assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_OK);
	assert_int_equal(v.last_cp_seq, 37);
	assert_int_equal(v.unsigned_tail, 62);
	free_chain(e);

	/* event 100 is the last line and its checkpoint is missing */
	e = build_events(100, cp_none);
	assert_fail(verify(e, NULL, &v), &v, 100, 101,
	            "ends without the checkpoint due after event 100");
	free_chain(e);
	e = build_events(100, cp_due);
	assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_OK);
	assert_int_equal(v.unsigned_tail, 0);
	free_chain(e);

	/* an unsigned tail of 100 or more cannot pass: 101 events, no
	 * checkpoint, fails at the due one */
	e = build_events(101, cp_none);
	assert_fail(verify(e, NULL, &v), &v, 100, 101, "checkpoint due after event 100 is missing");
	assert_int_equal(v.events, 100); /* what was verified before the problem */
	free_chain(e);
	/* signed at 100, then 150 unsigned events: fails at 200 */
	e = build_chain();
	del_line(e, ev_idx(200) + 1);
	assert_fail(verify(e, NULL, &v), &v, 200, 202, "checkpoint due after event 200 is missing");
	assert_int_equal(v.checkpoints, 1);
	free_chain(e);

	/* a cut right after a due event's checkpoint still verifies */
	e = build_chain();
	while (e->n > ev_idx(200) + 2)
		del_line(e, e->n - 1);
	assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_OK);
	assert_int_equal(v.unsigned_tail, 0);
	/* ... and a cut between event 200 and its checkpoint fails */
	del_line(e, e->n - 1);
	assert_fail(verify(e, NULL, &v), &v, 200, 202,
	            "ends without the checkpoint due after event 200");
	free_chain(e);

	/* a checkpoint line that fails to verify where one is due */
	e = build_chain();
	edit_after(e->line[ev_idx(100) + 1], "\"signature\":\"");
	assert_fail(verify(e, NULL, &v), &v, 100, 101, "bad signature");
	free_chain(e);
}

/* The forgery of issue 9: delete one event (say a credential.read), renumber
 * the rest, recompute the chain (no key needed) and drop the checkpoint
 * lines. Before the due rule this verified "OK". */
static void test_verify_forged_renumbered(void **state)
{
	struct exp *good = build_chain(), *f = calloc(1, sizeof(*f));
	struct audit_verify v;
	uint64_t deleted = 153, seq = 0;

	(void)state;
	assert_non_null(f);
	memcpy(f->pk, good->pk, 32);
	assert_non_null(strstr(good->line[ev_idx(deleted)], "\"credential.read\""));
	for (uint64_t orig = 1; orig <= CHAIN_EVENTS; orig++) {
		if (orig == deleted)
			continue;
		seq++;
		f->line[f->n++] =
		    event_line_as(seq, orig, chain_form(orig), f->hash[seq - 1], 0, f->hash[seq]);
	}
	assert_int_equal(f->n, CHAIN_EVENTS - 1);
	/* internally consistent: every prev links and every hash recomputes */
	assert_fail(verify(f, NULL, &v), &v, 100, 101, "checkpoint due after event 100 is missing");
	assert_int_equal(v.events, 100);

	/* keeping the genuine checkpoint at 100 (it still matches: the
	 * deletion is later) moves the failure to 200 */
	ins_line(f, ev_idx(100) + 1, strdup(good->line[ev_idx(100) + 1]));
	assert_fail(verify(f, NULL, &v), &v, 200, 202, "checkpoint due after event 200 is missing");
	/* and the genuine one at 200 does not match the renumbered event 200 */
	ins_line(f, ev_idx(200) + 1, strdup(good->line[ev_idx(200) + 1]));
	assert_fail(verify(f, NULL, &v), &v, 200, 202, "differs from its signed checkpoint");
	free_chain(f);

	/* cut short of the next due checkpoint it passes: the unsigned tail
	 * (under 100 events) is exactly what a signature does not cover yet */
	f = build_chain();
	while (f->n > ev_idx(199) + 1)
		del_line(f, f->n - 1);
	assert_int_equal(verify(f, NULL, &v), AUDIT_VERIFY_OK);
	assert_int_equal(v.unsigned_tail, 99);
	free_chain(f);
	free_chain(good);
}

/* Forms never go down; a mixed log (1 then 2) verifies. */
static void test_verify_forms(void **state)
{
	static const int ok_forms[] = {1, 1, 1, 2, 2, 2};
	static const int bad_forms[] = {1, 2, 2, 1, 2, 2};
	struct exp *e;
	struct audit_verify v;

	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		const int *forms = pass == 0 ? ok_forms : bad_forms;
		e = calloc(1, sizeof(*e));
		assert_non_null(e);
		cp_keys(e->pk, e->sk);
		for (uint64_t seq = 1; seq <= 6; seq++)
			e->line[e->n++] = event_line_as(seq, seq, forms[seq - 1], e->hash[seq - 1],
			                                0, e->hash[seq]);
		e->line[e->n++] = cp_line(6, e->hash[6], e->sk, e->pk);
		if (pass == 0) {
			assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_OK);
			assert_int_equal(v.last_form, 2);
		} else {
			/* event 4 is form 1 after form 2, correctly hashed */
			assert_fail(verify(e, NULL, &v), &v, 4, 4,
			            "form 1 after an event of form 2");
			assert_int_equal(v.events, 3);
		}
		free_chain(e);
	}
	/* only form 2: fine too; the first event may have any form */
	e = calloc(1, sizeof(*e));
	assert_non_null(e);
	cp_keys(e->pk, e->sk);
	for (uint64_t seq = 1; seq <= 3; seq++)
		e->line[e->n++] =
		    event_line_as(seq, seq + 200, 2, e->hash[seq - 1], 0, e->hash[seq]);
	e->line[e->n++] = cp_line(3, e->hash[3], e->sk, e->pk);
	assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_OK);
	free_chain(e);

	/* the chain's form-1 event relabelled as form 2 (hash not redone) */
	e = build_chain();
	{
		json_error_t jerr;
		json_t *o = json_loads(e->line[ev_idx(50)], 0, &jerr);
		assert_non_null(o);
		assert_int_equal(json_object_set_new(o, "form", json_integer(2)), 0);
		free(e->line[ev_idx(50)]);
		e->line[ev_idx(50)] = dump_line(o);
	}
	assert_fail(verify(e, NULL, &v), &v, 50, 50, "hash does not match");
	free_chain(e);
}

/* Result codes, exit statuses, messages and the pin to keep. */
static void test_verify_results(void **state)
{
	struct exp *e;
	struct audit_verify v;
	char line[512], pin[AUDIT_PIN_LEN], want[96], out[1024];
	FILE *f;
	size_t n;

	(void)state;
	assert_int_equal(audit_verify_exit_status(AUDIT_VERIFY_OK), 0);
	assert_int_equal(audit_verify_exit_status(AUDIT_VERIFY_UNSIGNED), 5);
	assert_int_equal(audit_verify_exit_status(AUDIT_VERIFY_FAILED), 6);
	assert_int_equal(audit_verify_exit_status(AUDIT_VERIFY_ERROR), 1);
	assert_int_equal(audit_verify_exit_status(42), 1);

	e = build_chain();
	assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_OK);
	audit_verify_describe(&v, AUDIT_VERIFY_OK, line, sizeof(line));
	assert_string_equal(line,
	                    "OK: 250 events, 2 checkpoints verified; last checkpoint seq 200; "
	                    "50 events after it are not yet signed");
	pin_of(e, 200, want);
	assert_int_equal(audit_verify_pin(&v, pin, sizeof(pin)), 0);
	assert_string_equal(pin, want);
	assert_int_equal(audit_verify_pin(&v, pin, 10), -1); /* too small */
	assert_string_equal(pin, "");
	/* the pin it prints verifies the same export */
	assert_int_equal(audit_verify_pin(&v, pin, sizeof(pin)), 0);
	assert_int_equal(verify(e, pin, &v), AUDIT_VERIFY_OK);

	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(audit_verify_print(&v, AUDIT_VERIFY_OK, f), 0);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	snprintf(line, sizeof(line), "\npin: %s\nnote: the last 50 events", want);
	assert_non_null(strstr(out, line));
	assert_true(strncmp(out, "OK: 250 events", 14) == 0);
	free_chain(e);

	/* unsigned: no pin line */
	e = build_events(5, cp_none);
	assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_UNSIGNED);
	audit_verify_describe(&v, AUDIT_VERIFY_UNSIGNED, line, sizeof(line));
	assert_true(strncmp(line, "UNSIGNED: 5 events", 18) == 0);
	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(audit_verify_print(&v, AUDIT_VERIFY_UNSIGNED, f), 0);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	assert_null(strstr(out, "pin:"));
	assert_non_null(strstr(out, "\nnote: "));
	free_chain(e);

	/* failed: no pin line, even though a checkpoint verified before */
	e = build_chain();
	edit_after(e->line[ev_idx(150)], "\"actor\":\"");
	assert_fail(verify(e, NULL, &v), &v, 150, 151, "hash does not match");
	assert_int_equal(v.checkpoints, 1);
	audit_verify_describe(&v, AUDIT_VERIFY_FAILED, line, sizeof(line));
	assert_true(strncmp(line, "FAILED at seq 150 (line 151): ", 30) == 0);
	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(audit_verify_print(&v, AUDIT_VERIFY_FAILED, f), 0);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	assert_null(strstr(out, "pin:"));
	free_chain(e);

	/* unreadable input: a directory opens but does not read */
	memset(&v, 0, sizeof(v));
	f = fopen("/", "r");
	if (f != NULL) {
		assert_int_equal(audit_verify_stream(f, &v), AUDIT_VERIFY_ERROR);
		assert_string_equal(v.error, "read error");
		audit_verify_describe(&v, AUDIT_VERIFY_ERROR, line, sizeof(line));
		assert_string_equal(line, "ERROR: read error");
		fclose(f);
	}
	assert_int_equal(audit_verify_stream(NULL, &v), AUDIT_VERIFY_ERROR);
	assert_int_equal(audit_verify_stream(stdin, NULL), AUDIT_VERIFY_ERROR);
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

	/* the line buffer grows: long valid lines between short ones */
	{
		struct exp *e = calloc(1, sizeof(*e));
		struct audit_event ev;
		char *big = malloc(65536);
		json_t *obj, *line;

		assert_non_null(e);
		assert_non_null(big);
		cp_keys(e->pk, e->sk);
		memset(big, 'r', 65535);
		big[65535] = '\0';
		for (uint64_t seq = 1; seq <= 3; seq++) {
			fill_full2(&ev);
			ev.seq = seq;
			ev.reason = seq == 2 ? big : "short";
			memcpy(ev.prev, e->hash[seq - 1], 32);
			assert_int_equal(audit_event_hash(&ev, ev.hash), 0);
			memcpy(e->hash[seq], ev.hash, 32);
			line = json_pack("{s:s}", "type", "event");
			obj = audit_event_to_json(&ev);
			assert_non_null(line);
			assert_non_null(obj);
			assert_int_equal(json_object_update(line, obj), 0);
			json_decref(obj);
			e->line[e->n++] = dump_line(line);
		}
		assert_true(strlen(e->line[1]) > 65535);
		e->line[e->n++] = cp_line(3, e->hash[3], e->sk, e->pk);
		assert_int_equal(verify(e, NULL, &v), AUDIT_VERIFY_OK);
		assert_int_equal(v.events, 3);
		free(big);
		free_chain(e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vector_full),
	    cmocka_unit_test(test_vector_nulls),
	    cmocka_unit_test(test_vector_doc),
	    cmocka_unit_test(test_vector_form2),
	    cmocka_unit_test(test_form_binding),
	    cmocka_unit_test(test_hash_null_empty_and_shift),
	    cmocka_unit_test(test_hash_field_limits),
	    cmocka_unit_test(test_checkpoint_msg_vector),
	    cmocka_unit_test(test_checkpoint_sign_verify),
	    cmocka_unit_test(test_json_roundtrip),
	    cmocka_unit_test(test_json_roundtrip_form2),
	    cmocka_unit_test(test_from_json_strict),
	    cmocka_unit_test(test_from_json_forms),
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
	    cmocka_unit_test(test_key_rotation_honest),
	    cmocka_unit_test(test_key_rotation_forged),
	    cmocka_unit_test(test_verify_pin),
	    cmocka_unit_test(test_verify_stream_format),
	    cmocka_unit_test(test_verify_checkpoint_format),
	    cmocka_unit_test(test_verify_line_cap),
	    cmocka_unit_test(test_verify_due_checkpoints),
	    cmocka_unit_test(test_verify_forged_renumbered),
	    cmocka_unit_test(test_verify_forms),
	    cmocka_unit_test(test_verify_results),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

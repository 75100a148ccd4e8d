/* Unit tests for audit_event_text (common/auditlog.c): the row text the
 * server writes directly is byte for byte jansson's compact dump of
 * audit_event_to_json, for both forms, null fields, every character that
 * JSON escapes, multi-byte UTF-8 and random strings; where jansson
 * refuses (invalid UTF-8, a field of the wrong form) it refuses too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "auditlog.h"
#include "jsonx.h"

static void base(struct audit_event *ev, int form)
{
	memset(ev, 0, sizeof *ev);
	ev->seq = 4242;
	ev->form = form;
	snprintf(ev->time, sizeof ev->time, "2026-12-01T19:00:00.123Z");
	ev->actor = "cust-1";
	ev->role = "customer";
	ev->action = "credential.create";
	ev->ticket = "AAAAAAAAAAAAAAAAAAAAAA";
	ev->outcome = "allow";
	ev->ip = "127.0.0.1";
	ev->request_id = "0123456789abcdef0123456789abcdef";
	if (form == 2) {
		ev->target = "agent-7";
		ev->token = "T0KEN1D";
	}
	for (int i = 0; i < 32; i++) {
		ev->prev[i] = (unsigned char)i;
		ev->hash[i] = (unsigned char)(255 - i);
	}
}

/* Both give NULL, or the same text. */
static void same(const struct audit_event *ev)
{
	json_t *o = audit_event_to_json(ev);
	char *want = o != NULL ? jx_text(o) : NULL;
	char *got = audit_event_text(ev);

	if (want == NULL) {
		assert_null(got);
	} else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
	free(want);
	free(got);
	json_decref(o);
}

static void test_forms_and_nulls(void **state)
{
	struct audit_event ev;

	(void)state;
	base(&ev, 1);
	same(&ev);
	base(&ev, 2);
	same(&ev);
	ev.actor = ev.role = ev.ticket = ev.ip = NULL;
	ev.reason = "rate_limited";
	same(&ev);
	base(&ev, 1);
	ev.target = "x"; /* form 1 has no target: both refuse */
	assert_null(audit_event_text(&ev));
	same(&ev);
	ev.seq = 0;
	ev.target = NULL;
	assert_null(audit_event_text(&ev));
}

static void test_escapes(void **state)
{
	static const char *const texts[] = {
	    "quote\" backslash\\ slash/",
	    "\b\f\n\r\t",
	    "\x01\x02\x1f\x7f",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91 \xe2\x80\xa8",
	    "",
	};
	static const char *const bad[] = {
	    "\xc3",             /* truncated */
	    "\xc0\xaf",         /* overlong */
	    "\xed\xa0\x80",     /* surrogate */
	    "\xf4\x90\x80\x80", /* past U+10FFFF */
	    "\xff",
	};
	struct audit_event ev;
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		base(&ev, 2);
		ev.target = texts[i];
		same(&ev);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		base(&ev, 2);
		ev.reason = bad[i];
		assert_null(audit_event_text(&ev));
		same(&ev);
	}
	/* every single byte value (ASCII ones alone are valid UTF-8) */
	for (int c = 1; c < 256; c++) {
		base(&ev, 2);
		snprintf(buf, sizeof buf, "a%cb", c);
		ev.target = buf;
		same(&ev);
	}
}

static void test_random(void **state)
{
	struct audit_event ev;
	char buf[4][40];

	(void)state;
	for (int round = 0; round < 5000; round++) {
		base(&ev, 2);
		for (int k = 0; k < 4; k++) {
			size_t n = randombytes_uniform(sizeof buf[k] - 1);
			randombytes_buf(buf[k], n);
			for (size_t i = 0; i < n; i++)
				if (buf[k][i] == '\0')
					buf[k][i] = (char)(1 + randombytes_uniform(127));
			buf[k][n] = '\0';
		}
		ev.seq = 1 + randombytes_uniform(1000000);
		ev.actor = buf[0];
		ev.target = buf[1];
		ev.reason = buf[2];
		ev.session = (round & 1) ? buf[3] : NULL;
		same(&ev);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forms_and_nulls),
	    cmocka_unit_test(test_escapes),
	    cmocka_unit_test(test_random),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

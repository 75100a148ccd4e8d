/* fuzz_util.c - the small string parsers: util_parse_time, util_parse_i64,
 * util_valid_server_id, util_valid_account_id (common/util.c) and
 * audit_parse_pin (common/auditlog.c).
 *
 * The input, cut at its first NUL, is given to every parser. Besides
 * memory safety each result is checked against an independent, naive
 * restatement of the documented grammar, and times round-trip through
 * util_format_time. */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "auditlog.h"
#include "fuzz.h"
#include "util.h"

#define TIME_MS_MAX INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_lhex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

/* Reference for util_parse_i64: 1..19 digits, value in [min, max]. */
static int ref_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	size_t n = strlen(s);
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits fit in uint64_t */
	}
	if (v > (uint64_t)INT64_MAX || (int64_t)v < min || (int64_t)v > max)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static void check_i64(const char *s, int64_t min, int64_t max)
{
	int64_t a = -7, b = -7;
	int ra = util_parse_i64(s, min, max, &a), rb = ref_i64(s, min, max, &b);

	fuzz_check(ra == rb);
	fuzz_check(ra != 0 || a == b);
	if (ra != 0)
		fuzz_check(a == -7); /* out untouched on failure */
}

/* Reference for util_valid_server_id: exactly 22 base64url characters. */
static int ref_server_id(const char *s)
{
	static const char b64u[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

	return strlen(s) == 22 && strspn(s, b64u) == 22;
}

/* Reference for util_valid_account_id: [a-z0-9][a-z0-9._-]{0,63}. */
static int ref_account_id(const char *s)
{
	static const char first[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	static const char rest[] = "abcdefghijklmnopqrstuvwxyz0123456789._-";
	size_t n = strlen(s);

	return n >= 1 && n <= 64 && strchr(first, s[0]) != NULL && strspn(s + 1, rest) == n - 1;
}

/* Reference for audit_parse_pin: decimal 1..INT64_MAX without sign or
 * leading zero, ':', 64 lowercase hex. */
static int ref_pin(const char *s, uint64_t *seq)
{
	const char *colon = strchr(s, ':');
	size_t dl;
	uint64_t v = 0;

	if (colon == NULL)
		return -1;
	dl = (size_t)(colon - s);
	if (dl == 0 || dl > 19 || s[0] == '0')
		return -1;
	for (size_t i = 0; i < dl; i++) {
		if (!is_digit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX || strlen(colon + 1) != 64)
		return -1;
	for (size_t i = 1; i <= 64; i++)
		if (!is_lhex((unsigned char)colon[i]))
			return -1;
	*seq = v;
	return 0;
}

static void check_pin(const char *s)
{
	struct audit_verify v;
	uint64_t seq = 0;
	int ra, rb;

	memset(&v, 0, sizeof v);
	ra = audit_parse_pin(s, &v);
	rb = ref_pin(s, &seq);
	fuzz_check(ra == rb);
	if (ra == 0) {
		char hex[65];
		fuzz_check(v.have_pin == 1 && v.pin_seq == seq);
		sodium_bin2hex(hex, sizeof hex, v.pin_hash, 32);
		fuzz_check(strcmp(hex, strchr(s, ':') + 1) == 0);
	} else {
		fuzz_check(v.have_pin == 0 && v.error[0] != '\0');
		fuzz_check(memchr(v.error, '\0', sizeof v.error) != NULL);
	}
}

/* A successfully parsed time formats and parses back to itself; the
 * canonical form "YYYY-MM-DDTHH:MM:SS.mmmZ" formats back byte for byte. */
static void check_time(const char *s)
{
	char out[UTIL_TIME_LEN];
	int64_t ms = -1, back = -1;

	if (util_parse_time(s, &ms) != 0)
		return;
	fuzz_check(ms >= 0);
	if (util_format_time(ms, out) != 0) {
		/* only an offset can push a year-9999 time past the range */
		fuzz_check(ms > TIME_MS_MAX);
		return;
	}
	fuzz_check(strlen(out) == UTIL_TIME_LEN - 1);
	fuzz_check(util_parse_time(out, &back) == 0 && back == ms);
	if (strlen(s) == 24 && s[10] == 'T' && s[19] == '.' && s[23] == 'Z')
		fuzz_check(strcmp(out, s) == 0);
}

/* Any ms in range formats into something that parses back to it. */
static void check_time_value(const uint8_t *data, size_t size)
{
	char out[UTIL_TIME_LEN];
	uint64_t raw = 0;
	int64_t ms, back = -1;

	if (size < 8)
		return;
	for (int i = 0; i < 8; i++)
		raw = raw << 8 | data[i];
	ms = (int64_t)(raw % (uint64_t)(TIME_MS_MAX + 1));
	fuzz_check(util_format_time(ms, out) == 0);
	fuzz_check(util_parse_time(out, &back) == 0 && back == ms);
	fuzz_check(util_format_time(-1, out) != 0 && util_format_time(TIME_MS_MAX + 1, out) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char *s;

	if (!ready) {
		if (sodium_init() < 0)
			fuzz_fail("sodium_init");
		ready = 1;
	}
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	check_time(s);
	check_time_value(data, size);
	check_i64(s, 0, INT64_MAX);
	check_i64(s, 1, 1000);
	check_i64(s, 0, INT64_MAX - 1);
	fuzz_check(util_valid_server_id(s) == ref_server_id(s));
	fuzz_check(util_valid_account_id(s) == ref_account_id(s));
	check_pin(s);

	free(s);
	return 0;
}

/* util.h - small helpers shared by every rsvault program: time, ids,
 * bounded number parsing. No allocation; none of these block. */
#ifndef RSVAULT_UTIL_H
#define RSVAULT_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* RFC 3339 UTC with milliseconds and Z: "2026-11-22T10:00:00.123Z" + NUL. */
#define UTIL_TIME_LEN 25

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t util_now_ms(void);

/* fsync the directory dir, so a file created, renamed or removed in it
 * survives a crash. Returns 0 or -1 (errno set). */
int util_sync_dir(const char *dir);

/* Monotonic milliseconds, for durations and timeouts. */
int64_t util_mono_ms(void);

/* Format ms since the epoch as RFC 3339 UTC with milliseconds.
 * out must hold UTIL_TIME_LEN bytes. Returns 0, or -1 if out of range. */
int util_format_time(int64_t ms, char out[UTIL_TIME_LEN]);

/* Parse an RFC 3339 time "YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM)"
 * into ms since the epoch. Returns 0, or -1 on any malformed input. */
int util_parse_time(const char *s, int64_t *ms);

/* Parse a decimal integer in [min, max] with no sign, spaces or trailing
 * characters (strtonum-like). Returns 0, or -1. */
int util_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Fill out with a fresh random id: `nbytes` random bytes (>= 16) encoded
 * base64url without padding. out must hold UTIL_ID_MAX bytes. */
#define UTIL_ID_BYTES 16
#define UTIL_ID_MAX 64
void util_random_id(char out[UTIL_ID_MAX]);

/* Valid server-made id (tickets, credentials, sessions): exactly 22
 * base64url characters. */
int util_valid_server_id(const char *s);

/* Valid account id: [a-z0-9][a-z0-9._-]{0,63}. */
int util_valid_account_id(const char *s);

/* Value of one hex digit (either case), or -1. */
int util_hexval(int c);

/* The group a client address is counted in by per-address limits: an
 * IPv4 address is its own group ("192.0.2.1"); an IPv6 address counts per
 * /64 ("2001:db8:1:2::/64"); an IPv4-mapped IPv6 address counts as its
 * IPv4 address. out must hold UTIL_IP_GROUP_LEN bytes. Returns 0, or -1
 * (and out = the input, truncated) if ip is not an address. */
#define UTIL_IP_GROUP_LEN 64
int util_ip_group(const char *ip, char out[UTIL_IP_GROUP_LEN]);

/* Big-endian encoders/decoders: util_be64_put/get, util_be32_put/get. */
#include "be.h"

#endif

/* validate.h - checks of request bodies against the SPEC's field rules.
 * Each returns 0 on success, or sets a 400 on r and returns its status. */
#ifndef RSVAULT_VALIDATE_H
#define RSVAULT_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "req.h"

/* The body (NULL allowed: no body) may hold only the named keys. */
int v_only(struct req *r, const char *const *allowed);

/* What a string field may hold (the text argument of v_str). */
#define V_LINE                                                                                     \
	0         /* displayed text, one line: no code point of the Unicode general                \
	             categories Cc, Cf, Zl, Zp (vault/unicode_display.h) */
#define V_RAW 1   /* anything (a secret: the server never displays it) */
#define V_LINES 2 /* displayed text on lines: as V_LINE, but tab, LF and CR-LF pass */

/* A string field: required or optional (*out NULL when absent or null);
 * its length in code points within [min_cp, max_cp] and in bytes at most
 * max_bytes; its characters as text (V_LINE, V_RAW, V_LINES) allows. */
int v_str(struct req *r, const char *name, int required, size_t min_cp, size_t max_cp,
          size_t max_bytes, int text, const char **out);

/* An optional host field: a host name (RFC 1123: dot-separated labels of
 * letters, digits and inner hyphens, 1..63 each, 1..253 in all; not all
 * digits and dots), an IPv4 address, or an IPv6 address; a name or IPv4
 * address may carry ":PORT" (1..65535), an IPv6 address then goes in
 * brackets ("[2001:db8::1]:3389"). */
#define V_HOST_MAX 259 /* 253 for the name, 6 for ":65535" */
int v_host(struct req *r, const char *name, const char **out);

/* An integer field in [min, max]; *out = def when absent. */
int v_int(struct req *r, const char *name, int required, int64_t min, int64_t max, int64_t def,
          int64_t *out);

/* An e-mail address: printable ASCII, one '@', 3..254 bytes; lowercased
 * into out (255 bytes). */
int v_email(struct req *r, const char *name, char out[255]);

/* One of a fixed set of words. */
int v_enum(struct req *r, const char *name, const char *const *words, const char **out);

#endif

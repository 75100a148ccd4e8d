/* brec.h - the compact binary form of a stored record (prefix brec_): a
 * JSON object without the text. The server stores its non-secret records
 * (accounts, licenses, tickets, sessions, links, receipts, webhooks, ...)
 * in this form (vault/records.c); records written as JSON text by older
 * versions are still read there.
 *
 * Layout (all integers big-endian, common/be.h):
 *
 *   record  = BREC_V1 object
 *   value   = 's' u32 len, len bytes of UTF-8 without NUL, 0x00
 *           | 'i' 8 bytes (int64, two's complement)
 *           | 't' | 'f' | 'n'                       (true, false, null)
 *           | 'a' u32 size, u32 count, count values
 *           | 'o' u32 size, u32 count, count members
 *   member  = u8 len, len bytes of UTF-8 without NUL, 0x00, value
 *
 * size is the number of bytes after the size field up to the end of the
 * container, so a reader can step over it. Members are sorted by name
 * (bytewise, a shorter prefix first) and strictly increasing, so no name
 * appears twice and one object has one encoding. Strings and names carry
 * a trailing NUL so a reader can hand them out as C strings where they
 * lie. Containers nest at most BREC_DEPTH_MAX deep (the record itself is
 * depth 1). Reals are not encoded (no record holds one).
 *
 * Everything that reads the form treats it as hostile: every length is
 * checked against the end, the names' order, the NULs, the UTF-8 and the
 * depth are checked, and the whole record must be consumed. brec_view and
 * brec_decode accept exactly the same byte strings. */
#ifndef RSVAULT_BREC_H
#define RSVAULT_BREC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define BREC_V1 0x01 /* a JSON text starts with '{' (or white space) */
#define BREC_DEPTH_MAX 32
#define BREC_NAME_MAX 255

/* Is v[0..vl) meant to be this form (its first byte is BREC_V1)? Says
 * nothing of whether it is valid. */
int brec_is(const void *v, size_t vl);

/* Encode the object obj into *out (libc malloc'd; free()) and *outlen.
 * Returns 0, or -1 for what has no encoding: not an object, a real, a
 * string or name with a NUL, a name longer than BREC_NAME_MAX, nesting
 * deeper than BREC_DEPTH_MAX, a size beyond u32, no memory. */
int brec_encode(const json_t *obj, unsigned char **out, size_t *outlen);

/* The object encoded in v[0..vl) as a new json_t (no text parsing), or
 * NULL when the bytes are not a valid encoding. */
json_t *brec_decode(const void *v, size_t vl);

/* A read-only view of an encoded record: lookups of its top-level
 * members without allocation. It points into the bytes it was made from
 * and is valid only as long as they are (for a record read from the
 * store: until the transaction ends, or the writer's next change to the
 * store, whichever comes first). */
struct brec {
	const unsigned char *p;   /* the first member */
	const unsigned char *end; /* the end of the record */
	uint32_t count;           /* members */
};

/* Make *vw a view of v[0..vl) after checking the whole encoding (as
 * brec_decode does). Returns 0, or -1 (and an empty view) for bytes that
 * are not a valid encoding. */
int brec_view(struct brec *vw, const void *v, size_t vl);

/* Value types, as brec_type answers them. */
enum brec_type {
	BREC_ABSENT = 0,
	BREC_STRING = 's',
	BREC_INT = 'i',
	BREC_TRUE = 't',
	BREC_FALSE = 'f',
	BREC_NULL = 'n',
	BREC_ARRAY = 'a',
	BREC_OBJECT = 'o'
};

/* The type of member name (BREC_ABSENT when there is none). */
enum brec_type brec_type(const struct brec *vw, const char *name);

/* Member name present (of any type, null included)? */
int brec_has(const struct brec *vw, const char *name);

/* The string member name, NUL-terminated where it lies in the record, or
 * NULL (absent or not a string). As jx_str. */
const char *brec_str(const struct brec *vw, const char *name);

/* The integer member name, or dflt (absent or not an integer). As jx_int. */
int64_t brec_int(const struct brec *vw, const char *name, int64_t dflt);

/* 1 for true, 0 for false, dflt for anything else (absent included). */
int brec_bool(const struct brec *vw, const char *name, int dflt);

#endif

/* jsonx.h - small jansson helpers shared by the server, the key tool and
 * the client (prefix jx_). None of them block. */
#ifndef RSVAULT_JSONX_H
#define RSVAULT_JSONX_H

#include <stdint.h>

#include <jansson.h>

/* Accessors: the string at key, or NULL; the integer, or def. */
const char *jx_str(const json_t *o, const char *key);
json_int_t jx_int(const json_t *o, const char *key, json_int_t def);

/* A JSON time value: RFC 3339 string for ms >= 0, null for ms < 0. */
json_t *jx_time(int64_t ms);

/* Compact JSON text of obj in a libc malloc'd, NUL-terminated buffer (the
 * caller frees it with free(), after wiping if it held a secret). jansson's
 * own json_dumps() result would need jansson's (wiping) allocator to free. */
char *jx_text(const json_t *obj);

/* ---- JSON text without a parse tree (the secret read's answer) ----------- */

/* A token of JSON text: a string with its quotes, or the word null. */
struct jx_tok {
	const char *p;
	size_t n;
};

/* The members of a flat JSON object whose values are strings or null, as
 * raw tokens to copy into another JSON text: vals[i] is the value of
 * names[i] ({NULL, 0} when absent). Only what needs no unescaping to be
 * compared is taken: every key one of names, unescaped, at most once;
 * every value null or a string of valid UTF-8 without control bytes and
 * without \u escapes (the other escapes are copied as they are). Returns
 * 0, or -1 for any other text (the caller then parses it in full). */
int jx_flat_members(const char *text, size_t len, const char *const *names, size_t n,
                    struct jx_tok *vals);

/* s as a JSON string token into out, escaped as jansson's json_dumps
 * escapes it (the same bytes); out holds at least 6 * strlen(s) + 2
 * bytes. Returns the length written (no NUL). s must be valid UTF-8 (it
 * is not checked here: callers pass text that jansson parsed or that was
 * validated, ids and fixed-format times); it ends at its first NUL. */
size_t jx_quote(char *out, const char *s);

/* Release a reference held as const (a record shared with a cache, which
 * its holders may read but never change). */
static inline void jx_release(const json_t *j)
{
	json_decref((json_t *)(uintptr_t)j);
}

#endif

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

#endif

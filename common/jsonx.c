/* jsonx.c - small jansson helpers (see jsonx.h). */
#include <stdlib.h>

#include <jansson.h>

#include "jsonx.h"
#include "util.h"
#include "wipe.h"

const char *jx_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

json_int_t jx_int(const json_t *o, const char *key, json_int_t def)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

json_t *jx_time(int64_t ms)
{
	char buf[UTIL_TIME_LEN];

	if (ms < 0 || util_format_time(ms, buf) != 0)
		return json_null();
	return json_string(buf);
}

char *jx_text(const json_t *obj)
{
	/* One pass for the usual small text: json_dumpb() to measure first
	 * would serialize everything twice. */
	size_t cap = 1024, n;
	char *buf = malloc(cap), *big;

	if (buf == NULL)
		return NULL;
	n = json_dumpb(obj, buf, cap - 1, JSON_COMPACT);
	if (n == 0) {
		free(buf);
		return NULL;
	}
	if (n < cap) {
		buf[n] = '\0';
		return buf;
	}
	/* too long: what was written is a prefix of the text, which may hold
	 * a secret: wipe it, then write the whole of it */
	wipe_release(buf, cap - 1);
	if ((big = malloc(n + 1)) == NULL)
		return NULL;
	if (json_dumpb(obj, big, n, JSON_COMPACT) != n) {
		wipe_release(big, n);
		return NULL;
	}
	big[n] = '\0';
	return big;
}

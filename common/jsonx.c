/* jsonx.c - small jansson helpers (see jsonx.h). */
#include <stdlib.h>

#include <jansson.h>

#include "jsonx.h"
#include "util.h"

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
	size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT);
	char *buf;

	if (n == 0 || (buf = malloc(n + 1)) == NULL)
		return NULL;
	if (json_dumpb(obj, buf, n, JSON_COMPACT) != n) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* fuzz_brec.c - the binary record form (common/brec.c) fed hostile bytes.
 *
 * Properties, besides memory safety: brec_view and brec_decode accept
 * exactly the same inputs; an accepted input is canonical (encoding what
 * it decodes to gives the very same bytes); every top-level member of the
 * decoded object reads the same through the view (strings, integers,
 * booleans, presence); a name the object lacks reads absent. */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "brec.h"
#include "fuzz.h"

static void check_members(const struct brec *vw, const json_t *o)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v)
	{
		fuzz_check(brec_has(vw, k));
		switch (json_typeof(v)) {
		case JSON_STRING:
			fuzz_check(brec_type(vw, k) == BREC_STRING);
			fuzz_check(brec_str(vw, k) != NULL &&
			           strcmp(brec_str(vw, k), json_string_value(v)) == 0);
			break;
		case JSON_INTEGER:
			fuzz_check(brec_type(vw, k) == BREC_INT);
			fuzz_check(brec_int(vw, k, 7) == (int64_t)json_integer_value(v));
			fuzz_check(brec_str(vw, k) == NULL);
			break;
		case JSON_TRUE:
			fuzz_check(brec_bool(vw, k, -1) == 1);
			break;
		case JSON_FALSE:
			fuzz_check(brec_bool(vw, k, -1) == 0);
			break;
		case JSON_NULL:
			fuzz_check(brec_type(vw, k) == BREC_NULL && brec_bool(vw, k, -1) == -1);
			break;
		case JSON_ARRAY:
			fuzz_check(brec_type(vw, k) == BREC_ARRAY);
			break;
		case JSON_OBJECT:
			fuzz_check(brec_type(vw, k) == BREC_OBJECT);
			break;
		default:
			fuzz_fail("a real was decoded");
		}
	}
	fuzz_check(json_object_get(o, "\x7f-absent-\x7f") != NULL ||
	           !brec_has(vw, "\x7f-absent-\x7f"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct brec vw;
	json_t *o = brec_decode(data, size);
	int viewed = brec_view(&vw, data, size) == 0;
	unsigned char *enc;
	size_t enclen;

	fuzz_check(viewed == (o != NULL));
	if (o == NULL) {
		/* an empty view answers absent */
		fuzz_check(brec_str(&vw, "id") == NULL && !brec_has(&vw, "id"));
		return 0;
	}
	fuzz_check(json_is_object(o));
	fuzz_check(brec_encode(o, &enc, &enclen) == 0);
	fuzz_check(enclen == size && memcmp(enc, data, size) == 0);
	free(enc);
	check_members(&vw, o);
	json_decref(o);
	return 0;
}

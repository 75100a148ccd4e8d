/* brec.c - the compact binary form of a stored record (brec.h). */
#include "brec.h"

#include <stdlib.h>
#include <string.h>

#include "be.h"

/* ---- encoding ------------------------------------------------------------ */

struct buf {
	unsigned char *p;
	size_t n, cap;
	int bad;
};

static unsigned char *buf_grow(struct buf *b, size_t add)
{
	if (b->bad)
		return NULL;
	if (add > SIZE_MAX / 2 - b->n) {
		b->bad = 1;
		return NULL;
	}
	if (b->n + add > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		unsigned char *np;
		while (nc < b->n + add)
			nc *= 2;
		if ((np = realloc(b->p, nc)) == NULL) {
			b->bad = 1;
			return NULL;
		}
		b->p = np;
		b->cap = nc;
	}
	b->n += add;
	return b->p + b->n - add;
}

static void buf_byte(struct buf *b, unsigned char c)
{
	unsigned char *w = buf_grow(b, 1);

	if (w != NULL)
		*w = c;
}

static void buf_bytes(struct buf *b, const void *s, size_t n)
{
	unsigned char *w = buf_grow(b, n);

	if (w != NULL && n > 0)
		memcpy(w, s, n);
}

struct member {
	const char *name;
	size_t len;
	json_t *val;
};

static int member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->name, y->name, n);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int enc_value(struct buf *b, const json_t *v, int depth);

/* A container's size field at off, patched once its content is written. */
static int patch_size(struct buf *b, size_t off)
{
	size_t size = b->n - off - 4;

	if (b->bad)
		return -1;
	if (size > UINT32_MAX)
		return -1;
	util_be32_put(b->p + off, (uint32_t)size);
	return 0;
}

static int enc_object(struct buf *b, const json_t *o, int depth)
{
	size_t n = json_object_size(o), i = 0, off;
	struct member *m;
	const char *k;
	json_t *v;
	int rc = 0;

	if (depth > BREC_DEPTH_MAX || n > UINT32_MAX)
		return -1;
	if ((m = calloc(n ? n : 1, sizeof *m)) == NULL)
		return -1;
	json_object_foreach((json_t *)o, k, v)
	{
		if (i == n)
			break;
		m[i].name = k;
		m[i].len = strlen(k);
#if JANSSON_VERSION_HEX >= 0x020e00
		/* a key set with json_object_setn may hold a NUL: no form */
		if (json_object_iter_key_len(json_object_key_to_iter(k)) != m[i].len) {
			free(m);
			return -1;
		}
#endif
		m[i].val = v;
		i++;
	}
	if (i != n) {
		free(m);
		return -1;
	}
	qsort(m, n, sizeof *m, member_cmp);
	buf_byte(b, BREC_OBJECT);
	off = b->n;
	buf_grow(b, 4);
	buf_grow(b, 4);
	if (!b->bad)
		util_be32_put(b->p + off + 4, (uint32_t)n);
	for (i = 0; i < n && rc == 0; i++) {
		if (m[i].len > BREC_NAME_MAX || (i > 0 && member_cmp(&m[i - 1], &m[i]) == 0)) {
			rc = -1;
			break;
		}
		buf_byte(b, (unsigned char)m[i].len);
		buf_bytes(b, m[i].name, m[i].len);
		buf_byte(b, 0);
		rc = enc_value(b, m[i].val, depth);
	}
	free(m);
	return rc == 0 ? patch_size(b, off) : -1;
}

static int enc_array(struct buf *b, const json_t *a, int depth)
{
	size_t n = json_array_size(a), off;

	if (depth > BREC_DEPTH_MAX || n > UINT32_MAX)
		return -1;
	buf_byte(b, BREC_ARRAY);
	off = b->n;
	buf_grow(b, 8);
	if (!b->bad)
		util_be32_put(b->p + off + 4, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		if (enc_value(b, json_array_get(a, i), depth) != 0)
			return -1;
	return patch_size(b, off);
}

static int enc_value(struct buf *b, const json_t *v, int depth)
{
	unsigned char w[8];

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return enc_object(b, v, depth + 1);
	case JSON_ARRAY:
		return enc_array(b, v, depth + 1);
	case JSON_STRING: {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		if (n > UINT32_MAX - 1 || memchr(s, '\0', n) != NULL)
			return -1; /* a NUL inside would cut the C string short */
		buf_byte(b, BREC_STRING);
		util_be32_put(w, (uint32_t)n);
		buf_bytes(b, w, 4);
		buf_bytes(b, s, n);
		buf_byte(b, 0);
		return b->bad ? -1 : 0;
	}
	case JSON_INTEGER:
		buf_byte(b, BREC_INT);
		util_be64_put(w, (uint64_t)(int64_t)json_integer_value(v));
		buf_bytes(b, w, 8);
		return b->bad ? -1 : 0;
	case JSON_TRUE:
		buf_byte(b, BREC_TRUE);
		return b->bad ? -1 : 0;
	case JSON_FALSE:
		buf_byte(b, BREC_FALSE);
		return b->bad ? -1 : 0;
	case JSON_NULL:
		buf_byte(b, BREC_NULL);
		return b->bad ? -1 : 0;
	default: /* JSON_REAL: no record holds one */
		return -1;
	}
}

int brec_encode(const json_t *obj, unsigned char **out, size_t *outlen)
{
	struct buf b = {0};

	*out = NULL;
	*outlen = 0;
	if (!json_is_object(obj))
		return -1;
	buf_byte(&b, BREC_V1);
	if (enc_value(&b, obj, 0) != 0 || b.bad) {
		free(b.p);
		return -1;
	}
	*out = b.p;
	*outlen = b.n;
	return 0;
}

/* ---- checking and decoding ----------------------------------------------- */

int brec_is(const void *v, size_t vl)
{
	return vl > 0 && *(const unsigned char *)v == BREC_V1;
}

/* Strict UTF-8 (no overlong forms, no surrogates, at most U+10FFFF), as
 * jansson accepts it, and no NUL byte. Eight ASCII bytes at a time while
 * they last: most of what a record holds is ids, words and times. */
static int utf8_ok(const unsigned char *s, size_t n)
{
	const uint64_t high = 0x8080808080808080ull, low = 0x0101010101010101ull;
	size_t i = 0;

	while (i < n) {
		unsigned char c;
		size_t k;
		uint32_t cp;
		if (n - i >= 8) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			/* no byte with its high bit set, and none zero */
			if ((w & high) == 0 && ((w - low) & ~w & high) == 0) {
				i += 8;
				continue;
			}
		}
		c = s[i];
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i - 1 < k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* A string's or name's bytes s[0..n) (UTF-8, no NUL) followed by its NUL,
 * within end. */
static int text_ok(const unsigned char *s, size_t n, const unsigned char *end)
{
	if ((size_t)(end - s) < n + 1 || s[n] != 0)
		return 0;
	return utf8_ok(s, n);
}

/* Check (and, where out is not NULL, build) the value at *pp, which must
 * end by end; *pp moves past it. depth: of the container holding it. */
static int walk(const unsigned char **pp, const unsigned char *end, int depth, json_t **out);

static int walk_container(const unsigned char **pp, const unsigned char *end, int depth, int is_obj,
                          json_t **out)
{
	const unsigned char *p = *pp, *cend, *prev = NULL;
	size_t prevlen = 0;
	uint32_t size, count;
	json_t *c = NULL;

	if (depth + 1 > BREC_DEPTH_MAX || end - p < 8)
		return -1;
	size = util_be32_get(p);
	if (size < 4 || (size_t)(end - p - 4) < size)
		return -1;
	count = util_be32_get(p + 4);
	cend = p + 4 + size;
	p += 8;
	/* each value takes at least one byte, each member three */
	if (count > (size_t)(cend - p) / (is_obj ? 3 : 1))
		return -1;
	if (out != NULL && (c = is_obj ? json_object() : json_array()) == NULL)
		return -1;
	for (uint32_t i = 0; i < count; i++) {
		json_t *v = NULL, **vp = out != NULL ? &v : NULL;
		const unsigned char *name = NULL;
		size_t nl = 0;
		if (is_obj) {
			if (p >= cend)
				goto bad;
			nl = *p++;
			name = p;
			if (!text_ok(name, nl, cend))
				goto bad;
			if (prev != NULL) {
				size_t m = prevlen < nl ? prevlen : nl;
				int cmp = memcmp(prev, name, m);
				if (cmp > 0 || (cmp == 0 && prevlen >= nl))
					goto bad; /* out of order, or twice */
			}
			prev = name;
			prevlen = nl;
			p += nl + 1;
		}
		if (walk(&p, cend, depth + 1, vp) != 0)
			goto bad;
		if (c != NULL) {
			int rc = is_obj ? json_object_set_new_nocheck(c, (const char *)name, v)
			                : json_array_append_new(c, v);
			if (rc != 0)
				goto bad;
		}
	}
	if (p != cend)
		goto bad;
	*pp = p;
	if (out != NULL)
		*out = c;
	return 0;
bad:
	json_decref(c);
	return -1;
}

static int walk(const unsigned char **pp, const unsigned char *end, int depth, json_t **out)
{
	const unsigned char *p = *pp;
	unsigned char tag;
	json_t *v = NULL;

	if (p >= end)
		return -1;
	tag = *p++;
	switch (tag) {
	case BREC_STRING: {
		uint32_t n;
		if (end - p < 4)
			return -1;
		n = util_be32_get(p);
		p += 4;
		if (n == UINT32_MAX || !text_ok(p, n, end))
			return -1;
		if (out != NULL && (v = json_stringn_nocheck((const char *)p, n)) == NULL)
			return -1;
		p += (size_t)n + 1;
		break;
	}
	case BREC_INT:
		if (end - p < 8)
			return -1;
		if (out != NULL &&
		    (v = json_integer((json_int_t)(int64_t)util_be64_get(p))) == NULL)
			return -1;
		p += 8;
		break;
	case BREC_TRUE:
	case BREC_FALSE:
	case BREC_NULL:
		if (out != NULL && (v = tag == BREC_TRUE    ? json_true()
		                        : tag == BREC_FALSE ? json_false()
		                                            : json_null()) == NULL)
			return -1;
		break;
	case BREC_ARRAY:
	case BREC_OBJECT:
		if (walk_container(&p, end, depth, tag == BREC_OBJECT, out != NULL ? &v : NULL) !=
		    0)
			return -1;
		break;
	default:
		return -1;
	}
	*pp = p;
	if (out != NULL)
		*out = v;
	return 0;
}

/* The record v[0..vl): the version byte, one object, nothing after it. */
static int walk_record(const void *v, size_t vl, json_t **out)
{
	const unsigned char *p = v, *end = p + vl;

	if (v == NULL || vl < 2 || p[0] != BREC_V1 || p[1] != BREC_OBJECT)
		return -1;
	p++;
	if (walk(&p, end, 0, out) != 0)
		return -1;
	if (p != end) {
		if (out != NULL) {
			json_decref(*out);
			*out = NULL;
		}
		return -1;
	}
	return 0;
}

json_t *brec_decode(const void *v, size_t vl)
{
	json_t *o = NULL;

	return walk_record(v, vl, &o) == 0 ? o : NULL;
}

/* ---- the view ------------------------------------------------------------ */

int brec_view(struct brec *vw, const void *v, size_t vl)
{
	const unsigned char *p = v;

	vw->p = vw->end = NULL;
	vw->count = 0;
	if (walk_record(v, vl, NULL) != 0)
		return -1;
	/* BREC_V1, 'o', size, count, members */
	vw->count = util_be32_get(p + 6);
	vw->p = p + 10;
	vw->end = p + vl;
	return 0;
}

/* The bytes after a value starting at p (its tag), or NULL. The view was
 * checked whole; the bounds are checked again all the same. */
static const unsigned char *skip(const unsigned char *p, const unsigned char *end)
{
	if (p >= end)
		return NULL;
	switch (*p) {
	case BREC_STRING: {
		uint32_t n;
		if (end - p < 5)
			return NULL;
		n = util_be32_get(p + 1);
		if ((size_t)(end - p - 5) < (size_t)n + 1)
			return NULL;
		return p + 5 + n + 1;
	}
	case BREC_INT:
		return end - p < 9 ? NULL : p + 9;
	case BREC_TRUE:
	case BREC_FALSE:
	case BREC_NULL:
		return p + 1;
	case BREC_ARRAY:
	case BREC_OBJECT: {
		uint32_t size;
		if (end - p < 5)
			return NULL;
		size = util_be32_get(p + 1);
		if ((size_t)(end - p - 5) < size)
			return NULL;
		return p + 5 + size;
	}
	default:
		return NULL;
	}
}

/* The value (its tag) of member name, or NULL. Members are sorted, so
 * the walk stops at the first name past it. */
static const unsigned char *find(const struct brec *vw, const char *name)
{
	const unsigned char *p = vw->p, *end = vw->end;
	size_t want = strlen(name);

	if (p == NULL)
		return NULL;
	for (uint32_t i = 0; i < vw->count; i++) {
		size_t nl, m;
		int cmp;
		if (p >= end)
			return NULL;
		nl = *p;
		if ((size_t)(end - p - 1) < nl + 2)
			return NULL;
		m = nl < want ? nl : want;
		cmp = memcmp(p + 1, name, m);
		if (cmp == 0 && nl == want)
			return p + 1 + nl + 1;
		if (cmp > 0 || (cmp == 0 && nl > want))
			return NULL;
		if ((p = skip(p + 1 + nl + 1, end)) == NULL)
			return NULL;
	}
	return NULL;
}

enum brec_type brec_type(const struct brec *vw, const char *name)
{
	const unsigned char *v = find(vw, name);

	return v != NULL ? (enum brec_type) * v : BREC_ABSENT;
}

int brec_has(const struct brec *vw, const char *name)
{
	return find(vw, name) != NULL;
}

const char *brec_str(const struct brec *vw, const char *name)
{
	const unsigned char *v = find(vw, name);

	return v != NULL && *v == BREC_STRING ? (const char *)v + 5 : NULL;
}

int64_t brec_int(const struct brec *vw, const char *name, int64_t dflt)
{
	const unsigned char *v = find(vw, name);

	return v != NULL && *v == BREC_INT ? (int64_t)util_be64_get(v + 1) : dflt;
}

int brec_bool(const struct brec *vw, const char *name, int dflt)
{
	const unsigned char *v = find(vw, name);

	if (v == NULL)
		return dflt;
	return *v == BREC_TRUE ? 1 : *v == BREC_FALSE ? 0 : dflt;
}

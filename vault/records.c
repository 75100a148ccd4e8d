/* records.c - records (binary, or the JSON of older versions) and index keys. */
#include "records.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "be.h"
#include "log.h"
#include "util.h"

#define IDX_KEY_MAX 511

json_t *rec_decode(const void *v, size_t vl)
{
	json_t *o;

	if (brec_is(v, vl))
		return brec_decode(v, vl);
	/* the JSON text of older versions */
	if ((o = json_loadb(v, vl, JSON_REJECT_DUPLICATES, NULL)) != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static json_t *parse_record(enum store_db db, const void *v, size_t vl)
{
	json_t *o = rec_decode(v, vl);

	if (o == NULL)
		log_msg("store: record in table %d does not decode", (int)db);
	return o;
}

int rec_get(struct store_txn *t, enum store_db db, const char *key, json_t **out)
{
	const void *v;
	size_t vl;
	int rc;

	*out = NULL;
	if ((rc = store_get(t, db, key, strlen(key), &v, &vl)) != STORE_OK)
		return rc;
	if ((*out = parse_record(db, v, vl)) == NULL)
		return STORE_ERROR;
	return STORE_OK;
}

/* Decoded records, per thread: the bytes a record had when it was decoded
 * and what they decoded to. A lookup compares the bytes read in the
 * caller's transaction with the kept ones byte for byte, so it never
 * answers for a record that changed (in any transaction, committed or
 * not): decoding is a function of the bytes. Small and direct-mapped:
 * the writer reads the same few tickets again and again (r->ticket,
 * notify.c's payloads); the gauntlet's account, session and license
 * reads are views (rec_view_get) and come here only for a record still
 * in the JSON of an older version. */
#define SHARED_SLOTS 64
#define SHARED_KEY_MAX 128
#define SHARED_VAL_MAX 4096

struct shared_slot {
	int db;
	char key[SHARED_KEY_MAX];
	unsigned char *raw;
	size_t rawlen, rawcap;
	json_t *obj;
};

static pthread_key_t shared_key;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;
static int shared_ok;

static void shared_free(void *p)
{
	struct shared_slot *sl = p;

	for (size_t i = 0; i < SHARED_SLOTS; i++) {
		json_decref(sl[i].obj);
		free(sl[i].raw);
	}
	free(sl);
}

static void shared_init(void)
{
	shared_ok = pthread_key_create(&shared_key, shared_free) == 0;
}

static struct shared_slot *shared_slots(void)
{
	struct shared_slot *sl;

	if (pthread_once(&shared_once, shared_init) != 0 || !shared_ok)
		return NULL;
	if ((sl = pthread_getspecific(shared_key)) != NULL)
		return sl;
	if ((sl = calloc(SHARED_SLOTS, sizeof *sl)) == NULL)
		return NULL;
	if (pthread_setspecific(shared_key, sl) != 0) {
		free(sl);
		return NULL;
	}
	return sl;
}

int rec_get_shared(struct store_txn *t, enum store_db db, const char *key, const json_t **out)
{
	struct shared_slot *sl, *e;
	size_t kl = strlen(key), h = 2166136261u;
	const void *v;
	size_t vl;
	json_t *o;
	int rc;

	*out = NULL;
	if ((rc = store_get(t, db, key, kl, &v, &vl)) != STORE_OK)
		return rc;
	if (kl >= SHARED_KEY_MAX || vl > SHARED_VAL_MAX || (sl = shared_slots()) == NULL) {
		*out = parse_record(db, v, vl);
		return *out != NULL ? STORE_OK : STORE_ERROR;
	}
	for (size_t i = 0; i < kl; i++)
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	e = &sl[(h ^ (size_t)db) % SHARED_SLOTS];
	if (e->obj != NULL && e->db == (int)db && e->rawlen == vl && strcmp(e->key, key) == 0 &&
	    memcmp(e->raw, v, vl) == 0) {
#ifdef RSVAULT_TESTING
		/* the tripwire for a holder that changed a shared record (casting
		 * its const away): the kept object must still be what the bytes
		 * parse to */
		json_t *fresh = parse_record(db, v, vl);
		if (fresh == NULL || !json_equal(fresh, e->obj)) {
			log_msg("store: a shared record of table %d was changed by a holder",
			        (int)db);
			abort();
		}
		json_decref(fresh);
#endif
		*out = json_incref(e->obj);
		return STORE_OK;
	}
	if ((o = parse_record(db, v, vl)) == NULL)
		return STORE_ERROR;
	json_decref(e->obj);
	e->obj = NULL;
	if (e->rawcap < vl || e->raw == NULL) {
		free(e->raw);
		e->rawlen = e->rawcap = 0;
		if ((e->raw = malloc(vl ? vl : 1)) == NULL) {
			*out = o;
			return STORE_OK;
		}
		e->rawcap = vl;
	}
	memcpy(e->raw, v, vl);
	e->rawlen = vl;
	e->db = (int)db;
	memcpy(e->key, key, kl + 1);
	e->obj = json_incref(o);
	*out = o;
	return STORE_OK;
}

int rec_put(struct store_txn *t, enum store_db db, const char *key, const json_t *obj,
            unsigned flags)
{
	unsigned char *b;
	size_t bl;
	int rc;

	if (brec_encode(obj, &b, &bl) != 0) {
		log_msg("store: a record for table %d has no binary form", (int)db);
		return STORE_ERROR;
	}
	rc = store_put(t, db, key, strlen(key), b, bl, flags);
	free(b);
	return rc;
}

int rec_view_get(struct store_txn *t, enum store_db db, const char *key, struct rec_view *vw)
{
	const void *v;
	size_t vl;
	int rc;

	memset(vw, 0, sizeof *vw);
	if ((rc = store_get(t, db, key, strlen(key), &v, &vl)) != STORE_OK)
		return rc;
	if (brec_is(v, vl)) {
		if (brec_view(&vw->b, v, vl) == 0)
			return STORE_OK;
		log_msg("store: record in table %d does not decode", (int)db);
		return STORE_ERROR;
	}
	/* an older JSON text: its parse, through the cache */
	return rec_get_shared(t, db, key, &vw->j);
}

int rec_view_of(const void *v, size_t vl, struct rec_view *vw)
{
	memset(vw, 0, sizeof *vw);
	if (brec_is(v, vl))
		return brec_view(&vw->b, v, vl);
	return (vw->j = rec_decode(v, vl)) != NULL ? 0 : -1;
}

void rec_view_done(struct rec_view *vw)
{
	jx_release(vw->j);
	memset(vw, 0, sizeof *vw);
}

const char *rv_str(const struct rec_view *vw, const char *name)
{
	return vw->j != NULL ? jx_str(vw->j, name) : brec_str(&vw->b, name);
}

int64_t rv_int(const struct rec_view *vw, const char *name, int64_t dflt)
{
	return vw->j != NULL ? (int64_t)jx_int(vw->j, name, dflt) : brec_int(&vw->b, name, dflt);
}

int rv_true(const struct rec_view *vw, const char *name)
{
	return vw->j != NULL ? json_is_true(json_object_get(vw->j, name))
	                     : brec_bool(&vw->b, name, 0) == 1;
}

int rv_has(const struct rec_view *vw, const char *name)
{
	return vw->j != NULL ? json_object_get(vw->j, name) != NULL : brec_has(&vw->b, name);
}

static size_t idx_key(unsigned char *k, const char *a, const void *b, size_t blen)
{
	size_t al = strlen(a);

	if (al + 1 + blen > IDX_KEY_MAX)
		return 0;
	memcpy(k, a, al);
	k[al] = '\0';
	if (blen)
		memcpy(k + al + 1, b, blen);
	return al + 1 + blen;
}

int idx_put(struct store_txn *t, enum store_db db, const char *a, const void *b, size_t blen)
{
	unsigned char k[IDX_KEY_MAX];
	size_t kl = idx_key(k, a, b, blen);

	if (kl == 0)
		return STORE_ERROR;
	return store_put(t, db, k, kl, "", 0, 0);
}

int idx_del(struct store_txn *t, enum store_db db, const char *a, const void *b, size_t blen)
{
	unsigned char k[IDX_KEY_MAX];
	size_t kl = idx_key(k, a, b, blen);

	if (kl == 0)
		return STORE_NOTFOUND;
	return store_del(t, db, k, kl);
}

int idx_each(struct store_txn *t, enum store_db db, const char *a, idx_fn fn, void *arg)
{
	unsigned char pre[IDX_KEY_MAX];
	size_t pl = idx_key(pre, a, NULL, 0);
	struct store_cursor *c;
	const void *k;
	size_t kl;
	int rc;

	if (pl == 0)
		return STORE_OK;
	if ((rc = store_cursor_open(t, db, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, pre, pl, &k, &kl, NULL, NULL);
	while (rc == STORE_OK) {
		if (kl < pl || memcmp(k, pre, pl) != 0)
			break;
		if ((rc = fn((const unsigned char *)k + pl, kl - pl, arg)) != 0)
			goto out;
		rc = store_cursor_next(c, &k, &kl, NULL, NULL);
	}
	rc = (rc == STORE_OK || rc == STORE_NOTFOUND) ? STORE_OK : rc;
out:
	store_cursor_close(c);
	return rc;
}

void cred_meta_init(struct cred_meta *m)
{
	m->read_count = 0;
	m->last_read_at = -1;
	m->rotate = -1;
	m->rotate_since = -1;
	m->rotated_at = -1;
}

#define CRED_META_V1 1

/* The JSON note of older versions: absent or mistyped fields read as
 * their defaults, as those versions read them. */
static int cred_meta_json(const void *v, size_t vl, struct cred_meta *m)
{
	json_t *o = json_loadb(v, vl, JSON_REJECT_DUPLICATES, NULL), *rot;

	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	m->read_count = jx_int(o, "read_count", 0);
	m->last_read_at = jx_int(o, "last_read_at", -1);
	rot = json_object_get(o, "rotate");
	m->rotate = json_is_boolean(rot) ? json_is_true(rot) : -1;
	m->rotate_since = jx_int(o, "rotate_since", -1);
	m->rotated_at = jx_int(o, "rotated_at", -1);
	json_decref(o);
	if (m->read_count < 0)
		m->read_count = 0;
	/* as the binary form: a time is a time or absent (-1) */
	if (m->last_read_at < -1)
		m->last_read_at = -1;
	if (m->rotate_since < -1)
		m->rotate_since = -1;
	if (m->rotated_at < -1)
		m->rotated_at = -1;
	return 0;
}

int cred_meta_decode(const void *v, size_t vl, struct cred_meta *m)
{
	const unsigned char *b = v;

	cred_meta_init(m);
	if (vl > 0 && b[0] == '{')
		return cred_meta_json(v, vl, m);
	if (vl != CRED_META_LEN || b[0] != CRED_META_V1 || b[1] > 2)
		return -1;
	m->rotate = (int)b[1] - 1;
	m->read_count = (int64_t)util_be64_get(b + 2);
	m->last_read_at = (int64_t)util_be64_get(b + 10);
	m->rotate_since = (int64_t)util_be64_get(b + 18);
	m->rotated_at = (int64_t)util_be64_get(b + 26);
	if (m->read_count < 0 || m->last_read_at < -1 || m->rotate_since < -1 ||
	    m->rotated_at < -1) {
		cred_meta_init(m);
		return -1;
	}
	return 0;
}

void cred_meta_encode(const struct cred_meta *m, unsigned char out[CRED_META_LEN])
{
	out[0] = CRED_META_V1;
	out[1] = (unsigned char)(m->rotate < 0 ? 0 : m->rotate ? 2 : 1);
	util_be64_put(out + 2, (uint64_t)m->read_count);
	util_be64_put(out + 10, (uint64_t)(m->last_read_at < 0 ? -1 : m->last_read_at));
	util_be64_put(out + 18, (uint64_t)(m->rotate_since < 0 ? -1 : m->rotate_since));
	util_be64_put(out + 26, (uint64_t)(m->rotated_at < 0 ? -1 : m->rotated_at));
}

int streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

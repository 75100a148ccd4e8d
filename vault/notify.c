/* notify.c - notifications from audit events; the rotation prompt. */
#include "notify.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "authz.h"
#include "be.h"
#include "creds.h"
#include "crypto.h"
#include "jsonx.h"
#include "records.h"
#include "sessions.h"
#include "util.h"
#include "webhooks.h"

#define ID_MAX 64
#define KEY_MAX 200

enum kind {
	K_NONE,
	K_UPLOAD,
	K_READ,
	K_DESTROY,
	K_OPEN,
	K_APPROVE,
	K_END,
	K_CLOSE,
};

static const struct {
	const char *action;
	enum kind kind;
} actions[] = {
    {"credential.create", K_UPLOAD},  {"link.upload", K_UPLOAD},
    {"credential.read", K_READ},      {"credential.delete", K_DESTROY},
    {"credential.expire", K_DESTROY}, {"receipt.destroy", K_DESTROY},
    {"session.open", K_OPEN},         {"session.approve", K_APPROVE},
    {"session.deny", K_END},          {"session.end", K_END},
    {"session.expire", K_END},        {"ticket.close", K_CLOSE},
    {"receipt.approve", K_APPROVE},   {"receipt.deny", K_END},
};

struct nctx {
	struct store_txn *t;
	const struct audit_event *ev;
	int64_t now;
	int hooks;             /* any webhook: else no payload is built */
	const json_t *ticket;  /* the event's ticket, or NULL (read only: shared) */
	const json_t *session; /* the event's session, or NULL (read only: shared) */
};

/* ---- the credential's own record: reads and the rotation mark --------------- */

static size_t meta_key(unsigned char k[KEY_MAX], const char *a, const char *b)
{
	size_t al = strlen(a), bl = strlen(b);

	if (al + 1 + bl > KEY_MAX)
		return 0;
	memcpy(k, a, al + 1);
	memcpy(k + al + 1, b, bl);
	return al + 1 + bl;
}

/* The JSON record of (tid, cid) into *m (new reference); an empty one when
 * there is none. Only the ticket's list of marks ("tid\0") is JSON; a
 * credential's note is a struct cred_meta (meta_get, meta_put). */
static int meta_load(struct store_txn *t, const char *tid, const char *cid, json_t **m)
{
	unsigned char k[KEY_MAX];
	size_t kl = meta_key(k, tid, cid);
	const void *v;
	size_t vl;
	int rc;

	*m = NULL;
	if (kl == 0)
		return STORE_ERROR;
	rc = store_get(t, DB_CRED_META, k, kl, &v, &vl);
	if (rc == STORE_OK)
		*m = json_loadb(v, vl, JSON_REJECT_DUPLICATES, NULL);
	else if (rc == STORE_NOTFOUND)
		*m = json_object();
	else
		return rc;
	return *m != NULL ? STORE_OK : STORE_ERROR;
}

static int meta_store(struct store_txn *t, const char *tid, const char *cid, const json_t *m)
{
	unsigned char k[KEY_MAX];
	size_t kl = meta_key(k, tid, cid);
	char *s;
	int rc;

	if (kl == 0 || (s = jx_text(m)) == NULL)
		return STORE_ERROR;
	rc = store_put(t, DB_CRED_META, k, kl, s, strlen(s), 0);
	free(s);
	return rc;
}

/* A credential's note (records.h: binary, or JSON from older versions);
 * no reads and no mark when there is none. */
static int meta_get(struct store_txn *t, const char *tid, const char *cid, struct cred_meta *m)
{
	unsigned char k[KEY_MAX];
	size_t kl = meta_key(k, tid, cid);
	const void *v;
	size_t vl;
	int rc;

	cred_meta_init(m);
	if (kl == 0)
		return STORE_ERROR;
	rc = store_get(t, DB_CRED_META, k, kl, &v, &vl);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	return cred_meta_decode(v, vl, m) == 0 ? STORE_OK : STORE_ERROR;
}

static int meta_put(struct store_txn *t, const char *tid, const char *cid,
                    const struct cred_meta *m)
{
	unsigned char k[KEY_MAX], b[CRED_META_LEN];
	size_t kl = meta_key(k, tid, cid);

	if (kl == 0)
		return STORE_ERROR;
	cred_meta_encode(m, b);
	return store_put(t, DB_CRED_META, k, kl, b, sizeof b, 0);
}

/* The note "tid\0" of DB_CRED_META (sorting before the ticket's records,
 * never one of them) lists the ticket's credentials marked rotate, as a
 * JSON array of ids, so that an upload looks at those only and never walks
 * every credential of the ticket. Absent: none is marked. */
static int marks_load(struct store_txn *t, const char *tid, json_t **arr)
{
	int rc = meta_load(t, tid, "", arr);

	if (rc == STORE_OK && !json_is_array(*arr)) {
		json_decref(*arr);
		*arr = json_array();
	}
	return rc == STORE_OK && *arr == NULL ? STORE_ERROR : rc;
}

/* Add cid to the ticket's marked list (on) or take it out. */
static int marks_set(struct store_txn *t, const char *tid, const char *cid, int on)
{
	unsigned char k[KEY_MAX];
	size_t kl = meta_key(k, tid, ""), i, at = SIZE_MAX;
	json_t *arr, *id;
	int rc;

	if (kl == 0)
		return STORE_ERROR;
	if ((rc = marks_load(t, tid, &arr)) != STORE_OK)
		return rc;
	json_array_foreach(arr, i, id) if (streq(json_string_value(id), cid)) at = i;
	if (on && at == SIZE_MAX)
		json_array_append_new(arr, json_string(cid));
	else if (!on && at != SIZE_MAX)
		json_array_remove(arr, at);
	else {
		json_decref(arr);
		return STORE_OK;
	}
	if (json_array_size(arr) == 0) {
		rc = store_del(t, DB_CRED_META, k, kl);
		rc = rc == STORE_NOTFOUND ? STORE_OK : rc;
	} else {
		rc = meta_store(t, tid, "", arr);
	}
	json_decref(arr);
	return rc;
}

static int meta_drop(struct store_txn *t, const char *tid, const char *cid)
{
	unsigned char k[KEY_MAX];
	size_t kl = meta_key(k, tid, cid);
	int rc;

	if (kl == 0)
		return STORE_OK;
	rc = store_del(t, DB_CRED_META, k, kl);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	return rc != STORE_OK ? rc : marks_set(t, tid, cid, 0);
}

static int set_rotate(struct store_txn *t, const char *tid, const char *cid, int on, int64_t now)
{
	struct cred_meta m;
	int rc;

	if ((rc = meta_get(t, tid, cid, &m)) != STORE_OK)
		return rc;
	m.rotate = on != 0;
	if (on)
		m.rotate_since = now;
	else
		m.rotated_at = now;
	rc = meta_put(t, tid, cid, &m);
	return rc != STORE_OK ? rc : marks_set(t, tid, cid, on);
}

int notify_cred_fields(struct store_txn *t, const char *tid, const char *cid, json_t *view)
{
	struct cred_meta m;
	int rc;

	if ((rc = meta_get(t, tid, cid, &m)) != STORE_OK)
		return rc;
	json_object_set_new(view, "read_count", json_integer((json_int_t)m.read_count));
	json_object_set_new(view, "last_read_at", jx_time(m.last_read_at));
	json_object_set_new(view, "rotate", json_boolean(m.rotate == 1));
	return STORE_OK;
}

int notify_cred_rotate(struct store_txn *t, const char *tid, const char *cid, int *rotate)
{
	struct cred_meta m;
	int rc;

	*rotate = 0;
	if ((rc = meta_get(t, tid, cid, &m)) != STORE_OK)
		return rc;
	*rotate = m.rotate == 1;
	return STORE_OK;
}

/* Up to max second parts of the keys "a\0b" of db, in key order, into a
 * malloc'd array (*out, *n). */
static int keys_under(struct store_txn *t, enum store_db db, const char *a, size_t max,
                      char (**out)[ID_MAX], size_t *n)
{
	unsigned char pre[KEY_MAX];
	size_t pl = strlen(a) + 1;
	struct store_cursor *c;
	const void *k;
	size_t kl, cap = 16;
	char(*ids)[ID_MAX];
	int rc;

	*out = NULL;
	*n = 0;
	if (pl > sizeof pre)
		return STORE_OK;
	memcpy(pre, a, pl);
	if ((ids = malloc(cap * sizeof *ids)) == NULL)
		return STORE_ERROR;
	if ((rc = store_cursor_open(t, db, &c)) != STORE_OK) {
		free(ids);
		return rc;
	}
	rc = store_cursor_seek(c, pre, pl, &k, &kl, NULL, NULL);
	while (rc == STORE_OK && kl >= pl && memcmp(k, pre, pl) == 0 && *n < max) {
		if (kl > pl && kl - pl < ID_MAX) { /* "a\0" alone is a note, not a key */
			if (*n == cap) {
				char(*more)[ID_MAX] = realloc(ids, 2 * cap * sizeof *ids);
				if (more == NULL) {
					rc = STORE_ERROR;
					break;
				}
				ids = more;
				cap *= 2;
			}
			memcpy(ids[*n], (const char *)k + pl, kl - pl);
			ids[*n][kl - pl] = '\0';
			(*n)++;
		}
		rc = store_cursor_next(c, &k, &kl, NULL, NULL);
	}
	store_cursor_close(c);
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		free(ids);
		*n = 0;
		return rc;
	}
	*out = ids;
	return STORE_OK;
}

/* A new credential cid with the label of a marked one clears that mark
 * (the marked ones stay). Labels live only inside the sealed records, so
 * this opens them: only the marked ones (the ticket's list of them), and
 * nothing at all while none is marked. */
static int clear_same_label(struct store_txn *t, const char *tid, const char *cid, int64_t now)
{
	json_t *marked, *mine = NULL, *id;
	size_t i;
	int rc;

	if ((rc = marks_load(t, tid, &marked)) != STORE_OK)
		return rc;
	json_array_foreach(marked, i, id)
	{
		const char *other_id = json_string_value(id);
		json_t *other = NULL;
		if (other_id == NULL || strcmp(other_id, cid) == 0)
			continue;
		if (mine == NULL && (rc = cred_view(t, tid, cid, now, &mine)) != STORE_OK)
			break;
		rc = cred_view(t, tid, other_id, now, &other);
		if (rc == STORE_NOTFOUND) {
			rc = STORE_OK;
			continue;
		}
		if (rc != STORE_OK)
			break;
		if (streq(jx_str(other, "label"), jx_str(mine, "label")) &&
		    (rc = set_rotate(t, tid, other_id, 0, now)) != STORE_OK) {
			json_decref(other);
			break;
		}
		json_decref(other);
	}
	if (rc == CRED_TAMPERED)
		rc = STORE_OK; /* logged by cred_view; the marks stay */
	json_decref(mine);
	json_decref(marked);
	return rc;
}

/* Does the upload of the event speak for the ticket's owner, so that it
 * may clear marks by label? The owner's own upload does; an upload
 * through a link only when the owner made the link: whoever made it may
 * have used it, and the agent who read a credential must not clear its
 * mark with a look-alike (docs/policy.md §5). 1 yes, 0 no, or a
 * store_err. */
static int upload_by_owner(const struct nctx *c)
{
	const struct audit_event *ev = c->ev;
	const json_t *tk = NULL;
	int rc;

	if (!streq(ev->action, "link.upload"))
		return 1; /* credential.create: the owner's token (route table) */
	if (ev->actor == NULL || strncmp(ev->actor, "link:", 5) != 0)
		return 0;
	if ((rc = rec_get_shared(c->t, DB_TICKETS, ev->ticket, &tk)) != STORE_OK)
		return rc == STORE_NOTFOUND ? 0 : rc;
	rc = link_speaks_for(c->t, ev->actor + 5, jx_str(tk, "owner"));
	jx_release(tk);
	return rc;
}

/* ---- payloads ------------------------------------------------------------------ */

static json_t *str_or_null(const char *s)
{
	return s != NULL && *s ? json_string(s) : json_null();
}

/* One notification of the event: its payload into the outbox of every
 * webhook that takes type. data is stolen. */
static int emit(struct nctx *c, const char *type, int index, const char *cred, json_t *data)
{
	const struct audit_event *ev = c->ev;
	const char *agent =
	    c->session != NULL ? jx_str(c->session, "agent") : jx_str(c->ticket, "agent");
	json_t *p, *ref = c->ticket != NULL ? json_object_get(c->ticket, "ref") : NULL;
	char id[ID_MAX], *body;
	int rc;

	if (!c->hooks) {
		json_decref(data);
		return STORE_OK;
	}
	if (data == NULL && (data = json_object()) == NULL)
		return STORE_ERROR;
	crypto_new_id(id);
	p = json_object();
	if (p == NULL) {
		json_decref(data);
		return STORE_ERROR;
	}
	json_object_set_new(p, "id", json_string(id));
	json_object_set_new(p, "type", json_string(type));
	json_object_set_new(p, "time", json_string(ev->time));
	json_object_set_new(p, "ticket", str_or_null(ev->ticket));
	json_object_set_new(p, "ref", json_is_string(ref) ? json_copy(ref) : json_null());
	json_object_set_new(p, "owner", str_or_null(jx_str(c->ticket, "owner")));
	json_object_set_new(p, "credential", str_or_null(cred));
	json_object_set_new(p, "session", str_or_null(ev->session));
	json_object_set_new(p, "agent", str_or_null(agent));
	json_object_set_new(p, "audit_seq", json_integer((json_int_t)ev->seq));
	json_object_set_new(p, "index", json_integer(index));
	json_object_set_new(p, "data", data);
	body = jx_text(p);
	json_decref(p);
	if (body == NULL)
		return STORE_ERROR;
	rc = webhook_enqueue(c->t, type, body, c->now);
	free(body);
	return rc;
}

static json_t *data_action(const char *action)
{
	return json_pack("{s:s}", "action", action);
}

/* The session's state as the approval rules keep it ("state"), or, for a
 * record without one, as the times say. */
static const char *sess_state(const json_t *s, int64_t now)
{
	const char *st = jx_str(s, "state");

	return st != NULL ? st : session_state(s, now);
}

/* ---- the rotation prompt ---------------------------------------------------- */

static int note_read(struct nctx *c)
{
	const char *tid = c->ev->ticket, *cid = c->ev->credential, *sid = c->ev->session;
	unsigned char k[KEY_MAX];
	size_t kl;
	struct cred_meta m;
	int rc;

	if (tid == NULL || cid == NULL)
		return STORE_OK;
	if ((rc = meta_get(c->t, tid, cid, &m)) != STORE_OK)
		return rc;
	if (m.read_count < INT64_MAX)
		m.read_count++;
	m.last_read_at = c->now;
	rc = meta_put(c->t, tid, cid, &m);
	if (rc != STORE_OK || sid == NULL || (kl = meta_key(k, sid, cid)) == 0)
		return rc;
	return store_put(c->t, DB_SESSION_READS, k, kl, "", 0, 0);
}

/* The session ended: each credential read in it, one rotation.recommended
 * (index 1..N), and the mark on each that still exists. */
static int session_rotation(struct nctx *c)
{
	const char *sid = c->ev->session, *tid = jx_str(c->session, "ticket");
	char(*ids)[ID_MAX] = NULL;
	size_t n;
	int rc;

	if (sid == NULL || tid == NULL)
		return STORE_OK;
	if ((rc = keys_under(c->t, DB_SESSION_READS, sid, SIZE_MAX, &ids, &n)) != STORE_OK)
		return rc;
	for (size_t i = 0; i < n && rc == STORE_OK; i++) {
		unsigned char k[KEY_MAX];
		size_t kl = meta_key(k, sid, ids[i]);
		int alive;
		if (kl == 0 || (rc = store_del(c->t, DB_SESSION_READS, k, kl)) != STORE_OK)
			break;
		alive = creds_alive(c->t, tid, ids[i], c->now);
		if (alive != STORE_OK && alive != STORE_NOTFOUND) {
			rc = alive;
			break;
		}
		if (alive == STORE_OK &&
		    (rc = set_rotate(c->t, tid, ids[i], 1, c->now)) != STORE_OK)
			break;
		rc = emit(c, "rotation.recommended", (int)i + 1, ids[i],
		          json_pack("{s:b}", "exists", alive == STORE_OK));
	}
	free(ids);
	return rc;
}

/* The ticket closed: its credentials were shredded. One
 * credential.destroyed (index 1..N) for each credential record left. */
static int close_destroyed(struct nctx *c)
{
	const char *tid = c->ev->ticket;
	char(*ids)[ID_MAX] = NULL;
	size_t n;
	int rc, idx = 0;

	if ((rc = keys_under(c->t, DB_CRED_META, tid, SIZE_MAX, &ids, &n)) != STORE_OK)
		return rc;
	for (size_t i = 0; i < n && rc == STORE_OK; i++) {
		int alive = creds_alive(c->t, tid, ids[i], c->now);
		if (alive == STORE_OK)
			continue;
		if (alive != STORE_NOTFOUND) {
			rc = alive;
			break;
		}
		if ((rc = meta_drop(c->t, tid, ids[i])) == STORE_OK)
			rc = emit(c, "credential.destroyed", ++idx, ids[i],
			          data_action("ticket.close"));
	}
	free(ids);
	return rc;
}

/* Is this the first end of the event's session? 1 (and noted), 0 (it
 * was notified before: ending an ended session again notifies nobody),
 * or a store_err. The note is the key "sid\0" of DB_SESSION_READS, which
 * sorts before the session's reads and is never one of them. */
static int first_end(struct nctx *c)
{
	unsigned char k[KEY_MAX];
	size_t kl = strlen(c->ev->session) + 1;
	const void *v;
	size_t vl;
	int rc;

	if (kl > sizeof k)
		return 0;
	memcpy(k, c->ev->session, kl);
	rc = store_get(c->t, DB_SESSION_READS, k, kl, &v, &vl);
	if (rc == STORE_OK)
		return 0;
	if (rc != STORE_NOTFOUND)
		return rc;
	rc = store_put(c->t, DB_SESSION_READS, k, kl, "ended", 5, 0);
	return rc == STORE_OK ? 1 : rc;
}

/* ---- the event ------------------------------------------------------------------ */

static enum kind kind_of(const char *action)
{
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (streq(actions[i].action, action))
			return actions[i].kind;
	return K_NONE;
}

static int dispatch(struct nctx *c, enum kind k)
{
	const struct audit_event *ev = c->ev;
	struct cred_meta m;
	const char *st;
	json_t *d;
	int rc;

	switch (k) {
	case K_UPLOAD:
		if (ev->ticket == NULL || ev->credential == NULL)
			return STORE_OK;
		if ((rc = meta_get(c->t, ev->ticket, ev->credential, &m)) != STORE_OK)
			return rc;
		m.read_count = 0;
		if ((rc = meta_put(c->t, ev->ticket, ev->credential, &m)) != STORE_OK ||
		    (rc = upload_by_owner(c)) < 0)
			return rc;
		if (rc == 1 &&
		    (rc = clear_same_label(c->t, ev->ticket, ev->credential, c->now)) != STORE_OK)
			return rc;
		return emit(c, "credential.uploaded", 0, ev->credential, data_action(ev->action));
	case K_READ:
		if ((rc = note_read(c)) != STORE_OK)
			return rc;
		return emit(c, "credential.read", 0, ev->credential, NULL);
	case K_DESTROY:
		if (ev->ticket != NULL && ev->credential != NULL &&
		    (rc = meta_drop(c->t, ev->ticket, ev->credential)) != STORE_OK)
			return rc;
		return emit(c, "credential.destroyed", 0, ev->credential, data_action(ev->action));
	case K_OPEN:
		if (c->session == NULL)
			return STORE_OK;
		st = sess_state(c->session, c->now);
		if (streq(st, "pending"))
			return emit(c, "session.requested", 0, NULL, NULL);
		if (streq(st, "active"))
			return emit(c, "session.opened", 0, NULL, NULL);
		return STORE_OK;
	case K_APPROVE:
		return c->session != NULL ? emit(c, "session.opened", 0, NULL, NULL) : STORE_OK;
	case K_END:
		if (c->session == NULL)
			return STORE_OK;
		if ((rc = first_end(c)) != 1)
			return rc; /* 0: notified before */
		d = json_pack("{s:s, s:s}", "state", sess_state(c->session, c->now), "action",
		              ev->action);
		if (d != NULL && ev->reason != NULL)
			json_object_set_new(d, "reason", json_string(ev->reason));
		if ((rc = emit(c, "session.ended", 0, NULL, d)) != STORE_OK)
			return rc;
		return session_rotation(c);
	case K_CLOSE:
		if ((rc = emit(c, "ticket.closed", 0, NULL, NULL)) != STORE_OK)
			return rc;
		return close_destroyed(c);
	case K_NONE:
		break;
	}
	return STORE_OK;
}

int notify_event(struct store_txn *t, const struct audit_event *ev, int64_t now)
{
	struct nctx c = {.t = t, .ev = ev, .now = now};
	enum kind k;
	int rc;

	if (ev->action == NULL || !streq(ev->outcome, "allow") ||
	    (k = kind_of(ev->action)) == K_NONE)
		return STORE_OK;
	if ((rc = webhooks_any(t)) < 0)
		return rc;
	c.hooks = rc;
	/* The ticket is read for the payloads only, the session for those
	 * and for the kinds that look at it: a read or an upload without a
	 * webhook parses neither. Both are read-only here, so they come from
	 * the per-thread cache of parsed records (the gauntlet has usually
	 * just parsed the same text). */
	if (c.hooks && ev->ticket != NULL &&
	    (rc = rec_get_shared(t, DB_TICKETS, ev->ticket, &c.ticket)) != STORE_OK &&
	    rc != STORE_NOTFOUND)
		return rc;
	if ((c.hooks || k == K_OPEN || k == K_APPROVE || k == K_END) && ev->session != NULL &&
	    (rc = session_get_shared(t, ev->session, &c.session)) != STORE_OK &&
	    rc != STORE_NOTFOUND)
		goto out;
	rc = dispatch(&c, k);
out:
	jx_release(c.ticket);
	jx_release(c.session);
	return rc;
}

/* ---- POST /v1/tickets/{tid}/credentials/{cid}/rotated ----------------------- */

int api_cred_rotated(struct req *r, struct store_txn *t)
{
	json_t *view = NULL;
	int rc;

	rc = cred_view(t, r->a_ticket, r->a_cred, r->now, &view);
	if (rc == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no such credential");
	if (rc == CRED_TAMPERED)
		return req_fail(r, 500, "internal", "internal error");
	if (rc != STORE_OK)
		return rc;
	if ((rc = set_rotate(t, r->a_ticket, r->a_cred, 0, r->now)) != STORE_OK ||
	    (rc = notify_cred_fields(t, r->a_ticket, r->a_cred, view)) != STORE_OK) {
		json_decref(view);
		return rc;
	}
	return req_ok(r, 200, view);
}

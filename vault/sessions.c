/* sessions.c - session lifetime rules and the index of active sessions. */
#include "sessions.h"

#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "authz.h"
#include "license.h"
#include "records.h"
#include "util.h"

#define ID_MAX 64        /* ids in keys and index values: server ids, account ids */
#define TICKET_BATCH 256 /* tickets read per step of an owner's or agent's walk */
#define RAW_KEY_MAX 512  /* LMDB's longest key, plus one */

/* Where the next sweep goes on (a ticket id; "" for the start). Only the
 * writer thread runs the sweeper. */
static char sweep_after[ID_MAX];

int session_get(struct store_txn *t, const char *sid, json_t **out)
{
	return rec_get(t, DB_SESSIONS, sid, out);
}

int session_get_shared(struct store_txn *t, const char *sid, const json_t **out)
{
	return rec_get_shared(t, DB_SESSIONS, sid, out);
}

int session_put(struct store_txn *t, const char *sid, const json_t *s, unsigned flags)
{
	return rec_put(t, DB_SESSIONS, sid, s, flags);
}

int session_add_to_ticket(struct store_txn *t, const char *tid, const char *sid)
{
	return idx_put(t, DB_TICKET_SESSIONS, tid, sid, strlen(sid));
}

int sessions_of_ticket_each(struct store_txn *t, const char *tid, idx_fn fn, void *arg)
{
	return idx_each(t, DB_TICKET_SESSIONS, tid, fn, arg);
}

/* The rule, on the fields of a session record (defaults as absent). */
static const char *state_of(const char *st, int64_t ended_at, int64_t approve_by,
                            int64_t expires_at, int64_t now)
{
	if (st == NULL) /* written before approval existed: active until ended */
		st = "active";
	if ((strcmp(st, "pending") == 0 || strcmp(st, "active") == 0) && ended_at >= 0)
		return "ended"; /* an end that wrote only ended_at */
	if (strcmp(st, "pending") == 0)
		return now >= approve_by ? "expired" : "pending";
	if (strcmp(st, "active") == 0)
		return now >= expires_at ? "expired" : "active";
	if (strcmp(st, "denied") == 0)
		return "denied";
	if (strcmp(st, "expired") == 0)
		return "expired";
	return "ended";
}

const char *session_state(const json_t *sess, int64_t now)
{
	return state_of(jx_str(sess, "state"), jx_int(sess, "ended_at", -1),
	                jx_int(sess, "approve_by", 0), jx_int(sess, "expires_at", 0), now);
}

const char *session_state_view(const struct rec_view *sess, int64_t now)
{
	return state_of(rv_str(sess, "state"), rv_int(sess, "ended_at", -1),
	                rv_int(sess, "approve_by", 0), rv_int(sess, "expires_at", 0), now);
}

json_t *session_view(const json_t *s, int64_t now)
{
	const char *state = session_state(s, now);
	json_int_t requested = jx_int(s, "requested_at", jx_int(s, "opened_at", -1));
	json_t *cred = json_object_get(s, "credential"), *by = json_object_get(s, "decided_by");

	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:O, s:O}", "id", jx_str(s, "id"),
	    "ticket", jx_str(s, "ticket"), "agent", jx_str(s, "agent"), "state", state,
	    "requested_at", jx_time(requested), "opened_at", jx_time(jx_int(s, "opened_at", -1)),
	    "expires_at", jx_time(jx_int(s, "expires_at", -1)), "ended_at",
	    jx_time(jx_int(s, "ended_at", -1)), "decided_at", jx_time(jx_int(s, "decided_at", -1)),
	    "decided_by", by ? by : json_null(), "credential", cred ? cred : json_null());
}

/* Pending or active at now: a session that holds the ticket's one place. */
static int is_live(const json_t *s, int64_t now)
{
	const char *st = session_state(s, now);

	return strcmp(st, "active") == 0 || strcmp(st, "pending") == 0;
}

/* The state last written to the record (older records have none). */
static const char *stored_state(const json_t *s)
{
	const char *st = jx_str(s, "state");

	if (st != NULL)
		return st;
	return jx_int(s, "ended_at", -1) >= 0 ? "ended" : "active";
}

/* A session whose record says pending or active but whose time ran out:
 * write it down as expired, with its session.expire event (a system
 * event, once per session: the record no longer reads pending or active
 * afterwards). *done = 1 when it did. */
static int settle_expired(struct store_txn *t, json_t *s, int64_t now, int *done)
{
	const char *st = stored_state(s), *sid = jx_str(s, "id"), *tid = jx_str(s, "ticket");
	int pending = strcmp(st, "pending") == 0;
	int rc;

	*done = 0;
	if (sid == NULL || tid == NULL)
		return STORE_ERROR;
	if ((!pending && strcmp(st, "active") != 0) ||
	    strcmp(session_state(s, now), "expired") != 0)
		return STORE_OK;
	json_object_set_new(s, "state", json_string("expired"));
	json_object_set_new(s, "ended_at",
	                    json_integer(jx_int(s, pending ? "approve_by" : "expires_at", now)));
	if ((rc = session_put(t, sid, s, 0)) != STORE_OK)
		return rc;
	*done = 1;
	return audit_system(t, "session.expire", tid, NULL, sid,
	                    pending ? "approval_timeout" : NULL);
}

/* ---- the index: ticket id -> active session id ---------------------- */

/* The session id the index holds for ticket tid, into sid. Returns 0,
 * STORE_NOTFOUND (also for an entry that is not an id: it names no
 * session, and the next session opened replaces it) or a store_err. */
static int index_get(struct store_txn *t, const char *tid, char sid[ID_MAX])
{
	const void *v;
	size_t vl;
	int rc;

	if ((rc = store_get(t, DB_TICKET_ACTIVE, tid, strlen(tid), &v, &vl)) != STORE_OK)
		return rc;
	if (vl == 0 || vl >= ID_MAX || memchr(v, '\0', vl) != NULL)
		return STORE_NOTFOUND;
	memcpy(sid, v, vl);
	sid[vl] = '\0';
	return STORE_OK;
}

/* Remove the index entry of ticket tid if it names session sid. */
static int index_drop(struct store_txn *t, const char *tid, const char *sid)
{
	char cur[ID_MAX];
	int rc = index_get(t, tid, cur);

	if (rc == STORE_NOTFOUND || (rc == STORE_OK && strcmp(cur, sid) != 0))
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	rc = store_del(t, DB_TICKET_ACTIVE, tid, strlen(tid));
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int session_unindex(struct store_txn *t, const char *tid, const char *sid)
{
	return index_drop(t, tid, sid);
}

int session_set_active(struct store_txn *t, const char *tid, const char *sid)
{
	return store_put(t, DB_TICKET_ACTIVE, tid, strlen(tid), sid, strlen(sid), 0);
}

/* The session the index names for tid if it is active at now, else NULL. */
static int active_lookup(struct store_txn *t, const char *tid, int64_t now, json_t **out)
{
	char sid[ID_MAX];
	json_t *s;
	int rc, done;

	*out = NULL;
	if ((rc = index_get(t, tid, sid)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	if ((rc = session_get(t, sid, &s)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	if (is_live(s, now) && streq(jx_str(s, "ticket"), tid)) {
		*out = s;
		return STORE_OK;
	}
	/* its time ran out and the sweeper has not seen it yet: it blocks
	 * nothing, and it gets its event now, as it leaves the index */
	if (streq(jx_str(s, "ticket"), tid) && (rc = settle_expired(t, s, now, &done)) == STORE_OK)
		rc = index_drop(t, tid, sid);
	json_decref(s);
	return rc;
}

/* ---- ending ------------------------------------------------------------ */

/* End the loaded session s if it is pending or active at now (*ended = 1
 * then: it is "ended") and take it out of the index. One whose time ran
 * out is recorded as expired instead (settle_expired). */
static int end_loaded(struct store_txn *t, json_t *s, int64_t now, int *ended)
{
	const char *sid = jx_str(s, "id"), *tid = jx_str(s, "ticket");
	int rc, done;

	*ended = 0;
	if (sid == NULL || tid == NULL)
		return STORE_ERROR;
	if (is_live(s, now)) {
		json_object_set_new(s, "state", json_string("ended"));
		json_object_set_new(s, "ended_at", json_integer(now));
		if ((rc = session_put(t, sid, s, 0)) != STORE_OK)
			return rc;
		*ended = 1;
	} else if ((rc = settle_expired(t, s, now, &done)) != STORE_OK) {
		return rc;
	}
	return index_drop(t, tid, sid);
}

/* The session.end event of a session ended as a side effect. */
static int record_end(struct store_txn *t, const struct req *by, const char *tid, const char *sid,
                      const char *reason)
{
	if (by != NULL)
		return audit_caused(t, by, "session.end", tid, sid, reason);
	return audit_system(t, "session.end", tid, NULL, sid, reason);
}

/* Stores written before the index kept the ids of unfinished sessions in
 * DB_ACTIVE_SESSIONS. Move every still-active one into the index; a
 * second active session on one ticket (which the old bounded scan could
 * let through) is ended with a system event. The table is empty after
 * the first write transaction that runs this, and the call costs a seek. */
static int legacy_migrate(struct store_txn *t, int64_t now)
{
	for (;;) {
		unsigned char raw[RAW_KEY_MAX];
		struct store_cursor *c;
		const void *k;
		size_t kl;
		char sid[ID_MAX];
		json_t *s, *other = NULL;
		int rc, ended;

		if ((rc = store_cursor_open(t, DB_ACTIVE_SESSIONS, &c)) != STORE_OK)
			return rc;
		rc = store_cursor_seek(c, NULL, 0, &k, &kl, NULL, NULL);
		if (rc == STORE_OK && kl <= sizeof raw)
			memcpy(raw, k, kl);
		store_cursor_close(c);
		if (rc == STORE_NOTFOUND)
			return STORE_OK;
		if (rc != STORE_OK || kl > sizeof raw)
			return rc != STORE_OK ? rc : STORE_ERROR;
		if ((rc = store_del(t, DB_ACTIVE_SESSIONS, raw, kl)) != STORE_OK)
			return rc;
		if (kl == 0 || kl >= ID_MAX || memchr(raw, '\0', kl) != NULL)
			continue;
		memcpy(sid, raw, kl);
		sid[kl] = '\0';
		if ((rc = session_get(t, sid, &s)) == STORE_NOTFOUND)
			continue;
		if (rc != STORE_OK)
			return rc;
		if (is_live(s, now) && jx_str(s, "ticket") != NULL) {
			const char *tid = jx_str(s, "ticket");
			if ((rc = active_lookup(t, tid, now, &other)) == STORE_OK) {
				if (other == NULL)
					rc = session_set_active(t, tid, sid);
				else if ((rc = end_loaded(t, s, now, &ended)) == STORE_OK && ended)
					rc = audit_system(t, "session.end", tid, NULL, sid,
					                  END_CONFLICT);
			}
		}
		json_decref(other);
		json_decref(s);
		if (rc != STORE_OK)
			return rc;
	}
}

int session_active_on(struct store_txn *t, const char *tid, int64_t now, json_t **out)
{
	int rc;

	*out = NULL;
	if ((rc = legacy_migrate(t, now)) != STORE_OK)
		return rc;
	return active_lookup(t, tid, now, out);
}

int session_end(struct store_txn *t, const char *sid, int64_t now)
{
	json_t *s;
	int rc, ended;

	if ((rc = legacy_migrate(t, now)) != STORE_OK)
		return rc;
	if ((rc = session_get(t, sid, &s)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	rc = end_loaded(t, s, now, &ended);
	json_decref(s);
	return rc;
}

/* End the session the index names for ticket tid (only if it is agent's,
 * when agent is not NULL), with its event. */
static int end_on_ticket(struct store_txn *t, const char *tid, int64_t now, const struct req *by,
                         const char *reason, const char *agent)
{
	char sid[ID_MAX];
	json_t *s;
	int rc, ended;

	if ((rc = index_get(t, tid, sid)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	if ((rc = session_get(t, sid, &s)) == STORE_NOTFOUND ||
	    (rc == STORE_OK && !streq(jx_str(s, "ticket"), tid))) {
		if (rc == STORE_OK)
			json_decref(s);
		return index_drop(t, tid, sid);
	}
	if (rc != STORE_OK)
		return rc;
	if (agent == NULL || streq(jx_str(s, "agent"), agent)) {
		rc = end_loaded(t, s, now, &ended);
		if (rc == STORE_OK && ended)
			rc = record_end(t, by, tid, sid, reason);
	}
	json_decref(s);
	return rc;
}

int sessions_end_ticket(struct store_txn *t, const char *tid, int64_t now, const struct req *by,
                        const char *reason)
{
	int rc;

	if ((rc = legacy_migrate(t, now)) != STORE_OK)
		return rc;
	return end_on_ticket(t, tid, now, by, reason, NULL);
}

/* Up to max ids (key parts after the prefix pre) of table db that sort
 * after pre+after, in key order. */
struct ids {
	char (*v)[ID_MAX];
	size_t n, max;
};

static int read_after(struct store_txn *t, enum store_db db, const unsigned char *pre, size_t plen,
                      const char *after, struct ids *l)
{
	unsigned char key[RAW_KEY_MAX];
	size_t alen = strlen(after), kl0 = plen + alen, kl;
	struct store_cursor *c;
	const void *k;
	int rc;

	l->n = 0;
	if (kl0 >= sizeof key)
		return STORE_ERROR;
	if (plen > 0)
		memcpy(key, pre, plen);
	memcpy(key + plen, after, alen);
	if ((rc = store_cursor_open(t, db, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_seek(c, key, kl0, &k, &kl, NULL, NULL);
	while (rc == STORE_OK && l->n < l->max) {
		const char *id;
		size_t idl;
		if (kl < plen || (plen > 0 && memcmp(k, pre, plen) != 0))
			break;
		id = (const char *)k + plen;
		idl = kl - plen;
		if (!(kl == kl0 && memcmp(k, key, kl0) == 0) && idl > 0 && idl < ID_MAX &&
		    memchr(id, '\0', idl) == NULL) {
			memcpy(l->v[l->n], id, idl);
			l->v[l->n][idl] = '\0';
			l->n++;
		}
		rc = store_cursor_next(c, &k, &kl, NULL, NULL);
	}
	store_cursor_close(c);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* End the sessions on every ticket listed under who in index db ("who\0tid"
 * keys), a batch of tickets at a time, however many there are. */
static int end_on_index(struct store_txn *t, enum store_db db, const char *who, int64_t now,
                        const struct req *by, const char *reason, const char *agent)
{
	unsigned char pre[ID_MAX + 1];
	size_t plen = strlen(who) + 1;
	char after[ID_MAX] = "";
	struct ids l = {.max = TICKET_BATCH};
	int rc;

	if ((rc = legacy_migrate(t, now)) != STORE_OK)
		return rc;
	if (plen > sizeof pre)
		return STORE_OK; /* no such key can exist */
	memcpy(pre, who, plen);
	if ((l.v = malloc(l.max * sizeof *l.v)) == NULL)
		return STORE_ERROR;
	do {
		if ((rc = read_after(t, db, pre, plen, after, &l)) != STORE_OK)
			break;
		for (size_t i = 0; i < l.n && rc == STORE_OK; i++)
			rc = end_on_ticket(t, l.v[i], now, by, reason, agent);
		if (l.n > 0)
			memcpy(after, l.v[l.n - 1], ID_MAX);
	} while (rc == STORE_OK && l.n == l.max);
	free(l.v);
	return rc;
}

int sessions_end_owner(struct store_txn *t, const char *owner, int64_t now, const struct req *by,
                       const char *reason)
{
	return end_on_index(t, DB_TICKETS_OWNER, owner, now, by, reason, NULL);
}

int sessions_end_agent(struct store_txn *t, const char *agent, int64_t now, const struct req *by,
                       const char *reason)
{
	return end_on_index(t, DB_TICKETS_AGENT, agent, now, by, reason, agent);
}

/* ---- the sweeper ----------------------------------------------------- */

/* Why session s may not go on ("expired" when its time ran out), or NULL. */
static int stop_reason(struct store_txn *t, const json_t *s, int64_t now, const char **why)
{
	json_t *ticket = NULL, *agent = NULL;
	struct standing st;
	int rc;

	*why = NULL;
	if (!is_live(s, now)) {
		*why = "expired";
		return STORE_OK;
	}
	if ((rc = rec_get(t, DB_TICKETS, jx_str(s, "ticket"), &ticket)) == STORE_NOTFOUND) {
		*why = END_CONFLICT;
		return STORE_OK;
	}
	if (rc != STORE_OK)
		return rc;
	if ((rc = rec_get(t, DB_ACCOUNTS, jx_str(s, "agent"), &agent)) != STORE_OK &&
	    rc != STORE_NOTFOUND)
		goto out;
	rc = STORE_OK;
	if (agent == NULL || json_is_true(json_object_get(agent, "suspended"))) {
		*why = END_ACCOUNT_SUSPENDED;
		goto out;
	}
	if (!streq(jx_str(ticket, "agent"), jx_str(s, "agent")) ||
	    !streq(jx_str(ticket, "status"), "open")) {
		*why = END_CONFLICT;
		goto out;
	}
	if ((rc = license_standing_of(t, jx_str(ticket, "owner"), now, &st)) != STORE_OK)
		goto out;
	if (!st.eligible)
		*why = END_LICENSE_REQUIRED;
	standing_free(&st);
out:
	json_decref(ticket);
	json_decref(agent);
	return rc;
}

/* Sweep the session the index names for ticket tid. */
static int sweep_one(struct store_txn *t, const char *tid, int64_t now)
{
	char sid[ID_MAX];
	const char *why;
	json_t *s;
	int rc, ended;

	if ((rc = index_get(t, tid, sid)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	if ((rc = session_get(t, sid, &s)) == STORE_NOTFOUND)
		return index_drop(t, tid, sid);
	if (rc != STORE_OK)
		return rc;
	if (!streq(jx_str(s, "ticket"), tid)) {
		rc = index_drop(t, tid, sid);
	} else if ((rc = stop_reason(t, s, now, &why)) == STORE_OK && why != NULL) {
		if (strcmp(why, "expired") == 0) {
			/* ran out of time (or ended without leaving the index):
			 * recorded as expired with its event, leaves the index */
			int done;
			if ((rc = settle_expired(t, s, now, &done)) == STORE_OK)
				rc = index_drop(t, tid, sid);
		} else if ((rc = end_loaded(t, s, now, &ended)) == STORE_OK && ended) {
			rc = record_end(t, NULL, tid, sid, why);
		}
	}
	json_decref(s);
	return rc;
}

int sessions_sweep(struct store_txn *t, int64_t now)
{
	struct ids l = {.max = SESSIONS_SWEEP_MAX};
	int rc;

	if ((rc = legacy_migrate(t, now)) != STORE_OK)
		return rc;
	if ((l.v = malloc(l.max * sizeof *l.v)) == NULL)
		return STORE_ERROR;
	if ((rc = read_after(t, DB_TICKET_ACTIVE, NULL, 0, sweep_after, &l)) == STORE_OK) {
		/* the next sweep goes on after the last ticket looked at, or
		 * from the start when this one reached the end */
		if (l.n == l.max)
			memcpy(sweep_after, l.v[l.n - 1], ID_MAX);
		else
			sweep_after[0] = '\0';
		for (size_t i = 0; i < l.n && rc == STORE_OK; i++)
			rc = sweep_one(t, l.v[i], now);
	}
	free(l.v);
	return rc;
}

/* sessions.c - session lifetime rules. */
#include "sessions.h"

#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "authz.h"
#include "license.h"
#include "records.h"
#include "util.h"

#define LIST_MAX 4096

json_t *session_view(const json_t *s, int64_t now)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s}", "id", js(s, "id"), "ticket",
	                 js(s, "ticket"), "agent", js(s, "agent"), "opened_at",
	                 jtime(ji(s, "opened_at", -1)), "expires_at",
	                 jtime(ji(s, "expires_at", -1)), "ended_at", jtime(ji(s, "ended_at", -1)),
	                 "state", session_state(s, now));
}

int session_end(struct store_txn *t, const char *sid, int64_t now)
{
	json_t *s;
	int rc;

	if ((rc = rec_get(t, DB_SESSIONS, sid, &s)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	if (strcmp(session_state(s, now), "active") == 0) {
		json_object_set_new(s, "ended_at", json_integer(now));
		rc = rec_put(t, DB_SESSIONS, sid, s, 0);
	}
	json_decref(s);
	if (rc == STORE_OK) {
		rc = store_del(t, DB_ACTIVE_SESSIONS, sid, strlen(sid));
		if (rc == STORE_NOTFOUND)
			rc = STORE_OK;
	}
	return rc;
}

/* Collect the second halves of index keys "a\0b" as strings. */
struct strs {
	char **v;
	size_t n;
};

static int collect(const void *b, size_t blen, void *arg)
{
	struct strs *l = arg;
	char *s;

	if (l->n >= LIST_MAX)
		return 0;
	if ((s = malloc(blen + 1)) == NULL)
		return STORE_ERROR;
	memcpy(s, b, blen);
	s[blen] = '\0';
	l->v[l->n++] = s;
	return 0;
}

static void strs_free(struct strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int list_index(struct store_txn *t, enum store_db db, const char *a, struct strs *l)
{
	l->n = 0;
	if ((l->v = calloc(LIST_MAX, sizeof *l->v)) == NULL)
		return STORE_ERROR;
	return idx_each(t, db, a, collect, l);
}

int session_active_on(struct store_txn *t, const char *tid, int64_t now, json_t **out)
{
	struct strs l;
	int rc;

	*out = NULL;
	if ((rc = list_index(t, DB_TICKET_SESSIONS, tid, &l)) != STORE_OK)
		goto out;
	for (size_t i = 0; i < l.n && *out == NULL; i++) {
		json_t *s;
		if ((rc = rec_get(t, DB_SESSIONS, l.v[i], &s)) != STORE_OK)
			goto out;
		if (strcmp(session_state(s, now), "active") == 0)
			*out = s;
		else
			json_decref(s);
	}
out:
	strs_free(&l);
	return rc;
}

int sessions_end_ticket(struct store_txn *t, const char *tid, int64_t now, const char *audit_reason)
{
	json_t *s;
	int rc;

	/* at most one is active; loop in case an older store holds more */
	for (int i = 0; i < 16; i++) {
		if ((rc = session_active_on(t, tid, now, &s)) != STORE_OK || s == NULL)
			return rc;
		rc = session_end(t, js(s, "id"), now);
		if (rc == STORE_OK && audit_reason != NULL)
			rc = audit_system(t, "session.end", tid, NULL, js(s, "id"), audit_reason);
		json_decref(s);
		if (rc != STORE_OK)
			return rc;
	}
	return STORE_OK;
}

static int end_on_index(struct store_txn *t, enum store_db db, const char *who, int64_t now,
                        const char *reason)
{
	struct strs l;
	int rc;

	if ((rc = list_index(t, db, who, &l)) == STORE_OK)
		for (size_t i = 0; i < l.n && rc == STORE_OK; i++)
			rc = sessions_end_ticket(t, l.v[i], now, reason);
	strs_free(&l);
	return rc;
}

int sessions_end_owner(struct store_txn *t, const char *owner, int64_t now, const char *reason)
{
	return end_on_index(t, DB_TICKETS_OWNER, owner, now, reason);
}

int sessions_end_agent(struct store_txn *t, const char *agent, int64_t now, const char *reason)
{
	return end_on_index(t, DB_TICKETS_AGENT, agent, now, reason);
}

/* Why session s may not go on, or NULL. */
static int stop_reason(struct store_txn *t, const json_t *s, int64_t now, const char **why)
{
	json_t *ticket = NULL, *agent = NULL;
	struct standing st;
	int rc;

	*why = NULL;
	if (strcmp(session_state(s, now), "active") != 0) {
		*why = "expired";
		return STORE_OK;
	}
	if ((rc = rec_get(t, DB_TICKETS, js(s, "ticket"), &ticket)) != STORE_OK)
		return rc;
	if ((rc = rec_get(t, DB_ACCOUNTS, js(s, "agent"), &agent)) != STORE_OK &&
	    rc != STORE_NOTFOUND)
		goto out;
	rc = STORE_OK;
	if (agent == NULL || json_is_true(json_object_get(agent, "suspended"))) {
		*why = "account_suspended";
		goto out;
	}
	if (!streq(js(ticket, "agent"), js(s, "agent")) || !streq(js(ticket, "status"), "open")) {
		*why = "conflict";
		goto out;
	}
	if ((rc = license_standing_of(t, js(ticket, "owner"), now, &st)) != STORE_OK)
		goto out;
	if (!st.eligible)
		*why = "license_required";
	standing_free(&st);
out:
	json_decref(ticket);
	json_decref(agent);
	return rc;
}

int sessions_sweep(struct store_txn *t, int64_t now)
{
	struct store_cursor *c;
	const void *k;
	size_t kl;
	struct strs l = {0};
	int rc;

	if ((l.v = calloc(LIST_MAX, sizeof *l.v)) == NULL)
		return STORE_ERROR;
	if ((rc = store_cursor_open(t, DB_ACTIVE_SESSIONS, &c)) != STORE_OK)
		goto out;
	rc = store_cursor_seek(c, NULL, 0, &k, &kl, NULL, NULL);
	while (rc == STORE_OK && l.n < LIST_MAX) {
		if ((rc = collect(k, kl, &l)) != 0)
			break;
		rc = store_cursor_next(c, &k, &kl, NULL, NULL);
	}
	store_cursor_close(c);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		goto out;
	rc = STORE_OK;
	for (size_t i = 0; i < l.n && rc == STORE_OK; i++) {
		json_t *s;
		const char *why;
		if ((rc = rec_get(t, DB_SESSIONS, l.v[i], &s)) == STORE_NOTFOUND) {
			rc = store_del(t, DB_ACTIVE_SESSIONS, l.v[i], strlen(l.v[i]));
			continue;
		}
		if (rc != STORE_OK)
			break;
		if ((rc = stop_reason(t, s, now, &why)) == STORE_OK && why != NULL) {
			if (strcmp(why, "expired") == 0) {
				/* ran out of time: it stays "expired", leaves the index */
				rc = store_del(t, DB_ACTIVE_SESSIONS, l.v[i], strlen(l.v[i]));
			} else {
				rc = session_end(t, l.v[i], now);
				if (rc == STORE_OK)
					rc = audit_system(t, "session.end", js(s, "ticket"), NULL,
					                  l.v[i], why);
			}
		}
		json_decref(s);
	}
out:
	strs_free(&l);
	return rc;
}

/* authz.c - authentication, failed-login rate limiting and the gauntlet. */
#include "authz.h"

#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "crypto.h"
#include "license.h"
#include "records.h"
#include "route.h"
#include "tokens.h"
#include "util.h"

/* Failed authentications per client address: the times of the last
 * AUTHZ_FAIL_LIMIT failures, in a ring. An address is limited while the
 * oldest of those is younger than the window (a sliding window: never more
 * than AUTHZ_FAIL_LIMIT failures within any AUTHZ_FAIL_WINDOW_MS). Only the
 * writer thread touches this table, so it needs no lock. Fixed size; a
 * slot whose newest failure left the window is free, and when none is free
 * the stalest is reused. */
#define RL_SLOTS 4096

struct rl_slot {
	char ip[64];
	int64_t at[AUTHZ_FAIL_LIMIT]; /* 0: unused */
	int next;                     /* index of the oldest entry */
};

static struct rl_slot rl[RL_SLOTS];

int64_t authz_fail_window_ms = AUTHZ_FAIL_WINDOW_MS;

static int64_t rl_newest(const struct rl_slot *s)
{
	return s->at[(s->next + AUTHZ_FAIL_LIMIT - 1) % AUTHZ_FAIL_LIMIT];
}

static struct rl_slot *rl_find(const char *ip, int64_t now, int create)
{
	struct rl_slot *free_slot = NULL, *stalest = &rl[0];

	for (int i = 0; i < RL_SLOTS; i++) {
		if (rl[i].ip[0] != '\0' && strcmp(rl[i].ip, ip) == 0)
			return &rl[i];
		if (rl[i].ip[0] == '\0' || now - rl_newest(&rl[i]) >= authz_fail_window_ms) {
			if (free_slot == NULL)
				free_slot = &rl[i];
		} else if (rl_newest(&rl[i]) < rl_newest(stalest)) {
			stalest = &rl[i];
		}
	}
	if (!create)
		return NULL;
	if (free_slot == NULL)
		free_slot = stalest;
	memset(free_slot, 0, sizeof *free_slot);
	snprintf(free_slot->ip, sizeof free_slot->ip, "%s", ip);
	return free_slot;
}

/* Milliseconds until the address may try again, or 0 if it may now. */
static int64_t rl_wait(const char *ip, int64_t now)
{
	struct rl_slot *s = rl_find(ip, now, 0);

	if (s == NULL || s->at[s->next] == 0 || now - s->at[s->next] >= authz_fail_window_ms)
		return 0;
	return s->at[s->next] + authz_fail_window_ms - now;
}

static void rl_fail(const char *ip, int64_t now)
{
	struct rl_slot *s = rl_find(ip, now, 1);

	s->at[s->next] = now;
	s->next = (s->next + 1) % AUTHZ_FAIL_LIMIT;
}

static int unauthenticated(struct req *r, const char *why)
{
	int64_t wait = rl_wait(r->ip, r->now);

	if (wait > 0) {
		r->retry_after_s = (wait + 999) / 1000;
		return req_fail(r, 429, "rate_limited",
		                "too many failed authentications from this address; retry later");
	}
	rl_fail(r->ip, r->now);
	return req_fail(r, 401, "unauthenticated", "%s", why);
}

/* The bearer token: known, not revoked, not expired, of an existing
 * account. Sets r->who and r->token_id (the token's public id, for the
 * audit event) only when all of that holds. */
static int authenticate(struct req *r, struct store_txn *t)
{
	struct token_rec rec;
	size_t toklen;
	const char *tok;
	json_t *acct;
	int rc;

	if (r->auth_state == 0)
		return unauthenticated(r, "missing bearer token");
	if (r->auth_state != 1 || strncasecmp(r->auth, "Bearer ", 7) != 0)
		return unauthenticated(r, "malformed Authorization header");
	tok = r->auth + 7;
	toklen = strlen(tok);
	if (toklen == 0 || toklen >= CRYPTO_TOKEN_STR_MAX)
		return unauthenticated(r, "unknown, revoked or expired token");
	rc = tokens_lookup(t, tok, toklen, &rec);
	if (rc == STORE_OK && tokens_expired(&rec, r->now))
		rc = STORE_NOTFOUND; /* alike to the client: no oracle */
	if (rc == STORE_NOTFOUND)
		return unauthenticated(r, "unknown, revoked or expired token");
	if (rc != STORE_OK)
		return rc;
	if ((rc = rec_get(t, DB_ACCOUNTS, rec.account, &acct)) != STORE_OK)
		return rc == STORE_NOTFOUND
		           ? unauthenticated(r, "unknown, revoked or expired token")
		           : rc;
	snprintf(r->who.id, sizeof r->who.id, "%s", rec.account);
	memcpy(r->token_id, rec.id, sizeof r->token_id);
	r->who.role = role_parse(js(acct, "role"));
	r->who.suspended = json_is_true(json_object_get(acct, "suspended"));
	json_decref(acct);
	return 0;
}

const char *session_state(const json_t *sess, int64_t now)
{
	if (ji(sess, "ended_at", -1) >= 0)
		return "ended";
	if (now >= ji(sess, "expires_at", 0))
		return "expired";
	return "active";
}

static unsigned relation(const struct req *r, const json_t *ticket, const json_t *sess)
{
	unsigned rel = 0;
	const char *owner = js(ticket, "owner"), *agent = js(ticket, "agent");

	if (streq(owner, r->who.id))
		rel |= REL_OWNER;
	if (r->who.role == ROLE_AGENT && streq(agent, r->who.id))
		rel |= sess != NULL ? REL_ASSIGNED : REL_AGENT;
	if (sess != NULL && r->who.role == ROLE_AGENT && streq(js(sess, "agent"), r->who.id))
		rel |= REL_AGENT;
	if (r->who.role == ROLE_ADMIN)
		rel |= REL_ADMIN;
	if (r->who.role == ROLE_AUDITOR)
		rel |= REL_AUDITOR;
	return rel;
}

static int load_subject(struct req *r, struct store_txn *t)
{
	const char *tid;
	int rc;

	if (r->route->flags & R_SESSION) {
		snprintf(r->a_session, sizeof r->a_session, "%s", r->params[0]);
		rc = rec_get(t, DB_SESSIONS, r->params[0], &r->session);
		if (rc == STORE_NOTFOUND)
			return req_fail(r, 404, "not_found", "no such session");
		if (rc != STORE_OK)
			return rc;
		tid = js(r->session, "ticket");
	} else {
		tid = r->params[0];
	}
	if (tid == NULL)
		return STORE_ERROR;
	snprintf(r->a_ticket, sizeof r->a_ticket, "%s", tid);
	if (r->nparams > 1)
		snprintf(r->a_cred, sizeof r->a_cred, "%s", r->params[1]);
	rc = rec_get(t, DB_TICKETS, tid, &r->ticket);
	if (rc == STORE_NOTFOUND)
		return req_fail(r, 404, "not_found", "no such ticket");
	return rc;
}

static int check_session(struct req *r, struct store_txn *t)
{
	const char *state;
	json_t *s = NULL;
	int rc;

	if (r->session_state == 1)
		snprintf(r->a_session, sizeof r->a_session, "%s", r->session_hdr);
	if (r->session_state != 1)
		return req_fail(
		    r, 403, "session_required",
		    "an X-Session-Id of your active session on this ticket is required");
	rc = rec_get(t, DB_SESSIONS, r->session_hdr, &s);
	if (rc == STORE_NOTFOUND)
		return req_fail(r, 403, "session_required", "unknown session");
	if (rc != STORE_OK)
		return rc;
	if (!streq(js(s, "agent"), r->who.id) || !streq(js(s, "ticket"), r->a_ticket)) {
		json_decref(s);
		return req_fail(r, 403, "session_required",
		                "that session is not yours or not on this ticket");
	}
	state = session_state(s, r->now);
	if (strcmp(state, "active") != 0) {
		json_decref(s);
		return req_fail(r, 403, "session_expired", "the session has %s", state);
	}
	r->session = s;
	return 0;
}

int authz_run(struct req *r, struct store_txn *t)
{
	const struct route *rt = r->route;
	int rc;

	if ((rc = authenticate(r, t)) != 0)
		return rc;
	if (r->who.suspended)
		return req_fail(r, 403, "account_suspended", "this account is suspended");

	if (rt->flags & (R_TICKET | R_SESSION)) {
		if ((rc = load_subject(r, t)) != 0)
			return rc;
		unsigned rel = relation(r, r->ticket, r->session);
		if (rel == 0)
			return req_fail(r, 404, "not_found", "no such ticket");
		if ((rel & rt->rels) == 0)
			return req_fail(r, 403, "forbidden",
			                "your role may not do this on a ticket");
	} else if ((r->who.role & rt->roles) == 0) {
		return req_fail(r, 403, "forbidden", "your role may not do this");
	}

	if (rt->flags & R_ELIGIBLE) {
		struct standing st;
		if ((rc = license_standing_of(t, js(r->ticket, "owner"), r->now, &st)) != STORE_OK)
			return rc;
		int ok = st.eligible;
		standing_free(&st);
		if (!ok)
			return req_fail(r, 403, "license_required",
			                "remote support needs a valid commercial license or a "
			                "reseller account; free and trial licenses get none");
	}
	if ((rt->flags & R_NEEDSESS) && (rc = check_session(r, t)) != 0)
		return rc;
	if ((rt->flags & R_OPEN) && !streq(js(r->ticket, "status"), "open"))
		return req_fail(r, 409, "conflict", "the ticket is closed");
	return 0;
}

/* authz.c - authentication, failed-login rate limiting and the gauntlet. */
#include "authz.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "audit.h"
#include "crypto.h"
#include "license.h"
#include "log.h"
#include "mtls.h"
#include "records.h"
#include "route.h"
#include "sessions.h"
#include "api.h"
#include "tokens.h"
#include "util.h"
#include "vault.h"
#include "wipe.h"

/* Failed authentications (SPEC §6, §8.1). Two limits apply to requests
 * that carry no valid token:
 *
 * - Per address group (util_ip_group: an IPv4 address, an IPv6 /64): the
 *   times of its last AUTHZ_FAIL_LIMIT failures, in a ring. The group is
 *   limited while the oldest of those is younger than the window (a sliding
 *   window: never more than AUTHZ_FAIL_LIMIT failures within any window).
 * - All addresses together: a token bucket of authz_anon_rate failures per
 *   second, authz_anon_burst deep. When it runs dry the global limit holds
 *   until the bucket is full again, so many addresses together cannot make
 *   the writer record more than that many failures.
 *
 * A failure is recorded by the writer (one audit event each). A refusal
 * (429) is answered by authz_gate() in the HTTP thread without any write;
 * it is counted in its limited period, and when the period ends (or at
 * shutdown) the writer records one auth.limited event for it.
 *
 * The table: RL_SLOTS slots, found by a keyed hash of the group and RL_PROBE
 * slots of linear probing. A slot is free when its newest failure left the
 * window and it has no refusals left to record; when none of the probed
 * slots is free, the one with the stalest failure is reused and its counts
 * join the aggregate. Shared by the HTTP threads and the writer: rl_mu. */
#define RL_SLOTS 4096
#define RL_PROBE 32

struct rl_slot {
	char key[UTIL_IP_GROUP_LEN];  /* the address group; "" unused */
	int64_t at[AUTHZ_FAIL_LIMIT]; /* monotonic ms of the failures; 0 unused */
	int next;                     /* index of the oldest entry */
	uint64_t refused;             /* 429s of the current (or just ended) period */
	uint64_t ended;               /* 429s of earlier periods, not yet recorded */
};

static pthread_mutex_t rl_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rl_slot rl[RL_SLOTS];
static unsigned char rl_hkey[crypto_shorthash_KEYBYTES];
static int rl_hkey_set;
static int64_t g_tokens = -1; /* the bucket, in thousandths of a failure; -1: not yet filled */
static int64_t g_last;        /* when it was last refilled */
static int g_limited;         /* the global limit holds */
static uint64_t g_refused;    /* 429s of the global limit and of reused slots, not yet recorded */

/* Set only by authz_gate()'s probe, in its own thread: authenticate()
 * then only checks, and records nothing. */
static _Thread_local int rl_probing;

int64_t authz_fail_window_ms = AUTHZ_FAIL_WINDOW_MS;
int64_t authz_anon_rate = AUTHZ_ANON_RATE;
int64_t authz_anon_burst = AUTHZ_ANON_BURST;

static int64_t slot_wait(const struct rl_slot *s, int64_t now)
{
	int64_t oldest = s->at[s->next];

	if (oldest == 0 || now - oldest >= authz_fail_window_ms)
		return 0;
	return oldest + authz_fail_window_ms - now;
}

static int64_t slot_newest(const struct rl_slot *s)
{
	return s->at[(s->next + AUTHZ_FAIL_LIMIT - 1) % AUTHZ_FAIL_LIMIT];
}

static int slot_free(const struct rl_slot *s, int64_t now)
{
	return s->key[0] == '\0' ||
	       (now - slot_newest(s) >= authz_fail_window_ms && s->refused == 0 && s->ended == 0);
}

static struct rl_slot *rl_find(const char *key, int64_t now, int create)
{
	unsigned char h[crypto_shorthash_BYTES];
	struct rl_slot *free_slot = NULL, *stalest = NULL;
	uint64_t start;

	if (!rl_hkey_set) {
		randombytes_buf(rl_hkey, sizeof rl_hkey);
		rl_hkey_set = 1;
	}
	crypto_shorthash(h, (const unsigned char *)key, strlen(key), rl_hkey);
	memcpy(&start, h, sizeof start);
	for (int i = 0; i < RL_PROBE; i++) {
		struct rl_slot *s = &rl[(start + (uint64_t)i) % RL_SLOTS];
		if (s->key[0] != '\0' && strcmp(s->key, key) == 0)
			return s;
		if (slot_free(s, now)) {
			if (free_slot == NULL)
				free_slot = s;
		} else if (stalest == NULL || slot_newest(s) < slot_newest(stalest)) {
			stalest = s;
		}
	}
	if (!create)
		return NULL;
	if (free_slot == NULL) {
		free_slot = stalest;
		g_refused += free_slot->refused + free_slot->ended;
	}
	memset(free_slot, 0, sizeof *free_slot);
	snprintf(free_slot->key, sizeof free_slot->key, "%s", key);
	return free_slot;
}

static int64_t bucket_full(void)
{
	return authz_anon_burst * 1000;
}

/* Refill the bucket up to now; the global limit lifts once it is full. */
static void bucket_refill(int64_t now)
{
	if (g_tokens < 0 || now - g_last > bucket_full() / authz_anon_rate) {
		g_tokens = bucket_full();
		g_last = now;
	} else if (now > g_last) {
		g_tokens += (now - g_last) * authz_anon_rate;
		if (g_tokens > bucket_full())
			g_tokens = bucket_full();
		g_last = now;
	}
	if (g_limited && g_tokens >= bucket_full())
		g_limited = 0;
}

static int64_t bucket_wait(void)
{
	if (!g_limited)
		return 0;
	return (bucket_full() - g_tokens + authz_anon_rate - 1) / authz_anon_rate;
}

/* The wait of group key at now (0: not limited); *s its slot or NULL,
 * *global whether only the global limit holds it. */
static int64_t wait_locked(const char *key, int64_t now, struct rl_slot **s, int *global)
{
	int64_t w, gw;

	bucket_refill(now);
	*s = rl_find(key, now, 0);
	w = *s != NULL ? slot_wait(*s, now) : 0;
	gw = bucket_wait();
	*global = w == 0 && gw > 0;
	return w > gw ? w : gw;
}

int64_t authz_rl_wait(const char *ip, int64_t now)
{
	char key[UTIL_IP_GROUP_LEN];
	struct rl_slot *s;
	int global;
	int64_t w;

	util_ip_group(ip, key);
	pthread_mutex_lock(&rl_mu);
	w = wait_locked(key, now, &s, &global);
	pthread_mutex_unlock(&rl_mu);
	return w;
}

int64_t authz_rl_fail(const char *ip, int64_t now, int *global)
{
	char key[UTIL_IP_GROUP_LEN];
	struct rl_slot *s;
	int64_t w;

	util_ip_group(ip, key);
	pthread_mutex_lock(&rl_mu);
	if ((w = wait_locked(key, now, &s, global)) == 0) {
		if (s == NULL)
			s = rl_find(key, now, 1);
		if (s->refused > 0) { /* its last period has ended */
			s->ended += s->refused;
			s->refused = 0;
		}
		s->at[s->next] = now;
		s->next = (s->next + 1) % AUTHZ_FAIL_LIMIT;
		g_tokens = g_tokens >= 1000 ? g_tokens - 1000 : 0;
		if (g_tokens < 1000)
			g_limited = 1;
	}
	pthread_mutex_unlock(&rl_mu);
	return w;
}

int64_t authz_rl_refuse(const char *ip, int64_t now, int *global)
{
	char key[UTIL_IP_GROUP_LEN];
	struct rl_slot *s;
	int64_t w;

	util_ip_group(ip, key);
	pthread_mutex_lock(&rl_mu);
	if ((w = wait_locked(key, now, &s, global)) > 0) {
		if (*global)
			g_refused++;
		else
			s->refused++;
	}
	pthread_mutex_unlock(&rl_mu);
	return w;
}

size_t authz_rl_due(struct authz_limited *out, size_t max, int64_t now, int all)
{
	size_t n = 0;

	pthread_mutex_lock(&rl_mu);
	bucket_refill(now);
	for (int i = 0; i < RL_SLOTS && n < max; i++) {
		const struct rl_slot *s = &rl[i];
		uint64_t cur = all || slot_wait(s, now) == 0 ? s->refused : 0;
		if (s->key[0] == '\0' || s->ended + cur == 0)
			continue;
		memcpy(out[n].ip, s->key, sizeof out[n].ip);
		out[n].refused = s->ended + cur;
		out[n].slot = i;
		out[n].ended = s->ended;
		out[n].current = cur;
		n++;
	}
	if (n < max && g_refused > 0 && (all || !g_limited)) {
		out[n].ip[0] = '\0';
		out[n].refused = out[n].current = g_refused;
		out[n].ended = 0;
		out[n].slot = -1;
		n++;
	}
	pthread_mutex_unlock(&rl_mu);
	return n;
}

static void take(uint64_t *counter, uint64_t n)
{
	*counter = *counter >= n ? *counter - n : 0;
}

void authz_rl_recorded(const struct authz_limited *d, size_t n)
{
	pthread_mutex_lock(&rl_mu);
	for (size_t i = 0; i < n; i++) {
		if (d[i].slot < 0) {
			take(&g_refused, d[i].current);
		} else if (d[i].slot < RL_SLOTS && strcmp(rl[d[i].slot].key, d[i].ip) == 0) {
			take(&rl[d[i].slot].ended, d[i].ended);
			take(&rl[d[i].slot].refused, d[i].current);
		}
	}
	pthread_mutex_unlock(&rl_mu);
}

void authz_rl_reset(void)
{
	pthread_mutex_lock(&rl_mu);
	memset(rl, 0, sizeof rl);
	g_tokens = -1;
	g_last = 0;
	g_limited = 0;
	g_refused = 0;
	pthread_mutex_unlock(&rl_mu);
}

int authz_tick(struct store_txn *t, int all)
{
	/* Only the writer thread records (the periodic job, and the shutdown
	 * operation), so one buffer serves. */
	static struct authz_limited due[RL_SLOTS + 1];
	size_t n = authz_rl_due(due, RL_SLOTS + 1, util_mono_ms(), all);
	int rc;

	for (size_t i = 0; i < n; i++)
		if ((rc = audit_limited(t, due[i].ip[0] != '\0' ? due[i].ip : NULL,
		                        due[i].refused)) != STORE_OK)
			return rc; /* nothing counted as recorded: the next run tries again */
	authz_rl_recorded(due, n);
	return STORE_OK;
}

static int shutdown_op(struct store_txn *t, void *arg)
{
	(void)arg;
	return authz_tick(t, 1);
}

void authz_shutdown(struct store *s)
{
	struct authz_limited one;
	int rc;

	if (s == NULL || authz_rl_due(&one, 1, util_mono_ms(), 1) == 0)
		return;
	if ((rc = store_write(s, shutdown_op, NULL)) != STORE_OK)
		log_msg("cannot record the refused requests of the rate-limited periods (%d)", rc);
}

static int too_many(struct req *r, int64_t wait, int global)
{
	r->retry_after_s = (wait + 999) / 1000;
	if (global)
		return req_fail(r, 429, "rate_limited",
		                "too many failed authentications from all addresses; retry later");
	return req_fail(r, 429, "rate_limited",
	                "too many failed authentications from this address; retry later");
}

static int unauthenticated(struct req *r, const char *why)
{
	int64_t wait;
	int global = 0;

	if (rl_probing)
		return req_fail(r, 401, "unauthenticated", "%s", why);
	if ((wait = authz_rl_fail(r->ip, util_mono_ms(), &global)) > 0) {
		/* The limit began while this request waited for the writer
		 * (authz_gate let it in before): refused like the rest, but as
		 * a request the writer has taken, audited on its own. */
		return too_many(r, wait, global);
	}
	return req_fail(r, 401, "unauthenticated", "%s", why);
}

/* SPEC 8.4: a role of --mtls-roles needs, right after its token and before
 * the suspension check, a verified client certificate (mtls.c) naming the
 * token's account. Otherwise 401 certificate_required: a failed
 * authentication (counted by the limiter) whose event keeps the actor,
 * role, token and the certificate presented. */
static int certificate(struct req *r)
{
	const char *why;
	int64_t wait;
	int global = 0;

	if (r->who.role == ROLE_GUEST || (mtls_roles() & (unsigned)r->who.role) == 0)
		return 0;
	if (r->cert_state == MTLS_VALID && strcmp(r->cert_account, r->who.id) == 0)
		return 0;
	why = r->cert_state == MTLS_NONE      ? "this account needs a client certificate"
	      : r->cert_state == MTLS_CRL_OLD ? "the client CRL is out of date; no client "
	                                        "certificate is accepted until it is renewed"
	      : r->cert_state == MTLS_PROXIED ? "a request through a proxy cannot carry the client "
	                                        "certificate this account needs; connect directly"
	      : r->cert_state == MTLS_VALID   ? "the client certificate names another account"
	                                      : "the client certificate is not valid (not from the "
	                                        "client CA, revoked, expired or not for client "
	                                        "authentication)";
	if (!rl_probing && (wait = authz_rl_fail(r->ip, util_mono_ms(), &global)) > 0)
		return too_many(r, wait, global);
	return req_fail(r, 401, "certificate_required", "%s", why);
}

/* The bearer token: known, not revoked, not expired, of an existing
 * account. Sets r->who only when all of that holds, and r->token_id (the
 * token's public id, for the audit event) whenever the store knows the
 * token: an expired one (or one whose account is gone) is refused like an
 * unknown one, with the same answer, but its event names it. A revoked
 * token is deleted, so its event cannot (docs/decisions.md). */
static int authenticate(struct req *r, struct store_txn *t)
{
	struct token_rec rec;
	size_t toklen;
	const char *tok;
	struct rec_view acct;
	int rc;

	if (r->auth_state == 0)
		return unauthenticated(r, "missing bearer token");
	if (r->auth_state != 1 || strncasecmp(r->auth, "Bearer ", 7) != 0)
		return unauthenticated(r, "malformed Authorization header");
	tok = r->auth + 7;
	toklen = strlen(tok);
	if (toklen == 0 || toklen >= CRYPTO_TOKEN_STR_MAX)
		return unauthenticated(r, "unknown, revoked or expired token");
	rc = r->tok_hashed ? tokens_lookup_hash(t, r->tok_hash, &rec)
	                   : tokens_lookup(t, tok, toklen, &rec);
	if (rc == STORE_OK)
		memcpy(r->token_id, rec.id, sizeof r->token_id);
	if (rc == STORE_OK && tokens_expired(&rec, r->now))
		rc = STORE_NOTFOUND; /* alike to the client: no oracle */
	if (rc == STORE_NOTFOUND)
		return unauthenticated(r, "unknown, revoked or expired token");
	if (rc != STORE_OK)
		return rc;
	/* a view of the account's bytes in this transaction (records.h) */
	if ((rc = rec_view_get(t, DB_ACCOUNTS, rec.account, &acct)) != STORE_OK)
		return rc == STORE_NOTFOUND
		           ? unauthenticated(r, "unknown, revoked or expired token")
		           : rc;
	snprintf(r->who.id, sizeof r->who.id, "%s", rec.account);
	r->who.role = role_parse(rv_str(&acct, "role"));
	r->who.suspended = rv_true(&acct, "suspended");
	rec_view_done(&acct);
	return 0;
}

/* A capability that does not work (unknown, spent, expired, revoked,
 * wrong secret, ticket closed, credential gone): 404 not_found, all alike
 * (SPEC 8 "Capabilities", 1), and a failed authentication like a bad
 * token: counted by the limiter, audited with actor null. */
static int cap_unknown(struct req *r)
{
	int64_t wait;
	int global = 0;

	if (!rl_probing && (wait = authz_rl_fail(r->ip, util_mono_ms(), &global)) > 0)
		return too_many(r, wait, global);
	return req_fail(r, 404, "not_found",
	                "this link or receipt does not work: it is unknown, used up, expired or "
	                "revoked, or what it was for is gone");
}

/* A capability whose id names a real record rec but that does not work
 * (wrong secret, spent, expired, revoked, its ticket closed or gone): the
 * event names it (target its id, ticket its ticket, for a receipt
 * credential its credential), so the owner's trail shows the attempt
 * (docs/decisions.md). The answer is cap_unknown's, the same as for an
 * unknown id, and rec is released. */
static int cap_failed(struct req *r, json_t *rec, int is_link, const char *id)
{
	const char *tid = jx_str(rec, "ticket"), *cid = jx_str(rec, "credential");

	snprintf(r->a_target, sizeof r->a_target, "%s", id);
	if (tid != NULL)
		snprintf(r->a_ticket, sizeof r->a_ticket, "%s", tid);
	if (!is_link && cid != NULL)
		snprintf(r->a_cred, sizeof r->a_cred, "%s", cid);
	json_decref(rec);
	return cap_unknown(r);
}

/* Is the capability record rec (a link or receipt) usable at now? 1 yes,
 * 0 no, or a store_err. A link: not revoked, not spent, not expired. A
 * receipt: not revoked (by a restore, SPEC 8.5), its credential still
 * there. */
static int cap_usable(struct store_txn *t, const json_t *rec, int is_link, int64_t now)
{
	int rc;

	if (is_link)
		return json_object_get(rec, "revoked_at") == NULL &&
		       jx_int(rec, "used", 0) < jx_int(rec, "uses", 0) &&
		       now < jx_int(rec, "expires_at", 0);
	if (jx_str(rec, "ticket") == NULL || jx_str(rec, "credential") == NULL ||
	    json_object_get(rec, "revoked_at") != NULL) /* a restore revokes receipts */
		return 0;
	rc = creds_alive(t, jx_str(rec, "ticket"), jx_str(rec, "credential"), now);
	return rc == STORE_OK ? 1 : rc == STORE_NOTFOUND ? 0 : rc;
}

/* Authorization: Link {id}.{secret} or Receipt {id}.{secret}, on a route
 * that takes it. On success the principal is "link:{id}" or
 * "receipt:{id}" with role guest, suspended when the ticket's owner is;
 * r->ticket and r->cap_id are set. Secrets are compared as keyed hashes,
 * in constant time. */
static int cap_authenticate(struct req *r, struct store_txn *t)
{
	int is_link = (r->route->flags & R_LINK) != 0;
	const char *scheme = is_link ? "Link " : "Receipt ";
	const char *kind = is_link ? "link" : "receipt";
	size_t sl = strlen(scheme), idlen, seclen;
	unsigned char want[CRYPTO_CAP_HASH_LEN], got[CRYPTO_CAP_HASH_LEN];
	char id[32]; /* a server id is 22 characters */
	const char *cap, *dot, *hex;
	const json_t *tk = NULL;
	json_t *rec = NULL, *acct = NULL;
	int rc, ok;

	if (r->auth_state == 0)
		return unauthenticated(r, is_link ? "this route needs Authorization: Link"
		                                  : "this route needs Authorization: Receipt");
	if (r->auth_state != 1 || strncasecmp(r->auth, scheme, sl) != 0)
		return unauthenticated(r, is_link ? "this route takes only Authorization: Link"
		                                  : "this route takes only Authorization: Receipt");
	cap = r->auth + sl;
	if ((dot = strchr(cap, '.')) == NULL || (idlen = (size_t)(dot - cap)) >= sizeof id)
		return cap_unknown(r);
	memcpy(id, cap, idlen);
	id[idlen] = '\0';
	seclen = strlen(dot + 1);
	if (!util_valid_server_id(id) || seclen != CRYPTO_CAP_SECRET_LEN)
		return cap_unknown(r);
	rc = rec_get(t, is_link ? DB_LINKS : DB_RECEIPTS, id, &rec);
	if (rc == STORE_NOTFOUND)
		return cap_unknown(r);
	if (rc != STORE_OK)
		return rc;
	crypto_cap_hash(kind, id, dot + 1, seclen, got);
	hex = jx_str(rec, "hash");
	ok = hex != NULL && strlen(hex) == 2 * sizeof want &&
	     sodium_hex2bin(want, sizeof want, hex, strlen(hex), NULL, NULL, NULL) == 0 &&
	     sodium_memcmp(want, got, sizeof want) == 0;
	sodium_memzero(got, sizeof got);
	if (!ok)
		return cap_failed(r, rec, is_link, id);
	if ((rc = cap_usable(t, rec, is_link, r->now)) < 0) {
		json_decref(rec);
		return rc;
	}
	if (rc == 0)
		return cap_failed(r, rec, is_link, id);
	rc = rec_get_shared(t, DB_TICKETS, jx_str(rec, "ticket"), &tk);
	r->ticket = tk; /* read only (req.h) */
	if (rc == STORE_OK && !streq(jx_str(r->ticket, "status"), "open"))
		rc = STORE_NOTFOUND;
	if (rc == STORE_OK)
		rc = rec_get(t, DB_ACCOUNTS, jx_str(r->ticket, "owner"), &acct);
	if (rc == STORE_NOTFOUND) {
		jx_release(r->ticket);
		r->ticket = NULL;
		return cap_failed(r, rec, is_link, id);
	}
	if (rc != STORE_OK) {
		json_decref(rec);
		return rc;
	}
	snprintf(r->who.id, sizeof r->who.id, "%s:%s", kind, id);
	r->who.role = ROLE_GUEST;
	r->who.suspended = json_is_true(json_object_get(acct, "suspended"));
	snprintf(r->cap_id, sizeof r->cap_id, "%s", id);
	snprintf(r->a_ticket, sizeof r->a_ticket, "%s", jx_str(rec, "ticket"));
	if (is_link)
		snprintf(r->a_target, sizeof r->a_target, "%s", id);
	else
		snprintf(r->a_cred, sizeof r->a_cred, "%s", jx_str(rec, "credential"));
	json_decref(acct);
	json_decref(rec);
	return 0;
}

/* Bearer or capability, as the route takes. */
static int authenticate_any(struct req *r, struct store_txn *t)
{
	if (r->route->flags & (R_LINK | R_RECEIPT))
		return cap_authenticate(r, t);
	if ((r->route->flags & R_OR_RECEIPT) && r->auth_state == 1 &&
	    strncasecmp(r->auth, "Receipt ", 8) == 0)
		return cap_authenticate(r, t);
	return authenticate(r, t);
}

/* creator: on a route about one link, who made it (the assigned agent
 * may act on the links it made; on the others it is related, no more). */
static unsigned relation(const struct req *r, const json_t *ticket, const json_t *sess,
                         const char *creator)
{
	unsigned rel = 0;
	const char *owner = jx_str(ticket, "owner"), *agent = jx_str(ticket, "agent");

	if (streq(owner, r->who.id))
		rel |= REL_OWNER;
	if (r->who.role == ROLE_AGENT && streq(agent, r->who.id) && creator != NULL)
		rel |= streq(creator, r->who.id) ? REL_AGENT : REL_ASSIGNED;
	else if (r->who.role == ROLE_AGENT && streq(agent, r->who.id))
		rel |= sess != NULL ? REL_ASSIGNED : REL_AGENT;
	if (sess != NULL && r->who.role == ROLE_AGENT && streq(jx_str(sess, "agent"), r->who.id))
		rel |= REL_AGENT;
	if (r->who.role == ROLE_ADMIN)
		rel |= REL_ADMIN;
	if (r->who.role == ROLE_AUDITOR)
		rel |= REL_AUDITOR;
	return rel;
}

/* 404 for the subject of a route about a ticket, a session or a link:
 * the message names the route's kind, never where the check failed, so
 * an unknown id and one the caller is not related to read the same
 * (SPEC 6: no way to learn which ids exist). */
static int subject_not_found(struct req *r)
{
	return req_fail(r, 404, "not_found", "%s",
	                (r->route->flags & R_LINKID)    ? "no such link"
	                : (r->route->flags & R_SESSION) ? "no such session"
	                                                : "no such ticket");
}

/* The ticket the route is about (and its session, or its link's creator
 * into creator). */
static int load_subject(struct req *r, struct store_txn *t, char *creator, size_t clen)
{
	const char *tid;
	json_t *link = NULL, *s = NULL;
	const json_t *tk = NULL;
	int rc;

	if (r->route->flags & R_LINKID) {
		snprintf(r->a_target, sizeof r->a_target, "%s", r->params[0]);
		rc = rec_get(t, DB_LINKS, r->params[0], &link);
		if (rc == STORE_NOTFOUND)
			return subject_not_found(r);
		if (rc != STORE_OK)
			return rc;
		snprintf(creator, clen, "%s",
		         jx_str(link, "creator") ? jx_str(link, "creator") : "");
		snprintf(r->a_ticket, sizeof r->a_ticket, "%s",
		         jx_str(link, "ticket") ? jx_str(link, "ticket") : "");
		json_decref(link);
		if (r->a_ticket[0] == '\0')
			return STORE_ERROR;
		tid = r->a_ticket;
	} else if (r->route->flags & R_SESSION) {
		snprintf(r->a_session, sizeof r->a_session, "%s", r->params[0]);
		rc = session_get(t, r->params[0], &s);
		r->session = s;
		if (rc == STORE_NOTFOUND)
			return subject_not_found(r);
		if (rc != STORE_OK)
			return rc;
		tid = jx_str(r->session, "ticket");
	} else {
		tid = r->params[0];
	}
	if (tid == NULL)
		return STORE_ERROR;
	if (tid != r->a_ticket)
		snprintf(r->a_ticket, sizeof r->a_ticket, "%s", tid);
	if (r->nparams > 1)
		snprintf(r->a_cred, sizeof r->a_cred, "%s", r->params[1]);
	rc = rec_get_shared(t, DB_TICKETS, tid, &tk);
	r->ticket = tk; /* read only (req.h) */
	if (rc == STORE_NOTFOUND)
		return subject_not_found(r);
	return rc;
}

/* A receipt (SPEC 8 "Capabilities", 3): the path's ticket, or the
 * session's ticket, must be the receipt's own; anything else is 404. The
 * receipt's check loaded r->ticket and set r->a_ticket and r->a_cred. */
static int guest_scope(struct req *r, struct store_txn *t)
{
	json_t *s = NULL;
	int rc;

	if (r->route->flags & R_SESSION) {
		rc = session_get(t, r->params[0], &s);
		if (rc == STORE_NOTFOUND ||
		    (rc == STORE_OK && !streq(jx_str(s, "ticket"), r->a_ticket))) {
			json_decref(s);
			return req_fail(r, 404, "not_found", "no such session");
		}
		if (rc != STORE_OK)
			return rc;
		r->session = s;
		snprintf(r->a_session, sizeof r->a_session, "%s", r->params[0]);
	} else if ((r->route->flags & R_TICKET) && !streq(r->params[0], r->a_ticket)) {
		return req_fail(r, 404, "not_found", "no such ticket");
	} else if ((r->route->flags & R_TICKET) && r->nparams > 1 &&
	           !streq(r->params[1], r->a_cred)) {
		return req_fail(r, 404, "not_found", "no such credential");
	}
	return 0;
}

/* The secret read's session (X-Session-Id): the caller's, on this ticket,
 * active, and for a receipt's approval this credential. Read as a view of
 * the session's bytes in this transaction (records.h): nothing is written
 * between the read and the decision. r->session stays NULL: the answer
 * needs only the session's id (r->a_session, its key) and expiry
 * (r->sess_expires_at), copied here. */
static int check_session(struct req *r, struct store_txn *t)
{
	const char *state, *cred;
	struct rec_view s;
	int rc;

	if (r->session_state == 1)
		snprintf(r->a_session, sizeof r->a_session, "%s", r->session_hdr);
	if (r->session_state != 1)
		return req_fail(
		    r, 403, "session_required",
		    "an X-Session-Id of your active session on this ticket is required");
	rc = rec_view_get(t, DB_SESSIONS, r->session_hdr, &s);
	if (rc == STORE_NOTFOUND)
		return req_fail(r, 403, "session_required", "unknown session");
	if (rc != STORE_OK)
		return rc;
	if (!streq(rv_str(&s, "agent"), r->who.id) || !streq(rv_str(&s, "ticket"), r->a_ticket)) {
		rec_view_done(&s);
		return req_fail(r, 403, "session_required",
		                "that session is not yours or not on this ticket");
	}
	state = session_state_view(&s, r->now); /* a constant string */
	cred = rv_str(&s, "credential");
	r->sess_expires_at = rv_int(&s, "expires_at", -1);
	/* approved through a receipt: that receipt's credential only */
	rc = cred != NULL && !streq(cred, r->a_cred);
	rec_view_done(&s);
	if (strcmp(state, "pending") == 0)
		return req_fail(r, 403, "approval_pending",
		                "the session waits for the ticket owner's approval");
	if (strcmp(state, "denied") == 0)
		return req_fail(r, 403, "session_expired", "the ticket's owner denied the session");
	if (strcmp(state, "active") != 0)
		return req_fail(r, 403, "session_expired", "the session has %s", state);
	if (rc)
		return req_fail(r, 403, "approval_pending",
		                "the session's approval covers another credential of this ticket "
		                "only; this one needs the owner's approval");
	return 0;
}

#ifdef RSVAULT_TESTING
int64_t authz_test_listing_delay_ms;

void authz_test_listing_pause(void)
{
	struct timespec ts = {(time_t)(authz_test_listing_delay_ms / 1000),
	                      (long)(authz_test_listing_delay_ms % 1000) * 1000000L};

	if (authz_test_listing_delay_ms > 0)
		nanosleep(&ts, NULL);
}
#endif

int authz_recheck(struct req *r, struct store_txn *t, int ticket)
{
	struct rec_view v;
	int rc = 0, bad = 0;

	if (r->who.role != ROLE_GUEST) {
		if ((rc = rec_view_get(t, DB_ACCOUNTS, r->who.id, &v)) == STORE_OK) {
			bad = rv_true(&v, "suspended");
			rec_view_done(&v);
			rc =
			    bad ? req_fail(r, 403, "account_suspended", "this account is suspended")
			        : 0;
		} else if (rc == STORE_NOTFOUND) {
			rc = req_fail(r, 401, "unauthenticated",
			              "unknown, revoked or expired token");
		}
	}
	if (rc == 0 && ticket) {
		if ((rc = rec_view_get(t, DB_TICKETS, r->a_ticket, &v)) == STORE_OK) {
			bad = !streq(rv_str(&v, "owner"), r->who.id) &&
			      !(r->who.role == ROLE_AGENT && streq(rv_str(&v, "agent"), r->who.id));
			rec_view_done(&v);
			rc = bad ? req_fail(r, 404, "not_found", "no such ticket") : 0;
		} else if (rc == STORE_NOTFOUND) {
			rc = req_fail(r, 404, "not_found", "no such ticket");
		}
	}
	if (rc > 0)
		log_msg("request %s: allowed, then refused (%d) by a change committed before its "
		        "listing was read",
		        r->request_id, rc);
	return rc;
}

int authz_run(struct req *r, struct store_txn *t)
{
	const struct route *rt = r->route;
	int rc;

	if ((rc = authenticate_any(r, t)) != 0 || (rc = certificate(r)) != 0)
		return rc;
	if (r->who.suspended)
		return req_fail(r, 403, "account_suspended",
		                r->who.role == ROLE_GUEST ? "the ticket's owner is suspended"
		                                          : "this account is suspended");

	if (r->who.role == ROLE_GUEST && (rt->flags & R_OR_RECEIPT)) {
		/* a receipt on a route that also takes a token: within its own
		 * ticket, and its own credential where the path names one */
		if ((rc = guest_scope(r, t)) != 0)
			return rc;
	} else if (rt->flags & (R_TICKET | R_SESSION | R_LINKID)) {
		char creator[80] = "";
		if ((rc = load_subject(r, t, creator, sizeof creator)) != 0)
			return rc;
		unsigned rel =
		    relation(r, r->ticket, r->session, (rt->flags & R_LINKID) ? creator : NULL);
		if (rel == 0)
			return subject_not_found(r);
		if ((rel & rt->rels) == 0)
			return req_fail(r, 403, "forbidden",
			                "your role may not do this on a ticket");
	} else if ((r->who.role & rt->roles) == 0) {
		return req_fail(r, 403, "forbidden", "your role may not do this");
	}

	if (rt->flags & R_ELIGIBLE) {
		struct standing st;
		if ((rc = license_standing_of(t, jx_str(r->ticket, "owner"), r->now, &st)) !=
		    STORE_OK)
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
	if ((rt->flags & R_OPEN) && !streq(jx_str(r->ticket, "status"), "open"))
		return req_fail(r, 409, "conflict", "the ticket is closed");
	return 0;
}

/* authz_gate's probe: would the request authenticate? (read-only) */
static int probe_op(struct store_txn *t, void *arg)
{
	int rc;

	rl_probing = 1;
	rc = authenticate_any(arg, t);
	if (rc == 0)
		rc = certificate(arg);
	rl_probing = 0;
	return rc;
}

int authz_gate(struct req *r)
{
	int64_t wait;
	int global;

	if (authz_rl_wait(r->ip, util_mono_ms()) == 0)
		return 0;
	if (r->auth_state == 1) {
		/* Limited: only a valid credential goes on. The check runs on a
		 * copy, in a read transaction, and changes nothing. */
		struct req *p = malloc(sizeof *p);
		int rc, valid;
		if (p == NULL)
			return req_fail(r, 503, "unavailable",
			                "the vault cannot check credentials now");
		memcpy(p, r, sizeof *p);
		p->body = p->resp = NULL; /* owned by r */
		p->ticket = p->session = NULL;
		p->resp_text = NULL;
		p->now = util_now_ms(); /* as the writer would set it (token expiry) */
		rc = store_read_fresh(r->v->store, probe_op, p);
		valid = rc == 0 && p->who.id[0] != '\0';
		jx_release(p->ticket);      /* a capability's check loads its ticket */
		wipe_release(p, sizeof *p); /* held the token */
		if (rc < 0) {
			log_msg("request %s: cannot check its token (%d)", r->request_id, rc);
			return req_fail(r, 503, "unavailable",
			                "the vault cannot check credentials now");
		}
		if (valid)
			return 0;
	}
	if ((wait = authz_rl_refuse(r->ip, util_mono_ms(), &global)) == 0)
		return 0; /* lifted meanwhile: the writer decides */
	return too_many(r, wait, global);
}

void authz_prehash(struct req *r)
{
	size_t toklen;

	r->tok_hashed = 0;
	if (r->auth_state != 1 || strncasecmp(r->auth, "Bearer ", 7) != 0)
		return;
	toklen = strlen(r->auth + 7);
	if (toklen == 0 || toklen >= CRYPTO_TOKEN_STR_MAX)
		return;
	crypto_token_hash(r->auth + 7, toklen, r->tok_hash);
	r->tok_hashed = 1;
}

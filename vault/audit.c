/* audit.c - append events to the chain; sign checkpoints. */
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "auditlog.h"
#include "crypto.h"
#include "log.h"
#include "mtls.h"
#include "notify.h"
#include "records.h"
#include "route.h"
#include "util.h"
#include "vault.h"

/* Row of DB_AUDIT: hash (32) | be64 time ms | event JSON. */
#define ROW_HDR 40

/* The chain's head: from the transaction's memo (store_memo) when known,
 * else from the last row, and then noted in the memo. */
static int chain_head(struct store_txn *t, uint64_t *seq, unsigned char hash[32])
{
	struct store_memo *m = store_memo(t);
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int rc;

	if (m != NULL && m->valid) {
		*seq = m->seq;
		memcpy(hash, m->hash, 32);
		return STORE_OK;
	}
	*seq = 0;
	memset(hash, 0, 32);
	if ((rc = store_cursor_open(t, DB_AUDIT, &c)) != STORE_OK)
		return rc;
	rc = store_cursor_last(c, &k, &kl, &v, &vl);
	if (rc == STORE_OK) {
		if (kl != 8 || vl < ROW_HDR) {
			rc = STORE_ERROR;
		} else {
			*seq = util_be64_get(k);
			memcpy(hash, v, 32);
		}
	} else if (rc == STORE_NOTFOUND) {
		rc = STORE_OK;
	}
	store_cursor_close(c);
	if (rc == STORE_OK && m != NULL) {
		m->valid = 1;
		m->seq = *seq;
		memcpy(m->hash, hash, 32);
	}
	return rc;
}

/* The key that signs checkpoints: audit.key, or the one set by
 * audit_set_signer (start-up only, in the writer). */
static const unsigned char *signer_sk, *signer_pk;

void audit_set_signer(const unsigned char *sk, const unsigned char *pk)
{
	signer_sk = sk;
	signer_pk = pk;
}

static int sign_checkpoint(struct store_txn *t, uint64_t seq, const unsigned char hash[32],
                           int64_t now)
{
	unsigned char sig[64], key[8];
	char hhex[65], shex[129], phex[65];
	json_t *cp;
	char *s;
	int rc;

	if (audit_checkpoint_sign(seq, hash, signer_sk ? signer_sk : crypto_audit_sk(), sig) != 0)
		return STORE_ERROR;
	sodium_bin2hex(hhex, sizeof hhex, hash, 32);
	sodium_bin2hex(shex, sizeof shex, sig, 64);
	sodium_bin2hex(phex, sizeof phex, signer_pk ? signer_pk : crypto_audit_pk(), 32);
	cp = json_pack("{s:I, s:s, s:s, s:s, s:I}", "seq", (json_int_t)seq, "hash", hhex,
	               "signature", shex, "public_key", phex, "time_ms", (json_int_t)now);
	if (cp == NULL || (s = jx_text(cp)) == NULL) {
		json_decref(cp);
		return STORE_ERROR;
	}
	util_be64_put(key, seq);
	rc = store_put(t, DB_CHECKPOINTS, key, 8, s, strlen(s), STORE_APPEND);
	free(s);
	json_decref(cp);
	return rc;
}

#ifdef RSVAULT_TESTING
/* Test builds only: while DATA/fault-audit exists every audit append fails,
 * to show that requests then fail closed with 503 and change nothing. */
static const char *fault_dir;
void audit_test_fault_dir(const char *dir);
void audit_test_fault_dir(const char *dir)
{
	fault_dir = dir;
}
static int fault_audit(void)
{
	char p[4200];

	if (fault_dir == NULL)
		return 0;
	snprintf(p, sizeof p, "%s/fault-audit", fault_dir);
	return access(p, F_OK) == 0;
}
#endif

int audit_head(struct store_txn *t, uint64_t *seq)
{
	unsigned char hash[32];

	return chain_head(t, seq, hash);
}

/* A further token made for an account (account.token, allowed; target
 * "{account}#{token id}") is indexed under the account, so that the trail
 * of the account's tickets can show it: whoever minted it can act as the
 * owner, for instance approve a session (SPEC 8.3, docs/policy.md). */
static int index_token_issue(struct store_txn *t, const struct audit_event *ev,
                             const unsigned char key[8])
{
	char acct[REQ_PARAM_MAX];
	const char *hash;
	size_t n;

	if (ev->action == NULL || strcmp(ev->action, "account.token") != 0 || ev->outcome == NULL ||
	    strcmp(ev->outcome, "allow") != 0 || ev->target == NULL ||
	    (hash = strchr(ev->target, '#')) == NULL)
		return STORE_OK;
	if ((n = (size_t)(hash - ev->target)) == 0 || n >= sizeof acct)
		return STORE_OK;
	memcpy(acct, ev->target, n);
	acct[n] = '\0';
	return idx_put(t, DB_AUDIT_TOKENS, acct, key, 8);
}

static int append(struct store_txn *t, struct audit_event *ev, int64_t now)
{
	unsigned char key[8];
	unsigned char *row = NULL;
	char *s = NULL;
	size_t sl;
	int rc;

#ifdef RSVAULT_TESTING
	if (fault_audit())
		return STORE_ERROR;
#endif
	if ((rc = chain_head(t, &ev->seq, ev->prev)) != STORE_OK)
		return rc;
	ev->seq++;
	if (util_format_time(now, ev->time) != 0 || audit_event_hash(ev, ev->hash) != 0)
		return STORE_ERROR;
	/* the row's JSON written directly: building a jansson object and
	 * dumping it was most of the writer's JSON work per request */
	if ((s = audit_event_text(ev)) == NULL) {
		rc = STORE_ERROR;
		goto out;
	}
	sl = strlen(s);
	if ((row = malloc(ROW_HDR + sl)) == NULL) {
		rc = STORE_ERROR;
		goto out;
	}
	memcpy(row, ev->hash, 32);
	util_be64_put(row + 32, (uint64_t)now);
	memcpy(row + ROW_HDR, s, sl);
	util_be64_put(key, ev->seq);
	if ((rc = store_put(t, DB_AUDIT, key, 8, row, ROW_HDR + sl, STORE_APPEND)) != STORE_OK)
		goto out;
	{
		/* the new head, in this transaction only: it reaches the
		 * parent when this one commits, and is dropped if it aborts */
		struct store_memo *m = store_memo(t);
		if (m != NULL) {
			m->valid = 1;
			m->seq = ev->seq;
			memcpy(m->hash, ev->hash, 32);
		}
	}
	if (ev->ticket != NULL) {
		const void *v;
		size_t vl;
		/* index only events about a ticket that exists */
		if (store_get(t, DB_TICKETS, ev->ticket, strlen(ev->ticket), &v, &vl) == STORE_OK &&
		    (rc = idx_put(t, DB_AUDIT_TICKET, ev->ticket, key, 8)) != STORE_OK)
			goto out;
	}
	if ((rc = index_token_issue(t, ev, key)) != STORE_OK)
		goto out;
	if (ev->seq % AUDIT_CHECKPOINT_EVERY == 0 &&
	    (rc = sign_checkpoint(t, ev->seq, ev->hash, now)) != STORE_OK)
		goto out;
	/* its notifications (SPEC 8.3), in this same transaction */
	rc = notify_event(t, ev, now);
out:
	free(row);
	free(s);
	return rc;
}

static const char *nz(const char *s)
{
	return s && *s ? s : NULL;
}

/* The target of r's event: what the handler recorded, or else the
 * account a route about an account names in its path (with the token id
 * of a single-token route). License routes never fall back to their path:
 * it holds the license key, a bearer proof. */
static const char *target_of(const struct req *r, char buf[REQ_TARGET_MAX])
{
	if (r->a_target[0] != '\0')
		return r->a_target;
	if (r->route->p0 != P_ACCOUNT || r->nparams < 1)
		return NULL;
	if (r->route->p1 == P_TOKEN_ID && r->nparams > 1)
		snprintf(buf, REQ_TARGET_MAX, "%s#%s", r->params[0], r->params[1]);
	else
		snprintf(buf, REQ_TARGET_MAX, "%s", r->params[0]);
	return buf;
}

/* The cert of r's events: the certificate's fingerprint when it verified,
 * and in the certificate_required denial whatever was presented. */
static const char *cert_of(const struct req *r)
{
	if (r->cert_fp[0] == '\0')
		return NULL;
	if (r->cert_state == MTLS_VALID)
		return r->cert_fp;
	return r->err_code != NULL && strcmp(r->err_code, "certificate_required") == 0 ? r->cert_fp
	                                                                               : NULL;
}

int audit_head_seq(struct store_txn *t, uint64_t *seq)
{
	unsigned char hash[32];

	return chain_head(t, seq, hash);
}

/* The action of r's event: the route's, except that a receipt deciding a
 * session has actions of its own (SPEC 8.2: receipt.approve, receipt.deny),
 * so a trail tells a customer's decision from an owner token's at a glance. */
static const char *action_of(const struct req *r)
{
	const char *a = r->route->action;

	if (r->who.role != ROLE_GUEST || strncmp(r->who.id, "receipt:", 8) != 0)
		return a;
	if (strcmp(a, "session.approve") == 0)
		return "receipt.approve";
	if (strcmp(a, "session.deny") == 0)
		return "receipt.deny";
	return a;
}

int audit_record(struct store_txn *t, const struct req *r, int allow)
{
	struct audit_event ev;
	char tbuf[REQ_TARGET_MAX];
	int authed = r->who.id[0] != '\0';

	memset(&ev, 0, sizeof ev);
	ev.actor = authed ? r->who.id : NULL;
	ev.role = authed ? role_name(r->who.role) : NULL;
	ev.action = action_of(r);
	ev.ticket = nz(r->a_ticket);
	ev.credential = nz(r->a_cred);
	ev.session = nz(r->a_session);
	ev.form = AUDIT_FORM_CURRENT;
	ev.outcome = allow ? "allow" : "deny";
	ev.reason = allow ? NULL : r->err_code;
	ev.ip = nz(r->ip);
	ev.request_id = r->request_id;
	ev.target = target_of(r, tbuf);
	/* also unauthenticated: the id of a known but expired token */
	ev.token = nz(r->token_id);
	ev.cert = cert_of(r);
	return append(t, &ev, r->now);
}

int audit_system(struct store_txn *t, const char *action, const char *ticket,
                 const char *credential, const char *session, const char *reason)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof ev);
	ev.form = AUDIT_FORM_CURRENT;
	ev.action = action;
	ev.ticket = ticket;
	ev.credential = credential;
	ev.session = session;
	ev.outcome = "allow";
	ev.reason = reason;
	return append(t, &ev, util_now_ms());
}

int audit_limited(struct store_txn *t, const char *ip, uint64_t refused)
{
	struct audit_event ev;
	char n[24];

	snprintf(n, sizeof n, "%llu", (unsigned long long)refused);
	memset(&ev, 0, sizeof ev);
	ev.form = AUDIT_FORM_CURRENT;
	ev.action = "auth.limited";
	ev.outcome = "deny";
	ev.reason = "rate_limited";
	ev.ip = ip;
	ev.target = n;
	return append(t, &ev, util_now_ms());
}

int audit_system_target(struct store_txn *t, const char *action, const char *target)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof ev);
	ev.form = AUDIT_FORM_CURRENT;
	ev.action = action;
	ev.target = target;
	ev.outcome = "allow";
	return append(t, &ev, util_now_ms());
}

/* The event that request r caused besides its own: r's actor, role, ip,
 * request id and token, outcome allow. */
static int caused(struct store_txn *t, const struct req *r, const char *action, const char *ticket,
                  const char *session, const char *target, const char *reason)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof ev);
	ev.form = AUDIT_FORM_CURRENT;
	ev.actor = nz(r->who.id);
	ev.role = ev.actor != NULL ? role_name(r->who.role) : NULL;
	ev.action = action;
	ev.ticket = ticket;
	ev.session = session;
	ev.target = target;
	ev.outcome = "allow";
	ev.reason = reason;
	ev.ip = nz(r->ip);
	ev.request_id = r->request_id;
	ev.token = nz(r->token_id);
	ev.cert = r->cert_state == MTLS_VALID ? nz(r->cert_fp) : NULL;
	return append(t, &ev, r->now);
}

int audit_caused(struct store_txn *t, const struct req *r, const char *action, const char *ticket,
                 const char *session, const char *reason)
{
	return caused(t, r, action, ticket, session, NULL, reason);
}

int audit_caused_target(struct store_txn *t, const struct req *r, const char *action,
                        const char *ticket, const char *target, const char *reason)
{
	return caused(t, r, action, ticket, NULL, target, reason);
}

int audit_checkpoint_due(struct store_txn *t, int64_t now, int64_t max_age_ms)
{
	struct store_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	uint64_t seq, cp_seq = 0;
	unsigned char hash[32], key[8];
	int rc;

	if ((rc = chain_head(t, &seq, hash)) != STORE_OK || seq == 0)
		return rc;
	if ((rc = store_cursor_open(t, DB_CHECKPOINTS, &c)) != STORE_OK)
		return rc;
	if (store_cursor_last(c, &k, &kl, NULL, NULL) == STORE_OK && kl == 8)
		cp_seq = util_be64_get(k);
	store_cursor_close(c);
	if (cp_seq >= seq)
		return STORE_OK;
	if (max_age_ms < 0) /* audit_checkpoint_now: whatever the clock says */
		return sign_checkpoint(t, seq, hash, now);
	/* age of the oldest unsigned event */
	util_be64_put(key, cp_seq + 1);
	if ((rc = store_get(t, DB_AUDIT, key, 8, &v, &vl)) != STORE_OK || vl < ROW_HDR)
		return rc == STORE_OK ? STORE_ERROR : rc;
	if (now - (int64_t)util_be64_get((const unsigned char *)v + 32) < max_age_ms)
		return STORE_OK;
	return sign_checkpoint(t, seq, hash, now);
}

int audit_checkpoint_now(struct store_txn *t)
{
	return audit_checkpoint_due(t, util_now_ms(), -1);
}

/* authz.h - the one authorization gauntlet (SPEC §6 order):
 * authenticate (401/429) -> suspended (403) -> relation to the ticket (404)
 * -> role (403 forbidden) -> eligibility (403 license_required) -> session
 * (403 session_required / session_expired) -> ticket state (409).
 * Runs in the writer thread inside the request's transaction.
 *
 * And the limits on failed authentication (SPEC §6, §8.1): per address
 * group (IPv4 address, IPv6 /64) and for all addresses together. Requests
 * refused by a limit are answered before they reach the writer and are
 * recorded as one auth.limited event per limited period. */
#ifndef RSVAULT_AUTHZ_H
#define RSVAULT_AUTHZ_H

#include <stddef.h>
#include <stdint.h>

#include "req.h"
#include "store.h"
#include "util.h"

/* Failed authentications per address group before 429, and the window. */
#define AUTHZ_FAIL_LIMIT 10
#define AUTHZ_FAIL_WINDOW_MS 60000

/* Failed authentications per second from all addresses together, and how
 * many may come at once; beyond that every request without a valid token
 * gets 429 until the allowance has refilled completely. */
#define AUTHZ_ANON_RATE 50
#define AUTHZ_ANON_BURST 100

/* The values in force (the defines above; test builds may change them
 * before traffic starts). */
extern int64_t authz_fail_window_ms;
extern int64_t authz_anon_rate;
extern int64_t authz_anon_burst;

/* Returns 0 when the request may go on to its handler; otherwise the HTTP
 * status with r's error set (or a negative store_err). */
int authz_run(struct req *r, struct store_txn *t);

/* For a listing read in its own transaction t after the commit of its
 * allow event (the ticket list, the credential list, the audit
 * listings): what the gauntlet checked that a change committed in between
 * can undo, checked again in t. The caller's account still exists and is
 * not suspended (for a bearer principal), and, with ticket set, the caller
 * still owns r->a_ticket or is its assigned agent. Returns 0, or the
 * gauntlet's answer for the state in t (401, 403 account_suspended, 404
 * not_found; r's error set, logged as a refusal after an allow event), or
 * a negative store_err. */
int authz_recheck(struct req *r, struct store_txn *t, int ticket);

/* Called by those listings between the commit and the read. Test builds
 * pause there for authz_test_listing_delay_ms (RSVAULT_TEST_LIST_DELAY_MS)
 * so that a test can commit a change in between; otherwise nothing. */
#ifdef RSVAULT_TESTING
extern int64_t authz_test_listing_delay_ms;
void authz_test_listing_pause(void);
#define AUTHZ_LISTING_PAUSE() authz_test_listing_pause()
#else
#define AUTHZ_LISTING_PAUSE() ((void)0)
#endif

/* Before r is queued for the writer (any thread): when r's address group
 * or all addresses are limited and r carries no valid credential (checked
 * in a read transaction), answer 429 rate_limited with retry_after_s, count
 * it in the limited period, and return 429; nothing is written. Returns 0
 * when r goes on to the writer, or 503 when its token cannot be checked. */
int authz_gate(struct req *r);

/* The writer's periodic job: one auth.limited event (ip = the address
 * group, or null for the limit on all addresses; target = the refused
 * count) for each limited period that has ended, or, with all, for every
 * period (shutdown). Returns 0 or a store_err (nothing then counts as
 * recorded). */
int authz_tick(struct store_txn *t, int all);

/* At shutdown, after the HTTP listener has stopped: record every pending
 * period (authz_tick with all) in one write. */
void authz_shutdown(struct store *s);

/* The limiter itself, at monotonic time now (exposed for the unit test).
 * wait: ms until ip may try again, 0 if it may now. fail: record a failed
 * authentication if not limited (returns 0), else the wait. refuse: count
 * a refusal in the limited period (returns the wait, 0 if not limited).
 * *global says whether only the limit on all addresses holds. */
int64_t authz_rl_wait(const char *ip, int64_t now);
int64_t authz_rl_fail(const char *ip, int64_t now, int *global);
int64_t authz_rl_refuse(const char *ip, int64_t now, int *global);

/* A limited period to record: ip is its group, "" for the aggregate (the
 * limit on all addresses, and groups whose slot was reused). */
struct authz_limited {
	char ip[UTIL_IP_GROUP_LEN];
	uint64_t refused;
	int slot;                /* internal: where it came from */
	uint64_t ended, current; /* internal: which counts it took */
};
/* Periods due at now (ended ones; with all, every one), at most max. */
size_t authz_rl_due(struct authz_limited *out, size_t max, int64_t now, int all);
/* Those periods are recorded: take their counts off. */
void authz_rl_recorded(const struct authz_limited *d, size_t n);
/* Forget everything (unit tests). */
void authz_rl_reset(void);

/* Before a request is queued: hash its bearer token (a well-formed one)
 * into r->tok_hash, so that the writer only looks it up. */
void authz_prehash(struct req *r);

#endif

/* route.h - the declarative route table. Each route names its audit
 * action, who may call it and which checks of the gauntlet apply; the
 * handler runs only after all of them passed and never re-checks. */
#ifndef RSVAULT_ROUTE_H
#define RSVAULT_ROUTE_H

#include "req.h"
#include "store.h"

enum param_kind { P_NONE, P_SERVER_ID, P_ACCOUNT, P_LICENSE, P_TOKEN_ID };

/* flags */
#define R_PUBLIC 0x01u   /* no authentication, not audited (health) */
#define R_BODY 0x02u     /* takes a JSON body */
#define R_TICKET 0x04u   /* params[0] is a ticket id: relation check */
#define R_SESSION 0x08u  /* params[0] is a session id: relation via its ticket */
#define R_ELIGIBLE 0x10u /* ticket owner must be eligible */
#define R_NEEDSESS 0x20u /* X-Session-Id of the caller's active session */
#define R_OPEN 0x40u     /* ticket must be open (409) */
/* Capability routes (SPEC 8 "Capabilities", 8.2): authenticated by
 * "Authorization: Link {id}.{secret}" or "Receipt {id}.{secret}" instead
 * of a bearer token; the capability names the ticket (and the credential). */
#define R_LINK 0x80u     /* a link */
#define R_RECEIPT 0x100u /* a receipt */
#define R_LINKID 0x200u  /* params[0] is a link id: relation via its ticket and creator */
/* A route that also takes "Authorization: Receipt ...": a receipt acts as
 * a guest within its own ticket, and on a path naming a credential
 * (params[1]) only its own credential (SPEC 8.3: approval, rotated);
 * anything else is 404. A bearer token goes the usual way. */
#define R_OR_RECEIPT 0x400u
/* Authenticated and authorized like any route, but no audit event, allowed
 * or denied (GET /v1/metrics, SPEC 8.1); failed authentications still
 * count for rate limiting. */
#define R_NOAUDIT 0x4000u
/* A 200 answer is the metrics exposition (text/plain), not JSON. */
#define R_METRICS 0x8000u

typedef int (*handler_fn)(struct req *r, struct store_txn *t);

struct route {
	const char *method;
	const char *pattern; /* "/v1/tickets/{}/credentials/{}" */
	enum param_kind p0, p1;
	unsigned flags;
	unsigned roles; /* roles allowed (routes without a ticket) */
	unsigned rels;  /* relations allowed (ticket and session routes) */
	const char *action;
	handler_fn handler;
};

enum route_result { ROUTE_FOUND, ROUTE_NOT_FOUND, ROUTE_BAD_METHOD };

/* Match method and raw path (no query). On ROUTE_FOUND fills r->route and
 * r->params. On ROUTE_BAD_METHOD writes the allowed methods into allow. */
enum route_result route_match(struct req *r, const char *method, const char *path, char *allow,
                              size_t allowlen);

#endif

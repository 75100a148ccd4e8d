/* req.h - one request's context, shared by the HTTP glue (which fills in
 * what arrived), the authorization gauntlet, the handlers (which run in the
 * writer thread inside a transaction) and the audit writer. */
#ifndef RSVAULT_REQ_H
#define RSVAULT_REQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apilimits.h"
#include "jsonx.h"
#include "crypto.h"
#include "store.h"

#define REQ_PARAM_MAX 130
#define REQ_URI_MAX 4096
#define REQ_ID_LEN 33 /* 32 hex + NUL */
#define REQ_TARGET_MAX (2 * REQ_PARAM_MAX + 8)

enum role {
	ROLE_NONE = 0,
	ROLE_CUSTOMER = 1 << 0,
	ROLE_RESELLER = 1 << 1,
	ROLE_AGENT = 1 << 2,
	ROLE_AUDITOR = 1 << 3,
	ROLE_ADMIN = 1 << 4,
	ROLE_GUEST = 1 << 5, /* a link or a receipt (SPEC 8.2); never an account's role */
};
#define ROLE_ANY (ROLE_CUSTOMER | ROLE_RESELLER | ROLE_AGENT | ROLE_AUDITOR | ROLE_ADMIN)

/* A principal's relation to a ticket. */
enum rel {
	REL_OWNER = 1 << 0, /* the ticket's owner */
	REL_AGENT = 1 << 1, /* the assigned agent (or, for a session, its agent) */
	REL_ADMIN = 1 << 2,
	REL_AUDITOR = 1 << 3,
	REL_ASSIGNED = 1 << 4, /* assigned agent, on a route about one session: related, no right */
};

enum body_state { BODY_NONE, BODY_OK, BODY_INVALID };

struct arena;
struct route;
struct vault;

struct principal {
	char id[72];
	enum role role;
	int suspended;
};

struct req {
	struct vault *v;
	const struct route *route;
	/* The request's own memory (common/arena.h), shared by the
	 * connection's context that holds this request, the copy queued to
	 * the writer and its store operation, and the answer text handed to
	 * libmicrohttpd: each holds a reference, the last one wipes and frees
	 * it (http.c, dispatch.c). uri, resp_text and the secret read's
	 * post_rec are in it. */
	struct arena *arena;

	/* What arrived (set by http.c before the writer sees it). */
	/* the request URI, at most REQ_URI_MAX - 1 bytes: in the arena, to
	 * its size (a 4 KiB array here was copied twice and wiped per
	 * request), moved with the request (dispatch.c); NULL when it was too
	 * long */
	char *uri;
	const char *query; /* into uri, after '?', or NULL */
	char params[2][REQ_PARAM_MAX];
	int nparams;
	char ip[64];
	char request_id[REQ_ID_LEN];
	char auth[160]; /* Authorization header value */
	int auth_state; /* 0 none, 1 present, 2 malformed/too long */
	/* the bearer token's keyed hash, computed before the request is
	 * queued (authz_prehash); tok_hashed 1 when set */
	unsigned char tok_hash[CRYPTO_TOKEN_HASH_LEN];
	int tok_hashed;
	/* The client certificate (SPEC 8.4), from mtls_check: state (mtls.h
	 * MTLS_*), lowercase hex SHA-256 of its DER ("" if none presented)
	 * and, when it verified, its CN. */
	int cert_state;
	char cert_fp[65];
	char cert_account[72];
	char session_hdr[80]; /* X-Session-Id */
	int session_state;    /* 0 none, 1 present, 2 malformed */
	json_t *body;
	enum body_state body_state;
	char body_error[160];
	int64_t now; /* ms, set when the writer runs the request */

	/* Set by the gauntlet. */
	struct principal who;
	/* public id of the token used, once authenticated, or of a known
	 * token refused as expired (authz.c authenticate) */
	char token_id[CRYPTO_TOKEN_ID_LEN];
	/* The ticket the request is about, and the session (secret read,
	 * session end): references that may be shared with the thread's
	 * record cache (rec_get_shared), so read only, and const so that the
	 * compiler says so; a handler that changes one changes a copy of its
	 * own (json_deep_copy) and puts that. Released with jx_release. */
	const json_t *ticket;
	const json_t *session;
	/* The secret read's session (check_session reads it as a view, and
	 * leaves session NULL): its expires_at (ms, -1 none); its id is
	 * a_session. */
	int64_t sess_expires_at;
	char cap_id[REQ_PARAM_MAX]; /* capability routes: the link's or receipt's id */

	/* Audit subject (pointers into params or the loaded records). */
	char a_ticket[REQ_PARAM_MAX];
	char a_cred[REQ_PARAM_MAX];
	char a_session[REQ_PARAM_MAX];
	/* What the action was done to where that is not the ticket, credential
	 * or session: an account id, "account#token id", a license id, an
	 * agent (SPEC 8.1). Never a license key or anything secret. */
	char a_target[REQ_TARGET_MAX];

	/* Result. */
	int status;
	json_t *resp; /* body on success (owned); NULL for 204 */
	/* or the body as JSON text, written directly (the secret read's
	 * answer): in r->arena, NUL-terminated; used instead of resp when set
	 * (req_ok_text); libmicrohttpd sends it from the arena, which holds a
	 * reference for the answer until libmicrohttpd destroys it */
	char *resp_text;
	const char *err_code;
	char err_msg[200];
	int secret;            /* the body holds a secret: wipe it after sending */
	int64_t retry_after_s; /* 429: seconds until the client may try again */

	/* Work after the commit: a handler that decided in the writer may
	 * leave the rest (decryption, the response) to post, which runs on
	 * the connection's thread once the decision and its audit event are
	 * durable, from the bytes the handler copied out here, never from a
	 * later read of the store. post sets the result like a handler. */
	int (*post)(struct req *r);
	/* a copy of a stored record or a handler's own state: in r->arena
	 * or malloc'd (req_post_clear tells them apart) */
	unsigned char *post_rec;
	size_t post_reclen;
	unsigned char post_key[CRYPTO_WRAPPED_LEN]; /* a wrapped ticket key */
	size_t post_keylen;
};

/* Free what a handler left for post (any thread, any time). */
void req_post_clear(struct req *r);

/* Record an error result; returns status so handlers can `return fail(...)`. */
int req_fail(struct req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record a success; takes ownership of body (NULL for 204). Returns status. */
int req_ok(struct req *r, int status, json_t *body);

/* Record a success whose body is the JSON text (from r->arena, wiped with
 * it). Returns status. */
int req_ok_text(struct req *r, int status, char *text);

/* Wipe (a path may name a capability) and drop r's URI. */
void req_uri_clear(struct req *r);

/* Wipe and drop a body text left on r. */
void req_text_clear(struct req *r);

/* Find a query parameter, percent-decoded strictly into out. Returns 1 if
 * present, 0 if absent, -1 if malformed or too long. */
int req_query(const struct req *r, const char *name, char *out, size_t outlen);

const char *role_name(enum role r);
enum role role_parse(const char *s);

#endif

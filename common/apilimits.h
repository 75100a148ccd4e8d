/* apilimits.h - the API's limits and kinds (SPEC 6, 8.1), in one place
 * for the server (which enforces them) and the client (which checks its
 * input against them before sending). Lengths in code points unless said. */
#ifndef RSVAULT_APILIMITS_H
#define RSVAULT_APILIMITS_H

/* Largest request body, bytes. */
#define API_BODY_MAX (64 * 1024)

/* Field rules of a credential upload (SPEC 6): what the server checks and
 * GET /v1/link tells the upload page. A code point is at most 4 bytes. */
#define API_LABEL_MAX 128    /* code points */
#define API_USERNAME_MAX 256 /* code points */
#define API_SECRET_MAX 8192  /* bytes */
#define API_NOTES_MAX 4096   /* code points */
#define API_CRED_TTL_DEFAULT 604800
#define API_CRED_TTL_MAX 2592000

/* Kinds of credentials, for an initializer: {API_CRED_KINDS, NULL}. */
#define API_CRED_KINDS "remote-utilities", "rdp", "ssh", "vnc", "web", "other"

/* Bounds of "ttl_s" for a token (SPEC 8.1). */
#define API_TOKEN_TTL_MIN_S 60
#define API_TOKEN_TTL_MAX_S 31536000

/* Upload links: "ttl_s", "uses" and "note". */
#define API_LINK_TTL_DEFAULT 86400
#define API_LINK_TTL_MAX 604800
#define API_LINK_USES_DEFAULT 1
#define API_LINK_USES_MAX 10
#define API_LINK_NOTE_MAX 200 /* code points */

/* Subject of a ticket. */
#define API_SUBJECT_MAX 200 /* code points */

/* Default "ttl_s" of a session (the server's --session-max-ttl caps it). */
#define API_SESSION_TTL_DEFAULT 1800

/* Largest "limit" of one page of GET /v1/audit. */
#define API_AUDIT_PAGE_MAX 1000

/* Every other list (SPEC 8.6): "limit" 1..API_LIST_PAGE_MAX, default
 * API_LIST_PAGE_DEFAULT, with an opaque "after" and "next". */
#define API_LIST_PAGE_MAX 1000
#define API_LIST_PAGE_DEFAULT 1000

#endif

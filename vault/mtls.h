/* mtls.h - client certificates for staff (SPEC 8.4).
 *
 * With --client-ca FILE the server asks every TLS client for a
 * certificate (libmicrohttpd's MHD_OPTION_HTTPS_MEM_TRUST: requested, not
 * required, so customers without one are unaffected). For each request,
 * on its connection's thread, mtls_check verifies what the client
 * presented against our own GnuTLS trust list (the client CA and, with
 * --client-crl, its CRL): gnutls_x509_trust_list_verify_crt2 must return
 * 0 with status 0 (chain to the CA, signatures, validity dates,
 * revocation), the leaf must carry EKU clientAuth and exactly one CN,
 * and the CRL must not be past its nextUpdate. The gauntlet (authz.c)
 * then demands, right after the token and for the roles of --mtls-roles,
 * a verified certificate whose CN is the token's account.
 *
 * The trust list is ours rather than the one libmicrohttpd holds so that
 * mtls_reload can swap the CA and CRL while the server runs. */
#ifndef RSVAULT_MTLS_H
#define RSVAULT_MTLS_H

#include "req.h"

/* r->cert_state values */
#define MTLS_NONE 0       /* no certificate presented (or mTLS off) */
#define MTLS_VALID 1      /* verified; r->cert_account is its CN */
#define MTLS_INVALID (-1) /* presented, did not verify */
#define MTLS_CRL_OLD (-2) /* presented, but the CRL is past its nextUpdate */
#define MTLS_PROXIED (-3) /* the TLS peer is a trusted proxy (http.c): never satisfies mTLS */

/* Remember the options (before mtls_load). roles is a comma-separated
 * list of account roles (customer, reseller, agent, auditor, admin), or
 * NULL. Returns 0, or -1 with a message on stderr (an unknown role,
 * --mtls-roles or --client-crl without --client-ca). */
int mtls_configure(const char *ca_path, const char *crl_path, const char *roles);

/* Read the CA (and CRL) named by mtls_configure; with mTLS off, do
 * nothing. The CRL must be signed by the CA. Returns 0, or -1 with the
 * reason logged; nothing changes then. */
int mtls_load(void);

/* Re-read the client CA and CRL from the same paths (for SIGHUP): a new
 * trust list takes the old one's place for the requests that follow; on
 * any error the old one stays and -1 is returned (reason logged). Safe
 * while requests run. The files must be readable by the server's --user
 * account. */
int mtls_reload(void);

/* Is mTLS on (--client-ca given)? */
int mtls_enabled(void);

/* The roles that need a certificate (a mask of enum role), 0 if none. */
unsigned mtls_roles(void);

/* The client CA as read at start (PEM, NUL-terminated), for
 * MHD_OPTION_HTTPS_MEM_TRUST; NULL when mTLS is off. */
const char *mtls_ca_pem(void);

/* Fill r->cert_state, r->cert_fp (lowercase hex SHA-256 of the leaf's
 * DER, whenever one was presented) and r->cert_account from the TLS
 * session (a gnutls_session_t, or NULL). Call on the connection's thread.
 * Never blocks beyond a read lock. */
void mtls_check(void *tls_session, struct req *r);

/* mtls_check's work on a chain the client presented: chain is an array
 * of n gnutls_datum_t, DER certificates, leaf first (as
 * gnutls_certificate_get_peers gives them). Exposed for the unit test. */
void mtls_verify_chain(const void *chain, unsigned n, struct req *r);

/* Free everything; mTLS is off afterwards (until mtls_configure). */
void mtls_shutdown(void);

#endif

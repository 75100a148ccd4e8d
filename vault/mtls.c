/* mtls.c - verify staff client certificates (contract in mtls.h). */
#include "mtls.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "log.h"
#include "util.h"

#define MTLS_PEM_MAX (256 * 1024)
#define MTLS_CHAIN_MAX 4 /* certificates a client may present */
#define MTLS_PATH_MAX 2048

static struct {
	int on;
	unsigned roles;
	char ca_path[MTLS_PATH_MAX];
	char crl_path[MTLS_PATH_MAX];
	char *ca_pem; /* as read at start, for libmicrohttpd */
	pthread_rwlock_t lock;
	gnutls_x509_trust_list_t tl; /* under lock */
	time_t crl_next;             /* under lock: the CRL's nextUpdate; 0 without a CRL */
} M = {.lock = PTHREAD_RWLOCK_INITIALIZER};

int mtls_configure(const char *ca_path, const char *crl_path, const char *roles)
{
	if (ca_path == NULL || ca_path[0] == '\0') {
		if ((roles && roles[0]) || (crl_path && crl_path[0])) {
			fprintf(stderr,
			        "rsvaultd: --mtls-roles and --client-crl need --client-ca\n");
			return -1;
		}
		return 0;
	}
	if (snprintf(M.ca_path, sizeof M.ca_path, "%s", ca_path) >= (int)sizeof M.ca_path ||
	    snprintf(M.crl_path, sizeof M.crl_path, "%s", crl_path ? crl_path : "") >=
	        (int)sizeof M.crl_path) {
		fprintf(stderr, "rsvaultd: --client-ca or --client-crl path too long\n");
		return -1;
	}
	M.roles = 0;
	if (roles != NULL && roles[0] != '\0') {
		char buf[128], *save = NULL, *tok;
		if (snprintf(buf, sizeof buf, "%s", roles) >= (int)sizeof buf) {
			fprintf(stderr, "rsvaultd: --mtls-roles too long\n");
			return -1;
		}
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			enum role ro = role_parse(tok);
			if (ro == ROLE_NONE || ro == ROLE_GUEST) {
				fprintf(stderr,
				        "rsvaultd: --mtls-roles: \"%.32s\" is not an account role "
				        "(customer, reseller, agent, auditor, admin)\n",
				        tok);
				return -1;
			}
			M.roles |= (unsigned)ro;
		}
	}
	M.on = 1;
	return 0;
}

/* A public PEM file, whole, NUL-terminated (malloc'd). */
static char *read_file(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		log_msg("mtls: cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > MTLS_PEM_MAX || (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		log_msg("mtls: %s is not a usable PEM file", path);
		close(fd);
		return NULL;
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		log_msg("mtls: cannot read %s", path);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* Build a trust list from the CA and CRL files. */
static int build(gnutls_x509_trust_list_t *out, time_t *crl_next, char **ca_out)
{
	gnutls_x509_trust_list_t tl = NULL;
	gnutls_x509_crt_t ca = NULL;
	gnutls_x509_crl_t crl = NULL;
	gnutls_datum_t d;
	unsigned status = 0;
	char *ca_pem = NULL, *crl_pem = NULL;
	size_t len;
	int rc = -1, n;

	*crl_next = 0;
	if ((ca_pem = read_file(M.ca_path, &len)) == NULL)
		goto done;
	d.data = (unsigned char *)ca_pem;
	d.size = (unsigned)len;
	if (gnutls_x509_crt_init(&ca) < 0 ||
	    gnutls_x509_crt_import(ca, &d, GNUTLS_X509_FMT_PEM) < 0 ||
	    gnutls_x509_crt_get_ca_status(ca, NULL) <= 0) {
		log_msg("mtls: %s is not a CA certificate", M.ca_path);
		goto done;
	}
	if (gnutls_x509_trust_list_init(&tl, 0) < 0 ||
	    (n = gnutls_x509_trust_list_add_trust_mem(tl, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0)) <
	        1) {
		log_msg("mtls: cannot use %s as the client CA", M.ca_path);
		goto done;
	}
	if (M.crl_path[0] != '\0') {
		if ((crl_pem = read_file(M.crl_path, &len)) == NULL)
			goto done;
		d.data = (unsigned char *)crl_pem;
		d.size = (unsigned)len;
		if (gnutls_x509_crl_init(&crl) < 0 ||
		    gnutls_x509_crl_import(crl, &d, GNUTLS_X509_FMT_PEM) < 0 ||
		    gnutls_x509_crl_verify(crl, &ca, 1, 0, &status) < 0 || status != 0) {
			log_msg("mtls: %s is not a CRL signed by the client CA", M.crl_path);
			goto done;
		}
		*crl_next = gnutls_x509_crl_get_next_update(crl);
		if (*crl_next == (time_t)-1) {
			log_msg("mtls: %s has no nextUpdate; refusing a CRL that never ages",
			        M.crl_path);
			goto done;
		}
		/* the list verifies it again against its CAs and keeps it */
		if (gnutls_x509_trust_list_add_crls(tl, &crl, 1, GNUTLS_TL_VERIFY_CRL, 0) != 1) {
			log_msg("mtls: cannot add %s to the trust list", M.crl_path);
			goto done;
		}
		crl = NULL; /* the list's now */
	}
	*out = tl;
	tl = NULL;
	if (ca_out != NULL) {
		*ca_out = ca_pem;
		ca_pem = NULL;
	}
	rc = 0;
done:
	if (tl != NULL)
		gnutls_x509_trust_list_deinit(tl, 1);
	if (crl != NULL)
		gnutls_x509_crl_deinit(crl);
	if (ca != NULL)
		gnutls_x509_crt_deinit(ca);
	free(ca_pem);
	free(crl_pem);
	return rc;
}

static int swap_in(char **ca_out)
{
	gnutls_x509_trust_list_t tl = NULL, old;
	time_t next;

	if (!M.on)
		return 0;
	if (build(&tl, &next, ca_out) != 0)
		return -1;
	pthread_rwlock_wrlock(&M.lock);
	old = M.tl;
	M.tl = tl;
	M.crl_next = next;
	pthread_rwlock_unlock(&M.lock);
	if (old != NULL)
		gnutls_x509_trust_list_deinit(old, 1);
	if (next != 0) {
		char when[UTIL_TIME_LEN] = "?";
		util_format_time((int64_t)next * 1000, when);
		log_msg("mtls: client CA %s, CRL %s (valid until %s)", M.ca_path, M.crl_path, when);
	} else {
		log_msg("mtls: client CA %s, no CRL", M.ca_path);
	}
	return 0;
}

int mtls_load(void)
{
	return swap_in(M.ca_pem == NULL ? &M.ca_pem : NULL);
}

int mtls_reload(void)
{
	int rc = swap_in(NULL);

	if (rc != 0)
		log_msg("mtls: reload failed; the previous client CA and CRL stay in force");
	return rc;
}

int mtls_enabled(void)
{
	return M.on;
}

unsigned mtls_roles(void)
{
	return M.on ? M.roles : 0;
}

const char *mtls_ca_pem(void)
{
	return M.on ? M.ca_pem : NULL;
}

/* Exactly one CN, a plausible account id (checked for equality later). */
static int leaf_account(gnutls_x509_crt_t crt, char *out, size_t len)
{
	char extra[8];
	size_t n = len, m = sizeof extra;

	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, out, &n) < 0 ||
	    n == 0 || strlen(out) != n)
		return -1;
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 1, 0, extra, &m) !=
	    GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return -1;
	return 0;
}

static int has_client_auth(gnutls_x509_crt_t crt)
{
	char oid[128];

	for (unsigned i = 0;; i++) {
		size_t n = sizeof oid;
		unsigned crit;
		int rc = gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &n, &crit);
		if (rc < 0)
			return 0;
		if (strcmp(oid, GNUTLS_KP_TLS_WWW_CLIENT) == 0)
			return 1;
	}
}

void mtls_check(void *tls_session, struct req *r)
{
	const gnutls_datum_t *peers;
	unsigned n = 0;

	r->cert_state = MTLS_NONE;
	r->cert_fp[0] = '\0';
	r->cert_account[0] = '\0';
	if (!M.on || tls_session == NULL)
		return;
	peers = gnutls_certificate_get_peers((gnutls_session_t)tls_session, &n);
	mtls_verify_chain(peers, n, r);
}

void mtls_verify_chain(const void *chain, unsigned n, struct req *r)
{
	const gnutls_datum_t *peers = chain;
	gnutls_x509_crt_t crts[MTLS_CHAIN_MAX];
	unsigned got = 0, status = 1;
	unsigned char fp[crypto_hash_sha256_BYTES];
	gnutls_typed_vdata_st vd = {
	    .type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (void *)GNUTLS_KP_TLS_WWW_CLIENT, .size = 0};
	int rc = -1, crl_old = 0;

	r->cert_state = MTLS_NONE;
	r->cert_fp[0] = '\0';
	r->cert_account[0] = '\0';
	if (!M.on || peers == NULL || n == 0)
		return;
	crypto_hash_sha256(fp, peers[0].data, peers[0].size);
	sodium_bin2hex(r->cert_fp, sizeof r->cert_fp, fp, sizeof fp);
	r->cert_state = MTLS_INVALID;
	if (n > MTLS_CHAIN_MAX)
		return;
	for (got = 0; got < n; got++) {
		if (gnutls_x509_crt_init(&crts[got]) < 0)
			goto done;
		if (gnutls_x509_crt_import(crts[got], &peers[got], GNUTLS_X509_FMT_DER) < 0) {
			got++;
			goto done;
		}
	}
	if (leaf_account(crts[0], r->cert_account, sizeof r->cert_account) != 0 ||
	    !has_client_auth(crts[0]))
		goto done;
	pthread_rwlock_rdlock(&M.lock);
	if (M.crl_next != 0 && time(NULL) > M.crl_next)
		crl_old = 1;
	else if (M.tl != NULL)
		rc = gnutls_x509_trust_list_verify_crt2(M.tl, crts, n, &vd, 1, 0, &status, NULL);
	pthread_rwlock_unlock(&M.lock);
done:
	for (unsigned i = 0; i < got; i++)
		gnutls_x509_crt_deinit(crts[i]);
	if (crl_old)
		r->cert_state = MTLS_CRL_OLD;
	else if (rc == 0 && status == 0)
		r->cert_state = MTLS_VALID;
	if (r->cert_state != MTLS_VALID)
		r->cert_account[0] = '\0';
}

void mtls_shutdown(void)
{
	pthread_rwlock_wrlock(&M.lock);
	if (M.tl != NULL)
		gnutls_x509_trust_list_deinit(M.tl, 1);
	M.tl = NULL;
	M.crl_next = 0;
	pthread_rwlock_unlock(&M.lock);
	free(M.ca_pem);
	M.ca_pem = NULL;
	M.on = 0;
	M.roles = 0;
}

/* auditkeys.c - follow the chain of audit keys and announce new ones at
 * start (SPEC 8.4); the contract is in auditkeys.h. */
#include "auditkeys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "audit.h"
#include "crypto.h"
#include "keyfile.h"
#include "log.h"
#include "util.h"

#define META_AUDIT_PK AUDITKEYS_META_PK

struct akeys {
	unsigned char pk[AUDITKEYS_MAX][32]; /* pk[i]: version i + 1 */
	unsigned char sk[AUDITKEYS_MAX][64]; /* older private keys still on disk */
	int have_sk[AUDITKEYS_MAX];
	int npub; /* versions with a public key */
	int cur;  /* index of audit.key's version */
};

static struct akeys *A;

static int path_of(char *out, size_t len, const char *dir, const char *name, int version)
{
	int n = version <= 1 && name[0] == 'p'
	            ? snprintf(out, len, "%s/audit.pub", dir)
	            : snprintf(out, len, "%s/audit-%d.%s", dir, version, name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? 1 : errno == ENOENT ? 0 : -1;
}

int auditkeys_load(const char *keys_dir)
{
	char path[4200], hex[65];
	int i, e;

	if ((A = sodium_malloc(sizeof *A)) == NULL) {
		log_msg("audit keys: cannot allocate guarded memory");
		return -1;
	}
	sodium_memzero(A, sizeof *A);
	for (i = 0; i < AUDITKEYS_MAX; i++) {
		if (path_of(path, sizeof path, keys_dir, "pub", i + 1) != 0)
			goto fail;
		if ((e = exists(path)) == 0 && i > 0)
			break;
		if (e != 1 || keyfile_read_pub(path, A->pk[i]) != 0) {
			log_msg("audit keys: cannot read %s", path);
			goto fail;
		}
		A->npub = i + 1;
	}
	A->cur = -1;
	for (i = 0; i < A->npub; i++)
		if (sodium_memcmp(A->pk[i], crypto_audit_pk(), 32) == 0)
			A->cur = i;
	if (A->cur < 0) {
		log_msg("audit keys: audit.key matches neither audit.pub nor any audit-N.pub in %s",
		        keys_dir);
		goto fail;
	}
	if (A->cur + 1 < A->npub)
		log_msg("audit keys: audit-%d.pub is newer than audit.key and is not used (an "
		        "interrupted rotate-audit? run it again)",
		        A->cur + 2);
	for (i = 0; i < A->cur; i++) {
		unsigned char pk[32];
		if (path_of(path, sizeof path, keys_dir, "key", i + 1) != 0 ||
		    (e = exists(path)) < 0)
			goto fail;
		if (e == 0)
			continue; /* retired */
		if (keyfile_read_audit_sk(path, A->sk[i]) != 0) {
			log_msg("audit keys: %s", keyfile_error());
			goto fail;
		}
		crypto_sign_ed25519_sk_to_pk(pk, A->sk[i]);
		if (sodium_memcmp(pk, A->pk[i], 32) != 0) {
			log_msg("audit keys: %s is not the private half of version %d's public key",
			        path, i + 1);
			goto fail;
		}
		A->have_sk[i] = 1;
	}
	sodium_bin2hex(hex, sizeof hex, A->pk[A->cur], 32);
	log_msg("audit key: version %d (%s)", A->cur + 1, hex);
	sodium_mprotect_readonly(A);
	return 0;
fail:
	auditkeys_shutdown();
	return -1;
}

/* Index of the key the log is signed with: DB_META audit_pk, or version 1
 * for a store that predates key rotation. -1 if it is not in the chain. */
static int log_key(struct store_txn *t, int *idx)
{
	const void *v;
	size_t vl;
	int rc;

	rc = store_get(t, DB_META, META_AUDIT_PK, strlen(META_AUDIT_PK), &v, &vl);
	if (rc == STORE_NOTFOUND) {
		*idx = 0;
		return STORE_OK;
	}
	if (rc != STORE_OK)
		return rc;
	*idx = -1;
	if (vl != 32)
		return STORE_ERROR;
	for (int i = 0; i < A->npub; i++)
		if (sodium_memcmp(A->pk[i], v, 32) == 0)
			*idx = i;
	return STORE_OK;
}

static int announce_op(struct store_txn *t, void *arg)
{
	int *announced = arg;
	char hex[65];
	int i, rc, from;

	if ((rc = log_key(t, &from)) != STORE_OK)
		return rc;
	if (from < 0) {
		log_msg("audit keys: the audit log is signed with a key that is neither audit.pub "
		        "nor any audit-N.pub of the key directory");
		return STORE_ERROR;
	}
	if (from > A->cur) {
		log_msg("audit keys: the audit log is signed with version %d, newer than audit.key "
		        "(version %d): an old key directory?",
		        from + 1, A->cur + 1);
		return STORE_ERROR;
	}
	for (i = from + 1; i <= A->cur; i++) {
		if (!A->have_sk[i - 1]) {
			log_msg(
			    "audit keys: audit-%d.key is needed to announce version %d (the key "
			    "in use signs the hand-over) but is gone; restore it from a backup",
			    i, i + 1);
			return STORE_ERROR;
		}
		sodium_bin2hex(hex, sizeof hex, A->pk[i], 32);
		audit_set_signer(A->sk[i - 1], A->pk[i - 1]);
		rc = audit_system_target(t, "key.audit", hex);
		if (rc == STORE_OK) /* the announcement's checkpoint, unless it was due */
			rc = audit_checkpoint_now(t);
		audit_set_signer(NULL, NULL);
		if (rc != STORE_OK)
			return rc;
		(*announced)++;
	}
	return store_put(t, DB_META, META_AUDIT_PK, strlen(META_AUDIT_PK), A->pk[A->cur], 32, 0);
}

int auditkeys_announce(struct store *s)
{
	int rc, announced = 0;

	rc = store_write(s, announce_op, &announced);
	if (rc != STORE_OK) {
		log_msg("audit keys: cannot hand the audit log over to audit.key");
		announced = -1;
	} else if (announced > 0) {
		log_msg(
		    "audit keys: announced %d new audit key(s); checkpoints are now signed with "
		    "version %d (retire-audit may now delete the older private keys)",
		    announced, A->cur + 1);
	}
	/* the older private keys are not needed any more */
	sodium_mprotect_readwrite(A);
	sodium_memzero(A->sk, sizeof A->sk);
	memset(A->have_sk, 0, sizeof A->have_sk);
	sodium_mprotect_readonly(A);
	return announced < 0 ? -1 : 0;
}

void auditkeys_shutdown(void)
{
	if (A != NULL)
		sodium_free(A);
	A = NULL;
}

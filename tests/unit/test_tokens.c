/* Unit tests for vault/tokens.c and the token id of vault/crypto.c: ids
 * are 16 lowercase hex characters, keyed and one-way; tokens expire; one
 * token can be revoked by its id; records of the first layout (no expiry,
 * as the previous version wrote them) still authenticate and have ids;
 * malformed records never do; the offline notes come back in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto.h"
#include "keyfile.h"
#include "records.h"
#include "store.h"
#include "tokens.h"
#include "util.h"

static char dir[] = "/tmp/rsvault-test-tokens-XXXXXX";
static char keydir[300], datadir[300];
static struct store *S;

static int write_keys(void)
{
	unsigned char mk[32], sk[64], pk[32];
	unsigned char mimg[KEYFILE_MASTER_LEN], aimg[KEYFILE_AUDIT_LEN];
	char path[400];

	randombytes_buf(mk, sizeof mk);
	crypto_sign_keypair(pk, sk);
	keyfile_encode_master(mimg, mk, 1);
	keyfile_encode_audit(aimg, sk);
	snprintf(path, sizeof path, "%s/master.key", keydir);
	if (keyfile_write_new(path, mimg, sizeof mimg, 0600) != 0)
		return -1;
	snprintf(path, sizeof path, "%s/audit.key", keydir);
	return keyfile_write_new(path, aimg, sizeof aimg, 0600);
}

static int setup(void **st)
{
	int created;

	(void)st;
	if (sodium_init() < 0 || mkdtemp(dir) == NULL)
		return -1;
	snprintf(keydir, sizeof keydir, "%s/keys", dir);
	snprintf(datadir, sizeof datadir, "%s/data", dir);
	if (mkdir(keydir, 0700) != 0 || write_keys() != 0 || crypto_init(keydir) != 0)
		return -1;
	return store_open(datadir, 64u << 20, 5000, &S, &created);
}

static int teardown(void **st)
{
	char cmd[400];

	(void)st;
	store_close(S);
	crypto_shutdown();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Run fn in a write transaction (the writer thread). */
typedef int (*txn_fn)(struct store_txn *t, void *arg);
static int in_txn(txn_fn fn, void *arg)
{
	return store_write(S, fn, arg);
}

static int is_hex16(const char *s)
{
	if (strlen(s) != 16)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

static void test_token_id(void **st)
{
	unsigned char h1[CRYPTO_TOKEN_HASH_LEN], h2[CRYPTO_TOKEN_HASH_LEN];
	char t1[CRYPTO_TOKEN_STR_MAX], t2[CRYPTO_TOKEN_STR_MAX];
	char a[CRYPTO_TOKEN_ID_LEN], b[CRYPTO_TOKEN_ID_LEN], c[CRYPTO_TOKEN_ID_LEN];
	char hex[65];

	(void)st;
	crypto_token_new(t1, h1);
	crypto_token_new(t2, h2);
	crypto_token_id(h1, a);
	crypto_token_id(h1, b);
	crypto_token_id(h2, c);
	assert_true(is_hex16(a));
	assert_string_equal(a, b);     /* a function of the token */
	assert_string_not_equal(a, c); /* different tokens, different ids */
	/* not a prefix of the stored hash, nor of the token */
	sodium_bin2hex(hex, sizeof hex, h1, sizeof h1);
	assert_null(strstr(hex, a));
	assert_null(strstr(t1, a));
	assert_true(crypto_valid_token_id(a));
	assert_false(crypto_valid_token_id(""));
	assert_false(crypto_valid_token_id("0123456789abcde"));
	assert_false(crypto_valid_token_id("0123456789abcdef0"));
	assert_false(crypto_valid_token_id("0123456789ABCDEF"));
	assert_false(crypto_valid_token_id("0123456789abcdeg"));
}

struct issued {
	char tok[4][CRYPTO_TOKEN_STR_MAX];
	char id[4][CRYPTO_TOKEN_ID_LEN];
	int64_t now;
};

static int put_account(struct store_txn *t, const char *id)
{
	json_t *a = json_pack("{s:s, s:s, s:s, s:b}", "id", id, "role", "agent", "email",
	                      "a@example.test", "suspended", 0);
	int rc = rec_put(t, DB_ACCOUNTS, id, a, 0);

	json_decref(a);
	return rc;
}

static int op_issue(struct store_txn *t, void *arg)
{
	struct issued *is = arg;
	int rc;

	if ((rc = put_account(t, "agent7")) != STORE_OK || (rc = put_account(t, "other")) != 0)
		return rc;
	if ((rc = tokens_issue(t, "agent7", is->now, -1, is->tok[0], is->id[0])) != STORE_OK ||
	    (rc = tokens_issue(t, "agent7", is->now, is->now + 60000, is->tok[1], is->id[1])) !=
	        STORE_OK ||
	    (rc = tokens_issue(t, "agent7", is->now, is->now + 60000, is->tok[2], is->id[2])) !=
	        STORE_OK)
		return rc;
	return tokens_issue(t, "other", is->now, -1, is->tok[3], is->id[3]);
}

struct look {
	const char *tok;
	struct token_rec rec;
	int rc;
};

static int op_lookup(struct store_txn *t, void *arg)
{
	struct look *l = arg;

	l->rc = tokens_lookup(t, l->tok, strlen(l->tok), &l->rec);
	return 0;
}

static int lookup(const char *tok, struct token_rec *rec)
{
	struct look l = {.tok = tok};

	assert_int_equal(in_txn(op_lookup, &l), 0);
	if (rec != NULL)
		*rec = l.rec;
	return l.rc;
}

struct revoke {
	const char *account, *id;
	int rc;
};

static int op_revoke(struct store_txn *t, void *arg)
{
	struct revoke *rv = arg;

	rv->rc = tokens_revoke_id(t, rv->account, rv->id);
	return 0;
}

static int revoke_one(const char *account, const char *id)
{
	struct revoke rv = {.account = account, .id = id};

	assert_int_equal(in_txn(op_revoke, &rv), 0);
	return rv.rc;
}

static void test_issue_expire_revoke(void **st)
{
	struct issued is = {.now = util_now_ms()};
	struct token_rec rec;

	(void)st;
	assert_int_equal(in_txn(op_issue, &is), 0);
	assert_int_equal(lookup(is.tok[0], &rec), STORE_OK);
	assert_string_equal(rec.account, "agent7");
	assert_string_equal(rec.id, is.id[0]);
	assert_int_equal(rec.created_ms, is.now);
	assert_int_equal(rec.expires_ms, -1);
	assert_false(tokens_expired(&rec, is.now + 100LL * 365 * 86400 * 1000));

	assert_int_equal(lookup(is.tok[1], &rec), STORE_OK);
	assert_int_equal(rec.expires_ms, is.now + 60000);
	assert_false(tokens_expired(&rec, is.now + 59999));
	assert_true(tokens_expired(&rec, is.now + 60000));

	/* an unknown token, and one differing in the last character */
	assert_int_equal(lookup("rsv_nothing-like-a-real-token", NULL), STORE_NOTFOUND);
	char near[CRYPTO_TOKEN_STR_MAX];
	memcpy(near, is.tok[1], sizeof near);
	near[strlen(near) - 1] ^= 1;
	assert_int_equal(lookup(near, NULL), STORE_NOTFOUND);

	/* revoke one by id: only that one goes */
	assert_int_equal(revoke_one("agent7", is.id[1]), STORE_OK);
	assert_int_equal(lookup(is.tok[1], NULL), STORE_NOTFOUND);
	assert_int_equal(lookup(is.tok[0], NULL), STORE_OK);
	assert_int_equal(lookup(is.tok[2], NULL), STORE_OK);
	assert_int_equal(revoke_one("agent7", is.id[1]), STORE_NOTFOUND); /* already gone */
	/* another account's token is not found under this account */
	assert_int_equal(revoke_one("agent7", is.id[3]), STORE_NOTFOUND);
	assert_int_equal(lookup(is.tok[3], NULL), STORE_OK);
	assert_int_equal(revoke_one("nobody", is.id[0]), STORE_NOTFOUND);
	assert_int_equal(revoke_one("agent7", "0000000000000000"), STORE_NOTFOUND);
}

/* A record of the first layout, as the previous version wrote it. */
struct legacy {
	char tok[CRYPTO_TOKEN_STR_MAX];
	unsigned char h[CRYPTO_TOKEN_HASH_LEN];
	const char *account;
	int malformed;
};

static int op_legacy(struct store_txn *t, void *arg)
{
	struct legacy *lg = arg;
	unsigned char row[CRYPTO_TOKEN_HASH_LEN + 80];
	size_t n = strlen(lg->account);
	int rc;

	crypto_token_new(lg->tok, lg->h);
	memcpy(row, lg->h, sizeof lg->h);
	memcpy(row + sizeof lg->h, lg->account, n);
	n += sizeof lg->h;
	if (lg->malformed) /* the second layout cut short */
		row[n++] = 0x00, row[n++] = 0x01;
	if ((rc = store_put(t, DB_TOKENS, lg->h, CRYPTO_TOKEN_LOOKUP_LEN, row, n, 0)) != STORE_OK)
		return rc;
	return idx_put(t, DB_ACCOUNT_TOKENS, lg->account, lg->h, sizeof lg->h);
}

static void test_legacy_layout(void **st)
{
	struct legacy lg = {.account = "agent7"}, bad = {.account = "agent7", .malformed = 1};
	char id[CRYPTO_TOKEN_ID_LEN];
	struct token_rec rec;

	(void)st;
	assert_int_equal(in_txn(op_legacy, &lg), 0);
	assert_int_equal(lookup(lg.tok, &rec), STORE_OK);
	assert_string_equal(rec.account, "agent7");
	assert_int_equal(rec.expires_ms, -1);
	assert_int_equal(rec.created_ms, -1);
	crypto_token_id(lg.h, id);
	assert_string_equal(rec.id, id); /* old tokens have ids too */
	assert_int_equal(revoke_one("agent7", id), STORE_OK);
	assert_int_equal(lookup(lg.tok, NULL), STORE_NOTFOUND);

	assert_int_equal(in_txn(op_legacy, &bad), 0);
	assert_int_equal(lookup(bad.tok, NULL), STORE_NOTFOUND);
}

struct many {
	int n;
	char tok[2][CRYPTO_TOKEN_STR_MAX];
};

static int op_many(struct store_txn *t, void *arg)
{
	struct many *m = arg;
	char tok[CRYPTO_TOKEN_STR_MAX], id[CRYPTO_TOKEN_ID_LEN];
	int rc;

	if ((rc = put_account(t, "crowd")) != STORE_OK)
		return rc;
	for (int i = 0; i < m->n; i++) {
		if ((rc = tokens_issue(t, "crowd", 1, -1, tok, id)) != STORE_OK)
			return rc;
		if (i == 0 || i == m->n - 1)
			memcpy(m->tok[i == 0 ? 0 : 1], tok, sizeof tok);
	}
	return STORE_OK;
}

static int op_revoke_all(struct store_txn *t, void *arg)
{
	return tokens_revoke_all(t, arg);
}

static void test_revoke_all(void **st)
{
	struct many m = {.n = 600}; /* more than one batch of 256 */

	(void)st;
	assert_int_equal(in_txn(op_many, &m), 0);
	assert_int_equal(lookup(m.tok[0], NULL), STORE_OK);
	assert_int_equal(lookup(m.tok[1], NULL), STORE_OK);
	assert_int_equal(in_txn(op_revoke_all, "crowd"), 0);
	assert_int_equal(lookup(m.tok[0], NULL), STORE_NOTFOUND);
	assert_int_equal(lookup(m.tok[1], NULL), STORE_NOTFOUND);
}

static int op_notes_add(struct store_txn *t, void *arg)
{
	int rc;

	(void)arg;
	if ((rc = tokens_note_add(t, "store.admin_token", "admin#0123456789abcdef", 5)) != 0)
		return rc;
	return tokens_note_add(t, "account.revoke", "admin#fedcba9876543210", 6);
}

struct seen {
	char log[256];
	int fail;
};

static int note_fn(struct store_txn *t, const char *action, const char *target, int64_t ms,
                   void *arg)
{
	struct seen *s = arg;
	size_t n = strlen(s->log);

	(void)t;
	snprintf(s->log + n, sizeof s->log - n, "%s %s %lld;", action, target, (long long)ms);
	return s->fail ? STORE_ABORT : 0;
}

static int op_notes_take(struct store_txn *t, void *arg)
{
	return tokens_notes_take(t, note_fn, arg);
}

static void test_notes(void **st)
{
	struct seen s = {.fail = 1};

	(void)st;
	assert_int_equal(in_txn(op_notes_add, NULL), 0);
	/* a failing consumer keeps the notes */
	assert_int_equal(in_txn(op_notes_take, &s), STORE_ABORT);
	memset(&s, 0, sizeof s);
	assert_int_equal(in_txn(op_notes_take, &s), 0);
	assert_string_equal(s.log, "store.admin_token admin#0123456789abcdef 5;"
	                           "account.revoke admin#fedcba9876543210 6;");
	/* taken once: gone */
	memset(&s, 0, sizeof s);
	assert_int_equal(in_txn(op_notes_take, &s), 0);
	assert_string_equal(s.log, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_id),      cmocka_unit_test(test_issue_expire_revoke),
	    cmocka_unit_test(test_legacy_layout), cmocka_unit_test(test_revoke_all),
	    cmocka_unit_test(test_notes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* mkset.c - load, unseal and derive from the master-key versions of a key
 * directory (rules in mkset.h). */
#include "mkset.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#define MK_PATH_MAX 4200

__attribute__((format(printf, 3, 4))) static void mk_err(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

int mkset_name(uint32_t v, int sealed, char out[MKSET_NAME_MAX])
{
	int n;

	if (v == 0)
		return -1;
	if (v == 1)
		n = snprintf(out, MKSET_NAME_MAX, "master.key%s", sealed ? ".sealed" : "");
	else
		n = snprintf(out, MKSET_NAME_MAX, "master-%u.key%s", (unsigned)v,
		             sealed ? ".sealed" : "");
	return n > 0 && n < MKSET_NAME_MAX ? 0 : -1;
}

/* Is name a master-key file name? Sets the version its name says and
 * whether it is sealed. */
static int mk_parse_name(const char *name, uint32_t *v, int *sealed)
{
	const char *p;
	uint64_t n = 0;

	if (strcmp(name, "master.key") == 0 || strcmp(name, "master.key.sealed") == 0) {
		*v = 1;
		*sealed = name[10] == '.';
		return 1;
	}
	if (strncmp(name, "master-", 7) != 0)
		return 0;
	p = name + 7;
	if (*p < '1' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9') {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > 0xffffffffu)
			return 0;
		p++;
	}
	if (n < 2)
		return 0;
	if (strcmp(p, ".key") == 0)
		*sealed = 0;
	else if (strcmp(p, ".key.sealed") == 0)
		*sealed = 1;
	else
		return 0;
	*v = (uint32_t)n;
	return 1;
}

static int mk_cmp(const void *a, const void *b)
{
	const struct mkset_entry *x = a, *y = b;

	return x->version < y->version ? -1 : x->version > y->version;
}

static int mk_check_entry(struct mkset *s, struct mkset_entry *e, int sealed, char *err,
                          size_t errlen)
{
	struct seal_params p;
	unsigned char key[32], hk[KEYFILE_HASH_KEYS_LEN];
	uint32_t v;
	int has, rc;

	if (sealed) {
		if (seal_file_header(e->blob, e->len, &p, &v) != 0 || v != e->version) {
			mk_err(err, errlen, "%s: not a sealed master key of version %u", e->name,
			       (unsigned)e->version);
			return -1;
		}
		if (s->n == 0) {
			s->seal = p;
		} else if (!seal_same(&s->seal, &p)) {
			mk_err(err, errlen, "%s: sealed under another seal than the other files",
			       e->name);
			return -1;
		}
		return 0;
	}
	rc = keyfile_decode_master(e->blob, e->len, key, &v, hk, &has);
	sodium_memzero(key, sizeof key);
	sodium_memzero(hk, sizeof hk);
	if (rc != 0 || v != e->version) {
		mk_err(err, errlen, "%s: not a master key file of version %u", e->name,
		       (unsigned)e->version);
		return -1;
	}
	return 0;
}

int mkset_load(const char *dir, struct mkset *s, char *err, size_t errlen)
{
	char path[MK_PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	uint32_t v;
	int sealed, rc = -1, seen_plain = 0, seen_sealed = 0;

	sodium_memzero(s, sizeof *s);
	if (snprintf(path, sizeof path, "%s/%s", dir, MKSET_SWITCH) >= (int)sizeof path) {
		mk_err(err, errlen, "%s: path too long", dir);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		mk_err(err, errlen,
		       "%s: a switch of the master keys to a new seal was interrupted (%s is "
		       "there); finish it with: rsvault-keys seal --dir %s --finish",
		       dir, MKSET_SWITCH, dir);
		return -1;
	}
	if ((d = opendir(dir)) == NULL) {
		mk_err(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct mkset_entry *e;
		if (!mk_parse_name(de->d_name, &v, &sealed))
			continue;
		if (s->n >= MKSET_MAX) {
			mk_err(err, errlen, "%s: more than %d master-key versions", dir, MKSET_MAX);
			goto done;
		}
		e = &s->e[s->n];
		e->version = v;
		if (strlen(de->d_name) >= sizeof e->name)
			continue; /* cannot be one of ours: mk_parse_name bounds the number */
		memcpy(e->name, de->d_name, strlen(de->d_name) + 1);
		if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path) {
			mk_err(err, errlen, "%s: path too long", dir);
			goto done;
		}
		if (keyfile_read_secret(path, e->blob, sizeof e->blob, KEYFILE_MASTER_LEN,
		                        sizeof e->blob, &e->len) != 0) {
			mk_err(err, errlen, "%s", keyfile_error());
			goto done;
		}
		if (mk_check_entry(s, e, sealed, err, errlen) != 0)
			goto done;
		seen_plain |= !sealed;
		seen_sealed |= sealed;
		s->n++;
	}
	if (s->n == 0) {
		mk_err(err, errlen, "%s: no master key (master.key or master.key.sealed)", dir);
		goto done;
	}
	if (seen_plain && seen_sealed) {
		mk_err(err, errlen,
		       "%s: some master keys are sealed and some are not; seal them all "
		       "(rsvault-keys seal) or restore the plain files",
		       dir);
		goto done;
	}
	qsort(s->e, s->n, sizeof s->e[0], mk_cmp);
	for (size_t i = 1; i < s->n; i++)
		if (s->e[i].version == s->e[i - 1].version) {
			mk_err(err, errlen, "%s: version %u twice", dir, (unsigned)s->e[i].version);
			goto done;
		}
	s->sealed = seen_sealed;
	rc = 0;
done:
	closedir(d);
	if (rc != 0)
		sodium_memzero(s, sizeof *s);
	return rc;
}

int mkset_unseal(struct mkset *s, const unsigned char key[SEAL_KEY_LEN])
{
	unsigned char *img;
	size_t *lens, i;
	int rc = -1;

	if (!s->sealed)
		return 0;
	img = sodium_malloc(MKSET_MAX * SEAL_IMAGE_MAX);
	lens = calloc(MKSET_MAX, sizeof *lens);
	if (img == NULL || lens == NULL)
		goto done;
	for (i = 0; i < s->n; i++)
		if (seal_file_decrypt(s->e[i].blob, s->e[i].len, key, img + i * SEAL_IMAGE_MAX,
		                      &lens[i]) != 0)
			goto done;
	/* The seal binds its clear header's version (checked against the file
	 * name by mkset_load); the key file image inside carries a version of
	 * its own, which must be the same, or a file sealed for one version
	 * would be loaded as another. */
	for (i = 0; i < s->n; i++) {
		unsigned char k[32], hk[KEYFILE_HASH_KEYS_LEN];
		uint32_t v = 0;
		int has, bad;
		bad = keyfile_decode_master(img + i * SEAL_IMAGE_MAX, lens[i], k, &v, hk, &has) !=
		          0 ||
		      v != s->e[i].version;
		sodium_memzero(k, sizeof k);
		sodium_memzero(hk, sizeof hk);
		if (bad) {
			rc = -2;
			goto done;
		}
	}
	for (i = 0; i < s->n; i++) {
		sodium_memzero(s->e[i].blob, sizeof s->e[i].blob);
		memcpy(s->e[i].blob, img + i * SEAL_IMAGE_MAX, lens[i]);
		s->e[i].len = lens[i];
	}
	s->sealed = 0;
	rc = 0;
done:
	if (img != NULL)
		sodium_free(img);
	free(lens);
	return rc;
}

int mkset_key(const struct mkset *s, size_t i, unsigned char key[32])
{
	unsigned char hk[KEYFILE_HASH_KEYS_LEN];
	uint32_t v;
	int has, rc;

	if (s->sealed || i >= s->n)
		return -1;
	rc = keyfile_decode_master(s->e[i].blob, s->e[i].len, key, &v, hk, &has);
	sodium_memzero(hk, sizeof hk);
	return rc;
}

void mkset_kek(const unsigned char master[32], unsigned char kek[32])
{
	crypto_kdf_derive_from_key(kek, 32, 1, "rsvwrap1", master);
}

int mkset_hash_keys(const struct mkset *s, unsigned char hk[KEYFILE_HASH_KEYS_LEN], char *err,
                    size_t errlen)
{
	unsigned char key[32], h[KEYFILE_HASH_KEYS_LEN];
	uint32_t v;
	int has, have = 0, rc = -1;

	if (s->sealed) {
		mk_err(err, errlen, "the master keys are sealed");
		return -1;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (keyfile_decode_master(s->e[i].blob, s->e[i].len, key, &v, h, &has) != 0) {
			mk_err(err, errlen, "%s: damaged", s->e[i].name);
			goto done;
		}
		if (!has) {
			if (v != 1) {
				mk_err(err, errlen, "%s: a version-1 format for version %u",
				       s->e[i].name, (unsigned)v);
				goto done;
			}
			crypto_kdf_derive_from_key(h, 32, 2, "rsvtokn1", key);
			crypto_kdf_derive_from_key(h + 32, 32, 3, "rsvtkid1", key);
			crypto_kdf_derive_from_key(h + 64, 32, 4, "rsvcapa1", key);
		}
		if (have && sodium_memcmp(h, hk, sizeof h) != 0) {
			mk_err(err, errlen,
			       "%s: its token and link hash keys differ from the other versions' "
			       "(a file from another key directory?)",
			       s->e[i].name);
			goto done;
		}
		memcpy(hk, h, sizeof h);
		have = 1;
	}
	rc = have ? 0 : -1;
done:
	sodium_memzero(key, sizeof key);
	sodium_memzero(h, sizeof h);
	if (rc != 0)
		sodium_memzero(hk, KEYFILE_HASH_KEYS_LEN);
	return rc;
}

int mkset_feed(struct mkset *s, struct mkset_unsealer *u, const char *line, size_t len,
               const char **msg, unsigned char *key_out)
{
	unsigned char key[SEAL_KEY_LEN];
	struct seal_share sh;
	size_t raw;
	int rc = -1, r = -1;

	if (!s->sealed) {
		*msg = "not sealed";
		return 1;
	}
	/* raw: without the line ending only; len: as seal_line_len reads it */
	raw = len;
	while (raw > 0 && (line[raw - 1] == '\n' || line[raw - 1] == '\r'))
		raw--;
	len = seal_line_len(line, len);
	if (s->seal.kind == SEAL_KIND_PASSPHRASE) {
		if (len == 0) {
			*msg = "an empty passphrase";
			return -1;
		}
		if (seal_key_from_passphrase(&s->seal, line, len, key) != 0) {
			*msg = "cannot derive the key (out of memory?)";
			goto done;
		}
		/* A directory sealed by an earlier key tool may be sealed under
		 * the trailing spaces too: the line as typed is tried second. */
		if ((r = mkset_unseal(s, key)) == -1 && raw != len) {
			if (seal_key_from_passphrase(&s->seal, line, raw, key) != 0)
				r = -1;
			else
				r = mkset_unseal(s, key);
		}
		if (r == -2) {
			*msg = MKSET_MSG_INNER_VERSION;
			goto done;
		}
		if (r != 0) {
			*msg = "wrong passphrase: nothing was decrypted, still sealed";
			goto done;
		}
		*msg = "unsealed";
		rc = 1;
		if (key_out != NULL)
			memcpy(key_out, key, SEAL_KEY_LEN);
		goto done;
	}
	if (seal_share_parse(line, len, &sh, msg) != 0)
		goto done;
	if (sodium_memcmp(sh.id, s->seal.id, SEAL_ID_LEN) != 0 || sh.k != s->seal.k) {
		*msg = "a share of another seal: ignored";
		goto done;
	}
	for (size_t i = 0; i < u->n; i++)
		if (u->shares[i].index == sh.index) {
			*msg = "this share was given already: ignored";
			goto done;
		}
	if (u->n >= SEAL_SHARES_MAX)
		goto done;
	u->shares[u->n++] = sh;
	if (u->n < s->seal.k) {
		*msg = "share accepted; more are needed";
		rc = 0;
		goto done;
	}
	if (seal_combine(u->shares, u->n, key, msg) != 0 || (r = mkset_unseal(s, key)) != 0) {
		*msg = r == -2 ? MKSET_MSG_INNER_VERSION
		               : "these shares do not open the seal (one of them is wrong); they "
		                 "were dropped, still sealed";
		sodium_memzero(u, sizeof *u);
		goto done;
	}
	sodium_memzero(u, sizeof *u);
	*msg = "unsealed";
	rc = 1;
	if (key_out != NULL)
		memcpy(key_out, key, SEAL_KEY_LEN);
done:
	sodium_memzero(key, sizeof key);
	sodium_memzero(&sh, sizeof sh);
	return rc;
}

/* admin_token.h - `rsvault-keys admin-token`: a new admin token, made
 * offline (server stopped) in the vault's own store. */
#ifndef RSVAULT_KEYS_ADMIN_TOKEN_H
#define RSVAULT_KEYS_ADMIN_TOKEN_H

#include <stddef.h>

/* Run the verb with argv[1] == "admin-token". Returns the exit status:
 * 0 done, 1 failure, 2 usage error (already reported). */
int keys_admin_token(int argc, char **argv);

/* One line of usage and the help paragraph, for the tool's --help. */
extern const char keys_admin_token_usage[];
extern const char keys_admin_token_help[];

/* Is the store in data open in another process (a running server)? Opens
 * data/lock.mdb into *fd (-1 if absent; keep it open while the store is
 * used) and probes LMDB's lock: 1 yes (its pid in *pid), 0 no, -1 error.
 * keys_lock_probe probes an fd opened before. */
int keys_store_in_use(const char *data, int *fd, long *pid);
int keys_lock_probe(int fd, long *pid);

/* "--name value" options of a verb (argv[2..]): opts ends with a NULL
 * name; each value is stored in *slot. An unknown option, a missing or
 * empty value, or one given twice is reported with the verb's name and
 * gives -1. */
struct keys_opt {
	const char *name;
	const char **slot;
};
int keys_opts_parse(const char *verb, int argc, char **argv, const struct keys_opt *opts);

/* The data directory as the server's account owns it. Run as root, this
 * tool works in a directory that account can write: a process of that
 * account could put a symlink where the tool is about to create, open or
 * chown a file. keys_data_dir checks that dir is a real directory (lstat:
 * not a symlink) and fills *owner; -1 (said why) otherwise.
 * keys_as_owner switches the effective uid and gid (and drops the
 * supplementary groups) to the directory's owner, when this process is
 * root and the owner is not, so that what the store library opens and
 * creates there it opens with that account's rights only; keys_as_root
 * switches back. Both return 0 or -1 (said why). */
struct keys_owner {
	unsigned uid, gid;
	int switched;
	int ngroups;
	unsigned groups[64];
};
int keys_data_dir(const char *dir, struct keys_owner *owner);
int keys_as_owner(struct keys_owner *owner);
int keys_as_root(struct keys_owner *owner);

/* DIR/../keys for a data directory DIR (the key directory when --keys is
 * not given); -1 if it does not fit in n. */
int keys_default_dir(const char *data, char *out, size_t n);

#endif

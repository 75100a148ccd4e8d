/* sandbox.h - what rsvaultd gives up once it has what it needs.
 *
 * Start-up runs in this order (vault/main.c):
 *   sandbox_init          NO_NEW_PRIVS; as root, --user is required
 *   ... read the keys, bind the listening socket (may need root) ...
 *   sandbox_drop          to --user/--group, no supplementary groups, every
 *                         capability gone except CAP_IPC_LOCK; verified.
 *                         Before any thread exists: threads inherit it.
 *   sandbox_check_data_dir the data directory belongs to that user
 *   ... open the store, start the writer and libmicrohttpd's threads ...
 *   sandbox_lock_memory   mlockall, except the store's map (ciphertext)
 *   sandbox_seccomp       the system-call allow-list, on every thread
 *
 * Why, and what each step costs an attacker: SECURITY.md ("What a host root
 * can do", "Process hardening"); the decisions: docs/decisions.md. */
#ifndef RSVAULT_SANDBOX_H
#define RSVAULT_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

#define SANDBOX_NAME_MAX 64

struct sandbox {
	char sb_user[SANDBOX_NAME_MAX];  /* --user: name or number; "" if not given */
	char sb_group[SANDBOX_NAME_MAX]; /* --group: name or number; "" if not given */
	int sb_no_seccomp;               /* --no-seccomp (debugging only) */
	int sb_tty_fd; /* sealed, unsealing from the terminal: its descriptor, on which
	                * the filter allows the ioctl that restores echo; else -1 */
	/* Set by sandbox_init: */
	int sb_switch; /* started as root: sandbox_drop switches to sb_uid/sb_gid */
	uid_t sb_uid;  /* the user the server runs as after sandbox_drop */
	gid_t sb_gid;
};

/* First thing after the options are parsed, single-threaded: set
 * PR_SET_NO_NEW_PRIVS; resolve --user/--group. Refuses (returns -1, after
 * a log line saying what to do) to go on as root without --user, to switch
 * to uid 0 or gid 0, and, when not root, a --user/--group other than the
 * current one. Returns 0 or -1. */
int sandbox_init(struct sandbox *sb);

/* After everything that needs the start-up privileges (keys read, socket
 * bound) and BEFORE any thread is created: capabilities are per thread, so
 * only threads made afterwards inherit the reduced set.
 * As root: empty the bounding and ambient sets except CAP_IPC_LOCK, drop
 * supplementary groups, setresgid/setresuid to the --user, keep
 * CAP_IPC_LOCK alone (PR_SET_KEEPCAPS + capset), then check that getting
 * root back fails and no other capability is left.
 * Not root: keep at most CAP_IPC_LOCK of what the process holds.
 * Returns 0, or -1 (logged; the caller must exit). */
int sandbox_drop(const struct sandbox *sb);

/* After sandbox_drop: dir (the data directory) is created 0700 if missing;
 * it must be a directory owned by the user the server now runs as, not
 * writable by group or others, and data.mdb, lock.mdb and admin.token in
 * it (if present) must be owned by that user too. Returns 0, or -1 after
 * a log line that names the path and the fix. */
int sandbox_check_data_dir(const struct sandbox *sb, const char *dir);

/* After every thread and mapping exists: mlockall(MCL_CURRENT|MCL_FUTURE|
 * MCL_ONFAULT), then, if skip, munlock every mapping of the file (dev, ino)
 * (the store's map: ciphertext, up to --map-size), found in
 * /proc/self/maps. Only tried with CAP_IPC_LOCK or an unlimited
 * RLIMIT_MEMLOCK: with a finite limit MCL_FUTURE would make later
 * allocations fail. Logs one line either way; never fails the start.
 * Returns 1 if memory is locked, 0 if not. */
int sandbox_lock_memory(int skip, dev_t dev, ino_t ino);

/* Last step before serving: install the seccomp allow-list on every thread
 * (TSYNC); any other system call kills the process. Skipped (one log line)
 * with --no-seccomp. Returns 0, or -1 (logged). */
int sandbox_seccomp(const struct sandbox *sb);

#endif

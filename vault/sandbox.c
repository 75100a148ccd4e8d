/* sandbox.c - privilege drop, capabilities, memory locking and the seccomp
 * allow-list of rsvaultd (contracts and order in sandbox.h). */
#define _GNU_SOURCE /* setresuid, getresuid and friends */
#include "sandbox.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/capability.h>
#include <seccomp.h>

#include "log.h"
#include "util.h"

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define SB_CAP_MAX 64 /* capability numbers are below this (two 32-bit words) */
#define SB_KEEP ((uint64_t)1 << CAP_IPC_LOCK)

/* --- names ------------------------------------------------------------- */

/* A --user/--group value that is all digits is a number. */
static int sb_number(const char *s, uint32_t *out)
{
	int64_t n;

	if (util_parse_i64(s, 0, (int64_t)UINT32_MAX - 1, &n) != 0)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

static int sb_resolve(const struct sandbox *sb, uid_t *uid, gid_t *gid)
{
	const struct passwd *pw;
	const struct group *gr;
	uint32_t n;
	int have_gid = 0;

	if ((pw = getpwnam(sb->sb_user)) != NULL) {
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
		have_gid = 1;
	} else if (sb_number(sb->sb_user, &n) == 0) {
		*uid = (uid_t)n;
	} else {
		log_msg("--user %s: no such user", sb->sb_user);
		return -1;
	}
	if (sb->sb_group[0] != '\0') {
		if ((gr = getgrnam(sb->sb_group)) != NULL) {
			*gid = gr->gr_gid;
		} else if (sb_number(sb->sb_group, &n) == 0) {
			*gid = (gid_t)n;
		} else {
			log_msg("--group %s: no such group", sb->sb_group);
			return -1;
		}
		have_gid = 1;
	}
	if (!have_gid) {
		log_msg("--user %s is a number without an account: give --group too", sb->sb_user);
		return -1;
	}
	return 0;
}

/* "NAME (uid N)" or "uid N": who the server runs as, for messages. */
static void sb_who(const struct sandbox *sb, char *out, size_t len)
{
	if (sb->sb_user[0] != '\0')
		snprintf(out, len, "%s (uid %u)", sb->sb_user, (unsigned)geteuid());
	else
		snprintf(out, len, "uid %u", (unsigned)geteuid());
}

/* What to write in a chown command for the user the server runs as. */
static void sb_owner_arg(const struct sandbox *sb, char *out, size_t len)
{
	if (sb->sb_user[0] != '\0')
		snprintf(out, len, "%s", sb->sb_user);
	else
		snprintf(out, len, "%u", (unsigned)geteuid());
}

int sandbox_init(struct sandbox *sb)
{
	uid_t uid;
	gid_t gid;

	/* No execve can ever give this process (or a child) more privilege;
	 * also what seccomp needs to be installed without CAP_SYS_ADMIN. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		log_msg("cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	sb->sb_switch = 0;
	sb->sb_uid = geteuid();
	sb->sb_gid = getegid();
	if (sb->sb_user[0] == '\0' && sb->sb_group[0] != '\0') {
		log_msg("--group needs --user");
		return -1;
	}
	if (geteuid() == 0 && sb->sb_user[0] == '\0') {
		log_msg("refusing to run as root: give --user NAME, the account the server "
		        "switches to once it has read its keys and bound its port (it must own "
		        "the --data directory), or start it as that user");
		return -1;
	}
	if (sb->sb_user[0] == '\0')
		return 0;
	if (sb_resolve(sb, &uid, &gid) != 0)
		return -1;
	if (uid == 0 || gid == 0) {
		log_msg("--user/--group must not be root (uid %u, gid %u)", (unsigned)uid,
		        (unsigned)gid);
		return -1;
	}
	if (geteuid() != 0) {
		/* Nothing to switch: accept only what we already are. */
		if (uid != geteuid() || (sb->sb_group[0] != '\0' && gid != getegid())) {
			log_msg("--user %s%s%s: only a server started as root can switch users "
			        "(this one runs as uid %u, gid %u)",
			        sb->sb_user, sb->sb_group[0] ? " --group " : "", sb->sb_group,
			        (unsigned)geteuid(), (unsigned)getegid());
			return -1;
		}
		return 0;
	}
	sb->sb_switch = 1;
	sb->sb_uid = uid;
	sb->sb_gid = gid;
	return 0;
}

/* --- capabilities (raw capget/capset: no libcap) --------------------------- */

static int sb_caps_get(uint64_t *eff, uint64_t *perm)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof d);
	if (syscall(SYS_capget, &hdr, d) != 0)
		return -1;
	*eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	*perm = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	return 0;
}

/* Effective = permitted = set; inheritable empty. */
static int sb_caps_set(uint64_t set)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof d);
	d[0].effective = d[0].permitted = (uint32_t)set;
	d[1].effective = d[1].permitted = (uint32_t)(set >> 32);
	return syscall(SYS_capset, &hdr, d) == 0 ? 0 : -1;
}

/* Empty the bounding set except CAP_IPC_LOCK (it limits what an execve
 * could ever regain; needs CAP_SETPCAP, so only done where we hold it) and
 * the ambient set. */
static void sb_caps_limit_inherited(void)
{
	for (int cap = 0; cap < SB_CAP_MAX; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
			break; /* past the kernel's last capability */
		if (cap != CAP_IPC_LOCK)
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

/* Root must be gone for good: real, effective and saved ids are the target,
 * no supplementary group, and asking for root back fails. */
static int sb_verify_switched(const struct sandbox *sb)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0)
		return -1;
	if (ru != sb->sb_uid || eu != sb->sb_uid || su != sb->sb_uid || rg != sb->sb_gid ||
	    eg != sb->sb_gid || sg != sb->sb_gid)
		return -1;
	if (getgroups(0, NULL) != 0)
		return -1;
	if (setuid(0) != -1 || seteuid(0) != -1 || setgid(0) != -1 || setegid(0) != -1)
		return -1;
	return 0;
}

/* Threads of this process, from /proc/self/status; -1 if unknown. */
static long sb_threads(void)
{
	char line[128];
	long n = -1;
	FILE *f;

	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "Threads: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

int sandbox_drop(const struct sandbox *sb)
{
	uint64_t eff, perm, keep;
	long threads;

	/* A thread made before this point would keep every capability. */
	if ((threads = sb_threads()) > 1) {
		log_msg("internal error: %ld threads exist before the privilege drop", threads);
		return -1;
	}
	if (sb_caps_get(&eff, &perm) != 0) {
		log_msg("cannot read capabilities: %s", strerror(errno));
		return -1;
	}
	keep = perm & SB_KEEP;
	sb_caps_limit_inherited();
	if (sb->sb_switch) {
		/* Keep the permitted set across setresuid (only for this call),
		 * so CAP_IPC_LOCK can be made effective again afterwards. */
		if (keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
			log_msg("cannot keep CAP_IPC_LOCK: %s", strerror(errno));
			return -1;
		}
		if (setgroups(0, NULL) != 0 || setresgid(sb->sb_gid, sb->sb_gid, sb->sb_gid) != 0 ||
		    setresuid(sb->sb_uid, sb->sb_uid, sb->sb_uid) != 0) {
			log_msg("cannot switch to --user %s: %s", sb->sb_user, strerror(errno));
			return -1;
		}
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	}
	if (sb_caps_set(keep) != 0) {
		log_msg("cannot drop capabilities: %s", strerror(errno));
		return -1;
	}
	if (sb->sb_switch && sb_verify_switched(sb) != 0) {
		log_msg("the switch to --user %s did not take: refusing to run", sb->sb_user);
		return -1;
	}
	if (sb_caps_get(&eff, &perm) != 0 || ((eff | perm) & ~SB_KEEP) != 0) {
		log_msg("capabilities are still held after the drop: refusing to run");
		return -1;
	}
	/* The uid change set the dumpable flag to fs.suid_dumpable, which may
	 * be 1: without this, a process of the --user account could ptrace
	 * the server or read its /proc/PID/mem, and a crash could leave a
	 * core readable by that account. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
		log_msg("cannot make the process non-dumpable after the drop: refusing to run");
		return -1;
	}
	if (sb->sb_switch)
		log_msg("running as %s, gid %u, no supplementary groups; capabilities: %s",
		        sb->sb_user, (unsigned)sb->sb_gid, keep ? "CAP_IPC_LOCK" : "none");
	return 0;
}

/* --- the data directory ---------------------------------------------------- */

int sandbox_check_data_dir(const struct sandbox *sb, const char *dir)
{
	static const char *const files[] = {"data.mdb", "lock.mdb", "admin.token"};
	char who[SANDBOX_NAME_MAX + 32], owner[SANDBOX_NAME_MAX + 16], p[4200];
	struct stat st;
	int e;

	sb_who(sb, who, sizeof who);
	sb_owner_arg(sb, owner, sizeof owner);
	if (stat(dir, &st) != 0) {
		e = errno;
		if (e == ENOENT && (mkdir(dir, 0700) == 0 || errno == EEXIST) &&
		    stat(dir, &st) == 0)
			e = 0;
		else if (e == ENOENT)
			e = errno;
		if (e != 0) {
			log_msg("data directory %s: %s, running as %s, cannot %s it; every parent "
			        "directory must be searchable by that user; or make it yourself: "
			        "install -d -m 700 -o %s %s",
			        dir, strerror(e), who, e == EACCES ? "reach or create" : "use",
			        owner, dir);
			return -1;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		log_msg("data directory %s is not a directory", dir);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		log_msg("data directory %s is owned by uid %u, but the server runs as %s, which "
		        "must own it; fix: chown -R %s %s",
		        dir, (unsigned)st.st_uid, who, owner, dir);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_msg("data directory %s is writable by group or others (mode %04o); fix: chmod "
		        "700 %s",
		        dir, (unsigned)(st.st_mode & 07777), dir);
		return -1;
	}
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (snprintf(p, sizeof p, "%s/%s", dir, files[i]) >= (int)sizeof p)
			return -1;
		if (lstat(p, &st) == 0 && st.st_uid != geteuid()) {
			log_msg(
			    "%s is owned by uid %u, but the server runs as %s; fix: chown -R %s "
			    "%s",
			    p, (unsigned)st.st_uid, who, owner, dir);
			return -1;
		}
	}
	return 0;
}

/* --- memory ---------------------------------------------------------------- */

/* munlock every mapping of the file (dev, ino), as /proc/self/maps lists
 * them. Returns how many were unlocked, or -1. */
static int sb_unlock_file(dev_t dev, ino_t ino)
{
	char line[4096 + 256];
	unsigned long start, end, inode;
	unsigned int major, minor;
	FILE *f;
	int n = 0;

	if ((f = fopen("/proc/self/maps", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu", &start, &end, &major, &minor,
		           &inode) != 5)
			continue;
		if (makedev(major, minor) != dev || (ino_t)inode != ino || end <= start)
			continue;
		if (munlock((void *)start, end - start) != 0) {
			n = -1;
			break;
		}
		n++;
	}
	fclose(f);
	return n;
}

int sandbox_lock_memory(int skip, dev_t dev, ino_t ino)
{
	struct rlimit rl;
	uint64_t eff = 0, perm = 0;
	int can;

	/* With MCL_FUTURE every later mapping counts against RLIMIT_MEMLOCK
	 * unless CAP_IPC_LOCK is effective: with a finite limit the server
	 * would lock now and fail to allocate later. So: the capability, or no
	 * limit at all, or nothing. */
	can = (sb_caps_get(&eff, &perm) == 0 && (eff & SB_KEEP)) ||
	      (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY);
#if defined(__SANITIZE_ADDRESS__)
	/* AddressSanitizer replaces mlockall with a no-op that says yes. */
	(void)skip;
	(void)dev;
	(void)ino;
	log_msg("memory NOT locked: AddressSanitizer builds ignore mlockall (test builds only; "
	        "%s)",
	        can ? "a normal build would lock" : "a normal build could not lock either");
	return 0;
#endif
	if (!can || mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
		log_msg("memory NOT locked (%s): plaintext buffers may be swapped out; give "
		        "rsvaultd CAP_IPC_LOCK (kept when it is started as root with --user; "
		        "systemd: AmbientCapabilities=CAP_IPC_LOCK) or LimitMEMLOCK=infinity",
		        can ? strerror(errno) : "no CAP_IPC_LOCK and a finite memlock limit");
		return 0;
	}
	/* The store's map holds ciphertext only and is as large as
	 * --map-size: pinning it would cost RAM for nothing. */
	if (skip && sb_unlock_file(dev, ino) < 1)
		log_msg("memory locked, but the store's map could not be unlocked: it stays "
		        "locked as it is read");
	else
		log_msg("memory locked (mlockall): plaintext buffers are not swapped out; the "
		        "store's map (ciphertext) is left unlocked");
	return 1;
}

/* --- seccomp --------------------------------------------------------------- */

/* Every system call the running server makes: glibc (malloc, threads,
 * stdio), libmicrohttpd (epoll, accept, send/recv), GnuTLS, LMDB, libsodium,
 * jansson, libcurl (webhook deliveries: IPv4/IPv6 sockets, connect) and our
 * code. Anything else (execve, ptrace, open_by_handle_at, a socket of
 * another family, ...) kills the process. Creation of processes
 * and executable memory is not in the list: everything that needs them is
 * done before the filter goes on. */
/* clang-format off */
static const char *const sb_allow[] = {
    /* memory: malloc, LMDB's map, libsodium's guarded pages */
    "brk", "munmap", "mremap", "madvise", "mlock", "mlock2", "munlock",
    /* threads, locks and time */
    "futex", "set_robust_list", "rseq", "sched_yield", "gettid", "getpid",
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday",
    /* signals: sigwait, raise/abort */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "sigaltstack",
    "restart_syscall",
    /* files: LMDB's pread/pwrite/fdatasync, stderr, the key reload to come */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "lseek",
    "close", "fstat", "newfstatat", "statx", "openat", "fcntl", "flock", "fsync", "fdatasync",
    "msync", "ftruncate", "access", "faccessat", "faccessat2",
    /* a sealed server's first start writes admin.token once unsealed, after
     * the filter is on (keyfile_write_new: fchmod; unlink if the commit fails);
     * backups: the copy and its manifest go in place by rename, a failed one
     * is removed */
    "fchmod", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    /* and LMDB opening a backup's copy read-only looks at its file system */
    "fstatfs", "uname",
    /* SIGHUP: the certificate reload checks who owns the key file */
    "geteuid", "getuid", "getegid", "getgid",
    /* network: libmicrohttpd on sockets bound before the filter */
    "accept4", "accept", "recvfrom", "recvmsg", "sendto", "sendmsg", "shutdown",
    "getsockname", "getpeername", "setsockopt", "getsockopt",
    "epoll_wait", "epoll_pwait", "epoll_ctl", "poll", "ppoll",
    /* webhook deliveries (webhooks.c): libcurl connects out, its threaded
     * resolver signals over a socket pair; socket itself is below */
    "connect", "socketpair", "sendmmsg", "uname",
    /* libcurl initialised on the first delivery: OpenSSL's start-up sorts a
     * table with glibc's qsort, which asks sysinfo for the memory size */
    "sysinfo",
    /* randomness (libsodium, GnuTLS) */
    "getrandom",
    /* the end */
    "exit", "exit_group",
#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer and LeakSanitizer, test builds only (found by running
     * the suite with RSVAULT_TEST_SECCOMP_LOG): the leak check at exit runs
     * a tracer made with a plain clone that ptraces and waits for every
     * thread it lists in /proc/self/task; a report reads the binary to
     * symbolize and asks whether stderr is a terminal. */
    "clone", "ptrace", "wait4", "prctl", "getppid", "sched_getaffinity", "open",
    "getdents", "getdents64", "readlink", "ioctl",
#endif
};
/* clang-format on */

static int sb_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
                   const struct scmp_arg_cmp *args)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0; /* not a system call on this architecture */
	return seccomp_rule_add_array(ctx, action, nr, n, args);
}

int sandbox_seccomp(const struct sandbox *sb)
{
	uint32_t deflt = SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx;
	int rc = -1;

	if (sb->sb_no_seccomp) {
		log_msg("--no-seccomp: the system-call filter is OFF (debugging only)");
		return 0;
	}
#ifdef RSVAULT_TESTING
	/* Diagnosis only (test builds): log what would be killed, allow it. */
	if (getenv("RSVAULT_TEST_SECCOMP_LOG") != NULL) {
		deflt = SCMP_ACT_LOG;
		log_msg("seccomp: RSVAULT_TEST_SECCOMP_LOG set: violations are logged, not killed");
	}
#endif
	if ((ctx = seccomp_init(deflt)) == NULL) {
		log_msg("seccomp: cannot initialise the filter");
		return -1;
	}
	/* Every thread, not only this one; and no_new_privs (set already). */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) != 0)
		goto done;
	for (size_t i = 0; i < sizeof sb_allow / sizeof sb_allow[0]; i++)
		if (sb_rule(ctx, SCMP_ACT_ALLOW, sb_allow[i], 0, NULL) != 0) {
			log_msg("seccomp: cannot add %s", sb_allow[i]);
			goto done;
		}
	{
		/* Memory, but never executable: no new code after start-up.
		 * (Written out: libseccomp's SCMP_A* macros leave fields to the
		 * compiler's zeroing, which clang -Wextra reports.) */
		struct scmp_arg_cmp noexec = {
		    .arg = 2, .op = SCMP_CMP_MASKED_EQ, .datum_a = PROT_EXEC, .datum_b = 0};
		/* Threads (a pthread_create), never a new process. */
		struct scmp_arg_cmp thread = {.arg = 0,
		                              .op = SCMP_CMP_MASKED_EQ,
		                              .datum_a = CLONE_THREAD,
		                              .datum_b = CLONE_THREAD};
		/* Signals only to ourselves (abort, raise). */
		struct scmp_arg_cmp self = {
		    .arg = 0, .op = SCMP_CMP_EQ, .datum_a = (scmp_datum_t)getpid(), .datum_b = 0};
		/* libmicrohttpd's threads name themselves as they start, which
		 * may be after the filter is on. */
		struct scmp_arg_cmp name = {
		    .arg = 0, .op = SCMP_CMP_EQ, .datum_a = PR_SET_NAME, .datum_b = 0};
		/* Sockets for webhook deliveries and their name lookups: IPv4
		 * and IPv6 only; a lookup's try of nscd (AF_UNIX) or of the
		 * interface list (AF_NETLINK) fails softly; any other family
		 * kills. */
		struct scmp_arg_cmp inet = {
		    .arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_INET, .datum_b = 0};
		struct scmp_arg_cmp inet6 = {
		    .arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_INET6, .datum_b = 0};
		struct scmp_arg_cmp unixf = {
		    .arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_UNIX, .datum_b = 0};
		struct scmp_arg_cmp nl = {
		    .arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_NETLINK, .datum_b = 0};
		/* the resolver sizes a UDP answer with ioctl(FIONREAD) */
		struct scmp_arg_cmp fionread = {
		    .arg = 1, .op = SCMP_CMP_EQ, .datum_a = FIONREAD, .datum_b = 0};
		if (sb_rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &fionread) != 0 ||
		    sb_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &inet) != 0 ||
		    sb_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &inet6) != 0 ||
		    sb_rule(ctx, SCMP_ACT_ERRNO(EACCES), "socket", 1, &unixf) != 0 ||
		    sb_rule(ctx, SCMP_ACT_ERRNO(EACCES), "socket", 1, &nl) != 0)
			goto done;
		/* A sealed server unsealing from the terminal restores its echo
		 * (tcsetattr TCSANOW; glibc may read the settings back first) on
		 * that one descriptor, nothing else. */
		struct scmp_arg_cmp tty[2] = {
		    {.arg = 0, .op = SCMP_CMP_EQ, .datum_a = (scmp_datum_t)sb->sb_tty_fd},
		    {.arg = 1, .op = SCMP_CMP_EQ, .datum_a = TCSETS}};
		struct scmp_arg_cmp ttyget[2] = {
		    {.arg = 0, .op = SCMP_CMP_EQ, .datum_a = (scmp_datum_t)sb->sb_tty_fd},
		    {.arg = 1, .op = SCMP_CMP_EQ, .datum_a = TCGETS}};
		if (sb->sb_tty_fd >= 0 && (sb_rule(ctx, SCMP_ACT_ALLOW, "ioctl", 2, tty) != 0 ||
		                           sb_rule(ctx, SCMP_ACT_ALLOW, "ioctl", 2, ttyget) != 0))
			goto done;
		if (sb_rule(ctx, SCMP_ACT_ALLOW, "mmap", 1, &noexec) != 0 ||
		    sb_rule(ctx, SCMP_ACT_ALLOW, "mprotect", 1, &noexec) != 0 ||
		    sb_rule(ctx, SCMP_ACT_ALLOW, "tgkill", 1, &self) != 0)
			goto done;
#if !defined(__SANITIZE_ADDRESS__) /* where both are allowed outright */
		if (sb_rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &thread) != 0 ||
		    sb_rule(ctx, SCMP_ACT_ALLOW, "prctl", 1, &name) != 0)
			goto done;
#else
		(void)thread;
		(void)name;
#endif
		/* glibc tries clone3 first and falls back to clone on ENOSYS;
		 * clone3's flags are behind a pointer, which seccomp cannot see. */
		if (sb_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL) != 0)
			goto done;
	}
	if (seccomp_load(ctx) != 0) {
		log_msg("seccomp: cannot load the filter");
		goto done;
	}
	log_msg("seccomp: system-call allow-list installed on every thread");
	rc = 0;
#ifdef RSVAULT_TESTING
	/* Proof for the tests that the filter kills: a call outside the list. */
	if (getenv("RSVAULT_TEST_SECCOMP_PROBE") != NULL) {
		log_msg("seccomp: probe: calling socket(2), which must kill the process");
		syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0); /* only IPv4/IPv6 are allowed */
		log_msg("seccomp: probe: still alive");
	}
#endif
done:
	if (rc != 0)
		log_msg("seccomp: the filter could not be installed: refusing to run");
	seccomp_release(ctx);
	return rc;
}

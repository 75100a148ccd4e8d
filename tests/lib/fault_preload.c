/* fault_preload.c - storage faults for tests, loaded with LD_PRELOAD.
 *
 * Interposes the calls LMDB makes to write and sync its files (pwrite,
 * writev, fdatasync, fsync, msync; write, pwrite64 and pwritev too) and,
 * for files under $RSVAULT_FAULT_DIR only, injects a fault while a control
 * file exists in that directory:
 *
 *   fault-sync-fail   fdatasync/fsync/msync fail with EIO
 *   fault-sync-stall  fdatasync/fsync/msync block until the file is removed
 *   fault-enospc      every write fails with ENOSPC (a full disk)
 *   fault-meta-fail   a write into the first two pages of a file (LMDB's meta
 *                     pages) fails with EIO: the commit fails after its data
 *                     pages were written and synced
 *   fault-sync-slow   fdatasync/fsync/msync wait 100 ms before they start
 *   fault-metasync-fail  fdatasync/fsync fail with EIO when a meta page was
 *                     written (through a descriptor without O_DSYNC) since
 *                     the last sync that succeeded: the sync that would make
 *                     a commit durable fails, the one of its data pages not
 *   fault-main-epoll-del-slow  an epoll_ctl(EPOLL_CTL_DEL) made by the
 *                     process's main thread waits 300 ms before it runs: it
 *                     widens the window of libmicrohttpd 0.9.75's race in
 *                     MHD_quiesce_daemon (the main thread and a worker both
 *                     take the listening socket out of the worker's epoll
 *                     set; the main thread's ENOENT is a panic)
 *
 * With $RSVAULT_FAULT_LOG set (a file outside the directory), what a test
 * needs to judge durability is appended to it, one line per event, times in
 * CLOCK_MONOTONIC nanoseconds (Python's time.monotonic_ns):
 *
 *   meta END DSYNC     a write into a meta page returned at END; DSYNC 1 if
 *                      its descriptor was opened with O_DSYNC/O_SYNC (durable
 *                      when it returns)
 *   sync START END RC  a sync of a file under the directory ran from START
 *                      to END and returned RC (0 or -1)
 *
 * Otherwise, and for every other file, the real function runs (found with
 * dlsym(RTLD_NEXT, ...)). For tests only: never part of a program.
 *
 * Which descriptors refer to files under the directory is noted when they
 * are opened (open, open64, openat are interposed too), not looked up in
 * /proc at each call: the server's seccomp filter, installed after the
 * store is open, does not allow readlink. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static char fault_dir[PATH_MAX];
static size_t fault_dir_len; /* 0: no directory given, inject nothing */
static off_t meta_end;

static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_epoll_ctl)(int, int, int, struct epoll_event *);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fdatasync)(int);
static int (*real_fsync)(int);
static int (*real_msync)(void *, size_t, int);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);

/* Descriptors opened on a path under the directory; which of them write
 * synchronously (O_DSYNC or O_SYNC). */
#define FD_TRACK 4096
static volatile unsigned char fd_marked[FD_TRACK];
static volatile unsigned char fd_dsync[FD_TRACK];

static int log_fd = -1;            /* $RSVAULT_FAULT_LOG, or -1 */
static volatile int meta_unsynced; /* a meta page written since the last good sync */

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One line to the log (O_APPEND, short: written whole). */
static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
	char buf[160];
	va_list ap;
	int n;

	if (log_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof buf && real_write(log_fd, buf, (size_t)n) < 0)
		return;
}

__attribute__((constructor)) static void fault_init(void)
{
	const char *d = getenv("RSVAULT_FAULT_DIR");
	long ps = sysconf(_SC_PAGESIZE);

	real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	real_pwrite = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	real_pwrite64 =
	    (ssize_t(*)(int, const void *, size_t, off64_t))dlsym(RTLD_NEXT, "pwrite64");
	real_writev = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
	real_pwritev =
	    (ssize_t(*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_msync = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");
	real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	real_open64 = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open64");
	real_openat = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
	real_epoll_ctl =
	    (int (*)(int, int, int, struct epoll_event *))dlsym(RTLD_NEXT, "epoll_ctl");
	if (!real_epoll_ctl || !real_open || !real_open64 || !real_openat || !real_close ||
	    !real_write || !real_pwrite || !real_pwrite64 || !real_writev || !real_pwritev ||
	    !real_fdatasync || !real_fsync || !real_msync) {
		fprintf(stderr, "fault_preload: cannot find the real functions\n");
		abort();
	}
	meta_end = 2 * (off_t)(ps > 0 ? ps : 4096);
	if (getenv("RSVAULT_FAULT_LOG") != NULL)
		log_fd = real_open(getenv("RSVAULT_FAULT_LOG"),
		                   O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (d == NULL || d[0] != '/')
		return;
	if (realpath(d, fault_dir) == NULL) {
		/* not made yet: compare with the name as given */
		if (strlen(d) >= sizeof fault_dir)
			return;
		strcpy(fault_dir, d);
	}
	fault_dir_len = strlen(fault_dir);
	while (fault_dir_len > 1 && fault_dir[fault_dir_len - 1] == '/')
		fault_dir[--fault_dir_len] = '\0';
}

static int under_dir(const char *path)
{
	return fault_dir_len > 0 && strncmp(path, fault_dir, fault_dir_len) == 0 &&
	       path[fault_dir_len] == '/';
}

static int fd_under_dir(int fd)
{
	return fault_dir_len > 0 && fd >= 0 && fd < FD_TRACK && fd_marked[fd];
}

/* After an open: note whether fd is a file under the directory. An
 * absolute path is compared as given (libraries open files such as
 * /dev/urandom lazily, after the server's filter is on, and realpath would
 * call readlink); a relative one is made absolute with realpath, as LMDB
 * opens its files before the filter goes on. */
static int noted(int fd, const char *path, int flags)
{
	char abs[PATH_MAX];

	if (fd >= 0 && fd < FD_TRACK) {
		fd_marked[fd] = fault_dir_len > 0 && path != NULL &&
		                (path[0] == '/' ? under_dir(path)
		                                : realpath(path, abs) != NULL && under_dir(abs));
		fd_dsync[fd] = (flags & (O_DSYNC | O_SYNC)) != 0;
	}
	return fd;
}

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = open_mode(flags, ap);
	va_end(ap);
	return noted(real_open(path, flags, m), path, flags);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = open_mode(flags, ap);
	va_end(ap);
	return noted(real_open64(path, flags, m), path, flags);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = open_mode(flags, ap);
	va_end(ap);
	/* relative names under another directory fd are not followed */
	return noted(real_openat(dirfd, path, flags, m),
	             dirfd == AT_FDCWD || path[0] == '/' ? path : NULL, flags);
}

int close(int fd)
{
	if (fd >= 0 && fd < FD_TRACK)
		fd_marked[fd] = fd_dsync[fd] = 0;
	return real_close(fd);
}

/* Is addr inside a mapping of a file under the directory? */
static int addr_under_dir(const void *addr)
{
	char line[PATH_MAX + 128];
	uintptr_t a = (uintptr_t)addr;
	int hit = 0;
	FILE *f;

	if (fault_dir_len == 0 || (f = fopen("/proc/self/maps", "re")) == NULL)
		return 0;
	while (!hit && fgets(line, sizeof line, f) != NULL) {
		unsigned long lo, hi;
		char *path = strchr(line, '/');
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2 || path == NULL)
			continue;
		path[strcspn(path, "\n")] = '\0';
		hit = a >= lo && a < hi && under_dir(path);
	}
	fclose(f);
	return hit;
}

static int control(const char *name)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof p, "%s/%s", fault_dir, name);
	return access(p, F_OK) == 0;
}

/* 0: go on; -1 with errno set: fail the call. */
static int sync_fault(int under)
{
	struct timespec ts = {0, 10 * 1000 * 1000}, slow = {0, 100 * 1000 * 1000};

	if (!under)
		return 0;
	while (control("fault-sync-stall"))
		nanosleep(&ts, NULL);
	if (control("fault-sync-slow"))
		nanosleep(&slow, NULL);
	if (control("fault-sync-fail") || (meta_unsynced && control("fault-metasync-fail"))) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* A sync of a file under the directory: the fault, the real call, the log. */
static int synced(int under, int (*call)(void *, size_t, int, int), void *addr, size_t len,
                  int flags, int fd)
{
	long long t0;
	int was = meta_unsynced, rc;

	if (sync_fault(under) != 0) {
		if (under)
			log_line("sync %lld %lld -1\n", mono_ns(), mono_ns());
		return -1;
	}
	t0 = mono_ns();
	if (under)
		meta_unsynced = 0; /* a meta write from now on needs a later sync */
	rc = call(addr, len, flags, fd);
	if (under) {
		if (rc != 0 && was)
			meta_unsynced = 1;
		log_line("sync %lld %lld %d\n", t0, mono_ns(), rc);
	}
	return rc;
}

static int call_fdatasync(void *a, size_t l, int f, int fd)
{
	(void)a, (void)l, (void)f;
	return real_fdatasync(fd);
}

static int call_fsync(void *a, size_t l, int f, int fd)
{
	(void)a, (void)l, (void)f;
	return real_fsync(fd);
}

static int call_msync(void *a, size_t l, int f, int fd)
{
	(void)fd;
	return real_msync(a, l, f);
}

static int write_fault(int fd, off_t off)
{
	if (!fd_under_dir(fd))
		return 0;
	if (control("fault-enospc")) {
		errno = ENOSPC;
		return -1;
	}
	if (off >= 0 && off < meta_end && control("fault-meta-fail")) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* After a write that returned rc at offset off: note and log a meta page. */
static void wrote(int fd, off_t off, ssize_t rc)
{
	if (rc <= 0 || off < 0 || off >= meta_end || !fd_under_dir(fd))
		return;
	if (!fd_dsync[fd])
		meta_unsynced = 1;
	log_line("meta %lld %d\n", mono_ns(), fd_dsync[fd] ? 1 : 0);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (write_fault(fd, -1) != 0)
		return -1;
	return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t rc;

	if (write_fault(fd, off) != 0)
		return -1;
	rc = real_pwrite(fd, buf, n, off);
	wrote(fd, off, rc);
	return rc;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	ssize_t rc;

	if (write_fault(fd, (off_t)off) != 0)
		return -1;
	rc = real_pwrite64(fd, buf, n, off);
	wrote(fd, (off_t)off, rc);
	return rc;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	off_t off = lseek(fd, 0, SEEK_CUR);
	ssize_t rc;

	if (write_fault(fd, off) != 0)
		return -1;
	rc = real_writev(fd, iov, cnt);
	wrote(fd, off, rc);
	return rc;
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ssize_t rc;

	if (write_fault(fd, off) != 0)
		return -1;
	rc = real_pwritev(fd, iov, cnt, off);
	wrote(fd, off, rc);
	return rc;
}

int fdatasync(int fd)
{
	return synced(fd_under_dir(fd), call_fdatasync, NULL, 0, 0, fd);
}

int fsync(int fd)
{
	return synced(fd_under_dir(fd), call_fsync, NULL, 0, 0, fd);
}

int msync(void *addr, size_t len, int flags)
{
	return synced(addr_under_dir(addr), call_msync, addr, len, flags, -1);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	if (op == EPOLL_CTL_DEL && fault_dir_len > 0 && (pid_t)syscall(SYS_gettid) == getpid() &&
	    control("fault-main-epoll-del-slow")) {
		struct timespec ts = {0, 300 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return real_epoll_ctl(epfd, op, fd, ev);
}

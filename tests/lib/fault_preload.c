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
 *
 * Otherwise, and for every other file, the real function runs (found with
 * dlsym(RTLD_NEXT, ...)). For tests only: never part of a program. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static char fault_dir[PATH_MAX];
static size_t fault_dir_len; /* 0: no directory given, inject nothing */
static off_t meta_end;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fdatasync)(int);
static int (*real_fsync)(int);
static int (*real_msync)(void *, size_t, int);

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
	if (!real_write || !real_pwrite || !real_pwrite64 || !real_writev || !real_pwritev ||
	    !real_fdatasync || !real_fsync || !real_msync) {
		fprintf(stderr, "fault_preload: cannot find the real functions\n");
		abort();
	}
	meta_end = 2 * (off_t)(ps > 0 ? ps : 4096);
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
	char link[64], path[PATH_MAX];
	ssize_t n;

	if (fault_dir_len == 0 || fd < 0)
		return 0;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof path - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	return under_dir(path);
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
	struct timespec ts = {0, 10 * 1000 * 1000};

	if (!under)
		return 0;
	while (control("fault-sync-stall"))
		nanosleep(&ts, NULL);
	if (control("fault-sync-fail")) {
		errno = EIO;
		return -1;
	}
	return 0;
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

ssize_t write(int fd, const void *buf, size_t n)
{
	if (write_fault(fd, -1) != 0)
		return -1;
	return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (write_fault(fd, off) != 0)
		return -1;
	return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	if (write_fault(fd, (off_t)off) != 0)
		return -1;
	return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	off_t off = lseek(fd, 0, SEEK_CUR);

	if (write_fault(fd, off) != 0)
		return -1;
	return real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (write_fault(fd, off) != 0)
		return -1;
	return real_pwritev(fd, iov, cnt, off);
}

int fdatasync(int fd)
{
	if (sync_fault(fd_under_dir(fd)) != 0)
		return -1;
	return real_fdatasync(fd);
}

int fsync(int fd)
{
	if (sync_fault(fd_under_dir(fd)) != 0)
		return -1;
	return real_fsync(fd);
}

int msync(void *addr, size_t len, int flags)
{
	if (sync_fault(addr_under_dir(addr)) != 0)
		return -1;
	return real_msync(addr, len, flags);
}

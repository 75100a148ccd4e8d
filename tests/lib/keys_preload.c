/* keys_preload.c - faults for the key tool's tests, loaded with LD_PRELOAD
 * into rsvault-keys (tests/integration/test_keys_review.py). For tests
 * only: never part of a program.
 *
 *   RSV_SWAP_PATH, RSV_SWAP_FROM, RSV_SWAP_AT=N
 *       just before the N-th open (open, open64, openat, openat64) of the
 *       path RSV_SWAP_PATH (as the program names it), RSV_SWAP_FROM is
 *       renamed over it: someone who can write the backup's directory
 *       replaces the file between two reads of it.
 *   RSV_OWNER_PATH, RSV_OWNER_AT=N
 *       just before the N-th open of the path RSV_OWNER_PATH, the uid that
 *       owns it is printed ("[keys_preload] owner of P at open N: UID"):
 *       who could read a file while the program checks it.
 *   RSV_FAIL_RENAME=SUFFIX
 *       rename() to a path ending in SUFFIX fails with EIO (a crash or a
 *       full disk in the middle of a run of renames).
 *
 * Otherwise the real function runs (dlsym(RTLD_NEXT, ...)). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int opens;

static void report_owner(const char *path)
{
	static int seen;
	const char *p = getenv("RSV_OWNER_PATH"), *at = getenv("RSV_OWNER_AT");
	struct stat st;

	if (p == NULL || at == NULL || path == NULL || strcmp(path, p) != 0)
		return;
	if (++seen != atoi(at))
		return;
	if (lstat(path, &st) == 0)
		fprintf(stderr, "[keys_preload] owner of %s at open %d: %u\n", p, seen,
		        (unsigned)st.st_uid);
}

static void maybe_swap(const char *path)
{
	const char *p = getenv("RSV_SWAP_PATH"), *from = getenv("RSV_SWAP_FROM");
	const char *at = getenv("RSV_SWAP_AT");
	static int (*real_rename)(const char *, const char *);

	report_owner(path);
	if (p == NULL || from == NULL || at == NULL || path == NULL || strcmp(path, p) != 0)
		return;
	if (++opens != atoi(at))
		return;
	if (real_rename == NULL)
		real_rename = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	if (real_rename(from, p) == 0)
		fprintf(stderr, "[keys_preload] swapped %s before open %d\n", p, opens);
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? (mode_t)va_arg(ap, int)
	                                                                 : 0;
}

int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
int openat(int dfd, const char *path, int flags, ...);
int openat64(int dfd, const char *path, int flags, ...);
int rename(const char *from, const char *to);

int open(const char *path, int flags, ...)
{
	static int (*real)(const char *, int, ...);
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	if (real == NULL)
		real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	maybe_swap(path);
	return real(path, flags, m);
}

int open64(const char *path, int flags, ...)
{
	static int (*real)(const char *, int, ...);
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	if (real == NULL)
		real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open64");
	maybe_swap(path);
	return real(path, flags, m);
}

int openat(int dfd, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	if (real == NULL)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	maybe_swap(path);
	return real(dfd, path, flags, m);
}

int openat64(int dfd, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	if (real == NULL)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat64");
	maybe_swap(path);
	return real(dfd, path, flags, m);
}

int rename(const char *from, const char *to)
{
	static int (*real)(const char *, const char *);
	const char *suf = getenv("RSV_FAIL_RENAME");

	if (real == NULL)
		real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	if (suf != NULL && suf[0] != '\0' && to != NULL && strlen(to) >= strlen(suf) &&
	    strcmp(to + strlen(to) - strlen(suf), suf) == 0) {
		fprintf(stderr, "[keys_preload] rename to %s fails (EIO)\n", to);
		errno = EIO;
		return -1;
	}
	return real(from, to);
}

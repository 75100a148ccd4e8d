/* replay_main.c - a main() for the fuzz harnesses without libFuzzer, so
 * that gcc builds (make check, hardened and ASan+UBSan) replay each
 * corpus as a regression test.
 *
 * Usage: replay_NAME [DIR | FILE]...
 * Every regular file of a DIR (sorted by name, dot-files skipped) and every
 * FILE is fed to LLVMFuzzerTestOneInput in a buffer of exactly its size,
 * after one empty input. With no argument it replays CORPUS_DIR (set by the
 * Makefile to tests/fuzz/corpus/NAME, relative to the top of the tree).
 * Output is TAP: "1..N" then "ok K - PATH" per input. A harness that finds
 * a broken property aborts, which prove reports as a failure. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef CORPUS_DIR
#error "compile with -DCORPUS_DIR=\"tests/fuzz/corpus/NAME\""
#endif

#define REPLAY_FILE_MAX (16u * 1024u * 1024u)

struct list {
	char **path;
	size_t n, cap;
	int bad; /* an argument could not be read */
};

static int list_add(struct list *l, const char *dir, const char *name)
{
	size_t len = strlen(dir) + 1 + (name ? strlen(name) : 0) + 1;
	char *p;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **np = realloc(l->path, cap * sizeof *np);
		if (np == NULL)
			return -1;
		l->path = np;
		l->cap = cap;
	}
	if ((p = malloc(len)) == NULL)
		return -1;
	if (name != NULL)
		snprintf(p, len, "%s/%s", dir, name);
	else
		snprintf(p, len, "%s", dir);
	l->path[l->n++] = p;
	return 0;
}

static int skip_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Add arg: a directory's regular files, sorted, or the file itself. */
static int add_arg(struct list *l, const char *arg)
{
	struct dirent **ents;
	struct stat st;
	int n, rc = 0;

	if (stat(arg, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", arg, strerror(errno));
		l->bad = 1;
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return list_add(l, arg, NULL);
	if ((n = scandir(arg, &ents, skip_dots, alphasort)) < 0) {
		fprintf(stderr, "replay: %s: %s\n", arg, strerror(errno));
		l->bad = 1;
		return 0;
	}
	for (int i = 0; i < n; i++) {
		char p[4096];
		if (rc == 0 &&
		    snprintf(p, sizeof p, "%s/%s", arg, ents[i]->d_name) < (int)sizeof p &&
		    stat(p, &st) == 0 && S_ISREG(st.st_mode))
			rc = list_add(l, arg, ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return rc;
}

/* The input being run, named on a crash (stdout may be lost with it). */
static const char *current = "empty input";

static void on_crash(int sig)
{
	static const char pre[] = "replay: crashed on input ", nl[] = "\n";
	ssize_t w;

	w = write(STDERR_FILENO, pre, sizeof pre - 1);
	w = write(STDERR_FILENO, current, strlen(current));
	w = write(STDERR_FILENO, nl, 1);
	(void)w;
	raise(sig); /* SA_RESETHAND: the default action now */
}

/* Name the input on abort() (failed property, sanitizer, fortify) and on
 * faults, unless a sanitizer already handles the fault signals. */
static void crash_handlers(void)
{
	static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
	struct sigaction sa, old;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_crash;
	sa.sa_flags = (int)SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
			sigaction(sigs[i], &sa, NULL);
}

/* Read path whole into a malloc'd buffer of exactly its size (so ASan sees
 * any read past the end). Returns 0, or -1. */
static int read_all(const char *path, unsigned char **out, size_t *outlen)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;

	if (f == NULL)
		return -1;
	for (;;) {
		if (n == cap) {
			unsigned char *nb;
			cap = cap ? cap * 2 : 4096;
			if (cap > REPLAY_FILE_MAX || (nb = realloc(buf, cap)) == NULL)
				goto done;
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
		goto done;
	/* shrink to the exact size: a harness reading past the end must trip */
	if ((*out = malloc(n ? n : 1)) == NULL)
		goto done;
	if (n)
		memcpy(*out, buf, n);
	*outlen = n;
	rc = 0;
done:
	free(buf);
	fclose(f);
	return rc;
}

int main(int argc, char **argv)
{
	struct list l = {NULL, 0, 0, 0};
	unsigned char *data;
	size_t len;
	int failed = 0;

	crash_handlers();
	if (argc < 2) {
		if (add_arg(&l, CORPUS_DIR) != 0)
			goto oom;
	}
	for (int i = 1; i < argc; i++)
		if (add_arg(&l, argv[i]) != 0)
			goto oom;
	printf("1..%zu\n", l.n + 1 + (size_t)l.bad);
	fflush(stdout);
	/* libFuzzer always tries the empty input first; so do we */
	if ((data = malloc(1)) == NULL)
		goto oom;
	LLVMFuzzerTestOneInput(data, 0);
	free(data);
	printf("ok 1 - empty input\n");
	for (size_t i = 0; i < l.n; i++) {
		if (read_all(l.path[i], &data, &len) != 0) {
			printf("not ok %zu - %s (unreadable)\n", i + 2, l.path[i]);
			failed = 1;
		} else {
			current = l.path[i];
			LLVMFuzzerTestOneInput(data, len);
			free(data);
			printf("ok %zu - %s\n", i + 2, l.path[i]);
		}
		fflush(stdout);
		free(l.path[i]);
	}
	if (l.bad) {
		printf("not ok %zu - an argument could not be read\n", l.n + 2);
		failed = 1;
	}
	free(l.path);
	return failed;
oom:
	fprintf(stderr, "replay: out of memory\n");
	return 2;
}

/* unseal.c - read the unseal input of a sealed server (unseal.h). */
#include "unseal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto.h"
#include "keyfile.h"
#include "log.h"
#include "seal.h"

#define UNSEAL_LINE_MAX SEAL_LINE_MAX
#define UNSEAL_TOO_LONG                                                                            \
	"a line longer than 2047 bytes: refused whole, nothing in it was tried (not its start, "   \
	"not its rest); still sealed"
_Static_assert(SEAL_LINE_MAX == 2047, "the message names the limit");
#define UNSEAL_CRED_MAX (64 * 1024)

int unseal_prepare(int unseal_fd, struct unseal_src *u)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char path[4096];

	memset(u, 0, sizeof *u);
	u->fd = -1;
	if (unseal_fd >= 0) {
		if (fcntl(unseal_fd, F_GETFD) < 0) {
			log_msg("--unseal-fd %d: not an open descriptor", unseal_fd);
			return -1;
		}
		u->fd = unseal_fd;
		u->what = "--unseal-fd";
		return 0;
	}
	if (dir != NULL && dir[0] != '\0') {
		if (snprintf(path, sizeof path, "%s/%s", dir, UNSEAL_CREDENTIAL) >=
		    (int)sizeof path)
			return -1;
		if ((u->mem = sodium_malloc(UNSEAL_CRED_MAX)) == NULL)
			return -1;
		if (keyfile_read_secret(path, u->mem, UNSEAL_CRED_MAX, 1, UNSEAL_CRED_MAX,
		                        &u->memlen) != 0) {
			log_msg("sealed: cannot read the credential: %s", keyfile_error());
			sodium_free(u->mem);
			u->mem = NULL;
			return -1;
		}
		u->what = "systemd credential " UNSEAL_CREDENTIAL;
		return 0;
	}
	if ((u->fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		log_msg(
		    "the master keys are sealed and there is nothing to unseal them from: give "
		    "--unseal-fd FD, a systemd credential %s ($CREDENTIALS_DIRECTORY), or start "
		    "the server on a terminal",
		    UNSEAL_CREDENTIAL);
		return -1;
	}
	u->is_tty = 1;
	u->what = "terminal";
	if (tcgetattr(u->fd, &u->tio) == 0) {
		struct termios quiet = u->tio;
		quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		tcsetattr(u->fd, TCSANOW, &quiet);
	}
	return 0;
}

int unseal_tty_fd(const struct unseal_src *u)
{
	return u->is_tty ? u->fd : -1;
}

static void prompt(const struct unseal_src *u, const char *text)
{
	if (u->is_tty && write(u->fd, text, strlen(text)) < 0)
		log_msg("unseal: cannot write to the terminal");
}

static void say(struct unseal_src *u, const char *msg)
{
	char line[256];

	log_msg("unseal (%s): %s", u->what, msg);
	if (u->is_tty) {
		snprintf(line, sizeof line, "\n%s\n", msg);
		prompt(u, line);
	}
}

/* Feed one line; returns 1 unsealed, 0 not yet. */
static int feed(struct unseal_src *u, const char *line, size_t len)
{
	const char *msg = NULL;
	int rc;

	/* an empty line is skipped; mkset_feed reads the line as the key tool
	 * does (seal_line_len) */
	if (seal_line_len(line, len) == 0)
		return 0;
	rc = crypto_unseal_line(line, len, &msg);
	say(u, msg != NULL ? msg : "?");
	return rc == 1;
}

static void ask(struct unseal_src *u)
{
	unsigned k = 0;
	int kind = crypto_seal_kind(&k);

	if (kind == SEAL_KIND_PASSPHRASE)
		prompt(u, "rsvaultd: passphrase to unseal the master keys: ");
	else if (kind == SEAL_KIND_SHARES)
		prompt(u, "rsvaultd: a share line (rsvault-share-v1 ...) to unseal: ");
}

static int from_memory(struct unseal_src *u)
{
	size_t i = 0, start = 0;

	for (; i <= u->memlen; i++) {
		if (i == u->memlen || u->mem[i] == '\n') {
			if (i - start > UNSEAL_LINE_MAX)
				say(u, UNSEAL_TOO_LONG);
			else if (i > start && feed(u, (const char *)u->mem + start, i - start))
				return 1;
			start = i + 1;
		}
	}
	return 0;
}

int unseal_run(struct unseal_src *u, const sigset_t *stop, int *sig)
{
	char *buf;
	size_t have = 0;
	struct timespec zero = {0, 0};
	int rc = 0, skipping = 0;

	if (u->mem != NULL)
		return from_memory(u);
	if ((buf = sodium_malloc(UNSEAL_LINE_MAX + 1)) == NULL)
		return 0;
	ask(u);
	for (;;) {
		struct pollfd p = {.fd = u->fd, .events = POLLIN};
		ssize_t n;
		char *nl;
		int s = sigtimedwait(stop, NULL, &zero);
		if (s > 0) {
			*sig = s;
			rc = -1;
			break;
		}
		if (poll(&p, 1, 250) <= 0)
			continue;
		/* room for a whole line of UNSEAL_LINE_MAX bytes and its "\n" */
		n = read(u->fd, buf + have, UNSEAL_LINE_MAX + 1 - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			if (have > 0 && !skipping && feed(u, buf, have))
				rc = 1;
			break;
		}
		have += (size_t)n;
		if (skipping) {
			/* the rest of a line too long: dropped up to its end */
			if ((nl = memchr(buf, '\n', have)) == NULL) {
				sodium_memzero(buf, have);
				have = 0;
				continue;
			}
			size_t drop = (size_t)(nl - buf) + 1;
			sodium_memzero(buf, drop);
			memmove(buf, nl + 1, have - drop);
			have -= drop;
			sodium_memzero(buf + have, drop);
			skipping = 0;
			ask(u);
		}
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			size_t len = (size_t)(nl - buf);
			int done = feed(u, buf, len);
			sodium_memzero(buf, len + 1);
			memmove(buf, nl + 1, have - len - 1);
			have -= len + 1;
			sodium_memzero(buf + have, len + 1);
			if (done) {
				rc = 1;
				goto out;
			}
			ask(u);
		}
		if (have > UNSEAL_LINE_MAX) {
			/* UNSEAL_LINE_MAX + 1 bytes and no "\n": too long; the
			 * rest of it, up to its "\n", is dropped too, never taken
			 * as a line of its own */
			say(u, UNSEAL_TOO_LONG);
			sodium_memzero(buf, have);
			have = 0;
			skipping = 1;
		}
	}
out:
	sodium_free(buf); /* wipes */
	return rc;
}

void unseal_done(struct unseal_src *u)
{
	if (u->is_tty && u->fd >= 0) {
		tcsetattr(u->fd, TCSANOW, &u->tio);
		close(u->fd);
	}
	if (u->mem != NULL)
		sodium_free(u->mem);
	u->mem = NULL;
	u->fd = -1;
	u->is_tty = 0;
}

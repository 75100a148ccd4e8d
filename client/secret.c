/* secret.c - wiping allocator, secret input (no-echo prompt or stdin) and
 * unbuffered output of secret bytes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "secret.h"

/* stdin: the secret, a "\r\n" and one byte more to see that it is too long */
#define STDIN_CAP (API_SECRET_MAX + 3)
/* terminal: one line, one byte more to see that it is too long */
#define TTY_CAP (API_SECRET_MAX + 1)

int cli_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Remove one trailing "\n" or "\r\n". */
static void strip_line_end(char *buf, size_t *len)
{
	if (*len > 0 && buf[*len - 1] == '\n') {
		(*len)--;
		if (*len > 0 && buf[*len - 1] == '\r')
			(*len)--;
	}
	buf[*len] = '\0';
}

/* The checks every secret passes, whatever its source. */
static int check_secret(const char *buf, size_t len)
{
	if (len == 0) {
		cli_warnx("the secret is empty");
		return -1;
	}
	if (len > API_SECRET_MAX) {
		cli_warnx("the secret is longer than %d bytes", API_SECRET_MAX);
		return -1;
	}
	if (memchr(buf, '\0', len) != NULL) {
		cli_warnx("the secret contains a NUL byte");
		return -1;
	}
	return 0;
}

int cli_secret_read_fd(int fd, char **out, size_t *len)
{
	char *buf;
	size_t n = 0;
	int rc = -1;

	buf = wipe_malloc(STDIN_CAP + 1);
	if (buf == NULL) {
		cli_warnx("out of memory");
		return -1;
	}
	while (n < STDIN_CAP) {
		ssize_t r = read(fd, buf + n, STDIN_CAP - n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			cli_warnx("cannot read the secret from standard input: %s",
			          strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	strip_line_end(buf, &n);
	if (check_secret(buf, n) != 0)
		goto done;
	*out = buf;
	*len = n;
	buf = NULL;
	rc = 0;
done:
	wipe_free(buf);
	return rc;
}

static volatile sig_atomic_t caught_signal;

static void on_signal(int sig)
{
	caught_signal = sig;
}

static const int prompt_signals[] = {SIGINT, SIGHUP, SIGQUIT, SIGTERM, SIGTSTP};
#define NPROMPT_SIGNALS (sizeof prompt_signals / sizeof prompt_signals[0])

/* Read one line from in_fd into buf (cap bytes, NUL-terminated, line end
 * removed). Sets *toolong if the line did not fit. Returns 0 or -1. */
static int read_line(int in_fd, char *buf, size_t cap, size_t *len, int *toolong)
{
	size_t n = 0;
	char ch = 0;
	int rc = -1;

	*toolong = 0;
	for (;;) {
		ssize_t r = read(in_fd, &ch, 1);

		if (r < 0) {
			if (errno == EINTR && caught_signal == 0)
				continue;
			goto done;
		}
		if (r == 0 || ch == '\n')
			break;
		if (n < cap - 1)
			buf[n++] = ch;
		else
			*toolong = 1;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len = n;
	rc = 0;
done:
	sodium_memzero(&ch, sizeof ch);
	return rc;
}

/* Show prompt on out_fd and read a line from in_fd with echo off. Signals
 * that would end the program restore the terminal first and are then
 * delivered. Returns 0 or -1. */
static int prompt_noecho(int in_fd, int out_fd, const char *prompt, char *buf, size_t cap,
                         size_t *len, int *toolong)
{
	struct sigaction sa, saved[NPROMPT_SIGNALS];
	struct termios old, quiet;
	int have_termios, rc, err;
	size_t i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: read() returns EINTR */
	caught_signal = 0;
	for (i = 0; i < NPROMPT_SIGNALS; i++)
		sigaction(prompt_signals[i], &sa, &saved[i]);

	have_termios = tcgetattr(in_fd, &old) == 0;
	if (have_termios) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		(void)tcsetattr(in_fd, TCSAFLUSH, &quiet);
	}
	(void)cli_write_all(out_fd, prompt, strlen(prompt));
	rc = read_line(in_fd, buf, cap, len, toolong);
	err = errno;
	if (have_termios)
		(void)tcsetattr(in_fd, TCSAFLUSH, &old);
	(void)cli_write_all(out_fd, "\n", 1);

	for (i = 0; i < NPROMPT_SIGNALS; i++)
		sigaction(prompt_signals[i], &saved[i], NULL);
	if (caught_signal != 0) {
		sodium_memzero(buf, cap);
		raise(caught_signal);
		cli_warnx("interrupted");
		return -1;
	}
	if (rc != 0)
		cli_warnx("cannot read the secret from the terminal: %s", strerror(err));
	return rc;
}

static int read_from_tty(char **out, size_t *len)
{
	char *first = NULL, *again = NULL;
	size_t n1 = 0, n2 = 0;
	int tty, in_fd, out_fd, toolong = 0, rc = -1;

	tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	in_fd = tty >= 0 ? tty : STDIN_FILENO;
	out_fd = tty >= 0 ? tty : STDERR_FILENO;
	first = wipe_malloc(TTY_CAP + 1);
	again = wipe_malloc(TTY_CAP + 1);
	if (first == NULL || again == NULL) {
		cli_warnx("out of memory");
		goto done;
	}
	if (prompt_noecho(in_fd, out_fd, "Secret (not shown): ", first, TTY_CAP + 1, &n1,
	                  &toolong) != 0)
		goto done;
	if (toolong) {
		cli_warnx("the secret is longer than %d bytes", API_SECRET_MAX);
		goto done;
	}
	if (check_secret(first, n1) != 0)
		goto done;
	if (prompt_noecho(in_fd, out_fd, "Repeat the secret: ", again, TTY_CAP + 1, &n2,
	                  &toolong) != 0)
		goto done;
	if (toolong || n1 != n2 || sodium_memcmp(first, again, n1) != 0) {
		cli_warnx("the two entries differ; nothing was sent");
		goto done;
	}
	*out = first;
	*len = n1;
	first = NULL;
	rc = 0;
done:
	wipe_free(first);
	wipe_free(again);
	if (tty >= 0)
		close(tty);
	return rc;
}

int cli_secret_read(char **out, size_t *len)
{
	if (isatty(STDIN_FILENO))
		return read_from_tty(out, len);
	return cli_secret_read_fd(STDIN_FILENO, out, len);
}

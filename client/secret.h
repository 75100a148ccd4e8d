/* secret.h - memory that is wiped when freed, reading a secret from a
 * no-echo prompt or standard input, and writing secret bytes without
 * stdio buffering. */
#ifndef RSVAULT_CLIENT_SECRET_H
#define RSVAULT_CLIENT_SECRET_H

#include <stddef.h>

/* The wiping allocator (wipe_malloc ... wipe_free) is in common/wipe.h. */
#include "apilimits.h"
#include "wipe.h"

/* Read a secret. If standard input is a terminal, prompt on /dev/tty with
 * echo off (twice, the second time to confirm); otherwise read all of
 * standard input. Exactly one trailing "\n" or "\r\n" is removed. The
 * result has 1..API_SECRET_MAX bytes and no NUL byte.
 * On success *out is a NUL-terminated block from wipe_malloc (the
 * caller frees it with wipe_free) and *len its length; returns 0. On
 * failure prints a message, wipes everything it read and returns -1.
 * Blocks until the input ends or the user presses Enter. */
int cli_secret_read(char **out, size_t *len);

/* Split of cli_secret_read's standard-input path, for tests: read all of
 * fd (at most API_SECRET_MAX plus a line end) into a wiping block and
 * strip one trailing line end. Same contract as cli_secret_read. */
int cli_secret_read_fd(int fd, char **out, size_t *len);

/* Write all of buf to fd, retrying on EINTR and short writes, without
 * going through a stdio buffer. Returns 0 or -1 (errno set). */
int cli_write_all(int fd, const void *buf, size_t len);

#endif

/* unseal.h - where a sealed server's passphrase or share lines come from
 * (SPEC 8.4): --unseal-fd FD, a systemd credential, or the terminal.
 *
 * unseal_prepare runs with the start-up privileges, before the sandbox: it
 * picks the source and opens or reads what it needs then (the credential
 * file is read whole into locked memory, /dev/tty is opened and its echo
 * turned off), so unseal_run, after the system-call filter is on, only
 * reads a descriptor it already has (or memory) and restores the
 * terminal. */
#ifndef RSVAULT_UNSEAL_H
#define RSVAULT_UNSEAL_H

#include <signal.h>
#include <stddef.h>
#include <termios.h>

#define UNSEAL_CREDENTIAL "rsvault-unseal"

struct unseal_src {
	int fd;             /* --unseal-fd or /dev/tty; -1 for a credential */
	int is_tty;         /* fd is the terminal: prompt, echo off */
	struct termios tio; /* the terminal's settings to restore */
	unsigned char *mem; /* the credential's bytes (sodium_malloc) */
	size_t memlen;
	const char *what; /* "--unseal-fd 3", "systemd credential", "terminal" */
};

/* Pick the source: unseal_fd >= 0 (--unseal-fd), else
 * $CREDENTIALS_DIRECTORY/rsvault-unseal if that variable is set, else
 * /dev/tty. Returns 0, or -1 (logged) when there is none or it cannot be
 * read. */
int unseal_prepare(int unseal_fd, struct unseal_src *u);

/* The terminal's echo-restoring ioctl must be allowed by the filter: the
 * descriptor to allow it on, or -1. */
int unseal_tty_fd(const struct unseal_src *u);

/* Read lines from the source and feed them to crypto_unseal_line until the
 * keys are unsealed (1), the input ends (0: still sealed), or a signal of
 * stop arrives (-1, *sig set). Every outcome of a line is logged (never the
 * line). Wipes what it read. */
int unseal_run(struct unseal_src *u, const sigset_t *stop, int *sig);

/* Restore the terminal and free the source. */
void unseal_done(struct unseal_src *u);

#endif

/* log.h - the server's stderr log: one line per request, plus start-up and
 * error messages. Never a body, a token or a secret. Thread-safe. */
#ifndef RSVAULT_LOG_H
#define RSVAULT_LOG_H

/* Write "TIME rsvaultd: MESSAGE\n" to stderr. */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The program name in the lines (default "rsvaultd"; the key tool, which
 * links the store, sets its own). Call before any thread starts. */
void log_set_name(const char *name);

#endif

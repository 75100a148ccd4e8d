/* log.h - the server's log: one line per request, plus start-up and error
 * messages, as text or JSON lines, on stderr or in a file (--log-file,
 * reopened on SIGHUP). Never a body, a token or a secret. Thread-safe.
 *
 * No line carries a terminal control, whatever the caller passes: the text
 * format writes every byte below 0x20, DEL, a backslash, the bytes of a C1
 * control (U+0080..U+009F) and every byte of ill-formed UTF-8 as \xNN (in
 * every field and in messages; other UTF-8 is kept); the JSON format
 * escapes every byte outside printable ASCII as \u00NN. Each line ends in
 * its one newline. */
#ifndef RSVAULT_LOG_H
#define RSVAULT_LOG_H

#include <stdint.h>

/* Write one message line: "TIME rsvaultd: MESSAGE" (text) or
 * {"time","level":"info","msg"} (json). */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The program name in the lines (default "rsvaultd"; the key tool, which
 * links the store, sets its own). Call before any thread starts. */
void log_set_name(const char *name);

enum log_format { LOG_TEXT = 0, LOG_JSON = 1 };

/* Parse "text" or "json". Returns 0 or -1. */
int log_parse_format(const char *s, enum log_format *out);

/* Choose the line format. Call before any thread starts. */
void log_set_format(enum log_format f);

/* Write lines to path (appended; made 0600 if missing) instead of stderr.
 * Called again (SIGHUP), opens the path anew and only then swaps, so a
 * log rotated away is followed; on failure the current destination stays
 * and -1 is returned (errno set). NULL or "" means stderr. Any thread. */
int log_open(const char *path);

/* The access line of one request. ip, actor (NULL or "" when there is
 * none), method and route are plain text from the server (route is a
 * route pattern, a page path or "-"), never the raw URI. JSON keys: time,
 * ip, actor, method, route, status, duration_ms, request_id (and aborted
 * when the connection ended before the response was sent). */
void log_request(const char *ip, const char *actor, const char *method, const char *route,
                 int status, int64_t duration_ms, const char *request_id, int aborted);

#endif

/* output.h - what the client prints: aligned tables, "key: value" lines,
 * local times and ages, the raw JSON of --json. Text that came from the
 * server is cleaned before it reaches a terminal: control characters
 * (C0, DEL, C1) and bidirectional/format controls become '?', so a ticket
 * subject cannot move the cursor or rewrite the agent's screen. None of
 * these functions block except on the output stream itself. */
#ifndef RSVAULT_CLIENT_OUTPUT_H
#define RSVAULT_CLIENT_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#define CLI_TABLE_MAXCOLS 8
#define CLI_CELL_MAXCOLS 60 /* table cells longer than this are cut with "..." */

/* A cleaned copy of s (NULL counts as "-"), cut to maxcols display columns
 * with a trailing "..." when maxcols > 0 and s is wider. Invalid UTF-8
 * bytes become '?'. Returns a malloc'd string, or NULL if out of memory. */
char *cli_clean(const char *s, size_t maxcols);

/* Display width of s in terminal columns (after cleaning). */
size_t cli_width(const char *s);

/* How to show a time. */
enum cli_time_style {
	CLI_TIME_MINUTES, /* 2026-11-22 11:00 */
	CLI_TIME_SECONDS, /* 2026-11-22 11:00:00 */
	CLI_TIME_FULL,    /* 2026-11-22 11:00:00 CET */
};

/* Format an RFC 3339 time in local time into out. Anything that does not
 * parse is copied (cleaned, cut) instead; NULL gives "-". */
void cli_time_local(const char *rfc3339, enum cli_time_style style, char *out, size_t n);

/* Age of an RFC 3339 time relative to now_ms: "45s", "5m", "3h", "2d".
 * "-" for NULL or unparsable input. */
void cli_age(const char *rfc3339, long long now_ms, char *out, size_t n);

/* A text table: a header row (or none) and rows of cleaned cells, printed
 * with columns aligned by display width and two spaces between them. */
struct cli_table {
	size_t ncols;
	size_t nrows;
	size_t cap;
	size_t maxcols; /* cut cells at this width; 0 = never */
	const char *head[CLI_TABLE_MAXCOLS];
	char **cells; /* nrows * ncols, malloc'd */
};

/* head: ncols strings, or NULL for no header row. ncols <= CLI_TABLE_MAXCOLS. */
void cli_table_init(struct cli_table *t, size_t ncols, const char *const *head, size_t maxcols);

/* Add a row of ncols values (NULL shows as "-"). Returns 0 or -1 (memory). */
int cli_table_add(struct cli_table *t, const char *const *vals);

void cli_table_print(const struct cli_table *t, FILE *f);
void cli_table_free(struct cli_table *t);

/* Print a JSON object as aligned "key: value" lines: nested objects as
 * "parent.key", null as "-", booleans as yes/no, strings whose key ends in
 * "_at" or is "time" or "valid_until" as local times. Returns 0 or -1. */
int cli_print_object(json_t *obj, FILE *f);

/* Write a response body to stdout unchanged, plus a newline if it lacks
 * one, bypassing stdio's buffer (the body may hold a secret). 0 or -1. */
int cli_print_raw(const char *body, size_t len);

/* Write a secret or token and a newline to stdout without stdio. 0 or -1. */
int cli_print_secret(const char *s, size_t len);

/* Object member as a string, or NULL if absent or not a string. */
const char *cli_jstr(json_t *obj, const char *key);

/* Object member shown as text into buf: string as is, integer in decimal,
 * null or absent as "-", true/false as yes/no. Returns buf. */
const char *cli_jtext(json_t *obj, const char *key, char *buf, size_t n);

#endif

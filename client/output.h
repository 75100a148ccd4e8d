/* output.h - what the client prints: aligned tables, "key: value" lines,
 * local times and ages, the JSON of --json, and secrets.
 *
 * Nothing that came from the server reaches the screen in a form that can
 * drive the terminal. Text (table cells, "key: value" lines, error
 * messages) always shows control characters (C0, DEL, C1), invisible
 * format characters, line separators and direction controls (Unicode
 * Cf, Zl, Zp) as visible escapes: \t \n \r, \xHH for other C0 and DEL and
 * for a byte that is not UTF-8, \uXXXX or \UXXXXXXXX for the rest. So a
 * ticket subject cannot move the cursor, set the window title or reverse
 * the text around it, and the reader sees that something is there.
 * --json output keeps every character but writes DEL, C1 and the invisible
 * ones as \uXXXX escapes (the document means the same). A secret is
 * escaped only on a terminal and only if it needs it (see cli_esc_*).
 * None of these functions block except on the output stream itself. */
#ifndef RSVAULT_CLIENT_OUTPUT_H
#define RSVAULT_CLIENT_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "jsonx.h" /* jx_str */

#define CLI_TABLE_MAXCOLS 8
#define CLI_CELL_MAXCOLS 60 /* table cells longer than this are cut with "..." */

/* How text is escaped. */
enum cli_esc {
	/* one line of text: every control character escaped (tab, line
	 * feed and carriage return as \t \n \r); a backslash stays as it is */
	CLI_ESC_LINE,
	/* a secret on a terminal: line feeds kept (a multi-line key stays
	 * readable), everything else as CLI_ESC_LINE, and a backslash doubled
	 * so that the escaped form reads back unambiguously */
	CLI_ESC_SECRET,
};

/* 1 if s[0..n) holds a character that mode escapes (a control, invisible
 * or direction character, or a byte that is not UTF-8), else 0. A
 * backslash alone does not count. */
int cli_esc_needed(const char *s, size_t n, enum cli_esc mode);

/* The escaped copy of s[0..n) for mode, NUL-terminated, in a block from
 * wipe_malloc (free it with wipe_free; it may hold a secret), its
 * length in *outlen (if not NULL). NULL if out of memory. */
char *cli_esc_dup(const char *s, size_t n, enum cli_esc mode, size_t *outlen);

/* An escaped (CLI_ESC_LINE) copy of s (NULL counts as "-"), cut to maxcols
 * display columns with a trailing "..." when maxcols > 0 and s is wider;
 * an escape is never cut in two. Returns a malloc'd string, or NULL if out
 * of memory. */
char *cli_clean(const char *s, size_t maxcols);

/* Display width of s in terminal columns once escaped (CLI_ESC_LINE). */
size_t cli_width(const char *s);

/* How to show a time. */
enum cli_time_style {
	CLI_TIME_MINUTES, /* 2026-11-22 11:00 CET */
	CLI_TIME_SECONDS, /* 2026-11-22 11:00:00 CET */
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

/* Write a JSON answer (a body that cli_api parsed) to stdout, plus a
 * newline if it lacks one, bypassing stdio's buffer (it may hold a
 * secret): byte for byte except that DEL, the C1 controls and the
 * invisible characters are written as \uXXXX escapes (a surrogate pair
 * above U+FFFF), which JSON reads as the same characters. C0 controls
 * cannot occur raw in valid JSON; a body holding one, or invalid UTF-8,
 * is refused. The copy is wiped. Returns 0, or -1 with a message printed. */
int cli_print_json(const char *body, size_t len);

/* The JSON text p[0..len) escaped as cli_print_json writes it (DEL, C1 and
 * the invisible characters as \uXXXX escapes, which JSON reads as the same
 * characters): a NUL-terminated copy from wipe_malloc (free it with
 * wipe_free) and its length in *outlen. NULL, with a message printed, for
 * invalid UTF-8, a raw C0 control other than JSON's whitespace, or no
 * memory. */
char *cli_json_clean(const char *p, size_t len, size_t *outlen);

/* Write s[0..len) and a newline to stdout exactly, without stdio (a
 * secret, a token). The caller decides whether s may reach a terminal as
 * it is. 0 or -1. */
int cli_print_secret(const char *s, size_t len);

/* Object member shown as text into buf: string as is, integer in decimal,
 * null or absent as "-", true/false as yes/no. Returns buf. */
const char *cli_jtext(json_t *obj, const char *key, char *buf, size_t n);

#endif

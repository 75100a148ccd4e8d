/* log.c - text or JSON lines on stderr or in a file (contract in log.h). */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "display.h"

#define LOG_LINE_MAX 8192

static const char *log_name = "rsvaultd";
static enum log_format log_fmt = LOG_TEXT;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = STDERR_FILENO;

void log_set_name(const char *name)
{
	log_name = name;
}

int log_parse_format(const char *s, enum log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOG_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_JSON;
	else
		return -1;
	return 0;
}

void log_set_format(enum log_format f)
{
	log_fmt = f;
}

int log_open(const char *path)
{
	int fd = STDERR_FILENO, old;

	if (path != NULL && path[0] != '\0') {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		          0600);
		if (fd < 0)
			return -1;
	}
	pthread_mutex_lock(&log_mu);
	old = log_fd;
	log_fd = fd;
	pthread_mutex_unlock(&log_mu);
	if (old != STDERR_FILENO)
		close(old);
	return 0;
}

/* One write per line, under the lock: lines never interleave, and a
 * reopen never closes a descriptor that is being written to. */
static void emit(char *line, size_t len)
{
	size_t off = 0;

	if (len >= LOG_LINE_MAX) { /* truncated by the formatter */
		len = LOG_LINE_MAX - 1;
		line[len - 1] = '\n';
	}
	pthread_mutex_lock(&log_mu);
	while (off < len) {
		ssize_t n = write(log_fd, line + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	pthread_mutex_unlock(&log_mu);
}

/* Append s to out[*at..] as a JSON string body: quote, backslash and
 * every byte outside printable ASCII escaped, so any input makes valid
 * JSON (non-ASCII bytes become \u00XX, one per byte). */
static void json_str(char *out, size_t cap, size_t *at, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s != '\0' && *at + 7 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			out[(*at)++] = '\\';
			out[(*at)++] = (char)ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			out[(*at)++] = '\\';
			out[(*at)++] = 'u';
			out[(*at)++] = '0';
			out[(*at)++] = '0';
			out[(*at)++] = hex[ch >> 4];
			out[(*at)++] = hex[ch & 15];
		} else {
			out[(*at)++] = (char)ch;
		}
	}
	out[*at] = '\0';
}

static void put(char *out, size_t cap, size_t *at, const char *s)
{
	size_t l = strlen(s);

	if (*at + l + 1 >= cap)
		l = *at + 1 < cap ? cap - *at - 1 : 0;
	memcpy(out + *at, s, l);
	*at += l;
	out[*at] = '\0';
}

/* The length of the UTF-8 sequence at s that the text format writes as it
 * is: a well-formed sequence (no overlong form, surrogate or code point
 * above U+10FFFF) of a character that is not a C1 control (U+0080 to
 * U+009F) nor one that display_refused refuses. 0 when the byte at s must be
 * escaped (each byte of the sequence is then). s[0] >= 0x80. */
static size_t utf8_keep(const unsigned char *s)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	uint32_t cp;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0; /* a continuation byte, C0/C1 (overlong) or F5..FF */
	if (c == 0xc2)
		lo = 0xa0; /* U+0080..U+009F: C1 controls */
	else if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++) /* a NUL stops here too */
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	cp = c & (0xff >> (n + 1));
	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | (s[i] & 0x3f);
	/* format characters (bidi overrides and isolates, zero-width), line
	 * and paragraph separators and tags: what validate.c refuses in
	 * displayed text, since they can reorder or hide what a terminal shows */
	return display_refused(cp) ? 0 : n;
}

/* Append s to out[*at..] for the text format, so that no line can carry a
 * terminal control whatever the caller passes: every byte below 0x20, DEL,
 * a backslash (so an escape in the output is always one of ours), every
 * byte of a C1 control or of ill-formed UTF-8 is written as \xNN; other
 * printable ASCII and well-formed UTF-8 as they are. Stops, without
 * cutting an escape or a character in two, when out is full. No
 * allocation: runs of plain bytes are copied at once. */
static void put_esc(char *out, size_t cap, size_t *at, const char *str)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;

	while (*s != '\0') {
		const unsigned char *run = s;
		size_t n;
		while (*s >= 0x20 && *s < 0x7f && *s != '\\')
			s++;
		if (s > run) {
			n = (size_t)(s - run);
			if (*at + n + 1 > cap)
				n = *at + 1 < cap ? cap - *at - 1 : 0;
			memcpy(out + *at, run, n);
			*at += n;
			if (run + n < s)
				break; /* full */
			continue;
		}
		if (*s >= 0x80 && (n = utf8_keep(s)) > 0) {
			if (*at + n + 1 > cap)
				break;
			memcpy(out + *at, s, n);
			*at += n;
			s += n;
			continue;
		}
		if (*at + 4 + 1 > cap)
			break;
		out[(*at)++] = '\\';
		out[(*at)++] = 'x';
		out[(*at)++] = hex[*s >> 4];
		out[(*at)++] = hex[*s & 15];
		s++;
	}
	if (*at < cap)
		out[*at] = '\0';
}

/* v in decimal into buf (24 bytes); returns buf. */
static const char *fmt_i64(char buf[24], int64_t v)
{
	char tmp[24];
	size_t n = 0, o = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		buf[o++] = '-';
	while (n > 0)
		buf[o++] = tmp[--n];
	buf[o] = '\0';
	return buf;
}

static void stamp(char ts[UTIL_TIME_LEN])
{
	if (util_format_time(util_now_ms(), ts) != 0)
		ts[0] = '\0';
}

void log_msg(const char *fmt, ...)
{
	char ts[UTIL_TIME_LEN], msg[1024], line[LOG_LINE_MAX];
	size_t at = 0;
	va_list ap;

	stamp(ts);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (log_fmt == LOG_JSON) {
		put(line, sizeof line, &at, "{\"time\":\"");
		put(line, sizeof line, &at, ts);
		put(line, sizeof line, &at, "\",\"program\":\"");
		json_str(line, sizeof line, &at, log_name);
		put(line, sizeof line, &at, "\",\"msg\":\"");
		json_str(line, sizeof line, &at, msg);
		put(line, sizeof line, &at, "\"}\n");
		emit(line, at);
		return;
	}
	/* "TIME NAME: MESSAGE", the message escaped like every text field */
	put(line, sizeof line - 1, &at, ts);
	put(line, sizeof line - 1, &at, " ");
	put_esc(line, sizeof line - 1, &at, log_name);
	put(line, sizeof line - 1, &at, ": ");
	put_esc(line, sizeof line - 1, &at, msg);
	line[at++] = '\n';
	emit(line, at);
}

void log_request(const char *ip, const char *actor, const char *method, const char *route,
                 int status, int64_t duration_ms, const char *request_id, int aborted)
{
	char ts[UTIL_TIME_LEN], line[LOG_LINE_MAX], num[48];
	size_t at = 0, cap;

	stamp(ts);
	if (actor != NULL && actor[0] == '\0')
		actor = NULL;
	if (log_fmt == LOG_JSON) {
		put(line, sizeof line, &at, "{\"time\":\"");
		put(line, sizeof line, &at, ts);
		put(line, sizeof line, &at, "\",\"ip\":\"");
		json_str(line, sizeof line, &at, ip);
		put(line, sizeof line, &at, "\",\"actor\":");
		if (actor != NULL) {
			put(line, sizeof line, &at, "\"");
			json_str(line, sizeof line, &at, actor);
			put(line, sizeof line, &at, "\"");
		} else {
			put(line, sizeof line, &at, "null");
		}
		put(line, sizeof line, &at, ",\"method\":\"");
		json_str(line, sizeof line, &at, method);
		put(line, sizeof line, &at, "\",\"route\":\"");
		json_str(line, sizeof line, &at, route);
		put(line, sizeof line, &at, "\",\"status\":");
		put(line, sizeof line, &at, fmt_i64(num, status));
		put(line, sizeof line, &at, ",\"duration_ms\":");
		put(line, sizeof line, &at, fmt_i64(num, duration_ms));
		put(line, sizeof line, &at, ",\"request_id\":\"");
		json_str(line, sizeof line, &at, request_id);
		put(line, sizeof line, &at, aborted ? "\",\"aborted\":true}\n" : "\"}\n");
		emit(line, at);
		return;
	}
	/* "TIME NAME: METHOD ROUTE STATUS Nms ip=IP actor=ACTOR rid=ID", put
	 * together without printf (one line per request: it showed in the
	 * profile); every field escaped (put_esc), one byte kept for the
	 * newline */
	cap = sizeof line - 1;
	put(line, cap, &at, ts);
	put(line, cap, &at, " ");
	put_esc(line, cap, &at, log_name);
	put(line, cap, &at, ": ");
	put_esc(line, cap, &at, method);
	put(line, cap, &at, " ");
	put_esc(line, cap, &at, route);
	put(line, cap, &at, " ");
	put(line, cap, &at, fmt_i64(num, status));
	put(line, cap, &at, " ");
	put(line, cap, &at, fmt_i64(num, duration_ms));
	put(line, cap, &at, "ms ip=");
	put_esc(line, cap, &at, ip);
	put(line, cap, &at, " actor=");
	put_esc(line, cap, &at, actor ? actor : "-");
	put(line, cap, &at, " rid=");
	put_esc(line, cap, &at, request_id);
	if (aborted)
		put(line, cap, &at, " (aborted)");
	line[at++] = '\n';
	emit(line, at);
}

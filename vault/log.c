/* log.c - text or JSON lines on stderr or in a file (contract in log.h). */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

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
	int n;

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
	n = snprintf(line, sizeof line, "%s %s: %s\n", ts, log_name, msg);
	if (n > 0)
		emit(line, (size_t)n);
}

void log_request(const char *ip, const char *actor, const char *method, const char *route,
                 int status, int64_t duration_ms, const char *request_id, int aborted)
{
	char ts[UTIL_TIME_LEN], line[LOG_LINE_MAX], num[48];
	size_t at = 0;

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
	 * profile) */
	put(line, sizeof line, &at, ts);
	put(line, sizeof line, &at, " ");
	put(line, sizeof line, &at, log_name);
	put(line, sizeof line, &at, ": ");
	put(line, sizeof line, &at, method);
	put(line, sizeof line, &at, " ");
	put(line, sizeof line, &at, route);
	put(line, sizeof line, &at, " ");
	put(line, sizeof line, &at, fmt_i64(num, status));
	put(line, sizeof line, &at, " ");
	put(line, sizeof line, &at, fmt_i64(num, duration_ms));
	put(line, sizeof line, &at, "ms ip=");
	put(line, sizeof line, &at, ip);
	put(line, sizeof line, &at, " actor=");
	put(line, sizeof line, &at, actor ? actor : "-");
	put(line, sizeof line, &at, " rid=");
	put(line, sizeof line, &at, request_id);
	put(line, sizeof line, &at, aborted ? " (aborted)\n" : "\n");
	if (at > 0 && line[at - 1] != '\n') /* cut short: still one line */
		line[at - 1] = '\n';
	emit(line, at);
}

/* log.c - timestamped lines on stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

#include "util.h"

static const char *log_name = "rsvaultd";

void log_set_name(const char *name)
{
	log_name = name;
}

void log_msg(const char *fmt, ...)
{
	char ts[UTIL_TIME_LEN], line[1024];
	va_list ap;

	if (util_format_time(util_now_ms(), ts) != 0)
		ts[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* one fprintf call: stdio locks the stream, lines do not interleave */
	fprintf(stderr, "%s %s: %s\n", ts, log_name, line);
}

/* cli.c - helpers shared by the client's command handlers: option values,
 * usage errors, id checks, bounded formatting. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "output.h"
#include "util.h"

const char *cli_opt(const struct cli_ctx *c, const char *name)
{
	const struct cli_opt *o;

	if (c->cmd == NULL || c->cmd->opts == NULL)
		return NULL;
	for (o = c->cmd->opts; o->name != NULL && o - c->cmd->opts < CLI_MAX_OPTS; o++)
		if (strcmp(o->name, name) == 0)
			return c->optv[o - c->cmd->opts];
	return NULL;
}

/* The first error of the run, for --json. */
static struct {
	char code[32];
	char msg[1024];
	const char *next_code; /* cli_err_code, for the next message */
	int kept, printed;
} first_err;

void cli_err_code(const char *code)
{
	first_err.next_code = code;
}

void cli_err_printed(void)
{
	first_err.printed = 1;
}

void cli_err_keepv(const char *code, const char *fmt, va_list ap)
{
	if (!first_err.kept) {
		(void)cli_fmt(first_err.code, sizeof first_err.code, "%s", code);
		/* a message longer than the buffer is cut, never dropped */
		(void)vsnprintf(first_err.msg, sizeof first_err.msg, fmt, ap);
		first_err.kept = 1;
	}
	first_err.next_code = NULL;
}

void cli_err_json(void)
{
	json_t *o;
	char *clean, *text = NULL;

	if (!first_err.kept || first_err.printed)
		return;
	clean = cli_clean(first_err.msg, 0); /* printable UTF-8 whatever argv held */
	o = json_pack("{s:{s:s, s:s}}", "error", "code", first_err.code, "message",
	              clean != NULL ? clean : "out of memory");
	if (o != NULL)
		text = json_dumps(o, JSON_COMPACT);
	if (text != NULL) {
		(void)fflush(stdout);
		printf("%s\n", text);
		(void)fflush(stdout);
	} else {
		fputs("{\"error\":{\"code\":\"client\",\"message\":\"out of memory\"}}\n", stdout);
	}
	first_err.printed = 1;
	if (text != NULL) {
		json_free_t jfree = NULL;
		json_get_alloc_funcs(NULL, &jfree);
		jfree(text);
	}
	json_decref(o);
	free(clean);
}

void cli_notex(const char *fmt, ...)
{
	va_list ap;

	fputs("rsvault: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_warnx(const char *fmt, ...)
{
	va_list ap;

	fputs("rsvault: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	va_start(ap, fmt);
	cli_err_keepv(first_err.next_code ? first_err.next_code : "client", fmt, ap);
	va_end(ap);
}

void cli_print_synopsis(FILE *fp, const struct cli_cmd *cmd, const char *lead)
{
	const struct cli_opt *o;

	fprintf(fp, "%srsvault %s", lead, cmd->verb);
	if (cmd->sub != NULL)
		fprintf(fp, " %s", cmd->sub);
	if (cmd->args != NULL && cmd->args[0] != '\0')
		fprintf(fp, " %s", cmd->args);
	for (o = cmd->opts; o != NULL && o->name != NULL; o++) {
		const char *l = o->required == 1 ? "" : "[";
		const char *r = o->required == 1 ? "" : "]";

		if (o->arg != NULL)
			fprintf(fp, " %s%s %s%s%s", l, o->name, o->arg, r,
			        o->required == CLI_OPT_REPEAT ? "..." : "");
		else
			fprintf(fp, " %s%s%s", l, o->name, r);
	}
	fputc('\n', fp);
}

int cli_usage(const struct cli_ctx *c, const char *fmt, ...)
{
	va_list ap;

	fputs("rsvault: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	va_start(ap, fmt);
	cli_err_keepv("usage", fmt, ap);
	va_end(ap);
	if (c != NULL && c->cmd != NULL) {
		cli_print_synopsis(stderr, c->cmd, "usage: ");
		fprintf(stderr, "Try 'rsvault %s%s%s --help'.\n", c->cmd->verb,
		        c->cmd->sub ? " " : "", c->cmd->sub ? c->cmd->sub : "");
	} else {
		fputs("Try 'rsvault --help'.\n", stderr);
	}
	return CLI_ERR;
}

int cli_valid_server_id(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n < 1 || n > 64)
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

int cli_check_id(const struct cli_ctx *c, const char *what, const char *s)
{
	if (cli_valid_server_id(s))
		return 0;
	cli_usage(c, "%s is not a valid id (1 to 64 characters A-Z a-z 0-9 - _)", what);
	return -1;
}

int cli_check_account(const struct cli_ctx *c, const char *what, const char *s)
{
	if (s != NULL && util_valid_account_id(s))
		return 0;
	cli_usage(c, "%s is not a valid account id ([a-z0-9][a-z0-9._-]{0,63})", what);
	return -1;
}

int cli_opt_int(const struct cli_ctx *c, const char *name, int64_t min, int64_t max, int64_t *out)
{
	const char *v = cli_opt(c, name);

	if (v == NULL)
		return 0;
	if (util_parse_i64(v, min, max, out) != 0) {
		cli_usage(c, "%s wants a whole number from %lld to %lld", name, (long long)min,
		          (long long)max);
		return -1;
	}
	return 0;
}

int cli_parse_duration(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char num[24];
	size_t n = strlen(s);
	int64_t mul = 1, v;

	if (n == 0 || n >= sizeof num)
		return -1;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 's':
		mul = 1;
		break;
	case 'm':
		mul = 60;
		break;
	case 'h':
		mul = 3600;
		break;
	case 'd':
		mul = 86400;
		break;
	default:
		mul = 0;
	}
	if (mul != 0)
		num[--n] = '\0';
	else
		mul = 1;
	if (util_parse_i64(num, 1, max, &v) != 0 || v > max / mul || v * mul < min)
		return -1;
	*out = v * mul;
	return 0;
}

/* "7d", "4h", "30m" or "90s" for a number of seconds, the largest unit
 * that divides it. */
static void show_duration(int64_t s, char *out, size_t n)
{
	if (s % 86400 == 0)
		snprintf(out, n, "%lldd", (long long)(s / 86400));
	else if (s % 3600 == 0)
		snprintf(out, n, "%lldh", (long long)(s / 3600));
	else if (s % 60 == 0)
		snprintf(out, n, "%lldm", (long long)(s / 60));
	else
		snprintf(out, n, "%llds", (long long)s);
}

int cli_opt_duration(const struct cli_ctx *c, const char *name, int64_t min, int64_t max,
                     int64_t *out)
{
	const char *v = cli_opt(c, name);
	char lo[32], hi[32];

	if (v == NULL)
		return 0;
	if (cli_parse_duration(v, min, max, out) != 0) {
		show_duration(min, lo, sizeof lo);
		show_duration(max, hi, sizeof hi);
		cli_usage(c,
		          "%s wants a duration from %s to %s: seconds, or a number with s, m, h "
		          "or d (90s, 30m, 2h, 7d)",
		          name, lo, hi);
		return -1;
	}
	return 0;
}

int cli_one_of(const char *s, const char *const *words)
{
	for (; *words != NULL; words++)
		if (strcmp(s, *words) == 0)
			return 1;
	return 0;
}

int cli_fmt(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= n)
		return -1;
	return 0;
}

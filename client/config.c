/* config.c - vault address, CA file and token from flags, environment and
 * defaults. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "config.h"
#include "http.h"
#include "secret.h"

/* A token is 1..CLI_TOKEN_MAX characters of printable ASCII without space:
 * anything else could split the Authorization header. */
static int valid_token(const char *t, size_t n)
{
	if (n == 0 || n > CLI_TOKEN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return 0;
	return 1;
}

static const char *unsafe_owner(const struct stat *st);

int cli_read_token_file(const char *path, char token[CLI_TOKEN_MAX + 1])
{
	char buf[CLI_TOKEN_FILE_MAX + 1];
	const char *why;
	struct stat st;
	size_t n = 0, line;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		cli_warnx("cannot open token file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		cli_warnx("cannot use token file %s: %s", path, strerror(errno));
		goto done;
	}
	/* Whoever can write the file chooses whose identity this client acts
	 * under (as with the CA file): refused unless it is ours (or root's)
	 * and nobody else may write it. A terminal (--token-file /dev/tty) is
	 * the user typing, whatever its group's mode says. */
	if (!S_ISCHR(st.st_mode) && (why = unsafe_owner(&st)) != NULL) {
		cli_warnx("refusing the token file %s: it %s, so another user could put their "
		          "token in it and have you act under their identity (chown it to yourself "
		          "and chmod 600 it)",
		          path, why);
		goto done;
	}
	if (S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
		cli_notex("warning: token file %s is readable by other users (chmod 600 it)", path);
	while (n < sizeof buf) {
		ssize_t r = read(fd, buf + n, sizeof buf - n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			cli_warnx("cannot read token file %s: %s", path, strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CLI_TOKEN_FILE_MAX) {
		cli_warnx("token file %s is larger than %d bytes", path, CLI_TOKEN_FILE_MAX);
		goto done;
	}
	line = 0;
	while (line < n && buf[line] != '\n')
		line++;
	if (line > 0 && buf[line - 1] == '\r')
		line--;
	if (!valid_token(buf, line)) {
		cli_warnx("token file %s: the first line is not a token (1 to %d printable "
		          "characters, no spaces)",
		          path, CLI_TOKEN_MAX);
		goto done;
	}
	memcpy(token, buf, line);
	token[line] = '\0';
	rc = 0;
done:
	sodium_memzero(buf, sizeof buf);
	close(fd);
	return rc;
}

static int load_addr(const struct cli_ctx *c, struct cli_conf *conf)
{
	const char *addr = c->addr;
	char msg[256];

	if (addr == NULL)
		addr = getenv("RSVAULT_ADDR");
	if (addr == NULL || *addr == '\0')
		addr = CLI_DEFAULT_ADDR;
	if (cli_http_check_addr(addr, conf->addr, msg, sizeof msg) != 0) {
		cli_warnx("%s", msg);
		return -1;
	}
	return 0;
}

/* The per-user CA file: $XDG_CONFIG_HOME/rsvault/ca.pem when that
 * variable holds an absolute path (the XDG rule: a relative one is
 * ignored), else $HOME/.config/rsvault/ca.pem, HOME from the environment
 * or else the password database. Returns 0, or -1 if there is no absolute
 * home directory or the path does not fit. */
static int user_ca_path(char *out, size_t n)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	struct passwd *pw;

	if (xdg != NULL && xdg[0] == '/')
		return cli_fmt(out, n, "%s/%s", xdg, CLI_USER_CACERT);
	if (home == NULL || home[0] == '\0') {
		pw = getpwuid(getuid());
		home = pw != NULL ? pw->pw_dir : NULL;
	}
	if (home == NULL || home[0] != '/')
		return -1;
	return cli_fmt(out, n, "%s/.config/%s", home, CLI_USER_CACERT);
}

/* May the file or directory st decide whom we trust? Only if it belongs to
 * us (or root) and no one else can write it. Returns NULL, or the reason. */
static const char *unsafe_owner(const struct stat *st)
{
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return "is owned by another user";
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return "is writable by other users";
	return NULL;
}

/* Check the per-user CA file at path: a regular file, and it and its
 * directory safe by unsafe_owner. Returns 0, 1 if it does not exist, or -1
 * (message printed). */
static int check_user_ca(const char *path)
{
	char dir[CLI_CACERT_MAX];
	const char *why;
	struct stat st;
	char *slash;

	if (stat(path, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		cli_warnx("cannot use the CA certificate file %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		cli_warnx("refusing the CA certificate %s: not a regular file", path);
		return -1;
	}
	if ((why = unsafe_owner(&st)) != NULL) {
		cli_warnx("refusing the CA certificate %s: it %s, so it could name a CA that "
		          "is not the vault's (chown it to yourself and chmod 644 it)",
		          path, why);
		return -1;
	}
	memcpy(dir, path, strlen(path) + 1);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir)
		*slash = '\0';
	if (stat(dir, &st) != 0) {
		cli_warnx("cannot use the CA certificate file %s: %s", path, strerror(errno));
		return -1;
	}
	if ((why = unsafe_owner(&st)) != NULL) {
		cli_warnx("refusing the CA certificate %s: its directory %s %s, so another user "
		          "could replace it (chmod go-w it)",
		          path, dir, why);
		return -1;
	}
	return 0;
}

/* The CA file: --cacert, else RSVAULT_CACERT, else the per-user file.
 * Never a path relative to the current directory unless the user named
 * it, never the system store. */
static int load_cacert(const struct cli_ctx *c, struct cli_conf *conf)
{
	const char *ca = c->cacert;
	char user[CLI_CACERT_MAX];
	int rc;

	if (ca == NULL)
		ca = getenv("RSVAULT_CACERT");
	if (ca == NULL || *ca == '\0') {
		if (user_ca_path(user, sizeof user) != 0) {
			cli_warnx("no CA certificate to trust: pass --cacert FILE or set "
			          "RSVAULT_CACERT to the vault's ca.pem (no home directory to "
			          "look in); the system CA store is never used");
			return -1;
		}
		rc = check_user_ca(user);
		if (rc < 0)
			return -1;
		if (rc > 0) {
			cli_warnx("no CA certificate to trust: pass --cacert FILE, set "
			          "RSVAULT_CACERT, or copy the vault's ca.pem to %s; neither the "
			          "system CA store nor the current directory is ever used",
			          user);
			return -1;
		}
		ca = user;
	}
	if (access(ca, R_OK) != 0) {
		cli_warnx("cannot read the CA certificate file %s: %s", ca, strerror(errno));
		return -1;
	}
	if (cli_fmt(conf->cacert, sizeof conf->cacert, "%s", ca) != 0) {
		cli_warnx("the CA certificate path is too long");
		return -1;
	}
	return 0;
}

/* The staff client certificate: --cert/--key, else RSVAULT_CERT and
 * RSVAULT_KEY; both or neither, both readable. A key that group or others
 * may read is used, with a warning. */
static int load_client_cert(const struct cli_ctx *c, struct cli_conf *conf)
{
	const char *cert = c->cert ? c->cert : getenv("RSVAULT_CERT");
	const char *key = c->key ? c->key : getenv("RSVAULT_KEY");
	struct stat st;

	if (cert != NULL && cert[0] == '\0')
		cert = NULL;
	if (key != NULL && key[0] == '\0')
		key = NULL;
	if (cert == NULL && key == NULL)
		return 0;
	if (cert == NULL || key == NULL) {
		cli_warnx("a client certificate needs both --cert and --key (or RSVAULT_CERT and "
		          "RSVAULT_KEY)");
		return -1;
	}
	if (access(cert, R_OK) != 0 || access(key, R_OK) != 0) {
		cli_warnx("cannot read the client certificate %s or its key %s: %s", cert, key,
		          strerror(errno));
		return -1;
	}
	if (stat(key, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
		cli_notex("warning: the client key %s is readable by others (chmod 600 it)", key);
	if (cli_fmt(conf->cert, sizeof conf->cert, "%s", cert) != 0 ||
	    cli_fmt(conf->key, sizeof conf->key, "%s", key) != 0) {
		cli_warnx("the client certificate or key path is too long");
		return -1;
	}
	return 0;
}

int cli_token_path(char *out, size_t n, int *from_env)
{
	const char *env = getenv("RSVAULT_TOKEN_FILE");
	char ca[CLI_CACERT_MAX];
	size_t l;

	*from_env = env != NULL && env[0] != '\0';
	if (*from_env)
		return cli_fmt(out, n, "%s", env);
	/* beside the per-user CA file: .../rsvault/token */
	if (user_ca_path(ca, sizeof ca) != 0)
		return -1;
	l = strlen(ca) - strlen("ca.pem");
	ca[l] = '\0';
	return cli_fmt(out, n, "%stoken", ca);
}

static int load_token(const struct cli_ctx *c, struct cli_conf *conf)
{
	char path[CLI_CACERT_MAX];
	const char *env;
	int from_env;

	if (c->token_file != NULL) {
		if (cli_read_token_file(c->token_file, conf->token) != 0)
			return CLI_ERR;
		conf->have_token = 1;
		return CLI_OK;
	}
	env = getenv("RSVAULT_TOKEN");
	if ((env == NULL || *env == '\0') && cli_token_path(path, sizeof path, &from_env) == 0 &&
	    (from_env || access(path, F_OK) == 0)) {
		/* RSVAULT_TOKEN_FILE, or the file `rsvault login` wrote */
		if (cli_read_token_file(path, conf->token) != 0)
			return CLI_ERR;
		conf->have_token = 1;
		return CLI_OK;
	}
	if (env == NULL || *env == '\0') {
		cli_warnx("no API token: run `rsvault login`, set RSVAULT_TOKEN or "
		          "RSVAULT_TOKEN_FILE, or pass --token-file FILE");
		return CLI_UNAUTH;
	}
	if (!valid_token(env, strlen(env))) {
		cli_warnx("RSVAULT_TOKEN is not a token (1 to %d printable characters, no "
		          "spaces)",
		          CLI_TOKEN_MAX);
		return CLI_ERR;
	}
	memcpy(conf->token, env, strlen(env) + 1);
	conf->have_token = 1;
	return CLI_OK;
}

int cli_conf_load(const struct cli_ctx *c, struct cli_conf *conf)
{
	memset(conf, 0, sizeof *conf);
	if (load_addr(c, conf) != 0)
		return CLI_ERR;
	if (load_cacert(c, conf) != 0 || load_client_cert(c, conf) != 0)
		return CLI_ERR;
	return load_token(c, conf);
}

void cli_conf_wipe(struct cli_conf *conf)
{
	sodium_memzero(conf, sizeof *conf);
}

int cli_connect(struct cli_ctx *c)
{
	struct cli_http_conf hc;
	struct cli_conf conf;
	int rc;

	if (c->http != NULL)
		return CLI_OK;
	rc = cli_conf_load(c, &conf);
	if (rc != CLI_OK)
		goto done;
	if (!c->curl_up) {
		if (cli_http_global_init() != 0) {
			rc = CLI_ERR;
			goto done;
		}
		c->curl_up = 1;
	}
	hc.addr = conf.addr;
	hc.cacert = conf.cacert;
	hc.token = conf.have_token ? conf.token : NULL;
	hc.cert = conf.cert[0] ? conf.cert : NULL;
	hc.key = conf.key[0] ? conf.key : NULL;
	rc = cli_http_open(&hc, &c->http) == 0 ? CLI_OK : CLI_ERR;
done:
	cli_conf_wipe(&conf);
	return rc;
}

void cli_disconnect(struct cli_ctx *c)
{
	cli_http_close(c->http);
	c->http = NULL;
	if (c->curl_up)
		cli_http_global_cleanup();
	c->curl_up = 0;
}

/* mkdir -p for the directories above path's file name, mode 0700. */
static int make_parents(const char *path)
{
	char d[CLI_CACERT_MAX];
	size_t n = strlen(path);

	if (n >= sizeof d)
		return -1;
	memcpy(d, path, n + 1);
	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

int cli_cmd_login(struct cli_ctx *c)
{
	char path[CLI_CACERT_MAX], tmp[CLI_CACERT_MAX + 16];
	char *tok = NULL;
	size_t len = 0;
	int from_env, fd, rc = CLI_ERR;

	if (c->token_file != NULL)
		return cli_usage(c, "login writes the token file: name it with "
		                    "RSVAULT_TOKEN_FILE, not --token-file");
	if (cli_token_path(path, sizeof path, &from_env) != 0 ||
	    cli_fmt(tmp, sizeof tmp, "%s.new", path) != 0) {
		cli_warnx("no place for the token: set RSVAULT_TOKEN_FILE");
		return CLI_ERR;
	}
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "rsvault: paste your API token (it is not shown)\n");
	if (cli_secret_read(&tok, &len) != 0)
		return CLI_ERR;
	if (!valid_token(tok, len)) {
		cli_warnx("that is not a token (1 to %d printable characters, no spaces)",
		          CLI_TOKEN_MAX);
		goto done;
	}
	if (!from_env && make_parents(path) != 0) {
		cli_warnx("cannot create the directory of %s: %s", path, strerror(errno));
		goto done;
	}
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		cli_warnx("cannot create %s: %s", tmp, strerror(errno));
		goto done;
	}
	if (cli_write_all(fd, tok, len) != 0 || cli_write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
		cli_warnx("cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto done;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		cli_warnx("cannot replace %s: %s", path, strerror(errno));
		unlink(tmp);
		goto done;
	}
	fprintf(stderr, "rsvault: token stored in %s (mode 0600); later commands use it\n", path);
	rc = CLI_OK;
done:
	wipe_free(tok);
	return rc;
}

/* http.c - the HTTPS front end (libmicrohttpd in TLS mode, GnuTLS). */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "dispatch.h"
#include "keyfile.h"
#include "log.h"
#include "records.h"
#include "req.h"
#include "route.h"
#include "util.h"

/* TLS 1.3 and 1.2 only, ECDHE with AEAD ciphers. */
#define TLS_PRIORITIES                                                                             \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305:"            \
	"+AES-256-GCM:+AES-128-GCM:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"                \
	"%SERVER_PRECEDENCE"

/* A body over the limit is read and dropped up to this much, so the 413
 * reaches the client as a response; past it the connection is closed. */
#define DISCARD_MAX (32 * 1024 * 1024)
#define PEM_MAX (64 * 1024)

struct http {
	struct MHD_Daemon *d;
	struct vault *v;
	char *cert;
	char *key; /* sodium_malloc'd */
	size_t keylen;
	int listen_fd; /* bound by http_prepare, handed to libmicrohttpd by http_start */
	int ipv6;
	uint16_t port;
};

/* Per-connection request state; lives from the URI callback to the
 * completion callback. */
struct conn {
	struct req r;
	int64_t start;
	int headers_seen;
	int uri_too_long;
	int too_large;
	unsigned char *body;
	size_t body_len;
	size_t seen;
	char method[16];
	const char *log_path;
};

static void wipe_free(void *cls)
{
	char *buf = cls;

	sodium_memzero(buf, strlen(buf));
	free(buf);
}

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
	struct conn *c = calloc(1, sizeof *c);
	unsigned char rid[16];

	(void)con;
	if (c == NULL)
		return NULL;
	c->r.v = cls;
	c->start = util_mono_ms();
	randombytes_buf(rid, sizeof rid);
	sodium_bin2hex(c->r.request_id, sizeof c->r.request_id, rid, sizeof rid);
	if (strlen(uri) >= sizeof c->r.uri)
		c->uri_too_long = 1;
	else
		memcpy(c->r.uri, uri, strlen(uri) + 1);
	c->log_path = "-";
	return c;
}

static void client_ip(struct MHD_Connection *con, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, len, "unknown");
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		          (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		          out, (socklen_t)len);
}

static int queue_json(struct MHD_Connection *con, struct conn *c, const char *allow)
{
	struct req *r = &c->r;
	struct MHD_Response *resp;
	char *body = NULL;
	int ret;

	if (r->status >= 400) {
		json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", r->err_code, "message",
		                      r->err_msg);
		body = e ? json_text(e) : NULL;
		json_decref(e);
	} else if (r->resp != NULL) {
		body = json_text(r->resp);
	}
	json_decref(r->resp);
	r->resp = NULL;
	if (body == NULL && r->status != 204) {
		r->status = 500;
		body = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
	}
	if (body != NULL)
		resp = MHD_create_response_from_buffer_with_free_callback_cls(strlen(body), body,
		                                                              wipe_free, body);
	else
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		if (body)
			wipe_free(body);
		return MHD_NO;
	}
	if (body != NULL)
		MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (r->status == 405 && allow && *allow)
		MHD_add_response_header(resp, "Allow", allow);
	if (r->status == 401)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
	if (r->status == 429 && r->retry_after_s > 0) {
		char ra[24];
		snprintf(ra, sizeof ra, "%lld", (long long)r->retry_after_s);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	ret = MHD_queue_response(con, (unsigned int)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void read_headers(struct MHD_Connection *con, struct req *r)
{
	const char *v;
	size_t n;

	v = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (v != NULL) {
		n = strlen(v);
		r->auth_state = n < sizeof r->auth ? 1 : 2;
		if (r->auth_state == 1)
			memcpy(r->auth, v, n + 1);
	}
	v = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Session-Id");
	if (v != NULL) {
		r->session_state = util_valid_server_id(v) ? 1 : 2;
		if (r->session_state == 1)
			snprintf(r->session_hdr, sizeof r->session_hdr, "%s", v);
	}
}

/* application/json, optionally with "; charset=utf-8". */
static int json_media_type(const char *ct)
{
	size_t n = strlen("application/json");

	if (ct == NULL || strncasecmp(ct, "application/json", n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ')
		ct++;
	if (*ct == '\0')
		return 1;
	if (*ct++ != ';')
		return 0;
	while (*ct == ' ')
		ct++;
	return strcasecmp(ct, "charset=utf-8") == 0 || strcasecmp(ct, "charset=\"utf-8\"") == 0;
}

static void parse_body(struct conn *c)
{
	struct req *r = &c->r;
	json_error_t e;

	if (c->body_len == 0) {
		r->body_state = BODY_NONE;
		return;
	}
	r->body = json_loadb((const char *)c->body, c->body_len, JSON_REJECT_DUPLICATES, &e);
	sodium_memzero(c->body, c->body_len);
	if (r->body == NULL) {
		r->body_state = BODY_INVALID;
		snprintf(r->body_error, sizeof r->body_error,
		         "body is not valid JSON (UTF-8, no duplicate keys): line %d column %d",
		         e.line, e.column);
	} else if (!json_is_object(r->body)) {
		json_decref(r->body);
		r->body = NULL;
		r->body_state = BODY_INVALID;
		snprintf(r->body_error, sizeof r->body_error, "body must be a JSON object");
	} else {
		r->body_state = BODY_OK;
	}
}

static enum MHD_Result respond(struct MHD_Connection *con, struct conn *c)
{
	struct req *r = &c->r;
	char allow[64] = "", *q;
	const char *ct;

	client_ip(con, r->ip, sizeof r->ip);
	if (c->uri_too_long) {
		req_fail(r, 400, "bad_request", "request URI too long");
		goto send;
	}
	if ((q = strchr(r->uri, '?')) != NULL) {
		*q = '\0';
		r->query = q + 1;
	}
	if (strchr(r->uri, '%') != NULL) {
		req_fail(r, 400, "bad_request", "percent-encoding is not accepted in paths");
		goto send;
	}
	switch (route_match(r, c->method, r->uri, allow, sizeof allow)) {
	case ROUTE_NOT_FOUND:
		req_fail(r, 404, "not_found", "no such resource");
		goto send;
	case ROUTE_BAD_METHOD:
		req_fail(r, 405, "method_not_allowed", "method not allowed here");
		goto send;
	case ROUTE_FOUND:
		break;
	}
	c->log_path = r->route->pattern;
	if (c->too_large) {
		req_fail(r, 413, "payload_too_large", "request body exceeds %d bytes",
		         REQ_BODY_MAX);
		goto send;
	}
	ct = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (c->body_len > 0 && !json_media_type(ct)) {
		req_fail(r, 415, "unsupported_media_type", "request body must be application/json");
		goto send;
	}
	read_headers(con, r);
	parse_body(c);
	if (r->route->flags & R_PUBLIC)
		r->route->handler(r, NULL);
	else
		dispatch(r);
send:
	return queue_json(con, c, allow) == MHD_YES ? MHD_YES : MHD_NO;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *con, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *size, void **con_cls)
{
	struct conn *c = *con_cls;

	(void)cls;
	(void)url;
	(void)version;
	if (c == NULL)
		return MHD_NO;
	if (!c->headers_seen) {
		const char *cl;
		int64_t n;
		c->headers_seen = 1;
		snprintf(c->method, sizeof c->method, "%s", method);
		cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
		                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && (util_parse_i64(cl, 0, INT64_MAX, &n) != 0 || n > REQ_BODY_MAX))
			c->too_large = 1;
		return MHD_YES;
	}
	if (*size > 0) {
		c->seen += *size;
		if (!c->too_large && c->body_len + *size > REQ_BODY_MAX)
			c->too_large = 1;
		if (c->too_large) {
			if (c->body != NULL) {
				sodium_memzero(c->body, c->body_len);
				free(c->body);
				c->body = NULL;
				c->body_len = 0;
			}
			if (c->seen > DISCARD_MAX) {
				req_fail(&c->r, 413, "payload_too_large",
				         "request body exceeds %d bytes", REQ_BODY_MAX);
				return queue_json(con, c, NULL) == MHD_YES ? MHD_YES : MHD_NO;
			}
		} else {
			if (c->body == NULL && (c->body = malloc(REQ_BODY_MAX)) == NULL)
				return MHD_NO;
			memcpy(c->body + c->body_len, data, *size);
			c->body_len += *size;
		}
		*size = 0;
		return MHD_YES;
	}
	return respond(con, c);
}

static void completed_cb(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct conn *c = *con_cls;

	(void)cls;
	(void)con;
	if (c == NULL)
		return;
	if (c->headers_seen)
		log_msg("%s %s %d %lldms rid=%s%s", c->method, c->log_path, c->r.status,
		        (long long)(util_mono_ms() - c->start), c->r.request_id,
		        toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
	if (c->body != NULL) {
		sodium_memzero(c->body, REQ_BODY_MAX);
		free(c->body);
	}
	json_decref(c->r.body);
	json_decref(c->r.resp);
	json_decref(c->r.ticket);
	json_decref(c->r.session);
	sodium_memzero(c->r.auth, sizeof c->r.auth);
	free(c);
	*con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof buf, fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_msg("http: %s", buf);
}

/* Read a PEM file into a NUL-terminated buffer (sodium_malloc for keys).
 * A secret one (server.key) goes through keyfile_open_secret: private to
 * its owner, in a directory nobody else can write. */
static char *read_pem(const char *dir, const char *name, int secret, size_t *lenp)
{
	char path[4096], *buf;
	struct stat st;
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return NULL;
	if (secret) {
		if ((fd = keyfile_open_secret(path)) < 0) {
			log_msg("cannot use %s", keyfile_error());
			return NULL;
		}
	} else if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		log_msg("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > PEM_MAX) {
		log_msg("%s is not a usable PEM file", path);
		close(fd);
		return NULL;
	}
	buf = secret ? sodium_malloc((size_t)st.st_size + 1) : malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return NULL;
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		if (secret)
			sodium_free(buf);
		else
			free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*lenp = (size_t)n;
	return buf;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[64];
	const char *colon;
	int64_t port;

	memset(ss, 0, sizeof *ss);
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host)
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || (size_t)(colon - s) >= sizeof host)
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	if (util_parse_i64(colon + 1, 0, 65535, &port) != 0)
		return -1;
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*sl = sizeof *in4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*sl = sizeof *in6;
		return 0;
	}
	return -1;
}

/* Bind and listen on ss (non-blocking, close-on-exec, as libmicrohttpd
 * would), and note the port actually bound. */
static int listen_socket(struct http *h, const struct sockaddr_storage *ss, socklen_t sl)
{
	struct sockaddr_storage got;
	socklen_t gl = sizeof got;
	int fd, one = 1;

	if ((fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		log_msg("cannot create the listening socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
	    bind(fd, (const struct sockaddr *)ss, sl) != 0 || listen(fd, SOMAXCONN) != 0 ||
	    getsockname(fd, (struct sockaddr *)&got, &gl) != 0) {
		log_msg("cannot listen on %s: %s", h->v->listen, strerror(errno));
		close(fd);
		return -1;
	}
	h->port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
	                                          : ((struct sockaddr_in *)&got)->sin_port);
	h->listen_fd = fd;
	return 0;
}

int http_prepare(struct vault *v, struct http **out)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct http *h;
	size_t certlen;

	*out = NULL;
	if (parse_listen(v->listen, &ss, &sl) != 0) {
		log_msg("bad --listen address %s (want ADDR:PORT)", v->listen);
		return -1;
	}
	if ((h = calloc(1, sizeof *h)) == NULL)
		return -1;
	h->v = v;
	h->listen_fd = -1;
	h->ipv6 = ss.ss_family == AF_INET6;
	if ((h->cert = read_pem(v->keys_dir, "server.pem", 0, &certlen)) == NULL ||
	    (h->key = read_pem(v->keys_dir, "server.key", 1, &h->keylen)) == NULL) {
		log_msg("cannot load the TLS certificate and key from %s", v->keys_dir);
		http_stop(h);
		return -1;
	}
	if (listen_socket(h, &ss, sl) != 0) {
		http_stop(h);
		return -1;
	}
	*out = h;
	return 0;
}

int http_start(struct vault *v, struct http **out, uint16_t *port)
{
	struct http *h;
	unsigned int flags =
	    MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (*out == NULL && http_prepare(v, out) != 0)
		return -1;
	h = *out;
	if (h->ipv6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, access_cb, v, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->listen_fd, MHD_OPTION_HTTPS_MEM_KEY,
	    (const char *)h->key, MHD_OPTION_HTTPS_MEM_CERT, (const char *)h->cert,
	    MHD_OPTION_HTTPS_PRIORITIES, (const char *)TLS_PRIORITIES, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned int)v->threads, MHD_OPTION_URI_LOG_CALLBACK, uri_cb, (void *)v,
	    MHD_OPTION_NOTIFY_COMPLETED, completed_cb, (void *)v, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1024,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)256,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
	h->listen_fd = -1; /* libmicrohttpd's now: MHD_stop_daemon closes it */
	if (h->d == NULL) {
		log_msg("cannot start the HTTPS listener on %s", v->listen);
		http_stop(h);
		*out = NULL;
		return -1;
	}
	*port = h->port;
	return 0;
}

void http_stop(struct http *h)
{
	if (h == NULL)
		return;
	if (h->d != NULL)
		MHD_stop_daemon(h->d);
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	free(h->cert);
	if (h->key != NULL)
		sodium_free(h->key); /* wipes */
	free(h);
}

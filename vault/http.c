/* http.c - the HTTPS front end (libmicrohttpd in TLS mode, GnuTLS). */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <poll.h>
#include <sodium.h>

#include "arena.h"
#include "authz.h"
#include "be.h"
#include "conns.h"
#include "dispatch.h"
#include "keyfile.h"
#include "log.h"
#include "metrics.h"
#include "mtls.h"
#include "pages.h"
#include "proxy.h"
#include "records.h"
#include "req.h"
#include "route.h"
#include "util.h"
#include "wipe.h"

/* TLS 1.3 and 1.2 only, ECDHE with AEAD ciphers. */
#define TLS_PRIORITIES                                                                             \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305:"            \
	"+AES-256-GCM:+AES-128-GCM:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"                \
	"%SERVER_PRECEDENCE"

/* A declared Content-Length over API_BODY_MAX is answered 413 at once,
 * before any of the body is read. A chunked body has no declared length:
 * past API_BODY_MAX it is read and dropped up to this much, and answered
 * 413 at its end (libmicrohttpd cannot queue a response while a body is
 * arriving); a chunked stream longer than this is cut off. */
#define DISCARD_MAX (64 * 1024 * 1024)
#define PEM_MAX (64 * 1024)

/* Connection limits and deadlines (see conns.h and docs/architecture.md). */
#define PER_ADDR_DEFAULT 32     /* connections at once per address group */
#define CONN_TOTAL_CAP 2048     /* connections at once, whatever the fd limit */
#define HEAD_DEADLINE_MS 10000  /* handshake + request head */
#define BODY_DEADLINE_MS 30000  /* body after the head; sending the response */
#define IDLE_TIMEOUT_S 30       /* no progress at all */
#define FD_RESERVE_BASE 128     /* fds kept for LMDB, logs, keys, listener, ... */
#define FD_RESERVE_PER_THREAD 4 /* epoll fd and wake-up fds of each worker */

/* libmicrohttpd's memory pool per connection: it holds the request head
 * (read buffer and parsed headers) and then the response head, never a body
 * (bodies pass through our callbacks; responses are our buffers). The pool
 * is zeroed in full after every request, so all of it stays resident for
 * as long as the connection is open: 1,000 idle connections took 80 MiB at
 * 64 KiB, 35 MiB at 12 KiB. 8 KiB holds a head of about 7.8 KiB, or the
 * longest URI we take (4 KiB, REQ_URI_MAX) with 2 KiB of other headers and
 * a page's answer head (about 500 bytes of security headers); test_limits.py
 * checks that with a browser's headers. A larger head is refused by
 * libmicrohttpd (414/431). */
#define CONN_MEMORY_LIMIT (8 * 1024)

/* libmicrohttpd's own error lines: at most this many per window. */
#define MHD_LOG_BURST 50
#define MHD_LOG_WINDOW_MS 10000

/* One listening address: its own libmicrohttpd daemon (and thread pool)
 * on a socket bound by http_prepare. */
struct listener {
	struct MHD_Daemon *d;
	int fd; /* until http_start hands it to the daemon */
	int ipv6;
	uint16_t port;
	char shown[80]; /* "127.0.0.1" or "[::1]" */
};

#define TLS_CHAIN_MAX 16           /* certificates in --tls-cert's chain */
#define TLS_RETIRED_KEEP_MS 120000 /* a replaced key outlives every handshake begun with it */

/* The certificate chain and key handshakes use (tls_pick). A reload makes
 * a new one and retires the old, which is freed once no handshake can
 * still be using it (handshakes end within HEAD_DEADLINE_MS) or at stop. */
struct tls_cred {
	gnutls_pcert_st pcert[TLS_CHAIN_MAX];
	unsigned npcert;
	gnutls_privkey_t key;
	time_t not_after;
	int64_t retired_at;
	struct tls_cred *next;
};

struct http {
	struct listener ls[VAULT_LISTEN_MAX * 4];
	unsigned nls;
	struct vault *v;
	struct conns *conns;
	/* parked requests (suspended connections) and shutdown */
	pthread_mutex_t park_mu;
	pthread_cond_t park_cv;
	unsigned parked;
	int stopping;
	int refusing; /* shutting down: new connections are closed at accept
	               * (read and written with __atomic: libmicrohttpd's
	               * threads read it in accept_cb) */
	int ready;    /* http_ready: requests beyond health and pages are served */
};

/* The certificate in use, for tls_pick (gnutls gives the callback no
 * argument of ours: one server per process). */
static pthread_mutex_t tls_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tls_cred *tls_cur;
static struct tls_cred *tls_retired;
/* the connection counters, for the metrics' callbacks */
static struct conns *metrics_conns;

/* Per-connection request state; lives from the URI callback to the
 * completion callback, in the request's arena (r.arena), whose reference
 * it holds until then. */
struct conn {
	struct req r;
	int64_t start;
	int64_t start_us; /* for the metrics */
	int headers_seen;
	int uri_too_long;
	int bad_method; /* not an RFC 9110 token: answered 400, logged as "-" */
	int too_large;
	unsigned char *body; /* grown as the body arrives, at most API_BODY_MAX */
	size_t body_len;
	size_t body_cap;
	size_t declared; /* Content-Length, when given (at most API_BODY_MAX) */
	size_t seen;
	char method[16];
	const char *log_path;
	/* A request waiting for the writer: its connection is suspended from
	 * dispatch_start until the store's verdict (dw) resumes it. */
	struct http *h;
	struct MHD_Connection *con;
	struct dispatch_wait dw;
	int parked; /* 1 from the suspension until dispatch_finish/drop */
	/* Our answer went to MHD_queue_response. Once the daemon is stopping,
	 * that call returns MHD_YES without queueing anything, and the access
	 * handler may be called again for the same request: it must not run
	 * the request a second time (its URI and job are gone by then). */
	int answered;
};

#ifdef RSVAULT_TESTING
/* Test builds: a pause before a resumed request's answer is queued
 * (RSVAULT_TEST_RESUME_DELAY_MS), so that a stop can overtake it. */
static int64_t resume_delay_ms;
#endif

static void free_body(void *cls)
{
	char *buf = cls;

	wipe_release(buf, strlen(buf));
}

/* A request id's 16 random bytes: ChaCha20 keystream under a key per
 * thread (from randombytes_buf once), one nonce per id. randombytes_buf
 * itself makes a getrandom system call each time. */
static void request_id_bytes(unsigned char rid[16])
{
	static _Thread_local unsigned char key[crypto_stream_chacha20_KEYBYTES];
	static _Thread_local uint64_t n;
	static _Thread_local int keyed;
	unsigned char nonce[crypto_stream_chacha20_NONCEBYTES];

	if (!keyed) {
		randombytes_buf(key, sizeof key);
		keyed = 1;
	}
	util_be64_put(nonce, n++);
	crypto_stream_chacha20(rid, 16, nonce, key);
}

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
	struct http *h = cls;
	struct arena *a = arena_new(0);
	struct conn *c = arena_calloc(a, 1, sizeof *c);
	unsigned char rid[16];
	size_t ul = strlen(uri);

	(void)con;
	if (c == NULL) {
		arena_unref(a);
		return NULL;
	}
	c->r.arena = a;
	c->r.v = h->v;
	c->h = h;
	c->start = util_mono_ms();
	c->start_us = metrics_now_us();
	request_id_bytes(rid);
	sodium_bin2hex(c->r.request_id, sizeof c->r.request_id, rid, sizeof rid);
	if (ul >= REQ_URI_MAX) {
		c->uri_too_long = 1;
	} else if ((c->r.uri = arena_alloc(a, ul + 1)) == NULL) {
		arena_unref(a);
		return NULL;
	} else {
		memcpy(c->r.uri, uri, ul + 1);
	}
	c->log_path = "-";
	return c;
}

/* Whether m is an RFC 9110 method: a token, 1*tchar, where tchar is
 * ALPHA / DIGIT / one of !#$%&'*+-.^_`|~. libmicrohttpd 0.9.75 passes on
 * any bytes but space, CR and LF (escape sequences, other controls, 8-bit
 * bytes): such a method is refused before it is kept or logged. */
static int method_ok(const char *m)
{
	const unsigned char *p = (const unsigned char *)m;

	if (*p == '\0')
		return 0;
	for (; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || strchr("!#$%&'*+-.^_`|~", *p) != NULL))
			return 0;
	return 1;
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

/* The last XFF_LINES X-Forwarded-For header lines, in order. A proxy
 * appends its own (entry or line) after whatever the client sent, so the
 * lines that matter are the last ones: earlier lines beyond these are the
 * client's and are dropped, never the reason to ignore the header (which
 * would record the proxy's address and let a client choose it). */
#define XFF_LINES 16

struct xff {
	const char *v[XFF_LINES];
	size_t n;
};

static enum MHD_Result xff_each(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
	struct xff *x = cls;

	(void)kind;
	if (key != NULL && strcasecmp(key, "X-Forwarded-For") == 0) {
		if (x->n == XFF_LINES) {
			memmove(x->v, x->v + 1, (XFF_LINES - 1) * sizeof x->v[0]);
			x->n--;
		}
		x->v[x->n++] = value;
	}
	return MHD_YES;
}

/* r->ip: the peer, or behind a trusted proxy the client it names
 * (proxy.h). Set once, when the request head is complete. */
static void set_client_ip(struct http *h, struct MHD_Connection *con, struct req *r)
{
	char peer[64], out[PROXY_ADDR_LEN];
	struct xff x = {.n = 0};

	client_ip(con, peer, sizeof peer);
	snprintf(r->ip, sizeof r->ip, "%s", peer);
	if (h->v->nproxies == 0 || !proxy_trusted(h->v->proxies, h->v->nproxies, peer))
		return;
	MHD_get_connection_values(con, MHD_HEADER_KIND, xff_each, &x);
	if (x.n == 0)
		return;
	proxy_client(h->v->proxies, h->v->nproxies, peer, x.v, x.n, out);
	snprintf(r->ip, sizeof r->ip, "%s", out);
}

static int queue_json(struct MHD_Connection *con, struct conn *c, const char *allow)
{
	struct req *r = &c->r;
	struct MHD_Response *resp;
	char *body = NULL;
	struct arena *in = NULL; /* body is in this arena (a reference held for it) */
	int ret;

	if (r->status == 200 && r->route != NULL && (r->route->flags & R_METRICS)) {
		char *text = metrics_render();
		json_decref(r->resp);
		r->resp = NULL;
		if (text == NULL) {
			r->status = 500;
			text = strdup("out of memory\n");
			if (text == NULL)
				return MHD_NO;
		}
		resp = MHD_create_response_from_buffer_with_free_callback_cls(strlen(text), text,
		                                                              free, text);
		if (resp == NULL) {
			free(text);
			return MHD_NO;
		}
		MHD_add_response_header(resp, "Content-Type",
		                        "text/plain; version=0.0.4; charset=utf-8");
		MHD_add_response_header(resp, "X-Request-Id", r->request_id);
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
		ret = MHD_queue_response(con, (unsigned int)r->status, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (r->status >= 400 && r->err_code != NULL) {
		/* (a 503 health answer of a sealed server has a body of its own) */
		json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", r->err_code, "message",
		                      r->err_msg);
		body = e ? jx_text(e) : NULL;
		json_decref(e);
	} else if (r->resp_text != NULL) {
		/* sent from the arena: the answer holds a reference until
		 * libmicrohttpd destroys it; the arena wipes it then */
		body = r->resp_text;
		r->resp_text = NULL;
		in = r->arena;
		arena_ref(in);
	} else if (r->resp != NULL) {
		body = jx_text(r->resp);
	}
	json_decref(r->resp);
	r->resp = NULL;
	if (body == NULL && r->status != 204) {
		r->status = 500;
		body = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
	}
	if (in != NULL)
		resp = MHD_create_response_from_buffer_with_free_callback_cls(strlen(body), body,
		                                                              arena_unref_cb, in);
	else if (body != NULL)
		resp = MHD_create_response_from_buffer_with_free_callback_cls(strlen(body), body,
		                                                              free_body, body);
	else
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		if (in != NULL)
			arena_unref(in);
		else if (body)
			free_body(body);
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

/* The client certificate (mtls.c), verified here on the connection's
 * thread. A request whose TLS peer is a trusted proxy never satisfies
 * mTLS (SPEC 8.4): the certificate on that connection is the proxy's, if
 * any, and says nothing about the staff member behind it. */
static void client_cert(struct http *h, struct MHD_Connection *con, struct req *r)
{
	const union MHD_ConnectionInfo *ci;
	char peer[64];

	if (!mtls_enabled())
		return;
	client_ip(con, peer, sizeof peer);
	if (h->v->nproxies > 0 && proxy_trusted(h->v->proxies, h->v->nproxies, peer)) {
		r->cert_state = MTLS_PROXIED;
		return;
	}
	ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	mtls_check(ci != NULL ? ci->tls_session : NULL, r);
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
		/* jansson's own text quotes the body near the error (a secret,
		 * maybe): never used, and not left on the stack */
		sodium_memzero(&e, sizeof e);
	} else if (!json_is_object(r->body)) {
		json_decref(r->body);
		r->body = NULL;
		r->body_state = BODY_INVALID;
		snprintf(r->body_error, sizeof r->body_error, "body must be a JSON object");
	} else {
		r->body_state = BODY_OK;
	}
}

/* The store's verdict on a parked request (from the writer or the
 * store's deadline watcher): resume the connection; its thread calls the
 * access handler again, which answers. A suspended connection is never
 * closed by libmicrohttpd (0.9.75 neither times it out nor polls its
 * socket), so c and con are still there; after this call nothing but the
 * connection's own thread touches them. */
static void wake(void *ctx)
{
	struct conn *c = ctx;

	MHD_resume_connection(c->con);
}

static void unpark(struct http *h, struct conn *c)
{
	c->parked = 0;
	pthread_mutex_lock(&h->park_mu);
	if (--h->parked == 0)
		pthread_cond_broadcast(&h->park_cv);
	pthread_mutex_unlock(&h->park_mu);
}

/* Queue r for the writer and park the connection. Returns 1 when parked,
 * 0 when r is answered at once (a rate limit, shutting down). The
 * connection is suspended before the operation is queued, so that the
 * verdict can never resume a connection not yet suspended. */
static int park(struct http *h, struct MHD_Connection *con, struct conn *c)
{
	struct req *r = &c->r;
	int stopping;

	pthread_mutex_lock(&h->park_mu);
	stopping = h->stopping ? 1 : !h->ready ? 2 : 0;
	if (!stopping)
		h->parked++;
	pthread_mutex_unlock(&h->park_mu);
	if (stopping) {
		req_fail(r, 503, "unavailable",
		         stopping == 1 ? "the vault is shutting down; nothing changed"
		                       : "the vault is starting; retry in a moment");
		return 0;
	}
	c->parked = 1;
	if (authz_gate(r) != 0) { /* refused by a rate limit: nothing written */
		unpark(h, c);
		return 0;
	}
	c->con = con;
	c->dw.wake = wake;
	c->dw.wake_ctx = c;
	MHD_suspend_connection(con);
	if (dispatch_start(r, &c->dw) != 0) {
		/* not queued, answered already (r holds a 503): wake up at once */
		c->dw.job = NULL;
		MHD_resume_connection(con);
	}
	return 1;
}

static enum MHD_Result respond(struct MHD_Connection *con, struct conn *c)
{
	struct req *r = &c->r;
	char allow[64] = "", *q;
	const char *ct;

	if (c->bad_method) {
		req_fail(r, 400, "bad_request", "the request method is not a valid token");
		goto send;
	}
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
	if (crypto_sealed()) {
		/* SPEC 8.4: sealed, only health answers, and with 503. */
		if (strcmp(r->uri, "/v1/health") == 0 && strcmp(c->method, "GET") == 0)
			req_ok(r, 503, json_pack("{s:s, s:b}", "status", "sealed", "sealed", 1));
		else
			req_fail(r, 503, "unavailable", "the vault is sealed");
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
		         API_BODY_MAX);
		goto send;
	}
	ct = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (c->body_len > 0 && !json_media_type(ct)) {
		req_fail(r, 415, "unsupported_media_type", "request body must be application/json");
		goto send;
	}
	read_headers(con, r);
	client_cert(c->h, con, r);
	parse_body(c);
	if (r->route->flags & R_PUBLIC) {
		r->route->handler(r, NULL);
		goto send;
	}
	if (park(c->h, con, c))
		return MHD_YES; /* resumed by the store's verdict, answered then */
send:
	return queue_json(con, c, allow) == MHD_YES ? MHD_YES : MHD_NO;
}

static struct conn_slot *slot_of(struct MHD_Connection *con)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* libmicrohttpd cannot queue a response while a body is arriving. For a
 * chunked body past DISCARD_MAX the 413 is written here, on the
 * connection's TLS session, from the connection's own thread (nothing else
 * uses the session meanwhile), just before the connection is closed. */
static void send_413_now(struct MHD_Connection *con, struct conn *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(con, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	const union MHD_ConnectionInfo *fi =
	    MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
	char body[160], msg[640];
	size_t off = 0;
	int bl, ml;

	c->r.status = 413;
	if (ci == NULL || ci->tls_session == NULL || fi == NULL)
		return;
	bl = snprintf(body, sizeof body,
	              "{\"error\":{\"code\":\"payload_too_large\",\"message\":"
	              "\"request body exceeds %d bytes\"}}",
	              API_BODY_MAX);
	ml = snprintf(msg, sizeof msg,
	              "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n"
	              "Content-Type: application/json\r\nX-Request-Id: %s\r\n"
	              "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
	              "Content-Length: %d\r\n\r\n%s",
	              c->r.request_id, bl, body);
	if (bl <= 0 || ml <= 0 || (size_t)ml >= sizeof msg)
		return;
	for (int tries = 0; off < (size_t)ml && tries < 50; tries++) {
		ssize_t n = gnutls_record_send((gnutls_session_t)ci->tls_session, msg + off,
		                               (size_t)ml - off);
		if (n > 0) {
			off += (size_t)n;
		} else if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			struct pollfd p = {.fd = fi->connect_fd, .events = POLLOUT};
			poll(&p, 1, 10);
			/* GnuTLS wants the same call repeated */
		} else {
			break;
		}
	}
}

/* Answer (or park the request) and start the response's send deadline. */
static enum MHD_Result answer(struct http *h, struct MHD_Connection *con, struct conn *c)
{
	struct conn_slot *s = slot_of(con);
	enum MHD_Result ret;

	if (c->parked) {
		/* resumed: the verdict is in c->dw */
		if (c->dw.job != NULL)
			dispatch_finish(&c->r, &c->dw);
#ifdef RSVAULT_TESTING
		if (resume_delay_ms > 0) {
			struct timespec ts = {(time_t)(resume_delay_ms / 1000),
			                      (long)(resume_delay_ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
#endif
		ret = queue_json(con, c, NULL) == MHD_YES ? MHD_YES : MHD_NO;
		c->answered = 1;
		/* only now: http_stop waits for the parked count to reach 0
		 * and then stops the daemons, which would swallow an answer
		 * not yet queued */
		unpark(h, c);
	} else {
		conns_busy(h->conns, s);
		ret = respond(con, c);
		if (c->parked)
			return ret; /* no deadline while the writer has it */
		c->answered = 1;
	}
	conns_sending(h->conns, s);
	return ret;
}

/* A page or asset built into the binary (pages.h): answered at once, with
 * no authentication, no audit and no store access, like /v1/health. */
static enum MHD_Result answer_page(struct http *h, struct MHD_Connection *con, struct conn *c,
                                   const struct page_file *f)
{
	struct conn_slot *s = slot_of(con);
	enum MHD_Result ret;

	c->headers_seen = 1;
	set_client_ip(h, con, &c->r);
	c->log_path = f->path;
	c->r.status = 200;
	conns_busy(h->conns, s);
	ret = pages_queue(con, f, c->r.request_id);
	c->answered = 1;
	conns_sending(h->conns, s);
	return ret;
}

/* Make room for need bytes of body (need <= API_BODY_MAX): the declared
 * length at once, else doubling. Not API_BODY_MAX for every request: a
 * 64 KiB buffer allocated and wiped per upload was 5 % of the server's
 * time under uploads. The old buffer is wiped before it is freed. */
static int body_grow(struct conn *c, size_t need)
{
	size_t cap = c->body_cap ? c->body_cap * 2 : 1024;
	unsigned char *nb;

	if (c->declared > cap)
		cap = c->declared;
	if (cap < need)
		cap = need;
	if (cap > API_BODY_MAX)
		cap = API_BODY_MAX;
	if ((nb = malloc(cap)) == NULL)
		return -1;
	if (c->body != NULL) {
		memcpy(nb, c->body, c->body_len);
		wipe_release(c->body, c->body_cap);
	}
	c->body = nb;
	c->body_cap = cap;
	return 0;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *con, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *size, void **con_cls)
{
	struct http *h = cls;
	struct conn *c = *con_cls;
	const struct page_file *page;

	(void)url;
	(void)version;
	if (c == NULL)
		return MHD_NO;
	if (c->answered && *size == 0)
		return MHD_NO; /* answered already (a stop may have swallowed it): close */
	if (c->parked)
		return answer(h, con, c);
	if (!c->headers_seen && !method_ok(method)) {
		c->bad_method = 1;
		method = "-"; /* never kept or logged as sent */
	}
	if (!c->headers_seen && !c->bad_method && !crypto_sealed() &&
	    (page = pages_find(method, c->r.uri)) != NULL) {
		snprintf(c->method, sizeof c->method, "%s", method);
		return answer_page(h, con, c, page);
	}
	if (!c->headers_seen) {
		const char *cl, *te;
		int64_t n = 0;
		c->headers_seen = 1;
		set_client_ip(h, con, &c->r);
		snprintf(c->method, sizeof c->method, "%s", method);
		cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
		                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
		te = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
		                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
		if (cl != NULL && (util_parse_i64(cl, 0, INT64_MAX, &n) != 0 || n > API_BODY_MAX)) {
			/* Answer before reading any of the body: libmicrohttpd
			 * then sends no "100 Continue" and sends this response
			 * with "Connection: close"; the close lingers so that a
			 * client still sending reads the 413, not a reset. */
			c->too_large = 1;
			conns_linger(h->conns, slot_of(con));
			return answer(h, con, c);
		}
		c->declared = (size_t)n;
		conns_head_done(h->conns, slot_of(con), n > 0 || te != NULL);
		return MHD_YES;
	}
	if (*size > 0) {
		c->seen += *size;
		if (!c->too_large && c->body_len + *size > API_BODY_MAX)
			c->too_large = 1;
		if (c->too_large) {
			if (c->body != NULL) {
				wipe_release(c->body, c->body_cap);
				c->body = NULL;
				c->body_len = 0;
				c->body_cap = 0;
			}
			/* an endless chunked body: answer and cut it off */
			if (c->seen > DISCARD_MAX) {
				send_413_now(con, c);
				conns_linger(h->conns, slot_of(con));
				return MHD_NO;
			}
		} else {
			if (c->body_len + *size > c->body_cap &&
			    body_grow(c, c->body_len + *size) != 0)
				return MHD_NO;
			memcpy(c->body + c->body_len, data, *size);
			c->body_len += *size;
		}
		*size = 0;
		return MHD_YES;
	}
	return answer(h, con, c);
}

static void completed_cb(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;
	struct conn *c = *con_cls;

	conns_idle(h->conns, slot_of(con));
	if (c == NULL)
		return;
	if (c->parked) {
		/* resumed, but closed before the handler ran again */
		dispatch_drop(&c->dw);
		unpark(h, c);
	}
	req_post_clear(&c->r);
	if (c->headers_seen) {
		int64_t us = metrics_now_us() - c->start_us;
		const char *route = strcmp(c->log_path, "-") == 0 ? "unmatched" : c->log_path;
		log_request(c->r.ip[0] ? c->r.ip : "-", c->r.who.id, c->method, c->log_path,
		            c->r.status, us / 1000, c->r.request_id,
		            toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
		metrics_request(c->method, route, c->r.status, us);
	}
	if (c->body != NULL) {
		wipe_release(c->body, c->body_cap);
	}
	json_decref(c->r.body);
	json_decref(c->r.resp);
	req_text_clear(&c->r);
	jx_release(c->r.ticket);
	jx_release(c->r.session);
	req_uri_clear(&c->r);
	sodium_memzero(c->r.auth, sizeof c->r.auth);
	sodium_memzero(c->r.tok_hash, sizeof c->r.tok_hash);
	*con_cls = NULL;
	/* c is in the arena: the connection's reference goes last here; the
	 * queued operation or the answer may still hold theirs */
	arena_unref(c->r.arena);
}

static socklen_t sa_len(const struct sockaddr *sa)
{
	if (sa == NULL)
		return 0;
	return sa->sa_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
	                                 : (socklen_t)sizeof(struct sockaddr_in);
}

/* Accept policy: refuse at once a connection over a limit. */
static enum MHD_Result accept_cb(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct http *h = cls;

	if (!__atomic_load_n(&h->ready, __ATOMIC_ACQUIRE)) {
		/* Starting: nothing is read from a connection (no TLS
		 * handshake, no request) before the sandbox is complete
		 * (http_ready comes after the seccomp filter). The connection
		 * waits, accepted, until then or until a failed start stops. */
		pthread_mutex_lock(&h->park_mu);
		while (!h->ready && !__atomic_load_n(&h->refusing, __ATOMIC_ACQUIRE))
			pthread_cond_wait(&h->park_cv, &h->park_mu);
		pthread_mutex_unlock(&h->park_mu);
	}
	if (__atomic_load_n(&h->refusing, __ATOMIC_ACQUIRE))
		return MHD_NO; /* shutting down (http_stop) */
	return conns_admit(h->conns, addr, addrlen) ? MHD_YES : MHD_NO;
}

/* STARTED comes right after the accept, before the TLS handshake; CLOSED
 * before libmicrohttpd closes the socket. */
static void notify_cb(void *cls, struct MHD_Connection *con, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe)
{
	struct http *h = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd =
		    MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ad =
		    MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		const struct sockaddr *sa = ad ? ad->client_addr : NULL;
		*socket_context = fd ? conns_open(h->conns, fd->connect_fd, sa, sa_len(sa)) : NULL;
	} else {
		conns_close(h->conns, *socket_context);
		*socket_context = NULL;
	}
}

/* libmicrohttpd logs per connection (failed handshakes and the like):
 * rate limited, so that a flood of bad connections cannot flood the log. */
static pthread_mutex_t mhd_log_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t mhd_log_window;
static unsigned mhd_log_count, mhd_log_dropped;

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	unsigned dropped = 0;
	int64_t now = util_mono_ms();
	int show;

	(void)cls;
	pthread_mutex_lock(&mhd_log_mu);
	if (now - mhd_log_window >= MHD_LOG_WINDOW_MS) {
		dropped = mhd_log_dropped;
		mhd_log_window = now;
		mhd_log_count = 0;
		mhd_log_dropped = 0;
	}
	show = mhd_log_count < MHD_LOG_BURST;
	if (show)
		mhd_log_count++;
	else
		mhd_log_dropped++;
	pthread_mutex_unlock(&mhd_log_mu);
	if (dropped > 0)
		log_msg("http: %u more libmicrohttpd messages were not logged", dropped);
	if (!show)
		return;
	vsnprintf(buf, sizeof buf, fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_msg("http: %s", buf);
}

/* Read a PEM file into a NUL-terminated buffer (sodium_malloc for keys).
 * A secret one (server.key) goes through keyfile_open_secret: private to
 * its owner, in a directory nobody else can write. */
static char *read_pem(const char *dir, const char *name, int secret, long also, size_t *lenp)
{
	char path[4096], *buf;
	struct stat st;
	ssize_t n;
	int fd;

	/* dir NULL: name is the whole path (--tls-cert, --tls-key) */
	if (snprintf(path, sizeof path, "%s%s%s", dir ? dir : "", dir ? "/" : "", name) >=
	    (int)sizeof path)
		return NULL;
	if (secret) {
		if ((fd = keyfile_open_secret_also(path, also < 0 ? (uid_t)-1 : (uid_t)also)) < 0) {
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

/* The total connection limit: what the open-file limit leaves after the
 * fds the rest of the server needs, at most CONN_TOTAL_CAP. The soft limit
 * is raised towards the hard one if it is lower than that. */
static unsigned total_limit(unsigned threads)
{
	rlim_t reserve =
	    FD_RESERVE_BASE + CONNS_LINGER_MAX + (rlim_t)FD_RESERVE_PER_THREAD * threads;
	rlim_t want = CONN_TOTAL_CAP + reserve;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 64;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want && rl.rlim_max > rl.rlim_cur) {
		struct rlimit up = rl;
		up.rlim_cur =
		    rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return CONN_TOTAL_CAP;
	if (rl.rlim_cur < reserve + 16)
		return 16;
	return (unsigned)(rl.rlim_cur - reserve);
}

static void limits(const struct vault *v, struct conns_config *cc)
{
	cc->max_total = total_limit(v->threads);
	cc->max_per_addr = v->max_per_addr ? v->max_per_addr : PER_ADDR_DEFAULT;
	cc->head_ms = HEAD_DEADLINE_MS;
	cc->body_ms = BODY_DEADLINE_MS;
#ifdef RSVAULT_TESTING
	{
		const char *s;
		int64_t n;
		if ((s = getenv("RSVAULT_TEST_MAX_CONNS")) && util_parse_i64(s, 1, 100000, &n) == 0)
			cc->max_total = (unsigned)n;
		if ((s = getenv("RSVAULT_TEST_HEAD_MS")) && util_parse_i64(s, 1, 600000, &n) == 0)
			cc->head_ms = n;
		if ((s = getenv("RSVAULT_TEST_BODY_MS")) && util_parse_i64(s, 1, 600000, &n) == 0)
			cc->body_ms = n;
		if ((s = getenv("RSVAULT_TEST_RESUME_DELAY_MS")) &&
		    util_parse_i64(s, 1, 60000, &n) == 0)
			resume_delay_ms = n;
	}
#endif
}

/* --- listening ------------------------------------------------------------ */

/* Split "HOST:PORT" or "[V6]:PORT" into host and port text. */
static int split_listen(const char *s, char *host, size_t hl, char *port, size_t pl)
{
	const char *colon;
	size_t n;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		n = (size_t)(end - s - 1);
		if (n == 0 || n >= hl)
			return -1;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		n = (size_t)(colon - s);
		if (n == 0 || n >= hl || memchr(s, ':', n) != NULL)
			return -1; /* an IPv6 address goes in brackets */
		memcpy(host, s, n);
		host[n] = '\0';
	}
	if (snprintf(port, pl, "%s", colon + 1) >= (int)pl)
		return -1;
	return 0;
}

static void show_addr(const struct sockaddr *sa, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, a,
		          sizeof a);
		snprintf(out, len, "[%s]", a);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, a,
		          sizeof a);
		snprintf(out, len, "%s", a);
	}
}

/* Bind and listen on one address (non-blocking, close-on-exec, as
 * libmicrohttpd would; IPv6 sockets IPv6-only, so that [::] and 0.0.0.0
 * can both be given with one port); note the port actually bound. */
static int listen_one(struct http *h, const char *spec, const struct addrinfo *ai)
{
	struct sockaddr_storage got;
	socklen_t gl = sizeof got;
	struct listener *l;
	char shown[80];
	int fd, one = 1, e;

	show_addr(ai->ai_addr, shown, sizeof shown);
	if (h->nls == sizeof h->ls / sizeof h->ls[0]) {
		log_msg("--listen %s: too many addresses in all (at most %zu)", spec,
		        sizeof h->ls / sizeof h->ls[0]);
		return -1;
	}
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		log_msg("cannot create a socket for %s: %s", shown, strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    (ai->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0 ||
	    getsockname(fd, (struct sockaddr *)&got, &gl) != 0) {
		e = errno;
		if (e == EADDRINUSE)
			log_msg("cannot listen on %s (--listen %s): the port is already in use; is "
			        "another rsvaultd or another program listening there?",
			        shown, spec);
		else if (e == EACCES)
			log_msg(
			    "cannot listen on %s (--listen %s): permission denied (a port below "
			    "1024 needs root or CAP_NET_BIND_SERVICE)",
			    shown, spec);
		else if (e == EADDRNOTAVAIL)
			log_msg("cannot listen on %s (--listen %s): no such address on this host",
			        shown, spec);
		else
			log_msg("cannot listen on %s (--listen %s): %s", shown, spec, strerror(e));
		close(fd);
		return -1;
	}
	l = &h->ls[h->nls++];
	l->fd = fd;
	l->ipv6 = ai->ai_family == AF_INET6;
	l->port = ntohs(l->ipv6 ? ((struct sockaddr_in6 *)&got)->sin6_port
	                        : ((struct sockaddr_in *)&got)->sin_port);
	snprintf(l->shown, sizeof l->shown, "%s", shown);
	return 0;
}

/* One --listen: a numeric address, [::], or a host name, which is bound on
 * every address it resolves to. */
static int listen_spec(struct http *h, const char *spec)
{
	struct addrinfo hints, *res = NULL, *ai, *bj;
	char host[256], port[16];
	int rc;
	int64_t pn;

	if (split_listen(spec, host, sizeof host, port, sizeof port) != 0 ||
	    util_parse_i64(port, 0, 65535, &pn) != 0) {
		log_msg("bad --listen %s: want HOST:PORT, IPV4:PORT or [IPV6]:PORT", spec);
		return -1;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		log_msg("--listen %s: cannot resolve %s: %s", spec, host, gai_strerror(rc));
		return -1;
	}
	rc = 0;
	for (ai = res; ai != NULL && rc == 0; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		for (bj = res; bj != ai; bj = bj->ai_next) /* a duplicate of an earlier one */
			if (bj->ai_addrlen == ai->ai_addrlen &&
			    memcmp(bj->ai_addr, ai->ai_addr, ai->ai_addrlen) == 0)
				break;
		if (bj == ai)
			rc = listen_one(h, spec, ai);
	}
	freeaddrinfo(res);
	return rc;
}

/* --- the certificate ------------------------------------------------------ */

static void cred_free(struct tls_cred *c)
{
	if (c == NULL)
		return;
	for (unsigned i = 0; i < c->npcert; i++)
		gnutls_pcert_deinit(&c->pcert[i]);
	if (c->key != NULL)
		gnutls_privkey_deinit(c->key);
	free(c);
}

/* Whether key is the private half of the public key in pcert. */
static int key_matches(gnutls_privkey_t key, gnutls_pcert_st *pcert)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
	int ok = 0;

	if (gnutls_pubkey_init(&pub) == 0 && gnutls_pubkey_import_privkey(pub, key, 0, 0) == 0 &&
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) == 0 &&
	    gnutls_pubkey_export2(pcert->pubkey, GNUTLS_X509_FMT_DER, &b) == 0)
		ok = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
	gnutls_free(a.data);
	gnutls_free(b.data);
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	return ok;
}

/* Read and check the certificate chain and key (--tls-cert/--tls-key, or
 * server.pem/server.key of --keys): both parse, the key is the
 * certificate's, the certificate is valid now. On failure writes the
 * reason into why and returns NULL; nothing is logged. */
static struct tls_cred *cred_load(const struct vault *v, char *why, size_t wl)
{
	struct tls_cred *c = calloc(1, sizeof *c);
	char *cert = NULL, *key = NULL;
	size_t certlen = 0, keylen = 0;
	gnutls_x509_crt_t crt = NULL;
	time_t now = time(NULL), from;
	const char *cname = v->tls_cert[0] ? v->tls_cert : "server.pem of --keys";
	const char *kname = v->tls_key[0] ? v->tls_key : "server.key of --keys";
	int rc;

	if (c == NULL) {
		snprintf(why, wl, "out of memory");
		return NULL;
	}
	cert = v->tls_cert[0] ? read_pem(NULL, v->tls_cert, 0, -1, &certlen)
	                      : read_pem(v->keys_dir, "server.pem", 0, -1, &certlen);
	if (cert == NULL) {
		snprintf(why, wl, "cannot read the certificate (%s): see the line above", cname);
		goto fail;
	}
	key = v->tls_key[0] ? read_pem(NULL, v->tls_key, 1, v->run_uid, &keylen)
	                    : read_pem(v->keys_dir, "server.key", 1, v->run_uid, &keylen);
	if (key == NULL) {
		snprintf(why, wl, "cannot read the key (%s): see the line above", kname);
		goto fail;
	}
	{
		gnutls_datum_t d = {(unsigned char *)cert, (unsigned)certlen};
		c->npcert = TLS_CHAIN_MAX;
		rc = gnutls_pcert_list_import_x509_raw(c->pcert, &c->npcert, &d,
		                                       GNUTLS_X509_FMT_PEM, 0);
		if (rc < 0 || c->npcert == 0) {
			c->npcert = 0;
			snprintf(why, wl, "%s is not a PEM certificate chain (of at most %d): %s",
			         cname, TLS_CHAIN_MAX, rc < 0 ? gnutls_strerror(rc) : "empty");
			goto fail;
		}
	}
	{
		gnutls_datum_t d = {(unsigned char *)key, (unsigned)keylen};
		if ((rc = gnutls_privkey_init(&c->key)) < 0 ||
		    (rc = gnutls_privkey_import_x509_raw(c->key, &d, GNUTLS_X509_FMT_PEM, NULL,
		                                         0)) < 0) {
			snprintf(why, wl, "%s is not a PEM private key: %s", kname,
			         gnutls_strerror(rc));
			goto fail;
		}
	}
	if (!key_matches(c->key, &c->pcert[0])) {
		snprintf(why, wl, "the key %s is not the key of the certificate %s", kname, cname);
		goto fail;
	}
	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &c->pcert[0].cert, GNUTLS_X509_FMT_DER) < 0) {
		snprintf(why, wl, "%s: cannot read the certificate's dates", cname);
		goto fail;
	}
	c->not_after = gnutls_x509_crt_get_expiration_time(crt);
	from = gnutls_x509_crt_get_activation_time(crt);
	if (c->not_after != (time_t)-1 && c->not_after < now) {
		char t[UTIL_TIME_LEN] = "?";
		util_format_time((int64_t)c->not_after * 1000, t);
		snprintf(why, wl, "%s expired at %s", cname, t);
		goto fail;
	}
	if (from != (time_t)-1 && from > now + 300) {
		char t[UTIL_TIME_LEN] = "?";
		util_format_time((int64_t)from * 1000, t);
		snprintf(why, wl, "%s is not valid before %s", cname, t);
		goto fail;
	}
	gnutls_x509_crt_deinit(crt);
	free(cert);
	sodium_free(key);
	return c;
fail:
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	free(cert);
	if (key != NULL)
		sodium_free(key); /* wipes */
	cred_free(c);
	return NULL;
}

/* gnutls_certificate_retrieve_function2: every handshake takes the
 * certificate in use at its start. */
static int tls_pick(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	int rc = -1;

	(void)session;
	(void)req_ca_dn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	pthread_mutex_lock(&tls_mu);
	if (tls_cur != NULL) {
		*pcert = tls_cur->pcert;
		*pcert_length = tls_cur->npcert;
		*pkey = tls_cur->key;
		rc = 0;
	}
	pthread_mutex_unlock(&tls_mu);
	return rc;
}

static double tls_not_after(void)
{
	double t = 0;

	pthread_mutex_lock(&tls_mu);
	if (tls_cur != NULL)
		t = (double)tls_cur->not_after;
	pthread_mutex_unlock(&tls_mu);
	return t;
}

METRIC_GAUGE_FN(m_tls_not_after, "rsvault_tls_certificate_not_after_seconds",
                "Expiry of the server certificate in use, Unix time", tls_not_after)
METRIC_COUNTER(m_reload_ok, "rsvault_tls_reloads_total",
               "Certificate reloads (SIGHUP) that put a new certificate in use")
METRIC_COUNTER(m_reload_failed, "rsvault_tls_reload_failures_total",
               "Certificate reloads (SIGHUP) refused: the old certificate stayed in use")

/* Put c in use; retire the one it replaces. */
static void cred_swap(struct tls_cred *c)
{
	struct tls_cred **pp, *old;
	int64_t now = util_mono_ms();

	pthread_mutex_lock(&tls_mu);
	old = tls_cur;
	tls_cur = c;
	if (old != NULL) {
		old->retired_at = now;
		old->next = tls_retired;
		tls_retired = old;
	}
	/* free what no handshake can still be using */
	for (pp = &tls_retired; *pp != NULL;) {
		struct tls_cred *r = *pp;
		if (now - r->retired_at >= TLS_RETIRED_KEEP_MS) {
			*pp = r->next;
			cred_free(r);
		} else {
			pp = &r->next;
		}
	}
	pthread_mutex_unlock(&tls_mu);
}

static void cred_free_all(void)
{
	pthread_mutex_lock(&tls_mu);
	cred_free(tls_cur);
	tls_cur = NULL;
	while (tls_retired != NULL) {
		struct tls_cred *r = tls_retired;
		tls_retired = r->next;
		cred_free(r);
	}
	pthread_mutex_unlock(&tls_mu);
}

static void log_cred(const char *what, const struct tls_cred *c)
{
	char t[UTIL_TIME_LEN] = "?";

	util_format_time((int64_t)c->not_after * 1000, t);
	log_msg("%s: chain of %u, valid until %s", what, c->npcert, t);
}

int http_reload_tls(struct http *h)
{
	char why[4608];
	struct tls_cred *c;

	if (h == NULL)
		return -1;
	if ((c = cred_load(h->v, why, sizeof why)) == NULL) {
		metrics_add(&m_reload_failed, 1);
		log_msg("reload: keeping the current TLS certificate: %s", why);
		return -1;
	}
	cred_swap(c);
	metrics_add(&m_reload_ok, 1);
	log_cred("reload: new TLS certificate in use for new connections", c);
	return 0;
}

/* --- start and stop ------------------------------------------------------- */

int http_prepare(struct vault *v, struct http **out)
{
	struct tls_cred *c;
	struct http *h;
	char why[4608];

	*out = NULL;
	if ((c = cred_load(v, why, sizeof why)) == NULL) {
		log_msg("cannot use the TLS certificate and key: %s", why);
		return -1;
	}
	if ((h = calloc(1, sizeof *h)) == NULL) {
		cred_free(c);
		return -1;
	}
	h->v = v;
	pthread_mutex_init(&h->park_mu, NULL);
	pthread_cond_init(&h->park_cv, NULL);
	cred_swap(c);
	log_cred("TLS certificate", c);
	for (unsigned i = 0; i < v->nlisten; i++)
		if (listen_spec(h, v->listens[i]) != 0) {
			http_stop(h);
			return -1;
		}
	*out = h;
	return 0;
}

#ifndef SCHED_BATCH
#define SCHED_BATCH 3 /* Linux; <sched.h> declares it only with _GNU_SOURCE */
#endif

/* libmicrohttpd's threads run as SCHED_BATCH (they inherit the policy of
 * the thread that creates them, set here for the time of their creation):
 * a batch thread woken up does not preempt the thread running. Without
 * it, each connection the store's writer resumed after a commit woke a
 * worker that took the core from the writer at once, in the middle of its
 * list of answers: about one involuntary switch of the writer per request
 * at 32 connections. The writer (and the store's watcher, created
 * earlier) keeps the normal policy. Any failure just leaves the normal
 * policy. */
static int sched_batch_begin(void)
{
	struct sched_param sp = {.sched_priority = 0};
	int old = sched_getscheduler(0);

	if (old != SCHED_OTHER || sched_setscheduler(0, SCHED_BATCH, &sp) != 0)
		return -1;
	return old;
}

static void sched_batch_end(int old)
{
	struct sched_param sp = {.sched_priority = 0};

	if (old >= 0)
		sched_setscheduler(0, old, &sp);
}

static double conns_open_now(void)
{
	struct conns_stats st;

	if (metrics_conns == NULL)
		return 0;
	conns_get_stats(metrics_conns, &st);
	return st.open;
}

static double conns_refused_now(void)
{
	struct conns_stats st;

	if (metrics_conns == NULL)
		return 0;
	conns_get_stats(metrics_conns, &st);
	return (double)st.refused;
}

static double conns_deadline_now(void)
{
	struct conns_stats st;

	if (metrics_conns == NULL)
		return 0;
	conns_get_stats(metrics_conns, &st);
	return (double)st.deadline;
}

METRIC_GAUGE_FN(m_conns_open, "rsvault_connections_open", "Connections open now", conns_open_now)
METRIC_COUNTER_FN(m_conns_refused, "rsvault_connections_refused_total",
                  "Connections refused by a connection limit", conns_refused_now)
METRIC_COUNTER_FN(m_conns_deadline, "rsvault_connections_deadline_total",
                  "Connections closed past a deadline", conns_deadline_now)

int http_start(struct vault *v, struct http **out, uint16_t *port)
{
	struct conns_config cc;
	struct http *h;
	int batch;

	if (*out == NULL && http_prepare(v, out) != 0)
		return -1;
	h = *out;
	/* the reaper thread starts here, after the switch to --user (no
	 * thread may exist before it) */
	limits(v, &cc);
	if (conns_start(&cc, &h->conns) != 0) {
		log_msg("cannot start the connection reaper");
		http_stop(h);
		*out = NULL;
		return -1;
	}
	metrics_conns = h->conns;
	/* The limits are ours (conns.c), enforced in the accept policy: per
	 * address group (not libmicrohttpd's PER_IP_CONNECTION_LIMIT, which
	 * counts each IPv6 address on its own) and in total. libmicrohttpd
	 * splits its CONNECTION_LIMIT evenly between the pool's threads and a
	 * thread at its share stops accepting, leaving connections waiting in
	 * the backlog; its limit is set so that no thread reaches its share
	 * before ours refuses (and closes) the connection. The certificate
	 * comes from tls_pick at every handshake, so that SIGHUP can replace
	 * it (http_reload_tls). */
	for (unsigned i = 0; i < h->nls; i++) {
		struct listener *l = &h->ls[i];
		/* --client-ca: ask every client for a certificate (requested,
		 * not required; mtls.c verifies what comes) */
		struct MHD_OptionItem trust[] = {
		    {MHD_OPTION_HTTPS_MEM_TRUST, 0, (void *)mtls_ca_pem()},
		    {MHD_OPTION_END, 0, NULL},
		};
		unsigned int flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
		                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
		if (l->ipv6)
			flags |= MHD_USE_IPv6;
		if (mtls_ca_pem() == NULL)
			trust[0].option = MHD_OPTION_END;
		batch = sched_batch_begin();
		l->d = MHD_start_daemon(
		    flags, 0, accept_cb, h, access_cb, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
		    (void *)NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)l->fd,
		    MHD_OPTION_HTTPS_CERT_CALLBACK,
		    (gnutls_certificate_retrieve_function2 *)tls_pick, MHD_OPTION_HTTPS_PRIORITIES,
		    (const char *)TLS_PRIORITIES, MHD_OPTION_THREAD_POOL_SIZE,
		    (unsigned int)v->threads, MHD_OPTION_URI_LOG_CALLBACK, uri_cb, (void *)h,
		    MHD_OPTION_NOTIFY_COMPLETED, completed_cb, (void *)h,
		    MHD_OPTION_NOTIFY_CONNECTION, notify_cb, (void *)h,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)IDLE_TIMEOUT_S,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(cc.max_total * v->threads),
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT, MHD_OPTION_ARRAY,
		    trust, MHD_OPTION_END);
		sched_batch_end(batch);
		l->fd = -1; /* libmicrohttpd's now: MHD_stop_daemon closes it */
		if (l->d == NULL) {
			log_msg("cannot start the HTTPS listener on %s:%u", l->shown,
			        (unsigned)l->port);
			http_stop(h);
			*out = NULL;
			return -1;
		}
	}
	log_msg("connections: at most %u, %u per address; handshake and request head within "
	        "%lld ms, body and response within %lld ms each",
	        cc.max_total, cc.max_per_addr, (long long)cc.head_ms, (long long)cc.body_ms);
	*port = h->nls > 0 ? h->ls[0].port : 0;
	return 0;
}

void http_ready(struct http *h)
{
	pthread_mutex_lock(&h->park_mu);
	__atomic_store_n(&h->ready, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&h->park_cv); /* connections held in accept_cb */
	pthread_mutex_unlock(&h->park_mu);
}

unsigned http_listeners(const struct http *h)
{
	return h ? h->nls : 0;
}

void http_listener(const struct http *h, unsigned i, const char **shown, uint16_t *port)
{
	*shown = h->ls[i].shown;
	*port = h->ls[i].port;
}

void http_stop(struct http *h)
{
	int any = 0;

	if (h == NULL)
		return;
	/* No new connection (accept_cb closes each at once), no new request
	 * parked; then wait until every parked request was resumed and
	 * answered (the store tells each within its time bound), since
	 * libmicrohttpd must not be stopped with a suspended connection. The
	 * store is still running meanwhile. Not MHD_quiesce_daemon: in
	 * libmicrohttpd 0.9.75 it takes the listening socket out of each
	 * worker's epoll set from this thread while the worker, seeing the
	 * same flag, may take it out first, and the second removal's ENOENT
	 * is a panic (abort) in MHD_quiesce_daemon, though not in the
	 * worker: an abort at shutdown, seen in CI under the sanitizers. */
	pthread_mutex_lock(&h->park_mu);
	__atomic_store_n(&h->refusing, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&h->park_cv); /* a failed start: release accept_cb */
	pthread_mutex_unlock(&h->park_mu);
	for (unsigned i = 0; i < h->nls; i++)
		if (h->ls[i].d != NULL)
			any = 1;
	if (any) {
		int64_t until = util_mono_ms() + h->v->queue_timeout_ms + 10000;
		pthread_mutex_lock(&h->park_mu);
		h->stopping = 1;
		while (h->parked > 0 && util_mono_ms() < until) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&h->park_cv, &h->park_mu, &ts);
		}
		if (h->parked > 0)
			log_msg("http: %u requests still parked at shutdown", h->parked);
		pthread_mutex_unlock(&h->park_mu);
	}
	/* the reaper first: then nothing shuts down a socket while the
	 * daemon closes them */
	conns_stop_reaper(h->conns);
	for (unsigned i = 0; i < h->nls; i++)
		if (h->ls[i].d != NULL)
			MHD_stop_daemon(h->ls[i].d);
	if (h->conns != NULL) {
		struct conns_stats st;
		conns_get_stats(h->conns, &st);
		log_msg("connections since start: %llu refused by a limit, %llu closed past a "
		        "deadline, %llu closed with a lingering read",
		        (unsigned long long)st.refused, (unsigned long long)st.deadline,
		        (unsigned long long)st.lingered);
	}
	metrics_conns = NULL;
	conns_free(h->conns);
	for (unsigned i = 0; i < h->nls; i++)
		if (h->ls[i].d == NULL && h->ls[i].fd >= 0)
			close(h->ls[i].fd);
	cred_free_all();
	pthread_mutex_destroy(&h->park_mu);
	pthread_cond_destroy(&h->park_cv);
	free(h);
}

/* http.c - libcurl transport and the JSON/error layer of the client.
 *
 * Hardening (ENGINEERING.md, "OpenSSL and the client"): https only, also
 * for redirects, and redirects are not followed; exactly one CA file
 * (CURLOPT_CAINFO) and no CA directory (CURLOPT_CAPATH NULL), so the
 * system store is never consulted; no proxy whatever the environment
 * says; TLS 1.2 or newer with peer and host verification; bounded
 * connect and total time; bounded response size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <sodium.h>

#include "cli.h"
#include "config.h"
#include "http.h"
#include "output.h"
#include "secret.h"

#define HTTPS_PREFIX "https://"
#define URL_MAX (CLI_ADDR_MAX + CLI_PATH_MAX)
#define REQUEST_ID_HEADER "x-request-id:"

struct cli_http {
	CURL *curl;
	char *auth; /* "Authorization: Bearer ...", wiping block, or NULL */
	char base[CLI_ADDR_MAX];
	char cainfo[CLI_CACERT_MAX];
	char sslcert[CLI_CACERT_MAX]; /* "" for none */
	char sslkey[CLI_CACERT_MAX];
	char errbuf[CURL_ERROR_SIZE];
};

/* What one transfer collects. */
struct xfer {
	char *body; /* wiping block */
	size_t len;
	size_t cap;
	int too_big;
	int no_mem;
	char request_id[CLI_REQUEST_ID_MAX];
};

int cli_http_check_addr(const char *addr, char base[CLI_ADDR_MAX], char *msg, size_t msgsz)
{
	const char *host;
	size_t n, hostlen;

	if (addr == NULL || *addr == '\0') {
		snprintf(msg, msgsz, "the vault address is empty");
		return -1;
	}
	if (strncasecmp(addr, HTTPS_PREFIX, strlen(HTTPS_PREFIX)) != 0) {
		snprintf(msg, msgsz,
		         "refusing address '%.100s': only https:// addresses are allowed "
		         "(the vault speaks TLS only; nothing was sent)",
		         addr);
		return -1;
	}
	n = strlen(addr);
	if (n >= CLI_ADDR_MAX) {
		snprintf(msg, msgsz, "the vault address is longer than %d bytes", CLI_ADDR_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)addr[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '\\' || ch == '#' || ch == '?' || ch == '@') {
			snprintf(msg, msgsz,
			         "the vault address may not contain spaces, control or "
			         "non-ASCII characters, '\\', '#', '?' or '@'");
			return -1;
		}
	}
	host = addr + strlen(HTTPS_PREFIX);
	hostlen = strcspn(host, "/");
	if (hostlen == 0 || host[0] == ':') {
		snprintf(msg, msgsz, "the vault address '%.100s' names no host", addr);
		return -1;
	}
	memcpy(base, addr, n + 1);
	while (n > strlen(HTTPS_PREFIX) + hostlen && base[n - 1] == '/')
		base[--n] = '\0';
	return 0;
}

/* OpenSSL's allocator, routed to the wiping one: TLS record buffers hold
 * decrypted answers (a secret, a token) and are wiped when freed too. */
static void *ossl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return wipe_malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	if (n == 0) {
		wipe_free(p);
		return NULL;
	}
	return wipe_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	wipe_free(p);
}

int cli_http_global_init(void)
{
	/* Only possible before OpenSSL's first allocation; if something came
	 * first, OpenSSL keeps its own allocator (defence in depth only). */
	(void)CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free);
	if (getenv("SSLKEYLOGFILE") != NULL) {
		cli_notex("ignoring SSLKEYLOGFILE: TLS session keys are never written out");
		unsetenv("SSLKEYLOGFILE");
	}
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, wipe_malloc, wipe_free, wipe_realloc,
	                         wipe_strdup, wipe_calloc) != CURLE_OK) {
		cli_warnx("cannot initialise libcurl");
		return -1;
	}
	return 0;
}

void cli_http_global_cleanup(void)
{
	curl_global_cleanup();
}

int cli_http_open(const struct cli_http_conf *conf, struct cli_http **out)
{
	struct cli_http *h;
	char msg[256];
	static const char prefix[] = "Authorization: Bearer ";

	h = calloc(1, sizeof *h);
	if (h == NULL) {
		cli_warnx("out of memory");
		return -1;
	}
	if (cli_http_check_addr(conf->addr, h->base, msg, sizeof msg) != 0) {
		cli_warnx("%s", msg);
		goto fail;
	}
	if (cli_fmt(h->cainfo, sizeof h->cainfo, "%s", conf->cacert) != 0) {
		cli_warnx("the CA file path is too long");
		goto fail;
	}
	if (conf->cert != NULL && conf->key != NULL &&
	    (cli_fmt(h->sslcert, sizeof h->sslcert, "%s", conf->cert) != 0 ||
	     cli_fmt(h->sslkey, sizeof h->sslkey, "%s", conf->key) != 0)) {
		cli_warnx("the client certificate or key path is too long");
		goto fail;
	}
	if (conf->token != NULL) {
		size_t n = sizeof prefix - 1 + strlen(conf->token) + 1;

		h->auth = wipe_malloc(n);
		if (h->auth == NULL || cli_fmt(h->auth, n, "%s%s", prefix, conf->token) != 0) {
			cli_warnx("out of memory");
			goto fail;
		}
	}
	h->curl = curl_easy_init();
	if (h->curl == NULL) {
		cli_warnx("cannot initialise libcurl");
		goto fail;
	}
	*out = h;
	return 0;
fail:
	cli_http_close(h);
	return -1;
}

void cli_http_close(struct cli_http *h)
{
	if (h == NULL)
		return;
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	wipe_free(h->auth);
	wipe_release(h, sizeof *h);
}

char *cli_http_escape(struct cli_http *h, const char *s)
{
	return curl_easy_escape(h->curl, s, 0);
}

void cli_http_free_str(char *s)
{
	curl_free(s);
}

/* libcurl write callback: append to the body, refuse past CLI_BODY_MAX. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;

	if (n == 0)
		return 0;
	if (n > CLI_BODY_MAX - x->len) {
		x->too_big = 1;
		return 0;
	}
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 4096;
		char *p;

		while (cap < x->len + n + 1)
			cap *= 2;
		if (cap > CLI_BODY_MAX + 1)
			cap = CLI_BODY_MAX + 1;
		p = wipe_realloc(x->body, cap);
		if (p == NULL) {
			x->no_mem = 1;
			return 0;
		}
		x->body = p;
		x->cap = cap;
	}
	memcpy(x->body + x->len, ptr, n);
	x->len += n;
	x->body[x->len] = '\0';
	return n;
}

/* libcurl header callback: keep X-Request-Id (printable ASCII only). */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb, k = sizeof REQUEST_ID_HEADER - 1, o = 0;

	if (n > k && strncasecmp(ptr, REQUEST_ID_HEADER, k) == 0) {
		for (size_t i = k; i < n && o + 1 < sizeof x->request_id; i++) {
			unsigned char ch = (unsigned char)ptr[i];

			if (ch > 0x20 && ch < 0x7f)
				x->request_id[o++] = (char)ch;
		}
		x->request_id[o] = '\0';
	}
	return n;
}

/* Headers of one request. Returns NULL on allocation failure. */
static struct curl_slist *make_headers(const struct cli_http *h, int has_body, const char *session)
{
	struct curl_slist *l = NULL, *t;
	char sess[128];

	t = curl_slist_append(l, "Accept: application/json");
	if (t == NULL)
		goto fail;
	l = t;
	/* "Content-Type:" with no value stops libcurl's form default. */
	t = curl_slist_append(l, has_body ? "Content-Type: application/json" : "Content-Type:");
	if (t == NULL)
		goto fail;
	l = t;
	t = curl_slist_append(l, "Expect:");
	if (t == NULL)
		goto fail;
	l = t;
	if (h->auth != NULL) {
		t = curl_slist_append(l, h->auth);
		if (t == NULL)
			goto fail;
		l = t;
	}
	if (session != NULL) {
		if (cli_fmt(sess, sizeof sess, "X-Session-Id: %s", session) != 0)
			goto fail;
		t = curl_slist_append(l, sess);
		if (t == NULL)
			goto fail;
		l = t;
	}
	return l;
fail:
	curl_slist_free_all(l);
	return NULL;
}

#define SETOPT(opt, val)                                                                           \
	do {                                                                                       \
		if (curl_easy_setopt(h->curl, opt, val) != CURLE_OK)                               \
			return -1;                                                                 \
	} while (0)

/* Every option of every request; applied after curl_easy_reset. */
static int set_options(struct cli_http *h, const char *url, struct curl_slist *hdrs, struct xfer *x)
{
	SETOPT(CURLOPT_URL, url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_CAINFO, h->cainfo);
	SETOPT(CURLOPT_CAPATH, (char *)NULL);
	if (h->sslcert[0] != '\0') { /* staff: the client certificate (SPEC 8.4) */
		SETOPT(CURLOPT_SSLCERT, h->sslcert);
		SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
		SETOPT(CURLOPT_SSLKEY, h->sslkey);
		SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
	}
	SETOPT(CURLOPT_PROXY, "");
	SETOPT(CURLOPT_NOPROXY, "*");
	SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_CONNECTTIMEOUT, CLI_CONNECT_TIMEOUT_S);
	SETOPT(CURLOPT_TIMEOUT, CLI_TOTAL_TIMEOUT_S);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLI_BODY_MAX);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SETOPT(CURLOPT_USERAGENT, "rsvault/" CLI_VERSION);
	SETOPT(CURLOPT_ERRORBUFFER, h->errbuf);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(CURLOPT_WRITEDATA, x);
	SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(CURLOPT_HEADERDATA, x);
	SETOPT(CURLOPT_HTTPHEADER, hdrs);
	return 0;
}

static int set_method(struct cli_http *h, const char *method, const char *body, size_t len)
{
	SETOPT(CURLOPT_CUSTOMREQUEST, (char *)NULL); /* what an earlier call set */
	if (strcmp(method, "GET") == 0) {
		SETOPT(CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0) {
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		SETOPT(CURLOPT_POSTFIELDS, body != NULL ? body : "");
		if (strcmp(method, "PATCH") == 0)
			SETOPT(CURLOPT_CUSTOMREQUEST, "PATCH");
	} else if (strcmp(method, "DELETE") == 0) {
		SETOPT(CURLOPT_HTTPGET, 1L);
		SETOPT(CURLOPT_CUSTOMREQUEST, "DELETE");
	} else {
		return -1;
	}
	return 0;
}

#undef SETOPT

/* One plain message per libcurl failure. */
static void report_curl_error(const struct cli_http *h, CURLcode rc, const struct xfer *x)
{
	const char *detail = h->errbuf[0] != '\0' ? h->errbuf : curl_easy_strerror(rc);

	/* the code of --json errors */
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
		cli_err_code("tls");
		break;
	case CURLE_OPERATION_TIMEDOUT:
		cli_err_code("timeout");
		break;
	default:
		cli_err_code("connection");
		break;
	}
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		cli_warnx("TLS certificate verification failed: %s (is %s the CA of the vault "
		          "at %s?)",
		          detail, h->cainfo, h->base);
		break;
	case CURLE_SSL_CERTPROBLEM:
		cli_warnx("cannot use the client certificate %s with key %s: %s", h->sslcert,
		          h->sslkey, detail);
		break;
	case CURLE_SSL_CACERT_BADFILE:
		cli_warnx("cannot load the CA certificate file %s: %s", h->cainfo, detail);
		break;
	case CURLE_SSL_CONNECT_ERROR:
		cli_warnx("TLS handshake with %s failed: %s", h->base, detail);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		cli_warnx("cannot connect to %s: %s", h->base, detail);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		cli_warnx("no answer from %s in time: %s", h->base, detail);
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		cli_warnx("refusing to talk to %s: %s", h->base, detail);
		break;
	case CURLE_FILESIZE_EXCEEDED:
		cli_warnx("the answer from %s is larger than %lu bytes; aborted", h->base,
		          CLI_BODY_MAX);
		break;
	case CURLE_WRITE_ERROR:
		if (x->too_big)
			cli_warnx("the answer from %s is larger than %lu bytes; aborted", h->base,
			          CLI_BODY_MAX);
		else
			cli_warnx("out of memory while reading the answer from %s", h->base);
		break;
	default:
		cli_warnx("request to %s failed: %s", h->base, detail);
		break;
	}
}

/* Send one request, collect status, body and request id into r. Returns
 * 0, or -1 after printing why. */
static int perform(struct cli_http *h, const char *method, const char *path, const char *body,
                   size_t len, const char *session, struct cli_resp *r)
{
	struct curl_slist *hdrs = NULL;
	struct xfer x;
	char url[URL_MAX];
	CURLcode rc;
	int ret = -1;

	memset(&x, 0, sizeof x);
	if (cli_fmt(url, sizeof url, "%s%s", h->base, path) != 0) {
		cli_warnx("request URL too long");
		goto done;
	}
	hdrs = make_headers(h, body != NULL, session);
	if (hdrs == NULL) {
		cli_warnx("out of memory");
		goto done;
	}
	curl_easy_reset(h->curl);
	h->errbuf[0] = '\0';
	if (set_options(h, url, hdrs, &x) != 0 || set_method(h, method, body, len) != 0) {
		cli_warnx("cannot set up the request (libcurl too old?)");
		goto done;
	}
	rc = curl_easy_perform(h->curl);
	if (rc != CURLE_OK) {
		report_curl_error(h, rc, &x);
		goto done;
	}
	if (curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &r->status) != CURLE_OK) {
		cli_warnx("no HTTP status from %s", h->base);
		goto done;
	}
	ret = 0;
done:
	/* the handle must not keep pointers into this frame */
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, (char *)NULL);
	curl_slist_free_all(hdrs);
	r->body = x.body;
	r->len = x.len;
	memcpy(r->request_id, x.request_id, sizeof r->request_id);
	return ret;
}

static json_t *parse_object(const char *body, size_t len)
{
	json_error_t jerr;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);

	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Print the error body of a non-2xx answer; return the exit status. */
static int report_error(const struct cli_resp *r)
{
	json_t *j = NULL, *e;
	const char *code, *message;
	char *c1 = NULL, *c2 = NULL;
	int ret = CLI_ERR;

	if (r->status >= 300 && r->status < 400) {
		cli_warnx("the vault answered with a redirect (HTTP %ld); not followed", r->status);
		return CLI_ERR;
	}
	if (r->body != NULL)
		j = parse_object(r->body, r->len);
	e = json_object_get(j, "error");
	code = json_string_value(json_object_get(e, "code"));
	message = json_string_value(json_object_get(e, "message"));
	if (code == NULL || message == NULL) {
		cli_warnx("unexpected answer from the vault: HTTP %ld without a valid error "
		          "body",
		          r->status);
		goto done;
	}
	c1 = cli_clean(code, 64);
	c2 = cli_clean(message, 512);
	cli_warnx("%s: %s", c1 ? c1 : "?", c2 ? c2 : "?");
	if (r->status == 401)
		ret = CLI_UNAUTH;
	else if (r->status == 403)
		ret = CLI_FORBIDDEN;
	else if (r->status == 404)
		ret = CLI_NOTFOUND;
done:
	if (r->status >= 500 && r->request_id[0] != '\0')
		cli_warnx("request id: %s (quote it to the vault's operator)", r->request_id);
	free(c1);
	free(c2);
	json_decref(j);
	return ret;
}

int cli_api(struct cli_ctx *c, const char *method, const char *path, json_t *req,
            const char *session, struct cli_resp *r)
{
	json_free_t jfree = NULL;
	char *body = NULL;
	size_t len = 0;
	int ret = CLI_ERR;

	memset(r, 0, sizeof *r);
	if (c->http == NULL && (ret = cli_connect(c)) != CLI_OK)
		return ret;
	ret = CLI_ERR;
	if (req != NULL) {
		body = json_dumps(req, JSON_COMPACT);
		if (body == NULL) {
			cli_warnx("cannot encode the request (invalid UTF-8?)");
			return CLI_ERR;
		}
		len = strlen(body);
	}
	if (perform(c->http, method, path, body, len, session, r) != 0)
		goto done;
	if (r->status < 200 || r->status > 299) {
		ret = report_error(r);
		/* --json: the vault's error object on standard output too, for
		 * scripts (SPEC 8.6); the message stays on standard error */
		if (c->json && r->body != NULL && r->status >= 400) {
			json_t *j = parse_object(r->body, r->len);
			if (json_is_object(json_object_get(j, "error")) &&
			    cli_print_json(r->body, r->len) == 0)
				cli_err_printed();
			json_decref(j);
		}
		goto done;
	}
	if (r->len == 0) {
		ret = CLI_OK;
		goto done;
	}
	r->json = parse_object(r->body, r->len);
	if (r->json == NULL) {
		cli_warnx("the vault's answer (HTTP %ld) is not a JSON object", r->status);
		goto done;
	}
	ret = CLI_OK;
done:
	if (body != NULL) {
		sodium_memzero(body, len);
		json_get_alloc_funcs(NULL, &jfree);
		jfree(body);
	}
	return ret;
}

void cli_resp_free(struct cli_resp *r)
{
	json_decref(r->json);
	wipe_free(r->body);
	memset(r, 0, sizeof *r);
}

/* metrics.c - metric registry, request table and the text exposition
 * (contract in metrics.h). */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MX_ROUTES 192 /* (method, route) pairs: routes, pages, "unmatched" */
#define MX_STATUS 16  /* distinct statuses per pair */

static struct metric *mx_head;
static struct metric **mx_tail = &mx_head;

/* request latency buckets, seconds */
static const double mx_lat[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                0.25,  0.5,    1,     2.5,  5,     10};
#define MX_NLAT (sizeof mx_lat / sizeof mx_lat[0])

struct mx_route {
	char method[8];
	const char *route;
	int status[MX_STATUS];
	uint64_t count[MX_STATUS];
	uint64_t lat[MX_NLAT + 1];
	uint64_t lat_n;
	double lat_sum;
};

static pthread_mutex_t mx_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mx_route mx_routes[MX_ROUTES];
static size_t mx_nroutes;

void metrics_register(struct metric *m)
{
	m->next = NULL;
	*mx_tail = m;
	mx_tail = &m->next;
}

void metrics_add(struct metric *m, int64_t n)
{
	atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}

void metrics_set(struct metric *m, int64_t v)
{
	atomic_store_explicit(&m->value, v, memory_order_relaxed);
}

void metrics_observe(struct metric *m, double v)
{
	size_t i = 0;

	while (i < m->nbounds && v > m->bounds[i])
		i++;
	atomic_fetch_add_explicit(&m->counts[i], 1, memory_order_relaxed);
	if (v > 0)
		atomic_fetch_add_explicit(&m->sum_us, (uint64_t)(v * 1e6 + 0.5),
		                          memory_order_relaxed);
}

int64_t metrics_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *method_label(const char *m)
{
	static const char *const known[] = {"GET",    "POST", "PUT",    "PATCH",
	                                    "DELETE", "HEAD", "OPTIONS"};

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "other";
}

/* (route, method label) pointers -> slot in mx_routes: both strings are the
 * server's own constants, so after the first sight of a pair the lookup
 * compares pointers only. A pair of other pointers with the same text
 * (two copies of one literal) finds the same slot by content. */
#define MX_INDEX 512 /* more than twice MX_ROUTES: probes stay short */
struct mx_key {
	const char *route;
	const char *ml;
	struct mx_route *slot;
};
static struct mx_key mx_index[MX_INDEX];

static struct mx_route *route_slot(const char *ml, const char *route)
{
	size_t h = (((uintptr_t)route >> 3) * 31u + ((uintptr_t)ml >> 3)) % MX_INDEX, i;
	struct mx_route *r = NULL;

	for (i = 0; i < MX_INDEX; i++, h = (h + 1) % MX_INDEX) {
		if (mx_index[h].route == route && mx_index[h].ml == ml)
			return mx_index[h].slot;
		if (mx_index[h].route == NULL)
			break;
	}
	for (i = 0; i < mx_nroutes; i++)
		if (strcmp(mx_routes[i].method, ml) == 0 &&
		    strcmp(mx_routes[i].route, route) == 0) {
			r = &mx_routes[i];
			break;
		}
	if (r == NULL) {
		if (mx_nroutes == MX_ROUTES) {
			/* full (it cannot be with the server's tables): the last
			 * slot takes the rest */
			r = &mx_routes[MX_ROUTES - 1];
			r->route = "other";
		} else {
			r = &mx_routes[mx_nroutes++];
			snprintf(r->method, sizeof r->method, "%s", ml);
			r->route = route;
		}
	}
	if (mx_index[h].route == NULL) { /* remember the pointers (if there is room) */
		mx_index[h].route = route;
		mx_index[h].ml = ml;
		mx_index[h].slot = r;
	}
	return r;
}

void metrics_request(const char *method, const char *route, int status, int64_t duration_us)
{
	const char *ml = method_label(method);
	double secs = (double)duration_us / 1e6;
	struct mx_route *r;
	size_t i;

	pthread_mutex_lock(&mx_mu);
	r = route_slot(ml, route);
	for (i = 0; i < MX_STATUS; i++)
		if (r->status[i] == status || r->status[i] == 0)
			break;
	if (i == MX_STATUS)
		i = MX_STATUS - 1; /* more distinct statuses than slots: the last takes them */
	if (r->status[i] == 0)
		r->status[i] = status;
	r->count[i]++;
	for (i = 0; i < MX_NLAT && secs > mx_lat[i]; i++)
		;
	r->lat[i]++;
	r->lat_n++;
	r->lat_sum += secs;
	pthread_mutex_unlock(&mx_mu);
}

/* --- rendering ------------------------------------------------------------ */

struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

__attribute__((format(printf, 2, 3))) static void bput(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n;
		char *q = realloc(b->p, cap);
		if (q == NULL) {
			b->failed = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

/* Label values are the server's own text, but escape them anyway. */
static void blabel(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			bput(b, "\\%c", *s);
		else if (*s == '\n')
			bput(b, "\\n");
		else
			bput(b, "%c", *s);
	}
}

static void head(struct buf *b, const char *name, const char *help, const char *type)
{
	bput(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_requests(struct buf *b)
{
	head(b, "rsvault_http_requests_total",
	     "HTTP requests answered, by method, route and status", "counter");
	pthread_mutex_lock(&mx_mu);
	for (size_t i = 0; i < mx_nroutes; i++) {
		struct mx_route *r = &mx_routes[i];
		for (size_t j = 0; j < MX_STATUS && r->status[j] != 0; j++) {
			bput(b, "rsvault_http_requests_total{method=\"%s\",route=\"", r->method);
			blabel(b, r->route);
			bput(b, "\",status=\"%d\"} %llu\n", r->status[j],
			     (unsigned long long)r->count[j]);
		}
	}
	head(b, "rsvault_http_request_duration_seconds",
	     "Time from the request head to the response, by method and route", "histogram");
	for (size_t i = 0; i < mx_nroutes; i++) {
		struct mx_route *r = &mx_routes[i];
		uint64_t cum = 0;
		for (size_t j = 0; j <= MX_NLAT; j++) {
			cum += r->lat[j];
			bput(b,
			     "rsvault_http_request_duration_seconds_bucket{method=\"%s\",route=\"",
			     r->method);
			blabel(b, r->route);
			if (j < MX_NLAT)
				bput(b, "\",le=\"%g\"} %llu\n", mx_lat[j], (unsigned long long)cum);
			else
				bput(b, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		}
		bput(b, "rsvault_http_request_duration_seconds_sum{method=\"%s\",route=\"",
		     r->method);
		blabel(b, r->route);
		bput(b, "\"} %.6f\n", r->lat_sum);
		bput(b, "rsvault_http_request_duration_seconds_count{method=\"%s\",route=\"",
		     r->method);
		blabel(b, r->route);
		bput(b, "\"} %llu\n", (unsigned long long)r->lat_n);
	}
	pthread_mutex_unlock(&mx_mu);
}

static void render_metric(struct buf *b, struct metric *m)
{
	uint64_t cum = 0;

	switch (m->type) {
	case METRIC_T_COUNTER:
		head(b, m->name, m->help, "counter");
		bput(b, "%s %lld\n", m->name, (long long)atomic_load(&m->value));
		break;
	case METRIC_T_GAUGE:
		head(b, m->name, m->help, "gauge");
		bput(b, "%s %lld\n", m->name, (long long)atomic_load(&m->value));
		break;
	case METRIC_T_GAUGE_FN:
	case METRIC_T_COUNTER_FN:
		head(b, m->name, m->help, m->type == METRIC_T_GAUGE_FN ? "gauge" : "counter");
		bput(b, "%s %.17g\n", m->name, m->fn());
		break;
	case METRIC_T_HISTOGRAM:
		head(b, m->name, m->help, "histogram");
		for (size_t j = 0; j <= m->nbounds; j++) {
			cum += atomic_load(&m->counts[j]);
			if (j < m->nbounds)
				bput(b, "%s_bucket{le=\"%g\"} %llu\n", m->name, m->bounds[j],
				     (unsigned long long)cum);
			else
				bput(b, "%s_bucket{le=\"+Inf\"} %llu\n", m->name,
				     (unsigned long long)cum);
		}
		bput(b, "%s_sum %.6f\n", m->name, (double)atomic_load(&m->sum_us) / 1e6);
		bput(b, "%s_count %llu\n", m->name, (unsigned long long)cum);
		break;
	}
}

char *metrics_render(void)
{
	struct buf b = {.cap = 16384};

	if ((b.p = malloc(b.cap)) == NULL)
		return NULL;
	b.p[0] = '\0';
	render_requests(&b);
	for (struct metric *m = mx_head; m != NULL; m = m->next)
		render_metric(&b, m);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

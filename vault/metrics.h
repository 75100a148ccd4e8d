/* metrics.h - the server's metrics, served by GET /v1/metrics in the
 * Prometheus text format (SPEC 8.5).
 *
 * Any module adds a metric with one line at file scope, which registers it
 * before main runs:
 *
 *     METRIC_COUNTER(m_drops, "rsvault_webhook_dropped_total", "Webhook deliveries dropped");
 *     ...
 *     metrics_add(&m_drops, 1);
 *
 * METRIC_GAUGE is set with metrics_set; METRIC_GAUGE_FN (METRIC_COUNTER_FN
 * for a count that only grows) is read by calling a function at every scrape (it must not block,
 * take no store transaction, and may run on any thread); METRIC_HISTOGRAM takes the upper bounds of
 * its buckets (ascending, at most METRIC_BUCKETS_MAX) and is fed with metrics_observe. Names follow
 * Prometheus rules: [a-z_][a-z0-9_]*, counters end in _total. Every update is lock-free (atomics)
 * except the per-route request table. No metric ever carries a secret, a token, an id of a ticket,
 * account or credential, or any text a client sent: labels are route patterns, methods from a fixed
 * list and status codes. */
#ifndef RSVAULT_METRICS_H
#define RSVAULT_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define METRIC_BUCKETS_MAX 16

enum metric_type {
	METRIC_T_COUNTER,
	METRIC_T_GAUGE,
	METRIC_T_GAUGE_FN,
	METRIC_T_COUNTER_FN,
	METRIC_T_HISTOGRAM
};

struct metric {
	const char *name;
	const char *help;
	enum metric_type type;
	double (*fn)(void);   /* METRIC_T_GAUGE_FN, METRIC_T_COUNTER_FN */
	const double *bounds; /* METRIC_T_HISTOGRAM */
	size_t nbounds;
	_Atomic int64_t value;                           /* counter or gauge */
	_Atomic uint64_t counts[METRIC_BUCKETS_MAX + 1]; /* per bucket, last is +Inf */
	_Atomic uint64_t sum_us;                         /* histogram sum, in millionths */
	struct metric *next;
};

/* Link m into the list the scrape walks (the macros call it before main). */
void metrics_register(struct metric *m);

#define METRIC_DEFINE_(var, nm, hp, ty, f, b, nb)                                                  \
	struct metric var = {                                                                      \
	    .name = (nm), .help = (hp), .type = (ty), .fn = (f), .bounds = (b), .nbounds = (nb)};  \
	__attribute__((constructor)) static void var##_register(void)                              \
	{                                                                                          \
		metrics_register(&var);                                                            \
	}

#define METRIC_COUNTER(var, nm, hp) METRIC_DEFINE_(var, nm, hp, METRIC_T_COUNTER, NULL, NULL, 0)
#define METRIC_GAUGE(var, nm, hp) METRIC_DEFINE_(var, nm, hp, METRIC_T_GAUGE, NULL, NULL, 0)
#define METRIC_GAUGE_FN(var, nm, hp, f) METRIC_DEFINE_(var, nm, hp, METRIC_T_GAUGE_FN, f, NULL, 0)
#define METRIC_COUNTER_FN(var, nm, hp, f)                                                          \
	METRIC_DEFINE_(var, nm, hp, METRIC_T_COUNTER_FN, f, NULL, 0)
#define METRIC_HISTOGRAM(var, nm, hp, b)                                                           \
	METRIC_DEFINE_(var, nm, hp, METRIC_T_HISTOGRAM, NULL, b, sizeof(b) / sizeof((b)[0]))

void metrics_add(struct metric *m, int64_t n);
void metrics_set(struct metric *m, int64_t v);
void metrics_observe(struct metric *m, double v);

/* Microseconds of a monotonic clock, for durations. */
int64_t metrics_now_us(void);

/* One HTTP request answered: method (any text; anything but the usual
 * methods counts as "other"), route (a route pattern or page path from the
 * server's own tables, or "unmatched"), status and duration. */
void metrics_request(const char *method, const char *route, int status, int64_t duration_us);

/* The whole exposition, text format 0.0.4, NUL-terminated, malloc'd (the
 * caller frees). NULL when out of memory. */
char *metrics_render(void);

#endif

/* webhooks.h - webhooks (SPEC 8.3): the admin routes, the durable outbox
 * and the delivery thread.
 *
 * A notification (notify.c) is written to the outbox in the transaction of
 * the audit event it reports: one delivery record per matching webhook,
 * state "pending". The delivery thread reads due deliveries in read-only
 * transactions, POSTs them with libcurl (never holding a transaction or
 * the writer while it waits for a receiver), and hands the outcomes back
 * to the writer in one small operation per round. So a slow, dead or
 * hanging receiver delays only other deliveries, never a request.
 *
 * The outbox is bounded (--webhook-outbox-max): making room drops the
 * oldest delivered record (history, silently), else the oldest failed,
 * else the oldest pending one, each of the latter two with a
 * webhook.dropped event. */
#ifndef RSVAULT_WEBHOOKS_H
#define RSVAULT_WEBHOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "req.h"
#include "store.h"

struct vault;

#define WEBHOOK_OUTBOX_DEFAULT 10000
#define WEBHOOK_OUTBOX_MAX 1000000
#define WEBHOOK_MAX 100            /* webhooks at once */
#define WEBHOOK_URL_MAX 2048       /* bytes */
#define WEBHOOK_ATTEMPT_MS 10000   /* one attempt, connecting included */
#define WEBHOOK_WINDOW_MS 86400000 /* retries for 24 h, then "failed" */
#define WEBHOOK_BACKOFF_MAX_MS 3600000

/* The event types (SPEC 8.3), NULL-terminated. */
extern const char *const webhook_types[];

/* Before any thread exists: read the CA file of --webhook-ca (NULL: the
 * system's CAs) into memory, so the delivery thread needs no access to it
 * after privileges are dropped. outbox_max bounds the outbox. Returns 0,
 * or -1 with a message logged. */
int webhooks_init(const char *ca_file, int64_t outbox_max);

/* Start the delivery thread on store s (after the store is open, before
 * the seccomp filter). libcurl is initialised here when the store holds a
 * webhook, else by the delivery thread on its first delivery. Returns 0
 * or -1. */
int webhooks_start(struct store *s);

/* Stop the delivery thread (transfers in flight are abandoned and stay
 * pending: they are retried after the next start) and free what init
 * made. Safe to call when never started. */
void webhooks_stop(void);

/* For the metrics route: deliveries not yet delivered nor failed, and the
 * pending or failed deliveries dropped to bound the outbox, since the
 * store was made. Refreshed by the delivery thread about every 200 ms;
 * any thread, never blocks. */
uint64_t webhook_backlog(void);
uint64_t webhook_dropped_total(void);

/* In the writer, inside the transaction of the audit event it reports:
 * one pending delivery of body (the notification's JSON) for every
 * webhook that takes type. Returns 0 or a store_err. */
int webhook_enqueue(struct store_txn *t, const char *type, const char *body, int64_t now);

/* Does any webhook exist? 1, 0, or a store_err. */
int webhooks_any(struct store_txn *t);

/* The signing secrets are in DB_WEBHOOK_SECRETS (webhook id -> a
 * crypto_wrap() value, crypto_webhook_secret_wrap), which wrapped.c lists:
 * the master-key rewrap (SPEC 8.4) covers them with the ticket keys. */

/* The routes. */
int api_webhook_create(struct req *r, struct store_txn *t);
int api_webhook_list(struct req *r, struct store_txn *t);
int api_webhook_delete(struct req *r, struct store_txn *t);
int api_webhook_deliveries(struct req *r, struct store_txn *t);

#ifdef RSVAULT_TESTING
/* Test builds only: shorten the 24 h retry window (ms). */
extern int64_t webhook_window_ms;
#endif

#endif

/* api_metrics.c - GET /v1/metrics (SPEC 8.5): admin or auditor, not
 * audited. The handler runs in the writer like every authenticated route
 * and samples what needs a transaction; the HTTP layer then answers with
 * metrics_render() (text/plain, Prometheus format 0.0.4). */
#include "api.h"
#include "audit.h"
#include "metrics.h"
#include "store.h"
#include "vault.h"

METRIC_GAUGE(m_audit_seq, "rsvault_audit_seq", "Sequence number of the newest audit event")
METRIC_GAUGE(m_sessions_open, "rsvault_sessions_open",
             "Active sessions (an expired one counts until the sweeper ends it)")
METRIC_GAUGE(m_store_health, "rsvault_store_health",
             "Storage state: 0 ok, 1 low (only the reserve is left), 2 failed")

int api_metrics(struct req *r, struct store_txn *t)
{
	uint64_t seq, open;
	int rc;

	if (r->query != NULL && r->query[0] != '\0')
		return req_fail(r, 400, "invalid_field", "this route takes no query parameters");
	if ((rc = audit_head_seq(t, &seq)) != STORE_OK)
		return rc;
	if ((rc = store_count(t, DB_TICKET_ACTIVE, &open)) != STORE_OK)
		return rc;
	metrics_set(&m_audit_seq, (int64_t)seq);
	metrics_set(&m_sessions_open, (int64_t)open);
	metrics_set(&m_store_health, (int64_t)store_health(r->v->store));
	r->status = 200;
	return 200;
}

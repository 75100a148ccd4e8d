/* route.c - the route table and the matcher. */
#include "route.h"

#include <string.h>

#include "api.h"
#include "api_admin.h"
#include "backup.h"
#include "crypto.h"
#include "notify.h"
#include "util.h"
#include "webhooks.h"

#define CUST (ROLE_CUSTOMER | ROLE_RESELLER)

static const struct route routes[] = {
    {"GET", "/v1/health", P_NONE, P_NONE, R_PUBLIC, 0, 0, NULL, api_health},
    {"GET", "/v1/metrics", P_NONE, P_NONE, R_NOAUDIT | R_METRICS, ROLE_ADMIN | ROLE_AUDITOR, 0,
     NULL, api_metrics},

    {"POST", "/v1/accounts", P_NONE, P_NONE, R_BODY, ROLE_ADMIN, 0, "account.create",
     api_account_create},
    {"POST", "/v1/accounts/{}/tokens", P_ACCOUNT, P_NONE, R_BODY, ROLE_ADMIN, 0, "account.token",
     api_account_token},
    {"DELETE", "/v1/accounts/{}/tokens", P_ACCOUNT, P_NONE, 0, ROLE_ADMIN, 0, "account.revoke",
     api_account_revoke},
    {"DELETE", "/v1/accounts/{}/tokens/{}", P_ACCOUNT, P_TOKEN_ID, 0, ROLE_ADMIN, 0,
     "account.revoke", api_account_revoke_token},
    {"POST", "/v1/accounts/{}/suspend", P_ACCOUNT, P_NONE, 0, ROLE_ADMIN, 0, "account.suspend",
     api_account_suspend},
    {"POST", "/v1/accounts/{}/reactivate", P_ACCOUNT, P_NONE, 0, ROLE_ADMIN, 0,
     "account.reactivate", api_account_reactivate},

    {"POST", "/v1/licenses", P_NONE, P_NONE, R_BODY, ROLE_ADMIN, 0, "license.create",
     api_license_create},
    {"GET", "/v1/licenses/{}", P_LICENSE, P_NONE, 0, ROLE_ADMIN, 0, "license.read",
     api_license_show},

    {"GET", "/v1/me", P_NONE, P_NONE, 0, ROLE_ANY, 0, "account.me", api_me},
    {"POST", "/v1/me/license", P_NONE, P_NONE, R_BODY, CUST, 0, "license.bind", api_me_license},

    {"POST", "/v1/tickets", P_NONE, P_NONE, R_BODY, CUST | ROLE_ADMIN, 0, "ticket.create",
     api_ticket_create},
    {"GET", "/v1/tickets", P_NONE, P_NONE, 0, ROLE_ANY, 0, "ticket.list", api_ticket_list},
    {"GET", "/v1/tickets/{}", P_SERVER_ID, P_NONE, R_TICKET, 0,
     REL_OWNER | REL_AGENT | REL_ADMIN | REL_AUDITOR, "ticket.read", api_ticket_show},
    {"POST", "/v1/tickets/{}/assign", P_SERVER_ID, P_NONE, R_TICKET | R_BODY | R_OPEN, 0, REL_ADMIN,
     "ticket.assign", api_ticket_assign},
    {"POST", "/v1/tickets/{}/close", P_SERVER_ID, P_NONE, R_TICKET | R_OPEN, 0,
     REL_OWNER | REL_AGENT | REL_ADMIN, "ticket.close", api_ticket_close},

    {"POST", "/v1/tickets/{}/credentials", P_SERVER_ID, P_NONE,
     R_TICKET | R_BODY | R_ELIGIBLE | R_OPEN, 0, REL_OWNER, "credential.create", api_cred_create},
    {"GET", "/v1/tickets/{}/credentials", P_SERVER_ID, P_NONE, R_TICKET, 0, REL_OWNER | REL_AGENT,
     "credential.list", api_cred_list},
    {"DELETE", "/v1/tickets/{}/credentials/{}", P_SERVER_ID, P_SERVER_ID, R_TICKET, 0,
     REL_OWNER | REL_ADMIN, "credential.delete", api_cred_delete},
    {"GET", "/v1/tickets/{}/credentials/{}/secret", P_SERVER_ID, P_SERVER_ID,
     R_TICKET | R_ELIGIBLE | R_NEEDSESS | R_OPEN, 0, REL_AGENT, "credential.read", api_cred_secret},
    {"POST", "/v1/tickets/{}/credentials/{}/rotated", P_SERVER_ID, P_SERVER_ID,
     R_TICKET | R_OPEN | R_OR_RECEIPT, 0, REL_OWNER, "credential.rotated", api_cred_rotated},

    {"POST", "/v1/tickets/{}/sessions", P_SERVER_ID, P_NONE,
     R_TICKET | R_BODY | R_ELIGIBLE | R_OPEN, 0, REL_AGENT, "session.open", api_session_open},
    {"GET", "/v1/tickets/{}/sessions", P_SERVER_ID, P_NONE, R_TICKET, 0,
     REL_OWNER | REL_AGENT | REL_ADMIN | REL_AUDITOR, "session.list", api_session_list},
    {"DELETE", "/v1/sessions/{}", P_SERVER_ID, P_NONE, R_SESSION, 0,
     REL_OWNER | REL_AGENT | REL_ADMIN, "session.end", api_session_end},
    {"POST", "/v1/sessions/{}/approve", P_SERVER_ID, P_NONE,
     R_SESSION | R_OR_RECEIPT | R_ELIGIBLE | R_OPEN, ROLE_GUEST, REL_OWNER, "session.approve",
     api_session_approve},
    {"POST", "/v1/sessions/{}/deny", P_SERVER_ID, P_NONE, R_SESSION | R_OR_RECEIPT | R_OPEN,
     ROLE_GUEST, REL_OWNER, "session.deny", api_session_deny},
    {"POST", "/v1/tickets/{}/approval", P_SERVER_ID, P_NONE,
     R_TICKET | R_BODY | R_OR_RECEIPT | R_OPEN, ROLE_GUEST, REL_OWNER, "ticket.approval",
     api_ticket_approval},

    {"POST", "/v1/tickets/{}/links", P_SERVER_ID, P_NONE, R_TICKET | R_BODY | R_ELIGIBLE | R_OPEN,
     0, REL_OWNER | REL_AGENT | REL_ADMIN, "link.create", api_link_create},
    {"GET", "/v1/tickets/{}/links", P_SERVER_ID, P_NONE, R_TICKET, 0,
     REL_OWNER | REL_AGENT | REL_ADMIN, "link.list", api_link_list},
    {"DELETE", "/v1/links/{}", P_SERVER_ID, P_NONE, R_LINKID, 0, REL_OWNER | REL_AGENT | REL_ADMIN,
     "link.revoke", api_link_revoke},
    {"GET", "/v1/link", P_NONE, P_NONE, R_LINK, ROLE_GUEST, 0, "link.open", api_link_open},
    {"POST", "/v1/link/credentials", P_NONE, P_NONE, R_LINK | R_BODY | R_ELIGIBLE, ROLE_GUEST, 0,
     "link.upload", api_link_upload},
    {"GET", "/v1/receipt", P_NONE, P_NONE, R_RECEIPT, ROLE_GUEST, 0, "receipt.view",
     api_receipt_view},
    {"DELETE", "/v1/receipt", P_NONE, P_NONE, R_RECEIPT, ROLE_GUEST, 0, "receipt.destroy",
     api_receipt_destroy},

    {"POST", "/v1/webhooks", P_NONE, P_NONE, R_BODY, ROLE_ADMIN, 0, "webhook.create",
     api_webhook_create},
    {"GET", "/v1/webhooks", P_NONE, P_NONE, 0, ROLE_ADMIN, 0, "webhook.list", api_webhook_list},
    {"DELETE", "/v1/webhooks/{}", P_SERVER_ID, P_NONE, 0, ROLE_ADMIN, 0, "webhook.delete",
     api_webhook_delete},
    {"GET", "/v1/webhooks/{}/deliveries", P_SERVER_ID, P_NONE, 0, ROLE_ADMIN, 0,
     "webhook.deliveries", api_webhook_deliveries},

    {"GET", "/v1/tickets/{}/audit", P_SERVER_ID, P_NONE, R_TICKET, 0,
     REL_OWNER | REL_ADMIN | REL_AUDITOR, "audit.ticket", api_audit_ticket},
    {"GET", "/v1/audit", P_NONE, P_NONE, 0, ROLE_AUDITOR, 0, "audit.list", api_audit_list},
    {"GET", "/v1/audit/checkpoint", P_NONE, P_NONE, 0, ROLE_AUDITOR, 0, "audit.checkpoint",
     api_audit_checkpoint},
    {"GET", "/v1/admin/keys", P_NONE, P_NONE, 0, ROLE_ADMIN, 0, "key.list", api_admin_keys},
    {"POST", "/v1/admin/rewrap", P_NONE, P_NONE, 0, ROLE_ADMIN, 0, "key.rewrap", api_admin_rewrap},
#ifdef RSVAULT_TESTING
    {"POST", "/v1/test/ticket-keys", P_NONE, P_NONE, R_BODY, ROLE_ADMIN, 0, "test.seed",
     api_test_seed_keys},
#endif
    {"GET", "/v1/audit/checkpoints", P_NONE, P_NONE, 0, ROLE_AUDITOR, 0, "audit.checkpoints",
     api_audit_checkpoints},

    /* administration (SPEC 8.6) */
    {"GET", "/v1/accounts", P_NONE, P_NONE, 0, ROLE_ADMIN, 0, "account.list", api_account_list},
    {"GET", "/v1/accounts/{}", P_ACCOUNT, P_NONE, 0, ROLE_ADMIN, 0, "account.show",
     api_account_show},
    {"GET", "/v1/licenses", P_NONE, P_NONE, 0, ROLE_ADMIN, 0, "license.list", api_license_list},
    {"PATCH", "/v1/licenses/{}", P_LICENSE, P_NONE, R_BODY, ROLE_ADMIN, 0, "license.update",
     api_license_update},
    {"POST", "/v1/licenses/{}/revoke", P_LICENSE, P_NONE, 0, ROLE_ADMIN, 0, "license.revoke",
     api_license_revoke},

    /* operating it (SPEC 8.5) */
    {"POST", "/v1/admin/backup", P_NONE, P_NONE, 0, ROLE_ADMIN, 0, "store.backup",
     api_admin_backup},
};

static int valid_license_key(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		int c = (unsigned char)s[n];
		if (n >= 128 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

static int valid_param(enum param_kind k, const char *s)
{
	switch (k) {
	case P_SERVER_ID:
		return util_valid_server_id(s);
	case P_ACCOUNT:
		return util_valid_account_id(s);
	case P_LICENSE:
		return valid_license_key(s);
	case P_TOKEN_ID:
		return crypto_valid_token_id(s);
	default:
		return 0;
	}
}

/* Match path against pattern; "{}" takes one non-empty segment. Returns 1
 * on a match (the segments copied into params), 0 otherwise. */
static int match(const char *pattern, const char *path, char params[2][REQ_PARAM_MAX], int *nparams)
{
	const char *p = pattern, *s = path;
	int n = 0;

	while (*p && *s) {
		if (p[0] == '{' && p[1] == '}') {
			size_t len = strcspn(s, "/");
			if (len == 0 || len >= REQ_PARAM_MAX || n >= 2)
				return 0;
			memcpy(params[n], s, len);
			params[n][len] = '\0';
			n++;
			s += len;
			p += 2;
		} else if (*p == *s) {
			p++;
			s++;
		} else {
			return 0;
		}
	}
	if (*p || *s)
		return 0;
	*nparams = n;
	return 1;
}

enum route_result route_match(struct req *r, const char *method, const char *path, char *allow,
                              size_t allowlen)
{
	char params[2][REQ_PARAM_MAX];
	int n = 0, path_seen = 0;
	size_t used = 0;

	allow[0] = '\0';
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const struct route *rt = &routes[i];
		if (!match(rt->pattern, path, params, &n))
			continue;
		if ((n > 0 && !valid_param(rt->p0, params[0])) ||
		    (n > 1 && !valid_param(rt->p1, params[1])))
			continue;
		if (strcmp(rt->method, method) != 0) {
			int w = snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "",
			                 rt->method);
			if (w > 0 && (size_t)w < allowlen - used)
				used += (size_t)w;
			path_seen = 1;
			continue;
		}
		r->route = rt;
		r->nparams = n;
		memcpy(r->params, params, sizeof params);
		return ROUTE_FOUND;
	}
	return path_seen ? ROUTE_BAD_METHOD : ROUTE_NOT_FOUND;
}

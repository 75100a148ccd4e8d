/* api_admin.h - the admin's account and license lists and license
 * changes (SPEC 8.6); handlers as in api.h. */
#ifndef RSVAULT_API_ADMIN_H
#define RSVAULT_API_ADMIN_H

#include "req.h"
#include "store.h"

int api_account_list(struct req *r, struct store_txn *t);
int api_account_show(struct req *r, struct store_txn *t);
int api_license_list(struct req *r, struct store_txn *t);
int api_license_update(struct req *r, struct store_txn *t);
int api_license_revoke(struct req *r, struct store_txn *t);

#endif

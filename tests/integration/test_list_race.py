#!/usr/bin/env python3
"""The credential list, the ticket list and the audit listings are read after
their allow event's commit (docs/decisions.md): a change committed in
between must not let a listing show what the caller may no longer see.

The server is a test build started with RSVAULT_TEST_LIST_DELAY_MS, which
holds every such listing for 1.5 s between its decision's commit and its
read. During that pause:
- the ticket is reassigned to another agent and the owner uploads a new
  credential: the first agent's listing must be refused (404, as the
  gauntlet would answer now) and must not carry the new label;
- the agent is suspended: 403 account_suspended (the credential list, the
  ticket list; an auditor's audit listing alike);
- nothing changes: the listing is answered 200 as always, for the agent and
  for the owner (whose relation a reassignment does not change)."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, uid  # noqa: E402

t = TAP()
DELAY_MS = 1500


def listing_during(v, w, token, change):
    """GET the ticket's credential list as token; run change() while the
    listing is held between its decision and its read."""
    out = {}

    def run():
        out["r"] = v.get(w.path + "/credentials", token)
    th = threading.Thread(target=run)
    t0 = time.monotonic()
    th.start()
    time.sleep(0.4)
    change()
    th.join(30)
    out["held"] = time.monotonic() - t0
    return out.get("r"), out["held"]


with Vault(env={"RSVAULT_TEST_LIST_DELAY_MS": str(DELAY_MS)}) as v:
    c = Core(v)
    cust = c.customer("pro")
    a, b = c.agent(), c.agent()

    # nothing changes: 200, the first credential listed
    w = c.world(cust, a)
    r, held = listing_during(v, w, a.token, lambda: None)
    t.ok(r is not None and r.status == 200 and
         [x["id"] for x in r.json["credentials"]] == [w.cid],
         "no change during the pause: the agent's list is 200 with the credential (%r)" % r)
    t.ok(held >= DELAY_MS / 1000.0 * 0.9,
         "the test build held the listing for its pause (%.2f s)" % held)

    # reassigned, and a credential uploaded for the new agent, during the pause
    late = uid("after-reassign")

    def reassign_and_upload():
        c.assign(w, b)
        c.cred(w, label=late)
    r, _ = listing_during(v, w, a.token, reassign_and_upload)
    t.ok(r is not None and r.status == 404 and r.code == "not_found",
         "reassigned before the listing was read: the old agent gets 404 not_found (%r)" % r)
    t.ok(r is not None and late.encode() not in r.body,
         "and the credential uploaded after the reassignment is not in the answer")
    r = v.get(w.path + "/credentials", b.token)
    t.ok(r.status == 200 and late in [x["label"] for x in r.json["credentials"]],
         "the new agent's list has it (%r)" % r)
    r = v.get(w.path + "/credentials", a.token)
    t.eq(r.status, 404, "the old agent's next listing is refused by the gauntlet itself")

    # the owner's listing while the ticket is reassigned: still 200
    def back_to_a():
        c.assign(w, a)
    r, _ = listing_during(v, w, cust.token, back_to_a)
    t.ok(r is not None and r.status == 200 and len(r.json["credentials"]) == 2,
         "the owner's listing during a reassignment: 200 with both credentials (%r)" % r)

    # the agent suspended during the pause
    w2 = c.world(cust, a)
    r, _ = listing_during(
        v, w2, a.token,
        lambda: c.suspend(a))
    t.ok(r is not None and r.status == 403 and r.code == "account_suspended",
         "suspended before the listing was read: 403 account_suspended (%r)" % r)
    c.reactivate(a)
    r, _ = listing_during(v, w2, a.token, lambda: None)
    t.eq(r.status if r is not None else None, 200, "reactivated: the agent's list is 200 again")

    # the ticket list and the audit listing, read the same way after their
    # decision: a suspension committed in between refuses them too
    def held(path, token, change):
        out = {}
        th = threading.Thread(target=lambda: out.setdefault("r", v.get(path, token)))
        th.start()
        time.sleep(0.4)
        change()
        th.join(30)
        return out.get("r")
    r = held("/v1/tickets", a.token, lambda: c.suspend(a))
    t.ok(r is not None and r.status == 403 and r.code == "account_suspended",
         "ticket list, agent suspended during the pause: 403 account_suspended (%r)" % r)
    c.reactivate(a)
    r = held("/v1/tickets", a.token, lambda: None)
    t.ok(r is not None and r.status == 200 and w2.tid in [x["id"] for x in r.json["tickets"]],
         "ticket list with no change: 200 with the agent's ticket")
    aud = c.auditor()
    r = held("/v1/audit?limit=5", aud.token, lambda: c.suspend(aud))
    t.ok(r is not None and r.status == 403 and r.code == "account_suspended",
         "audit listing, auditor suspended during the pause: 403 account_suspended (%r)" % r)
    c.reactivate(aud)
    r = held(w2.path + "/audit", cust.token, lambda: None)
    t.ok(r is not None and r.status == 200 and len(r.json["events"]) > 0,
         "the owner's ticket trail with no change: 200 with events")
t.done()

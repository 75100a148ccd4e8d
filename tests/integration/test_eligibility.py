#!/usr/bin/env python3
"""Eligibility for remote support (SPEC sections 1 and 4): license types and
priorities, recognition by email, binding by key (upgrade and downgrade),
several email matches, expiry, resellers and suspended owners. TAP on
stdout."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect, guarded, rfc3339  # noqa: E402

t = TAP()
PRIO = {"site": 1, "pro": 2, "plus": 3, "starter": 4, "free": 5, "trial": 5}


def upload(v, w, token=None, secret="el-secret"):
    return v.post(w.path + "/credentials", token or w.owner.token,
                  {"label": "el", "kind": "rdp", "secret": secret})


def license_types(v, c):
    for lt in ("site", "pro", "plus", "starter"):
        p = c.customer(lt)
        ag = c.agent()
        me = c.me(p)
        t.eq((me["eligible"], me["priority"], (me["license"] or {}).get("type"),
              (me["license"] or {}).get("commercial")),
             (True, PRIO[lt], lt, True), "%s: eligible, priority %d, commercial" % (lt, PRIO[lt]))
        w = c.ticket(p)
        t.eq(w.ticket["priority"], PRIO[lt], "%s: the ticket has priority %d" % (lt, PRIO[lt]))
        r = upload(v, w)
        expect(t, r, 201, name="%s: upload" % lt)
        w.cid, w.secret = r.json["id"], "el-secret"
        c.assign(w, ag)
        r = v.post(w.path + "/sessions", ag.token)
        expect(t, r, 201, name="%s: session opens" % lt)
        w.sid = (r.json or {}).get("id")
        r = c.read_secret(w)
        expect(t, r, 200, name="%s: secret read" % lt)
    for lt in ("free", "trial"):
        p = c.customer(lt)
        ag = c.agent()
        me = c.me(p)
        t.eq((me["eligible"], me["priority"], (me["license"] or {}).get("type"),
              (me["license"] or {}).get("commercial")),
             (False, 5, lt, False), "%s: not eligible, priority 5, not commercial" % lt)
        r = v.post("/v1/tickets", p.token, {"subject": "%s user needs help" % lt})
        expect(t, r, 201, name="%s: may still open a ticket" % lt)
        t.eq(r.json.get("priority"), 5, "%s: the ticket has priority 5" % lt)
        from rsvcore import World
        w = World(p, r.json["id"])
        r = upload(v, w)
        expect(t, r, 403, "license_required", "%s: upload refused" % lt)
        msg = ((r.json or {}).get("error") or {}).get("message", "")
        t.ok("license" in msg.lower(), "%s: the refusal message mentions the license (%r)" % (lt, msg))
        c.assign(w, ag)
        expect(t, v.post(w.path + "/sessions", ag.token), 403, "license_required",
               "%s: the agent cannot open a session" % lt)
        expect(t, v.get(w.path + "/credentials", p.token), 200,
               name="%s: owner may still list (empty) credentials" % lt)
    p = c.customer(None)
    me = c.me(p)
    t.eq((me["license"], me["eligible"], me["priority"]), (None, False, 5),
         "no license at all: license null, not eligible, priority 5")
    w = c.ticket(p)
    expect(t, upload(v, w), 403, "license_required", "no license: upload refused")


def by_email(v, c):
    p = c.account("customer", email="Bob.Smith@Example.ORG")
    c.license("pro", "bob.smith@example.org")
    me = c.me(p)
    t.eq((me["eligible"], me["priority"]), (True, 2),
         "mixed-case account email matches a lower-case license email")
    q = c.account("customer", email="carol@example.net")
    c.license("site", "CAROL@EXAMPLE.NET")
    me = c.me(q)
    t.eq((me["eligible"], me["priority"]), (True, 1),
         "lower-case account email matches an upper-case license email")
    r = c.account("customer", email="dave@example.net")
    c.license("site", "dave@example.net.evil")
    c.license("site", "xdave@example.net")
    me = c.me(r)
    t.eq((me["license"], me["eligible"]), (None, False), "no match on a mere prefix or suffix")


def binding(v, c):
    p = c.customer(None)
    ag = c.agent()
    r = v.post("/v1/me/license", p.token, {"key": "NO-SUCH-LICENSE-KEY"})
    expect(t, r, 404, "not_found", "binding an unknown key")
    t.eq(c.me(p)["eligible"], False, "an unknown key changes nothing")
    pro = c.license("pro", "someone-else@example.test")
    r = v.post("/v1/me/license", p.token, {"key": pro})
    expect(t, r, 200, name="binding a pro key delivered to another email")
    t.eq((r.json.get("id"), r.json.get("eligible"), r.json.get("priority"),
          (r.json.get("license") or {}).get("key")), (p.id, True, 2, pro),
         "bind answers me: the bound pro license, eligible, priority 2")

    # An applied key wins over an email match.
    q = c.customer("site")
    starter = c.license("starter", "elsewhere@example.test")
    r = v.post("/v1/me/license", q.token, {"key": starter})
    expect(t, r, 200, name="a site-by-email customer binds a starter key")
    t.eq((r.json["priority"], r.json["license"]["key"]), (4, starter),
         "the applied starter key wins over the site email match")
    w = c.world(q, ag)
    t.eq(v.get(w.path, q.token).json["priority"], 4, "ticket priority 4 with the starter key")

    # An applied key wins also when it is no longer valid.
    x = c.customer("site")
    expired = c.license("pro", "elsewhere@example.test", valid_until=rfc3339(time.time() - 60))
    r = v.post("/v1/me/license", x.token, {"key": expired})
    expect(t, r, 200, name="a site-by-email customer binds an expired pro key")
    t.eq((r.json["eligible"], r.json["priority"], r.json["license"]["key"]), (False, 5, expired),
         "the applied (expired) key wins over the email match: not eligible, priority 5")

    # Upgrade: starter -> plus raises the priority at once.
    plus = c.license("plus", "elsewhere@example.test")
    r = v.post("/v1/me/license", q.token, {"key": plus})
    expect(t, r, 200, name="binding a plus key replaces the starter binding")
    t.eq((r.json["priority"], r.json["license"]["key"], r.json["eligible"]), (3, plus, True),
         "me: plus, priority 3")
    t.eq(v.get(w.path, q.token).json["priority"], 3, "the open ticket is priority 3 at once")
    row = [x for x in v.get("/v1/tickets", v.admin).json["tickets"] if x["id"] == w.tid]
    t.eq([x["priority"] for x in row], [3], "the admin's list shows priority 3 too")

    # Downgrade to a free key during an active session.
    sid = c.session(w)
    expect(t, c.read_secret(w), 200, name="agent reads before the downgrade")
    free = c.license("free", "elsewhere@example.test")
    r = v.post("/v1/me/license", q.token, {"key": free})
    expect(t, r, 200, name="binding a free key")
    t.eq((r.json["eligible"], r.json["priority"], r.json["license"]["type"]),
         (False, 5, "free"), "me after the downgrade: not eligible, priority 5")
    t.eq(c.session_state(w, sid), "ended", "the downgrade ended the active session")
    expect(t, c.read_secret(w), 403, "license_required", "secret read after the downgrade")
    expect(t, v.post(w.path + "/sessions", ag.token), 403, "license_required",
           "session open after the downgrade")
    expect(t, upload(v, w, q.token), 403, "license_required", "upload after the downgrade")
    t.eq(c.cred_ids(w), [w.cid], "the credential is kept (only access stops)")

    # Binding back a commercial key makes it work again (new session).
    r = v.post("/v1/me/license", q.token, {"key": plus})
    expect(t, r, 200, name="binding the plus key again")
    t.eq(r.json["eligible"], True, "eligible again")
    expect(t, c.read_secret(w), 403, "session_expired", "the ended session stays ended")
    c.session(w)
    expect(t, c.read_secret(w), 200, name="a new session reads again")


def several_matches(v, c):
    p = c.customer(None)
    past = rfc3339(time.time() - 3600)
    c.license("starter", p.email)
    plus = c.license("plus", p.email)
    c.license("free", p.email)
    c.license("site", p.email, valid_until=past)
    me = c.me(p)
    t.eq((me["eligible"], me["priority"], me["license"]["key"]), (True, 3, plus),
         "several matches: the valid one with the best priority (plus; the site one expired)")
    pro = c.license("pro", p.email, valid_until=rfc3339(time.time() + 86400))
    me = c.me(p)
    t.eq((me["priority"], me["license"]["key"]), (2, pro),
         "a new, better valid match counts at once")
    q = c.customer(None)
    c.license("free", q.email)
    c.license("trial", q.email)
    c.license("pro", q.email, valid_until=past)
    me = c.me(q)
    t.eq((me["eligible"], me["priority"]), (False, 5),
         "only free/trial valid and the pro expired: not eligible, priority 5")


def expiry(v, c):
    ag = c.agent()
    until = time.time() + 2.0
    p = c.customer("pro", valid_until=rfc3339(until))
    me = c.me(p)
    t.eq((me["eligible"], me["priority"]), (True, 2), "before valid_until: eligible, priority 2")
    w = c.world(p, ag, session=True)
    expect(t, c.read_secret(w), 200, name="before valid_until: secret read")
    time.sleep(max(0.0, until - time.time()) + 0.3)
    me = c.me(p)
    t.eq((me["eligible"], me["priority"]), (False, 5), "after valid_until: not eligible, priority 5")
    expect(t, upload(v, w), 403, "license_required", "after expiry: upload")
    expect(t, c.read_secret(w), 403, "license_required", "after expiry: secret read in the session")
    expect(t, v.post(w.path + "/sessions", ag.token), 403, "license_required",
           "after expiry: session open")
    t.eq(v.get(w.path, p.token).json["priority"], 5, "after expiry: ticket priority 5")
    state = None
    deadline = time.time() + 3
    while time.time() < deadline:
        state = c.session_state(w)
        if state != "active":
            break
        time.sleep(0.2)
    t.eq(state, "ended", "the session of an expired owner ends (state ended)")


def resellers(v, c):
    ag = c.agent()
    r0 = c.reseller()
    me = c.me(r0)
    t.eq((me["license"], me["eligible"], me["priority"]), (None, True, 4),
         "reseller without a license: eligible, priority 4")
    w = c.world(r0, ag, session=True)
    t.eq(v.get(w.path, r0.token).json["priority"], 4, "reseller's ticket priority 4")
    expect(t, c.read_secret(w), 200, name="agent reads a reseller's secret")
    r1 = c.reseller("site")
    me = c.me(r1)
    t.eq((me["eligible"], me["priority"]), (True, 1), "reseller with a site license: priority 1")
    r2 = c.reseller("free")
    me = c.me(r2)
    t.eq((me["eligible"], me["priority"]), (True, 4), "reseller with a free license: priority 4")
    r3 = c.reseller("plus")
    t.eq(c.me(r3)["priority"], 3, "reseller with a plus license: priority 3")
    free = c.license("trial", "x-" + r0.email)
    r = v.post("/v1/me/license", r0.token, {"key": free})
    expect(t, r, 200, name="reseller binds a trial key")
    t.eq((r.json["eligible"], r.json["priority"]), (True, 4), "a reseller stays eligible, priority 4")
    t.eq(c.session_state(w), "active", "the reseller's session goes on")


def suspended_owner(v, c):
    ag = c.agent()
    p = c.customer("site")
    w = c.world(p, ag, session=True)
    w2 = c.world(p, ag)
    c.suspend(p)
    expect(t, v.post(w2.path + "/sessions", ag.token), 403, "license_required",
           "owner suspended: the agent's session open")
    expect(t, c.read_secret(w), 403, "license_required", "owner suspended: secret read")
    t.eq(c.session_state(w), "ended", "suspending the owner ended the active session")
    c.reactivate(p)
    expect(t, v.post(w2.path + "/sessions", ag.token), 201, name="owner reactivated: session opens")
    rs = c.reseller()
    w3 = c.world(rs, ag)
    c.suspend(rs)
    expect(t, v.post(w3.path + "/sessions", ag.token), 403, "license_required",
           "reseller suspended: the agent's session open")


with Vault() as v:
    c = Core(v)
    for name, fn in (("license types", license_types), ("by email", by_email),
                     ("binding", binding), ("several matches", several_matches),
                     ("expiry", expiry), ("resellers", resellers),
                     ("suspended owner", suspended_owner)):
        guarded(t, name, fn, v, c)
t.done()

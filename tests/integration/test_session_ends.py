#!/usr/bin/env python3
"""Sessions ended as a side effect (SPEC sections 4 and 5; issue 9 item 9):
every active session that something other than DELETE /v1/sessions/{sid}
ends gets its own session.end event naming the session and its ticket,
written in the same transaction as the change that ended it (so it comes
right before that request's own event and carries its request id), with
the principal whose request caused it as actor (null for the periodic
job) and the reason:

  reassigned         POST /v1/tickets/{tid}/assign (another agent)
  ticket_closed      POST /v1/tickets/{tid}/close (owner, agent or admin)
  account_suspended  POST /v1/accounts/{id}/suspend (the agent or the owner)
  license_required   POST /v1/me/license with a key that leaves the owner
                     ineligible; the owner's license running out (sweeper)

A session ended with DELETE keeps one event (the request's own); a session
whose time runs out gets none (it reads "expired"). At the end the index
of active sessions (table ticket_active) is checked against what is
active. TAP on stdout."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect, guarded, mdb_dump, rfc3339  # noqa: E402

t = TAP()


def all_events(v, aud, query, limit=1000):
    """Every event matching query, following next_seq to the end (a page
    scans at most 50 * limit events; one that found fewer than limit and
    scanned fewer than that reached the end: each listing adds an event of
    its own, so next_seq alone never stops moving)."""
    out, after = [], 0
    for _ in range(1000):
        r = v.get("/v1/audit?%s&after_seq=%d&limit=%d" % (query, after, limit), aud.token)
        if r.status != 200:
            raise RuntimeError("audit list: %d %r" % (r.status, r.body[:200]))
        out += r.json["events"]
        nxt = r.json["next_seq"]
        if len(r.json["events"]) < limit and nxt - after < 50 * limit:
            break
        after = nxt
    return out


def ends_of(v, st, sid, tid):
    return [e for e in all_events(v, st["aud"], "action=session.end&ticket=" + tid)
            if e.get("session") == sid]


def check_side_end(v, c, st, name, w, sid, resp, actor, role, reason, action):
    """sid was active and the request answered by resp ended it."""
    t.eq(c.session_state(w, sid), "ended", "%s: the session is ended" % name)
    evs = ends_of(v, st, sid, w.tid)
    if not t.eq(len(evs), 1, "%s: exactly one session.end event names the session" % name):
        return
    e = evs[0]
    t.eq((e["actor"], e["role"], e["ticket"], e["session"], e["outcome"], e["reason"]),
         (actor, role, w.tid, sid, "allow", reason),
         "%s: actor %s, ticket, session, allow, reason %s" % (name, actor, reason))
    if resp is None:
        t.eq((e["request_id"], e["ip"]), (None, None),
             "%s: a system event (no request id, no ip)" % name)
        return
    rid = resp.header("X-Request-Id")
    t.eq(e["request_id"], rid, "%s: it carries the request id of the causing request" % name)
    mine = [x for x in all_events(v, st["aud"], "action=" + action) if x["request_id"] == rid]
    t.ok(len(mine) == 1 and mine[0]["seq"] > e["seq"] and mine[0]["outcome"] == "allow",
         "%s: written with the %s it came from (same transaction, before its event)"
         % (name, action))


def reassign(v, c, st):
    owner, a1, a2 = st["owner"], st["a1"], st["a2"]
    w = c.world(owner, a1, session=True)
    r = v.post(w.path + "/assign", v.admin, {"agent": a2.id})
    expect(t, r, 200, name="admin reassigns a ticket with an active session")
    check_side_end(v, c, st, "reassign", w, w.sid, r, "admin", "admin", "reassigned",
                   "ticket.assign")
    r = v.post(w.path + "/assign", v.admin, {"agent": a2.id})
    expect(t, r, 200, name="assigning the same agent again")
    t.eq(len(ends_of(v, st, w.sid, w.tid)), 1, "adds no session.end event")
    c.session(w, agent=a2)
    st["keep"].append(w)  # left active: it must stay in the index


def close(v, c, st):
    owner, a1 = st["owner"], st["a1"]
    for who, p, role in (("owner", owner, "customer"), ("agent", a1, "agent"),
                         ("admin", None, "admin")):
        w = c.world(owner, a1, session=True)
        r = v.post(w.path + "/close", p.token if p else v.admin)
        expect(t, r, 200, name="the %s closes a ticket with an active session" % who)
        check_side_end(v, c, st, "close by " + who, w, w.sid, r, p.id if p else "admin",
                       role, "ticket_closed", "ticket.close")
    w = c.world(owner, a1)
    r = v.post(w.path + "/close", owner.token)
    expect(t, r, 200, name="closing a ticket without a session")
    t.eq(all_events(v, st["aud"], "action=session.end&ticket=" + w.tid), [],
         "writes no session.end event")


def suspend_agent(v, c, st):
    owner = st["owner"]
    ag = c.agent()
    ws = [c.world(owner, ag, session=True) for _ in range(2)]
    r = v.post("/v1/accounts/%s/suspend" % ag.id, v.admin)
    expect(t, r, 200, name="admin suspends an agent with sessions on two tickets")
    for i, w in enumerate(ws):
        check_side_end(v, c, st, "agent suspended (ticket %d)" % (i + 1), w, w.sid, r,
                       "admin", "admin", "account_suspended", "account.suspend")
    c.reactivate(ag)


def suspend_owner(v, c, st):
    owner, a1 = c.customer("pro"), st["a1"]
    w = c.world(owner, a1, session=True)
    r = v.post("/v1/accounts/%s/suspend" % owner.id, v.admin)
    expect(t, r, 200, name="admin suspends a ticket owner")
    check_side_end(v, c, st, "owner suspended", w, w.sid, r, "admin", "admin",
                   "account_suspended", "account.suspend")


def bind_ineligible(v, c, st):
    owner, a1 = c.customer("pro"), st["a1"]
    w = c.world(owner, a1, session=True)
    trial = c.license("trial", owner.email)
    r = v.post("/v1/me/license", owner.token, {"key": trial})
    expect(t, r, 200, name="the owner applies a trial key")
    t.eq((r.json or {}).get("eligible"), False, "which leaves them ineligible")
    check_side_end(v, c, st, "license bound", w, w.sid, r, owner.id, "customer",
                   "license_required", "license.bind")


def license_expires(v, c, st):
    a1 = st["a1"]
    owner = c.customer("pro", valid_until=rfc3339(time.time() + 3))
    w = c.world(owner, a1, session=True)
    expect(t, c.read_secret(w), 200, name="read while the license is valid")
    deadline = time.time() + 15
    while time.time() < deadline and c.session_state(w) != "ended":
        time.sleep(0.3)
    check_side_end(v, c, st, "license ran out", w, w.sid, None, None, None,
                   "license_required", None)


def explicit_and_expiry(v, c, st):
    owner, a1 = st["owner"], st["a1"]
    w = c.world(owner, a1, session=True)
    r = v.delete("/v1/sessions/" + w.sid, a1.token)
    expect(t, r, 204, name="the agent ends a session")
    evs = ends_of(v, st, w.sid, w.tid)
    t.eq([(e["actor"], e["reason"], e["request_id"]) for e in evs],
         [(a1.id, None, r.header("X-Request-Id"))],
         "DELETE: one session.end event, the request's own")
    w2 = c.world(owner, a1)
    c.session(w2, ttl=1)
    time.sleep(2.5)
    t.eq(c.session_state(w2), "expired", "a 1 s session reads expired")
    t.eq(ends_of(v, st, w2.sid, w2.tid), [], "running out of time writes no session.end")
    st["expired"] = w2


def index_in_sync(v, c, st):
    """After all of that the index holds exactly the active sessions."""
    w = c.world(st["owner"], st["a1"], session=True)
    st["keep"].append(w)
    v.stop()
    got = {k.decode(): val.decode() for k, val in mdb_dump(v.data, "ticket_active")}
    v.start()
    t.eq(got, {x.tid: x.sid for x in st["keep"]},
         "the index names exactly the sessions still active (ended and expired ones left it)")


def main():
    with Vault() as v:
        c = Core(v)
        st = {"owner": c.customer("pro"), "a1": c.agent(), "a2": c.agent(),
              "aud": c.auditor(), "keep": []}
        for name, fn in (("reassign", reassign), ("close", close),
                         ("suspend agent", suspend_agent), ("suspend owner", suspend_owner),
                         ("bind ineligible", bind_ineligible),
                         ("license expires", license_expires),
                         ("explicit end and expiry", explicit_and_expiry),
                         ("index in sync", index_in_sync)):
            guarded(t, name, fn, v, c, st)
    t.done()


main()

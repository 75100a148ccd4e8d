#!/usr/bin/env python3
"""Approval, dual control (SPEC 8.3, issue 12 item 2): the ticket's
"approval" mode (set at creation, raised or lowered by the owner, raised
by a receipt), sessions that wait for the owner ("pending") and are
approved ("active", time starting then) or denied ("denied") by the
owner's token (the whole ticket) or a receipt (its own credential only),
pending sessions that expire after --approval-timeout, active ones whose
time runs out (one session.expire event each), every error of the read
rules, one pending-or-active session per ticket, lowering the mode while
a session is pending or active (409), whatever ends a session ending a
pending one, the owner's ticket trail showing further tokens minted for
the owner, the client's commands, and races run many times: approval
racing the approval timeout, reads racing a deny and an approval. Every
step is checked in the audit log. TAP on stdout."""
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault, binpath  # noqa: E402
from rsvcore import Core, World, all_events, expect, guarded, parse_time, uid  # noqa: E402

t = TAP()
TIMEOUT_S = 2   # --approval-timeout of the vault that tests timing out
RACE_ROUNDS = int(os.environ.get("RSVAULT_APPROVAL_RACE_ROUNDS", "40"))
# lanes the approve-versus-timeout rounds run in at once (each on its own ticket)
RACE_LANES = 8

SREQ = ("session_required",)


def receipt_h(cap):
    return {"Authorization": "Receipt %s.%s" % cap}


def cap_of(url):
    frag = url.split("#", 1)[1]
    rid, sec = frag.split(".", 1)
    return rid, sec


def approval_ticket(c, owner, agent, mode="owner", creds=1):
    """A ticket with the given approval mode, creds credentials by the
    owner and the agent assigned."""
    r = c._need(c.v.post("/v1/tickets", owner.token, {"subject": uid("appr"), "approval": mode}),
                201, "ticket with approval " + mode)
    w = World(owner, r.json["id"])
    w.ticket = r.json
    w.cids = [c.cred(w) for _ in range(creds)]
    c.assign(w, agent)
    return w


def receipt_for(c, w, who=None):
    """Upload one credential through a link: (credential id, receipt cap)."""
    v = c.v
    r = c._need(v.post(w.path + "/links", (who or w.owner).token, None), 201, "link")
    lcap = cap_of(r.json["url"])
    r = c._need(v.post("/v1/link/credentials",
                       body={"label": uid("rc"), "kind": "rdp", "secret": "pw-" + uid("s")},
                       headers={"Authorization": "Link %s.%s" % lcap}), 201, "upload by link")
    return r.json["id"], cap_of(r.json["receipt"])


def open_session(c, w, ttl=None, agent=None):
    r = c.v.post(w.path + "/sessions", (agent or w.agent).token,
                 {"ttl_s": ttl} if ttl else None)
    if r.status != 201:
        raise RuntimeError("open session: %r" % r)
    return r.json


def read(c, w, sid, cid=None, token=None):
    return c.read_secret(w, sid=sid, cid=cid or w.cids[0], token=token)


def state_becomes(c, w, sid, want, limit):
    """Poll the session's state until it is want (True) or limit seconds
    have passed (False): a wait for the sweeper that ends as soon as it
    has acted, instead of a fixed sleep sized for the slowest machine."""
    deadline = time.time() + limit
    while True:
        if c.session_state(w, sid) == want:
            return True
        if time.time() > deadline:
            return False
        time.sleep(0.1)


def evs_of(v, aud, sid=None, tid=None):
    return [e for e in all_events(v, aud.token)
            if (sid is None or e["session"] == sid) and (tid is None or e["ticket"] == tid)]


# ------------------------------------------------------------------ checks

def ticket_mode(v, c, aud):
    o, ag = c.customer("pro"), c.agent()
    r = v.post("/v1/tickets", o.token, {"subject": "plain"})
    expect(t, r, 201, name="ticket without approval")
    t.eq(r.json.get("approval"), "none", "approval defaults to none")
    tid = r.json["id"]
    r = v.post("/v1/tickets", o.token, {"subject": "dual", "approval": "owner"})
    expect(t, r, 201, name="ticket with approval owner")
    t.eq(r.json.get("approval"), "owner", "the ticket view shows approval owner")
    tid2 = r.json["id"]
    t.eq(v.get("/v1/tickets/" + tid2, o.token).json.get("approval"), "owner",
         "GET /v1/tickets/{tid} shows it")
    lst = {x["id"]: x for x in v.get("/v1/tickets", o.token).json["tickets"]}
    t.ok(lst[tid]["approval"] == "none" and lst[tid2]["approval"] == "owner",
         "the ticket list shows each ticket's mode")
    for bad in ("Owner", "", "admin", 1, True, ["owner"], {"m": 1},
                "none ", "o" * 5000, "\u202eowner", "owner\n"):
        r = v.post("/v1/tickets", o.token, {"subject": "bad", "approval": bad})
        expect(t, r, 400, "invalid_field", "approval %r refused" % (bad if len(str(bad)) < 20
                                                                    else "long",))
    r = v.post("/v1/tickets", o.token, {"subject": "nul", "approval": "owner\u0000"})
    expect(t, r, 400, "invalid_json", "approval with a NUL: the body is refused")
    r = v.post("/v1/tickets", o.token,
               raw=b'{"subject":"dup","approval":"none","approval":"owner"}')
    expect(t, r, 400, "invalid_json", "approval given twice: the body is refused")
    r = v.post("/v1/tickets", v.admin, {"subject": "by admin", "owner": o.id,
                                        "approval": "owner"})
    expect(t, r, 201, name="an admin's ticket for the owner with approval owner")
    t.eq(r.json.get("approval"), "owner", "... has it")

    # the mode route
    w = World(o, tid)
    c.assign(w, ag)
    path = w.path + "/approval"
    expect(t, v.post(path, o.token, {"mode": "owner"}), 200, name="owner raises the mode")
    t.eq(v.get(w.path, o.token).json.get("approval"), "owner", "the mode is owner now")
    r = v.post(path, o.token, {"mode": "owner"})
    expect(t, r, 200, name="raising to the same mode")
    expect(t, v.post(path, o.token, {"mode": "none"}), 200,
           name="owner lowers it with no session")
    t.eq(v.get(w.path, o.token).json.get("approval"), "none", "the mode is none again")
    other = c.customer("pro")
    expect(t, v.post(path, v.admin, {"mode": "owner"}), 403, "forbidden", "admin")
    expect(t, v.post(path, ag.token, {"mode": "owner"}), 403, "forbidden", "assigned agent")
    expect(t, v.post(path, aud.token, {"mode": "owner"}), 403, "forbidden", "auditor")
    expect(t, v.post(path, other.token, {"mode": "owner"}), 404, "not_found", "another customer")
    expect(t, v.post(path, None, {"mode": "owner"}), 401, "unauthenticated", "no token")
    for body in ({}, {"mode": "both"}, {"mode": None}, {"mode": 2}, {"mode": "owner", "x": 1},
                 None):
        expect(t, v.post(path, o.token, body), 400, "invalid_field", "mode body %r" % (body,))
    ev = [e for e in evs_of(v, aud, tid=tid) if e["action"] == "ticket.approval"]
    allow = [e for e in ev if e["outcome"] == "allow"]
    t.eq([e["target"] for e in allow], ["owner", "owner", "none"],
         "ticket.approval events name the new mode in target")
    t.ok(all(e["actor"] == o.id for e in allow), "... with the owner as actor")
    deny = [(e["actor"], e["reason"]) for e in ev if e["outcome"] == "deny"]
    t.ok(("admin", "forbidden") in deny and (ag.id, "forbidden") in deny,
         "refusals are audited too")

    # lowering while a session is pending, then active: 409
    expect(t, v.post(path, o.token, {"mode": "owner"}), 200, name="raise again")
    s = open_session(c, w)
    expect(t, v.post(path, o.token, {"mode": "none"}), 409, "conflict",
           "lowering while a session is pending")
    expect(t, v.post("/v1/sessions/%s/approve" % s["id"], o.token), 200, name="approve")
    expect(t, v.post(path, o.token, {"mode": "none"}), 409, "conflict",
           "lowering while a session is active")
    expect(t, v.post(path, o.token, {"mode": "owner"}), 200,
           name="raising (to the same mode) while active is allowed")
    expect(t, v.delete("/v1/sessions/" + s["id"], ag.token), 204, name="agent ends it")
    expect(t, v.post(path, o.token, {"mode": "none"}), 200, name="lowering after the end")
    # raising while a session is active leaves that session alone
    s = open_session(c, w)
    t.eq(s["state"], "active", "mode none: a session is active at once")
    expect(t, v.post(path, o.token, {"mode": "owner"}), 200, name="raise while active")
    expect(t, read(c, w, s["id"], cid=c.cred(w)), 200, name="the active session still reads")
    v.delete("/v1/sessions/" + s["id"], ag.token)
    c._need(v.post(w.path + "/close", o.token), 200, "close")
    expect(t, v.post(path, o.token, {"mode": "owner"}), 409, "conflict", "closed ticket")


def state_machine(v, c, aud):
    o, ag, ag2 = c.customer("pro"), c.agent(), c.agent()
    w = approval_ticket(c, o, ag, creds=2)
    before = time.time()
    s = open_session(c, w, ttl=600)
    sid = s["id"]
    t.eq(s["state"], "pending", "open with approval owner: state pending")
    t.ok(s["opened_at"] is None and s["expires_at"] is None,
         "opened_at and expires_at are null while pending")
    t.ok(s["requested_at"] is not None and
         abs(parse_time(s["requested_at"]) - before) < 30, "requested_at is set")
    t.eq(c.session_state(w, sid), "pending", "the listing says pending")
    expect(t, v.post(w.path + "/sessions", ag.token), 409, "conflict",
           "a second session while one is pending")

    # the read rules with a pending session
    expect(t, read(c, w, sid), 403, "approval_pending", "own pending session")
    expect(t, read(c, w, sid, cid=w.cids[1]), 403, "approval_pending",
           "own pending session, other credential")
    expect(t, read(c, w, sid, token=ag2.token), 404, "not_found",
           "an agent not assigned (no relation)")

    # who may decide
    ap = "/v1/sessions/%s/approve" % sid
    dn = "/v1/sessions/%s/deny" % sid
    for who, tok, want in (("the session's agent", ag.token, (403, "forbidden")),
                           ("admin", v.admin, (403, "forbidden")),
                           ("auditor", aud.token, (403, "forbidden")),
                           ("another customer", c.customer("pro").token, (404, "not_found")),
                           ("an unassigned agent", ag2.token, (404, "not_found")),
                           ("no token", None, (401, "unauthenticated"))):
        expect(t, v.post(ap, tok), want[0], want[1], "approve by " + who)
        expect(t, v.post(dn, tok), want[0], want[1], "deny by " + who)
    expect(t, v.post("/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA/approve", o.token), 404, "not_found",
           "approve an unknown session")
    expect(t, v.post(ap, o.token, {"x": 1}), 400, "invalid_field", "approve takes no body")
    t.eq(c.session_state(w, sid), "pending", "still pending after all that")

    # approve: the time starts now (a second after the request, at least)
    time.sleep(max(0.0, parse_time(s["requested_at"]) + 1.1 - time.time()))
    r = v.post(ap, o.token)
    expect(t, r, 200, name="the owner approves")
    j = r.json
    t.eq(j.get("state"), "active", "approved: active")
    t.ok(j.get("opened_at") and parse_time(j["opened_at"]) >= parse_time(s["requested_at"]) + 1,
         "opened_at is the approval's time, not the request's")
    t.ok(abs(parse_time(j["expires_at"]) - parse_time(j["opened_at"]) - 600) < 0.01,
         "expires_at = opened_at + ttl_s")
    t.ok(j.get("decided_by") == o.id and j.get("credential") is None,
         "decided by the owner, for the whole ticket")
    expect(t, read(c, w, sid), 200, name="read after approval")
    expect(t, read(c, w, sid, cid=w.cids[1]), 200, name="the owner's approval covers every credential")
    expect(t, v.post(ap, o.token), 409, "conflict", "approving an active session")
    expect(t, v.post(dn, o.token), 409, "conflict", "denying an active session")
    expect(t, v.post(w.path + "/sessions", ag.token), 409, "conflict",
           "a second session while one is active")
    expect(t, v.delete("/v1/sessions/" + sid, ag.token), 204, name="agent ends it")
    expect(t, v.post(ap, o.token), 409, "conflict", "approving an ended session")
    expect(t, read(c, w, sid), 403, "session_expired", "own ended session")

    # deny
    s2 = open_session(c, w)["id"]
    r = v.post("/v1/sessions/%s/deny" % s2, o.token)
    expect(t, r, 200, name="the owner denies")
    t.eq(r.json.get("state"), "denied", "denied")
    t.eq(c.session_state(w, s2), "denied", "the listing says denied")
    expect(t, read(c, w, s2), 403, "session_expired", "own denied session")
    expect(t, v.post("/v1/sessions/%s/approve" % s2, o.token), 409, "conflict",
           "approving a denied session")
    expect(t, v.post("/v1/sessions/%s/deny" % s2, o.token), 409, "conflict",
           "denying it again")
    expect(t, v.delete("/v1/sessions/" + s2, ag.token), 204, name="ending a denied session")
    t.eq(c.session_state(w, s2), "denied", "... leaves it denied")

    # the agent and the owner may withdraw a pending request: ended
    s3 = open_session(c, w)["id"]
    expect(t, v.delete("/v1/sessions/" + s3, ag.token), 204, name="the agent withdraws")
    t.eq(c.session_state(w, s3), "ended", "a withdrawn request is ended")
    s4 = open_session(c, w)["id"]
    expect(t, v.delete("/v1/sessions/" + s4, o.token), 204, name="the owner ends a pending one")
    t.eq(c.session_state(w, s4), "ended", "... ended")

    # another agent's session: session_required
    s5 = open_session(c, w)["id"]
    c.assign(w, ag2)
    t.eq(c.session_state(w, s5), "ended", "reassignment ends the pending session")
    expect(t, read(c, w, s5, token=ag2.token), 403, "session_required",
           "the new agent with the old agent's session")
    expect(t, v.post("/v1/sessions/%s/approve" % s5, o.token), 409, "conflict",
           "approving a session whose agent is no longer assigned")

    # the events of every step
    ev = evs_of(v, aud, tid=w.tid)
    mine = [(e["action"], e["outcome"], e["reason"], e["actor"]) for e in ev if e["session"] == sid]
    want = [("session.open", "allow", None, ag.id)]
    t.ok(mine[0] == want[0], "session.open (allow) for the pending request")
    t.ok(("credential.read", "deny", "approval_pending", ag.id) in mine,
         "a read of a pending session: deny approval_pending")
    t.ok(("session.approve", "allow", None, o.id) in mine, "session.approve by the owner")
    t.ok(("session.approve", "deny", "forbidden", "admin") in mine, "the admin's refusal")
    t.ok(("session.deny", "deny", "conflict", o.id) in mine, "deny of an active one: conflict")
    t.ok(("session.end", "allow", None, ag.id) in mine, "session.end by the agent")
    acts = [x[0] for x in mine if x[1] == "allow"]
    t.ok(acts.index("session.open") < acts.index("session.approve") < acts.index("session.end"),
         "open, approve, end in that order")
    t.ok(("session.deny", "allow", None, o.id) in
         [(e["action"], e["outcome"], e["reason"], e["actor"]) for e in ev if e["session"] == s2],
         "session.deny by the owner")
    t.ok(any(e["action"] == "session.end" and e["reason"] == "reassigned" and e["session"] == s5
             for e in ev), "the reassignment's session.end names the pending session")
    t.ok(not any(e["action"] == "session.expire" for e in ev),
         "no session.expire for sessions that did not run out")


def receipts(v, c, aud):
    o, ag = c.customer("pro"), c.agent()
    w = approval_ticket(c, o, ag, creds=1)
    rcid, rcap = receipt_for(c, w)
    rcid2, rcap2 = receipt_for(c, w)
    rcid3, rcap3 = receipt_for(c, w)
    sid = open_session(c, w)["id"]
    # the receipt view shows the pending session
    r = v.get("/v1/receipt", headers=receipt_h(rcap))
    ss = {x["id"]: x for x in r.json.get("sessions", [])} if r.status == 200 else {}
    t.ok(sid in ss and ss[sid]["state"] == "pending" and ss[sid]["requested_at"] and
         ss[sid]["opened_at"] is None and ss[sid]["agent"] == ag.id,
         "the receipt view lists the pending session, who asks and when")
    # another ticket's receipt: 404 (outside its scope)
    w2 = approval_ticket(c, o, ag, creds=1)
    _, cap_other = receipt_for(c, w2)
    expect(t, v.post("/v1/sessions/%s/approve" % sid, headers=receipt_h(cap_other)), 404,
           "not_found", "a receipt of another ticket cannot approve")
    expect(t, v.post("/v1/sessions/%s/deny" % sid, headers=receipt_h(cap_other)), 404,
           "not_found", "... nor deny")
    expect(t, v.post(w.path + "/approval", body={"mode": "owner"}, headers=receipt_h(cap_other)),
           404, "not_found", "... nor change another ticket's mode")
    bad = (rcap[0], "A" * 43)
    expect(t, v.post("/v1/sessions/%s/approve" % sid, headers=receipt_h(bad)), 404,
           "not_found", "a receipt with a wrong secret")
    expect(t, v.post("/v1/sessions/%s/approve" % sid,
                     headers={"Authorization": "Link %s.%s" % rcap}), 401, "unauthenticated",
           "the Link scheme")
    # approve through the receipt: that credential only
    r = v.post("/v1/sessions/%s/approve" % sid, headers=receipt_h(rcap))
    expect(t, r, 200, name="approve through a receipt")
    t.ok(r.json.get("state") == "active" and r.json.get("credential") == rcid and
         r.json.get("decided_by") == "receipt:" + rcap[0],
         "active, for the receipt's credential, decided by the receipt")
    expect(t, read(c, w, sid, cid=rcid), 200, name="reading the receipt's credential")
    expect(t, read(c, w, sid, cid=w.cids[0]), 403, "approval_pending",
           "reading another credential of the ticket")
    expect(t, read(c, w, sid, cid=rcid2), 403, "approval_pending",
           "reading another receipt's credential")
    expect(t, v.post("/v1/sessions/%s/approve" % sid, headers=receipt_h(rcap2)), 409, "conflict",
           "the other receipt cannot widen a decided session")
    r = v.get("/v1/receipt", headers=receipt_h(rcap))
    ss = {x["id"]: x for x in r.json["sessions"]}
    t.ok(ss.get(sid, {}).get("state") == "active", "the receipt view says active")
    r = v.get("/v1/receipt", headers=receipt_h(rcap2))
    t.ok(sid not in {x["id"] for x in r.json["sessions"]},
         "the other receipt does not list a session that may not read its credential")
    expect(t, v.delete("/v1/receipt", headers=receipt_h(rcap3)), 204,
           name="destroying a third credential by its receipt")
    t.eq(c.session_state(w, sid), "active",
         "... leaves the session approved for another credential running")
    expect(t, read(c, w, sid, cid=rcid), 200, name="... which still reads its credential")
    # receipts and the mode: raise yes, lower no
    expect(t, v.post(w.path + "/approval", body={"mode": "none"}, headers=receipt_h(rcap)), 403,
           "forbidden", "a receipt lowering the mode")
    expect(t, v.post(w.path + "/approval", body={"mode": "owner"}, headers=receipt_h(rcap)), 200,
           name="a receipt raising (keeping) the mode")
    v.delete("/v1/sessions/" + sid, ag.token)
    # a receipt denies
    sid2 = open_session(c, w)["id"]
    r = v.post("/v1/sessions/%s/deny" % sid2, headers=receipt_h(rcap2))
    expect(t, r, 200, name="deny through a receipt")
    t.eq(r.json.get("state"), "denied", "denied")
    # a receipt raises the mode of a ticket that had none
    o2 = c.customer("pro")
    w3 = approval_ticket(c, o2, ag, mode="none")
    _, cap3 = receipt_for(c, w3)
    r = v.post(w3.path + "/approval", body={"mode": "owner"}, headers=receipt_h(cap3))
    expect(t, r, 200, name="a receipt raises none to owner")
    t.eq(r.json.get("approval"), "owner", "the answer is the ticket with approval owner")
    t.eq(open_session(c, w3)["state"], "pending", "and the next session waits")
    # a suspended owner: the receipt gets 403 account_suspended
    sid3 = [x for x in c.sessions(w3)][0]
    c.suspend(o2)
    expect(t, v.post("/v1/sessions/%s/approve" % sid3, headers=receipt_h(cap3)), 403,
           "account_suspended", "receipt of a suspended owner")
    c.reactivate(o2)
    # events
    ev = evs_of(v, aud, tid=w.tid)
    ap = [e for e in ev if e["action"] == "receipt.approve" and e["outcome"] == "allow"]
    t.ok(len(ap) == 1 and ap[0]["actor"] == "receipt:" + rcap[0] and ap[0]["role"] == "guest" and
         ap[0]["credential"] == rcid and ap[0]["session"] == sid,
         "receipt.approve (SPEC 8.2): actor receipt:{id}, role guest, its credential")
    dn = [e for e in ev if e["action"] == "receipt.deny" and e["outcome"] == "allow"]
    t.ok(len(dn) == 1 and dn[0]["actor"] == "receipt:" + rcap2[0] and dn[0]["session"] == sid2,
         "receipt.deny by the other receipt")
    t.ok(any(e["action"] == "ticket.approval" and e["outcome"] == "deny" and
             e["reason"] == "forbidden" and e["actor"] == "receipt:" + rcap[0] for e in ev),
         "the receipt's refused lowering is audited")
    t.ok(any(e["action"] == "credential.read" and e["outcome"] == "deny" and
             e["reason"] == "approval_pending" and e["credential"] == w.cids[0] for e in ev),
         "the read outside the receipt's approval: deny approval_pending")
    t.ok(any(e["action"] == "receipt.approve" and e["outcome"] == "deny" and
             e["reason"] == "not_found" for e in evs_of(v, aud, tid=w2.tid)),
         "the other ticket's receipt: deny not_found, on its own ticket")
    # destroying a receipt ends the pending session that could read it
    sid4 = open_session(c, w)["id"]
    expect(t, v.delete("/v1/receipt", headers=receipt_h(rcap)), 204, name="destroy by receipt")
    t.eq(c.session_state(w, sid4), "ended", "the pending session ended with it")


def staff_links(v, c, aud):
    """Whoever makes a link can use it: the agent can upload through its
    own link and hold the receipt (the review's sequence). A receipt's
    approval covers only its own credential, so with it the agent gains
    approval over the login it uploaded itself and nothing of the
    owner's: the owner's credential stays unreadable in that session
    (docs/policy.md 7a). The receipt of a link staff made still decides
    for the customer who holds it (the helpdesk flow)."""
    o, ag = c.customer("pro"), c.agent()
    w = approval_ticket(c, o, ag, creds=1)
    acid, acap = receipt_for(c, w, who=ag)  # the agent's link, used by the agent
    sid = open_session(c, w)["id"]
    expect(t, v.post("/v1/sessions/%s/approve" % sid, ag.token), 403, "forbidden",
           "the agent approving with its token (as before)")
    r = v.post("/v1/sessions/%s/approve" % sid, headers=receipt_h(acap))
    expect(t, r, 200, name="the receipt of the agent's own upload approves")
    t.ok(r.json and r.json.get("credential") == acid and r.json.get("state") == "active",
         "active for that receipt's credential only")
    expect(t, read(c, w, sid), 403, "approval_pending",
           "the owner's credential stays unreadable in that session")
    r = read(c, w, sid, cid=acid)
    expect(t, r, 200, name="only the login the agent uploaded itself is readable")
    ev = evs_of(v, aud, sid=sid)
    t.ok(any(e["action"] == "receipt.approve" and e["outcome"] == "allow" and
             e["actor"] == "receipt:" + acap[0] for e in ev),
         "the approval is audited with the receipt as actor")
    expect(t, v.delete("/v1/sessions/" + sid, ag.token), 204, name="the agent ends it")
    # the owner approves the next request for the whole ticket as before
    sid2 = open_session(c, w)["id"]
    expect(t, v.post("/v1/sessions/%s/approve" % sid2, o.token), 200,
           name="the owner approves the next request")
    expect(t, read(c, w, sid2), 200, name="the owner's approval covers the owner's credential")


def ttl_clamp(c):
    """Approving applies the --session-max-ttl in force then: a request
    made for 3600 s under the default maximum, approved after a restart
    with --session-max-ttl 600, runs 600 s."""
    v = c.v
    o, ag = c.customer("pro"), c.agent()
    w = approval_ticket(c, o, ag, creds=1)
    s = open_session(c, w, ttl=3600)
    t.eq(s.get("state"), "pending", "a pending request for 3600 s")
    v.stop()
    v.extra_args = list(v.extra_args) + ["--session-max-ttl", "600"]
    v.start()
    r = v.post("/v1/sessions/%s/approve" % s["id"], o.token)
    expect(t, r, 200, name="the owner approves after the restart")
    span = parse_time(r.json["expires_at"]) - parse_time(r.json["opened_at"])
    t.ok(0 < span <= 600, "it runs at most the new maximum (%.3f s)" % span)


def endings(v, c, aud):
    """Whatever ends an active session ends a pending one as ended."""
    o, ag = c.customer("pro"), c.agent()
    got = {}
    w = approval_ticket(c, o, ag)
    sid = open_session(c, w)["id"]
    c._need(v.post(w.path + "/close", ag.token), 200, "close")
    got["ticket_closed"] = (w, sid)
    w = approval_ticket(c, o, ag)
    sid = open_session(c, w)["id"]
    c.suspend(ag)
    got["account_suspended"] = (w, sid)
    c.reactivate(ag)
    expect(t, v.post("/v1/sessions/%s/approve" % sid, o.token), 409, "conflict",
           "approving after the agent's suspension ended it")
    o2 = c.customer("pro")
    w = approval_ticket(c, o2, ag)
    sid = open_session(c, w)["id"]
    free = c.license("free", "free-" + o2.email)
    c._need(v.post("/v1/me/license", o2.token, {"key": free}), 200, "bind free")
    got["license_required"] = (w, sid)
    expect(t, v.post("/v1/sessions/%s/approve" % sid, o2.token), 403, "license_required",
           "approving for an owner no longer eligible")
    ev = all_events(v, aud.token)
    for reason, (w, sid) in got.items():
        t.eq(c.session_state(w, sid), "ended", "%s: the pending session is ended" % reason)
        t.ok(any(e["action"] == "session.end" and e["session"] == sid and e["reason"] == reason
                 for e in ev), "%s: its session.end event" % reason)
    # a license that lapses by time while a session waits: 403 at approval
    o3 = c.customer(None)
    c.license("pro", o3.email, valid_until=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                         time.gmtime(time.time() + 4)))
    w = approval_ticket(c, o3, ag)
    sid = open_session(c, w)["id"]
    # the sweeper ends it once the license has lapsed (3 to 4 s from now)
    state_becomes(c, w, sid, "ended", 15)
    expect(t, v.post("/v1/sessions/%s/approve" % sid, o3.token), 403, "license_required",
           "approving after the owner's license lapsed")
    expect(t, v.post("/v1/sessions/%s/deny" % sid, o3.token), 409, "conflict",
           "denying it: the sweeper has ended it")


def timeouts(c, aud):
    v = c.v
    o, ag = c.customer("pro"), c.agent()
    w = approval_ticket(c, o, ag)
    s = open_session(c, w)
    sid = s["id"]
    t.eq(s["state"], "pending", "pending")
    state_becomes(c, w, sid, "expired", TIMEOUT_S + 15)   # the timeout, then a sweep
    t.eq(c.session_state(w, sid), "expired", "undecided within --approval-timeout: expired")
    expect(t, v.post("/v1/sessions/%s/approve" % sid, o.token), 409, "conflict",
           "approving an expired request")
    expect(t, read(c, w, sid), 403, "session_expired", "own expired request")
    s2 = open_session(c, w)
    t.eq(s2["state"], "pending", "the ticket takes a new request after the expiry")
    ex = [e for e in evs_of(v, aud, sid=sid) if e["action"] == "session.expire"]
    t.ok(len(ex) == 1 and ex[0]["actor"] is None and ex[0]["outcome"] == "allow" and
         ex[0]["reason"] == "approval_timeout" and ex[0]["ticket"] == w.tid,
         "one system session.expire event, reason approval_timeout")
    # an approved session whose time runs out: one session.expire too
    expect(t, v.post("/v1/sessions/%s/approve" % s2["id"], o.token), 200, name="approve")
    v.delete("/v1/sessions/" + s2["id"], ag.token)
    w2 = approval_ticket(c, o, ag, mode="none")
    s3 = open_session(c, w2, ttl=2)["id"]
    state_becomes(c, w2, s3, "expired", 15)
    t.eq(c.session_state(w2, s3), "expired", "an active session ran out: expired")
    time.sleep(1.5)  # further sweeps add nothing
    ex = [e for e in evs_of(v, aud, sid=s3) if e["action"] == "session.expire"]
    t.ok(len(ex) == 1 and ex[0]["actor"] is None and ex[0]["reason"] is None,
         "one session.expire event for the active session that ran out")
    t.ok(not [e for e in evs_of(v, aud, sid=s2["id"]) if e["action"] == "session.expire"],
         "no session.expire for a session ended in time")
    # an expired pending session replaced before the sweeper saw it still
    # gets exactly one event (the opening records it)
    w3 = approval_ticket(c, o, ag)
    s4 = open_session(c, w3)["id"]
    deadline = time.time() + TIMEOUT_S
    while time.time() < deadline:
        time.sleep(0.05)
    r = v.post(w3.path + "/sessions", ag.token)
    expect(t, r, 201, name="a new request right at the expiry")
    time.sleep(2.5)
    ex = [e for e in evs_of(v, aud, sid=s4) if e["action"] == "session.expire"]
    t.eq(len(ex), 1, "the replaced request has exactly one session.expire")


def trail(v, c, aud):
    o, ag = c.customer("pro"), c.agent()
    other = c.customer("pro")
    w = approval_ticket(c, o, ag)
    wo = approval_ticket(c, other, ag)
    sid = open_session(c, w)["id"]
    r = v.post("/v1/accounts/%s/tokens" % o.id, v.admin)
    expect(t, r, 201, name="an admin mints a token for the owner")
    tok, tokid = r.json["token"], r.json["token_id"]
    r = v.post("/v1/sessions/%s/approve" % sid, tok)
    expect(t, r, 200, name="... and approves as the owner with it")
    r = v.get(w.path + "/audit?limit=1000", o.token)
    evs = r.json["events"]
    mint = [e for e in evs if e["action"] == "account.token"]
    t.ok(len(mint) == 1 and mint[0]["actor"] == "admin" and
         mint[0]["target"] == "%s#%s" % (o.id, tokid),
         "the owner's ticket trail shows account.token with the owner as target")
    ap = [e for e in evs if e["action"] == "session.approve" and e["outcome"] == "allow"]
    t.ok(len(ap) == 1 and ap[0]["token"] == tokid and ap[0]["actor"] == o.id,
         "the approval names the minted token's id")
    t.ok(mint and ap and mint[0]["seq"] < ap[0]["seq"], "the trail is in seq order")
    seqs = [e["seq"] for e in evs]
    t.eq(seqs, sorted(set(seqs)), "no event twice, oldest first")
    r = v.get(wo.path + "/audit?limit=1000", other.token)
    t.ok(not [e for e in r.json["events"] if e["action"] == "account.token"],
         "another owner's trail does not show it")
    # paging goes through the merged trail
    r1 = v.get(w.path + "/audit?limit=2", o.token).json
    r2 = v.get(w.path + "/audit?limit=1000&after_seq=%d" % r1["next_seq"], o.token).json
    t.eq([e["seq"] for e in r1["events"] + r2["events"]][:len(seqs)], seqs,
         "two pages give the same trail")
    r = v.get(w.path + "/audit?limit=1000", aud.token)
    t.ok(any(e["action"] == "account.token" for e in r.json["events"]),
         "the auditor's view of the ticket's trail shows it too")


# ------------------------------------------------------------------ races

def race_approve_expiry(c, aud):
    """Approval sent around the moment the request times out: either it
    is approved (and never expires as a request) or it expires (and the
    approval gets 409); never both, one outcome event each.

    Each round mostly waits for the timeout, so the rounds run in
    RACE_LANES lanes at once, each lane on a ticket of its own (one
    pending session per ticket) and its rounds one after the other: the
    same RACE_ROUNDS rounds, each one the same race, in a fraction of the
    time."""
    v = c.v
    o, ag = c.customer("pro"), c.agent()
    lanes = [approval_ticket(c, o, ag) for _ in range(min(RACE_LANES, RACE_ROUNDS))]
    per_lane = [RACE_ROUNDS // len(lanes) + (1 if i < RACE_ROUNDS % len(lanes) else 0)
                for i in range(len(lanes))]
    results, errors, lock = [], [], threading.Lock()

    def lane(w, rounds, rng):
        try:
            for i in range(rounds):
                s = open_session(c, w, ttl=600)
                start = parse_time(s["requested_at"])
                # aim at the deadline, give or take 150 ms
                delay = start + TIMEOUT_S + rng.uniform(-0.15, 0.15) - time.time()
                if delay > 0:
                    time.sleep(delay)
                r = v.post("/v1/sessions/%s/approve" % s["id"], o.token)
                with lock:
                    results.append((w, s["id"], r.status, r.code))
                if r.status == 200:
                    v.delete("/v1/sessions/" + s["id"], ag.token)
                else:
                    time.sleep(1.2)  # let the sweeper record it (or the next open does)
        except Exception as e:  # noqa: BLE001 - reported as a failure below
            with lock:
                errors.append(repr(e))

    ths = [threading.Thread(target=lane, args=(w, n, random.Random(random.random())))
           for w, n in zip(lanes, per_lane)]
    for i, th in enumerate(ths):
        th.start()
        time.sleep(TIMEOUT_S / len(ths))  # spread the lanes' deadlines over the timeout
    for th in ths:
        th.join(600)
    t.ok(not errors and not any(th.is_alive() for th in ths),
         "approve racing expiry: every lane ran its rounds")
    if errors:
        t.diag("lane errors: %r" % errors[:5])
    time.sleep(2)
    tids = {w.tid for w in lanes}
    ev = [e for e in all_events(v, aud.token) if e["ticket"] in tids]
    bad = []
    n200 = n409 = 0
    for w, sid, st, code in results:
        mine = [e for e in ev if e["session"] == sid]
        ap = [e for e in mine if e["action"] == "session.approve" and e["outcome"] == "allow"]
        ex = [e for e in mine if e["action"] == "session.expire"]
        state = c.session_state(w, sid)
        if st == 200:
            n200 += 1
            ok = len(ap) == 1 and not ex and state == "ended"
        else:
            n409 += 1
            ok = code == "conflict" and not ap and len(ex) == 1 and state == "expired"
        if not ok:
            bad.append((sid, st, code, state, len(ap), len(ex)))
    t.diag("approve racing the timeout: %d approved, %d expired, %d lanes"
           % (n200, n409, len(lanes)))
    t.eq(len(results), RACE_ROUNDS, "approve racing expiry: %d rounds ran" % RACE_ROUNDS)
    t.ok(results and not bad,
         "approve racing expiry, %d rounds: one outcome each, events agree" % len(results))
    if bad:
        t.diag("inconsistent: %r" % bad[:5])


def readers(v, w, sid, cid, stop, out, lock):
    conn = v.conn()
    path = "%s/credentials/%s/secret" % (w.path, cid)
    mine = []
    try:
        while not stop.is_set():
            r = v.get(path, w.agent.token, headers={"X-Session-Id": sid}, conn=conn)
            mine.append((r.status, r.code, r.header("X-Request-Id")))
    finally:
        conn.close()
        with lock:
            out.extend(mine)


def race_reads(c, aud, decision):
    """Reads from 4 threads while the owner decides: with deny, no read is
    ever released and every read after the deny's commit is
    session_expired; with approve, reads before the approval are
    approval_pending and after it are allowed."""
    v = c.v
    o, ag = c.customer("pro"), c.agent()
    w = approval_ticket(c, o, ag)
    rounds = []
    for i in range(max(RACE_ROUNDS // 2, 5)):
        sid = open_session(c, w)["id"]
        stop, lock, out = threading.Event(), threading.Lock(), []
        ths = [threading.Thread(target=readers, args=(v, w, sid, w.cids[0], stop, out, lock))
               for _ in range(4)]
        for th in ths:
            th.start()
        time.sleep(random.uniform(0.02, 0.15))
        r = v.post("/v1/sessions/%s/%s" % (sid, decision), o.token)
        dec_rid = r.header("X-Request-Id")
        time.sleep(random.uniform(0.02, 0.1))
        stop.set()
        for th in ths:
            th.join(60)
        rounds.append((sid, r.status, dec_rid, list(out)))
        v.delete("/v1/sessions/" + sid, ag.token)
    ev = evs_of(v, aud, tid=w.tid)
    by_rid = {e["request_id"]: e for e in ev if e["request_id"]}
    bad, nreads = [], 0
    for sid, st, dec_rid, out in rounds:
        nreads += len(out)
        dec = by_rid.get(dec_rid)
        if st != 200 or dec is None or dec["outcome"] != "allow":
            bad.append(("decision", sid, st))
            continue
        for status, code, rid in out:
            e = by_rid.get(rid)
            if e is None:
                bad.append(("no event", rid, status))
                continue
            after = e["seq"] > dec["seq"]
            if decision == "deny":
                want = (403, "session_expired" if after else "approval_pending")
                ok = (status, code) == want and e["outcome"] == "deny" and e["reason"] == code
            else:
                want = (200, None) if after else (403, "approval_pending")
                ok = status == want[0] and (status == 200 or code == want[1]) and \
                    e["outcome"] == ("allow" if status == 200 else "deny")
            if not ok:
                bad.append((sid, status, code, e["seq"], dec["seq"]))
    t.diag("%s racing reads: %d rounds, %d reads" % (decision, len(rounds), nreads))
    t.ok(nreads > len(rounds), "the readers read (%d reads)" % nreads)
    t.ok(not bad, "%s racing reads: every read agrees with its place before or after the %s"
         % (decision, decision))
    if bad:
        t.diag("wrong: %r" % bad[:5])
    if decision == "deny":
        t.ok(not any(s == 200 for _, _, _, out in rounds for s, _, _ in out),
             "no read was ever released around a deny")


# ------------------------------------------------------------------ client

def client(v, c, aud):
    o, ag = c.customer("pro"), c.agent()

    def run(tok, *a):
        env = dict(os.environ, RSVAULT_ADDR=v.addr, RSVAULT_CACERT=v.ca, RSVAULT_TOKEN=tok)
        return subprocess.run([binpath("rsvault")] + list(a), env=env, capture_output=True,
                              text=True, timeout=60)
    r = run(o.token, "ticket", "create", "dual control", "--approval", "owner")
    t.eq(r.returncode, 0, "client: ticket create --approval owner")
    tid = r.stdout.strip()
    t.eq(v.get("/v1/tickets/" + tid, o.token).json.get("approval"), "owner",
         "client: the ticket has approval owner")
    t.ok(run(o.token, "ticket", "create", "x", "--approval", "bogus").returncode != 0,
         "client: --approval bogus is refused")
    r = run(o.token, "ticket", "show", tid)
    t.ok(r.returncode == 0 and "owner" in r.stdout and "approval" in r.stdout.lower(),
         "client: ticket show says the approval mode")
    w = World(o, tid)
    c.cred(w)
    c.assign(w, ag)
    sid = run(ag.token, "session", "open", tid, "-q").stdout.strip()
    t.ok(len(sid) == 22, "client: session open -q on an approval ticket prints the id")
    r = run(ag.token, "session", "list", tid)
    t.ok("pending" in r.stdout, "client: session list shows pending")
    r = run(ag.token, "cred", "get", tid, w.cid, "--session", sid)
    t.ok(r.returncode == 3 and "approval_pending" in r.stderr,
         "client: cred get on a pending session exits 3 with approval_pending")
    r = run(ag.token, "session", "approve", sid)
    t.eq(r.returncode, 3, "client: the agent cannot approve (exit 3)")
    r = run(o.token, "session", "approve", sid)
    t.ok(r.returncode == 0 and "active" in r.stdout, "client: session approve SID")
    r = run(o.token, "--json", "session", "approve", sid)
    t.eq(r.returncode, 1, "client: approving again is a conflict (exit 1)")
    run(ag.token, "session", "end", sid)
    sid2 = run(ag.token, "session", "open", tid, "-q").stdout.strip()
    r = run(o.token, "session", "deny", sid2)
    t.ok(r.returncode == 0 and "denied" in r.stdout, "client: session deny SID")
    t.eq(c.session_state(w, sid2), "denied", "client: the session is denied")
    r = run(o.token, "ticket", "approval", tid, "none")
    t.eq(r.returncode, 0, "client: ticket approval TID none")
    t.eq(v.get("/v1/tickets/" + tid, o.token).json.get("approval"), "none",
         "client: the mode is none")
    t.ok(run(o.token, "ticket", "approval", tid, "maybe").returncode == 1,
         "client: ticket approval with a bad mode")
    t.eq(run(o.token, "session", "approve", "A" * 22).returncode, 4,
         "client: approving an unknown session exits 4")


def main():
    aud_box = {}
    with Vault() as v:
        c = Core(v)
        aud = c.auditor()
        aud_box["a"] = aud
        guarded(t, "the approval mode", ticket_mode, v, c, aud)
        guarded(t, "the state machine and read rules", state_machine, v, c, aud)
        guarded(t, "receipts approve their credential", receipts, v, c, aud)
        guarded(t, "receipts of links staff made", staff_links, v, c, aud)
        guarded(t, "endings end pending sessions", endings, v, c, aud)
        guarded(t, "the owner's ticket trail", trail, v, c, aud)
        guarded(t, "deny racing reads", race_reads, c, aud, "deny")
        guarded(t, "approve racing reads", race_reads, c, aud, "approve")
        guarded(t, "the client", client, v, c, aud)
    with Vault(extra_args=("--approval-timeout", str(TIMEOUT_S))) as v:
        c = Core(v)
        aud = c.auditor()
        guarded(t, "timeouts", timeouts, c, aud)
        guarded(t, "approve racing expiry", race_approve_expiry, c, aud)
    with Vault() as v:
        guarded(t, "approval within the maximum of then", ttl_clamp, Core(v))
    t.done()


if __name__ == "__main__":
    main()

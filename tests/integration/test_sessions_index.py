#!/usr/bin/env python3
"""Exclusive check-out with many sessions behind it (SPEC section 4; issue 9
item 9): one active session per ticket holds however many sessions the
ticket had before.

The old check scanned only the first 4,096 sessions of a ticket (in key
order), so an active session that sorted after them was not seen and a
second one opened. Opening and ending 4,100 sessions through the API
would take minutes, so the history is written into the store while the
server is stopped (4,100 ended sessions whose ids sort before any id the
server makes); everything after that goes through the API. Also: a
session whose time ran out but that the sweeper has not reached blocks
nothing; a store written before the index (its active sessions listed
only in the old "active_sessions" table) is moved to the index at start;
suspending an agent or an owner reaches tickets beyond the first batch.
TAP on stdout."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect, guarded, mdb_dump, mdb_put  # noqa: E402

t = TAP()
HISTORY = 4100  # more than the 4,096 the old scan looked at


def fake_id(i, tag="-"):
    """A 22-character session id that sorts before every id the server
    makes (those start with a base64url character; '-' sorts first)."""
    return tag * 12 + "%010d" % i


def session_rec(sid, tid, agent, opened_ms, expires_ms, ended_ms=None):
    rec = {"id": sid, "ticket": tid, "agent": agent, "opened_at": opened_ms,
           "expires_at": expires_ms}
    if ended_ms is not None:
        rec["ended_at"] = ended_ms
    return json.dumps(rec, separators=(",", ":")).encode()


def open_session(v, w, ag, ttl=None):
    return v.post(w.path + "/sessions", ag.token, {"ttl_s": ttl} if ttl else None)


def many_ended(v, c, st):
    owner, ag = st["owner"], st["agent"]
    w = c.world(owner, ag)
    # a few real sessions first, through the API
    for i in range(3):
        r = open_session(v, w, ag)
        expect(t, r, 201, name="API session %d opens" % (i + 1))
        expect(t, v.delete("/v1/sessions/" + r.json["id"], ag.token), 204,
               name="API session %d ends" % (i + 1))
    # the long history, written while the server is stopped
    v.stop()
    now = int(time.time() * 1000)
    sessions, index = [], []
    for i in range(HISTORY):
        sid = fake_id(i)
        sessions.append((sid.encode(), session_rec(sid, w.tid, ag.id, now - 7200000 + i,
                                                    now - 3600000, now - 3600000 + i)))
        index.append((w.tid.encode() + b"\0" + sid.encode(), b""))
    mdb_put(v.data, "sessions", sessions)
    mdb_put(v.data, "ticket_sessions", index)
    v.start()
    n = sum(1 for k, _ in mdb_dump(v.data, "ticket_sessions")
            if k.startswith(w.tid.encode() + b"\0"))
    t.ok(n >= HISTORY + 3, "the ticket has %d sessions behind it (more than 4,096)" % n)

    r = open_session(v, w, ag)
    expect(t, r, 201, name="a session opens on the ticket with the long history")
    sid = (r.json or {}).get("id", "")
    t.ok(sid > fake_id(HISTORY - 1),
         "the new session sorts after all %d old ones (where the old scan never looked)"
         % HISTORY)
    r = open_session(v, w, ag)
    expect(t, r, 409, "conflict", "a second concurrent session is refused")
    r = open_session(v, w, ag, ttl=60)
    expect(t, r, 409, "conflict", "and again (with a ttl)")
    w.sid = sid
    expect(t, c.read_secret(w), 200, name="the first session is still active: it reads")
    expect(t, v.delete("/v1/sessions/" + sid, ag.token), 204, name="the agent ends it")
    r = open_session(v, w, ag)
    expect(t, r, 201, name="after it ended a new session opens")
    sid2 = (r.json or {}).get("id")
    expect(t, open_session(v, w, ag), 409, "conflict", "which is exclusive again")
    w.sid = sid2
    expect(t, c.read_secret(w), 200, name="the new session reads")
    expect(t, v.delete("/v1/sessions/" + sid2, owner.token), 204, name="the owner ends it")
    st["history_ticket"] = w.tid


def expired_not_swept(v, c, st):
    """The index names a session whose time ran out before the sweeper got
    to it: a new session opens (expiry is by time, not by the sweep)."""
    owner, ag = st["owner"], st["agent"]
    w = c.world(owner, ag)
    v.stop()
    now = int(time.time() * 1000)
    sid = fake_id(1, "0")
    mdb_put(v.data, "sessions", [(sid.encode(), session_rec(sid, w.tid, ag.id, now - 60000,
                                                            now - 1000))])
    mdb_put(v.data, "ticket_sessions", [(w.tid.encode() + b"\0" + sid.encode(), b"")])
    mdb_put(v.data, "ticket_active", [(w.tid.encode(), sid.encode())])
    v.start()
    # the sweeper first runs a second after the start; this comes before it
    r = open_session(v, w, ag)
    expect(t, r, 201, name="an expired, not yet swept session does not block a new one")
    t.eq(c.session_state(w, sid), "expired", "the old session reads expired")
    expect(t, open_session(v, w, ag), 409, "conflict", "the new one is exclusive")


def legacy_store(v, c, st):
    """A store written before the index listed unfinished sessions only in
    the table active_sessions: at start they move to the index, and a
    second active session on one ticket is ended with a system event."""
    owner, ag = st["owner"], st["agent"]
    w1 = c.world(owner, ag)
    w2 = c.world(owner, ag)
    v.stop()
    now = int(time.time() * 1000)
    s1, s2a, s2b = fake_id(7, "1"), fake_id(8, "1"), fake_id(9, "1")
    recs, idx, act = [], [], []
    for sid, w in ((s1, w1), (s2a, w2), (s2b, w2)):
        recs.append((sid.encode(), session_rec(sid, w.tid, ag.id, now, now + 3600000)))
        idx.append((w.tid.encode() + b"\0" + sid.encode(), b""))
        act.append((sid.encode(), b""))
    mdb_put(v.data, "sessions", recs)
    mdb_put(v.data, "ticket_sessions", idx)
    mdb_put(v.data, "active_sessions", act)
    v.start()
    expect(t, open_session(v, w1, ag), 409, "conflict",
           "an active session of the old store blocks a second one")
    expect(t, v.delete("/v1/sessions/" + s1, ag.token), 204, name="it can be ended")
    expect(t, open_session(v, w1, ag), 201, name="then a new session opens")
    states = sorted(c.session_state(w2, s) for s in (s2a, s2b))
    t.eq(states, ["active", "ended"],
         "of two active sessions on one ticket in the old store, one was ended")
    ended = s2a if c.session_state(w2, s2a) == "ended" else s2b
    aud = c.auditor()
    r = v.get("/v1/audit?action=session.end&ticket=%s&limit=1000" % w2.tid, aud.token)
    evs = [e for e in (r.json or {}).get("events", []) if e.get("session") == ended]
    t.eq([(e["actor"], e["reason"], e["outcome"]) for e in evs], [(None, "conflict", "allow")],
         "its end is one system session.end event with reason conflict")
    expect(t, open_session(v, w2, ag), 409, "conflict", "the other still holds the ticket")
    v.stop()
    t.eq(mdb_dump(v.data, "active_sessions"), [], "the old table is empty after the move")
    v.start()


def long_walks(v, c, st):
    """Suspending an agent or an owner ends the sessions on all their
    tickets, read in batches (256), not only the first ones: 300 tickets
    that sort first are put in the agent's and the owner's index while the
    server is stopped (they name no ticket, like the deleted ones of an old
    store), so the real ticket is in a later batch."""
    owner, ag = c.customer("pro"), c.agent()
    w_ag = c.world(owner, ag, session=True)
    owner2, ag2 = c.customer("pro"), c.agent()
    w_own = c.world(owner2, ag2, session=True)
    v.stop()
    mdb_put(v.data, "tickets_agent",
            [(ag.id.encode() + b"\0" + fake_id(i, "-").encode(), b"") for i in range(300)])
    mdb_put(v.data, "tickets_owner",
            [(owner2.id.encode() + b"\0" + fake_id(i, "-").encode(), b"") for i in range(300)])
    v.start()
    aud = c.auditor()

    def ended_by_admin(w):
        # the suspension itself ended it (actor admin), not the periodic
        # job a second later (actor null)
        r = v.get("/v1/audit?action=session.end&ticket=%s&limit=1000" % w.tid, aud.token)
        return [(e["actor"], e["reason"]) for e in (r.json or {}).get("events", [])
                if e.get("session") == w.sid]

    expect(t, c.read_secret(w_ag), 200, name="the agent reads before the suspension")
    c.suspend(ag)
    t.eq(c.session_state(w_ag), "ended",
         "suspending an agent with 300 tickets ahead of this one ended its session")
    t.eq(ended_by_admin(w_ag), [("admin", "account_suspended")],
         "in the suspension's own transaction")
    c.reactivate(ag)
    expect(t, c.read_secret(w_own), 200, name="the other agent reads before the owner is suspended")
    c.suspend(owner2)
    t.eq(c.session_state(w_own), "ended",
         "suspending an owner with 300 tickets ahead of this one ended its session")
    t.eq(ended_by_admin(w_own), [("admin", "account_suspended")],
         "in the suspension's own transaction")


def main():
    with Vault() as v:
        c = Core(v)
        st = {"owner": c.customer("pro"), "agent": c.agent()}
        guarded(t, "many ended sessions", many_ended, v, c, st)
        guarded(t, "expired, not swept", expired_not_swept, v, c, st)
        guarded(t, "legacy store", legacy_store, v, c, st)
        guarded(t, "long walks", long_walks, v, c, st)
    t.done()


main()

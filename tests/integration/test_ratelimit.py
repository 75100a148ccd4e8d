#!/usr/bin/env python3
"""Rate limiting of failed authentication and the audit growth it allows
(SPEC §6, §8.1; issue 9, defect 4).

- One address: its failures are one event each; once it is limited, its
  refused requests (429) are not: one auth.limited event with the refused
  count is written when the limit lifts. The log grows by 11, not 210.
- A valid token from a limited address still works; an unknown or revoked
  one does not.
- Shutdown during a limited period records it; IPv6 addresses count per
  /64 (the event names the group).
- Many addresses together, each below its own limit: the failures that are
  recorded one by one are bounded by the limit on all addresses; the rest
  get 429 and one aggregate auth.limited event with ip null.
"""
import http.client
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault, binpath, make_keys, tmpdir  # noqa: E402
from rsvcore import Core, expect, guarded  # noqa: E402

t = TAP()
t.diag("test_ratelimit.py: failed-authentication limits and their audit events")

RATE_LIMITED = "rate_limited"


def events_after(v, tok, after=0):
    """Every event with seq > after, paging like the client does."""
    evs = []
    while True:
        r = v.get("/v1/audit?after_seq=%d&limit=1000" % after, tok)
        if r.status != 200:
            raise RuntimeError("audit list: %r" % r)
        evs += r.json["events"]
        after = r.json["next_seq"]
        if len(r.json["events"]) < 1000:
            return evs


def head_seq(v, tok):
    evs = events_after(v, tok)
    return evs[-1]["seq"] if evs else 0


def limited_events(evs):
    return [e for e in evs if e["action"] == "auth.limited"]


def wait_for_limited(v, tok, after, want, timeout):
    """Poll until `want` auth.limited events exist after seq `after`."""
    deadline = time.time() + timeout
    while True:
        evs = events_after(v, tok, after)
        if len(limited_events(evs)) >= want or time.time() > deadline:
            return evs
        time.sleep(0.25)


def is_limited_event(e, ip, count):
    return (e["action"] == "auth.limited" and e["actor"] is None and e["role"] is None
            and e["outcome"] == "deny" and e["reason"] == RATE_LIMITED and e["ip"] == ip
            and e["target"] == str(count) and e["request_id"] is None
            and e.get("form") == 2)


class SourceConn:
    """Keep-alive HTTPS connections to the vault from a chosen loopback
    address (127.0.0.0/8 is all local on Linux)."""

    def __init__(self, v, src):
        self.v, self.src = v, src
        self.c = http.client.HTTPSConnection("127.0.0.1", v.port, context=v.ctx, timeout=30,
                                             source_address=(src, 0))

    def get(self, path, token=None):
        return self.v.get(path, token, conn=self.c)

    def close(self):
        self.c.close()


# --- one address: 10 failure events, then one event for 200 refusals -------
WINDOW_MS = 5000


def one_address():
    with Vault(env={"RSVAULT_TEST_FAIL_WINDOW_MS": str(WINDOW_MS)}) as v:
        c = Core(v)
        aud = c.auditor()
        cust = c.customer("pro")
        revoked = c.customer("pro")
        v.delete("/v1/accounts/%s/tokens" % revoked.id, v.admin)
        s0 = head_seq(v, aud.token)
        conn = v.conn()
        t0 = time.time()
        codes = []
        for i in range(10):
            codes.append(v.get("/v1/me", None if i % 2 else "rsv_bogus-%d" % i, conn=conn).status)
        t.eq(codes, [401] * 10, "ten failed authentications: 401 each")
        refused, ras, authed = [], set(), 0
        for i in range(200):
            tok = (None, "rsv_bogus-r%d" % i, revoked.token, "")[i % 4]
            hdr = {"Authorization": "Basic Zm9vOmJhcg=="} if i % 50 == 7 else None
            r = v.get("/v1/tickets" if i % 3 else "/v1/me", tok, conn=conn, headers=hdr)
            refused.append((r.status, r.code))
            ras.add(r.header("Retry-After"))
            if i == 100:
                # a valid token from the limited address still works
                expect(t, v.get("/v1/me", cust.token, conn=conn), 200,
                       name="a valid token from the limited address works")
                authed += 1
        elapsed = time.time() - t0
        t.ok(elapsed < WINDOW_MS / 1000.0 - 0.5,
             "the 210 requests ran inside the window (%.2f s)" % elapsed)
        t.eq(sorted(set(refused)), [(429, RATE_LIMITED)],
             "200 refused requests (no, unknown, revoked, empty, Basic token): 429 each")
        t.ok(all(ra is not None and 1 <= int(ra) <= WINDOW_MS // 1000 for ra in ras),
             "every 429 carries Retry-After (%s)" % sorted(ras, key=str))
        evs = events_after(v, aud.token, s0)
        t.eq(limited_events(evs), [], "no auth.limited event while the limit holds")
        evs = wait_for_limited(v, aud.token, s0, 1, WINDOW_MS / 1000.0 + 6)
        anon = [e for e in evs if e["actor"] is None]
        fails = [e for e in anon if e["reason"] == "unauthenticated"]
        lim = limited_events(evs)
        t.eq(len(fails), 10, "exactly 10 failed-authentication events")
        t.ok(all(e["outcome"] == "deny" and e["ip"] == "127.0.0.1" for e in fails),
             "... deny, with the client address")
        t.eq(len(lim), 1, "exactly one auth.limited event")
        t.ok(len(lim) == 1 and is_limited_event(lim[0], "127.0.0.1", 200),
             "auth.limited: ip 127.0.0.1, target \"200\", actor null, deny rate_limited")
        if lim:
            t.diag("auth.limited event: %r" % (lim[0],))
        t.eq(len(anon), 11, "events without an actor: 10 failures + 1 auth.limited (not 210)")
        t.eq(len([e for e in evs if e["reason"] == RATE_LIMITED and e["action"] != "auth.limited"]),
             0, "no refused request has an event of its own")
        # seq growth up to the auth.limited event: 11, plus the valid request
        # and the auditor's own reads of the log while it waited
        grew = lim[0]["seq"] - s0 if lim else None
        reads = len([e for e in evs if e["actor"] == aud.id and lim and e["seq"] <= lim[0]["seq"]])
        t.eq(grew, 11 + authed + reads,
             "the log grew by 11 (+ %d valid request, + %d audit reads) up to auth.limited, not 210"
             % (authed, reads))
        expect(t, v.get("/v1/me", "rsv_bogus-after", conn=conn), 401, "unauthenticated",
               "after the limit lifted: 401 again")
        s1 = head_seq(v, aud.token)
        time.sleep(1.5)  # more than one periodic run
        evs = events_after(v, aud.token, s1)
        t.eq(limited_events(evs), [], "a period is recorded once, not at every periodic run")
        conn.close()


# --- shutdown during a limited period; IPv6 counts per /64 -----------------
class Vault6(Vault):
    """A vault listening on [::1] (its certificate names ::1)."""

    def start(self, listen="[::1]:0"):
        return Vault.start(self, listen)


def ipv6_shutdown():
    d = tmpdir()
    r = make_keys(os.path.join(d, "keys"), sans=["::1", "127.0.0.1"])
    if r.returncode != 0:
        raise RuntimeError("rsvault-keys init: " + r.stderr)
    with Vault6(workdir=d) as v:
        c = Core(v)
        aud = c.auditor()
        s0 = head_seq(v, aud.token)
        conn = v.conn()
        codes = [v.get("/v1/me", "rsv_v6-%d" % i, conn=conn).status for i in range(10)]
        t.eq(codes, [401] * 10, "IPv6 ::1: ten failures, 401 each")
        codes = [v.get("/v1/me", "rsv_v6-r%d" % i, conn=conn).status for i in range(7)]
        t.eq(codes, [429] * 7, "IPv6 ::1: then 429")
        conn.close()
        # the default window is 60 s: the period is still running at shutdown
        t.eq(v.stop(signal.SIGTERM), 0, "SIGTERM during a limited period: clean exit")
        v.start()
        evs = events_after(v, aud.token, s0)
        lim = limited_events(evs)
        t.eq(len(lim), 1, "after restart: one auth.limited event for the period cut by shutdown")
        t.ok(len(lim) == 1 and is_limited_event(lim[0], "::/64", 7),
             "... ip is the /64 group \"::/64\", target \"7\"")
        if lim:
            t.diag("auth.limited event: %r" % (lim[0],))
        fails = [e for e in evs if e["reason"] == "unauthenticated"]
        t.ok(len(fails) == 10 and all(e["ip"] == "::1" for e in fails),
             "the failures themselves keep the full address ::1")
        # a restart starts with no limits (the table lives in memory)
        expect(t, v.get("/v1/me", "rsv_v6-after"), 401, "unauthenticated",
               "after restart: 401 (limits are not persisted)")
        t.eq(v.stop(signal.SIGTERM), 0, "second SIGTERM: clean exit")
        v.start()
        evs = events_after(v, aud.token, s0)
        t.eq(len(limited_events(evs)), 1, "nothing pending: no further auth.limited at shutdown")


# --- many addresses together: the limit on all addresses --------------------
RATE, BURST = 10, 20
ADDRS = ["127.0.0.%d" % i for i in range(2, 14)]
PER_ADDR = 6  # below the per-address limit of 10


def global_bound():
    env = {"RSVAULT_TEST_ANON_RATE": str(RATE), "RSVAULT_TEST_ANON_BURST": str(BURST)}
    with Vault(env=env) as v:
        c = Core(v)
        aud = c.auditor()
        cust = c.customer("pro")
        s0 = head_seq(v, aud.token)
        conns = {a: SourceConn(v, a) for a in ADDRS}
        got = {401: 0, 429: 0}
        other = []
        t0 = time.time()
        for i in range(PER_ADDR):
            for a in ADDRS:
                r = conns[a].get("/v1/me", "rsv_many-%s-%d" % (a, i))
                if r.status in got and (r.status == 401 or r.code == RATE_LIMITED):
                    got[r.status] += 1
                else:
                    other.append((r.status, r.code))
        elapsed = time.time() - t0
        total = PER_ADDR * len(ADDRS)
        t.eq(other, [], "%d failed authentications from %d addresses: 401 or 429 only"
             % (total, len(ADDRS)))
        bound = BURST + RATE * elapsed + 1
        t.ok(0 < got[401] <= bound,
             "401s (each an event) bounded by the limit on all addresses: %d <= %.1f"
             % (got[401], bound))
        t.ok(got[429] > 0, "the rest got 429 (%d)" % got[429])
        # still limited: a valid token from one of the addresses works, a
        # fresh address without a token is refused
        r = SourceConn(v, "127.0.0.3").get("/v1/me", cust.token)
        expect(t, r, 200, name="a valid token works while all addresses are limited")
        fresh = SourceConn(v, "127.0.0.40")
        r = fresh.get("/v1/me")
        extra = 1 if r.status == 429 else 0
        expect(t, r, 429, RATE_LIMITED, "a new address without a token gets 429 too")
        t.ok(r.header("Retry-After") is not None, "... with Retry-After")
        evs = wait_for_limited(v, aud.token, s0, 1, BURST / RATE + 6)
        fails = [e for e in evs if e["reason"] == "unauthenticated"]
        lim = limited_events(evs)
        t.eq(len(fails), got[401], "one event per 401, none per 429")
        t.eq(len(lim), 1, "one aggregate auth.limited event")
        t.ok(len(lim) == 1 and is_limited_event(lim[0], None, got[429] + extra),
             "aggregate: ip null, target = the refused count %d" % (got[429] + extra))
        if lim:
            t.diag("auth.limited event: %r" % (lim[0],))
        expect(t, fresh.get("/v1/me", "rsv_many-after"), 401, "unauthenticated",
               "after the limit on all addresses lifted: 401 again")
        for x in list(conns.values()) + [fresh]:
            x.close()


guarded(t, "one address", one_address)
guarded(t, "IPv6 and shutdown", ipv6_shutdown)
guarded(t, "all addresses", global_bound)
t.done()

#!/usr/bin/env python3
"""Fault injection at the storage layer (issue 9, defects 4 and 8).

rsvaultd runs with tests/lib/fault_preload.c loaded (LD_PRELOAD), which makes
LMDB's writes and syncs of files in the data directory fail or stall while a
control file exists there. Every case must give 503 within the bound
(RSVAULT_TEST_QUEUE_TIMEOUT_MS), change nothing that was not reported, keep
/v1/health answering, and recover when the fault goes; the audit chain still
verifies. A tiny --map-size shows the reserve: ordinary work is refused before
the map is full while denials, failed logins and admin work are still
audited."""
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault, binpath, tmpdir, give_to_server  # noqa: E402
from rsvshim import Fault, preload_env, shim  # noqa: E402
from rsvcore import Core, all_events  # noqa: E402

t = TAP()
BOUND = 3.0  # s: RSVAULT_TEST_QUEUE_TIMEOUT_MS
SLACK = 1.0  # s: what the answer may take beyond the bound
SO = shim(t, "fault")


def faulty_vault(extra_args=()):
    d = tmpdir("faults")
    data = os.path.join(d, "data")
    give_to_server(data)
    env = preload_env(SO, RSVAULT_FAULT_DIR=data,
                      RSVAULT_TEST_QUEUE_TIMEOUT_MS=str(int(BOUND * 1000)))
    return Vault(extra_args=extra_args, env=env, workdir=d)


def timed(fn, *a, **kw):
    t0 = time.monotonic()
    r = fn(*a, **kw)
    return r, time.monotonic() - t0


def msg(r):
    return (r.json or {}).get("error", {}).get("message", "") if r.json else ""


def fails_closed(r, dt, what, says="nothing changed"):
    t.eq((r.status, r.code), (503, "unavailable"), "%s: 503 unavailable" % what)
    t.ok(dt < BOUND + SLACK, "%s: answered within the bound (%.2f s < %.1f s)"
         % (what, dt, BOUND + SLACK))
    t.ok(says in msg(r), "%s: the message says %r (%r)" % (what, says, msg(r)))


def health_ok(v, what):
    r, dt = timed(v.get, "/v1/health")
    t.ok(r.status == 200 and dt < BOUND + SLACK,
         "%s: /v1/health answers 200 (%d in %.2f s)" % (what, r.status, dt))


def chain_verifies(v, tok, what):
    """Export with the real client and verify with rsvault-keys."""
    # enough events for a signed checkpoint (one every 100 events)
    for _ in range(100):
        v.get("/v1/me", tok)
    out = os.path.join(v.dir, "export-%s.jsonl" % secrets.token_hex(4))
    env = dict(os.environ, RSVAULT_ADDR=v.addr, RSVAULT_CACERT=v.ca, RSVAULT_TOKEN=tok)
    env.pop("LD_PRELOAD", None)
    p = subprocess.run([binpath("rsvault"), "audit", "export", "-o", out], env=env,
                       capture_output=True, timeout=60)
    if not t.ok(p.returncode == 0, "%s: audit export exits 0" % what):
        t.diag(p.stderr.decode(errors="replace"))
        return
    p = subprocess.run([binpath("rsvault-keys"), "verify-audit", out, "--pubkey",
                        os.path.join(v.keys, "audit.pub")], capture_output=True, timeout=60)
    if not t.ok(p.returncode == 0, "%s: the audit chain and checkpoints verify" % what):
        t.diag(p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace"))


def rid(r):
    return r.header("X-Request-Id")


def account_exists(v, aid):
    r = v.post("/v1/accounts/%s/tokens" % aid, v.admin)
    return r.status == 201


def acct_body(aid):
    return {"id": aid, "role": "customer", "email": aid + "@example.test"}


# --- a failed fdatasync, a full disk, a stalled commit -------------------------
with faulty_vault() as v:
    c = Core(v)
    A = v.admin
    au = c.auditor()
    cust = c.customer()
    w = c.world(cust)
    t.eq(v.post("/v1/accounts", A, acct_body("before")).status, 201, "an account before any fault")

    # fdatasync fails: LMDB's commit fails before its meta page is written
    with Fault(v, "fault-sync-fail"):
        r, dt = timed(v.post, "/v1/accounts", A, acct_body("syncfail"))
        fails_closed(r, dt, "fdatasync fails")
        health_ok(v, "fdatasync fails")
        r2, dt = timed(v.post, w.path + "/credentials", cust.token,
                       {"label": "during-syncfail", "kind": "rdp", "secret": "s3cret"})
        fails_closed(r2, dt, "fdatasync fails, upload")
    t.ok(not account_exists(v, "syncfail"), "fdatasync failed: the account does not exist")
    t.ok(account_exists(v, "before"), "fdatasync failed: the earlier account is intact")
    t.eq(c.cred_ids(w), [w.cid], "fdatasync failed: credentials as before")
    t.eq(v.post("/v1/accounts", A, acct_body("syncfail")).status, 201,
         "fdatasync works again: the same request now succeeds")
    evs = all_events(v, au.token)
    t.ok(not any(e["request_id"] in (rid(r), rid(r2)) for e in evs),
         "fdatasync failed: no event for the failed requests")

    # a full disk: every write to the data file fails with ENOSPC
    with Fault(v, "fault-enospc"):
        r, dt = timed(v.post, w.path + "/credentials", cust.token,
                      {"label": "during-enospc", "kind": "rdp", "secret": "s3cret"})
        fails_closed(r, dt, "disk full (ENOSPC)")
        r2, dt = timed(v.get, "/v1/me", "rsv_" + "A" * 43)
        fails_closed(r2, dt, "disk full, a failed login")
        health_ok(v, "disk full")
    t.eq(c.cred_ids(w), [w.cid], "disk full: the upload is absent, the earlier credential intact")
    cid2 = c.cred(w, label="after-enospc")
    t.ok(cid2 in c.cred_ids(w), "disk has room again: uploads work")
    evs = all_events(v, au.token)
    t.ok(not any(e["request_id"] in (rid(r), rid(r2)) for e in evs),
         "disk full: no event for the failed requests")

    # A change that rolls back must leave no trace in the writer's cache of
    # parsed records (rec_get_shared): lowering a ticket's approval mode
    # fails on a full disk, and the agent's next session must still wait
    # for the owner. (The handler used to change the cached ticket itself:
    # the cache then answered "none" for the unchanged stored "owner".)
    ag = c.agent()
    r = v.post("/v1/tickets", cust.token, {"subject": "dual control", "approval": "owner"})
    t.eq(r.status, 201, "a ticket that needs the owner's approval")
    tpath = "/v1/tickets/" + r.json["id"]
    t.eq(v.post(tpath + "/assign", A, {"agent": ag.id}).status, 200, "assigned to an agent")
    with Fault(v, "fault-enospc"):
        r, dt = timed(v.post, tpath + "/approval", cust.token, {"mode": "none"})
        fails_closed(r, dt, "disk full, lowering the approval mode")
    r = v.get(tpath, cust.token)
    t.eq(r.json.get("approval") if r.status == 200 else r.status, "owner",
         "after the failed change the ticket still needs approval")
    r = v.post(tpath + "/sessions", ag.token, None)
    t.eq(r.status, 201, "the agent opens a session")
    t.eq(r.json.get("state") if r.status == 201 else None, "pending",
         "the session waits for the owner: the rolled-back change is not in the writer's cache")
    r = v.post(tpath + "/approval", cust.token, {"mode": "none"})
    t.eq(r.status, 409, "lowering the mode while the session is pending: 409")

    # A commit that stalls in fdatasync after the writer took the operations.
    # Four writes, one per worker thread (the default --threads 4), are held
    # back (fault-stall: the writer takes nothing) so that they form one
    # batch; then the writer takes them and their commit stalls. Before the
    # bound covered a taken operation, all four workers stayed pinned and
    # even /v1/health hung until the disk answered.
    held = Fault(v, "fault-stall")
    stall = Fault(v, "fault-sync-stall")
    results = {}

    def write(aid):
        results[aid] = timed(v.post, "/v1/accounts", A, acct_body(aid))

    def start(aid):
        x = threading.Thread(target=write, args=(aid,))
        x.start()
        return x

    with stall:
        # a watchdog ends the stall if the server is stuck (as before the fix)
        dog = threading.Timer(15.0, stall.clear)
        dog.start()
        with held:
            th = []
            for i in (1, 2, 3, 4):
                th.append(start("stalled-%d" % i))
                time.sleep(0.3)  # each reaches the queue on a worker of its own
        time.sleep(0.1)
        health_ok(v, "commit stalled, every worker waiting")
        for x in th:
            x.join(60)
        late = start("late")  # queued behind the stalled commit
        time.sleep(0.2)
        health_ok(v, "commit still stalled")
        late.join(60)
        stalled_now = os.path.exists(stall.path)
        dog.cancel()
        t.ok(stalled_now, "the commit was still stalled when the last answer came")
        for i in (1, 2, 3, 4):
            r, dt = results["stalled-%d" % i]
            fails_closed(r, dt, "commit stalled after the writer took it (%d)" % i,
                         says="outcome is unknown")
        r_late, dt = results["late"]
        fails_closed(r_late, dt, "queued behind the stalled commit")
    # the stall ends: the batch commits, each event with its change
    deadline = time.time() + 20
    while time.time() < deadline and v.logtext().count("committed after all") < 4:
        time.sleep(0.1)
    evs = all_events(v, au.token)
    for i in (1, 2, 3, 4):
        r, _ = results["stalled-%d" % i]
        t.ok(re.search(r"request %s: answered 503 before its commit finished; it committed "
                       r"after all" % rid(r), v.logtext()),
             "stalled request %d committed once the disk answered, and the log says so" % i)
        ev = [e for e in evs if e["request_id"] == rid(r)]
        t.ok(account_exists(v, "stalled-%d" % i) and len(ev) == 1
             and ev[0]["action"] == "account.create" and ev[0]["outcome"] == "allow",
             "stalled request %d: the change is there, with its audit event" % i)
    t.ok(not account_exists(v, "late") and not any(e["request_id"] == rid(r_late) for e in evs),
         "the request queued behind the stall changed nothing and has no event")
    t.eq([e["seq"] for e in evs], list(range(1, len(evs) + 1)), "the chain has no gap")
    t.eq(v.post("/v1/accounts", A, acct_body("after-stall")).status, 201,
         "writes work again after the stall")
    chain_verifies(v, au.token, "after the faults")

# --- the meta page cannot be written: LMDB gives up on the environment --------
with faulty_vault() as v:
    c = Core(v)
    A = v.admin
    au = c.auditor()
    t.eq(v.post("/v1/accounts", A, acct_body("before")).status, 201, "an account before the fault")
    with Fault(v, "fault-meta-fail"):
        r, dt = timed(v.post, "/v1/accounts", A, acct_body("metafail"))
        fails_closed(r, dt, "meta page write fails")
    # LMDB now answers MDB_PANIC to every transaction: refuse, say so, keep serving
    r, dt = timed(v.post, "/v1/accounts", A, acct_body("after-panic"))
    fails_closed(r, dt, "after a fatal storage error, writes")
    r = v.get("/v1/health")
    t.ok(r.status == 503 and "restart" in msg(r),
         "after a fatal storage error, health says 503 and asks for a restart (%r)" % (r,))
    t.ok("refusing every write until the server is restarted" in v.logtext(),
         "the log says why")
    v.stop()
    v.start()
    t.eq(v.get("/v1/health").status, 200, "after a restart, health is 200")
    t.ok(account_exists(v, "before"), "after a restart, the earlier account is intact")
    t.ok(not account_exists(v, "metafail"), "after a restart, the failed request left nothing")
    t.ok(not account_exists(v, "after-panic"), "nor did the refused one")
    t.eq(v.post("/v1/accounts", A, acct_body("after-restart")).status, 201,
         "after a restart, writes work")
    evs = all_events(v, au.token)
    t.eq([e["seq"] for e in evs], list(range(1, len(evs) + 1)), "the chain has no gap")
    chain_verifies(v, au.token, "after the fatal error and a restart")

# --- a tiny map: the reserve keeps audit and admin work going -----------------
with faulty_vault(["--map-size", "4"]) as v:
    c = Core(v)
    A = v.admin
    au = c.auditor()
    cust = c.customer()
    agent = c.agent()
    w = c.ticket(cust)
    conn = v.conn()
    stored, last = [], None
    for i in range(2000):
        body = {"label": "fill-%d" % i, "kind": "rdp", "secret": secrets.token_hex(4096),
                "notes": secrets.token_hex(2048)}
        last = v.post(w.path + "/credentials", cust.token, body, conn=conn)
        if last.status != 201:
            break
        stored.append(last.json["id"])
    t.ok(len(stored) > 10, "uploads fill the map (%d stored)" % len(stored))
    t.eq((last.status, last.code), (503, "unavailable"), "then an upload gets 503 unavailable")
    # small uploads would fit where a large one does not: fill up with those
    small = 0
    for i in range(5000):
        r = v.post(w.path + "/credentials", cust.token,
                   {"label": "small-%d" % i, "kind": "rdp", "secret": "x"}, conn=conn)
        if r.status != 201:
            break
        small += 1
    conn.close()
    t.diag("%d small uploads after the first refusal" % small)
    t.eq((r.status, r.code), (503, "unavailable"), "small uploads are refused as well")
    t.ok("storage is full" in msg(last), "saying the storage is full (%r)" % msg(last))
    t.ok("refusing ordinary writes" in v.logtext(), "the log says only the reserve is left")
    r = v.get("/v1/health")
    t.ok(r.status == 200 and (r.json or {}).get("storage") == "low",
         "health answers 200 with storage \"low\" (%r)" % (r,))

    # what may use the reserve
    r_admin = v.post("/v1/accounts", A, acct_body("made-when-full"))
    t.eq(r_admin.status, 201, "an admin request still succeeds")
    r_401 = v.get("/v1/me", "rsv_" + "B" * 43)
    t.eq(r_401.status, 401, "a failed authentication is still answered 401")
    r_403 = v.post("/v1/accounts", cust.token, acct_body("not-allowed"))
    t.eq(r_403.status, 403, "a denied request is still answered 403")
    r_ord = v.post(w.path + "/credentials", cust.token,
                   {"label": "one-more", "kind": "rdp", "secret": "x"})
    t.eq((r_ord.status, r_ord.code), (503, "unavailable"), "ordinary work still fails closed")
    r_read = v.get("/v1/tickets", cust.token)
    t.eq(r_read.status, 503, "even a customer's read (it writes an audit event)")
    evs = all_events(v, au.token)
    byrid = {e["request_id"]: e for e in evs}
    t.ok(byrid.get(rid(r_admin), {}).get("outcome") == "allow",
         "the admin request's event was written")
    t.ok(byrid.get(rid(r_401), {}).get("reason") == "unauthenticated",
         "the failed authentication's event was written")
    t.ok(byrid.get(rid(r_403), {}).get("reason") == "forbidden",
         "the denial's event was written")
    t.ok(rid(r_ord) not in byrid and rid(r_read) not in byrid and rid(last) not in byrid,
         "the refused requests left no event")
    t.eq([e["seq"] for e in evs], list(range(1, len(evs) + 1)), "the chain has no gap")
    health_ok(v, "map in its reserve")

    # an admin closes the ticket: its credentials are destroyed, room comes back
    r = v.post(w.path + "/close", A)
    t.eq(r.status, 200, "an admin can close the full ticket")
    deadline = time.time() + 10
    while time.time() < deadline and (v.get("/v1/health").json or {}).get("storage") != "ok":
        time.sleep(0.2)
    t.eq((v.get("/v1/health").json or {}).get("storage"), "ok", "health: storage ok again")
    w2 = c.ticket(cust)
    cid = c.cred(w2, label="after-room")
    t.ok(cid in c.cred_ids(w2), "ordinary work succeeds again")
    chain_verifies(v, au.token, "after the map filled up")


# --- shutdown while connections keep arriving ----------------------------------
# libmicrohttpd 0.9.75's MHD_quiesce_daemon takes the listening socket out
# of each worker's epoll set from the main thread while a worker that wakes
# may take it out first; the main thread's ENOENT is then a panic (abort).
# The shim holds the main thread's removals back 300 ms and connections keep
# waking the workers meanwhile, which made every stop of the old server
# abort. The server no longer quiesces that way: each stop must exit 0.
for rnd in range(3):
    v = faulty_vault()
    v.start()
    open(os.path.join(v.data, "fault-main-epoll-del-slow"), "w").close()
    stop_at = time.time() + 2.5
    def knock():
        import socket
        while time.time() < stop_at:
            try:
                s = socket.create_connection((v.host.strip("[]"), v.port), timeout=0.5)
                s.close()
            except OSError:
                pass
            time.sleep(0.01)
    th = threading.Thread(target=knock)
    th.start()
    time.sleep(0.3)
    rc = v.stop()
    th.join()
    t.eq(rc, 0, "stop %d with connections arriving: exit 0, no abort in libmicrohttpd" % (rnd + 1))
    if rc != 0:
        break

t.done()

#!/usr/bin/env python3
"""No answer before its commit is durable (docs/architecture.md, "Durability:
pipelined syncs").

The writer commits with MDB_NOMETASYNC: a commit's meta page is written
without a sync, and a separate sync makes it durable while the writer runs
the next batch. An answer that depends on the commit must leave only after
that sync. A process kill cannot show the difference (the page cache
survives it), so this test watches the disk calls instead: rsvaultd runs
with tests/lib/fault_preload.c, which logs every write of an LMDB meta page
and every sync of the data file with CLOCK_MONOTONIC times
(RSVAULT_FAULT_LOG), and makes each sync 100 ms slow (fault-sync-slow). For
each request, sent and answered one at a time, the first meta page written
while it was in flight (its own commit's, or an earlier one's that it
builds on) must be durable before the answer arrived: written through an
O_DSYNC descriptor, or followed by a sync that started after the write and
ended, successfully, before the answer. An answer released at the commit,
or after a sync that began before the meta write, fails this by ~100 ms.

Then a sync that fails after a commit (fault-metasync-fail: only a sync that
covers a meta page fails, not the commit's own data sync): the request must
get 503 saying the outcome is unknown, never 201; the store refuses writes
and health asks for a restart; after the restart the change and its audit
event are there together or not at all, and the chain verifies."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault, binpath, tmpdir, give_to_server  # noqa: E402
from rsvshim import preload_env, shim  # noqa: E402
from rsvcore import Core, all_events  # noqa: E402

t = TAP()
SO = shim(t, "fault")

BOUND = 5.0  # s: RSVAULT_TEST_QUEUE_TIMEOUT_MS


def vault_with_shim():
    d = tmpdir("durable")
    data = os.path.join(d, "data")
    give_to_server(data)
    logp = os.path.join(d, "disk.log")
    open(logp, "w").close()
    os.chmod(logp, 0o666)
    env = preload_env(SO, RSVAULT_FAULT_DIR=data, RSVAULT_FAULT_LOG=logp,
                      RSVAULT_TEST_QUEUE_TIMEOUT_MS=str(int(BOUND * 1000)))
    v = Vault(env=env, workdir=d)
    v.disklog = logp
    return v


def control(v, name, on):
    p = os.path.join(v.data, name)
    if on:
        open(p, "w").close()
    elif os.path.exists(p):
        os.unlink(p)


def disk_events(v):
    metas, syncs = [], []
    with open(v.disklog) as f:
        for line in f:
            p = line.split()
            if len(p) == 3 and p[0] == "meta":
                metas.append((int(p[1]), p[2] == "1"))
            elif len(p) == 4 and p[0] == "sync":
                syncs.append((int(p[1]), int(p[2]), int(p[3])))
    return metas, syncs


def msg(r):
    return (r.json or {}).get("error", {}).get("message", "") if r.json else ""


def timed(fn, *a, **kw):
    t0 = time.monotonic_ns()
    r = fn(*a, **kw)
    return r, t0, time.monotonic_ns()


# --- every acknowledged answer comes after the sync of its commit ------------
with vault_with_shim() as v:
    c = Core(v)
    A = v.admin
    cust = c.customer()
    agent = c.agent()
    w = c.world(cust, agent, session=True)
    windows = []  # (what, status, t_sent, t_answered)
    control(v, "fault-sync-slow", True)
    try:
        for i in range(6):
            r, t0, t1 = timed(v.post, "/v1/accounts", A,
                              {"id": "dur-%d" % i, "role": "customer",
                               "email": "dur-%d@example.test" % i})
            windows.append(("account %d" % i, r.status, 201, t0, t1))
            r, t0, t1 = timed(v.post, w.path + "/credentials", cust.token,
                              {"label": "dur-%d" % i, "kind": "rdp", "secret": "s-%d" % i})
            windows.append(("upload %d" % i, r.status, 201, t0, t1))
            r, t0, t1 = timed(c.read_secret, w)
            windows.append(("secret read %d" % i, r.status, 200, t0, t1))
    finally:
        control(v, "fault-sync-slow", False)
    metas, syncs = disk_events(v)
    t.diag("%d meta page writes, %d syncs logged" % (len(metas), len(syncs)))
    late = []
    for what, status, want, t0, t1 in windows:
        if status != want:
            t.ok(False, "%s: answered %d (want %d)" % (what, status, want))
            continue
        inflight = [m for m in metas if t0 < m[0] < t1]
        if not inflight:
            late.append("%s: no meta page written while it was in flight" % what)
            continue
        mt, dsync = inflight[0]
        cover = [s for s in syncs if s[0] >= mt and s[1] <= t1 and s[2] == 0]
        if not dsync and not cover:
            after = [s for s in syncs if s[0] >= mt and s[2] == 0]
            late.append("%s: answered %.1f ms after its meta write, %s"
                        % (what, (t1 - mt) / 1e6,
                           "the covering sync ended %.1f ms after the answer"
                           % ((after[0][1] - t1) / 1e6) if after else "no covering sync"))
    t.ok(not late, "each of %d answers came after a sync that made its commit durable"
         % len(windows))
    for x in late[:10]:
        t.diag(x)
    # the sync-duration metric counts the syncer's syncs
    r = v.get("/v1/metrics", A)
    if r.status == 200:
        body = r.body.decode() if isinstance(r.body, bytes) else str(r.body)
        t.ok("rsvault_store_sync_duration_seconds_count" in body,
             "the metrics show rsvault_store_sync_duration_seconds")
    else:
        t.ok(False, "GET /v1/metrics answers 200 (%d)" % r.status)

# --- a sync that fails after the commit: 503, never success ------------------
with vault_with_shim() as v:
    c = Core(v)
    A = v.admin
    au = c.auditor()
    t.eq(v.post("/v1/accounts", A, {"id": "before", "role": "customer",
                                    "email": "before@example.test"}).status, 201,
         "an account before the fault")
    control(v, "fault-metasync-fail", True)
    try:
        r = v.post("/v1/accounts", A, {"id": "metasync", "role": "customer",
                                       "email": "metasync@example.test"})
        rid = r.header("X-Request-Id")
        t.eq((r.status, r.code), (503, "unavailable"),
             "the sync after the commit fails: 503, not 201 (%d)" % r.status)
        t.ok("outcome is unknown" in msg(r) or "nothing changed" in msg(r),
             "the message says what is known (%r)" % msg(r))
        h = v.get("/v1/health")
        t.ok(h.status == 503 and "restart" in msg(h),
             "health answers 503 and asks for a restart (%r)" % (h,))
        r2 = v.post("/v1/accounts", A, {"id": "after-fail", "role": "customer",
                                        "email": "after-fail@example.test"})
        t.eq(r2.status, 503, "later writes are refused")
    finally:
        control(v, "fault-metasync-fail", False)
    t.ok("refusing every write until the server is restarted" in v.logtext(),
         "the log says why")
    v.stop()
    v.start()
    t.eq(v.get("/v1/health").status, 200, "after a restart, health is 200")
    evs = all_events(v, au.token)
    made = v.post("/v1/accounts/metasync/tokens", A).status == 201
    ev = [e for e in evs if e["request_id"] == rid]
    t.ok(made == (len(ev) == 1) and ("outcome is unknown" in msg(r) or not made),
         "the unconfirmed change and its event are there together or not at all "
         "(account %s, %d events)" % (made, len(ev)))
    t.ok(not any(e.get("request_id") == r2.header("X-Request-Id") for e in evs),
         "the refused request left no event")
    t.eq([e["seq"] for e in evs], list(range(1, len(evs) + 1)), "the chain has no gap")
    t.eq(v.post("/v1/accounts", A, {"id": "after-restart", "role": "customer",
                                    "email": "after-restart@example.test"}).status, 201,
         "after a restart, writes work")
    for _ in range(100):  # enough events for a signed checkpoint
        v.get("/v1/me", A)
    out = os.path.join(v.dir, "export.jsonl")
    env = dict(os.environ, RSVAULT_ADDR=v.addr, RSVAULT_CACERT=v.ca, RSVAULT_TOKEN=au.token)
    env.pop("LD_PRELOAD", None)
    p = subprocess.run([binpath("rsvault"), "audit", "export", "-o", out], env=env,
                       capture_output=True, timeout=60)
    t.ok(p.returncode == 0, "audit export exits 0")
    p = subprocess.run([binpath("rsvault-keys"), "verify-audit", out, "--pubkey",
                        os.path.join(v.keys, "audit.pub")], capture_output=True, timeout=60)
    if not t.ok(p.returncode == 0, "the audit chain verifies after the failed sync and a restart"):
        t.diag(p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace"))

t.done()

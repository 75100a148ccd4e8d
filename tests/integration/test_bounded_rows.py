#!/usr/bin/env python3
"""Work per request and per periodic tick does not grow with the number of
credentials a ticket holds (issue 10, the latency tail of `make bench`).

A ticket gets 2,500 credentials (as the bench's uploads pile them onto the
ticket its secret reads use); then the hot-path routes run against it:
secret reads in a session, uploads, the ticket list, the ticket, a page of
its credentials (first page and a page deep inside the list, limit 10),
the end of the session (its reads become rotation prompts). Test builds
expose, in GET /v1/metrics, the most rows (LMDB gets and cursor steps) that
one writer operation, one periodic tick and one read transaction visited;
each must stay far below the number of credentials. A walk over the
ticket's credentials anywhere on these paths (the tick's sweeps, an upload
or read looking at every credential, a page of the list reached by
skipping every credential before it) shows up as thousands of rows. No
wall-clock threshold is involved. TAP on stdout."""
import base64
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect, guarded  # noqa: E402

t = TAP()

N = 2500        # credentials on the one ticket
WORKERS = 8     # upload connections
BOUND = 200     # rows one operation, tick or read may visit here (today: under 50)
METRICS = ("rsvault_test_store_op_rows_max", "rsvault_test_store_tick_rows_max",
           "rsvault_test_store_read_rows_max")


def upload_many(v, w, n):
    """n credentials on ticket w, over WORKERS kept-alive connections."""
    ids, errors, lock = [], [], threading.Lock()

    def work(count):
        conn = v.conn()
        try:
            for _ in range(count):
                r = v.post(w.path + "/credentials", w.owner.token,
                           {"label": "bulk", "kind": "rdp", "secret": "bulk-secret-value",
                            "ttl_s": 86400}, conn=conn)
                with lock:
                    if r.status == 201:
                        ids.append(r.json["id"])
                    else:
                        errors.append(r.status)
        finally:
            conn.close()

    per = [n // WORKERS + (1 if i < n % WORKERS else 0) for i in range(WORKERS)]
    ths = [threading.Thread(target=work, args=(c,)) for c in per]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return ids, errors


def scrape(v):
    r = v.get("/v1/metrics", v.admin)
    out = {}
    if r.status != 200:
        return r.status, out
    for line in r.body.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in METRICS:
            out[parts[0]] = float(parts[1])
    return 200, out


def cursor(cid):
    """A page's "next" for the item cid: base64url of its sort key (page.h)."""
    return base64.urlsafe_b64encode(cid.encode()).decode().rstrip("=")


def main(v):
    c = Core(v)
    owner, ag = c.customer("pro"), c.agent()
    w = c.world(owner, ag, cred=True, session=True)
    st, m0 = scrape(v)
    t.eq(st, 200, "metrics scrape answers 200")
    t.ok(all(k in m0 for k in METRICS),
         "a test build exposes the rows-visited maxima (%s)" % sorted(m0))

    ids, errors = upload_many(v, w, N)
    t.eq(errors, [], "%d uploads to one ticket, all 201" % N)
    all_ids = sorted(ids + [w.cid], key=lambda s: s.encode())

    # the hot path, against the full ticket
    reads = [c.read_secret(w, cid=cid).status for cid in ids[:20]]
    t.eq(reads, [200] * 20, "20 secret reads of different credentials in the session")
    r = v.post(w.path + "/credentials", owner.token,
               {"label": "bulk", "kind": "rdp", "secret": "one-more-secret"})
    expect(t, r, 201, name="one more upload")
    all_ids = sorted(all_ids + [r.json["id"]], key=lambda s: s.encode())
    r = v.get("/v1/tickets", ag.token)
    expect(t, r, 200, name="ticket list as the agent")
    expect(t, v.get(w.path, ag.token), 200, name="the ticket as the agent")

    r = v.get(w.path + "/credentials?limit=10", owner.token)
    expect(t, r, 200, name="first page of the credentials, limit 10")
    t.eq([x["id"] for x in r.json["credentials"]], all_ids[:10],
         "it holds the first 10 ids in key order")
    at = len(all_ids) - 15
    r = v.get(w.path + "/credentials?limit=10&after=" + cursor(all_ids[at]), owner.token)
    expect(t, r, 200, name="a page deep in the list (after the %dth credential)" % (at + 1))
    t.eq([x["id"] for x in r.json["credentials"]], all_ids[at + 1:at + 11],
         "it holds the 10 ids after the cursor, none before it")
    t.ok("next" in r.json, "and says more follow")
    r = v.get(w.path + "/credentials?limit=10&after=" + r.json.get("next", ""), owner.token)
    expect(t, r, 200, name="the last page")
    t.eq([x["id"] for x in r.json["credentials"]], all_ids[at + 11:],
         "it holds the rest, without next (%s)" % ("next" in r.json))

    r = v.delete("/v1/sessions/%s" % w.sid, ag.token)
    t.ok(r.status in (200, 204), "the agent ends the session (%d)" % r.status)
    time.sleep(2.5)  # at least two periodic ticks with every credential present

    st, m = scrape(v)
    t.eq(st, 200, "metrics scrape after the load")
    for k in METRICS:
        t.ok(k in m and m[k] <= BOUND,
             "%s = %s with %d credentials on the ticket (bound %d)" % (k, m.get(k), N, BOUND))
    t.ok(m.get("rsvault_test_store_op_rows_max", 0) > 0 and
         m.get("rsvault_test_store_read_rows_max", 0) > 0 and
         m.get("rsvault_test_store_tick_rows_max", 0) > 0,
         "the counters counted (all above 0)")
    return True


V = Vault()
try:
    V.start()
    guarded(t, "bounded rows", main, V)
    t.eq(V.stop(), 0, "server stops cleanly")
finally:
    V.stop()
if t.failed == 0 and not os.environ.get("RSVAULT_KEEP_TMP"):
    shutil.rmtree(V.dir, ignore_errors=True)
t.done()

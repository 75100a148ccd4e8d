#!/usr/bin/env python3
"""Audit pages and credential lists are read after their request's commit,
outside the writer (docs/decisions.md, "Audit pages read after the
commit"): an audit page holds exactly the events committed before the
listing's decision, never the listing's own event or a later one, however
many writes commit around it; the next page starts where it ended and
holds the listing's own event; the checkpoint list pages the same way; a
credential list shows what was committed before it."""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, all_events  # noqa: E402

t = TAP()

with Vault(keepalive=True) as v:
    core = Core(v)
    cust = core.customer()
    aud = core.auditor()
    w = core.world(cust)

    # --- one listing at a time ----------------------------------------------
    head = all_events(v, aud.token)[-1]["seq"]
    r = v.get("/v1/audit?after_seq=%d&limit=1000" % (head - 1), aud.token)
    t.eq(r.status, 200, "auditor lists the newest events")
    rid = r.header("X-Request-Id")
    seqs = [e["seq"] for e in r.json["events"]]
    if not t.ok(seqs and seqs[-1] == r.json["next_seq"], "next_seq is the last seq listed"):
        t.diag(seqs)
    t.ok(all(e.get("request_id") != rid for e in r.json["events"]),
         "the page does not hold the listing's own event")
    r2 = v.get("/v1/audit?after_seq=%d&limit=1000" % r.json["next_seq"], aud.token)
    own = [e for e in r2.json["events"] if e.get("request_id") == rid]
    if not t.ok(len(own) == 1 and own[0]["action"] == "audit.list" and
                own[0]["seq"] == r.json["next_seq"] + 1,
                "the next page starts with the listing's own event"):
        t.diag(r2.json["events"][:3])
    d = v.get("/v1/audit?order=desc&limit=5", aud.token)
    drid = d.header("X-Request-Id")
    t.ok(d.status == 200 and all(e.get("request_id") != drid for e in d.json["events"]),
         "a newest-first page does not hold its own event either")
    t.eq(d.json["events"][0]["seq"], r2.json["events"][-1]["seq"] + 1,
         "a newest-first page starts at the newest event committed before it")

    # --- listings racing writes ---------------------------------------------
    stop = threading.Event()
    errors = []

    def writer():
        i = 0
        while not stop.is_set():
            r = v.post(w.path + "/credentials", cust.token,
                       {"label": "race %d" % i, "kind": "ssh", "secret": "s%d" % i})
            if r.status != 201:
                errors.append(r.status)
            i += 1

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for th in threads:
        th.start()
    bad_own, bad_gap, bad_tail, pages = [], [], [], 0
    try:
        after = all_events(v, aud.token)[-1]["seq"]
        for _ in range(60):
            r = v.get("/v1/audit?after_seq=%d&limit=1000" % after, aud.token)
            if r.status != 200:
                bad_own.append(r.status)
                continue
            pages += 1
            rid = r.header("X-Request-Id")
            evs = r.json["events"]
            seqs = [e["seq"] for e in evs]
            if any(e.get("request_id") == rid for e in evs):
                bad_own.append(rid)
            if seqs != list(range(after + 1, after + 1 + len(seqs))):
                bad_gap.append(seqs[:5])
            # the page ends right before the listing's own event
            nxt = v.get("/v1/audit?after_seq=%d&limit=1000" % (seqs[-1] if seqs else after),
                        aud.token)
            mine = [e for e in nxt.json["events"] if e.get("request_id") == rid]
            if not mine or mine[0]["seq"] <= (seqs[-1] if seqs else after):
                bad_tail.append(rid)
            after = nxt.json["next_seq"]
    finally:
        stop.set()
        for th in threads:
            th.join()
    t.eq(errors, [], "uploads racing the listings all succeeded")
    t.ok(pages >= 50, "listings answered while uploads commit (%d)" % pages)
    t.eq(bad_own, [], "no page racing writes holds its own event")
    t.eq(bad_gap, [], "every page racing writes is a run of consecutive seqs")
    t.eq(bad_tail, [], "the listing's own event comes after every event of its page")

    # --- checkpoints ---------------------------------------------------------
    while all_events(v, aud.token)[-1]["seq"] < 105:
        v.get("/v1/me", cust.token)
    cps = v.get("/v1/audit/checkpoints?after_seq=0&limit=1000", aud.token)
    seqs = [c["seq"] for c in cps.json["checkpoints"]]
    t.ok(cps.status == 200 and seqs and seqs[0] == 100 and cps.json["next_seq"] == seqs[-1],
         "the checkpoint list holds seq 100 and next_seq is its last seq")

    # --- the ticket's trail and the credential list --------------------------
    tr = v.get(w.path + "/audit?limit=1000", cust.token)
    trid = tr.header("X-Request-Id")
    t.ok(tr.status == 200 and all(e.get("request_id") != trid for e in tr.json["events"]),
         "a ticket's trail does not hold its own listing's event")
    cid = core.cred(w, label="last one")
    ids = core.cred_ids(w)
    t.ok(cid in ids, "a credential list shows the credential committed just before it")
    r = v.delete(w.path + "/credentials/" + cid, cust.token)
    t.eq(r.status, 204, "credential deleted")
    t.ok(cid not in core.cred_ids(w), "a credential list after the delete does not show it")

t.done()

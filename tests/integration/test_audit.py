#!/usr/bin/env python3
"""Audit log: every decision recorded with its reason, the chain and the
checkpoints verify offline with the real client, every kind of tampering is
detected, the auditor routes and their permissions, paging (oldest first,
newest first, a ticket's trail), fail-closed writes."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault, binpath  # noqa: E402
from rsvcore import all_events  # noqa: E402

t = TAP()
MARK = "Zq9-audit-marker-" + os.urandom(6).hex()


def client(v, token, *args, stdin=None):
    env = dict(os.environ, RSVAULT_ADDR=v.addr, RSVAULT_CACERT=v.ca, RSVAULT_TOKEN=token)
    return subprocess.run([binpath("rsvault")] + list(args), input=stdin, capture_output=True,
                          env=env, timeout=60)


def verify(v, path, *extra):
    return client(v, "", "audit", "verify", path, "--pubkey",
                  os.path.join(v.keys, "audit.pub"), *extra)


with Vault() as v:
    A = v.admin
    acct = {}
    for aid, role in (("cust1", "customer"), ("cust2", "customer"), ("agent1", "agent"),
                      ("aud1", "auditor")):
        r = v.post("/v1/accounts", A, {"id": aid, "role": role, "email": aid + "@example.com"})
        acct[aid] = r.json["token"]
    v.post("/v1/licenses", A, {"key": "LIC-PRO-1", "type": "pro", "email": "cust1@example.com"})
    C1, C2, AG, AU = acct["cust1"], acct["cust2"], acct["agent1"], acct["aud1"]

    tid = v.post("/v1/tickets", C1, {"subject": "printer"}).json["id"]
    cid = v.post("/v1/tickets/%s/credentials" % tid, C1,
                 {"label": "ru", "kind": "remote-utilities", "secret": MARK,
                  "notes": MARK + "-notes"}).json["id"]
    v.post("/v1/tickets/%s/assign" % tid, A, {"agent": "agent1"})
    sid = v.post("/v1/tickets/%s/sessions" % tid, AG).json["id"]
    r = v.get("/v1/tickets/%s/credentials/%s/secret" % (tid, cid), AG,
              headers={"X-Session-Id": sid})
    t.eq(r.json.get("secret") if r.json else None, MARK, "secret released in session")
    read_rid = r.header("X-Request-Id")
    bad = v.get("/v1/me", "rsv_not-a-real-token")
    t.eq(bad.status, 401, "bad token 401")
    other = v.get("/v1/tickets/" + tid, C2)
    t.eq((other.status, other.code), (404, "not_found"), "other customer gets 404")
    nosess = v.get("/v1/tickets/%s/credentials/%s/secret" % (tid, cid), AG)
    t.eq(nosess.code, "session_required", "read without session denied")

    # --- auditor routes and permissions -------------------------------------
    for who, tok in (("agent", AG), ("customer", C1), ("admin", A)):
        r = v.get("/v1/audit", tok)
        t.eq((r.status, r.code), (403, "forbidden"), "%s gets 403 on /v1/audit" % who)
        r = v.get("/v1/audit/checkpoint", tok)
        t.eq(r.status, 403, "%s gets 403 on /v1/audit/checkpoint" % who)
    r = v.get("/v1/tickets/%s/audit" % tid, C2)
    t.eq((r.status, r.code), (404, "not_found"), "another customer's ticket audit: 404")
    r = v.get("/v1/tickets/%s/audit" % tid, AG)
    t.eq((r.status, r.code), (403, "forbidden"), "assigned agent may not read ticket audit")
    r = v.get("/v1/tickets/%s/audit" % tid, C1)
    t.eq(r.status, 200, "owner reads own ticket's audit")
    acts = [(e["actor"], e["action"], e["outcome"]) for e in r.json["events"]]
    t.ok(("agent1", "credential.read", "allow") in acts,
         "owner sees who read their credential")
    r = v.get("/v1/audit?limit=1001", AU)
    t.eq((r.status, r.code), (400, "invalid_field"), "limit over 1000: 400 invalid_field")
    r = v.get("/v1/audit?limit=0", AU)
    t.eq((r.status, r.code), (400, "invalid_field"), "limit 0: 400 invalid_field")
    r = v.get("/v1/audit?after_seq=-1", AU)
    t.eq(r.status, 400, "negative after_seq: 400")
    r = v.get("/v1/audit?bogus=1", AU)
    t.eq(r.status, 400, "unknown query parameter: 400")

    # enough events for a checkpoint at 100
    for _ in range(110):
        v.get("/v1/me", C1)

    evs = all_events(v, AU)
    seqs = [e["seq"] for e in evs]
    t.eq(seqs, list(range(1, len(seqs) + 1)), "seq 1..%d without gaps" % len(seqs))
    t.eq(evs[0]["prev"], "0" * 64, "prev of seq 1 is 64 zeros")
    t.ok(all(evs[i]["prev"] == evs[i - 1]["hash"] for i in range(1, len(evs))),
         "every prev links to the previous hash")
    fields = ["seq", "form", "time", "actor", "role", "action", "ticket", "credential",
              "session", "outcome", "reason", "ip", "request_id", "target", "token", "cert",
              "prev", "hash"]
    t.ok(all(list(e.keys()) == fields for e in evs), "event fields in SPEC order (form 2)")
    t.ok(all(e["form"] == 2 for e in evs), "every new event is of form 2")
    t.ok(all(len(e["time"]) == 24 and e["time"].endswith("Z") for e in evs),
         "times are RFC 3339 UTC with milliseconds")
    fails = [e for e in evs if e["reason"] == "unauthenticated"]
    t.ok(len(fails) >= 1 and fails[0]["actor"] is None and fails[0]["role"] is None
         and fails[0]["outcome"] == "deny" and fails[0]["request_id"] == bad.header("X-Request-Id"),
         "failed authentication recorded: actor/role null, reason, request id")
    e404 = [e for e in evs if e["request_id"] == other.header("X-Request-Id")]
    t.ok(len(e404) == 1 and e404[0]["actor"] == "cust2" and e404[0]["reason"] == "not_found"
         and e404[0]["outcome"] == "deny", "404 to another customer recorded with its reason")
    eread = [e for e in evs if e["request_id"] == read_rid]
    t.ok(len(eread) == 1 and eread[0]["action"] == "credential.read"
         and eread[0]["credential"] == cid and eread[0]["session"] == sid
         and eread[0]["outcome"] == "allow", "secret read recorded with credential and session")
    t.ok(any(e["reason"] == "session_required" for e in evs), "session_required denial recorded")
    t.ok(not any(MARK in json.dumps(e) for e in evs), "no event holds the planted secret")

    # filters and paging
    r = v.get("/v1/audit?actor=cust2&outcome=deny", AU)
    t.ok(r.status == 200 and r.json["events"] and
         all(e["actor"] == "cust2" and e["outcome"] == "deny" for e in r.json["events"]),
         "filters actor and outcome")
    r = v.get("/v1/audit?ticket=%s&action=credential.read" % tid, AU)
    t.ok(r.status == 200 and len(r.json["events"]) >= 1 and
         all(e["ticket"] == tid for e in r.json["events"]), "filters ticket and action")
    p1 = v.get("/v1/audit?limit=10", AU).json
    p2 = v.get("/v1/audit?limit=10&after_seq=%d" % p1["next_seq"], AU).json
    t.eq([e["seq"] for e in p1["events"] + p2["events"]], list(range(1, 21)),
         "paging by next_seq")

    # --- newest first: order=desc&before_seq= ---------------------------------
    asc = all_events(v, AU)
    head = asc[-1]["seq"]
    d1 = v.get("/v1/audit?order=desc&limit=10&before_seq=%d" % (head + 1), AU).json or {}
    t.eq([e["seq"] for e in d1.get("events", [])], list(range(head, head - 10, -1)),
         "order=desc: newest first from before_seq - 1")
    t.eq(d1.get("next_seq"), head - 9, "order=desc: next_seq is the before_seq of the next page")
    d2 = v.get("/v1/audit?order=desc&limit=10&before_seq=%s" % d1.get("next_seq"), AU).json or {}
    t.eq([e["seq"] for e in d2.get("events", [])], list(range(head - 10, head - 20, -1)),
         "order=desc: the next page continues below")
    walk, before, pages = [], head + 1, 0
    while pages < 50:
        r = v.get("/v1/audit?order=desc&limit=37&before_seq=%d" % before, AU)
        if r.status != 200 or r.json["next_seq"] == before:
            break
        walk += r.json["events"]
        before, pages = r.json["next_seq"], pages + 1
    t.eq([(e["seq"], e["hash"]) for e in walk], [(e["seq"], e["hash"]) for e in reversed(asc)],
         "walking newest first to next_seq == before_seq gives the whole log reversed")
    r = v.get("/v1/audit?order=desc&before_seq=1", AU)
    t.ok(r.status == 200 and r.json["events"] == [] and r.json["next_seq"] == 1,
         "order=desc&before_seq=1: nothing older, next_seq 1")
    r = v.get("/v1/audit?order=desc&limit=1", AU)
    t.ok(r.status == 200 and r.json["events"] and r.json["events"][0]["seq"] > head,
         "order=desc without before_seq starts at the newest event")
    r = v.get("/v1/audit?order=desc&before_seq=%d&limit=1" % (head + 10 ** 9), AU)
    t.ok(r.status == 200 and len(r.json["events"]) == 1 and r.json["events"][0]["seq"] > head,
         "a before_seq past the end starts at the newest event")
    r = v.get("/v1/audit?order=desc&actor=cust2&outcome=deny", AU)
    sq = [e["seq"] for e in r.json["events"]] if r.status == 200 else []
    t.ok(sq and sq == sorted(sq, reverse=True) and
         all(e["actor"] == "cust2" and e["outcome"] == "deny" for e in r.json["events"]),
         "order=desc with filters")
    r = v.get("/v1/audit?order=asc&limit=3", AU)
    t.eq([e["seq"] for e in r.json["events"]] if r.status == 200 else None, [1, 2, 3],
         "order=asc is the default order")
    for q, why in (("order=sideways", "unknown order"), ("order=", "empty order"),
                   ("order=DESC", "order is case-sensitive"),
                   ("before_seq=5", "before_seq without order=desc"),
                   ("order=asc&before_seq=5", "before_seq with order=asc"),
                   ("order=desc&after_seq=5", "after_seq with order=desc"),
                   ("order=desc&before_seq=0", "before_seq 0"),
                   ("order=desc&before_seq=-1", "negative before_seq"),
                   ("order=desc&before_seq=x", "before_seq not a number"),
                   ("order=desc&limit=1001", "limit over 1000 with order=desc"),
                   ("order=desc&order=asc", "order repeated")):
        r = v.get("/v1/audit?" + q, AU)
        t.eq((r.status, r.code), (400, "invalid_field"), "%s: 400 invalid_field" % why)
    p = client(v, AU, "audit", "list", "--newest", "--limit", "5")
    rows = p.stdout.decode().splitlines()[1:]
    sq = [int(x.split()[0]) for x in rows if x.split() and x.split()[0].isdigit()]
    t.ok(p.returncode == 0 and len(sq) == 5 and sq == sorted(sq, reverse=True) and sq[0] > head,
         "rsvault audit list --newest --limit 5: the five newest, newest first")
    p = client(v, AU, "--json", "audit", "list", "--newest", "--before", "11", "--limit", "3")
    j = json.loads(p.stdout or b"{}")
    t.ok(p.returncode == 0 and [e["seq"] for e in j.get("events", [])] == [10, 9, 8],
         "rsvault audit list --newest --before 11 --limit 3")
    p = client(v, AU, "audit", "list", "--before", "11")
    t.eq(p.returncode, 1, "--before without --newest is a usage error")

    # --- a ticket's trail, paged like /v1/audit ----------------------------------
    c = v.conn()
    try:
        for _ in range(130):
            v.get("/v1/tickets/" + tid, C1, conn=c)
    finally:
        c.close()
    want = [e["seq"] for e in all_events(v, AU) if e["ticket"] == tid]
    t.ok(len(want) > 130, "the ticket has %d events" % len(want))
    q1 = v.get("/v1/tickets/%s/audit" % tid, C1)
    j1 = q1.json if q1.status == 200 else {}
    e1 = j1.get("events", [])
    t.ok(len(e1) == 100, "ticket audit: 100 events by default")
    t.eq(sorted(j1.keys()), ["events", "next_seq"], "ticket audit answers {events, next_seq}")
    got = [e["seq"] for e in e1]
    t.eq(got, want[:100], "the oldest 100 of the ticket's events, oldest first")
    t.eq(j1.get("next_seq"), got[-1] if got else None, "next_seq is the last seq returned")
    q2 = v.get("/v1/tickets/%s/audit?after_seq=%s&limit=1000" % (tid, j1.get("next_seq")), C1)
    e2 = q2.json.get("events", []) if q2.status == 200 else []
    got2 = [e["seq"] for e in e2]
    t.eq(got2[:len(want) - 100], want[100:], "the next page continues after next_seq")
    t.ok(e1 and e2 and all(e["ticket"] == tid for e in e1 + e2), "every event names the ticket")
    t.ok(all(e["seq"] > want[-1] and e["action"] == "audit.ticket" for e in
             e2[len(want) - 100:]),
         "... and after them only the trail reads made since")
    q3 = v.get("/v1/tickets/%s/audit?after_seq=%d" % (tid, 10 ** 12), C1)
    t.ok(q3.status == 200 and q3.json["events"] == [] and q3.json.get("next_seq") == 10 ** 12,
         "past the end: no events, next_seq equals the after_seq sent")
    q4 = v.get("/v1/tickets/%s/audit?limit=7&after_seq=%d" % (tid, want[3]), AU)
    t.eq([e["seq"] for e in q4.json["events"]] if q4.status == 200 else None, want[4:11],
         "auditor: limit and after_seq")
    for q, why in (("limit=1001", "limit over 1000"), ("limit=0", "limit 0"),
                   ("after_seq=-1", "negative after_seq"), ("bogus=1", "unknown parameter"),
                   ("order=desc", "order (not offered here)"), ("limit=5&limit=6", "repeated")):
        r = v.get("/v1/tickets/%s/audit?%s" % (tid, q), C1)
        t.eq((r.status, r.code), (400, "invalid_field"), "ticket audit %s: 400 invalid_field" % why)
    r = v.get("/v1/tickets/%s/audit?bogus=1" % tid, C2)
    t.eq((r.status, r.code), (404, "not_found"), "another customer still gets 404 first")
    p = client(v, C1, "--json", "audit", "list", "--ticket", tid)
    j = json.loads(p.stdout or b"{}")
    sq = [e["seq"] for e in j.get("events", [])]
    t.ok(p.returncode == 0 and sq[:len(want)] == want and len(sq) >= len(want),
         "rsvault audit list --ticket follows the pages to the end (%d events)" % len(sq))
    p = client(v, C1, "--json", "audit", "list", "--ticket", tid, "--newest", "--limit", "4")
    j = json.loads(p.stdout or b"{}")
    sq = [e["seq"] for e in j.get("events", [])]
    t.ok(p.returncode == 0 and len(sq) == 4 and sq == sorted(sq, reverse=True)
         and sq[-1] > want[-1], "--ticket --newest --limit 4: the four newest")
    p = client(v, C1, "--json", "audit", "list", "--ticket", tid, "--after", str(want[120]),
               "--limit", "5", "--action", "ticket.read")
    j = json.loads(p.stdout or b"{}")
    t.eq([e["seq"] for e in j.get("events", [])], want[121:126],
         "--ticket --after N --limit 5 --action ticket.read")

    r = v.get("/v1/audit/checkpoint", AU)
    t.ok(r.status == 200 and r.json["seq"] >= 100, "a checkpoint exists by seq 100")
    t.eq(sorted(r.json.keys()), ["hash", "public_key", "seq", "signature"], "checkpoint fields")
    with open(os.path.join(v.keys, "audit.pub")) as f:
        t.eq(r.json["public_key"], f.read().strip(), "checkpoint carries audit.pub")
    byseq = {e["seq"]: e for e in all_events(v, AU)}
    t.eq(r.json["hash"], byseq[r.json["seq"]]["hash"], "checkpoint hash is its event's hash")
    cps = v.get("/v1/audit/checkpoints?after_seq=0", AU).json
    t.ok(cps["checkpoints"] and cps["checkpoints"][0]["seq"] == 100, "checkpoints listed")

    # --- export and offline verification -----------------------------------
    out = os.path.join(v.dir, "log.jsonl")
    p = client(v, AU, "audit", "export", "-o", out)
    t.eq(p.returncode, 0, "audit export exits 0")
    lines = open(out, "rb").read().decode().splitlines()
    recs = [json.loads(x) for x in lines]
    t.ok(all(r_["type"] in ("event", "checkpoint") for r_ in recs), "export records are typed")
    ncp = sum(1 for r_ in recs if r_["type"] == "checkpoint")
    t.ok(ncp >= 1, "export holds %d checkpoint(s)" % ncp)
    t.ok(MARK.encode() not in open(out, "rb").read(), "export holds no planted secret")
    p = verify(v, out)
    t.eq(p.returncode, 0, "untouched export verifies")
    t.diag(p.stdout.decode().strip())
    cp = [r_ for r_ in recs if r_["type"] == "checkpoint"][-1]
    pin = "%d:%s" % (cp["seq"], cp["hash"])
    p = verify(v, out, "--pin", pin)
    t.eq(p.returncode, 0, "export verifies against a pinned checkpoint")

    p = subprocess.run([binpath("rsvault-keys"), "verify-audit", out, "--pubkey",
                        os.path.join(v.keys, "audit.pub"), "--pin", pin], capture_output=True)
    t.ok(p.returncode == 0 and p.stdout.startswith(b"OK:"),
         "rsvault-keys verify-audit accepts the same export")

    def tampered(name, new_lines, *extra):
        path = os.path.join(v.dir, "t-%s.jsonl" % name.replace(" ", "_"))
        with open(path, "w") as f:
            f.write("\n".join(new_lines) + "\n")
        p = verify(v, path, *extra)
        msg = (p.stdout + p.stderr).decode()
        t.ok(p.returncode == 6 and "seq" in msg,
             "%s is detected, exit 6 (%s)" % (name, msg.strip()[:90]))
        return msg

    ev_idx = [i for i, r_ in enumerate(recs) if r_["type"] == "event"]
    mid = ev_idx[len(ev_idx) // 2]
    L = list(lines)
    L[mid] = L[mid].replace('"outcome":"allow"', '"outcome":"deny"', 1) \
        if '"outcome":"allow"' in L[mid] else L[mid].replace('"deny"', '"allow"', 1)
    msg = tampered("edited event", L)
    t.ok(str(recs[mid]["seq"]) in msg, "names the edited seq %d" % recs[mid]["seq"])
    L = list(lines)
    one = bytearray(L[mid].encode())
    pos = one.find(b'"action":"') + 11
    one[pos] ^= 0x01
    L[mid] = one.decode()
    tampered("one flipped byte", L)
    L = list(lines)
    del L[mid]
    tampered("deleted middle line", L)
    L = list(lines)
    L[mid], L[mid + 1] = L[mid + 1], L[mid]
    tampered("swapped lines", L)
    L = list(lines)
    forged = dict(recs[ev_idx[-1]])
    forged["seq"] += 1
    forged["prev"] = forged["hash"]
    forged["actor"] = "mallory"
    L.append(json.dumps(forged, separators=(",", ":")))
    tampered("appended forged line", L)
    L = list(lines)
    ins = dict(recs[mid])
    ins["actor"] = "mallory"
    L.insert(mid, json.dumps(ins, separators=(",", ":")))
    tampered("inserted line", L)
    cut = [i for i, r_ in enumerate(recs) if r_["type"] == "checkpoint"][-1]
    tampered("cut before the last checkpoint", lines[:cut - 1], "--pin", pin)
    # a checkpoint signed by another key
    L = list(lines)
    c2 = dict(recs[cut])
    c2["signature"] = "00" * 64
    L[cut] = json.dumps(c2, separators=(",", ":"))
    msg = tampered("forged checkpoint signature", L)
    path = os.path.join(v.dir, "t-forged_checkpoint_signature.jsonl")
    p = subprocess.run([binpath("rsvault-keys"), "verify-audit", path, "--pubkey",
                        os.path.join(v.keys, "audit.pub")], capture_output=True)
    t.ok(p.returncode == 6 and p.stdout.startswith(b"FAILED at seq"),
         "rsvault-keys verify-audit rejects it too, exit 6")

    # --- fail closed ----------------------------------------------------------
    open(os.path.join(v.data, "fault-audit"), "w").close()
    r1 = v.post("/v1/tickets", C1, {"subject": "must not exist"})
    t.eq((r1.status, r1.code), (503, "unavailable"), "audit write failure: 503 unavailable")
    r2 = v.get("/v1/me", "rsv_bogus")
    t.eq(r2.status, 503, "even a failed login fails closed when its event cannot be written")
    os.unlink(os.path.join(v.data, "fault-audit"))
    r = v.get("/v1/tickets", C1)
    t.ok(all(x["subject"] != "must not exist" for x in r.json["tickets"]),
         "nothing changed: the ticket was not created")
    evs = all_events(v, AU)
    rids = {r1.header("X-Request-Id"), r2.header("X-Request-Id")}
    t.ok(not any(e["request_id"] in rids for e in evs),
         "no event was written for the failed requests")
    t.eq([e["seq"] for e in evs], list(range(1, len(evs) + 1)), "and the chain has no gap")

# --- bounded wait: a stuck writer does not hang the server ----------------------
with Vault(env={"RSVAULT_TEST_QUEUE_TIMEOUT_MS": "1500"}) as v:
    A = v.admin
    stall = os.path.join(v.data, "fault-stall")
    open(stall, "w").close()
    t0 = time.time()
    r = v.post("/v1/accounts", A, {"id": "late", "role": "customer", "email": "l@example.com"})
    dt = time.time() - t0
    t.eq((r.status, r.code), (503, "unavailable"), "stuck writer: 503 unavailable")
    t.ok(dt < 5, "answered within a bounded time (%.1f s)" % dt)
    t.eq(v.get("/v1/health").status, 200, "health still answers while the writer is stuck")
    os.unlink(stall)
    r = v.post("/v1/accounts/late/tokens", A)
    t.eq((r.status, r.code), (404, "not_found"), "the timed-out request changed nothing")
    r = v.post("/v1/accounts", A, {"id": "late", "role": "customer", "email": "l@example.com"})
    t.eq(r.status, 201, "writes work again once the writer runs")

# --- time-based checkpoints --------------------------------------------------------
with Vault(env={"RSVAULT_TEST_CHECKPOINT_MS": "1000"}) as v:
    r = v.post("/v1/accounts", v.admin, {"id": "aud", "role": "auditor", "email": "a@example.com"})
    au = r.json["token"]
    for _ in range(5):
        v.get("/v1/me", au)
    time.sleep(2.5)
    r = v.get("/v1/audit/checkpoint", au)
    t.ok(r.status == 200 and r.json["seq"] >= 6,
         "a checkpoint is signed once the oldest unsigned event is old enough (seq %s)"
         % (r.json or {}).get("seq"))

t.done()

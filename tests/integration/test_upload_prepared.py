#!/usr/bin/env python3
"""Uploads checked and sealed on the connection's thread before they are
queued (docs/architecture.md, "Uploads prepared before the writer"): the
first upload of a ticket (no key yet) and the later ones are stored and
released alike; the gauntlet still decides before the body's 400 (another
customer gets 404, no token 401); a refused body names no credential in
its deny event; an unknown token gets nothing stored; uploads racing a
close either commit before the close (and are shredded with the ticket)
or are refused after it."""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, all_events  # noqa: E402

t = TAP()

with Vault() as v:
    core = Core(v)
    cust = core.customer()
    other = core.customer()
    agent = core.agent()
    aud = core.auditor()
    w = core.world(cust, agent=agent, session=True, secret="first-secret")
    r = core.read_secret(w)
    t.eq((r.status, r.json.get("secret") if r.json else None), (200, "first-secret"),
         "the first upload of a ticket (its key made in the writer) is released")

    up = v.post(w.path + "/credentials", cust.token,
                {"label": "second", "kind": "ssh", "secret": "second-secret", "ttl_s": 3600})
    t.eq(up.status, 201, "a later upload (sealed before the writer) is stored")
    cid = up.json["id"]
    r = core.read_secret(w, cid=cid)
    t.eq((r.status, r.json.get("secret"), r.json.get("label"), r.json.get("kind")),
         (200, "second-secret", "second", "ssh"), "and released with its fields")
    ev = [e for e in all_events(v, aud.token)
          if e.get("request_id") == up.header("X-Request-Id")]
    t.ok(len(ev) == 1 and ev[0]["action"] == "credential.create" and
         ev[0]["outcome"] == "allow" and ev[0]["credential"] == cid,
         "its allow event names the credential")
    t.ok(up.json["created_at"] <= ev[0]["time"] and up.json["expires_at"] > ev[0]["time"],
         "created_at is not after the event, expires_at after it")

    bad = {"label": "x", "kind": "no-such-kind", "secret": "s"}
    r = v.post(w.path + "/credentials", other.token, bad)
    t.eq((r.status, r.code), (404, "not_found"),
         "another customer with a bad body: 404 (the gauntlet decides first)")
    r = v.post(w.path + "/credentials", None, bad)
    t.eq(r.status, 401, "no token and a bad body: 401")
    r = v.post(w.path + "/credentials", "rsv_not-a-real-token", dict(bad, kind="ssh"))
    t.eq(r.status, 401, "an unknown token with a good body: 401")
    r = v.post(w.path + "/credentials", cust.token, bad)
    t.eq((r.status, r.code), (400, "invalid_field"), "the owner with a bad body: 400")
    rid = r.header("X-Request-Id")
    ev = [e for e in all_events(v, aud.token) if e.get("request_id") == rid]
    t.ok(len(ev) == 1 and ev[0]["outcome"] == "deny" and ev[0]["credential"] is None,
         "its deny event names no credential")
    t.eq(sorted(core.cred_ids(w)), sorted([w.cid, cid]),
         "only the two good uploads are stored")

    # --- uploads racing a close ---------------------------------------------
    w2 = core.world(cust)
    answers = []
    lock = threading.Lock()
    stop = threading.Event()

    def uploader(n):
        i = 0
        while not stop.is_set() and i < 400:
            r = v.post(w2.path + "/credentials", cust.token,
                       {"label": "race %d-%d" % (n, i), "kind": "rdp", "secret": "r%d" % i})
            with lock:
                answers.append((r.status, r.code, r.header("X-Request-Id"),
                                r.json.get("id") if r.status == 201 else None))
            if r.status == 409:
                return
            i += 1

    threads = [threading.Thread(target=uploader, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    while True:
        with lock:
            if len(answers) >= 40:
                break
    close = v.post(w2.path + "/close", cust.token)
    stop.set()
    for th in threads:
        th.join()
    t.eq(close.status, 200, "the ticket closed while uploads arrived")
    evs = {e["request_id"]: e for e in all_events(v, aud.token) if e.get("request_id")}
    close_seq = evs[close.header("X-Request-Id")]["seq"]
    ok = [a for a in answers if a[0] == 201]
    refused = [a for a in answers if a[0] != 201]
    t.ok(len(ok) >= 40, "uploads answered 201 before the close (%d)" % len(ok))
    t.eq([a for a in ok if evs.get(a[2], {}).get("seq", close_seq) >= close_seq], [],
         "every 201 upload has its allow event before the close")
    t.eq([a for a in ok if evs.get(a[2], {}).get("credential") != a[3]], [],
         "every 201 upload's event names the credential it answered")
    t.eq([a for a in refused if a[0] != 409 or evs.get(a[2], {}).get("outcome") != "deny"], [],
         "every other upload is refused 409 with its deny event")
    r = v.get(w2.path + "/credentials", cust.token)
    t.ok(r.status != 200 or r.json["credentials"] == [],
         "nothing of the closed ticket is left")

t.done()

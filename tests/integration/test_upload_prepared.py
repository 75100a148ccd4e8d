#!/usr/bin/env python3
"""Uploads checked and sealed on the connection's thread before they are
queued (docs/architecture.md, "Uploads prepared before the writer"): the
first upload of a ticket (no key yet) and the later ones are stored and
released alike; the gauntlet still decides before the body's 400 (another
customer gets 404, no token 401); a refused body names no credential in
its deny event; an unknown token gets nothing stored; uploads racing a
close either commit before the close (and are shredded with the ticket)
or are refused after it; only the owner's live token gets an upload
prepared (test builds count them)."""
import os
import sys
import threading
import time

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



def prepared(v):
    """The test builds' count of uploads sealed before the writer."""
    r = v.get("/v1/metrics", v.admin)
    for line in r.body.decode().splitlines():
        if line.startswith("rsvault_test_uploads_prepared_total "):
            return int(float(line.split()[1]))
    return None


# --- who gets an upload prepared -----------------------------------------------
# Only an unexpired token of the open ticket's owner, not suspended and
# eligible, gets the ticket's key unwrapped and the body sealed before the
# writer; for anybody else the writer refuses as always, with no work done
# for them first. Tokens last 20 ms per second of ttl_s here.
with Vault(env={"RSVAULT_TEST_TOKEN_SECOND_MS": "20"}) as v:
    core = Core(v)
    cust, other, agent = core.customer(), core.customer(), core.agent()
    w = core.world(cust, agent=agent)   # the ticket's key exists from its first upload
    body = {"label": "p", "kind": "ssh", "secret": "prep-secret"}
    base = prepared(v)
    t.ok(base is not None, "test builds count prepared uploads")

    def tries(name, tok, want, path=None):
        n0 = prepared(v)
        r = v.post((path or w.path) + "/credentials", tok, body)
        n1 = prepared(v)
        t.ok(r.status == want[0] and r.code == want[1],
             "%s: %d %s (want %d %s)" % (name, r.status, r.code, want[0], want[1]))
        return n0, n1

    n0, n1 = tries("the owner", cust.token, (201, None))
    t.eq(n1 - n0, 1, "the owner's upload is prepared")
    r = v.post("/v1/accounts/%s/tokens" % cust.id, v.admin, {"ttl_s": 60})
    short = r.json["token"] if r.status == 201 else None
    time.sleep(1.6)
    for name, tok, want in (("another customer", other.token, (404, "not_found")),
                            ("the assigned agent", agent.token, (403, "forbidden")),
                            ("the admin", v.admin, (403, "forbidden")),
                            ("the owner's expired token", short, (401, "unauthenticated"))):
        n0, n1 = tries(name, tok, want)
        t.eq(n1 - n0, 0, "%s: nothing prepared" % name)
    lapsed = core.customer()
    wl = core.world(lapsed)          # its key made while it was eligible
    core._need(v.request("PATCH", "/v1/licenses/" + lapsed.license, v.admin,
                         {"type": "free"}), 200, "downgrade to free")
    n0, n1 = tries("an owner no longer eligible (free license)", lapsed.token,
                   (403, "license_required"), path=wl.path)
    t.eq(n1 - n0, 0, "an owner not eligible: nothing prepared")
    w3 = core.world(cust)            # (closing shreds its key: nothing to prepare with)
    core._need(v.post(w3.path + "/close", cust.token), 200, "close")
    n0, n1 = tries("the owner on a closed ticket", cust.token, (409, "conflict"), path=w3.path)
    t.eq(n1 - n0, 0, "a closed ticket: nothing prepared")
    core.suspend(cust)
    n0, n1 = tries("the owner suspended", cust.token, (403, "account_suspended"))
    t.eq(n1 - n0, 0, "a suspended owner: nothing prepared")
    core.reactivate(cust)
    n0, n1 = tries("the owner again", cust.token, (201, None))
    t.eq(n1 - n0, 1, "prepared again once reactivated")

t.done()

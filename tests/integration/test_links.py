#!/usr/bin/env python3
"""Upload links and receipts (SPEC 8.2, issue 11): tickets an admin makes on
a customer's behalf, accounts without a token, link create/list/revoke,
GET /v1/link and POST /v1/link/credentials with Authorization: Link,
receipts (GET/DELETE /v1/receipt), the capability order of SPEC 8
("Capabilities"), rate limiting of failed capabilities, revocation on
close and suspension, ttl/uses bounds, the events with their guest actor,
and that no link or receipt secret nor uploaded secret reaches an event or
the server log. TAP on stdout."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect, guarded, uid  # noqa: E402

t = TAP()


def cap_of(url, path):
    """'{base}/u/#{id}.{secret}' -> (id, secret)."""
    base, frag = url.split("#", 1)
    assert base.endswith(path), url
    lid, sec = frag.split(".", 1)
    return lid, sec


def link_h(cap):
    return {"Authorization": "Link %s.%s" % cap}


def receipt_h(cap):
    return {"Authorization": "Receipt %s.%s" % cap}


def events(v, aud, **q):
    qs = "&".join("%s=%s" % kv for kv in q.items())
    r = v.get("/v1/audit?limit=1000&" + qs, aud.token)
    assert r.status == 200, r
    return r.json["events"]


def make_link(v, token, tid, **body):
    return v.post("/v1/tickets/%s/links" % tid, token, body or None)


def flow(v, c, aud, secrets_seen):
    # an admin makes a customer without a token, a ticket on their behalf
    cid = uid("cust")
    r = v.post("/v1/accounts", v.admin, {"id": cid, "role": "customer",
                                         "email": cid + "@example.test", "token": False})
    expect(t, r, 201, name="customer account with token false")
    t.ok("token" not in r.json and "token_id" not in r.json, "no token in the answer")
    c.license("pro", cid + "@example.test")
    r = v.post("/v1/tickets", v.admin, {"subject": "printer on fire"})
    expect(t, r, 400, "invalid_field", "admin ticket without owner")
    r = v.post("/v1/tickets", v.admin, {"subject": "printer on fire", "ref": "HD-1",
                                        "owner": cid})
    expect(t, r, 201, name="admin ticket on the customer's behalf")
    t.eq(r.json.get("owner"), cid, "the ticket's owner is the customer")
    tid = r.json["id"]
    ev = [e for e in events(v, aud, action="ticket.create") if e["ticket"] == tid]
    t.ok(ev and ev[0]["actor"] == "admin" and ev[0]["target"] == cid,
         "ticket.create by admin names the customer in target")
    agent = c.agent()
    c._need(v.post("/v1/tickets/%s/assign" % tid, v.admin, {"agent": agent.id}), 200, "assign")

    r = make_link(v, agent.token, tid, uses=2, note="for the printer")
    expect(t, r, 201, name="assigned agent makes a link")
    t.ok(set(r.json) == {"id", "url", "expires_at", "uses"}, "link answer fields")
    t.ok(r.json["url"].startswith("https://127.0.0.1:%d/u/#" % v.port),
         "url is the loopback default public url /u/#...")
    lcap = cap_of(r.json["url"], "/u/")
    secrets_seen.append(lcap[1])
    t.eq(lcap[0], r.json["id"], "the url carries the link id")
    t.eq(len(lcap[1]), 43, "secret is 32 bytes base64url")
    lid = lcap[0]
    ev = [e for e in events(v, aud, action="link.create") if e["target"] == lid]
    t.ok(len(ev) == 1 and ev[0]["actor"] == agent.id and ev[0]["ticket"] == tid,
         "link.create event: agent, ticket, target link")

    r = v.get("/v1/link", headers=link_h(lcap))
    expect(t, r, 200, name="GET /v1/link")
    j = r.json
    t.eq(j["ticket"], {"id": tid, "subject": "printer on fire", "ref": "HD-1"}, "link: ticket")
    t.eq(j["uses_left"], 2, "link: uses_left 2")
    t.eq(j["eligible"], True, "link: eligible")
    t.ok("rdp" in j["kinds"] and j["limits"]["label"] == 128 and
         j["limits"]["secret_bytes"] == 8192, "link: kinds and limits")
    t.ok("email" not in r.text if hasattr(r, "text") else b"@example.test" not in r.body,
         "link: no email")
    ev = [e for e in events(v, aud, action="link.open") if e["target"] == lid]
    t.ok(ev and ev[-1]["actor"] == "link:" + lid and ev[-1]["role"] == "guest" and
         ev[-1]["ticket"] == tid and ev[-1]["token"] is None, "link.open event: guest actor")

    up_secret = "hunter2-" + uid("s")
    secrets_seen.append(up_secret)
    r = v.post("/v1/link/credentials", body={"label": "printer admin", "kind": "web",
                                             "secret": up_secret, "host": "printer.lan"},
               headers=link_h(lcap))
    expect(t, r, 201, name="upload through the link")
    t.ok(set(r.json) == {"id", "label", "kind", "created_at", "expires_at", "receipt"},
         "upload answer fields")
    credid = r.json["id"]
    rcap = cap_of(r.json["receipt"], "/r/")
    secrets_seen.append(rcap[1])
    t.ok(rcap[0] != credid, "receipt id is not the credential id")
    ev = [e for e in events(v, aud, action="link.upload") if e["target"] == lid]
    t.ok(ev and ev[-1]["actor"] == "link:" + lid and ev[-1]["role"] == "guest" and
         ev[-1]["credential"] == credid, "link.upload event names link and credential")
    r = v.get("/v1/link", headers=link_h(lcap))
    t.eq(r.json.get("uses_left"), 1, "uses_left went down")
    r = v.get("/v1/tickets/%s/links" % tid, agent.token)
    expect(t, r, 200, name="list links")
    ls = r.json["links"]
    t.ok(len(ls) == 1 and ls[0]["id"] == lid and ls[0]["uses"] == 2 and
         ls[0]["uses_left"] == 1 and ls[0]["state"] == "active" and
         ls[0]["creator"] == agent.id and ls[0]["note"] == "for the printer" and
         set(ls[0]) == {"id", "creator", "note", "created_at", "expires_at", "uses",
                        "uses_left", "state"}, "list: the link, no secret")
    r = v.post("/v1/link/credentials", body={"label": "second", "kind": "rdp",
                                             "secret": "x"}, headers=link_h(lcap))
    expect(t, r, 201, name="second upload uses the last use")
    secrets_seen.append(cap_of(r.json["receipt"], "/r/")[1])
    r = v.get("/v1/link", headers=link_h(lcap))
    expect(t, r, 404, "not_found", "a spent link")
    r = v.post("/v1/link/credentials", body={"label": "3", "kind": "rdp", "secret": "x"},
               headers=link_h(lcap))
    expect(t, r, 404, "not_found", "upload through a spent link")
    r = v.get("/v1/tickets/%s/links" % tid, v.admin)
    t.eq(r.json["links"][0]["state"], "spent", "list: spent")

    # the receipt before any read
    r = v.get("/v1/receipt", headers=receipt_h(rcap))
    expect(t, r, 200, name="GET /v1/receipt")
    t.eq(r.json["credential"]["read_count"], 0, "receipt: no reads yet")
    t.eq(r.json["credential"]["rotate"], False, "receipt: rotate false")
    t.eq(r.json["credential"]["id"], credid, "receipt: its credential")
    # a session and a read
    r = v.post("/v1/tickets/%s/sessions" % tid, agent.token)
    expect(t, r, 201, name="agent opens a session")
    sid = r.json["id"]
    r = v.get("/v1/tickets/%s/credentials/%s/secret" % (tid, credid), agent.token,
              headers={"X-Session-Id": sid})
    expect(t, r, 200, name="agent reads the uploaded secret")
    t.eq(r.json.get("secret"), up_secret, "the secret byte for byte")
    r = v.get("/v1/receipt", headers=receipt_h(rcap))
    j = r.json
    t.eq(j["credential"]["read_count"], 1, "receipt: one read")
    t.ok("reads_truncated" not in j and "sessions_truncated" not in j,
         "receipt: short lists carry no truncation flag")
    t.ok(len(j["reads"]) == 1 and j["reads"][0]["agent"] == agent.id and
         j["reads"][0]["session"] == sid, "receipt: the read names agent and session")
    t.ok(len(j["sessions"]) == 1 and j["sessions"][0]["id"] == sid and
         j["sessions"][0]["state"] == "active" and
         j["sessions"][0]["requested_at"] == j["sessions"][0]["opened_at"]
         and set(j["sessions"][0]) == {"id", "agent", "state", "requested_at", "opened_at",
                                       "expires_at"}, "receipt: the active session")
    ev = [e for e in events(v, aud, action="receipt.view") if e["credential"] == credid]
    t.ok(ev and ev[-1]["actor"] == "receipt:" + rcap[0] and ev[-1]["role"] == "guest",
         "receipt.view event: guest actor")
    # Link on a receipt route, Receipt on a link route, Bearer on either
    expect(t, v.get("/v1/receipt", headers=link_h(rcap)), 401, "unauthenticated",
           "Link scheme on a receipt route")
    expect(t, v.get("/v1/link", headers=receipt_h(lcap)), 401, "unauthenticated",
           "Receipt scheme on a link route")
    expect(t, v.get("/v1/link", agent.token), 401, "unauthenticated", "Bearer on /v1/link")
    # destroy
    r = v.delete("/v1/receipt", headers=receipt_h(rcap))
    expect(t, r, 204, name="DELETE /v1/receipt")
    r = v.get("/v1/tickets/%s/credentials/%s/secret" % (tid, credid), agent.token,
              headers={"X-Session-Id": sid})
    t.ok(r.status in (403, 404), "the destroyed credential cannot be read (%d)" % r.status)
    t.ok(credid not in [x["id"] for x in v.get("/v1/tickets/%s/credentials" % tid,
                                               agent.token).json["credentials"]],
         "the credential is gone from the list")
    st = {s["id"]: s for s in v.get("/v1/tickets/%s/sessions" % tid,
                                    v.admin).json["sessions"]}
    t.eq(st[sid]["state"], "ended", "the session it listed is ended")
    ends = [e for e in events(v, aud, action="session.end") if e["session"] == sid]
    t.ok(len(ends) == 1 and ends[0]["actor"] == "receipt:" + rcap[0] and
         ends[0]["reason"] == "credential_destroyed", "session.end caused by the receipt")
    ev = [e for e in events(v, aud, action="receipt.destroy") if e["credential"] == credid]
    t.ok(ev and ev[-1]["outcome"] == "allow" and ev[-1]["role"] == "guest",
         "receipt.destroy event")
    expect(t, v.get("/v1/receipt", headers=receipt_h(rcap)), 404, "not_found",
           "a receipt whose credential is gone")
    return tid, agent, cid


def cap_order(v, c, aud):
    cust = c.customer("pro")
    agent = c.agent()
    w = c.world(cust, agent=agent, cred=False)
    r = make_link(v, cust.token, w.tid, uses=5)
    expect(t, r, 201, name="owner makes a link")
    cap = cap_of(r.json["url"], "/u/")
    expect(t, v.get("/v1/link"), 401, "unauthenticated", "no Authorization header")
    expect(t, v.get("/v1/link", headers={"Authorization": "Link"}), 401, "unauthenticated",
           "Link scheme without a value")
    bad = cap[1][:-1] + ("A" if cap[1][-1] != "A" else "B")
    expect(t, v.get("/v1/link", headers=link_h((cap[0], bad))), 404, "not_found",
           "wrong secret")
    expect(t, v.get("/v1/link", headers=link_h(("A" * 22, cap[1]))), 404, "not_found",
           "unknown link id")
    expect(t, v.get("/v1/link", headers={"Authorization": "Link garbage"}), 404, "not_found",
           "malformed capability")
    fails = [e for e in events(v, aud, action="link.open", outcome="deny")
             if e["reason"] == "not_found"]
    t.ok(len(fails) >= 3 and all(e["actor"] is None and e["role"] is None for e in fails),
         "failed capabilities are audited with actor null")
    # eligibility: the owner's license lapses (a free one instead)
    cust2 = c.customer("free")
    r = v.post("/v1/tickets", v.admin, {"subject": "s", "owner": cust2.id})
    tid2 = r.json["id"]
    expect(t, make_link(v, v.admin, tid2), 403, "license_required",
           "link for an ineligible owner's ticket")
    # owner suspended -> 403 account_suspended (agent's link survives the owner's suspension)
    r = make_link(v, agent.token, w.tid)
    acap = cap_of(r.json["url"], "/u/")
    c.suspend(cust)
    expect(t, v.get("/v1/link", headers=link_h(acap)), 403, "account_suspended",
           "owner suspended")
    c.reactivate(cust)
    expect(t, v.get("/v1/link", headers=link_h(acap)), 200, name="owner reactivated")
    expect(t, v.get("/v1/link", headers=link_h(cap)), 404, "not_found",
           "the owner's own link was revoked by the suspension")
    # close revokes
    r = make_link(v, agent.token, w.tid)
    ccap = cap_of(r.json["url"], "/u/")
    c._need(v.post(w.path + "/close", cust.token), 200, "close")
    expect(t, v.get("/v1/link", headers=link_h(ccap)), 404, "not_found",
           "a closed ticket's link")
    ls = v.get(w.path + "/links", v.admin).json["links"]
    t.ok(all(x["state"] == "revoked" for x in ls if x["id"] == ccap[0]),
         "closing revoked the link")
    rev = [e for e in events(v, aud, action="link.revoke") if e["target"] == ccap[0]]
    t.ok(len(rev) == 1 and rev[0]["reason"] == "ticket_closed" and rev[0]["actor"] == cust.id,
         "link.revoke event caused by the close")


def revocation(v, c, aud):
    cust = c.customer("pro")
    a1, a2 = c.agent(), c.agent()
    w = c.world(cust, agent=a1, cred=False)
    r = make_link(v, a1.token, w.tid)
    lid = r.json["id"]
    cap = cap_of(r.json["url"], "/u/")
    # unrelated agent -> 404, auditor -> 403
    expect(t, v.delete("/v1/links/" + lid, a2.token), 404, "not_found", "unrelated agent revoke")
    aud2 = c.auditor()
    expect(t, v.delete("/v1/links/" + lid, aud2.token), 403, "forbidden", "auditor revoke")
    expect(t, make_link(v, aud2.token, w.tid), 403, "forbidden", "auditor create")
    expect(t, make_link(v, a2.token, w.tid), 404, "not_found", "unassigned agent create")
    # reassign: a1 no longer assigned -> unrelated
    c._need(v.post(w.path + "/assign", v.admin, {"agent": a2.id}), 200, "reassign")
    expect(t, v.delete("/v1/links/" + lid, a1.token), 404, "not_found",
           "creator no longer assigned")
    expect(t, v.delete("/v1/links/" + lid, a2.token), 403, "forbidden",
           "assigned agent, not the creator")
    expect(t, v.delete("/v1/links/" + lid, cust.token), 204, name="owner revokes")
    expect(t, v.get("/v1/link", headers=link_h(cap)), 404, "not_found", "a revoked link")
    ev = [e for e in events(v, aud, action="link.revoke") if e["target"] == lid]
    t.ok(ev and ev[-1]["actor"] == cust.id and ev[-1]["outcome"] == "allow",
         "link.revoke event names the link")
    # suspension revokes the links a person made
    r = make_link(v, a2.token, w.tid)
    cap2 = cap_of(r.json["url"], "/u/")
    c.suspend(a2)
    expect(t, v.get("/v1/link", headers=link_h(cap2)), 404, "not_found",
           "the suspended agent's link")
    rev = [e for e in events(v, aud, action="link.revoke") if e["target"] == cap2[0]]
    t.ok(len(rev) == 1 and rev[0]["reason"] == "account_suspended",
         "link.revoke caused by the suspension")


def bounds(v, c):
    cust = c.customer("pro")
    w = c.ticket(cust)
    for body, name in (({"ttl_s": 0}, "ttl 0"), ({"ttl_s": 604801}, "ttl over 7 days"),
                       ({"uses": 0}, "uses 0"), ({"uses": 11}, "uses 11"),
                       ({"secret": "x"}, "unknown field"), ({"note": "a\u202eb"}, "note Cf")):
        expect(t, make_link(v, cust.token, w.tid, **body), 400, "invalid_field", name)
    r = make_link(v, cust.token, w.tid, ttl_s=604800, uses=10)
    expect(t, r, 201, name="ttl 604800 uses 10")
    r = make_link(v, cust.token, w.tid, ttl_s=1)
    cap = cap_of(r.json["url"], "/u/")
    time.sleep(1.2)
    expect(t, v.get("/v1/link", headers=link_h(cap)), 404, "not_found", "an expired link")
    ls = {x["id"]: x for x in v.get(w.path + "/links", cust.token).json["links"]}
    t.eq(ls[cap[0]]["state"], "expired", "list: expired")
    r = make_link(v, cust.token, w.tid)
    t.ok(r.status == 201 and r.json["uses"] == 1, "uses default 1")
    # field rules at upload through a link
    cap = cap_of(r.json["url"], "/u/")
    r = v.post("/v1/link/credentials", body={"label": "x" * 129, "kind": "rdp", "secret": "s"},
               headers=link_h(cap))
    expect(t, r, 400, "invalid_field", "label too long through a link")
    t.eq(v.get("/v1/link", headers=link_h(cap)).json.get("uses_left"), 1,
         "a refused upload uses nothing")
    # a customer may not name an owner
    expect(t, v.post("/v1/tickets", cust.token, {"subject": "s", "owner": cust.id}), 400,
           "invalid_field", "customer names an owner")
    expect(t, v.post("/v1/accounts", v.admin, {"id": uid("ag"), "role": "agent",
                                               "email": "a@example.test", "token": False}),
           400, "invalid_field", "token false for an agent")


def failed_caps_named(v, c, aud):
    """A failed link or receipt whose id names a real record is audited
    with target (its id) and ticket (and a receipt's credential), so the
    owner's trail shows attempts on their link; an unknown id leaves them
    null; the answer is the same 404 either way (no oracle)."""
    cust = c.customer("pro")
    w = c.ticket(cust)
    spent = cap_of(make_link(v, cust.token, w.tid, uses=1).json["url"], "/u/")
    revoked = cap_of(make_link(v, cust.token, w.tid).json["url"], "/u/")
    wrong = cap_of(make_link(v, cust.token, w.tid).json["url"], "/u/")
    expired = cap_of(make_link(v, cust.token, w.tid, ttl_s=1).json["url"], "/u/")
    r = v.post("/v1/link/credentials", body={"label": "x", "kind": "ssh", "secret": "s"},
               headers=link_h(spent))
    expect(t, r, 201, name="upload spends the one-use link")
    credid = r.json["id"]
    rcap = cap_of(r.json["receipt"], "/r/")
    expect(t, v.delete("/v1/links/" + revoked[0], cust.token), 204, name="owner revokes")

    def flip(sec):
        return sec[:-1] + ("A" if sec[-1] != "A" else "B")

    def strip(resp):
        """The answer without what differs per request anyway."""
        return (resp.status, resp.body,
                sorted((k.lower(), val) for k, val in resp.headers
                       if k.lower() not in ("x-request-id", "date")))

    time.sleep(1.2)  # the ttl_s=1 link is expired now
    cases = (("link wrong secret", "/v1/link", link_h((wrong[0], flip(wrong[1]))),
              wrong[0], None),
             ("link spent", "/v1/link", link_h(spent), spent[0], None),
             ("link revoked", "/v1/link", link_h(revoked), revoked[0], None),
             ("link expired", "/v1/link", link_h(expired), expired[0], None),
             ("receipt wrong secret", "/v1/receipt", receipt_h((rcap[0], flip(rcap[1]))),
              rcap[0], credid))
    unknown = {"/v1/link": link_h(("A" * 22, wrong[1])),
               "/v1/receipt": receipt_h(("A" * 22, rcap[1]))}
    got = {}
    for name, path, h, _, _ in cases:
        got[name] = v.get(path, headers=h)
        expect(t, got[name], 404, "not_found", name)
    for path, h in unknown.items():
        got[path] = v.get(path, headers=h)
        expect(t, got[path], 404, "not_found", "unknown id on " + path)
    for name, path, _, _, _ in cases:
        t.eq(strip(got[name]), strip(got[path]),
             "%s: the answer is byte for byte that of an unknown id" % name)

    evs = {e["request_id"]: e for e in
           events(v, aud, outcome="deny") if e["request_id"] is not None}
    trail = {e["request_id"]: e for e in v.get(w.path + "/audit", cust.token).json["events"]}
    for name, path, _, target, cred in cases:
        e = evs.get(got[name].header("X-Request-Id"))
        good = t.ok(e is not None and e["outcome"] == "deny" and e["reason"] == "not_found" and
                    e["actor"] is None and e["role"] is None and e["token"] is None and
                    e["target"] == target and e["ticket"] == w.tid and
                    e["credential"] == cred,
                    "%s: the deny event names it (target, ticket%s)" %
                    (name, ", credential" if cred else ""))
        if not good:
            t.diag("event: %r" % (e,))
        t.ok(got[name].header("X-Request-Id") in trail,
             "%s: the attempt is in the owner's ticket trail" % name)
    for path in unknown:
        e = evs.get(got[path].header("X-Request-Id"))
        good = t.ok(e is not None and e["target"] is None and e["ticket"] is None and
                    e["credential"] is None, "unknown id on %s: target, ticket null" % path)
        if not good:
            t.diag("event: %r" % (e,))


def ratelimit(v, c):
    cust = c.customer("pro")
    w = c.ticket(cust)
    r = make_link(v, cust.token, w.tid)
    good = cap_of(r.json["url"], "/u/")
    for i in range(10):
        v.get("/v1/link", headers=link_h(("B" * 22, good[1])))
    r = v.get("/v1/link", headers=link_h(("B" * 22, good[1])))
    expect(t, r, 429, "rate_limited", "failed capabilities are rate limited")
    expect(t, v.get("/v1/receipt", headers=receipt_h(("C" * 22, good[1]))), 429,
           "rate_limited", "also on the receipt route")
    expect(t, v.get("/v1/link", headers=link_h(good)), 200, name="a valid link still works")


def no_secrets(v, aud, seen):
    r = v.get("/v1/audit?limit=1000", aud.token)
    blob = r.body.decode()
    t.ok(not any(s in blob for s in seen), "no link/receipt/uploaded secret in any event")
    log = v.logtext()
    t.ok(not any(s in log for s in seen), "nor in the server log")


def client(v, c):
    """rsvault ticket create --owner, link create/list/revoke."""
    import subprocess
    from rsvtest import binpath
    cust = c.customer("pro")
    env = dict(os.environ, RSVAULT_ADDR=v.addr, RSVAULT_CACERT=v.ca, RSVAULT_TOKEN=v.admin)

    def run(*a):
        return subprocess.run([binpath("rsvault")] + list(a), env=env, capture_output=True,
                              text=True, timeout=60)
    r = run("ticket", "create", "printer", "--owner", cust.id)
    t.eq(r.returncode, 0, "client: ticket create --owner")
    tid = r.stdout.strip()
    t.eq(v.get("/v1/tickets/" + tid, v.admin).json.get("owner"), cust.id,
         "client: the ticket is the customer's")
    r = run("link", "create", tid, "--ttl", "2h", "--uses", "3", "--note", "printer")
    t.ok(r.returncode == 0 and r.stdout.startswith("https://127.0.0.1:%d/u/#" % v.port),
         "client: link create prints the url")
    cap = cap_of(r.stdout.strip(), "/u/")
    j = v.get("/v1/link", headers=link_h(cap)).json
    left = parse_s(j["expires_at"]) - time.time()
    t.ok(j["uses_left"] == 3 and 7100 < left <= 7200, "client: --ttl 2h --uses 3 reached the link")
    for bad in ("8d", "0", "2x", "-1"):
        t.eq(run("link", "create", tid, "--ttl", bad).returncode, 1,
             "client: --ttl %s refused" % bad)
    r = run("link", "list", tid)
    t.ok(r.returncode == 0 and cap[0] in r.stdout and "active" in r.stdout and
         cap[1] not in r.stdout, "client: link list shows it, no secret")
    t.eq(run("link", "revoke", cap[0]).returncode, 0, "client: link revoke")
    t.ok("revoked" in run("link", "list", tid).stdout, "client: the list says revoked")
    t.eq(run("link", "revoke", "A" * 22).returncode, 4, "client: unknown link exits 4")


def parse_s(ts):
    from rsvcore import parse_time
    return parse_time(ts)


def tls_cert():
    """--tls-cert/--tls-key serve that certificate, not the key directory's;
    a key file others can read is refused; one without the other too."""
    import socket
    import ssl
    import subprocess
    from rsvtest import binpath, make_keys, tmpdir, give_to_server, server_user_args
    other = os.path.join(tmpdir(), "other")
    if make_keys(other).returncode != 0:
        raise RuntimeError("second key directory")
    cert, key = os.path.join(other, "server.pem"), os.path.join(other, "server.key")
    with Vault(extra_args=["--tls-cert", cert, "--tls-key", key]) as v:
        ctx = ssl.create_default_context(cafile=os.path.join(other, "ca.pem"))
        ctx.check_hostname = False
        with socket.create_connection(("127.0.0.1", v.port), timeout=30) as sk:
            with ctx.wrap_socket(sk) as tls:
                der = tls.getpeercert(binary_form=True)
        with open(cert) as f:
            want = ssl.PEM_cert_to_DER_cert(f.read())
        t.ok(der == want, "--tls-cert: the server presents that certificate")
    os.chmod(key, 0o644)
    vdir = tmpdir()
    make_keys(os.path.join(vdir, "keys"))
    give_to_server(os.path.join(vdir, "data"))
    r = subprocess.run([binpath("rsvaultd"), "--data", os.path.join(vdir, "data"), "--keys",
                        os.path.join(vdir, "keys"), "--listen", "127.0.0.1:0", "--tls-cert",
                        cert, "--tls-key", key] + server_user_args(), capture_output=True,
                       text=True, timeout=60)
    t.ok(r.returncode != 0 and "server.key" in r.stderr and "chmod" in r.stderr,
         "--tls-key readable by others: refused")
    if r.returncode == 0 or "chmod" not in r.stderr:
        t.diag(r.stderr[-600:])
    r = subprocess.run([binpath("rsvaultd"), "--data", os.path.join(vdir, "data"), "--keys",
                        os.path.join(vdir, "keys"), "--tls-cert", cert], capture_output=True,
                       text=True, timeout=60)
    t.ok(r.returncode != 0 and "go together" in r.stderr, "--tls-cert without --tls-key")
    r = subprocess.run([binpath("rsvaultd"), "--data", os.path.join(vdir, "data"), "--keys",
                        os.path.join(vdir, "keys"), "--public-url", "http://x.example"],
                       capture_output=True, text=True, timeout=60)
    t.ok(r.returncode != 0 and "https://" in r.stderr, "--public-url http:// refused")


def main():
    seen = []
    # the failures of this server's checks would trip the limiter: its
    # window is 1 ms here; the limiter gets a server of its own below
    with Vault(env={"RSVAULT_TEST_FAIL_WINDOW_MS": "1"}) as v:
        c = Core(v)
        aud = c.auditor()
        guarded(t, "flow", flow, v, c, aud, seen)
        guarded(t, "order", cap_order, v, c, aud)
        guarded(t, "revocation", revocation, v, c, aud)
        guarded(t, "failed caps named", failed_caps_named, v, c, aud)
        guarded(t, "bounds", bounds, v, c)
        guarded(t, "client", client, v, c)
        guarded(t, "no secrets", no_secrets, v, aud, seen)
    with Vault() as v:
        guarded(t, "ratelimit", ratelimit, v, Core(v))
    guarded(t, "tls-cert", tls_cert)
    t.done()


main()

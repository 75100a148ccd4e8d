#!/usr/bin/env python3
"""Webhooks (SPEC 8.3, issue 12): the admin routes, notifications written
with their audit event, signed deliveries to a loopback HTTPS receiver with
a CA of its own (--webhook-ca), retries, restarts, the bounded outbox, and
that a hanging receiver leaves secret reads as fast as before.

Every event type arrives (session.requested with the approval mode), in
(audit_seq, index) order, with a valid signature and a unique delivery id,
and no byte the receivers got holds a secret, a token, a link or a receipt
capability, or the signing secret itself. TAP on stdout."""
import json
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault, binpath, tmpdir  # noqa: E402
from rsvcore import Core, all_events, expect, guarded, uid  # noqa: E402
from whrx import Receiver, check_signature, payloads  # noqa: E402

t = TAP()
FIELDS = {"id", "type", "time", "ticket", "ref", "owner", "credential", "session", "agent",
          "audit_seq", "index", "data"}
TYPES = {"credential.uploaded", "credential.read", "credential.destroyed", "session.opened",
         "session.ended", "ticket.closed", "rotation.recommended"}
NEVER = []  # strings that must never reach a receiver


def cap_of(url):
    return url.split("#", 1)[1].split(".", 1)


def receipt_h(cap):
    return {"Authorization": "Receipt %s.%s" % tuple(cap)}


def add_hook(v, url, events=None):
    body = {"url": url}
    if events is not None:
        body["events"] = events
    r = v.post("/v1/webhooks", v.admin, body)
    if r.status != 201:
        raise RuntimeError("webhook create: %r" % r)
    NEVER.append(r.json["secret"])
    return r.json


def deliveries(v, wid, q=""):
    r = v.get("/v1/webhooks/%s/deliveries%s" % (wid, q), v.admin)
    if r.status != 200:
        raise RuntimeError("deliveries: %r" % r)
    return r.json["deliveries"]


def routes(v, rx):
    c = Core(v)
    cust = c.customer("pro")
    expect(t, v.post("/v1/webhooks", v.admin, {"url": "http://127.0.0.1:9/x"}), 400,
           "invalid_field", "an http:// URL")
    expect(t, v.post("/v1/webhooks", v.admin, {"url": "https://user:pw@127.0.0.1/x"}), 400,
           "invalid_field", "a URL with a password")
    expect(t, v.post("/v1/webhooks", v.admin, {"url": rx.url("/x"), "events": ["nope"]}), 400,
           "invalid_field", "an unknown event type")
    expect(t, v.post("/v1/webhooks", v.admin, {"url": rx.url("/x"), "extra": 1}), 400,
           "invalid_field", "an unknown field")
    expect(t, v.post("/v1/webhooks", cust.token, {"url": rx.url("/x")}), 403, "forbidden",
           "a customer makes a webhook")
    expect(t, v.get("/v1/webhooks", cust.token), 403, "forbidden", "a customer lists webhooks")
    r = v.post("/v1/webhooks", v.admin, {"url": rx.url("/tmp"), "events": ["ticket.closed"]})
    expect(t, r, 201, name="POST /v1/webhooks")
    NEVER.append(r.json.get("secret", "none"))
    t.ok(set(r.json) == {"id", "url", "events", "secret", "created_at"} and
         r.json["secret"].startswith("whsec_") and r.json["events"] == ["ticket.closed"],
         "201 answer: id, url, events, secret (shown once)")
    wid = r.json["id"]
    lst = v.get("/v1/webhooks", v.admin)
    expect(t, lst, 200, name="GET /v1/webhooks")
    t.ok(any(h["id"] == wid for h in lst.json["webhooks"]) and
         r.json["secret"] not in lst.body.decode(), "the list shows it, without the secret")
    expect(t, v.get("/v1/webhooks/%s/deliveries?state=bogus" % wid, v.admin), 400,
           "invalid_field", "deliveries: bad state")
    expect(t, v.get("/v1/webhooks/%s/deliveries?x=1" % wid, v.admin), 400, "invalid_field",
           "deliveries: unknown query parameter")
    expect(t, v.delete("/v1/webhooks/" + wid, v.admin), 204, name="DELETE /v1/webhooks/{id}")
    expect(t, v.delete("/v1/webhooks/" + wid, v.admin), 404, "not_found", "deleted twice")
    expect(t, v.get("/v1/webhooks/%s/deliveries" % wid, v.admin), 404, "not_found",
           "deliveries of a deleted webhook")
    evs = all_events(v, c.auditor().token)
    acts = {e["action"] for e in evs if e["target"] == wid}
    t.ok({"webhook.create", "webhook.delete", "webhook.deliveries"} <= acts,
         "webhook.create, .delete, .deliveries events name the webhook in target")
    t.ok(any(e["action"] == "webhook.list" for e in evs), "webhook.list is audited")


def full_run(v, rx):
    """Every type, in order, signed; the rotation prompt along the way."""
    c = Core(v)
    hook = add_hook(v, rx.url("/all"))
    hook2 = add_hook(v, rx.url("/all2"), ["ticket.closed"])
    aud = c.auditor()
    cust, ag = c.customer("pro"), c.agent()
    NEVER.extend([cust.token, ag.token, aud.token, v.admin])
    w = c.ticket(cust, ref="HD-4711")
    sa = "pw-A-" + uid("s")
    ca = c.cred(w, secret=sa, label="router admin")
    c.assign(w, ag)
    # an upload through a link, with its receipt
    r = v.post(w.path + "/links", cust.token, {})
    expect(t, r, 201, name="make an upload link")
    link = cap_of(r.json["url"])
    sb = "pw-B-" + uid("s")
    r = v.post("/v1/link/credentials", headers={"Authorization": "Link %s.%s" % tuple(link)},
               body={"label": "vpn", "kind": "other", "secret": sb})
    expect(t, r, 201, name="upload through the link")
    cb, rcap = r.json["id"], cap_of(r.json["receipt"])
    NEVER.extend([sa, sb, link[1], rcap[1], "%s.%s" % tuple(link), "%s.%s" % tuple(rcap)])
    # a short-lived one, for credential.expire
    c.cred(w, label="short", ttl_s=1, secret="pw-C-" + uid("s"))
    sid = c.session(w)
    expect(t, c.read_secret(w, cid=ca), 200, name="read A")
    expect(t, c.read_secret(w, cid=cb), 200, name="read B")
    expect(t, c.read_secret(w, cid=ca), 200, name="read A again")
    expect(t, v.delete("/v1/sessions/" + sid, ag.token), 204, name="end the session")
    expect(t, v.delete("/v1/sessions/" + sid, cust.token), 204, name="end it again (a no-op)")
    creds = {x["id"]: x for x in v.get(w.path + "/credentials", cust.token).json["credentials"]}
    t.ok(creds[ca]["read_count"] == 2 and creds[cb]["read_count"] == 1 and
         creds[ca]["last_read_at"] is not None, "listing: read_count and last_read_at")
    t.ok(creds[ca]["rotate"] is True and creds[cb]["rotate"] is True,
         "listing: both read credentials are marked rotate at session end")
    r = v.get("/v1/receipt", headers=receipt_h(rcap))
    t.ok(r.status == 200 and r.json["credential"]["rotate"] is True, "receipt: rotate true")
    # cleared: same-label upload (A), /rotated through the receipt (B)
    ca2 = c.cred(w, label="router admin", secret="pw-A2-" + uid("s"))
    creds = {x["id"]: x for x in v.get(w.path + "/credentials", cust.token).json["credentials"]}
    t.ok(creds[ca]["rotate"] is False and ca in creds and creds[ca2]["rotate"] is False,
         "an upload with the same label clears the mark (the old one stays)")
    t.ok(creds[cb]["rotate"] is True, "another label's mark stays")
    r = v.post("%s/credentials/%s/rotated" % (w.path, cb), headers=receipt_h(rcap))
    expect(t, r, 200, name="POST .../rotated with the credential's receipt")
    t.ok(r.json and r.json.get("id") == cb and r.json.get("rotate") is False and
         r.json.get("read_count") == 1, "answer: the credential's summary, rotate false")
    expect(t, v.post("%s/credentials/%s/rotated" % (w.path, ca), headers=receipt_h(rcap)), 404,
           "not_found", "the receipt on another credential")
    expect(t, v.post("%s/credentials/%s/rotated" % (w.path, ca), ag.token), 403, "forbidden",
           "the agent marks rotated")
    expect(t, v.post("%s/credentials/%s/rotated" % (w.path, ca), cust.token), 200,
           name="the owner marks rotated")
    # destroyed: delete, receipt, expiry (sweeper), close (shredding)
    time.sleep(2.2)  # the 1 s credential expires; the sweeper runs every second
    expect(t, v.delete("/v1/receipt", headers=receipt_h(rcap)), 204, name="destroy B by receipt")
    expect(t, v.delete("%s/credentials/%s" % (w.path, ca), cust.token), 204, name="delete A")
    expect(t, v.post(w.path + "/close", cust.token), 200, name="close the ticket")
    n_types = lambda: {p["type"] for p in payloads(rx.delivered("/all"))}  # noqa: E731
    arrived = rx.wait(lambda: TYPES <= n_types() and
                      any(p["type"] == "credential.destroyed" and p["index"] > 0
                          for p in payloads(rx.delivered("/all"))), 60)
    t.ok(arrived, "every type arrives: %s" % sorted(TYPES))
    time.sleep(1)
    got = rx.delivered("/all")
    ps = payloads(got)
    t.ok(all(set(p) == FIELDS for p in ps), "payload fields exactly %s" % sorted(FIELDS))
    keys = [(p["audit_seq"], p["index"]) for p in ps]
    t.ok(keys == sorted(keys), "arrival order is (audit_seq, index) order")
    if keys != sorted(keys):
        t.diag("order: %r" % keys)
    t.ok(all(check_signature(hook["secret"], g["headers"], g["body"]) for g in got),
         "every delivery is signed: HMAC-SHA256(secret, t.body), t fresh")
    bad = dict(got[0]["headers"])
    t.ok(not check_signature(hook["secret"] + "x", bad, got[0]["body"]) and
         not check_signature(hook["secret"], bad, got[0]["body"] + b" "),
         "a wrong key or a changed body fails the check (the check can fail)")
    dids = [g["headers"].get("rsvault-delivery") for g in got]
    t.ok(all(dids) and len(set(dids)) == len(dids), "delivery ids present and unique")
    t.ok(len({p["id"] for p in ps}) == len(ps), "notification ids unique")
    listed = {d["id"]: d for d in deliveries(v, hook["id"])}
    t.ok(set(dids) <= set(listed) and all(listed[d]["state"] == "delivered" and
                                          listed[d]["attempts"] >= 1 and
                                          listed[d]["last_status"] == 200 for d in dids),
         "the deliveries listing: the same ids, delivered, last_status 200")
    evs = {e["seq"]: e for e in all_events(v, aud.token)}
    want = {"credential.uploaded": {"credential.create", "link.upload"},
            "credential.read": {"credential.read"},
            "credential.destroyed": {"credential.delete", "credential.expire",
                                     "receipt.destroy", "ticket.close"},
            "session.opened": {"session.open"}, "session.ended": {"session.end"},
            "ticket.closed": {"ticket.close"}, "rotation.recommended": {"session.end"}}
    t.ok(all(evs[p["audit_seq"]]["action"] in want[p["type"]] and
             evs[p["audit_seq"]]["outcome"] == "allow" for p in ps),
         "each notification names the allowed audit event it reports")
    mine = [p for p in ps if p["ticket"] == w.tid]
    t.ok(all(p["ref"] == "HD-4711" and p["owner"] == cust.id for p in mine),
         "ticket, ref and owner in every payload")
    rot = sorted((p["index"], p["credential"]) for p in ps if p["type"] == "rotation.recommended")
    t.ok(rot == sorted([(1, ca), (2, cb)]) or rot == sorted([(1, cb), (2, ca)]),
         "one rotation.recommended per credential read, index 1..N")
    ended = [p for p in ps if p["type"] == "session.ended"]
    t.ok(ended and ended[0]["data"].get("state") == "ended" and ended[0]["session"] == sid and
         ended[0]["agent"] == ag.id, "session.ended carries the state, session and agent")
    t.ok(len([p for p in ended if p["session"] == sid]) == 1,
         "ending an ended session again notifies nobody")
    how = {p["data"].get("action") for p in ps if p["type"] == "credential.destroyed"}
    t.ok({"credential.delete", "credential.expire", "receipt.destroy", "ticket.close"} <= how,
         "credential.destroyed for delete, expiry, receipt and shredding at close: %s"
         % sorted(how))
    shred = [p for p in ps if p["type"] == "credential.destroyed" and p["index"] > 0]
    t.ok([p["credential"] for p in shred] == [ca2] or {p["credential"] for p in shred} == {ca2},
         "the close reports the credential it shredded")
    # one notification, one delivery per matching webhook
    ok = rx.wait(lambda: len(rx.delivered("/all2")) >= 1, 30)
    tc = [g for g in got if json.loads(g["body"])["type"] == "ticket.closed"]
    tc2 = rx.delivered("/all2")
    t.ok(ok and len(tc) == 1 and len(tc2) == 1 and
         json.loads(tc[0]["body"])["id"] == json.loads(tc2[0]["body"])["id"] and
         tc[0]["headers"]["rsvault-delivery"] != tc2[0]["headers"]["rsvault-delivery"] and
         check_signature(hook2["secret"], tc2[0]["headers"], tc2[0]["body"]) and
         not check_signature(hook["secret"], tc2[0]["headers"], tc2[0]["body"]),
         "two webhooks: the same notification id, a delivery id and a signing key each")
    # a failed read notifies nobody
    t.ok(not any(p["type"] == "credential.read" and evs[p["audit_seq"]]["outcome"] != "allow"
                 for p in ps), "denied events notify nobody")
    # print one ticket's notifications as the receiver saw them (the closing note)
    for p in mine:
        t.diag("%s #%d.%d %s cred=%s session=%s data=%s" % (
            p["time"], p["audit_seq"], p["index"], p["type"], p["credential"], p["session"],
            json.dumps(p["data"], sort_keys=True)))
    expect(t, v.delete("/v1/webhooks/" + hook["id"], v.admin), 204, name="remove the hook")
    v.delete("/v1/webhooks/" + hook2["id"], v.admin)


def approval_run(v, rx):
    """Dual control as a receiver sees it: session.requested, then opened
    (owner's token or a receipt), denied (owner or receipt) or expired
    (the approval timeout), each with the right state."""
    c = Core(v)
    hook = add_hook(v, rx.url("/appr"))
    aud = c.auditor()
    cust, ag = c.customer("pro"), c.agent()
    NEVER.extend([cust.token, ag.token, aud.token])
    r = v.post("/v1/tickets", cust.token, {"subject": "dual control", "approval": "owner"})
    expect(t, r, 201, name="a ticket with owner approval")
    tid = r.json["id"]
    path = "/v1/tickets/" + tid
    r = v.post(path + "/links", cust.token, {})
    link = cap_of(r.json["url"])
    sec = "pw-D-" + uid("s")
    r = v.post("/v1/link/credentials", headers={"Authorization": "Link %s.%s" % tuple(link)},
               body={"label": "nas", "kind": "other", "secret": sec})
    expect(t, r, 201, name="upload through a link (for a receipt)")
    cid, rcap = r.json["id"], cap_of(r.json["receipt"])
    NEVER.extend([sec, link[1], rcap[1]])
    expect(t, v.post(path + "/assign", v.admin, {"agent": ag.id}), 200, name="assign")

    def open_pending():
        r = v.post(path + "/sessions", ag.token, None)
        ok = r.status == 201 and r.json.get("state") == "pending"
        return r.json["id"] if ok else None

    s1 = open_pending()
    t.ok(s1 is not None, "session 1 is pending")
    expect(t, v.post("/v1/sessions/%s/approve" % s1, cust.token), 200, name="owner approves 1")
    r = v.get("%s/credentials/%s/secret" % (path, cid), ag.token, headers={"X-Session-Id": s1})
    expect(t, r, 200, name="read in the approved session")
    expect(t, v.delete("/v1/sessions/" + s1, ag.token), 204, name="end session 1")
    s2 = open_pending()
    expect(t, v.post("/v1/sessions/%s/deny" % s2, cust.token), 200, name="owner denies 2")
    s3 = open_pending()
    expect(t, v.post("/v1/sessions/%s/approve" % s3, headers=receipt_h(rcap)), 200,
           name="the receipt approves 3")
    expect(t, v.delete("/v1/sessions/" + s3, ag.token), 204, name="end session 3")
    s4 = open_pending()
    expect(t, v.post("/v1/sessions/%s/deny" % s4, headers=receipt_h(rcap)), 200,
           name="the receipt denies 4")
    s5 = open_pending()  # left undecided: the approval timeout (3 s) expires it
    t.ok(None not in (s2, s3, s4, s5), "sessions 2-5 pending when opened")

    def mine():
        return [p for p in payloads(rx.delivered("/appr")) if p["ticket"] == tid]

    def ended_states():
        return {p["session"]: p["data"].get("state") for p in mine()
                if p["type"] == "session.ended"}
    t.ok(rx.wait(lambda: len(ended_states()) >= 5, 60), "five session.ended arrive")
    ps = mine()
    by = {}
    for p in ps:
        by.setdefault(p["session"], []).append(p["type"])
    t.eq(sorted(p["session"] for p in ps if p["type"] == "session.requested"),
         sorted([s1, s2, s3, s4, s5]), "session.requested for every pending session")
    t.eq(sorted(p["session"] for p in ps if p["type"] == "session.opened"), sorted([s1, s3]),
         "session.opened at the approval, by the owner's token or a receipt")
    t.eq(ended_states(), {s1: "ended", s2: "denied", s3: "ended", s4: "denied", s5: "expired"},
         "session.ended with state ended / denied / expired")
    t.ok(all(by[s][0] == "session.requested" for s in by if s),
         "for each session, session.requested comes first")
    evs = {e["seq"]: e for e in all_events(v, aud.token)}
    acts = {(p["session"], p["type"]): evs[p["audit_seq"]]["action"] for p in ps
            if p["type"] in ("session.opened", "session.ended")}
    t.eq((acts[(s1, "session.opened")], acts[(s2, "session.ended")],
          acts[(s3, "session.opened")], acts[(s4, "session.ended")],
          acts[(s5, "session.ended")]),
         ("session.approve", "session.deny", "receipt.approve", "receipt.deny", "session.expire"),
         "each reports its audit event: session.approve/deny by the owner, "
         "receipt.approve/deny by the receipt, session.expire from the periodic job")
    rot = [p for p in ps if p["type"] == "rotation.recommended"]
    t.ok(len(rot) == 1 and rot[0]["session"] == s1 and rot[0]["credential"] == cid,
         "rotation.recommended once, for the session in which it was read")
    t.ok(all(check_signature(hook["secret"], g["headers"], g["body"])
             for g in rx.delivered("/appr")), "all signed")
    for p in ps:
        t.diag("#%d.%d %s session=%s data=%s" % (p["audit_seq"], p["index"], p["type"],
                                                p["session"], json.dumps(p["data"], sort_keys=True)))
    v.delete("/v1/webhooks/" + hook["id"], v.admin)


def retries(v, rx):
    c = Core(v)
    rx.mode["/flaky"] = "fail:2"
    hook = add_hook(v, rx.url("/flaky"), ["ticket.closed"])
    cust = c.customer("pro")
    w = c.ticket(cust)
    expect(t, v.post(w.path + "/close", cust.token), 200, name="close (flaky receiver)")
    ok = rx.wait(lambda: len(rx.delivered("/flaky")) >= 1, 30)
    t.ok(ok, "a receiver that fails twice gets the delivery on a retry")
    tries = [g for g in rx.got if g["path"] == "/flaky"]
    t.ok(len(tries) == 3 and len({g["headers"]["rsvault-delivery"] for g in tries}) == 1,
         "three attempts, one delivery id (the same on every retry)")
    if len(tries) == 3:
        t.ok(tries[1]["time"] - tries[0]["time"] >= 0.8 and
             tries[2]["time"] - tries[1]["time"] >= 1.6,
             "backoff: about 1 s, then 2 s (%.1f, %.1f)" % (
                 tries[1]["time"] - tries[0]["time"], tries[2]["time"] - tries[1]["time"]))
    else:
        t.ok(False, "backoff measured")
    time.sleep(0.5)
    d = deliveries(v, hook["id"])
    t.ok(len(d) == 1 and d[0]["state"] == "delivered" and d[0]["attempts"] == 3 and
         d[0]["last_status"] == 200, "listing: delivered after 3 attempts: %r" % d)
    # a redirect is a failed attempt; no redirect is followed
    rx.mode["/moved"] = "redirect"
    h2 = add_hook(v, rx.url("/moved"), ["ticket.closed"])
    w = c.ticket(cust)
    expect(t, v.post(w.path + "/close", cust.token), 200, name="close (redirecting receiver)")
    rx.wait(lambda: any(x["attempts"] >= 1 for x in deliveries(v, h2["id"])), 20)
    time.sleep(0.5)
    d = deliveries(v, h2["id"])
    t.ok(d and d[0]["state"] == "pending" and d[0]["last_status"] == 302 and
         not any(g["path"] == "/ok-after-redirect" for g in rx.got),
         "a 302 is a failed attempt, not followed: %r" % d)
    # a host name (the certificate names localhost too), under the seccomp filter
    h3 = add_hook(v, "https://localhost:%d/by-name" % rx.port, ["ticket.closed"])
    w = c.ticket(cust)
    expect(t, v.post(w.path + "/close", cust.token), 200, name="close (receiver by name)")
    t.ok(rx.wait(lambda: len(rx.delivered("/by-name")) >= 1, 20),
         "a receiver named by host name gets it (the server survives the lookup)")
    for h in (hook, h2, h3):
        v.delete("/v1/webhooks/" + h["id"], v.admin)


def big_answers(v, rx):
    """A receiver may answer with a large body, or one that never ends: the
    vault stops reading where the body begins, and the status it got counts
    (a 2xx is a delivery, not a failure retried for a day)."""
    c = Core(v)
    rx.mode["/big200"] = "big:200:100000"
    rx.mode["/big500"] = "big:500:100000"
    rx.mode["/small200"] = "big:200:60000"
    rx.mode["/trickle200"] = "trickle:200"
    hooks = {p: add_hook(v, rx.url(p), ["ticket.closed"])
             for p in ("/big200", "/big500", "/small200", "/trickle200")}
    cust = c.customer("pro")
    w = c.ticket(cust)
    expect(t, v.post(w.path + "/close", cust.token), 200, name="close (receivers with big answers)")

    def tried(p):
        return any(x["attempts"] >= 1 for x in deliveries(v, hooks[p]["id"]))
    ok = rx.wait(lambda: all(tried(p) for p in hooks), 30)
    time.sleep(1.5)  # past the first retry's backoff (1 s)
    got = {p: deliveries(v, h["id"]) for p, h in hooks.items()}
    t.ok(ok, "each receiver had its attempt")
    d = got["/big200"]
    t.ok(len(d) == 1 and d[0]["state"] == "delivered" and d[0]["attempts"] == 1 and
         d[0]["last_status"] == 200,
         "200 with a 100 KB body: delivered at the first attempt, last_status 200: %r" % d)
    d = got["/small200"]
    t.ok(len(d) == 1 and d[0]["state"] == "delivered" and d[0]["last_status"] == 200,
         "200 with a 60 KB body: delivered: %r" % d)
    d = got["/big500"]
    t.ok(len(d) == 1 and d[0]["state"] == "pending" and d[0]["last_status"] == 500,
         "500 with a 100 KB body: a failed attempt, last_status 500: %r" % d)
    t.eq(len([g for g in rx.got if g["path"] == "/big200"]), 1, "the 200 is not retried")
    # a 200 whose body never ends: delivered, not a timeout at 10 s
    d = got["/trickle200"]
    t.ok(len(d) == 1 and d[0]["state"] == "delivered" and d[0]["attempts"] == 1 and
         d[0]["last_status"] == 200 and
         len([g for g in rx.got if g["path"] == "/trickle200"]) == 1,
         "200 whose body trickles past the time limit: delivered at the first attempt: %r" % d)
    for h in hooks.values():
        v.delete("/v1/webhooks/" + h["id"], v.admin)


def read_latency(c, w, n):
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        r = c.read_secret(w)
        out.append(time.monotonic() - t0)
        if r.status != 200:
            raise RuntimeError("read: %r" % r)
    return statistics.median(out)


def hanging(v, rx):
    c = Core(v)
    cust, ag = c.customer("pro"), c.agent()
    w = c.world(cust, ag, session=True)
    read_latency(c, w, 5)  # warm up
    base = read_latency(c, w, 30)
    rx.mode["/hang"] = "hang"
    hook = add_hook(v, rx.url("/hang"), ["credential.read"])
    fast = add_hook(v, rx.url("/fast"), ["credential.read"])
    read_latency(c, w, 3)
    rx.wait(lambda: any(g["path"] == "/hang" for g in rx.got), 20)
    t.ok(any(g["path"] == "/hang" for g in rx.got), "the hanging receiver holds a delivery")
    hung = read_latency(c, w, 30)
    t.diag("median secret read: %.1f ms without, %.1f ms with a hanging receiver" %
           (base * 1000, hung * 1000))
    t.ok(hung < base * 3 + 0.05, "a receiver that never answers leaves read latency unchanged "
         "(%.1f ms vs %.1f ms)" % (hung * 1000, base * 1000))
    t.ok(rx.wait(lambda: len(rx.delivered("/fast")) >= 33, 30),
         "another webhook gets all %d of its deliveries meanwhile" %
         len(rx.delivered("/fast")))
    v.delete("/v1/webhooks/" + fast["id"], v.admin)
    # the attempt ends at 10 s: a failed attempt with no status, retried later
    t0 = time.time()
    ended = rx.wait(lambda: any(d["attempts"] >= 1 for d in deliveries(v, hook["id"])), 30)
    d = [x for x in deliveries(v, hook["id"]) if x["attempts"] >= 1]
    t.ok(ended and d and d[0]["state"] == "pending" and d[0]["last_status"] is None,
         "an attempt that gets no answer ends (10 s): pending, last_status null "
         "(after %.1f s more)" % (time.time() - t0))
    expect(t, v.delete("/v1/webhooks/" + hook["id"], v.admin), 204,
           name="remove the hanging hook")


def restart(v, rx):
    c = Core(v)
    rx.mode["/later"] = "status:503"
    hook = add_hook(v, rx.url("/later"), ["ticket.closed"])
    cust = c.customer("pro")
    w = c.ticket(cust)
    expect(t, v.post(w.path + "/close", cust.token), 200, name="close (receiver down)")
    rx.wait(lambda: any(d["attempts"] >= 1 for d in deliveries(v, hook["id"])), 20)
    d = deliveries(v, hook["id"])
    t.ok(len(d) == 1 and d[0]["state"] == "pending" and d[0]["last_status"] == 503,
         "pending after a 503: %r" % d)
    did = d[0]["id"] if d else None
    # killed, not stopped: the outbox is in the committed store, not in memory
    rc = v.stop(sig=signal.SIGKILL)
    if rc == -signal.SIGKILL:
        v.bad_exits.remove(rc)  # expected here
    t.ok(rc == -signal.SIGKILL, "the server is killed (SIGKILL) with the delivery pending")
    rx.mode["/later"] = "ok"
    before = len(v.logtext())
    v.start()
    log = v.logtext()[before:]
    i, j = log.find("libcurl initialised (at start"), log.find(" listening on https://")
    t.ok(0 <= i < j, "with a webhook in the store, libcurl is initialised at start, "
         "before the filter (and the listening line)")
    ok = rx.wait(lambda: any(g["headers"].get("rsvault-delivery") == did
                             for g in rx.delivered("/later")), 30)
    t.ok(ok, "a delivery pending at a restart arrives after it")
    time.sleep(0.5)
    d = deliveries(v, hook["id"])
    t.ok(d and d[0]["state"] == "delivered", "and is listed delivered")
    v.delete("/v1/webhooks/" + hook["id"], v.admin)


def bounded(rx):
    rx.mode["/full"] = "status:500"
    with Vault(extra_args=["--webhook-ca", rx.ca, "--webhook-outbox-max", "5"],
               env={"RSVAULT_TEST_WEBHOOK_WINDOW_MS": "1500"}) as v:
        c = Core(v)
        hook = add_hook(v, rx.url("/full"), ["ticket.closed"])
        cust = c.customer("pro")
        tids = []
        for i in range(4):
            w = c.ticket(cust)
            tids.append(w.tid)
            expect(t, v.post(w.path + "/close", cust.token), 200, name="close %d" % i)
        # 1.5 s window: the first four fail after their second attempt
        rx.wait(lambda: sum(d["state"] == "failed" for d in deliveries(v, hook["id"])) >= 4, 30)
        failed = {d["id"] for d in deliveries(v, hook["id"]) if d["state"] == "failed"}
        t.ok(len(failed) == 4, "retries stop at the end of the window: failed")
        for i in range(6):
            w = c.ticket(cust)
            tids.append(w.tid)
            r = v.post(w.path + "/close", cust.token)
            if r.status != 200:
                t.ok(False, "a close failed because of the outbox: %r" % r)
        d = deliveries(v, hook["id"])
        t.ok(len(d) == 5, "the outbox holds at most 5 (%d)" % len(d))
        t.ok(len(failed) == 4 and not failed & {x["id"] for x in d},
             "the oldest failed ones were dropped first, before any pending one")
        evs = [e for e in all_events(v, c.auditor().token) if e["action"] == "webhook.dropped"]
        t.ok(len(evs) == 5 and all(e["target"] == hook["id"] and e["outcome"] == "allow"
                                   for e in evs),
             "a webhook.dropped event per dropped delivery (%d)" % len(evs))
        r = v.get("/v1/webhooks/%s/deliveries?limit=2" % hook["id"], v.admin)
        t.ok(r.status == 200 and len(r.json["deliveries"]) == 2 and "next" in r.json,
             "limit pages, with next")
        r2 = v.get("/v1/webhooks/%s/deliveries?limit=2&after=%s" % (hook["id"], r.json["next"]),
                   v.admin)
        t.ok(r2.status == 200 and not {x["id"] for x in r2.json["deliveries"]} &
             {x["id"] for x in r.json["deliveries"]}, "after goes on from next")
        first = [x["created_at"] for x in d]
        t.ok(first == sorted(first, reverse=True), "newest first")

        def metric(name):
            r = v.get("/v1/metrics", v.admin)
            for line in (r.body.decode() if r.status == 200 else "").splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
            return None
        rx.wait(lambda: metric("rsvault_webhook_dropped_total") == 5, 10)
        t.ok(metric("rsvault_webhook_dropped_total") == 5,
             "metrics: rsvault_webhook_dropped_total 5")
        pend = sum(x["state"] == "pending" for x in deliveries(v, hook["id"]))
        b = metric("rsvault_webhook_backlog")
        t.ok(b is not None and 0 <= b <= 5 and (b == pend or pend < 5),
             "metrics: rsvault_webhook_backlog %r (pending now %d)" % (b, pend))


def client(v, rx):
    """rsvault webhook add|list|deliveries|rm."""
    env = {k: x for k, x in os.environ.items() if not k.startswith("RSVAULT_")}
    env.update(RSVAULT_ADDR=v.addr, RSVAULT_CACERT=v.ca, RSVAULT_TOKEN=v.admin,
               HOME=tmpdir("whhome"))

    def run(*a):
        return subprocess.run([binpath("rsvault")] + list(a), capture_output=True, env=env,
                              timeout=60, text=True)
    r = run("webhook", "add", "http://127.0.0.1:9/x")
    t.ok(r.returncode == 1 and r.stdout == "", "client: an http:// URL is refused")
    r = run("webhook", "add", rx.url("/cli"), "--event", "ticket.closed", "--event",
            "credential.read")
    sec = r.stdout.strip()
    t.ok(r.returncode == 0 and sec.startswith("whsec_") and "webhook " in r.stderr,
         "client: webhook add prints the secret, the id on stderr")
    NEVER.append(sec)
    wid = r.stderr.split("webhook ", 1)[1].split(";", 1)[0] if "webhook " in r.stderr else ""
    r = run("--json", "webhook", "list")
    hooks = json.loads(r.stdout)["webhooks"] if r.returncode == 0 else []
    mine = [h for h in hooks if h["id"] == wid]
    t.ok(mine and mine[0]["events"] == ["ticket.closed", "credential.read"],
         "client: both --event values were sent")
    r = run("webhook", "list")
    t.ok(r.returncode == 0 and wid in r.stdout and "ticket.closed,credential.read" in r.stdout,
         "client: webhook list shows it")
    c = Core(v)
    cust = c.customer("pro")
    w = c.ticket(cust)
    v.post(w.path + "/close", cust.token)
    rx.wait(lambda: len(rx.delivered("/cli")) >= 1, 30)
    rx.wait(lambda: any(d["state"] == "delivered" for d in deliveries(v, wid)), 30)
    r = run("webhook", "deliveries", wid)
    if not t.ok(r.returncode == 0 and "ticket.closed" in r.stdout and "delivered" in r.stdout,
                "client: webhook deliveries shows the delivery"):
        t.diag("exit %d, stdout %r, stderr %r" % (r.returncode, r.stdout, r.stderr))
    r = run("webhook", "deliveries", wid, "--state", "nope")
    t.ok(r.returncode == 1, "client: a bad --state is a usage error")
    r = run("webhook", "rm", wid)
    t.ok(r.returncode == 0, "client: webhook rm")
    r = run("webhook", "rm", wid)
    t.ok(r.returncode == 4, "client: removing it again: not found (exit 4)")


def rewrap(rx):
    """The signing secret is a wrapped value of the master key: a new
    master-key version and the rewrap move it, and it still signs."""
    with Vault(extra_args=["--webhook-ca", rx.ca]) as v:
        c = Core(v)
        hook = add_hook(v, rx.url("/rewrap"), ["ticket.closed"])
        v.stop()
        r = subprocess.run([binpath("rsvault-keys"), "rotate-master", "--dir", v.keys],
                           capture_output=True, text=True, timeout=300)
        t.ok(r.returncode == 0, "rotate-master (version 2)")
        v.start()
        r = v.get("/v1/admin/keys", v.admin)
        t.ok(r.status == 200 and r.json["rewrap"]["left"] == 1,
             "the webhook secret is the one value left under version 1: %r" %
             (r.json if r.status == 200 else r))
        expect(t, v.post("/v1/admin/rewrap", v.admin), 202, name="POST /v1/admin/rewrap")
        end = time.time() + 60
        while time.time() < end:
            r = v.get("/v1/admin/keys", v.admin)
            if r.status == 200 and not r.json["rewrap"]["running"]:
                break
            time.sleep(0.3)
        t.ok(r.status == 200 and r.json["rewrap"]["left"] == 0,
             "after the rewrap nothing is left under version 1")
        cust = c.customer("pro")
        w = c.ticket(cust)
        expect(t, v.post(w.path + "/close", cust.token), 200, name="close after the rewrap")
        ok = rx.wait(lambda: len(rx.delivered("/rewrap")) >= 1, 30)
        got = rx.delivered("/rewrap")
        t.ok(ok and check_signature(hook["secret"], got[0]["headers"], got[0]["body"]),
             "the rewrapped secret still signs with the secret shown at creation")


def lazy_curl(v, rx):
    """A vault without webhooks leaves libcurl (and the OpenSSL it brings)
    uninitialised until its first delivery (memory: docs/benchmarks.md)."""
    t.ok("libcurl initialised" not in v.logtext(),
         "no webhook at start: libcurl is not initialised")
    c = Core(v)
    hook = add_hook(v, rx.url("/lazy"), ["ticket.closed"])
    t.ok("libcurl initialised" not in v.logtext(), "... nor when a webhook is added")
    cust = c.customer("pro")
    w = c.ticket(cust)
    expect(t, v.post(w.path + "/close", cust.token), 200, name="close (first delivery)")
    ok = rx.wait(lambda: len(rx.delivered("/lazy")) >= 1, 30)
    t.ok(ok and "libcurl initialised (for the first delivery)" in v.logtext(),
         "the first delivery initialises it, under the filter, and arrives")
    v.delete("/v1/webhooks/" + hook["id"], v.admin)


def main():
    d = tmpdir("wh")
    rx = Receiver(d)
    os.chmod(rx.ca, 0o644)
    try:
        # a proxy in the environment must not be used (it does not exist)
        proxy = "http://127.0.0.1:9"
        env = {k: proxy for k in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")}
        with Vault(extra_args=["--webhook-ca", rx.ca, "--approval-timeout", "3"], env=env) as v:
            guarded(t, "libcurl on demand", lazy_curl, v, rx)
            guarded(t, "routes", routes, v, rx)
            guarded(t, "full run", full_run, v, rx)
            guarded(t, "approval", approval_run, v, rx)
            guarded(t, "retries", retries, v, rx)
            guarded(t, "big answers", big_answers, v, rx)
            guarded(t, "hanging receiver", hanging, v, rx)
            guarded(t, "restart", restart, v, rx)
            guarded(t, "client", client, v, rx)
        guarded(t, "bounded outbox", bounded, rx)
        guarded(t, "rewrap", rewrap, rx)
        raw = bytes(rx.raw)
        t.ok(len(raw) > 0 and all(s.encode() not in raw for s in NEVER if s),
             "no secret, token, link, receipt or signing secret in any byte received "
             "(%d bytes, %d strings)" % (len(raw), len(NEVER)))
    finally:
        rx.stop()
    t.done()


main()

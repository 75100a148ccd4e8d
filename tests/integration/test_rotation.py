#!/usr/bin/env python3
"""The rotation prompt (SPEC 8.3, issue 12): credentials read in a session
are marked "rotate" when it ends (ended by its agent, by the owner, or as a
side effect such as a reassignment), listings show read_count,
last_read_at and rotate, an upload with exactly the same label clears the
mark on every credential of that label (they stay), and POST .../rotated
by the owner or by that credential's receipt clears it; everyone else is
refused. An upload through a link clears by label only when the owner made
the link (the agent who read it may use a link it made). A credential destroyed during the session still gets its
rotation.recommended notification, and no mark. TAP on stdout."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault, tmpdir  # noqa: E402
from rsvcore import Core, all_events, expect, guarded, parse_time  # noqa: E402
from whrx import Receiver, payloads  # noqa: E402

t = TAP()


def creds(v, w, tok=None):
    r = v.get(w.path + "/credentials", tok or w.owner.token)
    if r.status != 200:
        raise RuntimeError("list: %r" % r)
    return {c["id"]: c for c in r.json["credentials"]}


def rotated(v, w, cid, token=None, headers=None):
    return v.post("%s/credentials/%s/rotated" % (w.path, cid), token, headers=headers)


def marks(v, w):
    return {cid: c["rotate"] for cid, c in creds(v, w).items()}


def scenario(v, rx):
    c = Core(v)
    cust, other = c.customer("pro"), c.customer("pro")
    ag1, ag2, aud = c.agent(), c.agent(), c.auditor()
    w = c.ticket(cust)
    a = c.cred(w, label="Router admin")
    b = c.cred(w, label="NAS")
    cc = c.cred(w, label="Printer")
    c.assign(w, ag1)
    t0 = time.time()
    c.session(w)
    for cid in (a, a, b):
        expect(t, c.read_secret(w, cid=cid), 200, name="read %s" % cid[:6])
    l = creds(v, w)
    t.ok(l[a]["read_count"] == 2 and l[b]["read_count"] == 1 and l[cc]["read_count"] == 0,
         "read_count counts the reads (2, 1, 0)")
    t.ok(l[cc]["last_read_at"] is None and
         abs(parse_time(l[a]["last_read_at"]) - t0) < 60 and
         parse_time(l[b]["last_read_at"]) >= parse_time(l[a]["last_read_at"]),
         "last_read_at: the newest read, null when never read")
    t.ok(not any(marks(v, w).values()), "no mark while the session runs")
    l = creds(v, w, ag1.token)
    t.ok(all("rotate" in x and "read_count" in x for x in l.values()),
         "the agent's listing shows the same fields")
    # ended as a side effect: the admin reassigns the ticket
    r = v.post(w.path + "/assign", v.admin, {"agent": ag2.id})
    expect(t, r, 200, name="reassign (ends the session)")
    m = marks(v, w)
    t.ok(m[a] and m[b] and not m[cc], "read ones marked at the session's end, the other not")

    # a second session reads the printer; it is deleted before the end
    w.agent = ag2
    sid2 = c.session(w)
    expect(t, c.read_secret(w, cid=cc), 200, name="read the printer")
    expect(t, v.delete("%s/credentials/%s" % (w.path, cc), cust.token), 204,
           name="the owner deletes it during the session")
    expect(t, v.delete("/v1/sessions/" + sid2, cust.token), 204, name="the owner ends it")
    t.ok(cc not in creds(v, w), "the deleted one stays gone (no mark record revives it)")
    got = rx.wait(lambda: any(p["type"] == "rotation.recommended" and p["credential"] == cc
                              for p in payloads(rx.delivered())), 30)
    rr = [p for p in payloads(rx.delivered()) if p["type"] == "rotation.recommended"]
    t.ok(got and any(p["credential"] == cc and p["data"] == {"exists": False} and
                     p["session"] == sid2 for p in rr),
         "rotation.recommended also for one destroyed meanwhile (exists false)")
    t.ok(sorted(p["credential"] for p in rr if p["session"] != sid2) == sorted([a, b]),
         "and one for each credential the first session read")

    # the same label clears every credential of that label; they stay
    a2 = c.cred(w, label="Router admin")
    m = marks(v, w)
    t.ok(a in m and not m[a] and not m[a2] and m[b],
         "an upload with the same label clears that label's mark, not another's")
    c.cred(w, label="nas")  # differs in case: not the same label
    t.ok(marks(v, w)[b], "a label that differs in case does not clear it")

    # POST .../rotated: who may
    expect(t, rotated(v, w, b, ag2.token), 403, "forbidden", "the assigned agent")
    expect(t, rotated(v, w, b, v.admin), 403, "forbidden", "an admin")
    expect(t, rotated(v, w, b, aud.token), 403, "forbidden", "an auditor")
    expect(t, rotated(v, w, b, other.token), 404, "not_found", "another customer")
    expect(t, rotated(v, w, cc, cust.token), 404, "not_found", "a deleted credential")
    expect(t, v.post("%s/credentials/%s/rotated" % (w.path, b), cust.token, {"x": 1}), 400,
           "invalid_field", "a body")
    t.ok(marks(v, w)[b], "refusals change nothing")
    r = rotated(v, w, b, cust.token)
    expect(t, r, 200, name="the owner marks it rotated")
    t.ok(r.json and set(r.json) == {"id", "label", "kind", "created_at", "expires_at",
                                    "read_count", "last_read_at", "rotate"} and
         r.json["rotate"] is False and r.json["id"] == b and r.json["read_count"] == 1,
         "answer: the credential's summary with rotate false")
    t.ok(not marks(v, w)[b], "the mark is gone")
    expect(t, rotated(v, w, b, cust.token), 200, name="again: still 200")
    return w, cust, ag2, aud


def receipt(v, w, cust, ag, aud):
    c = Core(v)
    r = v.post(w.path + "/links", cust.token, {})
    expect(t, r, 201, name="an upload link")
    lid, lsec = r.json["url"].split("#", 1)[1].split(".", 1)
    r = v.post("/v1/link/credentials", headers={"Authorization": "Link %s.%s" % (lid, lsec)},
               body={"label": "VPN", "kind": "other", "secret": "pw-vpn-1"})
    expect(t, r, 201, name="upload through it")
    d = r.json["id"]
    rid, rsec = r.json["receipt"].split("#", 1)[1].split(".", 1)
    rh = {"Authorization": "Receipt %s.%s" % (rid, rsec)}
    c.session(w, agent=ag)
    expect(t, c.read_secret(w, cid=d, token=ag.token), 200, name="read the VPN login")
    expect(t, v.delete("/v1/sessions/" + w.sid, ag.token), 204, name="the agent ends it")
    r = v.get("/v1/receipt", headers=rh)
    t.ok(r.status == 200 and r.json["credential"]["rotate"] is True and
         r.json.get("ticket") == w.tid, "receipt: rotate true, and its ticket named")
    others = [x for x in creds(v, w) if x != d]
    expect(t, rotated(v, w, others[0], headers=rh), 404, "not_found",
           "the receipt on another credential")
    expect(t, v.post("/v1/tickets/%s/credentials/%s/rotated" % (c.ticket(cust).tid, d),
                     headers=rh), 404, "not_found", "the receipt on another ticket's path")
    expect(t, rotated(v, w, d, headers={"Authorization": "Receipt %s.%s" % (rid, "A" * 43)}),
           404, "not_found", "a wrong receipt secret")
    expect(t, rotated(v, w, d, headers={"Authorization": "Link %s.%s" % (lid, lsec)}), 401,
           "unauthenticated", "a link instead of the receipt")
    r = rotated(v, w, d, headers=rh)
    expect(t, r, 200, name="the receipt marks it rotated")
    t.ok(r.json and r.json.get("rotate") is False, "answer: rotate false")
    r = v.get("/v1/receipt", headers=rh)
    t.ok(r.status == 200 and r.json["credential"]["rotate"] is False, "receipt: rotate false")
    evs = all_events(v, aud.token)
    ev = [e for e in evs if e["action"] == "credential.rotated" and e["outcome"] == "allow"]
    t.ok(any(e["actor"] == "receipt:" + rid and e["role"] == "guest" and e["credential"] == d
             and e["ticket"] == w.tid for e in ev),
         "credential.rotated event: the receipt as guest actor, the credential named")
    t.ok(any(e["actor"] == cust.id and e["role"] == "customer" for e in ev),
         "credential.rotated event of the owner")
    t.ok(any(e["action"] == "credential.rotated" and e["outcome"] == "deny" and
             e["reason"] == "forbidden" for e in evs), "refusals are audited")
    # closing: no more /rotated (409 for the owner, the receipt stops working)
    expect(t, v.post(w.path + "/close", cust.token), 200, name="close the ticket")
    expect(t, rotated(v, w, d, cust.token), 409, "conflict", "owner after close")
    expect(t, rotated(v, w, d, headers=rh), 404, "not_found", "receipt after close")


def upload_by_link(v, w, token, label):
    r = v.post(w.path + "/links", token, {})
    if r.status != 201:
        raise RuntimeError("link: %r" % r)
    cap = r.json["url"].split("#", 1)[1]
    return v.post("/v1/link/credentials", headers={"Authorization": "Link " + cap},
                  body={"label": label, "kind": "other", "secret": "look-alike"})


def staff_links(v):
    """The review's sequence: the agent who read a credential makes a link,
    uploads through it a credential with the same label, and so would clear
    the owner's "change this password now". An upload through a link
    clears marks by label only when the ticket's owner made the link; the
    agent may not clear the mark (nor an admin by that way)."""
    c = Core(v)
    cust, ag = c.customer("pro"), c.agent()
    w = c.world(cust, ag, session=True, label="server-root")
    expect(t, c.read_secret(w), 200, name="the agent reads the owner's credential")
    expect(t, v.delete("/v1/sessions/" + w.sid, ag.token), 204, name="and ends the session")
    t.ok(marks(v, w)[w.cid], "the owner's credential is marked")
    expect(t, rotated(v, w, w.cid, ag.token), 403, "forbidden",
           "the agent may not clear it by the route")
    r = upload_by_link(v, w, ag.token, "server-root")
    expect(t, r, 201, name="the agent uploads the same label through its own link")
    m = marks(v, w)
    t.ok(m[w.cid] and r.json["id"] in m, "the mark stays after the agent's look-alike")
    expect(t, upload_by_link(v, w, v.admin, "server-root"), 201,
           name="an upload of the same label through an admin's link")
    t.ok(marks(v, w)[w.cid], "the mark stays after that too")
    expect(t, upload_by_link(v, w, cust.token, "server-root"), 201,
           name="an upload of the same label through the owner's link")
    t.ok(not marks(v, w)[w.cid], "clears the mark, as before")


def main():
    rx = Receiver(tmpdir("rot"))
    os.chmod(rx.ca, 0o644)
    try:
        with Vault(extra_args=["--webhook-ca", rx.ca]) as v:
            r = v.post("/v1/webhooks", v.admin, {"url": rx.url("/rot"),
                                                   "events": ["rotation.recommended"]})
            expect(t, r, 201, name="a webhook for rotation.recommended")
            res = guarded(t, "scenario", scenario, v, rx)
            if res:
                guarded(t, "receipt", receipt, v, *res)
            guarded(t, "uploads through links staff made", staff_links, v)
    finally:
        rx.stop()
    t.done()


main()

#!/usr/bin/env python3
"""Binding a license key (POST /v1/me/license; SPEC section 1, issue 9 item
9): unknown keys are throttled per account (at most 10 within 10 minutes,
then 429 rate_limited with Retry-After, also for a good key, until the
window has passed), and neither the answer nor GET /v1/me shows a bound
license's delivery e-mail unless it is the caller's own address. TAP on
stdout."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect, guarded, uid  # noqa: E402

t = TAP()
LIMIT = 10
EMAIL_RE = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+")


def bind(v, p, key):
    return v.post("/v1/me/license", p.token, {"key": key})


def throttle(v, c, st):
    a, b = c.customer(None), c.customer(None)
    good = c.license("pro", "sales-" + uid("x") + "@vendor.example")
    for i in range(LIMIT):
        r = bind(v, a, uid("WRONG-"))
        if not expect(t, r, 404, "not_found", "unknown key %d of %d" % (i + 1, LIMIT)):
            return
    r = bind(v, a, uid("WRONG-"))
    expect(t, r, 429, "rate_limited", "unknown key %d: throttled" % (LIMIT + 1))
    ra = r.header("Retry-After") or ""
    t.ok(ra.isdigit() and 1 <= int(ra) <= 600,
         "429 carries Retry-After in seconds within the 10-minute window (%r)" % ra)
    r = bind(v, a, good)
    expect(t, r, 429, "rate_limited", "a good key is throttled alike (no oracle)")
    me = c.me(a)
    t.eq((me["license"], me["eligible"]), (None, False), "the throttled bind changed nothing")
    expect(t, bind(v, b, uid("WRONG-")), 404, "not_found",
           "another account is not throttled by it")
    r = bind(v, b, good)
    expect(t, r, 200, name="and binds a good key")
    aud = c.auditor()
    r = v.get("/v1/audit?action=license.bind&actor=%s&outcome=deny&limit=1000" % a.id,
              aud.token)
    reasons = [e["reason"] for e in (r.json or {}).get("events", [])]
    t.eq(reasons, ["not_found"] * LIMIT + ["rate_limited"] * 2,
         "every attempt is audited: %d not_found, then rate_limited" % LIMIT)


def window_lifts():
    with Vault(env={"RSVAULT_TEST_BIND_WINDOW_MS": "2000"}) as v:
        c = Core(v)
        a = c.customer(None)
        good = c.license("plus", "other-" + uid("x") + "@vendor.example")
        for i in range(LIMIT):
            bind(v, a, uid("WRONG-"))
        expect(t, bind(v, a, good), 429, "rate_limited", "short window: throttled")
        time.sleep(2.5)
        r = bind(v, a, good)
        expect(t, r, 200, name="short window: once it has passed a good key binds")
        t.eq((r.json or {}).get("eligible"), True, "and counts")


def no_delivery_email(v, c, st):
    cust = c.customer(None)
    other = "billing-" + uid("d") + "@elsewhere.example"
    key = c.license("site", other)
    r = bind(v, cust, key)
    expect(t, r, 200, name="a customer binds a key delivered to someone else")
    lic = (r.json or {}).get("license") or {}
    t.eq((lic.get("key"), lic.get("type"), lic.get("email")), (key, "site", None),
         "the answer names the license with e-mail null")
    t.ok(other.encode() not in r.body and other.split("@")[0].encode() not in r.body,
         "the answer holds no part of the license's delivery e-mail")
    t.eq(sorted(m.decode() for m in EMAIL_RE.findall(r.body)), [cust.email],
         "the only e-mail address in the answer is the caller's own")
    me = v.get("/v1/me", cust.token)
    t.ok(me.status == 200 and other.encode() not in me.body,
         "GET /v1/me does not show it either")
    t.eq(((me.json or {}).get("license") or {}).get("email"), None,
         "GET /v1/me: license e-mail null")
    keys = set(((me.json or {}).get("license") or {}).keys())
    t.ok(keys >= {"commercial", "email", "key", "priority", "type", "valid_until"},
         "the license object keeps its fields (%s)" % sorted(keys))
    r = v.get("/v1/licenses/" + key, v.admin)
    t.eq((r.json or {}).get("email"), other, "the admin still sees the delivery e-mail")
    # a license whose delivery e-mail is the caller's own shows it
    own = c.customer("pro")
    t.eq(c.me(own)["license"]["email"], own.email, "an e-mail-matched license shows it")
    r = bind(v, own, own.license)
    t.eq(((r.json or {}).get("license") or {}).get("email"), own.email,
         "binding one's own license shows one's own address")


def main():
    with Vault() as v:
        c = Core(v)
        st = {}
        guarded(t, "throttle", throttle, v, c, st)
        guarded(t, "no delivery e-mail", no_delivery_email, v, c, st)
    guarded(t, "window lifts", window_lifts)
    t.done()


main()

#!/usr/bin/env python3
"""Time limits (SPEC sections 3, 4 and 6): a credential with ttl_s 1 is
listed, then gone, unreadable, and destroyed in the store by the sweeper; a
session with ttl_s 1 becomes "expired" and reads give session_expired;
closing a ticket ends its session ("ended", not "expired"). TAP on
stdout."""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect, guarded, mdb_dump, parse_time  # noqa: E402

t = TAP()


def main(v, st):
    c = Core(v)
    owner, ag = c.customer("pro"), c.agent()

    # A credential that lives 1 s, beside one that lives on.
    w = c.world(owner, ag, cred=False, session=True)
    r = v.post(w.path + "/credentials", owner.token,
               {"label": "short", "kind": "web", "secret": "short-lived-secret", "ttl_s": 1})
    expect(t, r, 201, name="upload with ttl_s 1")
    short = r.json["id"]
    t.eq(round(parse_time(r.json["expires_at"]) - parse_time(r.json["created_at"]), 3), 1.0,
         "expires_at is created_at + 1 s")
    keep = c.cred(w, secret="long-lived-secret", label="keep")
    t.eq(sorted(c.cred_ids(w)), sorted([short, keep]), "the 1 s credential is listed at first")
    st["short"], st["keep"], st["tid"] = short, keep, w.tid

    # A session that lives 1 s (on its own ticket), started at the same time.
    w2 = c.world(owner, ag)
    r = v.post(w2.path + "/sessions", ag.token, {"ttl_s": 1})
    expect(t, r, 201, name="session with ttl_s 1")
    w2.sid = r.json["id"]
    t.eq(round(parse_time(r.json["expires_at"]) - parse_time(r.json["opened_at"]), 3), 1.0,
         "session expires_at is opened_at + 1 s")
    expect(t, c.read_secret(w2), 200, name="read inside the 1 s session")

    # Closing a ticket ends its session.
    w3 = c.world(owner, ag, session=True)
    expect(t, v.post(w3.path + "/close", owner.token), 200, name="owner closes a ticket with a session")
    t.eq(c.session_state(w3), "ended", "closing ended the session (state ended)")
    expect(t, c.read_secret(w3), 403, "session_expired", "read with the session closing ended")
    expect(t, v.delete("/v1/sessions/" + w3.sid, ag.token), 204,
           name="ending the already ended session is harmless")
    t.eq(c.session_state(w3), "ended", "it stays ended")

    st["closed"] = w3.tid
    st["nocred"] = c.world(owner, ag, cred=False).tid

    time.sleep(2.5)
    t.eq(c.cred_ids(w), [keep], "after 2.5 s the 1 s credential is no longer listed")
    t.eq(c.cred_ids(w, token=ag.token), [keep], "nor in the agent's list")
    r = c.read_secret(w, cid=short)
    expect(t, r, 404, "not_found", "its secret read gives 404")
    t.ok(b"short-lived-secret" not in r.body, "the 404 holds no secret")
    r = c.read_secret(w, cid=keep)
    t.eq((r.status, (r.json or {}).get("secret")), (200, "long-lived-secret"),
         "the other credential still reads")
    expect(t, v.delete("%s/credentials/%s" % (w.path, short), owner.token), 404, "not_found",
           "deleting the expired credential gives 404")

    sess = c.sessions(w2)
    t.eq(sess[w2.sid]["state"], "expired", "the 1 s session is expired after 2.5 s")
    expect(t, c.read_secret(w2), 403, "session_expired", "read with the expired session")
    r = v.post(w2.path + "/sessions", ag.token)
    expect(t, r, 201, name="a new session opens once the old one expired (no conflict)")
    t.eq(c.sessions(w2)[w2.sid]["state"], "expired", "the old session stays expired")
    return True


def swept(v, st):
    creds = mdb_dump(v.data, "creds")
    blob = b"\n".join(k for k, _ in creds)
    t.ok(st["keep"].encode() in blob, "the store still holds the live credential")
    t.ok(st["short"].encode() not in blob, "the sweeper deleted the expired credential's record")
    t.ok(st["closed"].encode() not in blob, "closing left no credential record of the ticket")
    keys = mdb_dump(v.data, "ticket_keys")
    kblob = b"\n".join(k for k, _ in keys)
    t.ok(st["tid"].encode() in kblob, "a ticket with credentials has a wrapped key")
    t.ok(st["closed"].encode() not in kblob, "closing deleted the ticket's wrapped key (shredding)")
    t.ok(st["nocred"].encode() not in kblob, "a ticket without credentials has no ticket key yet")
    exp = mdb_dump(v.data, "cred_expiry")
    t.ok(not any(st["short"].encode() in k for k, _ in exp),
         "and its expiry index entry")


V = Vault()
ST = {}
try:
    V.start()
    ok = guarded(t, "expiry", main, V, ST)
    t.eq(V.stop(), 0, "server stops cleanly")
    if ok:
        guarded(t, "swept", swept, V, ST)
finally:
    V.stop()
if t.failed == 0 and not os.environ.get("RSVAULT_KEEP_TMP"):
    shutil.rmtree(V.dir, ignore_errors=True)
t.done()

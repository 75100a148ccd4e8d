#!/usr/bin/env python3
"""No plaintext at rest (SPEC sections 3 and 5): distinctive random markers
planted in secrets and notes (and in the other encrypted credential fields)
go through a full flow - uploads, lists, sessions, reads, refused requests,
deletion, expiry, closing - and then appear nowhere: not in any file under
the vault's directory (LMDB store, lock file, admin token, server log) and
not in any audit event. TAP on stdout."""
import json
import os
import secrets
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect, guarded  # noqa: E402

t = TAP()
SECRET_MARKERS = []   # secret and notes: must never be at rest nor in the audit log
FIELD_MARKERS = []    # label, host, username: encrypted with the record (SPEC 3)


def mark(kind, extra=""):
    m = "NPX%s%s%s" % (kind, secrets.token_hex(12), extra)
    (SECRET_MARKERS if kind in ("SEC", "NOTE") else FIELD_MARKERS).append(m)
    return m


def flow(v, c, st):
    owner, ag, aud = c.customer("pro"), c.agent(), c.auditor()
    st["aud"] = aud
    w = c.world(owner, ag, cred=False)
    ids = []
    for kind, extra in (("rdp", ""), ("ssh", "-pässwörd-密码-🔑"), ("web", "")):
        body = {"label": mark("LBL"), "kind": kind, "host": mark("HOST") + ".example",
                "username": mark("USER"), "secret": mark("SEC", extra),
                "notes": "notes " + mark("NOTE")}
        r = v.post(w.path + "/credentials", owner.token, body)
        expect(t, r, 201, name="upload a marked %s credential" % kind)
        ids.append(r.json["id"])
    w.cid = ids[0]
    expect(t, v.get(w.path + "/credentials", owner.token), 200, name="owner lists")
    expect(t, v.get(w.path + "/credentials", ag.token), 200, name="agent lists")
    sid = c.session(w)
    for cid in ids:
        for _ in range(2):
            r = c.read_secret(w, cid=cid)
            expect(t, r, 200, name="agent reads a marked secret")
    got = [c.read_secret(w, cid=cid).json["secret"] for cid in ids]
    t.ok(all(any(m in s for m in SECRET_MARKERS) for s in got), "each read returned its marker")
    expect(t, v.delete("/v1/sessions/" + sid, owner.token), 204, name="owner ends the session")
    expect(t, c.read_secret(w, sid=sid), 403, "session_expired", "read after the end")
    c.session(w)
    expect(t, c.read_secret(w, cid=ids[1]), 200, name="read in a second session")
    r = v.delete("%s/credentials/%s" % (w.path, ids[2]), owner.token)
    expect(t, r, 204, name="owner deletes a marked credential")

    # Refused requests that carry a marked secret.
    sec = mark("SEC")
    expect(t, v.post(w.path + "/credentials", owner.token,
                     {"label": "x", "kind": "rdp", "secret": sec, "extra": 1}),
           400, "invalid_field", "upload with an unknown field and a marked secret")
    expect(t, v.post(w.path + "/credentials", owner.token,
                     {"label": "x", "kind": "bogus", "secret": sec}),
           400, "invalid_field", "upload with a bad kind and a marked secret")
    expect(t, v.post(w.path + "/credentials", owner.token,
                     {"label": "x", "kind": "rdp", "secret": sec + "s" * 8192}),
           400, "invalid_field", "upload of a too long marked secret")
    expect(t, v.request("POST", w.path + "/credentials", token=owner.token,
                        raw='{"label":"x","kind":"rdp","secret":"%s",}' % sec),
           400, "invalid_json", "malformed JSON holding a marked secret")
    expect(t, v.post(w.path + "/credentials", ag.token,
                     {"label": "x", "kind": "rdp", "secret": sec}),
           403, "forbidden", "agent tries to upload a marked secret")
    expect(t, v.post(w.path + "/credentials", "rsv_nonsense",
                     {"label": "x", "kind": "rdp", "secret": sec}),
           401, "unauthenticated", "bad token uploading a marked secret")
    free = c.customer("free")
    wf = c.ticket(free)
    expect(t, v.post(wf.path + "/credentials", free.token,
                     {"label": "x", "kind": "rdp", "secret": sec, "notes": mark("NOTE")}),
           403, "license_required", "free customer uploads a marked secret")

    # A credential that expires and is swept, and a ticket that is closed.
    w2 = c.world(owner, ag, cred=False, session=True)
    r = v.post(w2.path + "/credentials", owner.token,
               {"label": mark("LBL"), "kind": "vnc", "secret": mark("SEC"),
                "notes": mark("NOTE"), "ttl_s": 1})
    expect(t, r, 201, name="upload a marked credential with ttl 1 s")
    w3 = c.world(owner, ag, cred=False, session=True)
    r = v.post(w3.path + "/credentials", owner.token,
               {"label": mark("LBL"), "kind": "other", "secret": mark("SEC"),
                "username": mark("USER"), "notes": mark("NOTE")})
    expect(t, r, 201, name="upload a marked credential to a ticket to be closed")
    w3.cid = r.json["id"]
    expect(t, c.read_secret(w3), 200, name="read it")
    expect(t, v.post(w3.path + "/close", ag.token), 200, name="agent closes the ticket")
    time.sleep(2.2)
    t.eq(c.cred_ids(w2), [], "the 1 s credential is gone")
    st["tickets"] = [(w, owner), (w2, owner), (w3, owner), (wf, free)]


def audit_text(v, c, st):
    aud = st["aud"]
    pages, after, raw, statuses = 0, 0, [], []
    while pages < 100:
        # reading the log adds events of its own: stop at a short page
        r = v.get("/v1/audit?after_seq=%d&limit=1000" % after, aud.token)
        statuses.append(r.status)
        pages += 1
        if r.status != 200:
            break
        raw.append(r.body)
        evs = r.json.get("events", [])
        if len(evs) < 1000 or r.json.get("next_seq") in (None, after):
            break
        after = r.json["next_seq"]
    t.eq(set(statuses), {200}, "auditor reads the whole audit log (%d page(s))" % pages)
    for w, owner in st["tickets"]:
        r = v.get(w.path + "/audit", owner.token)
        expect(t, r, 200, name="owner reads the ticket's audit trail")
        raw.append(r.body)
    blob = b"".join(raw)
    n = blob.count(b'"seq"')
    t.ok(n > 40, "the audit log holds the flow's events (%d seen)" % n)
    found = [m for m in SECRET_MARKERS + FIELD_MARKERS
             if m.encode() in blob or json.dumps(m)[1:-1].encode() in blob]
    if not t.ok(not found, "no audit event holds a secret, notes or other credential field"):
        t.diag("found: %r" % found)


def at_rest(v):
    files, blobs = [], {}
    for root, _, names in os.walk(v.dir):
        for n in names:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                blobs[p] = f.read()
            files.append(p)
    t.ok(any(p.endswith("data.mdb") for p in files) and v.log_path in files,
         "the store and the log were found (%d files)" % len(files))
    for label, markers in (("secret or notes", SECRET_MARKERS),
                           ("label, host or username", FIELD_MARKERS)):
        hits = []
        for p, b in blobs.items():
            for m in markers:
                for form in (m, m.split("-")[0]):
                    if form.encode("utf-8") in b:
                        hits.append((os.path.relpath(p, v.dir), form))
        if not t.ok(not hits, "no %s marker in any file at rest (%d markers, %d files)"
                    % (label, len(markers), len(files))):
            t.diag("found: %r" % sorted(set(hits))[:10])
    log = blobs[v.log_path]
    t.ok(log.count(b"\n") > 20, "the log has one line per request")


V = Vault()
V.start()
C = Core(V)
ST = {}
try:
    guarded(t, "flow", flow, V, C, ST)
    if "tickets" in ST:
        guarded(t, "audit text", audit_text, V, C, ST)
    t.eq(V.stop(), 0, "the server stops cleanly")
    guarded(t, "at rest", at_rest, V)
finally:
    V.stop()
if t.failed == 0 and not os.environ.get("RSVAULT_KEEP_TMP"):
    shutil.rmtree(V.dir, ignore_errors=True)
t.done()

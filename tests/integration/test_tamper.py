#!/usr/bin/env python3
"""Tampering with the store (SPEC sections 3 and 6): a sealed credential
record moved to another credential id or to another ticket, and a wrapped
ticket key with one byte flipped, must fail authentication: the API answers
500 "internal" without detail or secret, the log says what failed (without
the secret), and untouched tickets keep working. The store is edited with
mdb_dump / mdb_load while the server is stopped. TAP on stdout."""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect, guarded, mdb_dump, mdb_put, parse_time, secret_free, uid  # noqa: E402

t = TAP()


def key_of(records, cid):
    """The creds key that names credential cid (whatever the layout)."""
    ks = [k for k, _ in records if cid.encode() in k]
    if len(ks) != 1:
        raise RuntimeError("credential %s found %d times in the dump" % (cid, len(ks)))
    return ks[0]


def internal(r, name, secrets):
    expect(t, r, 500, "internal", name)
    secret_free(t, r, secrets, name + ": the body holds no secret")
    msg = ((r.json or {}).get("error") or {}).get("message", "")
    t.ok(len(msg) < 200, name + ": the message is short and undetailed")
    return r.header("X-Request-Id")


h1_expiry_ms = [0]


def main(v):
    v.start()
    c = Core(v)
    owner, ag = c.customer("pro"), c.agent()
    S = {n: "tamper-%s-%s" % (n, uid("s"))
         for n in ("a1", "a2", "b1", "c1", "d1", "e1", "f1", "g1", "h1")}
    wa = c.world(owner, ag, cred=False, session=True)       # two creds: swap inside a ticket
    a1 = c.cred(wa, secret=S["a1"], notes="notes-" + S["a1"])
    a2 = c.cred(wa, secret=S["a2"])
    wb = c.world(owner, ag, cred=False, session=True)       # b1 <-> c1: across tickets
    b1 = c.cred(wb, secret=S["b1"])
    wc = c.world(owner, ag, cred=False, session=True)
    c1 = c.cred(wc, secret=S["c1"])
    wd = c.world(owner, ag, cred=False, session=True)       # flipped wrapped ticket key
    d1 = c.cred(wd, secret=S["d1"])
    we = c.world(owner, ag, cred=False, session=True)       # untouched control
    e1 = c.cred(we, secret=S["e1"])
    wf = c.world(owner, ag, cred=False, session=True)       # f <-> g: wrapped keys swapped
    f1 = c.cred(wf, secret=S["f1"])
    wg = c.world(owner, ag, cred=False, session=True)
    g1 = c.cred(wg, secret=S["g1"])
    wh = c.world(owner, ag, cred=False, session=True)       # h1: expiry edited in place
    h1 = c.cred(wh, secret=S["h1"], ttl_s=3600)
    h1_expiry_ms[0] = int(parse_time(c.v.get(wh.path + "/credentials", owner.token)
                                     .json["credentials"][0]["expires_at"]) * 1000)
    for w, cid, n in ((wa, a1, "a1"), (wb, b1, "b1"), (wd, d1, "d1"), (we, e1, "e1"),
                      (wf, f1, "f1"), (wg, g1, "g1"), (wh, h1, "h1")):
        r = c.read_secret(w, cid=cid)
        t.eq((r.status, (r.json or {}).get("secret")), (200, S[n]),
             "before tampering: %s reads" % n)
    rc = v.stop()
    t.eq(rc, 0, "server stops cleanly")

    creds = mdb_dump(v.data, "creds")
    val = dict(creds)
    ka1, ka2, kb1, kc1 = (key_of(creds, x) for x in (a1, a2, b1, c1))
    t.ok(all(S[n].encode() not in b"".join(k + x for k, x in creds) for n in S),
         "no secret in the raw creds sub-database")
    mdb_put(v.data, "creds", [(ka1, val[ka2]), (ka2, val[ka1]),   # another credential id
                              (kb1, val[kc1]), (kc1, val[kb1])])  # another ticket
    keys = dict(mdb_dump(v.data, "ticket_keys"))
    kd = [k for k in keys if wd.tid.encode() in k]
    if len(kd) != 1:
        raise RuntimeError("wrapped key of %s not found" % wd.tid)
    wrapped = bytearray(keys[kd[0]])
    wrapped[-1] ^= 0x01                                          # one bit of the tag
    kf = [k for k in keys if wf.tid.encode() in k]
    kg = [k for k in keys if wg.tid.encode() in k]
    if len(kf) != 1 or len(kg) != 1:
        raise RuntimeError("wrapped keys of %s / %s not found" % (wf.tid, wg.tid))
    mdb_put(v.data, "ticket_keys", [(kd[0], bytes(wrapped)),
                                    (kf[0], keys[kg[0]]), (kg[0], keys[kf[0]])])
    # Give h1 a longer life by editing every 8-byte big-endian number in its
    # record that looks like its expiry (ms since 1970) to one day later.
    kh1 = key_of(creds, h1)
    rec = bytearray(val[kh1])
    edited = 0
    for i in range(0, min(len(rec) - 8, 64)):
        n = int.from_bytes(rec[i:i + 8], "big")
        if abs(n - h1_expiry_ms[0]) <= 2000:
            rec[i:i + 8] = (n + 86400000).to_bytes(8, "big")
            edited += 1
    t.ok(edited >= 1, "h1's plaintext expiry found in its record (%d place(s))" % edited)
    mdb_put(v.data, "creds", [(kh1, bytes(rec))])
    after = dict(mdb_dump(v.data, "creds"))
    t.ok(after[ka1] == val[ka2] and after[kb1] == val[kc1], "the store holds the swapped records")

    v.start()
    secrets = list(S.values())
    rids = []
    rids.append(internal(c.read_secret(wa, cid=a1), "record moved to another credential id: read a1",
                         secrets))
    rids.append(internal(c.read_secret(wa, cid=a2), "record moved to another credential id: read a2",
                         secrets))
    rids.append(internal(v.get(wa.path + "/credentials", owner.token),
                         "list of a ticket holding a moved record", secrets))
    rids.append(internal(v.get(wa.path + "/credentials", ag.token),
                         "agent's list of that ticket", secrets))
    rids.append(internal(c.read_secret(wb, cid=b1), "record moved to another ticket: read b1",
                         secrets))
    rids.append(internal(c.read_secret(wc, cid=c1), "record moved to another ticket: read c1",
                         secrets))
    rids.append(internal(v.get(wc.path + "/credentials", owner.token),
                         "list of a ticket holding another ticket's record", secrets))
    rids.append(internal(c.read_secret(wd, cid=d1), "flipped wrapped ticket key: read", secrets))
    rids.append(internal(v.get(wd.path + "/credentials", owner.token),
                         "flipped wrapped ticket key: list", secrets))
    rids.append(internal(v.post(wd.path + "/credentials", owner.token,
                                {"label": "new", "kind": "ssh", "secret": "new-" + S["d1"]}),
                         "flipped wrapped ticket key: upload", secrets + ["new-" + S["d1"]]))
    rids.append(internal(c.read_secret(wf, cid=f1), "wrapped key moved to another ticket: read f1",
                         secrets))
    rids.append(internal(c.read_secret(wg, cid=g1), "wrapped key moved to another ticket: read g1",
                         secrets))
    rids.append(internal(c.read_secret(wh, cid=h1), "record with an edited expiry: read", secrets))
    rids.append(internal(v.get(wh.path + "/credentials", owner.token),
                         "record with an edited expiry: list", secrets))
    r = c.read_secret(we, cid=e1)
    t.eq((r.status, (r.json or {}).get("secret")), (200, S["e1"]),
         "untouched ticket still reads its secret")
    expect(t, v.get(we.path + "/credentials", owner.token), 200, name="untouched ticket still lists")
    expect(t, v.get("/v1/health"), 200, name="server still healthy")
    expect(t, v.get(wa.path, owner.token), 200, name="the tampered ticket itself still reads")
    v.stop()

    log = open(v.log_path, "rb").read()
    t.ok(all(s.encode() not in log for s in secrets + ["new-" + S["d1"]]),
         "the server log holds no secret")
    lines = log.decode("utf-8", "replace").splitlines()
    for rid in rids:
        mine = [ln for ln in lines if rid and rid in ln]
        said = [ln for ln in mine if any(w in ln.lower() for w in
                                         ("tamper", "corrupt", "authenticat", "decrypt"))]
        if not t.ok(said, "the log explains failure %s" % rid):
            t.diag("log lines for it: %r" % mine)
    return True


V = Vault()
try:
    if guarded(t, "tamper", main, V) and not os.environ.get("RSVAULT_KEEP_TMP"):
        shutil.rmtree(V.dir, ignore_errors=True)
finally:
    V.stop()
t.done()

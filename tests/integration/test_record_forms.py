#!/usr/bin/env python3
"""Stored records in the binary form, and stores written by older versions
in JSON (issue 10 item 3; docs/architecture.md "How records are stored").

The server writes accounts, licenses, tickets and sessions in the binary
form (version byte 1; decoded here by an independent reader of the
documented layout). A store whose records are all JSON text, as older
versions wrote them (rewritten while the server is stopped), serves the
same answers; the gauntlet's reads of such records (account role and
suspension, the session, the license standing) still decide: a JSON
account marked suspended, a JSON license marked revoked and a JSON session
of another agent are refused. A record changed through the API is stored
in the binary form again. TAP on stdout."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect, guarded, mdb_dump, mdb_put  # noqa: E402

t = TAP()
TABLES = ("accounts", "licenses", "tickets", "sessions")


class Bad(Exception):
    pass


def _val(b, p):
    tag = chr(b[p])
    p += 1
    if tag == "s":
        n = int.from_bytes(b[p:p + 4], "big")
        s = b[p + 4:p + 4 + n]
        if len(s) != n or b[p + 4 + n] != 0 or 0 in s:
            raise Bad("string")
        return s.decode("utf-8"), p + 5 + n
    if tag == "i":
        if len(b) < p + 8:
            raise Bad("int")
        return int.from_bytes(b[p:p + 8], "big", signed=True), p + 8
    if tag in "tfn":
        return {"t": True, "f": False, "n": None}[tag], p
    if tag in "ao":
        size = int.from_bytes(b[p:p + 4], "big")
        count = int.from_bytes(b[p + 4:p + 8], "big")
        end = p + 4 + size
        p += 8
        if tag == "a":
            out = []
            for _ in range(count):
                v, p = _val(b, p)
                out.append(v)
        else:
            out, last = {}, None
            for _ in range(count):
                nl = b[p]
                name = b[p + 1:p + 1 + nl]
                if b[p + 1 + nl] != 0 or (last is not None and name <= last):
                    raise Bad("name")
                last = name
                v, p = _val(b, p + 2 + nl)
                out[name.decode("utf-8")] = v
        if p != end:
            raise Bad("size")
        return out, p
    raise Bad("tag %r" % tag)


def brec_decode(b):
    if not b or b[0] != 1:
        raise Bad("version")
    v, p = _val(b, 1)
    if p != len(b) or not isinstance(v, dict):
        raise Bad("trailing bytes")
    return v


def dump(v, table):
    return dict(mdb_dump(v.data, table))


def to_json(v, table, change=None):
    """Rewrite every record of table as the compact JSON text of older
    versions; change(key, obj) may edit an object first. Server stopped."""
    pairs = []
    for k, val in dump(v, table).items():
        obj = json.loads(val) if val[:1] == b"{" else brec_decode(val)
        if change is not None:
            change(k.decode(), obj)
        pairs.append((k, json.dumps(obj, separators=(",", ":")).encode()))
    mdb_put(v.data, table, pairs)


def forms(v, table):
    return {k.decode(): ("json" if val[:1] == b"{" else "binary") for k, val in dump(v, table).items()}


def views(v, c, w, st):
    """What the API shows of the world, to compare across the forms."""
    r1 = v.get(w.path, w.owner.token)
    r2 = v.get(w.path + "/sessions", w.owner.token)
    r3 = v.get("/v1/accounts/" + w.agent.id, v.admin)
    r4 = v.get("/v1/me", w.owner.token)
    for r in (r1, r2, r3, r4):
        if r.status != 200:
            raise RuntimeError("a view answered %d" % r.status)
    return [r1.json, r2.json, r3.json, r4.json]


def binary_written(v, c, st):
    owner = c.customer("pro")
    ag = c.agent()
    w = c.world(owner, ag, session=True)
    st.update(owner=owner, agent=ag, w=w)
    expect(t, c.read_secret(w), 200, name="a secret read in a session")
    st["views"] = views(v, c, w, st)
    v.stop()
    for table in TABLES:
        recs = dump(v, table)
        kinds = set(forms(v, table).values())
        t.eq(kinds, {"binary"}, "every %s record is in the binary form (%d)" % (table, len(recs)))
        try:
            objs = {k.decode(): brec_decode(val) for k, val in recs.items()}
        except (Bad, IndexError, UnicodeDecodeError) as e:
            t.ok(False, "the %s records decode by the documented layout: %s" % (table, e))
            continue
        t.ok(objs, "the %s records decode by the documented layout" % table)
    acct = brec_decode(dump(v, "accounts")[ag.id.encode()])
    t.eq((acct.get("id"), acct.get("role")), (ag.id, "agent"), "the agent's account reads back")
    sess = brec_decode(dump(v, "sessions")[w.sid.encode()])
    t.eq((sess.get("ticket"), sess.get("agent"), type(sess.get("expires_at"))),
         (w.tid, ag.id, int), "the session reads back, its times integers")
    v.start()


def old_json_store(v, c, st):
    w, ag = st["w"], st["agent"]
    v.stop()
    for table in TABLES:
        to_json(v, table)
        t.eq(set(forms(v, table).values()), {"json"}, "every %s record is JSON now" % table)
    v.start()
    expect(t, c.read_secret(w), 200, name="a JSON store: the secret read passes the gauntlet")
    t.eq(views(v, c, w, st), st["views"], "the JSON store shows what the binary one showed")

    def suspend(k, o):
        if k == ag.id:
            o["suspended"] = True

    v.stop()
    to_json(v, "accounts", suspend)
    v.start()
    expect(t, c.read_secret(w), 403, "account_suspended",
           "a JSON account marked suspended is refused (authenticate reads it)")

    def unsuspend(k, o):
        o.pop("suspended", None) if k == ag.id else None

    def revoke(k, o):
        o["revoked_at"] = 1

    v.stop()
    to_json(v, "accounts", unsuspend)
    to_json(v, "licenses", revoke)
    v.start()
    expect(t, c.read_secret(w), 403, "license_required",
           "a JSON license marked revoked is refused (the standing reads it)")

    def unrevoke(k, o):
        o.pop("revoked_at", None)

    other = c.agent()

    def reassign_session(k, o):
        if k == w.sid:
            o["agent"] = other.id

    v.stop()
    to_json(v, "licenses", unrevoke)
    to_json(v, "sessions", reassign_session)
    v.start()
    expect(t, c.read_secret(w), 403, "session_required",
           "a JSON session of another agent is refused (check_session reads it)")

    def restore_session(k, o):
        if k == w.sid:
            o["agent"] = ag.id

    v.stop()
    to_json(v, "sessions", restore_session)
    t.eq(forms(v, "sessions").get(w.sid), "json", "the session is JSON before it changes")
    v.start()
    expect(t, c.read_secret(w), 200, name="all restored: the read passes again")
    expect(t, v.delete("/v1/sessions/" + w.sid, ag.token), 204, name="the agent ends the session")
    v.stop()
    f = forms(v, "sessions")
    t.eq(f.get(w.sid), "binary", "the ended session was stored in the binary form")
    t.eq(forms(v, "accounts").get(st["owner"].id), "json",
         "an unchanged account stays as it was")
    ended = brec_decode(dump(v, "sessions")[w.sid.encode()])
    t.eq(ended.get("state"), "ended", "and reads as ended")
    v.start()
    expect(t, c.read_secret(w), 403, "session_expired", name="the ended session reads no more")


def main():
    with Vault() as v:
        c = Core(v)
        st = {}
        guarded(t, "binary written", binary_written, v, c, st)
        guarded(t, "old JSON store", old_json_store, v, c, st)
    t.done()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The whole life of a ticket, role by role (SPEC sections 1, 2, 4 and 6):
licenses and accounts, tickets, credential upload and listing (metadata
only), assignment, sessions (open, exclusive, read, end by agent / owner /
admin, end by reassignment and by closing), closing with crypto-shredding,
ticket ordering, /v1/me, tokens, suspension. TAP on stdout."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect, guarded, parse_time, secret_free, uid  # noqa: E402

t = TAP()
META = {"id", "label", "kind", "created_at", "expires_at"}
# listings add the rotation prompt (SPEC 8.3): reads and the mark, no secret
LIST_META = META | {"read_count", "last_read_at", "rotate"}
SECRET = "pässwörd-密码-🔑"
NOTES = "call first; the 🔑 is on the desk; ünïcödé notes 密码"
HOST = "ws-17.corp.example"
USER = "Administrator"


def is_server_id(s):
    """URL-safe and at least 128 random bits (22 base64url characters)."""
    import re
    return isinstance(s, str) and re.fullmatch(r"[A-Za-z0-9_-]{22,}", s) is not None


def setup_and_me(v, c, st):
    # Licenses: created by the admin and shown back.
    st["cust"] = cust = c.account("customer", email="Alice.Cust@Example.TEST")
    key = uid("PRO-")
    r = v.post("/v1/licenses", v.admin, {"key": key, "type": "pro",
                                         "email": "alice.cust@example.test"})
    expect(t, r, 201, name="admin creates a pro license")
    lid = r.json.get("id") if isinstance(r.json, dict) else None
    t.ok(isinstance(lid, str) and re.fullmatch(r"[0-9a-f]{16}", lid) is not None,
         "the license has an id of 16 lowercase hex characters")
    want = {"id": lid, "key": key, "type": "pro", "email": "alice.cust@example.test",
            "valid_until": None, "commercial": True, "priority": 2}
    t.eq(r.json, want,
         "license body: id, key, type, email, valid_until null, commercial, priority")
    r = v.get("/v1/licenses/" + key, v.admin)
    expect(t, r, 200, name="GET /v1/licenses/{key}")
    t.eq(r.json, want, "license read back unchanged")
    cust.license = key

    # Accounts: the creation response carries the token once.
    r = v.post("/v1/accounts", v.admin, {"id": "lc-reseller", "role": "reseller",
                                         "email": "partner@resell.example"})
    expect(t, r, 201, name="admin creates a reseller")
    t.eq(sorted(r.json.keys()), ["email", "expires_at", "id", "role", "token", "token_id"],
         "account creation answers id, role, email, token, token_id, expires_at")
    t.eq(r.json.get("expires_at", "absent"), None, "a token made without ttl_s never expires")
    t.ok(isinstance(r.json.get("token"), str) and len(r.json["token"]) >= 32,
         "the token is a string of at least 32 characters")
    from rsvcore import Principal
    st["res"] = Principal("lc-reseller", "reseller", "partner@resell.example", r.json["token"])
    st["agent"] = c.agent()
    st["agent2"] = c.agent()
    st["aud"] = c.auditor()

    # /v1/me for every role
    me = c.me(cust)
    t.eq((me["id"], me["role"], me["eligible"], me["priority"]),
         (cust.id, "customer", True, 2), "me (customer, email-matched pro): eligible, priority 2")
    t.eq(me.get("license"), want, "me (customer): license object of the matched license")
    t.eq(sorted(me.keys()), ["eligible", "email", "id", "license", "priority", "role"],
         "me has exactly id, role, email, license, eligible, priority")
    me = c.me(st["res"])
    t.eq((me["role"], me["license"], me["eligible"], me["priority"]),
         ("reseller", None, True, 4), "me (reseller, no license): license null, eligible, priority 4")
    for who in ("agent", "aud"):
        me = c.me(st[who])
        t.eq((me["id"], me["role"], me["license"]), (st[who].id, st[who].role, None),
             "me (%s): id, role, license null" % st[who].role)
    r = v.get("/v1/me", v.admin)
    expect(t, r, 200, name="me (admin)")
    t.eq((r.json["id"], r.json["role"]), ("admin", "admin"), "me (admin): id and role")


def ticket_and_credentials(v, c, st):
    cust = st["cust"]
    r = v.post("/v1/tickets", cust.token, {"subject": "RU host unreachable", "ref": "REF-77"})
    expect(t, r, 201, name="customer opens a ticket")
    tk = r.json
    t.eq(sorted(tk.keys()), ["agent", "approval", "closed_at", "created_at", "id", "owner",
                             "priority", "ref", "status", "subject"], "ticket fields")
    t.eq((tk["subject"], tk["ref"], tk["owner"], tk["agent"], tk["status"], tk["priority"],
          tk["closed_at"]),
         ("RU host unreachable", "REF-77", cust.id, None, "open", 2, None),
         "ticket: subject, ref, owner, no agent, open, priority 2, not closed")
    t.ok(is_server_id(tk["id"]), "ticket id is URL-safe with >= 128 bits")
    st["tid"] = tid = tk["id"]
    base = "/v1/tickets/" + tid
    r = v.get(base, cust.token)
    expect(t, r, 200, name="owner reads the ticket")
    t.eq(r.json, tk, "the ticket reads back as created")

    r = v.post(base + "/credentials", cust.token,
               {"label": "RU ID 123 456 789", "kind": "remote-utilities", "host": HOST,
                "username": USER, "secret": SECRET, "notes": NOTES})
    expect(t, r, 201, name="owner uploads a credential with a unicode secret")
    t.eq(set(r.json.keys()), META, "upload answers metadata only (id, label, kind, times)")
    secret_free(t, r, [SECRET, NOTES, HOST, USER], "upload response holds no secret, notes, host, username")
    t.eq((r.json["label"], r.json["kind"]), ("RU ID 123 456 789", "remote-utilities"),
         "upload response label and kind")
    t.ok(is_server_id(r.json["id"]), "credential id is URL-safe with >= 128 bits")
    life = parse_time(r.json["expires_at"]) - parse_time(r.json["created_at"])
    t.eq(round(life, 3), 604800.0, "default credential ttl is 7 days")
    st["cid"] = r.json["id"]
    r = v.post(base + "/credentials", cust.token,
               {"label": "ssh root", "kind": "ssh", "secret": "s3cr3t-second", "ttl_s": 3600})
    expect(t, r, 201, name="owner uploads a second credential (ssh, ttl 3600)")
    st["cid2"] = r.json["id"]
    t.eq(round(parse_time(r.json["expires_at"]) - parse_time(r.json["created_at"]), 3), 3600.0,
         "credential ttl_s 3600 gives expires_at = created_at + 3600 s")

    r = v.get(base + "/credentials", cust.token)
    expect(t, r, 200, name="owner lists credentials")
    creds = r.json["credentials"]
    t.eq(sorted(x["id"] for x in creds), sorted([st["cid"], st["cid2"]]), "both credentials listed")
    t.ok(all(set(x.keys()) == LIST_META for x in creds), "list items carry metadata only")
    secret_free(t, r, [SECRET, NOTES, HOST, USER, "s3cr3t-second"],
                "credential list holds no secret, notes, host or username")


def assignment_and_sessions(v, c, st):
    cust, ag, ag2 = st["cust"], st["agent"], st["agent2"]
    tid = st["tid"]
    base = "/v1/tickets/" + tid
    r = v.get("/v1/tickets", ag.token)
    expect(t, r, 200, name="agent lists tickets before assignment")
    t.eq([x["id"] for x in r.json["tickets"]], [], "an agent with no assignment sees no tickets")
    r = v.post(base + "/assign", v.admin, {"agent": ag.id})
    expect(t, r, 200, name="admin assigns the agent")
    t.eq((r.json["id"], r.json["agent"], r.json["status"]), (tid, ag.id, "open"),
         "assign answers the ticket with its agent")
    r = v.get("/v1/tickets", ag.token)
    expect(t, r, 200, name="agent lists own tickets")
    t.eq([x["id"] for x in r.json["tickets"]], [tid], "the agent sees exactly the assigned ticket")
    r = v.get("/v1/tickets", ag2.token)
    t.eq([x["id"] for x in r.json["tickets"]], [], "another agent does not see it")
    r = v.get(base + "/credentials", ag.token)
    expect(t, r, 200, name="assigned agent lists credentials")
    t.ok(all(set(x.keys()) == LIST_META for x in r.json["credentials"]) and
         len(r.json["credentials"]) == 2, "agent's list: two items, metadata only")
    secret_free(t, r, [SECRET, NOTES], "agent's list holds no secret")

    # Reading without a session is refused.
    r = v.get("%s/credentials/%s/secret" % (base, st["cid"]), ag.token)
    expect(t, r, 403, "session_required", "agent reads without X-Session-Id")

    # Open a session with the default ttl.
    r = v.post(base + "/sessions", ag.token)
    expect(t, r, 201, name="agent opens a session (no body)")
    s = r.json
    t.eq(sorted(s.keys()), ["agent", "expires_at", "id", "opened_at", "requested_at", "state",
                            "ticket"], "session fields")
    t.ok(s["state"] == "active" and s["requested_at"] == s["opened_at"],
         "without approval the session is active at once, requested when opened")
    t.eq((s["ticket"], s["agent"]), (tid, ag.id), "session names ticket and agent")
    t.ok(is_server_id(s["id"]), "session id is URL-safe with >= 128 bits")
    t.eq(round(parse_time(s["expires_at"]) - parse_time(s["opened_at"]), 3), 1800.0,
         "default session ttl: expires_at - opened_at == 1800 s")
    sid = s["id"]
    h = {"X-Session-Id": sid}
    r = v.get("%s/credentials/%s/secret" % (base, st["cid"]), ag.token, headers=h)
    expect(t, r, 200, name="agent reads the secret inside the session")
    j = r.json or {}
    t.ok(isinstance(j.get("secret"), str) and j["secret"].encode("utf-8") == SECRET.encode("utf-8"),
         "secret is byte-for-byte what was uploaded")
    t.eq((j.get("id"), j.get("label"), j.get("kind"), j.get("host"), j.get("username"),
          j.get("notes")),
         (st["cid"], "RU ID 123 456 789", "remote-utilities", HOST, USER, NOTES),
         "read returns id, label, kind, host, username, notes")
    t.eq(j.get("session"), {"id": sid, "expires_at": s["expires_at"]},
         "read names the session id and its expires_at")
    t.eq(sorted(j.keys()), ["host", "id", "kind", "label", "notes", "secret", "session",
                            "username"], "secret read fields")
    r = v.get("%s/credentials/%s/secret" % (base, st["cid2"]), ag.token, headers=h)
    expect(t, r, 200, name="agent reads the second credential")
    t.eq((r.json.get("secret"), r.json.get("host"), r.json.get("username"), r.json.get("notes")),
         ("s3cr3t-second", None, None, None), "absent optional fields read back as null")

    r = v.post(base + "/sessions", ag.token)
    expect(t, r, 409, "conflict", "second session while one is active")
    # credential ids are bound to their ticket
    other = c.world(cust, ag)
    r = v.get("%s/credentials/%s/secret" % (base, other.cid), ag.token, headers=h)
    expect(t, r, 404, "not_found", "another ticket's credential id through this ticket")
    r = v.delete("%s/credentials/%s" % (base, other.cid), cust.token)
    expect(t, r, 404, "not_found", "deleting another ticket's credential through this ticket")
    t.eq(c.cred_ids(other), [other.cid], "the other ticket's credential is untouched")
    r = v.get("%s/credentials/%s/secret" % (base, "AAAAAAAAAAAAAAAAAAAAAA"), ag.token, headers=h)
    expect(t, r, 404, "not_found", "an unknown credential id")
    r = v.post(base + "/sessions", ag.token, {"ttl_s": 60})
    expect(t, r, 409, "conflict", "second session with a ttl while one is active")
    t.eq(c.session_state(st_world(st), sid, cust.token), "active", "owner sees the session active")

    # The agent ends its session.
    r = v.delete("/v1/sessions/" + sid, ag.token)
    expect(t, r, 204, name="agent ends the session")
    t.eq(r.body, b"", "204 has an empty body")
    r = v.get("%s/credentials/%s/secret" % (base, st["cid"]), ag.token, headers=h)
    expect(t, r, 403, "session_expired", "read with the ended session")
    t.eq(c.session_state(st_world(st), sid), "ended", "session state is ended")

    # The owner ends one.
    sid2 = v.post(base + "/sessions", ag.token).json["id"]
    r = v.get("%s/credentials/%s/secret" % (base, st["cid"]), ag.token,
              headers={"X-Session-Id": sid2})
    expect(t, r, 200, name="a new session after the first ended reads again")
    r = v.delete("/v1/sessions/" + sid2, cust.token)
    expect(t, r, 204, name="owner ends the agent's session")
    r = v.get("%s/credentials/%s/secret" % (base, st["cid"]), ag.token,
              headers={"X-Session-Id": sid2})
    expect(t, r, 403, "session_expired", "read after the owner ended it")
    t.eq(c.session_state(st_world(st), sid2), "ended", "owner-ended session state is ended")

    # The admin ends one.
    sid3 = v.post(base + "/sessions", ag.token).json["id"]
    r = v.delete("/v1/sessions/" + sid3, v.admin)
    expect(t, r, 204, name="admin ends the agent's session")
    r = v.get("%s/credentials/%s/secret" % (base, st["cid"]), ag.token,
              headers={"X-Session-Id": sid3})
    expect(t, r, 403, "session_expired", "read after the admin ended it")
    t.eq(c.session_state(st_world(st), sid3), "ended", "admin-ended session state is ended")
    r = v.delete("/v1/sessions/" + sid3, v.admin)
    t.ok(r.status in (204, 409), "ending an ended session again: 204 or 409 (not an error 5xx)")

    # Reassignment ends the session.
    sid4 = v.post(base + "/sessions", ag.token).json["id"]
    r = v.post(base + "/assign", v.admin, {"agent": ag2.id})
    expect(t, r, 200, name="admin reassigns the ticket to another agent")
    t.eq(r.json["agent"], ag2.id, "the ticket names the new agent")
    t.eq(c.session_state(st_world(st), sid4), "ended", "reassignment ended the old agent's session")
    r = v.get("%s/credentials/%s/secret" % (base, st["cid"]), ag.token,
              headers={"X-Session-Id": sid4})
    expect(t, r, 404, "not_found", "the old agent no longer relates to the ticket")
    r = v.get("%s/credentials/%s/secret" % (base, st["cid"]), ag2.token,
              headers={"X-Session-Id": sid4})
    expect(t, r, 403, "session_required", "the new agent cannot use the old agent's session")
    r = v.delete("/v1/sessions/" + sid4, ag2.token)
    expect(t, r, 403, "forbidden",
           "the newly assigned agent may not end the previous agent's session "
           "(DELETE /v1/sessions/{sid}: session's agent, ticket owner, admin)")
    r = v.delete("/v1/sessions/" + sid4, ag.token)
    expect(t, r, 204, name="the session's own agent may still end it (already ended)")
    r = v.get("/v1/tickets", ag.token)
    t.ok(tid not in [x["id"] for x in r.json["tickets"]], "old agent's list no longer holds it")
    r = v.get("/v1/tickets", ag2.token)
    t.eq([x["id"] for x in r.json["tickets"]], [tid], "new agent's list holds the ticket")
    r = v.post(base + "/sessions", ag2.token, {"ttl_s": 600})
    expect(t, r, 201, name="the new agent opens a session (ttl 600)")
    t.eq(round(parse_time(r.json["expires_at"]) - parse_time(r.json["opened_at"]), 3), 600.0,
         "session ttl_s 600 honoured")
    st["sid5"] = r.json["id"]


def st_world(st):
    from rsvcore import World
    w = World(st["cust"], st["tid"])
    return w


def closing(v, c, st):
    cust, ag2 = st["cust"], st["agent2"]
    tid, sid5 = st["tid"], st["sid5"]
    base = "/v1/tickets/" + tid
    r = v.post(base + "/close", cust.token)
    expect(t, r, 200, name="owner closes the ticket")
    t.eq((r.json.get("id"), r.json.get("status")), (tid, "closed"), "closed ticket answered")
    t.ok(r.json.get("closed_at") is not None and
         parse_time(r.json["closed_at"]) >= parse_time(r.json["created_at"]),
         "closed_at is set, not before created_at")
    r = v.get(base + "/credentials", cust.token)
    expect(t, r, 200, name="owner lists credentials of the closed ticket")
    t.eq(r.json.get("credentials"), [], "closing destroyed every credential")
    t.eq(c.session_state(st_world(st), sid5), "ended", "closing ended the active session")
    r = v.get("%s/credentials/%s/secret" % (base, st["cid"]), ag2.token,
              headers={"X-Session-Id": sid5})
    expect(t, r, 403, "session_expired", "read with the session ended by closing")
    r = v.post(base + "/credentials", cust.token, {"label": "late", "kind": "web",
                                                  "secret": "too-late"})
    expect(t, r, 409, "conflict", "upload to a closed ticket")
    r = v.post(base + "/close", cust.token)
    expect(t, r, 409, "conflict", "closing a closed ticket again")
    r = v.post(base + "/sessions", ag2.token)
    expect(t, r, 409, "conflict", "opening a session on a closed ticket")
    r = v.get(base, ag2.token)
    expect(t, r, 200, name="assigned agent still reads the closed ticket")
    t.eq(r.json.get("status"), "closed", "status is closed")

    # agent and admin may close too
    for who, tok in (("assigned agent", ag2.token), ("admin", v.admin)):
        w = c.world(cust, ag2, session=True)
        r = v.post(w.path + "/close", tok)
        expect(t, r, 200, name="%s closes a ticket" % who)
        t.eq(c.cred_ids(w), [], "credentials gone after the %s closed it" % who)
        t.eq(c.session_state(w), "ended", "session ended after the %s closed it" % who)


def ordering(v, c, st):
    made = []
    specs = [("free", "customer"), ("starter", "customer"), (None, "reseller"),
             ("pro", "customer"), ("site", "customer"), ("pro", "customer"),
             ("trial", "customer"), ("plus", "customer")]
    for lt, role in specs:
        p = c.reseller() if role == "reseller" else c.customer(lt)
        w = c.ticket(p)
        made.append((lt or "reseller", w.tid))
        time.sleep(0.005)
    ids = {tid for _, tid in made}
    prio = {"site": 1, "pro": 2, "plus": 3, "starter": 4, "reseller": 4, "free": 5, "trial": 5}
    want = [made[i][1] for i, _ in sorted(enumerate(made), key=lambda x: (prio[x[1][0]], x[0]))]
    for who, tok in (("admin", v.admin), ("auditor", st["aud"].token)):
        r = v.get("/v1/tickets", tok)
        expect(t, r, 200, name="%s lists all tickets" % who)
        got = [x["id"] for x in r.json["tickets"] if x["id"] in ids]
        t.eq(got, want, "%s's list: site, pro, pro (older first), plus, starter, reseller, "
             "free, trial" % who)
    r = v.get("/v1/tickets", v.admin)
    by = {x["id"]: x["priority"] for x in r.json["tickets"]}
    t.eq([by.get(tid) for _, tid in made], [prio[k] for k, _ in made],
         "each ticket carries its owner's priority (reseller 4, free/trial 5)")
    allp = [x["priority"] for x in r.json["tickets"]]
    t.eq(allp, sorted(allp), "the whole admin list is sorted by priority")
    stamps = [(x["priority"], parse_time(x["created_at"])) for x in r.json["tickets"]]
    t.eq(stamps, sorted(stamps), "within one priority the oldest ticket comes first")
    # a customer sees only their own, also ordered
    cust = c.customer("starter")
    t1 = c.ticket(cust).tid
    time.sleep(0.005)
    t2 = c.ticket(cust).tid
    r = v.get("/v1/tickets", cust.token)
    t.eq([x["id"] for x in r.json["tickets"]], [t1, t2], "a customer lists own tickets, oldest first")


def exclusive(v, c, st):
    """Exclusive check-out under concurrency: of many simultaneous session
    opens on one ticket exactly one wins."""
    import threading
    cust, ag = c.customer("site"), c.agent()
    for round_ in range(3):
        w = c.world(cust, ag)
        out = []
        lock = threading.Lock()
        go = threading.Barrier(8)

        def one():
            conn = v.conn()
            conn.connect()
            go.wait()
            r = v.request("POST", w.path + "/sessions", token=ag.token, conn=conn)
            conn.close()
            with lock:
                out.append((r.status, r.code))
        ths = [threading.Thread(target=one) for _ in range(8)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(60)
        t.eq(sorted(out), [(201, None)] + [(409, "conflict")] * 7,
             "round %d: 8 simultaneous session opens: one 201, seven 409 conflict" % (round_ + 1))
        act = [s for s in c.sessions(w).values() if s["state"] == "active"]
        t.eq(len(act), 1, "round %d: exactly one active session" % (round_ + 1))


def tokens(v, c, st):
    p = c.customer("plus")
    r = v.post("/v1/accounts/%s/tokens" % p.id, v.admin)
    expect(t, r, 201, name="admin issues a further token")
    t.eq(sorted(r.json.keys()), ["expires_at", "token", "token_id"],
         "token response is {\"token\", \"token_id\", \"expires_at\"}")
    tok2 = r.json["token"]
    t.ok(tok2 != p.token, "the further token differs from the first")
    expect(t, v.get("/v1/me", p.token), 200, name="first token still works")
    r = v.get("/v1/me", tok2)
    expect(t, r, 200, name="second token works")
    t.eq(r.json.get("id"), p.id, "second token authenticates the same account")
    r = v.delete("/v1/accounts/%s/tokens" % p.id, v.admin)
    expect(t, r, 204, name="admin revokes every token of the account")
    expect(t, v.get("/v1/me", p.token), 401, "unauthenticated", "first token after revocation")
    expect(t, v.get("/v1/me", tok2), 401, "unauthenticated", "second token after revocation")
    r = v.post("/v1/accounts/%s/tokens" % p.id, v.admin)
    expect(t, r, 201, name="a new token after revocation")
    expect(t, v.get("/v1/me", r.json["token"]), 200, name="the new token works")
    expect(t, v.get("/v1/me", p.token), 401, "unauthenticated", "the revoked token stays revoked")
    expect(t, v.post("/v1/accounts/nobody-here/tokens", v.admin), 404, "not_found",
           "token for an unknown account")
    expect(t, v.delete("/v1/accounts/nobody-here/tokens", v.admin), 404, "not_found",
           "revoke for an unknown account")


def suspension(v, c, st):
    p = c.customer("pro")
    ag = c.agent()
    w = c.world(p, ag)
    r = v.post("/v1/accounts/%s/suspend" % p.id, v.admin)
    expect(t, r, 200, name="admin suspends a customer")
    t.eq(r.json.get("id"), p.id, "suspend answers the account")
    t.ok(r.json.get("suspended", True) is True, "the account shows as suspended (if shown)")
    calls = [("GET", "/v1/me", None), ("GET", "/v1/tickets", None),
             ("POST", "/v1/tickets", {"subject": "x"}), ("GET", w.path, None),
             ("GET", w.path + "/credentials", None),
             ("POST", w.path + "/credentials", {"label": "l", "kind": "web", "secret": "s"}),
             ("DELETE", "%s/credentials/%s" % (w.path, w.cid), None),
             ("GET", w.path + "/sessions", None), ("POST", w.path + "/close", None),
             ("POST", "/v1/me/license", {"key": p.license}),
             ("GET", w.path + "/audit", None)]
    for m, path, body in calls:
        r = v.request(m, path, token=p.token, body=body)
        expect(t, r, 403, "account_suspended", "suspended customer: %s %s" % (m, path))
    expect(t, v.get(w.path, v.admin), 200, name="the ticket is untouched")
    t.eq(c.cred_ids(w, token=ag.token), [w.cid], "the credential is untouched")
    r = v.post("/v1/accounts/%s/reactivate" % p.id, v.admin)
    expect(t, r, 200, name="admin reactivates the customer")
    t.ok(r.json.get("suspended", False) is False, "the account shows as active (if shown)")
    me = c.me(p)
    t.eq((me["eligible"], me["priority"]), (True, 2), "reactivated customer eligible again")
    expect(t, v.post(w.path + "/credentials", p.token,
                     {"label": "after", "kind": "vnc", "secret": "back-again"}),
           201, name="reactivated customer uploads again")

    # Suspending an agent ends the agent's active session.
    sid = c.session(w)
    expect(t, c.read_secret(w), 200, name="agent reads inside a session")
    r = v.post("/v1/accounts/%s/suspend" % ag.id, v.admin)
    expect(t, r, 200, name="admin suspends the agent")
    t.eq(c.session_state(w, sid), "ended", "suspending the agent ended the session")
    expect(t, c.read_secret(w), 403, "account_suspended", "suspended agent reads")
    expect(t, v.get("/v1/me", ag.token), 403, "account_suspended", "suspended agent: /v1/me")
    expect(t, v.post(w.path + "/sessions", ag.token), 403, "account_suspended",
           "suspended agent opens a session")
    expect(t, v.post("/v1/accounts/%s/reactivate" % ag.id, v.admin), 200,
           name="admin reactivates the agent")
    expect(t, c.read_secret(w), 403, "session_expired",
           "reactivated agent cannot use the session that suspension ended")
    expect(t, v.post(w.path + "/sessions", ag.token), 201,
           name="reactivated agent opens a new session")
    expect(t, v.post("/v1/accounts/nobody-here/suspend", v.admin), 404, "not_found",
           "suspend an unknown account")


with Vault(keepalive=True) as v:
    c = Core(v)
    st = {}
    guarded(t, "setup and /v1/me", setup_and_me, v, c, st)
    if "aud" in st:
        guarded(t, "ticket and credentials", ticket_and_credentials, v, c, st)
    if "cid2" in st:
        guarded(t, "assignment and sessions", assignment_and_sessions, v, c, st)
    if "sid5" in st:
        guarded(t, "closing", closing, v, c, st)
    guarded(t, "ticket ordering", ordering, v, c, st)
    guarded(t, "exclusive sessions", exclusive, v, c, st)
    guarded(t, "tokens", tokens, v, c, st)
    guarded(t, "suspension", suspension, v, c, st)
    expect(t, v.get("/v1/health"), 200, name="server still healthy at the end")
t.done()

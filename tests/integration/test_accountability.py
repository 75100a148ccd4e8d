#!/usr/bin/env python3
"""Staff accountability and token lifetime (issue 9, defects 6 and 7;
SPEC 8.1): token ids in events and answers, targets of account, license
and assignment events, the provable link from a token's issue to a secret
read made with it, license events that name the license's id and never its
key, ttl_s bounds and expiry, revoking one token, the bootstrap admin
token's 24 h lifetime, and `rsvault-keys admin-token`. TAP on stdout."""
import json
import os
import re
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault, binpath  # noqa: E402
from rsvcore import Core, expect, guarded, parse_time, uid, all_events  # noqa: E402

t = TAP()
HEX16 = re.compile(r"[0-9a-f]{16}")
FIELDS = ["seq", "form", "time", "actor", "role", "action", "ticket", "credential", "session",
          "outcome", "reason", "ip", "request_id", "target", "token", "cert", "prev", "hash"]


def by_rid(evs, r):
    rid = r.header("X-Request-Id")
    # the request's own event is its last: events it caused (a session
    # that a reassignment ended) come before it with the same request id
    found = [e for e in evs if e["request_id"] == rid]
    return found[-1] if found else None


def keys_tool(*args, env=None):
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([binpath("rsvault-keys")] + list(args), capture_output=True,
                          text=True, env=e, timeout=120)


def client(v, token, *args):
    env = dict(os.environ, RSVAULT_ADDR=v.addr, RSVAULT_CACERT=v.ca, RSVAULT_TOKEN=token,
               TZ="UTC")
    return subprocess.run([binpath("rsvault")] + list(args), capture_output=True, text=True,
                          env=env, timeout=60)


# --- 1. the link from a minted token to the read made with it -------------
def minted_token_reads(v, c, aud):
    cust = c.customer("pro")
    agent = c.agent()
    r = v.post("/v1/accounts/%s/tokens" % agent.id, v.admin)
    expect(t, r, 201, name="admin mints a further token for the agent")
    mint_rid = r.header("X-Request-Id")
    tid = r.json.get("token_id") if r.json else None
    t.ok(isinstance(tid, str) and HEX16.fullmatch(tid) is not None,
         "the 201 answer carries token_id, 16 lowercase hex characters")
    t.ok(tid not in (r.json or {}).get("token", ""), "the token id is not part of the token")
    minted = r.json["token"]
    w = c.world(cust, agent)
    r = v.post(w.path + "/sessions", minted)
    expect(t, r, 201, name="the minted token opens a session")
    sid = r.json["id"]
    r = v.get("%s/credentials/%s/secret" % (w.path, w.cid), minted,
              headers={"X-Session-Id": sid})
    expect(t, r, 200, name="the minted token reads the secret in the session")
    read_rid = r.header("X-Request-Id")

    evs = all_events(v, aud.token)
    mint = [e for e in evs if e["request_id"] == mint_rid]
    read = [e for e in evs if e["request_id"] == read_rid]
    t.ok(len(mint) == 1 and mint[0]["action"] == "account.token" and
         mint[0]["target"] == "%s#%s" % (agent.id, tid) and mint[0]["actor"] == "admin",
         "account.token names agent#token id as its target")
    t.ok(len(read) == 1 and read[0]["action"] == "credential.read" and
         read[0]["actor"] == agent.id and read[0]["token"] == tid and
         read[0]["credential"] == w.cid and read[0]["session"] == sid,
         "credential.read carries the minted token's id")
    # the proof: from the read, its token id leads to exactly one issuing event
    issued = [e for e in evs if e["action"] in ("account.create", "account.token") and
              e["outcome"] == "allow" and (e["target"] or "").endswith("#" + tid)]
    t.ok(len(issued) == 1 and issued[0]["seq"] < read[0]["seq"] and
         issued[0]["target"].split("#")[0] == read[0]["actor"],
         "the read's token id leads to the one event that issued it, to that account")
    # the agent's first token (from account.create) is a different id
    made = [e for e in evs if e["action"] == "account.create" and
            (e["target"] or "").startswith(agent.id + "#")]
    t.ok(len(made) == 1 and made[0]["target"] != "%s#%s" % (agent.id, tid),
         "account.create named the agent's first token, another id")
    # the admin's own token id on the mint is the bootstrap token's
    boot = [e for e in evs if e["seq"] == 1]
    t.ok(boot and boot[0]["action"] == "account.create" and boot[0]["actor"] is None and
         re.fullmatch(r"admin#[0-9a-f]{16}", boot[0]["target"] or "") is not None and
         mint[0]["token"] == boot[0]["target"].split("#")[1],
         "event 1 issues the bootstrap admin token, whose id signs the admin's events")
    t.ok(all(list(e.keys()) == FIELDS and e["form"] == 2 and e["cert"] is None for e in evs),
         "every event has target, token, cert (null) and form 2")
    fails = [e for e in evs if e["reason"] == "unauthenticated"]
    t.ok(all(e["token"] is None and e["actor"] is None for e in fails),
         "failed authentications carry no token id")
    return agent, w


# --- 2. targets of account, license and assignment events -----------------
def targets(v, c, aud, agent, w):
    key = "LICKEY-" + os.urandom(8).hex()
    email = uid("lic") + "@example.test"
    checks = []
    r = v.post("/v1/licenses", v.admin, {"key": key, "type": "pro", "email": email})
    expect(t, r, 201, name="license created")
    lid = r.json.get("id") if r.json else None
    t.ok(isinstance(lid, str) and HEX16.fullmatch(lid) is not None and lid not in key,
         "the license has an id of 16 hex characters, not derived from its text")
    checks.append((r, "license.create", lid, "allow"))
    r = v.get("/v1/licenses/" + key, v.admin)
    t.eq(r.json.get("id") if r.json else None, lid, "GET /v1/licenses/{key} shows the same id")
    checks.append((r, "license.read", lid, "allow"))
    r = v.post("/v1/licenses", v.admin, {"key": key, "type": "site", "email": email})
    expect(t, r, 409, "conflict", name="the same key again")
    checks.append((r, "license.create", lid, "deny"))
    r = v.get("/v1/licenses/" + key, w.owner.token)
    expect(t, r, 403, "forbidden", name="a customer may not read a license")
    checks.append((r, "license.read", None, "deny"))
    cust = c.account("customer")
    r = v.post("/v1/me/license", cust.token, {"key": key})
    expect(t, r, 200, name="a customer binds the key")
    t.eq(((r.json or {}).get("license") or {}).get("id"), lid, "the me view shows the license id")
    bind = r
    r = v.post("/v1/me/license", cust.token, {"key": key + "-nope"})
    expect(t, r, 404, "not_found", name="an unknown key")
    bind404 = r

    for path, action in (("suspend", "account.suspend"), ("reactivate", "account.reactivate")):
        r = v.post("/v1/accounts/%s/%s" % (cust.id, path), v.admin)
        expect(t, r, 200, name=action)
        checks.append((r, action, cust.id, "allow"))
    r = v.post("/v1/accounts/%s/suspend" % cust.id, agent.token)
    expect(t, r, 403, "forbidden", name="an agent may not suspend")
    checks.append((r, "account.suspend", cust.id, "deny"))
    r = v.post("/v1/accounts/nobody-here/tokens", v.admin)
    expect(t, r, 404, "not_found", name="a token for an unknown account")
    checks.append((r, "account.token", "nobody-here", "deny"))
    r = v.delete("/v1/accounts/%s/tokens" % cust.id, v.admin)
    expect(t, r, 204, name="revoke every token of an account")
    checks.append((r, "account.revoke", cust.id, "allow"))
    r = v.post("/v1/accounts", v.admin, {"id": cust.id, "role": "agent",
                                         "email": "x@example.test"})
    expect(t, r, 409, "conflict", name="an account id taken")
    checks.append((r, "account.create", cust.id, "deny"))
    r = v.get("/v1/me", agent.token)
    checks.append((r, "account.me", agent.id, "allow"))
    agent2 = c.agent()
    r = v.post(w.path + "/assign", v.admin, {"agent": agent2.id})
    expect(t, r, 200, name="reassign the ticket")
    checks.append((r, "ticket.assign", agent2.id, "allow"))
    r = v.post(w.path + "/assign", v.admin, {"agent": "no-such-agent"})
    expect(t, r, 400, "invalid_field", name="assign to an unknown agent")
    checks.append((r, "ticket.assign", "no-such-agent", "deny"))
    r = v.get(w.path, v.admin)
    checks.append((r, "ticket.read", None, "allow"))

    evs = all_events(v, aud.token)
    for r, action, target, outcome in checks:
        e = by_rid(evs, r)
        t.ok(e is not None and e["action"] == action and e["target"] == target and
             e["outcome"] == outcome,
             "%s (%s) has target %r" % (action, outcome, target))
        if e is not None and (e["action"] != action or e["target"] != target):
            t.diag("event: %s" % json.dumps(e))
    for r, what, want in ((bind, "license.bind", lid),
                          (bind404, "license.bind (unknown key)", None)):
        e = by_rid(evs, r)
        t.ok(e is not None and e["action"] == "license.bind" and e["target"] == want,
             "%s has target %r (the license id, never the key)" % (what, want))
    t.ok(not any(key in json.dumps(e) for e in evs),
         "no event anywhere holds the license key (%d events scanned)" % len(evs))
    t.ok(not any(key.lower() in json.dumps(e).lower() for e in evs),
         "nor the key in another letter case")


# --- 3. ttl_s bounds, expires_at, single revocation --------------------------
def ttl_and_revoke(v, c, aud):
    for path_fmt, what in (("/v1/accounts", "POST /v1/accounts"),
                           ("/v1/accounts/%s/tokens", "POST .../tokens")):
        for bad in (59, 0, -1, 31536001, "60", None, 60.5, True):
            if path_fmt == "/v1/accounts":
                body = {"id": uid("ttl"), "role": "agent", "email": "t@example.test",
                        "ttl_s": bad}
                r = v.post(path_fmt, v.admin, body)
            else:
                agent = c.agent()
                r = v.post(path_fmt % agent.id, v.admin, {"ttl_s": bad})
            expect(t, r, 400, "invalid_field", name="%s ttl_s %r" % (what, bad))
        for good in (60, 31536000):
            before = time.time()
            if path_fmt == "/v1/accounts":
                r = v.post(path_fmt, v.admin, {"id": uid("ttl"), "role": "agent",
                                               "email": "t@example.test", "ttl_s": good})
            else:
                r = v.post(path_fmt % c.agent().id, v.admin, {"ttl_s": good})
            expect(t, r, 201, name="%s ttl_s %d" % (what, good))
            exp = parse_time(r.json["expires_at"]) if r.json else 0
            t.ok(before + good - 2 <= exp <= time.time() + good + 2,
                 "%s ttl_s %d: expires_at is ttl_s seconds away" % (what, good))
    r = v.post("/v1/accounts/%s/tokens" % c.agent().id, v.admin, {"bogus": 1})
    expect(t, r, 400, "invalid_field", name="an unknown field on POST .../tokens")

    # revoke one token by its id
    agent = c.agent()
    toks = []
    for _ in range(3):
        r = v.post("/v1/accounts/%s/tokens" % agent.id, v.admin)
        toks.append((r.json["token"], r.json["token_id"]))
    other = c.agent()
    r = v.post("/v1/accounts/%s/tokens" % other.id, v.admin)
    other_tok, other_id = r.json["token"], r.json["token_id"]
    r = v.delete("/v1/accounts/%s/tokens/%s" % (agent.id, toks[1][1]), v.admin)
    expect(t, r, 204, name="revoke one token by id")
    rev_rid = r
    expect(t, v.get("/v1/me", toks[1][0]), 401, "unauthenticated", name="the revoked token")
    expect(t, v.get("/v1/me", toks[0][0]), 200, name="a sibling token still works")
    expect(t, v.get("/v1/me", toks[2][0]), 200, name="another sibling still works")
    expect(t, v.get("/v1/me", agent.token), 200, name="the account's first token still works")
    r = v.delete("/v1/accounts/%s/tokens/%s" % (agent.id, toks[1][1]), v.admin)
    expect(t, r, 404, "not_found", name="revoke the same id again")
    r = v.delete("/v1/accounts/%s/tokens/%s" % (agent.id, other_id), v.admin)
    expect(t, r, 404, "not_found", name="another account's token id under this account")
    expect(t, v.get("/v1/me", other_tok), 200, name="that other token is untouched")
    r = v.delete("/v1/accounts/%s/tokens/0000000000000000" % agent.id, v.admin)
    expect(t, r, 404, "not_found", name="an unknown token id")
    # an id of digits only reads the same in upper case (about 1 in 1,900):
    # take a live token of this account whose id has a letter
    upper_tok = next((x for x in (toks[0], toks[2]) if re.search("[a-f]", x[1])), None)
    while upper_tok is None:
        r = v.post("/v1/accounts/%s/tokens" % agent.id, v.admin)
        if re.search("[a-f]", r.json["token_id"]):
            upper_tok = (r.json["token"], r.json["token_id"])
    r = v.delete("/v1/accounts/%s/tokens/%s" % (agent.id, upper_tok[1].upper()), v.admin)
    expect(t, r, 404, "not_found", name="an id in upper case is no token id")
    expect(t, v.get("/v1/me", upper_tok[0]), 200, name="the token whose id was upper-cased lives")
    r = v.delete("/v1/accounts/%s/tokens/%s" % (agent.id, toks[0][1]), agent.token)
    expect(t, r, 403, "forbidden", name="an agent may not revoke tokens")
    deny_rid = r
    expect(t, v.get("/v1/me", toks[0][0]), 200, name="the token survives the denied revoke")
    evs = all_events(v, aud.token)
    e = by_rid(evs, rev_rid)
    t.ok(e is not None and e["action"] == "account.revoke" and
         e["target"] == "%s#%s" % (agent.id, toks[1][1]) and e["outcome"] == "allow",
         "the revocation is audited as account.revoke with target account#token id")
    e = by_rid(evs, deny_rid)
    t.ok(e is not None and e["target"] == "%s#%s" % (agent.id, toks[0][1]) and
         e["reason"] == "forbidden", "a denied revocation names what it tried")

    # the client
    r = client(v, v.admin, "account", "token", agent.id, "--ttl", "3600")
    tok = r.stdout.strip()
    m = re.search(r"token id ([0-9a-f]{16}), expires (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC",
                  r.stderr)
    t.ok(r.returncode == 0 and tok.startswith("rsv_") and "\n" not in tok and m is not None,
         "rsvault account token --ttl: the token on stdout, its id and expiry on stderr")
    if m:
        exp = parse_time("%sT%sZ" % (m.group(2), m.group(3)))
        t.ok(abs(exp - time.time() - 3600) < 30, "client: expiry 1 h away, shown in local time")
        r = client(v, v.admin, "account", "revoke", agent.id, "--token", m.group(1))
        t.eq((r.returncode, r.stdout), (0, ""), "rsvault account revoke --token ID")
        expect(t, v.get("/v1/me", tok), 401, "unauthenticated", name="client-revoked token")
    r = client(v, v.admin, "--json", "account", "token", agent.id)
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    t.ok(HEX16.fullmatch(j.get("token_id") or "") is not None and j.get("expires_at", 1) is None,
         "rsvault --json account token: token_id, expires_at null")
    r = client(v, v.admin, "account", "token", agent.id, "--ttl", "59")
    t.ok(r.returncode == 1 and "--ttl" in r.stderr, "client: --ttl 59 is a usage error")
    r = client(v, v.admin, "account", "revoke", agent.id, "--token", "XYZ")
    t.ok(r.returncode == 1 and "--token" in r.stderr, "client: a malformed --token id")
    r = client(v, v.admin, "account", "revoke", agent.id, "--token", "0000000000000000")
    t.eq(r.returncode, 4, "client: an unknown token id exits 4")
    expect(t, v.get("/v1/me", toks[0][0]), 200, name="other tokens survived the client runs")


# --- 4. expiry (test build: one ttl second lasts 50 ms) ----------------------
SECOND_MS = 50
BOOT_TTL_MS = 4000


def expiry():
    env = {"RSVAULT_TEST_TOKEN_SECOND_MS": str(SECOND_MS),
           "RSVAULT_TEST_ADMIN_TOKEN_TTL_MS": str(BOOT_TTL_MS)}
    with Vault(env=env) as v:
        started = time.time()
        c = Core(v)
        aud = c.auditor()  # no ttl: never expires
        agent = c.agent()
        r = v.post("/v1/accounts/%s/tokens" % agent.id, v.admin, {"ttl_s": 60})
        expect(t, r, 201, name="a token with ttl_s 60 (3 s in this build)")
        tok, exp = r.json["token"], parse_time(r.json["expires_at"])
        tok_id = r.json["token_id"]
        t.ok(exp - time.time() < 60 * SECOND_MS / 1000.0 + 1, "its expires_at is the short one")
        expect(t, v.get("/v1/me", tok), 200, name="before expiry it works")
        r = v.post("/v1/accounts", v.admin, {"id": "short-lived", "role": "customer",
                                             "email": "s@example.test", "ttl_s": 60})
        expect(t, r, 201, name="an account whose first token has ttl_s 60")
        first = r.json["token"]
        expect(t, v.get("/v1/me", first), 200, name="that first token works")
        time.sleep(max(0.0, exp - time.time()) + 0.4)
        r = v.get("/v1/me", tok)
        expect(t, r, 401, "unauthenticated", name="after expiry: 401")
        expired_rid = r.header("X-Request-Id")
        expired_answer = r
        garbage = v.get("/v1/me", "rsv_" + "x" * 43)
        expect(t, garbage, 401, "unauthenticated", name="an unknown token: 401")

        def strip(resp):
            return (resp.status, resp.body,
                    sorted((k.lower(), val) for k, val in resp.headers
                           if k.lower() not in ("x-request-id", "date")))
        t.eq(strip(expired_answer), strip(garbage),
             "the expired token's answer is byte for byte an unknown token's")
        # a revoked token is deleted: the server cannot tell it from garbage
        r = v.post("/v1/accounts/%s/tokens" % agent.id, v.admin)
        rev_tok, rev_id = r.json["token"], r.json["token_id"]
        expect(t, v.delete("/v1/accounts/%s/tokens/%s" % (agent.id, rev_id), v.admin), 204,
               name="revoke a token")
        r = v.get("/v1/me", rev_tok)
        expect(t, r, 401, "unauthenticated", name="the revoked token: 401")
        revoked_rid = r.header("X-Request-Id")
        t.eq(strip(r), strip(garbage), "the revoked token's answer is an unknown token's")
        expect(t, v.get("/v1/me", first), 401, "unauthenticated",
               name="the account's expired first token: 401")
        expect(t, v.get("/v1/me", agent.token), 200, name="a token without ttl still works")
        # the bootstrap admin token: 4 s in this build
        wait = started + BOOT_TTL_MS / 1000.0 + 0.5 - time.time()
        if wait > 0:
            time.sleep(wait)
        expect(t, v.get("/v1/me", v.admin), 401, "unauthenticated",
               name="the bootstrap admin token expired (24 h, shortened in this build)")
        evs = all_events(v, aud.token)
        e = [x for x in evs if x["request_id"] == expired_rid]
        good = t.ok(len(e) == 1 and e[0]["actor"] is None and e[0]["role"] is None and
                    e[0]["token"] == tok_id and e[0]["outcome"] == "deny" and
                    e[0]["reason"] == "unauthenticated",
                    "an expired token is a failed authentication whose event names the "
                    "token's id (actor null)")
        if not good:
            t.diag("event: %r" % (e,))
        e = [x for x in evs if x["request_id"] == garbage.header("X-Request-Id")]
        t.ok(len(e) == 1 and e[0]["actor"] is None and e[0]["token"] is None,
             "an unknown token's event has token null")
        e = [x for x in evs if x["request_id"] == revoked_rid]
        t.ok(len(e) == 1 and e[0]["actor"] is None and e[0]["token"] is None and
             e[0]["reason"] == "unauthenticated",
             "a revoked token (deleted from the store) has token null")
        # the admin replaces it offline
        v.stop()
        r = keys_tool("admin-token", "--data", v.data, "--keys", v.keys)
        t.eq(r.returncode, 0, "admin-token after the bootstrap token expired")
        v.start()
        expect(t, v.get("/v1/me", v.admin), 200, name="the replacement admin token works")


# --- 5. rsvault-keys admin-token ---------------------------------------------
def admin_token(v, c, aud):
    old = v.admin
    tokfile = os.path.join(v.data, "admin.token")
    old_events = [e for e in all_events(v, aud.token) if e["actor"] == "admin"]
    old_id = old_events[-1]["token"]
    before = open(tokfile).read()
    r = keys_tool("admin-token", "--data", v.data, "--keys", v.keys)
    t.ok(r.returncode != 0 and "stop the server" in r.stderr,
         "refused while the server has the store open")
    t.eq(open(tokfile).read(), before, "admin.token unchanged by the refusal")
    expect(t, v.get("/v1/me", old), 200, name="the old token still works after the refusal")
    v.stop()
    r = keys_tool("admin-token", "--data", v.data, "--keys", v.keys, "--account", aud.id)
    t.ok(r.returncode != 0 and "not an active admin" in r.stderr,
         "--account of a non-admin account is refused")
    t.eq(open(tokfile).read(), before, "admin.token unchanged by that refusal")
    r = keys_tool("admin-token", "--data", v.data)  # --keys defaults to DATA/../keys
    t.eq(r.returncode, 0, "admin-token with the server stopped")
    if r.returncode != 0:
        t.diag(r.stderr)
    t.eq(r.stdout, tokfile + "\n", "it prints the path of the token file")
    new = open(tokfile).read().strip()
    t.ok(new != old and new.startswith("rsv_") and new not in r.stdout + r.stderr,
         "a new token, never printed")
    t.eq(stat.S_IMODE(os.stat(tokfile).st_mode), 0o600, "admin.token has mode 0600")
    t.eq(sorted(f for f in os.listdir(v.data) if "admin" in f), ["admin.token"],
         "no temporary token file left behind")
    v.start()
    t.eq(v.admin, new, "the server reads the new token file")
    r = v.get("/v1/me", new)
    expect(t, r, 200, name="the new admin token works")
    expect(t, v.get("/v1/me", old), 401, "unauthenticated", name="the old admin token is revoked")
    evs = all_events(v, aud.token)
    me = by_rid(evs, r)
    new_id = me["token"] if me else None
    made = [e for e in evs if e["action"] == "store.admin_token"]
    t.ok(len(made) == 1 and made[0]["target"] == "admin#%s" % new_id and
         made[0]["actor"] is None and made[0]["token"] is None and made[0]["outcome"] == "allow",
         "store.admin_token names admin#{id of the new token}")
    revoked = [e for e in evs if e["action"] == "account.revoke" and e["actor"] is None]
    t.ok(len(revoked) == 1 and revoked[0]["target"] == "admin#%s" % old_id and
         revoked[0]["seq"] > made[0]["seq"] if made and revoked else False,
         "account.revoke names the replaced token")
    t.ok(made and me and made[0]["seq"] < me["seq"], "recorded at start, before any request")
    # recorded once: a further restart adds none
    v.stop()
    v.start()
    evs = all_events(v, aud.token)
    t.eq(len([e for e in evs if e["action"] == "store.admin_token"]), 1,
         "the event is recorded once, not at every start")
    # the new token expires too (24 h; the key tool of a test build takes the override)
    v.stop()
    r = keys_tool("admin-token", "--data", v.data, "--keys", v.keys,
                  env={"RSVAULT_TEST_ADMIN_TOKEN_TTL_MS": "1500"})
    t.eq(r.returncode, 0, "admin-token again (short-lived in this test)")
    made_at = time.time()
    v.start()
    time.sleep(max(0.0, made_at + 2.0 - time.time()))
    expect(t, v.get("/v1/me", v.admin), 401, "unauthenticated",
           name="a token made by admin-token expires like the bootstrap one")
    v.stop()
    r = keys_tool("admin-token", "--data", v.data, "--keys", v.keys)
    t.eq(r.returncode, 0, "and once more, with the real 24 h")
    v.start()
    expect(t, v.get("/v1/me", v.admin), 200, name="that one works")
    r = keys_tool("admin-token", "--data", os.path.join(v.dir, "nowhere"))
    t.ok(r.returncode != 0 and "no rsvault store" in r.stderr, "a directory without a store")


with Vault() as v:
    c = Core(v)
    aud = c.auditor()
    res = guarded(t, "minted token reads", minted_token_reads, v, c, aud)
    if res:
        guarded(t, "targets", targets, v, c, aud, *res)
    guarded(t, "ttl and revoke", ttl_and_revoke, v, c, aud)
    guarded(t, "admin-token", admin_token, v, c, aud)
guarded(t, "expiry", expiry)
t.done()

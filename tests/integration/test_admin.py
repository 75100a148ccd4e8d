#!/usr/bin/env python3
"""Administration and client (SPEC 8.6, issue 14 item 6).

Server: GET /v1/accounts, GET /v1/accounts/{id}, GET /v1/licenses,
PATCH /v1/licenses/{key}, POST /v1/licenses/{key}/revoke with their audit
actions; a downgrade and a revocation stop remote support at once (the
open session ends with a session.end event, a read with it fails, the
owner is no longer eligible); a revoked license is final (409);
license keys without regard to case; ticket list filters; paging of every
list (limit, after, next absent on the last page); unknown query
parameters refused on every /v1 route; a session conflict says until when
the other session runs.

Client: account list/show, license list/update/revoke, ticket list
filters, every page followed, rsvault login and RSVAULT_TOKEN_FILE, the
default token file, cred get --field, durations, zones in tables, --json
errors, completion, help. TAP on stdout."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault, binpath, tmpdir  # noqa: E402
from rsvcore import Core, all_events, expect, guarded, uid  # noqa: E402

t = TAP()


def pages(v, tok, path, key):
    """Every item of a paged list, following next; and the pages' sizes."""
    items, sizes, after = [], [], None
    for _ in range(1000):
        sep = "&" if "?" in path else "?"
        r = v.get(path + ((sep + "after=" + after) if after else ""), tok)
        if r.status != 200:
            raise RuntimeError("%s: %r" % (path, r))
        items += r.json[key]
        sizes.append(len(r.json[key]))
        after = r.json.get("next")
        if after is None:
            return items, sizes
    raise RuntimeError("no end to " + path)


def server_lists(v, c, aud):
    ids = [c.account("customer").id for _ in range(5)]
    whole = v.get("/v1/accounts", v.admin)
    expect(t, whole, 200, name="GET /v1/accounts")
    t.ok("next" not in whole.json, "one page when everything fits: no next")
    items, sizes = pages(v, v.admin, "/v1/accounts?limit=2", "accounts")
    got = [a["id"] for a in items]
    t.eq(got, [a["id"] for a in whole.json["accounts"]], "limit=2 pages give the same list")
    t.ok(all(s <= 2 for s in sizes) and len(sizes) >= 3 and len(set(got)) == len(got),
         "pages of at most 2, no repeats (%r)" % sizes)
    t.ok(set(ids) <= set(got), "every account made is listed")
    t.eq(sorted(items[0].keys()), ["created_at", "email", "id", "role", "suspended"],
         "account items carry id, role, email, suspended, created_at")
    for q, name in (("limit=0", "limit 0"), ("limit=1001", "limit 1001"),
                    ("limit=x", "limit not a number"), ("after=%25%25", "after not a cursor"),
                    ("limit=1&limit=2", "limit twice")):
        expect(t, v.get("/v1/accounts?" + q, v.admin), 400, "invalid_field", q)

    r = v.get("/v1/accounts/" + ids[0], v.admin)
    expect(t, r, 200, name="GET /v1/accounts/{id}")
    t.ok(r.json and r.json["id"] == ids[0] and isinstance(r.json.get("tokens"), list)
         and len(r.json["tokens"]) == 1 and "token" not in json.dumps(r.json["tokens"][0])
         .replace('"tokens"', ""), "account show: its token by id only")
    t.ok(r.json and r.json.get("eligible") is False and r.json.get("license") is None,
         "account show: standing (no license, not eligible)")
    expect(t, v.get("/v1/accounts/" + ids[0], aud.token), 403, "forbidden",
           "an auditor may not list accounts")

    keys = [c.license("plus", uid("l") + "@example.test") for _ in range(3)]
    items, sizes = pages(v, v.admin, "/v1/licenses?limit=1", "licenses")
    t.ok(set(keys) <= {l["key"] for l in items} and max(sizes) == 1,
         "GET /v1/licenses pages one by one and lists every license")
    evs = all_events(v, aud.token)
    acts = {e["action"] for e in evs}
    t.ok({"account.list", "account.show", "license.list"} <= acts,
         "events account.list, account.show, license.list")
    t.ok(any(e["action"] == "account.show" and e["target"] == ids[0] for e in evs),
         "account.show names the account in target")


def case_insensitive(v, c):
    email = uid("ci") + "@example.test"
    key = "RU-Case-" + uid("K")
    r = v.post("/v1/licenses", v.admin, {"key": key, "type": "pro", "email": email})
    expect(t, r, 201, name="license with a mixed-case key")
    r = v.post("/v1/licenses", v.admin, {"key": key.lower(), "type": "site", "email": email})
    expect(t, r, 409, "conflict", "the same key in lower case is the same license")
    r = v.get("/v1/licenses/" + key.upper(), v.admin)
    expect(t, r, 200, name="GET with the key in upper case")
    t.eq(r.json and r.json["key"], key, "the key is shown as registered")
    cust = c.account("customer")
    r = v.post("/v1/me/license", cust.token, {"key": key.swapcase()})
    expect(t, r, 200, name="binding the key in another case")
    t.ok(r.json and r.json["eligible"] is True and r.json["priority"] == 2,
         "the bound license counts")


def downgrade_and_revoke(v, c, aud):
    for how in ("downgrade", "revoke", "expire"):
        cust = c.customer("pro")
        agent = c.agent()
        w = c.world(cust, agent=agent, session=True)
        expect(t, c.read_secret(w), 200, name="%s: a read before" % how)
        path = "/v1/licenses/" + cust.license
        if how == "downgrade":
            r = v.request("PATCH", path, v.admin, body={"type": "free"})
        elif how == "revoke":
            r = v.post(path + "/revoke", v.admin)
        else:
            r = v.request("PATCH", path, v.admin, body={"valid_until": "2020-01-01T00:00:00Z"})
        expect(t, r, 200, name="%s the license" % how)
        if how == "revoke":
            t.ok(r.json and r.json.get("revoked") is True, "a revoked license shows revoked")
        t.eq(c.session_state(w), "ended", "%s: the open session ended at once" % how)
        expect(t, c.read_secret(w), 403, "license_required",
               "%s: a read with that session (eligibility comes first)" % how)
        expect(t, v.post(w.path + "/sessions", agent.token), 403, "license_required",
               "%s: a new session" % how)
        t.eq(c.me(cust)["eligible"], False, "%s: the owner is not eligible" % how)
        evs = [e for e in all_events(v, aud.token) if e.get("session") == w.sid
               and e["action"] == "session.end"]
        t.ok(len(evs) == 1 and evs[0]["reason"] == "license_required"
             and evs[0]["actor"] == "admin",
             "%s: a session.end event with reason license_required" % how)
        if how == "revoke":
            expect(t, v.post(path + "/revoke", v.admin), 409, "conflict", "revoking twice")
            expect(t, v.request("PATCH", path, v.admin, body={"type": "site"}), 409,
                   "conflict", "patching a revoked license")
        else:
            # and an upgrade back gives remote support again at once
            r = v.request("PATCH", path, v.admin, body={"type": "site", "valid_until": None})
            expect(t, r, 200, name="%s: upgrade back" % how)
            t.ok(r.json and r.json["valid_until"] is None and r.json["priority"] == 1,
                 "valid_until null removes the expiry")
            me = c.me(cust)
            t.ok(me["eligible"] is True and me["priority"] == 1,
                 "%s: eligible again, priority 1" % how)
    expect(t, v.request("PATCH", "/v1/licenses/" + cust.license, v.admin,
                        body={"owner": "x"}), 400, "invalid_field", "PATCH unknown field")
    expect(t, v.request("PATCH", "/v1/licenses/" + c.license("pro", "z@example.test"),
                        v.admin, body={"type": "gold"}), 400, "invalid_field", "PATCH bad type")
    evs = all_events(v, aud.token)
    up = [e for e in evs if e["action"] == "license.update" and e["outcome"] == "allow"]
    rv = [e for e in evs if e["action"] == "license.revoke"]
    t.ok(up and all(re.fullmatch(r"[0-9a-f]{16}", e["target"] or "") for e in up),
         "license.update names the license id, never the key")
    t.ok(any(e["outcome"] == "allow" for e in rv) and any(e["outcome"] == "deny" and
                                                          e["reason"] == "conflict" for e in rv),
         "license.revoke events, allowed and denied")


def tickets_and_paging(v, c):
    cust = c.customer("pro")
    other = c.customer("plus")
    agent = c.agent()
    ws = [c.ticket(cust, ref="REF-%d" % (i % 2)) for i in range(4)]
    c.assign(ws[0], agent)
    wo = c.ticket(other)
    r = v.post(ws[1].path + "/close", cust.token)
    expect(t, r, 200, name="close one ticket")

    def ids(q, tok=None):
        r = v.get("/v1/tickets" + q, tok or v.admin)
        if r.status != 200:
            t.diag("%s: %r" % (q, r))
            return None
        return {x["id"] for x in r.json["tickets"]}

    mine = {w.tid for w in ws}
    t.eq(ids("?owner=" + cust.id), mine, "owner filter")
    t.eq(ids("?owner=%s&status=closed" % cust.id), {ws[1].tid}, "status=closed")
    t.eq(ids("?owner=%s&status=open" % cust.id), mine - {ws[1].tid}, "status=open")
    t.eq(ids("?owner=%s&ref=REF-1" % cust.id), {ws[1].tid, ws[3].tid}, "ref filter")
    t.eq(ids("?agent=" + agent.id), {ws[0].tid}, "agent filter")
    t.eq(ids("?owner=" + other.id, cust.token), set(), "a customer's filter stays in its own")
    t.ok(wo.tid in ids(""), "no filter: every ticket (admin)")
    expect(t, v.get("/v1/tickets?status=pending", v.admin), 400, "invalid_field",
           "status must be open or closed")
    full = v.get("/v1/tickets", v.admin).json["tickets"]
    items, sizes = pages(v, v.admin, "/v1/tickets?limit=2", "tickets")
    t.eq([x["id"] for x in items], [x["id"] for x in full],
         "ticket pages follow the list's order (priority, age, id)")

    w = ws[0]
    cids = [c.cred(w) for _ in range(5)]
    items, sizes = pages(v, cust.token, w.path + "/credentials?limit=2", "credentials")
    t.eq(sorted(x["id"] for x in items), sorted(cids), "credential pages: all, once")
    t.eq(sizes, [2, 2, 1], "credential pages of 2, 2 and 1; next absent on the last")
    sids = []
    for _ in range(3):
        sids.append(c.session(w, ttl=60))
        v.delete("/v1/sessions/" + sids[-1], agent.token)
    items, sizes = pages(v, cust.token, w.path + "/sessions?limit=1", "sessions")
    t.eq(sorted(x["id"] for x in items), sorted(sids), "session pages: all, once")
    for _ in range(3):
        v.post(w.path + "/links", cust.token, None)
    items, sizes = pages(v, cust.token, w.path + "/links?limit=2", "links")
    t.eq(len(items), 3, "link pages: all three")

    # a session conflict says until when the other one runs
    sid = c.session(w, ttl=600)
    r = v.post(w.path + "/sessions", agent.token)
    expect(t, r, 409, "conflict", "a second session")
    t.ok(r.code == "conflict" and re.search(r"until \d{4}-\d\d-\d\dT", r.json["error"]["message"]),
         "the conflict says until when: %r" % (r.json or {}).get("error"))
    v.delete("/v1/sessions/" + sid, agent.token)

    # unknown query parameters, on routes with and without any
    for path, tok in (("/v1/me?x=1", cust.token), ("/v1/tickets?foo=bar", cust.token),
                      (w.path + "?x", cust.token), (w.path + "/credentials?limit=2&y=1",
                                                    cust.token),
                      ("/v1/licenses/" + cust.license + "?x=1", v.admin),
                      ("/v1/accounts?page=2", v.admin), ("/v1/health?x=1", None),
                      ("/v1/metrics?x=1", v.admin)):
        expect(t, v.get(path, tok), 400, "invalid_field", "unknown query parameter: " + path)
    return cust, agent, w


class Client:
    def __init__(self, v):
        self.v = v
        self.home = tmpdir("home")
        self.base = {k: x for k, x in os.environ.items() if not k.startswith("RSVAULT_")}
        self.base.pop("XDG_CONFIG_HOME", None)
        self.base.update(RSVAULT_ADDR=v.addr, RSVAULT_CACERT=v.ca, HOME=self.home, TZ="UTC")

    def run(self, args, token=None, stdin=b"", env=None):
        e = dict(self.base)
        if token is not None:
            e["RSVAULT_TOKEN"] = token
        e.update(env or {})
        if isinstance(stdin, str):
            stdin = stdin.encode()
        return subprocess.run([binpath("rsvault")] + args, input=stdin, capture_output=True,
                              env=e, timeout=120, cwd=self.home)


def client(v, c, cust, agent, w):
    cl = Client(v)
    adm = v.admin
    r = cl.run(["account", "list"], adm)
    t.ok(r.returncode == 0 and cust.id.encode() in r.stdout and b"ROLE" in r.stdout,
         "rsvault account list")
    r = cl.run(["--json", "account", "show", cust.id], adm)
    t.ok(r.returncode == 0 and json.loads(r.stdout)["id"] == cust.id, "rsvault account show --json")
    r = cl.run(["license", "list"], adm)
    t.ok(r.returncode == 0 and cust.license.encode() in r.stdout, "rsvault license list")
    r = cl.run(["--json", "ticket", "list", "--owner", cust.id, "--status", "open"], adm)
    t.ok(r.returncode == 0 and w.tid in {x["id"] for x in json.loads(r.stdout)["tickets"]},
         "rsvault ticket list --owner --status")
    r = cl.run(["ticket", "list", "--status", "maybe"], adm)
    t.eq(r.returncode, 1, "ticket list --status maybe: usage error")
    r = cl.run(["cred", "list", w.tid], cust.token)
    t.ok(r.returncode == 0 and re.search(rb"\d{4}-\d\d-\d\d \d\d:\d\d UTC", r.stdout),
         "times in tables show their zone")

    # durations
    r = cl.run(["session", "open", w.tid, "--ttl", "2m", "-q"], agent.token)
    t.eq(r.returncode, 0, "session open --ttl 2m")
    sid = r.stdout.decode().strip()
    sess = c.sessions(w).get(sid, {})
    from rsvcore import parse_time
    t.ok(sess and 110 <= parse_time(sess["expires_at"]) - parse_time(sess["opened_at"]) <= 130,
         "--ttl 2m is 120 s")
    r = cl.run(["cred", "add", w.tid, "--label", "db", "--kind", "ssh", "--host", "db1",
                "--user", "root", "--ttl", "1d"], cust.token, stdin="pw-field-1\n")
    t.eq(r.returncode, 0, "cred add --ttl 1d")
    cid = r.stdout.decode().strip()
    r = cl.run(["session", "open", w.tid, "--ttl", "5x"], agent.token)
    t.ok(r.returncode == 1 and b"duration" in r.stderr, "--ttl 5x: a usage error")
    r = cl.run(["account", "token", cust.id, "--ttl", "90d"], adm)
    t.eq(r.returncode, 0, "account token --ttl 90d")

    # cred get --field
    env = {"RSVAULT_SESSION": sid}
    for field, want in (("secret", b"pw-field-1\n"), ("host", b"db1\n"), ("username", b"root\n")):
        r = cl.run(["cred", "get", w.tid, cid, "--field", field], agent.token, env=env)
        t.eq((r.returncode, r.stdout), (0, want), "cred get --field " + field)
    r = cl.run(["cred", "get", w.tid, cid, "--field", "all"], agent.token, env=env)
    t.ok(r.returncode == 0 and b"host" in r.stdout and b"pw-field-1" in r.stdout,
         "cred get --field all")
    r = cl.run(["cred", "get", w.tid, cid, "--field", "notes2"], agent.token, env=env)
    t.eq(r.returncode, 1, "cred get --field notes2: usage error")

    # --json errors
    r = cl.run(["--json", "ticket", "show", "AAAAAAAAAAAAAAAAAAAAAA"], cust.token)
    try:
        body = json.loads(r.stdout)
    except ValueError:
        body = {}
    t.ok(r.returncode == 4 and body.get("error", {}).get("code") == "not_found",
         "--json: the error object on standard output, exit 4")

    # login, the default token file and RSVAULT_TOKEN_FILE
    r = cl.run(["me"])
    t.ok(r.returncode == 2 and b"rsvault login" in r.stderr, "no token: says how to log in")
    r = cl.run(["login"], stdin=cust.token + "\n")
    path = os.path.join(cl.home, ".config", "rsvault", "token")
    t.ok(r.returncode == 0 and os.path.isfile(path)
         and (os.stat(path).st_mode & 0o777) == 0o600, "rsvault login writes ~/.config/rsvault/token 0600")
    r = cl.run(["--json", "me"])
    t.ok(r.returncode == 0 and json.loads(r.stdout)["id"] == cust.id,
         "later commands use the stored token")
    alt = os.path.join(cl.home, "agent.token")
    r = cl.run(["login"], stdin=agent.token, env={"RSVAULT_TOKEN_FILE": alt})
    t.eq(r.returncode, 0, "login with RSVAULT_TOKEN_FILE")
    r = cl.run(["--json", "me"], env={"RSVAULT_TOKEN_FILE": alt})
    t.ok(r.returncode == 0 and json.loads(r.stdout)["id"] == agent.id,
         "RSVAULT_TOKEN_FILE names another file")
    r = cl.run(["login"], stdin="not a token\n")
    t.eq(r.returncode, 1, "login refuses something that is not a token")

    # admin license commands
    key = c.license("pro", uid("cl") + "@example.test")
    r = cl.run(["--json", "license", "update", key.lower(), "--type", "starter",
                "--valid-until", "2030-01-01T00:00:00+01:00"], adm)
    j = json.loads(r.stdout or b"{}")
    t.ok(r.returncode == 0 and j.get("type") == "starter"
         and j.get("valid_until") == "2029-12-31T23:00:00.000Z",
         "rsvault license update --type --valid-until (any case of the key)")
    r = cl.run(["--json", "license", "update", key, "--valid-until", "never"], adm)
    t.ok(r.returncode == 0 and json.loads(r.stdout).get("valid_until") is None,
         "license update --valid-until never")
    r = cl.run(["license", "revoke", key], adm)
    t.eq(r.returncode, 0, "rsvault license revoke")
    r = cl.run(["license", "revoke", key], adm)
    t.ok(r.returncode == 1 and b"conflict" in r.stderr, "revoking again: conflict")
    r = cl.run(["backup"], adm)
    t.ok(r.returncode == 1 and b"backup-dir" in r.stderr, "rsvault backup without --backup-dir")

    # help and completion
    r = cl.run(["help", "license", "update"])
    t.ok(r.returncode == 0 and b"usage: rsvault license update KEY" in r.stdout,
         "rsvault help license update")
    r = cl.run(["completion", "bash"])
    ok = r.returncode == 0
    if ok:
        script = r.stdout.decode() + """
COMP_WORDS=(rsvault license up); COMP_CWORD=2; _rsvault; echo "${COMPREPLY[*]}"
COMP_WORDS=(rsvault cred get T C --fi); COMP_CWORD=5; _rsvault; echo "${COMPREPLY[*]}"
"""
        p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
        ok = p.stdout.split("\n")[:2] == ["update", "--field"]
        if not ok:
            t.diag(repr(p.stdout) + p.stderr)
    t.ok(ok, "rsvault completion bash completes verbs and options")
    r = cl.run(["completion", "zsh"])
    t.ok(r.returncode == 0 and b"bashcompinit" in r.stdout, "rsvault completion zsh")


def main():
    with Vault() as v:
        c = Core(v)
        aud = c.auditor()
        guarded(t, "lists", server_lists, v, c, aud)
        guarded(t, "license keys without regard to case", case_insensitive, v, c)
        guarded(t, "downgrade and revoke", downgrade_and_revoke, v, c, aud)
        res = guarded(t, "tickets and paging", tickets_and_paging, v, c)
        if res:
            guarded(t, "client", client, v, c, *res)


def client_pages():
    """With small default pages (a test build's RSVAULT_TEST_PAGE_DEFAULT),
    the client's lists still show everything: it follows next."""
    with Vault(env={"RSVAULT_TEST_PAGE_DEFAULT": "2"}) as v:
        c = Core(v)
        cust = c.customer("pro")
        made = [c.account("agent").id for _ in range(5)]
        r = v.get("/v1/accounts", v.admin)
        t.ok(r.status == 200 and len(r.json["accounts"]) == 2 and "next" in r.json,
             "the server's default page is 2 here")
        cl = Client(v)
        r = cl.run(["--json", "account", "list"], v.admin)
        got = [a["id"] for a in json.loads(r.stdout or b"{}").get("accounts", [])]
        t.ok(r.returncode == 0 and set(made) <= set(got) and len(got) == len(set(got))
             and b'"next"' not in r.stdout, "account list --json: every page, one answer")
        ws = [c.ticket(cust) for _ in range(5)]
        r = cl.run(["ticket", "list"], cust.token)
        t.ok(r.returncode == 0 and all(w.tid.encode() in r.stdout for w in ws),
             "ticket list (table): every page")
        for _ in range(5):
            c.cred(ws[0])
        r = cl.run(["--json", "cred", "list", ws[0].tid], cust.token)
        t.eq(len(json.loads(r.stdout or b"{}").get("credentials", [])), 5,
             "cred list: every page")


def old_store_keys():
    """Licenses an earlier version stored under mixed-case keys move to
    their lower-case key at start (still found, still bound); two keys that
    differ only in case stop the start, naming both."""
    from rsvcore import mdb_dump, mdb_put
    from rsvtest import RUN_AS
    v = Vault()
    v.start()
    c = Core(v)
    cust = c.account("customer")
    v.stop()
    lic = {"id": "00112233aabbccdd", "key": "OLD-Mixed-1", "type": "pro",
           "email": cust.email, "created_at": 1}
    mdb_put(v.data, "licenses", [(b"OLD-Mixed-1", json.dumps(lic).encode())])
    mdb_put(v.data, "license_email", [(cust.email.encode() + b"\0OLD-Mixed-1", b"")])
    if RUN_AS:
        for f in os.listdir(v.data):
            os.chown(os.path.join(v.data, f), RUN_AS[1], RUN_AS[2])
    v.start()
    keys = [k for k, _ in mdb_dump(v.data, "licenses")]
    t.ok(b"old-mixed-1" in keys and b"OLD-Mixed-1" not in keys,
         "a mixed-case key of an earlier version is moved to its lower-case key")
    me = c.me(cust)
    t.ok(me["eligible"] is True and me["license"]["key"] == "OLD-Mixed-1",
         "the moved license still matches by e-mail, shown as registered")
    v.stop()
    dup = dict(lic, id="99112233aabbccdd", key="OLD-MIXED-1")
    mdb_put(v.data, "licenses", [(b"OLD-MIXED-1", json.dumps(dup).encode())])
    if RUN_AS:
        for f in os.listdir(v.data):
            os.chown(os.path.join(v.data, f), RUN_AS[1], RUN_AS[2])
    try:
        v.start()
        started = True
    except RuntimeError:
        started = False
    log = v.logtext()
    t.ok(not started and "OLD-MIXED-1 = old-mixed-1" in log,
         "two keys differing only in case: the server refuses to start and names them")
    v.stop()
    v.bad_exits = []  # that start was meant to fail
    v.__exit__(None, None, None)


main()
guarded(t, "client follows next", client_pages)
guarded(t, "license keys of an earlier version", old_store_keys)
t.done()

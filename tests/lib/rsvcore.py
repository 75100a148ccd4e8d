"""Shared fixtures for the core-vault integration tests (SPEC sections 1-4
and the HTTP API of section 6).

A Core wraps a running rsvtest.Vault and makes accounts, licenses, tickets,
credentials and sessions through the real API, failing loudly (RuntimeError)
when a fixture step does not get the status it needs, so a broken fixture
is never mistaken for a passing check.

    with Vault() as v:
        c = Core(v)
        cust = c.customer("pro")            # account + pro license by email
        ag = c.agent()
        w = c.world(cust, ag, session=True)  # ticket, credential, assignment, session
"""
import datetime
import itertools
import json
import os
import re
import secrets

_counter = itertools.count(1)


def uid(prefix="x"):
    """A fresh, valid account id / license key / label, unique per process."""
    return "%s%d-%s" % (prefix, next(_counter), secrets.token_hex(3))


def parse_time(s):
    """RFC 3339 UTC string -> POSIX seconds (float). Raises on bad input."""
    if not isinstance(s, str):
        raise ValueError("not a time string: %r" % (s,))
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", s)
    if not m:
        raise ValueError("not RFC 3339: %r" % (s,))
    y, mo, d, h, mi, se = (int(m.group(i)) for i in range(1, 7))
    frac = float(m.group(7)) if m.group(7) else 0.0
    tz = m.group(8)
    dt = datetime.datetime(y, mo, d, h, mi, se, tzinfo=datetime.timezone.utc)
    off = 0
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        off = sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return dt.timestamp() + frac - off


def rfc3339(ts):
    """POSIX seconds -> RFC 3339 UTC with milliseconds and Z."""
    dt = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def expect(t, r, status, code=None, name=""):
    """One TAP check: exact status and (for errors) exact error code.

    code=None on an error status still requires the error body to be well
    formed ({"error": {"code", "message"}})."""
    ok = r.status == status
    if status >= 400:
        ok = ok and isinstance(r.json, dict) and isinstance(r.json.get("error"), dict) \
            and isinstance(r.json["error"].get("message"), str)
        if code is not None:
            ok = ok and r.code == code
    label = "%s -> %d%s" % (name, status, (" " + code) if code else "")
    if not t.ok(ok, label):
        t.diag("got: %d %r" % (r.status, r.body[:300]))
    return ok


class Principal:
    def __init__(self, id, role, email, token):
        self.id = id
        self.role = role
        self.email = email
        self.token = token

    def __repr__(self):
        return "<%s %s>" % (self.role, self.id)


class World:
    """A ticket with its owner, optional credential, agent and session."""

    def __init__(self, owner, tid):
        self.owner = owner
        self.tid = tid
        self.cid = None
        self.secret = None
        self.agent = None
        self.sid = None

    @property
    def path(self):
        return "/v1/tickets/" + self.tid


class FixtureError(RuntimeError):
    pass


class Core:
    def __init__(self, v):
        self.v = v

    # --- plumbing ------------------------------------------------------
    def _need(self, r, status, what):
        if r.status != status:
            raise FixtureError("fixture step %s: want %d, got %d %r" %
                               (what, status, r.status, r.body[:300]))
        return r

    # --- admin-made things ----------------------------------------------
    def account(self, role, id=None, email=None):
        id = id or uid(role[:4])
        email = email or ("%s@example.test" % id)
        r = self._need(self.v.post("/v1/accounts", self.v.admin,
                                   {"id": id, "role": role, "email": email}),
                       201, "create account %s" % id)
        return Principal(id, role, r.json["email"], r.json["token"])

    def license(self, type, email, valid_until=None, key=None):
        key = key or uid("LIC-" + type + "-")
        body = {"key": key, "type": type, "email": email}
        if valid_until is not None:
            body["valid_until"] = valid_until
        self._need(self.v.post("/v1/licenses", self.v.admin, body), 201,
                   "create license %s" % key)
        return key

    def customer(self, ltype="pro", id=None, email=None, valid_until=None):
        """A customer whose email matches a license of type ltype (None: no license)."""
        id = id or uid("cust")
        email = email or ("%s@example.test" % id)
        p = self.account("customer", id=id, email=email)
        p.license = self.license(ltype, email, valid_until) if ltype else None
        return p

    def reseller(self, ltype=None):
        p = self.account("reseller")
        p.license = self.license(ltype, p.email) if ltype else None
        return p

    def agent(self):
        return self.account("agent")

    def auditor(self):
        return self.account("auditor")

    def new_token(self, p):
        r = self._need(self.v.post("/v1/accounts/%s/tokens" % p.id, self.v.admin), 201,
                       "new token for %s" % p.id)
        return r.json["token"]

    def suspend(self, p):
        self._need(self.v.post("/v1/accounts/%s/suspend" % p.id, self.v.admin), 200,
                   "suspend %s" % p.id)

    def reactivate(self, p):
        self._need(self.v.post("/v1/accounts/%s/reactivate" % p.id, self.v.admin), 200,
                   "reactivate %s" % p.id)

    # --- tickets --------------------------------------------------------
    def ticket(self, owner, subject=None, ref=None):
        body = {"subject": subject or "help with " + uid("t")}
        if ref is not None:
            body["ref"] = ref
        r = self._need(self.v.post("/v1/tickets", owner.token, body), 201,
                       "open ticket for %s" % owner.id)
        w = World(owner, r.json["id"])
        w.ticket = r.json
        return w

    def cred(self, w, secret=None, label=None, kind="rdp", **extra):
        secret = secret if secret is not None else "pw-" + secrets.token_hex(8)
        body = {"label": label or uid("cred"), "kind": kind, "secret": secret}
        body.update(extra)
        r = self._need(self.v.post(w.path + "/credentials", w.owner.token, body), 201,
                       "upload credential to %s" % w.tid)
        if w.cid is None:
            w.cid = r.json["id"]
            w.secret = secret
        return r.json["id"]

    def assign(self, w, agent):
        self._need(self.v.post(w.path + "/assign", self.v.admin, {"agent": agent.id}), 200,
                   "assign %s to %s" % (agent.id, w.tid))
        w.agent = agent
        return w

    def session(self, w, ttl=None, agent=None):
        agent = agent or w.agent
        body = {"ttl_s": ttl} if ttl is not None else None
        r = self._need(self.v.post(w.path + "/sessions", agent.token, body), 201,
                       "open session on %s" % w.tid)
        w.sid = r.json["id"]
        return r.json["id"]

    def world(self, owner, agent=None, cred=True, session=False, **credargs):
        w = self.ticket(owner)
        if cred:
            self.cred(w, **credargs)
        if agent is not None:
            self.assign(w, agent)
            if session:
                self.session(w)
        return w

    # --- reads ------------------------------------------------------------
    def read_secret(self, w, token=None, sid=None, cid=None):
        h = {}
        sid = sid if sid is not None else w.sid
        if sid:
            h["X-Session-Id"] = sid
        return self.v.get("%s/credentials/%s/secret" % (w.path, cid or w.cid),
                          token if token is not None else w.agent.token, headers=h)

    def sessions(self, w, token=None):
        r = self._need(self.v.get(w.path + "/sessions", token or self.v.admin), 200,
                       "list sessions of %s" % w.tid)
        return {s["id"]: s for s in r.json["sessions"]}

    def session_state(self, w, sid=None, token=None):
        s = self.sessions(w, token).get(sid or w.sid)
        return s["state"] if s else None

    def cred_ids(self, w, token=None):
        r = self._need(self.v.get(w.path + "/credentials", token or w.owner.token), 200,
                       "list credentials of %s" % w.tid)
        return [c["id"] for c in r.json["credentials"]]

    def me(self, p):
        return self._need(self.v.get("/v1/me", p.token), 200, "GET /v1/me as %s" % p.id).json


def all_events(v, tok):
    """Every audit event, oldest first, through the auditor's paged API.
    Each read is itself audited, so the log grows while it is read: a
    short page is the end."""
    evs, after = [], 0
    while True:
        r = v.get("/v1/audit?after_seq=%d&limit=1000" % after, tok)
        if r.status != 200:
            raise RuntimeError("audit list: %d %r" % (r.status, r.body[:200]))
        evs += r.json["events"]
        after = r.json["next_seq"]
        if len(r.json["events"]) < 1000:
            return evs


def tap_header(t, path):
    t.diag(os.path.basename(path) + ": rsvault core integration tests")


def jdump(o):
    return json.dumps(o, sort_keys=True)


def guarded(t, name, fn, *args, **kw):
    """Run one group of checks; an exception becomes a failed check (with
    its traceback as TAP diagnostics) instead of ending the whole file."""
    import traceback
    try:
        return fn(*args, **kw)
    except Exception:  # noqa: BLE001 - reported as a failure
        t.ok(False, "%s: ran to the end without an exception" % name)
        t.diag(traceback.format_exc())
        return None


def secret_free(t, r, markers, name):
    """The raw response body holds none of the given strings (as UTF-8) nor
    their JSON-escaped forms."""
    bad = []
    for m in markers:
        forms = {m.encode("utf-8"), json.dumps(m)[1:-1].encode("utf-8")}
        if any(f in r.body for f in forms):
            bad.append(m)
    if not t.ok(not bad, name):
        t.diag("found in the response: %r" % bad)
    return not bad


# --- raw LMDB access through lmdb-utils (the server must be stopped) -------

def mdb_dump(datadir, subdb):
    """Records of one named sub-database as a list of (key, value) bytes."""
    import subprocess
    r = subprocess.run(["mdb_dump", "-s", subdb, datadir], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("mdb_dump -s %s failed: %s" % (subdb, r.stderr))
    lines = r.stdout.splitlines()
    body = lines[lines.index("HEADER=END") + 1:lines.index("DATA=END")]
    if len(body) % 2:
        raise RuntimeError("odd mdb_dump output")
    return [(bytes.fromhex(body[i].strip()), bytes.fromhex(body[i + 1].strip()))
            for i in range(0, len(body), 2)]


def mdb_put(datadir, subdb, pairs):
    """Write (key, value) records into a named sub-database, overwriting."""
    import subprocess
    text = ["VERSION=3", "format=bytevalue", "database=" + subdb, "type=btree", "HEADER=END"]
    for k, val in pairs:
        text.append(" " + k.hex())
        text.append(" " + val.hex())
    text.append("DATA=END")
    r = subprocess.run(["mdb_load", "-s", subdb, datadir], input="\n".join(text) + "\n",
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("mdb_load -s %s failed: %s" % (subdb, r.stderr))


def cred_key(tid, cid):
    """Key of a credential record in the creds sub-database."""
    return tid.encode() + b"\0" + cid.encode()

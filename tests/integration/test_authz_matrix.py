#!/usr/bin/env python3
"""The authorization matrix (SPEC section 6): every route except health and
the /v1/audit* routes, for every kind of principal, with the exact status
and error code the SPEC gives, following its authorization order:

  401 unauthenticated -> 403 account_suspended -> 404 (no relation) ->
  403 forbidden -> 403 license_required -> 403 session_required /
  session_expired -> 409 conflict

Principals: admin; auditor; the ticket's owner (customer with a pro
license); another customer; a reseller (on its own ticket); the assigned
agent; an unassigned agent; no token; an unknown token; a revoked token; a
suspended unrelated customer; the ticket's owner suspended; the assigned
agent suspended.

Every cell gets a fresh ticket world (ticket, credential, assigned agent,
session as the route needs), so state-changing calls never leak into the
next cell. Failed authentications are rate limited per address (10 per
60 s), so the routes are spread over several vaults, each taking at most
nine failures. The capability routes (Authorization: Link / Receipt) have
their own order and are checked in test_links.py. TAP on stdout."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect, guarded, uid  # noqa: E402

t = TAP()

PRINCIPALS = ["admin", "auditor", "owner", "other", "reseller", "agent", "unassigned",
              "none", "bad", "revoked", "suspended", "susp-owner", "susp-agent"]
F = (403, "forbidden")
N = (404, "not_found")
LIC = (403, "license_required")
SREQ = (403, "session_required")
SEXP = (403, "session_expired")
C409 = (409, "conflict")
BADF = (400, "invalid_field")
NA = None  # the cell does not apply
UNKNOWN_ID = "AAAAAAAAAAAAAAAAAAAAAA"  # well-formed, never issued
AUTHFAIL = {"none": (401, "unauthenticated"), "bad": (401, "unauthenticated"),
            "revoked": (401, "unauthenticated"), "suspended": (403, "account_suspended"),
            "susp-owner": (403, "account_suspended"), "susp-agent": (403, "account_suspended")}


def row(admin, auditor, owner, other, reseller, agent, unassigned):
    d = dict(zip(PRINCIPALS[:7], (admin, auditor, owner, other, reseller, agent, unassigned)))
    d.update(AUTHFAIL)
    return {k: ((v, None) if isinstance(v, int) else v) for k, v in d.items()}


def admin_only(ok):
    return row(ok, F, F, F, F, F, F)


# ---------------------------------------------------------------- requests
# Each builder gets (ctx, w) and returns (method, path, body, headers).
# ctx: the shard's accounts; w: a fresh world (or None for non-ticket routes).

def other_ticket_session(ctx, w):
    """A session of the same agent, active, on a different ticket."""
    if getattr(w, "agent_suspended", False):
        return UNKNOWN_ID   # a suspended agent cannot open one; the cell is 403 anyway
    owner = w.owner if not getattr(w, "owner_suspended", False) else ctx.owner
    return ctx.c.world(owner, w.agent, session=True).sid


def link_of(ctx, w, maker):
    """The id of a link on w's ticket made by its assigned agent or its
    owner; a well-formed unknown id when that maker cannot make one (it
    is suspended: the cell is 403 account_suspended before the link
    matters)."""
    p = w.agent if maker == "agent" else w.owner
    if getattr(w, "agent_suspended", False) and maker == "agent" or \
            getattr(w, "owner_suspended", False):
        return UNKNOWN_ID
    r = ctx.c.v.post(w.path + "/links", p.token, None)
    if r.status != 201:
        raise RuntimeError("fixture: link on %s: %r" % (w.tid, r))
    return r.json["id"]


def fresh_account(ctx):
    return ctx.c.customer("pro").id


def fresh_token_path(ctx):
    """/v1/accounts/{id}/tokens/{token_id} of a further token of a fresh account."""
    aid = fresh_account(ctx)
    r = ctx.c.v.post("/v1/accounts/%s/tokens" % aid, ctx.c.v.admin)
    if r.status != 201:
        raise RuntimeError("fixture: token for %s: %r" % (aid, r))
    return "/v1/accounts/%s/tokens/%s" % (aid, r.json["token_id"])


ROUTES = [
    # name, world kind (None: no ticket), builder, expected row
    ("POST /v1/accounts", None,
     lambda ctx, w: ("POST", "/v1/accounts", {"id": uid("mx"), "role": "customer",
                                               "email": uid("mx") + "@example.test"}, None),
     admin_only(201)),
    ("POST /v1/accounts/{id}/tokens", None,
     lambda ctx, w: ("POST", "/v1/accounts/%s/tokens" % fresh_account(ctx), None, None),
     admin_only(201)),
    ("DELETE /v1/accounts/{id}/tokens", None,
     lambda ctx, w: ("DELETE", "/v1/accounts/%s/tokens" % fresh_account(ctx), None, None),
     admin_only(204)),
    ("DELETE /v1/accounts/{id}/tokens/{token_id}", None,
     lambda ctx, w: ("DELETE", fresh_token_path(ctx), None, None),
     admin_only(204)),
    ("POST /v1/accounts/{id}/suspend", None,
     lambda ctx, w: ("POST", "/v1/accounts/%s/suspend" % fresh_account(ctx), None, None),
     admin_only(200)),
    ("POST /v1/accounts/{id}/reactivate", None,
     lambda ctx, w: ("POST", "/v1/accounts/%s/reactivate" % fresh_account(ctx), None, None),
     admin_only(200)),
    ("POST /v1/licenses", None,
     lambda ctx, w: ("POST", "/v1/licenses", {"key": uid("MX-"), "type": "plus",
                                               "email": "mx@example.test"}, None),
     admin_only(201)),
    ("GET /v1/licenses/{key}", None,
     lambda ctx, w: ("GET", "/v1/licenses/" + ctx.owner.license, None, None),
     admin_only(200)),
    ("GET /v1/me", None,
     lambda ctx, w: ("GET", "/v1/me", None, None),
     row(200, 200, 200, 200, 200, 200, 200)),
    ("POST /v1/me/license", None,
     lambda ctx, w: ("POST", "/v1/me/license", {"key": ctx.bindable}, None),
     row(F, F, 200, 200, 200, F, F)),
    ("POST /v1/tickets", None,
     lambda ctx, w: ("POST", "/v1/tickets", {"subject": "matrix ticket"}, None),
     row(BADF, F, 201, 201, 201, F, F)),
    ("POST /v1/tickets {owner}", None,
     lambda ctx, w: ("POST", "/v1/tickets", {"subject": "matrix ticket",
                                              "owner": ctx.owner.id}, None),
     row(201, F, BADF, BADF, BADF, F, F)),
    ("GET /v1/tickets", None,
     lambda ctx, w: ("GET", "/v1/tickets", None, None),
     row(200, 200, 200, 200, 200, 200, 200)),
    ("GET /v1/tickets/{tid}", "plain",
     lambda ctx, w: ("GET", w.path, None, None),
     row(200, 200, 200, N, 200, 200, N)),
    ("POST /v1/tickets/{tid}/assign", "session",
     lambda ctx, w: ("POST", w.path + "/assign", {"agent": ctx.unassigned.id}, None),
     row(200, F, F, N, F, F, N)),
    ("POST /v1/tickets/{tid}/close", "session",
     lambda ctx, w: ("POST", w.path + "/close", None, None),
     row(200, F, 200, N, 200, 200, N)),
    ("POST /v1/tickets/{tid}/credentials", "plain",
     lambda ctx, w: ("POST", w.path + "/credentials",
                     {"label": "m", "kind": "other", "secret": "matrix-secret"}, None),
     row(F, F, 201, N, 201, F, N)),
    ("GET /v1/tickets/{tid}/credentials", "plain",
     lambda ctx, w: ("GET", w.path + "/credentials", None, None),
     row(F, F, 200, N, 200, 200, N)),
    ("DELETE /v1/tickets/{tid}/credentials/{cid}", "plain",
     lambda ctx, w: ("DELETE", "%s/credentials/%s" % (w.path, w.cid), None, None),
     row(204, F, 204, N, 204, F, N)),
    ("POST /v1/tickets/{tid}/sessions", "plain",
     lambda ctx, w: ("POST", w.path + "/sessions", {"ttl_s": 300}, None),
     row(F, F, F, N, F, 201, N)),
    ("POST /v1/tickets/{tid}/sessions (one active)", "session",
     lambda ctx, w: ("POST", w.path + "/sessions", None, None),
     row(F, F, F, N, F, C409, N)),
    ("GET /v1/tickets/{tid}/sessions", "session",
     lambda ctx, w: ("GET", w.path + "/sessions", None, None),
     row(200, 200, 200, N, 200, 200, N)),
    ("DELETE /v1/sessions/{sid}", "session",
     lambda ctx, w: ("DELETE", "/v1/sessions/" + w.sid, None, None),
     row(204, F, 204, N, 204, 204, N)),
    ("GET .../credentials/{cid}/secret (X-Session-Id)", "session",
     lambda ctx, w: ("GET", "%s/credentials/%s/secret" % (w.path, w.cid), None,
                     {"X-Session-Id": w.sid}),
     row(F, F, F, N, F, 200, N)),
    ("POST /v1/tickets/{tid}/links", "plain",
     lambda ctx, w: ("POST", w.path + "/links", {"uses": 2}, None),
     row(201, F, 201, N, 201, 201, N)),
    ("GET /v1/tickets/{tid}/links", "plain",
     lambda ctx, w: ("GET", w.path + "/links", None, None),
     row(200, F, 200, N, 200, 200, N)),
    ("DELETE /v1/links/{lid} (made by the assigned agent)", "plain",
     lambda ctx, w: ("DELETE", "/v1/links/" + link_of(ctx, w, "agent"), None, None),
     row(204, F, 204, N, 204, 204, N)),
    ("DELETE /v1/links/{lid} (made by the owner)", "plain",
     lambda ctx, w: ("DELETE", "/v1/links/" + link_of(ctx, w, "owner"), None, None),
     row(204, F, 204, N, 204, F, N)),
    ("POST /v1/tickets/{tid}/approval", "plain",
     lambda ctx, w: ("POST", w.path + "/approval", {"mode": "owner"}, None),
     row(F, F, 200, N, 200, F, N)),
    ("POST /v1/tickets/{tid}/approval lowering while pending", "pending",
     lambda ctx, w: ("POST", w.path + "/approval", {"mode": "none"}, None),
     row(F, F, C409, N, C409, F, N)),
    ("POST /v1/sessions/{sid}/approve", "pending",
     lambda ctx, w: ("POST", "/v1/sessions/%s/approve" % w.sid, None, None),
     row(F, F, 200, N, 200, F, N)),
    ("POST /v1/sessions/{sid}/deny", "pending",
     lambda ctx, w: ("POST", "/v1/sessions/%s/deny" % w.sid, None, None),
     row(F, F, 200, N, 200, F, N)),
    ("POST /v1/sessions/{sid}/approve (active already)", "session",
     lambda ctx, w: ("POST", "/v1/sessions/%s/approve" % w.sid, None, None),
     row(F, F, C409, N, C409, F, N)),
    ("GET .../secret with the agent's pending session", "pending",
     lambda ctx, w: ("GET", "%s/credentials/%s/secret" % (w.path, w.cid), None,
                     {"X-Session-Id": w.sid}),
     row(F, F, F, N, F, (403, "approval_pending"), N)),
    ("GET /v1/tickets/{tid}/audit", "plain",
     lambda ctx, w: ("GET", w.path + "/audit", None, None),
     row(200, 200, 200, N, 200, F, N)),

    # Administration (SPEC 8.6) and backups (SPEC 8.5): admin only. These
    # vaults have no --backup-dir, so the admin's backup is 409.
    ("GET /v1/accounts", None,
     lambda ctx, w: ("GET", "/v1/accounts?limit=5", None, None),
     admin_only(200)),
    ("GET /v1/accounts/{id}", None,
     lambda ctx, w: ("GET", "/v1/accounts/" + ctx.owner.id, None, None),
     admin_only(200)),
    ("GET /v1/licenses", None,
     lambda ctx, w: ("GET", "/v1/licenses?limit=5", None, None),
     admin_only(200)),
    ("PATCH /v1/licenses/{key}", None,
     lambda ctx, w: ("PATCH", "/v1/licenses/" + ctx.c.license("pro", uid("px") + "@example.test"),
                     {"type": "plus"}, None),
     admin_only(200)),
    ("POST /v1/licenses/{key}/revoke", None,
     lambda ctx, w: ("POST", "/v1/licenses/%s/revoke"
                     % ctx.c.license("pro", uid("rx") + "@example.test"), None, None),
     admin_only(200)),
    ("POST /v1/admin/backup (no --backup-dir)", None,
     lambda ctx, w: ("POST", "/v1/admin/backup", None, None),
     admin_only(C409)),

    # Unknown objects: 404 for whoever may ask, after authentication.
    ("GET /v1/accounts/{unknown id}", None,
     lambda ctx, w: ("GET", "/v1/accounts/no-such-account", None, None),
     admin_only(N)),
    ("PATCH /v1/licenses/{unknown key}", None,
     lambda ctx, w: ("PATCH", "/v1/licenses/NO-SUCH-KEY", {"type": "plus"}, None),
     admin_only(N)),
    ("GET /v1/tickets/{unknown tid}", None,
     lambda ctx, w: ("GET", "/v1/tickets/" + UNKNOWN_ID, None, None),
     row(N, N, N, N, N, N, N)),
    ("DELETE /v1/sessions/{unknown sid}", None,
     lambda ctx, w: ("DELETE", "/v1/sessions/" + UNKNOWN_ID, None, None),
     row(N, N, N, N, N, N, N)),
    ("POST /v1/sessions/{unknown sid}/approve", None,
     lambda ctx, w: ("POST", "/v1/sessions/%s/approve" % UNKNOWN_ID, None, None),
     row(N, N, N, N, N, N, N)),
    ("DELETE /v1/links/{unknown lid}", None,
     lambda ctx, w: ("DELETE", "/v1/links/" + UNKNOWN_ID, None, None),
     row(N, N, N, N, N, N, N)),
    ("POST /v1/accounts/{unknown id}/suspend", None,
     lambda ctx, w: ("POST", "/v1/accounts/no-such-account/suspend", None, None),
     admin_only(N)),
    ("GET /v1/licenses/{unknown key}", None,
     lambda ctx, w: ("GET", "/v1/licenses/NO-SUCH-KEY", None, None),
     admin_only(N)),
    ("POST /v1/me/license {unknown key}", None,
     lambda ctx, w: ("POST", "/v1/me/license", {"key": "NO-SUCH-KEY"}, None),
     row(F, F, N, N, N, F, F)),

    # Later steps of the order, each still behind the earlier ones.
    ("GET .../secret without X-Session-Id", "session",
     lambda ctx, w: ("GET", "%s/credentials/%s/secret" % (w.path, w.cid), None, None),
     row(F, F, F, N, F, SREQ, N)),
    ("GET .../secret with an unknown X-Session-Id", "session",
     lambda ctx, w: ("GET", "%s/credentials/%s/secret" % (w.path, w.cid), None,
                     {"X-Session-Id": "AAAAAAAAAAAAAAAAAAAAAA"}),
     row(F, F, F, N, F, SREQ, N)),
    ("GET .../secret with a malformed X-Session-Id", "session",
     lambda ctx, w: ("GET", "%s/credentials/%s/secret" % (w.path, w.cid), None,
                     {"X-Session-Id": "not a session id!"}),
     row(F, F, F, N, F, SREQ, N)),
    ("GET .../secret with the agent's session on another ticket", "session",
     lambda ctx, w: ("GET", "%s/credentials/%s/secret" % (w.path, w.cid), None,
                     {"X-Session-Id": other_ticket_session(ctx, w)}),
     row(F, F, F, N, F, SREQ, N)),
    ("GET .../secret with the agent's ended session", "ended",
     lambda ctx, w: ("GET", "%s/credentials/%s/secret" % (w.path, w.cid), None,
                     {"X-Session-Id": w.sid}),
     row(F, F, F, N, F, SEXP, N)),
    ("GET .../secret on a closed ticket (session ended by closing)", "closed",
     lambda ctx, w: ("GET", "%s/credentials/%s/secret" % (w.path, w.cid), None,
                     {"X-Session-Id": w.sid}),
     row(F, F, F, N, F, SEXP, N)),
    ("GET .../secret, owner ineligible (bound a free key)", "ineligible",
     lambda ctx, w: ("GET", "%s/credentials/%s/secret" % (w.path, w.cid), None,
                     {"X-Session-Id": w.sid}),
     row(F, F, F, N, NA, LIC, N)),
    ("POST .../credentials, owner ineligible (free license)", "ineligible",
     lambda ctx, w: ("POST", w.path + "/credentials",
                     {"label": "m", "kind": "other", "secret": "matrix-secret"}, None),
     row(F, F, LIC, N, NA, F, N)),
    ("POST .../sessions, owner ineligible (free license)", "ineligible",
     lambda ctx, w: ("POST", w.path + "/sessions", None, None),
     row(F, F, F, N, NA, LIC, N)),
    ("POST .../credentials on a closed ticket", "closed",
     lambda ctx, w: ("POST", w.path + "/credentials",
                     {"label": "m", "kind": "other", "secret": "matrix-secret"}, None),
     row(F, F, C409, N, C409, F, N)),
    ("POST .../links, owner ineligible (free license)", "ineligible",
     lambda ctx, w: ("POST", w.path + "/links", None, None),
     row(LIC, F, LIC, N, NA, LIC, N)),
    ("POST .../links on a closed ticket", "closed",
     lambda ctx, w: ("POST", w.path + "/links", None, None),
     row(C409, F, C409, N, C409, C409, N)),
    ("POST .../sessions on a closed ticket", "closed",
     lambda ctx, w: ("POST", w.path + "/sessions", None, None),
     row(F, F, F, N, F, C409, N)),
    ("POST .../assign on a closed ticket", "closed",
     lambda ctx, w: ("POST", w.path + "/assign", {"agent": ctx.unassigned.id}, None),
     row(C409, F, F, N, F, F, N)),
    ("POST .../close on a closed ticket", "closed",
     lambda ctx, w: ("POST", w.path + "/close", None, None),
     row(C409, F, C409, N, C409, C409, N)),
]


class Ctx:
    pass


def shard_setup(v):
    ctx = Ctx()
    ctx.v = v
    ctx.c = c = Core(v)
    ctx.owner = c.customer("pro")
    ctx.other = c.customer("pro")
    ctx.reseller = c.reseller()
    ctx.agent = c.agent()
    ctx.unassigned = c.agent()
    ctx.auditor = c.auditor()
    ctx.suspended = c.customer("site")
    c.suspend(ctx.suspended)
    ctx.revoked = c.customer("pro")
    ctx.revoked_token = ctx.revoked.token
    r = v.delete("/v1/accounts/%s/tokens" % ctx.revoked.id, v.admin)
    if r.status != 204:
        raise RuntimeError("revoke failed: %r" % r)
    ctx.bindable = c.license("pro", "bindable@example.test")
    return ctx


def make_world(ctx, kind, principal):
    c = ctx.c
    if kind is None:
        if principal in ("susp-owner", "susp-agent"):
            p = c.customer("pro") if principal == "susp-owner" else c.agent()
            c.suspend(p)
            return p
        return None
    if kind == "ineligible" or principal == "susp-owner":
        owner = c.customer("pro")
    else:
        owner = ctx.reseller if principal == "reseller" else ctx.owner
    agent = c.agent() if principal == "susp-agent" else ctx.agent
    w = c.world(owner, agent, session=kind in ("session", "ended", "closed", "ineligible"))
    if kind == "pending":
        r = ctx.v.post(w.path + "/approval", owner.token, {"mode": "owner"})
        if r.status != 200:
            raise RuntimeError("approval mode failed: %r" % r)
        c.session(w)
    if kind == "ended":
        r = ctx.v.delete("/v1/sessions/" + w.sid, agent.token)
        if r.status != 204:
            raise RuntimeError("ending the session failed: %r" % r)
    elif kind == "closed":
        r = ctx.v.post(w.path + "/close", owner.token)
        if r.status != 200:
            raise RuntimeError("closing failed: %r" % r)
    elif kind == "ineligible":
        free = c.license("free", "free-" + owner.email)
        r = ctx.v.post("/v1/me/license", owner.token, {"key": free})
        if r.status != 200 or r.json.get("eligible") is not False:
            raise RuntimeError("downgrade failed: %r" % r)
    if principal == "susp-owner":
        c.suspend(owner)
        w.owner_suspended = True
    elif principal == "susp-agent":
        c.suspend(agent)
        w.agent_suspended = True
    return w


def token_of(ctx, principal, w):
    v = ctx.v
    if principal in ("susp-owner", "susp-agent"):
        if hasattr(w, "token"):          # a lone suspended account (no ticket)
            return w.token
        return (w.owner if principal == "susp-owner" else w.agent).token
    return {
        "admin": v.admin,
        "auditor": ctx.auditor.token,
        "owner": w.owner.token if w else ctx.owner.token,
        "other": ctx.other.token,
        "reseller": ctx.reseller.token,
        "agent": w.agent.token if w else ctx.agent.token,
        "unassigned": ctx.unassigned.token,
        "none": None,
        "bad": "rsv_" + "A" * 43,
        "revoked": ctx.revoked_token,
        "suspended": ctx.suspended.token,
    }[principal]


CELLS = [0]


def run_route(ctx, name, kind, build, expected):
    for p in PRINCIPALS:
        want = expected[p]
        if want is None:
            continue
        w = make_world(ctx, kind, p)
        method, path, body, headers = build(ctx, w if kind else None)
        tok = token_of(ctx, p, w)
        r = ctx.v.request(method, path, token=tok, body=body, headers=headers)
        CELLS[0] += 1
        expect(t, r, want[0], want[1], "%s as %s" % (name, p))
        if want[0] < 300 and r.status == want[0] and "secret" in path and r.json:
            t.eq(r.json.get("secret"), getattr(w, "secret", None), "%s as %s: the secret itself" % (name, p))
        if r.status == 429:
            t.diag("rate limited: the shard took too many failed authentications")


def shards(routes, per=3):
    for i in range(0, len(routes), per):
        yield routes[i:i + per]


def one_shard(chunk):
    with Vault(keepalive=True) as v:
        ctx = shard_setup(v)
        for name, kind, build, expected in chunk:
            guarded(t, name, run_route, ctx, name, kind, build, expected)


def rate_limit():
    """More than 10 failed authentications in 60 s from one address: 429
    for requests without a valid token; valid tokens keep working."""
    with Vault() as v:
        c = Core(v)
        p = c.customer("pro")
        revoked = c.customer("pro")
        v.delete("/v1/accounts/%s/tokens" % revoked.id, v.admin)
        codes = []
        for i in range(10):
            tok = None if i % 2 else "rsv_bogus%d" % i
            codes.append(v.get("/v1/me", tok).status)
        t.eq(codes, [401] * 10, "ten failed authentications: 401 each")
        expect(t, v.get("/v1/me"), 429, "rate_limited", "11th request without a token")
        expect(t, v.get("/v1/me", "rsv_bogus-x"), 429, "rate_limited", "with an unknown token")
        expect(t, v.get("/v1/me", revoked.token), 429, "rate_limited", "with a revoked token")
        expect(t, v.get("/v1/tickets", "rsv_bogus-y"), 429, "rate_limited",
               "on another route too")
        expect(t, v.get("/v1/me", p.token), 200, name="a valid token keeps working")
        expect(t, v.get("/v1/me", v.admin), 200, name="the admin token keeps working")
        expect(t, v.post("/v1/tickets", p.token, {"subject": "still here"}), 201,
               name="a valid token can still write")


def uniform_404():
    """An unknown id and the id of something the caller is not related to
    get the same 404, byte for byte (apart from the request id, which is
    only a header), on routes about a session, a link and a ticket: the
    message names the route's kind, not where the check failed (SPEC 6)."""
    with Vault(keepalive=True) as v:
        c = Core(v)
        cust, other = c.customer("pro"), c.customer("pro")
        ag, ag2 = c.agent(), c.agent()
        w2 = c.world(other, ag2, session=True)
        r = v.post(w2.path + "/links", other.token, None)
        if r.status != 201:
            raise RuntimeError("fixture: link: %r" % r)
        lid = r.json["id"]
        u = UNKNOWN_ID
        cases = [
            ("DELETE", "/v1/sessions/%s", w2.sid, cust),
            ("POST", "/v1/sessions/%s/approve", w2.sid, cust),
            ("POST", "/v1/sessions/%s/deny", w2.sid, cust),
            ("DELETE", "/v1/sessions/%s", w2.sid, ag),
            ("DELETE", "/v1/links/%s", lid, cust),
            ("DELETE", "/v1/links/%s", lid, ag),
            ("GET", "/v1/tickets/%s", w2.tid, cust),
            ("POST", "/v1/tickets/%s/sessions", w2.tid, ag),
        ]
        for method, pat, real, who in cases:
            a = v.request(method, pat % u, token=who.token)
            b = v.request(method, pat % real, token=who.token)
            name = "%s %s as %s" % (method, pat, who.role)
            t.ok(a.status == b.status == 404 and a.body == b.body,
                 "%s: unknown and unrelated alike (%r / %r)" % (name, a.body, b.body))


total = sum(sum(1 for x in r[3].values() if x is not None) for r in ROUTES)
t.diag("authorization matrix: %d routes/variants x %d principals = %d cells"
       % (len(ROUTES), len(PRINCIPALS), total))
for chunk in shards(ROUTES):
    guarded(t, "shard " + chunk[0][0], one_shard, chunk)
t.diag("matrix cells run: %d" % CELLS[0])
t.ok(CELLS[0] == total, "every cell of the matrix was run (%d)" % total)
guarded(t, "rate limit", rate_limit)
guarded(t, "uniform 404", uniform_404)
t.done()

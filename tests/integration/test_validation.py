#!/usr/bin/env python3
"""Request validation (SPEC section 6): field rules, JSON rules, body size
and media type, path rules, unknown routes and methods, the headers every
response carries, and that none of it harms the server or its data. TAP
on stdout."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect, guarded, parse_time, uid  # noqa: E402

t = TAP()
ALL = []  # every response, for the header checks at the end
IF = "invalid_field"
IJ = "invalid_json"


def record(v):
    orig = v.request

    def request(*a, **kw):
        r = orig(*a, **kw)
        ALL.append(r)
        return r
    v.request = request


def cred_body(**kw):
    b = {"label": "a label", "kind": "rdp", "secret": "s3cret"}
    b.update(kw)
    return {k: x for k, x in b.items() if x is not DROP}


DROP = object()


def unknown_fields(v, c, st):
    w = st["w"]
    cases = [
        ("POST /v1/accounts", "/v1/accounts", v.admin,
         {"id": uid("uf"), "role": "customer", "email": "u@example.test", "admin": True}),
        ("POST /v1/licenses", "/v1/licenses", v.admin,
         {"key": uid("UF-"), "type": "pro", "email": "u@example.test", "seats": 5}),
        ("POST /v1/tickets", "/v1/tickets", st["cust"].token, {"subject": "s", "owner": "admin"}),
        ("POST credentials", w.path + "/credentials", st["cust"].token,
         cred_body(password="x")),
        ("POST sessions", w.path + "/sessions", st["agent"].token, {"ttl_s": 60, "ttl": 60}),
        ("POST assign", w.path + "/assign", v.admin, {"agent": st["agent"].id, "force": True}),
        ("POST /v1/me/license", "/v1/me/license", st["cust"].token,
         {"key": st["cust"].license, "type": "site"}),
        ("POST close (no-body route) with a field", w.path + "/close", st["cust"].token,
         {"reason": "done"}),
    ]
    for name, path, tok, body in cases:
        expect(t, v.post(path, tok, body), 400, IF, "unknown field: " + name)
    expect(t, v.get(w.path, st["cust"].token), 200, name="ticket still open after the refused close")
    t.eq(v.get(w.path, st["cust"].token).json["status"], "open", "status still open")


def labels_secrets_kinds(v, c, st):
    w, tok = st["w"], st["cust"].token
    up = lambda **kw: v.post(w.path + "/credentials", tok, cred_body(**kw))  # noqa: E731
    expect(t, up(label=""), 400, IF, "label of 0 code points")
    expect(t, up(label="x" * 129), 400, IF, "label of 129 code points")
    expect(t, up(label="密" * 129), 400, IF, "label of 129 three-byte code points")
    expect(t, up(label="x" * 128), 201, name="label of 128 ASCII code points")
    r = up(label="密" * 128)
    expect(t, r, 201, name="label of 128 three-byte code points (384 bytes)")
    t.eq((r.json or {}).get("label"), "密" * 128, "the multi-byte label comes back intact")
    expect(t, up(label="🔑" * 128), 201, name="label of 128 four-byte code points (512 bytes)")
    expect(t, up(label=DROP), 400, IF, "label missing")
    expect(t, up(label=7), 400, IF, "label not a string")
    expect(t, up(secret=""), 400, IF, "empty secret")
    expect(t, up(secret="s" * 8193), 400, IF, "secret of 8193 bytes")
    expect(t, up(secret="é" * 4096 + "s"), 400, IF, "secret of 8193 bytes (4096 two-byte chars + 1)")
    r = up(secret="s" * 8192)
    expect(t, r, 201, name="secret of 8192 bytes")
    st["big_cid"] = (r.json or {}).get("id")
    expect(t, up(secret="é" * 4096), 201, name="secret of 8192 bytes as 4096 two-byte chars")
    expect(t, up(secret=DROP), 400, IF, "secret missing")
    expect(t, up(secret=["x"]), 400, IF, "secret not a string")
    for k in ("telnet", "RDP", "", "ssh "):
        expect(t, up(kind=k), 400, IF, "kind %r not in the list" % k)
    expect(t, up(kind=DROP), 400, IF, "kind missing")
    for k in ("remote-utilities", "rdp", "ssh", "vnc", "web", "other"):
        expect(t, up(kind=k), 201, name="kind %s accepted" % k)


def cred_ttls(v, c, st):
    w, tok = st["w"], st["cust"].token
    up = lambda **kw: v.post(w.path + "/credentials", tok, cred_body(**kw))  # noqa: E731
    for bad, what in ((0, "0"), (2592001, "2592001"), (-5, "negative"), (1.5, "non-integer 1.5"),
                      ("60", "string \"60\""), (True, "boolean")):
        expect(t, up(ttl_s=bad), 400, IF, "credential ttl_s %s" % what)
    r = up(ttl_s=2592000)
    expect(t, r, 201, name="credential ttl_s 2592000 (30 days)")
    t.eq(round(parse_time(r.json["expires_at"]) - parse_time(r.json["created_at"])), 2592000,
         "30-day credential expires 2592000 s after creation")
    expect(t, up(ttl_s=1), 201, name="credential ttl_s 1")


def session_ttls(v, c, st):
    ag = st["agent"]
    for bad, what in ((0, "0"), (14401, "14401 (over the default max 14400)"), (2.5, "2.5"),
                      ("600", "string"), (-1, "-1")):
        w = c.world(st["cust"], ag)
        expect(t, v.post(w.path + "/sessions", ag.token, {"ttl_s": bad}), 400, IF,
               "session ttl_s %s" % what)
    w = c.world(st["cust"], ag)
    r = v.post(w.path + "/sessions", ag.token, {"ttl_s": 14400})
    expect(t, r, 201, name="session ttl_s 14400 (the default max)")
    t.eq(round(parse_time(r.json["expires_at"]) - parse_time(r.json["opened_at"])), 14400,
         "a 14400 s session")


def session_max_ttl():
    with Vault(extra_args=["--session-max-ttl", "60"]) as v2:
        record(v2)
        c2 = Core(v2)
        p, ag = c2.customer("pro"), c2.agent()
        w = c2.world(p, ag)
        r = v2.post(w.path + "/sessions", ag.token, {"ttl_s": 61})
        expect(t, r, 400, IF, "--session-max-ttl 60: ttl_s 61")
        r = v2.post(w.path + "/sessions", ag.token)
        expect(t, r, 201, name="--session-max-ttl 60: default session")
        t.eq(round(parse_time(r.json["expires_at"]) - parse_time(r.json["opened_at"]), 3), 60.0,
             "--session-max-ttl 60: the default ttl becomes 60")
        w2 = c2.world(p, ag)
        r = v2.post(w2.path + "/sessions", ag.token, {"ttl_s": 60})
        expect(t, r, 201, name="--session-max-ttl 60: ttl_s 60")
        w3 = c2.world(p, ag)
        r = v2.post(w3.path + "/sessions", ag.token, {"ttl_s": 1800})
        expect(t, r, 400, IF, "--session-max-ttl 60: ttl_s 1800")


def subjects(v, c, st):
    tok = st["cust"].token
    expect(t, v.post("/v1/tickets", tok, {"subject": ""}), 400, IF, "empty subject")
    expect(t, v.post("/v1/tickets", tok, {"subject": "s" * 201}), 400, IF, "subject of 201 chars")
    expect(t, v.post("/v1/tickets", tok, {"subject": "ü" * 201}), 400, IF,
           "subject of 201 two-byte chars")
    expect(t, v.post("/v1/tickets", tok, {}), 400, IF, "subject missing")
    expect(t, v.post("/v1/tickets", tok, {"subject": 42}), 400, IF, "subject not a string")
    expect(t, v.post("/v1/tickets", tok, {"subject": "s" * 200}), 201, name="subject of 200 chars")
    r = v.post("/v1/tickets", tok, {"subject": "ü" * 200})
    expect(t, r, 201, name="subject of 200 two-byte chars")
    t.eq((r.json or {}).get("subject"), "ü" * 200, "multi-byte subject intact")
    r = v.post("/v1/tickets", tok, {"subject": "\U0001F511" * 200})
    expect(t, r, 201, name="subject of 200 four-byte chars")
    for bad, what in (("a\tb", "a tab"), ("a\x85b", "a C1 control"),
                      ("a\u202eb", "a right-to-left override"), ("a\u2066b", "a bidi isolate"),
                      ("a\x7fb", "DEL")):
        expect(t, v.post("/v1/tickets", tok, {"subject": bad}), 400, IF,
               "subject holding %s" % what)
    r = v.post("/v1/tickets/%s/credentials" % st["w"].tid, tok,
               cred_body(label="l\u202eabc"))
    expect(t, r, 400, IF, "label holding a right-to-left override")
    r = v.post("/v1/tickets/%s/credentials" % st["w"].tid, tok,
               cred_body(secret="line1\nline2\u202e\x85"))
    expect(t, r, 201, name="a secret may hold any character")


def msg_names(r, field):
    m = ((r.json or {}).get("error") or {}).get("message") or ""
    return ('"%s"' % field) in m


# One code point of each class that displayed text refuses (issue 9 item 9),
# each accepted by the old filter (C0, C1, DEL and the bidi overrides and
# isolates only).
REFUSED = [
    ("\u200b", "U+200B zero width space (Cf)"),
    ("\u200c", "U+200C zero width non-joiner (Cf)"),
    ("\u200d", "U+200D zero width joiner (Cf)"),
    ("\u200e", "U+200E left-to-right mark (Cf)"),
    ("\u200f", "U+200F right-to-left mark (Cf)"),
    ("\u061c", "U+061C Arabic letter mark (Cf)"),
    ("\u2028", "U+2028 line separator (Zl)"),
    ("\u2029", "U+2029 paragraph separator (Zp)"),
    ("\ufeff", "U+FEFF byte order mark (Cf)"),
    ("\u00ad", "U+00AD soft hyphen (Cf)"),
    ("\u2060", "U+2060 word joiner (Cf)"),
    ("\u2064", "U+2064 invisible plus (Cf)"),
    ("\ufff9", "U+FFF9 interlinear annotation anchor (Cf)"),
    ("\U000e0001", "U+E0001 language tag (Cf)"),
    ("\U000e0041", "U+E0041 tag latin capital A (Cf)"),
    ("\U000e007f", "U+E007F cancel tag (Cf)"),
    ("\U000e0000", "U+E0000 (Tags block, unassigned)"),
]


def display_text(v, c, st):
    w, tok = st["w"], st["cust"].token
    up = lambda **kw: v.post(w.path + "/credentials", tok, cred_body(**kw))  # noqa: E731
    for ch, what in REFUSED:
        r = up(label="lab" + ch + "el")
        expect(t, r, 400, IF, "label holding %s" % what)
        t.ok(msg_names(r, "label"), "the message names the field \"label\" (%s)" % what)
    for ch, what in (("\u200b", "U+200B"), ("\u2028", "U+2028"), ("\ufeff", "U+FEFF"),
                     ("\U000e0041", "U+E0041")):
        r = v.post("/v1/tickets", tok, {"subject": "sub" + ch + "ject"})
        expect(t, r, 400, IF, "subject holding %s" % what)
        t.ok(msg_names(r, "subject"), "the message names the field \"subject\" (%s)" % what)
        r = v.post("/v1/tickets", tok, {"subject": "s", "ref": "R" + ch + "1"})
        expect(t, r, 400, IF, "ref holding %s" % what)
        t.ok(msg_names(r, "ref"), "the message names the field \"ref\" (%s)" % what)
        r = up(username="Admin" + ch)
        expect(t, r, 400, IF, "username holding %s" % what)
        t.ok(msg_names(r, "username"), "the message names the field \"username\" (%s)" % what)
    # notes: text on several lines; tab, LF and CR-LF pass, the rest does not
    for ch, what in (("\x1b", "ESC (Cc)"), ("\x07", "BEL (Cc)"), ("\x85", "NEL (C1)"),
                     ("\r", "a lone CR"), ("\u202e", "a right-to-left override"),
                     ("\u200b", "U+200B"), ("\u2029", "U+2029"),
                     ("\U000e0041", "U+E0041")):
        r = up(notes="first line\n" + ch + "second")
        expect(t, r, 400, IF, "notes holding %s" % what)
        t.ok(msg_names(r, "notes"), "the message names the field \"notes\" (%s)" % what)
    # accepted
    r = up(notes="line one\nline two\twith a tab\r\nline three (CR-LF)")
    expect(t, r, 201, name="notes with LF, tab and CR-LF")
    for text, what in (("\U0001F511 key", "an emoji"), ("密码 服务器", "CJK"),
                       ("café", "e + combining acute (Mn)"), ("\u2764\ufe0f love",
                                                              "variation selector (Mn)"),
                       ("a\u00a0b", "no-break space (Zs)"), ("שרת ראשי", "Hebrew letters"),
                       ("\U0001F468\U0001F469\U0001F467", "emoji written without joiners")):
        expect(t, up(label=text), 201, name="label with %s" % what)
    expect(t, up(secret="s\u200b\u2028\ufeff\U000e0041\x1b"), 201,
           name="a secret may still hold any of them")


def hosts(v, c, st):
    w, tok = st["w"], st["cust"].token
    up = lambda h: v.post(w.path + "/credentials", tok, cred_body(host=h))  # noqa: E731
    bad = [
        ("ws 17.example", "a space"),
        ("123 456 789", "a Remote Utilities ID with spaces"),
        ("exa_mple.com", "an underscore"),
        ("a..example", "an empty label"),
        (".example", "a leading dot"),
        ("example.", "a trailing dot"),
        ("-ws.example", "a label starting with a hyphen"),
        ("ws-.example", "a label ending with a hyphen"),
        ("a" * 64 + ".example", "a label of 64 characters"),
        (".".join(["a" * 63] * 4), "a name of 255 characters"),
        ("exämple.com", "a non-ASCII name (use the xn-- form)"),
        ("https://portal.example", "a URL"),
        ("portal.example/admin", "a path"),
        ("user@host.example", "a user part"),
        ("1.2.3.256", "an IPv4 octet over 255"),
        ("01.2.3.4", "an IPv4 octet with a leading zero"),
        ("1.2.3", "three IPv4 octets"),
        ("1.2.3.4.5", "five IPv4 octets"),
        ("host.example:0", "port 0"),
        ("host.example:65536", "port 65536"),
        ("host.example:", "an empty port"),
        ("host.example:022", "a port with a leading zero"),
        ("host.example:ssh", "a port name"),
        ("1:2:3:4:5:6:7:8:9", "nine IPv6 groups"),
        ("fe80::1%eth0", "an IPv6 zone"),
        ("[::1", "an unclosed bracket"),
        ("[::1]x", "junk after the bracket"),
        ("[::1]:", "an empty port after brackets"),
        ("[host.example]:22", "a name in brackets"),
        ("[10.0.0.1]", "IPv4 in brackets"),
        ("host\u200b.example", "U+200B"),
    ]
    for h, what in bad:
        r = up(h)
        expect(t, r, 400, IF, "host with %s (%r)" % (what, h))
        t.ok(msg_names(r, "host"), "the message names the field \"host\" (%s)" % what)
    good = ["ws-17.corp.example", "localhost", "WS17", "123-456-789", "123456789",
            "10.0.0.1", "10.0.0.1:3389", "server.example.com:22", "host.example:65535",
            "xn--exmple-cua.com", "::1", "2001:db8::1", "::ffff:10.0.0.1",
            "[2001:db8::1]:3389", "[::1]", "a" * 63 + ".example",
            ".".join(["a" * 63] * 3 + ["a" * 61])]
    for h in good:
        r = up(h)
        expect(t, r, 201, name="host %r accepted" % (h if len(h) < 40 else h[:20] + "...(%d)" % len(h)))
    st["host_cid"] = c.cred(w, host="[2001:db8::1]:3389")


def accounts(v, c, st):
    def mk(id, role="customer", email=None):
        body = {"id": id, "role": role, "email": email or "acct@example.test"}
        return v.post("/v1/accounts", v.admin, {k: x for k, x in body.items() if x is not DROP})
    for bad in ("Bad", "-x", "a" * 65, "", ".x", "_x", "a b", "a/b", "ä", "x@y"):
        expect(t, mk(bad), 400, IF, "account id %r" % bad)
    expect(t, mk(7), 400, IF, "account id not a string")
    expect(t, mk("a" * 64), 201, name="account id of 64 characters")
    expect(t, mk("0"), 201, name="account id of one digit")
    expect(t, mk("a.b_c-9"), 201, name="account id with . _ -")
    for bad in ("root", "Admin", "", "customers"):
        expect(t, mk(uid("r"), role=bad), 400, IF, "role %r" % bad)
    expect(t, mk(uid("r"), role=DROP), 400, IF, "role missing")
    expect(t, mk(uid("r"), email=DROP), 400, IF, "email missing")
    for role in ("customer", "reseller", "agent", "auditor", "admin"):
        expect(t, mk(uid("r"), role=role), 201, name="role %s accepted" % role)
    expect(t, mk("a" * 64), 409, "conflict", "duplicate account id")
    expect(t, mk("admin", role="customer"), 409, "conflict", "an account named admin exists")


def licenses(v, c, st):
    def lic(**kw):
        b = {"key": uid("VL-"), "type": "pro", "email": "lic@example.test"}
        b.update(kw)
        return v.post("/v1/licenses", v.admin, {k: x for k, x in b.items() if x is not DROP})
    for bad in ("enterprise", "Pro", "", "free "):
        expect(t, lic(type=bad), 400, IF, "license type %r" % bad)
    expect(t, lic(type=DROP), 400, IF, "license type missing")
    for lt in ("site", "pro", "plus", "starter", "free", "trial"):
        expect(t, lic(type=lt), 201, name="license type %s accepted" % lt)
    for bad in ("tomorrow", "2030-01-01", "2030-01-01T00:00:00", "2030-13-01T00:00:00Z",
                "2030-01-32T00:00:00Z", "2030-01-01T25:00:00Z", "2030-02-30T00:00:00Z",
                "2030-02-29T00:00:00Z", "2030-01-01T00:00:00Zjunk", " 2030-01-01T00:00:00Z",
                "01/02/2030", 1893456000):
        expect(t, lic(valid_until=bad), 400, IF, "valid_until %r" % (bad,))
    r = lic(valid_until="2030-01-01T00:00:00Z")
    expect(t, r, 201, name="valid_until 2030-01-01T00:00:00Z")
    t.eq(parse_time(r.json["valid_until"]), parse_time("2030-01-01T00:00:00Z"),
         "valid_until read back as the same instant")
    r = lic(valid_until="2030-01-01T02:00:00.250+02:00")
    expect(t, r, 201, name="valid_until with fraction and offset")
    t.eq(parse_time(r.json["valid_until"]), parse_time("2030-01-01T00:00:00.250Z"),
         "an offset time is the same instant in UTC")
    t.ok(r.json["valid_until"].endswith("Z"), "times come back in UTC (Z)")
    key = uid("DUP-")
    expect(t, lic(key=key), 201, name="license created")
    expect(t, lic(key=key), 409, "conflict", "duplicate license key")
    expect(t, lic(key=key, type="site", email="other@example.test"), 409, "conflict",
           "duplicate license key with other fields")
    r = v.get("/v1/licenses/" + key, v.admin)
    t.eq((r.json or {}).get("type"), "pro", "the duplicate changed nothing")


def json_rules(v, c, st):
    tok = st["cust"].token
    raw = lambda b, **kw: v.request("POST", "/v1/tickets", token=tok, raw=b, **kw)  # noqa: E731
    expect(t, raw(b'{"subject":"a","subject":"b"}'), 400, IJ, "duplicate JSON keys")
    expect(t, raw(b'{"subject":"\xff\xfe bad"}'), 400, IJ, "invalid UTF-8 in a string")
    expect(t, raw(b'{"subject":"\xc0\xaf overlong"}'), 400, IJ, "overlong UTF-8")
    expect(t, raw(b'{"subject":"\xed\xa0\x80 surrogate"}'), 400, IJ, "UTF-8-encoded surrogate")
    r = raw(b'{"subject":"nul \\u0000 inside"}')
    t.ok(r.status == 400 and r.code in (IJ, IF), "\\u0000 in a string -> 400 (%d %s)" % (r.status, r.code))
    r = raw(b'{"subject":"lone \\ud800 surrogate"}')
    t.ok(r.status == 400 and r.code in (IJ, IF), "lone surrogate escape -> 400 (%d %s)" % (r.status, r.code))
    expect(t, raw(b'{"subject":"a"} trailing'), 400, IJ, "trailing garbage")
    expect(t, raw(b'{"subject":"a"}{"subject":"b"}'), 400, IJ, "two JSON values")
    expect(t, raw(b'{"subject":"a"'), 400, IJ, "truncated JSON")
    expect(t, raw(b"{'subject':'a'}"), 400, IJ, "single quotes")
    for body, what in ((b'["subject"]', "an array"), (b'"subject"', "a string"),
                       (b"42", "a number"), (b"null", "null"), (b"true", "true")):
        expect(t, raw(body), 400, IJ, "body is %s, not an object" % what)
    r = raw(b'{"subject":"s"}' + b" " * (65536 - 15))
    expect(t, r, 201, name="body of exactly 64 KiB (JSON padded with spaces)")
    r = raw(b'{"subject":"s"}' + b" " * (65537 - 15))
    expect(t, r, 413, "payload_too_large", "body of 64 KiB + 1 byte")
    r = raw(b'{"subject":"' + b"s" * (1024 * 1024) + b'"}')
    expect(t, r, 413, "payload_too_large", "body of 1 MiB is answered with 413")
    try:
        r = raw(b'{"subject":"' + b"s" * (9 * 1024 * 1024) + b'"}')
        expect(t, r, 413, "payload_too_large", "body of 9 MiB is answered with 413")
    except (OSError, Exception) as e:  # noqa: B014
        t.ok(False, "body of 9 MiB is answered with 413 (not a closed connection)")
        t.diag("got: %r" % (e,))
    r = chunked(v, "/v1/tickets", tok, [b'{"subject":"'] + [b"s" * 1024] * 80 + [b'"}'])
    expect(t, r, 413, "payload_too_large", "chunked body of 80 KiB (no Content-Length)")
    r = chunked(v, "/v1/tickets", tok, [b'{"subject":', b'"chunked"}'])
    expect(t, r, 201, name="small chunked body")
    r = raw(b'{"subject":"a"}', ctype="text/plain")
    expect(t, r, 415, "unsupported_media_type", "Content-Type text/plain with a body")
    r = raw(b'{"subject":"a"}', ctype="application/x-www-form-urlencoded")
    expect(t, r, 415, "unsupported_media_type", "form Content-Type with a body")
    r = raw(b'{"subject":"a"}', ctype=None)
    expect(t, r, 415, "unsupported_media_type", "no Content-Type with a body")
    r = raw(b'{"subject":"ct charset"}', ctype="application/json; charset=utf-8")
    expect(t, r, 201, name="application/json; charset=utf-8 accepted")
    # no-body routes
    w = c.world(st["cust"], st["agent"])
    r = v.request("POST", w.path + "/close", token=tok, ctype=None)
    expect(t, r, 200, name="POST close with no body and no Content-Type")
    r = v.request("POST", "/v1/accounts/%s/tokens" % st["cust"].id, token=v.admin, ctype=None)
    expect(t, r, 201, name="POST tokens with no body and no Content-Type")
    st["cust"].token = r.json["token"] if r.status == 201 else st["cust"].token
    w = c.world(st["cust"], st["agent"])
    r = v.request("POST", w.path + "/sessions", token=st["agent"].token, ctype=None)
    expect(t, r, 201, name="POST sessions (optional body) with no body")


def chunked(v, path, tok, parts):
    from rsvtest import Response
    conn = v.conn()
    try:
        conn.request("POST", path, body=iter(parts), encode_chunked=True,
                     headers={"Authorization": "Bearer " + tok,
                              "Content-Type": "application/json",
                              "Transfer-Encoding": "chunked"})
        r = conn.getresponse()
        out = Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()
    ALL.append(out)
    return out


def auth_headers(v, c, st):
    for hdr, what in (("Basic YWRtaW46YWRtaW4=", "Basic credentials"),
                      ("Bearer ", "an empty bearer token"),
                      ("Bearer " + "A" * 300, "an over-long token")):
        r = v.request("GET", "/v1/me", headers={"Authorization": hdr})
        expect(t, r, 401, "unauthenticated", "Authorization with %s" % what)


def paths(v, c, st):
    tok, w = st["cust"].token, st["w"]
    expect(t, v.get("/v1/m%65", tok), 400, "bad_request", "% in the path (/v1/m%65)")
    expect(t, v.get("/v1/tickets/%2e%2e", tok), 400, "bad_request", "% in the path (%2e%2e)")
    expect(t, v.get(w.path.replace("/tickets/", "/tickets%2f"), tok), 400, "bad_request",
           "encoded slash in the path")
    expect(t, v.get("/v1/tickets/" + w.tid + "%00", tok), 400, "bad_request", "%00 in the path")
    for path in ("/v1/nothing", "/v2/me", "/nothing", "/v1/tickets/%s/bogus" % w.tid, "/v1/me/",
                 "/v1//me", "/v1/tickets/short-id", "/V1/ME"):
        r = v.get(path, tok)
        expect(t, r, 404, "not_found", "unknown route GET %s (JSON error)" % path)
        t.eq(r.header("Content-Type"), "application/json", "404 body is JSON (%s)" % path)
    for method, path, allowed in (("DELETE", "/v1/me", {"GET"}),
                                  ("PUT", "/v1/tickets", {"GET", "POST"}),
                                  ("DELETE", "/v1/accounts", {"GET", "POST"}),
                                  ("POST", "/v1/health", {"GET"}),
                                  ("PATCH", w.path, {"GET"}),
                                  ("GET", "/v1/accounts/%s/tokens" % st["cust"].id,
                                   {"POST", "DELETE"}),
                                  ("GET", w.path + "/close", {"POST"})):
        r = v.request(method, path, token=tok)
        expect(t, r, 405, "method_not_allowed", "%s %s" % (method, path))
        allow = {m.strip() for m in (r.header("Allow") or "").split(",") if m.strip()}
        t.eq(allow, allowed, "%s %s: Allow header lists %s" % (method, path, sorted(allowed)))
        t.eq(r.header("Content-Type"), "application/json", "405 body is JSON (%s %s)" % (method, path))


def other_fields(v, c, st):
    w = c.world(st["cust"], None)
    r = v.post(w.path + "/assign", v.admin, {"agent": st["cust"].id})
    t.ok(400 <= r.status < 500 and r.code in (IF, "not_found", "conflict", "bad_request"),
         "assigning a customer as agent is refused with a 4xx (%d %s)" % (r.status, r.code))
    r = v.post(w.path + "/assign", v.admin, {"agent": "no-such-agent"})
    t.ok(400 <= r.status < 500, "assigning an unknown agent is refused with a 4xx (%d %s)"
         % (r.status, r.code))
    expect(t, v.post(w.path + "/assign", v.admin, {}), 400, IF, "assign without agent")
    t.eq(v.get(w.path, v.admin).json["agent"], None, "the refused assignments changed nothing")
    expect(t, v.post("/v1/me/license", st["cust"].token, {}), 400, IF, "bind without key")
    expect(t, v.post("/v1/me/license", st["cust"].token, {"key": 5}), 400, IF, "bind key not a string")


def headers_and_health(v, c, st):
    missing_rid = [r for r in ALL if not r.header("X-Request-Id")]
    bad_cc = [r for r in ALL if (r.header("Cache-Control") or "").lower() != "no-store"]
    t.ok(not missing_rid, "every one of %d responses has X-Request-Id" % len(ALL))
    if missing_rid:
        t.diag(repr(missing_rid[:3]))
    t.ok(not bad_cc, "every one of %d responses has Cache-Control: no-store" % len(ALL))
    if bad_cc:
        t.diag(repr([(r.status, r.header("Cache-Control")) for r in bad_cc[:5]]))
    rids = [r.header("X-Request-Id") for r in ALL if r.header("X-Request-Id")]
    t.eq(len(set(rids)), len(rids), "X-Request-Id values are unique")
    errs = [r for r in ALL if r.status >= 400 and not (
        isinstance(r.json, dict) and isinstance(r.json.get("error"), dict)
        and isinstance(r.json["error"].get("code"), str)
        and isinstance(r.json["error"].get("message"), str))]
    t.ok(not errs, "every error response is {\"error\": {\"code\", \"message\"}}")
    if errs:
        t.diag(repr(errs[:3]))
    r = v.get("/v1/health")
    expect(t, r, 200, name="health after all of that")
    t.eq(((r.json or {}).get("status"), isinstance((r.json or {}).get("version"), str)),
         ("ok", True), "health body: status ok and a version")
    w = st["w"]
    r = v.get(w.path, st["cust"].token)
    t.eq(((r.json or {}).get("subject"), (r.json or {}).get("status")), ("validation base", "open"),
         "the first ticket is intact")
    c.session(w)
    r = c.read_secret(w)
    expect(t, r, 200, name="the first credential still reads")
    t.eq((r.json or {}).get("secret"), st["secret"], "its secret is intact")
    if st.get("host_cid"):
        r = c.read_secret(w, cid=st["host_cid"])
        t.eq((r.json or {}).get("host"), "[2001:db8::1]:3389", "a host comes back as it was given")
    if st.get("big_cid"):
        r = c.read_secret(w, cid=st["big_cid"])
        t.eq((r.json or {}).get("secret"), "s" * 8192, "the 8192-byte secret reads back whole")


def unicode_table():
    """vault/unicode_display.h is what tools/gen_display_table.py makes from
    this Python's unicodedata (when it has the same Unicode version)."""
    import subprocess
    import unicodedata
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    hdr = os.path.join(root, "vault", "unicode_display.h")
    with open(hdr, encoding="utf-8") as f:
        ver = [ln.split('"')[1] for ln in f if "UNICODE_DISPLAY_VERSION" in ln and '"' in ln]
    if ver != [unicodedata.unidata_version]:
        t.ok(True, "# SKIP the table is Unicode %s, this Python has %s"
             % (ver, unicodedata.unidata_version))
        return
    r = subprocess.run([sys.executable, os.path.join(root, "tools", "gen_display_table.py"),
                        "--check", hdr], timeout=120)
    t.eq(r.returncode, 0, "vault/unicode_display.h matches tools/gen_display_table.py (Unicode %s)"
         % ver[0])


guarded(t, "unicode table", unicode_table)
with Vault(keepalive=True) as v:
    record(v)
    c = Core(v)
    st = {}
    st["cust"] = c.customer("pro")
    st["agent"] = c.agent()
    st["secret"] = "base-secret-" + uid("s")
    st["w"] = c.ticket(st["cust"], subject="validation base")
    c.cred(st["w"], secret=st["secret"])
    c.assign(st["w"], st["agent"])
    for name, fn in (("unknown fields", unknown_fields), ("labels, secrets, kinds", labels_secrets_kinds),
                     ("credential ttl", cred_ttls), ("session ttl", session_ttls),
                     ("subjects", subjects), ("display text", display_text), ("hosts", hosts),
                     ("accounts", accounts), ("licenses", licenses),
                     ("JSON rules", json_rules), ("paths", paths),
                     ("auth headers", auth_headers), ("other fields", other_fields)):
        guarded(t, name, fn, v, c, st)
    guarded(t, "session max ttl", session_max_ttl)
    guarded(t, "headers and health", headers_and_health, v, c, st)
t.done()

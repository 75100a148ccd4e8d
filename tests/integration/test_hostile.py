#!/usr/bin/env python3
"""Hostile clients: garbage over TLS, malformed and oversized requests,
idle connections. The server must keep serving and lose nothing."""
import json
import os
import random
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault  # noqa: E402

t = TAP()
rnd = random.Random(1234)  # fixed seed: the same hostile inputs every run


def complete(out):
    """True once out holds a whole HTTP response (headers + Content-Length)."""
    head, sep, body = out.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        k, _, val = line.partition(b":")
        if k.strip().lower() == b"content-length":
            try:
                return len(body) >= int(val.strip())
            except ValueError:
                return True
    return True


def raw(v, data):
    """Send raw bytes over a fresh TLS connection; return the first answer
    (or b"" when the server closes without one)."""
    ctx = ssl.create_default_context(cafile=v.ca)
    with socket.create_connection(("127.0.0.1", v.port), timeout=1.5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as tls:
            out = b""
            try:
                tls.sendall(data)
                while len(out) < 1 << 20 and not complete(out):
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            except (ssl.SSLError, OSError, socket.timeout):
                pass
            return out


with Vault() as v:
    A = v.admin
    r = v.post("/v1/accounts", A, {"id": "keep", "role": "reseller", "email": "k@example.com"})
    K = r.json["token"]
    tid = v.post("/v1/tickets", K, {"subject": "keep me"}).json["id"]
    cid = v.post("/v1/tickets/%s/credentials" % tid, K,
                 {"label": "x", "kind": "ssh", "secret": "keep-secret"}).json["id"]

    # malformed request lines and headers
    cases = [
        b"\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /v1/health HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"\xff" * 300 + b"\r\n\r\n",
        b"GET /v1/tickets/%00/x HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/tickets/" + b"A" * 22 + b"/credentials/" + b"B" * 22 +
        b"/secret HTTP/1.1\r\nHost: x\r\nX-Session-Id: ../../etc\r\n\r\n",
    ]
    answers = [raw(v, data) for data in cases]
    t.ok(all(a == b"" or a.startswith(b"HTTP/1.") for a in answers),
         "each malformed request is answered with HTTP or the connection is closed")
    t.eq(v.get("/v1/health").status, 200, "still serving after %d malformed requests" % len(cases))

    # request methods that are not RFC 9110 tokens (libmicrohttpd passes on
    # any bytes but space, CR and LF): 400 bad_request with the usual JSON
    # body and headers, and the method never reaches the log as sent
    bad_methods = [b"GE\x1b[2J\x1b[31mT", b"A\rB", b"\x1b]0;pwn\x07", b"\x1b[1A\x1b[2K",
                   b"X\x08\x08\x08\x08OK", b"\xc3\xa9\x7fM", b"GET\x0bX", b"\xc2\x9b" b"31m",
                   b"G(E)T", b"GE\\T"]
    rids = []
    for m in bad_methods:
        a = raw(v, m + b" /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = a.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        hdrs = {k.strip().lower(): val.strip() for k, _, val in
                (ln.partition(b":") for ln in lines[1:])}
        try:
            code = json.loads(body)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        t.ok(lines[0].startswith(b"HTTP/1.1 400 ") and code == "bad_request" and
             hdrs.get(b"content-type") == b"application/json" and
             hdrs.get(b"cache-control") == b"no-store" and len(hdrs.get(b"x-request-id", b"")) == 32,
             "method %r: 400 bad_request with JSON body, no-store and X-Request-Id (%r)" %
             (m, lines[0]))
        rids.append(hdrs.get(b"x-request-id", b"?").decode("ascii", "replace"))
    # tokens that are no method of ours still get 405 (not 400)
    for m in (b"BREW", b"get", b"M-SEARCH", b"X!#$%&'*+.^_`|~1"):
        a = raw(v, m + b" /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        t.ok(a.startswith(b"HTTP/1.1 405 "), "method %r (a token): 405 (%r)" % (m, a[:30]))
    # a page route with a bad method is refused the same way
    a = raw(v, b"G\x1bET /u/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    t.ok(a.startswith(b"HTTP/1.1 400 "), "a page path with a bad method: 400 (%r)" % a[:30])
    time.sleep(0.3)
    with open(v.log_path, "rb") as f:
        log_lines = f.read().split(b"\n")
    for rid in rids:
        mine = [ln for ln in log_lines if b" rid=" + rid.encode() in ln]
        t.ok(len(mine) == 1 and b"rsvaultd: - - 400 " in mine[0],
             "the refused method is logged as '-': %r" % mine)

    # random bytes, random methods, paths and bodies
    methods = [b"GET", b"POST", b"DELETE", b"PUT", b"PATCH", b"OPTIONS", b"\x00\x01"]
    paths = [b"/v1/tickets", b"/v1/accounts", b"/v1/me/license", b"/v1/audit?limit=",
             b"/v1/tickets/" + tid.encode() + b"/credentials", b"/v1/sessions/" + b"Z" * 22]
    for i in range(60):
        kind = rnd.randrange(3)
        if kind == 0:
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 2000)))
        else:
            body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 300)))
            if kind == 2:
                body = b'{"subject":"' + body.replace(b'"', b"") + b'"}'
            data = (rnd.choice(methods) + b" " + rnd.choice(paths) + b" HTTP/1.1\r\nHost: x\r\n"
                    b"Authorization: Bearer " + K.encode() + b"\r\n"
                    b"Content-Type: application/json\r\nContent-Length: " +
                    str(len(body)).encode() + b"\r\n\r\n" + body)
        raw(v, data)
    t.eq(v.get("/v1/health").status, 200, "still serving after 60 random requests")

    # idle connections that never send a request do not block others (they
    # come from another address: one address alone is held to its own
    # connection limit, see test_limits.py)
    idle = []
    for _ in range(40):
        s = socket.create_connection(("127.0.0.1", v.port), timeout=10,
                                     source_address=("127.0.0.2", 0))
        idle.append(s)
    r = v.get("/v1/me", K)
    t.eq(r.status, 200, "serves while 40 connections from another address sit idle")
    for s in idle:
        s.close()

    # nothing was lost and nothing was created by the garbage
    r = v.get("/v1/tickets", K)
    subjects = sorted(x["subject"] for x in r.json["tickets"])
    t.ok("keep me" in subjects, "the real ticket is intact")
    sid = None
    r = v.post("/v1/accounts", A, {"id": "ag", "role": "agent", "email": "ag@example.com"})
    AG = r.json["token"]
    v.post("/v1/tickets/%s/assign" % tid, A, {"agent": "ag"})
    sid = v.post("/v1/tickets/%s/sessions" % tid, AG).json["id"]
    r = v.get("/v1/tickets/%s/credentials/%s/secret" % (tid, cid), AG,
              headers={"X-Session-Id": sid})
    t.eq((r.json or {}).get("secret"), "keep-secret", "the stored secret still reads back")
    ok = v.get("/v1/health")
    t.eq(ok.status, 200, "health at the end")

    # after all of the above (bad methods, random bytes), the log holds no
    # terminal control: no byte below 0x20 but the newlines, no DEL, valid
    # UTF-8 without C1 controls
    with open(v.log_path, "rb") as f:
        log = f.read()
    bad = sorted({b for b in log if (b < 0x20 and b != 0x0a) or b == 0x7f})
    t.ok(not bad and b"\x1b" not in log, "no control byte in the log (found %r)" % bad)
    try:
        text = log.decode("utf-8")
        c1 = [c for c in text if 0x80 <= ord(c) <= 0x9f]
    except UnicodeDecodeError as e:
        text, c1 = None, str(e)
    t.ok(text is not None and not c1, "the log is valid UTF-8 without C1 controls (%r)" % (c1,))
t.done()

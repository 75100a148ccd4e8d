#!/usr/bin/env python3
"""Hostile clients: garbage over TLS, malformed and oversized requests,
idle connections. The server must keep serving and lose nothing."""
import os
import random
import socket
import ssl
import sys

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
t.done()

#!/usr/bin/env python3
"""Front-end limits against hostile clients, over raw TLS sockets:

- oversized bodies: a declared Content-Length over 64 KiB is answered 413 at
  once (no "100 Continue", no waiting for a body that never comes); a body
  that is really sent, declared or chunked, ends in a 413 the client reads,
  never a reset;
- connection exhaustion: a limit per address (IPv4 address, IPv6 /64), a
  total limit, and deadlines for the TLS handshake, the request head and
  the body that trickling bytes cannot stretch.

Clients connect from 127.0.0.2..5 (all of 127.0.0.0/8 is loopback on
Linux) to act as several addresses."""
import os
import re
import resource
import select
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault  # noqa: E402

t = TAP()
MiB = 1024 * 1024


def tls_connect(v, src="127.0.0.1", timeout=10):
    ctx = ssl.create_default_context(cafile=v.ca)
    s = socket.create_connection(("127.0.0.1", v.port), timeout=timeout,
                                 source_address=(src, 0))
    return ctx.wrap_socket(s, server_hostname="localhost")


def parse_response(buf):
    """(status, headers dict, body) of the first complete final response in
    buf after any 1xx, or None while incomplete."""
    while True:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if not sep:
            return None
        lines = head.split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            return None
        status = int(m.group(1))
        if 100 <= status < 200:
            buf = rest
            continue
        hdrs = {}
        for line in lines[1:]:
            k, _, val = line.partition(b":")
            hdrs[k.strip().lower().decode()] = val.strip().decode("latin-1")
        n = int(hdrs.get("content-length", "0"))
        if len(rest) < n:
            return None
        return status, hdrs, rest[:n]


class Exchange:
    """Send a request head and a body (an iterable of byte chunks) while
    reading at the same time, as a careful HTTP client does; stop when a
    final response is complete or after `limit` seconds."""

    def __init__(self, v, head, body=(), limit=20.0):
        self.raw = b""
        self.sent = 0
        self.errors = []
        tls = tls_connect(v)
        tls.setblocking(False)
        t0 = time.time()
        pending, chunks, sending = head, iter(body), True
        self.response = None
        while time.time() - t0 < limit:
            if sending and not pending:
                pending = next(chunks, None)
                if pending is None:
                    sending, pending = False, b""
            select.select([tls], [tls] if pending else [], [], 0.05)
            try:
                while True:
                    data = tls.recv(65536)
                    if not data:
                        self.errors.append("eof")
                        break
                    self.raw += data
            except ssl.SSLWantReadError:
                pass
            except (OSError, ssl.SSLError) as e:
                self.errors.append("recv: %r" % e)
            self.response = parse_response(self.raw)
            if self.response is not None or (self.errors and not sending):
                break
            if self.errors and "eof" in self.errors[-1:]:
                break
            if pending:
                try:
                    n = tls.send(pending[:65536])
                    self.sent += n
                    pending = pending[n:]
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
                except (OSError, ssl.SSLError) as e:
                    # the server may stop reading once it answered: keep
                    # reading its answer
                    self.errors.append("send: %r" % e)
                    sending, pending = False, b""
        self.seconds = time.time() - t0
        tls.close()

    @property
    def status(self):
        return self.response[0] if self.response else None

    @property
    def code(self):
        if not self.response:
            return None
        import json
        try:
            return json.loads(self.response[2])["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None


def chunked(total, size=16384):
    n = 0
    block = b"y" * size
    while n < total:
        k = min(size, total - n)
        yield b"%x\r\n" % k + block[:k] + b"\r\n"
        n += k
    yield b"0\r\n\r\n"


def pieces(total, size=65536):
    block = b"x" * size
    for off in range(0, total, size):
        yield block[:min(size, total - off)]


def closed_by_server(s, wait):
    """True if the server ended the connection within `wait` seconds."""
    end = time.time() + wait
    while time.time() < end:
        r, _, _ = select.select([s], [], [], max(0.0, end - time.time()))
        if r:
            try:
                return s.recv(4096) == b""
            except (ConnectionResetError, ssl.SSLError, OSError):
                return True
    return False


def open_count(socks, settle=0.6):
    """How many of socks the server has not closed (after settle seconds)."""
    time.sleep(settle)
    r, _, _ = select.select(socks, [], [], 0)
    still = 0
    for s in socks:
        if s not in r:
            still += 1
            continue
        try:
            if s.recv(1, socket.MSG_PEEK) != b"":
                still += 1
        except OSError:
            pass
    return still


def tcp_from(v, src):
    return socket.create_connection(("127.0.0.1", v.port), timeout=10,
                                    source_address=(src, 0))


def timed_health(v, src="127.0.0.1", timeout=3):
    """(status or error text, seconds) of GET /v1/health from src."""
    t0 = time.time()
    try:
        tls = tls_connect(v, src, timeout=timeout)
        tls.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = b""
        while parse_response(buf) is None:
            data = tls.recv(4096)
            if not data:
                break
            buf += data
        tls.close()
        r = parse_response(buf)
        return (r[0] if r else "no answer"), time.time() - t0
    except (OSError, ssl.SSLError) as e:
        return repr(e), time.time() - t0


# === 1. oversized bodies ======================================================
with Vault() as v:
    head = ("POST /v1/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\n" % v.admin).encode()

    for declared in (10**12, 100000):
        x = Exchange(v, head + b"Content-Length: %d\r\n\r\n{}" % declared, limit=5)
        t.eq((x.status, x.code), (413, "payload_too_large"),
             "declared Content-Length %d with a 2-byte body: 413 payload_too_large" % declared)
        t.ok(x.seconds < 2, "... answered at once (%.2f s), not at the idle timeout" % x.seconds)
        t.eq(x.response and x.response[1].get("connection"), "close",
             "... and the connection is closed after it (the body is not read)")

    for declared in (100000, 10**12):
        x = Exchange(v, head + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % declared,
                     limit=5)
        t.eq((x.status, x.code), (413, "payload_too_large"),
             "Expect: 100-continue with Content-Length %d: 413" % declared)
        t.ok(b"HTTP/1.1 100" not in x.raw, "... and no 100 Continue was sent (%r)" % x.raw[:40])
        t.ok(x.seconds < 2, "... at once (%.2f s)" % x.seconds)

    x = Exchange(v, head + b"Content-Length: %d\r\n\r\n" % (40 * MiB), pieces(40 * MiB))
    t.eq((x.status, x.code), (413, "payload_too_large"),
         "a 40 MiB body, really sent: the client reads 413 (%s)" % (x.errors[:2],))
    t.ok(x.status == 413 and x.sent < 40 * MiB,
         "... answered before the body was sent (%d of %d bytes sent)" % (x.sent, 40 * MiB))

    # a client that sends the whole body before it reads (http.client)
    for size in (3 * MiB, 40 * MiB):
        try:
            r = v.post("/v1/accounts", v.admin, raw=b"x" * size)
            got = (r.status, r.code)
        except OSError as e:
            got = repr(e)
        t.eq(got, (413, "payload_too_large"),
             "%d MiB sent in full before reading: 413, not a reset" % (size // MiB))

    x = Exchange(v, head + b"Transfer-Encoding: chunked\r\n\r\n", chunked(70 * 1024))
    t.eq((x.status, x.code), (413, "payload_too_large"), "chunked 70 KiB body: 413")
    x = Exchange(v, head + b"Transfer-Encoding: chunked\r\n\r\n", chunked(40 * MiB))
    t.eq((x.status, x.code), (413, "payload_too_large"),
         "chunked 40 MiB body: 413 (%s)" % (x.errors[:2],))
    x = Exchange(v, head + b"Transfer-Encoding: chunked\r\n\r\n", chunked(80 * MiB), limit=40)
    t.eq((x.status, x.code), (413, "payload_too_large"),
         "chunked 80 MiB body (past the discard bound): 413, then closed (%s)"
         % (x.errors[:2],))

    # the limit itself: 64 KiB is a body, one byte more is not
    pad = 65536 - len(b'{"id":"padded","role":"customer","email":"p@example.com","x":""}')
    body = b'{"id":"padded","role":"customer","email":"p@example.com","x":"' + b"a" * pad + b'"}'
    r = v.post("/v1/accounts", v.admin, raw=body)
    t.eq((len(body), r.status, r.code), (65536, 400, "invalid_field"),
         "a 65536-byte body is read and validated (400 for the unknown field), not 413")
    x = Exchange(v, head + b"Transfer-Encoding: chunked\r\n\r\n", chunked(65536 + 1))
    t.eq(x.status, 413, "a chunked body of 65537 bytes: 413")

    # request heads: libmicrohttpd keeps a head in its per-connection pool
    # (CONN_MEMORY_LIMIT in vault/http.c), with the answer's head after it.
    # The longest URI the router takes (4095 bytes) with a browser's headers
    # still gets its answer, a page's long security headers included; a
    # longer URI gets the router's JSON 400; a head past the pool gets 431.
    browser = (b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
               b"Gecko) Chrome/120.0.0.0 Safari/537.36\r\n"
               b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
               b"image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n"
               b"Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9,de;q=0.8\r\n"
               b"sec-ch-ua: \"Not_A Brand\";v=\"8\", \"Chromium\";v=\"120\"\r\n"
               b"sec-ch-ua-mobile: ?0\r\nsec-ch-ua-platform: \"Linux\"\r\n"
               b"Sec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Site: none\r\n"
               b"Sec-Fetch-User: ?1\r\nUpgrade-Insecure-Requests: 1\r\n"
               b"Authorization: Bearer rsv_" + b"C" * 43 + b"\r\nX-Session-Id: " + b"S" * 22 +
               b"\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\nHost: 127.0.0.1:8443\r\n")

    def one(uri, headers):
        tls = tls_connect(v)
        tls.sendall(b"GET " + uri + b" HTTP/1.1\r\n" + headers + b"\r\n")
        buf = b""
        while parse_response(buf) is None:
            data = tls.recv(65536)
            if not data:
                break
            buf += data
        tls.close()
        return parse_response(buf)

    page = one(b"/u/?x=" + b"a" * (4095 - 6), browser)
    if not t.ok(page is not None and page[0] == 200 and "content-security-policy" in page[1]
                and page[2].startswith(b"<!DOCTYPE html>"),
                "a page with a 4095-byte URI and %d bytes of browser headers: 200 with "
                "its security headers" % len(browser)):
        t.diag(repr(page and (page[0], page[2][:80])))
    api = one(b"/v1/tickets/" + b"a" * (4095 - 12), browser)
    t.eq(api and (api[0], b'"not_found"' in api[2]), (404, True),
         "an API route with a 4095-byte URI and browser headers: the router's JSON 404")
    api = one(b"/v1/tickets/" + b"a" * (4096 - 12), browser)
    t.eq(api and (api[0], b"URI too long" in api[2]), (400, True),
         "a 4096-byte URI: the router's JSON 400")
    big = one(b"/v1/health", b"Host: x\r\nX-Big: " + b"a" * 20000 + b"\r\n")
    t.eq(big and big[0], 431, "a 20 KB header: libmicrohttpd's 431, not a reset")

    # a chunked 413 leaves the connection usable; so do normal requests
    tls = tls_connect(v)
    tls.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(chunked(70 * 1024)))
    buf = b""
    while parse_response(buf) is None:
        data = tls.recv(65536)
        if not data:
            break
        buf += data
    first = parse_response(buf)
    tls.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while parse_response(buf) is None:
        data = tls.recv(65536)
        if not data:
            break
        buf += data
    second = parse_response(buf)
    tls.close()
    t.eq((first and first[0], second and second[0]), (413, 200),
         "after a chunked 413 the same connection serves the next request")
    t.eq(timed_health(v)[0], 200, "the server still answers after the oversized bodies")
    v.stop()
    log = v.logtext()
    m = re.search(r"connections: at most (\d+), (\d+) per address", log)
    t.ok(m is not None, "the server logs its connection limits")
    m2 = re.search(r"(\d+) closed with a lingering read", log)
    t.ok(m2 and int(m2.group(1)) >= 4,
         "answers sent before the body was read were closed with a lingering read (%s)"
         % (m2 and m2.group(0)))
    if m:
        total, per = int(m.group(1)), int(m.group(2))
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        cap = 2048 if hard == resource.RLIM_INFINITY else min(2048, hard - 128)
        t.ok(16 <= total <= cap, "total limit %d sized within the open-file limit (%s)"
             % (total, hard))
        t.eq(per, 32, "default per-address limit 32")

# === 2. connection exhaustion: many idle connections from four addresses =======
# The attack: 256 idle TCP connections from each of four addresses.
with Vault() as v:
    flood = []
    for a in range(2, 6):
        for _ in range(260):
            flood.append(tcp_from(v, "127.0.0.%d" % a))
    status, secs = timed_health(v)
    t.eq(status, 200, "health from 127.0.0.1 answers while 4 x 260 idle connections are open")
    t.ok(secs < 2, "... promptly (%.2f s)" % secs)
    held = open_count([s for s in flood if s.getsockname()[0] == "127.0.0.2"], settle=0.2)
    t.eq(held, 32, "the server keeps 32 connections from one address and closes the rest")
    for s in flood:
        s.close()

# === 3. deadlines (2 s in this test build, 10 s and 30 s by default) ============
with Vault(env={"RSVAULT_TEST_HEAD_MS": "2000", "RSVAULT_TEST_BODY_MS": "2000"}) as v:
    s = tcp_from(v, "127.0.0.4")
    t0 = time.time()
    cut = closed_by_server(s, 6)
    t.ok(cut and 1.5 < time.time() - t0 < 4,
         "a TCP connection that never starts TLS is closed at the deadline (%.1f s)"
         % (time.time() - t0))
    s.close()

    # a TLS handshake trickled one byte at a time
    ctx = ssl.create_default_context(cafile=v.ca)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    s = tcp_from(v, "127.0.0.4")
    t0, sent, cut = time.time(), 0, False
    while time.time() - t0 < 6 and sent < len(hello):
        try:
            s.send(hello[sent:sent + 1])
            sent += 1
        except OSError:
            cut = True
            break
        if closed_by_server(s, 0.3):
            cut = True
            break
    t.ok(cut and time.time() - t0 < 4,
         "a ClientHello trickled byte by byte is cut off at the deadline (%.1f s, %d bytes)"
         % (time.time() - t0, sent))
    s.close()

    def trickle(tls, data, every, limit):
        """Send data one byte per `every` s; returns seconds until the
        server cut the connection, or None."""
        t0 = time.time()
        tls.settimeout(every)
        for i in range(len(data)):
            if time.time() - t0 > limit:
                return None
            try:
                tls.send(data[i:i + 1])
                got = tls.recv(4096)
                if got == b"" or got.startswith(b"HTTP/"):
                    return time.time() - t0
            except socket.timeout:
                continue
            except (OSError, ssl.SSLError):
                return time.time() - t0
        return None

    tls = tls_connect(v, "127.0.0.4")
    req = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 40 + b"\r\n\r\n"
    secs = trickle(tls, req, 0.5, 6)
    t.ok(secs is not None and secs < 4,
         "a request head trickled one byte per 0.5 s is cut off at the deadline (%s s)"
         % (secs and round(secs, 1)))
    tls.close()

    tls = tls_connect(v, "127.0.0.4")
    tls.sendall(b"POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n")
    secs = trickle(tls, b"{" + b" " * 99, 0.5, 6)
    t.ok(secs is not None and secs < 4,
         "a body trickled one byte per 0.5 s is cut off at the deadline (%s s)"
         % (secs and round(secs, 1)))
    tls.close()

    # legitimate keep-alive clients are not affected
    c = v.conn()
    codes = []
    t0 = time.time()
    while time.time() - t0 < 5:
        codes.append(v.get("/v1/me", v.admin, conn=c).status)
        time.sleep(0.4)
    c.close()
    t.ok(len(codes) >= 8 and set(codes) == {200},
         "a keep-alive client making a request every 0.4 s for 5 s: all 200 (%d requests)"
         % len(codes))
    c = v.conn()
    r1 = v.post("/v1/accounts", v.admin, {"id": "ka", "role": "agent", "email": "ka@example.com"},
                conn=c)
    time.sleep(1.0)
    r2 = v.get("/v1/me", r1.json and r1.json["token"], conn=c)
    c.close()
    t.eq((r1.status, r2.status), (201, 200), "keep-alive with a body, then 1 s idle, then a request")
    tls = tls_connect(v)
    tls.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    t0 = time.time()
    buf = b""
    while parse_response(buf) is None:
        buf += tls.recv(4096)
    cut = closed_by_server(tls, 6)
    t.ok(cut and time.time() - t0 < 4,
         "a kept-alive connection with no next request is closed at the deadline (%.1f s)"
         % (time.time() - t0))
    tls.close()
    t.eq(timed_health(v)[0], 200, "still serving")
    v.stop()
    m = re.search(r"connections since start: (\d+) refused by a limit, (\d+) closed past a "
                  r"deadline", v.logtext())
    t.ok(m and int(m.group(2)) >= 5,
         "the server counted the connections it closed past a deadline (%s)"
         % (m and m.group(0)))


# --- a per-address limit set by the operator -------------------------------------
with Vault(extra_args=["--max-per-address", "8"]) as v:
    socks = [tcp_from(v, "127.0.0.2") for _ in range(20)]
    t.eq(open_count(socks), 8, "--max-per-address 8: 8 of 20 connections from 127.0.0.2 kept")
    status, _ = timed_health(v, "127.0.0.2")
    t.ok(status != 200, "a further request from 127.0.0.2 is refused (%s)" % (status,))
    status, secs = timed_health(v, "127.0.0.3")
    t.eq(status, 200, "another address is served meanwhile (%.2f s)" % secs)
    for s in socks:
        s.close()
    time.sleep(0.3)
    status, _ = timed_health(v, "127.0.0.2")
    t.eq(status, 200, "127.0.0.2 is served again once its connections are closed")
    v.stop()
    m = re.search(r"connections since start: (\d+) refused by a limit", v.logtext())
    t.ok(m and int(m.group(1)) >= 12, "the server counted the refusals (%s)"
         % (m and m.group(0)))


# --- the total limit ---------------------------------------------------------------
with Vault(extra_args=["--max-per-address", "8"], env={"RSVAULT_TEST_MAX_CONNS": "12"}) as v:
    a = [tcp_from(v, "127.0.0.2") for _ in range(8)]
    time.sleep(0.3)
    b = [tcp_from(v, "127.0.0.3") for _ in range(8)]
    t.eq((open_count(a), open_count(b, settle=0)), (8, 4),
         "a total limit of 12: 8 from one address, then only 4 more from another")
    for s in a + b:
        s.close()
    time.sleep(0.3)
    t.eq(timed_health(v)[0], 200, "served again once they are closed")

# --- the total limit follows the open-file limit --------------------------------
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard == resource.RLIM_INFINITY or hard > 600:
    resource.setrlimit(resource.RLIMIT_NOFILE, (600, 600))  # inherited by rsvaultd
with Vault() as v:
    m = re.search(r"connections: at most (\d+)", v.logtext())
    n = int(m.group(1)) if m else None
    t.ok(n is not None and 300 < n <= 600 - 128,
         "with 600 open files allowed, at most %s connections (room left for the rest)" % n)
t.done()

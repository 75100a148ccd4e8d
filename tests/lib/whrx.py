"""A loopback HTTPS webhook receiver for the tests (SPEC 8.3).

Receiver(dir) makes its own CA and server certificate with openssl (the CA
goes to rsvaultd with --webhook-ca) and listens on 127.0.0.1 on a port of
its own, answering in a thread. Every request is kept whole (method, path,
headers, raw bytes of the body, time) in .got. What each path answers is
set per path prefix with .mode[path]:

  "ok"           200
  "fail:N"       500 for the first N attempts of each delivery id, then 200
  "status:NNN"   that status, always
  "hang"         reads the request and never answers (until stop())
  "redirect"     302 to another path of this receiver
  "big:NNN:SIZE" that status with a body of SIZE bytes (the sender may
                 stop reading it)
  "trickle:NNN"  that status and headers announcing 1000 bytes, one byte of
                 body, then nothing more (until stop())
"""
import hashlib
import hmac
import http.server
import json
import os
import socketserver
import ssl
import subprocess
import threading
import time


def make_ca(d):
    """A CA and a server certificate for 127.0.0.1 and localhost, under d.
    Returns (ca.pem, server.pem, server.key)."""
    os.makedirs(d, exist_ok=True)
    ca_key, ca = os.path.join(d, "rxca.key"), os.path.join(d, "rxca.pem")
    key, csr, crt = (os.path.join(d, n) for n in ("rx.key", "rx.csr", "rx.pem"))
    ext = os.path.join(d, "rx.ext")

    def run(*a):
        subprocess.run(a, check=True, capture_output=True, timeout=60)

    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=rsvault test receiver CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return ca, crt, key


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Receiver:
    def __init__(self, d):
        self.ca, crt, key = make_ca(d)
        self.got = []            # dicts: path, headers, body (bytes), time, status
        self.raw = bytearray()   # every byte of every request, as received
        self.mode = {}           # path prefix -> mode
        self.attempts = {}       # delivery id -> attempts seen
        self.lock = threading.Lock()
        self.release = threading.Event()
        rx = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n > 0 else b""
                mode = rx.mode_of(self.path)
                did = self.headers.get("Rsvault-Delivery")
                with rx.lock:
                    rx.raw += self.requestline.encode() + b"\r\n" + bytes(self.headers) + body
                    rx.attempts[did] = rx.attempts.get(did, 0) + 1
                    k = rx.attempts[did]
                status = 200
                if mode.startswith("fail:") and k <= int(mode[5:]):
                    status = 500
                elif mode.startswith("status:"):
                    status = int(mode[7:])
                elif mode == "hang":
                    rx.record(self, body, None)
                    rx.release.wait(60)
                    self.close_connection = True
                    return
                elif mode == "redirect":
                    status = 302
                elif mode.startswith("trickle:"):
                    status = int(mode[8:])
                    rx.record(self, body, status)
                    self.send_response(status)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    try:
                        self.wfile.write(b"x")
                        self.wfile.flush()
                    except OSError:
                        pass
                    rx.release.wait(60)
                    self.close_connection = True
                    return
                elif mode.startswith("big:"):
                    status, size = (int(x) for x in mode[4:].split(":"))
                    rx.record(self, body, status)
                    self.send_response(status)
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    try:
                        for off in range(0, size, 8192):
                            self.wfile.write(b"x" * min(8192, size - off))
                        self.wfile.flush()
                    except OSError:  # the sender stopped reading
                        pass
                    self.close_connection = True
                    return
                rx.record(self, body, status)
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "/ok-after-redirect")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.srv = _Server(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def mode_of(self, path):
        best = ""
        for p in self.mode:
            if path.startswith(p) and len(p) > len(best):
                best = p
        return self.mode.get(best, "ok")

    def record(self, h, body, status):
        with self.lock:
            self.got.append({"path": h.path, "headers": {k.lower(): v for k, v in h.headers.items()},
                             "body": body, "time": time.time(), "status": status})

    def delivered(self, path=None):
        """Requests answered 2xx (optionally on one path), oldest first."""
        with self.lock:
            return [g for g in self.got if g["status"] is not None and 200 <= g["status"] < 300
                    and (path is None or g["path"] == path)]

    def wait(self, cond, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if cond():
                return True
            time.sleep(0.1)
        return cond()

    def stop(self):
        self.release.set()
        self.srv.shutdown()
        self.srv.server_close()


def check_signature(secret, headers, body, now=None, tolerance=300):
    """What a receiver does (docs/webhooks.md): Rsvault-Signature t=,v1= is
    HMAC-SHA256(secret, t + "." + body) and t is at most 5 minutes old."""
    sig = headers.get("rsvault-signature", "")
    parts = dict(p.split("=", 1) for p in sig.split(",") if "=" in p)
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
        return False
    if abs((now or time.time()) - int(parts["t"])) > tolerance:
        return False
    want = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, parts["v1"])


def payloads(reqs):
    return [json.loads(g["body"]) for g in reqs]

"""Test harness for rsvault integration tests.

Every test is a real program run: keys are made with bin/rsvault-keys, a real
rsvaultd listens over TLS on an ephemeral loopback port with a fresh LMDB
store, and requests go over real TLS connections. Output is TAP, read by
prove. The binaries come from $RSVAULT_BIN (default ./bin).
"""
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("RSVAULT_BIN", os.path.join(ROOT, "bin"))


def binpath(name):
    return os.path.join(BIN, name)


class TAP:
    """Minimal TAP producer. Call done() last; it exits non-zero on failure."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name):
        self.n += 1
        if not cond:
            self.failed += 1
        print(("ok" if cond else "not ok") + " %d - %s" % (self.n, name), flush=True)
        return bool(cond)

    def eq(self, got, want, name):
        if not self.ok(got == want, name):
            self.diag("got:  %r" % (got,))
            self.diag("want: %r" % (want,))
        return got == want

    def diag(self, msg):
        for line in str(msg).splitlines() or [""]:
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


def tmpdir(prefix="rsv"):
    base = os.path.join(ROOT, "tests", "tmp")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix + "-", dir=base)


def make_keys(dirpath, sans=()):
    args = [binpath("rsvault-keys"), "init", "--dir", dirpath]
    for s in sans:
        args += ["--san", s]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    @property
    def code(self):
        """The error code of an error body, or None."""
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


class Vault:
    """A real rsvaultd on an ephemeral loopback port.

    Use as a context manager, or call start()/stop() yourself (restart keeps
    the same keys and data directory)."""

    def __init__(self, extra_args=(), env=None, workdir=None):
        self.dir = workdir or tmpdir()
        self.keys = os.path.join(self.dir, "keys")
        self.data = os.path.join(self.dir, "data")
        self.extra_args = list(extra_args)
        self.env = dict(os.environ)
        if env:
            self.env.update(env)
        self.proc = None
        self.bad_exits = []
        self.port = None
        self.log_path = os.path.join(self.dir, "server.log")
        if not os.path.exists(self.keys):
            r = make_keys(self.keys)
            if r.returncode != 0:
                raise RuntimeError("rsvault-keys init failed: " + r.stderr)
        self.ca = os.path.join(self.keys, "ca.pem")
        self.ctx = ssl.create_default_context(cafile=self.ca)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        if self.bad_exits:
            # A server that did not exit 0 (a sanitizer report, a leak, a
            # crash) fails the test file even if every check passed.
            sys.stderr.write("rsvaultd exited with %r; log tail:\n%s\n"
                             % (self.bad_exits, self.logtext()[-4000:]))
            print("# rsvaultd exited with %r (see stderr)" % (self.bad_exits,), flush=True)
            raise SystemExit(1)
        if not os.environ.get("RSVAULT_KEEP_TMP") and exc[0] is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, listen="127.0.0.1:0"):
        args = [binpath("rsvaultd"), "--data", self.data, "--keys", self.keys,
                "--listen", listen] + self.extra_args
        self.log = open(self.log_path, "ab")
        offset = self.log.tell()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env, stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                m = re.findall(rb"listening on https://127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m[-1])
                break
            if self.proc.poll() is not None:
                raise RuntimeError("rsvaultd exited %d: %s" % (self.proc.returncode, self.logtext()))
            time.sleep(0.02)
        else:
            raise RuntimeError("rsvaultd did not start: " + self.logtext())
        self.addr = "https://127.0.0.1:%d" % self.port
        with open(os.path.join(self.data, "admin.token")) as f:
            self.admin = f.read().strip()
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stop the server; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self.log.close()
        if rc != 0:
            self.bad_exits.append(rc)
        return rc

    def logtext(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def conn(self, timeout=30):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                           timeout=timeout)

    def request(self, method, path, token=None, body=None, raw=None, headers=None,
                ctype="application/json", conn=None):
        """One request. body is JSON-encoded; raw is sent as bytes as is."""
        h = {}
        if token is not None:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
        elif raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        if data is not None and ctype is not None:
            h["Content-Type"] = ctype
        if headers:
            h.update(headers)
        c = conn or self.conn()
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            if conn is None:
                c.close()

    # Shorthands used by most tests.
    def get(self, path, token=None, **kw):
        return self.request("GET", path, token=token, **kw)

    def post(self, path, token=None, body=None, **kw):
        return self.request("POST", path, token=token, body=body, **kw)

    def delete(self, path, token=None, **kw):
        return self.request("DELETE", path, token=token, **kw)

"""Test harness for rsvault integration tests.

Every test is a real program run: keys are made with bin/rsvault-keys, a real
rsvaultd listens over TLS on an ephemeral loopback port with a fresh LMDB
store, and requests go over real TLS connections. Output is TAP, read by
prove. The binaries come from $RSVAULT_BIN (default ./bin).

rsvaultd refuses to run as root without --user. When the tests run as root
(as in CI), every server is started with --user RUN_AS (nobody, or
$RSVAULT_TEST_USER), its data directory is made that user's, and the
scratch directories are made searchable (0711) so that user can reach its
data directory; keys stay root's and are read before the switch.
"""
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("RSVAULT_BIN", os.path.join(ROOT, "bin"))

# (name, uid, gid) of the account servers run as when the tests run as root.
RUN_AS = None
if os.geteuid() == 0:
    _pw = pwd.getpwnam(os.environ.get("RSVAULT_TEST_USER", "nobody"))
    RUN_AS = (_pw.pw_name, _pw.pw_uid, _pw.pw_gid)


def binpath(name):
    return os.path.join(BIN, name)


def server_user_args():
    """The --user option rsvaultd needs when the tests run as root."""
    return ["--user", RUN_AS[0]] if RUN_AS else []


def give_to_server(path):
    """Make path (a data directory, created 0700 if missing) belong to the
    account the server runs as."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    if RUN_AS:
        os.chown(path, RUN_AS[1], RUN_AS[2])


def _reachable(path):
    """Whether RUN_AS can search every directory on the way to path."""
    p = os.path.abspath(path)
    while True:
        st = os.stat(p)
        if not (st.st_mode & stat.S_IXOTH or
                (RUN_AS and st.st_uid == RUN_AS[1] and st.st_mode & stat.S_IXUSR)):
            return False
        if p == "/":
            return True
        p = os.path.dirname(p)


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
    if RUN_AS and not _reachable(base):
        # A checkout the server's user cannot reach (under /root, say).
        base = os.path.join(tempfile.gettempdir(), "rsvault-tests")
        os.makedirs(base, mode=0o711, exist_ok=True)
    d = tempfile.mkdtemp(prefix=prefix + "-", dir=base)
    if RUN_AS:
        os.chmod(d, 0o711)  # searchable, not listable: the server's user reaches data/
    return d


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
        if not os.path.exists(self.data):
            give_to_server(self.data)
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
        # the host part of ADDR:PORT, "[::1]" style for IPv6
        self.host = listen.rsplit(":", 1)[0]
        args = [binpath("rsvaultd"), "--data", self.data, "--keys", self.keys,
                "--listen", listen] + self.extra_args
        if "--user" not in self.extra_args:
            args += server_user_args()
        self.log = open(self.log_path, "ab")
        offset = self.log.tell()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env, stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                m = re.findall(rb"listening on https://" + re.escape(self.host.encode()) +
                               rb":(\d+)", f.read())
            if m:
                self.port = int(m[-1])
                break
            if self.proc.poll() is not None:
                raise RuntimeError("rsvaultd exited %d: %s" % (self.proc.returncode, self.logtext()))
            time.sleep(0.02)
        else:
            raise RuntimeError("rsvaultd did not start: " + self.logtext())
        self.addr = "https://%s:%d" % (self.host, self.port)
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
        if rc is not None and rc < 0 and rc != -signal.SIGKILL:
            # Killed by a signal it did not expect (a sanitizer's abort, a
            # crash): say why at once, on stderr (prove shows it), whatever
            # the test does with bad_exits later.
            sys.stderr.write("rsvaultd exited with %d; log tail:\n%s\n"
                             % (rc, self.logtext()[-6000:]))
        return rc

    def logtext(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def conn(self, timeout=30):
        return http.client.HTTPSConnection(self.host.strip("[]"), self.port, context=self.ctx,
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

#!/usr/bin/env python3
"""The README's `make run` path: tests/lib/run-local.sh makes keys under a
var directory on first use, starts a working vault, and reuses both on the
next start."""
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import http.client

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, ROOT, BIN, tmpdir  # noqa: E402

t = TAP()
var = os.path.join(tmpdir("makerun"), "var")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


procs = []


def start():
    port = free_port()
    log = open(os.path.join(os.path.dirname(var), "run.log"), "ab")
    env = dict(os.environ, RSVAULT_VAR=var, RSVAULT_BIN=BIN,
               RSVAULT_LISTEN="127.0.0.1:%d" % port)
    p = subprocess.Popen(["bash", os.path.join(ROOT, "tests", "lib", "run-local.sh")],
                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    procs.append(p)
    return p, port


def reap():
    """Never leave a server behind, whatever happened."""
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


import atexit  # noqa: E402
atexit.register(reap)


def health(port):
    for _ in range(300):
        try:
            ctx = ssl.create_default_context(cafile=os.path.join(var, "keys", "ca.pem"))
            c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
            c.request("GET", "/v1/health")
            r = c.getresponse()
            return r.status, r.read()
        except (OSError, ssl.SSLError):
            time.sleep(0.05)
    return None, b""


p, port = start()
st, body = health(port)
t.eq(st, 200, "make run serves /v1/health with the CA in var/keys/ca.pem")
t.ok(b'"status":"ok"' in body, "health says ok")
for f in ("master.key", "audit.key", "audit.pub", "ca.pem", "ca.key", "server.pem", "server.key"):
    t.ok(os.path.exists(os.path.join(var, "keys", f)), "var/keys/%s made" % f)
tok_path = os.path.join(var, "data", "admin.token")
t.ok(os.path.exists(tok_path), "var/data/admin.token written on first start")
if os.geteuid() == 0:
    # The server switches to nobody, which must reach var/data: searchable only.
    t.eq(oct(os.stat(var).st_mode & 0o777), "0o711", "var is private (0711 as root)")
    t.eq(os.stat(os.path.join(var, "keys")).st_mode & 0o777, 0o700, "var/keys is 0700")
    t.eq(os.stat(os.path.join(var, "data")).st_uid, pwd.getpwnam("nobody").pw_uid,
         "var/data belongs to nobody, the account the server runs as")
else:
    t.eq(oct(os.stat(var).st_mode & 0o777), "0o700", "var is private (0700)")
tok = open(tok_path).read().strip()
p.send_signal(signal.SIGTERM)
t.eq(p.wait(timeout=30), 0, "SIGTERM stops it cleanly")
mk = open(os.path.join(var, "keys", "master.key"), "rb").read()

p, port = start()
st, _ = health(port)
t.eq(st, 200, "a second make run starts again")
t.eq(open(os.path.join(var, "keys", "master.key"), "rb").read(), mk, "and reuses the same keys")
t.eq(open(tok_path).read().strip(), tok, "and the same admin token")
p.send_signal(signal.SIGTERM)
t.eq(p.wait(timeout=30), 0, "second stop clean")
log = open(os.path.join(os.path.dirname(var), "run.log"), "rb").read().decode()
t.ok(tok not in log, "the token never appears in the output")
t.ok(re.search(r"curl --cacert .*ca\.pem https://127\.0\.0\.1:%d/v1/health" % port, log) is not None,
     "it prints a first request to try")
if not t.failed and not os.environ.get("RSVAULT_KEEP_TMP"):
    shutil.rmtree(os.path.dirname(var), ignore_errors=True)
t.done()

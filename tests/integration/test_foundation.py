#!/usr/bin/env python3
"""Foundation: TLS-only listener, health, JSON errors for what the router
rejects, group commit under concurrent writers, restart, signals."""
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import warnings

warnings.simplefilter("ignore", DeprecationWarning)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault, binpath, tmpdir, make_keys, server_user_args  # noqa: E402

t = TAP()


def handshake(v, version, host="127.0.0.1", sni=None):
    """Try a TLS handshake pinned to one protocol version; returns
    (ok, negotiated version or error text)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(v.ca)
    ctx.minimum_version = version
    ctx.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    try:
        with socket.create_connection((host, v.port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=sni or host) as tls:
                return True, tls.version()
    except (ssl.SSLError, OSError) as e:
        return False, str(e)


with Vault(extra_args=["--threads", "16"]) as v:
    # --- TLS versions -------------------------------------------------------
    for ver, name in ((ssl.TLSVersion.TLSv1, "TLS 1.0"), (ssl.TLSVersion.TLSv1_1, "TLS 1.1")):
        ok, why = handshake(v, ver)
        t.ok(not ok, "%s handshake refused" % name)
        # the refusal must come from the server, not from our own client
        client_side = "NO_PROTOCOLS_AVAILABLE" in why or "UNSUPPORTED_PROTOCOL" in why
        t.ok(not client_side, "%s refusal came from the server (%s)" % (name, why[:80]))
    ok, ver = handshake(v, ssl.TLSVersion.TLSv1_2)
    t.ok(ok and ver == "TLSv1.2", "TLS 1.2 accepted (%s)" % ver)
    ok, ver = handshake(v, ssl.TLSVersion.TLSv1_3)
    t.ok(ok and ver == "TLSv1.3", "TLS 1.3 accepted (%s)" % ver)

    # default client: TLS 1.3 preferred
    ctx = ssl.create_default_context(cafile=v.ca)
    with socket.create_connection(("127.0.0.1", v.port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as tls:
            t.eq(tls.version(), "TLSv1.3", "a default client negotiates TLS 1.3")
            cipher = tls.cipher()[0]
            t.ok("GCM" in cipher or "CHACHA20" in cipher, "AEAD cipher (%s)" % cipher)

    # certificate valid for localhost and 127.0.0.1 (hostname checked)
    ok, _ = handshake(v, ssl.TLSVersion.TLSv1_3, host="127.0.0.1", sni="localhost")
    t.ok(ok, "certificate verifies for the name localhost")
    ok, _ = handshake(v, ssl.TLSVersion.TLSv1_3, host="127.0.0.1")
    t.ok(ok, "certificate verifies for the address 127.0.0.1")
    ok, why = handshake(v, ssl.TLSVersion.TLSv1_3, host="127.0.0.1", sni="evil.example")
    t.ok(not ok and "certificate" in why.lower(), "certificate does not verify for another name")

    # an untrusted CA fails verification
    other = tmpdir("otherca")
    make_keys(os.path.join(other, "k"))
    ctx = ssl.create_default_context(cafile=os.path.join(other, "k", "ca.pem"))
    try:
        with socket.create_connection(("127.0.0.1", v.port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="localhost"):
                bad = False
    except ssl.SSLCertVerificationError:
        bad = True
    t.ok(bad, "a client trusting another CA refuses the server")

    # plain HTTP gets no HTTP answer
    with socket.create_connection(("127.0.0.1", v.port), timeout=10) as s:
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    t.ok(not data.startswith(b"HTTP/"), "plain HTTP request gets no HTTP answer (%r)" % data[:20])

    # --- health and headers --------------------------------------------------
    r = v.get("/v1/health")
    t.eq(r.status, 200, "health 200")
    t.eq(r.json.get("status") if r.json else None, "ok", "health status ok")
    t.ok(isinstance(r.json.get("version"), str), "health has a version")
    t.eq(r.header("Cache-Control"), "no-store", "Cache-Control: no-store")
    rid = r.header("X-Request-Id")
    t.ok(rid is not None and len(rid) == 32, "X-Request-Id present")
    t.ok(r.header("Content-Type", ).startswith("application/json"), "JSON content type")

    # --- router errors are JSON ---------------------------------------------
    r = v.get("/v1/nothing-here")
    t.eq((r.status, r.code), (404, "not_found"), "unknown path: 404 not_found JSON")
    t.ok(r.header("X-Request-Id") and r.header("Cache-Control") == "no-store",
         "404 carries X-Request-Id and no-store")
    r = v.request("PUT", "/v1/health")
    t.eq((r.status, r.code), (405, "method_not_allowed"), "wrong method: 405 JSON")
    t.eq(r.header("Allow"), "GET", "405 names the allowed method")
    r = v.request("BREW", "/v1/tickets")
    t.eq((r.status, r.code), (405, "method_not_allowed"), "unknown method: 405 JSON")
    r = v.post("/v1/accounts", v.admin, raw=b"x" * (64 * 1024 + 1))
    t.eq((r.status, r.code), (413, "payload_too_large"), "65537-byte body: 413 as a response")
    r = v.post("/v1/accounts", v.admin, raw=b"x" * (3 * 1024 * 1024), ctype="application/json")
    t.eq((r.status, r.code), (413, "payload_too_large"), "3 MiB body: 413 as a response")
    r = v.post("/v1/accounts", v.admin, raw=b"id=x", ctype="application/x-www-form-urlencoded")
    t.eq((r.status, r.code), (415, "unsupported_media_type"), "form body: 415")
    r = v.post("/v1/accounts", v.admin, raw=b"{not json")
    t.eq((r.status, r.code), (400, "invalid_json"), "bad JSON: 400 invalid_json")
    r = v.get("/v1/tickets/%00abc", v.admin)
    t.eq((r.status, r.code), (400, "bad_request"), "percent-encoded path: 400")
    r = v.get("/v1/health")
    t.eq(r.status, 200, "still serving after bad requests")

    # --- group commit under concurrent writers ------------------------------
    N_THREADS, PER = 12, 25
    results = {}
    lock = threading.Lock()

    def writer(n):
        c = v.conn()
        for i in range(PER):
            aid = "w%02d-%03d" % (n, i)
            r = v.post("/v1/accounts", v.admin,
                       {"id": aid, "role": "customer", "email": aid + "@example.com"}, conn=c)
            with lock:
                results[aid] = r
        c.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(N_THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    acked = {a: r.json["token"] for a, r in results.items() if r.status == 201}
    t.eq(len(acked), N_THREADS * PER, "all %d concurrent account creations acknowledged"
         % (N_THREADS * PER))

    # --- restart: data and tokens survive -----------------------------------
    admin_tok = v.admin
    rc = v.stop(signal.SIGTERM)
    t.eq(rc, 0, "SIGTERM: clean exit 0")
    log = v.logtext()
    import re
    m = re.search(r"store: (\d+) operations in (\d+) commits \(largest batch (\d+)\)", log)
    t.ok(m is not None, "writer reports its commits")
    if m:
        ops, commits, batch = int(m.group(1)), int(m.group(2)), int(m.group(3))
        t.diag("group commit: %d operations in %d commits, largest batch %d" % (ops, commits, batch))
        t.ok(commits < ops and batch > 1, "group commit batched concurrent writes")
    t.ok(admin_tok not in log, "the server log never shows the admin token")
    st = os.stat(os.path.join(v.data, "admin.token"))
    t.eq(stat.S_IMODE(st.st_mode), 0o600, "admin.token is mode 0600")

    v.start()
    t.eq(v.admin, admin_tok, "admin.token unchanged by a restart")
    r = v.get("/v1/me", admin_tok)
    t.eq((r.status, r.json and r.json.get("id")), (200, "admin"), "admin token valid after restart")
    missing = [a for a, tok in acked.items() if v.get("/v1/me", tok).status != 200]
    t.eq(missing, [], "every acknowledged write is present after restart")
    rc = v.stop(signal.SIGINT)
    t.eq(rc, 0, "SIGINT: clean exit 0")

# --- failed-login rate limit: a sliding window that recovers -----------------
with Vault(env={"RSVAULT_TEST_FAIL_WINDOW_MS": "2000"}) as v:
    r = v.get("/v1/tickets", "rsv_x", headers={})
    t.eq(r.header("Allow"), None, "no Allow header outside 405 answers")
    r = v.request("GET", "/v1/me", headers={"Authorization": "bearer " + v.admin})
    t.eq(r.status, 200, "the Bearer scheme name is case-insensitive")
    r = v.delete("/v1/accounts/admin/tokens", v.admin)
    t.eq((r.status, r.code), (409, "conflict"), "an admin cannot revoke their own tokens")
    codes = [v.get("/v1/me", "rsv_wrong-%d" % i).status for i in range(9)]
    t.eq(codes, [401] * 9, "failures 2..10 in the window: 401")
    r = v.get("/v1/me", "rsv_wrong-x")
    t.eq((r.status, r.code), (429, "rate_limited"), "past 10 failures in the window: 429")
    ra = r.header("Retry-After")
    t.ok(ra is not None and 1 <= int(ra) <= 2, "429 says when to retry (Retry-After: %s)" % ra)
    t.eq(v.get("/v1/me", v.admin).status, 200, "a valid token keeps working")
    time.sleep(2.2)
    r = v.get("/v1/me", "rsv_wrong-y")
    t.eq((r.status, r.code), (401, "unauthenticated"), "after the window: 401 again, not 429")

# --- a full map fails closed with 503, and nothing acknowledged is lost --------
with Vault(extra_args=["--map-size", "1"]) as v:
    A = v.admin
    r = v.post("/v1/accounts", A, {"id": "c", "role": "reseller", "email": "c@example.com"})
    C = r.json["token"]
    tid = v.post("/v1/tickets", C, {"subject": "fill"}).json["id"]
    acked, got503 = [], None
    for i in range(400):
        r = v.post("/v1/tickets/%s/credentials" % tid, C,
                   {"label": "l%d" % i, "kind": "other", "secret": "s" * 8000})
        if r.status == 201:
            acked.append(r.json["id"])
        else:
            got503 = r
            break
    t.ok(got503 is not None and (got503.status, got503.code) == (503, "unavailable"),
         "a full map gives 503 unavailable (after %d uploads)" % len(acked))
    t.eq(v.get("/v1/health").status, 200, "the server keeps serving when the map is full")
    v.stop()
    v.extra_args = ["--map-size", "64"]
    v.start()
    r = v.get("/v1/tickets/%s/credentials" % tid, C)
    ids = [c["id"] for c in r.json["credentials"]] if r.status == 200 else None
    t.eq(sorted(ids or []), sorted(acked), "every acknowledged upload survived the full map")

# --- refuses to start without keys, or with a bad master key ----------------
d = tmpdir("nokeys")
os.makedirs(os.path.join(d, "keys"))
p = subprocess.run([binpath("rsvaultd"), "--data", os.path.join(d, "data"), "--keys",
                    os.path.join(d, "keys"), "--listen", "127.0.0.1:0"] + server_user_args(),
                   capture_output=True, text=True, timeout=30)
t.ok(p.returncode != 0, "refuses to start without keys")
t.ok("master" in p.stderr, "says which key is missing")
p = subprocess.run([binpath("rsvaultd"), "--bogus"], capture_output=True, text=True, timeout=30)
t.ok(p.returncode != 0 and "usage" in p.stderr, "unknown option: usage, non-zero exit")
p = subprocess.run([binpath("rsvaultd"), "--help"], capture_output=True, text=True, timeout=30)
t.ok(p.returncode == 0 and "--data" in p.stdout, "--help prints usage")
if not t.failed and not os.environ.get("RSVAULT_KEEP_TMP"):
    shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(other, ignore_errors=True)

t.done()

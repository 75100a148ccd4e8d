#!/usr/bin/env python3
"""A TLS scan of the listener: what a scanner (testssl.sh, sslyze) would
report, checked with Python's ssl module, openssl s_client and hand-made
ClientHellos.

- protocols: only TLS 1.3 and 1.2; SSL 2.0/3.0-style and TLS 1.0/1.1
  hellos never get a ServerHello (test_foundation.py checks the
  TLS 1.0/1.1 refusal with a normal client);
- TLS 1.2: every suite OpenSSL knows is tried alone; each one accepted is
  ECDHE with an AEAD cipher;
- TLS 1.3: every accepted suite is AEAD (as TLS 1.3 requires) with an
  ephemeral key exchange; no session tickets, no resumption;
- no TLS compression, even when the client offers DEFLATE;
- safe renegotiation signalled (RFC 5746), and a client-initiated
  renegotiation (openssl s_client -tls1_2, "R") does not succeed."""
import os
import socket
import ssl
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault  # noqa: E402

t = TAP()

# --- hand-made ClientHellos -----------------------------------------------------
GROUPS = (0x001d, 0x0017, 0x0018)            # x25519, secp256r1, secp384r1
SIGALGS = (0x0403, 0x0503, 0x0804, 0x0401)   # ecdsa p256/p384, rsa-pss, rsa-pkcs1
MODERN = (0xc02b, 0xc02c, 0xcca9, 0xc02f, 0xc030, 0xcca8)  # ECDHE + GCM/ChaCha20
LEGACY = (0x002f, 0x0035, 0x000a, 0xc009, 0xc013)          # CBC, 3DES


def u8(n):
    return struct.pack("!B", n)


def u16(n):
    return struct.pack("!H", n)


def u24(n):
    return struct.pack("!I", n)[1:]


def ext(kind, data):
    return u16(kind) + u16(len(data)) + data


def client_hello(version=0x0303, suites=MODERN, compression=(0,), extensions=True,
                 record_version=0x0301):
    exts = b""
    if extensions:
        name = b"localhost"
        exts += ext(0x0000, u16(len(name) + 3) + b"\x00" + u16(len(name)) + name)
        exts += ext(0x000a, u16(2 * len(GROUPS)) + b"".join(u16(g) for g in GROUPS))
        exts += ext(0x000b, b"\x01\x00")
        exts += ext(0x000d, u16(2 * len(SIGALGS)) + b"".join(u16(s) for s in SIGALGS))
        exts += ext(0xff01, b"\x00")  # renegotiation_info, initial handshake
    body = (u16(version) + os.urandom(32) + b"\x00" + u16(2 * len(suites)) +
            b"".join(u16(s) for s in suites) + u8(len(compression)) + bytes(compression))
    if extensions:
        body += u16(len(exts)) + exts
    hs = b"\x01" + u24(len(body)) + body
    return b"\x16" + u16(record_version) + u16(len(hs)) + hs


def sslv2_hello(version):
    specs = b"\x01\x00\x80\x07\x00\xc0\x00\x00\x2f\x00\x00\x35"  # RC4-MD5, 3DES, AES
    challenge = os.urandom(16)
    body = b"\x01" + u16(version) + u16(len(specs)) + u16(0) + u16(len(challenge))
    body += specs + challenge
    return u16(0x8000 | len(body)) + body


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def server_answer(v, hello):
    """Send a ClientHello; return ("hello", {version, cipher, compression,
    extensions}), ("alert", description) or ("closed", None)."""
    with socket.create_connection(("127.0.0.1", v.port), timeout=5) as s:
        s.sendall(hello)
        try:
            rtype, _, length = struct.unpack("!BHH", read_exact(s, 5))
            data = read_exact(s, length)
        except (EOFError, ConnectionResetError, socket.timeout):
            return "closed", None
    if rtype == 0x15:
        return "alert", data[1] if len(data) > 1 else None
    if rtype != 0x16 or data[0] != 0x02:
        return "other", data[:8]
    p = 4
    version = struct.unpack("!H", data[p:p + 2])[0]
    p += 2 + 32
    p += 1 + data[p]
    cipher = struct.unpack("!H", data[p:p + 2])[0]
    compression = data[p + 2]
    p += 3
    exts = []
    if p + 2 <= len(data):
        end = p + 2 + struct.unpack("!H", data[p:p + 2])[0]
        p += 2
        while p + 4 <= end:
            kind, n = struct.unpack("!HH", data[p:p + 4])
            exts.append(kind)
            p += 4 + n
    return "hello", {"version": version, "cipher": cipher, "compression": compression,
                     "extensions": exts}


def tls12_with(v, name):
    """Handshake offering TLS 1.2 and the one suite `name`; the negotiated
    suite name, or None."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the scan is about the suites offered
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.set_ciphers(name + ":@SECLEVEL=0")
    except ssl.SSLError:
        return "unusable"
    try:
        with socket.create_connection(("127.0.0.1", v.port), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as tls:
                return tls.cipher()[0]
    except (ssl.SSLError, OSError):
        return None


def s_client(v, args, stdin=b"", wait=1.0):
    """Run openssl s_client against the vault; stdin is fed after the
    handshake, line by line with pauses (s_client acts on lines)."""
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % v.port,
                          "-CAfile", v.ca, "-servername", "localhost"] + args,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        time.sleep(wait)
        for line in stdin.splitlines(keepends=True):
            p.stdin.write(line)
            p.stdin.flush()
            time.sleep(wait)
        p.stdin.close()
    except (BrokenPipeError, OSError):
        pass
    p.stdin = None
    try:
        out = p.communicate(timeout=10)[0]
    except subprocess.TimeoutExpired:
        p.kill()
        out = p.communicate()[0]
    return out.decode("utf-8", "replace")


with Vault() as v:
    # --- protocol versions, from hand-made hellos ----------------------------------
    kind, info = server_answer(v, client_hello())
    t.ok(kind == "hello" and info["version"] == 0x0303 and info["cipher"] in MODERN,
         "a TLS 1.2 ClientHello with ECDHE + AEAD suites gets a ServerHello (%s)"
         % ((kind, info),))
    # (libmicrohttpd closes a failed handshake without sending an alert)
    for name, ver in (("SSL 3.0", 0x0300), ("TLS 1.0", 0x0301), ("TLS 1.1", 0x0302)):
        kind, info = server_answer(v, client_hello(ver, MODERN + LEGACY, record_version=ver))
        t.ok(kind in ("alert", "closed"),
             "%s ClientHello offering every suite gets no ServerHello (%s %s)"
             % (name, kind, info))
    for name, ver in (("SSL 2.0", 0x0002), ("TLS 1.0", 0x0301)):
        kind, info = server_answer(v, sslv2_hello(ver))
        t.ok(kind in ("alert", "closed"),
             "an SSLv2-format hello for %s gets no ServerHello (%s %s)" % (name, kind, info))
    kind, info = server_answer(v, client_hello(0x0303, LEGACY))
    t.ok(kind in ("alert", "closed"),
         "TLS 1.2 offering only CBC/3DES suites gets no ServerHello (%s %s)" % (kind, info))

    # --- compression and renegotiation_info ---------------------------------------
    kind, info = server_answer(v, client_hello(compression=(1, 0)))
    t.ok(kind == "hello" and info["compression"] == 0,
         "DEFLATE offered: the server chooses no compression (%s)" % ((kind, info),))
    kind, info = server_answer(v, client_hello(compression=(1,)))
    t.ok(kind in ("alert", "closed"), "only DEFLATE offered: refused (%s %s)" % (kind, info))
    kind, info = server_answer(v, client_hello())
    t.ok(kind == "hello" and 0xff01 in info["extensions"],
         "the ServerHello carries renegotiation_info (safe renegotiation, RFC 5746)")

    # --- every TLS 1.2 suite OpenSSL knows, one at a time ---------------------------
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    suites = {c["name"]: c for c in probe.get_ciphers() if c["protocol"] != "TLSv1.3"}
    accepted, tried = [], 0
    for name in sorted(suites):
        got = tls12_with(v, name)
        if got == "unusable":
            continue
        tried += 1
        if got is not None:
            accepted.append(got)
    t.diag("TLS 1.2: %d suites tried, accepted: %s" % (tried, ", ".join(accepted)))
    t.ok(tried >= 100, "tried %d TLS 1.2 suites, one at a time" % tried)
    t.ok(len(accepted) >= 1, "at least one TLS 1.2 suite accepted (the scan is not blind)")
    bad = [n for n in accepted
           if not (suites[n]["kea"] == "kx-ecdhe" and suites[n]["aead"])]
    t.eq(bad, [], "every accepted TLS 1.2 suite is ECDHE (forward secrecy) with AEAD")
    cbc = "ECDHE-ECDSA-AES128-SHA256"
    t.ok(cbc in suites and cbc not in accepted,
         "%s (right key exchange and certificate, CBC cipher) is refused" % cbc)

    # --- TLS 1.3 suites -------------------------------------------------------------
    tls13 = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
             "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_CCM_SHA256",
             "TLS_AES_128_CCM_8_SHA256"]
    got13 = {}
    for name in tls13:
        out = s_client(v, ["-tls1_3", "-ciphersuites", name], wait=0.3)
        ok = ("Cipher is " + name) in out
        got13[name] = ok
        if ok:
            t.ok("Server Temp Key: " in out,
                 "TLS 1.3 %s: ephemeral key exchange (%s)"
                 % (name, [ln for ln in out.splitlines() if "Temp Key" in ln][:1]))
    t.diag("TLS 1.3 suites accepted: %s" % [n for n, ok in got13.items() if ok])
    t.ok(any(got13.values()), "TLS 1.3 is accepted")
    t.ok(all(("GCM" in n or "CHACHA20" in n or "CCM" in n) for n, ok in got13.items() if ok),
         "every accepted TLS 1.3 suite is AEAD")

    # --- no session tickets or resumption -------------------------------------------
    for ver in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ssl.create_default_context(cafile=v.ca)
        ctx.minimum_version = ctx.maximum_version = ver
        with socket.create_connection(("127.0.0.1", v.port), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as tls:
                tls.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while tls.recv(4096):
                    pass
                sess = tls.session
        with socket.create_connection(("127.0.0.1", v.port), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname="localhost", session=sess) as tls:
                reused = tls.session_reused
        t.ok(not reused and not (sess and sess.has_ticket),
             "%s: no session ticket and no resumption: every connection makes fresh "
             "ephemeral keys" % ver.name)

    # --- client-initiated renegotiation ------------------------------------------------
    req = b"GET /v1/health HTTP/1.1\nHost: localhost\n\n"
    control = s_client(v, ["-tls1_2", "-crlf"], stdin=req)
    t.ok("HTTP/1.1 200" in control,
         "control: the same s_client session without R gets its answer")
    out = s_client(v, ["-tls1_2", "-crlf"], stdin=b"R\n" + req)
    t.ok("Secure Renegotiation IS supported" in out, "s_client sees safe renegotiation")
    t.ok("RENEGOTIATING" in out, "s_client asked to renegotiate")
    t.eq(out.count("verify return:"), 2,
         "no second handshake completed (certificate chain verified only once)")
    t.ok("HTTP/1.1 200" not in out,
         "the connection did not go on after the renegotiation attempt: refused")
    t.eq(v.get("/v1/health").status, 200, "the server still answers after the scan")
t.done()

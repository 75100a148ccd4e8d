#!/usr/bin/env python3
"""rsvault-keys init: the files it makes, their formats and modes, the
certificates, and its refusals (existing files, planted symlinks, bad
--san names), with rollback when a write fails midway. TAP on stdout."""
import hashlib
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from rsvtest import TAP, tmpdir, make_keys, binpath  # noqa: E402

FILES = ["master.key", "audit.key", "audit.pub", "ca.key", "ca.pem",
         "server.key", "server.pem"]
SECRET = {"master.key", "audit.key", "ca.key", "server.key"}
# PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows.
ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")

t = TAP()
KEYS = binpath("rsvault-keys")


def run(args, **kw):
    return subprocess.run(args, capture_output=True, timeout=60, **kw)


STDERRS = []


def keys(*args, **kw):
    r = run([KEYS] + list(args), **kw)
    STDERRS.append(r.stderr.decode("utf-8", "replace"))
    return r


def init(d, sans=()):
    r = make_keys(d, sans)
    STDERRS.append(r.stderr)
    return r


def openssl(*args, **kw):
    return run(["openssl"] + list(args), **kw)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def snapshot(d):
    """name -> (sha256, mtime_ns, mode, size, inode) for everything in d."""
    out = {}
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode):
            with open(p, "rb") as f:
                h = hashlib.sha256(f.read()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            h = "link:" + os.readlink(p)
        else:
            h = "other"
        out[name] = (h, st.st_mtime_ns, stat.S_IMODE(st.st_mode), st.st_size, st.st_ino)
    return out


def read(path):
    with open(path, "rb") as f:
        return f.read()


def fsize_limited(limit):
    """preexec_fn: files may not grow past limit bytes; writes then fail
    with EFBIG instead of killing the process (SIGXFSZ ignored)."""
    def fn():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return fn


if not os.access(KEYS, os.X_OK):
    t.ok(False, "%s is built" % KEYS)
    t.done()

base = tmpdir("keys")

# --- command line ---------------------------------------------------------

r = keys("--help")
t.eq(r.returncode, 0, "--help exits 0")
t.ok(b"usage:" in r.stdout and b"init --dir" in r.stdout and b"example" in r.stdout,
     "--help prints usage with an example on stdout")
r = keys("-h")
t.eq(r.returncode, 0, "-h exits 0")
r = keys("init", "--help")
t.eq(r.returncode, 0, "init --help exits 0")

r = keys()
t.ok(r.returncode == 1, "no argument exits 1")
t.ok(b"usage:" in r.stderr, "no argument prints usage to stderr")
r = keys("frobnicate", "--dir", os.path.join(base, "x"))
t.ok(r.returncode == 1 and b"usage:" in r.stderr, "unknown verb refused with usage")
r = keys("init", "--dir", os.path.join(base, "x"), "--bogus")
t.ok(r.returncode == 1 and b"usage:" in r.stderr, "unknown option refused with usage")
r = keys("init")
t.ok(r.returncode == 1, "init without --dir refused")
r = keys("init", "--dir")
t.ok(r.returncode == 1, "--dir without a value refused")
t.ok(not os.path.exists(os.path.join(base, "x")), "usage errors create nothing")

# --- a fresh init ---------------------------------------------------------

kdir = os.path.join(base, "keys")
r = init(kdir, sans=["vault.example.test", "10.1.2.3", "::1", "LOCALHOST"])
t.eq(r.returncode, 0, "init into a new directory succeeds")
if r.returncode != 0:
    t.diag(r.stderr)
    t.done()
t.eq(mode(kdir), 0o700, "new directory is mode 0700")
init_stdout = r.stdout
listed = r.stdout.split()
t.eq(sorted(listed), sorted(os.path.join(kdir, f) for f in FILES),
     "stdout lists the seven files written")
t.eq(sorted(os.listdir(kdir)), sorted(FILES), "exactly the seven files exist")
for f in FILES:
    p = os.path.join(kdir, f)
    st = os.lstat(p)
    t.ok(stat.S_ISREG(st.st_mode), "%s is a regular file" % f)
    t.eq(stat.S_IMODE(st.st_mode), 0o600 if f in SECRET else 0o644,
         "%s mode %s" % (f, "0600" if f in SECRET else "0644"))

master = read(os.path.join(kdir, "master.key"))
t.eq(len(master), 42, "master.key is 42 bytes")
t.eq(master[:4], b"RSVK", "master.key magic")
t.eq(master[4], 1, "master.key type 1")
t.eq(master[5], 1, "master.key format 1")
t.eq(int.from_bytes(master[6:10], "big"), 1, "master.key version 1")
t.ok(master[10:] != bytes(32), "master key is not all zeros")

audit = read(os.path.join(kdir, "audit.key"))
t.eq(len(audit), 70, "audit.key is 70 bytes")
t.eq(audit[:4], b"RSVK", "audit.key magic")
t.eq(audit[4], 2, "audit.key type 2")
t.eq(audit[5], 1, "audit.key format 1")
seed, pk_in_sk = audit[6:38], audit[38:70]

pub = read(os.path.join(kdir, "audit.pub"))
t.ok(re.fullmatch(rb"[0-9a-f]{64}\n", pub) is not None, "audit.pub is 64 lowercase hex + newline")
t.eq(pub.strip().decode(), pk_in_sk.hex(), "audit.pub is the public half of audit.key")
# Derive the public key from the seed independently (OpenSSL), so a key
# file whose halves disagree would be caught.
r = openssl("pkey", "-inform", "DER", "-pubout", "-outform", "DER",
            input=ED25519_PKCS8_PREFIX + seed)
t.ok(r.returncode == 0 and r.stdout[-32:] == pk_in_sk,
     "audit.pub matches the key derived from audit.key's seed")

t.ok(master[10:].hex() not in init_stdout and seed.hex() not in init_stdout
     and "PRIVATE" not in init_stdout, "no key material on stdout")

# --- certificates ---------------------------------------------------------

ca = os.path.join(kdir, "ca.pem")
srv = os.path.join(kdir, "server.pem")
r = openssl("verify", "-CAfile", ca, srv)
t.ok(r.returncode == 0 and b": OK" in r.stdout, "openssl verify -CAfile ca.pem server.pem")
if r.returncode != 0:
    t.diag(r.stdout + r.stderr)

r = openssl("x509", "-in", srv, "-noout", "-ext", "subjectAltName")
san = r.stdout.decode()
for want in ["DNS:localhost", "IP Address:127.0.0.1", "DNS:vault.example.test",
             "IP Address:10.1.2.3", "IP Address:0:0:0:0:0:0:0:1"]:
    t.ok(want in san, "server SAN has %s" % want)
t.eq(san.lower().count("dns:localhost"), 1, "a repeated --san (LOCALHOST) is not duplicated")

for k in ["ca.key", "server.key"]:
    p = os.path.join(kdir, k)
    t.ok(read(p).startswith(b"-----BEGIN PRIVATE KEY-----\n"),
         "%s is unencrypted PKCS#8 PEM" % k)
    r = openssl("pkey", "-in", p, "-noout", "-text")
    txt = r.stdout.decode()
    t.ok(r.returncode == 0 and "ASN1 OID: prime256v1" in txt, "%s is EC prime256v1" % k)

for key, cert in [("ca.key", "ca.pem"), ("server.key", "server.pem")]:
    a = openssl("pkey", "-in", os.path.join(kdir, key), "-pubout").stdout
    b = openssl("x509", "-in", os.path.join(kdir, cert), "-noout", "-pubkey").stdout
    t.ok(a and a == b, "%s belongs to %s" % (key, cert))

r = openssl("x509", "-in", ca, "-noout", "-subject", "-ext",
            "basicConstraints,keyUsage,subjectKeyIdentifier")
txt = r.stdout.decode()
t.ok("CN = rsvault CA" in txt, "CA subject CN is rsvault CA")
t.ok(re.search(r"Basic Constraints: critical\s+CA:TRUE", txt) is not None,
     "CA basicConstraints critical CA:TRUE")
t.ok(re.search(r"Key Usage: critical\s+Certificate Sign, CRL Sign", txt) is not None,
     "CA keyUsage critical keyCertSign, cRLSign")
t.ok("Subject Key Identifier" in txt, "CA has a subjectKeyIdentifier")

r = openssl("x509", "-in", srv, "-noout", "-subject", "-issuer", "-ext",
            "basicConstraints,keyUsage,extendedKeyUsage,authorityKeyIdentifier")
txt = r.stdout.decode()
t.ok("subject=CN = localhost" in txt and "issuer=CN = rsvault CA" in txt,
     "server subject CN localhost, issued by rsvault CA")
t.ok(re.search(r"Basic Constraints: critical\s+CA:FALSE", txt) is not None,
     "server basicConstraints CA:FALSE")
t.ok(re.search(r"Key Usage: critical\s+Digital Signature\n", txt) is not None,
     "server keyUsage critical digitalSignature only")
t.ok(re.search(r"Extended Key Usage:\s*\n\s+TLS Web Server Authentication", txt) is not None,
     "server extendedKeyUsage serverAuth")
t.ok("Authority Key Identifier" in txt, "server has an authorityKeyIdentifier")

for cert in [ca, srv]:
    r = openssl("x509", "-in", cert, "-noout", "-text")
    t.ok("Signature Algorithm: ecdsa-with-SHA256" in r.stdout.decode(),
         "%s signed with ecdsa-with-SHA256" % os.path.basename(cert))
    r = openssl("x509", "-in", cert, "-noout", "-serial")
    serial = int(r.stdout.decode().strip().split("=")[1], 16)
    t.eq(serial.bit_length(), 159, "%s serial is 159 bits" % os.path.basename(cert))

day = 86400
t.eq(openssl("x509", "-in", srv, "-noout", "-checkend", str(824 * day)).returncode, 0,
     "server cert valid for 824 more days")
t.ok(openssl("x509", "-in", srv, "-noout", "-checkend", str(826 * day)).returncode != 0,
     "server cert expires within 826 days")
t.eq(openssl("x509", "-in", ca, "-noout", "-checkend", str(3649 * day)).returncode, 0,
     "CA valid for ~10 years")
t.ok(openssl("x509", "-in", ca, "-noout", "-checkend", str(3660 * day)).returncode != 0,
     "CA expires after ~10 years")

if shutil.which("certtool"):
    r = run(["certtool", "--key-info", "--infile", os.path.join(kdir, "server.key")])
    t.eq(r.returncode, 0, "GnuTLS (certtool) loads server.key")
else:
    t.diag("certtool not installed; GnuTLS load check skipped")

# --- a second init refuses and changes nothing ----------------------------

before = snapshot(kdir)
dmode = mode(kdir)
r = init(kdir)
t.ok(r.returncode == 1, "second init into the same directory refused")
t.ok("exists" in r.stderr, "refusal says which file exists")
t.eq(snapshot(kdir), before, "every file byte-identical, same mtime, mode and inode")
t.eq(mode(kdir), dmode, "directory mode unchanged")

# Fresh keys differ from run to run.
kdir2 = os.path.join(base, "keys2")
r = init(kdir2)
t.eq(r.returncode, 0, "init into another directory succeeds")
t.ok(read(os.path.join(kdir2, "master.key"))[10:] != master[10:], "master keys differ between runs")
t.ok(read(os.path.join(kdir2, "audit.pub")) != pub, "audit keys differ between runs")
t.ok(openssl("verify", "-CAfile", ca, os.path.join(kdir2, "server.pem")).returncode != 0,
     "one run's CA does not verify another run's server cert")

# --- one existing file is enough to refuse ----------------------------------

d = os.path.join(base, "one")
os.mkdir(d, 0o700)
with open(os.path.join(d, "ca.pem"), "w") as f:
    f.write("not mine\n")
before = snapshot(d)
r = init(d)
t.ok(r.returncode == 1, "init refused when only ca.pem exists")
t.ok("ca.pem" in r.stderr, "refusal names ca.pem")
t.eq(snapshot(d), before, "nothing else created, ca.pem untouched")

# --- a planted symlink is not followed --------------------------------------

d = os.path.join(base, "link")
os.mkdir(d, 0o700)
target = os.path.join(base, "victim")
with open(target, "w") as f:
    f.write("precious\n")
tbefore = snapshot(base)["victim"]
os.symlink(target, os.path.join(d, "master.key"))
before = snapshot(d)
r = init(d)
t.ok(r.returncode == 1, "init refused with a symlink at master.key")
t.eq(snapshot(base)["victim"], tbefore, "symlink target untouched")
t.eq(snapshot(d), before, "nothing created next to the symlink")

d = os.path.join(base, "dangling")
os.mkdir(d, 0o700)
target = os.path.join(base, "would-be-created")
os.symlink(target, os.path.join(d, "server.key"))
r = init(d)
t.ok(r.returncode == 1, "init refused with a dangling symlink at server.key")
t.ok(not os.path.lexists(target), "dangling symlink's target not created")
t.eq(sorted(os.listdir(d)), ["server.key"], "nothing created next to the dangling symlink")

# --- bad directories -------------------------------------------------------

r = init(os.path.join(base, "no-such-parent", "keys"))
t.ok(r.returncode == 1, "missing parent directory refused")
t.ok(not os.path.exists(os.path.join(base, "no-such-parent")), "parent not created")

p = os.path.join(base, "plainfile")
with open(p, "w") as f:
    f.write("x")
r = init(p)
t.ok(r.returncode == 1, "DIR that is a regular file refused")

d = os.path.join(base, "wide")
os.mkdir(d)
os.chmod(d, 0o777)
r = init(d)
t.ok(r.returncode == 1, "world-writable DIR refused")
t.eq(os.listdir(d), [], "nothing written into the world-writable DIR")

# --- bad --san names -------------------------------------------------------

bad_sans = ["", "a,b", "-a.example", "a-.example", "a..b", ".a", "a.", "ex.*.com", "*",
            "a_b", "a b", "a/b", "10.1", "1.2.3.256", "fe80::1%eth0", "x" * 64 + ".com",
            ("a" * 60 + ".") * 4 + "abcdefghij", "DNS:evil", "IP:1.2.3.4", "a\nb"]
for i, s in enumerate(bad_sans):
    d = os.path.join(base, "badsan%d" % i)
    r = keys("init", "--dir", d, "--san", s)
    t.ok(r.returncode == 1 and not os.path.exists(d), "--san %r refused, nothing made" % s)

d = os.path.join(base, "goodsan")
r = init(d, sans=["*.example.test", "xn--bcher-kva.example", "::ffff:192.0.2.1"])
t.eq(r.returncode, 0, "wildcard, punycode and IPv4-mapped IPv6 --san accepted")
san = openssl("x509", "-in", os.path.join(d, "server.pem"), "-noout", "-ext",
              "subjectAltName").stdout.decode()
t.ok("DNS:*.example.test" in san and "DNS:xn--bcher-kva.example" in san,
     "accepted names are in the certificate")

# --- a write failing midway rolls back ---------------------------------------

# 100 bytes fits master.key, audit.key and audit.pub, but not ca.key.
d = os.path.join(base, "rollback-new")
r = keys("init", "--dir", d, preexec_fn=fsize_limited(100))
t.ok(r.returncode == 1, "init fails when a write fails (file size limit)")
t.ok(not os.path.exists(d), "rollback removes the files and the directory it made")
t.diag(r.stderr.decode().strip())

d = os.path.join(base, "rollback-old")
os.mkdir(d, 0o700)
r = keys("init", "--dir", d, preexec_fn=fsize_limited(100))
t.ok(r.returncode == 1, "init into an existing dir fails when a write fails")
t.eq(os.listdir(d), [], "rollback leaves the existing directory empty")
t.ok(os.path.isdir(d), "an existing directory is kept")

# --- no core file, not dumpable -------------------------------------------------
# The admin token, generated private keys and passphrase lines pass through
# the tool's memory: like rsvaultd and rsvault it sets RLIMIT_CORE to 0 and
# clears its dumpable flag first thing. Seen from outside while it waits on
# stdin (verify-audit -): /proc/PID/limits, and the owner of
# /proc/PID/environ, which the kernel gives to root when the process is not
# dumpable (so the tool runs as nobody when the tests run as root).
hd = tempfile.mkdtemp(prefix="rsv-harden-")
os.chmod(hd, 0o755)
init(os.path.join(hd, "k"))
pub = os.path.join(hd, "audit.pub")
shutil.copyfile(os.path.join(hd, "k", "audit.pub"), pub)
os.chmod(pub, 0o644)
as_other = {"user": 65534, "group": 65534, "extra_groups": []} if os.geteuid() == 0 else {}
runner_uid = 65534 if os.geteuid() == 0 else os.geteuid()
p = subprocess.Popen([KEYS, "verify-audit", "-", "--pubkey", pub], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, **as_other)
try:
    waiting = False
    end = time.time() + 30
    while time.time() < end and p.poll() is None:
        try:
            exe = os.readlink("/proc/%d/exe" % p.pid)
            sc = open("/proc/%d/syscall" % p.pid).read().split()
        except OSError:
            sc, exe = [], ""
        # read(0, ...): 0 on x86_64, 63 on arm64
        if exe.endswith("rsvault-keys") and len(sc) > 1 and sc[0] in ("0", "63") \
                and sc[1] == "0x0":
            waiting = True
            break
        time.sleep(0.05)
    t.ok(waiting, "rsvault-keys verify-audit - waits for stdin")
    limits = open("/proc/%d/limits" % p.pid).read() if p.poll() is None else ""
    m = re.search(r"^Max core file size\s+(\S+)\s+(\S+)", limits, re.M)
    t.ok(m and m.groups() == ("0", "0"), "it runs with RLIMIT_CORE 0, soft and hard (%s)"
         % (m.groups() if m else None,))
    st = os.stat("/proc/%d/environ" % p.pid) if p.poll() is None else None
    t.ok(st is not None and runner_uid != 0 and st.st_uid == 0,
         "it is not dumpable: its /proc/PID/environ is root's, not uid %d's (%s)"
         % (runner_uid, st.st_uid if st else None))
finally:
    p.kill()
    p.communicate(timeout=30)
    shutil.rmtree(hd, ignore_errors=True)

reports = [e for e in STDERRS if "Sanitizer" in e or "runtime error:" in e]
t.ok(not reports, "no sanitizer reports from any rsvault-keys run")
for e in reports[:3]:
    t.diag(e)

failed = t.failed
if not failed and not os.environ.get("RSVAULT_KEEP_TMP"):
    shutil.rmtree(base, ignore_errors=True)
t.done()

#!/usr/bin/env python3
"""Sealed master keys (SPEC 8.4): `rsvault-keys seal` with a passphrase
(Argon2id) and with 3-of-5 Shamir shares; rsvaultd starts sealed, answers
only /v1/health (503 {"status":"sealed","sealed":true}; every other route 503
unavailable) and unseals from --unseal-fd, a systemd credential
($CREDENTIALS_DIRECTORY/rsvault-unseal) or the terminal; a wrong passphrase,
two shares, a share of another seal or a damaged share line leave it
sealed; so does a line longer than 2047 bytes (refused whole, on the server
and in the key tool, never cut short or split). The GF(2^8) arithmetic is checked against a second implementation
written here: shares made by the key tool are combined in Python, and
shares made in Python from that key unseal the server."""
import hashlib
import os
import pty
import secrets
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault, binpath, tmpdir  # noqa: E402
from rsvcore import Core, expect  # noqa: E402

PASS = "correct horse battery staple"


def keys_tool(*args, stdin=None):
    return subprocess.run([binpath("rsvault-keys")] + list(args), input=stdin,
                          capture_output=True, text=True, timeout=300)


# --- a second GF(2^8) / Shamir implementation (AES polynomial 0x11b) -----
def gf_mul(a, b):
    p = 0
    while b:
        if b & 1:
            p ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11b
        b >>= 1
    return p


def gf_inv(a):
    # the inverse by search: independent of the C square-and-multiply
    for x in range(1, 256):
        if gf_mul(a, x) == 1:
            return x
    raise ValueError("no inverse of 0")


def py_combine(shares):
    """shares: [(x, bytes)] -> the secret (Lagrange at 0)."""
    out = bytearray(len(shares[0][1]))
    for i, (xi, yi) in enumerate(shares):
        num, den = 1, 1
        for j, (xj, _) in enumerate(shares):
            if i != j:
                num = gf_mul(num, xj)
                den = gf_mul(den, xj ^ xi)
        li = gf_mul(num, gf_inv(den))
        for b in range(len(out)):
            out[b] ^= gf_mul(yi[b], li)
    return bytes(out)


def py_split(secret, k, xs):
    coefs = [[s] + [secrets.randbelow(256) for _ in range(k - 1)] for s in secret]
    res = []
    for x in xs:
        y = bytearray()
        for poly in coefs:
            acc, xp = 0, 1
            for c in poly:
                acc ^= gf_mul(c, xp)
                xp = gf_mul(xp, x)
            y.append(acc)
        res.append((x, bytes(y)))
    return res


def parse_share(line):
    f = line.strip().split(" ")
    assert f[0] == "rsvault-share-v1" and len(f) == 6
    body = " ".join(f[:5]) + " "
    assert hashlib.blake2b(body.encode(), digest_size=32).hexdigest()[:8] == f[5]
    return f[1], int(f[2]), int(f[3]), bytes.fromhex(f[4])


def share_line(sealid, k, x, y):
    body = "rsvault-share-v1 %s %d %d %s " % (sealid, k, x, y.hex())
    return body + hashlib.blake2b(body.encode(), digest_size=32).hexdigest()[:8] + "\n"


class SealedVault(Vault):
    """A Vault whose start does not wait for admin.token and can hand the
    server a pipe (--unseal-fd), an environment, or a terminal."""

    def start_sealed(self, fd_input=None, env=None, tty=False):
        args = [binpath("rsvaultd"), "--data", self.data, "--keys", self.keys,
                "--listen", "127.0.0.1:0"] + self.extra_args + (
                    ["--user", "nobody"] if os.geteuid() == 0 else [])
        self.host = "127.0.0.1"
        self.log = open(self.log_path, "ab")
        self.offset = self.log.tell()
        self.pipe_w = None
        self.master_fd = None
        kw = {}
        if fd_input:
            r, w = os.pipe()
            args += ["--unseal-fd", str(r)]
            kw["pass_fds"] = (r,)
            self.pipe_w = w
        e = dict(self.env)
        if env:
            e.update(env)
        if tty:
            self.master_fd, slave = pty.openpty()
            kw["preexec_fn"] = lambda: (os.setsid(), __import__("fcntl").ioctl(
                slave, __import__("termios").TIOCSCTTY, 0))
            kw["pass_fds"] = (slave,)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=e,
                                     stdin=subprocess.DEVNULL, **kw)
        if fd_input:
            os.close(r)
        if tty:
            os.close(slave)
        self.port = int(self.wait_log(rb"listening on https://127\.0\.0\.1:(\d+)"))
        self.addr = "https://127.0.0.1:%d" % self.port
        return self

    def wait_log(self, pattern, limit=60):
        import re
        deadline = time.time() + limit
        while time.time() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(self.offset)
                m = re.search(pattern, f.read())
            if m:
                return m.group(1) if m.groups() else m.group(0)
            if self.proc.poll() is not None:
                raise RuntimeError("rsvaultd exited: " + self.logtext()[-2000:])
            time.sleep(0.05)
        return None

    def wait_count(self, pattern, n, limit=60):
        """Has pattern been logged (since start_sealed) at least n times?"""
        import re
        deadline = time.time() + limit
        while time.time() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(self.offset)
                if len(re.findall(pattern, f.read())) >= n:
                    return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def feed(self, text):
        os.write(self.pipe_w, text.encode())

    def close_input(self):
        if self.pipe_w is not None:
            os.close(self.pipe_w)
            self.pipe_w = None


def sealed_answers(t, v, name):
    r = v.get("/v1/health")
    t.ok(r.status == 503 and r.json == {"status": "sealed", "sealed": True},
         name + ": health 503 sealed")
    expect(t, v.get("/v1/me", v.admin), 503, "unavailable", name + ": /v1/me")
    expect(t, v.post("/v1/tickets", v.admin, {"subject": "x"}), 503, "unavailable",
           name + ": POST /v1/tickets")
    expect(t, v.get("/v1/metrics", v.admin), 503, "unavailable",
           name + ": GET /v1/metrics (alert on health's 503, docs/operations.md)")


def unsealed(t, v, c, w, name):
    r = v.get("/v1/health")
    t.ok(r.status == 200 and r.json.get("status") == "ok", name + ": health 200")
    r = c.read_secret(w)
    t.ok(r.status == 200 and r.json.get("secret") == w.secret, name + ": the secret reads")
    r = v.get("/v1/metrics", v.admin)
    lines = r.body.decode(errors="replace").splitlines() if r.status == 200 else []
    t.ok("# TYPE rsvault_sealed gauge" in lines and "rsvault_sealed 0" in lines,
         name + ": metrics say rsvault_sealed 0 (status %d)" % r.status)


def main():
    t = TAP()
    v = SealedVault()
    v.start()
    c = Core(v)
    owner = c.customer()
    agent = c.agent()
    w = c.world(owner, agent=agent, session=True)
    expect(t, c.read_secret(w), 200, name="secret readable before sealing")
    v.stop()
    plain = open(os.path.join(v.keys, "master.key"), "rb").read()

    # --- passphrase
    r = keys_tool("seal", "--dir", v.keys, "--passphrase", stdin="short\n")
    t.ok(r.returncode != 0 and os.path.exists(os.path.join(v.keys, "master.key")),
         "a passphrase under 8 characters is refused, nothing sealed")
    # a passphrase line longer than 2047 bytes: refused whole, never cut short
    long_pw = "L" * 3000
    r = keys_tool("seal", "--dir", v.keys, "--passphrase", stdin=long_pw + "\n")
    t.ok(r.returncode != 0 and "longer than 2047 bytes" in r.stderr and
         os.path.exists(os.path.join(v.keys, "master.key")) and
         not os.path.exists(os.path.join(v.keys, "master.key.sealed")),
         "a new passphrase of 3000 bytes is refused with a clear message, nothing sealed "
         "(%s)" % r.stderr.strip()[-160:])
    r = keys_tool("seal", "--dir", v.keys, "--passphrase", stdin=PASS + "\n")
    t.eq(r.returncode, 0, "seal --passphrase exits 0")
    sp = os.path.join(v.keys, "master.key.sealed")
    t.ok(not os.path.exists(os.path.join(v.keys, "master.key")) and os.path.exists(sp) and
         (os.stat(sp).st_mode & 0o777) == 0o600, "master.key replaced by master.key.sealed (0600)")
    blob = b"".join(open(os.path.join(v.keys, f), "rb").read() for f in os.listdir(v.keys))
    t.ok(plain[10:42] not in blob, "the key bytes are nowhere in the key directory")
    t.ok(blob.find(PASS.encode()) < 0, "nor the passphrase")

    v.start_sealed(fd_input=True)
    sealed_answers(t, v, "sealed, no input yet")
    v.feed("not the passphrase\n")
    t.ok(v.wait_log(rb"wrong passphrase") is not None, "a wrong passphrase is reported")
    sealed_answers(t, v, "after a wrong passphrase")
    t.ok(PASS.encode() not in open(v.log_path, "rb").read() and
         b"not the passphrase" not in open(v.log_path, "rb").read(),
         "the log holds no passphrase")
    # a line over 2047 bytes whose last bytes are the passphrase: refused
    # whole; its rest is not read as a line of its own
    v.feed("x" * 2048 + PASS + "\n")
    t.ok(v.wait_log(rb"longer than 2047 bytes: refused whole", limit=30) is not None,
         "--unseal-fd: a line too long is refused with a clear message")
    v.feed("not the passphrase either\n")
    t.ok(v.wait_count(rb"wrong passphrase", 2, limit=60),
         "the next line is read as the next line (its wrong passphrase is reported)")
    sealed_answers(t, v, "after a line too long ending in the passphrase")
    v.feed(PASS + "\n")
    t.ok(v.wait_log(rb"unsealed: master-key version") is not None, "unsealed by --unseal-fd")
    v.close_input()
    unsealed(t, v, c, w, "after the passphrase")
    expect(t, v.get("/v1/me", owner.token), 200, name="a token from before sealing works")
    v.stop()

    # input that ends with a wrong passphrase: stays sealed, keeps answering
    v.start_sealed(fd_input=True)
    v.feed("wrong one\n")
    v.close_input()
    t.ok(v.wait_log(rb"STILL SEALED") is not None, "input ended: the log says still sealed")
    sealed_answers(t, v, "input ended")
    v.stop()

    # no way to unseal (no --unseal-fd, no credential, no terminal): refuses to start
    env = dict(os.environ)
    env.pop("CREDENTIALS_DIRECTORY", None)
    r = subprocess.run([binpath("rsvaultd"), "--data", v.data, "--keys", v.keys, "--listen",
                        "127.0.0.1:0"] + (["--user", "nobody"] if os.geteuid() == 0 else []),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                       start_new_session=True, env=env)
    t.ok(r.returncode != 0 and "nothing to unseal them from" in r.stderr,
         "sealed with no unseal source at all: refuses to start, says why")

    # systemd credential
    cred = tmpdir("cred")
    cp = os.path.join(cred, "rsvault-unseal")
    with open(cp, "w") as f:
        f.write("c" * 3000 + "\n" + "wrong passphrase\n")
    os.chmod(cp, 0o600)
    v.start_sealed(env={"CREDENTIALS_DIRECTORY": cred})
    t.ok(v.wait_log(rb"STILL SEALED") is not None, "a wrong credential: still sealed")
    t.ok(b"longer than 2047 bytes" in open(v.log_path, "rb").read()[v.offset:],
         "a credential line too long is reported, not skipped in silence")
    sealed_answers(t, v, "wrong credential")
    v.stop()
    os.unlink(cp)
    with open(cp, "w") as f:
        f.write(PASS + "\n")
    os.chmod(cp, 0o600)
    v.start_sealed(env={"CREDENTIALS_DIRECTORY": cred})
    t.ok(v.wait_log(rb"unsealed: master-key version") is not None,
         "unsealed from $CREDENTIALS_DIRECTORY/rsvault-unseal")
    unsealed(t, v, c, w, "credential")
    v.stop()

    # terminal: a no-echo prompt on the controlling terminal
    v.start_sealed(tty=True)
    out = b""
    deadline = time.time() + 30
    while b"passphrase" not in out and time.time() < deadline:
        try:
            out += os.read(v.master_fd, 1024)
        except OSError:
            break
    t.ok(b"passphrase" in out, "the server prompts on the terminal")
    os.write(v.master_fd, (PASS + "\n").encode())
    t.ok(v.wait_log(rb"unsealed: master-key version") is not None, "unsealed from the terminal")
    time.sleep(0.3)
    try:
        out += os.read(v.master_fd, 4096)
    except OSError:
        pass
    t.ok(PASS.encode() not in out, "the passphrase was not echoed")
    unsealed(t, v, c, w, "terminal")
    v.stop()
    os.close(v.master_fd)

    # --- rotate on a sealed directory: asks for the passphrase, seals the new key
    r = keys_tool("rotate-master", "--dir", v.keys, stdin="wrong pass\n")
    t.ok(r.returncode != 0 and not os.path.exists(os.path.join(v.keys, "master-2.key.sealed")),
         "rotate-master on a sealed dir with a wrong passphrase: refused")
    r = keys_tool("rotate-master", "--dir", v.keys, stdin="y" * 3000 + PASS + "\n")
    t.ok(r.returncode != 0 and "longer than 2047 bytes" in r.stderr and
         not os.path.exists(os.path.join(v.keys, "master-2.key.sealed")),
         "rotate-master on a sealed dir, a passphrase line too long: refused as too long "
         "(%s)" % r.stderr.strip()[-160:])
    r = keys_tool("rotate-master", "--dir", v.keys, stdin=PASS + "\n")
    t.ok(r.returncode == 0 and os.path.exists(os.path.join(v.keys, "master-2.key.sealed")) and
         not os.path.exists(os.path.join(v.keys, "master-2.key")),
         "rotate-master on a sealed dir writes master-2.key.sealed")

    # --- reseal as 3-of-5 shares
    shares_dir = os.path.join(tmpdir("shares"), "out")
    r = keys_tool("seal", "--dir", v.keys, "--shares", "5", "--threshold", "3", "--out", v.keys,
                  stdin=PASS + "\n")
    t.ok(r.returncode != 0 and not any(f.startswith("share-") for f in os.listdir(v.keys)),
         "shares beside the sealed key are refused")
    r = keys_tool("seal", "--dir", v.keys, "--shares", "5", "--threshold", "6", "--out",
                  shares_dir, stdin=PASS + "\n")
    t.ok(r.returncode != 0, "a threshold above the share count is refused")
    r = keys_tool("seal", "--dir", v.keys, "--shares", "5", "--threshold", "3", "--out",
                  shares_dir, stdin=PASS + "\n")
    t.eq(r.returncode, 0, "seal --shares 5 --threshold 3 (resealing) exits 0")
    t.ok("different person" in r.stderr, "the tool says to hand shares to different people")
    files = sorted(os.listdir(shares_dir)) if os.path.isdir(shares_dir) else []
    t.eq(files, ["share-%d.txt" % i for i in range(1, 6)], "share-1.txt .. share-5.txt")
    lines = [open(os.path.join(shares_dir, f)).read() for f in files]
    t.ok(all((os.stat(os.path.join(shares_dir, f)).st_mode & 0o777) == 0o600 for f in files),
         "share files are 0600")
    parsed = []
    try:
        parsed = [parse_share(ln) for ln in lines]
        good = (len(set(p[0] for p in parsed)) == 1 and all(p[1] == 3 for p in parsed) and
                [p[2] for p in parsed] == [1, 2, 3, 4, 5] and all(ln.count("\n") == 1 for ln in lines))
    except (AssertionError, ValueError, IndexError):
        good = False
    t.ok(good, "each share is one line: tag, seal id, K=3, index, share, checksum")
    # the Python implementation agrees on every 3-subset
    import itertools
    keys = set()
    if parsed:
        for sub in itertools.combinations(parsed, 3):
            keys.add(py_combine([(p[2], p[3]) for p in sub]))
        two = py_combine([(parsed[0][2], parsed[0][3]), (parsed[1][2], parsed[1][3])])
    t.ok(len(keys) == 1, "all ten 3-of-5 subsets give one key in a second implementation")
    t.ok(parsed and two not in keys, "two shares give a different value")

    r = keys_tool("rotate-master", "--dir", v.keys, stdin=PASS + "\n")
    t.ok(r.returncode != 0, "the old passphrase no longer opens the resealed directory")

    # another seal, to mix in
    other = tmpdir("other")
    keys_tool("init", "--dir", os.path.join(other, "k"))
    keys_tool("seal", "--dir", os.path.join(other, "k"), "--shares", "3", "--threshold", "2",
              "--out", os.path.join(other, "s"))
    foreign = open(os.path.join(other, "s", "share-1.txt")).read()

    v.start_sealed(fd_input=True)
    v.feed(lines[0])
    v.feed(foreign)
    t.ok(v.wait_log(rb"another seal") is not None, "a share of another seal is refused")
    bad = lines[1][:30] + ("0" if lines[1][30] != "0" else "1") + lines[1][31:]
    v.feed(bad)
    t.ok(v.wait_log(rb"checksum") is not None, "a damaged share line is refused by its checksum")
    v.feed(lines[0])
    t.ok(v.wait_log(rb"given already") is not None, "the same share twice is refused")
    v.feed(lines[3])
    time.sleep(1)
    sealed_answers(t, v, "two shares of three")
    v.feed(lines[4])
    t.ok(v.wait_log(rb"unsealed: master-key version 2") is not None,
         "the third share unseals (both versions)")
    unsealed(t, v, c, w, "3 of 5 shares")
    v.close_input()
    v.stop()

    # too few shares, then the input ends
    v.start_sealed(fd_input=True)
    v.feed(lines[1] + lines[2])
    v.close_input()
    t.ok(v.wait_log(rb"STILL SEALED") is not None, "two shares and the end of input: sealed")
    sealed_answers(t, v, "too few shares")
    v.stop()

    # shares made by the Python implementation from the combined key unseal
    if parsed:
        sealid = parsed[0][0]
        key = keys.pop()
        mine = py_split(key, 3, [7, 100, 255])
        v.start_sealed(fd_input=True)
        for x, y in mine:
            v.feed(share_line(sealid, 3, x, y))
        t.ok(v.wait_log(rb"unsealed: master-key version") is not None,
             "shares split in Python (x = 7, 100, 255) unseal the server")
        v.close_input()
        unsealed(t, v, c, w, "Python-made shares")
        v.stop()
    else:
        t.ok(False, "shares split in Python unseal the server (no shares parsed)")

    # admin-token on a sealed directory asks for the shares
    r = keys_tool("admin-token", "--data", v.data, "--keys", v.keys, stdin=lines[0] + lines[2] + lines[4])
    t.eq(r.returncode, 0, "admin-token works on a sealed key directory given 3 shares")
    t.ok(v.bad_exits == [], "every server exited cleanly (%r)" % v.bad_exits)
    if not t.failed and not os.environ.get("RSVAULT_KEEP_TMP"):
        for d in (v.dir, cred, os.path.dirname(shares_dir), other):
            shutil.rmtree(d, ignore_errors=True)
    t.done()


if __name__ == "__main__":
    main()

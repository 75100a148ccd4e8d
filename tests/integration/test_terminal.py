#!/usr/bin/env python3
"""bin/rsvault must not let a customer (or a hostile vault) drive the agent's
terminal (issue 9, defect 5).

A customer uploads secrets holding an OSC title sequence, a CSI clear-screen,
a C1 CSI (U+009B) and a bidi override (U+202E). The agent reads them with
`rsvault cred get` with standard output on a pseudo-terminal: no raw ESC, BEL,
C1 or direction character may reach the terminal, the escaped forms must be
visible and standard error must say so; `--raw` gives the exact bytes, and so
does a pipe. `--json` stays valid JSON of the exact secret but carries no raw
C1 or direction character.

The vault refuses control characters in labels and subjects, so tables, the
"key: value" view and error messages are checked against a hostile vault: a
TLS server on loopback (with the test vault's own certificate) that answers
with real answers of the vault into which hostile text has been put.
"""
import json
import os
import pty
import re
import select
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import tty
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvcore import Core  # noqa: E402
from rsvtest import TAP, Vault, binpath  # noqa: E402
from rsvtest import tmpdir as _tmpdir  # noqa: E402

t = TAP()
_made = []


def tmpdir(prefix):
    """A scratch directory under tests/tmp, removed at the end on success."""
    d = _tmpdir(prefix)
    _made.append(d)
    return d

OSC = "X\x1b]0;pwned\x07"
CSI = "\x1b[2Jcleared"
C1 = "a\u009b31mred"
BIDI = "abc\u202etxt.exe"
# every kind at once, with a backslash and a line feed, which stay readable
ALL = "p\\w\x1b]0;t\x07\u009b\u202e\u2066\tend\nline2\r"
PLAIN = "DOMAIN\\Sup3r-Secret! with spaces\nsecond line"  # needs no escaping

# the escaped form cred get shows on a terminal
SHOWN = {
    OSC: "X\\x1b]0;pwned\\x07",
    CSI: "\\x1b[2Jcleared",
    C1: "a\\u009b31mred",
    BIDI: "abc\\u202etxt.exe",
    ALL: "p\\\\w\\x1b]0;t\\x07\\u009b\\u202e\\u2066\\tend\nline2\\r",
}

# byte patterns that must never reach a terminal: C0 controls other than
# line feed, DEL, C1 as UTF-8, raw C1 bytes that are not UTF-8, and the
# direction, isolate and separator characters
RAW_C0 = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")
RAW_UNSAFE = re.compile(rb"\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]|\xe2\x81[\xa6-\xa9]")


def raw_free(data, allow_lf=True):
    """True if data holds nothing that can drive a terminal."""
    if RAW_C0.search(data) or RAW_UNSAFE.search(data):
        return False
    if not allow_lf and b"\n" in data.rstrip(b"\n"):
        return False
    # a lone C1 byte outside a UTF-8 sequence
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Client:
    """bin/rsvault with a clean environment: no CA but the one given, HOME
    and XDG_CONFIG_HOME in an empty scratch directory."""

    def __init__(self, addr, ca, scratch):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("RSVAULT_") and k not in
               ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "SSLKEYLOGFILE")}
        env.update(RSVAULT_ADDR=addr, RSVAULT_CACERT=ca, HOME=scratch,
                   XDG_CONFIG_HOME=os.path.join(scratch, "config"), LC_ALL="C.UTF-8")
        self.env = env
        self.cwd = scratch

    def _env(self, token, extra):
        e = dict(self.env)
        if token is not None:
            e["RSVAULT_TOKEN"] = token
        e.update(extra or {})
        return e

    def pipe(self, args, token=None, env=None):
        """Run with standard output and error on pipes."""
        return subprocess.run([binpath("rsvault")] + args, capture_output=True,
                              stdin=subprocess.DEVNULL, env=self._env(token, env),
                              cwd=self.cwd, timeout=60)

    def tty(self, args, token=None, env=None, stderr_tty=False, timeout=60):
        """Run with standard output (and with stderr_tty standard error too)
        on a pseudo-terminal in raw mode, so that what is read from the
        master is exactly what the client wrote. Returns (exit status,
        terminal bytes, stderr bytes)."""
        master, slave = pty.openpty()
        tty.setraw(slave)
        try:
            p = subprocess.Popen([binpath("rsvault")] + args, stdin=subprocess.DEVNULL,
                                 stdout=slave,
                                 stderr=slave if stderr_tty else subprocess.PIPE,
                                 env=self._env(token, env), cwd=self.cwd)
        finally:
            os.close(slave)
        got = bytearray()
        deadline = time.time() + timeout
        try:
            while True:
                left = deadline - time.time()
                if left <= 0:
                    p.kill()
                    raise RuntimeError("rsvault %r did not finish" % (args,))
                ready, _, _ = select.select([master], [], [], left)
                if not ready:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every holder of the slave closed it
                    break
                if not chunk:
                    break
                got += chunk
        finally:
            os.close(master)
        err = p.stderr.read() if p.stderr else b""
        if p.stderr:
            p.stderr.close()
        rc = p.wait(timeout=30)
        return rc, bytes(got), err


def show(rc, out, err=b""):
    t.diag("exit %d\nstdout: %r\nstderr: %r" % (rc, out[:1500], err[:1500]))


def real_vault(v):
    """Secrets with escape sequences, read back through every path."""
    core = Core(v)
    cust = core.customer("pro")
    agent = core.agent()
    w = core.ticket(cust, subject="printer offline")
    # the server refuses control and direction characters in notes (they
    # are displayed text); hostile notes are served by the fake vault below
    notes = "see the red cable \u2013 r\u00e9seau 2"
    cids = {}
    for s in (OSC, CSI, C1, BIDI, ALL, PLAIN):
        cids[s] = core.cred(w, secret=s, label="hostile %d" % len(cids), kind="other",
                            notes=notes)
    core.assign(w, agent)
    sid = core.session(w)
    scratch = tmpdir("rsvterm")
    cli = Client(v.addr, v.ca, scratch)
    env = {"RSVAULT_SESSION": sid}

    for s in (OSC, CSI, C1, BIDI, ALL):
        args = ["cred", "get", w.tid, cids[s]]
        rc, out, err = cli.tty(args, agent.token, env)
        good = t.ok(rc == 0 and raw_free(out) and out == SHOWN[s].encode() + b"\n",
                    "cred get %r on a terminal: only the escaped form %r reaches it"
                    % (s, SHOWN[s]))
        if not good:
            show(rc, out, err)
        msg = err.decode("utf-8", "replace")
        if not t.ok("control" in msg and "--raw" in msg and s.encode() not in err
                    and raw_free(err),
                    "... standard error says it is escaped and how to get it as stored "
                    "(a clean note without the secret)"):
            show(rc, out, err)

        rc, out, err = cli.tty(args + ["--raw"], agent.token, env)
        if not t.ok(rc == 0 and out == s.encode() + b"\n",
                    "cred get --raw on a terminal: the exact bytes"):
            show(rc, out, err)

        r = cli.pipe(args, agent.token, env)
        if not t.ok(r.returncode == 0 and r.stdout == s.encode() + b"\n" and r.stderr == b"",
                    "cred get into a pipe: the exact bytes, no note"):
            show(r.returncode, r.stdout, r.stderr)

        for where in ("pipe", "tty"):
            if where == "pipe":
                r = cli.pipe(args + ["--json"], agent.token, env)
                rc, out = r.returncode, r.stdout
            else:
                rc, out, err = cli.tty(args + ["--json"], agent.token, env)
            try:
                rec = json.loads(out.decode("utf-8"))
            except ValueError:
                rec = {}
            good = t.ok(rc == 0 and rec.get("secret") == s and rec.get("notes") == notes
                        and raw_free(out, allow_lf=False),
                        "cred get --json (%s): valid JSON of the exact secret and notes, "
                        "no raw control, C1 or direction character" % where)
            if not good:
                show(rc, out)

    # a secret that needs no escaping is shown as it is, without a note
    args = ["cred", "get", w.tid, cids[PLAIN]]
    rc, out, err = cli.tty(args, agent.token, env)
    if not t.ok(rc == 0 and out == PLAIN.encode() + b"\n" and err == b"",
                "a secret with a backslash and a line feed is shown unchanged, no note"):
        show(rc, out, err)
    return core, cust, w, cids


class Hostile(BaseHTTPRequestHandler):
    """Answers every GET from a table of (status, object)."""
    protocol_version = "HTTP/1.1"
    answers = {}

    def do_GET(self):
        status, obj = self.answers.get(self.path.split("?")[0], (404, {
            "error": {"code": "not_found", "message": "no such thing"}}))
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


EVIL = "\x1b]0;pwned\x07\x1b[2J\u009b31m\u202eexe.txt"
EVIL_SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J\\u009b31m\\u202eexe.txt"


def hostile_vault(v, core, cust, w, cids):
    """Tables, key/value lines and errors from a vault that sends anything."""
    tickets = v.get("/v1/tickets", v.admin).json
    ticket = v.get(w.path, v.admin).json
    creds = v.get(w.path + "/credentials", cust.token).json
    for tk in tickets["tickets"]:
        tk["subject"] = "help " + EVIL
        tk["agent"] = EVIL[:24]
    ticket["subject"] = "help " + EVIL
    ticket["ref"] = EVIL
    for c in creds["credentials"]:
        c["label"] = EVIL
        c["kind"] = "\u202essh"
    Hostile.answers = {
        "/v1/tickets": (200, tickets),
        w.path: (200, ticket),
        w.path + "/credentials": (200, creds),
        "/v1/me": (403, {"error": {"code": "forbidden\x1b[2J",
                                   "message": "denied " + EVIL}}),
    }
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(v.keys, "server.pem"), os.path.join(v.keys, "server.key"))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        cli = Client("https://127.0.0.1:%d" % srv.server_address[1], v.ca, tmpdir("rsvhost"))
        tok = cust.token
        for args, want in ((["cred", "list", w.tid], EVIL_SHOWN),
                           (["ticket", "list"], "help " + EVIL_SHOWN[:40]),
                           (["ticket", "show", w.tid], "help " + EVIL_SHOWN)):
            rc, out, err = cli.tty(args, tok)
            good = t.ok(rc == 0 and raw_free(out) and want.encode() in out,
                        "%s from a hostile vault, on a terminal: hostile text shown escaped"
                        % " ".join(args[:2]))
            if not good:
                show(rc, out, err)
        rc, out, _ = cli.tty(["cred", "list", w.tid], tok)
        t.ok(b"\\u202essh" in out, "... a direction character in a short cell too")

        rc, out, _ = cli.tty(["me"], tok, stderr_tty=True)
        good = t.ok(rc == 3 and raw_free(out) and
                    ("forbidden\\x1b[2J: denied " + EVIL_SHOWN).encode() in out,
                    "an error message from a hostile vault reaches the terminal escaped")
        if not good:
            show(rc, out)

        for args in (["ticket", "show", w.tid, "--json"], ["cred", "list", w.tid, "--json"]):
            rc, out, err = cli.tty(args, tok)
            try:
                doc = json.loads(out.decode("utf-8"))
            except ValueError:
                doc = None
            want = ticket if args[0] == "ticket" else creds
            good = t.ok(rc == 0 and doc == want and raw_free(out, allow_lf=False) and
                        b"\\u009b" in out and b"\\u202e" in out,
                        "%s --json from a hostile vault: the same document, C1 and "
                        "direction characters as \\u escapes" % " ".join(args[:2]))
            if not good:
                show(rc, out, err)

        hostile_audit(cli, tok, w, v)
    finally:
        srv.shutdown()
        srv.server_close()


# --- the audit commands (review: two paths printed the vault's text raw) ----
AUDIT_FIELDS = ("time", "actor", "role", "action", "ticket", "credential", "session",
                "outcome", "reason", "ip", "request_id", "target", "token", "cert")
# a C1 CSI, a direction override, DEL and an ESC in an event's text
AUDIT_EVIL = "a\u009b2J\u202eb\x7fc\x1b[2J"


def audit_chain(tid):
    """Two form-2 events with hostile text, hashed as docs/audit.md section 2
    says, so that the offline verifier accepts an export of them."""
    import hashlib
    import struct
    prev, out = bytes(32), []
    for seq in (1, 2):
        ev = {"seq": seq, "form": 2, "time": "2026-11-22T10:00:0%d.123Z" % seq,
              "actor": AUDIT_EVIL, "role": "admin", "action": "ticket.read", "ticket": tid,
              "credential": None, "session": None, "outcome": "allow", "reason": None,
              "ip": "127.0.0.1", "request_id": "r\u202e%d" % seq, "target": AUDIT_EVIL,
              "token": None, "cert": None, "prev": prev.hex()}
        data = bytearray(b"rsvault-audit-event-v2\x00" + struct.pack(">Q", seq))
        for name in AUDIT_FIELDS:
            val = ev[name]
            if val is None:
                data += b"\x00"
            else:
                raw = val.encode("utf-8")
                data += b"\x01" + struct.pack(">I", len(raw)) + raw
        h = hashlib.blake2b(digest_size=32)
        h.update(prev)
        h.update(bytes(data))
        ev["hash"] = h.hexdigest()
        prev = bytes.fromhex(ev["hash"])
        out.append(ev)
    return out


def hostile_audit(cli, tok, w, v):
    """rsvault --json audit list --ticket and rsvault audit export (to
    standard output and to a file) write a hostile vault's text escaped,
    as every other --json path does; the export still verifies."""
    evs = audit_chain(w.tid)
    Hostile.answers[w.path + "/audit"] = (200, {"events": evs, "next_seq": 2})
    Hostile.answers["/v1/audit"] = (200, {"events": evs, "next_seq": 2})
    Hostile.answers["/v1/audit/checkpoints"] = (200, {"checkpoints": [], "next_seq": 0})

    for args in (["--json", "audit", "list", "--ticket", w.tid],
                 ["--json", "audit", "list"]):
        for where in ("tty", "pipe"):
            if where == "tty":
                rc, out, err = cli.tty(args, tok)
            else:
                r = cli.pipe(args, tok)
                rc, out, err = r.returncode, r.stdout, r.stderr
            try:
                doc = json.loads(out.decode("utf-8"))
            except ValueError:
                doc = None
            good = t.ok(rc == 0 and isinstance(doc, dict) and doc.get("events") == evs and
                        raw_free(out, allow_lf=False) and b"\\u009b" in out and
                        b"\\u202e" in out and b"\\u007f" in out,
                        "rsvault %s from a hostile vault (%s): the same events, C1, "
                        "direction and DEL as \\u escapes" % (" ".join(args), where))
            if not good:
                show(rc, out, err)

    rc, out, err = cli.tty(["audit", "export"], tok)
    lines = out.decode("utf-8", "replace").splitlines()
    try:
        recs = [json.loads(ln) for ln in lines]
    except ValueError:
        recs = None
    want = [dict(e, type="event") for e in evs]
    good = t.ok(rc == 0 and recs == want and raw_free(out) and b"\\u009b" in out and
                b"\\u202e" in out and b"\\u007f" in out,
                "rsvault audit export to a terminal from a hostile vault: the same events, "
                "C1, direction and DEL as \\u escapes")
    if not good:
        show(rc, out, err)

    d = tmpdir("rsvexp")
    path = os.path.join(d, "export.jsonl")
    r = cli.pipe(["audit", "export", "-o", path], tok)
    data = open(path, "rb").read() if os.path.exists(path) else b""
    try:
        recs = [json.loads(ln) for ln in data.decode("utf-8").splitlines()]
    except ValueError:
        recs = None
    good = t.ok(r.returncode == 0 and recs == want and raw_free(data),
                "rsvault audit export -o FILE: the same events, escaped in the file too "
                "(cat cannot drive a terminal)")
    if not good:
        show(r.returncode, data, r.stderr)
    # the escapes are the same characters to the verifier, which hashes the
    # decoded fields: the chain verifies (exit 5: valid, nothing signed)
    for argv in (["rsvault", "audit", "verify"], ["rsvault-keys", "verify-audit"]):
        p = subprocess.run([binpath(argv[0])] + argv[1:] +
                           [path, "--pubkey", os.path.join(v.keys, "audit.pub")],
                           capture_output=True, timeout=60, env=cli.env)
        good = t.ok(p.returncode == 5, "%s of the escaped export: the chain verifies (5)"
                    % " ".join(argv))
        if not good:
            show(p.returncode, p.stdout, p.stderr)


def main():
    with Vault() as v:
        try:
            core, cust, w, cids = real_vault(v)
            hostile_vault(v, core, cust, w, cids)
        except Exception as e:  # report, do not hide the TAP summary
            import traceback
            t.ok(False, "test raised %s" % type(e).__name__)
            t.diag(traceback.format_exc())
            t.diag(v.logtext()[-3000:])
    if not t.failed and not os.environ.get("RSVAULT_KEEP_TMP"):
        for d in _made:
            shutil.rmtree(d, ignore_errors=True)
    t.done()


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()

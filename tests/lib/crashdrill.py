"""Crash drill: concurrent uploads, secret reads and session changes while
rsvaultd is killed with SIGKILL at a random moment; after each restart every
acknowledged write must be there, nothing unacknowledged may be half
visible, and the audit log must verify offline.

Used by tests/integration/test_crash.py (a short run in `make test`) and
tests/stress/crash.py (`make stress`, 200 rounds)."""
import json
import os
import random
import secrets
import subprocess
import threading
import time

from rsvtest import binpath
from rsvcore import Core, all_events


class Round:
    """What the clients of one round sent and what the server acknowledged."""

    def __init__(self, n):
        self.n = n
        self.lock = threading.Lock()
        self.sent = {}       # label -> secret (every upload attempted)
        self.acked = {}      # label -> credential id (201 received)
        self.sess_open = []  # session ids whose opening was acknowledged
        self.sess_ended = []  # session ids whose end was acknowledged (204)
        self.reads = 0       # secret reads answered 200 with the right bytes
        self.bad_reads = []  # reads answered 200 with wrong bytes (must stay empty)


# Uploads per uploader and round: a ticket's credential list (what the
# drill checks against) holds at most 1,000 entries.
UPLOADS_MAX = 200


def _uploader(v, w, rd, stop, tag):
    c = v.conn(timeout=10)
    k = 0
    while not stop.is_set() and k < UPLOADS_MAX:
        k += 1
        label = "r%d-%s-%d" % (rd.n, tag, k)
        secret = "S/%s/%s" % (label, secrets.token_urlsafe(12))
        with rd.lock:
            rd.sent[label] = secret
        try:
            r = v.post(w.path + "/credentials", w.owner.token,
                       {"label": label, "kind": "ssh", "secret": secret}, conn=c)
        except Exception:  # noqa: BLE001 - the server was killed under us
            return
        if r.status == 201:
            with rd.lock:
                rd.acked[label] = r.json["id"]


def _agent(v, w, rd, stop):
    c = v.conn(timeout=10)
    while not stop.is_set():
        try:
            r = v.post(w.path + "/sessions", w.agent.token, conn=c)
            if r.status != 201:
                time.sleep(0.01)
                continue
            sid = r.json["id"]
            with rd.lock:
                rd.sess_open.append(sid)
                acked = list(rd.acked.items())
            for label, cid in acked[-3:]:
                r = v.get("%s/credentials/%s/secret" % (w.path, cid), w.agent.token,
                          headers={"X-Session-Id": sid}, conn=c)
                if r.status == 200:
                    with rd.lock:
                        if r.json.get("secret") == rd.sent[label]:
                            rd.reads += 1
                        else:
                            rd.bad_reads.append(label)
            r = v.delete("/v1/sessions/" + sid, w.agent.token, conn=c)
            if r.status == 204:
                with rd.lock:
                    rd.sess_ended.append(sid)
        except Exception:  # noqa: BLE001 - the server was killed under us
            return


def kill9(v):
    """SIGKILL the server and forget it (a killed server is not a bad exit)."""
    v.proc.kill()
    v.proc.wait()
    v.proc = None
    v.log.close()


class Drill:
    def __init__(self, t, v, seed):
        self.t = t
        self.v = v
        self.rng = random.Random(seed)
        self.c = Core(v)
        self.owner = self.c.customer("site")
        self.agent = self.c.agent()
        self.auditor = self.c.auditor()
        self.rounds = []
        self.failures = 0

    def check(self, cond, name):
        """One check; only failures are printed as TAP lines, so 200 rounds
        stay readable. Returns cond."""
        if not cond:
            self.failures += 1
            self.t.ok(False, name)
        return cond

    def round(self, n):
        v, c = self.v, self.c
        w = c.world(self.owner, self.agent, cred=False)
        rd = Round(n)
        rd.w = w
        stop = threading.Event()
        th = [threading.Thread(target=_uploader, args=(v, w, rd, stop, "a")),
              threading.Thread(target=_uploader, args=(v, w, rd, stop, "b")),
              threading.Thread(target=_agent, args=(v, w, rd, stop))]
        for x in th:
            x.start()
        time.sleep(self.rng.uniform(0.15, 0.9))
        kill9(v)
        stop.set()
        for x in th:
            x.join(30)
        v.start()
        self.rounds.append(rd)
        self.verify_round(rd)
        return rd

    def fresh_session(self, w):
        r = self.v.post(w.path + "/sessions", w.agent.token)
        if r.status == 409:  # an acknowledged-open session from before the kill
            for s in self.c.sessions(w).values():
                if s["state"] == "active":
                    self.v.delete("/v1/sessions/" + s["id"], w.agent.token)
            r = self.v.post(w.path + "/sessions", w.agent.token)
        if not self.check(r.status == 201, "round ticket %s: a session opens after restart (%d)"
                          % (w.tid, r.status)):
            return None
        return r.json["id"]

    def verify_round(self, rd):
        v, w = self.v, rd.w
        n = rd.n
        self.check(not rd.bad_reads, "round %d: every 200 secret read had the uploaded bytes" % n)
        r = v.get(w.path + "/credentials", w.owner.token)
        if not self.check(r.status == 200, "round %d: credentials list after restart" % n):
            return
        listed = {x["label"]: x["id"] for x in r.json["credentials"]}
        for label, cid in rd.acked.items():
            self.check(listed.get(label) == cid,
                       "round %d: acknowledged upload %s (%s) is present" % (n, label, cid))
        for label in listed:
            self.check(label in rd.sent, "round %d: listed credential %s was sent" % (n, label))
        sessions = self.c.sessions(w)
        for sid in rd.sess_open:
            self.check(sid in sessions, "round %d: acknowledged session %s exists" % (n, sid))
        for sid in rd.sess_ended:
            self.check(sessions.get(sid, {}).get("state") == "ended",
                       "round %d: acknowledged end of session %s stuck" % (n, sid))
        sid = self.fresh_session(w)
        if sid is None:
            return
        # Every listed credential, acknowledged or not, decrypts whole to
        # exactly what was sent under its label: nothing is half-visible.
        for label, cid in listed.items():
            r = v.get("%s/credentials/%s/secret" % (w.path, cid), w.agent.token,
                      headers={"X-Session-Id": sid})
            self.check(r.status == 200 and r.json.get("secret") == rd.sent.get(label),
                       "round %d: credential %s reads back exactly (%d)" % (n, label, r.status))
        self.check(v.delete("/v1/sessions/" + sid, w.agent.token).status == 204,
                   "round %d: verification session ends" % n)
        rd.listed = listed

    def verify_audit(self, workdir):
        """Acknowledged uploads have their allow events; the export verifies."""
        evs = all_events(self.v, self.auditor.token)
        seqs = [e["seq"] for e in evs]
        self.t.diag("audit log: %d events" % len(seqs))
        self.check(seqs == list(range(1, len(seqs) + 1)), "audit seqs are 1..N without gaps")
        created = {e["credential"] for e in evs
                   if e["action"] == "credential.create" and e["outcome"] == "allow"}
        missing = [cid for rd in self.rounds for cid in rd.acked.values() if cid not in created]
        self.check(not missing, "every acknowledged upload has its credential.create event "
                   "(%d missing)" % len(missing))
        out = os.path.join(workdir, "export.jsonl")
        env = dict(os.environ, RSVAULT_ADDR=self.v.addr, RSVAULT_CACERT=self.v.ca,
                   RSVAULT_TOKEN=self.auditor.token)
        p = subprocess.run([binpath("rsvault"), "audit", "export", "-o", out], env=env,
                           capture_output=True, text=True, timeout=300)
        self.check(p.returncode == 0, "audit export exits 0 (%s)" % p.stderr.strip()[:200])
        p = subprocess.run([binpath("rsvault-keys"), "verify-audit", out, "--pubkey",
                            os.path.join(self.v.keys, "audit.pub")],
                           capture_output=True, text=True, timeout=300)
        ok = p.returncode == 0 and "FAILED" not in p.stdout
        self.check(ok, "the audit export verifies offline after the crashes: %s"
                   % (p.stdout.strip() or p.stderr.strip())[:300])
        return evs

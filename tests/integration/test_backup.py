#!/usr/bin/env python3
"""Backup and restore drill (SPEC 8.5, issue 14 item 5).

A vault with --backup-dir takes uploads from several threads; in the middle
of that load an admin asks for POST /v1/admin/backup. The manifest must
describe the file (size, SHA-256, the audit head inside the copy), and
`rsvault-keys restore` must refuse a changed manifest, a changed file, a
data directory that holds a store and a key directory of another vault.
The good backup is restored into a new directory and a server started on
it: its audit log equals the original's up to the manifest's seq, then
goes on with store.restore (target seq:hash) and verifies offline (also
against a pin taken before the backup); every credential whose upload was
acknowledged before the backup was asked for decrypts; the session open at
backup time is ended, the link and receipt made before it are revoked. A
server without --backup-dir answers 409, a non-admin 403. TAP on stdout."""
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import RUN_AS, TAP, Vault, binpath, give_to_server, make_keys, tmpdir  # noqa: E402
from rsvcore import Core, all_events, expect, guarded, parse_time, uid  # noqa: E402

t = TAP()
LOAD_THREADS = 3
TICKETS_PER_THREAD = 3
MAX_PER_THREAD = 2400  # at most 800 credentials a ticket: one page of every list


def restore(backup, data, keys):
    return subprocess.run([binpath("rsvault-keys"), "restore", "--backup", backup, "--data",
                           data, "--keys", keys], capture_output=True, text=True, timeout=120)


def export(v, token, path):
    env = dict(os.environ, RSVAULT_ADDR=v.addr, RSVAULT_CACERT=v.ca, RSVAULT_TOKEN=token)
    return subprocess.run([binpath("rsvault"), "audit", "export", "-o", path], env=env,
                          capture_output=True, text=True, timeout=300)


def verify(path, pub, pin=None):
    args = [binpath("rsvault-keys"), "verify-audit", path, "--pubkey", pub]
    if pin:
        args += ["--pin", pin]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def client_verify(path, pub):
    return subprocess.run([binpath("rsvault"), "audit", "verify", path, "--pubkey", pub],
                          capture_output=True, text=True, timeout=300)


def restore_notes(out):
    return [ln for ln in out.splitlines() if ln.startswith("note: a restore is recorded")]


class Load:
    """Threads uploading credentials to tickets; each acknowledged upload
    is noted with the time its 201 arrived."""

    def __init__(self, v, worlds):
        self.v = v
        self.worlds = worlds
        self.stop = threading.Event()
        # (monotonic time of the 201, world, cid, secret, time it was sent)
        self.acked = []
        self.errors = []
        self.mu = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(LOAD_THREADS)]

    def run(self, i):
        mine = self.worlds[i::LOAD_THREADS]
        conn = self.v.conn()
        n = 0
        try:
            while not self.stop.is_set() and n < MAX_PER_THREAD:
                w = mine[n % len(mine)]
                secret = "load-%d-%d-%s" % (i, n, uid("s"))
                n += 1
                sent = time.monotonic()
                r = self.v.request("POST", w.path + "/credentials", w.owner.token,
                                   {"label": uid("l"), "kind": "ssh", "secret": secret},
                                   conn=conn)
                if r.status == 201:
                    with self.mu:
                        self.acked.append((time.monotonic(), w, r.json["id"], secret, sent))
                else:
                    self.errors.append(r.status)
        except Exception as e:  # noqa: BLE001
            self.errors.append(repr(e))
        finally:
            conn.close()

    def __enter__(self):
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for th in self.threads:
            th.join(120)


def drill():
    bdir = os.path.join(tmpdir("bk"), "backups")
    give_to_server(bdir)
    with Vault(extra_args=["--backup-dir", bdir]) as v:
        c = Core(v)
        cust = c.customer("pro")
        agent = c.agent()
        aud = c.auditor()
        worlds = [c.world(cust, agent=agent) for _ in range(LOAD_THREADS * TICKETS_PER_THREAD)]
        # a session open and a link and a receipt made before the backup
        c.session(worlds[0])
        r = v.post(worlds[1].path + "/links", cust.token, {"uses": 2})
        expect(t, r, 201, name="a link before the backup")
        lid, lsec = r.json["url"].split("#", 1)[1].split(".", 1)
        r = v.post("/v1/link/credentials", None,
                   {"label": "via link", "kind": "rdp", "secret": "link-secret-1"},
                   headers={"Authorization": "Link %s.%s" % (lid, lsec)})
        expect(t, r, 201, name="an upload through the link")
        rid, rsec = r.json["receipt"].split("#", 1)[1].split(".", 1)
        r = v.get("/v1/receipt", headers={"Authorization": "Receipt %s.%s" % (rid, rsec)})
        expect(t, r, 200, name="its receipt works before the backup")

        r = v.post("/v1/admin/backup", cust.token)
        expect(t, r, 403, "forbidden", "a customer cannot take a backup")

        with Load(v, worlds) as load:
            time.sleep(1.5)
            r = v.get("/v1/audit/checkpoint", aud.token)
            pin_before = "%d:%s" % (r.json["seq"], r.json["hash"]) if r.status == 200 else None
            t_ask = time.monotonic()
            r = v.post("/v1/admin/backup", v.admin)
            t_done = time.monotonic()
            time.sleep(1.0)
        expect(t, r, 201, name="POST /v1/admin/backup under write load")
        m = r.json or {}
        t.eq(load.errors, [], "every upload of the load succeeded")
        # acknowledged before the backup was asked for: committed before its
        # snapshot; sent after its answer: committed after the snapshot
        before = [a for a in load.acked if a[0] < t_ask]
        after = [a for a in load.acked if a[4] > t_done]
        t.ok(len(before) >= 5 and len(after) >= 1,
             "uploads were acknowledged before (%d) and after (%d) the backup"
             % (len(before), len(after)))
        t.diag("backup of %s bytes took %.2f s under load" % (m.get("bytes"), t_done - t_ask))
        t.eq(sorted(m.keys()), sorted(["file", "time", "audit_seq", "audit_hash", "sha256",
                                       "bytes", "master_versions", "signature"]),
             "the manifest has the fields of SPEC 8.5")
        f = m.get("file", "")
        t.ok(os.path.dirname(f) == bdir and os.path.isfile(f), "file is under --backup-dir")
        with open(f, "rb") as fh:
            data = fh.read()
        t.eq((len(data), hashlib.sha256(data).hexdigest()), (m.get("bytes"), m.get("sha256")),
             "bytes and sha256 describe the file")
        t.eq(oct(os.stat(f).st_mode & 0o777), "0o600", "the copy is mode 0600")
        leaked = [a[3] for a in before if a[3].encode() in data]
        t.ok(not leaked and b"link-secret-1" not in data,
             "no secret's plaintext in the copy (%d checked)" % len(before))
        with open(f + ".manifest.json") as fh:
            t.eq(json.load(fh), m, "the manifest beside the file is the answer")
        t.eq(m.get("master_versions"), [1], "master_versions names the key version")
        evs = all_events(v, aud.token)
        by_seq = {e["seq"]: e for e in evs}
        bev = [e for e in evs if e["action"] == "store.backup" and e["outcome"] == "allow"]
        t.ok(len(bev) == 1 and bev[0]["target"] == os.path.basename(f)
             and bev[0]["actor"] == "admin",
             "one store.backup event by admin names the file")
        t.ok(bev and bev[0]["seq"] <= m["audit_seq"],
             "the copy holds its own store.backup event")
        t.eq(by_seq.get(m["audit_seq"], {}).get("hash"), m["audit_hash"],
             "audit_seq/audit_hash are an event of the live chain")
        t.ok(max(by_seq) > m["audit_seq"], "the log went on past the copy while it ran")
        w2 = tmpdir("rs")  # the restore's directory, with this vault's keys
        shutil.copytree(v.keys, os.path.join(w2, "keys"))
        # the original log, before any restore, for the verifiers' no-note case
        p = export(v, aud.token, os.path.join(w2, "pre-export.jsonl"))
        t.eq(p.returncode, 0, "export of the original log")
        orig_token = v.admin
        agent_tok, aud_tok = agent.token, aud.token
        link_cap, receipt_cap = (lid, lsec), (rid, rsec)

        # 409 without a backup directory is checked on the restored server

    check_restore(f, m, bdir, w2, orig_token, evs, before, after, agent_tok, aud_tok,
                  worlds, link_cap, receipt_cap, pin_before)


def tampered_manifest(f, m, key, value):
    """A copy of the backup with one manifest field changed."""
    d = tmpdir("bkt")
    nf = os.path.join(d, os.path.basename(f))
    shutil.copyfile(f, nf)
    mm = dict(m)
    mm[key] = value
    with open(nf + ".manifest.json", "w") as fh:
        json.dump(mm, fh)
    return nf


def check_restore(f, m, bdir, w2, admin_tok, evs, before, after, agent_tok, aud_tok, worlds,
                  link_cap, receipt_cap, pin_before):
    keys2 = os.path.join(w2, "keys")
    data2 = os.path.join(w2, "data")
    give_to_server(data2)

    # refusals first: nothing may be written by them
    other = os.path.join(tmpdir("ok"), "keys")
    make_keys(other)
    p = restore(f, os.path.join(tmpdir("rx"), "data"), other)
    t.ok(p.returncode != 0 and "signature" in p.stderr,
         "another vault's audit key: refused (%s)" % p.stderr.strip()[:80])
    bad = tampered_manifest(f, m, "audit_seq", m["audit_seq"] - 1)
    p = restore(bad, data2, keys2)
    t.ok(p.returncode != 0 and "signature" in p.stderr, "a changed manifest: refused")
    bad = tampered_manifest(f, m, "audit_seq", m["audit_seq"])
    with open(bad, "r+b") as fh:
        fh.seek(m["bytes"] // 2)
        b = fh.read(1)
        fh.seek(m["bytes"] // 2)
        fh.write(bytes([b[0] ^ 1]))
    p = restore(bad, data2, keys2)
    t.ok(p.returncode != 0 and "SHA-256" in p.stderr, "a changed file: refused")
    bad = tampered_manifest(f, m, "master_versions", [1, 2])
    p = restore(bad, data2, keys2)
    t.ok(p.returncode != 0 and "master-key version 2" in p.stderr,
         "a master-key version the keys lack: refused, naming it")
    # master_versions is outside the signed bytes (SPEC 8.5): a manifest
    # that leaves out a version the copy needs, with a key directory that
    # lacks it (version 1 gone, a version 2 there), is caught from the copy
    keys3 = os.path.join(tmpdir("kv"), "keys")
    shutil.copytree(keys2, keys3)
    rm = subprocess.run([binpath("rsvault-keys"), "rotate-master", "--dir", keys3],
                        capture_output=True, text=True, timeout=60)
    os.unlink(os.path.join(keys3, "master.key"))
    data3 = os.path.join(tmpdir("rv"), "data")
    give_to_server(data3)
    bad = tampered_manifest(f, m, "master_versions", [2])
    p = restore(bad, data3, keys3)
    t.ok(rm.returncode == 0 and p.returncode != 0 and "does not list" in p.stderr and
         "version 1" in p.stderr and not os.path.exists(os.path.join(data3, "data.mdb")),
         "master_versions changed to leave out a version the copy needs (and the keys "
         "lack): refused from the copy's own contents, nothing restored (%s)"
         % p.stderr.strip()[-200:])
    # the manifest's time is not signed either: an older backup put at a
    # newer one's name with its time changed is caught from the copy's own
    # last audit event (signed); a time a few minutes off is accepted
    data4 = os.path.join(tmpdir("rt"), "data")
    give_to_server(data4)
    t0 = parse_time(m["time"])
    later = datetime.datetime.fromtimestamp(t0 + 3 * 86400, datetime.timezone.utc)
    bad = tampered_manifest(f, m, "time", later.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    p = restore(bad, data4, keys2)
    t.ok(p.returncode != 0 and "manifest was changed" in p.stderr and
         "time is not covered" in p.stderr and
         not os.path.exists(os.path.join(data4, "data.mdb")),
         "the manifest's time moved 3 days later: refused from the copy's last event, "
         "nothing restored (%s)" % p.stderr.strip()[-160:])
    earlier = datetime.datetime.fromtimestamp(t0 - 86400, datetime.timezone.utc)
    bad = tampered_manifest(f, m, "time", earlier.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    p = restore(bad, data4, keys2)
    t.ok(p.returncode != 0 and "manifest was changed" in p.stderr,
         "the manifest's time a day before the copy's last event: refused")
    bad = tampered_manifest(f, m, "time", "yesterday")
    p = restore(bad, data4, keys2)
    t.ok(p.returncode != 0 and "time" in p.stderr, "a manifest time that is not a time: refused")
    t.ok(not os.path.exists(os.path.join(data4, "data.mdb")), "those refusals wrote nothing")
    # the manifest as written, with the same keys: refused too (version 1 needed)
    p = restore(f, data3, keys3)
    t.ok(p.returncode != 0 and "master-key version 1" in p.stderr and
         not os.path.exists(os.path.join(data3, "data.mdb")),
         "the untouched manifest and keys without version 1: refused, naming it")
    t.eq(os.listdir(data2), [], "the refusals wrote nothing")

    p = restore(f, data2, keys2)
    t.eq(p.returncode, 0, "rsvault-keys restore into a new directory")
    said = re.search(r"its last event at (\S+)", p.stdout)
    t.ok(said is not None and abs(parse_time(said.group(1)) - parse_time(m["time"])) < 300,
         "restore names the time of the copy's last audit event, close to the manifest's "
         "(%s; manifest %s)" % (said.group(1) if said else p.stdout.strip(), m["time"]))
    if p.returncode != 0:
        t.diag(p.stderr)
        return
    t.ok("%d:%s" % (m["audit_seq"], m["audit_hash"]) in p.stdout, "it prints the restore point")
    p = restore(f, data2, keys2)
    t.ok(p.returncode != 0 and "holds a store" in p.stderr, "restoring over a store: refused")

    tokpath = os.path.join(data2, "admin.token")
    with open(tokpath, "w") as fh:
        fh.write(admin_tok + "\n")
    os.chmod(tokpath, 0o600)
    if RUN_AS:
        os.chown(tokpath, RUN_AS[1], RUN_AS[2])
    with Vault(workdir=w2) as v2:
        r = v2.post("/v1/admin/backup", v2.admin)
        expect(t, r, 409, "conflict", "no --backup-dir: 409")
        evs2 = all_events(v2, aud_tok)
        s = m["audit_seq"]
        t.eq([(e["seq"], e["hash"]) for e in evs2 if e["seq"] <= s],
             [(e["seq"], e["hash"]) for e in evs if e["seq"] <= s],
             "the restored log equals the original up to the manifest's seq")
        nxt = [e for e in evs2 if e["seq"] == s + 1]
        t.ok(nxt and nxt[0]["action"] == "store.restore" and nxt[0]["actor"] is None
             and nxt[0]["target"] == "%d:%s" % (s, m["audit_hash"])
             and nxt[0]["prev"] == m["audit_hash"],
             "the first event after it is store.restore, target seq:hash, chained on")
        # uploads acknowledged after the backup answered are not in the copy
        later = {a[2] for a in after}
        back = set()
        for w in worlds:
            r = v2.get(w.path + "/credentials", w.owner.token)
            back |= {x["id"] for x in (r.json or {}).get("credentials", [])}
        t.ok(later and not (later & back), "uploads made after the backup are not restored")

        # the audit chain verifies, also against a pin from before the backup
        path = os.path.join(w2, "export.jsonl")
        p = export(v2, aud_tok, path)
        t.eq(p.returncode, 0, "export of the restored log")
        p = verify(path, os.path.join(keys2, "audit.pub"), pin_before)
        t.eq(p.returncode, 0, "the restored log verifies (pin %s)" % pin_before)
        if p.returncode != 0:
            t.diag(p.stdout + p.stderr)
        # both verifiers still pass it, and each names the restore and its gap
        note = ("note: a restore is recorded at seq %d (back to the backup point %d:%s, "
                "seq:hash): events written after its backup point and before it are not "
                "in this log" % (s + 1, s, m["audit_hash"]))
        t.eq(restore_notes(p.stdout), [note], "rsvault-keys verify-audit notes the restore")
        c = client_verify(path, os.path.join(keys2, "audit.pub"))
        t.eq(c.returncode, 0, "rsvault audit verify passes the restored log")
        t.eq(restore_notes(c.stdout), [note], "rsvault audit verify notes the restore")
        if c.returncode != 0 or restore_notes(c.stdout) != [note]:
            t.diag(c.stdout + c.stderr)
        # the log before the restore has no such note
        pre_path = os.path.join(w2, "pre-export.jsonl")
        p = verify(pre_path, os.path.join(keys2, "audit.pub"))
        c = client_verify(pre_path, os.path.join(keys2, "audit.pub"))
        t.ok(p.returncode == 0 and c.returncode == 0 and "OK:" in p.stdout
             and not restore_notes(p.stdout) and not restore_notes(c.stdout)
             and "restore" not in p.stdout + c.stdout,
             "a log without a restore: both verifiers pass it with no restore note")

        # the session open at backup time was ended by the restore
        sess = [e for e in evs2 if e["action"] == "session.end" and e["seq"] > s
                and e["reason"] == "store_restored"]
        t.ok(len(sess) == 1 and sess[0]["ticket"] == worlds[0].tid,
             "the open session ended with reason store_restored")
        r = v2.get("/v1/link", headers={"Authorization": "Link %s.%s" % link_cap})
        expect(t, r, 404, "not_found", "the link made before the backup is revoked")
        r = v2.get("/v1/receipt", headers={"Authorization": "Receipt %s.%s" % receipt_cap})
        expect(t, r, 404, "not_found", "the receipt made before the backup is revoked")

        # every credential acknowledged before the backup was asked for
        bad = 0
        for w in worlds:
            r = v2.post(w.path + "/sessions", agent_tok)
            if r.status != 201:
                bad += 1
                continue
            sid = r.json["id"]
            for (_, ww, cid, secret, _) in before:
                if ww is not w:
                    continue
                r = v2.get("%s/credentials/%s/secret" % (w.path, cid), agent_tok,
                           headers={"X-Session-Id": sid})
                if r.status != 200 or r.json.get("secret") != secret:
                    bad += 1
        t.eq(bad, 0, "all %d credentials acknowledged before the backup decrypt" % len(before))
    shutil.rmtree(os.path.dirname(bdir), ignore_errors=True)


guarded(t, "backup and restore drill", drill)
t.done()

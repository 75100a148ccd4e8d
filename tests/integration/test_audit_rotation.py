#!/usr/bin/env python3
"""Audit-key rotation with a real server (issue 13 item 3, SPEC 8.4).

- rsvault-keys rotate-audit makes version 2: audit.key becomes the new
  key, the old one is kept as audit-1.key, audit-2.pub is written;
  audit.pub (the first key, what auditors hold) is unchanged;
- the server, restarted mid-log, announces the new key: one key.audit
  event whose target is the new public key, its checkpoint signed by the
  OLD key; the checkpoints after it carry and are signed by the new key;
- an export across the hand-over verifies with only the first audit.pub
  with both verifiers (exit 0), which report the hand-over; starting from
  audit-2.pub instead fails (exit 6);
- a checkpoint re-signed by a key that was never announced: exit 6;
- retire-audit with --data removes audit-1.key once the store shows
  the hand-over announced, overwriting it with zeros first (a hard link
  made before reads zeros after); the server still starts and signs,
  and the export still verifies; a second one, without --data as SPEC
  writes it, has nothing to do and warns that nothing was checked;
- a second rotation: retire-audit refuses before the server announced it
  (and with a --data holding no store), and a server refusing to start when the key it
  needs to sign the announcement has been retired too early;
- rotate-audit cut short: a lone new public key is refused with what to
  do; a new key already written is finished by the next run, and the
  server announces it (three hand-overs verify)."""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from rsvtest import TAP, Vault, binpath  # noqa: E402
from rsvcore import Core  # noqa: E402

t = TAP()
NO_TIMER = {"RSVAULT_TEST_CHECKPOINT_MS": "3600000"}


def keys(*args):
    return subprocess.run([binpath("rsvault-keys")] + list(args), capture_output=True,
                          text=True, timeout=60)


def client(v, token, *args):
    env = dict(os.environ, RSVAULT_ADDR=v.addr, RSVAULT_CACERT=v.ca, RSVAULT_TOKEN=token)
    return subprocess.run([binpath("rsvault")] + list(args), capture_output=True, text=True,
                          env=env, timeout=120)


def read(path):
    with open(path) as f:
        return f.read().strip()


def traffic(v, c, who, n):
    """n audited requests (GET /v1/me), each one event."""
    for _ in range(n):
        r = v.get("/v1/me", token=who.token)
        assert r.status == 200, r


def export(v, aud, path):
    p = client(v, aud.token, "audit", "export", "-o", path)
    t.eq(p.returncode, 0, "audit export exits 0 (%s)" % p.stderr.strip()[:200])
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def verify_both(path, pub, want, name):
    a = subprocess.run([binpath("rsvault"), "audit", "verify", path, "--pubkey", pub],
                       capture_output=True, text=True, timeout=120)
    b = keys("verify-audit", path, "--pubkey", pub)
    t.eq(a.returncode, want, "rsvault audit verify: %s (%s)" % (name, a.stdout.strip()[:300]))
    t.eq(b.returncode, want, "rsvault-keys verify-audit: %s (%s)" % (name, b.stdout.strip()[:300]))
    return a.stdout + b.stdout


with Vault(env=NO_TIMER) as v:
    c = Core(v)
    aud = c.auditor()
    traffic(v, c, aud, 120)  # checkpoint at 100 by key 1
    pub1 = read(os.path.join(v.keys, "audit.pub"))
    v.stop()

    r = keys("rotate-audit", "--dir", v.keys)
    t.eq(r.returncode, 0, "rotate-audit exits 0 (%s)" % r.stderr.strip())
    pub2 = read(os.path.join(v.keys, "audit-2.pub"))
    t.ok(pub2 != pub1 and len(pub2) == 64, "audit-2.pub is a new key")
    t.eq(read(os.path.join(v.keys, "audit.pub")), pub1, "audit.pub (the first key) is unchanged")
    t.ok(os.path.exists(os.path.join(v.keys, "audit-1.key")), "the old key is kept as audit-1.key")
    t.eq(os.stat(os.path.join(v.keys, "audit.key")).st_mode & 0o777, 0o600, "audit.key is 0600")
    t.eq(os.stat(os.path.join(v.keys, "audit-1.key")).st_mode & 0o777, 0o600,
         "audit-1.key is 0600")
    t.ok(not os.path.exists(os.path.join(v.keys, "audit.key.next")), "no leftover .next file")

    v.start()
    t.ok("announced 1 new audit key" in v.logtext(), "the server says it announced the key")
    traffic(v, c, aud, 150)  # crosses seq 200 and 300: signed by key 2
    rows = export(v, aud, os.path.join(v.dir, "rotated.jsonl"))
    ann = [i for i, x in enumerate(rows) if x.get("type") == "event" and x["action"] == "key.audit"]
    t.eq(len(ann), 1, "one key.audit event")
    if ann:
        ev, cp = rows[ann[0]], rows[ann[0] + 1]
        t.eq(ev["target"], pub2, "key.audit names the new public key in target")
        t.eq((ev["actor"], ev["outcome"], ev["form"]), (None, "allow", 2), "a system event")
        t.eq((cp["type"], cp["seq"]), ("checkpoint", ev["seq"]),
             "its checkpoint follows it directly")
        t.eq(cp["public_key"], pub1, "the announcement is signed by the old key")
        later = [x for x in rows[ann[0] + 2:] if x["type"] == "checkpoint"]
        earlier = [x for x in rows[:ann[0]] if x["type"] == "checkpoint"]
        t.ok(len(later) >= 1 and all(x["public_key"] == pub2 for x in later),
             "every later checkpoint carries the new key (%d)" % len(later))
        t.ok(len(earlier) >= 1 and all(x["public_key"] == pub1 for x in earlier),
             "earlier checkpoints carry the old key")
    r = v.get("/v1/audit/checkpoint", token=aud.token)
    t.eq(r.json and r.json.get("public_key"), pub2, "the latest checkpoint is the new key's")

    path = os.path.join(v.dir, "rotated.jsonl")
    out = verify_both(path, os.path.join(v.keys, "audit.pub"), 0,
                      "the hand-over verifies from the first audit.pub")
    t.ok("handed over 1 time(s)" in out and pub2 in out, "the verifiers report the hand-over")
    verify_both(path, os.path.join(v.keys, "audit-2.pub"), 6,
                "starting from the new key instead fails")

    # a checkpoint re-signed by a key never announced (the small Ed25519
    # of tests/unit/vectors_auditlog.py, independent of libsodium)
    sys.path.insert(0, os.path.join(HERE, "..", "unit"))
    import vectors_auditlog as va  # noqa: E402
    seed = bytes(range(32))
    rogue_pk = va.ed25519_keypair(seed)[2]
    forged = os.path.join(v.dir, "forged.jsonl")
    last_cp = max(i for i, x in enumerate(rows) if x["type"] == "checkpoint")
    with open(forged, "w") as f:
        for i, x in enumerate(rows):
            if i == last_cp:
                x = dict(x)
                x["signature"] = va.ed25519_sign(seed, va.checkpoint_msg(
                    x["seq"], bytes.fromhex(x["hash"])))[1].hex()
                x["public_key"] = rogue_pk.hex()
            f.write(json.dumps(x) + "\n")
    verify_both(forged, os.path.join(v.keys, "audit.pub"), 6,
                "a checkpoint by an unannounced key fails")
    v.stop()

    # restart without rotation: no second announcement
    v.start()
    traffic(v, c, aud, 5)
    v.stop()
    # a second name for audit-1.key: what retire-audit leaves in the file
    # itself shows through it
    other = os.path.join(v.dir, "audit-1.key.otherlink")
    os.link(os.path.join(v.keys, "audit-1.key"), other)
    with open(other, "rb") as f:
        before = f.read()
    r = keys("retire-audit", "--dir", v.keys, "--data", v.data)
    t.eq(r.returncode, 0, "retire-audit exits 0 (%s)" % r.stderr.strip())
    t.ok(not os.path.exists(os.path.join(v.keys, "audit-1.key")), "audit-1.key is gone")
    with open(other, "rb") as f:
        after = f.read()
    t.ok(len(before) == 70 and before.startswith(b"RSVK") and after == b"\0" * len(before),
         "retire-audit overwrote the old private key with zeros before removing it (a "
         "hard link to it reads %d zero bytes, not the key)" % len(after))
    os.unlink(other)
    t.ok(os.path.exists(os.path.join(v.keys, "audit.key")), "audit.key stays")
    # the form SPEC 8.4 writes (no --data) is accepted, with a warning
    r = keys("retire-audit", "--dir", v.keys)
    t.ok(r.returncode == 1 and "without --data" in r.stderr,
         "a second retire-audit, as SPEC writes it: nothing to remove, and it warns that "
         "nothing was checked (%s)" % r.stderr.strip()[:200])
    v.start()
    traffic(v, c, aud, 110)
    rows = export(v, aud, path)
    t.eq(sum(1 for x in rows if x.get("action") == "key.audit"), 1,
         "restarts do not announce the same key again")
    verify_both(path, os.path.join(v.keys, "audit.pub"), 0,
                "after retire-audit the whole log still verifies")
    v.stop()

    # a second rotation retired before the server announced it
    r = keys("rotate-audit", "--dir", v.keys)
    t.eq(r.returncode, 0, "a second rotate-audit exits 0")
    t.ok(os.path.exists(os.path.join(v.keys, "audit-3.pub")), "audit-3.pub written")
    # retire-audit checks the store: version 3 is not announced yet
    r = keys("retire-audit", "--dir", v.keys, "--data", v.data)
    t.ok(r.returncode == 1 and "not announced" in r.stderr
         and os.path.exists(os.path.join(v.keys, "audit-2.key")),
         "retire-audit before the server announced the new key: refused, audit-2.key kept "
         "(%s)" % r.stderr.strip()[:200])
    r = keys("retire-audit", "--dir", v.keys, "--data", os.path.join(v.dir, "nowhere"))
    t.ok(r.returncode == 1 and "no rsvault store" in r.stderr
         and os.path.exists(os.path.join(v.keys, "audit-2.key")),
         "retire-audit with a --data that holds no store: refused")
    os.rename(os.path.join(v.keys, "audit-2.key"), os.path.join(v.dir, "audit-2.key.bak"))
    try:
        v.start()
        started = True
    except RuntimeError:
        started = False
    t.ok(not started, "the server refuses to start without the key that must sign the hand-over")
    t.ok("audit-2.key is needed" in v.logtext(), "and says which key it needs")
    v.bad_exits.clear()
    os.rename(os.path.join(v.dir, "audit-2.key.bak"), os.path.join(v.keys, "audit-2.key"))
    v.start()
    traffic(v, c, aud, 10)
    rows = export(v, aud, path)
    t.eq(sum(1 for x in rows if x.get("action") == "key.audit"), 2, "two hand-overs in the log")
    out = verify_both(path, os.path.join(v.keys, "audit.pub"), 0, "two hand-overs verify")
    t.ok("handed over 2 time(s)" in out, "both reported")
    v.stop()

    # a rotation cut short: audit-4.pub written, audit.key not yet replaced
    spare = os.path.join(v.dir, "spare")
    t.eq(keys("init", "--dir", spare).returncode, 0, "a spare key set for the next key")
    shutil.copy(os.path.join(spare, "audit.pub"), os.path.join(v.keys, "audit-4.pub"))
    r = keys("rotate-audit", "--dir", v.keys)
    t.ok(r.returncode == 1 and "remove audit-4.pub" in r.stderr,
         "a public key without its private key is refused with what to do (%s)" %
         r.stderr.strip()[:200])
    # ... and cut short after the new key was written: the next run finishes it
    nxt = os.path.join(v.keys, "audit.key.next")
    shutil.copy(os.path.join(spare, "audit.key"), nxt)
    os.chmod(nxt, 0o600)
    r = keys("rotate-audit", "--dir", v.keys)
    t.eq(r.returncode, 0, "rotate-audit finishes an interrupted rotation (%s)" % r.stderr.strip())
    t.ok("finished an interrupted rotation" in r.stdout, "and says so")
    with open(os.path.join(spare, "audit.key"), "rb") as f1, \
            open(os.path.join(v.keys, "audit.key"), "rb") as f2:
        t.ok(f1.read() == f2.read(), "audit.key is now the new key")
    t.ok(os.path.exists(os.path.join(v.keys, "audit-3.key")) and not os.path.exists(nxt),
         "the old key is kept as audit-3.key, no .next left")
    v.start()
    traffic(v, c, aud, 3)
    rows = export(v, aud, path)
    out = verify_both(path, os.path.join(v.keys, "audit.pub"), 0, "three hand-overs verify")
    t.ok("handed over 3 time(s)" in out, "three reported")

t.done()

#!/usr/bin/env python3
"""Which audit keys `rsvault-keys restore` trusts (SPEC 8.4, 8.5).

A backup's manifest is signed by the audit key the server signs with. A
restore trusts only audit keys that may still sign: audit.key's, and an
older one whose private key (audit-N.key) is still in the key directory.

- backup A is taken under audit key version 1, backup B after
  rotate-audit and the restart that announces version 2;
- before retire-audit, A restores (version 1 is rotated, not retired);
- after retire-audit removed audit-1.key, A is refused, naming version 1
  as retired and the option that accepts it, and nothing is written;
  with --accept-retired-audit-key 1 it restores, with a warning;
  --accept-retired-audit-key 2 does not help it;
- with a key directory holding only public keys and master keys (no
  audit.key), the newest public key counts as current: B restores, A is
  refused;
- B restores (version 2 is audit.key's);
- a public key left by a rotation cut short (audit-3.pub without its
  private key anywhere) is never trusted: a manifest signed by that key
  is refused. TAP on stdout."""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "unit"))
from rsvtest import TAP, Vault, binpath, give_to_server, tmpdir  # noqa: E402
from rsvcore import guarded  # noqa: E402
import vectors_auditlog as va  # noqa: E402  (an Ed25519 written in Python)

t = TAP()


def keys(*args):
    return subprocess.run([binpath("rsvault-keys")] + list(args), capture_output=True,
                          text=True, timeout=120)


def restore(backup, keydir, *extra):
    data = os.path.join(tmpdir("rsk"), "data")
    give_to_server(data)
    p = keys("restore", "--backup", backup, "--data", data, "--keys", keydir, *extra)
    return p, os.path.exists(os.path.join(data, "data.mdb"))


def backup(v, t, name):
    r = v.post("/v1/admin/backup", v.admin)
    t.eq(r.status, 201, "backup %s taken" % name)
    return (r.json or {}).get("file", "")


def main():
    bdir = os.path.join(tmpdir("bkk"), "backups")
    give_to_server(bdir)
    v = Vault(extra_args=["--backup-dir", bdir])
    v.start()
    fa = backup(v, t, "A (audit key version 1)")
    v.stop()
    r = keys("rotate-audit", "--dir", v.keys)
    t.eq(r.returncode, 0, "rotate-audit (%s)" % r.stderr.strip()[-120:])
    v.start()  # announces version 2
    fb = backup(v, t, "B (audit key version 2)")
    v.stop()

    p, placed = restore(fa, v.keys)
    t.ok(p.returncode == 0 and placed,
         "before retire-audit, A (signed by the rotated version 1) restores (%s)"
         % p.stderr.strip()[-160:])

    r = keys("retire-audit", "--dir", v.keys, "--data", v.data)
    t.eq(r.returncode, 0, "retire-audit removes audit-1.key (%s)" % r.stderr.strip()[-120:])

    p, placed = restore(fa, v.keys)
    t.ok(p.returncode != 0 and not placed and "version 1, which is retired" in p.stderr
         and "--accept-retired-audit-key 1" in p.stderr,
         "after retire-audit, A is refused: signed by a retired key, says which and how to "
         "accept it, nothing restored (%s)" % p.stderr.strip()[-240:])
    p, placed = restore(fa, v.keys, "--accept-retired-audit-key", "2")
    t.ok(p.returncode != 0 and not placed,
         "accepting another retired version does not let A in")
    p, placed = restore(fa, v.keys, "--accept-retired-audit-key", "1")
    t.ok(p.returncode == 0 and placed and "retired" in p.stderr,
         "with --accept-retired-audit-key 1, A restores, with a warning (%s)"
         % p.stderr.strip()[-160:])
    p, placed = restore(fb, v.keys, "--accept-retired-audit-key", "x")
    t.ok(p.returncode != 0 and not placed and "wants a version number" in p.stderr,
         "--accept-retired-audit-key wants a number")

    p, placed = restore(fb, v.keys)
    t.ok(p.returncode == 0 and placed, "B (signed by audit.key's version 2) restores (%s)"
         % p.stderr.strip()[-160:])

    # a restore's key directory may hold only public keys and master keys
    # (docs/operations.md): the newest public key is then the current one
    pubonly = os.path.join(tmpdir("kpub"), "keys")
    os.makedirs(pubonly, mode=0o700)
    for name in ("audit.pub", "audit-2.pub", "master.key"):
        shutil.copy2(os.path.join(v.keys, name), os.path.join(pubonly, name))
    p, placed = restore(fb, pubonly)
    t.ok(p.returncode == 0 and placed,
         "keys without audit.key: B, signed by the newest public key, restores (%s)"
         % p.stderr.strip()[-160:])
    p, placed = restore(fa, pubonly)
    t.ok(p.returncode != 0 and not placed and "version 1, which is retired" in p.stderr,
         "keys without audit.key: A, signed by an older key whose private key is not "
         "there, is refused")

    # a public key with no private half anywhere (a rotation cut short, or
    # planted): B's manifest signed by it is refused
    seed = bytes(range(1, 33))
    pk = va.ed25519_keypair(seed)[2]
    with open(os.path.join(v.keys, "audit-3.pub"), "w") as f:
        f.write(pk.hex() + "\n")
    with open(fb + ".manifest.json") as f:
        m = json.load(f)
    msg = ("rsvault-backup-v1\n%s\n%d\n%s\n" % (m["sha256"], m["audit_seq"],
                                                m["audit_hash"])).encode()
    m["signature"] = va.ed25519_sign(seed, msg)[1].hex()
    with open(fb + ".manifest.json", "w") as f:
        json.dump(m, f)
    p, placed = restore(fb, v.keys)
    t.ok(p.returncode != 0 and not placed and "signature does not verify" in p.stderr,
         "a manifest signed by audit-3.pub, whose private key never was in the directory: "
         "refused (%s)" % p.stderr.strip()[-160:])
    os.unlink(os.path.join(v.keys, "audit-3.pub"))
    v.__exit__(None, None, None)  # fails the file on a bad server exit; removes its files


guarded(t, "which audit keys a restore trusts", main)
t.done()

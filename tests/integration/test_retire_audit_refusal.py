#!/usr/bin/env python3
"""retire-audit refuses as a whole (docs/keys.md: "a file that is not a
regular file, or is a link to audit.key itself, is refused and nothing is
removed").

After two rotate-audit runs the key directory holds audit-1.key,
audit-2.key and audit.key (version 3). audit-2.key is then made a second
name (a hard link) for audit.key, and in another directory a symlink:
retire-audit must refuse, and audit-1.key, checked before, must still be
there with its bytes (before, it was overwritten and removed first, and
the message said "nothing was removed"). Once audit-2.key is a file of
its own again, retire-audit removes both. No server is needed (retire-audit
without --data). TAP on stdout."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, binpath, make_keys, tmpdir  # noqa: E402

t = TAP()


def keys(*args):
    return subprocess.run([binpath("rsvault-keys")] + list(args), capture_output=True,
                          text=True, timeout=120)


def three_versions(name):
    d = os.path.join(tmpdir(name), "keys")
    r = make_keys(d)
    t.eq(r.returncode, 0, "init")
    for v in (2, 3):
        r = keys("rotate-audit", "--dir", d)
        t.eq(r.returncode, 0, "rotate-audit to version %d" % v)
    return d


def read(path):
    with open(path, "rb") as f:
        return f.read()


for kind in ("hard link", "symlink"):
    d = three_versions("ra")
    a1, a2, cur = (os.path.join(d, n) for n in ("audit-1.key", "audit-2.key", "audit.key"))
    before = read(a1)
    cur_bytes = read(cur)
    saved = read(a2)
    os.unlink(a2)
    if kind == "hard link":
        os.link(cur, a2)
    else:
        os.symlink(cur, a2)
    r = keys("retire-audit", "--dir", d)
    t.ok(r.returncode != 0 and "nothing was removed" in r.stderr,
         "%s: audit-2.key, a %s to audit.key, is refused" % (kind, kind))
    if not t.ok(os.path.exists(a1) and read(a1) == before,
                "%s: audit-1.key is still there with its bytes: nothing was removed, as "
                "the message says" % kind):
        t.diag(r.stdout + r.stderr)
    t.ok(read(cur) == cur_bytes, "%s: audit.key untouched" % kind)
    # audit-2.key a file of its own again: both old keys go
    os.unlink(a2)
    with open(a2, "wb") as f:
        f.write(saved)
    os.chmod(a2, 0o600)
    r = keys("retire-audit", "--dir", d)
    t.ok(r.returncode == 0 and not os.path.exists(a1) and not os.path.exists(a2) and
         os.path.exists(cur), "%s fixed: retire-audit removes audit-1.key and audit-2.key"
         % kind)
    shutil.rmtree(os.path.dirname(d), ignore_errors=True)

t.done()

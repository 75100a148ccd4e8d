#!/usr/bin/env python3
"""What `rsvault-keys restore` (run as root) reads and who may read its copy
while it checks it (SPEC 8.5; a review of keys/restore.c).

Whoever can write the backup's directory (the server's account writes
--backup-dir) can put a symbolic link at the backup's name after restore
looked at it (lstat) and before it copies it. The copy must never read
through such a link: here the link names a FIFO in a directory only root
can enter, and a writer waits on it; the restore must be refused without
ever opening the FIFO (a root-only file would otherwise be copied into the
data directory). tests/lib/keys_preload.c makes the swap at the copy's
open.

The copy, made in the data directory (which the server's account owns),
must stay root's while it is checked: a file that is not the backup (say
a root-only file linked there) is refused, but its bytes must not be
readable by the data directory's owner in between. The shim reports the
copy's owner when the check opens it; then the same backup restores and
the installed store belongs to the data directory's owner. TAP on
stdout."""
import errno
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import RUN_AS, TAP, Vault, binpath, give_to_server, tmpdir  # noqa: E402
from rsvshim import preload_env, shim  # noqa: E402

t = TAP()
SO = shim(t, "keys")


def shim_env(**kw):
    return preload_env(SO, os.environ, **kw)


def keys_tool(*args, env=None):
    return subprocess.run([binpath("rsvault-keys")] + list(args), env=env,
                          capture_output=True, text=True, timeout=120)


def main():
    bdir = os.path.join(tmpdir("rl"), "backups")
    give_to_server(bdir)
    with Vault(extra_args=["--backup-dir", bdir]) as v:
        r = v.post("/v1/admin/backup", v.admin)
        t.eq(r.status, 201, "backup taken")
        fa = r.json["file"]
        keydir = v.keys
        work = tmpdir("rlw")
        src = os.path.join(work, "bk")
        os.mkdir(src, 0o700)
        a = os.path.join(src, os.path.basename(fa))
        shutil.copyfile(fa, a)
        shutil.copyfile(fa + ".manifest.json", a + ".manifest.json")
        link_swapped(a, fa, keydir, work)
        owner_while_checked(a, keydir, work)
        manifest_not_a_file(a, keydir, work)


def link_swapped(a, fa, keydir, work):
    secret_dir = os.path.join(work, "rootonly")
    os.mkdir(secret_dir, 0o700)
    fifo = os.path.join(secret_dir, "secret")
    os.mkfifo(fifo, 0o600)
    link = os.path.join(work, "bk", "evil-link")
    os.symlink(fifo, link)
    followed = []
    stop = threading.Event()

    def writer():
        # opening a FIFO for writing without blocking succeeds only while a
        # reader has it open: the restore reading through the link
        while not stop.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                time.sleep(0.001)
                continue
            followed.append(1)
            os.write(fd, b"root-only bytes\n")
            os.close(fd)
            return

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    data = os.path.join(work, "data-link")
    give_to_server(data)
    p = keys_tool("restore", "--backup", a, "--data", data, "--keys", keydir,
                  env=shim_env(RSV_SWAP_PATH=a, RSV_SWAP_FROM=link, RSV_SWAP_AT="1"))
    stop.set()
    th.join(5)
    t.ok("[keys_preload] swapped" in p.stderr, "the link was put at the backup's name "
         "after it was checked, before the copy's open")
    t.ok(p.returncode != 0, "restore refused")
    if not t.ok(not followed, "the restore never read through the link (the FIFO it names "
                "was not opened)"):
        t.diag(p.stderr)
    t.ok(not os.path.exists(os.path.join(data, "data.mdb")) and
         not os.path.exists(os.path.join(data, ".data.mdb.restore")),
         "nothing installed, no copy left")
    # the backup back in place for the next check
    if os.path.islink(a):
        os.unlink(a)
    shutil.copyfile(fa, a)


def owner_while_checked(a, keydir, work):
    if not RUN_AS:
        t.ok(True, "# SKIP not run as root: the copy is never given away")
        return
    uid = RUN_AS[1]
    # a root-only file linked at the backup's name: not the backup
    other = os.path.join(work, "rootfile")
    with open(other, "wb") as f:
        f.write(b"only root may read this\n" * 100)
    os.chmod(other, 0o600)
    orig = a + ".orig"
    os.rename(a, orig)
    os.link(other, a)
    data = os.path.join(work, "data-own1")
    give_to_server(data)
    tmp = os.path.join(data, ".data.mdb.restore")
    p = keys_tool("restore", "--backup", a, "--data", data, "--keys", keydir,
                  env=shim_env(RSV_OWNER_PATH=tmp, RSV_OWNER_AT="2"))
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("[keys_preload] owner")]
    t.ok(p.returncode != 0 and not os.path.exists(os.path.join(data, "data.mdb")),
         "a root-only file at the backup's name: refused")
    if not t.ok(line and line[0].endswith(": 0"),
                "while it is checked, the copy belongs to root, not to the data "
                "directory's owner (uid %d): %s" % (uid, line[0] if line else "no report")):
        t.diag(p.stderr)
    os.unlink(a)
    os.rename(orig, a)
    # the real backup: restored, and the store is the owner's
    data = os.path.join(work, "data-own2")
    give_to_server(data)
    p = keys_tool("restore", "--backup", a, "--data", data, "--keys", keydir)
    dst = os.path.join(data, "data.mdb")
    if not t.ok(p.returncode == 0 and os.path.exists(dst) and os.stat(dst).st_uid == uid,
                "the backup restores, and data.mdb belongs to the data directory's owner"):
        t.diag(p.stderr)


def manifest_not_a_file(a, keydir, work):
    mf = a + ".manifest.json"
    good = mf + ".good"
    os.rename(mf, good)
    # a link to a root-only file whose first word is a secret
    secret = os.path.join(work, "rootonly", "passphrase")
    with open(secret, "w") as f:
        f.write("Hunter2SecretWord and more\n")
    os.chmod(secret, 0o600)
    os.symlink(secret, mf)
    data = os.path.join(work, "data-mf1")
    p = keys_tool("restore", "--backup", a, "--data", data, "--keys", keydir)
    if not t.ok(p.returncode != 0 and "Hunter" not in p.stderr + p.stdout,
                "a manifest that is a link to another file: refused, and no piece of "
                "that file is in the message"):
        t.diag(p.stderr)
    os.unlink(mf)
    # a FIFO nobody writes to: refused at once, not a restore waiting forever
    os.mkfifo(mf, 0o600)
    try:
        p = subprocess.run([binpath("rsvault-keys"), "restore", "--backup", a, "--data",
                            os.path.join(work, "data-mf2"), "--keys", keydir],
                           capture_output=True, text=True, timeout=30)
        t.ok(p.returncode != 0, "a manifest that is a FIFO: refused at once")
    except subprocess.TimeoutExpired:
        t.ok(False, "a manifest that is a FIFO: refused at once (it waited 30 s)")
    os.unlink(mf)
    # over the bound: refused before it is parsed
    with open(mf, "w") as f:
        f.write(" " * (64 * 1024) + "{}")
    p = keys_tool("restore", "--backup", a, "--data", os.path.join(work, "data-mf3"),
                  "--keys", keydir)
    if not t.ok(p.returncode != 0 and "over 65536 bytes" in p.stderr,
                "a manifest over 64 KiB: refused for its size"):
        t.diag(p.stderr)
    os.unlink(mf)
    os.rename(good, mf)
    data = os.path.join(work, "data-mf4")
    give_to_server(data)
    p = keys_tool("restore", "--backup", a, "--data", data, "--keys", keydir)
    if not t.ok(p.returncode == 0, "the real manifest back: restored"):
        t.diag(p.stderr)


main()
t.done()

#!/usr/bin/env python3
"""Three findings of a review of rsvault-keys, each checked the way it was
found (tests/lib/keys_preload.c, loaded with LD_PRELOAD, makes the faults).

F1 restore: the backup is replaced by another (valid, signed) backup of the
same vault just before the restore's 1st, 2nd, 3rd or 4th open of it. The
restore must install exactly the backup its manifest describes (its audit
log ends at the manifest's seq) or refuse; never the other one. A backup
whose directory or file group or others can write is refused, and the
server refuses such a --backup-dir.

F2 a passphrase line ending in spaces: `seal` takes it, and the server,
given the same line on --unseal-fd, unseals; the tool (rotate-master)
takes the line with and without the spaces. A passphrase that is only
spaces is refused.

F3 an interrupted reseal: a directory where the new sealed file of version
2 must go, or a rename that fails half way through, must never leave files
under two seals: the directory loads with the old passphrase (nothing
switched), or `seal --finish` completes the switch to the new one. TAP on
stdout."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault, binpath, give_to_server, make_keys, server_user_args, tmpdir  # noqa: E402,E501
from rsvshim import preload_env, shim  # noqa: E402
from rsvcore import guarded, mdb_dump  # noqa: E402

t = TAP()
SO = shim(t, "keys")


def shim_env(**kw):
    return preload_env(SO, os.environ, **kw)


def keys_tool(*args, stdin=None, env=None):
    return subprocess.run([binpath("rsvault-keys")] + list(args), input=stdin, env=env,
                          capture_output=True, text=True, timeout=300)


def audit_rows(data):
    return len(mdb_dump(data, "audit"))


# --- F1 ------------------------------------------------------------------
def f1():
    bdir = tmpdir("bk")
    give_to_server(bdir)
    with Vault(extra_args=["--backup-dir", bdir], workdir=tmpdir("v")) as v:
        r = v.post("/v1/admin/backup", v.admin)
        t.eq(r.status, 201, "backup A")
        ma = r.json
        r = v.post("/v1/accounts", v.admin, {"id": "evil01", "role": "admin",
                                             "email": "e@example.com"})
        r = v.post("/v1/admin/backup", v.admin)
        t.eq(r.status, 201, "backup B (after more events)")
        mb = r.json
        f1_restore(v.keys, ma, mb)
    shutil.rmtree(os.path.dirname(bdir), ignore_errors=True)
    # the server refuses such a --backup-dir from the start
    w = tmpdir("gw")
    gw = os.path.join(w, "backups")
    os.mkdir(gw)
    os.chmod(gw, 0o775)
    p = subprocess.run([binpath("rsvaultd"), "--data", os.path.join(w, "data"), "--keys",
                        os.path.join(w, "keys"), "--listen", "127.0.0.1:0", "--backup-dir", gw]
                       + server_user_args(), capture_output=True, text=True, timeout=60)
    t.ok(p.returncode != 0 and "writable by group or others" in p.stderr,
         "rsvaultd refuses a --backup-dir writable by the group")


def f1_restore(keys, ma, mb):
    t.ok(mb["audit_seq"] > ma["audit_seq"], "B's audit log is longer than A's")
    fa, fb = ma["file"], mb["file"]
    work = tmpdir("rs")
    # a private copy of A and its manifest: the swap replaces the file
    src = os.path.join(work, "bk")
    os.mkdir(src, 0o700)
    a = os.path.join(src, os.path.basename(fa))
    shutil.copyfile(fa, a)
    shutil.copyfile(fa + ".manifest.json", a + ".manifest.json")
    swapped_in = 0
    for at in (1, 2, 3, 4):
        evil = a + ".evil"
        shutil.copyfile(fb, evil)
        shutil.copyfile(fa, a)
        data = os.path.join(work, "data%d" % at)
        p = keys_tool("restore", "--backup", a, "--data", data, "--keys", keys,
                      env=shim_env(RSV_SWAP_PATH=a, RSV_SWAP_FROM=evil, RSV_SWAP_AT=str(at)))
        did_swap = "[keys_preload] swapped" in p.stderr
        swapped_in += did_swap
        if p.returncode == 0:
            rows = audit_rows(data)
            if not t.eq(rows, ma["audit_seq"],
                        "swap before open %d (%s): the installed store is the backup the "
                        "manifest describes (audit rows)" % (at, "swapped" if did_swap
                                                             else "no such open")):
                t.diag(p.stderr)
        else:
            t.ok(not os.path.exists(os.path.join(data, "data.mdb")) and
                 not os.path.exists(os.path.join(data, ".data.mdb.restore")),
                 "swap before open %d: refused, nothing installed, no copy left (%s)"
                 % (at, p.stderr.strip().splitlines()[-1][:90]))
        if os.path.exists(evil):
            os.unlink(evil)
    t.ok(swapped_in >= 1, "the swap happened at least once (%d)" % swapped_in)

    # a backup directory group or others can write: refused, nothing written
    os.chmod(src, 0o770)
    shutil.copyfile(fa, a)
    data = os.path.join(work, "data-gw")
    p = keys_tool("restore", "--backup", a, "--data", data, "--keys", keys)
    t.ok(p.returncode != 0 and "writable by group or others" in p.stderr and
         not os.path.exists(os.path.join(data, "data.mdb")),
         "a backup directory writable by the group: refused")
    os.chmod(src, 0o700)
    os.chmod(a, 0o622)
    p = keys_tool("restore", "--backup", a, "--data", data, "--keys", keys)
    t.ok(p.returncode != 0 and "writable by group or others" in p.stderr,
         "a backup file writable by others: refused")
    os.chmod(a, 0o600)
    p = keys_tool("restore", "--backup", a, "--data", data, "--keys", keys)
    t.eq(p.returncode, 0, "the same backup from a private directory: restored")
    if p.returncode == 0:
        t.eq(audit_rows(data), ma["audit_seq"], "and it is backup A")


# --- F2 ------------------------------------------------------------------
def start_unseal(keys, line):
    """Start rsvaultd on keys with line on --unseal-fd; True if it unseals."""
    w = tmpdir("srv")
    data = os.path.join(w, "data")
    give_to_server(data)
    logp = os.path.join(w, "log")
    pw = os.path.join(w, "pw")
    with open(pw, "w") as f:
        f.write(line)
    fd = os.open(pw, os.O_RDONLY)
    with open(logp, "wb") as log:
        proc = subprocess.Popen([binpath("rsvaultd"), "--data", data, "--keys", keys,
                                 "--listen", "127.0.0.1:0", "--unseal-fd", str(fd)]
                                + server_user_args(), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, pass_fds=(fd,))
    os.close(fd)
    ok = None
    deadline = time.time() + 90
    try:
        while time.time() < deadline and ok is None:
            text = open(logp, "rb").read()
            if b"unsealed: master-key version" in text:
                ok = True
            elif b"STILL SEALED" in text or proc.poll() is not None:
                ok = False
            time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if not ok:
        t.diag(open(logp, "rb").read().decode(errors="replace")[-1500:])
    return bool(ok)


def f2():
    w = tmpdir("f2")
    keys = os.path.join(w, "keys")
    r = make_keys(keys)
    t.eq(r.returncode, 0, "keys made")
    p = keys_tool("seal", "--dir", keys, "--passphrase", stdin="          \n")
    t.ok(p.returncode != 0 and "too short" in p.stderr and
         os.path.exists(os.path.join(keys, "master.key")),
         "a passphrase of spaces only: refused, nothing sealed")
    p = keys_tool("seal", "--dir", keys, "--passphrase", stdin="abcdefgh12 \n")
    t.eq(p.returncode, 0, "seal takes 'abcdefgh12 ' (trailing space)")
    t.ok("not part of it" in p.stderr, "and says the trailing space is not part of it")
    t.ok(start_unseal(keys, "abcdefgh12 \n"),
         "the server given the same line on --unseal-fd unseals")
    t.ok(start_unseal(keys, "abcdefgh12\r\n"),
         "the server given the line without the space (CRLF) unseals")
    p = keys_tool("rotate-master", "--dir", keys, stdin="abcdefgh12 \n")
    t.eq(p.returncode, 0, "rotate-master takes the line with the space")
    p = keys_tool("rotate-master", "--dir", keys, stdin="abcdefgh12\t\n")
    t.eq(p.returncode, 0, "rotate-master takes it with a tab instead")
    p = keys_tool("rotate-master", "--dir", keys, stdin=" abcdefgh12\n")
    t.ok(p.returncode != 0, "a leading space is part of the passphrase: refused")


# --- F3 ------------------------------------------------------------------
OLD, NEW = "old-passphrase-1 \n", "new-passphrase-2\n"


def sealed_dir(name):
    w = tmpdir(name)
    keys = os.path.join(w, "keys")
    make_keys(keys)
    p = keys_tool("seal", "--dir", keys, "--passphrase", stdin=OLD)
    t.eq(p.returncode, 0, name + ": sealed under the old passphrase")
    p = keys_tool("rotate-master", "--dir", keys, stdin=OLD)
    t.eq(p.returncode, 0, name + ": version 2 added (two sealed files)")
    return keys


def loads_with(keys, line):
    """rotate-master unseals the whole set: True if line opens it."""
    p = keys_tool("rotate-master", "--dir", keys, stdin=line)
    return p.returncode == 0, p.stderr.strip()


def f3():
    # the reviewer's fault, at the old and at the new staging name
    for suffix in (".tmp", ".new"):
        keys = sealed_dir("f3" + suffix.strip("."))
        blocker = os.path.join(keys, "master-2.key.sealed" + suffix)
        os.mkdir(blocker)
        p = keys_tool("seal", "--dir", keys, "--passphrase", stdin=OLD + NEW)
        os.rmdir(blocker)
        ok_old, e_old = loads_with(keys, OLD)
        ok_new, e_new = loads_with(keys, NEW)
        t.ok((ok_old or ok_new) and "another seal" not in e_old + e_new,
             "a directory at master-2.key.sealed%s during a reseal (rc %d): the keys still "
             "load (old: %s, new: %s)" % (suffix, p.returncode, ok_old, ok_new))
        if p.returncode != 0:
            t.ok(ok_old, "  the reseal failed, so the old passphrase still opens them")
        if not (ok_old or ok_new):
            t.diag(p.stderr + "\n" + e_old + "\n" + e_new)

    # a rename that fails after version 1 was switched (a crash mid-way)
    keys = sealed_dir("f3r")
    p = keys_tool("seal", "--dir", keys, "--passphrase", stdin=OLD + NEW,
                  env=shim_env(RSV_FAIL_RENAME="/master-2.key.sealed"))
    t.ok(p.returncode != 0 and "--finish" in p.stderr,
         "a rename failing half way: the seal fails and names `seal --finish`")
    ok, err = loads_with(keys, OLD)
    t.ok(not ok and "another seal" not in err and "--finish" in err,
         "until it is finished the tool refuses with a message naming --finish (%s)"
         % err[-120:])
    p = keys_tool("seal", "--dir", keys, "--finish")
    t.ok(p.returncode == 0 and "finished" in p.stderr, "seal --finish completes the switch")
    ok_new, e_new = loads_with(keys, NEW)
    t.ok(ok_new, "then the new passphrase opens every version (%s)" % e_new[-100:])
    ok_old, _ = loads_with(keys, OLD)
    t.ok(not ok_old, "and the old one no longer does")
    left = [n for n in os.listdir(keys) if n.endswith(".new") or n == "master.seal-switch"]
    t.eq(left, [], "no staging file or marker is left")

    # stopped before the switch: the next seal rolls the staged files back
    keys = sealed_dir("f3s")
    # what a crash during the staging leaves: a .new file, no marker
    with open(os.path.join(keys, "master-2.key.sealed.new"), "wb") as f:
        f.write(b"partial")
    ok_old, e_old = loads_with(keys, OLD)
    t.ok(ok_old, "a stray .new file does not stop the keys from loading (%s)" % e_old[-80:])
    p = keys_tool("seal", "--dir", keys, "--finish")
    t.ok(p.returncode == 0 and not os.path.exists(
        os.path.join(keys, "master-2.key.sealed.new")),
        "seal --finish without a switch under way removes the staged file")


# --- F4 ------------------------------------------------------------------
def f4():
    """Run as root, restore and admin-token work in a data directory that
    the server's account (nobody here) owns and can write: a process of
    that account can put a symlink where the tool is about to open or
    create a file. The shim renames such a link over DIR/lock.mdb just
    before the store library opens it; root must neither write to nor
    chown the file it points to. A data directory that is itself a
    symlink is refused."""
    if os.geteuid() != 0:
        for _ in range(9):
            t.ok(True, "F4 # SKIP needs root")
        return
    import pwd
    nobody = pwd.getpwnam("nobody").pw_uid
    bdir = tmpdir("bk4")
    give_to_server(bdir)
    v = Vault(extra_args=["--backup-dir", bdir], workdir=tmpdir("v4"))
    try:
        v.start()
        r = v.post("/v1/admin/backup", v.admin)
        t.eq(r.status, 201, "F4: a backup")
        m = r.json
    finally:
        v.stop()
    keys, vdata = v.keys, v.data  # kept: v.stop() leaves the directory
    work = tmpdir("f4")
    priv = os.path.join(work, "root-only")
    os.mkdir(priv, 0o700)
    src = os.path.join(work, "bk")
    os.mkdir(src, 0o700)
    a = os.path.join(src, os.path.basename(m["file"]))
    shutil.copyfile(m["file"], a)
    shutil.copyfile(m["file"] + ".manifest.json", a + ".manifest.json")

    def tail(p):
        return " | ".join(p.stderr.strip().splitlines())[-160:]

    def precious(name):
        target = os.path.join(priv, name)
        with open(target, "w") as f:
            f.write("root's file, not a lock file\n")
        os.chmod(target, 0o600)
        return target

    def untouched(target):
        st = os.stat(target)
        with open(target, "rb") as f:
            return (st.st_uid, f.read()) == (0, b"root's file, not a lock file\n")

    # restore: the link appears at lock.mdb after the stale one is removed
    data = os.path.join(work, "data")
    give_to_server(data)
    target = precious("restore-target")
    os.symlink(target, os.path.join(data, ".planted"))
    os.lchown(os.path.join(data, ".planted"), nobody, -1)
    p = keys_tool("restore", "--backup", a, "--data", data, "--keys", keys,
                  env=shim_env(RSV_SWAP_PATH=os.path.join(data, "lock.mdb"),
                               RSV_SWAP_FROM=os.path.join(data, ".planted"), RSV_SWAP_AT="1"))
    t.ok("[keys_preload] swapped" in p.stderr, "restore: the link was put at lock.mdb")
    t.ok(untouched(target), "restore: the file the link points to is neither written nor "
         "given to nobody (%s)" % tail(p))
    t.ok(p.returncode != 0 and not os.path.exists(os.path.join(data, "data.mdb")),
         "restore: refused, nothing installed")
    # and without the link it restores, every file nobody's
    data = os.path.join(work, "data-ok")
    give_to_server(data)
    p = keys_tool("restore", "--backup", a, "--data", data, "--keys", keys)
    t.ok(p.returncode == 0 and all(
        os.stat(os.path.join(data, f)).st_uid == nobody for f in ("data.mdb", "lock.mdb")),
        "restore without a link: done, data.mdb and lock.mdb are nobody's (%s)"
        % tail(p))

    # admin-token on a stopped vault without lock.mdb: the store library's
    # open of lock.mdb is the second (the first is the in-use probe)
    os.unlink(os.path.join(vdata, "lock.mdb"))
    target = precious("token-target")
    os.symlink(target, os.path.join(vdata, ".planted"))
    os.lchown(os.path.join(vdata, ".planted"), nobody, -1)
    p = keys_tool("admin-token", "--data", vdata, "--keys", keys,
                  env=shim_env(RSV_SWAP_PATH=os.path.join(vdata, "lock.mdb"),
                               RSV_SWAP_FROM=os.path.join(vdata, ".planted"), RSV_SWAP_AT="2"))
    t.ok("[keys_preload] swapped" in p.stderr and untouched(target),
         "admin-token: a link put at lock.mdb: the file it points to is neither written nor "
         "given to nobody (rc %d, %s)" % (p.returncode, tail(p)))
    os.unlink(os.path.join(vdata, "lock.mdb"))
    p = keys_tool("admin-token", "--data", vdata, "--keys", keys)
    t.ok(p.returncode == 0 and all(
        os.stat(os.path.join(vdata, f)).st_uid == nobody for f in ("admin.token", "lock.mdb")),
        "admin-token without a link: done, admin.token and lock.mdb are nobody's (%s)"
        % tail(p))

    # a data directory that is a symlink: refused by both
    link = os.path.join(work, "data-link")
    os.symlink(vdata, link)
    p = keys_tool("admin-token", "--data", link, "--keys", keys)
    t.ok(p.returncode != 0 and "symbolic link" in p.stderr,
         "admin-token --data SYMLINK: refused (%s)" % tail(p))
    link2 = os.path.join(work, "data-link2")
    give_to_server(os.path.join(work, "data-real"))
    os.symlink(os.path.join(work, "data-real"), link2)
    p = keys_tool("restore", "--backup", a, "--data", link2, "--keys", keys)
    t.ok(p.returncode != 0 and "symbolic link" in p.stderr and
         not os.path.exists(os.path.join(work, "data-real", "data.mdb")),
         "restore --data SYMLINK: refused, nothing installed (%s)" % tail(p))
    if not t.failed and not os.environ.get("RSVAULT_KEEP_TMP"):
        for d in (os.path.dirname(bdir), v.dir, work):
            shutil.rmtree(d, ignore_errors=True)


guarded(t, "F1 restore installs what it checked", f1)
guarded(t, "F2 trailing spaces in a passphrase", f2)
guarded(t, "F3 interrupted reseal", f3)
guarded(t, "F4 no link planted in the data directory is followed", f4)
t.done()

#!/usr/bin/env python3
"""What rsvaultd gives up, and what it refuses (issue 9, "Privileges" and the
smaller items): no running as root without --user; with --user, the switch
to that account with CAP_IPC_LOCK alone, no_new_privs and a seccomp filter
that kills; locked memory; SIGHUP does not stop the server; secret key files
and their directory, and the data directory, must not be open to others.
TAP on stdout."""
import os
import threading
import socket
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import (TAP, Vault, binpath, tmpdir, make_keys, server_user_args,  # noqa: E402
                     give_to_server, RUN_AS, BIN, _reachable)

# Servers started from here get SIGHUP's default action (stop), whatever
# this process inherited: the SIGHUP checks must be able to fail.
signal.signal(signal.SIGHUP, signal.SIG_DFL)

t = TAP()
ROOT_RUN = os.geteuid() == 0
CAP_IPC_LOCK = 1 << 14
NOBODY = pwd.getpwnam("nobody")
scratch = []


def status(pid):
    """/proc/PID/status as a dict of field -> value string."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def run(args, env=None, timeout=30, pre=None):
    """Run rsvaultd to completion (a refusal); returns CompletedProcess."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run((pre or []) + [binpath("rsvaultd")] + args, capture_output=True,
                          text=True, timeout=timeout, env=e, stdin=subprocess.DEVNULL)


def fresh(prefix):
    """A scratch dir with keys/ (root's when run as root) and data/ (the
    server user's)."""
    d = tmpdir(prefix)
    scratch.append(d)
    r = make_keys(os.path.join(d, "keys"))
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    give_to_server(os.path.join(d, "data"))
    return d, os.path.join(d, "keys"), os.path.join(d, "data")


def base_args(keys, data):
    return ["--data", data, "--keys", keys, "--listen", "127.0.0.1:0"]


def refused(name, args, want, env=None, pre=None):
    """rsvaultd must exit 1 at once, saying each string in want."""
    p = run(args, env=env, pre=pre)
    ok = t.ok(p.returncode == 1 and "listening" not in p.stderr,
              "%s: refused with exit 1 (got %d)" % (name, p.returncode))
    for w in want:
        if not t.ok(w in p.stderr, "%s: the message says %r" % (name, w)):
            ok = False
    if not ok:
        t.diag(p.stderr[-2000:])
    return p


# --- root needs --user -------------------------------------------------------
d, keys, data = fresh("priv")
if ROOT_RUN:
    refused("as root without --user", base_args(keys, data),
            ["refusing to run as root", "--user NAME"])
    refused("--user root", base_args(keys, data) + ["--user", "root"], ["must not be root"])
    refused("--user nobody --group root",
            base_args(keys, data) + ["--user", "nobody", "--group", "root"],
            ["must not be root"])
    refused("--user of no account", base_args(keys, data) + ["--user", "no-such-user-rsv"],
            ["no such user"])
    refused("--group without --user", base_args(keys, data) + ["--group", "nogroup"],
            ["--group needs --user"])
else:
    for _ in range(5):
        t.ok(True, "refusals as root # SKIP the tests do not run as root")

# --- not dumpable after the switch -------------------------------------------------
# The kernel sets a process's dumpable flag to fs.suid_dumpable when its uid
# changes; with 1 there, a server that does not clear the flag again after
# the switch could be ptraced (or its /proc/PID/mem read) by any process of
# the --user account. PR_GET_DUMPABLE cannot be asked of another process;
# its observable effect is the owner of /proc/PID/*: root for a process
# that is not dumpable, the process's own uid for one that is. The sysctl
# is global, so it is 1 only while the server starts, and restored at once.
SUID_DUMPABLE = "/proc/sys/fs/suid_dumpable"


def sysctl_writable(path):
    """Writing the value back as it is: a container's /proc/sys may be
    read-only even to root."""
    try:
        with open(path) as f:
            cur = f.read().strip()
        with open(path, "w") as f:
            f.write(cur + "\n")
        return True
    except OSError:
        return False


if ROOT_RUN and sysctl_writable(SUID_DUMPABLE):
    with open(SUID_DUMPABLE) as f:
        saved = f.read().strip()
    v = Vault()
    try:
        with open(SUID_DUMPABLE, "w") as f:
            f.write("1\n")
        try:
            v.start()
        finally:
            with open(SUID_DUMPABLE, "w") as f:
                f.write(saved + "\n")
        pid = v.proc.pid
        t.eq(status(pid)["Uid"].split()[0], str(NOBODY.pw_uid), "the server runs as nobody")
        for f in ("environ", "mem", "maps"):
            st = os.stat("/proc/%d/%s" % (pid, f))
            t.eq((st.st_uid, st.st_gid), (0, 0), "with fs.suid_dumpable = 1, /proc/PID/%s of "
                 "the switched server is root's (the server is not dumpable)" % f)
        t.eq(v.get("/v1/health").status, 200, "and it serves")
        t.eq(v.stop(), 0, "and stops cleanly")
    finally:
        v.stop()
else:
    for _ in range(6):
        t.ok(True, "not dumpable after the switch # SKIP needs root and a writable "
             "fs.suid_dumpable")

# --- the running server: who it is, what it holds ------------------------------
with Vault() as v:
    pid = v.proc.pid
    st = status(pid)
    log = v.logtext()
    t.eq(v.get("/v1/health").status, 200, "serves /v1/health")
    t.eq(v.get("/v1/me", v.admin).status, 200, "serves an authenticated request")
    if ROOT_RUN:
        want = "\t".join([str(NOBODY.pw_uid)] * 4)
        t.eq(st["Uid"].replace(" ", "\t"), want, "real, effective, saved and fs uid are nobody")
        t.eq(st["Gid"].split()[0], str(NOBODY.pw_gid), "gid is nobody's group")
        t.eq(st["Groups"], "", "no supplementary groups")
        t.eq(int(st["CapEff"], 16), CAP_IPC_LOCK, "effective capabilities: CAP_IPC_LOCK alone")
        t.eq(int(st["CapPrm"], 16), CAP_IPC_LOCK, "permitted capabilities: CAP_IPC_LOCK alone")
        t.eq((int(st["CapInh"], 16), int(st["CapAmb"], 16)), (0, 0),
             "nothing inheritable, nothing ambient")
        t.eq(int(st["CapBnd"], 16) & ~CAP_IPC_LOCK, 0, "bounding set: CAP_IPC_LOCK at most")
        t.ok("running as nobody" in log, "the log says whom it runs as")
        for f in ("data.mdb", "lock.mdb", "admin.token"):
            t.eq(os.stat(os.path.join(v.data, f)).st_uid, NOBODY.pw_uid,
                 "%s was made by nobody, not by root" % f)
        for k in ("master.key", "server.key"):
            t.eq(os.stat(os.path.join(v.keys, k)).st_uid, 0, "%s stays root's (read before "
                 "the switch)" % k)
    else:
        for _ in range(15):
            t.ok(True, "switch to --user # SKIP the tests do not run as root")
    t.eq(st["NoNewPrivs"], "1", "no_new_privs is set")
    t.eq(st["Seccomp"], "2", "a seccomp filter is installed (mode 2)")
    t.ok("seccomp: system-call allow-list installed" in log, "the log says so")
    tasks = os.listdir("/proc/%d/task" % pid)
    t.ok(len(tasks) > 2, "the server has its threads (%d)" % len(tasks))
    t.ok(all("Seccomp:\t2" in open("/proc/%d/task/%s/status" % (pid, x)).read()
             for x in tasks), "every thread is under the filter")

    # Memory locking: a normal build locks (it keeps CAP_IPC_LOCK), except
    # the store's map; AddressSanitizer ignores mlockall and says so.
    if "AddressSanitizer builds ignore mlockall" in log:
        t.ok(True, "memory locking # SKIP AddressSanitizer build (mlockall is a no-op)")
        t.ok(True, "the store's map is not locked # SKIP AddressSanitizer build")
    elif ROOT_RUN:
        vmlck = int(st["VmLck"].split()[0])
        t.ok("memory locked (mlockall)" in log and vmlck > 0,
             "memory is locked (VmLck %d kB)" % vmlck)
        smaps = open("/proc/%d/smaps" % pid).read()
        m = re.search(r"^[0-9a-f]+-[0-9a-f]+ .*/data\.mdb\n(.*?)^VmFlags:([^\n]*)", smaps,
                      re.M | re.S)
        t.ok(m is not None and " lo" not in m.group(2) and
             re.search(r"^Locked:\s+0 kB", m.group(1), re.M),
             "the store's map (ciphertext, --map-size) is not locked")
    else:
        t.ok("memory locked" in log or "memory NOT locked" in log,
             "the log says whether memory is locked")
        t.ok(True, "the store's map is not locked # SKIP not root")

    # SIGHUP: logged, survived, twice; the server keeps serving.
    for i in (1, 2):
        os.kill(pid, signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and len(re.findall(
                r"SIGHUP: reload (done|incomplete)[^\n]*still running", v.logtext())) < i:
            time.sleep(0.05)
        t.ok(v.proc.poll() is None, "SIGHUP #%d does not stop the server" % i)
        t.eq(v.get("/v1/health").status, 200, "it still serves after SIGHUP #%d" % i)
    t.eq(len(re.findall(r"SIGHUP: reload (done|incomplete)[^\n]*still running", v.logtext())),
         2, "each SIGHUP is logged")
    t.eq(v.stop(), 0, "SIGTERM still stops it cleanly (exit 0)")

# --- the filter kills ---------------------------------------------------------
# A test-build probe calls socket(2), which is not on the list, right after
# the filter is installed: the kernel must kill the process with SIGSYS.
d2, keys2, data2 = fresh("probe")
p = run(base_args(keys2, data2) + server_user_args(), env={"RSVAULT_TEST_SECCOMP_PROBE": "1"})
t.eq(p.returncode, -signal.SIGSYS, "a system call outside the allow-list kills the server "
     "(SIGSYS)")
t.ok("probe: calling socket" in p.stderr and "still alive" not in p.stderr,
     "it died at the probe, not before or after")
with Vault(extra_args=["--no-seccomp"]) as v:
    st = status(v.proc.pid)
    t.eq((st["Seccomp"], st["NoNewPrivs"]), ("0", "1"),
         "--no-seccomp: no filter (debugging), no_new_privs still set")
    t.ok("the system-call filter is OFF" in v.logtext(), "--no-seccomp says so in the log")

# --- secret key files and their directory ---------------------------------------
d3, keys3, data3 = fresh("keyperm")
args3 = base_args(keys3, data3) + server_user_args()
for name, mode in (("master.key", 0o644), ("audit.key", 0o640), ("server.key", 0o644),
                   ("master.key", 0o604), ("audit.key", 0o660)):
    path = os.path.join(keys3, name)
    os.chmod(path, mode)
    refused("%s mode %04o" % (name, mode), args3, [path, "chmod 600 " + path])
    os.chmod(path, 0o600)
os.chmod(keys3, 0o777)
refused("keys directory mode 0777", args3, ["its directory", "chmod 700 " + keys3])
os.chmod(keys3, 0o770)
refused("keys directory mode 0770", args3, ["chmod 700 " + keys3])
os.chmod(keys3, 0o700)
if ROOT_RUN:
    os.chown(os.path.join(keys3, "audit.key"), NOBODY.pw_uid, -1)
    refused("audit.key owned by another user", args3,
            ["audit.key: owned by uid %d" % NOBODY.pw_uid, "chown 0 "])
    os.chown(os.path.join(keys3, "audit.key"), 0, -1)
    os.chown(keys3, NOBODY.pw_uid, -1)
    refused("keys directory owned by another user", args3,
            ["its directory %s is owned by uid %d" % (keys3, NOBODY.pw_uid)])
    os.chown(keys3, 0, -1)
else:
    for _ in range(6):
        t.ok(True, "key owner checks # SKIP not root")
with Vault(workdir=d3) as v:
    t.eq(v.get("/v1/health").status, 200, "with 0600 keys in a 0700 directory it starts")

# --- the data directory -----------------------------------------------------------
if ROOT_RUN:
    d4, keys4, data4 = fresh("datadir")
    args4 = base_args(keys4, data4) + server_user_args()
    os.chown(data4, 0, 0)
    refused("data directory owned by root", args4,
            ["data directory %s is owned by uid 0" % data4, "chown -R nobody " + data4])
    os.chown(data4, NOBODY.pw_uid, NOBODY.pw_gid)
    os.chmod(data4, 0o777)
    refused("data directory mode 0777", args4, ["writable by group or others",
                                                "chmod 700 " + data4])
    os.chmod(data4, 0o700)
    open(os.path.join(data4, "lock.mdb"), "w").close()  # left by a run as root
    refused("a store file owned by root", args4,
            ["lock.mdb is owned by uid 0", "chown -R nobody " + data4])
    os.unlink(os.path.join(data4, "lock.mdb"))
    hidden = os.path.join(d4, "private")
    os.mkdir(hidden, 0o700)
    refused("a data directory nobody cannot reach",
            base_args(keys4, os.path.join(hidden, "data")) + server_user_args(),
            ["cannot reach or create", "every parent directory must be searchable"])
    p = subprocess.Popen([binpath("rsvaultd")] + args4, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    line = ""
    deadline = time.time() + 30
    while time.time() < deadline and "listening" not in line:
        line = p.stderr.readline()
        if not line:
            break
    t.ok("listening" in line, "once it is nobody's (0700), the server starts")
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    t.eq(p.returncode, 0, "and stops cleanly")
else:
    for _ in range(13):
        t.ok(True, "data directory checks # SKIP not root")

# --- started as an ordinary user --------------------------------------------------
# setpriv (util-linux) runs the binary as nobody from the start: no --user is
# needed, nothing to switch, no capability, and with the default memlock
# limit memory cannot be locked (one log line says so and how to fix it).
setpriv = shutil.which("setpriv")
if ROOT_RUN and setpriv and _reachable(BIN):
    d5 = tmpdir("asuser")
    scratch.append(d5)
    os.chown(d5, NOBODY.pw_uid, NOBODY.pw_gid)  # nobody makes its keys in it
    keys5, data5 = os.path.join(d5, "keys"), os.path.join(d5, "data")
    pre = [setpriv, "--reuid", "nobody", "--regid", str(NOBODY.pw_gid), "--clear-groups"]
    r = subprocess.run(pre + [binpath("rsvault-keys"), "init", "--dir", keys5],
                       capture_output=True, text=True, timeout=60)
    t.eq(r.returncode, 0, "nobody makes its own keys")
    give_to_server(data5)
    refused("nobody asking for --user of another account",
            base_args(keys5, data5) + ["--user", "daemon"],
            ["only a server started as root can switch users"], pre=pre)
    log5 = open(os.path.join(d5, "server.log"), "w+")
    p = subprocess.Popen(pre + [binpath("rsvaultd")] + base_args(keys5, data5),
                         stdout=log5, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.time() + 30
    text = ""
    while time.time() < deadline and "listening" not in text and p.poll() is None:
        time.sleep(0.05)
        log5.seek(0)
        text = log5.read()
    t.ok("listening" in text, "nobody starts the server without --user")
    if p.poll() is None:
        st = status(p.pid)
        t.eq(st["Uid"].split()[0], str(NOBODY.pw_uid), "it runs as nobody")
        t.eq((int(st["CapEff"], 16), st["NoNewPrivs"], st["Seccomp"]), (0, "1", "2"),
             "no capability, no_new_privs, seccomp")
        t.ok("memory NOT locked" in text and ("CAP_IPC_LOCK" in text or
                                              "AddressSanitizer" in text),
             "without CAP_IPC_LOCK: one line says memory is not locked and how to fix it")
        p.send_signal(signal.SIGTERM)
    else:
        for _ in range(3):
            t.ok(False, "the server as nobody did not start")
        t.diag(text[-2000:])
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    t.eq(p.returncode, 0, "and stops cleanly")
else:
    for _ in range(8):
        t.ok(True, "start as nobody # SKIP needs root, setpriv and a binary nobody can reach")

# --- nothing is read from a connection before the sandbox is complete --------
# The listeners start before the seccomp filter (the ports must be known);
# a test-build hook holds the start there for 1.5 s. A client that connects
# meanwhile must get nothing (no TLS handshake, no answer) until the filter
# is on; then its request is answered.
d6, keys6, data6 = fresh("early")
e6 = dict(os.environ, RSVAULT_TEST_SANDBOX_DELAY_MS="1500")
p6 = subprocess.Popen([binpath("rsvaultd")] + base_args(keys6, data6) + server_user_args(),
                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                      stdin=subprocess.DEVNULL, text=True, env=e6)
port6, deadline = None, time.time() + 30
while time.time() < deadline and port6 is None:
    line = p6.stderr.readline()
    if not line:
        break
    m = re.search(r"(?:links and receipts point to|making links is refused).*?:(\d+)/?", line)
    m = m or re.search(r"https://127\.0\.0\.1:(\d+)", line)
    if m:
        port6 = int(m.group(1))
result6 = {}


def early_health():
    import ssl
    ctx = ssl.create_default_context(cafile=os.path.join(keys6, "ca.pem"))
    ctx.check_hostname = False
    t0 = time.time()
    try:
        with socket.create_connection(("127.0.0.1", port6), timeout=20) as s:
            with ctx.wrap_socket(s) as ts:
                ts.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = ts.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        result6["answer"] = data.split(b"\r\n", 1)[0].decode("latin-1")
    except OSError as ex:
        result6["answer"] = "error: %s" % ex
    result6["at"] = time.time() - t0


if t.ok(port6 is not None, "the server logged its port before the sandbox"):
    th6 = threading.Thread(target=early_health)
    th6.start()
    time.sleep(0.6)
    st6 = status(p6.pid)
    t.eq(st6.get("Seccomp"), "0", "0.6 s in, the filter is not on yet (the hook holds the start)")
    t.ok("answer" not in result6,
         "and the connection got no answer meanwhile (%r)" % result6.get("answer"))
    th6.join(timeout=30)
    t.ok(result6.get("answer", "").startswith("HTTP/1.1 200"),
         "once the sandbox is complete the request is answered (%r after %.2f s)"
         % (result6.get("answer"), result6.get("at", -1)))
    t.eq(status(p6.pid).get("Seccomp"), "2", "with the filter on")
p6.send_signal(signal.SIGTERM)
p6.communicate(timeout=30)
t.eq(p6.returncode, 0, "and it stops cleanly")

if not t.failed and not os.environ.get("RSVAULT_KEEP_TMP"):
    for d in scratch:
        shutil.rmtree(d, ignore_errors=True)
t.done()

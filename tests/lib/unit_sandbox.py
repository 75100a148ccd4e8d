#!/usr/bin/python3
"""Run a command under the restrictions a systemd unit file names, on a
machine whose PID 1 is not systemd (so `systemd-run -p ...` cannot be used).

    /usr/bin/python3 unit_sandbox.py syscalls UNIT
        print the system calls the unit's SystemCallFilter= allows, one a
        line (groups expanded with `systemd-analyze syscall-filter`)
    unshare -m --propagation private /usr/bin/python3 unit_sandbox.py run UNIT UID GID RW[:RW...] -- CMD...
        in a private mount namespace: every mount read-only except RW paths,
        /proc, /sys and /dev (ProtectSystem=strict with ReadWritePaths=);
        then MemoryDenyWriteExecute= (PR_SET_MDWE), the SystemCallFilter=
        (libseccomp, kill on anything else, native architecture only); then
        setpriv: that user and group, no supplementary groups,
        NoNewPrivileges=, CapabilityBoundingSet= and AmbientCapabilities=;
        then exec CMD.

Only what the unit says is applied: a setting missing from the unit is not
emulated. Needs python3-seccomp (Debian), so it runs under /usr/bin/python3.
"""
import ctypes
import os
import re
import subprocess
import sys


def unit_settings(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        k, v = line.split("=", 1)
        out.setdefault(k.strip(), []).append(v.strip())
    return out


_groups = {}


def expand(name, seen=None):
    """Members of a syscall group (recursively) or the name itself."""
    if not name.startswith("@"):
        return {name}
    seen = seen or set()
    if name in seen:
        return set()
    seen.add(name)
    if name not in _groups:
        p = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name],
                           capture_output=True, text=True, check=True)
        members = []
        for ln in p.stdout.splitlines()[1:]:
            ln = ln.strip()
            if ln and not ln.startswith("#"):
                members.append(ln)
        _groups[name] = members
    out = set()
    for m in _groups[name]:
        out |= expand(m, seen)
    return out


def allowed_syscalls(unit):
    allow, deny = set(), set()
    for v in unit.get("SystemCallFilter", []):
        neg = v.startswith("~")
        for tok in v.lstrip("~").split():
            (deny if neg else allow).update(expand(tok))
    return allow - deny


def protect(rw):
    """Every mount read-only except rw paths and the kernel's (in the
    private mount namespace this process was started in)."""
    for p in rw:
        subprocess.run(["mount", "--bind", p, p], check=True)
    targets = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True,
                             check=True).stdout.split()
    for m in targets:
        m = m.encode().decode("unicode_escape")
        if m in rw or m.startswith(("/proc", "/sys", "/dev", "/mnt/")):
            continue
        subprocess.run(["mount", "-o", "remount,bind,ro", m], capture_output=True)


def main():
    if sys.argv[1] == "syscalls":
        for s in sorted(allowed_syscalls(unit_settings(sys.argv[2]))):
            print(s)
        return 0
    assert sys.argv[1] == "run"
    unit = unit_settings(sys.argv[2])
    uid, gid = sys.argv[3], sys.argv[4]
    rw = [p for p in sys.argv[5].split(":") if p]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    if unit.get("ProtectSystem", ["no"])[-1] == "strict":
        protect(rw)
    libc = ctypes.CDLL(None, use_errno=True)
    if unit.get("MemoryDenyWriteExecute", ["no"])[-1] == "yes":
        PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
        if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
            sys.stderr.write("unit_sandbox: PR_SET_MDWE failed (errno %d)\n" % ctypes.get_errno())
            return 3
    setpriv = ["setpriv", "--reuid", uid, "--regid", gid, "--clear-groups"]
    if unit.get("NoNewPrivileges", ["no"])[-1] == "yes":
        setpriv.append("--no-new-privs")
    caps = [c.lower().replace("cap_", "") for v in unit.get("CapabilityBoundingSet", [])
            for c in v.split()]
    if caps:
        setpriv += ["--bounding-set", "-all," + ",".join("+" + c for c in caps)]
    amb = [c.lower().replace("cap_", "") for v in unit.get("AmbientCapabilities", [])
           for c in v.split()]
    if amb:
        lst = ",".join("+" + c for c in amb)
        setpriv += ["--inh-caps", lst, "--ambient-caps", lst]
    if unit.get("SystemCallFilter"):
        import seccomp
        f = seccomp.SyscallFilter(defaction=seccomp.KILL_PROCESS)
        if unit.get("SystemCallArchitectures", [""])[-1] == "native":
            pass  # a new filter allows the native architecture only
        for s in sorted(allowed_syscalls(unit)):
            try:
                f.add_rule(seccomp.ALLOW, s)
            except (RuntimeError, ValueError, OSError):
                pass  # not a system call of this architecture
        f.load()
    os.execvp(setpriv[0], setpriv + cmd)


if __name__ == "__main__":
    sys.exit(main())

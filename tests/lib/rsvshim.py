"""The test builds' preload shims: tests/lib/fault_preload.c (disk faults
and slow system calls under rsvaultd, switched by control files in its
RSVAULT_FAULT_DIR) and tests/lib/keys_preload.c (files swapped under
rsvault-keys). Where each is, the environment that loads one, and the
fault shim's control files."""
import os

from rsvtest import BIN

_VARS = {"fault": "RSVAULT_FAULT_SO", "keys": "RSVAULT_KEYS_SO"}


def shim(t, kind):
    """The path of the `kind` shim ("fault" or "keys"): $RSVAULT_FAULT_SO or
    $RSVAULT_KEYS_SO, else beside the tests of $RSVAULT_BIN's build. A
    missing shim is a failed check, and the test file ends there."""
    so = os.environ.get(_VARS[kind]) or os.path.join(os.path.dirname(BIN), "tests",
                                                      "%s_preload.so" % kind)
    if not os.path.exists(so):
        t.ok(False, "the %s shim exists at %s (make unit-tests builds it)" % (kind, so))
        t.done()
    return so


def preload_env(so, base=None, **kw):
    """base (None: an empty environment for Vault(env=...), which adds it to
    this process's) with so preloaded, then kw."""
    env = dict(base) if base is not None else {}
    env["LD_PRELOAD"] = so
    asan = (base if base is not None else os.environ).get("ASAN_OPTIONS", "")
    # the shim is loaded before the sanitizer runtime
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    env.update(kw)
    return env


class Fault:
    """While the block runs, the fault shim's control file `name` exists in
    the server's data directory."""

    def __init__(self, v, name):
        self.path = os.path.join(v.data, name)

    def __enter__(self):
        open(self.path, "w").close()
        return self

    def __exit__(self, *exc):
        self.clear()

    def clear(self):
        if os.path.exists(self.path):
            os.unlink(self.path)

#!/usr/bin/env python3
"""The passphrase line limit at its edges (SEAL_LINE_MAX = 2047 bytes
before the "\\n", common/seal.h; docs/keys.md), in the key tool and in the
server, and a last line with no "\\n" before the end of the input:

- `seal` takes a passphrase of exactly 2047 bytes given with no newline
  at the end of its input, and seals under all of it;
- `rotate-master` on that directory refuses a line of 2048 bytes (the
  2047 and one more) as too long, and nothing is made;
- the server, on --unseal-fd, refuses a 2048-byte line as too long and
  stays sealed; then the 2047 bytes with no newline, the input closed,
  unseal it (the whole line was the passphrase: not its first 2046);
- from a systemd credential holding the 2047 bytes with no newline, it
  unseals. TAP on stdout."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from rsvtest import TAP, tmpdir  # noqa: E402
from test_seal import SealedVault, keys_tool, sealed_answers  # noqa: E402

P2047 = ("edge-" * 410)[:2046] + "Z"  # 2047 bytes, the last one matters


def main():
    t = TAP()
    assert len(P2047) == 2047
    v = SealedVault()
    v.start()
    v.stop()
    r = keys_tool("seal", "--dir", v.keys, "--passphrase", stdin=P2047)
    if not t.eq(r.returncode, 0, "seal: a 2047-byte passphrase with no newline at the end "
                "of the input is taken"):
        t.diag(r.stderr)
    r = keys_tool("rotate-master", "--dir", v.keys, stdin=P2047 + "X\n")
    t.ok(r.returncode != 0 and "longer than 2047 bytes" in r.stderr and
         not os.path.exists(os.path.join(v.keys, "master-2.key.sealed")),
         "rotate-master: a 2048-byte line is refused as too long, nothing made (%s)"
         % r.stderr.strip()[-120:])

    v.start_sealed(fd_input=True)
    v.feed(P2047 + "X\n")
    t.ok(v.wait_log(rb"longer than 2047 bytes: refused whole", limit=60) is not None,
         "--unseal-fd: a 2048-byte line is refused as too long")
    sealed_answers(t, v, "after a 2048-byte line")
    v.feed(P2047[:-1] + "\n")
    t.ok(v.wait_log(rb"wrong passphrase", limit=120) is not None,
         "--unseal-fd: the first 2046 bytes alone are a wrong passphrase")
    v.feed(P2047)
    v.close_input()
    t.ok(v.wait_log(rb"unsealed: master-key version", limit=120) is not None,
         "--unseal-fd: the 2047 bytes with no newline, then the end of the input: unsealed")
    r = v.get("/v1/health")
    t.eq(r.status, 200, "health 200 once unsealed")
    v.stop()

    cred = tmpdir("cred")
    cp = os.path.join(cred, "rsvault-unseal")
    with open(cp, "w") as f:
        f.write(P2047)
    os.chmod(cp, 0o600)
    v.start_sealed(env={"CREDENTIALS_DIRECTORY": cred})
    t.ok(v.wait_log(rb"unsealed: master-key version", limit=120) is not None,
         "credential: the 2047 bytes with no newline unseal")
    v.stop()
    t.done()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Independent test vectors for common/auditlog.c (tests/unit/test_auditlog.c).

Re-implements, from the description in common/auditlog.h and docs/audit.md,
the audit event canonical form, the chain hash and the checkpoint message,
using only the Python standard library (hashlib.blake2b). Ed25519 is not in
the standard library, so a small RFC 8032 implementation follows; it checks
itself against RFC 8032 section 7.1 test 1 before it is used.

Run:  python3 tests/unit/vectors_auditlog.py
and compare the printed hex with the constants in test_auditlog.c.
"""
import hashlib
import struct
import sys

EVENT_TAG = b"rsvault-audit-event-v1\x00"
CHECKPOINT_TAG = b"rsvault-audit-checkpoint-v1\x00"
STR_FIELDS = ("time", "actor", "role", "action", "ticket", "credential",
              "session", "outcome", "reason", "ip", "request_id")


def canonical(ev):
    """The bytes that are hashed after prev."""
    out = bytearray(EVENT_TAG)
    out += struct.pack(">Q", ev["seq"])
    for name in STR_FIELDS:
        val = ev[name]
        if val is None:
            out += b"\x00"
        else:
            raw = val.encode("utf-8")
            assert len(raw) <= 65535
            out += b"\x01" + struct.pack(">I", len(raw)) + raw
    return bytes(out)


def event_hash(ev):
    h = hashlib.blake2b(digest_size=32)
    h.update(ev["prev"])
    h.update(canonical(ev))
    return h.digest()


def checkpoint_msg(seq, hsh):
    return CHECKPOINT_TAG + struct.pack(">Q", seq) + hsh


# ---- Ed25519 (RFC 8032, section 5.1), written for clarity, not speed ----
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y, sign):
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if x & 1 != sign:
        x = P - x
    return x


_BY = 4 * pow(5, P - 2, P) % P
BASE = (_recover_x(_BY, 0), _BY, 1, _recover_x(_BY, 0) * _BY % P)


def _add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(k, pt):
    acc = (0, 1, 1, 0)
    while k:
        if k & 1:
            acc = _add(acc, pt)
        pt = _add(pt, pt)
        k >>= 1
    return acc


def _encode(pt):
    x, y, z, _ = pt
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _h(data):
    return int.from_bytes(hashlib.sha512(data).digest(), "little")


def ed25519_keypair(seed):
    digest = hashlib.sha512(seed).digest()
    a = int.from_bytes(digest[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, digest[32:], _encode(_mul(a, BASE))


def ed25519_sign(seed, msg):
    a, prefix, pk = ed25519_keypair(seed)
    r = _h(prefix + msg) % L
    rs = _encode(_mul(r, BASE))
    s = (r + _h(rs + pk + msg) * a) % L
    return pk, rs + s.to_bytes(32, "little")


def _selftest():
    # RFC 8032, 7.1, TEST 1 (empty message).
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc4"
                         "4449c5697b326919703bac031cae7f60")
    pk, sig = ed25519_sign(seed, b"")
    assert pk.hex() == ("d75a980182b10ab7d54bfed3c964073a"
                        "0ee172f3daa62325af021a68f707511a"), pk.hex()
    assert sig.hex() == ("e5564300c360ac729086e2cc806e828a"
                         "84877f1eb8e5d974d873e06522490155"
                         "5fb8821590a33bacc61e39701cf9b46b"
                         "d25bf5f0595bbe24655141438e7a100b"), sig.hex()


# ---- the vectors ----------------------------------------------------------

# Every field present, prev = 00 01 02 ... 1f.
FULL = {
    "seq": 42,
    "time": "2026-11-22T10:00:00.123Z",
    "actor": "agent.bob",
    "role": "agent",
    "action": "credential.read",
    "ticket": "Xq3v9Lk2Rt8Yb1Np4Wz7Hc",
    "credential": "Cd5Fg6Hj7Kl8Mn9Pq0Rs1T",
    "session": "Se2Ss3Io4Nn5Id6Ab7Cd8E",
    "outcome": "deny",
    "reason": "session_expired",
    "ip": "192.0.2.10",
    "request_id": "Rq9Id8Xy7Zw6Vu5Ts4Rq3P",
    "prev": bytes(range(32)),
}

# A failed authentication: mostly null; seq with every byte distinct (checks
# big-endian order), an empty ip (empty is not null) and a non-ASCII
# request_id (lengths are in bytes); prev = ff * 32.
NULLS = {
    "seq": 0x0102030405060708,
    "time": "1999-12-31T23:59:59.999Z",
    "actor": None,
    "role": None,
    "action": "auth",
    "ticket": None,
    "credential": None,
    "session": None,
    "outcome": "deny",
    "reason": "unauthenticated",
    "ip": "",
    "request_id": "r\u00e9q",
    "prev": b"\xff" * 32,
}

# The worked example of docs/audit.md: the first event of a log.
DOC = {
    "seq": 1,
    "time": "2026-11-22T10:00:00.123Z",
    "actor": "admin",
    "role": "admin",
    "action": "account.create",
    "ticket": None,
    "credential": None,
    "session": None,
    "outcome": "allow",
    "reason": None,
    "ip": "127.0.0.1",
    "request_id": "req-1",
    "prev": bytes(32),
}

CP_SEED = bytes(range(0x20, 0x40))  # 20 21 ... 3f
CP_SEQ = 100


def explain(ev):
    """The canonical form of ev field by field, as in docs/audit.md."""
    print(f"  {EVENT_TAG.hex()}  tag + 00")
    print(f"  {struct.pack('>Q', ev['seq']).hex()}  seq {ev['seq']}")
    for name in STR_FIELDS:
        val = ev[name]
        if val is None:
            print(f"  00  {name}: null")
        else:
            raw = val.encode("utf-8")
            print(f"  01 {struct.pack('>I', len(raw)).hex()} {raw.hex()}  {name}: {val!r}")
    print(f"  ({len(canonical(ev))} bytes)")


def _dump(name, ev):
    print(f"{name}.canonical = {canonical(ev).hex()}")
    print(f"{name}.hash      = {event_hash(ev).hex()}")


def main():
    _selftest()
    _dump("FULL", FULL)
    _dump("NULLS", NULLS)
    _dump("DOC", DOC)
    msg = checkpoint_msg(CP_SEQ, event_hash(FULL))
    pk, sig = ed25519_sign(CP_SEED, msg)
    print(f"CP.msg       = {msg.hex()}  (seq {CP_SEQ}, hash = FULL.hash)")
    print(f"CP.pk        = {pk.hex()}  (seed 20..3f)")
    print(f"CP.signature = {sig.hex()}")
    try:  # optional cross-check, when the 'cryptography' package is there
        from cryptography.hazmat.primitives.asymmetric import ed25519
        key = ed25519.Ed25519PrivateKey.from_private_bytes(CP_SEED)
        assert key.sign(msg) == sig
        print("# signature cross-checked with the 'cryptography' package")
    except ImportError:
        pass
    print("# docs/audit.md worked example (DOC), field by field:")
    explain(DOC)
    msg = checkpoint_msg(DOC["seq"], event_hash(DOC))
    pk, sig = ed25519_sign(CP_SEED, msg)
    print(f"DOC.cp.msg       = {msg.hex()}")
    print(f"DOC.cp.signature = {sig.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Independent test vectors for common/auditlog.c (tests/unit/test_auditlog.c).

Re-implements, from the description in common/auditlog.h and docs/audit.md,
the audit event canonical form (forms 1 and 2), the chain hash and the
checkpoint message,
using only the Python standard library (hashlib.blake2b). Ed25519 is not in
the standard library, so a small RFC 8032 implementation follows; it checks
itself against RFC 8032 section 7.1 test 1 before it is used.

Run:  python3 tests/unit/vectors_auditlog.py
and compare the printed hex with the constants in test_auditlog.c, or let
the script compare them:
      python3 tests/unit/vectors_auditlog.py --check tests/unit/test_auditlog.c
(exit 0 only if every constant there equals the value computed here).
"""
import hashlib
import re
import struct
import sys

EVENT_TAGS = {1: b"rsvault-audit-event-v1\x00", 2: b"rsvault-audit-event-v2\x00"}
CHECKPOINT_TAG = b"rsvault-audit-checkpoint-v1\x00"
STR_FIELDS_V1 = ("time", "actor", "role", "action", "ticket", "credential",
                 "session", "outcome", "reason", "ip", "request_id")
STR_FIELDS = {1: STR_FIELDS_V1, 2: STR_FIELDS_V1 + ("target", "token", "cert")}


def form_of(ev):
    """An event without "form" is form 1 (written before forms were numbered)."""
    return ev.get("form", 1)


def canonical(ev):
    """The bytes that are hashed after prev."""
    form = form_of(ev)
    if form == 1:
        # form 1 has no place for the later fields
        assert all(ev.get(k) is None for k in ("target", "token", "cert"))
    out = bytearray(EVENT_TAGS[form])
    out += struct.pack(">Q", ev["seq"])
    for name in STR_FIELDS[form]:
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

# Form 2: FULL with the three later fields present.
FULL2 = dict(FULL, form=2, target="acme-it#0123456789abcdef", token="fedcba9876543210",
             cert="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")

# Form 2, every field that may be null is null (time and outcome never are);
# prev = 5a * 32.
NULLS2 = {
    "form": 2,
    "seq": 0x7FFFFFFFFFFFFFFF,  # the largest seq JSON can carry
    "time": "2000-02-29T00:00:00.000Z",
    "actor": None, "role": None, "action": None, "ticket": None, "credential": None,
    "session": None, "outcome": "allow", "reason": None, "ip": None, "request_id": None,
    "target": None, "token": None, "cert": None,
    "prev": b"\x5a" * 32,
}

# FULL's fields in form 2 (target, token and cert null): the form is part of
# the hash, so this must differ from FULL.
FULL_AS2 = dict(FULL, form=2, target=None, token=None, cert=None)

# The form-2 worked example of docs/audit.md: event 2 of the log that DOC
# starts, an admin minting a token for agent1 (target "account#token id").
DOC2 = {
    "form": 2,
    "seq": 2,
    "time": "2026-11-22T10:00:01.456Z",
    "actor": "admin",
    "role": "admin",
    "action": "account.token",
    "ticket": None,
    "credential": None,
    "session": None,
    "outcome": "allow",
    "reason": None,
    "ip": "127.0.0.1",
    "request_id": "req-2",
    "target": "agent1#8f14e45fceea167a",
    "token": "c4ca4238a0b92382",
    "cert": None,
    "prev": None,  # filled in below: the hash of DOC
}

CP_SEED = bytes(range(0x20, 0x40))  # 20 21 ... 3f
CP_SEQ = 100


def explain(ev):
    """The canonical form of ev field by field, as in docs/audit.md."""
    print(f"  {EVENT_TAGS[form_of(ev)].hex()}  tag + 00")
    print(f"  {struct.pack('>Q', ev['seq']).hex()}  seq {ev['seq']}")
    for name in STR_FIELDS[form_of(ev)]:
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
    DOC2["prev"] = event_hash(DOC)
    _dump("FULL2", FULL2)
    _dump("NULLS2", NULLS2)
    _dump("FULL_AS2", FULL_AS2)
    _dump("DOC2", DOC2)
    assert event_hash(FULL_AS2) != event_hash(FULL)
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
    print("# docs/audit.md form-2 worked example (DOC2, event 2 after DOC), field by field:")
    explain(DOC2)
    msg = checkpoint_msg(DOC2["seq"], event_hash(DOC2))
    pk, sig = ed25519_sign(CP_SEED, msg)
    print(f"DOC2.cp.msg       = {msg.hex()}")
    print(f"DOC2.cp.signature = {sig.hex()}")
    return 0


def expected():
    """The constants of test_auditlog.c, computed here."""
    DOC2["prev"] = event_hash(DOC)
    cp_msg = checkpoint_msg(CP_SEQ, event_hash(FULL))
    cp_pk, cp_sig = ed25519_sign(CP_SEED, cp_msg)
    _, doc2_sig = ed25519_sign(CP_SEED, checkpoint_msg(DOC2["seq"], event_hash(DOC2)))
    return {
        "FULL_HASH": event_hash(FULL).hex(),
        "NULLS_HASH": event_hash(NULLS).hex(),
        "DOC_HASH": event_hash(DOC).hex(),
        "FULL2_HASH": event_hash(FULL2).hex(),
        "NULLS2_HASH": event_hash(NULLS2).hex(),
        "FULL_AS2_HASH": event_hash(FULL_AS2).hex(),
        "DOC2_HASH": event_hash(DOC2).hex(),
        "DOC2_CP_SIG": doc2_sig.hex(),
        "CP_MSG": cp_msg.hex(),
        "CP_PK": cp_pk.hex(),
        "CP_SIG": cp_sig.hex(),
    }


def c_defines(path):
    """#define NAME "..." "..." (with line continuations) -> {NAME: text}."""
    text = open(path, encoding="utf-8").read().replace("\\\n", " ")
    out = {}
    for m in re.finditer(r'^#define (\w+)\s+((?:"[0-9a-f]*"\s*)+)$', text, re.M):
        out[m.group(1)] = "".join(re.findall(r'"([0-9a-f]*)"', m.group(2)))
    return out


def check(path):
    _selftest()
    got = c_defines(path)
    bad = 0
    for name, want in expected().items():
        if got.get(name) != want:
            print(f"MISMATCH {name}: C has {got.get(name)!r}, Python computes {want}")
            bad += 1
        else:
            print(f"ok {name}")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    sys.exit(main())

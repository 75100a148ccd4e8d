#!/usr/bin/env python3
"""Offline verification of audit exports by both verifiers, `rsvault audit
verify` and `rsvault-keys verify-audit` (issue 9, defect 1; SPEC 5 and 8.1).

A real vault makes a real export. Then:
- the forgery of the issue: delete an event (the credential.read that
  released a secret), renumber, recompute the BLAKE2b chain in Python from
  docs/audit.md and drop the checkpoint lines: both verifiers exit 6;
- an honest export: exit 0 and the pin to keep, which verifies again;
- an honest export of fewer than 100 events, no checkpoint: exit 5;
- a missing or unreadable file, a usage error: exit 1;
- a checkpoint removed where one is due (seq 100), an unsigned tail of 100
  events or more: exit 6;
- a log whose first events were written in form 1 (as before form 2
  existed) continues in form 2 and verifies, with a server checkpoint over
  the mixed chain; the API shows old rows in the shape of every event;
- messages carry no terminal control characters from the export;
- the example export in docs/audit.md verifies as documented;
- the C unit tests' fixed vectors equal the independent Python ones."""
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from rsvtest import TAP, Vault, binpath, tmpdir  # noqa: E402
from rsvcore import Core, mdb_dump, mdb_put  # noqa: E402

t = TAP()
# no timed checkpoints: only the due ones at every 100th event
NO_TIMER = {"RSVAULT_TEST_CHECKPOINT_MS": "3600000"}
PIN_RE = re.compile(r"^pin: (\d+):([0-9a-f]{64})$", re.M)


# --- the canonical form, from docs/audit.md section 2 ----------------------
V1_FIELDS = ("time", "actor", "role", "action", "ticket", "credential", "session",
             "outcome", "reason", "ip", "request_id")
V2_FIELDS = V1_FIELDS + ("target", "token", "cert")


def event_hash(ev, prev):
    form = ev.get("form", 1)
    tag = b"rsvault-audit-event-v%d\x00" % form
    data = bytearray(tag + struct.pack(">Q", ev["seq"]))
    for name in V1_FIELDS if form == 1 else V2_FIELDS:
        val = ev.get(name)
        if val is None:
            data += b"\x00"
        else:
            raw = val.encode("utf-8")
            data += b"\x01" + struct.pack(">I", len(raw)) + raw
    h = hashlib.blake2b(digest_size=32)
    h.update(prev)
    h.update(bytes(data))
    return h.hexdigest()


def rechain(events):
    """Renumber from 1 and recompute prev and hash: what a forger does."""
    prev = bytes(32)
    out = []
    for i, ev in enumerate(events, 1):
        ev = dict(ev, seq=i, prev=prev.hex())
        ev["hash"] = event_hash(ev, prev)
        prev = bytes.fromhex(ev["hash"])
        out.append(ev)
    return out


def write_jsonl(path, recs):
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(ln) for ln in f.read().splitlines()]


# --- the two verifiers ---------------------------------------------------------
def client(v, token, *args):
    env = dict(os.environ, RSVAULT_ADDR=v.addr, RSVAULT_CACERT=v.ca, RSVAULT_TOKEN=token)
    return subprocess.run([binpath("rsvault")] + list(args), capture_output=True, env=env,
                          timeout=120)


def verifiers(path, pub, *extra):
    """Run both verifiers on path; [(name, CompletedProcess)]."""
    env = {k: val for k, val in os.environ.items() if not k.startswith("RSVAULT_")}
    runs = []
    for name, argv in (("rsvault audit verify", [binpath("rsvault"), "audit", "verify"]),
                       ("rsvault-keys verify-audit", [binpath("rsvault-keys"), "verify-audit"])):
        args = argv + ([path] if path is not None else []) + (["--pubkey", pub] if pub else [])
        runs.append((name, subprocess.run(args + list(extra), capture_output=True, env=env,
                                          timeout=120)))
    return runs


def expect_both(path, pub, status, what, *extra, grep=None):
    """Both verifiers exit with status (and print grep, if given)."""
    runs = verifiers(path, pub, *extra)
    for name, p in runs:
        text = (p.stdout + p.stderr).decode("utf-8", "replace")
        ok = p.returncode == status and (grep is None or re.search(grep, text) is not None)
        if not t.ok(ok, "%s: %s: exit %d" % (name, what, status)):
            t.diag("exit %d: %s" % (p.returncode, text.strip()[:400]))
    return runs


def printed_pin(p):
    m = PIN_RE.search(p.stdout.decode())
    return (int(m.group(1)), m.group(2)) if m else None


def make_traffic(v, token, n):
    """n cheap audited requests over one connection."""
    c = v.conn()
    try:
        for _ in range(n):
            r = v.get("/v1/me", token=token, conn=c)
            assert r.status == 200, r
    finally:
        c.close()


# ============================================================================
# 1. a real vault, a real export of about 250 events
with Vault(env=NO_TIMER) as v:
    core = Core(v)
    pub = os.path.join(v.keys, "audit.pub")
    cust, agent, aud = core.customer("pro"), core.agent(), core.auditor()
    w = core.world(cust, agent=agent, session=True)
    r = core.read_secret(w)
    t.eq(r.status, 200, "the agent reads the secret in its session")
    read_rid = r.header("X-Request-Id")
    # about 240 events: checkpoints due at 100 and 200, a tail of about 40
    r = v.get("/v1/audit?order=desc&limit=1", aud.token)
    head = r.json["events"][0]["seq"] if r.status == 200 and r.json.get("events") else 10
    make_traffic(v, aud.token, max(0, 239 - head))

    honest = os.path.join(v.dir, "honest.jsonl")
    p = client(v, aud.token, "audit", "export", "-o", honest)
    t.eq(p.returncode, 0, "audit export exits 0")
    recs = read_jsonl(honest)
    events = [r_ for r_ in recs if r_["type"] == "event"]
    cps = [r_ for r_ in recs if r_["type"] == "checkpoint"]
    t.ok(len(events) > 200, "the export holds %d events" % len(events))
    t.eq([c["seq"] for c in cps], [100, 200], "checkpoints at 100 and 200 only (timer off)")
    t.ok(all(e.get("form") == 2 and all(k in e for k in ("target", "token", "cert"))
             for e in events), "the server writes form 2 with target, token and cert")

    # the Python canonical form of docs/audit.md reproduces every stored hash
    prev, same = bytes(32), True
    for e in events:
        same = same and e["prev"] == prev.hex() and event_hash(e, prev) == e["hash"]
        prev = bytes.fromhex(e["hash"])
    t.ok(same, "docs/audit.md's canonical form recomputes all %d server hashes" % len(events))

    # --- an honest export: exit 0, the pin to keep --------------------------
    runs = expect_both(honest, pub, 0, "honest export", grep=r"^OK: %d events, 2 checkpoints"
                       % len(events))
    for name, p_ in runs:
        t.eq(printed_pin(p_), (200, cps[-1]["hash"]), "%s prints pin: 200:HASH" % name)
    expect_both(honest, pub, 0, "honest export with the printed pin",
                "--pin", "200:" + cps[-1]["hash"])
    expect_both(honest, pub, 0, "honest export with an older pin",
                "--pin", "100:" + cps[0]["hash"])
    p = client(v, "", "--json", "audit", "verify", honest, "--pubkey", pub)
    j = json.loads(p.stdout or b"{}")
    t.ok(p.returncode == 0 and j.get("result") == "ok" and j.get("ok") is True
         and j.get("pin") == "200:" + cps[-1]["hash"] and j.get("checkpoints") == 2,
         "--json: result ok with the pin")

    # --- the forgery of the issue ---------------------------------------------
    victim = [e for e in events if e["request_id"] == read_rid]
    t.ok(len(victim) == 1 and victim[0]["action"] == "credential.read",
         "the export records the secret read (seq %s)" % (victim[0]["seq"] if victim else "?"))
    forged = rechain([e for e in events if e["request_id"] != read_rid])
    forged_path = os.path.join(v.dir, "forged.jsonl")
    write_jsonl(forged_path, forged)
    # internally consistent: a verifier that only followed the chain passes it
    prev, ok = bytes(32), True
    for e in forged:
        ok = ok and e["prev"] == prev.hex() and event_hash(e, prev) == e["hash"]
        prev = bytes.fromhex(e["hash"])
    t.ok(ok and len(forged) == len(events) - 1, "the forged chain is consistent, one event short")
    runs = expect_both(forged_path, pub, 6, "forged export (event deleted, renumbered, "
                       "rehashed, checkpoints dropped)",
                       grep=r"FAILED at seq 100 .*checkpoint due after event 100")
    for name, p_ in runs:
        t.ok(PIN_RE.search(p_.stdout.decode()) is None, "%s prints no pin on failure" % name)
    # keeping the genuine checkpoint lines does not help the forger
    fwc = []
    for e in forged:
        fwc.append(e)
        fwc += [c for c in cps if c["seq"] == e["seq"]]
    write_jsonl(forged_path, fwc)
    expect_both(forged_path, pub, 6, "forged export with the genuine checkpoints kept",
                grep=r"differs from its signed checkpoint|FAILED at seq 100")

    # --- checkpoints removed -----------------------------------------------------
    path = os.path.join(v.dir, "no-cp100.jsonl")
    write_jsonl(path, [r_ for r_ in recs if not (r_["type"] == "checkpoint" and r_["seq"] == 100)])
    expect_both(path, pub, 6, "the checkpoint at seq 100 removed",
                grep=r"FAILED at seq 100 .*checkpoint due after event 100 is missing")
    path = os.path.join(v.dir, "tail.jsonl")
    write_jsonl(path, [r_ for r_ in recs if not (r_["type"] == "checkpoint" and r_["seq"] == 200)])
    t.ok(len(events) - 100 >= 100, "without checkpoint 200 the unsigned tail is %d events"
         % (len(events) - 100))
    expect_both(path, pub, 6, "an unsigned tail of 100 or more events",
                grep=r"FAILED at seq 200 ")
    path = os.path.join(v.dir, "no-cps.jsonl")
    write_jsonl(path, events)
    expect_both(path, pub, 6, "every checkpoint line removed", grep=r"FAILED at seq 100 ")
    path = os.path.join(v.dir, "cut-at-200.jsonl")
    write_jsonl(path, [r_ for r_ in recs if r_["seq"] <= 200 and
                       not (r_["type"] == "checkpoint" and r_["seq"] == 200)])
    expect_both(path, pub, 6, "cut between event 200 and its checkpoint",
                grep=r"ends without the checkpoint due after event 200")
    # a cut just short of a due checkpoint is the documented unsigned tail
    path = os.path.join(v.dir, "cut-at-199.jsonl")
    write_jsonl(path, [r_ for r_ in recs if r_["seq"] <= 199])
    expect_both(path, pub, 0, "cut at 199: 99 events unsigned, still OK",
                grep=r"; 99 events after it are not yet signed")
    expect_both(path, pub, 6, "... but not against the pin 200",
                "--pin", "200:" + cps[-1]["hash"])

    # --- terminal hygiene: nothing from the export reaches the terminal -----
    path = os.path.join(v.dir, "escape.jsonl")
    with open(path, "wb") as f:
        f.write(b'{"type":"event","seq":1,\x1b]0;pwned\x07"x":1}\n')
    runs = expect_both(path, pub, 6, "raw escape bytes in a line")
    evil = dict(events[0], actor="\u001b]0;pwned\u0007\u009b31m")
    write_jsonl(os.path.join(v.dir, "escape2.jsonl"), [evil])
    runs += expect_both(os.path.join(v.dir, "escape2.jsonl"), pub, 6,
                        "escapes in a field (edited event)")
    clean = all(re.search(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]", p_.stdout + p_.stderr)
                is None for _, p_ in runs)
    t.ok(clean, "no control characters in what the verifiers print")

    # --- files and usage -----------------------------------------------------------
    expect_both(os.path.join(v.dir, "no-such-file.jsonl"), pub, 1, "a file that does not exist")
    expect_both(v.dir, pub, 1, "a directory (unreadable as a file)")
    expect_both(honest, None, 1, "no --pubkey (usage)")
    expect_both(honest, os.path.join(v.dir, "no-such.pub"), 1, "a missing public key")
    expect_both(honest, pub, 1, "a malformed --pin", "--pin", "200:XYZ")
    expect_both(None, pub, 1, "no FILE (usage)")
    empty = os.path.join(v.dir, "empty.jsonl")
    open(empty, "w").close()
    expect_both(empty, pub, 6, "an empty export (no events)")
    # standard input
    for name, argv in (("rsvault audit verify", [binpath("rsvault"), "audit", "verify", "-"]),
                       ("rsvault-keys verify-audit",
                        [binpath("rsvault-keys"), "verify-audit", "-"])):
        with open(honest, "rb") as f:
            p_ = subprocess.run(argv + ["--pubkey", pub], stdin=f, capture_output=True,
                                timeout=120)
        t.eq(p_.returncode, 0, "%s - reads standard input" % name)

# ============================================================================
# 2. an honest export of fewer than 100 events: nothing is signed (exit 5)
with Vault(env=NO_TIMER) as v:
    pub = os.path.join(v.keys, "audit.pub")
    aud = Core(v).auditor()
    make_traffic(v, aud.token, 20)
    small = os.path.join(v.dir, "small.jsonl")
    p = client(v, aud.token, "audit", "export", "-o", small)
    t.eq(p.returncode, 0, "small export exits 0")
    recs = read_jsonl(small)
    t.ok(0 < len(recs) < 100 and all(r_["type"] == "event" for r_ in recs),
         "%d events and no checkpoint" % len(recs))
    runs = expect_both(small, pub, 5, "honest export of fewer than 100 events, no checkpoint",
                       grep=r"^UNSIGNED: %d events" % len(recs))
    for name, p_ in runs:
        t.ok(PIN_RE.search(p_.stdout.decode()) is None, "%s prints no pin: none verified" % name)
    p = client(v, "", "--json", "audit", "verify", small, "--pubkey", pub)
    j = json.loads(p.stdout or b"{}")
    t.ok(p.returncode == 5 and j.get("result") == "unsigned" and j.get("pin") is None,
         "--json: result unsigned, pin null")
    # the same events forged (one deleted, rehashed): still only "nothing signed"
    path = os.path.join(v.dir, "small-forged.jsonl")
    write_jsonl(path, rechain(recs[:5] + recs[6:]))
    expect_both(path, pub, 5, "a forged short export is never better than 'nothing signed'")

# ============================================================================
# 3. a mixed log: rows written in form 1 (as before form 2), then form 2
with Vault(env=NO_TIMER) as v:
    pub = os.path.join(v.keys, "audit.pub")
    core = Core(v)
    cust, aud = core.customer("pro"), core.auditor()
    w = core.ticket(cust)
    for _ in range(5):
        v.get(w.path, cust.token)
    v.stop()
    rows = mdb_dump(v.data, "audit")
    t.ok(0 < len(rows) < 100 and not mdb_dump(v.data, "checkpoints"),
         "%d events stored, no checkpoint yet" % len(rows))
    # rewrite every row as the previous version stored it: form 1, no form,
    # target, token or cert keys; the chain rehashed in Python
    prev, new_rows = bytes(32), []
    for k, val in rows:
        ev = json.loads(val[40:])
        for key in ("form", "target", "token", "cert"):
            ev.pop(key, None)
        ev["prev"] = prev.hex()
        ev["hash"] = event_hash(ev, prev)
        prev = bytes.fromhex(ev["hash"])
        new_rows.append((k, prev + val[32:40] + json.dumps(ev, separators=(",", ":")).encode()))
    mdb_put(v.data, "audit", new_rows)
    n_old = len(new_rows)
    v.start()
    make_traffic(v, aud.token, 130)
    r = v.get("/v1/audit?limit=3", aud.token)
    old = r.json["events"] if r.status == 200 else []
    t.ok(len(old) == 3 and all(e.get("form") == 1 and "target" in e and e["target"] is None
                               and e.get("token", 0) is None and e.get("cert", 0) is None
                               for e in old),
         "GET /v1/audit shows old rows as form 1 with null target, token, cert")
    t.ok(len(old) == 3 and list(old[0].keys())[:2] == ["seq", "form"],
         "... in the same key order as new events")
    r = v.get(w.path + "/audit", cust.token)
    t.ok(r.status == 200 and r.json["events"] and r.json["events"][0].get("form") == 1,
         "the ticket's audit shows its old rows as form 1")
    mixed = os.path.join(v.dir, "mixed.jsonl")
    p = client(v, aud.token, "audit", "export", "-o", mixed)
    t.eq(p.returncode, 0, "export of the mixed log")
    recs = read_jsonl(mixed)
    forms = [r_.get("form") for r_ in recs if r_["type"] == "event"]
    t.ok(forms[:n_old] == [1] * n_old and set(forms[n_old:]) == {2},
         "events 1..%d are form 1, the rest form 2" % n_old)
    t.ok(any(r_["type"] == "checkpoint" and r_["seq"] == 100 for r_ in recs),
         "the server signed checkpoint 100 over the mixed chain")
    runs = expect_both(mixed, pub, 0, "the mixed form-1/form-2 log verifies")
    # a form-2 event turned back into form 1 (and everything rehashed) fails
    evs = [r_ for r_ in recs if r_["type"] == "event"]
    down = list(evs)
    down[n_old + 1] = {k: val for k, val in down[n_old + 1].items()
                       if k not in ("form", "target", "token", "cert")}
    path = os.path.join(v.dir, "form-down.jsonl")
    write_jsonl(path, rechain(down[:90]))
    expect_both(path, pub, 6, "a form-1 event after form 2 (rehashed)",
                grep=r"form 1 after an event of form 2")

# ============================================================================
# 4. the example export of docs/audit.md section 5 verifies as the page says
doc = open(os.path.join(HERE, "..", "..", "docs", "audit.md"), encoding="utf-8").read()
m = re.search(r"A complete, valid export of the two events.*?```json\n(.*?)```", doc, re.S)
t.ok(m is not None, "docs/audit.md has the example export")
if m:
    d = tmpdir("rsvdoc")
    ex, expub = os.path.join(d, "example.jsonl"), os.path.join(d, "unit.pub")
    with open(ex, "w") as f:
        f.write(m.group(1))
    with open(expub, "w") as f:
        f.write("29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7\n")
    runs = expect_both(ex, expub, 0, "the docs' example export", grep=r"^OK: 2 events, 1 "
                       r"checkpoints verified; last checkpoint seq 2; 0 events")
    DOC2_HASH = "748ab036889a621b986e616ce59b1c2acb931d365eb389f5680ec94479524467"
    t.ok(all(printed_pin(p_) == (2, DOC2_HASH) for _, p_ in runs),
         "... and prints pin: 2:748ab036…")
    with open(ex, "w") as f:
        f.write("".join(m.group(1).splitlines(True)[:2]))
    expect_both(ex, expub, 5, "the docs' example without its checkpoint",
                grep=r"^UNSIGNED: 2 events")
    shutil.rmtree(d, ignore_errors=True)

# ============================================================================
# 5. the unit tests' fixed vectors equal the independent Python computation
vec = os.path.join(HERE, "..", "unit", "vectors_auditlog.py")
unit = os.path.join(HERE, "..", "unit", "test_auditlog.c")
p = subprocess.run([sys.executable, vec, "--check", unit], capture_output=True, timeout=300)
t.ok(p.returncode == 0 and b"MISMATCH" not in p.stdout,
     "vectors_auditlog.py --check: the C constants of both forms match")
if p.returncode != 0:
    t.diag(p.stdout.decode()[-800:])

t.done()

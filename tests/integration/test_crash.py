#!/usr/bin/env python3
"""Crash drill, short form (the long one is `make stress`): rounds of
concurrent uploads, secret reads and session changes, each ended by SIGKILL
at a random moment, then a restart. After every restart each acknowledged
write is present, every stored credential decrypts to exactly what was sent
(nothing half-visible), acknowledged session ends stuck; at the end every
acknowledged upload has its audit event and the exported chain verifies.
RSVAULT_CRASH_ROUNDS (default 20) and RSVAULT_CRASH_SEED set the drill.
TAP on stdout."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from crashdrill import Drill  # noqa: E402

t = TAP()
rounds = int(os.environ.get("RSVAULT_CRASH_ROUNDS", "20"))
seed = int(os.environ.get("RSVAULT_CRASH_SEED", str(int(time.time()))))
t.diag("crash drill: %d rounds, seed %d (RSVAULT_CRASH_SEED to repeat)" % (rounds, seed))

with Vault() as v:
    d = Drill(t, v, seed)
    acked = reads = ended = 0
    t0 = time.time()
    for n in range(rounds):
        rd = d.round(n)
        acked += len(rd.acked)
        reads += rd.reads
        ended += len(rd.sess_ended)
        if (n + 1) % 20 == 0 or n + 1 == rounds:
            t.diag("after %d rounds: %d acknowledged uploads, %d secret reads, %d session "
                   "ends, %.0f s" % (n + 1, acked, reads, ended, time.time() - t0))
    t.ok(d.failures == 0, "%d SIGKILL rounds: every acknowledged write survived, nothing "
         "half-visible" % rounds)
    t.ok(acked >= rounds, "the drill did real work: %d acknowledged uploads in %d rounds"
         % (acked, rounds))
    before = d.failures
    d.verify_audit(v.dir)
    t.ok(d.failures == before, "audit trail complete and verifying after %d crashes" % rounds)
t.done()

#!/usr/bin/env python3
"""The receipt's lists past their cap (SPEC 8.6, "no list truncates
silently"; docs/decisions.md): a credential read more than 1,000 times has
a receipt whose `reads` holds the newest 1,000, says `reads_truncated`,
and still counts every read; at exactly 1,000 no flag is set. TAP on
stdout."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core, expect  # noqa: E402

t = TAP()
CAP = 1000


def main():
    with Vault(keepalive=True) as v:
        c = Core(v)
        owner = c.customer()
        agent = c.agent()
        w = c.world(owner, agent=agent, cred=False, session=True)
        r = v.post("/v1/tickets/%s/links" % w.tid, agent.token, {"uses": 1})
        expect(t, r, 201, name="a link for the customer")
        frag = r.json["url"].split("#", 1)[1]
        r = v.post("/v1/link/credentials", body={"label": "server", "kind": "rdp",
                                                 "secret": "s3cret-cap"},
                   headers={"Authorization": "Link " + frag})
        expect(t, r, 201, name="uploaded through the link")
        w.cid = r.json["id"]
        rh = {"Authorization": "Receipt " + r.json["receipt"].split("#", 1)[1]}
        start = time.monotonic()
        bad = 0
        for _ in range(CAP):
            if c.read_secret(w).status != 200:
                bad += 1
        t.eq(bad, 0, "%d reads in %.1f s" % (CAP, time.monotonic() - start))
        r = v.get("/v1/receipt", headers=rh)
        expect(t, r, 200, name="the receipt at 1,000 reads")
        j = r.json or {}
        t.ok(len(j.get("reads", [])) == CAP and "reads_truncated" not in j and
             j["credential"]["read_count"] == CAP, "exactly 1,000 reads: all of them, no flag")
        before = [x["time"] for x in j.get("reads", [])]
        for _ in range(3):
            expect(t, c.read_secret(w), 200, name="one more read")
        r = v.get("/v1/receipt", headers=rh)
        j = r.json or {}
        reads = j.get("reads", [])
        t.eq(j.get("reads_truncated"), True, "1,003 reads: reads_truncated true")
        t.eq(len(reads), CAP, "the list stays at 1,000")
        t.eq(j["credential"]["read_count"], CAP + 3, "read_count counts every read")
        times = [x["time"] for x in reads]
        t.ok(times == sorted(times) and times[:CAP - 3] == before[3:] and
             times[-3] >= before[-1], "oldest first: the oldest three left out, the "
             "three new ones at the end")
        t.ok("sessions_truncated" not in j, "one session: sessions not truncated")
    t.done()


if __name__ == "__main__":
    main()

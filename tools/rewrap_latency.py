#!/usr/bin/env python3
"""Secret-read latency with and without a rewrap of 100,000 ticket keys.

Needs a TESTING=1 build (the seeding route POST /v1/test/ticket-keys):
  RSVAULT_BIN=$PWD/build/test/bin python3 tools/rewrap_latency.py [KEYS]

It seeds KEYS (default 100,000) wrapped ticket keys under version 1, rotates
to version 2, restarts, then reads one secret in a loop from two clients:
for 10 s before the rewrap, during the whole rewrap, and 10 s after, so the
three phases share the same minute of machine load. Prints the median,
95th and 99th percentiles and the maximum of each phase, and how long the
rewrap took. The figures are in docs/keys.md."""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from rsvtest import Vault, binpath  # noqa: E402
from rsvcore import Core  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def phase(c, w, until, clients=2):
    lat, bad = [], [0]
    lock = threading.Lock()

    def run():
        while not until():
            t0 = time.perf_counter()
            r = c.read_secret(w)
            dt = (time.perf_counter() - t0) * 1000
            with lock:
                lat.append(dt)
                if r.status != 200:
                    bad[0] += 1
    ths = [threading.Thread(target=run) for _ in range(clients)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return lat, bad[0]


def show(name, lat, bad):
    print("%-16s n=%6d  p50 %7.1f ms  p95 %7.1f ms  p99 %7.1f ms  max %7.1f ms  failed %d" %
          (name, len(lat), pct(lat, .5), pct(lat, .95), pct(lat, .99), max(lat or [0]), bad))


def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    with Vault() as v:
        c = Core(v)
        owner, agent = c.customer(), c.agent()
        w = c.world(owner, agent=agent, session=True)
        left = total - 1
        while left > 0:
            n = min(left, 20000)
            r = v.post("/v1/test/ticket-keys", v.admin, {"count": n})
            assert r.status == 201, r
            left -= n
        v.stop()
        subprocess.run([binpath("rsvault-keys"), "rotate-master", "--dir", v.keys], check=True,
                       capture_output=True)
        v.start()
        before = phase(c, w, lambda t0=time.time(): time.time() - t0 > 10)
        r = v.post("/v1/admin/rewrap", v.admin)
        assert r.status == 202, r
        t_start = time.time()
        done = {"t": None}

        def finished():
            if done["t"] is None:
                r2 = v.get("/v1/admin/keys", v.admin)
                if r2.status == 200 and not r2.json["rewrap"]["running"]:
                    done["t"] = time.time() - t_start
            return done["t"] is not None
        # poll the state at most every 0.5 s
        last = [0.0]

        def until():
            if time.time() - last[0] < 0.5:
                return False
            last[0] = time.time()
            return finished()
        during = phase(c, w, until)
        after = phase(c, w, lambda t0=time.time(): time.time() - t0 > 10)
        keys = v.get("/v1/admin/keys", v.admin).json
        print("ticket keys rewrapped: %d in %.1f s (%s)" %
              (keys["rewrap"]["done"], done["t"], keys["versions"]))
        show("before rewrap", *before)
        show("during rewrap", *during)
        show("after rewrap", *after)


if __name__ == "__main__":
    main()

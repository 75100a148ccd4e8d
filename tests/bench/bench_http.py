#!/usr/bin/env python3
"""End-to-end throughput over TLS: audited requests against a reference.

The reference is GET /v1/health (TLS, routing, JSON, no store); the
measured routes add authentication, the gauntlet, an audit event and a
durable group commit. Same server, same client, same run. The client is
Python, so absolute numbers are bounded by it; the ratio is the point."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import Vault  # noqa: E402

THREADS = int(os.environ.get("BENCH_THREADS", "16"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))


def measure(v, fn):
    stop = time.time() + SECONDS
    counts = [0] * THREADS
    errors = []

    def worker(i):
        c = v.conn()
        n = 0
        while time.time() < stop:
            r = fn(c, i, n)
            if r.status >= 300:
                errors.append(r)
                break
            n += 1
        counts[i] = n
        c.close()

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    t0 = time.time()
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    dt = time.time() - t0
    if errors:
        raise SystemExit("bench: request failed: %r" % errors[0])
    return sum(counts) / dt


with Vault(extra_args=["--threads", str(THREADS)]) as v:
    A = v.admin
    health = measure(v, lambda c, i, n: v.get("/v1/health", conn=c))
    me = measure(v, lambda c, i, n: v.get("/v1/me", A, conn=c))
    create = measure(v, lambda c, i, n: v.post(
        "/v1/accounts", A, {"id": "b%d-%d" % (i, n), "role": "customer",
                            "email": "b%d-%d@example.com" % (i, n)}, conn=c))
    rss = 0
    with open("/proc/%d/status" % v.proc.pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1])
    print("reference  GET /v1/health (no store):        %7.0f req/s" % health)
    print("audited    GET /v1/me (auth + audit event):  %7.0f req/s  (%.0f%% of reference)"
          % (me, 100 * me / health))
    print("audited    POST /v1/accounts (write+event):  %7.0f req/s  (%.0f%% of reference)"
          % (create, 100 * create / health))
    print("server peak resident memory: %d KiB (%d client threads, %d server threads)"
          % (rss, THREADS, THREADS))

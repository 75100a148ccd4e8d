#!/usr/bin/env python3
"""Alternate two or more builds of rsvaultd under one load and count what
each request costs: the A/B tool for request-path changes.

    python3 tests/bench/ab.py BINDIR_A BINDIR_B [...]

Each BINDIR holds rsvaultd (and rsvault-keys). For every round and every
build in turn: a fresh store seeded as `make bench` seeds it, the server
pinned to CPU 0, wrk on CPU 1 (one warm-up of 2 s, then the measured
run), and one line of JSON: req/s, p50/p99 (µs), the server's CPU per
request (µs, from /proc), requests per commit and syncer fdatasyncs per
request (from GET /v1/metrics). On a noisy machine the rates swing more
than most changes move them; the counts per request do not.

Environment: AB_ROUNDS (3), AB_SECONDS (5), AB_CONNS (32), AB_LOAD
(secret; or upload, tickets, health), AB_THREADS (4).
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402
import rsvtest  # noqa: E402

HIST = ("rsvault_store_commit_batch_size_count", "rsvault_store_sync_duration_seconds_count")


def env_int(name, dflt):
    v = os.environ.get(name, "")
    return int(v) if v.isdigit() else dflt


def metrics(v):
    r = v.get("/v1/metrics", v.admin)
    text = r.body.decode() if isinstance(r.body, bytes) else str(r.body)
    out = {}
    for name in HIST:
        m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
        out[name] = float(m.group(1)) if m else float("nan")
    return out


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url, conns, secs, env):
    r = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c%d" % conns, "-d%ds" % secs,
                        "--timeout", "10s", "-s", bench.LUA, url],
                       env=env, capture_output=True, text=True, timeout=secs + 60)
    m = re.search(r"BENCH_RESULT (\{.*\})", r.stdout)
    if m is None:
        raise RuntimeError("wrk printed no result: %s" % (r.stderr or r.stdout)[-400:])
    return json.loads(m.group(1))


def one(bindir, load, conns, secs, threads, workdir):
    rsvtest.BIN = bindir
    v = rsvtest.Vault(extra_args=["--threads", str(threads), "--max-per-address",
                                  str(max(256, 2 * conns)), "--session-max-ttl", "86400"],
                      workdir=workdir)
    bench.start_vault(v, {0})
    try:
        body = os.path.join(workdir, "upload.json")
        with open(body, "w") as f:
            json.dump(bench.UPLOAD_BODY, f)
        sd = bench.seed(v, body)
        path, extra = sd.loads[load]
        env = dict(os.environ, **extra)
        url = "https://127.0.0.1:%d%s" % (v.port, path)
        wrk(url, conns, 2, env)
        m0, c0 = metrics(v), cpu_seconds(v.proc.pid)
        res = wrk(url, conns, secs, env)
        c1, m1 = cpu_seconds(v.proc.pid), metrics(v)
    finally:
        v.stop()
    n = res["requests"]
    errors = sum(res[k] for k in res if k.startswith("err_"))
    commits = m1[HIST[0]] - m0[HIST[0]]
    syncs = m1[HIST[1]] - m0[HIST[1]]
    return {"rps": round(n * 1e6 / res["duration_us"], 1),
            "p50_us": res["p50_us"], "p99_us": res["p99_us"],
            "cpu_us_per_req": round((c1 - c0) * 1e6 / n, 1) if n else None,
            "req_per_commit": round(n / commits, 2) if commits > 0 else None,
            "syncer_syncs_per_req": round(syncs / n, 4) if n else None,
            "errors": errors}


def main():
    dirs = [os.path.abspath(d) for d in sys.argv[1:]]
    if not dirs or any(not os.access(os.path.join(d, "rsvaultd"), os.X_OK) for d in dirs):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    load = os.environ.get("AB_LOAD", "secret")
    if load not in ("secret", "upload", "tickets", "health"):
        print("ab: AB_LOAD must be secret, upload, tickets or health", file=sys.stderr)
        return 2
    rounds, secs = env_int("AB_ROUNDS", 3), env_int("AB_SECONDS", 5)
    conns, threads = env_int("AB_CONNS", 32), env_int("AB_THREADS", 4)
    top = os.path.join(bench.OUTDIR, "ab")
    os.makedirs(top, exist_ok=True)
    keys = os.path.join(top, "keys")
    if not os.path.isdir(keys):
        r = rsvtest.make_keys(keys)
        if r.returncode != 0:
            print("ab: rsvault-keys init failed: %s" % r.stderr, file=sys.stderr)
            return 1
    for rnd in range(rounds):
        for d in dirs:
            work = os.path.join(top, "run")
            subprocess.run(["rm", "-rf", work], check=True)
            os.makedirs(work)
            subprocess.run(["cp", "-a", keys, os.path.join(work, "keys")], check=True)
            row = one(d, load, conns, secs, threads, work)
            row.update(round=rnd + 1, build=d, load=load, conns=conns)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

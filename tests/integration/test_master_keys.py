#!/usr/bin/env python3
"""Master-key versions (SPEC 8.4): rotate-master, GET /v1/admin/keys,
POST /v1/admin/rewrap (a background job, bounded batches, a key.rewrap
event per batch) with live traffic, retire-master refused then allowed,
tokens and links made before a rotation still authenticate after version 1
is retired, and a SIGKILL in the middle of a rewrap loses nothing (the
restarted server resumes it)."""
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import RUN_AS, TAP, Vault, binpath  # noqa: E402
from rsvcore import Core, all_events, expect  # noqa: E402


def keys_tool(*args, stdin=None):
    return subprocess.run([binpath("rsvault-keys")] + list(args), input=stdin,
                          capture_output=True, text=True, timeout=300)


def keys_view(t, v, name):
    r = v.get("/v1/admin/keys", v.admin)
    if not t.ok(r.status == 200 and isinstance(r.json, dict), name + ": GET /v1/admin/keys 200"):
        t.diag("got %r" % r)
        return {}, {}
    return {e["version"]: e for e in r.json["versions"]}, r.json["rewrap"]


def wait_rewrap(v, limit=240):
    deadline = time.time() + limit
    while time.time() < deadline:
        r = v.get("/v1/admin/keys", v.admin)
        if r.status == 200 and not r.json["rewrap"]["running"]:
            return r.json
        time.sleep(0.3)
    return None


def kill9(v):
    """SIGKILL the server (not a bad exit of the test: it is the point)."""
    v.proc.kill()
    v.proc.wait()
    v.proc = None
    v.log.close()


def link_get(v, cap):
    return v.get("/v1/link", headers={"Authorization": "Link " + cap})


def main():
    t = TAP()
    with Vault() as v:
        c = Core(v)
        owner = c.customer()
        agent = c.agent()
        worlds = [c.world(owner, agent=agent, session=True) for _ in range(4)]
        for w in worlds:
            expect(t, c.read_secret(w), 200, name="secret readable before rotation")
        r = v.post(worlds[0].path + "/links", owner.token, {})
        link_ok = t.ok(r.status == 201 and "#" in r.json.get("url", ""), "a link made before")
        cap = r.json["url"].split("#", 1)[1] if link_ok else ""
        expect(t, link_get(v, cap), 200, name="the link opens before rotation")

        # --- GET /v1/admin/keys before any rotation
        vers, rw = keys_view(t, v, "before rotation")
        t.ok(list(vers) == [1] and vers[1]["current"] and vers[1]["ticket_keys"] == 4,
             "one version, current, holding the 4 ticket keys")
        t.ok(rw.get("running") is False and rw.get("left") == 0, "no rewrap, nothing left")
        expect(t, v.get("/v1/admin/keys", agent.token), 403, "forbidden", "keys as an agent")
        expect(t, v.post("/v1/admin/rewrap", owner.token), 403, "forbidden",
               "rewrap as a customer")
        expect(t, v.get("/v1/admin/keys"), 401, "unauthenticated", "keys without a token")

        # --- rotate: version 2, loaded at the next start
        v.stop()
        master1 = open(os.path.join(v.keys, "master.key"), "rb").read()
        r = keys_tool("rotate-master", "--dir", v.keys)
        t.eq(r.returncode, 0, "rotate-master exits 0")
        p2 = os.path.join(v.keys, "master-2.key")
        t.ok(os.path.exists(p2) and (os.stat(p2).st_mode & 0o777) == 0o600,
             "master-2.key written, mode 0600")
        t.ok(master1[10:42] not in open(p2, "rb").read(),
             "the new file does not hold version 1's key bytes")
        v.start()
        vers, rw = keys_view(t, v, "after rotation")
        t.ok(sorted(vers) == [1, 2] and vers[2]["current"] and not vers[1]["current"],
             "versions 1 and 2 loaded, 2 current")
        t.ok(vers[1]["ticket_keys"] == 4 and vers[2]["ticket_keys"] == 0 and rw["left"] == 4,
             "the old keys stay under 1 until rewrapped (left 4)")
        for w in worlds:
            expect(t, c.read_secret(w), 200, name="an old secret reads after rotation")
        expect(t, v.get("/v1/me", owner.token), 200, name="a token made before rotation works")
        expect(t, link_get(v, cap), 200, name="a link made before rotation opens")
        w5 = c.world(owner, agent=agent, session=True)
        expect(t, c.read_secret(w5), 200, name="a new secret reads")
        vers, _ = keys_view(t, v, "after a new ticket key")
        t.eq(vers[2]["ticket_keys"], 1, "a new ticket key is wrapped under version 2")

        # --- retire refused: server running, then keys still wrapped under 1
        r = keys_tool("retire-master", "--dir", v.keys, "--version", "1", "--data", v.data)
        t.ok(r.returncode != 0 and "stop the server" in r.stderr,
             "retire-master refused while the server has the store open")
        v.stop()
        r = keys_tool("retire-master", "--dir", v.keys, "--version", "1", "--data", v.data)
        t.ok(r.returncode != 0 and "still wrapped" in r.stderr and
             os.path.exists(os.path.join(v.keys, "master.key")),
             "retire-master refused while 4 keys are wrapped under version 1")
        r = keys_tool("retire-master", "--dir", v.keys, "--version", "2", "--data", v.data)
        t.ok(r.returncode != 0 and "newest" in r.stderr, "the current version is not retired")
        v.start()

        # --- rewrap with live traffic (20,000 extra keys make it last)
        for _ in range(2):
            expect(t, v.post("/v1/test/ticket-keys", v.admin, {"count": 10000}), 201,
                   name="seed 10,000 ticket keys (test build route)")
        v.stop()
        keys_tool("rotate-master", "--dir", v.keys)  # version 3: everything is old now
        v.start()
        vers, rw = keys_view(t, v, "before the rewrap")
        t.ok(rw["left"] == 20005, "20,005 values left to rewrap (got %r)" % rw.get("left"))
        reads = {"ok": 0, "bad": []}
        stop = threading.Event()

        def reader():
            while not stop.is_set():
                for w in worlds + [w5]:
                    r2 = c.read_secret(w)
                    if r2.status == 200 and r2.json.get("secret") == w.secret:
                        reads["ok"] += 1
                    else:
                        reads["bad"].append(r2.status)
        th = threading.Thread(target=reader)
        th.start()
        r = v.post("/v1/admin/rewrap", v.admin)
        expect(t, r, 202, name="POST /v1/admin/rewrap")
        t.ok(r.json == {"started": True}, "answer {\"started\": true}")
        r = v.post("/v1/admin/rewrap", v.admin)
        t.ok(r.status in (202, 409), "a second rewrap while one runs: 409 (or 202 if done)")
        res = wait_rewrap(v)
        stop.set()
        th.join(60)
        t.ok(res is not None, "the rewrap finishes")
        if res:
            vv = {e["version"]: e for e in res["versions"]}
            t.ok(vv[3]["ticket_keys"] == 20005 and vv[1]["ticket_keys"] == 0 and
                 vv[2]["ticket_keys"] == 0 and res["rewrap"]["left"] == 0,
                 "every key under version 3 now")
            t.eq(res["rewrap"]["done"], 20005, "done counts every rewrapped key")
        m = v.get("/v1/metrics", v.admin)
        text = m.body.decode() if m.status == 200 else ""
        t.ok(re.search(r"^rsvault_rewrapped_total 20005$", text, re.M) and
             re.search(r"^rsvault_rewrap_running 0$", text, re.M),
             "metrics: rsvault_rewrapped_total 20005, rsvault_rewrap_running 0")
        t.ok(reads["ok"] > 0 and not reads["bad"],
             "reads during the rewrap all succeeded (%d ok, failures %r)"
             % (reads["ok"], reads["bad"][:5]))
        for w in worlds + [w5]:
            r = c.read_secret(w)
            t.ok(r.status == 200 and r.json["secret"] == w.secret,
                 "secret of %s decrypts after the rewrap" % w.tid)

        auditor = c.auditor()
        evs = all_events(v, auditor.token)
        rew = [e for e in evs if e["action"] == "key.rewrap"]
        req_ev = [e for e in rew if e["actor"] == "admin"]
        batch = [e for e in rew if e["actor"] is None]
        t.ok(len(req_ev) >= 1 and req_ev[0]["target"] == "3" and req_ev[0]["outcome"] == "allow",
             "the admin's key.rewrap event targets version 3")
        t.ok(len(batch) >= 20005 // 128 and all(e["target"] == "3" for e in batch),
             "a key.rewrap event per batch (%d), each targeting version 3" % len(batch))
        lst = [e for e in evs if e["action"] == "key.list"]
        t.ok(any(e["outcome"] == "allow" and e["actor"] == "admin" for e in lst) and
             any(e["outcome"] == "deny" and e["actor"] == agent.id for e in lst),
             "key.list events, allowed and denied")

        # --- retire 1 and 2: allowed now; everything still authenticates
        v.stop()
        for n in ("1", "2"):
            r = keys_tool("retire-master", "--dir", v.keys, "--version", n, "--data", v.data)
            t.eq(r.returncode, 0, "retire-master version %s allowed after the rewrap" % n)
        t.ok(not os.path.exists(os.path.join(v.keys, "master.key")) and
             not os.path.exists(p2), "the files of versions 1 and 2 are gone")
        v.start()
        vers, _ = keys_view(t, v, "after retiring")
        t.ok(list(vers) == [3], "only version 3 is left")
        for w in worlds + [w5]:
            r = c.read_secret(w)
            t.ok(r.status == 200 and r.json["secret"] == w.secret,
                 "secret of %s reads with version 1 retired" % w.tid)
        expect(t, v.get("/v1/me", owner.token), 200,
               name="a token made under version 1 works with version 1 retired")
        expect(t, v.get("/v1/me", v.admin), 200, name="the first admin token still works")
        expect(t, link_get(v, cap), 200, name="a link made under version 1 still opens")

        # --- SIGKILL in the middle of a rewrap loses nothing
        for _ in range(4):
            v.post("/v1/test/ticket-keys", v.admin, {"count": 10000})
        before = keys_view(t, v, "before the crash")[0][3]["ticket_keys"]
        v.stop()
        backup = v.data + ".backup"
        shutil.copytree(v.data, backup)  # a backup of the store under version 3
        keys_tool("rotate-master", "--dir", v.keys)  # version 4
        v.start()
        expect(t, v.post("/v1/admin/rewrap", v.admin), 202, name="rewrap started")
        deadline = time.time() + 60
        mid = None
        while time.time() < deadline:
            r = v.get("/v1/admin/keys", v.admin)
            if r.status == 200 and r.json["rewrap"]["done"] > 0:
                mid = r.json
                break
            time.sleep(0.05)
        t.ok(mid is not None and mid["rewrap"]["running"] and mid["rewrap"]["left"] > 0,
             "caught the rewrap in the middle (done %s, left %s)"
             % (mid and mid["rewrap"]["done"], mid and mid["rewrap"]["left"]))
        kill9(v)
        v.start()
        t.ok("resuming" in v.logtext(), "the restarted server resumes the rewrap")
        res = wait_rewrap(v)
        t.ok(res is not None, "the resumed rewrap finishes")
        if res:
            vv = {e["version"]: e for e in res["versions"]}
            t.ok(vv[4]["ticket_keys"] == before and res["rewrap"]["left"] == 0 and
                 res["malformed"] == 0,
                 "all %d ticket keys are under version 4, none lost or damaged" % before)
        for w in worlds + [w5]:
            r = c.read_secret(w)
            t.ok(r.status == 200 and r.json["secret"] == w.secret,
                 "secret of %s reads after the crash and resume" % w.tid)
        t.ok("could not be opened" in v.logtext() and " 0 could not be opened" in v.logtext(),
             "no wrapped value failed to open during the rewraps")

        # --- a backup that needs a retired version says so
        v.stop()
        r = keys_tool("retire-master", "--dir", v.keys, "--version", "3", "--data", v.data)
        t.eq(r.returncode, 0, "version 3 retired after the rewrap to 4")
        shutil.rmtree(v.data)
        shutil.move(backup, v.data)
        for root, dirs, files in os.walk(v.data):
            for n in [root] + [os.path.join(root, f) for f in files]:
                if RUN_AS:
                    os.chown(n, RUN_AS[1], RUN_AS[2])
        v.start()
        t.ok(re.search(r"WARNING: \d+ wrapped value\(s\) in the store .* need master-key "
                       r"version 3, which is not in the key directory", v.logtext()),
             "restoring a backup that needs retired version 3: the start-up log says so")
        vers, _ = keys_view(t, v, "restored backup")
        t.ok(3 in vers and vers[3]["loaded"] is False and vers[3]["ticket_keys"] > 0,
             "GET /v1/admin/keys lists version 3 as needed but not loaded")
        expect(t, c.read_secret(worlds[0]), 500, "internal",
               "a secret under the retired version cannot be read (nothing leaks)")
    t.done()


if __name__ == "__main__":
    main()

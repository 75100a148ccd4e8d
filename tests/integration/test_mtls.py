#!/usr/bin/env python3
"""Client certificates for staff (issue 13 item 4, SPEC 8.4).

A real rsvaultd with --client-ca, --client-crl and --mtls-roles
admin,agent,auditor; certificates from `rsvault-keys client-ca/client-cert/
client-revoke` and, for the hostile cases, from the openssl command line:
- the right certificate: 200, and every event of such a request carries
  cert = lowercase hex SHA-256 of the certificate's DER;
- no certificate, another account's certificate, a revoked one (after the
  CRL is re-read), one from another CA, a self-signed one, an expired one
  from the right CA, one without EKU clientAuth: 401 certificate_required,
  audited as a denial with actor, role, token and the cert presented;
- a certificate issued from a CSR made elsewhere: its subject and
  extensions are the tool's (CN=account, not CA), not the request's;
- roles not in --mtls-roles (customer) are unaffected, with or without a
  certificate; the customer path (ticket, credential) works;
- revocation takes effect on SIGHUP (mtls_reload), without a restart; a
  CRL that does not load on SIGHUP leaves the one in force;
- a request from a trusted proxy's address never satisfies mTLS;
- an out-of-date CRL refuses every mTLS role;
- the client's --cert/--key and RSVAULT_CERT/RSVAULT_KEY;
- --mtls-roles without --client-ca is refused at start."""
import hashlib
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from rsvtest import TAP, Vault, binpath, server_user_args  # noqa: E402
from rsvcore import uid  # noqa: E402

t = TAP()


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


def keys(*args):
    return run([binpath("rsvault-keys")] + list(args))


def openssl(*args, cwd=None):
    p = run(["openssl"] + list(args), cwd=cwd)
    if p.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args[:3]), p.stderr))
    return p


def fp(pem_path):
    with open(pem_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def issue(v, account):
    r = keys("client-cert", "--dir", v.keys, "--account", account, "--out", CERTS)
    if r.returncode != 0:
        raise RuntimeError("client-cert %s: %s" % (account, r.stderr))
    serial = [x for x in r.stdout.splitlines() if x.startswith("serial: ")][0][8:]
    return (os.path.join(CERTS, account + ".pem"), os.path.join(CERTS, account + ".key"),
            serial)


def ctx_for(v, cert=None):
    c = ssl.create_default_context(cafile=v.ca)
    if cert is not None:
        c.load_cert_chain(cert[0], cert[1])
    return c


def call(v, method, path, token, cert=None, body=None):
    conn = http.client.HTTPSConnection("127.0.0.1", v.port, context=ctx_for(v, cert),
                                       timeout=30)
    try:
        return v.request(method, path, token=token, body=body, conn=conn)
    finally:
        conn.close()


def events_of(v, aud, rid):
    evs, after = [], 0
    while True:
        r = call(v, "GET", "/v1/audit?after_seq=%d&limit=1000" % after, aud.token, aud.cert)
        assert r.status == 200, r
        evs += r.json["events"]
        after = r.json["next_seq"]
        if len(r.json["events"]) < 1000:
            return [e for e in evs if e["request_id"] == rid]


class P:
    def __init__(self, id, role, token, token_id):
        self.id, self.role, self.token, self.token_id = id, role, token, token_id
        self.cert = None


def account(v, admin, role):
    id = uid(role[:4])
    r = call(v, "POST", "/v1/accounts", admin.token, admin.cert,
             {"id": id, "role": role, "email": id + "@example.test"})
    assert r.status == 201, r
    return P(id, role, r.json["token"], r.json["token_id"])


def denied(v, aud, who, cert, name, presented=None):
    r = call(v, "GET", "/v1/me", who.token, cert)
    t.eq((r.status, r.code), (401, "certificate_required"), name + ": 401 certificate_required")
    evs = events_of(v, aud, r.header("X-Request-Id"))
    t.eq(len(evs), 1, name + ": one event")
    if evs:
        e = evs[0]
        tok = who.token_id or e["token"]  # the bootstrap admin's id is not known here
        t.eq((e["actor"], e["role"], e["token"], e["outcome"], e["reason"]),
             (who.id, who.role, tok, "deny", "certificate_required"),
             name + ": audited with actor, role and token")
        t.ok(isinstance(e["token"], str) and len(e["token"]) == 16, name + ": a token id")
        t.eq(e["cert"], presented, name + ": the event's cert is the one presented")
    return r


# Many refusals in a row: failed authentications must not run into the
# rate limit (tested elsewhere), so they are forgotten after 1 ms.
v = Vault(env={"RSVAULT_TEST_FAIL_WINDOW_MS": "1"})
CERTS = os.path.join(v.dir, "certs")
r = keys("client-ca", "--dir", v.keys)
t.eq(r.returncode, 0, "client-ca exits 0 (%s)" % r.stderr.strip())
for f, mode in (("client-ca.pem", 0o644), ("client-ca.key", 0o600), ("client-crl.pem", 0o644)):
    p = os.path.join(v.keys, f)
    t.ok(os.path.exists(p) and os.stat(p).st_mode & 0o777 == mode, "%s is %o" % (f, mode))
r = keys("client-ca", "--dir", v.keys)
t.ok(r.returncode != 0, "a second client-ca refuses to overwrite")

# The server reads the CA and CRL again on SIGHUP, after it has become
# --user: they live where that account can read them (the key directory is
# root's), as docs/keys.md says.
PUB = os.path.join(v.dir, "pub")
os.makedirs(PUB)
os.chmod(PUB, 0o755)


def publish():
    for f in ("client-ca.pem", "client-crl.pem"):
        shutil.copy(os.path.join(v.keys, f), os.path.join(PUB, f + ".tmp"))
        os.chmod(os.path.join(PUB, f + ".tmp"), 0o644)
        os.rename(os.path.join(PUB, f + ".tmp"), os.path.join(PUB, f))


publish()
CA_ARGS = ["--client-ca", os.path.join(PUB, "client-ca.pem"),
           "--client-crl", os.path.join(PUB, "client-crl.pem"),
           "--mtls-roles", "admin,agent,auditor"]
v.extra_args = CA_ARGS
admin_cert = issue(v, "admin")
v.start()
admin = P("admin", "admin", v.admin, None)
admin.cert = admin_cert

# the bootstrap admin needs its certificate too
r = call(v, "GET", "/v1/me", admin.token)
t.eq((r.status, r.code), (401, "certificate_required"), "admin without a certificate: 401")
r = call(v, "GET", "/v1/me", admin.token, admin.cert)
t.eq(r.status, 200, "admin with its certificate: 200")

aud = account(v, admin, "auditor")
aud.cert = issue(v, aud.id)[:2]
agent = account(v, admin, "agent")
agent.cert = issue(v, agent.id)[:2]
other = account(v, admin, "agent")
other.cert = issue(v, other.id)[:2]

# --- the right certificate -------------------------------------------------
r = call(v, "GET", "/v1/me", agent.token, agent.cert)
t.eq(r.status, 200, "agent with its own certificate: 200")
evs = events_of(v, aud, r.header("X-Request-Id"))
t.eq(len(evs), 1, "one event")
if evs:
    t.eq(evs[0]["cert"], fp(agent.cert[0]), "the event carries the certificate's SHA-256")
    t.ok(all(c in "0123456789abcdef" for c in evs[0]["cert"]) and len(evs[0]["cert"]) == 64,
         "cert is 64 lowercase hex characters")

# --- refusals -------------------------------------------------------------------
denied(v, aud, agent, None, "agent without a certificate")
denied(v, aud, agent, other.cert, "agent with another agent's certificate", fp(other.cert[0]))
denied(v, aud, agent, admin.cert, "agent with the admin's certificate", fp(admin.cert[0]))

work = os.path.join(v.dir, "ossl")
os.makedirs(work)
# another CA, with a certificate that names the agent and says clientAuth
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "oca.key", "-out", "oca.pem", "-days", "30", "-subj", "/CN=rsvault client CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
        "keyUsage=critical,keyCertSign,cRLSign", cwd=work)
with open(os.path.join(work, "ext.cnf"), "w") as f:
    f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=clientAuth\n")
openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "x.key", "-out", "x.csr", "-subj", "/CN=" + agent.id, cwd=work)
openssl("x509", "-req", "-in", "x.csr", "-CA", "oca.pem", "-CAkey", "oca.key",
        "-CAcreateserial", "-days", "30", "-extfile", "ext.cnf", "-out", "x.pem", cwd=work)
xc = (os.path.join(work, "x.pem"), os.path.join(work, "x.key"))
denied(v, aud, agent, xc, "a certificate from another CA", fp(xc[0]))

# self-signed, naming the agent
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "s.key", "-out", "s.pem", "-days", "30", "-subj", "/CN=" + agent.id,
        "-addext", "extendedKeyUsage=clientAuth", cwd=work)
sc = (os.path.join(work, "s.pem"), os.path.join(work, "s.key"))
denied(v, aud, agent, sc, "a self-signed certificate", fp(sc[0]))

# from the right CA, but expired (openssl ca with dates in the past)
with open(os.path.join(work, "ca.cnf"), "w") as f:
    f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n"
            "default_md=sha256\npolicy=p\nunique_subject=no\nemail_in_dn=no\n"
            "copy_extensions=none\n[p]\ncommonName=supplied\n"
            "[ext]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=clientAuth\n[noeku]\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n")
open(os.path.join(work, "index.txt"), "w").close()
with open(os.path.join(work, "serial"), "w") as f:
    f.write("1000\n")
CA_PEM = os.path.join(v.keys, "client-ca.pem")
CA_KEY = os.path.join(v.keys, "client-ca.key")
openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "e.key", "-out", "e.csr", "-subj", "/CN=" + agent.id, cwd=work)
openssl("ca", "-batch", "-config", "ca.cnf", "-extensions", "ext", "-cert", CA_PEM,
        "-keyfile", CA_KEY, "-in", "e.csr", "-out", "e.pem", "-notext",
        "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", cwd=work)
ec = (os.path.join(work, "e.pem"), os.path.join(work, "e.key"))
denied(v, aud, agent, ec, "an expired certificate of the client CA", fp(ec[0]))

# from the right CA and in date, but without EKU clientAuth
openssl("ca", "-batch", "-config", "ca.cnf", "-extensions", "noeku", "-cert", CA_PEM,
        "-keyfile", CA_KEY, "-in", "e.csr", "-out", "n.pem", "-notext", "-days", "30", cwd=work)
nc = (os.path.join(work, "n.pem"), os.path.join(work, "e.key"))
denied(v, aud, agent, nc, "a certificate without EKU clientAuth", fp(nc[0]))

# --- roles not in --mtls-roles ------------------------------------------------
cust = account(v, admin, "customer")
r = call(v, "POST", "/v1/licenses", admin.token, admin.cert,
         {"key": uid("LIC-"), "type": "pro", "email": cust.id + "@example.test"})
t.eq(r.status, 201, "license for the customer")
r = call(v, "GET", "/v1/me", cust.token)
t.eq(r.status, 200, "a customer without a certificate: 200")
ev = events_of(v, aud, r.header("X-Request-Id"))
t.ok(len(ev) == 1 and ev[0]["cert"] is None, "its event has cert null")
r = call(v, "GET", "/v1/me", cust.token, sc)
t.eq(r.status, 200, "a customer presenting a self-signed certificate: still 200")
ev = events_of(v, aud, r.header("X-Request-Id"))
t.ok(len(ev) == 1 and ev[0]["cert"] is None, "an unverified certificate is not recorded")
r = call(v, "POST", "/v1/tickets", cust.token, None, {"subject": "printer"})
t.eq(r.status, 201, "the customer opens a ticket")
tid = r.json["id"] if r.status == 201 else "x"
r = call(v, "POST", "/v1/tickets/%s/credentials" % tid, cust.token, None,
         {"label": "rdp", "kind": "rdp", "secret": "hunter2-mtls"})
t.eq(r.status, 201, "and uploads a credential")
cid = r.json["id"] if r.status == 201 else "x"
r = call(v, "POST", "/v1/tickets/%s/assign" % tid, admin.token, admin.cert, {"agent": agent.id})
t.eq(r.status, 200, "the admin (with its certificate) assigns the agent")
r = call(v, "POST", "/v1/tickets/%s/sessions" % tid, agent.token, agent.cert, {})
t.eq(r.status, 201, "the agent opens a session with its certificate")
sid = r.json["id"] if r.status == 201 else "x"
r = call(v, "GET", "/v1/tickets/%s/credentials/%s/secret" % (tid, cid), agent.token, None)
t.eq(r.code, "certificate_required", "reading the secret without the certificate: refused")
conn = http.client.HTTPSConnection("127.0.0.1", v.port, context=ctx_for(v, agent.cert))
r = v.request("GET", "/v1/tickets/%s/credentials/%s/secret" % (tid, cid), token=agent.token,
              headers={"X-Session-Id": sid}, conn=conn)
conn.close()
t.ok(r.status == 200 and r.json["secret"] == "hunter2-mtls", "with it: the secret")
evs = events_of(v, aud, r.header("X-Request-Id"))
t.ok(len(evs) == 1 and evs[0]["action"] == "credential.read" and
     evs[0]["cert"] == fp(agent.cert[0]), "the credential.read event carries the cert")

# --- the client ----------------------------------------------------------------
env = {k: x for k, x in os.environ.items() if not k.startswith("RSVAULT_")}
env.update(RSVAULT_ADDR=v.addr, RSVAULT_CACERT=v.ca, RSVAULT_TOKEN=agent.token)
p = run([binpath("rsvault"), "me"], env=env)
t.eq(p.returncode, 2, "rsvault me without a certificate: exit 2")
t.ok("certificate_required" in p.stderr or "certificate" in p.stderr,
     "and says a certificate is needed (%s)" % p.stderr.strip()[:120])
p = run([binpath("rsvault"), "--cert", agent.cert[0], "--key", agent.cert[1], "me"], env=env)
t.eq(p.returncode, 0, "rsvault --cert --key me: exit 0 (%s)" % p.stderr.strip()[:200])
t.ok(agent.id in p.stdout, "and shows the agent")
env2 = dict(env, RSVAULT_CERT=agent.cert[0], RSVAULT_KEY=agent.cert[1])
p = run([binpath("rsvault"), "me"], env=env2)
t.eq(p.returncode, 0, "RSVAULT_CERT/RSVAULT_KEY work too")
p = run([binpath("rsvault"), "--cert", agent.cert[0], "me"], env=env)
t.eq(p.returncode, 1, "--cert without --key: exit 1")
p = run([binpath("rsvault"), "--cert", other.cert[0], "--key", other.cert[1], "me"], env=env)
t.eq(p.returncode, 2, "another agent's certificate via the client: exit 2")

# --- a CSR made on the staff machine -------------------------------------------
csr_agent = account(v, admin, "agent")
openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "staff.key", "-out", "staff.csr", "-subj", "/CN=admin/O=Evil",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "extendedKeyUsage=serverAuth",
        cwd=work)
r = keys("client-cert", "--dir", v.keys, "--account", csr_agent.id, "--out", CERTS, "--csr",
         os.path.join(work, "staff.csr"))
t.eq(r.returncode, 0, "client-cert --csr exits 0 (%s)" % r.stderr.strip())
t.ok(not os.path.exists(os.path.join(CERTS, csr_agent.id + ".key")), "no key written for a CSR")
cpem = os.path.join(CERTS, csr_agent.id + ".pem")
txt = openssl("x509", "-in", cpem, "-noout", "-subject", "-ext",
              "basicConstraints,extendedKeyUsage").stdout
t.ok("CN = " + csr_agent.id in txt and "Evil" not in txt, "subject is the tool's CN=account")
t.ok("CA:FALSE" in txt and "Client Authentication" in txt and "Server" not in txt,
     "extensions are the tool's, not the request's")
csr_cert = (cpem, os.path.join(work, "staff.key"))
r = call(v, "GET", "/v1/me", csr_agent.token, csr_cert)
t.eq(r.status, 200, "the CSR's certificate works for its account")
denied(v, aud, admin, csr_cert, "and not for the account the request named", fp(cpem))
bad = os.path.join(work, "bad.csr")
with open(os.path.join(work, "staff.csr")) as f, open(bad, "w") as g:
    s = f.read()
    i = s.index("\n") + 20
    g.write(s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:])
r = keys("client-cert", "--dir", v.keys, "--account", uid("agen"), "--out", CERTS, "--csr", bad)
t.ok(r.returncode != 0, "a CSR whose signature does not verify is refused")

# --- revocation -------------------------------------------------------------------
victim = account(v, admin, "agent")
vc = issue(v, victim.id)
victim.cert = vc[:2]
r = call(v, "GET", "/v1/me", victim.token, victim.cert)
t.eq(r.status, 200, "before revocation: 200")
r = keys("client-revoke", "--dir", v.keys, "--serial", vc[2])
t.eq(r.returncode, 0, "client-revoke exits 0 (%s)" % r.stderr.strip())
r = keys("client-revoke", "--dir", v.keys, "--serial", "zz")
t.ok(r.returncode != 0, "a serial that is not hex is refused")
publish()
r = call(v, "GET", "/v1/me", victim.token, victim.cert)
t.eq(r.status, 200, "the server goes on with the CRL it has until it reloads")
# SIGHUP re-reads the client CA and CRL (mtls_reload), without a restart
mark = len(v.logtext())
v.proc.send_signal(signal.SIGHUP)
deadline = time.time() + 30
while time.time() < deadline and "still running" not in v.logtext()[mark:]:
    time.sleep(0.05)
# (the server's own TLS files in the root-only key directory are not
# readable after --user, so the reload as a whole may say "incomplete")
seg = v.logtext()[mark:]
t.ok("mtls: client CA" in seg and "mtls: reload failed" not in seg,
     "SIGHUP re-read the client CA and CRL")
denied(v, aud, victim, victim.cert, "a revoked certificate", fp(victim.cert[0]))
r = call(v, "GET", "/v1/me", agent.token, agent.cert)
t.eq(r.status, 200, "others' certificates still work")
# a CRL that does not load on SIGHUP: the one in force stays
crl = os.path.join(PUB, "client-crl.pem")
with open(crl) as f:
    good_crl = f.read()
with open(crl, "w") as f:
    f.write("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
mark = len(v.logtext())
v.proc.send_signal(signal.SIGHUP)
deadline = time.time() + 30
while time.time() < deadline and "still running" not in v.logtext()[mark:]:
    time.sleep(0.05)
t.ok("mtls: reload failed" in v.logtext()[mark:], "a broken CRL: the mTLS reload fails")
denied(v, aud, victim, victim.cert, "the revoked certificate after a failed reload",
       fp(victim.cert[0]))
r = call(v, "GET", "/v1/me", agent.token, agent.cert)
t.eq(r.status, 200, "and valid ones still work")
with open(crl, "w") as f:
    f.write(good_crl)
v.stop()

# --- a trusted proxy: a request through it never satisfies mTLS ---------------
v.extra_args = CA_ARGS + ["--trusted-proxy", "127.0.0.1/32"]
v.start()
r = call(v, "GET", "/v1/me", agent.token, agent.cert)
t.eq((r.status, r.code), (401, "certificate_required"),
     "from a trusted proxy's address even a valid certificate does not count")
t.ok("proxy" in r.body.decode(), "and the message says why")
r = call(v, "GET", "/v1/me", cust.token)
t.eq(r.status, 200, "a customer through the proxy is unaffected")
v.stop()
v.extra_args = CA_ARGS
v.start()

# --- an out-of-date CRL refuses every mTLS role -------------------------------
open(os.path.join(work, "index.txt"), "w").close()
openssl("ca", "-batch", "-config", "ca.cnf", "-cert", CA_PEM, "-keyfile", CA_KEY, "-gencrl",
        "-crlsec", "1", "-out", "old-crl.pem", cwd=work)
v.stop()
v.extra_args = CA_ARGS[:2] + ["--client-crl", os.path.join(work, "old-crl.pem")] + CA_ARGS[4:]
v.start()
time.sleep(2)
r = call(v, "GET", "/v1/me", agent.token, agent.cert)
t.eq((r.status, r.code), (401, "certificate_required"), "an out-of-date CRL: agent refused")
t.ok("CRL" in r.body.decode(), "the message names the CRL")
r = call(v, "GET", "/v1/me", cust.token)
t.eq(r.status, 200, "a customer is unaffected by the CRL")
v.stop()

# --- options --------------------------------------------------------------------
p = run([binpath("rsvaultd"), "--data", v.data, "--keys", v.keys, "--listen", "127.0.0.1:0",
         "--mtls-roles", "agent"] + server_user_args())
t.ok(p.returncode != 0 and "--client-ca" in p.stderr, "--mtls-roles without --client-ca: refused")
p = run([binpath("rsvaultd"), "--data", v.data, "--keys", v.keys, "--listen", "127.0.0.1:0",
         "--client-ca", CA_PEM, "--mtls-roles", "agent,guest"] + server_user_args())
t.ok(p.returncode != 0 and "guest" in p.stderr, "an unknown role in --mtls-roles: refused")
p = run([binpath("rsvaultd"), "--data", v.data, "--keys", v.keys, "--listen", "127.0.0.1:0",
         "--client-ca", CA_PEM, "--client-crl", os.path.join(work, "oca.pem")] +
        server_user_args())
t.ok(p.returncode != 0, "a CRL file that is no CRL of the client CA: refused at start")
v.__exit__(None, None, None)
t.done()

#!/usr/bin/env python3
"""The customer's pages in a real browser (SPEC 8.2): headless Chromium,
driven by Selenium, against a real rsvaultd with the link and receipt API.

A customer opens an upload link, fills the form with the keyboard and sends
it; the page shows the receipt link; the assigned agent reads the secret
byte for byte through the API; the receipt page lists that read; "Destroy
now" removes the credential; the spent link shows its error and cannot
upload. Also: the fragment is gone from location.href after load, nothing
is stored in the browser, the pages fit 360 px wide, every field and the
submit button are reached with Tab and show a focus outline, and the pages
cause no CSP violation. Screenshots of each state go to the test's output
folder (tests/tmp/browser-*/screens/, listed in the TAP output).

Selenium is Debian's python3-selenium, which only /usr/bin/python3 sees:
under another interpreter this script runs itself again with that one.
The browser trusts the vault's certificate by its public key hash only
(--ignore-certificate-errors-spki-list), not every certificate."""
import base64
import os
import subprocess
import sys
import time

DEB_PY = "/usr/bin/python3"
try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    if os.path.realpath(sys.executable) != os.path.realpath(DEB_PY) and os.path.exists(DEB_PY) \
            and not os.environ.get("RSVAULT_BROWSER_REEXEC"):
        os.environ["RSVAULT_BROWSER_REEXEC"] = "1"
        os.execv(DEB_PY, [DEB_PY] + sys.argv)
    print("not ok 1 - selenium is importable (Debian python3-selenium; `make deps`)")
    print("1..1")
    sys.exit(1)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault, tmpdir  # noqa: E402
from rsvcore import Core, World  # noqa: E402

CHROMIUM = os.environ.get("RSVAULT_CHROMIUM", "/usr/bin/chromium")
DRIVER = os.environ.get("RSVAULT_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT_S = 20


class NoApi(Exception):
    """The server has no link API: the flow cannot be tested."""

t = TAP()
out = tmpdir("browser")
screens = os.path.join(out, "screens")
os.makedirs(screens)
shots = []


def spki_hash(pem_path):
    """base64 SHA-256 of the certificate's SubjectPublicKeyInfo, the form
    --ignore-certificate-errors-spki-list takes."""
    pub = subprocess.run(["openssl", "x509", "-in", pem_path, "-noout", "-pubkey"],
                         capture_output=True, check=True, timeout=30).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         capture_output=True, check=True, timeout=30).stdout
    dig = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der,
                         capture_output=True, check=True, timeout=30).stdout
    return base64.b64encode(dig).decode()


def browser(spki):
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync",
              "--user-data-dir=" + os.path.join(out, "profile"),
              "--ignore-certificate-errors-spki-list=" + spki):
        o.add_argument(a)
    o.add_experimental_option("mobileEmulation", {
        "deviceMetrics": {"width": 360, "height": 740, "pixelRatio": 2.0}})
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    svc = Service(executable_path=DRIVER, log_path=os.path.join(out, "chromedriver.log"))
    d = webdriver.Chrome(service=svc, options=o)
    d.set_page_load_timeout(WAIT_S)
    d.set_script_timeout(WAIT_S)
    return d


def shot(d, name, what):
    """A full-page screenshot (beyond the viewport) as screens/NAME.png."""
    path = os.path.join(screens, name + ".png")
    try:
        w = d.execute_script("return document.documentElement.scrollWidth")
        h = d.execute_script("return document.documentElement.scrollHeight")
        r = d.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
    except WebDriverException:
        d.save_screenshot(path)
    shots.append((name + ".png", what))


def visible(d, eid, timeout=WAIT_S):
    """Wait until element eid is shown; returns it or None."""
    try:
        return WebDriverWait(d, timeout).until(
            lambda drv: (lambda e: e if e.is_displayed() else False)(
                drv.find_element(By.ID, eid)))
    except TimeoutException:
        return None


def text_of(d, eid):
    return d.find_element(By.ID, eid).text


def fits_360(d, page):
    sw = d.execute_script("return document.documentElement.scrollWidth")
    iw = d.execute_script("return window.innerWidth")
    t.ok(iw == 360 and sw <= 360, "%s: fits 360 px wide (viewport %s, scrollWidth %s)"
         % (page, iw, sw))


def nothing_stored(d, page):
    got = d.execute_script("return [document.cookie, localStorage.length, sessionStorage.length]")
    t.eq(got, ["", 0, 0], "%s: no cookie, nothing in local or session storage" % page)


def fragment_gone(d, page, base):
    href = d.execute_script("return location.href")
    t.ok("#" not in href and href.startswith(base), "%s: the fragment is gone from "
         "location.href (%s)" % (page, href))


def csp_clean(d, page):
    try:
        logs = d.get_log("browser")
    except WebDriverException:
        logs = []
    bad = [e.get("message", "") for e in logs
           if "Content Security Policy" in e.get("message", "") or
           "Refused to" in e.get("message", "")]
    t.eq(bad, [], "%s: no Content Security Policy violation in the console" % page)


def tab_walk(d, want, limit=30):
    """Press Tab from the top of the page; returns the ids focused in order
    and whether each showed a focus outline."""
    d.execute_script("document.activeElement && document.activeElement.blur();"
                     "window.scrollTo(0, 0);")
    seen, outlines = [], {}
    for _ in range(limit):
        ActionChains(d).send_keys(Keys.TAB).perform()
        eid, ol = d.execute_script(
            "var e = document.activeElement; var s = getComputedStyle(e);"
            "return [e.id, s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0];")
        seen.append(eid)
        outlines[eid] = ol
        if all(w in seen for w in want):
            break
    return seen, outlines


def approval_flow(d, v, core, base):
    """Dual control through the receipt page (SPEC 8.3): on a ticket whose
    owner approves sessions, the agent's session waits; the receipt page
    shows who asks with Approve and Deny; Approve (keyboard) makes it
    active for this receipt's credential only; a second request is
    refused with Deny."""
    owner = core.customer("pro")
    agent = core.agent()
    r = v.post("/v1/tickets", owner.token, {"subject": "Server room PC", "approval": "owner"})
    t.eq(r.status, 201, "approval: a ticket whose owner approves sessions")
    tid = r.json["id"]
    core._need(v.post("/v1/tickets/%s/assign" % tid, v.admin, {"agent": agent.id}), 200, "assign")
    other = core._need(v.post("/v1/tickets/%s/credentials" % tid, owner.token, {
        "label": "other login", "kind": "ssh", "secret": "other-secret"}), 201, "cred").json["id"]
    r = core._need(v.post("/v1/tickets/%s/links" % tid, owner.token, None), 201, "link")
    lcap = r.json["url"].split("#", 1)[1]
    r = core._need(v.request("POST", "/v1/link/credentials", body={
        "label": "Server room PC", "kind": "rdp", "secret": "room-secret"},
        headers={"Authorization": "Link " + lcap}), 201, "upload")
    cid, receipt = r.json["id"], r.json["receipt"]
    r = v.post("/v1/tickets/%s/sessions" % tid, agent.token, {"ttl_s": 600})
    t.ok(r.status == 201 and r.json.get("state") == "pending", "approval: the session waits")
    sid = r.json.get("id", "")

    d.get(receipt)
    box = visible(d, "approval")
    t.ok(box is not None, "/r/ approval: the box is shown for a waiting session")
    who = text_of(d, "approval-who")
    t.ok(agent.id in who and "asked" in who, "/r/ approval: it says who asks (%r)" % who)
    t.ok("waiting for your approval" in text_of(d, "sessions"),
         "/r/ approval: the session list says waiting for your approval")
    fits_360(d, "/r/ approval")
    shot(d, "receipt-approval", "the receipt page with a session waiting: who asks, Approve / Deny")
    seen, outlines = tab_walk(d, ["approve", "deny"])
    t.ok("approve" in seen and "deny" in seen and outlines.get("approve") and outlines.get("deny"),
         "/r/ approval: Tab reaches Approve and Deny, with a focus outline")
    d.find_element(By.ID, "approve").send_keys(Keys.ENTER)
    m = visible(d, "message")
    t.ok(m is not None and m.text.startswith("Approved"), "/r/ approval: Approve says approved")
    try:
        WebDriverWait(d, WAIT_S).until(
            lambda drv: not drv.find_element(By.ID, "approval").is_displayed())
        gone_box = True
    except TimeoutException:
        gone_box = False
    t.ok(gone_box and "running now" in text_of(d, "sessions"),
         "/r/ approval: the box goes, the session is running")
    shot(d, "receipt-approved", "the receipt page after Approve: the session is running")
    s = core.sessions(World(owner, tid)).get(sid, {})
    t.ok(s.get("state") == "active" and s.get("credential") == cid and
         s.get("decided_by", "").startswith("receipt:"),
         "approval: the session is active, approved by the receipt for its credential")
    r = v.get("/v1/tickets/%s/credentials/%s/secret" % (tid, cid), agent.token,
              headers={"X-Session-Id": sid})
    t.ok(r.status == 200 and r.json.get("secret") == "room-secret",
         "approval: the agent reads the receipt's credential")
    r = v.get("/v1/tickets/%s/credentials/%s/secret" % (tid, other), agent.token,
              headers={"X-Session-Id": sid})
    t.eq((r.status, r.code), (403, "approval_pending"),
         "approval: but not another credential of the ticket")
    core._need(v.delete("/v1/sessions/" + sid, agent.token), 204, "end")
    r = v.post("/v1/tickets/%s/sessions" % tid, agent.token, None)
    sid2 = r.json.get("id", "") if r.status == 201 else ""
    d.get(receipt)
    visible(d, "approval")
    d.find_element(By.ID, "deny").send_keys(Keys.ENTER)
    m = visible(d, "message")
    t.ok(m is not None and m.text.startswith("Refused"), "/r/ approval: Deny says refused")
    time.sleep(0.5)
    t.eq(core.sessions(World(owner, tid)).get(sid2, {}).get("state"), "denied",
         "approval: Deny denied the session")
    nothing_stored(d, "/r/ approval")


SECRET = 'Pä$$ w0rd "quoted" \\ back ✓ 🔑 end'
NOTES = "Switched on from 8:00.\nAsk for Ana at the front desk."
FIELDS = ["label", "kind", "host", "username", "secret", "toggle-secret", "notes", "ttl", "send"]

try:
    with Vault() as v:
        core = Core(v)
        base = "https://127.0.0.1:%d" % v.port
        owner = core.customer("pro")
        agent = core.agent()
        w = core.ticket(owner, subject="Printer in the office stopped working", ref="HD-4711")
        core.assign(w, agent)

        d = browser(spki_hash(os.path.join(v.keys, "server.pem")))
        try:
            # --- the front page -------------------------------------------------
            d.get(base + "/")
            t.ok("safe place" in d.find_element(By.TAG_NAME, "h1").text,
                 "/: the front page says what this service is")
            fits_360(d, "/")
            shot(d, "front", "the front page: what this service is, where staff find the client")

            # --- a link without its fragment --------------------------------
            d.get(base + "/u/")
            m = visible(d, "message")
            t.ok(m is not None and "complete link" in m.text, "/u/ without a capability: says so")
            d.get(base + "/r/")
            m = visible(d, "message")
            t.ok(m is not None and "complete receipt link" in m.text,
                 "/r/ without a capability: says so")
            # --- a link that was never made: the server's real 404 ------------
            d.get(base + "/u/#AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")
            m = visible(d, "message")
            t.ok(m is not None and m.text.startswith("This link no longer works"),
                 "/u/ with an unknown link: the plain no-longer-works message")
            fragment_gone(d, "/u/ unknown link", base + "/u/")
            t.ok(not d.find_element(By.ID, "upload").is_displayed(), "/u/ unknown link: no form")
            fits_360(d, "/u/ unknown link")
            d.get(base + "/r/#AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")
            m = visible(d, "message")
            t.ok(m is not None and m.text.startswith("This receipt link no longer works"),
                 "/r/ with an unknown receipt: the plain no-longer-works message")
            fragment_gone(d, "/r/ unknown receipt", base + "/r/")
            fits_360(d, "/r/ unknown receipt")

            # --- an upload link, opened as sent ------------------------------
            r = v.post("/v1/tickets/%s/links" % w.tid, owner.token, {"uses": 1, "note": "printer"})
            t.eq(r.status, 201, "the owner makes an upload link (POST /v1/tickets/{tid}/links)")
            if r.status != 201:
                raise NoApi(repr(r))
            url = r.json["url"]
            t.ok(url.startswith(base + "/u/#"), "the link is {public-url}/u/#{id}.{secret}")
            cap = url.split("#", 1)[1]

            d.get(url)
            form = visible(d, "upload")
            t.ok(form is not None, "/u/: the form is shown for a working link")
            fragment_gone(d, "/u/", base + "/u/")
            t.ok(d.execute_script("return history.length") >= 1 and
                 "#" not in d.execute_script("return document.URL"),
                 "/u/: the history entry has no fragment either")
            t.eq(text_of(d, "subject"), "Printer in the office stopped working",
                 "/u/: shows the ticket's subject")
            t.ok("HD-4711" in text_of(d, "ticket"), "/u/: shows the ticket's reference")
            kinds = [o.get_attribute("value") for o in Select(d.find_element(By.ID, "kind")).options]
            t.eq(sorted(kinds), sorted(["remote-utilities", "rdp", "ssh", "vnc", "web", "other"]),
                 "/u/: kind offers the server's kinds")
            fits_360(d, "/u/")
            nothing_stored(d, "/u/")
            shot(d, "upload-form", "the upload page for a working link: subject, empty form")

            # keyboard only: every field and the submit button, with a visible focus
            seen, outlines = tab_walk(d, FIELDS)
            order = [e for e in seen if e in FIELDS]
            t.eq(order[:len(FIELDS)], FIELDS, "/u/: Tab reaches every field, the show/hide "
                 "button and the submit button, in order")
            t.ok(all(outlines.get(f) for f in FIELDS), "/u/: each shows a focus outline (%r)"
                 % {f: outlines.get(f) for f in FIELDS})

            # the field rules are checked before sending (and nothing is used up)
            d.find_element(By.ID, "label").send_keys("x" * 129)
            d.find_element(By.ID, "send").send_keys(Keys.ENTER)
            err = visible(d, "label-error", 5)
            t.ok(err is not None and "too long" in err.text and "129" in err.text,
                 "/u/: a 129-character name is refused before sending, in plain words")
            t.ok(visible(d, "secret-error", 5) is not None and
                 "fill this in" in text_of(d, "secret-error"),
                 "/u/: the missing password is named")
            t.eq(d.execute_script("return document.activeElement.id"), "label",
                 "/u/: focus moves to the first wrong field")
            shot(d, "upload-errors", "the upload form refusing a too-long name and a missing password")
            r = v.request("GET", "/v1/link", headers={"Authorization": "Link " + cap})
            t.ok(r.status == 200 and r.json.get("uses_left") == 1,
                 "nothing was sent: the link still has its use (%r)" % (r.json,))

            # fill it in with the keyboard
            lab = d.find_element(By.ID, "label")
            lab.clear()
            lab.send_keys("Office PC")
            kind = d.find_element(By.ID, "kind")
            Select(kind).select_by_value("rdp")
            d.find_element(By.ID, "host").send_keys("pc1.example.com:3389")
            d.find_element(By.ID, "username").send_keys("ana")
            sec = d.find_element(By.ID, "secret")
            sec.send_keys(SECRET)
            t.eq(sec.get_attribute("type"), "password", "/u/: the password is hidden at first")
            d.find_element(By.ID, "toggle-secret").send_keys(Keys.ENTER)
            t.eq((sec.get_attribute("type"), text_of(d, "toggle-secret")), ("text", "Hide"),
                 "/u/: Show reveals it (and the button says Hide)")
            t.eq(sec.get_attribute("value"), SECRET, "/u/: the browser holds what was typed")
            d.find_element(By.ID, "notes").send_keys(NOTES)
            Select(d.find_element(By.ID, "ttl")).select_by_value("86400")
            shot(d, "upload-filled", "the form filled in, password shown")
            d.find_element(By.ID, "send").send_keys(Keys.ENTER)
            done = visible(d, "done")
            t.ok(done is not None, "/u/: after sending, the receipt section is shown")
            receipt = d.find_element(By.ID, "receipt").get_attribute("value")
            t.ok(receipt.startswith(base + "/r/#"), "/u/: the receipt link is shown (%s...)"
                 % receipt[:len(base) + 4])
            t.ok("Keep your receipt" in done.text and "Save it" in done.text,
                 "/u/: tells the customer to keep it")
            d.find_element(By.ID, "copy").send_keys(Keys.ENTER)
            time.sleep(0.5)
            st = text_of(d, "copy-status")
            t.ok(st.startswith("Copied") or "selected" in st, "/u/: Copy answers (%r)" % st)
            t.eq(sec.get_attribute("value"), "", "/u/: the form no longer holds the password")
            nothing_stored(d, "/u/ after sending")
            fits_360(d, "/u/ after sending")
            shot(d, "upload-done", "after sending: the receipt link with its Copy button")

            # --- the agent reads it, byte for byte --------------------------
            r = v.get("/v1/tickets/%s/credentials" % w.tid, agent.token)
            creds = r.json.get("credentials", []) if r.status == 200 else []
            t.eq([c["label"] for c in creds], ["Office PC"], "the agent sees the uploaded credential")
            cid = creds[0]["id"] if creds else "none"
            r = v.post("/v1/tickets/%s/sessions" % w.tid, agent.token, {})
            sid = r.json.get("id") if r.status == 201 else None
            t.ok(sid is not None, "the agent opens a session (%d)" % r.status)
            r = v.get("/v1/tickets/%s/credentials/%s/secret" % (w.tid, cid), agent.token,
                      headers={"X-Session-Id": sid or ""})
            t.ok(r.status == 200 and r.json["secret"].encode() == SECRET.encode(),
                 "the agent reads the secret byte for byte")
            t.ok(r.status == 200 and (r.json["kind"], r.json["host"], r.json["username"],
                                      r.json["notes"]) ==
                 ("rdp", "pc1.example.com:3389", "ana", NOTES),
                 "kind, host, user name and notes arrived as typed")

            # --- the receipt page -------------------------------------------
            d.get(receipt)
            view = visible(d, "view")
            t.ok(view is not None, "/r/: the receipt is shown")
            fragment_gone(d, "/r/", base + "/r/")
            t.eq(text_of(d, "c-label"), "Office PC", "/r/: names the credential")
            reads = text_of(d, "reads")
            t.ok(agent.id in reads and "Read by" in reads, "/r/: lists the agent's read (%r)" % reads)
            t.eq(text_of(d, "c-reads"), "1", "/r/: counts one read")
            sess = text_of(d, "sessions")
            t.ok(agent.id in sess and "running now" in sess, "/r/: shows the running session")
            t.ok(d.find_element(By.ID, "refresh-note").is_displayed(),
                 "/r/: says it refreshes while a session runs")
            fits_360(d, "/r/")
            nothing_stored(d, "/r/")
            shot(d, "receipt", "the receipt page: the credential, who read it and when, the session")
            seen, outlines = tab_walk(d, ["destroy"])
            t.ok("destroy" in seen and outlines.get("destroy"),
                 "/r/: Tab reaches Destroy now, with a focus outline")

            # --- the rotation prompt (SPEC 8.3) ------------------------------
            t.ok(not d.find_element(By.ID, "rotate").is_displayed(),
                 "/r/: no rotation prompt while the session runs")
            r = v.delete("/v1/sessions/%s" % sid, agent.token)
            t.eq(r.status, 204, "the agent ends the session")
            d.get(receipt)
            rot = visible(d, "rotate")
            t.ok(rot is not None and "Change this password now" in rot.text,
                 "/r/: after the session, it says change this password now")
            shot(d, "receipt-rotate", "the receipt page asking to change the password")
            d.find_element(By.ID, "rotated").send_keys(Keys.ENTER)
            end = time.time() + 10
            while time.time() < end and d.find_element(By.ID, "rotate").is_displayed():
                time.sleep(0.1)
            t.ok(not d.find_element(By.ID, "rotate").is_displayed(),
                 "/r/: I have changed it clears the prompt")
            r = v.get("/v1/tickets/%s/credentials" % w.tid, w.owner.token)
            t.ok(r.status == 200 and r.json["credentials"][0]["rotate"] is False,
                 "/r/: and the credential is no longer marked")

            d.find_element(By.ID, "destroy").send_keys(Keys.ENTER)
            t.ok(visible(d, "confirm", 5) is not None, "/r/: Destroy now asks first")
            shot(d, "receipt-confirm", "the receipt page asking to confirm Destroy now")
            d.find_element(By.ID, "destroy-no").send_keys(Keys.ENTER)
            time.sleep(0.3)
            r = v.get("/v1/tickets/%s/credentials" % w.tid, agent.token)
            t.eq(len(r.json.get("credentials", [])), 1, "/r/: No, keep it keeps it")
            d.find_element(By.ID, "destroy").send_keys(Keys.ENTER)
            visible(d, "confirm", 5)
            d.find_element(By.ID, "destroy-yes").send_keys(Keys.ENTER)
            t.ok(visible(d, "destroyed") is not None, "/r/: Yes, destroy it says it is destroyed")
            shot(d, "receipt-destroyed", "the receipt page after Destroy now")
            r = v.get("/v1/tickets/%s/credentials" % w.tid, agent.token)
            t.eq(r.json.get("credentials") if r.status == 200 else r.status, [],
                 "the credential is gone from the ticket")
            r = v.get("/v1/tickets/%s/credentials/%s/secret" % (w.tid, cid), agent.token,
                      headers={"X-Session-Id": sid or ""})
            t.ok(r.status in (403, 404) and r.code in ("session_expired", "not_found"),
                 "the agent can no longer read it (%d %s)" % (r.status, r.code))
            t.eq(core.session_state(w, sid, agent.token), "ended",
                 "Destroy now ended the session that had read it")
            d.get(receipt)
            m = visible(d, "message")
            t.ok(m is not None and "no longer works" in m.text and
                 not d.find_element(By.ID, "view").is_displayed(),
                 "/r/: the destroyed credential's receipt no longer works")

            # --- the spent link ---------------------------------------------
            d.get(url)
            m = visible(d, "message")
            t.ok(m is not None and m.text.startswith("This link no longer works: it was used up, "
                                                     "expired or withdrawn."),
                 "/u/: a spent link says so in plain words")
            t.ok(not d.find_element(By.ID, "upload").is_displayed(), "/u/: and shows no form")
            fragment_gone(d, "/u/ spent", base + "/u/")
            shot(d, "upload-spent", "the upload page for a used-up link")
            r = v.request("POST", "/v1/link/credentials", body={
                "label": "again", "kind": "other", "secret": "x"},
                headers={"Authorization": "Link " + cap})
            t.eq(r.status, 404, "a spent link cannot upload (404)")

            # --- a link withdrawn while the customer types -------------------
            r = v.post("/v1/tickets/%s/links" % w.tid, owner.token, {"uses": 1})
            t.eq(r.status, 201, "another link")
            url2, lid2 = r.json["url"], r.json["id"]
            d.get(url2)
            t.ok(visible(d, "upload") is not None, "/u/: its form is shown")
            d.find_element(By.ID, "label").send_keys("Withdrawn")
            d.find_element(By.ID, "secret").send_keys("typed-then-withdrawn-1")
            d.find_element(By.ID, "notes").send_keys("a hint")
            t.eq(v.delete("/v1/links/" + lid2, owner.token).status, 204,
                 "the owner withdraws it meanwhile")
            d.find_element(By.ID, "send").send_keys(Keys.ENTER)
            m = visible(d, "message")
            t.ok(m is not None and m.text.startswith("This link no longer works"),
                 "/u/: sending says the link no longer works")
            got = d.execute_script("return [document.getElementById('secret').value,"
                                   " document.getElementById('label').value,"
                                   " document.getElementById('notes').value,"
                                   " document.getElementById('secret').type]")
            t.eq(got, ["", "", "", "password"],
                 "/u/: and nothing typed stays in the hidden form")

            approval_flow(d, v, core, base)
            csp_clean(d, "all pages")
        finally:
            d.quit()
except NoApi as e:
    t.ok(False, "the server has the link API of SPEC 8.2 (POST /v1/tickets/{tid}/links: %s); "
         "the upload and receipt flow was not tested" % e)

for name, what in shots:
    t.diag("screenshot %s: %s" % (os.path.join(screens, name), what))
t.done()

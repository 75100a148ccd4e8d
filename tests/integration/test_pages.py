#!/usr/bin/env python3
"""The customer's pages (SPEC 8.2) without a browser: every page and asset
is served from the binary byte for byte as in web/, with exactly the
pages' headers and content types; no inline script or style, no event
handler attributes, no third-party URL, a label for every field; the
scripts use no HTML sinks and no storage; anything else under the pages'
prefixes, any dot-segment or percent-encoding, is a JSON error and never a
file; page requests are not audited."""
import os
import socket
import ssl
import sys
from html.parser import HTMLParser

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rsvtest import TAP, Vault  # noqa: E402
from rsvcore import Core  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEB = os.path.join(ROOT, "web")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
PAGE_HEADERS = {
    "content-security-policy": CSP,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "strict-transport-security": "max-age=31536000",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
# What libmicrohttpd adds by itself; any other header is a failure.
TRANSPORT = {"date", "content-length", "connection", "x-request-id"}

HTML = "text/html; charset=utf-8"
CSS = "text/css; charset=utf-8"
JS = "text/javascript; charset=utf-8"
PAGES = {
    "/": ("index.html", HTML),
    "/u/": ("u/index.html", HTML),
    "/r/": ("r/index.html", HTML),
    "/assets/app.css": ("assets/app.css", CSS),
    "/assets/common.js": ("assets/common.js", JS),
    "/assets/upload.js": ("assets/upload.js", JS),
    "/assets/receipt.js": ("assets/receipt.js", JS),
}

t = TAP()


class PageCheck(HTMLParser):
    """Collects what the CSP and our rules forbid in a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self.refs = []          # (tag, attr, value) of src/href
        self.ids = {}           # id -> tag for form fields
        self.label_for = set()
        self.in_script = False
        self.script_text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k, val in attrs:
            if k.startswith("on"):
                self.problems.append("event handler attribute %s on <%s>" % (k, tag))
            if k == "style":
                self.problems.append("style attribute on <%s>" % tag)
            low = (val or "").strip().lower()
            if low.startswith(("http:", "https:", "//", "javascript:", "data:")):
                self.problems.append("absolute or script URL %s=%r on <%s>" % (k, val, tag))
            if k in ("src", "href", "action", "formaction", "srcset", "poster"):
                self.refs.append((tag, k, val or ""))
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            if not a.get("src"):
                self.problems.append("<script> without src")
            self.in_script = True
            self.script_text = ""
        if tag == "base":
            self.problems.append("<base> element")
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh":
            self.problems.append("meta refresh")
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.ids[a.get("id") or ""] = tag
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"])

    def handle_endtag(self, tag):
        if tag == "script":
            if self.script_text.strip():
                self.problems.append("<script> with inline content")
            self.in_script = False

    def handle_data(self, data):
        if self.in_script:
            self.script_text += data


def raw_get(v, target, method="GET"):
    """Send a request target as is (no client normalisation); returns
    (status, headers dict, body)."""
    ctx = ssl.create_default_context(cafile=v.ca)
    with socket.create_connection(("127.0.0.1", v.port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as tls:
            tls.sendall(("%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                         % (method, target)).encode())
            out = b""
            while True:
                try:
                    d = tls.recv(65536)
                except (ssl.SSLError, OSError):
                    break
                if not d:
                    break
                out += d
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    hdrs = {}
    for ln in lines[1:]:
        k, _, val = ln.partition(":")
        hdrs[k.strip().lower()] = val.strip()
    return status, hdrs, body


def check_headers(r, path, ctype):
    names = [k.lower() for k, _ in r.headers]
    for k, want in PAGE_HEADERS.items():
        t.eq(r.header(k), want, "%s: %s" % (path, k))
        t.eq(names.count(k), 1, "%s: %s sent once" % (path, k))
    t.eq(r.header("content-type"), ctype, "%s: Content-Type" % path)
    extra = sorted(set(names) - set(PAGE_HEADERS) - TRANSPORT - {"content-type"})
    t.eq(extra, [], "%s: no other header (no cookie, no ETag)" % path)
    t.ok(r.header("x-request-id"), "%s: X-Request-Id" % path)


with Vault() as v:
    core = Core(v)
    aud = core.auditor()
    r0 = v.get("/v1/audit?limit=1000", aud.token)
    seq0 = r0.json["next_seq"] if r0.status == 200 else -1

    htmls = {}
    for path, (rel, ctype) in PAGES.items():
        with open(os.path.join(WEB, rel), "rb") as f:
            want = f.read()
        r = v.get(path)
        t.eq(r.status, 200, "GET %s: 200" % path)
        t.ok(r.body == want, "GET %s: the bytes of web/%s (%d bytes)" % (path, rel, len(want)))
        check_headers(r, path, ctype)
        h = v.request("HEAD", path)
        t.eq((h.status, h.body, h.header("content-security-policy"), h.header("content-type")),
             (200, b"", CSP, ctype), "HEAD %s: 200, no body, the same headers" % path)
        if ctype == HTML:
            htmls[path] = r.body.decode("utf-8")

    # a query string is ignored, the page is the same
    r = v.get("/u/?from=mail")
    t.ok(r.status == 200 and r.body == v.get("/u/").body, "GET /u/?from=mail: the upload page")

    # --- what the pages hold -------------------------------------------
    for path, text in htmls.items():
        p = PageCheck()
        p.feed(text)
        p.close()
        t.eq(p.problems, [], "%s: no inline script or style, no handler attribute, "
             "no absolute URL" % path)
        for tag, attr, ref in p.refs:
            t.ok(ref.startswith("/") and not ref.startswith("//"),
                 "%s: <%s %s=%s> is a path on this origin" % (path, tag, attr, ref))
            if ref.startswith("/assets/"):
                t.eq(v.get(ref).status, 200, "%s: %s is served" % (path, ref))
        unlabelled = sorted(i for i in p.ids if i not in p.label_for)
        t.eq(unlabelled, [], "%s: every field has a <label for>" % path)
        t.ok('name="viewport"' in text, "%s: has a viewport for small screens" % path)
    for fid in ("label", "kind", "host", "username", "secret", "notes", "ttl"):
        t.ok('id="%s"' % fid in htmls["/u/"], "/u/: has the field %s" % fid)
    t.ok('id="destroy"' in htmls["/r/"], "/r/: has the Destroy now button")

    for name in ("common.js", "upload.js", "receipt.js"):
        with open(os.path.join(WEB, "assets", name), encoding="utf-8") as f:
            js = f.read()
        for bad in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                    "new Function", "localStorage", "sessionStorage", "document.cookie",
                    "http://", "https://", "indexedDB"):
            t.ok(bad not in js, "%s: does not use %s" % (name, bad))
    with open(os.path.join(WEB, "assets", "common.js"), encoding="utf-8") as f:
        common = f.read()
    t.ok('history.replaceState(null, "", location.pathname)' in common,
         "common.js: drops the fragment from the history entry")
    t.ok('"Authorization"' in common and "fetch(path" in common,
         "common.js: the capability goes in the Authorization header of fetch")
    with open(os.path.join(WEB, "assets", "app.css"), encoding="utf-8") as f:
        css = f.read()
    t.ok("@import" not in css and "url(" not in css, "app.css: loads nothing else")

    # --- not pages: JSON 404, never a file --------------------------------
    for path in ("/u", "/r", "/u/index.html", "/index.html", "/assets/", "/assets",
                 "/assets/nope.js", "/assets/app.css/", "/r/x", "/u/u/", "/favicon.ico",
                 "/web/index.html", "/assets/APP.CSS"):
        r = v.get(path)
        t.ok(r.status == 404 and r.code == "not_found" and
             r.header("content-type") == "application/json",
             "GET %s: 404 not_found as JSON (%d)" % (path, r.status))
    for method in ("POST", "PUT", "DELETE"):
        r = v.request(method, "/u/")
        t.ok(r.status in (404, 405) and r.code in ("not_found", "method_not_allowed") and
             r.header("content-security-policy") is None,
             "%s /u/: a JSON error, not the page (%d)" % (method, r.status))
    with open(os.path.join(ROOT, "vault", "pages.c"), "rb") as f:
        marker = f.read()[:40]
    for target in ("/assets/../vault/pages.c", "/assets/%2e%2e/vault/pages.c",
                   "/assets/%2E%2E/web/index.html", "/u/../", "/u/%2e%2e/r/", "/%2e/u/",
                   "/assets/..%2fapp.css", "/assets/app%2ecss", "/u/%2F", "/./u/",
                   "//u/", "/u//", "/assets//app.css"):
        status, hdrs, body = raw_get(v, target)
        t.ok(status in (400, 404) and hdrs.get("content-type") == "application/json" and
             marker not in body and b"<html" not in body and
             "content-security-policy" not in hdrs,
             "GET %s: %d JSON error, no file" % (target, status))
    status, hdrs, body = raw_get(v, "/u/" + "a" * 5000)
    t.ok(status in (400, 404, 414) and b"<html" not in body, "an overlong page path: refused")
    # past libmicrohttpd's pool (8 KiB, vault/http.c) the head never reaches
    # the router: libmicrohttpd answers 414, or closes the connection when
    # it has no room left to build even that; no page either way
    status, hdrs, body = raw_get(v, "/u/" + "a" * 9000)
    t.ok(status in (0, 400, 414) and b"<!DOCTYPE" not in body and
         "content-security-policy" not in hdrs,
         "a page path longer than the connection's buffer: refused (%d)" % status)

    # --- pages are not audited -----------------------------------------
    for _ in range(5):
        for path in PAGES:
            v.get(path)
    r1 = v.get("/v1/audit?limit=1000&after_seq=%d" % seq0, aud.token)
    acts = [e.get("action") for e in (r1.json or {}).get("events", [])] if r1.status == 200 else None
    t.ok(seq0 >= 0 and acts is not None and all(a.startswith("audit.") for a in acts),
         "page requests wrote no audit event (since seq %d: %r)" % (seq0, acts))
    t.ok(" / 200 " in v.logtext() and " /u/ 200 " in v.logtext(),
         "page requests are in the server's request log")

t.done()

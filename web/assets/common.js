/* rsvault pages: what the upload and receipt pages share.
 * The capability ("{id}.{secret}") arrives in the URL fragment, which the
 * browser never sends to a server. It is read once, the fragment is taken
 * out of the address bar and the current history entry at once, and it is
 * sent only in the Authorization header of fetch() calls to this origin.
 * Nothing is stored (no cookie, no local or session storage). Every text
 * that comes from the network is inserted with textContent. */
"use strict";

var RSV = (function () {
  var CAP_RE = /^[A-Za-z0-9_-]{1,128}\.[A-Za-z0-9_-]{1,128}$/;

  /* Read the capability from the fragment and drop the fragment. A link
   * opened again while its page is showing only changes the fragment (no
   * new page load): load the page afresh so it reads the new one. */
  function takeCapability() {
    window.addEventListener("hashchange", function () {
      if (location.hash.length > 1) location.reload();
    });
    var frag = location.hash ? location.hash.slice(1) : "";
    if (location.hash || location.href.indexOf("#") >= 0) {
      history.replaceState(null, "", location.pathname);
    }
    return CAP_RE.test(frag) ? frag : null;
  }

  var KIND_NAMES = {
    "remote-utilities": "Remote Utilities",
    "rdp": "Remote Desktop (RDP)",
    "ssh": "SSH",
    "vnc": "VNC",
    "web": "Website or web console",
    "other": "Something else"
  };

  function kindName(k) {
    return Object.prototype.hasOwnProperty.call(KIND_NAMES, k) ? KIND_NAMES[k] : String(k);
  }

  function $(id) { return document.getElementById(id); }

  function show(el, on) { el.hidden = !on; }

  function setText(el, text) { el.textContent = text == null ? "" : String(text); }

  /* A message box: kind "error" or "ok". */
  function message(text, kind) {
    var box = $("message");
    setText(box, text);
    box.className = "message" + (kind === "ok" ? " ok" : "");
    box.setAttribute("role", kind === "ok" ? "status" : "alert");
    show(box, !!text);
  }

  function when(iso) {
    if (!iso) return "\u2014";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    return d.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
    });
  }

  /* One API call to this origin. Resolves to {status, body, retryAfter};
   * status 0 means the network failed. */
  function api(method, path, scheme, cap, body) {
    var headers = { "Authorization": scheme + " " + cap };
    var init = {
      method: method, headers: headers, cache: "no-store", credentials: "omit",
      redirect: "error", referrerPolicy: "no-referrer", mode: "same-origin"
    };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (r) {
      var ra = parseInt(r.headers.get("Retry-After") || "", 10);
      return r.text().then(function (t) {
        var j = null;
        try { j = t ? JSON.parse(t) : null; } catch (e) { j = null; }
        return { status: r.status, body: j, retryAfter: isNaN(ra) ? 0 : ra };
      });
    }, function () {
      return { status: 0, body: null, retryAfter: 0 };
    });
  }

  function errCode(res) {
    var e = res.body && res.body.error;
    return e && typeof e.code === "string" ? e.code : "";
  }

  function errMessage(res) {
    var e = res.body && res.body.error;
    return e && typeof e.message === "string" ? e.message : "";
  }

  /* Plain words for what went wrong, for answers every route shares.
   * gone: the words for a 404 (and 401) of this page's capability. */
  function explain(res, gone) {
    var code = errCode(res);
    switch (res.status) {
    case 0:
      return "Could not reach the vault. Check your internet connection and try again.";
    case 401:
    case 404:
      return gone;
    case 403:
      if (code === "license_required")
        return "Your support plan does not cover remote support at the moment " +
          "(the license has lapsed or is not a commercial one), so the vault cannot " +
          "take logins for it. Please contact your support provider.";
      if (code === "account_suspended")
        return "The account this link belongs to is suspended. Please contact your support provider.";
      return "The vault did not allow this. Please contact your support provider.";
    case 409:
      return "This cannot be done right now: the request has changed meanwhile. Reload the page and try again.";
    case 413:
      return "What you typed is too long to send. Make the password or the notes shorter.";
    case 429:
      return "Too many attempts from your network. Wait " +
        (res.retryAfter > 0 ? Math.ceil(res.retryAfter / 60) + " minute(s)" : "a minute") +
        " and try again.";
    case 500:
    case 503:
      return "The vault cannot save or show this right now. Please try again in a few minutes.";
    default:
      return "Something went wrong (error " + res.status + (code ? ", " + code : "") +
        "). Please try again later.";
    }
  }

  /* Copy text to the clipboard; without the clipboard API, select it in
   * the input so the user can copy it themselves. */
  function copy(input, status) {
    function fallback() {
      input.focus();
      input.select();
      var done = false;
      try { done = document.execCommand && document.execCommand("copy"); } catch (e) { done = false; }
      setText(status, done ? "Copied." : "The link is selected: press Ctrl+C (or \u2318+C) to copy it.");
    }
    if (navigator.clipboard && navigator.clipboard.writeText && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () {
        setText(status, "Copied. Paste it somewhere safe.");
      }, fallback);
    } else {
      fallback();
    }
  }

  return {
    KIND_NAMES: KIND_NAMES, kindName: kindName, takeCapability: takeCapability, $: $, show: show, setText: setText, message: message,
    when: when, api: api, errCode: errCode, errMessage: errMessage, explain: explain, copy: copy
  };
})();

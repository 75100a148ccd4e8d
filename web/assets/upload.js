/* The upload page (/u/#{link id}.{secret}): shows the ticket's subject,
 * checks the vault's field rules before sending, sends the login with
 * POST /v1/link/credentials and shows the receipt link. */
"use strict";

(function () {
  var $ = RSV.$;
  var GONE = "This link no longer works: it was used up, expired or withdrawn. " +
    "Ask your support contact for a new one.";
  var NO_CAP = "This page needs the complete link you were sent, including the part " +
    "after the # sign. Open the link again from the message you received, or ask your " +
    "support contact for a new one.";

  /* The vault's rules (SPEC 6), used until GET /v1/link says otherwise. */
  var rules = {
    label: { name: "Name for this login", required: true, min: 1, max: 128, max_bytes: 512, text: "line" },
    host: { name: "Computer or address", required: false, min: 1, max: 259, max_bytes: 259, text: "host" },
    username: { name: "User name", required: false, min: 1, max: 256, max_bytes: 1024, text: "line" },
    secret: { name: "Password or access code", required: true, min: 1, max: 8192, max_bytes: 8192, text: "raw" },
    notes: { name: "Notes for the agent", required: false, min: 0, max: 4096, max_bytes: 16384, text: "lines" }
  };
  var ttlRule = { min: 1, max: 2592000, def: 604800 };
  var DURATIONS = [
    [3600, "1 hour"], [86400, "1 day"], [259200, "3 days"], [604800, "7 days"],
    [1209600, "14 days"], [2592000, "30 days"]
  ];
  var FIELDS = ["label", "kind", "host", "username", "secret", "notes", "ttl"];

  var cap = RSV.takeCapability();
  var usesLeft = 0;

  function num(v) { return typeof v === "number" && isFinite(v) ? v : null; }

  /* Take the server's limits: {"label": 128, ..., "secret_bytes": 8192,
   * "ttl_s": {"min","max","default"}}; a field may also be given as
   * {"min","max","max_bytes"}. A bare number is a maximum in code points;
   * what the server does not say keeps our defaults. */
  function applyLimits(limits) {
    if (!limits || typeof limits !== "object") return;
    Object.keys(rules).forEach(function (k) {
      var l = limits[k];
      if (num(l) !== null) { rules[k].max = l; return; }
      if (!l || typeof l !== "object") return;
      var min = num(l.min), max = num(l.max), mb = num(l.max_bytes);
      if (min !== null) rules[k].min = min;
      if (max !== null) rules[k].max = max;
      if (mb !== null) rules[k].max_bytes = mb;
      if (typeof l.required === "boolean") rules[k].required = l.required;
    });
    /* the secret's limit is in bytes of UTF-8 */
    var sb = num(limits.secret_bytes);
    if (sb !== null) rules.secret.max_bytes = sb;
    var t = limits.ttl_s;
    if (t && typeof t === "object") {
      if (num(t.min) !== null) ttlRule.min = t.min;
      if (num(t.max) !== null) ttlRule.max = t.max;
      if (num(t["default"]) !== null) ttlRule.def = t["default"];
    } else if (num(t) !== null) {
      ttlRule.max = t;
    }
  }

  function fillKinds(kinds) {
    var sel = $("kind");
    if (!Array.isArray(kinds) || kinds.length === 0) kinds = Object.keys(RSV.KIND_NAMES);
    kinds.forEach(function (k) {
      if (typeof k !== "string") return;
      var o = document.createElement("option");
      o.value = k;
      o.textContent = RSV.kindName(k);
      sel.appendChild(o);
    });
  }

  function fillDurations() {
    var sel = $("ttl"), best = null;
    DURATIONS.forEach(function (d) {
      if (d[0] < ttlRule.min || d[0] > ttlRule.max) return;
      var o = document.createElement("option");
      o.value = String(d[0]);
      o.textContent = d[1];
      sel.appendChild(o);
      if (d[0] <= ttlRule.def) best = o;
    });
    if (sel.options.length === 0) {
      /* limits none of ours fit: offer the longest allowed */
      var o = document.createElement("option");
      o.value = String(ttlRule.max);
      o.textContent = Math.max(1, Math.round(ttlRule.max / 3600)) + " hour(s)";
      sel.appendChild(o);
      best = o;
    }
    (best || sel.options[0]).selected = true;
  }

  function codePoints(s) { return Array.from(s).length; }
  function utf8Bytes(s) { return new TextEncoder().encode(s).length; }

  var LINE_BAD = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

  function validPort(p) { return /^[1-9][0-9]{0,4}$/.test(p) && Number(p) <= 65535; }
  function validNameOrIPv4(s) {
    if (s.length === 0 || s.length > 253) return false;
    if (/^[0-9.]+$/.test(s) && s.indexOf(".") >= 0) {
      var oct = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
      return new RegExp("^" + oct + "(\\." + oct + "){3}$").test(s);
    }
    return s.split(".").every(function (l) {
      return /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l);
    });
  }
  function looseIPv6(s) { return /^[0-9A-Fa-f:.]{2,45}$/.test(s) && (s.match(/:/g) || []).length >= 2; }
  function validHost(s) {
    if (s.charAt(0) === "[") {
      var close = s.indexOf("]");
      if (close < 0 || !looseIPv6(s.slice(1, close))) return false;
      var rest = s.slice(close + 1);
      return rest === "" || (rest.charAt(0) === ":" && validPort(rest.slice(1)));
    }
    var parts = s.split(":");
    if (parts.length > 2) return looseIPv6(s);
    if (parts.length === 2) return validNameOrIPv4(parts[0]) && validPort(parts[1]);
    return validNameOrIPv4(s);
  }

  /* What is wrong with field k's value v, in plain words, or "". */
  function check(k, v) {
    var r = rules[k];
    if (v === "") return r.required ? "Please fill this in." : "";
    var n = codePoints(v);
    if (n < r.min) return "This is too short.";
    if (n > r.max)
      return "This is too long: at most " + r.max + " characters, you have " + n + ".";
    var nb = utf8Bytes(v);
    if (nb > r.max_bytes)
      return r.text === "raw" && n === nb
        ? "This is too long: at most " + r.max_bytes + " characters, you have " + nb + "."
        : "This is too long: it holds many special characters (" + nb + " bytes, at most " +
          r.max_bytes + "). Make it shorter.";
    if (r.text === "line" && LINE_BAD.test(v))
      return "This must be one line, without tabs or invisible characters.";
    if (r.text === "lines" && LINE_BAD.test(v.replace(/\r\n|\n|\t/g, "")))
      return "This holds an invisible or control character. Please remove it.";
    if (r.text === "host" && !validHost(v))
      return HOST_RULE;
    return "";
  }

  function fieldError(k, text) {
    var input = $(k), err = $(k + "-error");
    RSV.setText(err, text);
    RSV.show(err, !!text);
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  function clearErrors() {
    FIELDS.forEach(function (k) { fieldError(k, ""); });
    RSV.message("");
  }

  function collect() {
    var body = {}, bad = [];
    Object.keys(rules).forEach(function (k) {
      var v = $(k).value;
      if (k !== "secret" && k !== "notes") v = v.trim();
      var why = check(k, v);
      if (why) { fieldError(k, why); bad.push(k); }
      else if (v !== "") body[k] = v;
    });
    body.kind = $("kind").value;
    var ttl = parseInt($("ttl").value, 10);
    if (!isNaN(ttl)) body.ttl_s = ttl;
    return { body: body, bad: bad };
  }

  var HOST_RULE = "Enter a computer name or address, with a port if needed, " +
    "like pc1.example.com, 192.0.2.7:3389 or [2001:db8::7]:22.";

  /* The rule of field k in plain words, for a field the vault refused. */
  function ruleText(k) {
    var r = rules[k];
    if (!r) return "The vault did not accept this choice. Please pick another.";
    if (r.text === "host") return HOST_RULE;
    return "The vault did not accept this. Use " + r.min + " to " + r.max + " characters" +
      (r.text === "raw" ? "." : r.text === "lines" ? ", without control characters."
        : ", on one line, without tabs or invisible characters.");
  }

  function fieldOf(msg) {
    var m = /field "([a-z_]+)"/.exec(msg || "");
    return m ? m[1] : "";
  }

  function failed(res) {
    var code = RSV.errCode(res);
    if (res.status === 400 && code === "invalid_field") {
      var f = fieldOf(RSV.errMessage(res));
      var k = f === "ttl_s" ? "ttl" : f;
      if (k && $(k) && $(k + "-error")) {
        fieldError(k, ruleText(k));
        RSV.message("Please correct the field marked below (" +
          (rules[k] ? rules[k].name : k === "kind" ? "What kind of login" : "Keep it for") + ").");
        $(k).focus();
        return;
      }
      RSV.message("The vault did not accept what was sent. Please check every field.");
      return;
    }
    if (res.status === 404 || res.status === 401) {
      /* the link is gone: nothing typed stays in the hidden form */
      $("upload").reset();
      setSecretShown(false);
      RSV.show($("upload"), false);
      RSV.message(GONE);
      return;
    }
    RSV.message(RSV.explain(res, GONE));
  }

  function submit(ev) {
    ev.preventDefault();
    clearErrors();
    var c = collect();
    if (c.bad.length > 0) {
      RSV.message(c.bad.length === 1 ? "Please correct the field marked below."
        : "Please correct the " + c.bad.length + " fields marked below.");
      $(c.bad[0]).focus();
      return;
    }
    var btn = $("send");
    btn.disabled = true;
    RSV.setText(btn, "Sending\u2026");
    RSV.api("POST", "/v1/link/credentials", "Link", cap, c.body).then(function (res) {
      btn.disabled = false;
      RSV.setText(btn, "Send securely");
      if (res.status === 201 && res.body && typeof res.body.receipt === "string") {
        sent(res.body);
      } else {
        failed(res);
      }
    });
  }

  function sent(b) {
    $("upload").reset();
    setSecretShown(false);
    RSV.show($("upload"), false);
    RSV.message("");
    usesLeft = Math.max(0, usesLeft - 1);
    $("receipt").value = b.receipt;
    var a = $("open-receipt");
    if (/^https:\/\//.test(b.receipt)) a.href = b.receipt;
    RSV.show(a.parentNode, /^https:\/\//.test(b.receipt));
    RSV.setText($("copy-status"), "");
    RSV.show($("again-line"), usesLeft > 0);
    RSV.show($("done"), true);
    $("done-title").focus();
  }

  function setSecretShown(on) {
    $("secret").type = on ? "text" : "password";
    RSV.setText($("toggle-secret"), on ? "Hide" : "Show");
    $("toggle-secret").setAttribute("aria-pressed", on ? "true" : "false");
    $("toggle-secret").setAttribute("aria-label", on ? "Hide the password" : "Show the password");
  }

  function start() {
    setSecretShown(false);
    $("toggle-secret").addEventListener("click", function () {
      setSecretShown($("secret").type === "password");
    });
    $("upload").addEventListener("submit", submit);
    $("copy").addEventListener("click", function () { RSV.copy($("receipt"), $("copy-status")); });
    $("again").addEventListener("click", function () {
      RSV.show($("done"), false);
      $("receipt").value = "";
      $("open-receipt").href = "/r/"; /* the last receipt's capability goes too */
      RSV.show($("upload"), true);
      $("label").focus();
    });
    if (!cap) {
      RSV.show($("loading"), false);
      RSV.message(NO_CAP);
      return;
    }
    RSV.api("GET", "/v1/link", "Link", cap).then(function (res) {
      RSV.show($("loading"), false);
      if (res.status !== 200 || !res.body || !res.body.ticket) {
        RSV.message(RSV.explain(res, GONE));
        return;
      }
      var b = res.body;
      RSV.setText($("subject"), b.ticket.subject);
      if (typeof b.ticket.ref === "string" && b.ticket.ref !== "") {
        RSV.setText($("ref"), b.ticket.ref);
        RSV.show($("ref-line"), true);
      }
      usesLeft = num(b.uses_left) || 0;
      RSV.setText($("link-info"), "This link works until " + RSV.when(b.expires_at) +
        (usesLeft === 1 ? " for one login." : " for " + usesLeft + " more logins."));
      RSV.show($("ticket"), true);
      if (b.eligible === false) {
        RSV.message(RSV.explain({ status: 403, body: { error: { code: "license_required" } } }, GONE));
        return;
      }
      applyLimits(b.limits);
      fillKinds(b.kinds);
      fillDurations();
      RSV.show($("upload"), true);
    });
  }

  start();
})();

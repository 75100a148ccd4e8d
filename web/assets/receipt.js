/* The receipt page (/r/#{receipt id}.{secret}): what was handed over,
 * who read it and when, the sessions that may read it (approve or deny a
 * waiting one), and "Destroy now". Refreshes every 30 s, and only while a
 * session is waiting or running. */
"use strict";

(function () {
  var $ = RSV.$;
  var GONE = "This receipt link no longer works: the login it was for has been " +
    "destroyed or has expired, or the link is not complete. If you need to, ask your " +
    "support contact.";
  var NO_CAP = "This page needs the complete receipt link you were given, including the " +
    "part after the # sign.";
  var REFRESH_MS = 30000;
  var STATES = {
    pending: "waiting for your approval",
    active: "running now",
    ended: "ended",
    expired: "ran out of time",
    denied: "refused"
  };
  var ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

  var cap = RSV.takeCapability();
  var timer = null;
  var gone = false;
  var pendingSid = null; /* the session the approval box is about */

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

  function line(parent, label, value) {
    var p = document.createElement("span");
    p.className = "small";
    p.textContent = label + " " + value;
    parent.appendChild(document.createElement("br"));
    parent.appendChild(p);
  }

  function stopTimer() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  }

  function renderReads(reads) {
    var ul = $("reads");
    clear(ul);
    reads.forEach(function (r) {
      var li = document.createElement("li");
      var who = document.createElement("strong");
      who.textContent = typeof r.agent === "string" ? r.agent : "an agent";
      li.appendChild(document.createTextNode("Read by "));
      li.appendChild(who);
      li.appendChild(document.createTextNode(" on " + RSV.when(r.time)));
      ul.appendChild(li);
    });
    RSV.show($("no-reads"), reads.length === 0);
  }

  function decide(verb) {
    var sid = pendingSid, yes = $("approve"), no = $("deny");
    if (sid === null || !ID_RE.test(sid)) return;
    yes.disabled = no.disabled = true;
    RSV.api("POST", "/v1/sessions/" + sid + "/" + verb, "Receipt", cap).then(function (res) {
      yes.disabled = no.disabled = false;
      if (res.status === 200) {
        RSV.message(verb === "approve" ? "Approved: the agent can use the login now."
          : "Refused: the agent cannot use the login in that session.", "ok");
        load();
      } else {
        RSV.message(RSV.explain(res, GONE));
        /* decided, ended or lapsed meanwhile: show what is true now */
        if (res.status === 404 || res.status === 409) load();
      }
    });
  }

  function renderSessions(sessions) {
    var ul = $("sessions"), live = false;
    clear(ul);
    sessions.forEach(function (s) {
      var li = document.createElement("li");
      var who = document.createElement("strong");
      var st = document.createElement("span");
      var state = typeof s.state === "string" ? s.state : "";
      who.textContent = typeof s.agent === "string" ? s.agent : "an agent";
      st.className = "state";
      st.textContent = Object.prototype.hasOwnProperty.call(STATES, state) ? STATES[state] : state;
      li.appendChild(document.createTextNode("Session of "));
      li.appendChild(who);
      li.appendChild(document.createTextNode(": "));
      li.appendChild(st);
      if (s.requested_at) line(li, "Asked on", RSV.when(s.requested_at));
      if (s.opened_at) line(li, "Started on", RSV.when(s.opened_at));
      if (s.expires_at) line(li, state === "active" ? "Ends on" : "Ended or ends on", RSV.when(s.expires_at));
      if (state === "pending" || state === "active") live = true;
      ul.appendChild(li);
    });
    RSV.show($("no-sessions"), sessions.length === 0);
    return live;
  }

  /* The approval box: the ticket's session that waits for a decision (at
   * most one per ticket), who asks and since when, Approve and Deny. */
  function renderApproval(sessions) {
    var p = null;
    sessions.forEach(function (s) {
      if (s && s.state === "pending" && typeof s.id === "string" && ID_RE.test(s.id)) p = s;
    });
    var box = $("approval");
    pendingSid = p ? p.id : null;
    if (p) {
      var who = $("approval-who");
      clear(who);
      var name = document.createElement("strong");
      name.textContent = typeof p.agent === "string" ? p.agent : "An agent";
      who.appendChild(name);
      who.appendChild(document.createTextNode(" of the support team asked" +
        (p.requested_at ? " on " + RSV.when(p.requested_at) : "") +
        " to start a support session that can read this login."));
    }
    RSV.show(box, p !== null);
  }

  function render(b) {
    var c = b.credential || {};
    RSV.setText($("c-label"), c.label);
    RSV.setText($("c-kind"), RSV.kindName(c.kind));
    RSV.setText($("c-created"), RSV.when(c.created_at));
    RSV.setText($("c-expires"), RSV.when(c.expires_at));
    RSV.setText($("c-reads"), typeof c.read_count === "number" ? String(c.read_count)
      : String(Array.isArray(b.reads) ? b.reads.length : 0));
    renderRotate(b);
    renderReads(Array.isArray(b.reads) ? b.reads : []);
    var live = renderSessions(Array.isArray(b.sessions) ? b.sessions : []);
    renderApproval(Array.isArray(b.sessions) ? b.sessions : []);
    /* the vault keeps the newest 1,000 of each and says when it left some out */
    RSV.show($("reads-more"), b.reads_truncated === true);
    RSV.show($("sessions-more"), b.sessions_truncated === true);
    RSV.show($("refresh-note"), live);
    RSV.show($("view"), true);
    return live;
  }

  /* The rotation prompt (SPEC 8.3): "I have changed it" clears the mark
   * with POST /v1/tickets/{tid}/credentials/{cid}/rotated and the receipt. */
  var rotateIds = null;

  function renderRotate(b) {
    var c = b.credential || {};
    var on = c.rotate === true && typeof b.ticket === "string" && ID_RE.test(b.ticket) &&
      typeof c.id === "string" && ID_RE.test(c.id);
    rotateIds = on ? { ticket: b.ticket, cred: c.id } : null;
    RSV.show($("rotate"), c.rotate === true);
    RSV.show($("rotated"), on);
  }

  function markRotated() {
    var btn = $("rotated");
    if (rotateIds === null) return;
    btn.disabled = true;
    RSV.api("POST", "/v1/tickets/" + rotateIds.ticket + "/credentials/" + rotateIds.cred +
      "/rotated", "Receipt", cap).then(function (res) {
      btn.disabled = false;
      if (res.status === 200) {
        RSV.message("Thank you: the vault no longer asks you to change it.", "ok");
        load();
        return;
      }
      if (res.status === 404 || res.status === 401) {
        showGone();
        return;
      }
      RSV.message(RSV.explain(res, GONE));
    });
  }

  function showGone() {
    gone = true;
    stopTimer();
    RSV.show($("view"), false);
    RSV.message(GONE);
  }

  function load() {
    stopTimer();
    if (gone) return;
    RSV.api("GET", "/v1/receipt", "Receipt", cap).then(function (res) {
      RSV.show($("loading"), false);
      if (gone) return;
      if (res.status === 200 && res.body && res.body.credential) {
        if (render(res.body)) timer = setTimeout(load, REFRESH_MS);
        return;
      }
      if (res.status === 404 || res.status === 401) {
        showGone();
        return;
      }
      RSV.message(RSV.explain(res, GONE));
      /* a passing failure: try again later only if the page was live */
      if (!$("view").hidden && !$("refresh-note").hidden) timer = setTimeout(load, REFRESH_MS);
    });
  }

  function destroy() {
    var yes = $("destroy-yes");
    yes.disabled = true;
    RSV.api("DELETE", "/v1/receipt", "Receipt", cap).then(function (res) {
      yes.disabled = false;
      if (res.status === 204) {
        gone = true;
        stopTimer();
        RSV.message("");
        RSV.show($("view"), false);
        RSV.show($("destroyed"), true);
        $("destroyed-title").focus();
        return;
      }
      if (res.status === 404 || res.status === 401) {
        showGone();
        return;
      }
      RSV.message(RSV.explain(res, GONE));
    });
  }

  function start() {
    $("destroy").addEventListener("click", function () {
      RSV.show($("confirm"), true);
      $("destroy").setAttribute("aria-expanded", "true");
      $("confirm-text").focus();
    });
    $("destroy-no").addEventListener("click", function () {
      RSV.show($("confirm"), false);
      $("destroy").setAttribute("aria-expanded", "false");
      $("destroy").focus();
    });
    $("destroy-yes").addEventListener("click", destroy);
    $("rotated").addEventListener("click", markRotated);
    $("approve").addEventListener("click", function () { decide("approve"); });
    $("deny").addEventListener("click", function () { decide("deny"); });
    if (!cap) {
      RSV.show($("loading"), false);
      RSV.message(NO_CAP);
      return;
    }
    load();
  }

  start();
})();

// sagaboard's page glue: the few things htmx does not do by itself. The
// page's Content-Security-Policy forbids inline scripts, so it all lives
// here. Everything it shows from the server goes in as text, never as HTML.
(function () {
  "use strict";

  // Timelines are drawn both ways, in steps and to scale; the reader's
  // choice is this browser's, kept across pages and live redraws. The
  // stylesheet shows one drawing by html[data-tl].
  var TL_KEY = "sagaboard.timeline";
  function tlMode(mode) {
    if (mode !== "time") mode = "steps";
    document.documentElement.dataset.tl = mode;
    Array.prototype.forEach.call(document.querySelectorAll("[data-tl-mode]"), function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.tlMode === mode));
    });
  }
  try { tlMode(localStorage.getItem(TL_KEY)); } catch (e) { tlMode("steps"); }
  document.addEventListener("DOMContentLoaded", function () { tlMode(document.documentElement.dataset.tl); });
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("[data-tl-mode]");
    if (!b) return;
    tlMode(b.dataset.tlMode);
    try { localStorage.setItem(TL_KEY, b.dataset.tlMode); } catch (err) { /* private mode: this page only */ }
  });

  // Answers with 4xx/5xx carry the sentence to show ("seat A2 is held"),
  // so swap them like any other answer.
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "[45]..", swap: true, error: false },
  ];

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function say(target, text, ok) {
    if (!target) return;
    var p = document.createElement("p");
    p.className = "msg-line " + (ok ? "ok" : "error");
    p.textContent = (ok ? "✔ " : "✖ ") + text;
    target.replaceChildren(p);
  }

  // The token guard answers in JSON, as the API does: show its sentence.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    var type = (xhr && xhr.getResponseHeader("Content-Type")) || "";
    if (type.indexOf("application/json") !== 0) return;
    e.detail.shouldSwap = false;
    var msg = "the server refused (" + xhr.status + ")";
    try { msg = JSON.parse(xhr.responseText).error || msg; } catch (_) { /* keep the status */ }
    if (xhr.status === 401) msg += ". Enter the token at the top of the page.";
    say(e.detail.target, msg, false);
  });
  // A field the browser refuses (out of range, say) stops the request
  // before it is sent; say which field and why instead of doing nothing.
  document.addEventListener("htmx:validation:halted", function (e) {
    var d = e.detail || {};
    var first = (d.errors || [])[0];
    if (!first) return;
    var sel = d.elt && d.elt.getAttribute("hx-target");
    var name = (first.elt && (first.elt.getAttribute("aria-label") || first.elt.name)) || "a field";
    say(sel ? $(sel) : null, name + ": " + first.message, false);
  });
  document.addEventListener("htmx:sendError", function (e) {
    say(e.detail.target, "the server did not answer; is it running?", false);
  });

  // The live indicator, and reconnecting after a server restart: htmx
  // reconnects by itself on 1006 and 1011-1013, not on 1001 (going away).
  var retry = 0;
  function setLive(state, text) {
    var el = $("#ws-state");
    if (!el) return;
    el.className = "pill conn " + state;
    el.textContent = text;
  }
  // "live" waits for the first frame, the snapshot that brings a page drawn
  // a while ago up to date; until it lands the page may still be behind.
  var synced = false;
  document.addEventListener("htmx:wsOpen", function () { retry = 0; synced = false; setLive("sync", "◌ catching up…"); });
  document.addEventListener("htmx:wsClose", function (e) {
    synced = false;
    setLive("off", "○ reconnecting…");
    var code = e.detail.event && e.detail.event.code;
    if (code === 1001 || code === 1000) {
      var wrapper = e.detail.socketWrapper;
      retry = Math.min(retry + 1, 6);
      setTimeout(function () { wrapper.reconnect(); }, 500 * retry);
    }
  });

  // Keep what the person was doing across live swaps: ticked seats, open
  // payloads, and the field they are typing in (a switch row is redrawn
  // whenever any process changes a switch) survive their element being
  // redrawn.
  // The seats of this page's own booking in flight: they turn "held" under
  // the person's ticks by their own doing, which is not news.
  var booking = [];
  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = e.detail.elt;
    if (form && form.id === "booking-form") booking = $all("input[name=seats]:checked", form).map(function (i) { return i.value; });
  });
  var keep = { seats: [], open: [], field: null, rows: {} };
  document.addEventListener("htmx:wsBeforeMessage", function () {
    keep.rows = {};
    $all("#booking-list > [data-id]").forEach(function (el) { keep.rows[el.dataset.id] = true; });
    keep.seats = $all("#booking-form input[name=seats]:checked").map(function (i) { return i.value; });
    keep.open = $all("details[open][id]").map(function (d) { return d.id; });
    keep.field = null;
    var a = document.activeElement;
    if (a && a.name && a.form && a.form.id && (a.tagName === "INPUT" || a.tagName === "SELECT")) {
      keep.field = { el: a, form: a.form.id, name: a.name, type: a.type, value: a.value, edited: a.value !== a.defaultValue, start: a.selectionStart, end: a.selectionEnd };
    }
  });
  function restoreField(f) {
    if (!f || f.el.isConnected) return; // not redrawn: nothing was lost
    var form = document.getElementById(f.form);
    var el = form && $all("[name]", form).filter(function (i) { return i.name === f.name && i.type === f.type; })[0];
    if (!el) return;
    // An edit not yet sent wins over the redraw; it is sent on change.
    if (f.edited && el.type !== "checkbox") el.value = f.value;
    el.focus();
    try { if (f.start != null) el.setSelectionRange(f.start, f.end); } catch (_) { /* number inputs have no selection */ }
  }
  document.addEventListener("htmx:wsAfterMessage", function () {
    if (!synced) { synced = true; setLive("live", "● live"); }
    restoreField(keep.field);
    // Seat letters first: a frame may carry the seats that changed as one
    // letter each instead of each seat redrawn, and a ticked seat taken by
    // someone else must be disabled before the ticks are looked at.
    seatStates();
    var lost = [];
    keep.seats.forEach(function (v) {
      var i = $("#booking-form input[name=seats][value=\"" + CSS.escape(v) + "\"]");
      if (i && !i.disabled) i.checked = true;
      else if (i && booking.indexOf(v) < 0) lost.push(v);
    });
    // A seat ticked here and taken by someone else cannot stay ticked; say
    // so, rather than untick it without a word.
    if (lost.length) {
      say($("#book-msg"), (lost.length === 1 ? "Seat " + lost[0] + " was" : "Seats " + lost.join(", ") + " were") +
        " just taken by another booking, so " + (lost.length === 1 ? "it is" : "they are") + " no longer in your pick.", false);
    }
    keep.open.forEach(function (id) {
      var d = document.getElementById(id);
      if (d) d.open = true;
    });
    follow();
    tidyList();
    summarize();
  });

  // The first frame carries the seats as one letter each (f, h, s) in the
  // order the page drew them, with each status's title; set every seat
  // that differs as the server would have drawn it.
  var seatStatus = { f: "free", h: "held", s: "sold" };
  function seatStates() {
    var st = $("#seat-states");
    var letters = st && st.dataset.states;
    if (!letters) return;
    delete st.dataset.states;
    var seats = $all("#seatmap .seat");
    if (seats.length !== letters.length) return; // another venue: leave the page as drawn
    seats.forEach(function (label, i) {
      var status = seatStatus[letters.charAt(i)] || "free";
      if (label.classList.contains("seat-" + status)) return;
      var input = label.querySelector("input");
      var title = (st.getAttribute("data-title-" + status) || "").replace("{id}", input.value);
      label.className = "seat seat-" + status;
      label.title = title;
      input.setAttribute("aria-label", title);
      input.disabled = status !== "free";
      if (input.disabled) input.checked = false;
    });
  }

  // The booking just made in the form is shown beside it and followed:
  // each live redraw of its row is copied there, until it is decided and
  // its user told.
  function follow() {
    var mine = $("#mine");
    var id = mine && mine.dataset.follow;
    if (!id) return;
    var row = document.getElementById("booking-" + id);
    var into = $(".mine-row", mine);
    if (!row || !into) return;
    var copy = row.querySelector("details").cloneNode(true);
    copy.removeAttribute("id");
    $all("[id]", copy).forEach(function (el) { el.removeAttribute("id"); });
    copy.open = true;
    into.replaceChildren(copy);
    mine.dataset.status = row.dataset.status;
    if (row.dataset.status !== "pending" && $(".told.yes", row)) mine.dataset.follow = "";
  }
  document.addEventListener("click", function (e) {
    if (!e.target.closest || !e.target.closest(".mine-close")) return;
    var mine = $("#mine");
    mine.hidden = true;
    mine.dataset.follow = "";
  });

  // Live bookings arrive at the top of the list. Keep each booking once
  // (the newest copy), only those the filter and the search want, newest
  // first, and no more than the list holds. An older page stays still: it
  // updates the bookings it shows and takes no new ones.
  function tidyList() {
    var list = $("#booking-list");
    if (!list) return;
    var status = list.dataset.filterStatus || "";
    var user = list.dataset.filterUser || "";
    var q = list.dataset.q || "";
    var live = list.dataset.live !== "false";
    var limit = parseInt(list.dataset.limit, 10) || 50;
    var seen = {};
    var keepers = [];
    Array.prototype.slice.call(list.children).forEach(function (el) {
      var id = el.dataset.id;
      if (!id || seen[id] || (status && el.dataset.status !== status) || (user && el.dataset.user !== user) ||
          (q && !found(q, id, el.dataset.user)) || (!live && !keep.rows[id])) {
        el.remove();
        return;
      }
      seen[id] = true;
      keepers.push(el);
    });
    // Ids start with their creation time, so they sort like it.
    keepers.sort(function (a, b) { return a.dataset.id < b.dataset.id ? 1 : a.dataset.id > b.dataset.id ? -1 : 0; });
    keepers.forEach(function (el, i) {
      if (i >= limit) { el.remove(); return; }
      if (list.children[i] !== el) list.insertBefore(el, list.children[i] || null);
    });
    // New bookings pushed older ones off the newest page: "older" starts
    // below the last one still shown, so none is skipped.
    var older = $("#page-older");
    var last = list.lastElementChild;
    if (live && older && last && older.dataset.before !== last.dataset.id) {
      var link = older.cloneNode(true);
      link.dataset.before = last.dataset.id;
      ["href", "hx-get"].forEach(function (a) {
        var u = new URL(link.getAttribute(a), location.href);
        u.searchParams.set("before", last.dataset.id);
        link.setAttribute(a, u.pathname + u.search);
      });
      older.replaceWith(link);
      htmx.process(link);
    }
  }
  // found is the server's search (saga.Search): the id starts with q, in
  // any case, or the user is q.
  function found(q, id, user) {
    q = q.trim();
    return id.indexOf(q.toLowerCase()) === 0 || user === q;
  }

  // The Book button says what it will book.
  function summarize() {
    var form = $("#booking-form");
    var out = $("#book-summary");
    var button = $("#book-button");
    if (!form || !out || !button) return;
    var picked = $all("input[name=seats]:checked", form).map(function (i) { return i.value; });
    var price = parseInt(form.dataset.priceCents, 10) || 0;
    if (picked.length === 0) {
      button.textContent = "Book";
      out.textContent = "Pick one or more free seats (" + (price / 100).toFixed(2) + " each).";
      return;
    }
    button.textContent = "Book " + picked.join(", ");
    out.textContent = picked.length + (picked.length === 1 ? " seat, " : " seats, ") + (picked.length * price / 100).toFixed(2);
  }
  document.addEventListener("change", function (e) {
    if (e.target && e.target.name === "seats") summarize();
  });

  // A booking went through: clear the picks.
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (!form || form.id !== "booking-form") return;
    // Kept a moment longer: the seats' redraw may come after the answer.
    var mine = booking;
    setTimeout(function () { if (booking === mine) booking = []; }, 3000);
    if (!e.detail.successful) return;
    $all("input[name=seats]:checked", form).forEach(function (i) { i.checked = false; });
    summarize();
  });

  // The failure rate says its percentage while the slider moves.
  document.addEventListener("input", function (e) {
    var t = e.target;
    if (!t || t.type !== "range") return;
    var out = t.parentNode.querySelector("output");
    if (out) out.textContent = Math.round(parseFloat(t.value) * 100) + " %";
  });

  // The filter's tabs show which one is on.
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!t || t.name !== "status" || t.type !== "radio") return;
    $all("#filter .tab").forEach(function (l) { l.classList.toggle("on", l.contains(t)); });
  });

  // The load button says how many it will book.
  document.addEventListener("input", function (e) {
    var t = e.target;
    if (!t || t.name !== "n" || !t.form || t.form.id !== "load-form") return;
    var b = $("button[type=submit]", t.form);
    var n = parseInt(t.value, 10);
    if (b) b.textContent = n > 0 ? "Book " + n + " random" : "Book random";
  });

  // "waiting … for 12 s" keeps counting between redraws: a booking stuck
  // behind a paused step changes nothing on the server, yet visibly ages.
  function age(ms) {
    var s = Math.floor(ms / 1000);
    if (s < 1) return "<1 s";
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }
  function tick() {
    var now = Date.now();
    $all(".since[data-since]").forEach(function (el) {
      var t = Date.parse(el.dataset.since);
      if (!isNaN(t)) el.textContent = age(Math.max(0, now - t));
    });
    // "next try in 3 s" counts down to its time, then says it is due.
    $all(".until[data-until]").forEach(function (el) {
      var t = Date.parse(el.dataset.until);
      if (!isNaN(t)) el.textContent = t > now ? "in " + age(t - now) : "due now";
    });
  }
  setInterval(tick, 1000);

  // Going back in time: the scrubber sets the dashboard to a moment of the
  // observer's record, drawn by GET /ui/history in place of the live
  // panels; Play replays from there at 1×, 4× or 16× until it reaches now,
  // where the page is live again. The live panels keep updating, hidden.
  var hist = { from: 0, skew: 0, at: 0, timer: 0, busy: false, next: 0 };
  function histNow() { return Date.now() + hist.skew; }
  function histRange() {
    return fetch("/api/history/range", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        var from = Date.parse(j.from), to = Date.parse(j.to);
        if (!isNaN(to)) hist.skew = to - Date.now();
        if (!isNaN(from)) hist.from = from;
      }, function () { /* the scrubber spans what it knew */ });
  }
  function histSay(text) { var s = $("#history-status"); if (s) s.textContent = text; }
  function histThen() { var h = $("#history"); return h && h.dataset.state === "then"; }
  function histShow(at) {
    var h = $("#history");
    if (!h) return;
    hist.at = at;
    document.body.classList.add("then");
    h.dataset.state = "then";
    $("#history-live").setAttribute("aria-pressed", "false");
    var scrub = $("#history-scrub"), span = histNow() - hist.from;
    if (scrub && span > 0 && document.activeElement !== scrub) scrub.value = String(Math.round(1000 * (at - hist.from) / span));
    var input = $("#history-at");
    if (input && document.activeElement !== input) input.value = new Date(at).toISOString();
    if (hist.busy) { hist.next = at; return; }
    hist.busy = true;
    htmx.ajax("GET", "/ui/history?at=" + encodeURIComponent(new Date(at).toISOString()), { target: "#history-then", swap: "innerHTML" })
      .then(function () {
        hist.busy = false;
        if (!histThen()) { $("#history-then").replaceChildren(); return; }
        var m = $("#moment");
        if (m) {
          hist.from = Date.parse(m.dataset.from) || hist.from;
          // The server bounds a moment to its record: replay from there.
          if (!hist.timer) hist.at = Date.parse(m.dataset.at) || hist.at;
          histSay((hist.timer ? "replaying: " : "") + "the saga at " + m.dataset.at.replace("T", " ").replace("Z", " UTC"));
        }
        if (hist.next) { var n = hist.next; hist.next = 0; histShow(n); }
      }, function () { hist.busy = false; histSay("could not reach the server"); });
  }
  function histStop() {
    clearInterval(hist.timer);
    hist.timer = 0;
    var b = $("#history-play");
    if (b) b.textContent = "▶ Play";
  }
  function histLive() {
    histStop();
    hist.next = 0;
    var h = $("#history");
    if (!h) return;
    document.body.classList.remove("then");
    h.dataset.state = "live";
    $("#history-live").setAttribute("aria-pressed", "true");
    $("#history-then").replaceChildren();
    $("#history-scrub").value = "1000";
    $("#history-at").value = "";
    histSay("live");
  }
  function histPlay() {
    if (!histThen()) return;
    histStop();
    var speed = parseInt($("#history-speed").value, 10) || 1;
    var t0 = Date.now(), at0 = Math.max(hist.at, hist.from);
    $("#history-play").textContent = "❚❚ Pause";
    histSay("replaying at " + speed + "×…");
    hist.timer = setInterval(function () {
      var at = at0 + (Date.now() - t0) * speed;
      if (at >= histNow()) { histLive(); return; }
      histShow(at);
    }, 250);
  }
  document.addEventListener("input", function (e) {
    if (!e.target || e.target.id !== "history-scrub") return;
    var v = parseInt(e.target.value, 10);
    histStop();
    var go = function () {
      if (v >= 1000) { histLive(); return; }
      histShow(hist.from + (histNow() - hist.from) * v / 1000);
    };
    if (hist.from) go(); else histRange().then(go);
  });
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!t) return;
    if (t.id === "history-at") {
      var raw = t.value.trim();
      if (raw === "") { histLive(); return; }
      var at = Date.parse(raw);
      if (isNaN(at)) { histSay("“" + raw.slice(0, 40) + "” is not a moment; use RFC 3339, such as 2026-11-29T22:30:00Z"); return; }
      histStop();
      var go = function () { histShow(at); };
      if (hist.from) go(); else histRange().then(go);
    } else if (t.id === "history-speed" && hist.timer) {
      histPlay();
    }
  });
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("#history-live, #history-play");
    if (!b) return;
    if (b.id === "history-live") histLive();
    else if (hist.timer) histStop();
    else histPlay();
  });

  // A link may carry the moment, ?at=<RFC 3339>, or a booking's step,
  // ?step=n, so a moment can be shared.
  document.addEventListener("DOMContentLoaded", function () {
    var q = new URLSearchParams(location.search);
    var at = Date.parse(q.get("at") || "");
    if ($("#history") && !isNaN(at)) histRange().then(function () { histShow(at); });
    var root = $(".stepper"), n = parseInt(q.get("step") || "", 10);
    if (root && n > 0) { stepAt = n; stepTo(root, n); }
  });

  // A booking's stepper shows one message at a time; the reader's place
  // is kept across the page's live redraws.
  var stepAt = 0;
  function stepTo(root, n) {
    var steps = $all(".st-step", root);
    if (steps.length === 0) return;
    n = Math.max(1, Math.min(steps.length, n || steps.length));
    steps.forEach(function (li) { li.hidden = li.dataset.step !== String(n); });
    $(".st-scrub", root).value = String(n);
    $(".st-pos", root).textContent = n + " / " + steps.length;
  }
  document.addEventListener("input", function (e) {
    if (!e.target || !e.target.classList || !e.target.classList.contains("st-scrub")) return;
    stepAt = parseInt(e.target.value, 10);
    stepTo(e.target.closest(".stepper"), stepAt);
  });
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest(".st-prev, .st-next");
    if (!b) return;
    var root = b.closest(".stepper");
    stepAt = parseInt($(".st-scrub", root).value, 10) + (b.classList.contains("st-next") ? 1 : -1);
    stepTo(root, stepAt);
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    var root = $(".stepper");
    if (root && stepAt) stepTo(root, stepAt);
  });

  document.addEventListener("DOMContentLoaded", summarize);
})();

/* Agent dashboard: REST API (/api/v1) + socket.io namespace /agent, and the admins' settings.
 * Customer text and everything else users typed is only ever set with textContent: never as HTML. */
(function () {
  "use strict";
  var TOKEN_KEY = "helpdesk.agent.token";
  var state = { token: sessionStorage.getItem(TOKEN_KEY), me: null, tab: "queued", items: new Map(),
    current: null, detail: null, socket: null, sound: true, agents: [], teams: [], canned: [], typingTimer: null,
    section: "agents", editing: null, hoursSeq: 0 };
  var $ = function (id) { return document.getElementById(id); };

  /* --- helpers ---------------------------------------------------------------------------- */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "class") el.className = attrs[k]; else if (k === "text") el.textContent = attrs[k];
      else if (k.indexOf("data-") === 0 || k.indexOf("aria-") === 0) el.setAttribute(k, attrs[k]); else el[k] = attrs[k];
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child == null) continue;
      el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return el;
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
  /* The API answers errors with {"error": {"code", "message"}}; anything else (a proxy's HTML page, no
   * connection) still becomes a readable message. */
  function errorMessage(data, r) {
    var err = data && data.error;
    if (err && typeof err === "object" && err.message) return String(err.message);
    if (typeof err === "string" && err) return err;
    if (data && typeof data.message === "string" && data.message) return data.message;
    return "The server answered " + r.status + (r.statusText ? " " + r.statusText : "") + ".";
  }
  function readJson(r) {
    return r.text().then(function (raw) {
      var data = null;
      try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
      if (!r.ok) throw new Error(errorMessage(data, r));
      return data;
    });
  }
  function unreachable() { throw new Error("Cannot reach the server: check the connection and try again."); }
  function api(method, path, body) {
    var opts = { method: method, headers: { "Authorization": "Bearer " + state.token } };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch("/api/v1" + path, opts).then(function (r) {
      if (r.status === 401 && path !== "/auth/login") { logout(); throw new Error("Please sign in again."); }
      if (r.status === 204) return null;
      return readJson(r);
    }, unreachable);
  }
  function duration(seconds) {
    if (seconds == null || isNaN(seconds)) return "–";
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + "s";
    if (seconds < 3600) return Math.floor(seconds / 60) + "m " + (seconds % 60) + "s";
    return Math.floor(seconds / 3600) + "h " + Math.floor((seconds % 3600) / 60) + "m";
  }
  function since(iso) { return iso ? (Date.now() - Date.parse(iso)) / 1000 : null; }
  function percent(x) { return x == null ? "–" : Math.round(x * 100) + "%"; }
  function toast(text) {
    var el = $("toast"); el.textContent = text; el.hidden = false;
    clearTimeout(toast.timer); toast.timer = setTimeout(function () { el.hidden = true; }, 4000);
  }
  var CHANNEL_ICONS = { widget: "💬", rest: "🔌", socketio: "🔌", slack: "#", email: "✉", console: "⌨" };
  var CHANNEL_NAMES = { widget: "Website", rest: "REST", socketio: "Socket.IO", slack: "Slack", email: "Email", console: "Console" };
  function customerName(item) {
    // a name people can say: the identified name or email, else "Visitor 4821" (from the visitor's id)
    var c = item.customer || {};
    var icon = CHANNEL_ICONS[item.channel] || "•";
    if (c.name || c.email) return icon + " " + (c.name || c.email);
    var hex = String(c.external_id || "").replace(/[^0-9a-f]/gi, "").slice(-4);
    var number = hex ? (parseInt(hex, 16) % 10000) : item.conversation_id;
    return icon + " Visitor " + number;
  }

  /* --- sound and visual alert ------------------------------------------------------------- */
  var audio = null;
  function beep() {
    if (!state.sound) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.08;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.18);
    } catch (e) { /* no audio available */ }
  }
  function alertNew(data) {
    beep();
    var item = state.items.get(data.conversation_id);
    toast((data.type === "escalated" ? "Escalated: " : "Waiting: ") + (item ? customerName(item) : "a conversation"));
    document.title = "(!) Agent inbox · Helpdesk";
    var row = document.querySelector('[data-cid="' + data.conversation_id + '"]');
    if (row) { row.classList.remove("fresh"); void row.offsetWidth; row.classList.add("fresh"); }
  }
  window.addEventListener("focus", function () { document.title = "Agent inbox · Helpdesk"; });

  /* --- login ------------------------------------------------------------------------------ */
  function showLogin() { $("app").hidden = true; $("login").hidden = false; $("login-email").focus(); }
  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("login-error").textContent = "";
    fetch("/api/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: $("login-email").value, password: $("login-password").value }) })
      .then(readJson, unreachable)
      .then(function (data) { state.token = data.token; sessionStorage.setItem(TOKEN_KEY, data.token); start(); })
      .catch(function (e) { $("login-error").textContent = e.message; });
  });
  function logout() {
    if (state.token) fetch("/api/v1/auth/logout", { method: "POST", headers: { "Authorization": "Bearer " + state.token } });
    sessionStorage.removeItem(TOKEN_KEY); state.token = null;
    if (state.socket) state.socket.disconnect();
    showSettings(false);
    showLogin();
  }
  $("logout").addEventListener("click", logout);

  /* --- start ------------------------------------------------------------------------------ */
  function start() {
    if (!state.token) return showLogin();
    api("GET", "/agents/me").then(function (me) {
      state.me = me;
      $("login").hidden = true; $("app").hidden = false;
      $("me-name").textContent = me.name + (me.role === "admin" ? " (admin)" : "");
      $("open-settings").hidden = me.role !== "admin"; showSettings(false);
      $("presence").value = me.status === "away" ? "away" : "online";  // an agent who was away stays away
      connect(); loadTab(); loadLists(); loadStats();
      setInterval(loadStats, 30000); setInterval(tick, 1000);
    }).catch(function () { showLogin(); });
  }
  function connect() {
    var socket = io("/agent", { auth: { token: state.token, status: $("presence").value }, transports: ["websocket"] });
    state.socket = socket;
    socket.on("connect", function () {
      $("connection").className = "dot online";
      if (state.current) socket.emit("join", { conversation_id: state.current });
    });
    socket.on("disconnect", function () { $("connection").className = "dot offline"; });
    socket.on("connect_error", function (err) {
      $("connection").className = "dot offline";
      if (err && err.data && err.data.code === "unauthorized") logout();
    });
    socket.on("conversation", function (data) {
      upsert(data.item);
      if (data.item.conversation_id === state.current) openConversation(state.current, true);
      if (data.alert) alertNew({ type: data.type, conversation_id: data.item.conversation_id });
      loadStats();
    });
    socket.on("message", onMessage);
    socket.on("note", function (note) { if (note.conversation_id === state.current) addNote(note); });
    socket.on("status", function (data) {
      var item = state.items.get(data.conversation_id);
      if (item && item.status !== data.status) { item.status = data.status; renderList(); }
    });
    socket.on("typing", onTyping);
    socket.on("agent", function (agent) { if (state.me && agent.id === state.me.id) $("presence").value = agent.status; loadStats(); });
    setInterval(function () { if (socket.connected) socket.emit("heartbeat", {}); }, 25000);
  }
  $("presence").addEventListener("change", function () {
    api("PATCH", "/agents/me", { status: $("presence").value }).catch(function (e) { toast(e.message); });
  });
  $("sound").addEventListener("click", function () {
    state.sound = !state.sound; this.setAttribute("aria-pressed", String(state.sound)); this.textContent = state.sound ? "Sound on" : "Sound off";
  });

  /* --- inbox ------------------------------------------------------------------------------ */
  var TABS = {
    queued: function (i) { return i.status === "queued"; },
    mine: function (i) { return i.status === "assigned" && i.assignee && state.me && i.assignee.id === state.me.id; },
    open: function (i) { return i.status === "queued" || i.status === "assigned"; },
    bot: function (i) { return i.status === "bot"; },
    resolved: function (i) { return i.status === "resolved"; }
  };
  document.querySelectorAll(".inbox .tab").forEach(function (tab) {
    tab.addEventListener("click", function () {
      document.querySelectorAll(".inbox .tab").forEach(function (t) { t.classList.remove("active"); });
      tab.classList.add("active"); state.tab = tab.getAttribute("data-tab"); loadTab();
    });
  });
  function loadTab() {
    var status = state.tab;
    var load = function (s) { return api("GET", "/conversations?status=" + s).then(function (d) { d.items.forEach(upsertQuiet); }); };
    Promise.all([load(status), status === "queued" ? Promise.resolve() : load("queued"), load("mine")])
      .then(renderList).catch(function (e) { toast(e.message); });
  }
  function upsertQuiet(item) {
    var old = state.items.get(item.conversation_id);
    if (old && item.last_handoff === undefined && old.last_handoff) item.last_handoff = old.last_handoff;
    state.items.set(item.conversation_id, item);
  }
  function upsert(item) { upsertQuiet(item); renderList(); }
  function sortItems(items) {
    var rank = { urgent: 3, high: 2, normal: 1, low: 0 };
    return items.sort(function (a, b) {
      if (a.status === "queued" && b.status === "queued") {
        var p = (rank[b.priority] || 0) - (rank[a.priority] || 0);
        return p || Date.parse(a.waiting_since) - Date.parse(b.waiting_since);
      }
      return Date.parse(b.updated_at || 0) - Date.parse(a.updated_at || 0);
    });
  }
  function renderList() {
    var list = $("items"); clear(list);
    var all = Array.from(state.items.values());
    var shown = sortItems(all.filter(TABS[state.tab]));
    $("count-queued").textContent = all.filter(TABS.queued).length;
    $("count-mine").textContent = all.filter(TABS.mine).length;
    $("empty").hidden = shown.length > 0;
    shown.forEach(function (item) {
      var last = item.last_message ? item.last_message.text || "" : "";
      var badge = item.status === "queued" && item.priority && item.priority !== "normal"
        ? h("span", { class: "badge " + item.priority, text: item.priority }) : null;
      var urgency = item.status === "queued" && item.priority ? " priority-" + item.priority : "";
      var row = h("li", { class: "item" + urgency + (item.conversation_id === state.current ? " selected" : ""), "data-cid": item.conversation_id, title: last },
        h("div", { class: "row" }, h("span", { class: "name", text: customerName(item) }),
          h("span", { class: "wait", "data-since": item.status === "queued" ? item.waiting_since || "" : "",
            text: item.status === "queued" ? duration(since(item.waiting_since)) : (item.assignee ? item.assignee.name : item.status) })),
        h("div", { class: "row" }, h("span", { class: "preview", text: last }), badge),
        item.team ? h("span", { class: "muted small", text: item.team }) : null);
      row.addEventListener("click", function () { openConversation(item.conversation_id); });
      list.appendChild(row);
    });
  }
  function tick() {
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var s = el.getAttribute("data-since"); if (s) el.textContent = duration(since(s));
    });
    if (state.detail && state.detail.status === "queued") $("conv-meta").textContent = meta(state.detail);
  }

  /* --- conversation ----------------------------------------------------------------------- */
  function openConversation(cid, refresh) {
    if (!refresh && state.current && state.current !== cid && state.socket) state.socket.emit("leave", { conversation_id: state.current });
    state.current = cid;
    if (!refresh && state.socket) state.socket.emit("join", { conversation_id: cid });
    api("GET", "/conversations/" + cid).then(function (d) {
      if (state.current !== cid) return;
      state.detail = d; upsertQuiet(withoutDetails(d)); renderList(); renderConversation(d);
    }).catch(function (e) { toast(e.message); });
  }
  function withoutDetails(d) {
    var item = Object.assign({}, d); delete item.messages; delete item.notes; delete item.slots; delete item.flows; return item;
  }
  function meta(d) {
    var parts = [d.channel];
    if (d.team) parts.push("team " + d.team);
    if (d.priority) parts.push(d.priority + " priority");
    if (d.status === "queued") parts.push("waiting " + duration(since(d.waiting_since)) + (d.position ? " · #" + d.position + " in line" : ""));
    if (d.assignee) parts.push("with " + d.assignee.name);
    return parts.join(" · ");
  }
  function renderConversation(d) {
    $("placeholder").hidden = true; $("view").hidden = false; $("details").hidden = false;
    var mailed = d.messages.filter(function (m) { return m.email; });
    var subject = mailed.length ? mailed[0].email.subject : null;
    $("conv-title").textContent = subject || customerName(d);  // an email conversation: its subject
    $("conv-status").textContent = d.status; $("conv-status").className = "badge " + d.status;
    $("conv-channel").textContent = (CHANNEL_ICONS[d.channel] || "•") + " " + (CHANNEL_NAMES[d.channel] || d.channel);
    $("conv-meta").textContent = meta(d);
    $("summary").hidden = !d.summary; $("summary-text").textContent = d.summary || "";
    var mine = d.assignee && state.me && d.assignee.id === state.me.id;
    $("act-claim").textContent = d.status === "bot" || d.status === "resolved" ? "Take over" : "Claim";
    $("act-claim").hidden = !!mine;  // one's own conversation has nothing to claim
    $("act-claim").disabled = d.status === "assigned" && !(state.me.role === "admin");
    $("act-release").disabled = !(d.status === "queued" || d.status === "assigned");
    $("act-transfer").disabled = !(d.status === "queued" || d.status === "assigned");
    $("act-resolve").disabled = d.status === "resolved";
    var list = $("messages"); clear(list);
    d.messages.forEach(function (m) { list.appendChild(messageEl(m)); });
    list.scrollTop = list.scrollHeight;
    var sender = mailed.length ? mailed[mailed.length - 1].email.from : null;
    var profile = d.customer_profile || {};
    dl($("customer"), d.customer ? { Name: d.customer.name || (sender && sender.name), "Real name": profile.real_name !== d.customer.name ? profile.real_name : null, Email: d.customer.email || (sender && sender.address), Channel: d.channel, Id: d.customer.external_id } : { Channel: d.channel, Email: sender && sender.address });
    showAvatar(profile.avatar);
    var lh = d.last_handoff || {};
    dl($("handoff"), { Status: d.status, Reason: d.reason || lh.reason, Team: d.team || lh.team, Priority: d.priority,
      Waiting: d.waiting_since ? new Date(d.waiting_since).toLocaleString() : null, Flows: (d.flows || []).filter(function (f) { return f.indexOf("pattern_") !== 0; }).join(", ") });
    dl($("slots"), d.slots || {});
    var notes = $("notes"); clear(notes); d.notes.forEach(addNote);
    renderTransferOptions();
  }
  function showAvatar(url) {
    // the server passes Slack's image hosts only; still, nothing but an https URL becomes a src
    var img = $("customer-avatar"), safe = typeof url === "string" && /^https:\/\/[^\s"'<>]+$/.test(url);
    if (safe) img.src = url; else img.removeAttribute("src");
    img.hidden = !safe;
  }
  function dl(el, pairs) {
    clear(el);
    Object.keys(pairs).forEach(function (k) {
      var v = pairs[k]; if (v == null || v === "") return;
      el.appendChild(h("dt", { text: k })); el.appendChild(h("dd", { text: typeof v === "object" ? JSON.stringify(v) : String(v) }));
    });
  }
  function messageEl(m) {
    var who = m.role === "agent" ? (m.author ? m.author.name : "Agent") : m.role === "bot" ? "Assistant" : m.role === "customer" ? "Customer" : "";
    var el = h("li", { class: "msg " + m.role, "data-seq": m.seq || "" }, who ? h("div", { class: "who", text: who }) : null,
      h("div", { class: "body", text: m.text || "" }));
    if (m.email) el.appendChild(emailParts(m));
    (m.attachments || []).forEach(function (a) {
      var link = h("a", { href: "#", text: "📎 " + (a.name || "file") });
      link.addEventListener("click", function (ev) { ev.preventDefault(); download(a); });
      el.appendChild(h("div", {}, link));
    });
    return el;
  }
  // an email: who wrote it, the quoted history collapsed, files not kept, the raw message as text
  function emailParts(m) {
    var e = m.email, box = h("div", { class: "email" });
    if (e.from) box.appendChild(h("div", { class: "who", text: (e.from.name ? e.from.name + " <" + e.from.address + ">" : e.from.address) + (e.no_reply ? " · " + e.no_reply.replace("_", " ") : "") }));
    if (e.quoted && e.full_text) {
      var details = h("details", {}, h("summary", { text: "Show quoted text" }));
      details.appendChild(h("pre", { class: "quoted", text: e.full_text }));
      box.appendChild(details);
    }
    (e.skipped_attachments || []).forEach(function (s) { box.appendChild(h("div", { class: "who", text: "📎 " + s.name + " (not kept: " + s.reason.replace("_", " ") + ")" })); });
    var original = h("a", { href: "#", text: "View original", class: "view-original" });
    original.addEventListener("click", function (ev) { ev.preventDefault(); viewOriginal(m); });
    box.appendChild(original);
    return box;
  }
  function viewOriginal(m) {  // served as text/plain in a sandbox: shown, never rendered or run
    fetch("/email/messages/" + encodeURIComponent(m.id) + "/original", { headers: { "Authorization": "Bearer " + state.token } })
      .then(function (r) { if (!r.ok) throw new Error("Cannot open the original"); return r.text(); })
      .then(function (text) { window.open(URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" })), "_blank", "noopener"); })
      .catch(function (e) { toast(e.message); });
  }
  function download(a) {
    fetch("/widget/attachments/" + encodeURIComponent(a.id), { headers: { "Authorization": "Bearer " + state.token } })
      .then(function (r) { if (!r.ok) throw new Error("Cannot open the file"); return r.blob(); })
      .then(function (blob) { window.open(URL.createObjectURL(blob), "_blank", "noopener"); })
      .catch(function (e) { toast(e.message); });
  }
  function addNote(note) {
    if (note.kind === "summary") {  // shown once, in the banner above the transcript
      if (state.detail) { $("summary").hidden = false; $("summary-text").textContent = note.text; }
      return;
    }
    $("notes").appendChild(h("li", {}, h("div", { class: "who", text: (note.kind === "summary" ? "Summary" : note.author ? note.author.name : "System") + " · " + new Date(note.created_at).toLocaleTimeString() }),
      h("div", { text: note.text })));
    if (note.kind === "summary" && state.detail) { $("summary").hidden = false; $("summary-text").textContent = note.text; }
  }
  function onMessage(m) {
    var item = state.items.get(m.conversation_id);
    if (item) { item.last_message = { role: m.role, text: m.text, created_at: m.created_at }; item.updated_at = m.created_at; renderList(); }
    if (m.conversation_id !== state.current) return;
    var list = $("messages");
    if (list.querySelector('[data-seq="' + m.seq + '"]')) return;
    // Events from different turns can cross on the way: a message goes before the first later seq.
    var later = Array.prototype.find.call(list.children, function (el) {
      return el.dataset.seq && m.seq && Number(el.dataset.seq) > m.seq;
    });
    list.insertBefore(messageEl(m), later || null); list.scrollTop = list.scrollHeight;
    if (m.role === "customer") $("typing").hidden = true;
  }
  function onTyping(t) {
    if (t.conversation_id !== state.current || (t.role === "agent" && t.agent_id === (state.me && state.me.id))) return;
    var el = $("typing");
    el.textContent = (t.role === "customer" ? "Customer" : (t.author ? t.author.name : "Someone")) + " is typing…";
    el.hidden = !t.typing;
    clearTimeout(onTyping.timer); onTyping.timer = setTimeout(function () { el.hidden = true; }, 6000);
  }

  /* --- actions ---------------------------------------------------------------------------- */
  function act(path, body) {
    var cid = state.current;
    return api("POST", "/conversations/" + cid + path, body).then(function (item) {
      if (item && item.conversation_id) upsert(item);
      openConversation(cid, true);
    }).catch(function (e) { toast(e.message); });
  }
  $("act-claim").addEventListener("click", function () { act("/claim"); });
  $("act-release").addEventListener("click", function () { act("/release", {}); });
  $("act-resolve").addEventListener("click", function () { act("/resolve"); });
  $("act-transfer").addEventListener("click", function () {
    var value = $("transfer-to").value; if (!value) return toast("Choose an agent or a team");
    var kind = value.split(":")[0], id = value.slice(kind.length + 1);
    act("/transfer", kind === "agent" ? { agent_id: Number(id) } : { team: id });
  });
  function loadLists() {
    var failed = function (what) { return function (e) { toast("Could not load " + what + ": " + e.message); }; };
    api("GET", "/agents").then(function (d) { state.agents = d.items; renderTransferOptions(); }).catch(failed("the agents"));
    api("GET", "/teams").then(function (d) { state.teams = d.items; renderTransferOptions(); }).catch(failed("the teams"));
    api("GET", "/canned-responses").then(function (d) { state.canned = d.items; renderCannedOptions(); })
      .catch(failed("the canned responses"));
  }
  function renderCannedOptions() {
    var sel = $("canned"); clear(sel); sel.appendChild(h("option", { value: "", text: "Canned responses…" }));
    state.canned.forEach(function (c) { sel.appendChild(h("option", { value: c.shortcut, text: "/" + c.shortcut })); });
  }
  function renderTransferOptions() {
    var sel = $("transfer-to"); clear(sel); sel.appendChild(h("option", { value: "", text: "Transfer to…" }));
    state.agents.filter(function (a) { return !state.me || a.id !== state.me.id; }).forEach(function (a) {
      sel.appendChild(h("option", { value: "agent:" + a.id, text: a.name + " (" + a.status + ", " + a.load + "/" + a.capacity + ")" }));
    });
    state.teams.forEach(function (t) { sel.appendChild(h("option", { value: "team:" + t.name, text: "Team " + t.name })); });
  }
  $("canned").addEventListener("change", function () {
    var c = state.canned.find(function (x) { return x.shortcut === this.value; }, this);
    if (c) { $("text").value = c.text; $("text").focus(); } this.value = "";
  });
  document.querySelectorAll('input[name="mode"]').forEach(function (r) {
    r.addEventListener("change", function () { $("composer").classList.toggle("note", r.value === "note" && r.checked); });
  });
  function expandCanned(text) {
    var m = /^\/(\S+)$/.exec(text.trim());
    if (!m) return text;
    var c = state.canned.find(function (x) { return x.shortcut === m[1]; });
    return c ? c.text : text;
  }
  $("text").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("composer").requestSubmit(); }
  });
  $("text").addEventListener("input", function () {
    if (!state.socket || !state.current || document.querySelector('input[name="mode"]:checked').value === "note") return;
    if (!state.typingTimer) state.socket.emit("typing", { conversation_id: state.current, typing: true });
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(function () {
      state.typingTimer = null; if (state.current) state.socket.emit("typing", { conversation_id: state.current, typing: false });
    }, 2500);
  });
  $("composer").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = expandCanned($("text").value);
    if (!text.trim()) return;
    var internal = document.querySelector('input[name="mode"]:checked').value === "note";
    $("composer-error").textContent = "";
    api("POST", "/conversations/" + state.current + "/messages", { text: text, internal: internal })
      .then(function () { $("text").value = ""; if (!internal) openConversation(state.current, true); })
      .catch(function (e) { $("composer-error").textContent = e.message; });
  });

  /* --- settings (admins only; the API answers 403 to everyone else) ------------------------ */
  var DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  function isAdmin() { return !!(state.me && state.me.role === "admin"); }
  function showSettings(open) {
    open = !!open && isAdmin();
    $("app").classList.toggle("settings-open", open);
    $("settings").hidden = !open;
    $("open-settings").setAttribute("aria-pressed", String(open));
    $("open-settings").textContent = open ? "Back to inbox" : "Settings";
    if (open) loadSettings();
  }
  $("open-settings").addEventListener("click", function () { showSettings($("settings").hidden); });
  document.querySelectorAll(".settings-tabs .tab").forEach(function (tab) {
    tab.addEventListener("click", function () { showSection(tab.getAttribute("data-section")); });
  });
  function showSection(name) {
    state.section = name;
    document.querySelectorAll(".settings-tabs .tab").forEach(function (t) {
      t.classList.toggle("active", t.getAttribute("data-section") === name);
    });
    document.querySelectorAll(".settings-body > section").forEach(function (s) { s.hidden = s.getAttribute("data-section") !== name; });
  }
  /* Run a request with the button disabled; errors go to `errorEl` (never swallowed). */
  function submitting(button, errorEl, promise) {
    button.disabled = true; errorEl.textContent = "";
    return promise.then(function (result) { button.disabled = false; return result; },
      function (e) { button.disabled = false; errorEl.textContent = e.message; throw e; });
  }
  function ignore() { /* the error is already on the page */ }
  function loadSettings() {
    $("settings-error").textContent = "";
    Promise.all([api("GET", "/agents"), api("GET", "/teams"), api("GET", "/canned-responses")]).then(function (d) {
      state.agents = d[0].items; state.teams = d[1].items; state.canned = d[2].items;
      renderAgents(); renderTeams(); renderCanned(); renderCannedOptions(); renderTransferOptions(); loadHours();
    }).catch(function (e) { $("settings-error").textContent = "Could not load the settings: " + e.message; });
  }
  function byName(a, b) { return a.name.localeCompare(b.name); }

  /* agents */
  function teamPicker(box, selected) {
    clear(box);
    state.teams.forEach(function (t) {
      box.appendChild(h("label", { class: "check" },
        h("input", { type: "checkbox", value: t.name, checked: selected.indexOf(t.name) >= 0 }), t.name));
    });
    selected.filter(function (name) { return !state.teams.some(function (t) { return t.name === name; }); })
      .forEach(function (name) {  // a team this page does not list yet is kept, not silently dropped
        box.appendChild(h("label", { class: "check" }, h("input", { type: "checkbox", value: name, checked: true }), name));
      });
    if (!box.firstChild) box.appendChild(h("span", { class: "muted small", text: "No teams yet." }));
    return box;
  }
  function pickedTeams(box) {
    return Array.from(box.querySelectorAll("input:checked")).map(function (cb) { return cb.value; });
  }
  /* a number input: "" → `empty`; something that is not a number → null, which the API rejects by name */
  function numberValue(input, empty) {
    if (input.validity && input.validity.badInput) return null;
    return input.value.trim() === "" ? empty : Number(input.value);
  }
  function statusCell(a) {
    return h("td", { class: "nowrap" }, h("span", { class: "dot " + a.status }), " " + a.status +
      (a.load ? " · " + a.load + " open" : ""));
  }
  function renderAgents() {
    var body = $("agents-rows"); clear(body);
    state.agents.forEach(function (a) { body.appendChild(state.editing === a.id ? agentEditRow(a) : agentRow(a)); });
    teamPicker($("agent-teams"), pickedTeams($("agent-teams")));
  }
  function agentRow(a) {
    var edit = h("button", { type: "button", text: "Edit", "aria-label": "Edit " + a.name });
    edit.addEventListener("click", function () { state.editing = a.id; $("agents-error").textContent = ""; renderAgents(); });
    return h("tr", { "data-agent-id": a.id },
      h("td", { class: "strong", text: a.name }), h("td", { text: a.email }),
      h("td", {}, h("span", { class: "badge " + (a.role === "admin" ? "admin" : ""), text: a.role })),
      h("td", { text: (a.teams || []).join(", ") || "–" }), h("td", { class: "num", text: String(a.capacity) }),
      statusCell(a), h("td", { class: "row-actions" }, edit));
  }
  function agentEditRow(a) {
    var name = h("input", { type: "text", value: a.name, class: "edit-name", "aria-label": "Name", autocomplete: "off" });
    var role = h("select", { class: "edit-role", "aria-label": "Role" },
      h("option", { value: "agent", text: "agent" }), h("option", { value: "admin", text: "admin" }));
    role.value = a.role;
    var teams = teamPicker(h("div", { class: "team-pick edit-teams" }), a.teams || []);
    var capacity = h("input", { type: "number", min: 0, max: 100, step: 1, value: String(a.capacity), class: "edit-capacity",
      "aria-label": "Capacity" });
    var save = h("button", { type: "button", class: "primary", text: "Save" });
    var cancel = h("button", { type: "button", text: "Cancel" });
    /* no Deactivate on your own row: it would end your session, and the API refuses it for the last admin */
    var self = state.me && a.id === state.me.id;
    var deactivate = self ? null : h("button", { type: "button", class: "danger", text: "Deactivate",
      "aria-label": "Deactivate " + a.name });
    save.addEventListener("click", function () {
      var patch = { name: name.value, role: role.value, teams: pickedTeams(teams), capacity: numberValue(capacity, null) };
      submitting(save, $("agents-error"), api("PATCH", "/agents/" + a.id, patch)).then(function (updated) {
        state.editing = null;
        state.agents = state.agents.map(function (x) { return x.id === updated.id ? updated : x; }).sort(byName);
        renderAgents(); renderTeams(); renderTransferOptions(); toast("Saved " + updated.name);
        if (state.me && updated.id === state.me.id) selfChanged(updated);
      }).catch(function (e) { $("agents-error").textContent = "Could not save " + a.name + ": " + e.message; });
    });
    name.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { ev.preventDefault(); save.click(); }
      else if (ev.key === "Escape") cancel.click();
    });
    if (deactivate) deactivate.addEventListener("click", function () {
      if (!window.confirm("Deactivate " + a.name + "? They can no longer sign in, and their open conversations go back to the queue.")) return;
      save.disabled = true;
      submitting(deactivate, $("agents-error"), api("PATCH", "/agents/" + a.id, { active: false })).then(function () {
        state.editing = null;
        state.agents = state.agents.filter(function (x) { return x.id !== a.id; });
        renderAgents(); renderTeams(); renderTransferOptions(); toast("Deactivated " + a.name);
      }).catch(function (e) {
        save.disabled = false;
        $("agents-error").textContent = "Could not deactivate " + a.name + ": " + e.message;
      });
    });
    cancel.addEventListener("click", function () { state.editing = null; $("agents-error").textContent = ""; renderAgents(); });
    return h("tr", { class: "editing", "data-agent-id": a.id },
      h("td", {}, name), h("td", { text: a.email }), h("td", {}, role), h("td", {}, teams),
      h("td", {}, capacity), statusCell(a), h("td", { class: "row-actions" }, save, cancel, deactivate));
  }
  function selfChanged(me) {
    state.me = Object.assign({}, state.me, me);
    $("me-name").textContent = me.name + (me.role === "admin" ? " (admin)" : "");
    if (me.role !== "admin") { showSettings(false); $("open-settings").hidden = true; toast("You are no longer an admin."); }
  }
  $("agent-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = this, button = form.querySelector("button[type=submit]");
    var data = { email: $("agent-email").value.trim(), name: $("agent-name").value, password: $("agent-password").value,
      role: $("agent-role").value, teams: pickedTeams($("agent-teams")) };
    var capacity = numberValue($("agent-capacity"), undefined);
    if (capacity !== undefined) data.capacity = capacity;
    submitting(button, $("agent-form-error"), api("POST", "/agents", data)).then(function (agent) {
      state.agents = state.agents.concat([agent]).sort(byName);
      form.reset(); teamPicker($("agent-teams"), []);
      renderAgents(); renderTeams(); renderTransferOptions(); toast("Added " + agent.name);
    }).catch(ignore);
  });

  /* teams */
  function renderTeams() {
    var body = $("teams-rows"); clear(body);
    state.teams.forEach(function (t) {
      var members = state.agents.filter(function (a) { return (a.teams || []).indexOf(t.name) >= 0; })
        .map(function (a) { return a.name; });
      body.appendChild(h("tr", { "data-team": t.name }, h("td", { class: "strong", text: t.name }),
        h("td", { class: members.length ? "" : "muted", text: members.join(", ") || "No members" })));
    });
    if (!state.teams.length) body.appendChild(h("tr", {}, h("td", { colSpan: 2, class: "muted", text: "No teams yet." })));
    renderHoursTeams();
  }
  $("team-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = this, button = form.querySelector("button[type=submit]");
    submitting(button, $("team-form-error"), api("POST", "/teams", { name: $("team-name").value })).then(function (team) {
      state.teams = state.teams.concat([team]).sort(byName);
      form.reset(); renderTeams(); renderAgents(); renderTransferOptions(); toast("Added team " + team.name);
    }).catch(ignore);
  });

  /* canned responses */
  function renderCanned() {
    var body = $("canned-rows"); clear(body);
    state.canned.forEach(function (c) {
      var del = h("button", { type: "button", class: "danger", text: "Delete", "aria-label": "Delete /" + c.shortcut });
      del.addEventListener("click", function () {
        if (!window.confirm("Delete the canned response /" + c.shortcut + "?")) return;
        submitting(del, $("canned-error"), api("DELETE", "/canned-responses/" + c.id)).then(function () {
          state.canned = state.canned.filter(function (x) { return x.id !== c.id; });
          renderCanned(); renderCannedOptions(); toast("Deleted /" + c.shortcut);
        }).catch(function (e) { $("canned-error").textContent = "Could not delete /" + c.shortcut + ": " + e.message; });
      });
      body.appendChild(h("tr", { "data-canned-id": c.id }, h("td", { class: "strong nowrap", text: "/" + c.shortcut }),
        h("td", { class: "canned-text", text: c.text }), h("td", { class: "row-actions" }, del)));
    });
    if (!state.canned.length) body.appendChild(h("tr", {}, h("td", { colSpan: 3, class: "muted", text: "No canned responses yet." })));
  }
  $("canned-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = this, button = form.querySelector("button[type=submit]");
    var data = { shortcut: $("canned-shortcut").value.trim().replace(/^\//, ""), text: $("canned-text").value };
    submitting(button, $("canned-form-error"), api("POST", "/canned-responses", data)).then(function (c) {
      state.canned = state.canned.concat([c]).sort(function (a, b) { return a.shortcut.localeCompare(b.shortcut); });
      form.reset(); renderCanned(); renderCannedOptions(); toast("Added /" + c.shortcut);
    }).catch(ignore);
  });

  /* business hours: the API stores {mon: [["09:00", "17:00"]], …}; the page shows and edits the short form of
   * HELPDESK_BUSINESS_HOURS ("mon-fri 09:00-17:00; sat 10:00-14:00"). Only the shape is read here: days and
   * times go to the API as typed, and what it rejects is shown as it says it. */
  function formatSchedule(schedule) {
    var parts = [], i = 0;
    while (i < DAYS.length) {
      var ranges = (schedule || {})[DAYS[i]] || [], key = JSON.stringify(ranges), j = i;
      while (j + 1 < DAYS.length && JSON.stringify((schedule || {})[DAYS[j + 1]] || []) === key) j++;
      ranges.forEach(function (r) { parts.push(DAYS[i] + (j > i ? "-" + DAYS[j] : "") + " " + r[0] + "-" + r[1]); });
      i = j + 1;
    }
    return parts.join("; ");
  }
  function parseSchedule(text) {
    var schedule = {};
    text.split(";").map(function (p) { return p.trim(); }).filter(Boolean).forEach(function (part) {
      var m = /^([a-z]+)(?:-([a-z]+))?\s+([^\s-]+)-([^\s-]+)$/.exec(part.toLowerCase());
      if (!m) throw new Error("Cannot read \u201c" + part + "\u201d: write a day or days and one time range, like mon-fri 09:00-17:00.");
      var first = DAYS.indexOf(m[1]), last = m[2] ? DAYS.indexOf(m[2]) : first, days;
      if (first < 0 || last < 0 || last < first) days = [m[2] ? m[1] + "-" + m[2] : m[1]];  // the API names what is wrong
      else days = DAYS.slice(first, last + 1);
      days.forEach(function (d) { (schedule[d] = schedule[d] || []).push([m[3], m[4]]); });
    });
    if (!Object.keys(schedule).length) throw new Error("Enter at least one range, like mon-fri 09:00-17:00 (an empty week would never be open).");
    return schedule;
  }
  function renderHoursTeams() {
    var sel = $("hours-team"), value = sel.value; clear(sel);
    sel.appendChild(h("option", { value: "", text: "Default (teams without their own)" }));
    state.teams.forEach(function (t) { sel.appendChild(h("option", { value: t.name, text: "Team " + t.name })); });
    sel.value = state.teams.some(function (t) { return t.name === value; }) ? value : "";
  }
  function describeHours(hours) {
    if (hours.always_open) return "Always open: no schedule is set.";
    if (hours.open_now) return "Open now.";
    return hours.next_opening ? "Closed now; opens " + new Date(hours.next_opening).toLocaleString() + "." : "Closed: no open day.";
  }
  /* the fields are disabled while a team's hours load, so nothing typed meanwhile is overwritten */
  function hoursLoading(on) {
    ["hours-timezone", "hours-schedule", "hours-save", "hours-reset"].forEach(function (id) { $(id).disabled = on; });
    if (on) $("hours-reset").hidden = true;
  }
  function loadHours() {
    var team = $("hours-team").value, seq = ++state.hoursSeq;
    $("hours-error").textContent = ""; $("hours-state").textContent = "Loading…"; hoursLoading(true);
    api("GET", "/business-hours" + (team ? "?team=" + encodeURIComponent(team) : "")).then(function (hours) {
      if (seq !== state.hoursSeq) return;  // another team was chosen meanwhile
      $("hours-timezone").value = hours.timezone; $("hours-schedule").value = formatSchedule(hours.schedule);
      $("hours-state").textContent = (team && hours.source !== "team" ? "Uses the default hours. " : "") + describeHours(hours);
      hoursLoading(false);
      $("hours-reset").hidden = !(team && hours.source === "team");  // only a team's own hours can be removed
    }).catch(function (e) {
      if (seq !== state.hoursSeq) return;
      $("hours-timezone").value = ""; $("hours-schedule").value = ""; hoursLoading(false);
      $("hours-state").textContent = ""; $("hours-error").textContent = "Could not load the hours: " + e.message;
    });
  }
  $("hours-team").addEventListener("change", loadHours);
  $("hours-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var button = this.querySelector("button[type=submit]"), team = $("hours-team").value, schedule;
    $("hours-state").textContent = "";
    try { schedule = parseSchedule($("hours-schedule").value); } catch (e) { $("hours-error").textContent = e.message; return; }
    var data = { timezone: $("hours-timezone").value.trim(), schedule: schedule };
    if (team) data.team = team;
    submitting(button, $("hours-error"), api("PUT", "/business-hours", data)).then(function () {
      toast("Saved the business hours" + (team ? " of " + team : ""));
      loadHours();
    }).catch(ignore);
  });
  $("hours-reset").addEventListener("click", function () {
    var button = this, team = $("hours-team").value;
    if (!team || !window.confirm("Remove the business hours of " + team + "? The team will use the default hours.")) return;
    $("hours-state").textContent = "";
    submitting(button, $("hours-error"), api("DELETE", "/business-hours?team=" + encodeURIComponent(team))).then(function () {
      toast(team + " now uses the default hours");
      if ($("hours-team").value === team) loadHours();
    }).catch(function (e) { $("hours-error").textContent = "Could not remove the hours of " + team + ": " + e.message; });
  });
  if (window.Intl && Intl.supportedValuesOf) {
    try {
      var zones = $("timezones");
      Intl.supportedValuesOf("timeZone").forEach(function (z) { zones.appendChild(h("option", { value: z })); });
    } catch (e) { /* no list: the field still takes any name, and the API checks it */ }
  }

  /* --- stats ------------------------------------------------------------------------------ */
  function loadStats() {
    if (!state.token) return;
    api("GET", "/stats").then(function (s) {
      $("stat-queue").textContent = s.queue_length; $("stat-agents").textContent = s.agents_online;
      $("stat-containment").textContent = percent(s.containment_rate); $("stat-handoff").textContent = percent(s.handoff_rate);
      $("stat-wait").textContent = duration(s.avg_wait_seconds); $("stat-first").textContent = duration(s.avg_first_response_seconds);
    }).catch(function () {});
  }

  start();
})();

/* Helpdesk website widget. Served as GET /widget.js inside one closure together with the
 * Socket.IO client (`io` below), so it adds nothing to the page but `window.HelpdeskWidget`.
 *
 *   <script src="https://helpdesk.example/widget.js" data-title="Support" data-color="#2f6f4e"
 *           data-position="right" data-greeting="Hi! How can we help?" async></script>
 *
 * Everything a person or the server wrote is put into the page as text (textContent and text
 * nodes; links only for http(s) URLs), never as HTML. */
"use strict";

var script = document.currentScript;
var ds = (script && script.dataset) || {};
var SERVER = (ds.server || (script ? new URL(script.src, location.href).origin : location.origin)).replace(/\/+$/, "");
var CONFIG = {
  title: ds.title || "Chat with us",
  subtitle: ds.subtitle || "We typically reply in a few minutes",
  color: ds.color || "#2563eb",
  position: ds.position === "left" ? "left" : "right",
  greeting: ds.greeting || "",
  botName: ds.botName || "Assistant",
  open: ds.open === "true",
  maxBytes: parseInt(ds.maxAttachmentBytes || "10485760", 10),
};
var STORE_KEY = "helpdesk-widget:" + SERVER;
var ERRORS = {
  rate_limited: "You're sending messages very quickly. Please wait a moment and try again.",
  message_too_long: "That message is too long. Please shorten it.",
  attachment_too_large: "That file is too large.",
  unsupported_attachment: "Only images (PNG, JPEG, GIF, WebP) and PDF files can be sent.",
  identity_rejected: "We couldn't verify your account, so this chat is anonymous.",
  identity_not_configured: "We couldn't verify your account, so this chat is anonymous.",
};

if (window.HelpdeskWidget && window.HelpdeskWidget.loaded) {
  return;
}

// ---- storage (may be unavailable: private modes, blocked third-party storage) ----------------
function load() {
  try { return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {}; } catch (e) { return {}; }
}
function save(value) {
  try { localStorage.setItem(STORE_KEY, JSON.stringify(value)); } catch (e) { /* no storage: per-page session */ }
}
var stored = load();
var identity = ds.userId ? { id: ds.userId, name: ds.userName, email: ds.userEmail, hash: ds.userHash } : null;

// ---- DOM helpers --------------------------------------------------------------------------
function el(tag, className, text) {
  var node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function svg(path) {
  var ns = "http://www.w3.org/2000/svg";
  var icon = document.createElementNS(ns, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  var p = document.createElementNS(ns, "path");
  p.setAttribute("d", path);
  icon.appendChild(p);
  return icon;
}
/* Text with http(s) links, built from text nodes and <a> elements only. */
function richText(parent, text) {
  var pattern = /https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
  var last = 0, match;
  text = String(text || "");
  while ((match = pattern.exec(text)) !== null) {
    parent.appendChild(document.createTextNode(text.slice(last, match.index)));
    var link = el("a", "hd-link", match[0]);
    try {
      var url = new URL(match[0]);
      if (url.protocol === "http:" || url.protocol === "https:") {
        link.href = url.href;
        link.target = "_blank";
        link.rel = "noopener noreferrer nofollow";
      }
    } catch (e) { /* not a URL after all: stays text */ }
    parent.appendChild(link);
    last = match.index + match[0].length;
  }
  parent.appendChild(document.createTextNode(text.slice(last)));
}
function safeColor(value) {
  return window.CSS && CSS.supports && CSS.supports("color", value) ? value : "#2563eb";
}
function formatSize(bytes) {
  if (bytes >= 1048576) return (bytes / 1048576).toFixed(1) + " MB";
  return Math.max(1, Math.round(bytes / 1024)) + " KB";
}
function newId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
  return Date.now().toString(36) + Math.random().toString(36).slice(2);
}

var CSS_TEXT = [
  ":host{all:initial}",
  "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
  ".hd-launcher{position:fixed;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;",
  "background:var(--hd-accent);color:#fff;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000;display:flex;",
  "align-items:center;justify-content:center}",
  ".hd-launcher svg{width:28px;height:28px;fill:currentColor}",
  ".hd-right{right:20px}.hd-left{left:20px}",
  ".hd-badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;border-radius:10px;background:#dc2626;",
  "color:#fff;font-size:12px;line-height:20px;text-align:center;padding:0 5px}",
  ".hd-panel{position:fixed;bottom:88px;width:370px;max-width:calc(100vw - 32px);height:560px;",
  "max-height:calc(100vh - 110px);background:#fff;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.25);",
  "display:flex;flex-direction:column;overflow:hidden;z-index:2147483000;color:#111827;font-size:14px}",
  ".hd-panel[hidden]{display:none}",
  ".hd-header{background:var(--hd-accent);color:#fff;padding:14px 16px;display:flex;align-items:center;gap:8px}",
  ".hd-heading{flex:1;min-width:0}.hd-title{font-weight:600;font-size:16px}",
  ".hd-subtitle{font-size:12px;opacity:.9;margin-top:2px}",
  ".hd-close{background:transparent;border:0;color:#fff;cursor:pointer;font-size:22px;line-height:1;padding:4px}",
  ".hd-banner{background:#fef3c7;color:#92400e;font-size:12px;padding:6px 12px}",
  ".hd-banner[hidden]{display:none}",
  ".hd-log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f9fafb}",
  ".hd-msg{max-width:82%;display:flex;flex-direction:column;gap:4px}",
  ".hd-msg.hd-customer{align-self:flex-end;align-items:flex-end}",
  ".hd-msg.hd-system{align-self:center;max-width:90%}",
  ".hd-author{font-size:11px;color:#6b7280;margin:0 4px}",
  ".hd-bubble{padding:9px 12px;border-radius:14px;white-space:pre-wrap;word-wrap:break-word;overflow-wrap:anywhere;",
  "line-height:1.4;background:#fff;border:1px solid #e5e7eb}",
  ".hd-customer .hd-bubble{background:var(--hd-accent);color:#fff;border-color:transparent}",
  ".hd-customer .hd-bubble .hd-link{color:#fff}",
  ".hd-system .hd-bubble{background:transparent;border:0;color:#6b7280;font-size:12px;text-align:center}",
  ".hd-state{font-size:11px;color:#6b7280;margin:0 4px}.hd-state.hd-failed{color:#dc2626}",
  ".hd-retry{background:none;border:0;color:#dc2626;text-decoration:underline;cursor:pointer;font-size:11px}",
  ".hd-buttons{display:flex;flex-wrap:wrap;gap:6px;margin-top:2px}",
  ".hd-button{border:1px solid var(--hd-accent);color:var(--hd-accent);background:#fff;border-radius:16px;",
  "padding:6px 12px;cursor:pointer;font-size:13px}",
  ".hd-button:hover{background:var(--hd-accent);color:#fff}",
  ".hd-image{max-width:220px;max-height:220px;border-radius:10px;display:block;cursor:zoom-in}",
  ".hd-file{display:inline-block;padding:8px 10px;border:1px solid #e5e7eb;border-radius:10px;background:#fff;",
  "color:#111827;cursor:pointer;font-size:13px;text-align:left}",
  ".hd-typing{padding:0 16px 6px;font-size:12px;color:#6b7280;background:#f9fafb;min-height:18px}",
  ".hd-composer{display:flex;align-items:flex-end;gap:6px;padding:10px;border-top:1px solid #e5e7eb;background:#fff}",
  ".hd-input{flex:1;resize:none;border:1px solid #d1d5db;border-radius:10px;padding:8px 10px;font-size:14px;",
  "max-height:120px;min-height:38px;outline:none;color:#111827;background:#fff}",
  ".hd-input:focus{border-color:var(--hd-accent)}",
  ".hd-icon-btn{border:0;background:transparent;cursor:pointer;color:#6b7280;padding:6px;height:38px}",
  ".hd-icon-btn svg{width:22px;height:22px;fill:currentColor}",
  ".hd-send{color:var(--hd-accent)}",
  ".hd-footer{font-size:11px;color:#9ca3af;text-align:center;padding:0 0 6px;background:#fff}",
  "@media (max-width:480px){.hd-panel{bottom:0;right:0;left:0;width:100vw;max-width:100vw;height:100%;",
  "max-height:100%;border-radius:0}",
  // the panel fills a phone's screen and has its own close button: the launcher would cover Send
  ".hd-launcher[aria-expanded=true]{display:none}}",
].join("");

var ICON_CHAT = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z";
var ICON_SEND = "M2 21l21-9L2 3v7l15 2-15 2z";
var ICON_CLIP = "M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z";

// ---- the widget ---------------------------------------------------------------------------
function Widget() {
  this.messages = {};        // seq -> element
  this.pending = {};         // client_id -> {element, data}
  this.status = "bot";
  this.lastSeq = 0;
  this.unread = 0;
  this.visitorId = stored.visitor_id || null;
  this.token = stored.token || null;
  this.typingTimer = null;
  this.typingSentAt = 0;
  this.build();
  this.connect();
  if (CONFIG.open || stored.open) this.open();
}

Widget.prototype.build = function () {
  var host = el("div");
  host.id = "helpdesk-widget";
  host.style.setProperty("--hd-accent", safeColor(CONFIG.color));
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.appendChild(el("style", null, CSS_TEXT));

  var side = CONFIG.position === "left" ? " hd-left" : " hd-right";
  this.launcher = el("button", "hd-launcher" + side);
  this.launcher.type = "button";
  this.launcher.setAttribute("aria-label", "Open chat: " + CONFIG.title);
  this.launcher.setAttribute("aria-expanded", "false");
  this.launcher.appendChild(svg(ICON_CHAT));
  this.badge = el("span", "hd-badge");
  this.badge.hidden = true;
  this.launcher.appendChild(this.badge);
  this.launcher.addEventListener("click", this.toggle.bind(this));

  this.panel = el("div", "hd-panel" + side);
  this.panel.hidden = true;
  this.panel.setAttribute("role", "dialog");
  this.panel.setAttribute("aria-label", CONFIG.title);
  this.panel.appendChild(this.buildHeader());
  this.banner = el("div", "hd-banner");
  this.banner.hidden = true;
  this.panel.appendChild(this.banner);
  this.log = el("div", "hd-log");
  this.log.setAttribute("role", "log");
  this.log.setAttribute("aria-live", "polite");
  this.panel.appendChild(this.log);
  this.typing = el("div", "hd-typing");
  this.panel.appendChild(this.typing);
  this.panel.appendChild(this.buildComposer());
  this.panel.appendChild(el("div", "hd-footer", "Powered by Helpdesk"));
  this.panel.addEventListener("keydown", function (e) { if (e.key === "Escape") this.close(); }.bind(this));

  root.appendChild(this.panel);
  root.appendChild(this.launcher);
  this.greeting();
  (document.body || document.documentElement).appendChild(host);
};

Widget.prototype.buildHeader = function () {
  var header = el("div", "hd-header");
  var heading = el("div", "hd-heading");
  heading.appendChild(el("div", "hd-title", CONFIG.title));
  this.subtitle = el("div", "hd-subtitle", CONFIG.subtitle);
  heading.appendChild(this.subtitle);
  header.appendChild(heading);
  var close = el("button", "hd-close", "\u00d7");
  close.type = "button";
  close.setAttribute("aria-label", "Close chat");
  close.addEventListener("click", this.close.bind(this));
  header.appendChild(close);
  return header;
};

Widget.prototype.buildComposer = function () {
  var composer = el("form", "hd-composer");
  this.fileInput = el("input");
  this.fileInput.type = "file";
  this.fileInput.accept = "image/png,image/jpeg,image/gif,image/webp,application/pdf";
  this.fileInput.hidden = true;
  this.fileInput.addEventListener("change", this.onFile.bind(this));
  var attach = el("button", "hd-icon-btn hd-attach");
  attach.type = "button";
  attach.setAttribute("aria-label", "Attach an image or PDF");
  attach.appendChild(svg(ICON_CLIP));
  attach.addEventListener("click", function () { this.fileInput.click(); }.bind(this));
  this.input = el("textarea", "hd-input");
  this.input.rows = 1;
  this.input.placeholder = "Type your message…";
  this.input.setAttribute("aria-label", "Message");
  this.input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.submit(); }
  }.bind(this));
  this.input.addEventListener("input", this.onInput.bind(this));
  var send = el("button", "hd-icon-btn hd-send");
  send.type = "submit";
  send.setAttribute("aria-label", "Send");
  send.appendChild(svg(ICON_SEND));
  composer.addEventListener("submit", function (e) { e.preventDefault(); this.submit(); }.bind(this));
  composer.appendChild(this.fileInput);
  composer.appendChild(attach);
  composer.appendChild(this.input);
  composer.appendChild(send);
  return composer;
};

Widget.prototype.greeting = function () {
  if (!CONFIG.greeting) return;
  var item = this.bubble({ role: "bot", text: CONFIG.greeting });
  item.classList.add("hd-greeting");
  this.log.insertBefore(item, this.log.firstChild);
};

// ---- opening and closing ------------------------------------------------------------------
Widget.prototype.open = function () {
  this.panel.hidden = false;
  this.launcher.setAttribute("aria-expanded", "true");
  this.unread = 0;
  this.badge.hidden = true;
  this.remember({ open: true });
  this.scroll();
  this.input.focus();
};
Widget.prototype.close = function () {
  this.panel.hidden = true;
  this.launcher.setAttribute("aria-expanded", "false");
  this.remember({ open: false });
  this.launcher.focus();
};
Widget.prototype.toggle = function () { if (this.panel.hidden) this.open(); else this.close(); };
Widget.prototype.remember = function (changes) {
  stored = Object.assign(load(), changes);
  save(stored);
};

// ---- the connection -----------------------------------------------------------------------
Widget.prototype.connect = function () {
  var self = this;
  this.socket = io(SERVER + "/widget", {
    path: "/socket.io",
    transports: ["websocket", "polling"],
    auth: function (cb) {
      var auth = { token: self.token, last_seq: self.lastSeq };
      if (identity) auth.identity = identity;
      cb(auth);
    },
  });
  this.socket.on("session", this.onSession.bind(this));
  this.socket.on("message", this.onMessage.bind(this));
  this.socket.on("status", this.onStatus.bind(this));
  this.socket.on("typing", this.onTyping.bind(this));
  this.socket.on("error", this.onError.bind(this));
  this.socket.on("connect", function () { self.banner.hidden = true; self.resend(); });
  this.socket.on("disconnect", function (reason) {
    if (reason !== "io client disconnect") self.showBanner("Reconnecting…");
  });
  this.socket.on("connect_error", function () { self.showBanner("Can't reach support right now. Retrying…"); });
};
Widget.prototype.showBanner = function (text) {
  this.banner.textContent = text;
  this.banner.hidden = false;
};

Widget.prototype.onSession = function (session) {
  this.token = session.token;
  if (session.visitor_id !== this.visitorId) {
    this.reset();
    this.visitorId = session.visitor_id;
  }
  this.remember({ token: session.token, visitor_id: session.visitor_id });
  (session.messages || []).forEach(function (m) { this.add(m, false); }, this);
  this.setStatus({ status: session.status }, false);
  this.refreshButtons();
};
Widget.prototype.reset = function () {
  Object.keys(this.messages).forEach(function (seq) { this.messages[seq].remove(); }, this);
  this.messages = {};
  this.lastSeq = 0;
  this.removeButtons();
};

Widget.prototype.onMessage = function (message) {
  var isNew = !this.messages[message.seq];
  this.add(message, true);
  if (isNew && message.role !== "customer" && this.panel.hidden) {
    this.unread += 1;
    this.badge.textContent = String(this.unread);
    this.badge.hidden = false;
  }
  if (message.role === "bot" || message.role === "agent") this.setTyping(null);
  this.refreshButtons();
};

/* Put a server message in its place by seq; a message shown already (same seq) is skipped. */
Widget.prototype.add = function (message, live) {
  if (this.messages[message.seq]) return;
  var pending = message.client_id && this.pending[message.client_id];
  if (pending) {
    pending.element.remove();
    delete this.pending[message.client_id];
  }
  this.place(this.bubble(message), message.seq);
  this.lastSeq = Math.max(this.lastSeq, message.seq);
  if (live || !this.panel.hidden) this.scroll();
};
/* Insert a shown message before the first one with a later seq (else before what is still sending). */
Widget.prototype.place = function (item, seq) {
  item.dataset.seq = String(seq);
  var before = null;
  Object.keys(this.messages).forEach(function (other) {
    other = Number(other);
    if (other > seq && (!before || other < Number(before.dataset.seq))) before = this.messages[other];
  }, this);
  this.log.insertBefore(item, before || this.log.querySelector(".hd-pending"));
  this.messages[seq] = item;
};

Widget.prototype.bubble = function (message) {
  var role = ["customer", "bot", "agent", "system"].indexOf(message.role) >= 0 ? message.role : "bot";
  var item = el("div", "hd-msg hd-" + role);
  var name = message.author && message.author.name;
  if (role === "agent") item.appendChild(el("div", "hd-author", name || "Support agent"));
  if (message.text) {
    var text = el("div", "hd-bubble");
    richText(text, message.text);
    if (message.created_at) text.title = new Date(message.created_at).toLocaleString();
    item.appendChild(text);
  }
  (message.attachments || []).forEach(function (a) { item.appendChild(this.attachment(a)); }, this);
  item._buttons = message.buttons || [];
  return item;
};

/* Quick-reply buttons: only under the latest message, and only while it is a bot message. */
Widget.prototype.refreshButtons = function () {
  this.removeButtons();
  var seqs = Object.keys(this.messages).map(Number).sort(function (a, b) { return a - b; });
  var last = seqs.length ? this.messages[seqs[seqs.length - 1]] : null;
  if (!last || !last._buttons.length || Object.keys(this.pending).length) return;
  var row = el("div", "hd-buttons");
  last._buttons.forEach(function (b) {
    var button = el("button", "hd-button", b.title);
    button.type = "button";
    button.addEventListener("click", function () {
      this.removeButtons();
      this.send({ payload: b.payload, title: b.title }, b.title);
    }.bind(this));
    row.appendChild(button);
  }, this);
  last.appendChild(row);
  this.buttons = row;
  this.scroll();
};
Widget.prototype.removeButtons = function () {
  if (this.buttons) this.buttons.remove();
  this.buttons = null;
};

// ---- sending ------------------------------------------------------------------------------
Widget.prototype.submit = function () {
  var text = this.input.value;
  if (!text.trim()) return;
  this.input.value = "";
  this.sendTyping(false);
  this.send({ text: text }, text);
};

Widget.prototype.send = function (fields, shownText, attachments) {
  var data = Object.assign({ client_id: newId(), metadata: { page_url: location.href.slice(0, 500), locale: (navigator.language || "").slice(0, 35) } }, fields);
  var item = this.bubble({ role: "customer", text: shownText, attachments: attachments || [] });
  item.classList.add("hd-pending");
  var state = el("div", "hd-state", "Sending…");
  item.appendChild(state);
  this.log.appendChild(item);
  this.pending[data.client_id] = { element: item, data: data, state: state };
  this.removeButtons();
  this.scroll();
  this.emit(data);
};
/* Only while connected: socket.io would buffer it and send it on connect, where resend() sends
   everything unacknowledged anyway, so it would go twice. */
Widget.prototype.emit = function (data) {
  var self = this;
  if (!this.socket.connected) return;
  this.socket.timeout(30000).emit("message", data, function (err, ack) {
    var pending = self.pending[data.client_id];
    if (!pending) return;
    if (err || (ack && ack.error)) {
      self.fail(pending, ack && ack.error);
    } else {
      self.confirm(data.client_id, pending, ack);
    }
  });
};
/* The ack gives a sent message its place (the server does not echo it back to this tab). */
Widget.prototype.confirm = function (clientId, pending, ack) {
  delete this.pending[clientId];
  if (this.messages[ack.seq]) {
    pending.element.remove();
  } else {
    // A reply can arrive before the ack of what it answers: the sent message moves to its place by seq.
    pending.state.remove();
    pending.element.classList.remove("hd-pending");
    pending.element._buttons = [];
    this.place(pending.element, ack.seq);
  }
  this.refreshButtons();
};
Widget.prototype.fail = function (pending, error) {
  pending.state.textContent = error ? (ERRORS[error.code] || error.message || "Not sent.") : "Not sent.";
  pending.state.classList.add("hd-failed");
  var retry = el("button", "hd-retry", "Retry");
  retry.type = "button";
  retry.addEventListener("click", function () {
    retry.remove();
    pending.state.classList.remove("hd-failed");
    pending.state.textContent = "Sending…";
    this.emit(pending.data);
  }.bind(this));
  pending.state.appendChild(document.createTextNode(" "));
  pending.state.appendChild(retry);
};
/* After a reconnect, send again what was never acknowledged (client_id makes it safe). */
Widget.prototype.resend = function () {
  Object.keys(this.pending).forEach(function (id) {
    var pending = this.pending[id];
    if (pending.state.textContent === "Sending…") this.emit(pending.data);
  }, this);
};

Widget.prototype.onInput = function () {
  var now = Date.now();
  if (now - this.typingSentAt > 3000) this.sendTyping(true);
  clearTimeout(this.typingTimer);
  this.typingTimer = setTimeout(this.sendTyping.bind(this, false), 4000);
};
Widget.prototype.sendTyping = function (typing) {
  if (!this.socket.connected) return;
  this.typingSentAt = typing ? Date.now() : 0;
  if (!typing) clearTimeout(this.typingTimer);
  this.socket.emit("typing", { typing: typing });
};

// ---- attachments --------------------------------------------------------------------------
Widget.prototype.onFile = function () {
  var file = this.fileInput.files && this.fileInput.files[0];
  this.fileInput.value = "";
  if (!file) return;
  if (file.size > CONFIG.maxBytes) {
    this.notice(ERRORS.attachment_too_large + " (max " + formatSize(CONFIG.maxBytes) + ")");
    return;
  }
  var body = new FormData();
  body.append("file", file, file.name);
  var self = this;
  fetch(SERVER + "/widget/attachments", { method: "POST", body: body,
    headers: { Authorization: "Bearer " + this.token } })
    .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
    .then(function (res) {
      if (!res.ok) throw res.body.error || { message: "Upload failed." };
      var a = res.body.attachment;
      self.send({ attachments: [a.id] }, "", [a]);
    })
    .catch(function (error) { self.notice(ERRORS[error.code] || error.message || "Upload failed."); });
};
Widget.prototype.fetchBlob = function (attachment) {
  return fetch(SERVER + "/widget/attachments/" + encodeURIComponent(attachment.id),
    { headers: { Authorization: "Bearer " + this.token } })
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.blob(); });
};
Widget.prototype.attachment = function (attachment) {
  var self = this;
  if (/^image\//.test(attachment.content_type || "")) {
    var image = el("img", "hd-image");
    image.alt = attachment.name || "image";
    this.fetchBlob(attachment).then(function (blob) { image.src = URL.createObjectURL(blob); })
      .catch(function () { image.alt = (attachment.name || "image") + " (unavailable)"; });
    image.addEventListener("click", function () { if (image.src) window.open(image.src, "_blank", "noopener"); });
    return image;
  }
  var file = el("button", "hd-file", "\ud83d\udcc4 " + (attachment.name || "file") + " (" + formatSize(attachment.size || 0) + ")");
  file.type = "button";
  file.addEventListener("click", function () {
    self.fetchBlob(attachment).then(function (blob) {
      var link = el("a");
      link.href = URL.createObjectURL(blob);
      link.download = attachment.name || "file";
      link.click();
    }).catch(function () { self.notice("That file can't be downloaded right now."); });
  });
  return file;
};

// ---- status, typing, errors ---------------------------------------------------------------
Widget.prototype.onStatus = function (status) { this.setStatus(status, true); };
Widget.prototype.setStatus = function (status, live) {
  var text = CONFIG.subtitle;
  if (status.status === "queued") {
    text = "Waiting for a support agent" + (status.position ? " (you are number " + status.position + " in line)" : "");
  } else if (status.status === "assigned") {
    text = status.agent && status.agent.name ? "You are chatting with " + status.agent.name : "An agent has joined";
  } else if (status.status === "resolved") {
    text = "This conversation is resolved. Write to us again any time.";
  }
  // the header says it; the conversation itself gets the server's system message ("Bob joined the
  // conversation.", "This conversation has been closed…"), so no second notice here
  this.subtitle.textContent = text;
  this.status = status.status;
};
Widget.prototype.onTyping = function (event) {
  if (event.role === "bot" && this.status !== "bot") return;
  this.setTyping(event.typing ? event : null);
};
Widget.prototype.setTyping = function (event) {
  clearTimeout(this.typingShown);
  if (!event) { this.typing.textContent = ""; return; }
  var name = event.author && event.author.name ? event.author.name : (event.role === "bot" ? CONFIG.botName : "Agent");
  // a fast answer shows no indicator at all
  this.typingShown = setTimeout(function () {
    this.typing.textContent = name + " is typing…";
    this.typingShown = setTimeout(this.setTyping.bind(this, null), 15000);
  }.bind(this), 400);
};
Widget.prototype.onError = function (error) {
  if (!error) return;
  var pending = error.client_id && this.pending[error.client_id];
  if (pending) return; // the ack marks the message itself
  this.notice(ERRORS[error.code] || error.message || "Something went wrong.");
};
Widget.prototype.notice = function (text) {
  var item = el("div", "hd-msg hd-system hd-notice");
  item.appendChild(el("div", "hd-bubble", text));
  this.log.appendChild(item);
  this.scroll();
};
Widget.prototype.scroll = function () { this.log.scrollTop = this.log.scrollHeight; };

// ---- the page's API -----------------------------------------------------------------------
var widget = null;
function start() { if (!widget) widget = new Widget(); return widget; }
window.HelpdeskWidget = {
  loaded: true,
  open: function () { start().open(); },
  close: function () { start().close(); },
  toggle: function () { start().toggle(); },
  /* Log a site user in: {id, name, email, hash} with hash = hex HMAC-SHA256(site secret, id). */
  identify: function (user) {
    identity = user || null;
    var w = start();
    w.socket.disconnect();
    w.socket.connect();
  },
  /* Log out: forget the visitor and start an anonymous conversation. */
  logout: function () {
    identity = null;
    var w = start();
    w.token = null;
    w.remember({ token: null, visitor_id: null });
    w.socket.disconnect();
    w.socket.connect();
  },
};
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();

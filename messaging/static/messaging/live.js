/* Live updates from the real-time socket (/ws/events/, see API.md "Real time").
   Frames are {"type": T, "data": {...}}. New messages appear, edits show, badges
   count up; after a drop the page reconnects with exponential backoff and jitter
   and catches up. If the socket is missing or refused, the pages simply stay as
   the server rendered them. User text goes in with textContent only. */
(function () {
  "use strict";

  var me = document.body.dataset.user;
  if (!me || !("WebSocket" in window)) return;

  var BASE_DELAY = 1000;
  var MAX_DELAY = 30000;
  /* While the socket has never answered (not deployed yet), try rarely. */
  var MAX_DELAY_NEVER_OPENED = 120000;

  var socket = null;
  var attempt = 0;
  var everOpened = false;
  var retryTimer = null;
  var stopped = false;
  var statusEl = document.getElementById("live-status");
  var conversation = document.querySelector("[data-conversation]");
  var partner = conversation ? conversation.dataset.conversation : null;

  function setState(state) {
    document.documentElement.dataset.live = state;
    if (!statusEl) return;
    var labels = { open: "Live", reconnecting: "Reconnecting…" };
    statusEl.dataset.state = state;
    statusEl.textContent = labels[state] || "";
    statusEl.hidden = !labels[state];
  }

  function socketUrl() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/events/";
  }

  function connect() {
    retryTimer = null;
    if (stopped || (socket && socket.readyState <= 1)) return;
    setState(everOpened ? "reconnecting" : "connecting");
    try {
      socket = new WebSocket(socketUrl());
    } catch (error) {
      scheduleRetry();
      return;
    }
    socket.addEventListener("open", function () {
      var wasDropped = everOpened;
      everOpened = true;
      attempt = 0;
      setState("open");
      if (wasDropped) catchUp();
    });
    socket.addEventListener("message", function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (error) { return; }
      if (frame && typeof frame.type === "string" && frame.data) handle(frame.type, frame.data);
    });
    socket.addEventListener("close", function (event) {
      socket = null;
      /* 4401/4403: not authenticated or not allowed; retrying cannot help. */
      if (event.code === 4401 || event.code === 4403) {
        stopped = true;
        setState("closed");
        return;
      }
      setState(everOpened ? "reconnecting" : "closed");
      scheduleRetry();
    });
  }

  /* Exponential backoff with full jitter: spreads reconnects after a server restart. */
  function scheduleRetry() {
    if (stopped || retryTimer) return;
    var cap = everOpened ? MAX_DELAY : MAX_DELAY_NEVER_OPENED;
    var ceiling = Math.min(cap, BASE_DELAY * Math.pow(2, attempt));
    attempt += 1;
    var delay = BASE_DELAY / 2 + Math.random() * ceiling;
    retryTimer = window.setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (stopped || socket) return;
    if (retryTimer) window.clearTimeout(retryTimer);
    retryTimer = null;
    attempt = 0;
    connect();
  }

  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      reconnectNow();
      markVisibleRead();
    }
  });
  window.addEventListener("pagehide", function () {
    stopped = true;
    if (socket) socket.close(1000);
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      stopped = false;
      reconnectNow();
    }
  });

  /* Events ------------------------------------------------------------------- */

  function handle(type, data) {
    if (type === "message.created") onCreated(data);
    else if (type === "message.updated") onUpdated(data);
    else if (type === "message.deleted") onDeleted(data);
    else if (type === "message.read") onRead(data);
    else if (type === "notification.created") onNotification(data);
  }

  function onCreated(message) {
    if (partner && message.sender === partner) {
      if (insertMessage(message)) {
        queueRead(message.id);
        announce("New message from " + message.sender);
        return;
      }
    }
    bumpBadge("messages", 1);
    updateInboxRow(message);
    announce("New message from " + message.sender);
  }

  function onUpdated(message) {
    var article = document.getElementById("m" + message.id);
    if (article) {
      article.querySelector("[data-content]").textContent = message.content;
      var edited = article.querySelector("[data-history]");
      if (edited && message.edited) edited.hidden = false;
      var panel = article.querySelector(".history-panel");
      if (panel) panel.remove();
      flash(article);
    }
    var row = inboxRow(message.sender);
    if (row && row.dataset.last === String(message.id)) {
      row.querySelector("[data-preview]").textContent = preview(message.content);
    }
  }

  function onDeleted(data) {
    var article = document.getElementById("m" + data.id);
    if (article) {
      article.classList.add("msg--deleted");
      article.querySelector("[data-content]").textContent = "This message was deleted.";
      var actions = article.querySelector(".msg__actions");
      if (actions) actions.remove();
    }
    refreshCounts();
  }

  function onRead(data) {
    var ids = data.ids || (data.id != null ? [data.id] : []);
    ids.forEach(function (id) {
      var receipt = document.querySelector("#m" + id + " [data-receipt]");
      if (receipt) {
        receipt.textContent = "Read";
        receipt.classList.add("msg__receipt--read");
      }
    });
  }

  function onNotification(note) {
    bumpBadge("notifications", 1);
    var list = document.getElementById("notes");
    var template = document.getElementById("tpl-note");
    if (!list || !template || note.read) return;
    var item = template.content.firstElementChild.cloneNode(true);
    item.id = "n" + note.id;
    item.dataset.id = note.id;
    item.querySelector(".note__icon").classList.add("note__icon--" + note.kind);
    var link = item.querySelector(".note__link");
    link.href = "/messages/" + note.message + "/?notification=" + note.id + "#m" + note.message;
    link.textContent = note.text;
    item.querySelector(".note__kind").textContent =
      { message: "New message", reply: "Reply", edit: "Edit" }[note.kind] || note.kind;
    setTime(item.querySelector("time"), note.created_at);
    var empty = document.getElementById("notes-empty");
    if (empty) empty.remove();
    list.prepend(item);
  }

  /* The conversation page ------------------------------------------------------ */

  function insertMessage(message) {
    if (document.getElementById("m" + message.id)) return true;
    var template = document.getElementById("tpl-message");
    var threads = document.getElementById("threads");
    if (!template || !threads) return false;
    var maxDepth = parseInt(conversation.dataset.maxDepth || "4", 10);
    var target = null;
    var depth = 0;
    var replyTo = null;
    if (message.parent_message != null) {
      var parent = document.getElementById("m" + message.parent_message);
      if (!parent) {
        showNotice(message);
        return true;
      }
      depth = parseInt(parent.dataset.depth || "0", 10) + 1;
      if (depth > maxDepth) {
        /* As the server does: past the deepest indent, listed flat with what it answers. */
        target = parent.closest("ol.replies");
        depth = maxDepth + 1;
        replyTo = parent;
      } else {
        target = repliesList(parent);
      }
    } else if ((conversation.dataset.page || "1") !== "1") {
      showNotice(message);
      return true;
    }
    var item = template.content.firstElementChild.cloneNode(true);
    var article = item.querySelector("article");
    article.id = "m" + message.id;
    article.dataset.id = message.id;
    article.dataset.sender = message.sender;
    article.dataset.depth = depth;
    article.setAttribute("aria-label", message.sender);
    var avatar = article.querySelector(".avatar");
    avatar.textContent = message.sender.charAt(0).toUpperCase();
    var colour = document.querySelector(".conversation__title .avatar");
    if (colour) avatar.className = colour.className + " avatar--sm";
    article.querySelector(".msg__author").textContent = message.sender;
    var timeLink = article.querySelector(".msg__time");
    timeLink.href = "/messages/" + message.id + "/#m" + message.id;
    setTime(timeLink.querySelector("time"), message.timestamp);
    var edited = article.querySelector("[data-history]");
    edited.href = "/messages/" + message.id + "/history/";
    edited.hidden = !message.edited;
    if (replyTo) {
      var context = article.querySelector(".msg__context");
      context.textContent = "↪ to " + replyTo.dataset.sender + ": “" +
        preview(replyTo.querySelector("[data-content]").textContent, 60) + "”";
      context.hidden = false;
    }
    article.querySelector("[data-content]").textContent = message.content;
    article.querySelector("input[name=parent_message]").value = message.id;
    var box = article.querySelector("textarea");
    box.id = "reply-" + message.id;
    var label = article.querySelector("label");
    label.htmlFor = box.id;
    label.textContent = "Reply to " + message.sender;
    if (target) {
      target.append(item);
      var fold = target.closest("details.fold");
      if (fold) fold.open = true;
    } else {
      item.classList.add("thread");
      item.dataset.thread = message.id;
      threads.prepend(item);
      var empty = document.getElementById("threads-empty");
      if (empty) empty.remove();
    }
    return true;
  }

  function repliesList(parent) {
    var item = parent.closest(".msg-item");
    var list = item.querySelector(":scope > .replies-wrap ol[data-replies-for='" + parent.dataset.id + "']");
    if (list) return list;
    var wrap = document.createElement("div");
    wrap.className = "replies-wrap";
    list = document.createElement("ol");
    list.className = "replies";
    list.dataset.repliesFor = parent.dataset.id;
    wrap.append(list);
    var more = item.querySelector(":scope > .thread__more");
    if (more) item.insertBefore(wrap, more);
    else item.append(wrap);
    return list;
  }

  function showNotice(message) {
    var notice = document.getElementById("live-notice");
    if (!notice) return;
    notice.textContent = "";
    var text = document.createTextNode(message.sender + " wrote in an earlier thread. ");
    var link = document.createElement("a");
    link.href = "/messages/" + message.id + "/#m" + message.id;
    link.textContent = "Show it";
    notice.append(text, link);
    notice.hidden = false;
  }

  /* Messages shown while the page is in view are read; the server is told. */
  var toMark = [];
  function queueRead(id) {
    toMark.push(id);
    markVisibleRead();
  }
  function markVisibleRead() {
    if (document.visibilityState !== "visible" || !toMark.length || !window.Messaging) return;
    var ids = toMark.splice(0);
    ids.forEach(function (id) {
      window.Messaging.post("/messages/" + id + "/read/").catch(function () {});
    });
  }

  /* The inbox ------------------------------------------------------------------ */

  function inboxRow(username) {
    var list = document.getElementById("conversations");
    if (!list) return null;
    var rows = list.querySelectorAll("li[data-partner]");
    for (var i = 0; i < rows.length; i += 1) {
      if (rows[i].dataset.partner === username) return rows[i];
    }
    return null;
  }

  function updateInboxRow(message) {
    var list = document.getElementById("conversations");
    var template = document.getElementById("tpl-conversation");
    if (!list) return;
    var row = inboxRow(message.sender);
    if (!row) {
      if (!template) return;
      row = template.content.firstElementChild.cloneNode(true);
      row.dataset.partner = message.sender;
      row.querySelector(".conv__link").href = "/conversations/" + encodeURIComponent(message.sender) + "/";
      row.querySelector(".conv__name").textContent = message.sender;
      row.querySelector(".avatar").textContent = message.sender.charAt(0).toUpperCase();
      row.querySelector(".avatar").classList.add("avatar--0");
      var empty = document.getElementById("inbox-empty");
      if (empty) empty.remove();
    }
    row.dataset.last = message.id;
    row.classList.add("conv--unread");
    row.querySelector("[data-you]").hidden = true;
    row.querySelector("[data-preview]").textContent = preview(message.content);
    setTime(row.querySelector("time"), message.timestamp);
    var badge = row.querySelector("[data-unread]");
    var count = badge.querySelector("[data-badge-count]");
    count.textContent = String((badge.hidden ? 0 : parseInt(count.textContent, 10) || 0) + 1);
    badge.hidden = false;
    list.prepend(row);
  }

  /* Badges --------------------------------------------------------------------- */

  function badge(name) {
    return document.querySelector("[data-badge='" + name + "']");
  }

  function setBadge(name, value) {
    var el = badge(name);
    if (!el) return;
    el.querySelector("[data-badge-count]").textContent = String(Math.max(0, value));
    el.hidden = value <= 0;
  }

  function bumpBadge(name, by) {
    var el = badge(name);
    if (!el) return;
    var now = parseInt(el.querySelector("[data-badge-count]").textContent, 10) || 0;
    setBadge(name, now + by);
    flash(el, "bump");
  }

  /* After a drop: events may have been missed, so ask for the counts again. */
  function refreshCounts() {
    var url = document.body.dataset.countsUrl;
    if (!url) return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (counts) {
        if (!counts) return;
        setBadge("notifications", counts.notifications);
        setBadge("messages", counts.messages);
      })
      .catch(function () {});
  }

  function catchUp() {
    refreshCounts();
    if (!conversation || !document.getElementById("threads")) return;
    var typing = document.activeElement instanceof HTMLTextAreaElement && document.activeElement.value;
    if (typing) return;
    /* Fetch the page again and take its threads: nothing missed stays missing. */
    fetch(location.href, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("threads");
        var current = document.getElementById("threads");
        if (fresh && current) {
          current.replaceWith(document.adoptNode(fresh));
          if (window.Messaging) window.Messaging.localizeTimes(document.getElementById("threads"));
        }
      })
      .catch(function () {});
  }

  /* Helpers -------------------------------------------------------------------- */

  function preview(text, length) {
    length = length || 140;
    return text.length > length ? text.slice(0, length - 1) + "…" : text;
  }

  function setTime(el, iso) {
    if (!el) return;
    el.setAttribute("datetime", iso);
    el.textContent = iso;
    if (window.Messaging) window.Messaging.localizeTimes(el.parentNode);
  }

  function flash(el, name) {
    name = name || "msg-item--live";
    var target = name === "bump" ? el : el.closest(".msg-item") || el;
    target.classList.remove(name);
    void target.offsetWidth;
    target.classList.add(name);
  }

  var announcer = document.getElementById("live-announcer");
  function announce(text) {
    if (announcer) announcer.textContent = text;
  }

  connect();
})();

/* Live updates from the real-time socket (/ws/events/, see API.md "Real time").
   Frames are {"type": T, "data": {...}}. New messages appear, edits show, badges
   count up, and down when the person reads in any tab; the tab's title leads with
   the unread messages, "(3) Inbox · Messaging". If the socket is missing or refused,
   the pages simply stay as the server rendered them. User text goes in with
   textContent only (links in a message's text are elements made here, see `fillText`).

   Reconnecting, by close code:
   - 4401/4403 (signed out, not allowed): never; retrying cannot help.
   - 4000 (this browser changed the password; its session has a new key): at once.
   - 4008 (too many open sockets: this page's was the person's oldest): not by
     itself. Reconnecting at once would close the person's next oldest socket,
     whose page would reconnect and close another, round and round. The page says
     it is not live and reconnects when it is looked at again (it becomes visible,
     or comes back from the back/forward cache): the page in front is live, and a
     page in the background makes way.
   - 1012, 1001, 1006 (server restart, going away, connection lost) on a socket
     that was open: the first retry comes within half a second (at most once every
     ten seconds), then backoff.
   - anything else: exponential backoff with full jitter, which spreads the
     reconnects of many pages after a server restart.
   After every reopen the page catches up: it asks the server again for its live
   lists and the counts (see "Catching up"), so nothing sent while it was away stays
   missing. */
(function () {
  "use strict";

  var me = document.body.dataset.user;
  if (!me || !("WebSocket" in window)) return;

  var BASE_DELAY = 1000;
  var MAX_DELAY = 30000;
  /* While the socket has never answered (not deployed yet), try rarely. */
  var MAX_DELAY_NEVER_OPENED = 120000;
  var QUICK_RETRY = 500;
  var QUICK_CODES = { 1001: true, 1006: true, 1012: true };
  /* A socket open this long was working: its drop starts the backoff over. Quick
     retries are at most this often, so a server that drops every socket at once
     is not hammered. */
  var STABLE_AFTER = 10000;

  var socket = null;
  var attempt = 0;
  var everOpened = false;
  var retryTimer = null;
  var lastQuickRetry = 0;
  /* Signed out (4401/4403), or the page is going away: no reconnecting. */
  var stopped = false;
  /* Closed with 4008: reconnects when the page is looked at again. */
  var displaced = false;
  /* Catching up (below): which catch-up and counts request is the latest, the frames
     held while a catch-up is on its way, and how many frames arrived so far. */
  var catchUps = 0;
  var countRequests = 0;
  var heldFrames = null;
  var framesSeen = 0;
  var statusEl = document.getElementById("live-status");
  var conversation = document.querySelector("[data-conversation]");
  var partner = conversation ? conversation.dataset.conversation : null;

  function setState(state) {
    document.documentElement.dataset.live = state;
    if (!statusEl) return;
    var labels = {
      open: "Live",
      reconnecting: "Reconnecting…",
      displaced: "Not live: open in too many tabs"
    };
    statusEl.dataset.state = state;
    statusEl.textContent = labels[state] || "";
    statusEl.hidden = !labels[state];
  }

  function socketUrl() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/events/";
  }

  function connect() {
    retryTimer = null;
    if (stopped || displaced || socket) return;
    setState(everOpened ? "reconnecting" : "connecting");
    var ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (error) {
      scheduleRetry(false);
      return;
    }
    socket = ws;
    var openedAt = 0;
    /* Every listener first checks that its socket is still the page's: a socket the
       page gave up on (pagehide) must not touch the state of the next one. */
    ws.addEventListener("open", function () {
      if (ws !== socket) return;
      var wasDropped = everOpened;
      everOpened = true;
      openedAt = Date.now();
      setState("open");
      if (wasDropped) catchUp();
    });
    ws.addEventListener("message", function (event) {
      if (ws !== socket) return;
      var frame;
      try { frame = JSON.parse(event.data); } catch (error) { return; }
      if (frame && typeof frame.type === "string" && frame.data) receive(frame.type, frame.data);
    });
    ws.addEventListener("close", function (event) {
      if (ws !== socket) return;
      socket = null;
      if (event.code === 4401 || event.code === 4403) {
        stopped = true;
        setState("closed");
        return;
      }
      if (event.code === 4008) {
        displaced = true;
        setState("displaced");
        return;
      }
      if (openedAt && Date.now() - openedAt >= STABLE_AFTER) attempt = 0;
      if (event.code === 4000) {
        setState("reconnecting");
        connect();
        return;
      }
      var quick = openedAt > 0 && QUICK_CODES[event.code] === true &&
        Date.now() - lastQuickRetry >= STABLE_AFTER;
      setState(everOpened ? "reconnecting" : "closed");
      scheduleRetry(quick);
    });
  }

  function scheduleRetry(quick) {
    if (stopped || displaced || retryTimer) return;
    var delay;
    if (quick) {
      lastQuickRetry = Date.now();
      delay = Math.random() * QUICK_RETRY;
    } else {
      /* Exponential backoff with full jitter. */
      var cap = everOpened ? MAX_DELAY : MAX_DELAY_NEVER_OPENED;
      var ceiling = Math.min(cap, BASE_DELAY * Math.pow(2, attempt));
      attempt += 1;
      delay = BASE_DELAY / 2 + Math.random() * ceiling;
    }
    retryTimer = window.setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (stopped || displaced || socket) return;
    if (retryTimer) window.clearTimeout(retryTimer);
    retryTimer = null;
    attempt = 0;
    connect();
  }

  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible") return;
    displaced = false;
    reconnectNow();
    markVisibleRead();
  });
  window.addEventListener("pagehide", function () {
    stopped = true;
    if (retryTimer) window.clearTimeout(retryTimer);
    retryTimer = null;
    if (socket) {
      var ws = socket;
      socket = null;
      ws.close(1000);
    }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      stopped = false;
      displaced = false;
      reconnectNow();
    }
  });

  /* Events ------------------------------------------------------------------- */

  function receive(type, data) {
    framesSeen += 1;
    if (heldFrames) heldFrames.push({ type: type, data: data });
    handle(type, data, false);
  }

  /* `replay`: the frame was shown already and is applied again to lists the page
     just fetched; only the lists change (no badge, announcement or read mark). */
  function handle(type, data, replay) {
    document.dispatchEvent(new CustomEvent("messaging:frame",
      { detail: { type: type, data: data, replay: replay } }));
    if (type === "message.created") onCreated(data, replay);
    else if (type === "message.updated") onUpdated(data);
    else if (type === "message.deleted") onDeleted(data, replay);
    else if (type === "message.read") onRead(data);
    else if (type === "conversation.read") onReadByMe(data, replay);
    else if (type === "notification.created") onNotification(data, replay);
  }

  function onCreated(message, replay) {
    if (partner && message.sender === partner) {
      if (insertMessage(message)) {
        if (replay) return;
        queueRead(message.id);
        announce("New message from " + message.sender);
        return;
      }
    }
    /* Not shown again when the inbox row has it already (the page was fetched after it). */
    var shown = updateInboxRow(message);
    if (replay || !shown) return;
    bumpBadge("messages", 1);
    announce("New message from " + message.sender);
  }

  function onUpdated(message) {
    var article = document.getElementById("m" + message.id);
    if (article) {
      showText(article.querySelector("[data-content]"), message.content);
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

  function onDeleted(data, replay) {
    var article = document.getElementById("m" + data.id);
    if (article) {
      article.classList.add("msg--deleted");
      var content = article.querySelector("[data-content]");
      content.textContent = "This message was deleted.";
      content.classList.remove("msg__content--long");
      if (window.Messaging) window.Messaging.fold(content);
      var actions = article.querySelector(".msg__actions");
      if (actions) actions.remove();
    }
    if (!replay) refreshCounts(1);
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

  /* This person read `ids` from `partner` (in this tab or another, or on another
     device), and with them their notifications: no longer new here, the inbox row
     counts down, and the header's counts and the title come from the server. */
  function onReadByMe(data, replay) {
    var ids = data.ids || [];
    ids.forEach(function (id) {
      var article = document.getElementById("m" + id);
      if (!article) return;
      article.classList.remove("msg--new");
      var pill = article.querySelector(".pill--new");
      if (pill) pill.remove();
    });
    if (replay) return;
    var row = inboxRow(data.partner);
    if (row && ids.length) {
      var unread = row.querySelector("[data-unread]");
      var count = unread.querySelector("[data-badge-count]");
      var left = Math.max(0, (parseInt(count.textContent, 10) || 0) - ids.length);
      count.textContent = String(left);
      unread.hidden = left === 0;
      if (!left) row.classList.remove("conv--unread");
    }
    refreshCounts(3);
  }

  function onNotification(note, replay) {
    /* Already listed: the page was fetched after it was made, and counted it. */
    if (document.getElementById("n" + note.id)) return;
    if (!replay) bumpBadge("notifications", 1);
    var list = document.getElementById("notes");
    var template = document.getElementById("tpl-note");
    if (!list || !template || note.read) return;
    var item = template.content.firstElementChild.cloneNode(true);
    item.id = "n" + note.id;
    item.dataset.id = note.id;
    item.querySelector(".note__icon").classList.add("note__icon--" + note.kind);
    var link = item.querySelector(".note__link");
    link.href = "/messages/" + note.message + "/?notification=" + note.id + "#m" + note.message;
    noteText(link, note.text);
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
      var quoted = document.createElement("bdi");
      quoted.textContent = preview(replyTo.querySelector("[data-content]").textContent, 60);
      context.textContent = "";
      context.append("↪ to " + replyTo.dataset.sender + ": “", quoted, "”");
      context.hidden = false;
    }
    var content = article.querySelector("[data-content]");
    content.id = "content-" + message.id;
    showText(content, message.content);
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
  var marked = {};
  function queueRead(id) {
    if (marked[id]) return;
    marked[id] = true;
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

  /* Returns false when the row shows this message (or a later one) already. */
  function updateInboxRow(message) {
    var list = document.getElementById("conversations");
    var template = document.getElementById("tpl-conversation");
    if (!list) return true;
    var row = inboxRow(message.sender);
    if (row && (parseInt(row.dataset.last, 10) || 0) >= message.id) return false;
    if (!row) {
      if (!template) return true;
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
    return true;
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
    if (name === "messages") setTitle(value);
  }

  /* "(3) Inbox · Messaging": a tab in the background shows the unread messages. */
  var plainTitle = document.title.replace(/^\(\d+\) /, "");
  function setTitle(unread) {
    document.title = (unread > 0 ? "(" + unread + ") " : "") + plainTitle;
  }

  function bumpBadge(name, by) {
    var el = badge(name);
    if (!el) return;
    var now = parseInt(el.querySelector("[data-badge-count]").textContent, 10) || 0;
    setBadge(name, now + by);
    flash(el, "bump");
  }

  /* Catching up -----------------------------------------------------------------
     After every reopen the page asks the server again for what it shows: the counts,
     and the live lists of this page (the threads of a conversation, the inbox rows,
     the notifications), which replace the ones on the page. The answer may be older
     than frames that arrive while it is on its way: those frames are held and
     applied again on top of it (applying a frame to a list twice changes nothing),
     so neither hides the other. The counts are asked again while frames keep
     arriving during the request. */
  var LISTS = ["threads", "conversations", "notes"];
  var EMPTY_NOTES = ["threads-empty", "inbox-empty"];

  function catchUp() {
    var run = ++catchUps;
    refreshCounts(3);
    var lists = LISTS.filter(function (id) { return document.getElementById(id); });
    if (!lists.length) return;
    var writing = fieldBeingWritten(lists);
    if (writing) {
      /* Replacing the lists would take the reply being written with them: catch up
         once the writer leaves the field. */
      writing.addEventListener("focusout", function () {
        if (run === catchUps) catchUp();
      }, { once: true });
      return;
    }
    heldFrames = [];
    fetch(location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (run !== catchUps) return;
        var held = heldFrames || [];
        heldFrames = null;
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        lists.forEach(function (id) {
          var current = document.getElementById(id);
          var next = fresh.getElementById(id);
          if (!current || !next) return;
          current.replaceWith(document.adoptNode(next));
          if (window.Messaging) window.Messaging.enhance(next);
        });
        EMPTY_NOTES.forEach(function (id) {
          var current = document.getElementById(id);
          if (current && !fresh.getElementById(id)) current.remove();
        });
        held.forEach(function (frame) { handle(frame.type, frame.data, true); });
        /* What the partner sent meanwhile is on the open page now: read, as if it had
           arrived live (once the page is in view). */
        if (partner) {
          var unread = document.querySelectorAll("#threads article.msg--new");
          Array.prototype.forEach.call(unread, function (article) {
            if (article.dataset.sender === partner) queueRead(article.dataset.id);
          });
        }
      })
      .catch(function () {
        if (run === catchUps) heldFrames = null;
      });
  }

  function fieldBeingWritten(lists) {
    var field = document.activeElement;
    if (!field || !(field instanceof HTMLTextAreaElement || field instanceof HTMLInputElement)) return null;
    if (!field.value) return null;
    for (var i = 0; i < lists.length; i += 1) {
      if (document.getElementById(lists[i]).contains(field)) return field;
    }
    return null;
  }

  function refreshCounts(tries) {
    var url = document.body.dataset.countsUrl;
    if (!url) return;
    var run = ++countRequests;
    var seen = framesSeen;
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (counts) {
        if (!counts || run !== countRequests) return;
        if (framesSeen !== seen && tries > 1) {
          refreshCounts(tries - 1);
          return;
        }
        setBadge("notifications", counts.notifications);
        setBadge("messages", counts.messages);
      })
      .catch(function () {});
  }

  /* Message text ----------------------------------------------------------------
     The rules of the server's `linkify` and `folds` (web/templatetags/messaging_tags.py):
     change them together. */

  /* `http://` or `https://` (spelled out: an ignore-case match would take the long s,
     U+017F, for "s"),
     not glued to a word or another scheme; it ends at whitespace, controls, < > ",
     and at invisible characters that could disguise it (bidi controls, zero widths). */
  var URL_PATTERN =
    /(^|[^\p{L}\p{N}_+.\-:\/@])([hH][tT][tT][pP][sS]?:\/\/[^\s<>"\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]+)/gu;
  /* Punctuation after an address belongs to the sentence; so does a closing bracket
     the address did not open. */
  var TRAILING =
    ".,!?:;'*\u2026\u201d\u2019\u00bb\u203a\u3002\u3001\uff0c\uff01\uff1f\uff1a\uff1b";
  var CLOSING = { ")": "(", "]": "[" };
  var FOLD_OVER_CHARS = 600;
  var FOLD_OVER_LINES = 12;

  function count(text, char) {
    return text.split(char).length - 1;
  }

  function trimUrl(url) {
    var closes = {};
    Object.keys(CLOSING).forEach(function (close) {
      closes[close] = count(url, close) - count(url, CLOSING[close]);
    });
    var end = url.length;
    while (end) {
      var last = url.charAt(end - 1);
      if (TRAILING.indexOf(last) !== -1) {
        end -= 1;
      } else if (closes[last] > 0) {
        closes[last] -= 1;
        end -= 1;
      } else {
        break;
      }
    }
    return url.slice(0, end);
  }

  function hasHost(url) {
    var host = url.split("://")[1].split(/[/?#]/)[0];
    return /[\p{L}\p{N}]/u.test(host);
  }

  /* The text as text nodes, each address an <a> that opens apart from the page. */
  function fillText(el, text) {
    el.textContent = "";
    var done = 0;
    var match;
    URL_PATTERN.lastIndex = 0;
    while ((match = URL_PATTERN.exec(text)) !== null) {
      var url = trimUrl(match[2]);
      if (!hasHost(url)) continue;
      var start = match.index + match[1].length;
      var link = document.createElement("a");
      link.setAttribute("href", url);
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      link.textContent = url;
      el.append(text.slice(done, start), link);
      done = start + url.length;
    }
    el.append(text.slice(done));
  }

  function isLong(text) {
    return Array.from(text).length > FOLD_OVER_CHARS || count(text, "\n") >= FOLD_OVER_LINES;
  }

  /* A message's text element: its text and links, folded when long. */
  function showText(el, text) {
    fillText(el, text);
    el.classList.toggle("msg__content--long", isLong(text));
    if (window.Messaging) window.Messaging.fold(el);
  }

  /* A notification's text, the message's preview isolated as the server does (`note_text`). */
  function noteText(el, text) {
    var at = text.indexOf(": ");
    if (at === -1) {
      el.textContent = text;
      return;
    }
    var quoted = document.createElement("bdi");
    quoted.textContent = text.slice(at + 2);
    el.textContent = "";
    el.append(text.slice(0, at + 2), quoted);
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

  var messagesBadge = badge("messages");
  if (messagesBadge && !messagesBadge.hidden) {
    setTitle(parseInt(messagesBadge.querySelector("[data-badge-count]").textContent, 10) || 0);
  }
  /* A conversation page that offers no "Mark read" marked the conversation read after
     drawing its header, before this page's socket could hear it: counts anew. */
  if (partner && !document.getElementById("mark-read-form") &&
      document.querySelector("header [data-badge]:not([hidden])")) {
    refreshCounts(3);
  }
  connect();
})();

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
  var Messaging = window.Messaging;
  if (!me || !Messaging || !("WebSocket" in window)) return;

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
     just fetched; only the lists change (no badge, announcement or read mark).
     Every frame is also a `messaging:frame` event for the page's other scripts (the
     conversation's, chat.js, and the desktop notifications'); a listener that showed
     the message on the page says so in `detail.shown`. */
  function handle(type, data, replay) {
    var detail = { type: type, data: data, replay: replay, shown: false };
    document.dispatchEvent(new CustomEvent("messaging:frame", { detail: detail }));
    if (type === "message.created") onCreated(data, replay, detail.shown);
    else if (type === "message.updated") onUpdated(data);
    else if (type === "message.deleted") onDeleted(replay);
    else if (type === "conversation.read") onReadByMe(data, replay);
    else if (type === "notification.created") onNotification(data, replay);
    else if (type === "group.updated") onGroupUpdated(data);
    else if (type === "group.left") onGroupLeft(data);
  }

  function onCreated(message, replay, shown) {
    /* On the open conversation it is read at once: no badge to count up. */
    if (shown) return;
    /* Not shown again when the inbox row has it already (the page was fetched after it). */
    var fresh = updateInboxRow(message);
    if (replay || !fresh) return;
    bumpBadge("messages", 1);
    announce("New message from " + message.sender);
  }

  function onUpdated(message) {
    var row = rowOf(message);
    if (row && row.dataset.last === String(message.id)) {
      row.querySelector("[data-preview]").textContent = Messaging.preview(message.content);
    }
  }

  function onDeleted(replay) {
    if (!replay) refreshCounts(1);
  }

  /* This person read `ids` from `partner` (in this tab or another, or on another
     device), and with them their notifications: the inbox row counts down, and the
     header's counts and the title come from the server. */
  function onReadByMe(data, replay) {
    var ids = data.ids || [];
    if (replay) return;
    if (data.group != null) {
      /* A group read up to a message: its row is read if that is the one it shows. */
      var read = groupRow(data.group);
      if (read && (parseInt(read.dataset.last, 10) || 0) <= data.up_to) setUnread(read, 0);
      refreshCounts(3);
      return;
    }
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
    Messaging.setTime(item.querySelector("time"), note.created_at);
    var empty = document.getElementById("notes-empty");
    if (empty) empty.remove();
    list.prepend(item);
  }

  /* The inbox ------------------------------------------------------------------ */

  function groupRow(id) {
    var list = document.getElementById("conversations");
    return list ? list.querySelector("li[data-group='" + Number(id) + "']") : null;
  }

  /* The row a message shows in: its group's, or its sender's. */
  function rowOf(message) {
    return message.group != null ? groupRow(message.group) : inboxRow(message.sender);
  }

  function setUnread(row, count) {
    var badge = row.querySelector("[data-unread]");
    badge.querySelector("[data-badge-count]").textContent = String(count);
    badge.hidden = count === 0;
    row.classList.toggle("conv--unread", count > 0);
  }

  /* A group row for a group this person is in now (made, or added to). */
  function newGroupRow(group) {
    var template = document.getElementById("tpl-group");
    if (!template) return null;
    var row = template.content.firstElementChild.cloneNode(true);
    row.dataset.group = group.id;
    row.querySelector(".conv__link").href = "/groups/" + Number(group.id) + "/";
    row.querySelector("[data-name]").textContent = group.name;
    row.querySelector(".avatar").textContent = (Array.from(group.name)[0] || "?").toUpperCase();
    row.querySelector(".avatar").classList.add("avatar--0");
    var empty = document.getElementById("inbox-empty");
    if (empty) empty.remove();
    return row;
  }

  function onGroupUpdated(group) {
    var list = document.getElementById("conversations");
    if (!list) return;
    var row = groupRow(group.id);
    if (!row) {
      if ((group.members || []).indexOf(me) === -1) return;
      row = newGroupRow(group);
      if (row) list.prepend(row);
      return;
    }
    row.querySelector("[data-name]").textContent = group.name;
  }

  function onGroupLeft(data) {
    var row = groupRow(data.id);
    if (row) row.remove();
    refreshCounts(3);
  }

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
    var row = rowOf(message);
    if (row && (parseInt(row.dataset.last, 10) || 0) >= message.id) return false;
    if (!row && message.group != null) {
      /* A group not on this page (an older page of the inbox): the server says where. */
      catchUp();
      return true;
    }
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
    var you = row.querySelector("[data-you]");
    if (you) you.hidden = true;
    var from = row.querySelector("[data-from]");
    if (from) from.textContent = message.sender + ": ";
    row.querySelector("[data-preview]").textContent = Messaging.preview(message.content);
    Messaging.setTime(row.querySelector("time"), message.timestamp);
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
    Messaging.flash(el, "bump");
  }

  /* Catching up -----------------------------------------------------------------
     After every reopen the page asks the server again for what it shows: the counts,
     and the live lists of this page (the threads of a conversation, the inbox rows,
     the notifications), which replace the ones on the page. The answer may be older
     than frames that arrive while it is on its way: those frames are held and
     applied again on top of it (applying a frame to a list twice changes nothing),
     so neither hides the other. The counts are asked again while frames keep
     arriving during the request. */
  var LISTS = ["messages", "conversations", "notes"];
  var EMPTY_NOTES = ["messages-empty", "inbox-empty"];

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
          Messaging.enhance(next);
        });
        EMPTY_NOTES.forEach(function (id) {
          var current = document.getElementById(id);
          if (current && !fresh.getElementById(id)) current.remove();
        });
        held.forEach(function (frame) { handle(frame.type, frame.data, true); });
        document.dispatchEvent(new CustomEvent("messaging:caught-up"));
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

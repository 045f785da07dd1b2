/* The conversation page as a chat: newest at the bottom, older history on scrolling
   up, Enter sends through the API without a reload, a draft per conversation, an
   outbox that survives going offline, and one actions menu for every message.

   Without this script the page still works: the scroller opens at its end, "Older
   messages" is a link, the composer posts its form, "⋯" opens the message's thread
   page (reply, edit, delete there), a quote opens the thread.

   Sending: each message gets an Idempotency-Key and goes into the outbox (stored in
   localStorage) before the first try, so a send is never lost (a closed tab, a crash,
   no network: the next page of this person sends it) and never doubled (every retry
   carries the same key; the API answers a retry with the first message). It shows at
   once as pending, then sent; a refusal (a block, a rule) marks it failed with the
   reason and "Retry"; no connection keeps it waiting until the browser is online.

   Messages that arrive live come from live.js as `messaging:frame` events and are
   rendered from the page's <template>, the server's own markup (_message.html). User
   text goes in with textContent only (links are elements made by Messaging.showText). */
(function () {
  "use strict";

  var root = document.querySelector(".chat[data-conversation]");
  var Messaging = window.Messaging;
  if (!root || !Messaging || !document.body.dataset.user) return;

  var me = document.body.dataset.user;
  /* "bob" for a conversation with bob, "group:7" for group 7 (no username has a ":"). */
  var conversation = root.dataset.conversation;
  var groupId = root.dataset.group || null;
  var partner = groupId ? null : conversation;
  var messageUrl = root.dataset.messageUrl;
  var sendUrl = root.dataset.sendUrl;
  var showsNewest = !root.dataset.before;
  var scroller = document.getElementById("chat-scroller");
  /* The list of messages; live.js replaces it when it catches up after a reconnect. */
  function list() {
    return document.getElementById("messages");
  }
  var template = document.getElementById("tpl-message");
  var jump = document.getElementById("chat-jump");
  var menu = document.getElementById("msg-menu");
  var confirmDelete = document.getElementById("confirm-delete");
  var form = document.getElementById("compose-form");
  var box = form && form.querySelector("textarea[name=content]");
  var parentField = form && form.querySelector("input[name=parent_message]");
  var replyBar = document.getElementById("composer-reply");
  var announcer = document.getElementById("live-announcer");
  var coarse = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;

  /* Sent messages wait here (below the conversation) until the server has them. */
  var pending = document.createElement("ol");
  pending.className = "chat__list chat__list--pending";
  pending.id = "pending";
  pending.setAttribute("aria-label", "Not sent yet");
  list().after(pending);

  function announce(text) {
    if (!announcer) return;
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  /* Storage (drafts and the outbox); a browser that refuses it still sends. ------- */

  function load(key, fallback) {
    try {
      var value = window.localStorage.getItem(key);
      return value ? JSON.parse(value) : fallback;
    } catch (error) {
      return fallback;
    }
  }

  function save(key, value) {
    try {
      if (value == null) window.localStorage.removeItem(key);
      else window.localStorage.setItem(key, JSON.stringify(value));
    } catch (error) { /* private mode or full: the page keeps working */ }
  }

  /* Scrolling -----------------------------------------------------------------------
     The scroller lays out from its end (CSS column-reverse), so 0 is the bottom and
     scrolling up goes negative; content added above keeps the reader's place. */

  function atBottom() {
    return scroller.scrollTop > -48;
  }

  function toBottom() {
    scroller.scrollTop = 0;
    jump.hidden = true;
  }

  scroller.addEventListener("scroll", function () {
    if (atBottom()) jump.hidden = true;
  }, { passive: true });
  jump.addEventListener("click", function () {
    toBottom();
    var last = list().querySelector(".chat__item:last-child article");
    if (last) last.focus({ preventScroll: true });
  });

  /* Opening: at the first unread message, else at the latest. */
  var firstUnread = document.getElementById("first-unread");
  if (firstUnread && showsNewest) firstUnread.scrollIntoView({ block: "start" });
  else if (location.hash && document.getElementById(location.hash.slice(1))) {
    document.getElementById(location.hash.slice(1)).scrollIntoView({ block: "center" });
  }

  /* Older history on scrolling up ---------------------------------------------------- */

  var loadingOlder = false;
  function loadOlder(link) {
    if (loadingOlder) return;
    loadingOlder = true;
    link.setAttribute("aria-busy", "true");
    fetch(link.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var older = page.getElementById("messages");
        if (!older) throw new Error("no messages");
        var divider = older.querySelector("#first-unread");
        if (divider && document.getElementById("first-unread")) divider.remove();
        var items = Array.prototype.slice.call(older.children);
        var first = list().firstElementChild;
        items.forEach(function (item) {
          var id = item.dataset.item;
          if (id && document.querySelector("[data-item='" + id + "']")) return;
          list().insertBefore(document.adoptNode(item), first);
        });
        Messaging.enhance(list());
        var head = page.querySelector(".chat__older, .chat__start");
        link.closest("p").replaceWith(document.adoptNode(head));
        watchOlder();
        announce(items.length + " older messages loaded");
      })
      .catch(function () { link.removeAttribute("aria-busy"); })
      .finally(function () { loadingOlder = false; });
  }

  var olderObserver = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) loadOlder(entry.target);
    });
  }, { root: scroller, rootMargin: "600px 0px 0px 0px" }) : null;

  function watchOlder() {
    var link = document.getElementById("older");
    if (link && olderObserver) olderObserver.observe(link);
  }
  watchOlder();
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("#older");
    if (!link || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    loadOlder(link);
  });

  /* Rendering a message from its payload (the API's `Message`) ----------------------- */

  function article(id) {
    return document.getElementById("m" + id);
  }

  function render(message, mine) {
    var item = template.content.firstElementChild.cloneNode(true);
    var el = item.querySelector("article");
    item.classList.toggle("chat__item--mine", mine);
    el.classList.toggle("msg--mine", mine);
    el.classList.toggle("msg--new", !mine);
    el.querySelector(".msg__author").textContent = mine ? "You" : message.sender;
    el.setAttribute("aria-label", mine ? "You" : message.sender);
    el.dataset.sender = message.sender;
    setQuote(el, message.parent_message);
    Messaging.showText(el.querySelector("[data-content]"), message.content);
    if (mine) el.querySelector("[data-receipt]").hidden = false;
    else el.querySelector(".pill--new").hidden = false;
    if (message.id) identify(item, message);
    return item;
  }

  /* What only the server knows: the id, the time, read and edited. */
  function identify(item, message) {
    var el = item.querySelector("article");
    item.dataset.item = message.id;
    el.id = "m" + message.id;
    el.dataset.id = message.id;
    el.querySelector("[data-content]").id = "content-" + message.id;
    var time = el.querySelector(".msg__time");
    time.href = messageUrl + message.id + "/#m" + message.id;
    Messaging.setTime(time.querySelector("time"), message.timestamp);
    var edited = el.querySelector("[data-history]");
    edited.href = messageUrl + message.id + "/history/";
    edited.hidden = !message.edited;
    el.querySelector("[data-menu]").href = messageUrl + message.id + "/#m" + message.id;
    /* A group message's `read` is the caller's own (always true for its sender): its
       receipt says "Sent", as the server's markup does. */
    setReceipt(el, message.group == null && message.read);
  }

  function setQuote(el, parentId) {
    var quote = el.querySelector("[data-quote]");
    if (parentId == null) {
      quote.hidden = true;
      return;
    }
    el.dataset.parent = parentId;
    var parent = article(parentId);
    quote.dataset.quote = parentId;
    quote.href = messageUrl + parentId + "/#m" + parentId;
    quote.querySelector("[data-quote-author]").textContent = parent
      ? (parent.classList.contains("msg--mine") ? "You" : parent.dataset.sender) : "Reply";
    quote.querySelector("[data-quote-text]").textContent = parent
      ? Messaging.preview(parent.querySelector("[data-content]").textContent, 90)
      : "to an earlier message";
    quote.hidden = false;
  }

  function setReceipt(el, read) {
    var receipt = el.querySelector("[data-receipt]");
    if (!receipt || receipt.hidden) return;
    receipt.textContent = read ? "Read" : "Sent";
    receipt.classList.toggle("msg__receipt--read", Boolean(read));
  }

  function setState(item, state, text) {
    item.dataset.state = state;
    var label = item.querySelector("[data-state]");
    label.textContent = text || "";
    var receipt = item.querySelector("[data-receipt]");
    if (receipt) receipt.hidden = state !== "sent";
  }

  function addToConversation(item) {
    var empty = document.getElementById("messages-empty");
    if (empty) empty.remove();
    list().append(item);
    Messaging.enhance(item);
  }

  /* Live frames (from live.js) ------------------------------------------------------ */

  document.addEventListener("messaging:frame", function (event) {
    var frame = event.detail;
    var data = frame.data;
    if (frame.type === "message.created" && ours(data)) {
      frame.shown = true;
      if (article(data.id)) return;
      if (!showsNewest) {
        notice(data);
        return;
      }
      var stay = atBottom();
      addToConversation(render(data, false));
      if (frame.replay) return;
      if (stay) toBottom();
      else jump.hidden = false;
      announce("New message from " + data.sender + ": " + Messaging.preview(data.content, 140));
      queueRead(data.id);
    } else if (frame.type === "message.updated") {
      updated(data);
    } else if (frame.type === "message.deleted") {
      var gone = article(data.id);
      if (gone) gone.closest(".chat__item").remove();
    } else if (frame.type === "message.read") {
      (data.ids || [data.id]).forEach(function (id) {
        var el = article(id);
        if (el) setReceipt(el, true);
      });
    } else if (frame.type === "conversation.read" && data.partner === partner && !groupId) {
      (data.ids || []).forEach(function (id) { seen(article(id)); });
    } else if (frame.type === "conversation.read" && groupId && String(data.group) === groupId) {
      list().querySelectorAll("article.msg--new").forEach(function (el) {
        if (Number(el.dataset.id) <= data.up_to) seen(el);
      });
    } else if (frame.type === "group.updated" && groupId && String(data.id) === groupId) {
      groupUpdated(data);
    } else if (frame.type === "group.left" && groupId && String(data.id) === groupId) {
      groupLeft();
    }
  });

  /* Whether a message belongs to this page: the group's (from someone else: one's own
     sends show from the outbox), or a direct one from the partner. */
  function ours(message) {
    if (groupId) return String(message.group) === groupId && message.sender !== me;
    return message.group == null && message.sender === partner;
  }

  function seen(el) {
    if (!el) return;
    el.classList.remove("msg--new");
    var pill = el.querySelector(".pill--new");
    if (pill) pill.remove();
  }

  /* The group changed (a new name, someone added or gone): the name at once, the
     members panel from the server (its forms carry this page's token). */
  function groupUpdated(group) {
    document.querySelectorAll("[data-group-name]").forEach(function (el) { el.textContent = group.name; });
    document.title = document.title.replace(/^(\(\d+\) )?.*( · Messaging)$/, function (all, count, tail) {
      return (count || "") + group.name + tail;
    });
    var change = group.change || {};
    var words = {
      renamed: change.by + " renamed the group " + group.name,
      added: change.by + " added " + change.member,
      removed: change.by + " removed " + change.member,
      left: change.member + " left the group"
    };
    if (words[change.kind]) announce(words[change.kind]);
    fetch(location.pathname, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        ["members-summary", "members-list"].forEach(function (id) {
          var current = document.getElementById(id);
          var next = fresh.getElementById(id);
          if (current && next) current.replaceWith(document.adoptNode(next));
        });
      })
      .catch(function () {});
  }

  /* Removed, or left in another tab: the page says so and no longer offers to write. */
  function groupLeft() {
    root.classList.add("chat--gone");
    var gone = document.getElementById("group-gone");
    if (gone) gone.hidden = false;
    if (box) box.disabled = true;
    setOutbox(outbox().filter(function (entry) { return entryFor(entry) !== conversation; }));
    pending.textContent = "";
    announce("You are no longer in this group.");
  }

  function updated(message) {
    var el = article(message.id);
    if (!el) return;
    Messaging.showText(el.querySelector("[data-content]"), message.content);
    el.querySelector("[data-history]").hidden = !message.edited;
    var panel = el.querySelector(".history-panel");
    if (panel) panel.remove();
    document.querySelectorAll("[data-quote='" + message.id + "'] [data-quote-text]").forEach(function (text) {
      text.textContent = Messaging.preview(message.content, 90);
    });
    Messaging.flash(el);
  }

  function notice(message) {
    var el = document.getElementById("live-notice");
    el.textContent = "";
    var link = document.createElement("a");
    link.href = location.pathname;
    link.textContent = "Show the newest messages";
    el.append(message.sender + " sent a new message. ", link);
    el.hidden = false;
  }

  /* What arrives while the page is in view is read; the server is told. */
  var toMark = [];
  function queueRead(id) {
    toMark.push(id);
    markVisibleRead();
  }
  function markVisibleRead() {
    if (document.visibilityState !== "visible") return;
    toMark.splice(0).forEach(function (id) {
      /* keepalive: a message seen just before leaving the page is read all the same. */
      Messaging.post(messageUrl + id + "/read/", null, true).catch(function () {});
    });
  }
  document.addEventListener("visibilitychange", markVisibleRead);
  /* After a reconnect live.js fetched the page again: what the partner sent meanwhile
     is on it now, read as if it had arrived live. */
  document.addEventListener("messaging:caught-up", function () {
    list().querySelectorAll("article.msg--new").forEach(function (el) {
      if (groupId ? el.dataset.sender !== me : el.dataset.sender === partner) queueRead(el.dataset.id);
    });
  });

  /* Drafts: one per conversation, kept as it is typed, gone once sent. ---------------- */

  var draftKey = "messaging:draft:" + me + ":" + conversation;

  function keepDraft() {
    var text = box.value;
    var parent = parentField.value;
    save(draftKey, text || parent ? { text: text, parent: parent } : null);
  }

  /* The outbox ------------------------------------------------------------------------ */

  var outboxKey = "messaging:outbox:" + me;
  var inFlight = {};
  var retryTimer = null;
  var retryDelay = 2000;

  function outbox() {
    return load(outboxKey, []);
  }

  function setOutbox(entries) {
    save(outboxKey, entries.length ? entries : null);
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function pendingItem(entry) {
    var item = document.getElementById("p-" + entry.key);
    if (item) return item;
    item = render({ sender: me, content: entry.content, parent_message: entry.parent }, true);
    item.id = "p-" + entry.key;
    item.classList.add("chat__item--pending");
    item.querySelector("[data-menu]").hidden = true;
    item.querySelector("time").textContent = "";
    pending.append(item);
    return item;
  }

  /* Which conversation an outbox entry is for (entries of older pages have `receiver`). */
  function entryFor(entry) {
    return entry.conversation || entry.receiver;
  }

  function send(text, parent) {
    var entry = { key: newKey(), conversation: conversation, content: text, parent: parent || null, at: Date.now() };
    if (groupId) entry.url = root.dataset.groupSendUrl;
    else entry.receiver = partner;
    setOutbox(outbox().concat([entry]));
    setState(pendingItem(entry), "pending", "Sending…");
    toBottom();
    flush();
  }

  function flush() {
    if (retryTimer) window.clearTimeout(retryTimer);
    retryTimer = null;
    outbox().forEach(function (entry) {
      if (inFlight[entry.key]) return;
      var item = entryFor(entry) === conversation ? pendingItem(entry) : null;
      if (entry.failed) {
        /* Refused while another conversation was open: shown here, with Retry. */
        if (item) refused(entry, item, entry.failed);
        return;
      }
      if (!navigator.onLine) {
        if (item) setState(item, "waiting", "Waiting for a connection…");
        return;
      }
      inFlight[entry.key] = true;
      attempt(entry, item);
    });
  }

  /* Both kinds go to the API: a direct message to /messages/ with its receiver, a
     group's to the group's messages (`entry.url`). */
  function request(entry) {
    var headers = {
      Accept: "application/json",
      "Content-Type": "application/json",
      "X-CSRFToken": Messaging.csrfToken(),
      "Idempotency-Key": entry.key
    };
    var body = entry.url ? {} : { receiver: entry.receiver };
    body.content = entry.content;
    if (entry.parent) body.parent_message = Number(entry.parent);
    return { url: entry.url || sendUrl, headers: headers, body: JSON.stringify(body) };
  }

  function attempt(entry, item) {
    var sending = request(entry);
    fetch(sending.url, {
      method: "POST",
      credentials: "same-origin",
      headers: sending.headers,
      body: sending.body
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        delete inFlight[entry.key];
        if (response.ok) return sent(entry, item, data);
        if (response.status === 429 || response.status >= 500) {
          var wait = parseInt(response.headers.get("Retry-After"), 10);
          return later(item, wait > 0 ? wait * 1000 : null);
        }
        refused(entry, item, reason(data, response.status));
      });
    }).catch(function () {
      delete inFlight[entry.key];
      later(item, null);
    });
  }

  function forget(key) {
    setOutbox(outbox().filter(function (entry) { return entry.key !== key; }));
  }

  function sent(entry, item, message) {
    forget(entry.key);
    retryDelay = 2000;
    if (!item) return;
    item.removeAttribute("id");
    item.classList.remove("chat__item--pending");
    item.querySelector("[data-menu]").hidden = false;
    setState(item, "sent", "");
    var shown = article(message.id);
    if (shown) {
      item.remove(); /* another tab's send, or a catch-up, showed it already */
      return;
    }
    identify(item, message);
    var stay = atBottom();
    addToConversation(item);
    if (stay) toBottom();
  }

  function later(item, wait) {
    if (item) {
      setState(item, "waiting", navigator.onLine ? "Not sent yet, trying again…" : "Waiting for a connection…");
    }
    if (!retryTimer) {
      retryTimer = window.setTimeout(flush, wait || retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    }
  }

  function refused(entry, item, why) {
    if (!item) {
      /* Kept, marked, for its own conversation's page to show. */
      setOutbox(outbox().map(function (kept) {
        return kept.key === entry.key ? Object.assign({}, kept, { failed: why }) : kept;
      }));
      return;
    }
    forget(entry.key);
    delete entry.failed;
    setState(item, "failed", "Not sent: " + why);
    var actions = document.createElement("span");
    actions.className = "msg__retry";
    var retry = button("Retry", function () {
      actions.remove();
      setOutbox(outbox().concat([entry]));
      setState(item, "pending", "Sending…");
      flush();
    });
    var discard = button("Discard", function () {
      item.remove();
      box.focus();
    });
    actions.append(retry, discard);
    item.querySelector(".msg__meta").append(actions);
    announce("Your message was not sent: " + why);
  }

  function button(text, onClick) {
    var el = document.createElement("button");
    el.type = "button";
    el.className = "btn btn--ghost btn--small";
    el.textContent = text;
    el.addEventListener("click", onClick);
    return el;
  }

  function reason(data, status) {
    var texts = [];
    Object.keys(data || {}).forEach(function (field) {
      var value = data[field];
      texts = texts.concat(Array.isArray(value) ? value : [value]);
    });
    if (texts.length) return texts.join(" ");
    if (status === 401 || status === 403) return "you are signed out. Log in again, then retry.";
    return "the server refused it (" + status + ").";
  }

  window.addEventListener("online", flush);
  window.addEventListener("offline", function () { flush(); });
  /* Another tab of this person queued or sent something. */
  window.addEventListener("storage", function (event) {
    if (event.key === outboxKey) flush();
  });

  /* The composer -------------------------------------------------------------------- */

  if (form && box) {
    var draft = load(draftKey, null);
    if (draft && !box.value) {
      box.value = draft.text || "";
      if (draft.parent && !parentField.value) {
        var target = article(draft.parent);
        if (target) startReply(target, false);
      }
    }
    grow();

    box.addEventListener("input", function () {
      box.setCustomValidity("");
      grow();
      keepDraft();
    });
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !coarse) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "Escape" && !replyBar.hidden) {
        event.preventDefault();
        endReply();
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = box.value;
      if (!text.trim()) {
        box.setCustomValidity("Write something first.");
        box.reportValidity();
        return;
      }
      send(text, parentField.value);
      box.value = "";
      endReply();
      save(draftKey, null);
      grow();
      box.focus();
    });
    replyBar.querySelector("[data-reply-cancel]").addEventListener("click", function (event) {
      event.preventDefault();
      endReply();
      box.focus();
    });
  }

  function grow() {
    box.style.height = "auto";
    box.style.height = Math.min(box.scrollHeight, 200) + "px";
  }

  function startReply(el, focus) {
    parentField.value = el.dataset.id;
    replyBar.querySelector("[data-reply-author]").textContent =
      el.classList.contains("msg--mine") ? "yourself" : el.dataset.sender;
    replyBar.querySelector("[data-reply-text]").textContent =
      Messaging.preview(el.querySelector("[data-content]").textContent, 90);
    replyBar.hidden = false;
    keepDraft();
    if (focus !== false) box.focus();
  }

  function endReply() {
    parentField.value = "";
    replyBar.hidden = true;
    keepDraft();
  }

  flush();

  /* Quotes: to the message answered, when it is on the page. --------------------------- */

  document.addEventListener("click", function (event) {
    var quote = event.target.closest && event.target.closest("a[data-quote]");
    if (!quote || event.metaKey || event.ctrlKey || event.shiftKey) return;
    var target = article(quote.dataset.quote);
    if (!target) return; /* the thread page shows it */
    event.preventDefault();
    target.tabIndex = -1;
    target.scrollIntoView({ block: "center", behavior: "smooth" });
    target.focus({ preventScroll: true });
    Messaging.flash(target);
  });

  /* The actions menu: one for the page, opened for one message. ---------------------- */

  var menuFor = null;
  var opener = null;
  var openedAt = 0;

  function openMenu(link) {
    var el = link.closest("article");
    menuFor = el;
    opener = link;
    openedAt = scroller.scrollTop;
    var id = el.dataset.id;
    var mine = el.classList.contains("msg--mine");
    menu.querySelectorAll("[data-mine]").forEach(function (item) { item.hidden = !mine; });
    menu.querySelector("[data-do=thread]").href = messageUrl + id + "/#m" + id;
    var history = menu.querySelector("[data-do=history]");
    history.href = messageUrl + id + "/history/";
    history.hidden = el.querySelector("[data-history]").hidden;
    menu.hidden = false;
    link.setAttribute("aria-expanded", "true");
    var rect = link.getBoundingClientRect();
    var width = menu.offsetWidth;
    var height = menu.offsetHeight;
    var left = mine ? rect.right - width : rect.left;
    var top = rect.bottom + 4 + height > window.innerHeight ? rect.top - height - 4 : rect.bottom + 4;
    menu.style.left = Math.max(8, Math.min(left, window.innerWidth - width - 8)) + "px";
    menu.style.top = Math.max(8, top) + "px";
    items()[0].focus();
  }

  function closeMenu(refocus) {
    if (menu.hidden) return;
    menu.hidden = true;
    if (opener) {
      opener.setAttribute("aria-expanded", "false");
      if (refocus) opener.focus();
    }
  }

  function items() {
    return Array.prototype.filter.call(menu.querySelectorAll("[role=menuitem]"), function (item) {
      return !item.hidden;
    });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-menu]");
    if (link && !event.metaKey && !event.ctrlKey && !event.shiftKey) {
      event.preventDefault();
      if (!menu.hidden && opener === link) closeMenu(true);
      else openMenu(link);
      return;
    }
    if (!menu.hidden && !menu.contains(event.target)) closeMenu(false);
  });

  menu.addEventListener("keydown", function (event) {
    var all = items();
    var at = all.indexOf(document.activeElement);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var step = event.key === "ArrowDown" ? 1 : -1;
      all[(at + step + all.length) % all.length].focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      all[event.key === "Home" ? 0 : all.length - 1].focus();
    } else if (event.key === "Escape" || event.key === "Tab") {
      if (event.key === "Escape") event.preventDefault();
      closeMenu(event.key === "Escape");
    }
  });

  window.addEventListener("resize", function () { closeMenu(false); });
  /* Scrolled away from the message, the menu goes; a scroll that brought the message
     into view as it was opened does not count. */
  scroller.addEventListener("scroll", function () {
    if (!menu.hidden && Math.abs(scroller.scrollTop - openedAt) > 48) closeMenu(false);
  }, { passive: true });

  menu.addEventListener("click", function (event) {
    var item = event.target.closest("[data-do]");
    if (!item || !menuFor) return;
    var el = menuFor;
    var action = item.dataset.do;
    if (action === "thread" || action === "history") {
      closeMenu(false);
      return; /* a link: the browser follows it */
    }
    event.preventDefault();
    closeMenu(false);
    if (action === "reply") startReply(el);
    else if (action === "edit") editInPlace(el);
    else if (action === "copy") copyLink(el);
    else if (action === "delete") askDelete(el);
  });

  function copyLink(el) {
    var url = location.origin + messageUrl + el.dataset.id + "/#m" + el.dataset.id;
    var done = function () { announce("Link copied"); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(url).then(done, function () { window.prompt("Copy this link", url); });
    } else {
      window.prompt("Copy this link", url);
    }
    opener.focus();
  }

  function askDelete(el) {
    if (!confirmDelete || !confirmDelete.showModal) {
      window.location.href = messageUrl + el.dataset.id + "/delete/";
      return;
    }
    confirmDelete.returnValue = "";
    confirmDelete.showModal();
    confirmDelete.addEventListener("close", function () {
      if (confirmDelete.returnValue !== "delete") {
        opener.focus();
        return;
      }
      Messaging.post(messageUrl + el.dataset.id + "/delete/").then(function (response) {
        if (!response.ok) throw new Error(response.status);
        var item = el.closest(".chat__item");
        var next = item.nextElementSibling || item.previousElementSibling;
        item.remove();
        announce("Message deleted");
        var focus = next && next.querySelector("[data-menu]");
        (focus || box).focus();
      }).catch(function () {
        announce("The message could not be deleted. Try again.");
      });
    }, { once: true });
  }

  /* Editing in place: the text becomes a box; Enter saves, Escape gives up. */
  function editInPlace(el) {
    if (el.querySelector(".msg__editor")) return;
    var content = el.querySelector("[data-content]");
    var editor = document.createElement("form");
    editor.className = "msg__editor";
    var label = document.createElement("label");
    label.className = "visually-hidden";
    label.htmlFor = "edit-" + el.dataset.id;
    label.textContent = "Edit your message";
    var field = document.createElement("textarea");
    field.id = label.htmlFor;
    field.name = "content";
    field.required = true;
    field.maxLength = 10000;
    field.value = content.textContent;
    field.rows = Math.min(8, field.value.split("\n").length + 1);
    var error = document.createElement("p");
    error.className = "msg__editor-error";
    error.setAttribute("role", "alert");
    var saveButton = button("Save", null);
    saveButton.type = "submit";
    saveButton.className = "btn btn--primary btn--small";
    var cancel = button("Cancel", function () { close(); });
    var row = document.createElement("div");
    row.className = "msg__editor-buttons";
    row.append(cancel, saveButton);
    editor.append(label, field, error, row);
    content.hidden = true;
    content.after(editor);
    field.focus();
    field.setSelectionRange(field.value.length, field.value.length);

    function close() {
      editor.remove();
      content.hidden = false;
      el.querySelector("[data-menu]").focus();
    }
    field.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !coarse) {
        event.preventDefault();
        editor.requestSubmit();
      } else if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    });
    editor.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = new FormData();
      body.append("content", field.value);
      saveButton.disabled = true;
      Messaging.post(messageUrl + el.dataset.id + "/edit/", body).then(function (response) {
        if (response.ok) return response.json().then(function (message) {
          updated({ id: message.id, content: message.content, edited: true });
          close();
        });
        return response.text().then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var alert = page.querySelector(".errorlist, .alert--error");
          error.textContent = alert ? alert.textContent.trim() : "Not saved (" + response.status + ").";
        });
      }).catch(function () {
        error.textContent = "Not saved: no connection. Try again.";
      }).finally(function () { saveButton.disabled = false; });
    });
  }
})();

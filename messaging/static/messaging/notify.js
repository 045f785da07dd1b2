/* Desktop notifications while the site's tabs are in the background. Opt-in only:
   nothing asks the browser for permission until the person presses "Turn on desktop
   notifications" on the notifications page, and "Turn off" stops them again (the
   choice is remembered in this browser, per person). Without JavaScript, or where the
   browser cannot show them, the control stays hidden.

   live.js re-broadcasts every frame of the socket as a `messaging:frame` event on the
   document ({type, data, replay}); a `notification.created` that arrives live while
   this tab is hidden shows one desktop notification: the sender as its title, the
   message's preview as its body (plain text: the browser never reads it as HTML).
   Clicking it brings the tab forward and opens the message. When several tabs are
   hidden, one of them shows it (see `claim`), and `tag` (the notification's id) makes
   the browser replace rather than repeat one shown twice. */
(function () {
  "use strict";

  var me = document.body.dataset.user;
  var script = document.currentScript;
  if (!me) return;

  var supported = "Notification" in window && window.isSecureContext !== false;
  /* "on" while the person has them turned on. */
  var CHOICE = "messaging:desktop-notifications:" + me;
  /* A tab that shows a notification holds its lock this long: a tab whose frame
     arrives meanwhile leaves it. */
  var HOLD = 60000;
  var icon = script && script.dataset.icon;
  /* The thread page of message 0 (`messaging:thread`), made the page of any message. */
  var threadUrl = (script && script.dataset.threadUrl) || "/messages/0/";
  var TEXT = {
    on: "On: new notifications show on your desktop while this site is in a background tab.",
    off: "Off: turn them on to hear of new messages while this site is in a background tab.",
    asking: "Waiting for your answer to the browser…",
    blocked: "Blocked by your browser. To allow them, open this site's settings (the icon " +
      "left of the address), set Notifications to Allow, then reload this page."
  };

  /* Storage can be refused (private modes, settings): then the choice lasts this page. */
  var memory = {};
  function load(key) {
    if (key in memory) return memory[key];
    try { return window.localStorage.getItem(key); } catch (error) { return null; }
  }
  function save(key, value) {
    try { window.localStorage.setItem(key, value); } catch (error) { memory[key] = value; }
  }

  function state() {
    if (!supported) return "unsupported";
    if (Notification.permission === "denied") return "blocked";
    if (Notification.permission === "granted" && load(CHOICE) === "on") return "on";
    return "off";
  }

  /* The control on the notifications page ----------------------------------------- */

  var control = document.getElementById("desktop-notifications");
  var statusEl = control && control.querySelector("[data-notify-status]");
  var button = control && control.querySelector("[data-notify-toggle]");
  var asking = false;

  function render() {
    if (!control || !statusEl || !button) return;
    var now = state();
    control.hidden = now === "unsupported";
    if (control.hidden) return;
    control.dataset.state = now;
    var text = asking ? TEXT.asking : TEXT[now];
    if (statusEl.textContent !== text) statusEl.textContent = text;
    button.hidden = now === "blocked";
    button.disabled = asking;
    var label = now === "on" ? "Turn off" : "Turn on desktop notifications";
    if (button.dataset.label !== label) {
      button.dataset.label = label;
      button.textContent = label;
      if (now === "on") {
        var what = document.createElement("span");
        what.className = "visually-hidden";
        what.textContent = " desktop notifications";
        button.append(what);
      }
    }
  }

  /* The answer, from the promise or (older Safari) the callback, whichever comes. */
  function askPermission(done) {
    var answered = false;
    function answer(result) {
      if (answered) return;
      answered = true;
      done(result);
    }
    try {
      var promise = Notification.requestPermission(answer);
      if (promise && promise.then) {
        promise.then(answer, function () { answer(Notification.permission); });
      }
    } catch (error) {
      answer(Notification.permission);
    }
  }

  function toggle() {
    if (state() === "on") {
      save(CHOICE, "off");
      render();
      return;
    }
    /* Already allowed: the browser answers at once, without asking the person. */
    asking = Notification.permission === "default";
    render();
    askPermission(function (result) {
      asking = false;
      if (result === "granted") save(CHOICE, "on");
      render();
    });
  }

  if (control && button && supported) {
    button.addEventListener("click", toggle);
    /* Turned on or off in another tab; allowed or blocked in the site's settings. */
    window.addEventListener("storage", function (event) {
      if (event.key === CHOICE) render();
    });
    document.addEventListener("visibilitychange", render);
    if (navigator.permissions && navigator.permissions.query) {
      navigator.permissions.query({ name: "notifications" }).then(function (status) {
        status.addEventListener("change", render);
      }, function () {});
    }
  }
  render();

  /* Showing them ------------------------------------------------------------------- */

  /* message id → the notifications this tab shows for it, closed once it is read. */
  var open = {};

  /* One tab shows each notification: the first to take its lock (Web Locks, shared by
     the tabs of this browser) shows it and holds the lock a while; a tab that finds it
     held leaves it. Without Web Locks, a mark in localStorage does the same (a tab
     whose frame arrives at the very same moment may miss it: `tag` collapses those). */
  function claim(id, display) {
    var name = "messaging:desktop-notification:" + me + ":" + id;
    if (navigator.locks && navigator.locks.request) {
      navigator.locks.request(name, { ifAvailable: true }, function (lock) {
        if (!lock) return null;
        display();
        return new Promise(function (resolve) { window.setTimeout(resolve, HOLD); });
      }).catch(function () {});
      return;
    }
    var mark = "messaging:desktop-notified:" + me;
    if (load(mark) === String(id)) return;
    save(mark, String(id));
    display();
  }

  /* "alice sent you a message: <preview>": the preview (usernames hold no ": "). */
  function preview(text) {
    var at = text.indexOf(": ");
    return at === -1 ? text : text.slice(at + 2);
  }

  function show(note) {
    var notification;
    try {
      notification = new Notification(note.actor, {
        body: preview(String(note.text || "")),
        tag: String(note.id),
        icon: icon || undefined
      });
    } catch (error) {
      return; /* Some browsers (Chrome on Android) show them from a service worker only. */
    }
    var url = threadUrl.replace(/0\/$/, note.message + "/") +
      "?notification=" + note.id + "#m" + note.message;
    notification.addEventListener("click", function (event) {
      event.preventDefault();
      window.focus();
      notification.close();
      window.location.assign(url);
    });
    var shown = open[note.message] = open[note.message] || [];
    shown.push(notification);
    notification.addEventListener("close", function () {
      var at = shown.indexOf(notification);
      if (at !== -1) shown.splice(at, 1);
    });
  }

  function closeRead(ids) {
    ids.forEach(function (id) {
      (open[id] || []).slice().forEach(function (notification) { notification.close(); });
    });
  }

  document.addEventListener("messaging:frame", function (event) {
    var frame = event.detail;
    if (!frame || frame.replay || !frame.data) return;
    if (frame.type === "conversation.read") {
      closeRead(frame.data.ids || []);
      return;
    }
    if (frame.type !== "notification.created" || frame.data.read) return;
    if (document.visibilityState !== "hidden" || state() !== "on") return;
    var note = frame.data;
    claim(note.id, function () { show(note); });
  });
})();

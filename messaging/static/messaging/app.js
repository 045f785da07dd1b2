/* Progressive enhancements for the pages. Everything here is optional: without
   JavaScript every form posts and every link opens a page. User text is only ever
   set with textContent or taken from pages the server rendered (and escaped). */
(function () {
  "use strict";

  var clock = { hour: "2-digit", minute: "2-digit" };
  var todayFormat = new Intl.DateTimeFormat(undefined, clock);
  var dayFormat = new Intl.DateTimeFormat(undefined, Object.assign({ month: "short", day: "numeric" }, clock));
  var yearFormat = new Intl.DateTimeFormat(
    undefined, Object.assign({ year: "numeric", month: "short", day: "numeric" }, clock)
  );
  var fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

  /* Times in the reader's own time zone (the server writes UTC and says so): short,
     the date only when not today, the year only when not this year. The full date is
     the time's accessible name and its tooltip, and a message's label says it too. */
  function localizeTimes(root) {
    var now = new Date();
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) return;
      var format = date.toDateString() === now.toDateString() ? todayFormat
        : date.getFullYear() === now.getFullYear() ? dayFormat : yearFormat;
      var full = fullFormat.format(date);
      el.textContent = format.format(date);
      el.title = full;
      el.setAttribute("aria-label", full);
      var article = el.closest(".msg__meta") && el.closest("article.msg");
      var author = article && article.querySelector(".msg__author");
      if (author) article.setAttribute("aria-label", author.textContent + ", " + full);
    });
  }

  /* Long messages (the server marks them `msg__content--long`, live.js the ones that
     arrive live) fold to a few lines behind "Show more". Without JavaScript the
     button stays hidden and the whole text shows. */
  function setFolded(content, button, folded) {
    content.classList.toggle("msg__content--clamped", folded);
    button.setAttribute("aria-expanded", folded ? "false" : "true");
    button.textContent = folded ? "Show more" : "Show less";
  }

  function moreButton(content) {
    return content.parentNode.querySelector(":scope > .msg__more");
  }

  function fold(content) {
    var button = moreButton(content);
    if (!content.classList.contains("msg__content--long")) {
      content.classList.remove("msg__content--clamped");
      if (button) button.remove();
      return;
    }
    if (!button) {
      button = document.createElement("button");
      button.type = "button";
      button.className = "msg__more";
      button.hidden = true;
      content.after(button);
    }
    button.setAttribute("aria-controls", content.id);
    /* A message the reader opened stays open when its text changes. */
    var open = !button.hidden && button.getAttribute("aria-expanded") === "true";
    setFolded(content, button, !open);
    button.hidden = false;
  }

  function enhance(root) {
    localizeTimes(root);
    root.querySelectorAll(".msg__content--long").forEach(fold);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".msg__more");
    if (!button) return;
    var content = document.getElementById(button.getAttribute("aria-controls"));
    if (content) setFolded(content, button, button.getAttribute("aria-expanded") === "true");
  });

  /* Tabbing to a link hidden in a folded message unfolds it. */
  document.addEventListener("focusin", function (event) {
    var content = event.target.closest && event.target.closest(".msg__content--clamped");
    var button = content && moreButton(content);
    if (button) setFolded(content, button, false);
  });

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /* A POST from the page's own script: the views answer 204/JSON instead of redirecting. */
  /* `keepalive`: the request outlives the page (a read mark sent as the person leaves). */
  function post(url, body, keepalive) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" },
      body: body || new FormData(),
      keepalive: Boolean(keepalive),
    });
  }

  /* The "edited" mark opens the edit history inline, from the history page itself. */
  function toggleHistory(link) {
    var article = link.closest(".msg");
    var open = article.querySelector(".history-panel");
    if (open) {
      open.remove();
      link.setAttribute("aria-expanded", "false");
      return;
    }
    link.setAttribute("aria-busy", "true");
    fetch(link.href, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var list = page.getElementById("history-list");
        if (!list) throw new Error("no history");
        var panel = document.createElement("section");
        panel.className = "history-panel";
        panel.id = "history-" + article.dataset.id;
        panel.setAttribute("aria-label", "Edit history");
        panel.tabIndex = -1;
        var head = document.createElement("div");
        head.className = "history-panel__head";
        var title = document.createElement("h3");
        title.textContent = "Edit history";
        var close = document.createElement("button");
        close.type = "button";
        close.className = "btn btn--ghost btn--small";
        close.textContent = "Close";
        close.addEventListener("click", function () {
          panel.remove();
          link.setAttribute("aria-expanded", "false");
          link.focus();
        });
        head.append(title, close);
        list.removeAttribute("id");
        panel.append(head, document.adoptNode(list));
        localizeTimes(panel);
        /* Below the text, and below its "Show more" if it has one. */
        var content = article.querySelector(".msg__content");
        (article.querySelector(":scope > .msg__more") || content).after(panel);
        link.setAttribute("aria-expanded", "true");
        link.setAttribute("aria-controls", panel.id);
        panel.focus();
      })
      .catch(function () { window.location.href = link.href; })
      .finally(function () { link.removeAttribute("aria-busy"); });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-history]");
    if (!link || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    toggleHistory(link);
  });

  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLTextAreaElement)) return;
    /* Ctrl/Cmd+Enter sends the form (the edit page's, the compose page's). */
    if (event.defaultPrevented) return; /* the chat's composer sent it already */
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && box.form) {
      event.preventDefault();
      box.form.requestSubmit();
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented) return;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    /* One click, one message: no double sends while the page loads. */
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });

  /* Back from the browser's cache: buttons usable again. */
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("button[type=submit][disabled]").forEach(function (b) { b.disabled = false; });
  });

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });

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
    fold(el);
  }

  /* Helpers -------------------------------------------------------------------- */

  /* A short plain-text preview of a message. */
  function preview(text, length) {
    length = length || 140;
    return text.length > length ? text.slice(0, length - 1) + "…" : text;
  }

  function setTime(el, iso) {
    if (!el) return;
    el.setAttribute("datetime", iso);
    el.textContent = iso;
    localizeTimes(el.parentNode);
  }

  function flash(el, name) {
    name = name || "msg-item--live";
    var target = name === "bump" ? el : el.closest(".msg-item, .chat__item") || el;
    target.classList.remove(name);
    void target.offsetWidth;
    target.classList.add(name);
  }

  window.Messaging = {
    localizeTimes: localizeTimes, enhance: enhance, fold: fold, post: post, csrfToken: csrfToken,
    showText: showText, preview: preview, setTime: setTime, flash: flash,
  };
})();

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
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" },
      body: body || new FormData(),
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

  /* Opening Reply or Edit puts the cursor in its text box. */
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.open) return;
    if (!details.classList.contains("action")) return;
    var box = details.querySelector("textarea");
    if (box) {
      box.focus();
      box.setSelectionRange(box.value.length, box.value.length);
    }
  }, true);

  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLTextAreaElement)) return;
    /* Ctrl/Cmd+Enter sends; Escape closes an open Reply or Edit. */
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && box.form) {
      event.preventDefault();
      box.form.requestSubmit();
    } else if (event.key === "Escape") {
      var details = box.closest("details.action");
      if (details) {
        details.open = false;
        details.querySelector("summary").focus();
      }
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
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

  window.Messaging = {
    localizeTimes: localizeTimes, enhance: enhance, fold: fold, post: post, csrfToken: csrfToken,
  };
})();

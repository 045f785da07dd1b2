/* Progressive enhancements for the pages. Everything here is optional: without
   JavaScript every form posts and every link opens a page. User text is only ever
   set with textContent or taken from pages the server rendered (and escaped). */
(function () {
  "use strict";

  var timeFormat = new Intl.DateTimeFormat(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
  var fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

  /* Times in the reader's own time zone; the full date on hover. */
  function localizeTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) return;
      el.textContent = timeFormat.format(date);
      el.title = fullFormat.format(date);
    });
  }

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
        article.querySelector(".msg__content").after(panel);
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

  document.addEventListener("DOMContentLoaded", function () { localizeTimes(document); });

  window.Messaging = { localizeTimes: localizeTimes, post: post, csrfToken: csrfToken };
})();

/* People suggestions for a "To" field (`<input data-suggest-people>`): as the person
   types, the people they could write to whose name starts with what they typed, from
   people search (GET /api/v1/users/?q=, at least 2 characters, at most 20 answered;
   the server leaves out oneself, inactive people and blocks either way).

   The WAI-ARIA 1.2 combobox pattern with a listbox popup: the input keeps the focus,
   aria-activedescendant names the highlighted option. ArrowDown/ArrowUp move, Enter
   picks the highlighted person (without sending the form), Escape closes, Tab leaves;
   a click or a tap picks. Picking fills the field and puts the cursor in the form's
   message box. A polite live region says how many were found.

   A field marked `data-suggest-multiple` holds several names separated by commas: the
   name being typed is the one after the last comma, and picking replaces it and adds
   ", " for the next one (the cursor stays in the field).

   Everything here is optional: without JavaScript, or when a search fails or is
   throttled (429), the field is the plain text field it always was. Names go in with
   textContent only. */
(function () {
  "use strict";

  var SEARCH_URL = "/api/v1/users/";
  var MIN_CHARS = 2;
  var MAX_CHARS = 150;
  var DELAY = 150;
  /* Answers kept per page, so that deleting back to an earlier prefix asks nothing. */
  var CACHE_SIZE = 50;

  var fields = 0;

  function initialOf(name) {
    var first = Array.from(name)[0];
    return first ? first.toUpperCase() : "?";
  }

  function foundText(count, more) {
    if (count === 0) return "No one found";
    if (more) return count + " or more people found, type more to narrow";
    return count === 1 ? "1 person found" : count + " people found";
  }

  function enhance(input) {
    if (input.hasAttribute("data-suggest-ready")) return;
    input.setAttribute("data-suggest-ready", "");
    fields += 1;
    if (!input.id) input.id = "suggest-" + fields;
    var listId = input.id + "-people";

    /* The popup is placed under the input: both go in a box of their own. */
    var hadFocus = document.activeElement === input;
    var box = document.createElement("div");
    box.className = "suggest";
    input.parentNode.insertBefore(box, input);
    box.appendChild(input);
    if (hadFocus) input.focus();

    var list = document.createElement("ul");
    list.id = listId;
    list.className = "suggest__list";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "People");
    list.hidden = true;

    /* Seen when nobody is found (the live region says it to screen readers). */
    var none = document.createElement("p");
    none.className = "suggest__none";
    none.setAttribute("aria-hidden", "true");
    none.textContent = "No one found";
    none.hidden = true;

    var status = document.createElement("div");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    status.setAttribute("aria-atomic", "true");
    status.setAttribute("data-suggest-status", "");

    box.append(list, none, status);

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listId);
    input.setAttribute("autocomplete", "off");

    var timer = null;
    var controller = null;
    var latest = 0;
    var active = -1;
    var options = [];
    var shownFor = null;
    var pausedUntil = 0;
    var cache = new Map();

    var multiple = input.hasAttribute("data-suggest-multiple");

    /* What comes before the name being typed: the names done, up to the last comma. */
    function done() {
      return multiple ? input.value.slice(0, input.value.lastIndexOf(",") + 1) : "";
    }

    function query() {
      return input.value.slice(done().length).trim();
    }

    function setActive(index) {
      if (active >= 0 && options[active]) options[active].setAttribute("aria-selected", "false");
      active = index;
      if (index < 0) {
        input.removeAttribute("aria-activedescendant");
        return;
      }
      var option = options[index];
      option.setAttribute("aria-selected", "true");
      input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    }

    function close() {
      setActive(-1);
      list.hidden = true;
      none.hidden = true;
      input.setAttribute("aria-expanded", "false");
    }

    function isOpen() {
      return !list.hidden;
    }

    function cancel() {
      window.clearTimeout(timer);
      timer = null;
      latest += 1;
      if (controller) controller.abort();
      controller = null;
    }

    function show(q, answer) {
      list.textContent = "";
      options = answer.results.map(function (person, index) {
        var option = document.createElement("li");
        option.id = listId + "-" + index;
        option.className = "suggest__option";
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.dataset.username = person.username;
        var avatar = document.createElement("span");
        avatar.className = "avatar suggest__avatar";
        avatar.setAttribute("aria-hidden", "true");
        avatar.textContent = initialOf(person.username);
        var name = document.createElement("span");
        name.className = "suggest__name";
        name.dir = "auto";
        name.textContent = person.username;
        option.append(avatar, name);
        list.appendChild(option);
        return option;
      });
      active = -1;
      input.removeAttribute("aria-activedescendant");
      shownFor = q;
      list.hidden = options.length === 0;
      none.hidden = options.length !== 0;
      input.setAttribute("aria-expanded", options.length ? "true" : "false");
      status.textContent = foundText(options.length, Boolean(answer.next));
    }

    function remember(q, answer) {
      cache.delete(q);
      cache.set(q, answer);
      if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value);
    }

    function search() {
      timer = null;
      var q = query();
      if (q.length < MIN_CHARS || q.length > MAX_CHARS) {
        close();
        shownFor = null;
        return;
      }
      if (cache.has(q)) {
        show(q, cache.get(q));
        return;
      }
      if (Date.now() < pausedUntil) {
        close();
        return;
      }
      var request = ++latest;
      if (controller) controller.abort();
      controller = "AbortController" in window ? new AbortController() : null;
      fetch(SEARCH_URL + "?q=" + encodeURIComponent(q), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: controller ? controller.signal : undefined,
      })
        .then(function (response) {
          if (response.status === 429) {
            var wait = parseInt(response.headers.get("Retry-After"), 10);
            pausedUntil = Date.now() + (wait > 0 ? wait : 5) * 1000;
          }
          if (!response.ok) throw new Error(response.status);
          return response.json();
        })
        .then(function (answer) {
          if (request !== latest) return;
          controller = null;
          if (!answer || !Array.isArray(answer.results)) throw new Error("no results");
          remember(q, answer);
          if (document.activeElement === input && query() === q) show(q, answer);
        })
        .catch(function () {
          /* Aborted, throttled, offline, refused: a plain text field again. */
          if (request === latest) close();
        });
    }

    function schedule() {
      cancel();
      if (query().length < MIN_CHARS) {
        close();
        shownFor = null;
        return;
      }
      timer = window.setTimeout(search, DELAY);
    }

    function pick(option) {
      cancel();
      var before = done();
      input.value = multiple
        ? (before ? before.replace(/\s*$/, " ") : "") + option.dataset.username + ", "
        : option.dataset.username;
      shownFor = null;
      close();
      status.textContent = "";
      input.dispatchEvent(new Event("change", { bubbles: true }));
      var message = !multiple && input.form && input.form.querySelector("textarea");
      (message || input).focus();
    }

    input.addEventListener("input", schedule);

    input.addEventListener("keydown", function (event) {
      if (event.isComposing || event.altKey || event.ctrlKey || event.metaKey) return;
      var key = event.key;
      if (key === "ArrowDown" || key === "ArrowUp") {
        if (!isOpen()) {
          /* Opens again what was found for this text, or asks now. */
          if (query().length < MIN_CHARS) return;
          event.preventDefault();
          if (shownFor === query() && options.length) {
            list.hidden = false;
            input.setAttribute("aria-expanded", "true");
            setActive(key === "ArrowDown" ? 0 : options.length - 1);
          } else {
            cancel();
            search();
          }
          return;
        }
        event.preventDefault();
        var step = key === "ArrowDown" ? 1 : -1;
        var next = active < 0 ? (step > 0 ? 0 : options.length - 1) : active + step;
        setActive((next + options.length) % options.length);
      } else if (key === "Enter") {
        if (isOpen() && active >= 0) {
          event.preventDefault();
          pick(options[active]);
        } else {
          close();
        }
      } else if (key === "Escape") {
        if (isOpen() || !none.hidden) {
          event.preventDefault();
          cancel();
          close();
        }
      } else if (key === "Tab") {
        cancel();
        close();
      }
    });

    input.addEventListener("blur", function () {
      cancel();
      close();
    });

    /* A press on the list keeps the focus in the input (the combobox's), so a click
       or a tap picks without closing the popup first. */
    list.addEventListener("mousedown", function (event) { event.preventDefault(); });
    list.addEventListener("click", function (event) {
      var option = event.target.closest("[role=option]");
      if (option) pick(option);
    });

    if (input.form) input.form.addEventListener("submit", function () { cancel(); close(); });
    window.addEventListener("pagehide", function () { cancel(); close(); });
  }

  function enhanceAll(root) {
    root.querySelectorAll("input[data-suggest-people]").forEach(enhance);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { enhanceAll(document); });
  } else {
    enhanceAll(document);
  }
})();

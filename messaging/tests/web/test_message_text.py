"""Message text as people expect it: `http(s)://` addresses are links and nothing else is
markup, text runs in its own direction, long words wrap, long messages fold (with
JavaScript only), and times say they are UTC until the reader's script localizes them.

The filter's rules are also in static/messaging/app.js for the messages that arrive
live; `test_the_pages_script_links_the_same_way` runs that copy under Node (when installed)
against the same examples.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.utils.html import escape
from django.utils.safestring import SafeString
from hypothesis import given, settings
from hypothesis import strategies as st

from messaging import services
from messaging.web.templatetags.messaging_tags import (
    FOLD_OVER_CHARS,
    FOLD_OVER_LINES,
    folds,
    linkify,
    note_text,
)

REL = 'rel="noopener noreferrer" target="_blank"'


def link(url: str) -> str:
    return f'<a href="{escape(url)}" {REL}>{escape(url)}</a>'


def links_in(output: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'<a href="([^"]*)"', output)]


# The filter ------------------------------------------------------------------------


def test_an_address_becomes_a_link_and_the_rest_stays_text():
    output = linkify("see https://example.com/a?b=1&c=2 & <b>this</b>")

    assert isinstance(output, SafeString)
    assert output == (f"see {link('https://example.com/a?b=1&c=2')} &amp; &lt;b&gt;this&lt;/b&gt;")
    assert 'href="https://example.com/a?b=1&amp;c=2"' in output


@pytest.mark.parametrize(
    "text",
    [
        '<script>alert("x")</script>',
        "<img src=x onerror=alert(1)>",
        'a & b\'s "quote"',
        "&lt;already escaped&gt;",
    ],
)
def test_text_without_addresses_is_only_escaped(text):
    assert linkify(text) == escape(text)


@pytest.mark.parametrize("scheme", ["http", "https", "HTTPS", "Http"])
def test_http_and_https_in_any_case(scheme):
    assert linkify(f"{scheme}://example.com") == link(f"{scheme}://example.com")


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(document.cookie)",
        "javascript:http://example.com",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "ftp://example.com/file",
        "file:///etc/passwd",
        "mailto:alice@example.com",
        "alice@example.com",
        "www.example.com",
        "example.com",
        "//example.com/path",
        "xhttp://example.com",
        "http\u017f://example.com",  # the long s is "s" to an ignore-case match only
        "http://",
        "https:// example.com",
        "http://.../",
        "http:///path",
        "https://?q=1",
    ],
)
def test_nothing_else_becomes_a_link(text):
    output = linkify(text)

    assert "<a" not in output
    assert output == escape(text)


@pytest.mark.parametrize(
    ("text", "url", "after"),
    [
        ("Look: https://example.com.", "https://example.com", "."),
        ("https://example.com, then", "https://example.com", ", then"),
        ("https://example.com!", "https://example.com", "!"),
        ("https://example.com?", "https://example.com", "?"),
        ("https://example.com/?!", "https://example.com/", "?!"),
        ("https://example.com:", "https://example.com", ":"),
        ("https://example.com;", "https://example.com", ";"),
        ("https://example.com/...", "https://example.com/", "..."),
        ("https://example.com/a.html.", "https://example.com/a.html", "."),
        ("https://example.com/search?q=1.", "https://example.com/search?q=1", "."),
        ("'https://example.com'", "https://example.com", "'"),
        ('"https://example.com"', "https://example.com", '"'),
        ("“https://example.com”", "https://example.com", "”"),
        ("<https://example.com>", "https://example.com", ">"),
        ("https://example.com。", "https://example.com", "。"),
        ("https://example.com…", "https://example.com", "…"),
    ],
)
def test_punctuation_after_an_address_is_not_part_of_it(text, url, after):
    output = linkify(text)

    assert links_in(output) == [url]
    assert output.endswith(escape(after))


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("(see https://example.com/docs)", "https://example.com/docs"),
        ("(see https://example.com/docs).", "https://example.com/docs"),
        (
            "https://en.wikipedia.org/wiki/Python_(programming_language)",
            "https://en.wikipedia.org/wiki/Python_(programming_language)",
        ),
        (
            "(https://en.wikipedia.org/wiki/Python_(programming_language))",
            "https://en.wikipedia.org/wiki/Python_(programming_language)",
        ),
        ("[https://example.com/a]", "https://example.com/a"),
        ("https://example.com/a[1]", "https://example.com/a[1]"),
        ("https://example.com/)))", "https://example.com/"),
    ],
)
def test_a_closing_bracket_belongs_to_the_address_only_when_it_opened_it(text, url):
    assert links_in(linkify(text)) == [url]


def test_an_address_in_parentheses_keeps_them_as_text():
    assert linkify("(https://example.com)") == f"({link('https://example.com')})"


@pytest.mark.parametrize(
    "url",
    [
        "https://bücher.example/straße?q=ünïcode",
        "https://xn--bcher-kva.example/",
        "https://例え.テスト/パス",
        "https://مثال.إختبار/مسار",
        "http://[2001:db8::1]:8080/path",
        "http://127.0.0.1:8000/messages/1/#m1",
        "https://user@example.com/",
    ],
)
def test_international_and_unusual_addresses_are_linked_as_written(url):
    assert linkify(f"go {url} now") == f"go {link(url)} now"


def test_an_address_inside_right_to_left_text():
    output = linkify("انظر https://example.com/صفحة من فضلك")

    assert links_in(output) == ["https://example.com/صفحة"]


def test_a_very_long_address_is_one_link_and_quick():
    url = "https://example.com/" + "a" * 9_000 + "?x=" + "b" * 900
    started = time.perf_counter()

    output = linkify(f"{url}.")

    assert links_in(output) == [url]
    assert time.perf_counter() - started < 0.5


def test_pathological_text_stays_quick():
    texts = [
        "https://x/" + ")" * 9_990,
        "http://" * 1_400,
        "https://example.com " * 490,
        "(" * 5_000 + "https://x" + ")" * 4_990,
    ]
    started = time.perf_counter()

    outputs = [linkify(text) for text in texts]

    assert time.perf_counter() - started < 1.0
    assert links_in(outputs[0]) == ["https://x/"]
    assert len(links_in(outputs[2])) == 490


@pytest.mark.parametrize(
    "invisible", ["\u202e", "\u2066", "\u200b", "\u200f", "\u00ad", "\ufeff", "\x85"]
)
def test_invisible_characters_end_an_address(invisible):
    """A bidi override or a zero-width space would make a link's text look like
    something else ("…/gnp.exe" read backwards): it is not part of the link."""
    output = linkify(f"https://example.com/a{invisible}gnp.exe")

    assert links_in(output) == ["https://example.com/a"]
    assert output.endswith(f"{invisible}gnp.exe")


def test_attribute_injection_goes_nowhere():
    output = linkify('https://example.com/"onmouseover="alert(1)" x')

    assert links_in(output) == ["https://example.com/"]
    assert '"onmouseover' not in output
    assert "&quot;onmouseover=&quot;alert(1)&quot;" in output


def test_several_addresses_and_lines():
    output = linkify("one http://a.example\ntwo https://b.example/x, three")

    assert links_in(output) == ["http://a.example", "https://b.example/x"]
    assert "\ntwo " in output


#: Text made of the pieces that matter here: schemes, punctuation, brackets, quotes,
#: markup, invisible characters, and anything else.
TEXT = st.lists(
    st.one_of(
        st.sampled_from(list("hHtTpPsS:/.,()[]!?;'\"<>&@ \n")),
        st.sampled_from(["http://", "https://", "javascript:", "\u202e", "é", "例", "&amp;"]),
        st.characters(exclude_categories=("Cs",)),
    ),
    max_size=80,
).map("".join)


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(TEXT)
def test_any_text_comes_back_as_written_with_only_http_links(text):
    output = linkify(text)

    # Without the links' tags, the page shows exactly the text.
    assert html.unescape(re.sub(r"<a [^>]*>|</a>", "", output)) == text
    # No markup but the links, which are http(s) and show their own address.
    assert re.sub(r"<a [^>]*>|</a>", "", output).count("<") == 0
    for match in re.finditer(r'<a href="([^"]*)" ([^>]*)>([^<]*)</a>', output):
        assert re.match(r"[hH][tT][tT][pP][sS]?://", match[1])
        assert match[2] == REL
        assert match[1] == match[3]
    assert output.count("<a ") == len(links_in(output))


def test_folds_over_600_characters_or_12_lines():
    assert (FOLD_OVER_CHARS, FOLD_OVER_LINES) == (600, 12)
    assert not folds("x" * 600)
    assert folds("x" * 601)
    assert not folds("\n".join(["line"] * 12))
    assert folds("\n".join(["line"] * 13))


def test_a_notification_isolates_the_preview():
    assert note_text("alice sent you a message: مرحبا!") == (
        "alice sent you a message: <bdi>مرحبا!</bdi>"
    )
    assert note_text("bob replied to you: <b>hi</b>: x") == (
        "bob replied to you: <bdi>&lt;b&gt;hi&lt;/b&gt;: x</bdi>"
    )
    assert note_text("no separator <here>") == "no separator &lt;here&gt;"


# The copy in app.js -----------------------------------------------------------------

PARITY_EXAMPLES = [
    "plain <b>text</b> & more",
    "see https://example.com/a?b=1&c=2.",
    "(https://en.wikipedia.org/wiki/Python_(programming_language))",
    "(see https://example.com/docs).",
    "javascript:http://example.com xhttp://a.example http\u017f://b.example",
    "http:// https://?q=1 http://.../",
    "<https://example.com> “https://example.com/ü”",
    "https://例え.テスト/パス。",
    "انظر https://example.com/صفحة من فضلك",
    "https://example.com/a\u202egnp.exe https://example.com/b\u200bc",
    "éhttps://glued.example _https://glued.example 例https://glued.example",
    "one http://a.example\ntwo HTTPS://B.EXAMPLE/x, three",
    "https://example.com/)))",
    "https://a.example/[1] [https://b.example]",
    "http://[2001:db8::1]:8080/ http://user@example.com/",
    "https://x/" + ")" * 50,
]

NODE_HARNESS = """
const fs = require("fs");
const source = fs.readFileSync(process.argv[1], "utf8");
const start = source.indexOf("  /* Message text ---");
const end = source.indexOf("  /* Helpers ---");
class Text { constructor(text) { this.text = text; } }
class Element {
  constructor(tag) { this.tag = tag; this.children = []; this.attributes = {}; }
  set textContent(text) { this.children = text ? [new Text(text)] : []; }
  setAttribute(name, value) { this.attributes[name] = value; }
  set rel(value) { this.attributes.rel = value; }
  set target(value) { this.attributes.target = value; }
  append(...nodes) {
    for (const node of nodes) this.children.push(typeof node === "string" ? new Text(node) : node);
  }
}
const document = { createElement: (tag) => new Element(tag) };
const section = source.slice(start, end) + "; return fillText;";
const fillText = new Function("document", section)(document);
const examples = JSON.parse(fs.readFileSync(0, "utf8"));
const escape = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
  .replace(/"/g, "&quot;").replace(/'/g, "&#x27;");
const render = (node) => node instanceof Text ? escape(node.text)
  : `<a href="${escape(node.attributes.href)}" rel="${node.attributes.rel}" `
    + `target="${node.attributes.target}">${node.children.map(render).join("")}</a>`;
console.log(JSON.stringify(examples.map((text) => {
  const el = new Element("p");
  fillText(el, text);
  return el.children.map(render).join("");
})));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_pages_script_links_the_same_way():
    app_js = Path(finders.find("messaging/app.js"))

    result = subprocess.run(
        ["node", "-e", NODE_HARNESS, str(app_js)],
        input=json.dumps(PARITY_EXAMPLES),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert json.loads(result.stdout) == [linkify(text) for text in PARITY_EXAMPLES]


# The pages ---------------------------------------------------------------------------

URL_TEXT = 'ver https://example.com/a_(b). <script>alert("x")</script> שלום'


@pytest.fixture
def linked(alice, bob, send):
    """Bob wrote to Alice with an address, a script tag and Hebrew, then edited it."""
    message = send(bob, alice, URL_TEXT)
    services.message_edit(user=bob, message=message, content=URL_TEXT + " again")
    return message


@pytest.mark.django_db(transaction=True)
def test_every_page_with_message_text_links_and_sets_the_direction(as_user, alice, linked):
    client = as_user(alice)
    anchor = link("https://example.com/a_(b)")

    for path in ("/conversations/bob/", f"/messages/{linked.pk}/"):
        body = client.get(path).content.decode()
        assert (
            f'<p class="msg__content" id="content-{linked.pk}" dir="auto" data-content>ver {anchor}'
        ) in body, path
        assert "&lt;script&gt;" in body
        assert "<script>alert" not in body

    history = client.get(f"/messages/{linked.pk}/history/").content.decode()
    assert f'<p class="history__text" dir="auto">ver {anchor}' in history
    assert f'<p class="history__text history__text--old" dir="auto">ver {anchor}' in history

    inbox = client.get("/").content.decode()
    assert '<span dir="auto" data-preview>ver https://example.com/a_(b).' in inbox

    notes = client.get("/notifications/").content.decode()
    assert "bob sent you a message: <bdi>ver https://example.com/a_(b)." in notes


@pytest.mark.django_db(transaction=True)
def test_the_live_message_template_has_the_direction(as_user, alice, bob):
    body = as_user(alice).get("/conversations/bob/").content.decode()
    template = re.search(r'<template id="tpl-message">(.*?)</template>', body, re.S)[1]

    assert '<p class="msg__content" id="content-" dir="auto" data-content></p>' in template
    assert '<bdi class="msg__quote-text" dir="auto" data-quote-text></bdi>' in template
    assert '<span dir="auto" data-preview></span>' in as_user(alice).get("/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_reply_quotes_what_it_answers_isolated(as_user, alice, bob, send):
    """A reply quotes what it answers, isolated so right-to-left text stays whole."""
    parent = send(bob, alice, "root")
    for depth in range(6):
        sender, receiver = (alice, bob) if depth % 2 == 0 else (bob, alice)
        parent = send(sender, receiver, f"مرحبا {depth}", parent_message=parent)

    body = as_user(alice).get("/conversations/bob/").content.decode()

    assert '<bdi class="msg__quote-text" dir="auto" data-quote-text>مرحبا 4</bdi>' in body
    assert '<span class="msg__quote-author" data-quote-author>You</span>' in body


@pytest.mark.django_db(transaction=True)
def test_long_messages_fold_only_with_javascript(as_user, alice, bob, send):
    long = send(bob, alice, "word " * 200)
    short = send(bob, alice, "short")
    lines = send(bob, alice, "\n".join(f"line {i}" for i in range(13)))

    body = as_user(alice).get("/conversations/bob/").content.decode()

    for message in (long, lines):
        assert f'class="msg__content msg__content--long" id="content-{message.pk}"' in body
        # The button is hidden until app.js folds the text: without it, all of it shows.
        assert (
            f'<button type="button" class="msg__more" aria-expanded="false" '
            f'aria-controls="content-{message.pk}" hidden>Show more</button>'
        ) in body
    assert f'class="msg__content" id="content-{short.pk}"' in body
    assert body.count('class="msg__more"') == 2


def test_the_stylesheet_wraps_long_words_and_clamps_only_when_asked():
    css = Path(finders.find("messaging/app.css")).read_text()

    content = re.search(r"^\.msg__content \{([^}]*)\}", css, re.M)[1]
    assert "overflow-wrap: anywhere" in content
    assert "line-clamp" not in content
    assert "line-clamp: 8" in re.search(r"\.msg__content--clamped \{([^}]*)\}", css)[1]


@pytest.mark.django_db(transaction=True)
def test_times_say_utc_until_the_script_localizes_them(as_user, alice, bob, send):
    message = send(bob, alice, "what time is it")
    stamp = message.timestamp.strftime("%b %-d, %H:%M")
    client = as_user(alice)

    conversation = client.get("/conversations/bob/").content.decode()
    inbox = client.get("/").content.decode()
    notes = client.get("/notifications/").content.decode()

    iso = message.timestamp.isoformat()
    assert f'<time datetime="{iso}">{stamp} UTC</time>' in conversation
    assert f'aria-label="bob, {stamp} UTC"' in conversation
    assert f"{stamp} UTC</time>" in inbox
    assert " UTC</time>" in notes

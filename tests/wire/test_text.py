"""CyTube chat HTML to plain text (rosey.wire.text)."""

from __future__ import annotations

import html
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rosey.wire.text import html_to_text, unescape

# Chat HTML as CyTube 3.86 sends it (copied from the recorded frames), and the text a bot reads.
CASES = [
    ("thanks bot!", "thanks bot!"),
    ("emoji: 😀🎉👍 ünïcödé ✓ 中文", "emoji: 😀🎉👍 ünïcödé ✓ 中文"),
    (
        "HTML specials: &lt;b&gt;not bold&lt;/b&gt; &amp; \"double\" 'single' "
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "HTML specials: <b>not bold</b> & \"double\" 'single' <script>alert(1)</script>",
    ),
    (
        "<strong>bold</strong> <em>italic</em> <code>code</code> <s>strike</s> "
        '<span class="spoiler">spoiler</span>',
        "bold italic code strike spoiler",
    ),
    (
        'check this link: <a href="https://example.com/watch?v=abc&amp;t=10s" target="_blank" '
        'rel="noopener noreferrer">https://example.com/watch?v=abc&amp;t=10s</a>',
        "check this link: https://example.com/watch?v=abc&t=10s",
    ),
    ("&gt;greentext line", ">greentext line"),
    ("we are about to start &lt;3", "we are about to start <3"),
    ("a (b) 'c' \"d\" &amp; e &lt;i&gt;x&lt;/i&gt;", "a (b) 'c' \"d\" & e <i>x</i>"),
    ('hey bot: &lt;are&gt; you &amp; "there"? 🤖', 'hey bot: <are> you & "there"? 🤖'),
]


@pytest.mark.parametrize(("markup", "text"), CASES)
def test_cytube_chat_html(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("&lt;&gt;&amp;&quot;&#39;", "<>&\"'"),
        ("&#x27;&#X27;&#039;&#65;&#x1F600;", "'''A😀"),
        ("&copy; &hellip; &nbsp;|", "© … \xa0|"),
        ("&amp;lt;", "&lt;"),  # one level of escaping only
        ("&amp", "&"),  # legacy names work without ";" …
        ("&ampx", "&x"),  # … and as a prefix, as in browsers
        ("&notit;", "¬it;"),
        ("&nosuchentity; & &; &#; &#x;", "&nosuchentity; & &; &#; &#x;"),
        ("&#0; &#xD800; &#x110000;", "\ufffd \ufffd \ufffd"),
        ("&#128;&#x9F;", "€Ÿ"),  # the Windows-1252 reading of C1 references
        ("a&#1;b&#x7F;c", "abc"),  # control characters by reference are dropped
        ("&#" + "9" * 5000 + ";", "\ufffd"),  # html.unescape raises ValueError here
        ("&#" + "0" * 5000 + "65;", "A"),
    ],
)
def test_character_references(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<code>x</code>", "x"),
        ('<span class="spoiler">the butler did it</span>', "the butler did it"),
        ('<a href="https://example.com">info</a>', "info"),
        ("<script>alert('x')</script>", "alert('x')"),  # text, never markup to run
        ("<img src=x onerror=alert(1)>after", "after"),
        ("<!-- note -->x<br/>y<?php ?>", "xy"),
        ("  spaced \t out  ", "  spaced \t out  "),  # whitespace is not collapsed
        ("<b>unclosed", "unclosed"),
        ("a <b", "a <b"),  # no ">": not a tag
        ("1 < 2 > 0", "1 < 2 > 0"),  # "<" + space is text
        ("<<<a>>>", "<<>>"),
        ("<a<b>c", "<ac"),
        ("</>x<>", "x<>"),
        ("", ""),
    ],
)
def test_tags(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_text_without_markup_is_returned_as_is() -> None:
    line = "good evening, labchan"
    assert html_to_text(line) is line
    assert unescape(line) is line


@pytest.mark.parametrize(
    "hostile",
    [
        "<a" * 100_000,
        "<a " * 100_000 + ">",
        "&#" * 100_000,
        "&amp" * 100_000,
        "<" + "a" * 200_000,
        "<span>" * 50_000 + "x",
    ],
    ids=["unclosed-tags", "one-huge-tag", "bare-refs", "legacy-refs", "huge-tag-open", "nesting"],
)
def test_hostile_input_is_linear(hostile: str) -> None:
    # Linear scans take milliseconds here; a backtracking pattern would take minutes.
    start = time.perf_counter()
    result = html_to_text(hostile)
    assert time.perf_counter() - start < 2.0
    assert isinstance(result, str)


@given(st.text())
def test_never_raises(markup: str) -> None:
    assert isinstance(html_to_text(markup), str)


MARKUPISH = st.text(alphabet="<>/&#;xX0123456789abfglmoptuAZ \"'=!?😀中", max_size=60)


@given(MARKUPISH)
def test_never_raises_on_markup_like_text(markup: str) -> None:
    assert isinstance(html_to_text(markup), str)


@given(st.text())
def test_escaped_user_text_comes_back_exactly(text: str) -> None:
    # What the server does to a user's line (escape & < > and quotes), this undoes.
    assert html_to_text(html.escape(text, quote=False)) == text
    assert html_to_text(html.escape(text, quote=True)) == text


@given(st.text(alphabet=st.characters(blacklist_characters="<&")))
def test_text_without_markup_characters_is_unchanged(text: str) -> None:
    assert html_to_text(text) == text


@given(st.text(alphabet="&#;xX0123456789abcdefgilmnoqpstuAEFZ< ", max_size=40))
def test_unescape_agrees_with_the_standard_library(text: str) -> None:
    assert unescape(text) == html.unescape(text)

"""CyTube chat HTML to plain text: strip tags, unescape character references.

CyTube sends chat as HTML: the user's ``& < >`` arrive as ``&amp; &lt; &gt;``, the default
filters add ``<strong>``/``<em>``/``<code>``/``<s>``/``<span class="spoiler">``, and URLs become
``<a href="URL" …>URL</a>``. Dropping the tags keeps every element's text, so an auto-link turns
into its URL, ``<code>x</code>`` into ``x`` and a spoiler into its hidden text. Whitespace is
left exactly as sent.

The input is whatever the network sent, so both passes are single linear regex scans (no
backtracking on unclosed tags or long runs of ``<``/``&``) and nothing here raises on any
``str``. The standard library's ``html.unescape`` is not used: it raises ``ValueError`` on a
decimal reference longer than Python's 4300-digit int limit.
"""

from __future__ import annotations

import re
from html.entities import html5

__all__ = ["html_to_text", "unescape"]

# A tag starts like HTML's tag-open state: a letter, "/", "!" or "?" right after "<". "< 3" is
# text. The body stops at the next "<" so that a run of unclosed "<a" stays linear.
_TAG = re.compile(r"<[A-Za-z/!?][^<>]*>")
_CHARREF = re.compile(r"&(?:#([0-9]+)|#[xX]([0-9A-Fa-f]+)|([A-Za-z][A-Za-z0-9]{0,31}))(;?)")


def _c1_table() -> dict[int, str]:
    # Browsers read &#128;–&#159; as Windows-1252 (HTML's "numeric character reference end").
    table = {}
    for code in range(0x80, 0xA0):
        try:
            table[code] = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            table[code] = chr(code)
    return table


_C1 = _c1_table()


def _codepoint(digits: str, base: int) -> str:
    digits = digits.lstrip("0")
    if len(digits) > 7:  # beyond U+10FFFF in either base; also keeps int() cheap
        return "\ufffd"
    code = int(digits, base) if digits else 0
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    if 0x80 <= code <= 0x9F:
        return _C1[code]
    if _is_noncharacter(code):
        return ""
    return chr(code)


def _is_noncharacter(code: int) -> bool:
    # What html.unescape drops: C0 controls except tab, LF, FF and CR; DEL; noncharacters.
    if code < 0x20:
        return code not in (0x09, 0x0A, 0x0C, 0x0D)
    return code == 0x7F or 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _replace(match: re.Match[str]) -> str:
    decimal, hexadecimal, name, semicolon = match.groups()
    if decimal is not None:
        return _codepoint(decimal, 10)
    if hexadecimal is not None:
        return _codepoint(hexadecimal, 16)
    ref = name + semicolon
    found = html5.get(ref)
    if found is not None:
        return found
    # Legacy names work without ";" and as a prefix ("&ampx" is "&x"), as in html.unescape.
    for end in range(len(name) - 1, 1, -1):
        found = html5.get(name[:end])
        if found is not None:
            return found + ref[end:]
    return match.group(0)


def unescape(text: str) -> str:
    """Replace HTML character references (named, decimal, hex) by the characters they name."""
    if "&" not in text:
        return text
    return _CHARREF.sub(_replace, text)


def html_to_text(html: str) -> str:
    """Plain text of one chat message's HTML: tags dropped, references unescaped.

    Never raises on a ``str``, however hostile (unclosed tags, ``<script>``, huge input): the
    result is text for a bot to read, never markup to render.
    """
    if "<" in html:
        html = _TAG.sub("", html)
    if "&" in html:
        html = _CHARREF.sub(_replace, html)
    return html

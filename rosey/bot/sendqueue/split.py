"""Cutting outgoing text into lines the server will not truncate.

CyTube cuts every chat line and PM to ``max-chat-message-length`` (default 320) with JavaScript's
``substring``, i.e. in UTF-16 code units, on the raw text *before* HTML-escaping it. So a limit of
320 means 320 UTF-16 units of what rosey sends: ``&`` counts 1 (not 5 for ``&amp;``) and an emoji
outside the BMP counts 2. The server also turns ASCII control characters into spaces and drops
blank lines without any answer, so rosey sends every input line separately and never a blank one.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_LENGTH", "split_message", "utf16_len"]

#: CyTube's default ``max-chat-message-length``.
MAX_LENGTH = 320

_CONTROL = re.compile(r"[\x00-\x1f]+")
_ZWJ = "\u200d"


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (what JavaScript's ``length`` counts)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def split_message(text: str, limit: int = MAX_LENGTH) -> list[str]:
    """Split ``text`` into non-blank parts of at most ``limit`` UTF-16 units each.

    Each input line is split separately, at whitespace when possible. A word longer than
    ``limit`` is cut hard, at a grapheme boundary when one exists within the limit (never inside
    a surrogate pair, a combining sequence, a ZWJ emoji sequence or a flag). Whitespace around the
    cut points is dropped; other whitespace is kept.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2 (one astral character)")
    parts: list[str] = []
    for line in text.splitlines():
        rest = _CONTROL.sub(" ", line).strip()
        while rest:
            end = _fit(rest, limit)
            if end == len(rest):
                parts.append(rest)
                break
            cut = _space_before(rest, end)
            if cut > 0:
                head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
            else:
                cut = _grapheme_cut(rest, end)
                head, rest = rest[:cut], rest[cut:].lstrip()
            if head:
                parts.append(head)
    return parts


def _fit(text: str, limit: int) -> int:
    """The largest ``i`` with ``utf16_len(text[:i]) <= limit``."""
    if len(text) <= limit // 2:
        return len(text)  # even all-astral text fits
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return i
    return len(text)


def _space_before(text: str, end: int) -> int:
    """Index of the last whitespace in ``text[:end + 1]`` (a space right at the cut counts)."""
    for i in range(min(end, len(text) - 1), 0, -1):
        if text[i].isspace():
            return i
    return 0


def _grapheme_cut(text: str, end: int) -> int:
    """The last grapheme boundary at or before ``end`` (``end`` itself if there is none)."""
    for i in range(end, 0, -1):
        if _is_boundary(text, i):
            return i
    return end


def _joins_previous(ch: str) -> bool:
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch == _ZWJ
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences
        or 0xE0100 <= code <= 0xE01EF
    )


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _is_boundary(text: str, i: int) -> bool:
    """Whether cutting ``text`` before index ``i`` keeps grapheme clusters whole (approximately:
    extended grapheme clusters without the Hangul and Indic rules)."""
    before, after = text[i - 1], text[i]
    if _joins_previous(after) or before == _ZWJ:
        return False
    if _is_regional(before) and _is_regional(after):
        run = 0
        j = i - 1
        while j >= 0 and _is_regional(text[j]):
            run += 1
            j -= 1
        return run % 2 == 0  # flags are pairs: cut only between pairs
    return True

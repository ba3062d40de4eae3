"""Text the bot says: durations in words, user text made safe to repeat in chat, and text cut
as the server's JavaScript cuts it.

Whatever users typed is put on one line (:func:`clean_text`), and no line the bot sends may start
with ``/`` (a CyTube chat command, run with the bot's rank) or the command prefix
(:func:`safe_line`).
"""

from __future__ import annotations

import re

__all__ = ["ago", "clean_text", "count_of", "human_duration", "js_substring", "safe_line"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNITS = (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def human_duration(seconds: float) -> str:
    """The two largest units: ``3725`` → ``1 hour 2 minutes``, ``90`` → ``1 minute 30 seconds``."""
    total = max(0, int(seconds))
    parts: list[str] = []
    for unit, size in _UNITS:
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count:,} {unit}{'' if count == 1 else 's'}")
        elif parts:
            break  # "1 hour 5 seconds" reads oddly: stop at the first gap
        if len(parts) == 2:
            break
    return " ".join(parts) or "0 seconds"


def ago(seconds: float) -> str:
    """``3725`` → ``1 hour 2 minutes ago``; under a second (or in the future): ``just now``."""
    return "just now" if seconds < 1 else f"{human_duration(seconds)} ago"


def clean_text(text: str) -> str:
    """``text`` on one line: control characters and line breaks become spaces, runs of
    whitespace one space, and the ends are stripped."""
    return " ".join(_CONTROL.sub(" ", text).split())


def safe_line(text: str, prefix: str) -> str:
    """``text``, led by a harmless mark if it would start with ``/`` (a CyTube chat command) or
    with the bot's command ``prefix``."""
    text = text.lstrip()
    if not (text.startswith("/") or text.startswith(prefix)):
        return text
    for lead in ("» ", "· ", "~ "):
        if not (lead + text).startswith(prefix):
            return lead + text
    return "» " + text  # unreachable: a prefix cannot start with three different characters


def count_of(n: int, what: str) -> str:
    """``1 chat line``, ``3 chat lines``."""
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def js_substring(text: str, length: int) -> str:
    """``text.substring(0, length)`` as JavaScript computes it: ``length`` UTF-16 code units,
    so a character outside the BMP counts twice and one cut in half leaves its lone first
    surrogate (which the server then sends as such)."""
    if len(text) <= length // 2:
        return text  # even all-astral text fits
    units = text.encode("utf-16-le", "surrogatepass")
    return units[: 2 * length].decode("utf-16-le", "surrogatepass")

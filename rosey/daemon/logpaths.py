"""Paths of the chat and media logs: ``[logging] chat_log`` / ``media_log`` patterns.

A pattern is a path that may name the channel with placeholders, in ``str.format`` syntax:

* ``{site}``: the host (and ``_port`` if the site URL has one) of the channel's site, e.g.
  ``cytu.be``;
* ``{channel}``: the channel's name as configured, e.g. ``lobby``.

``logs/{site}/{channel}-chat.log`` gives one file per channel. ``{{`` and ``}}`` are literal
braces. Each value is reduced to ``A-Z a-z 0-9 . _ -`` (anything else becomes ``_``, and a leading
dot too), so a channel or site can never name a directory of its own, ``..`` or a hidden file.
"""

from __future__ import annotations

import re
from string import Formatter
from urllib.parse import urlsplit

__all__ = [
    "PLACEHOLDERS",
    "check",
    "fixed_directory",
    "has_placeholders",
    "render",
    "safe_component",
]

PLACEHOLDERS = ("site", "channel")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _fields(pattern: str) -> list[tuple[str, str | None, str | None]]:
    """(field, format spec, conversion) of each placeholder; ``ValueError`` if malformed."""
    return [
        (field, spec, conversion)
        for _, field, spec, conversion in Formatter().parse(pattern)
        if field is not None
    ]


def check(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable log path pattern, or None if it is."""
    if not pattern.strip():
        return "is empty"
    try:
        fields = _fields(pattern)
    except ValueError as e:  # "Single '}' encountered in format string"
        return f"{pattern!r} is not a valid pattern ({e}); write {{{{ and }}}} for braces"
    known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    for field, spec, conversion in fields:
        if field not in PLACEHOLDERS:
            return f"{pattern!r}: unknown placeholder {{{field}}} (known: {known})"
        if spec or conversion:
            return f"{pattern!r}: {{{field}}} takes no conversion or format"
    return None


def has_placeholders(pattern: str) -> bool:
    """True if ``pattern`` (already checked) names the site or the channel."""
    return bool(_fields(pattern))


def safe_component(value: str) -> str:
    """``value`` as one harmless path component (see the module's docstring)."""
    cleaned = _UNSAFE.sub("_", value)
    if cleaned.startswith("."):
        cleaned = "_" + cleaned[1:]
    return cleaned or "_"


def render(pattern: str, site: str, channel: str) -> str:
    """The path ``pattern`` (already checked) gives for ``channel`` on the site URL ``site``."""
    return pattern.format(
        site=safe_component(urlsplit(site).netloc.replace(":", "_")),
        channel=safe_component(channel),
    )


def fixed_directory(pattern: str) -> str:
    """The directory part of ``pattern`` before its first placeholder (``""`` for the current
    directory): it must exist; the directories placeholders name below it are created."""
    literal = ""
    for text, field, _, _ in Formatter().parse(pattern):
        literal += text
        if field is not None:
            break
    head, _, _ = literal.rpartition("/")
    return head if head or not literal.startswith("/") else "/"

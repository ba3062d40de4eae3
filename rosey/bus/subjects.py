"""NATS subjects for rosey's events: ``rosey.platform.cytube.<channel-token>.<event>``.

A NATS subject is dot-separated tokens; a token cannot hold ``.``, ``*``, ``>`` or whitespace.
A channel is ``site/name`` (``cytu.be/mychannel``), so it is encoded into ONE token:

* ASCII letters, digits and ``-`` stay as they are;
* every other character, ``_`` included, becomes ``_`` and two lower-case hex digits per byte
  of its UTF-8 encoding: ``cytu.be/mychannel`` -> ``cytu_2ebe_2fmychannel``.

The encoding is reversible (:func:`channel_from_token`) and one-to-one: a token with an
upper-case hex escape, a lone ``_`` or bytes that are not UTF-8 is no channel's token.

Event names: chat, PMs, users, media and the user count get the names of the original design
(:data:`EVENT_SUBJECTS`); rosey's own lifecycle events are ``bot.<name>`` (``bot.ready`` …);
every other CyTube event is ``cytube.<eventName>``, its name as CyTube spells it (encoded
like a channel should it ever hold a character a token cannot).
"""

from __future__ import annotations

import re
from functools import lru_cache

from rosey import events

PREFIX = "rosey.platform"

#: rosey event name -> subject suffix (may span several tokens).
EVENT_SUBJECTS: dict[str, str] = {
    events.MESSAGE: "chat.message",
    events.PM: "pm",
    events.USER_JOIN: "user.joined",
    events.USER_LEAVE: "user.left",
    events.USER_LIST: "user.list",
    "changeMedia": "media.changed",
    "usercount": "usercount",
}

#: rosey's own events (not CyTube's): ``bot.<name>``.
LIFECYCLE = frozenset(
    {
        events.CONNECTED,
        events.READY,
        events.DISCONNECTED,
        events.KICKED,
        events.CONNECT_FAILED,
        events.ERROR,
    }
)

_PLAIN = re.compile(r"[A-Za-z0-9-]")
_TOKEN = re.compile(r"(?:[A-Za-z0-9-]|_[0-9a-f]{2})+")
_ESCAPE = re.compile(r"_([0-9a-f]{2})")


def channel_token(label: str) -> str:
    """The one NATS token for channel ``label`` (``site/name``); ValueError if empty."""
    if not label:
        raise ValueError("an empty channel has no token")
    return "".join(
        ch if _PLAIN.fullmatch(ch) else "".join(f"_{b:02x}" for b in ch.encode("utf-8"))
        for ch in label
    )


def channel_from_token(token: str) -> str:
    """The channel whose token is ``token``; ValueError if no channel encodes to it."""
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"not a channel token: {token!r}")
    raw = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(token):
        raw += token[pos : m.start()].encode("ascii")
        raw.append(int(m.group(1), 16))
        pos = m.end()
    raw += token[pos:].encode("ascii")
    try:
        label = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"not a channel token (not UTF-8): {token!r}") from None
    if channel_token(label) != token:  # e.g. "_61" for "a": the canonical token is "a"
        raise ValueError(f"not a canonical channel token: {token!r}")
    return label


# Both run for every published event: cached, and bounded (a server inventing event names
# cannot grow them).
@lru_cache(maxsize=4096)
def event_suffix(name: str) -> str:
    """The subject suffix of rosey event ``name``."""
    mapped = EVENT_SUBJECTS.get(name)
    if mapped is not None:
        return mapped
    if name in LIFECYCLE:
        return f"bot.{name}"
    return f"cytube.{channel_token(name)}"


@lru_cache(maxsize=4096)
def subject(label: str, name: str, platform: str = "cytube") -> str:
    """``rosey.platform.<platform>.<channel-token>.<event>`` for event ``name`` of ``label``."""
    return f"{PREFIX}.{platform}.{channel_token(label)}.{event_suffix(name)}"


#: Every event of every channel (the stream's subjects).
ALL = f"{PREFIX}.>"

"""Normalized events: what the connection layer hands the rest of rosey.

Names follow the original Rosey design: ``message`` (chat), ``pm``, ``user_join``,
``user_leave``, ``user_list``; every other CyTube event passes through under its own name
(``setCurrent``, ``queue``, ``usercount`` …). The connection adds lifecycle events of its own:
``connected`` (socket.io session open), ``ready`` (joined, burst over, own rank known),
``disconnected``, ``kicked`` and ``connect_failed`` (an attempt that never opened a
session). Every event carries the decoded payload as ``platform_data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

MESSAGE = "message"
PM = "pm"
USER_JOIN = "user_join"
USER_LEAVE = "user_leave"
USER_LIST = "user_list"

CONNECTED = "connected"
READY = "ready"
DISCONNECTED = "disconnected"
KICKED = "kicked"
CONNECT_FAILED = "connect_failed"
ERROR = "error"

_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


class Event(NamedTuple):
    """One normalized event: an immutable, typed record.

    A ``NamedTuple`` rather than a frozen dataclass: one is built for every frame on the
    reactor's one thread, and ``tuple.__new__`` builds it in a fraction of the time a frozen
    dataclass's ``__init__`` takes (see bench/README.md). Give every field after
    ``platform_data`` by keyword.

    ``user`` and ``content`` are filled for chat-like events (``content`` is plain text: tags
    stripped, entities unescaped; the server's HTML stays in ``platform_data``). ``timestamp`` is
    Unix seconds (float) when the server gave one. ``replayed`` marks chat the server replayed
    from its buffer in the join burst: it was said before rosey joined and must never run a
    command again.
    """

    name: str
    platform_data: Any = None
    user: str | None = None
    content: str | None = None
    timestamp: float | None = None
    replayed: bool = False
    platform: str = "cytube"
    extra: Mapping[str, Any] = _NO_EXTRA

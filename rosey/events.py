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
from dataclasses import KW_ONLY, field
from types import MappingProxyType
from typing import Any

from rosey.records import record

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


@record
class Event:
    """One normalized event (a :func:`~rosey.records.record`: frozen to the type checker).

    Every field after ``platform_data`` is keyword-only.

    ``user`` and ``content`` are filled for chat-like events (``content`` is plain text: tags
    stripped, entities unescaped; the server's HTML stays in ``platform_data``). ``timestamp`` is
    Unix seconds (float) when the server gave one. ``replayed`` marks chat the server replayed
    from its buffer in the join burst: it was said before rosey joined and must never run a
    command again.
    """

    name: str
    platform_data: Any = None
    _: KW_ONLY
    user: str | None = None
    content: str | None = None
    timestamp: float | None = None
    replayed: bool = False
    platform: str = "cytube"
    extra: Mapping[str, Any] = field(default_factory=lambda: _NO_EXTRA)

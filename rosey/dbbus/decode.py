"""A published event (schema 1, :mod:`rosey.bus.payload`) read back into an
:class:`~rosey.events.Event` and what the bus added to it."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from rosey.bus.payload import SCHEMA
from rosey.events import Event


class BadPayload(ValueError):
    """Not a schema-1 event payload; the message says what is wrong (never the whole body)."""


@dataclass(frozen=True, slots=True)
class Published:
    """One event as the bus carried it."""

    event: Event
    channel: str
    event_id: str
    received_at: float


def _text(body: Mapping[str, Any], key: str, optional: bool = False) -> Any:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not value and not optional):
        raise BadPayload(f"{key!r} is not a non-empty string")
    return value


def _time(body: Mapping[str, Any], key: str, optional: bool = False) -> float | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadPayload(f"{key!r} is not a number")
    return float(value)


def decode(data: bytes) -> Published:
    """Read one payload; raises :class:`BadPayload` for anything but a schema-1 event."""
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadPayload(f"not JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadPayload("not a JSON object")
    if body.get("schema") != SCHEMA:
        raise BadPayload(f"schema {body.get('schema')!r}, this rosey reads schema {SCHEMA}")
    extra = body.get("extra") or {}
    if not isinstance(extra, dict):
        raise BadPayload("'extra' is not an object")
    received_at = _time(body, "received_at")
    assert received_at is not None
    event = Event(
        _text(body, "name"),
        body.get("raw"),
        user=_text(body, "user", optional=True),
        content=_text(body, "content", optional=True),
        timestamp=_time(body, "server_time", optional=True),
        replayed=body.get("replayed") is True,
        platform=_text(body, "platform"),
        extra=MappingProxyType(extra) if extra else MappingProxyType({}),
    )
    return Published(event, _text(body, "channel"), _text(body, "id"), received_at)

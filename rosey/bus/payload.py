"""The JSON body of a published event (schema 1, documented in docs/bus.md).

::

    {"schema": 1, "id": "…uuid4 hex…", "platform": "cytube", "channel": "cytu.be/mychannel",
     "event": "chat.message", "name": "message",
     "server_time": 1700000000.123, "received_at": 1700000000.456,
     "user": "alice", "content": "hi", "replayed": false, "extra": {},
     "raw": {…the CyTube payload as received…}}

``id`` is unique per event and is also the JetStream de-duplication id (``Nats-Msg-Id``).
``server_time`` is the server's own time stamp (Unix seconds) when it sent one, else null;
``received_at`` is when rosey received the event (Unix seconds).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from typing import Any

from rosey.bus.subjects import event_suffix
from rosey.events import Event

SCHEMA = 1


def new_id() -> str:
    """A fresh unique event id (uuid4, 32 hex digits)."""
    return uuid.uuid4().hex


def _jsonable(value: Any) -> Any:
    # The normalizer's extras hold tuples and nested mappings; anything else odd becomes text.
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # Python's json reads NaN/Infinity from a server; JSON has no such values
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def body(event: Event, channel: str, event_id: str, received_at: float) -> dict[str, Any]:
    """The payload of ``event`` as a JSON-ready dict."""
    return {
        "schema": SCHEMA,
        "id": event_id,
        "platform": event.platform,
        "channel": channel,
        "event": event_suffix(event.name),
        "name": event.name,
        "server_time": event.timestamp,
        "received_at": received_at,
        "user": event.user,
        "content": event.content,
        "replayed": event.replayed,
        "extra": _jsonable(event.extra),
        "raw": _jsonable(event.platform_data),
    }


def encode(event: Event, channel: str, event_id: str, received_at: float) -> bytes:
    """The payload of ``event`` as compact UTF-8 JSON."""
    return json.dumps(
        body(event, channel, event_id, received_at), ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")

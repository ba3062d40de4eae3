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

import itertools
import json
import math
import os
from collections.abc import Mapping
from typing import Any

from rosey.bus.subjects import event_suffix
from rosey.events import Event

SCHEMA = 1


# A random prefix per process and a counter: unique across processes and restarts (64 random
# bits), ordered within one process, and several times cheaper than uuid4 per event.
_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count()


def new_id() -> str:
    """A fresh unique event id: 32 hex digits, a random per-process prefix and a counter."""
    return f"{_PREFIX}{next(_COUNTER):016x}"


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready values (tuples as lists, NaN as None, odd types as text)."""
    # The normalizer's extras hold tuples and nested mappings; anything else odd becomes text.
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # Python's json reads NaN/Infinity from a server; JSON has no such values
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def body(event: Event, channel: str, event_id: str, received_at: float) -> dict[str, Any]:
    """The payload of ``event`` as a JSON-ready dict."""
    return _record(
        event,
        channel,
        event_id,
        received_at,
        jsonable(event.extra),
        jsonable(event.platform_data),
    )


def _record(
    event: Event, channel: str, event_id: str, received_at: float, extra: Any, raw: Any
) -> dict[str, Any]:
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
        "extra": extra,
        "raw": raw,
    }


def encode(event: Event, channel: str, event_id: str, received_at: float) -> bytes:
    """The payload of ``event`` as compact UTF-8 JSON.

    The server's payload is JSON already, so it is dumped as it is; only when that fails (a
    value JSON cannot hold: NaN, a non-JSON type in ``extra``) is it walked into JSON-ready
    values first (:func:`body`)."""
    extra = dict(event.extra) if event.extra else {}
    record = _record(event, channel, event_id, received_at, extra, event.platform_data)
    try:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        record = body(event, channel, event_id, received_at)
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")

"""Values on the ``rosey.db.*`` subjects: JSON, with typed rows tagged so they come back typed.

A row (a dataclass: :mod:`rosey.storage.rows`, or any ``@record`` registered with
:func:`register`) becomes ``{"$record": "UserStats", "channel": …, …}``; a tuple
``{"$tuple": […]}``; a dict with a key starting with ``$`` ``{"$dict": {…}}``; lists, strings,
numbers, booleans and None are JSON's own. Floats round-trip exactly (``repr``), and an int
stays an int. Only registered types are rebuilt: a tag names a type, never a module to import.

Messages: a request is ``{"args": {name: value, …}}``; a reply ``{"ok": true, "result": value}``
or ``{"ok": false, "error": {"type": "StorageUnavailable", "message": "…"}}``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from rosey.storage import rows

__all__ = ["CodecError", "decode", "dumps", "encode", "loads", "register"]

RECORD, TUPLE, DICT = "$record", "$tuple", "$dict"

#: The types rebuilt from their tag, by name.
TYPES: dict[str, type] = {}


class CodecError(ValueError):
    """A value that cannot be sent, or a message that does not decode."""


def register(cls: type) -> type:
    """Let rows of the dataclass ``cls`` travel typed (usable as a class decorator)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    known = TYPES.setdefault(cls.__name__, cls)
    if known is not cls:
        raise TypeError(f"two row types named {cls.__name__}")
    return cls


for _value in vars(rows).values():
    if isinstance(_value, type) and dataclasses.is_dataclass(_value):
        register(_value)


def encode(value: Any) -> Any:
    """``value`` as plain JSON values, rows tagged."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {TUPLE: [encode(v) for v in value]}
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise CodecError(f"a dict key must be a string, not {type(key).__name__}")
            out[key] = encode(v)
        return {DICT: out} if any(k.startswith("$") for k in out) else out
    cls = type(value)
    if dataclasses.is_dataclass(value) and TYPES.get(cls.__name__) is cls:
        encoded = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {RECORD: cls.__name__, **encoded}
    raise CodecError(f"cannot send a {cls.__name__}")


def decode(value: Any) -> Any:
    """The value :func:`encode` was given."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if RECORD in value:
        name = value[RECORD]
        cls = TYPES.get(name) if isinstance(name, str) else None
        if cls is None:
            raise CodecError(f"unknown row type {name!r}")
        fields = {k: decode(v) for k, v in value.items() if k != RECORD}
        try:
            return cls(**fields)
        except TypeError as e:
            raise CodecError(f"bad {name}: {e}") from None
    if TUPLE in value and len(value) == 1:
        items = value[TUPLE]
        if not isinstance(items, list):
            raise CodecError("$tuple holds no list")
        return tuple(decode(v) for v in items)
    if DICT in value and len(value) == 1 and isinstance(value[DICT], dict):
        return {k: decode(v) for k, v in value[DICT].items()}
    return {k: decode(v) for k, v in value.items()}


def dumps(message: dict[str, Any]) -> bytes:
    """A message (its values already encoded) as compact UTF-8 JSON."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes) -> dict[str, Any]:
    """A message's JSON object; :class:`CodecError` if it is not one."""
    try:
        message = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CodecError(f"not JSON: {e}") from None
    if not isinstance(message, dict):
        raise CodecError(f"not a JSON object but {type(message).__name__}")
    return message

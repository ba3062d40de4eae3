"""Errors across the bus: a storage error keeps its type from the service to the caller.

The responder sends ``{"type": …, "message": …}``; the client raises the same exception
class when it is one of :data:`KNOWN`, else :class:`~rosey.storage.errors.StorageError`.
``BadRequest`` (a request the service cannot read or call) becomes a ``TypeError`` in the
caller: it is a bug, not an outage.
"""

from __future__ import annotations

from rosey.storage.errors import SchemaError, StorageError, StorageUnavailable

#: A request the responder cannot decode, or whose arguments do not fit the method.
BAD_REQUEST = "BadRequest"
#: A subject under ``rosey.db.`` that names no served method.
UNKNOWN_METHOD = "UnknownMethod"

#: Error types rebuilt as themselves in the caller.
KNOWN: dict[str, type[Exception]] = {
    "StorageError": StorageError,
    "StorageUnavailable": StorageUnavailable,
    "SchemaError": SchemaError,
    "ValueError": ValueError,
    "KeyError": KeyError,
    BAD_REQUEST: TypeError,
    UNKNOWN_METHOD: TypeError,
}


def error_type(error: BaseException) -> str:
    """The name the reply gives ``error``: its own class name if the caller knows it, else
    the nearest known base (a storage error of a subclass the caller lacks)."""
    for cls in type(error).__mro__:
        if cls.__name__ in KNOWN and KNOWN[cls.__name__] is cls:
            return cls.__name__
    return "StorageError"


def rebuild(kind: str, message: str) -> Exception:
    """The exception the caller raises for an error reply."""
    return KNOWN.get(kind, StorageError)(message)

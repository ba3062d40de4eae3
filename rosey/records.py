"""``record``: the decorator for the typed values built on the hot paths.

A record is a slotted dataclass that type checkers treat as frozen (``dataclass_transform`` with
``frozen_default``): mypy checks every construction (names, types, arity) and rejects any
assignment to a field. At run time it is built by the plain, non-frozen ``__init__``: a frozen
dataclass's ``__init__`` sets each field through ``object.__setattr__``, which costs about twice
as much, and every event and every join-burst value is built on the reactor's one thread (the
figures are in bench/README.md). Records compare and hash by their fields, as frozen
dataclasses do (``field(hash=False)`` leaves one out).
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar, dataclass_transform

__all__ = ["record"]

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: type[T]) -> type[T]:
    """Make ``cls`` a record: a slotted dataclass, frozen to the type checker."""
    return dataclasses.dataclass(slots=True, unsafe_hash=True)(cls)

"""Fast construction of frozen, slotted dataclasses, for the hot paths.

A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__``, which looks the
name up on the type every time (bench/README.md has the cost of a ``User`` and an
:class:`~rosey.events.Event`). Every event and every join-burst value is built on the reactor's
one thread, so the normalizer, the mirror's parsers and the recorder use :func:`maker`'s
constructor instead: it sets each slot through its own descriptor, which is much faster,
and gives the same value (equal, hashed and frozen alike). Public construction keeps the
dataclass's ``__init__``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["maker"]

T = TypeVar("T")


def maker(cls: type[T]) -> Callable[..., T]:
    """A constructor taking every field of ``cls`` positionally, in declaration order, with no
    defaults, no ``__post_init__`` and no checks: for parsers that have validated the values."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if any(name.startswith("_") or name == "obj" for name in names):
        raise ValueError(f"{cls.__name__}: a field name would clash with the maker's own names")
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def make({', '.join(names)}):", "    obj = _new(_cls)"]
    for name in names:
        descriptor = cls.__dict__[name]  # a slot's member descriptor
        namespace[f"_set_{name}"] = descriptor.__set__
        lines.append(f"    _set_{name}(obj, {name})")
    lines.append("    return obj")
    exec("\n".join(lines), namespace)  # the source is built from the field names alone
    make: Callable[..., T] = namespace["make"]
    make.__qualname__ = make.__name__ = f"make_{cls.__name__}"
    return make

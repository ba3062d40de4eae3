"""A storage composed of one component per domain, its methods forwarded to them.

An implementation of :class:`~rosey.storage.interface.IStorage` holds a component per domain of
:data:`~rosey.storage.interface.DOMAINS` (``self.chat``, ``self.stats``, …) and declares each
flat method once with :func:`via`::

    class SQLStorage:
        save_message = via("chat", SQLChat.save_message)

Callers keep calling ``storage.save_message(...)``; mypy sees the component method's signature;
the component does the work. The first call on an instance caches the component's bound method
in the instance, so later calls cost what a direct call costs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

P = ParamSpec("P")
R = TypeVar("R")


class Via(Generic[P, R]):
    """A method forwarded to the instance's component ``component`` (see :func:`via`)."""

    def __init__(self, component: str, method: Callable[Concatenate[Any, P], R]) -> None:
        self.component = component
        self.name = getattr(method, "__name__", "")

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Via[P, R]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[P, R]: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        bound = getattr(getattr(obj, self.component), self.name)
        # A non-data descriptor: from now on the instance's own attribute answers.
        obj.__dict__[self.name] = bound
        return bound


def via(component: str, method: Callable[Concatenate[Any, P], R]) -> Via[P, R]:
    """Forward this attribute to the same-named method of the instance's attribute
    ``component``; ``method`` (that method on the component's class) gives mypy its type."""
    return Via(component, method)

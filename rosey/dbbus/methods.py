"""The storage methods served on the bus, derived from the domain interfaces.

Every method of every interface in :data:`rosey.storage.interface.DOMAINS` is served, under
``rosey.db.<domain>.<method>``, except those in :data:`NOT_SERVED`; a method added to an
interface later is served (and callable through the client) without new code. The names of
its arguments and their defaults come from the interface's signature.

Where the original Rosey design (its "Bot Layer NATS Migration" specification) named a subject
for the same operation, that name is kept (:data:`ORIGIN_SUBJECTS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zope.interface.interface import Method

from rosey.storage.interface import DOMAINS

PREFIX = "rosey.db"
#: The one subscription that covers every served subject.
WILDCARD = f"{PREFIX}.>"

#: Not served: ``prune`` runs in the service (long, cancellable, with a progress callback);
#: ``may_have_outbound`` is answered from memory by the caller, never with I/O (the client
#: loads that memory with ``get_outbound_recipients``).
NOT_SERVED = frozenset({"prune", "may_have_outbound"})

#: The original design's subjects for the operations it named (method -> subject).
ORIGIN_SUBJECTS: dict[str, str] = {
    "save_message": "rosey.db.message.log",
    "get_recent_messages": "rosey.db.stats.recent_chat.get",
    "log_user_count": "rosey.db.stats.user_count",
    "update_channel_stats": "rosey.db.stats.high_water",
    "set_status": "rosey.db.status.update",
    "get_unsent_outbound": "rosey.db.messages.outbound.get",
    "mark_outbound_sent": "rosey.db.messages.outbound.mark_sent",
}


@dataclass(frozen=True)
class StorageMethod:
    """One served method: its domain, name, subject and signature."""

    domain: str
    name: str
    subject: str
    #: Every argument's name, in order (positional calls are bound by it).
    arguments: tuple[str, ...]
    required: frozenset[str]
    defaults: dict[str, Any]

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """A call's arguments by name; TypeError as Python's own for a wrong call."""
        if len(args) > len(self.arguments):
            raise TypeError(
                f"{self.name}() takes {len(self.arguments)} arguments, {len(args)} given"
            )
        bound = dict(zip(self.arguments, args, strict=False))
        for key, value in kwargs.items():
            if key in bound:
                raise TypeError(f"{self.name}() got multiple values for argument {key!r}")
            bound[key] = value
        self.check(bound)
        return bound

    def check(self, args: dict[str, Any]) -> None:
        """TypeError naming the first unknown or missing argument."""
        for key in args:
            if key not in self.arguments:
                raise TypeError(f"{self.name}() got an unexpected argument {key!r}")
        for key in self.arguments:
            if key in self.required and key not in args:
                raise TypeError(f"{self.name}() missing required argument {key!r}")


def served_methods() -> dict[str, StorageMethod]:
    """Every served method by name, in the interfaces' order."""
    methods: dict[str, StorageMethod] = {}
    for domain, interface in DOMAINS.items():
        for name, described in interface.namesAndDescriptions():
            if not isinstance(described, Method) or name in NOT_SERVED:
                continue
            info = described.getSignatureInfo()  # type: ignore[no-untyped-call]
            methods[name] = StorageMethod(
                domain=domain,
                name=name,
                subject=ORIGIN_SUBJECTS.get(name, f"{PREFIX}.{domain}.{name}"),
                arguments=tuple(info["positional"]),
                required=frozenset(info["required"]),
                defaults=dict(info["optional"]),
            )
    return methods


#: Served methods by name, and by subject.
METHODS = served_methods()
BY_SUBJECT = {m.subject: m for m in METHODS.values()}

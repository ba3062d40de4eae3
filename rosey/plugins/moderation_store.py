"""The moderation plugin's persistent sanctions: bans and timed mutes, kept in its ``kv``.

Layout: key ``bans`` and key ``mutes`` each hold one JSON object
``{folded name: {name, until (Unix seconds or null = until lifted), reason, by, by_rank, at}}``.
Memory is the truth while the plugin runs; :class:`~rosey.plugins.fun_store.KvWriter` writes
snapshots in order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from rosey.api import IKeyValue
from rosey.plugins.support import KvWriter, Loader, dump, load_json

__all__ = ["Sanction", "SanctionStore"]

log = Logger()
KINDS = ("bans", "mutes")


@dataclass(frozen=True, slots=True)
class Sanction:
    """One ban or timed mute."""

    name: str
    until: float | None
    reason: str
    by: str
    by_rank: float
    at: float

    @classmethod
    def from_json(cls, data: Any) -> Sanction | None:
        if not isinstance(data, dict):
            return None
        try:
            until = data.get("until")
            return cls(
                name=str(data["name"]),
                until=None if until is None else float(until),
                reason=str(data.get("reason", "")),
                by=str(data.get("by", "")),
                by_rank=float(data.get("by_rank", 0)),
                at=float(data.get("at", 0)),
            )
        except (KeyError, TypeError, ValueError):
            return None


class SanctionStore:
    """Bans and timed mutes by folded name, loaded once and saved on every change."""

    def __init__(self, kv: IKeyValue, clock: IReactorTime) -> None:
        self.writer = KvWriter(kv, clock)
        self._kv = kv
        self.items: dict[str, dict[str, Sanction]] = {kind: {} for kind in KINDS}
        self.loader = Loader(self._load, "moderation sanctions")

    async def _load(self) -> None:
        for kind in KINDS:
            data = await load_json(self._kv, kind)
            entries = data if isinstance(data, dict) else {}
            for value in entries.values():
                s = Sanction.from_json(value)
                if s is None:
                    log.warn("moderation: ignoring a malformed {kind} entry", kind=kind)
                    continue
                self.items[kind].setdefault(s.name.casefold(), s)

    def get(self, kind: str, name: str) -> Sanction | None:
        return self.items[kind].get(name.casefold())

    def put(self, kind: str, s: Sanction) -> Deferred[bool]:
        self.items[kind][s.name.casefold()] = s
        return self._save(kind)

    def remove(self, kind: str, name: str) -> Sanction | None:
        s = self.items[kind].pop(name.casefold(), None)
        if s is not None:
            self._save(kind)
        return s

    def _save(self, kind: str) -> Deferred[bool]:
        def render() -> tuple[str | None, float | None]:
            entries = self.items[kind]
            if not entries:
                return None, None
            return dump({k: asdict(v) for k, v in entries.items()}), None

        return self.writer.save(kind, render)

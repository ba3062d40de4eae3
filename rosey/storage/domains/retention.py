"""Retention on SQL: :mod:`rosey.storage.retention`'s batches run on the storage's pool."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from twisted.internet.defer import Deferred
from zope.interface import implementer

from rosey.storage import retention
from rosey.storage.domains.base import SQLComponent
from rosey.storage.interface import IRetention


@implementer(IRetention)
class SQLRetention(SQLComponent):
    """:class:`IRetention` on SQL; its transactions are named ``retention.*``."""

    def prune(
        self,
        policy: Mapping[str, float],
        now: float | None = None,
        batch_size: int = 500,
        on_progress: Callable[[str, int], None] | None = None,
    ) -> Deferred[dict[str, int]]:
        run = self.db.pool.run_interaction
        return retention.prune(run, policy, self.db.now(now), batch_size, on_progress)

    def count_prunable(
        self, policy: Mapping[str, float], now: float | None = None
    ) -> Deferred[dict[str, int]]:
        return retention.count(self.db.pool.run_interaction, policy, self.db.now(now))

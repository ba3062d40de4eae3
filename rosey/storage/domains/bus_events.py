"""Exactly-once writes of bus events on SQL (:class:`~rosey.storage.interface.IBusEventStore`).

One transaction per batch: the ids already in ``bus_events_seen`` are looked up, the others are
inserted, the caller derives the write operations of those new events only, and they are applied;
all of it commits or none of it does. Two writers racing on the same ids cannot both win: on
SQLite the transaction holds the write lock from its start (``BEGIN IMMEDIATE``); on PostgreSQL
the second insert of an id waits for the first transaction and then fails on the primary key,
so that batch rolls back and is tried again, finding the ids stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from rosey.storage import ops as o
from rosey.storage import writes
from rosey.storage.domains.base import SQLComponent
from rosey.storage.engine import is_transient
from rosey.storage.interface import DeriveOps, IBusEventStore, SeenEvent
from rosey.storage.tables import bus_events_seen

#: Ids looked up per ``IN (...)`` (well under SQLite's bound-parameter limit).
CHUNK = 500

seen = bus_events_seen.c


@implementer(IBusEventStore)
class SQLBusEvents(SQLComponent):
    """:class:`IBusEventStore` on SQL; its transactions are named ``bus.*``."""

    log = Logger()

    def record_events(self, events: Sequence[SeenEvent], derive: DeriveOps) -> Deferred[int]:
        batch = list(events)
        return self.db.pool.run_interaction("bus.record_events", self._record, batch, derive)

    def _record(self, conn: Connection, events: list[SeenEvent], derive: DeriveOps) -> int:
        known = stored_ids(conn, [e[0] for e in events])
        fresh: list[str] = []
        rows = []
        for event in events:
            event_id = event[0]
            if event_id not in known:
                known.add(event_id)  # an id twice in one batch is new once
                fresh.append(event_id)
                rows.append(event)
        if rows:
            # Plain tuples to the driver (as rosey.storage.bulk): no dict and no SQLAlchemy
            # parameter processing per row.
            conn.exec_driver_sql(_statements(conn).insert, rows)
        for channel, batch in derive(frozenset(fresh)):
            if batch:
                self._apply(conn, channel, batch)
        return len(rows)

    def _apply(self, conn: Connection, channel: str, batch: Sequence[o.WriteOp]) -> None:
        cid = self.db.cid(conn, channel, create=True)
        assert cid is not None
        try:
            with conn.begin_nested():
                writes.apply_ops(conn, cid, batch)
            return
        except SQLAlchemyError as e:
            if is_transient(e):
                raise
        # A value the database refuses: each operation alone, cleaned (as SQLDatabase.record).
        self.db.report_dropped(channel, writes.apply_each(conn, cid, batch))

    def prune_bus_events(self, before: float, batch_size: int = 500) -> Deferred[int]:
        return Deferred.fromCoroutine(self._prune(before, batch_size))

    async def _prune(self, before: float, batch_size: int) -> int:
        total = 0
        while True:
            n = await self.db.pool.run_interaction(
                "bus.prune_events", delete_seen_before, before, batch_size
            )
            total += n
            if n < batch_size:
                return total


class _Statements:
    """The insert and the ``IN`` lookups as driver SQL in one parameter style."""

    def __init__(self, paramstyle: str) -> None:
        if paramstyle == "qmark":
            self.mark = "?"
        elif paramstyle in ("format", "pyformat"):
            self.mark = "%s"
        else:
            raise NotImplementedError(f"paramstyle {paramstyle!r}")
        self.insert = (
            "INSERT INTO bus_events_seen (event_id, channel, received_at) "
            f"VALUES ({self.mark}, {self.mark}, {self.mark})"
        )
        self._lookups: dict[int, str] = {}

    def lookup(self, n: int) -> str:
        """``SELECT`` the stored ones of ``n`` ids."""
        found = self._lookups.get(n)
        if found is None:
            marks = ", ".join([self.mark] * n)
            found = f"SELECT event_id FROM bus_events_seen WHERE event_id IN ({marks})"
            self._lookups[n] = found
        return found


_STATEMENTS: dict[str, _Statements] = {}


def _statements(conn: Connection) -> _Statements:
    style = conn.dialect.paramstyle
    found = _STATEMENTS.get(style)
    if found is None:
        found = _STATEMENTS[style] = _Statements(style)
    return found


def stored_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are in ``bus_events_seen`` (one ``IN`` query per :data:`CHUNK`)."""
    sql = _statements(conn)
    found: set[str] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = tuple(ids[start : start + CHUNK])
        found.update(row[0] for row in conn.exec_driver_sql(sql.lookup(len(chunk)), chunk))
    return found


def delete_seen_before(conn: Connection, before: float, limit: int) -> int:
    """Delete at most ``limit`` ids of events received before ``before``, oldest first."""
    batch = select(seen.event_id).where(seen.received_at < before)
    batch = batch.order_by(seen.received_at).limit(limit)
    return int(conn.execute(delete(bus_events_seen).where(seen.event_id.in_(batch))).rowcount)

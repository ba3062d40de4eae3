"""Recorded captures as published bus events, and a database's contents to compare."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from rosey.bus import payload
from rosey.dbbus.decode import Published
from rosey.events import Event
from rosey.storage.engine import make_oneshot_engine
from rosey.storage.tables import bus_events_seen, channels, metadata
from tests.recorded import EventReplay, load

#: When the captures "happened": the recorded offsets are added to this.
BASE = 1_700_000_000.0


def capture(scenario: str, channel: str = "lab.example/labchan") -> list[Published]:
    """Every event a bot would have seen in ``scenario``, as the bus would carry it (received
    at the record's time)."""
    recording = load(scenario)
    out: list[Published] = []
    now = [0.0]

    def sink(event: Event) -> None:
        out.append(Published(event, channel, payload.new_id(), BASE + now[0]))

    replay = EventReplay(recording, sink)
    for record in recording.records:
        now[0] = record.t
        replay.feed(record)
    return out


def encoded(events: list[Published]) -> list[bytes]:
    """The payloads the publisher would have sent."""
    return [payload.encode(p.event, p.channel, p.event_id, p.received_at) for p in events]


#: Columns left out of the comparison: surrogate ids; when the channel row was made (the
#: storage's own clock, not the events'); when the status row was last written (the time of
#: the batch that wrote it last: batching decides, in process as well).
SKIPPED = {"id", "created_at"}
SKIPPED_IN = {"bot_status": {"last_updated"}}


def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every rosey table's rows (but ``bus_events_seen``), sorted, channel ids replaced by the
    channel's name and surrogate ids left out."""
    engine = make_oneshot_engine(url)
    try:
        with engine.connect() as conn:
            names = {row[0]: row[1] for row in conn.execute(select(channels.c.id, channels.c.name))}
            out: dict[str, list[tuple[Any, ...]]] = {}
            for table in metadata.sorted_tables:
                if table is bus_events_seen:
                    continue
                skip = SKIPPED | SKIPPED_IN.get(table.name, set())
                cols = [c for c in table.c if c.name not in skip]
                rows = []
                for row in conn.execute(select(*cols)):
                    values = dict(zip([c.name for c in cols], row, strict=True))
                    if "channel_id" in values:
                        values["channel_id"] = names[values["channel_id"]]
                    rows.append(tuple(sorted(values.items(), key=lambda kv: kv[0])))
                out[table.name] = sorted(rows, key=repr)
            return out
    finally:
        engine.dispose()


def seen_ids(url: str) -> list[str]:
    """The ids in ``bus_events_seen``."""
    engine = make_oneshot_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(bus_events_seen.c.event_id)))
    finally:
        engine.dispose()

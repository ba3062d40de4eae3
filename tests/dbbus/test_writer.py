"""Published events written by the database service's writer (no bus: its storage path) equal,
row for row, the same events through today's in-process recorder; written twice, once."""

from __future__ import annotations

import pytest
import pytest_twisted

from rosey import events as events_
from rosey.dbbus.decode import Published
from rosey.dbbus.writer import BatchWriter, ChannelWriter, EventWriter, fork
from rosey.storage import schema
from rosey.storage.sql import SQLStorage
from tests.dbbus.capture import capture, contents, seen_ids
from tests.dbbus.reference import record_in_process
from tests.recorded import SCENARIOS

INTERVAL = 5.0  # a snapshot every 5 s of event time: the captures span a minute or more


async def write_via_service(url: str, events: list[Published], size: int) -> BatchWriter:
    from twisted.internet import reactor

    schema.upgrade(url)
    storage = SQLStorage(url, reactor)
    await storage.connect()
    try:
        writer = BatchWriter(storage, snapshot_interval=INTERVAL)
        for start in range(0, len(events), size):
            await writer.write(events[start : start + size])
        return writer
    finally:
        await storage.close()


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest_twisted.ensureDeferred
async def test_service_rows_equal_in_process_rows(scenario: str, tmp_path) -> None:
    events = capture(scenario)
    reference = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    service = f"sqlite:///{tmp_path / 'service.sqlite'}"
    await record_in_process(reference, events, INTERVAL)
    await write_via_service(service, events, size=7)
    expected = contents(reference)
    assert sum(len(rows) for rows in expected.values()) > 0
    assert contents(service) == expected
    assert sorted(seen_ids(service)) == sorted(p.event_id for p in events)


@pytest_twisted.ensureDeferred
async def test_redelivered_events_are_written_once(db_url: str, tmp_path) -> None:
    """Every batch twice and overlapping ones (a redelivery after a crash): the same rows as
    once; message counts do not double."""
    from twisted.internet import reactor

    events = capture("chat_and_pm")
    once = f"sqlite:///{tmp_path / 'once.sqlite'}"
    await write_via_service(once, events, size=5)

    schema.upgrade(db_url)
    storage = SQLStorage(db_url, reactor)
    await storage.connect()
    try:
        writer = BatchWriter(storage, snapshot_interval=INTERVAL)
        for start in range(0, len(events), 5):
            assert await writer.write(events[start : start + 5]) == len(events[start : start + 5])
            assert await writer.write(events[max(0, start - 3) : start + 5]) == 0
        assert writer.written == len(events)
    finally:
        await storage.close()
    assert contents(db_url) == contents(once)


@pytest_twisted.ensureDeferred
async def test_old_event_ids_are_pruned_in_batches(db_url: str) -> None:
    from twisted.internet import reactor

    events = capture("chat_and_pm")
    schema.upgrade(db_url)
    storage = SQLStorage(db_url, reactor)
    await storage.connect()
    try:
        await BatchWriter(storage).write(events)
        cut = events[20].received_at
        old = [p.event_id for p in events if p.received_at < cut]
        assert await storage.prune_bus_events(cut, batch_size=3) == len(old)
        assert sorted(seen_ids(db_url)) == sorted(
            p.event_id for p in events if p.received_at >= cut
        )
    finally:
        await storage.close()


def mirror_state(writer: ChannelWriter) -> tuple[object, ...]:
    m = writer.mirror
    return (tuple(m.users), m.playlist.items, m.playlist.now_playing, m.users.leader)


def test_a_derived_batch_leaves_the_state_as_it_was_and_shares_the_records() -> None:
    """Deriving works on a fork of the channel: the kept state does not move until commit, the
    same batch derived again (after a failed transaction) makes the same operations, and the
    fork shares the unchanged user records instead of copying them."""
    events = capture("users_coming_and_going")
    ids = frozenset(p.event_id for p in events)
    writer = EventWriter(INTERVAL)
    half = next(i for i, p in enumerate(events) if p.event.name == events_.USER_JOIN) + 1
    writer.commit(writer.derive(events[:half], ids)[1])
    [kept] = writer.channels.values()
    before = mirror_state(kept)
    assert before[0], "the first part lists users"

    ops, touched = writer.derive(events[half:], ids)
    again, _ = writer.derive(events[half:], ids)
    [forked] = touched.values()
    assert mirror_state(kept) == before
    assert mirror_state(forked) != before
    assert ops == again
    assert forked.mirror.users is not kept.mirror.users
    copied = fork(kept)  # the copy shares the records, not their containers
    assert copied.mirror.users is not kept.mirror.users
    assert all(a is b for a, b in zip(copied.mirror.users, kept.mirror.users, strict=True))
    writer.commit(touched)
    assert mirror_state(writer.channels[kept.channel]) == mirror_state(forked)

"""Who may have ``!tell`` messages waiting: the in-memory answer and how storage keeps it."""

from __future__ import annotations

from typing import Any

import pytest_twisted
from sqlalchemy import insert, select
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from rosey.storage.sql import SQLStorage
from rosey.storage.tables import channels, outbound_messages
from rosey.storage.waiting import WaitingRecipients
from tests.waiting import eventually

CH = "cytu.be/test"


class Loads:
    """A fake database load: each call waits for the test to answer it."""

    def __init__(self) -> None:
        self.calls: list[Deferred[list[tuple[str, str | None]]]] = []

    def __call__(self) -> Deferred[list[tuple[str, str | None]]]:
        d: Deferred[list[tuple[str, str | None]]] = Deferred()
        self.calls.append(d)
        return d


def test_maybe_until_loaded_then_from_memory() -> None:
    clock, loads = Clock(), Loads()
    w = WaitingRecipients(clock, loads, refresh=300, retry=60)
    # nothing loads before load()
    assert w.may_have(CH, "bob")
    assert not loads.calls
    done = w.load()
    w.load()
    assert len(loads.calls) == 1  # one load at a time
    # loading: maybe
    assert w.may_have(CH, "carl")
    assert not done.called
    loads.calls[0].callback([(CH, "Bob"), (CH, None), ("other", "carl")])
    assert done.called
    assert w.may_have(CH, "BOB")
    assert not w.may_have(CH, "carl")
    assert w.may_have("other", "carl")
    assert not w.may_have("third", "carl")
    assert len(loads.calls) == 1


def test_add_and_found_none_respect_the_order_of_events() -> None:
    clock, loads = Clock(), Loads()
    w = WaitingRecipients(clock, loads)
    w.load()
    loads.calls[0].callback([])
    since = w.generation  # a read starts
    w.add(CH, "Carl")  # a message is queued meanwhile
    w.found_none(CH, "carl", since)  # the read (which may have missed it) found nothing
    assert w.may_have(CH, "carl")
    w.found_none(CH, "carl", w.generation)  # a later read finds nothing: gone
    assert not w.may_have(CH, "carl")
    w.add(CH, None)  # a message for nobody in particular changes nothing
    assert not w.may_have(CH, "none")


def test_added_during_a_load_is_kept_and_reloads_catch_other_writers() -> None:
    clock, loads = Clock(), Loads()
    w = WaitingRecipients(clock, loads, refresh=300, retry=60)
    w.load()
    w.add(CH, "dana")  # queued while the load runs: the load may not see it
    loads.calls[0].callback([(CH, "eve")])
    assert w.may_have(CH, "dana")
    assert w.may_have(CH, "eve")
    clock.advance(299)
    assert not w.may_have(CH, "fay")
    assert len(loads.calls) == 1
    clock.advance(1)
    assert not w.may_have(CH, "fay")  # answered from the old set while reloading
    assert len(loads.calls) == 2
    loads.calls[1].callback([(CH, "fay")])  # queued by another process
    assert w.may_have(CH, "fay")
    assert not w.may_have(CH, "eve")
    w.stop()
    clock.advance(1000)
    # stopped: no more reloads
    assert not w.may_have(CH, "x")
    assert len(loads.calls) == 2


def test_a_failed_load_answers_maybe_and_is_retried_later() -> None:
    clock, loads = Clock(), Loads()
    w = WaitingRecipients(clock, loads, refresh=300, retry=60)
    done = w.load()
    loads.calls[0].errback(RuntimeError("database is locked"))
    assert done.called  # never fails
    assert w.may_have(CH, "x")
    assert len(loads.calls) == 1
    clock.advance(60)
    assert w.may_have(CH, "x")
    assert len(loads.calls) == 2
    loads.calls[1].callback([])
    assert not w.may_have(CH, "x")


def test_pairs_as_json_lists_load_and_a_reply_that_does_not_unpack_is_retried() -> None:
    clock, loads = Clock(), Loads()
    w = WaitingRecipients(clock, loads, refresh=300, retry=60)
    done = w.load()
    loads.calls[0].callback([["cytu.be/Lab", "hal"]])  # type: ignore[list-item]
    assert done.called
    assert w.may_have("cytu.be/lab", "HAL")
    assert not w.may_have("cytu.be/lab", "x")
    clock.advance(300)
    done = w.load()
    loads.calls[1].callback([["cytu.be/lab", "hal", "extra"]])  # type: ignore[list-item]
    assert done.called  # never fails, never hangs
    assert w.may_have("cytu.be/lab", "hal")  # the old set stands
    clock.advance(60)
    assert len(loads.calls) == 3  # retried after `retry`, not `refresh`


@pytest_twisted.ensureDeferred
async def test_storage_keeps_the_answer(storage: SQLStorage) -> None:
    """Real storage (both engines): loaded from the table, updated by queueing and by reads."""
    await storage.enqueue_outbound(CH, "Bob", "hi", sender="alice")
    fresh = SQLStorage(storage.pool.engine.url, _reactor())
    await fresh.connect()
    try:
        assert not fresh.may_have_outbound(CH, "carl")  # loaded when it connected
        assert fresh.may_have_outbound(CH, "bob")
        await fresh.enqueue_outbound(CH, "carl", "yo")
        assert fresh.may_have_outbound(CH, "carl")
        [row] = await fresh.get_unsent_outbound(CH, "carl")
        assert fresh.may_have_outbound(CH, "carl")  # found one: still waiting
        await fresh.mark_outbound_sent(CH, row.id)
        assert await fresh.get_unsent_outbound(CH, "carl") == []
        assert not fresh.may_have_outbound(CH, "carl")
        assert fresh.may_have_outbound(CH, "bob")
    finally:
        await fresh.close()


@pytest_twisted.ensureDeferred
async def test_a_message_queued_by_another_process_is_seen_after_the_refresh(
    storage: SQLStorage,
) -> None:
    clock = Clock()
    clock.advance(1000)
    s = SQLStorage(storage.pool.engine.url, _reactor(), clock=clock)
    await s.connect()
    try:
        await s.enqueue_outbound(CH, "zed", "make the channel")
        with storage.pool.engine.begin() as conn:  # behind the storage's back
            cid = conn.execute(select(channels.c.id).where(channels.c.name == CH)).scalar_one()
            conn.execute(
                insert(outbound_messages).values(
                    channel_id=cid, created_at=1.0, recipient="gil", message="m"
                )
            )
        assert not s.may_have_outbound(CH, "gil")
        clock.advance(300)  # the reload
        await eventually(lambda: s.may_have_outbound(CH, "gil"))
    finally:
        await s.close()


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def test_noop_storage_never_has_messages_waiting() -> None:
    from rosey.storage.noop import NoopStorage

    assert NoopStorage().may_have_outbound(CH, "bob") is False

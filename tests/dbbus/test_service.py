"""The database service as a real ``twistd --reactor=asyncio rosey-db`` process, consuming a
real nats-server's stream into real SQLite and PostgreSQL.

- A recorded capture published into the stream ends up in the database exactly as the same
  capture through today's in-process recorder, row for row; SIGTERM then exits 0.
- SIGKILLed mid-stream and started again: every event exactly once. nats-server killed and
  started again mid-stream: the same.
- Two services on one durable consumer: no duplicate, no loss.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest_twisted

from tests.bus.natsserver import NatsServer
from tests.dbbus.capture import capture, contents, seen_ids
from tests.dbbus.reference import record_in_process
from tests.dbbus.service import (
    ServiceProcess,
    chat,
    chat_lines,
    count,
    publish,
    stored,
    write_config,
)
from tests.waiting import eventually

CONSUMING = "consuming stream ROSEY_EVENTS as rosey-db"
SNAPSHOT = 300.0  # [dbservice] snapshot_interval's default


@pytest_twisted.ensureDeferred
async def test_capture_through_the_service_equals_in_process(
    db_url: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    events = capture("users_coming_and_going") + capture("chat_and_pm")
    reference = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    await record_in_process(reference, events, SNAPSHOT)
    publish(nats_server.url, events)
    service = ServiceProcess(write_config(tmp_path, db_url, nats_server.url), tmp_path)
    try:
        await stored(db_url, len(events))
    finally:
        status = await service.signal(signal.SIGTERM)
    assert status == 0, service.out.text
    assert sorted(seen_ids(db_url)) == sorted(p.event_id for p in events)
    assert contents(db_url) == contents(reference)


@pytest_twisted.ensureDeferred
async def test_sigkill_mid_stream_then_restart_writes_every_event_once(
    db_url: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    events = chat(3000)
    publish(nats_server.url, events[:2000])
    config = write_config(tmp_path, db_url, nats_server.url, batch=5)  # 400 batches to kill in
    first = ServiceProcess(config, tmp_path)
    await stored(db_url, 1)
    await first.signal(signal.SIGKILL)
    assert count(db_url) < 2000, "the service finished before it was killed"
    publish(nats_server.url, events[2000:])
    second = ServiceProcess(config, tmp_path)
    try:
        await stored(db_url, len(events))
    finally:
        assert await second.signal(signal.SIGTERM) == 0, second.out.text
    assert count(db_url) == len(events)
    assert chat_lines(db_url) == sorted(p.event.content or "" for p in events)


@pytest_twisted.ensureDeferred
async def test_nats_server_restarted_mid_stream_loses_and_repeats_nothing(
    db_url: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    events = chat(3000)
    publish(nats_server.url, events[:2000])
    config = write_config(tmp_path, db_url, nats_server.url, batch=5)
    service = ServiceProcess(config, tmp_path)
    try:
        await stored(db_url, 1)
        nats_server.kill()
        assert count(db_url) < 2000, "the service finished before the bus went away"
        nats_server.start()
        publish(nats_server.url, events[2000:])
        await stored(db_url, len(events))
    finally:
        assert await service.signal(signal.SIGTERM) == 0, service.out.text
    assert count(db_url) == len(events)
    assert chat_lines(db_url) == sorted(p.event.content or "" for p in events)


@pytest_twisted.ensureDeferred
async def test_two_services_on_one_durable_share_without_duplicates(
    db_url: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    events = chat(3000)
    publish(nats_server.url, events[:10])  # the stream exists before either starts
    first = ServiceProcess(write_config(tmp_path, db_url, nats_server.url, "a"), tmp_path)
    await stored(db_url, 10)  # migrated by the first before the second starts
    second = ServiceProcess(write_config(tmp_path, db_url, nats_server.url, "b"), tmp_path)
    try:
        await eventually(lambda: CONSUMING in second.out.text, 30)
        publish(nats_server.url, events[10:])
        await stored(db_url, len(events))
    finally:
        assert await first.signal(signal.SIGTERM) == 0, first.out.text
        assert await second.signal(signal.SIGTERM) == 0, second.out.text
    assert count(db_url) == len(events)
    assert chat_lines(db_url) == sorted(p.event.content or "" for p in events)
    # Both took part: each acknowledged batches of the shared durable.
    assert all(batches(p.out.text) > 0 for p in (first, second)), (first.out.text, second.out.text)


def batches(log: str) -> int:
    found = re.search(r"consumer stopped after (\d+) batches", log)
    assert found is not None, log
    return int(found.group(1))

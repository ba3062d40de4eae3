"""Helpers for the service tests: events into a real JetStream stream, the service as a real
``twistd --reactor=asyncio rosey-db`` process, and the database read back."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import nats
from nats.js.api import StreamConfig
from sqlalchemy import func, select
from twisted.internet.defer import Deferred

from rosey import events
from rosey.bus import payload
from rosey.bus.subjects import ALL, subject
from rosey.dbbus.decode import Published
from rosey.events import Event
from rosey.storage.engine import make_oneshot_engine
from rosey.storage.tables import bus_events_seen, chat_messages
from tests.daemon.test_twistd import TWISTD, Output, environment
from tests.dbbus.capture import BASE

STREAM = "ROSEY_EVENTS"


def chat(n: int, channel: str = "lab.example/labchan") -> list[Published]:
    """``n`` chat lines from a few users, a second apart."""
    return [
        Published(
            Event(events.MESSAGE, {"msg": f"line {i}"}, user=f"u{i % 7}", content=f"line {i}"),
            channel,
            payload.new_id(),
            BASE + 100 + i,
        )
        for i in range(n)
    ]


def publish(url: str, items: list[Published]) -> None:
    """Publish ``items`` to the stream (created if missing) as the bot's publisher does:
    ``Nats-Msg-Id`` = the event id. Blocking: a test's setup, not the reactor's work."""

    async def run() -> None:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream(timeout=10)
            try:
                await js.stream_info(STREAM)
            except nats.js.errors.NotFoundError:
                await js.add_stream(
                    StreamConfig(name=STREAM, subjects=[ALL], duplicate_window=120.0)
                )
            for p in items:
                await js.publish(
                    subject(p.channel, p.event.name),
                    payload.encode(p.event, p.channel, p.event_id, p.received_at),
                    headers={"Nats-Msg-Id": p.event_id},
                )
        finally:
            await nc.close()

    asyncio.run(run())


def write_config(
    tmp_path: Path, db_url: str, nats_url: str, name: str = "rosey-db", batch: int = 20
) -> Path:
    """A database service's configuration: no channel; small batches, a short ack wait (a
    killed service's batch comes again after 2 s)."""
    config = tmp_path / f"{name}.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n\n[bus]\nurl = "{nats_url}"\n\n'
        f"[dbservice]\nbatch = {batch}\nack_wait = 2\nfetch_timeout = 0.2\n"
    )
    return config


class ServiceProcess:
    """One ``twistd --reactor=asyncio rosey-db`` child process (``plugin="rosey"``: a bot)."""

    def __init__(self, config: Path, cwd: Path, plugin: str = "rosey-db") -> None:
        from twisted.internet import reactor

        self.out = Output()
        argv = [str(TWISTD), "--reactor=asyncio", "--nodaemon", "--pidfile=", plugin]
        self.process = reactor.spawnProcess(
            self.out,
            str(TWISTD),
            [*argv, "--config", str(config)],
            env=environment(),
            path=str(cwd),
        )

    def signal(self, sig: signal.Signals) -> Deferred[int]:
        """Send ``sig``; the Deferred fires with the exit status (-1: killed by a signal)."""
        if not self.out.ended.called:
            self.process.signalProcess(int(sig))
        return self.out.ended


def count(url: str, table: object = bus_events_seen) -> int:
    engine = make_oneshot_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]
    except Exception:  # not migrated yet
        return 0
    finally:
        engine.dispose()


def chat_lines(url: str) -> list[str]:
    engine = make_oneshot_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(conn.scalars(select(chat_messages.c.message)))
    finally:
        engine.dispose()


async def stored(url: str, n: int, timeout: float = 60.0) -> int:
    """Return the count once at least ``n`` events are in ``bus_events_seen`` (polled every
    20 ms); AssertionError after ``timeout`` seconds."""
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    deadline = reactor.seconds() + timeout
    while (have := count(url)) < n:
        if reactor.seconds() > deadline:
            raise AssertionError(f"{have} of {n} events stored after {timeout} s")
        await deferLater(reactor, 0.02, lambda: None)
    return have

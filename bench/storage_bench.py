"""Storage benchmark: chat rows/s through the recorder and the storage service, next to a bare
SQLAlchemy ``executemany`` of the same rows, on SQLite and (when available) PostgreSQL.

Run from the repository root: ``python -m bench.storage_bench`` (see bench/README.md).

- baseline: the rows inserted with ``conn.execute(chat_messages.insert(), rows)`` in
  transactions of ``--batch`` rows, on the same kind of engine (WAL, same pragmas), timed from
  the first insert to the last commit;
- rosey: the same rows as chat ``Event``s fed to a :class:`Recorder` on a real reactor (the
  feeder hands over ``--batch`` events per reactor turn and only pauses while more than
  ``--backlog`` wait, so nothing is dropped), through :class:`SQLStorage` and its database thread,
  timed from the first event to the last commit. The recorder's work is included: event to
  operation, batching, the per-user stats upserts.

``--mix e2e`` makes the stream look like the end-to-end benchmark's (80 % chat lines, 10 % joins,
10 % leaves of 2,000 users): the baseline then also inserts the join and leave rows into
``user_actions`` (and nothing else: no stats, no sessions), rosey does all it does for them.

Each engine gets a fresh database per loop; the best of ``--repeat`` runs counts.
Targets on SQLite: ≥ 20,000 rows/s and ≥ 50 % of the baseline (exit status 1 if missed).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rosey.bot.mirror import ChannelMirror
from rosey.events import Event
from rosey.storage import schema
from rosey.storage.engine import make_engine
from rosey.storage.recorder import Recorder
from rosey.storage.sql import SQLStorage
from rosey.storage.tables import channels, chat_messages, user_actions

TARGET_ROWS = 20_000.0
TARGET_RATIO = 0.5
CHANNEL = "benchchan"


@dataclass(frozen=True)
class Result:
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def make_events(n: int, mix: str = "chat") -> list[Event]:
    """Chat lines from 200 users, CyTube-sized text, increasing timestamps. With ``mix="e2e"``,
    as the end-to-end benchmark: 80 % chat lines, 10 % joins, 10 % leaves, 2,000 users."""
    if mix == "chat":
        return [
            Event(
                "message",
                None,
                user=f"user{i % 200}",
                content=f"message number {i}: the quick brown fox jumps over the lazy dog",
                timestamp=1_800_000_000 + i / 1000,
            )
            for i in range(n)
        ]
    out: list[Event] = []
    for i in range(n):
        ts = 1_800_000_000 + i / 1000
        user = f"user{(i * 7919) % 2000}"
        kind = i % 10
        if kind < 8:
            text = f"message number {i}: the quick brown fox jumps over the lazy dog"
            out.append(Event("message", None, user=user, content=text, timestamp=ts))
        else:
            name = "user_join" if kind == 8 else "user_leave"
            out.append(Event(name, None, user=user, timestamp=ts))
    return out


def bare(url: str, events: list[Event], batch: int) -> Result:
    schema.upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        key = conn.execute(channels.insert().values(name=CHANNEL)).inserted_primary_key
    assert key is not None
    cid = key[0]
    rows = [
        {"channel_id": cid, "ts": e.timestamp, "username": e.user, "message": e.content}
        if e.name == "message"
        else {
            "channel_id": cid,
            "ts": e.timestamp,
            "username": e.user,
            "action_type": "join" if e.name == "user_join" else "leave",
        }
        for e in events
    ]
    batches = [
        (
            [r for r in rows[i : i + batch] if "message" in r],
            [r for r in rows[i : i + batch] if "action_type" in r],
        )
        for i in range(0, len(rows), batch)
    ]
    start = time.perf_counter()
    for chat, actions in batches:
        with engine.begin() as conn:
            conn.execute(chat_messages.insert(), chat)
            if actions:
                conn.execute(user_actions.insert(), actions)
    seconds = time.perf_counter() - start
    engine.dispose()
    return Result(len(rows), seconds)


class Source:
    channel = CHANNEL
    username = "benchbot"

    def __init__(self) -> None:
        self.listeners: list[Callable[[Event], object]] = []

    def subscribe(self, listener: Callable[[Event], object]) -> None:
        self.listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Event], object]) -> None:
        self.listeners.remove(listener)


async def through_rosey(reactor: Any, url: str, events: list[Event], args: Any) -> Result:
    from twisted.internet.task import deferLater

    schema.upgrade(url)
    storage = SQLStorage(url, reactor)
    await storage.connect()
    source = Source()
    rec = Recorder(
        storage,
        source,
        # The view the recorder reads: these events carry no user list or playlist to apply.
        view=ChannelMirror(),
        clock=reactor,
        channel=CHANNEL,
        batch_size=args.batch,
        max_buffer=args.backlog * 4,
        snapshot_interval=0,
    )
    rec.startService()
    listener = source.listeners[0]
    start = time.perf_counter()
    for i in range(0, len(events), args.chunk):
        while rec.buffered > args.backlog:
            await rec.wait_batch()
        for event in events[i : i + args.chunk]:
            listener(event)
        await deferLater(reactor, 0)  # one network read's worth; then the reactor runs
    await rec.flush()
    seconds = time.perf_counter() - start
    await rec.stopService()
    written = len(await storage.get_recent_messages(CHANNEL, limit=len(events) + 1))
    written += len(await storage.get_user_actions(CHANNEL, limit=len(events) + 1))
    await storage.close()
    if written != len(events) or rec.dropped:
        raise SystemExit(f"lost rows: wrote {written} of {len(events)}, dropped {rec.dropped}")
    return Result(len(events), seconds)


def report(name: str, base: Result, ours: Result) -> float:
    ratio = ours.rate / base.rate
    print(f"{name}:")
    print(f"  bare executemany (baseline)   {base.rate:>10,.0f} rows/s   1.00")
    print(f"  rosey recorder + storage      {ours.rate:>10,.0f} rows/s   {ratio:.2f}")
    return ratio


async def run(reactor: Any, args: Any) -> int:
    events = make_events(args.rows, args.mix)
    tmp = Path(tempfile.mkdtemp(prefix="rosey-bench-"))
    engines: list[tuple[str, Callable[[int], str], Callable[[], None]]] = []
    engines.append(("SQLite", lambda k: f"sqlite:///{tmp / f'bench{k}.sqlite'}", lambda: None))
    pg = _postgres(args.pg)
    if pg is not None:
        engines.append(("PostgreSQL", pg[0], pg[1]))
    elif args.pg != "none":
        print("PostgreSQL: skipped (no server binaries and no --pg URL)")
    status = 0
    k = 0
    try:
        for name, url_for, _ in engines:
            bases, ours = [], []
            for _ in range(args.repeat):  # interleaved
                k += 1
                bases.append(bare(url_for(k), events, args.batch))
                k += 1
                ours.append(await through_rosey(reactor, url_for(k), events, args))
            base = min(bases, key=lambda r: r.seconds)
            best = min(ours, key=lambda r: r.seconds)
            what = "rows" if args.mix == "chat" else "events, 80/10/10 chat/join/leave"
            ratio = report(f"{name} ({args.rows:,} {what}, batches of {args.batch})", base, best)
            if name == "SQLite":
                ok = best.rate >= TARGET_ROWS and ratio >= TARGET_RATIO
                print(
                    f"  target ≥ {TARGET_ROWS:,.0f} rows/s and ≥ {TARGET_RATIO:.0%} of bare: "
                    + ("met" if ok else "MISSED")
                )
                status = status or (0 if ok else 1)
    finally:
        for _, _, cleanup in engines:
            cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return status


def _postgres(choice: str) -> tuple[Callable[[int], str], Callable[[], None]] | None:
    if choice == "none":
        return None
    if choice != "auto":

        def emptied(k: int) -> str:
            schema.downgrade(choice, "base")  # every loop starts from an empty schema
            return choice

        return emptied, lambda: None
    from tests.storage.pg import PostgresCluster, find_bindir

    bindir = find_bindir()
    if bindir is None:
        return None
    cluster = PostgresCluster(bindir)
    cluster.init()
    cluster.start()

    def url_for(k: int) -> str:
        return cluster.url(cluster.create_database())

    return url_for, cluster.cleanup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Chat rows/s through rosey's recorder and storage, next to a bare "
        "SQLAlchemy executemany of the same rows (see bench/README.md)."
    )
    parser.add_argument("--rows", type=int, default=200_000, help="events (rows) per loop")
    parser.add_argument(
        "--mix",
        choices=["chat", "e2e"],
        default="chat",
        help="'chat': chat lines only; 'e2e': 80%% chat, 10%% joins, 10%% leaves (as the "
        "end-to-end benchmark); the baseline then also inserts the join and leave rows",
    )
    parser.add_argument("--batch", type=int, default=2000, help="rows per transaction (both)")
    parser.add_argument("--backlog", type=int, default=20_000, help="feeder pauses above this")
    parser.add_argument("--chunk", type=int, default=100, help="events fed per reactor turn")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs; best counts")
    parser.add_argument(
        "--pg",
        default="auto",
        help="'auto' (start a throwaway cluster if PostgreSQL is installed), 'none', or the URL "
        "of a scratch database (its rosey tables are dropped before every loop)",
    )
    args = parser.parse_args(argv)
    from twisted.internet import defer, task

    result: list[int] = []

    async def go(reactor: Any) -> None:
        result.append(await run(reactor, args))

    try:
        task.react(lambda reactor: defer.ensureDeferred(go(reactor)))
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    return result[0] if result else 1


if __name__ == "__main__":
    sys.exit(main())

"""Status page benchmark: page and API latency with a year of history in SQLite.

Run from the repository root: ``python -m bench.web_bench`` (see bench/README.md).

A SQLite file gets a year of synthetic history (tests/web/history.py: ~110,000 chat lines,
~105,000 user-count samples, ~35,000 media plays); the site (:mod:`rosey.web`) serves it on
127.0.0.1 with one channel whose mirror holds users and a playlist. Each URL is fetched
``--repeat`` times in turn over HTTP (treq, one request at a time, after one warm-up each); the
median and the 95th percentile count. Target: every URL's p95 under 50 ms (exit status 1 if
missed).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import treq
from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.web.server import Site

from rosey.bot.service import Bot
from rosey.interfaces import channel_key
from rosey.storage.sql import SQLStorage
from rosey.web.site import make_root
from rosey.wire.fake import FakeConnection
from tests.web.conftest import LABEL, populate
from tests.web.history import fill_year

TARGET_MS = 50.0
API = "/api/channels/cytu.be/WebChan"
URLS = [
    "/",
    "/channels/cytu.be/WebChan",
    API,
    f"{API}/users?range=24h",
    f"{API}/users?range=7d",
    f"{API}/users?range=30d",
    f"{API}/activity?days=7",
    f"{API}/activity?days=30",
    f"{API}/chatters?range=24h",
    f"{API}/chatters?range=7d",
    f"{API}/chatters?range=30d",
    f"{API}/chatters?range=all",
    f"{API}/media",
    f"{API}/chat",
]


async def measure(reactor: Any, repeat: int) -> dict[str, list[float]]:
    """Milliseconds per request, per URL."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "year.sqlite")
        now = time.time()
        started = time.perf_counter()
        rows = fill_year(path, channel_key(LABEL), now)
        print(f"history: {rows} in {time.perf_counter() - started:.1f} s")
        storage = SQLStorage(f"sqlite:///{path}", reactor)
        await storage.connect()
        bot = Bot(
            FakeConnection("WebChan"),
            clock=reactor,
            storage=storage,
            storage_key=channel_key(LABEL),
        )
        populate(bot)
        root, _ = make_root({LABEL: bot}, storage, reactor)
        port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        base = f"http://127.0.0.1:{port.getHost().port}"
        times: dict[str, list[float]] = {}
        try:
            for url in URLS:
                await (await treq.get(base + url)).content()  # warm-up
                samples = times[url] = []
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    response = await treq.get(base + url)
                    await response.content()
                    samples.append((time.perf_counter() - t0) * 1000)
                    assert response.code == 200, (url, response.code)
        finally:
            await port.stopListening()
            await storage.close()
        return times


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


async def run(reactor: Any, repeat: int) -> None:
    """Measure, print a table, and exit 1 if a URL's p95 misses the target."""
    times = await measure(reactor, repeat)
    print(f"{'url':<48} {'median ms':>10} {'p95 ms':>8}")
    missed = []
    for url, samples in times.items():
        high = p95(samples)
        print(f"{url:<48} {statistics.median(samples):>10.1f} {high:>8.1f}")
        if high > TARGET_MS:
            missed.append(url)
    if missed:
        print(f"over {TARGET_MS:g} ms at p95: {', '.join(missed)}")
        raise SystemExit(1)
    print(f"every URL under {TARGET_MS:g} ms at p95")


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.web_bench [--repeat N]``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="requests per URL (default 20)")
    args = parser.parse_args(argv)
    task.react(lambda reactor: Deferred.fromCoroutine(run(reactor, args.repeat)))


if __name__ == "__main__":
    main()

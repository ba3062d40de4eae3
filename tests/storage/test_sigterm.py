"""SIGTERM while 5,000 events/s arrive: every event the process received is in the database."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest_twisted
from sqlalchemy import text
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol

from rosey.storage.engine import make_oneshot_engine

REPO = Path(__file__).resolve().parents[2]


class Watch(ProcessProtocol):
    def __init__(self, enough: int) -> None:
        self.enough = enough
        self.out = b""
        self.err = b""
        self.loaded: Deferred[None] = Deferred()
        self.ended: Deferred[int] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.out += data
        counts = [int(n) for n in re.findall(rb"progress (\d+)", self.out)]
        if counts and counts[-1] >= self.enough and not self.loaded.called:
            self.loaded.callback(None)

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason) -> None:
        if not self.loaded.called:
            self.loaded.errback(reason)
        self.ended.callback(reason.value.exitCode)


@pytest_twisted.ensureDeferred
async def test_sigterm_under_load_loses_nothing(tmp_path):
    from twisted.internet import reactor

    url = f"sqlite:///{tmp_path / 'sigterm.sqlite'}"
    watch = Watch(enough=7500)  # 1.5 s of load
    args = [sys.executable, "-m", "tests.storage.sigterm_app", url, "5000"]
    proc = reactor.spawnProcess(watch, sys.executable, args, env=None, path=str(REPO))
    await watch.loaded.addTimeout(30, reactor)
    proc.signalProcess("TERM")
    code = await watch.ended.addTimeout(30, reactor)
    out = watch.out.decode()
    assert code == 0, watch.err.decode()[-2000:]
    found = re.search(r"handed=(\d+) dropped=(\d+) written=(\d+)", out)
    assert found, out[-500:]
    handed, dropped = int(found[1]), int(found[2])
    assert handed >= 7500
    assert dropped == 0

    engine = make_oneshot_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM chat_messages")).scalar_one()
        last = conn.execute(text("SELECT max(message) FROM chat_messages")).scalar_one()
    engine.dispose()
    assert rows == handed
    assert last is not None

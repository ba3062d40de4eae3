"""A real ``twistd rosey`` process against the real socket.io peer."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_twisted
from twisted.internet import error, protocol
from twisted.internet.defer import Deferred

from tests.peers.cytube import CyTubePeer, lab_accounts

REPO = Path(__file__).resolve().parents[2]
TWISTD = Path(sys.executable).with_name("twistd")
PASSWORD = "daemon-secret-pw"


class Output(protocol.ProcessProtocol):
    """Collects the process's output; ``ended`` fires with its exit status."""

    def __init__(self) -> None:
        self.text = ""
        self.ended: Deferred[int] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.text += data.decode("utf-8", "replace")

    errReceived = outReceived

    def processEnded(self, reason: object) -> None:
        value = getattr(reason, "value", None)
        if isinstance(value, error.ProcessDone):
            self.ended.callback(0)
        elif isinstance(value, error.ProcessTerminated) and value.exitCode is not None:
            self.ended.callback(value.exitCode)
        else:  # killed by a signal
            self.ended.callback(-1)


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSEY")}
    env["PYTHONPATH"] = str(REPO)
    env["ROSEY_PASSWORD"] = PASSWORD
    return env


def write_config(tmp_path: Path, site: str) -> Path:
    config = tmp_path / "rosey.toml"
    config.write_text(
        f'[[channel]]\nsite = "{site}"\nname = "labchan"\nusername = "labbot"\n'
        'password_env = "ROSEY_PASSWORD"\n'
    )
    return config


@pytest_twisted.async_yield_fixture()
async def peer() -> AsyncIterator[CyTubePeer]:
    p = CyTubePeer("labchan", accounts=lab_accounts(PASSWORD), connect_capacity=100).start()
    yield p
    p.stop()


@pytest_twisted.ensureDeferred
async def test_twistd_joins_answers_ping_and_exits_0_on_sigterm(
    tmp_path: Path, peer: CyTubePeer
) -> None:
    from twisted.internet import reactor

    config = write_config(tmp_path, peer.site)
    out = Output()
    process = reactor.spawnProcess(
        out,
        str(TWISTD),
        [str(TWISTD), "--nodaemon", "--pidfile=", "rosey", "--config", str(config)],
        env=environment(),
        path=str(tmp_path),
    )
    try:
        await peer.when(lambda p: "labbot" in p.users, timeout=20)
        peer.add_virtual_user("alice", 1)
        peer.chat("alice", "!ping")
        await peer.when(
            lambda p: any(r.data.get("msg") == "pong" for r in p.events("chatMsg")),
            timeout=10,
        )
    finally:
        if out.ended.called is False:
            process.signalProcess("TERM")
    status = await out.ended.addTimeout(20, reactor)
    assert status == 0, out.text
    assert PASSWORD not in out.text
    # Everything the bot saw was flushed to the SQLite file before exit.
    with sqlite3.connect(tmp_path / "rosey.sqlite") as db:
        lines = db.execute("SELECT count(*) FROM chat_messages").fetchone()[0]
    assert lines >= 2  # alice's !ping and the bot's pong


def test_broken_config_exits_1_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "rosey.toml"
    config.write_text('[[channel]]\nsite = "nope"\nname = "labchan"\n')
    result = subprocess.run(
        [str(TWISTD), "--nodaemon", "--pidfile=", "rosey", "--config", str(config)],
        env=environment(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["rosey: config error: channel[0].site: 'nope' is not an http(s):// URL"]


def test_twistd_lists_the_plugin() -> None:
    result = subprocess.run(
        [str(TWISTD), "--help"], env=environment(), capture_output=True, text=True, timeout=60
    )
    assert any(line.split()[:1] == ["rosey"] for line in result.stdout.splitlines())



def test_unusable_database_exits_1_before_the_reactor_starts(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    config.write_text(
        config.read_text() + '\n[database]\nurl = "sqlite:////nonexistent-dir/rosey.sqlite"\n'
    )
    result = subprocess.run(
        [str(TWISTD), "--nodaemon", "--pidfile=", "rosey", "--config", str(config)],
        env=environment(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rosey: database: "), result.stderr

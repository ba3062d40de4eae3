"""A real ``twistd rosey`` process against the real socket.io peer."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest_twisted
from twisted.internet import error, protocol
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorUNIXDatagram

from tests.peers.cytube import CyTubePeer, lab_accounts
from tests.waiting import eventually

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


class Notifications(protocol.DatagramProtocol):
    """A real ``NOTIFY_SOCKET``: every sd_notify datagram the daemon sends."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def datagramReceived(self, data: bytes, addr: object) -> None:
        self.messages.append(data.decode())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest_twisted.async_yield_fixture()
async def second_peer() -> AsyncIterator[CyTubePeer]:
    p = CyTubePeer("labchan", accounts=lab_accounts(PASSWORD), connect_capacity=100).start()
    yield p
    p.stop()


def pong_count(peer: CyTubePeer) -> int:
    return sum(r.data.get("msg") == "pong" for r in peer.events("chatMsg", "labbot"))


@pytest_twisted.ensureDeferred
async def test_twistd_two_sites_ping_crash_rejoin_notify_and_clean_sigterm(
    tmp_path: Path, peer: CyTubePeer, second_peer: CyTubePeer
) -> None:
    """The whole daemon in a real twistd: two channels on two sites, systemd notifications,
    /health, a peer crash survived, SIGTERM → exit 0 with every chat line in SQLite."""
    from twisted.internet import reactor

    notify = Notifications()
    notify_path = str(tmp_path / "notify.sock")
    listening = IReactorUNIXDatagram(reactor).listenUNIXDatagram(notify_path, notify, 8192, 0o666)
    metrics_port = free_port()
    config = write_config(tmp_path, peer.site)
    config.write_text(
        config.read_text()
        + f'\n[[channel]]\nsite = "{second_peer.site}"\nname = "labchan"\nusername = "labbot"\n'
        'password_env = "ROSEY_PASSWORD"\n'
        f'\n[metrics]\nenabled = true\nlisten = "tcp:{metrics_port}:interface=127.0.0.1"\n'
    )
    out = Output()
    env = {**environment(), "NOTIFY_SOCKET": notify_path}
    process = reactor.spawnProcess(
        out,
        str(TWISTD),
        [str(TWISTD), "--nodaemon", "--pidfile=", "rosey", "--config", str(config)],
        env=env,
        path=str(tmp_path),
    )
    try:
        for p in (peer, second_peer):
            await p.when(lambda p: "labbot" in p.users, timeout=20)
        await eventually(lambda: any("READY=1" in m for m in notify.messages), 10)
        assert "2/2 channels joined" in next(m for m in notify.messages if "READY=1" in m)

        health = await treq_get_json(f"http://127.0.0.1:{metrics_port}/health")
        assert health[0] == 200, health

        for p in (peer, second_peer):
            p.add_virtual_user("alice", 1)
            p.chat("alice", "!ping")
            await p.when(lambda p: pong_count(p) == 1, timeout=10)

        peer.restart()  # a crash: connections cut with no close frame, then back on the port
        await peer.when(lambda p: "labbot" in p.users, timeout=30)
        peer.add_virtual_user("alice", 1)
        peer.queue_media("dQw4w9WgXcQ")  # plays at once: the media history names who queued it
        peer.chat("alice", "!ping")
        await peer.when(lambda p: pong_count(p) == 2, timeout=10)
        # The peer has the pong; wait until rosey has its echo too (6 chat events on the first
        # channel: 2 live, then 2 replayed after the restart, then 2 live), then stop it.
        label = f"{peer.site.split('://')[1]}/labchan"
        await eventually_async(lambda: chat_events_in(metrics_port, label), 6, 10)
    finally:
        if not out.ended.called:
            process.signalProcess("TERM")
        status = await out.ended.addTimeout(30, reactor)
        await maybeDeferred(listening.stopListening)
    assert status == 0, out.text
    assert PASSWORD not in out.text
    assert any("STOPPING=1" in m for m in notify.messages)
    # Everything the bot saw was flushed to the SQLite file before exit.
    with sqlite3.connect(tmp_path / "rosey.sqlite") as db:
        pongs = db.execute(
            "SELECT count(*) FROM chat_messages WHERE username = 'labbot' AND message = 'pong'"
        ).fetchone()[0]
        plays = db.execute("SELECT media_id, queued_by FROM media_history").fetchall()
    assert pongs == 3
    assert plays == [("dQw4w9WgXcQ", "[peer]")]


async def chat_events_in(port: int, label: str) -> int:
    """rosey's own count of chat events received on one channel, from /metrics."""
    import treq
    from twisted.internet import reactor
    from twisted.web.client import HTTPConnectionPool

    pool = HTTPConnectionPool(reactor, persistent=False)
    response = await treq.get(f"http://127.0.0.1:{port}/metrics", pool=pool)
    text = await treq.text_content(response)
    wanted = f'rosey_events_in_total{{channel="{label}",event="message"}} '
    for line in text.splitlines():
        if line.startswith(wanted):
            return int(float(line[len(wanted) :]))
    return 0


async def eventually_async(read: Callable[[], Awaitable[int]], target: int, timeout: float) -> None:
    """Poll ``read()`` (every 0.1 s) until it reaches ``target``; fail after ``timeout``."""
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    deadline = reactor.seconds() + timeout
    while (value := await read()) < target:
        if reactor.seconds() > deadline:
            raise AssertionError(f"reached {value}, not {target}, in {timeout} s")
        await deferLater(reactor, 0.1, lambda: None)


async def treq_get_json(url: str) -> tuple[int, object]:
    import treq
    from twisted.internet import reactor
    from twisted.web.client import HTTPConnectionPool

    pool = HTTPConnectionPool(reactor, persistent=False)
    response = await treq.get(url, pool=pool).addTimeout(10, reactor)
    body = await treq.json_content(response)
    return response.code, body


def failed_start(
    config: Path, cwd: Path, plugin: str = "rosey", twistd_options: Sequence[str] = ()
) -> list[str]:
    """Run ``twistd [twistd_options] <plugin> --config`` expecting exit 1 before the reactor;
    its stderr lines."""
    result = subprocess.run(
        [str(TWISTD), *twistd_options, "--nodaemon", "--pidfile=", plugin, "--config", str(config)],
        env=environment(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_broken_config_exits_1_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "rosey.toml"
    config.write_text('[[channel]]\nsite = "nope"\nname = "labchan"\n')
    lines = failed_start(config, tmp_path)
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
    lines = failed_start(config, tmp_path)
    assert len(lines) == 1, lines
    assert lines[0].startswith("rosey: database: "), lines


def said_by_bot(peer: CyTubePeer, predicate: Callable[[str], bool]) -> bool:
    return any(predicate(str(r.data.get("msg", ""))) for r in peer.events("chatMsg", "labbot"))


@pytest_twisted.ensureDeferred
async def test_twistd_plugins_live_fun_and_greetings(tmp_path: Path, peer: CyTubePeer) -> None:
    """The daemon's plugins against the real peer: greetings (enabled in the config) greets a
    newcomer, fun answers !choose, !8ball and keeps a !quote, and a quoted command stays inert."""
    from twisted.internet import reactor

    config = write_config(tmp_path, peer.site)
    config.write_text(
        config.read_text() + '\n[plugins]\nenable = ["greetings"]\n'
        "[plugins.greetings]\ncooldown = 0\n"
    )
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
        await eventually(lambda: "joined #labchan" in out.text, 10)
        peer.add_virtual_user("newbie", 1)
        await peer.when(lambda p: said_by_bot(p, lambda m: "Welcome, newbie!" in m), timeout=10)
        peer.chat("newbie", "!choose tea | coffee")
        await peer.when(
            lambda p: said_by_bot(p, lambda m: m in ("newbie: tea", "newbie: coffee")), timeout=10
        )
        peer.chat("newbie", "!8ball will it pass?")
        await peer.when(
            lambda p: said_by_bot(
                p, lambda m: m.startswith("newbie: ") and "tea" not in m and "coffee" not in m
            ),
            timeout=10,
        )
        peer.chat("newbie", "!quote add /kick labuser")
        await peer.when(lambda p: said_by_bot(p, lambda m: m == "Quote #1 added."), timeout=10)
        peer.add_virtual_user("regular", 1)  # !quote has a per-user cooldown
        peer.chat("regular", "!quote 1")
        await peer.when(
            lambda p: said_by_bot(p, lambda m: m.startswith("Quote #1: /kick labuser")), timeout=10
        )
    finally:
        if not out.ended.called:
            process.signalProcess("TERM")
    assert await out.ended.addTimeout(20, reactor) == 0, out.text
    said = [str(r.data.get("msg", "")) for r in peer.events("chatMsg", "labbot")]
    assert not any(line.startswith("/") for line in said)

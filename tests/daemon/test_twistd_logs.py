"""The daemon's logs in a real ``twistd rosey``: the start-up line, the text format, quiet
factories, one chat/media log file per channel, and SIGHUP reopening them after a rotation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_twisted

import rosey
from tests.daemon.test_twistd import PASSWORD, TWISTD, Output, environment, write_config
from tests.peers.cytube import CyTubePeer, lab_accounts
from tests.storage.pg import PostgresCluster, find_bindir
from tests.waiting import eventually

DB_PASSWORD = "db-secret-pw"
# 2024-03-01 18:04:56.123 info  rosey.daemon: ...
STAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (debug|info |warn |error|critical) ")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database; its URL carries a password (trust auth ignores it)."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed")
    cluster = PostgresCluster(bindir)
    try:
        cluster.init()
        cluster.start()
        name = cluster.create_database()
        yield f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:{cluster.port}/{name}"
    finally:
        cluster.cleanup()


async def started_peer() -> CyTubePeer:
    return CyTubePeer("labchan", accounts=lab_accounts(PASSWORD), connect_capacity=100).start()


@pytest_twisted.async_yield_fixture()
async def peers() -> AsyncIterator[tuple[CyTubePeer, CyTubePeer]]:
    first, second = await started_peer(), await started_peer()
    yield first, second
    first.stop()
    second.stop()


def spawn(config: Path, cwd: Path, *extra: str) -> tuple[Output, object]:
    from twisted.internet import reactor

    out = Output()
    argv = [str(TWISTD), "--nodaemon", "--pidfile=", *extra, "rosey", "--config", str(config)]
    process = reactor.spawnProcess(out, str(TWISTD), argv, env=environment(), path=str(cwd))
    return out, process


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def host(peer: CyTubePeer) -> str:
    """The peer's ``{site}`` in a path: ``127.0.0.1_PORT``."""
    return peer.site.split("://")[1].replace(":", "_")


@pytest_twisted.ensureDeferred
async def test_start_line_format_quiet_factories_and_a_log_file_per_channel(
    tmp_path: Path, peers: tuple[CyTubePeer, CyTubePeer], pg_url: str
) -> None:
    from twisted.internet import reactor

    first, second = peers
    config = write_config(tmp_path, first.site)
    config.write_text(
        config.read_text()
        + f'\n[[channel]]\nsite = "{second.site}"\nname = "labchan"\nusername = "labbot"\n'
        'password_env = "ROSEY_PASSWORD"\ndisable_plugins = ["greetings"]\n'
        f'\n[database]\nurl = "{pg_url}"\n'
        '[plugins]\nenable = ["greetings"]\n'
        '[logging]\nchat_log = "logs/{site}/{channel}-chat.log"\n'
        'media_log = "logs/{site}/{channel}-media.log"\n'
    )
    (tmp_path / "logs").mkdir()
    out, process = spawn(config, tmp_path)
    try:
        for p in peers:
            await p.when(lambda p: "labbot" in p.users, timeout=30)
            p.add_virtual_user("alice", 1)
            p.chat("alice", f"hello {p.port}")
            p.queue_media("dQw4w9WgXcQ")
        written = [
            tmp_path / "logs" / host(p) / f"labchan-{kind}.log"
            for p in peers
            for kind in ("chat", "media")
        ]
        await eventually(lambda: all(lines(path) for path in written), 10)
    finally:
        if not out.ended.called:
            process.signalProcess("TERM")  # type: ignore[attr-defined]
    assert await out.ended.addTimeout(30, reactor) == 0, out.text

    for p in peers:
        folder = tmp_path / "logs" / host(p)
        chat = [line[11:] for line in lines(folder / "labchan-chat.log")]
        assert [line for line in chat if line.startswith("<alice> hello")] == [
            f"<alice> hello {p.port}"
        ], chat
        media = lines(folder / "labchan-media.log")
        assert len(media) == 1, media
        assert media[0].endswith(" (yt:dQw4w9WgXcQ)"), media
    text = out.text
    assert "Starting factory" not in text, text
    assert "Stopping factory" not in text, text
    assert PASSWORD not in text
    assert DB_PASSWORD not in text
    one, two = (p.site.split("://")[1] + "/labchan" for p in peers)
    masked = pg_url.replace(DB_PASSWORD, "***")
    start = [line for line in text.splitlines() if "rosey.daemon: rosey " in line]
    assert len(start) == 1, text
    assert start[0].endswith(
        f"rosey.daemon: rosey {rosey.__version__} starting: config {config}, database {masked}, "
        f"channels {one}, {two}, plugins {one}: core, fun, greetings; {two}: core, fun"
    ), start
    assert all(STAMPED.match(line) for line in text.splitlines() if "rosey." in line[:60]), text
    assert "<6>" not in text


@pytest_twisted.ensureDeferred
async def test_sighup_reopens_the_chat_log_and_the_daemon_log(
    tmp_path: Path, peers: tuple[CyTubePeer, CyTubePeer]
) -> None:
    """logrotate moves chat.log and daemon.log (twistd --logfile) away and sends SIGHUP: both
    are reopened, new lines land in fresh files, the process lives on, SIGTERM then exits 0."""
    from twisted.internet import reactor

    peer = peers[0]
    config = write_config(tmp_path, peer.site)
    config.write_text(config.read_text() + '\n[logging]\nchat_log = "chat.log"\n')
    chat, daemon_log = tmp_path / "chat.log", tmp_path / "daemon.log"
    out, process = spawn(config, tmp_path, "--logfile=daemon.log")
    try:
        await peer.when(lambda p: "labbot" in p.users, timeout=30)
        peer.add_virtual_user("alice", 1)
        peer.chat("alice", "before")
        await eventually(lambda: "<alice> before" in chat.read_text(), 10)
        chat.rename(tmp_path / "chat.log.1")
        daemon_log.rename(tmp_path / "daemon.log.1")
        process.signalProcess("HUP")  # type: ignore[attr-defined]
        reopened = "rosey.daemon: received SIGHUP, reopened 2 log files"
        await eventually(lambda: daemon_log.exists() and reopened in daemon_log.read_text(), 10)
        peer.chat("alice", "after")
        await eventually(lambda: chat.exists() and "<alice> after" in chat.read_text(), 10)
        assert not out.ended.called
    finally:
        if not out.ended.called:
            process.signalProcess("TERM")  # type: ignore[attr-defined]
    assert await out.ended.addTimeout(30, reactor) == 0, out.text
    rotated = (tmp_path / "chat.log.1").read_text()
    assert "<alice> before" in rotated
    assert "<alice> after" not in rotated
    assert "<alice> before" not in chat.read_text()
    assert "rosey.daemon: rosey " in (tmp_path / "daemon.log.1").read_text()
    assert "received SIGTERM, shutting down" in daemon_log.read_text()


def test_log_stream_follows_twistd_logfile_and_its_daemon_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rosey.daemon.logs import LogFile
    from rosey.daemon.tap import log_stream

    monkeypatch.chdir(tmp_path)
    assert log_stream(None) is None  # makeService called without twistd
    assert log_stream({"nodaemon": True, "logfile": None}) is None  # stdout
    assert log_stream({"nodaemon": False, "logfile": "-"}) is None
    named = log_stream({"nodaemon": True, "logfile": "rosey.log"})
    default = log_stream({"nodaemon": False, "logfile": None})  # as twistd: twistd.log
    assert isinstance(named, LogFile)
    assert isinstance(default, LogFile)
    assert (named.path, default.path) == (
        str(tmp_path / "rosey.log"),
        str(tmp_path / "twistd.log"),
    )
    named.close()
    default.close()

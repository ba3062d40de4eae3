"""A real ``twistd rosey`` whose channels stop for good: it exits non-zero when all of them
have, and keeps running (saying which stopped, and why) while some still run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import maybeDeferred
from twisted.internet.interfaces import IReactorUNIXDatagram
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

import rosey
from tests.daemon.test_twistd import (
    PASSWORD,
    TWISTD,
    Notifications,
    Output,
    environment,
    free_port,
    peer,  # noqa: F401
    treq_get_json,
)
from tests.peers.cytube import CyTubePeer
from tests.waiting import eventually

MISSING = 'Channel "labchan" does not exist.'


def the_reactor() -> Any:
    from twisted.internet import reactor

    return reactor


class _NoSuchChannel(Resource):
    """A site without the channel: every socketconfig request is a 404 with CyTube's message."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        request.setResponseCode(404)
        request.setHeader(b"content-type", b"application/json")
        return json.dumps({"error": MISSING}).encode()


@pytest.fixture
def missing_site() -> Iterator[str]:
    port = the_reactor().listenTCP(0, Site(_NoSuchChannel()), interface="127.0.0.1")
    yield f"http://127.0.0.1:{port.getHost().port}"
    port.stopListening()


def channel(site: str) -> str:
    return (
        f'[[channel]]\nsite = "{site}"\nname = "labchan"\nusername = "labbot"\n'
        'password_env = "ROSEY_PASSWORD"\n'
    )


def spawn(tmp_path: Path, config: str, notify_path: str, pidfile: str = "") -> tuple[Output, Any]:
    path = tmp_path / "rosey.toml"
    path.write_text(config)
    out = Output()
    process = the_reactor().spawnProcess(
        out,
        str(TWISTD),
        [str(TWISTD), "--nodaemon", f"--pidfile={pidfile}", "rosey", "--config", str(path)],
        env={**environment(), "NOTIFY_SOCKET": notify_path},
        path=str(tmp_path),
    )
    return out, process


@pytest_twisted.ensureDeferred
async def test_the_only_channel_stopping_for_good_ends_the_process_with_status_1(
    tmp_path: Path, missing_site: str
) -> None:
    reactor = the_reactor()
    notify = Notifications()
    notify_path = str(tmp_path / "notify.sock")
    listening = IReactorUNIXDatagram(reactor).listenUNIXDatagram(notify_path, notify, 8192, 0o666)
    pidfile = tmp_path / "twistd.pid"
    out, process = spawn(tmp_path, channel(missing_site), notify_path, str(pidfile))
    try:
        status = await out.ended.addTimeout(60, reactor)
    finally:
        if not out.ended.called:
            process.signalProcess("KILL")
        await maybeDeferred(listening.stopListening)
    assert status == 1, out.text
    label = f"{missing_site.split('://')[1]}/labchan"
    given_up = [line for line in out.text.splitlines() if "stopped for good" in line]
    assert len(given_up) == 1, out.text
    assert f"every channel has stopped for good: {label}: no channel #labchan" in given_up[0]
    assert MISSING in given_up[0]
    assert given_up[0].endswith("; exiting with status 1")
    assert "Scheduling retry" not in out.text
    assert "reconnecting to" not in out.text
    # the normal clean stop ran: systemd heard STOPPING=1, storage closed its database
    assert any("STOPPING=1" in m for m in notify.messages), notify.messages
    assert "Traceback" not in out.text
    assert (tmp_path / "rosey.sqlite").exists()
    assert not pidfile.exists()  # twistd finished its own clean-up before the exit


@pytest_twisted.ensureDeferred
async def test_one_channel_stopped_for_good_of_two_keeps_running_and_says_so(
    tmp_path: Path,
    missing_site: str,
    peer: CyTubePeer,  # noqa: F811
) -> None:
    reactor = the_reactor()
    notify = Notifications()
    notify_path = str(tmp_path / "notify.sock")
    listening = IReactorUNIXDatagram(reactor).listenUNIXDatagram(notify_path, notify, 8192, 0o666)
    metrics_port = free_port()
    config = (
        channel(peer.site)
        + channel(missing_site)
        + f'\n[metrics]\nenabled = true\nlisten = "tcp:{metrics_port}:interface=127.0.0.1"\n'
    )
    out, process = spawn(tmp_path, config, notify_path)
    stopped_label = f"{missing_site.split('://')[1]}/labchan"
    joined_label = f"{peer.site.split('://')[1]}/labchan"
    try:
        await peer.when(lambda p: "labbot" in p.users, timeout=30)

        def status_says_stopped() -> bool:
            return any(
                "1/2 channels joined, 1 stopped for good" in m and stopped_label in m
                for m in notify.messages
            )

        await eventually(status_says_stopped, 20)
        status_line = next(m for m in notify.messages if "stopped for good" in m)
        assert f"{stopped_label}: stopped (no channel #labchan" in status_line
        assert f"{joined_label}: joined" in status_line

        code, health = await treq_get_json(f"http://127.0.0.1:{metrics_port}/health")
        assert code == 503
        assert isinstance(health, dict)
        assert health["version"] == rosey.__version__
        assert health["channels"][joined_label]["state"] == "joined"
        stopped = health["channels"][stopped_label]
        assert stopped["joined"] is False
        assert stopped["state"].startswith("stopped (no channel #labchan")
        assert MISSING in stopped["state"]
        assert not out.ended.called  # still running for the channel that works
        assert "every channel has stopped" not in out.text
    finally:
        if not out.ended.called:
            process.signalProcess("TERM")
        status = await out.ended.addTimeout(30, reactor)
        await maybeDeferred(listening.stopListening)
    assert status == 0, out.text
    assert PASSWORD not in out.text

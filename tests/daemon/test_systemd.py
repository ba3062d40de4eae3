"""sd_notify and SystemdNotifier with a real AF_UNIX datagram socket (in process, from twistd)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import protocol
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorUNIXDatagram
from twisted.internet.task import Clock

from rosey.daemon.systemd import SystemdNotifier, sd_notify, watchdog_interval

REPO = Path(__file__).resolve().parents[2]
TWISTD = Path(sys.executable).with_name("twistd")


def short_dir(tmp_path: Path) -> Path:
    """tmp_path, unless it is too long for an AF_UNIX address (108 bytes)."""
    if len(str(tmp_path)) < 80:
        return tmp_path
    return Path(tempfile.mkdtemp(prefix="sd-"))


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket (non-blocking) and the ``$NOTIFY_SOCKET`` value naming it."""
    path = short_dir(tmp_path) / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    yield sock, str(path)
    sock.close()


def received(sock: socket.socket) -> list[str]:
    """Every datagram queued on ``sock`` so far."""
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_sd_notify_sends_one_datagram(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    assert sd_notify("READY=1\nSTATUS=hello", {"NOTIFY_SOCKET": path}) is True
    assert received(sock) == ["READY=1\nSTATUS=hello"]


def test_sd_notify_abstract_namespace() -> None:
    name = f"rosey-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.setblocking(False)
        assert sd_notify("STATUS=abstract", {"NOTIFY_SOCKET": "@" + name}) is True
        assert received(sock) == ["STATUS=abstract"]


def test_sd_notify_without_socket_is_a_noop(tmp_path: Path) -> None:
    assert sd_notify("READY=1", {}) is False
    assert sd_notify("READY=1", {"NOTIFY_SOCKET": ""}) is False
    # Nobody listening: a failure, not an exception.
    assert sd_notify("READY=1", {"NOTIFY_SOCKET": str(short_dir(tmp_path) / "gone")}) is False


def test_notifier_ready_once_status_and_stopping(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    notifier = SystemdNotifier(Clock(), {"NOTIFY_SOCKET": path})
    notifier.startService()
    notifier.ready("joined 2 channels")
    notifier.ready("joined 3 channels")  # READY=1 only once; the status still updates
    notifier.status("lost cytu.be/a\nretrying")
    notifier.stopService()
    notifier.stopping()
    assert received(sock) == [
        "READY=1\nSTATUS=joined 2 channels",
        "STATUS=joined 3 channels",
        "STATUS=lost cytu.be/a retrying",
        "STOPPING=1",
    ]


def test_notifier_watchdog_every_half_period(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    clock = Clock()
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}
    notifier = SystemdNotifier(clock, env)
    notifier.startService()
    assert received(sock) == ["WATCHDOG=1"]
    clock.advance(4.9)
    assert received(sock) == []
    clock.advance(0.1)
    assert received(sock) == ["WATCHDOG=1"]
    clock.advance(5)
    assert received(sock) == ["WATCHDOG=1"]
    notifier.stopService()
    clock.advance(20)
    assert received(sock) == ["STOPPING=1"]
    assert clock.getDelayedCalls() == []


def test_watchdog_belongs_to_another_process_or_is_absent() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "3000000"}) == 1.5
    assert watchdog_interval({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


def test_notifier_without_socket_does_nothing() -> None:
    clock = Clock()
    notifier = SystemdNotifier(clock, {"WATCHDOG_USEC": "1000000"})
    notifier.startService()
    notifier.ready("up")
    notifier.stopService()
    assert clock.getDelayedCalls() == []
    assert not notifier.enabled


TAC = """
from twisted.application.service import Application
from twisted.internet import reactor
from rosey.daemon.systemd import SystemdNotifier

application = Application("sd-test")
notifier = SystemdNotifier(reactor)
notifier.setServiceParent(application)
reactor.callWhenRunning(notifier.ready, "tac is up")
"""


Check = Callable[[list[str]], bool]


class Datagrams(protocol.DatagramProtocol):
    """Collects datagrams; ``until(predicate)`` fires once the collected list satisfies it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._waiting: list[tuple[Check, Deferred[None]]] = []

    def datagramReceived(self, data: bytes, addr: object) -> None:
        self.seen.append(data.decode())
        for entry in list(self._waiting):
            check, d = entry
            if check(self.seen):
                self._waiting.remove(entry)
                d.callback(None)

    def until(self, check: Check) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        if check(self.seen):
            d.callback(None)
        else:
            self._waiting.append((check, d))
        return d


class Ended(protocol.ProcessProtocol):
    def __init__(self) -> None:
        self.output = b""
        self.ended: Deferred[None] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data

    errReceived = outReceived

    def processEnded(self, reason: object) -> None:
        self.ended.callback(None)


@pytest_twisted.ensureDeferred
async def test_twistd_process_notifies_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    from twisted.internet import reactor

    path = short_dir(tmp_path) / "notify"
    datagrams = Datagrams()
    port = IReactorUNIXDatagram(reactor).listenUNIXDatagram(str(path), datagrams, 8192, 0o600)
    tac = tmp_path / "sd.tac"
    tac.write_text(TAC)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    env.update(PYTHONPATH=str(REPO), NOTIFY_SOCKET=str(path), WATCHDOG_USEC="200000")
    out = Ended()
    process = reactor.spawnProcess(
        out,
        str(TWISTD),
        [str(TWISTD), "--nodaemon", "--pidfile=", "-y", str(tac)],
        env=env,
        path=str(tmp_path),
    )
    try:
        await datagrams.until(lambda seen: seen.count("WATCHDOG=1") >= 3).addTimeout(15, reactor)
        assert "READY=1\nSTATUS=tac is up" in datagrams.seen
        process.signalProcess(signal.SIGTERM)
        await datagrams.until(lambda seen: "STOPPING=1" in seen).addTimeout(10, reactor)
        await out.ended.addTimeout(10, reactor)
    finally:
        if process.pid is not None:
            process.signalProcess(signal.SIGKILL)
        stopped = port.stopListening()
        if stopped is not None:
            await stopped
    assert datagrams.seen[-1] == "STOPPING=1", out.output


UNIT = REPO / "contrib" / "systemd" / "rosey.service"


def test_unit_file_verifies(tmp_path: Path) -> None:
    """``systemd-analyze verify`` accepts the unit (ExecStart pointed at this venv's twistd)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = UNIT.read_text()
    assert "ExecStart=/opt/rosey/.venv/bin/twistd --nodaemon --pidfile= rosey --config " in text
    for line in (
        "Type=notify",
        "NotifyAccess=main",
        "Restart=on-failure",
        "StateDirectory=rosey",
        "LogsDirectory=rosey",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "LoadCredential=rosey-password:/etc/rosey/password",
        "#WatchdogSec=60",
    ):
        assert f"\n{line}\n" in text, line
    unit = tmp_path / "rosey.service"
    unit.write_text(text.replace("/opt/rosey/.venv/bin/twistd", str(TWISTD)))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    # Unknown or misspelt keys are only warnings: any output at all is a failure.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")

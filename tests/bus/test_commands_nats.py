"""The command server's subscriptions against a real nats-server, in plain asyncio, over a
stand-in for the bot (the bot itself: tests/bus/test_commands_live.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import nats.errors
import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from rosey.bus.command_server import CommandServer
from rosey.bus.commands import CommandHandler, command_subject
from tests.bus.aio import until
from tests.bus.natsserver import NatsServer
from tests.bus.test_commands import Target
from tests.bus.test_publisher import fast

ONE, TWO = "cytu.be/one", "example.org:8443/two.chan"


def test_each_channel_answers_its_own_commands(nats_server: NatsServer) -> None:
    one, two = Target(), Target(queue={"uid": 3})

    async def scenario() -> list[Any]:
        bus = CommandServer(fast(nats_server.url))
        bus.serve(ONE, CommandHandler(ONE, one, Clock()).handle)  # type: ignore[arg-type]
        bus.serve(TWO, CommandHandler(TWO, two, Clock()).handle)  # type: ignore[arg-type]
        await bus.start()
        await until(lambda: bus.state == "connected")
        nc = await nats.connect(nats_server.url)
        try:
            await until(lambda: bool(bus._subscriptions))
            answers = [
                await nc.request(command_subject(ONE, "say"), b'{"text": "a"}', timeout=5),
                await nc.request(command_subject(TWO, "queue"), b'{"link": "yt:x"}', timeout=5),
            ]
            # a plain publish is acted on, with nobody to answer
            await nc.publish(command_subject(ONE, "me"), b'{"text": "b"}')
            await until(lambda: len(one.calls) == 2)
            with pytest.raises(nats.errors.NoRespondersError):
                await nc.request(command_subject("cytu.be/other", "say"), b"{}", timeout=5)
            await bus.stop()
            return [json.loads(a.data) for a in answers]
        finally:
            await nc.close()

    assert asyncio.run(scenario()) == [{"ok": True}, {"ok": True, "uid": 3}]
    assert one.calls == [("say", {"text": "a"}), ("me", {"text": "b"})]
    assert two.calls == [("queue", {"link": "yt:x", "position": "end"})]


def test_requests_wait_side_by_side_and_a_stop_still_answers_them(
    nats_server: NatsServer,
) -> None:
    confirmations: list[Deferred[None]] = []

    class Slow:
        def say(self, text: str) -> Deferred[None]:
            confirmations.append(Deferred())
            return confirmations[-1]

    async def scenario() -> list[Any]:
        bus = CommandServer(fast(nats_server.url))
        bus.serve(ONE, CommandHandler(ONE, Slow(), Clock()).handle)  # type: ignore[arg-type]
        await bus.start()
        nc = await nats.connect(nats_server.url)
        try:
            await until(lambda: bool(bus._subscriptions))
            asked = [
                asyncio.ensure_future(
                    nc.request(command_subject(ONE, "say"), b'{"text": "x"}', timeout=5)
                )
                for _ in range(3)
            ]
            # all three reach the bot before any is confirmed (none blocks the next)
            await until(lambda: len(confirmations) == 3)
            stopping = asyncio.ensure_future(bus.stop())
            await asyncio.sleep(0)
            for d in confirmations:
                d.callback(None)
            await stopping
            return [json.loads((await a).data) for a in asked]
        finally:
            await nc.close()

    assert asyncio.run(scenario()) == [{"ok": True}] * 3

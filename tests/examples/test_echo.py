"""examples/echo: the README's command runs a drop-in plugin that echoes PMs and mentions
(real daemon, real peer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_twisted

from tests.examples.harness import CHANNEL, PASSWORD, ExampleRun
from tests.peers.cytube import CyTubePeer
from tests.waiting import eventually

BOT = "echobot"


@pytest_twisted.async_yield_fixture()
async def peer() -> AsyncIterator[CyTubePeer]:
    p = CyTubePeer(CHANNEL, accounts={BOT: (PASSWORD, 2)}, connect_capacity=100).start()
    yield p
    p.stop()


def pms(peer: CyTubePeer) -> list[tuple[str, str]]:
    return [(r.data["to"], r.data["msg"]) for r in peer.events("pm", BOT)]


def said(peer: CyTubePeer) -> list[str]:
    return [r.data["msg"] for r in peer.events("chatMsg", BOT)]


@pytest_twisted.ensureDeferred
async def test_echo_example_echoes_pms_and_mentions(tmp_path: Path, peer: CyTubePeer) -> None:
    run = ExampleRun("echo", tmp_path, peer)
    assert run.username() == BOT
    peer.add_virtual_user("alice", 1)
    peer.chat("alice", "echobot: said before the bot came")  # replayed at join: no echo
    await run.start()
    try:
        peer.pm("alice", BOT, "hello <b>there</b> 👍🏽")
        await eventually(lambda: len(pms(peer)) == 1, 10)
        assert pms(peer) == [("alice", "hello <b>there</b> 👍🏽")]

        peer.pm("alice", BOT, "/kick alice")  # cannot make the bot run a server command
        peer.pm("alice", BOT, "!ping")  # a command: answered by core, not echoed
        await eventually(lambda: len(pms(peer)) == 3, 10)
        assert pms(peer)[1:] == [("alice", "» /kick alice"), ("alice", "pong")]

        peer.chat("alice", "not for the bot")
        peer.chat("alice", "echobot_fan: not for the bot either")
        peer.chat("alice", "EchoBot: how are you?")
        peer.chat("alice", "echobot !ping")  # the echo must not start with the prefix
        await eventually(lambda: len(said(peer)) == 2, 10)
        assert said(peer) == ["alice: how are you?", "alice: !ping"]
        peer.chat("alice", "echobot: last")
        await eventually(lambda: len(said(peer)) == 3, 10)
        assert said(peer)[2] == "alice: last"
    finally:
        status = await run.stop()
    assert status == 0, run.out.text
    assert "Traceback" not in run.out.text, run.out.text

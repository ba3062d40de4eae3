"""Commands in through a real ``twistd --reactor=asyncio rosey`` with ``[bus] commands =
true``, a real nats-server and the socket.io peer playing CyTube.

A NATS client (its own asyncio loop, in a thread, so the test's reactor keeps reading the
daemon's output) sends the requests; the peer shows what reached "CyTube". Each reply comes
after the server confirmed the action; a refusal carries the bot's typed error; 200 ``say``
requests at once go through the bot's send queue without a single ``cooldown``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import nats
import nats.errors
import pytest_twisted
from twisted.internet.threads import deferToThread

from rosey.bus.commands import command_subject
from tests.bus.natsserver import NatsServer
from tests.daemon.test_twistd import PASSWORD, TWISTD, Output, environment, write_config
from tests.peers.cytube import CyTubePeer, lab_accounts

T = TypeVar("T")
MEDIA = {
    "dQw4w9WgXcQ": {"title": "first video", "seconds": 212},
    "9bZkp7q19f0": {"title": "second video", "seconds": 253},
}
SECOND = "https://www.youtube.com/watch?v=9bZkp7q19f0"


@pytest_twisted.async_yield_fixture()
async def peer() -> AsyncIterator[CyTubePeer]:
    p = CyTubePeer(
        "labchan", accounts=lab_accounts(PASSWORD), connect_capacity=100, media=MEDIA
    ).start()
    p.add_virtual_user("labowner", 5)  # ranks above the bot (3): a kick is refused
    p.add_virtual_user("someone", 1)
    yield p
    p.stop()


def in_thread(scenario: Callable[[], Awaitable[T]]) -> Any:
    """Run the asyncio ``scenario`` in a thread (a Deferred of its result)."""
    return deferToThread(lambda: asyncio.run(scenario()))  # type: ignore[arg-type]


class Requester:
    """A NATS client asking one channel's bot for commands."""

    def __init__(self, nc: Any, label: str) -> None:
        self.nc = nc
        self.label = label

    async def ask(self, action: str, body: Any, timeout: float = 10.0) -> Any:
        """The decoded reply to ``body`` (bytes as they are, else JSON-encoded)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        msg = await self.nc.request(command_subject(self.label, action), data, timeout=timeout)
        return json.loads(msg.data)

    async def close(self) -> None:
        await self.nc.close()


async def requester(url: str, label: str) -> Requester:
    """A connected :class:`Requester`, once rosey answers at all (bounded)."""
    r = Requester(await nats.connect(url), label)
    deadline = time.monotonic() + 20
    while True:  # the daemon subscribes once it is connected: until then, no responders
        try:
            await r.ask("ping", b"{}", 1.0)
            return r
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def running_daemon(
    tmp_path: Path, peer: CyTubePeer, nats_url: str
) -> tuple[Output, Any, str]:
    from twisted.internet import reactor

    config = write_config(tmp_path, peer.site)
    config.write_text(config.read_text() + f'\n[bus]\nurl = "{nats_url}"\ncommands = true\n')
    out = Output()
    argv = [str(TWISTD), "--reactor=asyncio", "--nodaemon", "--pidfile=", "rosey"]
    process = reactor.spawnProcess(
        out, str(TWISTD), [*argv, "--config", str(config)], env=environment(), path=str(tmp_path)
    )
    await peer.when(lambda p: "labbot" in p.users, timeout=20)
    return out, process, f"{peer.site.split('://')[1]}/labchan"


async def stopped(out: Output, process: Any) -> str:
    from twisted.internet import reactor

    process.signalProcess("TERM")
    status = await out.ended.addTimeout(30, reactor)
    assert status == 0, out.text
    assert PASSWORD not in out.text
    return out.text


@pytest_twisted.ensureDeferred
async def test_each_command_round_trip(
    tmp_path: Path, peer: CyTubePeer, nats_server: NatsServer
) -> None:
    out, process, label = await running_daemon(tmp_path, peer, nats_server.url)

    async def scenario() -> dict[str, Any]:
        r = await requester(nats_server.url, label)
        ask = r.ask
        try:
            return {
                "say": await ask("say", {"text": "hello from the bus"}),
                "pm": await ask("pm", {"to": "someone", "text": "psst"}),
                "me": await ask("me", {"text": "waves"}),
                "queue": await ask("queue", {"link": "https://youtu.be/dQw4w9WgXcQ"}),
                "queue next": await ask("queue", {"link": SECOND, "position": "next"}),
                "delete": await ask("delete", {"link": SECOND}),
                "delete again": await ask("delete", {"link": SECOND}),
                "queue again": await ask("queue", {"link": SECOND, "position": "next"}),
                "skip": await ask("skip", {}),
                "mute": await ask("mute", {"name": "someone"}),
                "unmute": await ask("unmute", {"name": "someone"}),
                "voteskip": await ask("voteskip", b""),
                "kick": await ask("kick", {"name": "labowner", "reason": "no"}),
                "kick nobody": await ask("kick", {"name": "nobody"}),
                "not JSON": await ask("say", b"hello?"),
                "wrong key": await ask("pm", {"text": "to whom?"}),
                "unknown": await ask("dance", {}),
            }
        finally:
            await r.close()

    try:
        replies = await in_thread(scenario)
        chat = [r.data["msg"] for r in peer.events("chatMsg", "labbot")]
        pms = [r.data for r in peer.events("pm", "labbot")]
        queued = [r.data for r in peer.events("queue", "labbot")]
    finally:
        text = await stopped(out, process)

    assert replies["say"] == {"ok": True}
    assert replies["pm"] == {"ok": True}
    assert replies["me"] == {"ok": True}
    # each confirmed before its reply
    assert [line for line in chat if not line.startswith("/") or line.startswith("/me")] == [
        "hello from the bus",
        "/me waves",
    ]
    assert [(p["to"], p["msg"]) for p in pms] == [("someone", "psst")]
    assert replies["queue"]["ok"] is True
    assert isinstance(replies["queue"]["uid"], int)
    assert [q["id"] for q in queued] == ["dQw4w9WgXcQ", "9bZkp7q19f0", "9bZkp7q19f0"]
    second = replies["queue next"]["uid"]
    assert replies["delete"] == {"ok": True, "uid": second}
    assert replies["delete again"]["error"]["type"] == "TargetNotFound"
    assert replies["skip"] == {"ok": True, "uid": replies["queue again"]["uid"]}
    assert replies["mute"] == replies["unmute"] == {"ok": True}
    assert replies["voteskip"]["ok"] is True
    assert replies["voteskip"]["count"] == 1
    # refused by the bot's own check: nothing sent, the typed error in the reply
    assert replies["kick"]["ok"] is False
    assert replies["kick"]["error"]["type"] == "ChannelPermissionError"
    assert "labowner" in replies["kick"]["error"]["message"]
    assert replies["kick nobody"]["error"]["type"] == "TargetNotFound"
    assert not [line for line in chat if line.startswith("/kick")]  # nothing went out
    assert peer.kicks == 0
    for name in ("not JSON", "wrong key", "unknown"):
        assert replies[name]["ok"] is False
        assert replies[name]["error"]["type"] == "BadRequest"
    assert replies["not JSON"]["error"]["message"] == "say: the request body is not JSON"
    assert replies["wrong key"]["error"]["message"] == "pm: missing key 'to'"
    assert "unknown action 'dance'" in replies["unknown"]["error"]["message"]
    # a malformed request is logged once per kind (the probe's "ping" and "dance": one line)
    assert text.count("unknown action") == 1, text
    assert text.count("not JSON") == 1, text


@pytest_twisted.ensureDeferred
async def test_200_say_requests_at_once_never_draw_a_cooldown(
    tmp_path: Path, peer: CyTubePeer, nats_server: NatsServer
) -> None:
    out, process, label = await running_daemon(tmp_path, peer, nats_server.url)
    count = 200
    texts = [f"bus flood {i:03d}" for i in range(count)]

    async def scenario() -> tuple[list[Any], float]:
        r = await requester(nats_server.url, label)
        ask = r.ask
        try:
            started = time.monotonic()
            replies = await asyncio.gather(*(ask("say", {"text": t}, 60.0) for t in texts))
            return list(replies), time.monotonic() - started
        finally:
            await r.close()

    try:
        replies, took = await in_thread(scenario)
        await peer.when(lambda p: p.chat_delivered >= count, timeout=10)
        delivered = peer.chat_delivered
        cooldowns = peer.cooldowns_sent
        chat = sorted(r.data["msg"] for r in peer.events("chatMsg", "labbot"))
    finally:
        await stopped(out, process)

    assert replies == [{"ok": True}] * count
    assert cooldowns == 0
    assert delivered == count
    assert chat == texts  # each once (requests arrive in any order; the queue keeps theirs)
    # the server's pace (burst of 20, then 10 lines a second), not a shortcut
    assert took >= (count - 20) * 0.1 - 0.5
    print(f"{count} say requests answered in {took:.1f} s, {cooldowns} cooldowns")

"""examples/log: the README's command writes the chat and media logs (real daemon, real peer)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_twisted

from tests.examples.harness import CHANNEL, ExampleRun
from tests.peers.cytube import CyTubePeer
from tests.waiting import eventually

MEDIA = {"dQw4w9WgXcQ": {"title": "first <video> & more", "seconds": 212}}
STAMP = r"\[\d\d:\d\d:\d\d\] "


@pytest_twisted.async_yield_fixture()
async def peer() -> AsyncIterator[CyTubePeer]:
    p = CyTubePeer(CHANNEL, media=MEDIA, connect_capacity=100).start()
    yield p
    p.stop()


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest_twisted.ensureDeferred
async def test_log_example_writes_chat_and_media_logs(tmp_path: Path, peer: CyTubePeer) -> None:
    run = ExampleRun("log", tmp_path, peer)
    assert run.username() is None  # an anonymous reader
    peer.add_virtual_user("alice", 1)
    peer.chat("alice", "said before rosey came")  # replayed at join: not logged again
    chat, media = run.path("chat.log"), run.path("media.log")
    await run.start()
    try:
        peer.chat("alice", "hello <b>world</b> & co")
        peer.chat("alice", "line\u2028break /kick bob")
        peer.queue_media("dQw4w9WgXcQ")
        await eventually(lambda: len(lines(chat)) >= 2 and len(lines(media)) >= 1, 10)
    finally:
        status = await run.stop()
    assert status == 0, run.out.text
    logged = lines(chat)
    assert len(logged) == 2, logged
    assert re.fullmatch(STAMP + re.escape("<alice> hello <b>world</b> & co"), logged[0])
    assert re.fullmatch(STAMP + re.escape("<alice> line break /kick bob"), logged[1])
    played = lines(media)
    assert len(played) == 1, played
    assert re.fullmatch(STAMP + re.escape("first <video> & more (yt:dQw4w9WgXcQ)"), played[0])
    assert peer.events("chatMsg") == []  # the logger never spoke

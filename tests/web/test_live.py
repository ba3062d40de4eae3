"""The live feed: the bot's events as server-sent events, over a real HTTP stream."""

from __future__ import annotations

import json

import pytest_twisted
import treq

from rosey import events
from rosey.events import Event
from rosey.web.live import frame_for
from tests.waiting import eventually
from tests.web.conftest import LABEL, RTL, XSS, Served, feed

API = "/api/channels/cytu.be/WebChan"


def frames(raw: bytes) -> list[tuple[str, dict[str, object]]]:
    """The ``(event, data)`` pairs of a stream so far."""
    out = []
    for block in raw.decode("utf-8").split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


@pytest_twisted.ensureDeferred
async def test_events_reach_an_open_stream(served: Served):
    live = served.data.feeds[LABEL]
    response = await treq.get(served.base + f"{API}/events", unbuffered=True)
    assert response.code == 200
    assert response.headers.getRawHeaders("content-type")[0].startswith("text/event-stream")
    received = bytearray()
    done = treq.collect(response, received.extend)
    await eventually(lambda: live.streams == 1)

    bot = served.bot
    feed(bot, events.MESSAGE, {"msg": "&lt;b&gt;html&lt;/b&gt;"}, user="alice", content=XSS)
    feed(bot, events.MESSAGE, {}, user="old", content="replayed", replayed=True)
    feed(bot, events.USER_JOIN, {"name": RTL, "rank": 0}, user=RTL)
    feed(bot, "usercount", 9)
    feed(bot, "changeMedia", {"type": "yt", "id": "z", "title": RTL, "seconds": 5})
    feed(bot, "setAFK", {"name": "alice", "afk": True})
    await eventually(lambda: b"event: users" in received)

    assert frames(bytes(received)) == [
        ("chat", {"user": "alice", "text": XSS, "time": None}),
        ("join", {"user": RTL}),
        ("usercount", {"count": 9}),
        ("media", {"title": RTL, "type": "yt", "id": "z"}),
        ("users", {}),
    ]
    # JSON in the stream never carries a raw "<" (safe even if a page embedded it).
    assert b"<" not in received

    live.close_all()
    await done
    assert live.streams == 0


def test_what_is_not_shown():
    assert frame_for(Event("queue", {})) is None
    assert frame_for(Event(events.MESSAGE, {}, user="x", content="y", replayed=True)) is None
    assert frame_for(Event("changeMedia", "not a dict")) is not None


@pytest_twisted.ensureDeferred
async def test_a_closed_connection_leaves_the_feed(served: Served):
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
    from twisted.internet.protocol import Protocol

    live = served.data.feeds[LABEL]
    port = int(served.base.rsplit(":", 1)[1])
    client = Protocol()
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), client)
    assert client.transport is not None
    client.transport.write(f"GET {API}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await eventually(lambda: live.streams == 1)
    client.transport.loseConnection()
    await eventually(lambda: live.streams == 0)
    feed(served.bot, events.MESSAGE, {}, user="alice", content="nobody listens")  # no error

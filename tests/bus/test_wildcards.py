"""The subjects against a real nats-server: the origins' wildcard subscriptions.

The origins' subjects had no channel token (``rosey.platform.cytube.user.joined``); with one,
``rosey.platform.cytube.>`` still gets everything, and the origins' "every platform"
``rosey.platform.*.user.joined`` becomes ``rosey.platform.*.*.user.joined`` (every platform,
every channel). These tests run nats-py in their own asyncio loop (no Twisted involved).
"""

from __future__ import annotations

import asyncio

import nats
from nats.aio.msg import Msg

from rosey import events
from rosey.bus.subjects import subject
from tests.bus.natsserver import NatsServer

CHANNELS = ["cytu.be/mychannel", "example.org:8443/a.b*c>d e"]
NAMES = [events.MESSAGE, events.USER_JOIN, events.USER_LEAVE, "changeMedia", "setCurrent"]


async def receive(url: str, patterns: list[str]) -> dict[str, list[str]]:
    nc = await nats.connect(url)
    got: dict[str, list[str]] = {p: [] for p in patterns}
    for pattern in patterns:

        async def handler(msg: Msg, pattern: str = pattern) -> None:
            got[pattern].append(msg.subject)

        await nc.subscribe(pattern, cb=handler)
    await nc.flush()
    sent = [subject(ch, name) for ch in CHANNELS for name in NAMES]
    for s in sent:
        await nc.publish(s, b"{}")
    await nc.flush()
    # Delivery to our own subscriptions goes through the server: wait (bounded) for it.
    async with asyncio.timeout(5):
        while sum(map(len, got.values())) < len(sent) + len(CHANNELS):
            await asyncio.sleep(0.005)
    await nc.drain()
    got["sent"] = sent
    return got


def test_origin_wildcards_receive_from_every_channel(nats_server: NatsServer) -> None:
    got = asyncio.run(
        receive(nats_server.url, ["rosey.platform.cytube.>", "rosey.platform.*.*.user.joined"])
    )
    assert got["rosey.platform.cytube.>"] == got["sent"]
    assert got["rosey.platform.*.*.user.joined"] == [
        subject(ch, events.USER_JOIN) for ch in CHANNELS
    ]

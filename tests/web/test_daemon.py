"""``[web]`` in the running daemon against the socket.io peer: /metrics and /health on the same
listener, and ``say`` through the bot's send queue with the right token."""

from __future__ import annotations

import json

import pytest_twisted
import treq
from twisted.web.http_headers import Headers

from tests.waiting import eventually
from tests.web.conftest import TOKEN, Running


@pytest_twisted.ensureDeferred
async def test_metrics_and_health_beside_the_page(running: Running) -> None:
    _, daemon, base, _ = running
    label = next(iter(daemon.bots))
    metrics = await treq.get(base + "/metrics")
    assert "rosey_events_in" in await metrics.text()
    await eventually(lambda: daemon.watches[0].joined, 20)
    health = await treq.get(base + "/health")
    document = json.loads(await health.text())
    assert health.code == 200, document
    assert document["channels"][label]["joined"] is True


@pytest_twisted.ensureDeferred
async def test_say_goes_through_the_send_queue(running: Running) -> None:
    peer, daemon, base, _ = running
    bot = next(iter(daemon.bots.values()))
    await eventually(lambda: bot.connection.ready, 20)
    path = base + f"/api/channels/{next(iter(daemon.bots)).replace(':', '%3A')}/say"
    text = "hello from the web <b>as text</b>"
    response = await treq.post(
        path,
        data=json.dumps({"text": text}).encode(),
        headers=Headers(
            {"authorization": [f"Bearer {TOKEN}"], "content-type": ["application/json"]}
        ),
    )
    assert response.code == 200, await response.text()
    assert json.loads(await response.text()) == {"ok": True}
    said = [r.data.get("msg") for r in peer.events("chatMsg", "labbot")]
    assert any("hello from the web" in str(m) for m in said)

    wrong = await treq.post(
        path, data=b'{"text": "no"}', headers=Headers({"authorization": ["Bearer x"]})
    )
    assert wrong.code == 401
    await wrong.content()

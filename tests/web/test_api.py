"""The JSON API against a real SQLite file holding a year of synthetic history."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import pytest_twisted
import treq

from tests.web.conftest import NOW, RTL, TOKEN, XSS, Served

API = "/api/channels/cytu.be/WebChan"


async def get(served: Served, path: str, status: int = 200) -> Any:
    response = await treq.get(served.base + path)
    body = await response.text()
    assert response.code == status, body
    assert response.headers.getRawHeaders("content-type")[0].startswith("application/json")
    return json.loads(body)


@pytest_twisted.ensureDeferred
async def test_index_lists_the_channels(served: Served):
    channels = await get(served, "/api/channels")
    assert [c["name"] for c in channels] == ["quiet", "WebChan"]
    chan = channels[1]
    assert chan["site"] == "cytu.be"
    assert chan["path"] == "/channels/cytu.be/WebChan"
    assert (chan["user_count"], chan["connected_count"], chan["now_playing"]) == (3, 7, XSS)


@pytest_twisted.ensureDeferred
async def test_the_channel_now(served: Served):
    now = await get(served, API)
    assert [(u["name"], u["afk"], u["leader"]) for u in now["users"]] == [
        ("alice", False, True),
        ("bob_afk", True, False),
        (XSS[:20], False, False),
    ]
    playing = now["now_playing"]
    assert playing["title"] == XSS  # raw in JSON: escaping is the HTML's job
    assert (playing["queued_by"], playing["position"], playing["duration"]) == ("alice", 50, 200)
    assert playing["link"] == "https://www.youtube.com/watch?v=abc"
    assert [n["title"] for n in now["next"]] == [RTL]
    assert now["next"][0]["link"] is None  # never a javascript: link
    # Names are case-insensitive, as CyTube's are.
    assert (await get(served, "/api/channels/CYTU.BE/webchan"))["name"] == "WebChan"


@pytest_twisted.ensureDeferred
async def test_user_count_history_in_three_ranges(served: Served):
    for period, span, most in (
        ("24h", 86400, 288),
        ("7d", 7 * 86400, 336),
        ("30d", 30 * 86400, 360),
    ):
        h = await get(served, f"{API}/users?range={period}")
        assert (h["start"], h["end"]) == (NOW - span, NOW)
        assert 0.9 * most <= len(h["points"]) <= most + 1
        assert all(NOW - span - 7200 <= t <= NOW for t, _, _ in h["points"])
        assert [p[0] for p in h["points"]] == sorted(p[0] for p in h["points"])
        assert (h["max_users"], h["max_connected"]) == (24, 32)
    bad = await get(served, f"{API}/users?range=1y", 400)
    assert "range must be one of" in bad["error"]


@pytest_twisted.ensureDeferred
async def test_chat_activity_and_heat_map(served: Served):
    a = await get(served, f"{API}/activity?days=7")
    assert a["bucket"] == 3600
    assert 150 <= len(a["points"]) <= 169
    assert all(a["start"] <= t < a["end"] for t, _ in a["points"])
    heat = a["heatmap"]["counts"]
    assert [len(row) for row in heat] == [24] * 7
    by_hour = [sum(row[h] for row in heat) for h in range(24)]
    assert sum(by_hour[17:24]) > sum(by_hour[0:7])  # evenings are busier
    assert (await get(served, f"{API}/activity?days=31", 400))["error"].startswith("days")
    await get(served, f"{API}/activity?days=x", 400)


@pytest_twisted.ensureDeferred
async def test_top_chatters_by_period(served: Served):
    for period in ("24h", "7d", "30d", "all"):
        c = await get(served, f"{API}/chatters?range={period}")
        lines = [u["lines"] for u in c["chatters"]]
        assert 0 < len(lines) <= 10
        assert lines == sorted(lines, reverse=True)
    day = (await get(served, f"{API}/chatters?range=24h"))["chatters"][0]["lines"]
    month = (await get(served, f"{API}/chatters?range=30d"))["chatters"][0]["lines"]
    assert day < month


@pytest_twisted.ensureDeferred
async def test_media_recent_and_most_played(served: Served):
    m = await get(served, f"{API}/media")
    starts = [p["started_at"] for p in m["recent"]]
    assert len(starts) == 15
    assert starts == sorted(starts, reverse=True)
    assert all(p["queued_by"] for p in m["recent"])
    plays = [p["plays"] for p in m["most_played"]]
    assert len(plays) == 10
    assert plays == sorted(plays, reverse=True)
    assert plays[0] >= 2
    assert all(p["last_played"] >= NOW - 30 * 86400 for p in m["most_played"])


@pytest_twisted.ensureDeferred
async def test_recent_chat(served: Served):
    lines = (await get(served, f"{API}/chat"))["messages"]
    assert len(lines) == 30
    assert [m["time"] for m in lines] == sorted(m["time"] for m in lines)


@pytest_twisted.ensureDeferred
async def test_an_empty_channel(served: Served):
    base = "/api/channels/cytu.be/quiet"
    now = await get(served, base)
    assert (now["users"], now["now_playing"], now["next"]) == ([], None, [])
    assert (await get(served, f"{base}/users"))["points"] == []
    assert (await get(served, f"{base}/users"))["max_users"] == 0
    activity = await get(served, f"{base}/activity")
    assert activity["points"] == []
    assert activity["heatmap"]["counts"] == [[0] * 24] * 7
    assert (await get(served, f"{base}/chatters?range=all"))["chatters"] == []
    assert await get(served, f"{base}/media") == {"recent": [], "most_played": []}
    assert (await get(served, f"{base}/chat"))["messages"] == []


@pytest_twisted.ensureDeferred
async def test_unknown_channels_and_paths_are_404(served: Served):
    assert "no channel" in (await get(served, "/api/channels/cytu.be/nope", 404))["error"]
    await get(served, "/api/channels/other.site/WebChan", 404)
    await get(served, f"{API}/nothing", 404)
    await get(served, "/api/else", 404)
    response = await treq.get(served.base + "/channels/cytu.be/nope")
    assert response.code == 404
    await response.content()


async def say(served: Served, headers: Mapping[str, str], body: object, status: int) -> Any:
    sent: dict[bytes | str, bytes | str] = {"content-type": "application/json"}
    sent.update(headers)
    response = await treq.post(
        served.base + f"{API}/say", data=json.dumps(body).encode(), headers=sent
    )
    text = await response.text()
    assert response.code == status, text
    return json.loads(text)


@pytest_twisted.ensureDeferred
async def test_say_refuses_a_missing_or_wrong_token(served: Served):
    await say(served, {}, {"text": "hi"}, 401)
    await say(served, {"authorization": "Bearer wrong"}, {"text": "hi"}, 401)
    await say(served, {"authorization": TOKEN}, {"text": "hi"}, 401)
    # The right token, a bad body: refused before anything is sent.
    auth = {"authorization": f"Bearer {TOKEN}"}
    assert "text" in (await say(served, auth, {"say": "hi"}, 400))["error"]
    await say(served, auth, {"text": "two\nlines"}, 400)
    await say(served, auth, {"text": "x" * 321}, 400)
    # The bot is not in the channel (a fake connection): the action refuses, nothing sent.
    assert "not sent" in (await say(served, auth, {"text": "hi"}, 409))["error"]
    assert served.bot.connection.sent == []  # type: ignore[attr-defined]
    response = await treq.get(served.base + f"{API}/say")
    assert response.code == 405
    await response.content()


@pytest_twisted.ensureDeferred
async def test_say_does_not_exist_without_a_token(served: Served):
    from rosey.web.say import SayEndpoint

    served.data.say = SayEndpoint(None)
    await say(served, {"authorization": f"Bearer {TOKEN}"}, {"text": "hi"}, 404)
    await say(served, {}, {"text": "hi"}, 404)


@pytest_twisted.ensureDeferred
async def test_a_storage_failure_is_a_logged_503(served: Served):
    from twisted.logger import ILogObserver, globalLogPublisher

    logged: list[dict[str, Any]] = []
    observer = cast(ILogObserver, logged.append)
    globalLogPublisher.addObserver(observer)
    try:
        await served.storage.close()
        failed = await get(served, f"{API}/users", 503)
        assert "storage is unavailable" in failed["error"]
        # The mirror's part needs no storage.
        assert (await get(served, API))["name"] == "WebChan"
    finally:
        globalLogPublisher.removeObserver(observer)
    assert any("failed" in str(e.get("log_format", "")) for e in logged)

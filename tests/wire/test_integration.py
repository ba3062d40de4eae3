"""rosey against a real socket.io server (python-socketio, EIO 4) playing a CyTube channel.

Everything is real on 127.0.0.1: treq fetches the socketconfig, Autobahn opens the websocket,
ClientService reconnects. Waiting is always on a Deferred with a bound.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred

from rosey import events
from rosey.errors import AckTimeout, BadCredentials, ChannelPasswordError, Kicked, NoSuchChannel
from rosey.events import Event
from rosey.wire.connection import CyTubeConnection
from rosey.wire.retry import KickPolicy, ReconnectPolicy
from tests.peers.cytube import CyTubePeer, lab_accounts
from tests.waiting import eventually

FAST = ReconnectPolicy(
    initial_delay=0.2, max_delay=0.5, jitter=0.0, budget_burst=100, budget_interval=0.1
)
PASSWORD = "lab-password"


class Bot:
    """A started CyTubeConnection and every event it delivered."""

    def __init__(self, peer: CyTubePeer, **kwargs: Any) -> None:
        from twisted.internet import reactor

        kwargs.setdefault("username", "labbot")
        kwargs.setdefault("password", PASSWORD)
        kwargs.setdefault("reconnect", FAST)
        self.conn = CyTubeConnection(peer.site, "labchan", reactor=reactor, **kwargs)
        self.events: list[Event] = []
        self.conn.subscribe(self.events.append)

    def start(self) -> Bot:
        self.conn.startService()
        return self

    def ready(self, timeout: float = 5.0) -> Deferred[None]:
        from twisted.internet import reactor

        return self.conn.when_ready().addTimeout(timeout, reactor)

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    def seen(self, predicate: Callable[[Event], bool], timeout: float = 5.0) -> Deferred[None]:
        return eventually(lambda: any(predicate(e) for e in list(self.events)), timeout)

    def count(self, name: str, n: int, timeout: float = 5.0) -> Deferred[None]:
        return eventually(lambda: len(self.named(name)) >= n, timeout)


async def started_peer(**kwargs: Any) -> CyTubePeer:
    kwargs.setdefault("accounts", lab_accounts(PASSWORD))
    kwargs.setdefault("connect_capacity", 100)
    return CyTubePeer("labchan", **kwargs).start()


@pytest_twisted.async_yield_fixture()
async def peer() -> AsyncIterator[CyTubePeer]:
    p = await started_peer()
    yield p
    p.stop()


@pytest_twisted.async_yield_fixture()
async def bots() -> AsyncIterator[list[Bot]]:
    made: list[Bot] = []
    yield made
    for bot in made:
        await bot.conn.stopService()


@pytest_twisted.ensureDeferred
async def test_joins_with_login_first_gets_the_burst_and_chats(
    peer: CyTubePeer, bots: list[Bot]
) -> None:
    peer.chat("labuser", "said before rosey came")
    bot = Bot(peer)
    bots.append(bot)
    bot.start()
    await bot.ready()
    assert bot.conn.ready
    assert bot.conn.rank == 3
    sent = [r.event for r in peer.events("login") + peer.events("joinChannel")]
    assert sent == ["login", "joinChannel"]
    assert [r.event for r in peer.received][:2] == ["login", "joinChannel"]  # login first
    assert peer.events("login")[0].data == {"name": "labbot", "pw": PASSWORD}
    replayed = [e for e in bot.named(events.MESSAGE) if e.replayed]
    assert [e.content for e in replayed] == ["said before rosey came"]
    names = [e.name for e in bot.events]
    assert names[0] == events.CONNECTED
    assert names.index(events.USER_LIST) < names.index(events.READY)
    assert bot.named(events.READY)[0].platform_data == {"rank": 3, "name": "labbot", "guest": False}

    bot.conn.send_message("hello <world> & all")
    await bot.seen(lambda e: e.name == events.MESSAGE and e.user == "labbot")
    echo = bot.named(events.MESSAGE)[-1]
    assert echo.content == "hello <world> & all"
    assert not echo.replayed
    assert "&lt;world&gt;" in echo.platform_data["msg"]
    peer.chat("labuser", "live line")
    await bot.seen(lambda e: e.content == "live line")
    assert not bot.named(events.MESSAGE)[-1].replayed


@pytest_twisted.ensureDeferred
async def test_emit_with_ack_gets_the_servers_answer(peer: CyTubePeer, bots: list[Bot]) -> None:
    from twisted.internet import reactor

    bot = Bot(peer)
    bots.append(bot)
    bot.start()
    await bot.ready()
    poll = {"title": "lunch?", "opts": ["yes", "no"], "obscured": False}
    answer = await bot.conn.emit_with_ack("newPoll", poll).addTimeout(5, reactor)
    assert answer == {}
    assert peer.events("newPoll")[0].ack
    await bot.seen(lambda e: e.name == "newPoll")
    too_long = {"title": "x" * 300, "opts": ["a"], "obscured": False}
    refused = await bot.conn.emit_with_ack("newPoll", too_long).addTimeout(5, reactor)
    assert refused == {"error": {"message": "Poll title may not exceed 255 characters"}}
    with pytest.raises(AckTimeout):  # a payload of the wrong shape gets errorMsg, no ack
        await bot.conn.emit_with_ack("newPoll", {"title": 5}, timeout=0.5)
    await bot.seen(lambda e: e.name == "errorMsg")
    assert bot.conn.ready


@pytest_twisted.ensureDeferred
async def test_dropped_connection_reconnects_by_itself(peer: CyTubePeer, bots: list[Bot]) -> None:
    bot = Bot(peer)
    bots.append(bot)
    bot.start()
    await bot.ready()
    first = bot.conn.session
    peer.drop("labbot")
    await bot.count(events.DISCONNECTED, 1)
    assert not bot.conn.ready
    await bot.count(events.READY, 2)
    assert bot.conn.session is not first
    assert bot.conn.ready
    assert len(peer.events("joinChannel")) == 2
    await peer.when(lambda p: p.users == ["labbot"])


@pytest_twisted.ensureDeferred
async def test_server_restart_is_survived(peer: CyTubePeer, bots: list[Bot]) -> None:
    bot = Bot(peer)
    bots.append(bot)
    bot.start()
    await bot.ready()
    peer.restart()
    await bot.count(events.READY, 2)
    assert peer.connects >= 1


@pytest_twisted.ensureDeferred
async def test_duplicate_login_kick_stops_reconnecting(peer: CyTubePeer, bots: list[Bot]) -> None:
    bot = Bot(peer)
    bots.append(bot)
    bot.start()
    await bot.ready()
    peer.kick("labbot", "Duplicate login")
    await bot.count(events.KICKED, 1)
    assert bot.named(events.KICKED)[0].platform_data == {"reason": "Duplicate login"}
    assert isinstance(bot.conn.stopped_for, Kicked)
    await peer.when(lambda p: p.connections == 0)  # rosey closed the socket itself
    await bot.count(events.DISCONNECTED, 1)
    assert not bot.conn._client.running  # no retry is scheduled
    assert peer.connects == 1
    assert bot.named(events.ERROR)[-1].extra["fatal"]


@pytest_twisted.ensureDeferred
async def test_other_kicks_rejoin_after_the_delay(peer: CyTubePeer, bots: list[Bot]) -> None:
    bot = Bot(peer, kicks=KickPolicy(rejoin_delay=0.6))
    bots.append(bot)
    bot.start()
    await bot.ready()
    kicked_at = time.monotonic()
    peer.kick("labbot", "Channel reloading")
    await bot.count(events.READY, 2)
    logins = peer.events("login")
    assert len(logins) == 2
    assert logins[1].time - kicked_at >= 0.6
    assert bot.conn.stopped_for is None
    assert [e.platform_data for e in bot.named(events.KICKED)] == [{"reason": "Channel reloading"}]


@pytest_twisted.ensureDeferred
async def test_guest_login_limit_is_waited_out_and_retried(bots: list[Bot]) -> None:
    peer = await started_peer(guest_login_delay=1.0)
    try:
        bot = Bot(peer, username="visitor7", password=None)
        bots.append(bot)
        bot.start()
        await bot.ready()
        assert bot.conn.rank == 0
        bot.conn.disconnect("test: come back at once")
        await bot.count(events.READY, 2, timeout=8)
        logins = [r for r in peer.events("login") if r.data == {"name": "visitor7"}]
        assert len(logins) == 3  # ok, refused by the limit, ok after waiting it out
        assert logins[2].time - logins[1].time >= 1.0
        assert bot.conn.stopped_for is None
    finally:
        await bot.conn.stopService()
        peer.stop()


@pytest_twisted.ensureDeferred
async def test_bad_password_stops_with_a_typed_error(peer: CyTubePeer, bots: list[Bot]) -> None:
    bot = Bot(peer, password="not-it")
    bots.append(bot)
    failed: list[Any] = []
    bot.conn.when_ready().addErrback(failed.append)
    bot.start()
    await bot.seen(lambda e: e.name == events.ERROR)
    assert isinstance(bot.conn.stopped_for, BadCredentials)
    assert failed
    assert failed[0].check(BadCredentials)
    await peer.when(lambda p: p.connections == 0)


@pytest_twisted.ensureDeferred
async def test_wrong_channel_password_stops(peer: CyTubePeer, bots: list[Bot]) -> None:
    peer.set_options(password="right-one")
    bot = Bot(peer, username="visitor8", password=None, channel_password="wrong-one")
    bots.append(bot)
    bot.start()
    await bot.seen(lambda e: e.name == events.ERROR)
    assert isinstance(bot.conn.stopped_for, ChannelPasswordError)
    right = Bot(peer, username="labuser", channel_password="right-one")  # rank 1: no bypass
    bots.append(right)
    right.start()
    await right.ready()


@pytest_twisted.ensureDeferred
async def test_heartbeat_keeps_a_quiet_session_alive(bots: list[Bot]) -> None:
    peer = await started_peer(ping_interval=0.2, ping_timeout=0.5)
    try:
        bot = Bot(peer)
        bots.append(bot)
        bot.start()
        await bot.ready()
        session = bot.conn.session
        assert session is not None
        received = session.frames_in
        await eventually(lambda: session.frames_in >= received + 5)  # five server pings
        assert bot.conn.session is session
        assert bot.conn.ready
        assert not bot.named(events.DISCONNECTED)
    finally:
        await bot.conn.stopService()
        peer.stop()


@pytest_twisted.ensureDeferred
async def test_a_second_login_as_the_bot_kicks_the_first_which_stops(
    peer: CyTubePeer, bots: list[Bot]
) -> None:
    first, second = Bot(peer), Bot(peer)
    bots.extend([first, second])
    first.start()
    await first.ready()
    second.start()
    await second.ready()
    await first.count(events.KICKED, 1)
    assert isinstance(first.conn.stopped_for, Kicked)
    assert first.conn.stopped_for.reason == "Duplicate login"
    await peer.when(lambda p: p.connections == 1)
    assert second.conn.ready
    assert second.conn.stopped_for is None


@pytest_twisted.ensureDeferred
async def test_invalid_channel_name_stops_at_the_socketconfig(peer: CyTubePeer) -> None:
    from twisted.internet import reactor

    conn = CyTubeConnection(peer.site, "no such/channel", reactor=reactor, reconnect=FAST)
    seen: list[Event] = []
    conn.subscribe(seen.append)
    conn.startService()
    try:
        await eventually(lambda: conn.stopped_for is not None)
        assert isinstance(conn.stopped_for, NoSuchChannel)
        assert str(conn.stopped_for) == 'Channel "no such/channel" does not exist.'
        assert seen[-1].name == events.ERROR
        assert peer.connects == 0
    finally:
        await conn.stopService()


@pytest_twisted.ensureDeferred
async def test_after_a_server_restart_refused_connects_are_retried_in_short_steps(
    peer: CyTubePeer, bots: list[Bot]
) -> None:
    """The server down: each refused connect is retried after one more short step (here
    0.05 s, 0.1 s, …, at most 0.2 s), not after a doubling backoff, so rosey is back as soon
    as the server listens again. (The old doubling waited 3.2 s after the 4th refusal.)"""
    from twisted.internet import reactor

    policy = ReconnectPolicy(
        initial_delay=0.2,
        factor=2.0,
        max_delay=10.0,
        jitter=0.0,
        budget_burst=100,
        budget_interval=0.1,
        refused_step=0.05,
        refused_max_delay=0.2,
    )
    bot = Bot(peer, reconnect=policy)
    bots.append(bot)
    bot.start()
    await bot.ready()
    peer.crash()
    await bot.count(events.CONNECT_FAILED, 4, timeout=10)
    assert all("refused" in e.platform_data["error"] for e in bot.named(events.CONNECT_FAILED))
    peer.resume()
    resumed = reactor.seconds()
    await bot.count(events.READY, 2, timeout=10)
    assert reactor.seconds() - resumed < 1.5
    assert bot.conn.reconnector.budget.tokens > 95  # the refused connects spent nothing

"""The whole bot against a real socket.io server playing a CyTube 3.86 channel.

A real :class:`~rosey.wire.connection.CyTubeConnection` (treq, Autobahn, the session, the join
flow) feeds a :class:`~rosey.bot.service.Bot` on the real reactor; :class:`CyTubePeer` serves the
channel on 127.0.0.1 from its own thread and enforces CyTube's limits (chat: burst 20 then
10/s, answered with ``cooldown``). Every wait is on a Deferred with a bound.

The flood test sends 60 lines with the Bot's default pacing: the burst of 20, then one line
per 100 ms + the queue's 25 ms margin after the one before *left*, about 5 s, and requires
that the peer never answers ``cooldown``. The long case (1,000 lines, on a reactor whose turns
run late) is proven against CyTube's exact limiter with a clock in tests/bot/test_sendqueue.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from itertools import pairwise
from typing import Any, TypeVar

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred, gatherResults

from rosey import events
from rosey.api_impl import run_plugin
from rosey.bot.actions import PollRejected, QueueFailed, TargetNotFound
from rosey.bot.sendqueue import PMFailed
from rosey.bot.service import Bot
from rosey.errors import ChannelPermissionError
from rosey.events import Event
from rosey.plugins.core import core
from rosey.wire.connection import CyTubeConnection
from rosey.wire.retry import ReconnectPolicy
from tests.peers.channel import Channel
from tests.peers.cytube import CyTubePeer, lab_accounts
from tests.waiting import eventually

T = TypeVar("T")

PASSWORD = "lab-password"
FAST = ReconnectPolicy(
    initial_delay=0.2, max_delay=0.5, jitter=0.0, budget_burst=100, budget_interval=0.1
)
MOTD = "Lab MOTD <b>bold</b>"
MEDIA: dict[str, dict[str, Any]] = {
    "dQw4w9WgXcQ": {"title": "first video", "seconds": 212},
    "9bZkp7q19f0": {"title": "second video", "seconds": 253},
    "gone0000000": {"error": "Video not found"},
}


class LiveBot:
    """A Bot on a real CyTubeConnection to ``peer``, with every event it saw."""

    def __init__(self, peer: CyTubePeer, **kwargs: Any) -> None:
        from twisted.internet import reactor

        self.reactor = reactor
        self.conn = CyTubeConnection(
            peer.site,
            "labchan",
            username=kwargs.pop("username", "labbot"),
            password=kwargs.pop("password", PASSWORD),
            reconnect=FAST,
            reactor=reactor,
        )
        self.bot = Bot(self.conn, clock=reactor, **kwargs)
        run_plugin(self.bot, core)
        self.events: list[Event] = []
        self.bot.on("*", self.events.append)

    async def start(self, timeout: float = 5.0) -> LiveBot:
        """Start the bot, then the connection; returns once joined."""
        self.bot.startService()
        self.conn.startService()
        await self.conn.when_ready().addTimeout(timeout, self.reactor)
        return self

    async def stop(self) -> None:
        stopped = self.bot.stopService()
        if stopped is not None:
            await stopped
        await self.conn.stopService()

    def bound(self, d: Deferred[T], timeout: float = 5.0) -> Deferred[T]:
        return d.addTimeout(timeout, self.reactor)

    def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> Deferred[None]:
        return eventually(predicate, timeout)

    async def round_trip(self, text: str) -> None:
        """Say ``text`` and wait for its echo: whatever the bot sent before has arrived."""
        await self.bound(self.bot.say(text))


def peer_state(peer: CyTubePeer, read: Callable[[Channel], T]) -> T:
    """Read the peer's channel state on the peer's own thread (its loop owns it)."""

    async def go() -> T:
        return read(peer._chan)

    return peer._call(go())


def peer_playlist(peer: CyTubePeer) -> tuple[list[tuple[int, str, str, bool]], int | None]:
    """The peer's playlist as ``(uid, media id, queued by, temp)`` and its current uid."""

    def read(chan: Channel) -> tuple[list[tuple[int, str, str, bool]], int | None]:
        items = [(i.uid, i.media["id"], i.queueby, i.temp) for i in chan.playlist.items]
        current = chan.playlist.current
        return items, None if current is None else current.uid

    return peer_state(peer, read)


def mirror_playlist(live: LiveBot) -> tuple[list[tuple[int, str, str, bool]], int | None]:
    playlist = live.bot.mirror.playlist
    items = [(i.uid, i.media.id, i.queueby, i.temp) for i in playlist.items]
    return items, playlist.current_uid


def peer_ranks(peer: CyTubePeer) -> dict[str, float | None]:
    return {name: peer.rank_of(name) for name in peer.users}


def mirror_ranks(live: LiveBot) -> dict[str, float]:
    return {u.name: u.rank for u in live.bot.mirror.users}


def chat_from(peer: CyTubePeer, name: str) -> list[str]:
    return [r.data["msg"] for r in peer.events("chatMsg", name)]


@pytest_twisted.async_yield_fixture()
async def peer() -> AsyncIterator[CyTubePeer]:
    p = CyTubePeer(
        "labchan",
        accounts=lab_accounts(PASSWORD),
        connect_capacity=100,
        motd=MOTD,
        media=MEDIA,
    ).start()
    yield p
    p.stop()


@pytest_twisted.async_yield_fixture()
async def bots() -> AsyncIterator[list[LiveBot]]:
    made: list[LiveBot] = []
    yield made
    for live in made:
        await live.stop()


async def joined(peer: CyTubePeer, bots: list[LiveBot], **kwargs: Any) -> LiveBot:
    live = LiveBot(peer, **kwargs)
    bots.append(live)
    return await live.start()


# -- the mirror ----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_the_mirror_matches_the_peers_channel(peer: CyTubePeer, bots: list[LiveBot]) -> None:
    peer.add_virtual_user("labuser", 1)
    peer.add_virtual_user("labmod", 2)
    live = await joined(peer, bots)
    mirror = live.bot.mirror
    assert mirror.name == "labbot"
    assert mirror.rank == 3
    assert not mirror.guest
    assert mirror.channel.motd == MOTD
    assert mirror_ranks(live) == peer_ranks(peer) == {"labuser": 1, "labmod": 2, "labbot": 3}
    assert mirror.playlist.locked is True
    assert len(mirror.playlist) == 0

    peer.add_virtual_user("visitor1", 0)
    peer.set_rank("labuser", 2)
    peer.remove_virtual_user("labmod")
    await live.until(lambda: mirror_ranks(live) == {"labuser": 2, "visitor1": 0, "labbot": 3})
    assert mirror_ranks(live) == peer_ranks(peer)

    first = await live.bound(live.bot.actions.queue(("yt", "dQw4w9WgXcQ")))
    second = await live.bound(live.bot.actions.queue("https://youtu.be/9bZkp7q19f0"))
    assert first != second
    assert [i.media.title for i in mirror.playlist.items] == ["first video", "second video"]
    await live.until(lambda: mirror.playlist.current_uid == first)  # the first item plays
    assert mirror_playlist(live) == peer_playlist(peer)
    assert mirror_playlist(live)[0] == [
        (first, "dQw4w9WgXcQ", "labbot", False),
        (second, "9bZkp7q19f0", "labbot", False),
    ]

    await live.bound(live.bot.actions.delete(first))
    await live.until(lambda: mirror.playlist.current_uid == second)  # deleting it plays the next
    assert (
        mirror_playlist(live)
        == peer_playlist(peer)
        == ([(second, "9bZkp7q19f0", "labbot", False)], second)
    )
    assert mirror.playlist.total_seconds == 253
    assert peer.kicks == 0


# -- commands ------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_ping_from_a_user_is_answered_once_and_history_is_not(
    peer: CyTubePeer, bots: list[LiveBot]
) -> None:
    peer.add_virtual_user("labuser", 1)
    peer.add_virtual_user("labmod", 2)
    peer.chat("labmod", "!ping")  # before the bot joins: replayed in its join burst
    live = await joined(peer, bots)
    replayed = [e for e in live.events if e.name == events.MESSAGE and e.replayed]
    assert [e.content for e in replayed] == ["!ping"]

    peer.chat("labuser", "!ping")
    await peer.when(lambda p: "pong" in chat_from(p, "labbot"))
    await live.until(lambda: live.bot.queue.in_flight == 0)  # the echo confirmed the reply
    peer.chat("labuser", "!help")
    await peer.when(lambda p: len(chat_from(p, "labbot")) == 2)
    await live.round_trip("sync")
    pong, listing, _ = chat_from(peer, "labbot")
    assert pong == "pong"  # once: the replayed !ping (it would have gone first) never ran
    for name in ("about", "flip", "help", "ping", "roll"):
        assert f"!{name}" in listing
    assert peer.cooldowns_sent == 0
    assert peer.kicks == 0


# -- actions: success and failure ----------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_actions_succeed_and_fail_as_the_server_decides(
    peer: CyTubePeer, bots: list[LiveBot]
) -> None:
    peer.add_virtual_user("labuser", 1)
    live = await joined(peer, bots)
    actions = live.bot.actions

    uid = await live.bound(actions.queue(("yt", "dQw4w9WgXcQ")))
    with pytest.raises(QueueFailed) as dup:
        await live.bound(actions.queue(("yt", "dQw4w9WgXcQ")))
    assert dup.value.server_message == "This item is already on the playlist"
    with pytest.raises(QueueFailed) as lookup:
        await live.bound(actions.queue(("yt", "gone0000000")))
    assert lookup.value.server_message == "Video not found"
    await live.bound(actions.set_temp(uid, True))
    assert live.bot.mirror.playlist.item(uid).temp is True  # type: ignore[union-attr]

    await live.bound(actions.new_poll("lunch?", ["yes", "no"]))  # the ack came, no error
    (sent,) = peer.events("newPoll", "labbot")
    assert sent.ack
    assert sent.data["title"] == "lunch?"
    await live.until(lambda: live.bot.mirror.channel.poll is not None)
    assert live.bot.mirror.channel.poll.options == ("yes", "no")  # type: ignore[union-attr]
    with pytest.raises(PollRejected, match="255 characters"):
        await live.bound(actions.new_poll("x" * 300, ["a"]))

    motd = await live.bound(actions.set_motd("<b>hi</b><script>alert(1)</script>"))
    assert motd == "<b>hi</b>" == live.bot.mirror.channel.motd
    assert peer_state(peer, lambda chan: chan.admin.motd) == "<b>hi</b>"

    await live.bound(actions.chat("hello <all>"))
    await live.bound(actions.pm("labuser", "psst"))
    assert [r.data["msg"] for r in peer.events("pm", "labbot")] == ["psst"]
    with pytest.raises(TargetNotFound):  # the mirror knows nobody is here: not sent
        await live.bound(actions.pm("nobody", "hello?"))
    with pytest.raises(PMFailed, match="isn't connected"):  # the queue sends; the server refuses
        await live.bound(live.bot.pm("nobody", "hello?"))

    # Demoted below motdedit: refused locally. Sent, it would get the bot kicked.
    peer.set_rank("labbot", 2)
    await live.until(lambda: live.bot.mirror.rank == 2)
    with pytest.raises(ChannelPermissionError):
        await live.bound(actions.set_motd("not allowed"))
    await live.round_trip("after the refusal")  # anything sent before it has arrived
    assert len(peer.events("setMotd", "labbot")) == 1
    assert peer.kicks == 0
    assert live.conn.ready


# -- the send queue never floods -----------------------------------------------------------------


async def flood(peer: CyTubePeer, bots: list[LiveBot], count: int, bound: float) -> None:
    """``count`` lines asked for in one loop: all delivered, in order, never throttled.

    "Never throttled" is what the send queue promises: it paces from the time each line left,
    and tolerates ``margin`` of variation in how long lines take to reach the server's limiter.
    The pacing is checked in the queue's clock, and ``cooldown == 0`` is required; a failure
    reports how much closer together than they were written the lines reached the peer.
    """
    live = await joined(peer, bots)
    margin = live.bot.queue.margin
    sent_at: list[float] = []  # time.monotonic() of every chatMsg written, re-sends included
    emit = live.conn.emit

    def timed_emit(event: str, data: Any = None) -> None:
        if event == "chatMsg":
            sent_at.append(time.monotonic())
        emit(event, data)

    live.conn.emit = timed_emit  # type: ignore[method-assign]
    model = live.bot.queue._chat.model  # the queue's own clock: the times it decided to send
    decided_at: list[float] = []
    record = model.record

    def timed_record(now: float, params: Any) -> None:
        decided_at.append(now)
        record(now, params)

    model.record = timed_record  # type: ignore[method-assign]
    texts = [f"flood line {i:04d} of {count}" for i in range(count)]
    started = live.reactor.seconds()
    sent = [live.bot.say(text) for text in texts]
    results = await live.bound(gatherResults(sent, consumeErrors=True), bound)
    took = live.reactor.seconds() - started
    assert results == [None] * count  # every Deferred fired with success
    await peer.when(lambda p: p.chat_delivered >= count)
    echoes = [e.content for e in live.events if e.name == events.MESSAGE and e.user == "labbot"]
    assert echoes == texts  # what the server broadcast: each line once, in order
    assert peer.chat_delivered == count
    assert len(chat_from(peer, "labbot")) == len(sent_at) == count + peer.cooldowns_sent
    # The pacing, exactly in the queue's clock: the burst of 20, then each line 100 ms + margin
    # after the one before. Where the lines were written (sent_at) the same holds up to the
    # machine's scheduling jitter between the decision and the write, which the margin absorbs.
    decided = [b - a for a, b in pairwise(decided_at)]
    assert len(decided_at) == len(sent_at)
    assert max(decided[:19]) < 0.05
    assert min(decided[19:]) >= 0.1 + margin - 1e-6
    gaps = [b - a for a, b in pairwise(sent_at)]
    assert max(gaps[:19]) < 0.05
    assert min(gaps[19:]) >= 0.1 + margin / 2
    assert took >= (count - 20) * (0.1 + margin) - 0.1  # the server's own pace, no shortcut
    _, report = arrival_squeeze(peer, sent_at, margin)
    assert peer.cooldowns_sent == 0, report
    assert peer.kicks == 0
    assert live.conn.ready
    assert not [e for e in live.events if e.name == events.KICKED]
    assert live.bot.queue.pending == 0
    assert live.bot.queue.in_flight == 0


def arrival_squeeze(peer: CyTubePeer, sent_at: list[float], margin: float) -> tuple[float, str]:
    """How much closer together than they were sent two consecutive lines reached the peer's
    limiter (seconds), and a report of it."""
    received = peer.events("chatMsg", "labbot")  # in order on one connection, like sent_at
    lags = [r.time - s for r, s in zip(received, sent_at, strict=True)]
    squeeze = max((a - b for a, b in pairwise(lags)), default=0.0)
    report = (
        f"{peer.cooldowns_sent} cooldown(s) in {len(sent_at)} lines sent; consecutive lines "
        f"reached the peer's limiter up to {squeeze * 1000:.1f} ms closer together than they "
        f"were sent (the queue's margin: {margin * 1000:g} ms); slowest arrival "
        f"{max(lags, default=0.0) * 1000:.1f} ms"
    )
    return squeeze, report


@pytest_twisted.ensureDeferred
async def test_60_lines_at_once_are_all_delivered_without_a_cooldown(
    peer: CyTubePeer, bots: list[LiveBot]
) -> None:
    await flood(peer, bots, 60, bound=30)

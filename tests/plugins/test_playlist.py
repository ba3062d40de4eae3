"""The **playlist** plugin on the fake connection and a real SQLite file.

The bot harness is ``tests/plugins/test_core_stats.py``'s (real Bot, Recorder and migrated
SQLite storage, a ``task.Clock``), with a server that also answers the playlist requests the way
CyTube 3.86 does (``delete`` → ``delete {uid}``, ``playNext`` → ``setCurrent`` +
``changeMedia``, ``queue`` → ``queue {item, after}``), using the payload shapes of
``tests/fixtures/playlist_ops.jsonl``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import task
from twisted.internet.defer import maybeDeferred
from twisted.logger import capturedLogs, formatEvent

from rosey.api_impl import PluginAPI
from rosey.bot.service import Bot
from rosey.plugin import PluginConfigError
from rosey.plugins.core_stats import stats_commands
from rosey.plugins.core_tell import TellDelivery
from rosey.plugins.playlist import PlaylistPlugin, playlist
from rosey.plugins.playlist_rules import refill_candidates, skip_threshold
from rosey.storage.recorder import Recorder
from rosey.storage.rows import MediaPlay
from rosey.storage.service import open_storage
from rosey.wire.normalize import Normalizer
from tests.plugins.test_core_stats import CH, ME, T0, Lab, Server, _reactor, bounded

BASE = "http://127.0.0.1:8090/"
CATALOGUE = {
    "test1.json": ("Lab Test Video One", 30),
    "test2.json": ("Lab Test Video Two", 45),
    "test3.json": ("Lab Test Video Three", 60),
    "short.json": ("Lab Short Clip", 8),
    "long.json": ("Lab Long Video", 3600),
}


def media(name: str) -> dict[str, Any]:
    """A ``cm`` media object as the server sends it."""
    title, seconds = CATALOGUE[name]
    return {
        "id": BASE + name,
        "title": title,
        "seconds": seconds,
        "duration": f"{seconds // 60:02d}:{seconds % 60:02d}",
        "type": "cm",
        "meta": {"direct": {"720": [{"link": "https://media.example.invalid/x.mp4"}]}},
    }


class PlaylistServer(Server):
    """:class:`Server` that also answers ``delete``, ``playNext`` and ``queue`` like CyTube."""

    lab: PlaylistLab

    def emit(self, event: str, data: Any = None) -> None:
        if isinstance(data, dict) and event in ("chatMsg", "pm"):
            super().emit(event, data)
            return
        self.sent.append((event, data))
        later = _reactor().callLater
        if event == "delete" and isinstance(data, int):
            later(0, self.lab.server, "delete", {"uid": data})
        elif event == "playNext":
            later(0, self.lab.play_next)
        elif event == "queue" and isinstance(data, dict):
            name = str(data["id"]).removeprefix(BASE)
            later(0, self.lab.add, name, ME)


class PlaylistLab(Lab):
    """A bot with the playlist plugin on :class:`PlaylistServer`."""

    def __init__(self, url: str, config: dict[str, Any] | None = None) -> None:
        self.url = url
        self.clock = task.Clock()
        self.clock.advance(T0)
        self.conn = PlaylistServer(self)
        self.storage = open_storage(url, _reactor())
        self.bot = Bot(self.conn, clock=self.clock, storage=self.storage, storage_key=CH)
        self.api = PluginAPI(self.bot, "core")
        self.tells = TellDelivery(self.api)
        self.bot.add_command(*stats_commands(self.api, self.tells))
        self.recorder = Recorder(
            self.storage,
            self.bot,
            view=self.bot.mirror,
            clock=self.clock,
            channel=CH,
            snapshot_interval=0,
        )
        self.normalizer = Normalizer()
        plugin = playlist.create(
            PluginAPI(self.bot, playlist.name, playlist.parse_config(config or {}))
        )
        assert isinstance(plugin, PlaylistPlugin)
        self.plugin = plugin
        self.next_uid = 0

    async def begin(self, rank: float = 3) -> PlaylistLab:
        await self.start(users=("alice", "mod", "bob", "carol"), rank=rank)
        self.server("playlist", [])
        await bounded(maybeDeferred(self.plugin.start))
        return self

    async def end(self) -> None:
        await bounded(self.plugin.idle())
        self.plugin.stop()
        await self.stop()

    def add(self, name: str, by: str) -> int:
        """``by`` queued ``name`` at the end; returns its uid."""
        uid, self.next_uid = self.next_uid, self.next_uid + 1
        items = self.bot.mirror.playlist.uids
        after: Any = items[-1] if items else "prepend"
        item = {"media": media(name), "uid": uid, "temp": True, "queueby": by}
        self.server("queue", {"item": item, "after": after})
        return uid

    def play(self, uid: int, at: float = -3) -> None:
        item = self.bot.mirror.playlist.item(uid)
        assert item is not None
        self.server("setCurrent", uid)
        name = item.media.id.removeprefix(BASE)
        self.server("changeMedia", {**media(name), "currentTime": at, "paused": at < 0})

    def play_next(self) -> None:
        uids = self.bot.mirror.playlist.uids
        current = self.bot.mirror.playlist.current_uid
        index = uids.index(current) if current in uids else -1
        self.play(uids[(index + 1) % len(uids)])

    def deleted(self) -> list[int]:
        return [d for e, d in self.conn.sent if e == "delete"]

    async def settle(self, until: Callable[[], bool] | None = None) -> None:
        """Let the reactor and the bot's clock run until ``until()`` (or everything is idle)."""
        from twisted.internet.task import deferLater

        for _ in range(300):  # at most ~3 s: storage answers from the reactor's thread pool
            if until is not None and until():
                return
            self.clock.advance(1)
            await deferLater(_reactor(), 0.01, lambda: None)
            if until is None and not self.plugin._pending:
                return
        if until is not None:
            raise AssertionError("the condition never became true")


async def make(db_url: str, config: dict[str, Any] | None = None, rank: float = 3) -> PlaylistLab:
    return await PlaylistLab(db_url, config).begin(rank)


# -- settings and pure rules ----------------------------------------------------------------------


def test_config_defaults_and_errors() -> None:
    cfg = playlist.parse_config({})
    assert (cfg.max_items_per_user, cfg.skip_min_votes, cfg.refill) == (0, 3, False)
    assert playlist.default_enabled is False
    bad: list[tuple[dict[str, Any], str]] = [
        ({"max_items_per_user": -1}, "max_items_per_user"),
        ({"skip_ratio": 1.5}, "skip_ratio"),
        ({"blacklist_rank": 1}, "blacklist_rank"),
        ({"refill": "yes"}, "refill"),
        ({"max_item_per_user": 3}, "max_item_per_user"),
    ]
    for raw, key in bad:
        with pytest.raises(PluginConfigError, match=rf"plugins\.playlist\.{key}"):
            playlist.parse_config(raw)


def test_skip_threshold_and_refill_candidates() -> None:
    assert skip_threshold(3, 0.5, 2) == 3
    assert skip_threshold(1, 0.5, 5) == 3
    assert skip_threshold(1, 0.0, 0) == 1

    def play(mid: str, at: float) -> MediaPlay:
        return MediaPlay(0, CH, at, "cm", mid, mid, 30, "alice")

    hours = 3600.0
    history = [play("a", 0), play("b", 9 * hours), play("a", 2 * hours), play("c", 0)]
    picks = refill_candidates(history, 10 * hours, 9 * hours, {"cm:c"})
    assert [p.media_id for p in picks] == []  # a played 8 h ago, b 1 h ago, c is blacklisted
    picks = refill_candidates(history, 20 * hours, 9 * hours, {"cm:c"})
    assert [p.media_id for p in picks] == ["a", "b"]


# -- per-user limits ------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_item_limit_removes_the_extra_item_and_pms_why(db_url: str) -> None:
    lab = await make(db_url, {"max_items_per_user": 2})
    try:
        lab.add("test1.json", "alice")
        lab.add("test2.json", "alice")
        assert lab.deleted() == []
        extra = lab.add("test3.json", "alice")
        await lab.settle(lambda: bool(lab.pms("alice")))
        assert lab.deleted() == [extra]
        assert lab.bot.mirror.playlist.uids == (0, 1)
        assert lab.pms("alice") == [
            "I removed Lab Test Video Three from the playlist:"
            " you may have at most 2 items in the queue."
        ]
        # a moderator (rank 2) and the bot itself are never limited
        for name in ("test1.json", "test2.json", "test3.json"):
            lab.add(name, "mod")
            lab.add(name, ME)
        await lab.settle()
        assert lab.deleted() == [extra]
    finally:
        await lab.end()


@pytest_twisted.ensureDeferred
async def test_duration_limit_counts_the_users_total(db_url: str) -> None:
    lab = await make(db_url, {"max_seconds_per_user": 60})
    try:
        lab.add("test2.json", "bob")  # 45 s
        lab.add("short.json", "alice")  # other users' items don't count for bob
        lab.add("short.json", "bob")  # 53 s
        over = lab.add("test1.json", "bob")  # 83 s
        await lab.settle(lambda: bool(lab.pms("bob")))
        assert lab.deleted() == [over]
        assert lab.pms("bob") == [
            "I removed Lab Test Video One from the playlist:"
            " your items may last at most 1:00 in all (they would last 1:23)."
        ]
    finally:
        await lab.end()


@pytest_twisted.ensureDeferred
async def test_without_the_rank_nothing_is_removed_and_it_is_logged_once(db_url: str) -> None:
    lab = await make(db_url, {"max_items_per_user": 1}, rank=1)
    try:
        with capturedLogs() as logs:
            lab.add("test1.json", "alice")
            lab.add("test2.json", "alice")
            lab.add("test3.json", "alice")
            await lab.settle()
        assert lab.deleted() == []
        assert lab.pms("alice") == []
        warned = [formatEvent(e) for e in logs if "playlistdelete" in formatEvent(e)]
        assert len(warned) == 1
    finally:
        await lab.end()


# -- !skip -----------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_skip_vote_ignores_afk_users_and_the_bot(db_url: str) -> None:
    lab = await make(db_url, {"skip_min_votes": 1, "skip_ratio": 1.0})
    try:
        assert await lab.ask("alice", "!skip") == "Nothing is playing."
        first = lab.add("test1.json", "mod")
        lab.add("test2.json", "mod")
        lab.play(first)
        lab.server("setAFK", {"name": "carol", "afk": True})
        # eligible: alice, mod, bob (carol is AFK, the bot never counts): 3 votes needed
        assert await lab.ask("alice", "!skip") == "Skip vote 1/3 for Lab Test Video One."
        assert await lab.ask("alice", "!skip") == "alice: you already voted to skip this."
        assert await lab.ask("carol", "!skip") == "Skip vote 1/3 for Lab Test Video One."
        assert await lab.ask("bob", "!skip") == "Skip vote 2/3 for Lab Test Video One."
        assert [e for e, _ in lab.conn.sent if e == "playNext"] == []
        assert await lab.ask("mod", "!skip") == (
            "Skip vote passed (3/3): skipping Lab Test Video One."
        )
        await lab.settle()
        assert [e for e, _ in lab.conn.sent if e == "playNext"] == ["playNext"]
        assert lab.bot.mirror.playlist.current_uid == 1
        # a new item: the votes start again
        assert await lab.ask("alice", "!skip") == "Skip vote 1/3 for Lab Test Video Two."
    finally:
        await lab.end()


@pytest_twisted.ensureDeferred
async def test_skip_vote_passes_but_the_bot_lacks_the_rank(db_url: str) -> None:
    lab = await make(db_url, {"skip_min_votes": 1, "skip_ratio": 0.0}, rank=1)
    try:
        lab.play(lab.add("test1.json", "mod"))
        reply = await lab.ask("alice", "!skip")
        assert reply == "The skip vote passed, but I lack the rank to skip."
        assert [e for e, _ in lab.conn.sent if e == "playNext"] == []
    finally:
        await lab.end()


# -- !np, !history ---------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_np_and_history(db_url: str) -> None:
    lab = await make(db_url)
    try:
        assert await lab.ask("alice", "!np") == "Nothing is playing."
        lab.play(lab.add("test1.json", "alice"), at=10)
        assert await lab.ask("bob", "!np") == (
            "Now playing: Lab Test Video One (0:20 left of 0:30, queued by alice)"
        )
        assert await lab.ask("bob", "!history") == "Nothing has played yet."
        for i, name in enumerate(("test2.json", "test3.json", "long.json")):
            title, seconds = CATALOGUE[name]
            await bounded(
                lab.storage.log_media(CH, "cm", BASE + name, title, seconds, "bob", T0 - 100 + i)
            )
        await lab.flush()  # the recorder logged the changeMedia above, too
        assert await lab.ask("bob", "!history 2") == (
            "Last played: Lab Test Video One; Lab Long Video"
        )
        assert await lab.ask("bob", "!history 99") == (
            "Last played: Lab Test Video One; Lab Long Video; Lab Test Video Three;"
            " Lab Test Video Two"
        )
        assert (await lab.ask("bob", "!history x")).startswith("Usage: !history")
    finally:
        await lab.end()


# -- !blacklist and rank refusals ------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_blacklist_removes_others_items_and_needs_rank_2(db_url: str) -> None:
    lab = await make(db_url)
    try:
        lab.play(lab.add("test1.json", "mod"))
        refused = await lab.ask("alice", "!blacklist add current")
        assert "blacklist" in refused
        assert "Blacklisted" not in refused
        assert await lab.storage.kv_get(CH, "playlist", "blacklist") is None
        assert await lab.ask("mod", "!blacklist add current") == ("Blacklisted: Lab Test Video One")
        stored = await bounded(lab.storage.kv_get(CH, "playlist", "blacklist"))
        assert json.loads(stored) == {f"cm:{BASE}test1.json": "Lab Test Video One"}
        assert lab.deleted() == []  # the bot does not touch a moderator's item

        again = lab.add("test1.json", "alice")
        await lab.settle(lambda: bool(lab.pms("alice")))
        assert lab.deleted() == [again]
        assert lab.pms("alice")[-1].endswith("it is blacklisted in this channel.")

        reply = await lab.ask("mod", f"!blacklist del {BASE}test1.json")
        assert reply.startswith("Removed from the blacklist")
        assert await lab.ask("mod", "!blacklist list") == "The blacklist is empty."
        lab.add("test1.json", "alice")
        await lab.settle()
        assert lab.deleted() == [again]
        assert await lab.ask("mod", "!blacklist add not a link") == "That is not a media link."
    finally:
        await lab.end()


@pytest_twisted.ensureDeferred
async def test_a_rank_0_user_cannot_make_the_bot_act_on_others_items(db_url: str) -> None:
    lab = await make(db_url, {"max_items_per_user": 1})
    try:
        lab.join("dave", rank=0)
        first = lab.add("test1.json", "mod")
        lab.add("test2.json", "alice")
        lab.play(first)
        for line in ("!blacklist add current", f"!blacklist del {BASE}test2.json"):
            reply = await lab.ask("dave", line)
            assert not reply.startswith(("Blacklisted", "Removed"))
        assert await lab.ask("dave", "!skip") == "Skip vote 1/3 for Lab Test Video One."
        # dave's own over-limit item is the only one the bot removes
        lab.add("test3.json", "dave")
        own = lab.add("short.json", "dave")
        await lab.settle(lambda: bool(lab.pms("dave")))
        assert lab.deleted() == [own]
        assert [e for e, _ in lab.conn.sent if e in ("playNext", "jumpTo", "moveMedia")] == []
        assert await lab.storage.kv_get(CH, "playlist", "blacklist") is None
    finally:
        await lab.end()


@pytest_twisted.ensureDeferred
async def test_blacklist_survives_a_restart(db_url: str) -> None:
    lab = await make(db_url)
    try:
        await lab.ask("mod", f"!blacklist add {BASE}long.json")
    finally:
        await lab.end()
    lab = await make(db_url)
    try:
        uid = lab.add("long.json", "bob")
        await lab.settle(lambda: bool(lab.deleted()))
        assert lab.deleted() == [uid]
    finally:
        await lab.end()


# -- auto-refill -----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_refill_queues_old_history_but_not_recent_or_blacklisted(db_url: str) -> None:
    lab = await make(db_url, {"refill": True, "refill_not_played_hours": 6, "refill_items": 5})
    try:
        hours = 3600.0
        plays = [
            ("test1.json", T0 - 10 * hours),  # old enough
            ("test2.json", T0 - 1 * hours),  # played an hour ago
            ("test3.json", T0 - 20 * hours),  # old but blacklisted
            ("short.json", T0 - 7 * hours),  # old enough
        ]
        for name, at in plays:
            title, seconds = CATALOGUE[name]
            await bounded(lab.storage.log_media(CH, "cm", BASE + name, title, seconds, "bob", at))
        await lab.ask("mod", f"!blacklist add {BASE}test3.json")

        last = lab.add("test2.json", "alice")
        lab.server("delete", {"uid": last})  # the playlist runs empty
        await lab.settle(lambda: len(lab.bot.mirror.playlist) == 2)
        await lab.settle()
        queued = sorted(d["id"] for e, d in lab.conn.sent if e == "queue")
        assert queued == [BASE + "short.json", BASE + "test1.json"]
        assert {i.queueby for i in lab.bot.mirror.playlist.items} == {ME}
    finally:
        await lab.end()


@pytest_twisted.ensureDeferred
async def test_stop_leaves_nothing_behind(db_url: str) -> None:
    lab = await make(db_url)
    try:
        lab.plugin.stop()
        for name in ("skip", "np", "history", "blacklist"):
            assert lab.bot.commands.get(name) is None
        lab.add("test1.json", "alice")
    finally:
        await lab.stop()


# -- live: the real connection against the socket.io CyTube peer ----------------------------------


@pytest_twisted.ensureDeferred
async def test_live_skip_vote_makes_the_peer_play_the_next_item() -> None:
    from tests.bot.test_service_live import MEDIA, PASSWORD, LiveBot, peer_playlist
    from tests.peers.cytube import CyTubePeer, lab_accounts

    peer = CyTubePeer("labchan", accounts=lab_accounts(PASSWORD), media=MEDIA).start()
    live: LiveBot | None = None
    try:
        peer.queue_media("dQw4w9WgXcQ")
        peer.queue_media("9bZkp7q19f0")
        for name in ("alice", "bob", "carol"):
            peer.add_virtual_user(name, 1)
        live = await LiveBot(peer).start()
        plugin = playlist.create(
            PluginAPI(
                live.bot,
                playlist.name,
                playlist.parse_config({"skip_min_votes": 2, "skip_ratio": 0.5}),
            )
        )
        await live.bound(maybeDeferred(plugin.start))
        await live.until(lambda: live is not None and len(live.bot.mirror.playlist) == 2)
        first = live.bot.mirror.playlist.current_uid
        assert first is not None
        peer.emit("setAFK", {"name": "carol", "afk": True})
        users = live.bot.mirror.users
        await live.until(lambda: getattr(users.get("carol"), "afk", False))

        # eligible: alice and bob (carol is AFK, the bot never counts): 2 votes needed
        for name in ("alice", "carol"):
            peer.chat(name, "!skip")
        await live.round_trip("after the first votes")
        assert peer.events("playNext") == []
        assert peer_playlist(peer)[1] == first
        peer.chat("bob", "!skip")
        await live.until(lambda: peer_playlist(peer)[1] not in (None, first))
        assert [r.user for r in peer.events("playNext")] == ["labbot"]
        plugin.stop()
    finally:
        if live is not None:
            await live.stop()
        peer.stop()

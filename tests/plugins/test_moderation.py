"""The **moderation** plugin on a FakeConnection that answers moderation like CyTube 3.86, with a
real migrated SQLite storage and a ``task.Clock`` driving spam windows, strikes and expiries.

A "restart" is a new Bot, storage and plugin instance on the same file.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
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
from rosey.plugins.moderation import Moderation, moderation
from rosey.plugins.moderation_config import SpamRules
from rosey.plugins.moderation_spam import SpamDetector, Strikes
from rosey.storage.recorder import Recorder
from rosey.storage.service import open_storage
from rosey.wire.fake import FakeConnection
from rosey.wire.normalize import Normalizer
from tests.plugins.test_core_stats import CH, ME, T0, Lab, Server, _reactor, bounded


class ModServer(Server):
    """:class:`Server` plus CyTube's answers to ``/mute``, ``/unmute``, ``/kick``, ``/ban``,
    ``requestBanlist`` and ``unban``."""

    def __init__(self, lab: Lab) -> None:
        super().__init__(lab)
        self.bans: dict[str, int] = {}
        self._next_id = 1

    def later(self, name: str, data: Any) -> None:
        _reactor().callLater(0, self.lab.server, name, data)

    def emit(self, event: str, data: Any = None) -> None:
        if event in ("requestBanlist", "unban"):
            FakeConnection.emit(self, event, data)
            if event == "requestBanlist":
                bans = [
                    {"id": i, "ip": "*", "name": n, "reason": "", "bannedby": ME}
                    for n, i in self.bans.items()
                ]
                self.later("banlist", bans)
            elif self.bans.get(data["name"]) == data["id"]:
                del self.bans[data["name"]]
                self.later("banlistRemove", data)
            return
        msg = data.get("msg", "") if isinstance(data, dict) else ""
        cmd, _, rest = msg[1:].partition(" ") if event == "chatMsg" else ("", "", "")
        if not msg.startswith("/") or cmd not in ("mute", "smute", "unmute", "kick", "ban"):
            super().emit(event, data)
            return
        FakeConnection.emit(self, event, data)
        target = rest.split(" ")[0]
        if cmd in ("mute", "smute", "unmute"):
            muted, smuted = cmd != "unmute", cmd == "smute"
            meta = {"afk": False, "muted": muted, "smuted": smuted, "aliases": [target]}
            self.later("setUserMeta", {"name": target, "meta": meta})
        elif cmd == "kick":
            self.online.discard(target.casefold())
            self.later("userLeave", {"name": target})
        else:
            self.bans[target.lower()] = self._next_id
            self._next_id += 1
            note = {
                "username": "[server]",
                "msg": f"{ME} namebanned {target.lower()}",
                "meta": {"addClass": "server-whisper"},
                "time": self.lab.ms(),
            }
            self.later("chatMsg", note)
            if target.casefold() in self.online:
                self.online.discard(target.casefold())
                self.later("userLeave", {"name": target})


class ModLab(Lab):
    """A :class:`Lab` whose server answers moderation, with the moderation plugin."""

    conn: ModServer

    def __init__(
        self, url: str, clock: task.Clock | None = None, config: dict[str, Any] | None = None
    ) -> None:
        self.url = url
        self.clock = clock or task.Clock()
        if clock is None:
            self.clock.advance(T0)
        self.conn = ModServer(self)
        self.storage = open_storage(url, _reactor())
        self.bot = Bot(self.conn, clock=self.clock, storage=self.storage, storage_key=CH)
        self.api = PluginAPI(self.bot, "core")
        self.tells = TellDelivery(self.api)
        self.bot.add_command(*stats_commands(self.api, self.tells))
        self.tells.attach()
        self.recorder = Recorder(
            self.storage,
            self.bot,
            view=self.bot.mirror,
            clock=self.clock,
            channel=CH,
            snapshot_interval=0,
        )
        self.normalizer = Normalizer()
        plugin = moderation.create(
            PluginAPI(self.bot, moderation.name, moderation.parse_config(config or {}))
        )
        assert isinstance(plugin, Moderation)
        self.plugin = plugin

    async def begin(self, rank: float = 3) -> ModLab:
        await self.start(("alice", "mod", "bob"), rank=rank)
        await bounded(maybeDeferred(self.plugin.start))
        return self

    async def end(self) -> None:
        await self.settle(2)
        await bounded(maybeDeferred(self.plugin.stop))
        assert self.bot.commands.get("timeout") is None  # stop() leaves nothing behind
        await self.stop()

    async def settle(self, rounds: int = 6) -> None:
        """Let sends, the server's answers and storage writes happen (1 s of clock per round)."""
        from twisted.internet.task import deferLater

        for _ in range(rounds):
            self.clock.advance(1.0)
            await deferLater(_reactor(), 0, lambda: None)
            await bounded(self.plugin.idle())
            await deferLater(_reactor(), 0, lambda: None)

    def commands(self) -> list[str]:
        """The moderation chat commands the bot sent."""
        return [
            m for m in self.said() if m.startswith(("/mute", "/smute", "/unmute", "/kick", "/ban"))
        ]

    async def log(self, name: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        rows = await bounded(self.storage.get_user_actions(CH, name, None, 100))
        return [
            (r.action_type, r.username, json.loads(r.details))
            for r in rows
            if r.action_type.startswith("mod_")
        ][::-1]


LADDER = {"ladder": ["warn", "mute", "kick"], "max_messages": 4, "mute_seconds": 60}


@pytest_twisted.async_yield_fixture()
async def lab(db_url: str) -> AsyncIterator[ModLab]:
    lab = await ModLab(db_url, config=LADDER).begin()
    yield lab
    await lab.end()


# -- config and the pure rules ---------------------------------------------------------------------


def test_config_defaults_and_errors() -> None:
    cfg = moderation.parse_config({})
    assert cfg.ladder == ("warn", "mute", "kick", "ban")
    assert cfg.exempt_rank == 2
    assert moderation.default_enabled is False
    bad: list[tuple[dict[str, Any], str]] = [
        ({"ladder": ["warn", "nuke"]}, "ladder"),
        ({"ladder": []}, "ladder"),
        ({"caps_ratio": 2}, "caps_ratio"),
        ({"max_messages": "5"}, "max_messages"),
        ({"filter_kick": "word"}, "filter_kick"),
        ({"windw": 3}, "windw"),
    ]
    for raw, key in bad:
        with pytest.raises(PluginConfigError, match=rf"plugins\.moderation\.{key}"):
            moderation.parse_config(raw)


def test_each_spam_rule() -> None:
    rules = SpamRules(
        window=10, max_messages=5, max_repeats=2, max_links=2, caps_min_letters=8, max_mentions=2
    )
    d = SpamDetector(rules)
    assert [d.check("a", f"line {i}", 100 + i * 0.1) for i in range(6)][-1] == (
        "flooding (6 messages in 10s)"
    )
    assert d.check("a", "fresh", 200) is None  # the window moved on
    d = SpamDetector(rules)
    assert [d.check("a", "Same  thing", 1) for _ in range(3)] == [
        None,
        None,
        "repeating the same message",
    ]
    d = SpamDetector(rules)
    links = [d.check("a", f"see https://x.example/{i}", i) for i in range(3)]
    assert links == [None, None, "posting too many links"]
    assert d.check("b", "THIS IS ALL SHOUTING", 0) == "excessive caps"
    assert d.check("b", "OK FINE", 1) is None  # too few letters to judge
    names = ["alice", "bob", "carol", "b"]
    assert d.check("b", "alice bob hi", 2, names) is None
    assert d.check("b", "alice bob carol", 3, names) == "mass mentions (3 users)"
    assert d.check("carol", "alice bob carol", 4, names) is None  # naming yourself is not a mention


def test_strikes_decay() -> None:
    s = Strikes(decay=100)
    assert [s.add("A", 0), s.add("a", 50)] == [1, 2]
    assert s.add("a", 120) == 2  # the first one decayed
    assert s.count("a", 300) == 0
    assert s.add("a", 300) == 1


# -- the ladder on the fake server ---------------------------------------------------------------


async def flood(lab: ModLab, who: str, n: int = 5) -> None:
    for i in range(n):
        lab.chat(who, f"spam number {i}")
    await lab.settle()


@pytest_twisted.ensureDeferred
async def test_spammer_is_warned_then_muted_then_kicked_and_unmuted_on_expiry(lab: ModLab) -> None:
    await flood(lab, "alice")
    assert any(m.startswith("alice: please stop (flooding") for m in lab.said())
    assert lab.commands() == []
    await flood(lab, "alice")
    assert lab.commands() == ["/mute alice"]
    alice = lab.bot.mirror.users.get("alice")
    assert alice is not None
    assert alice.muted
    await flood(lab, "alice")
    assert lab.commands() == ["/mute alice", "/kick alice flooding (5 messages in 10s)"]
    assert lab.bot.mirror.users.get("alice") is None
    log = await lab.log("alice")
    assert [a for a, _, _ in log] == ["mod_warn", "mod_mute", "mod_kick"]
    assert log[1][2]["by"] == ME
    assert log[1][2]["until"] == pytest.approx(lab.clock.seconds(), abs=60)
    # alice comes back after the mute ran out: the bot unmutes her
    lab.clock.advance(120)
    lab.join("alice")
    lab.server("setUserMeta", {"name": "alice", "meta": {"afk": False, "muted": True}})
    lab.server("userLeave", {"name": "alice"})
    lab.join("alice")
    await lab.settle()
    assert lab.commands()[-1] == "/unmute alice"
    assert (await lab.log("alice"))[-1][0] == "mod_unmute"


@pytest_twisted.ensureDeferred
async def test_shadow_mute_lets_the_ladder_go_on(db_url: str) -> None:
    config = {"ladder": ["mute", "ban"], "max_messages": 4, "shadow_mute": True, "ban_seconds": 0}
    lab = await ModLab(db_url, config=config).begin()
    try:
        await flood(lab, "bob")
        await flood(lab, "bob")  # a mod (the bot) still sees a shadow-muted user's lines
        assert lab.commands() == ["/smute bob", "/ban bob flooding (5 messages in 10s)"]
        assert lab.conn.bans == {"bob": 1}
        assert "bob (ban, permanent)" in await lab.ask("mod", "!bans")
    finally:
        await lab.end()


@pytest_twisted.ensureDeferred
async def test_strikes_decay_back_to_a_warning(lab: ModLab) -> None:
    await flood(lab, "bob")
    lab.clock.advance(700)
    await flood(lab, "bob")
    assert lab.commands() == []
    assert sum(m.startswith("bob: please stop") for m in lab.said()) == 2


@pytest_twisted.ensureDeferred
async def test_never_acts_on_mods_or_itself(lab: ModLab) -> None:
    for who in ("mod", ME, "[server]"):
        await flood(lab, who, 12)
    assert lab.commands() == []
    assert not any("please stop" in m for m in lab.said())


@pytest_twisted.ensureDeferred
async def test_bot_without_the_rank_logs_once_and_does_nothing(db_url: str) -> None:
    lab = await ModLab(db_url, config={"ladder": ["mute"], "max_messages": 2}).begin(rank=1)
    try:
        with capturedLogs() as events:
            for _ in range(3):
                await flood(lab, "alice", 3)
        assert lab.commands() == []
        lines = [formatEvent(e) for e in events if "cannot mute" in formatEvent(e)]
        assert len(lines) == 1, lines
    finally:
        await lab.end()


@pytest_twisted.ensureDeferred
async def test_word_filter_kicks(db_url: str) -> None:
    lab = await ModLab(db_url, config={"filter_kick": ["badword"], "filter_warn": ["meh"]}).begin()
    try:
        lab.chat("bob", "badwords are fine")  # whole words only
        lab.chat("bob", "MEH")
        await lab.settle()
        assert lab.commands() == []
        assert "bob: please stop (used a filtered word)." in lab.said()
        lab.chat("bob", "you BadWord")
        await lab.settle()
        assert lab.commands() == ["/kick bob used a filtered word"]
    finally:
        await lab.end()


# -- commands ------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_timeout_and_rank_refusals(lab: ModLab) -> None:
    assert "rank" in (await lab.ask("alice", "!timeout bob 10m")).lower()
    lab.join("mod2", 2)
    assert await lab.ask("mod", "!timeout mod2 10m") == "You don't outrank mod2."
    assert await lab.ask("mod", "!timeout rosey 10m") == "You can't do that to me or to yourself."
    assert await lab.ask("mod", "!timeout ghost 10m") == "ghost is not here."
    assert lab.commands() == []
    lab.chat("mod", "!timeout alice 10m being rude")
    await lab.settle()
    assert lab.said()[-1] == "alice is muted for 10 minutes."
    assert lab.commands() == ["/mute alice"]
    lab.clock.advance(600)
    await lab.settle()
    assert lab.commands() == ["/mute alice", "/unmute alice"]
    log = await lab.log("alice")
    assert [(a, d["by"], d["why"]) for a, _, d in log] == [
        ("mod_mute", "mod", "being rude"),
        ("mod_unmute", ME, "expired"),
    ]


@pytest_twisted.ensureDeferred
async def test_rank_zero_user_can_never_make_the_bot_act_on_others(lab: ModLab) -> None:
    lab.join("guest", 0)
    for text in (
        "!timeout alice 1m",
        "!tempban bob 1d",
        "!ban mod",
        "!unban x",
        "/kick alice",
        "alice bob mod rosey !kick",
        "!modlog",
    ):
        lab.chat("guest", text)
        await lab.settle(1)
    await lab.settle()
    assert all("guest" in c for c in lab.commands()), lab.commands()
    assert not any(a for a, who, _ in await lab.log() if who != "guest")


@pytest_twisted.ensureDeferred
async def test_tempban_offline_is_enforced_on_join_and_lifted_on_expiry(db_url: str) -> None:
    lab = await ModLab(db_url).begin()
    try:
        lab.chat("mod", "!tempban troll 1d spamming")
        await lab.settle()
        assert lab.commands() == ["/ban troll spamming"]
        assert lab.conn.bans == {"troll": 1}
        assert "troll is banned for 1 day." in lab.said()
        assert "troll (ban, 23 hours" in await lab.ask("mod", "!bans")
        # someone lifted the ban on the server by hand; troll comes back under the same name
        lab.conn.bans.clear()
        lab.join("troll", 0)
        await lab.settle()
        assert lab.commands() == ["/ban troll spamming"] * 2
        assert lab.bot.mirror.users.get("troll") is None
        lab.clock.advance(86400)
        await lab.settle()
        assert lab.conn.bans == {}
        assert [e for e, _ in lab.conn.sent if e in ("requestBanlist", "unban")] == [
            "requestBanlist",
            "unban",
        ]
        assert await lab.ask("mod", "!bans") == "No bans."
        actions = [a for a, _, _ in await lab.log("troll")]
        assert actions == ["mod_ban", "mod_ban_enforced", "mod_unban"]
        assert "unban troll by rosey (expired)" in await lab.ask("mod", "!modlog troll")
    finally:
        await lab.end()


@pytest_twisted.ensureDeferred
async def test_bans_survive_a_restart_and_expire_after_it(db_url: str) -> None:
    clock = task.Clock()
    clock.advance(T0)
    lab = await ModLab(db_url, clock=clock).begin()
    lab.chat("mod", "!tempban troll 2h")
    await lab.settle()
    lab.chat("mod", "!ban forever no")
    await lab.settle()
    assert lab.said()[-1] == "forever is banned until unbanned."
    await lab.end()
    clock.advance(3600)
    lab = await ModLab(db_url, clock=clock).begin()
    try:
        bans = await lab.ask("mod", "!bans")
        assert "forever (ban, permanent)" in bans
        assert "troll (ban, 59 minutes" in bans
        lab.conn.bans.update({"troll": 7})
        lab.join("forever", 1)  # a permanent ban holds on join
        await lab.settle()
        assert lab.commands() == ["/ban forever no"]
        clock.advance(3600)
        await lab.settle()
        assert lab.conn.bans == {"forever": 1}
        assert "troll" not in await lab.ask("mod", "!bans")
        lab.chat("mod", "!unban forever")
        await lab.settle()
        assert lab.said()[-1] == "forever is unbanned."
        assert lab.conn.bans == {}
        assert await lab.ask("mod", "!bans") == "No bans."
    finally:
        await lab.end()


# -- live: the real socket.io peer ---------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_live_spammer_is_muted_then_kicked() -> None:
    from tests.bot.test_service_live import PASSWORD, LiveBot, peer_state
    from tests.peers.cytube import CyTubePeer, lab_accounts
    from tests.waiting import eventually

    peer = CyTubePeer("labchan", accounts=lab_accounts(PASSWORD), connect_capacity=100).start()
    live = LiveBot(peer)
    config = moderation.parse_config({"ladder": ["mute", "kick"], "max_messages": 3})
    plugin = moderation.create(PluginAPI(live.bot, moderation.name, config))
    try:
        await live.start()
        await live.bound(maybeDeferred(plugin.start))
        peer.add_virtual_user("spammer", 1)
        peer.add_virtual_user("bystander", 0)
        await eventually(lambda: live.bot.mirror.users.get("spammer") is not None)

        def muted() -> bool:
            return peer_state(peer, lambda ch: bool((m := ch.find("spammer")) and m.muted))

        for i in range(3):  # three lines in the window are fine
            peer.chat("bystander", f"calm line {i}")
        for i in range(4):
            peer.chat("spammer", f"buy now {i} spammer bystander")
        await eventually(muted)
        await eventually(lambda: bool((u := live.bot.mirror.users.get("spammer")) and u.muted))
        assert "spammer" in peer.users
        # the server keeps broadcasting a virtual user's lines (as a shadow mute would to mods)
        for i in range(4):
            peer.chat("spammer", f"still buying {i}")
        await eventually(lambda: "spammer" not in peer.users)
        sent = [r.data["msg"] for r in peer.events("chatMsg", "labbot")]
        assert sent == ["/mute spammer", "/kick spammer flooding (4 messages in 10s)"]
        assert "bystander" in peer.users
        assert peer.kicks == 1
    finally:
        await maybeDeferred(plugin.stop)
        await live.stop()
        peer.stop()


@pytest_twisted.ensureDeferred
async def test_live_tempban_reapplied_on_rejoin_and_lifted_on_expiry() -> None:
    from tests.bot.test_service_live import PASSWORD, LiveBot, peer_state
    from tests.peers.cytube import CyTubePeer, lab_accounts
    from tests.waiting import eventually

    peer = CyTubePeer("labchan", accounts=lab_accounts(PASSWORD), connect_capacity=100).start()
    live = LiveBot(peer)
    plugin = moderation.create(PluginAPI(live.bot, moderation.name, moderation.parse_config({})))
    assert isinstance(plugin, Moderation)

    def banned() -> list[str]:
        return peer_state(peer, lambda ch: [b["name"] for b in ch.chat.moderation.bans])

    try:
        await live.start()
        await live.bound(maybeDeferred(plugin.start))
        peer.add_virtual_user("labmod", 2)
        peer.add_virtual_user("troll", 1)
        await eventually(lambda: live.bot.mirror.users.get("troll") is not None)
        peer.chat("troll", "!tempban labmod 1h")  # rank 1: refused
        peer.chat("labmod", "!tempban troll 3s trolling")
        await eventually(lambda: "troll" not in peer.users)
        assert banned() == ["troll"]
        peer.add_virtual_user("troll", 1)  # the peer lets the name back in; the bot does not
        await eventually(lambda: "troll" not in peer.users)
        await eventually(lambda: banned() == [], timeout=6)
        said = [r.data["msg"] for r in peer.events("chatMsg", "labbot")]
        assert said == [
            "Sorry, !tempban needs moderator rank.",
            "/ban troll trolling",
            "troll is banned for 3 seconds.",
            "/ban troll trolling",  # the rejoin: "already banned" on the server …
            "/kick troll banned",  # … so the bot kicks
        ]
        assert plugin.store.items["bans"] == {}
    finally:
        await maybeDeferred(plugin.stop)
        await live.stop()
        peer.stop()

"""The markov plugin on a Bot fed real server frames, with a real SQLite storage.

The harness is :class:`tests.plugins.test_core_stats.Lab`: a Bot on a FakeConnection that
answers like CyTube (it echoes the bot's own chat lines back), frames through the real
normalizer, a real SQLStorage on a migrated SQLite file in ``tmp_path``. The bot's clock is a
``task.Clock`` (cooldowns, the save timer); storage runs on the real reactor's thread pool and
every wait on it is bounded. The plugin's randomness is a seeded ``random.Random``."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import markovify  # type: ignore[import-untyped]
import pytest
import pytest_twisted
from twisted.internet import task
from twisted.internet.task import deferLater
from twisted.logger import capturedLogs

from rosey.api_impl import PluginAPI
from rosey.plugin import IRoseyPlugin, PluginConfigError
from rosey.plugins.markov import Markov, MarkovConfig, markov, parse_config
from rosey.plugins.markov_model import (
    MAX_FOLLOWERS,
    MAX_LINE_WORDS,
    SHARDS,
    MarkovModel,
    tokenize,
)
from tests.plugins.test_core_stats import ME, Lab, bounded, user

CORPUS = [
    "cats are great pets",
    "dogs are loyal friends",
    "the cat sat on the mat",
    "the dog sat on the log",
]


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


async def turn() -> None:
    """Let the fake server's echoes (sent with ``callLater(0)``) arrive."""
    for _ in range(2):
        await bounded(deferLater(_reactor(), 0, lambda: None))


async def settled(plugin: Markov) -> None:
    """Wait until the plugin's storage jobs are done and their callbacks have unwound.

    ``idle()`` can fire inside the lock's release, deep in the finished job's callback chain
    (before the save timer has rescheduled itself); one reactor turn lets that chain finish.
    """
    await bounded(plugin.idle())
    await turn()


class MarkovLab:
    """A :class:`Lab` with the markov plugin started on its bot."""

    def __init__(self, url: str, seed: int = 7, **settings: Any) -> None:
        self.url = url
        self.seed = seed
        self.settings = settings
        self.db = Path(url.removeprefix("sqlite:///"))

    async def start(self, clock: task.Clock | None = None) -> MarkovLab:
        self.lab = await Lab(self.url, clock).start()
        config = markov.parse_config(self.settings)
        plugin = markov.create(PluginAPI(self.lab.bot, markov.name, config))
        assert isinstance(plugin, Markov)
        self.plugin: Markov = plugin
        plugin.rng.seed(self.seed)
        await bounded(self.plugin.start())
        return self

    async def stop(self) -> None:
        await bounded(self.plugin.stop())
        await self.lab.stop()

    async def restart(self, **settings: Any) -> MarkovLab:
        """Stop everything, then start a new bot, storage and plugin on the same file."""
        await self.stop()
        self.settings.update(settings)
        return await self.start()

    @property
    def model(self) -> MarkovModel:
        return self.plugin.model

    def teach(self, *lines: str, who: str = "alice") -> None:
        for line in lines:
            self.lab.chat(who, line)

    def stored(self) -> dict[str, str]:
        """The plugin's rows in the SQLite file, read with sqlite3 (not through rosey)."""
        with sqlite3.connect(self.db) as db:
            rows = db.execute("SELECT key, value FROM plugin_kv WHERE namespace = 'markov'")
            return dict(rows.fetchall())

    def written_at(self) -> dict[str, float]:
        """When each of the plugin's rows was last written (the storage's real clock)."""
        with sqlite3.connect(self.db) as db:
            rows = db.execute("SELECT key, updated_at FROM plugin_kv WHERE namespace = 'markov'")
            return dict(rows.fetchall())

    def words(self) -> set[str]:
        """Every word in the model."""
        found: set[str] = set()
        for state, followers in self.model.table.items():
            found.update(state)
            found.update(followers)
        return found - {markovify.chain.BEGIN, markovify.chain.END}


@pytest_twisted.async_yield_fixture()
async def ml(db_url: str) -> AsyncIterator[MarkovLab]:
    m = await MarkovLab(db_url, mention_cooldown=30, opt_out=["OtherBot"]).start()
    yield m
    await m.stop()


# -- configuration ----------------------------------------------------------------------------


def test_factory_and_config() -> None:
    assert IRoseyPlugin.providedBy(markov)
    assert markov.name == "markov"
    assert not markov.default_enabled
    assert markov.parse_config({}) == MarkovConfig()
    config = parse_config({"opt_out": ["OtherBot"], "mention_probability": 0.25, "state_size": 3})
    assert config.opt_out == frozenset({"otherbot"})
    assert config.mention_probability == 0.25
    bad = {
        "colour": "plugins.markov.colour: unknown key",
        "state_size": "plugins.markov.state_size",
        "mention_probability": "plugins.markov.mention_probability",
        "max_length": "plugins.markov.max_length",
        "learn": "plugins.markov.learn",
        "opt_out": "plugins.markov.opt_out",
        "save_interval": "plugins.markov.save_interval",
    }
    values: dict[str, Any] = {
        "colour": "red",
        "state_size": 9,
        "mention_probability": float("nan"),
        "max_length": 1000,
        "learn": "yes",
        "opt_out": ["not a name!"],
        "save_interval": 0,
    }
    for key, message in bad.items():
        with pytest.raises(PluginConfigError, match=message):
            parse_config({key: values[key]})


# -- the model on its own ---------------------------------------------------------------------


def test_tokenize_drops_what_must_not_be_learned() -> None:
    hostile = (
        "rosey: hi\u202eevil \u200bthere ___END__ ___BEGIN__ https://x.example/a www.spam.example "
        + "x" * 41
        + " 👍🏽 e\u0301t\u00e9 \ud800ok <b>bold</b>"
    )
    assert tokenize(hostile, drop=["Rosey"]) == [
        "hievil",
        "there",
        "👍🏽",
        "e\u0301t\u00e9",
        "ok",
        "<b>bold</b>",
    ]
    assert len(tokenize("w " * 500)) == MAX_LINE_WORDS


def test_model_stays_within_its_bounds() -> None:
    model = MarkovModel(state_size=2, max_states=100, rng=random.Random(1))
    rng = random.Random(2)
    vocabulary = [f"w{i}" for i in range(400)]
    for _ in range(500):
        model.learn(" ".join(rng.choices(vocabulary, k=6)))
        assert len(model) <= 100
    assert model.pruned > 0
    assert model.lines == 500
    for _ in range(20):  # transitions into dropped states end the sentence, never crash
        sentence = model.sentence(max_length=60)
        assert sentence is not None
        assert len(sentence) <= 60
    crowded = MarkovModel(rng=random.Random(3))
    for i in range(MAX_FOLLOWERS + 50):
        crowded.learn(f"first{i} word")
    assert len(crowded.table[crowded.chain.begin]) <= MAX_FOLLOWERS


def test_a_cycle_is_cut_at_max_words() -> None:
    model = MarkovModel(state_size=1, rng=random.Random(4))
    model.learn("la la la la la la")
    sentence = model.sentence(["la"], max_length=300, max_words=12)
    assert sentence is not None
    assert len(sentence.split()) <= 12


def test_saved_shards_load_back_and_garbage_is_skipped() -> None:
    model = MarkovModel(rng=random.Random(5))
    for line in CORPUS:
        model.learn(line)
    shards = model.take_dirty()
    assert model.dirty == frozenset()
    copy = MarkovModel()
    assert copy.compatible(model.manifest())
    for text in shards.values():
        copy.load_shard(text)
    assert copy.table == model.table
    assert copy.lines == model.lines == 4
    junk = json.dumps([["one"], [["a", "b"], {"c": -1, "d": True, "e": 2}], "x", [[1, 2], {}]])
    assert copy.load_shard(junk) == 1
    assert copy.table[("a", "b")] == {"e": 2}
    with pytest.raises(json.JSONDecodeError):
        copy.load_shard("{not json")
    assert not MarkovModel(state_size=3).compatible(model.manifest())
    assert not MarkovModel().compatible("garbage")


# -- learning ---------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_learns_only_live_lines_of_real_users(ml: MarkovLab) -> None:
    lab = ml.lab
    # Replayed from before the bot joined (between joinChannel and the userlist).
    lab.normalizer.begin_join()
    lab.chat("alice", "replayed history words")
    lab.server("userlist", [user(ME, 3), user("alice"), user("mod", 2), user("OtherBot")])
    lab.chat(ME, "my own line")
    lab.chat("alice", "!roll command words")
    lab.chat("alice", "/me slash words")
    lab.chat("[server]", "server pseudo words")
    lab.chat("[voteskip]", "voteskip pseudo words")
    lab.server(
        "chatMsg",
        {
            "username": "mod",
            "msg": "whisper secret words",
            "meta": {"addClass": "server-whisper"},
            "time": lab.ms(),
        },
    )
    lab.server(
        "chatMsg",
        {"username": "alice", "msg": "shadow muted words", "meta": {"shadow": True}, "time": 0},
    )
    lab.chat("otherbot", "configured optout words")
    # Something the bot said a moment ago, repeated by someone else (a relay, another bot).
    await bounded(lab.bot.say("echoed bot words"))
    lab.chat("alice", "echoed bot words")
    await turn()
    assert ml.words() == set()
    assert ml.model.lines == 0
    lab.chat("alice", "a real line")
    lab.chat("alice", "short")  # one word: too little to learn
    assert ml.words() == {"a", "real", "line"}
    assert ml.model.lines == 1


@pytest_twisted.ensureDeferred
async def test_optout_and_optin_persist_across_a_restart(ml: MarkovLab) -> None:
    lab = ml.lab
    assert await lab.ask("alice", "!markov optout") == (
        "alice: I won't learn from what you say any more (what I learned stays)."
    )
    assert await lab.ask("alice", "!markov optout") == "alice: you have opted out already."
    ml.teach("secret alice words")
    ml.teach("bob says hello", who="mod")
    assert ml.words() == {"bob", "says", "hello"}
    assert json.loads(ml.stored()["optouts"]) == ["alice"]

    await ml.restart()
    ml.teach("still secret words")
    assert ml.words() == {"bob", "says", "hello"}
    assert await ml.lab.ask("alice", "!markov optin", pm=True) == (
        "alice: I'll learn from what you say again."
    )
    ml.teach("public alice words")
    assert {"public", "alice"} <= ml.words()
    assert (
        await ml.lab.ask("otherbot", "!markov optin")
        == "otherbot: the channel's settings keep me from learning from you."
    )


# -- talking ----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_markov_command_with_and_without_start_words(ml: MarkovLab) -> None:
    lab = ml.lab
    assert await lab.ask("alice", "!markov") == "I haven't learned enough yet."
    ml.teach(*CORPUS)
    said = {await lab.ask("alice", "!markov") for _ in range(6)}
    assert all(s.split()[0] in {"cats", "dogs", "the"} for s in said)
    assert await lab.ask("alice", "!markov cats") == "cats are great pets"
    assert await lab.ask("alice", "!markov the dog") == "the dog sat on the log"
    # Not the beginning of a line: found anywhere in the model, case-insensitively.
    assert await lab.ask("alice", "!markov Loyal") == "loyal friends"
    # Longer than the state: the last two words lead.
    assert await lab.ask("alice", "!markov so yes cats are") == "so yes cats are great pets"
    assert await lab.ask("alice", "!markov zebra") == "I don't know how to go on from that."
    assert await lab.ask("alice", "!markov ___END__") == "I can't start with that."


@pytest_twisted.ensureDeferred
async def test_mentions_are_answered_with_a_cooldown(ml: MarkovLab) -> None:
    lab = ml.lab
    ml.teach(*CORPUS)
    frame = lab.conn.next_frame()
    lab.chat("mod", "hey Rosey, what about cats?")
    event, data = await bounded(frame)
    assert (event, data["msg"]) == ("chatMsg", "mod: cats are great pets")
    sent = len(lab.said())
    lab.clock.advance(29)
    lab.chat("mod", "rosey: and dogs?")
    lab.chat("alice", "rosey dogs")
    lab.chat("alice", "rosey_fan dogs")  # not the bot's name
    lab.clock.advance(0.5)
    await turn()
    assert len(lab.said()) == sent
    lab.clock.advance(1)
    frame = lab.conn.next_frame()
    lab.chat("alice", "ROSEY: and dogs?")
    _, data = await bounded(frame)
    assert data["msg"] == "alice: dogs are loyal friends"
    # The bot's name is not learned from mentions.
    assert "rosey" not in {w.casefold().strip(":,?") for w in ml.words()}


@pytest_twisted.ensureDeferred
async def test_mention_probability_zero_never_answers(db_url: str) -> None:
    ml = await MarkovLab(db_url, mention_probability=0).start()
    try:
        ml.teach(*CORPUS)
        for i in range(20):
            ml.lab.chat("alice", f"rosey, cats {i}?")
            ml.lab.clock.advance(60)
        await turn()
        assert ml.lab.said() == []
    finally:
        await ml.stop()


# -- persistence ------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_the_model_survives_a_restart(ml: MarkovLab) -> None:
    ml.teach(*CORPUS)
    ml.teach("bob was here", who="mod")
    # The save timer writes what changed.
    assert ml.stored() == {}
    ml.lab.clock.advance(60)
    await settled(ml.plugin)
    assert ml.model.dirty == frozenset()
    stored = ml.stored()
    assert json.loads(stored["meta"])["lines"] == 5
    assert 0 < sum(k.startswith("chain.") for k in stored) <= SHARDS
    ml.teach("one more line")  # saved by stop() only
    table = {s: dict(f) for s, f in ml.model.table.items()}

    await ml.restart()
    assert ml.plugin.loaded
    assert ml.model.lines == 6
    assert ml.model.table == table
    assert await ml.lab.ask("alice", "!markov bob") == "bob was here"


@pytest_twisted.ensureDeferred
async def test_another_state_size_starts_anew_and_replaces_the_stored_model(
    ml: MarkovLab,
) -> None:
    ml.teach(*CORPUS)
    await ml.restart(state_size=3)
    assert len(ml.model) == 0
    ml.teach("three word context here")
    await bounded(ml.plugin.save())
    stored = ml.stored()
    assert json.loads(stored["meta"])["state_size"] == 3
    for key, value in stored.items():
        if key.startswith("chain."):
            assert all(len(state) == 3 for state, _ in json.loads(value))


@pytest_twisted.ensureDeferred
async def test_learning_is_incremental(ml: MarkovLab, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    vocabulary = [f"v{i}" for i in range(300)]
    for _ in range(300):
        ml.teach(" ".join(rng.choices(vocabulary, k=8)))
    await bounded(ml.plugin.save())
    before = ml.written_at()
    assert sum(k.startswith("chain.") for k in before) == SHARDS  # the model fills every shard

    def rebuild(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the chain was rebuilt from a corpus")

    monkeypatch.setattr(markovify.Chain, "build", rebuild)
    table, chain = ml.model.table, ml.model.chain
    transitions = ml.model.transitions_added
    ml.teach("zeta eta theta")
    assert ml.model.table is table
    assert ml.model.chain is chain
    assert ml.model.transitions_added == transitions + 4  # three words and the end
    assert table[("zeta", "eta")] == {"theta": 1}
    assert 1 <= len(ml.model.dirty) <= 4
    dirty = {f"chain.{i}" for i in ml.model.dirty}
    await bounded(ml.plugin.save())
    after = ml.written_at()
    rewritten = {k for k in after if before.get(k) != after[k]}
    assert rewritten == dirty | {"meta"}  # only the touched shards were written
    await bounded(ml.plugin.save())
    assert ml.written_at() == after  # nothing changed: nothing written
    assert await ml.lab.ask("alice", "!markov zeta") == "zeta eta theta"


@pytest_twisted.ensureDeferred
async def test_unreadable_storage_stops_learning_until_it_recovers(ml: MarkovLab) -> None:
    await ml.stop()
    with sqlite3.connect(ml.db) as db:
        db.execute("ALTER TABLE plugin_kv RENAME TO plugin_kv_away")
    with capturedLogs() as logs:
        await ml.start()
    assert not ml.plugin.loaded
    assert any("cannot read the stored model" in str(e.get("log_format")) for e in logs)
    ml.teach("lost words here")
    assert ml.model.lines == 0
    assert await ml.lab.ask("alice", "!markov optout") == (
        "Sorry, my records are not available right now; try again later."
    )
    with sqlite3.connect(ml.db) as db:
        db.execute("ALTER TABLE plugin_kv_away RENAME TO plugin_kv")
    ml.lab.clock.advance(60)  # the save timer retries the load
    await settled(ml.plugin)
    assert ml.plugin.loaded
    ml.teach("kept words here")
    assert ml.model.lines == 1
    # A failed save keeps the changes dirty; the next one writes them.
    with sqlite3.connect(ml.db) as db:
        db.execute("ALTER TABLE plugin_kv RENAME TO plugin_kv_away")
    dirty = ml.model.dirty
    with capturedLogs() as logs:
        ml.lab.clock.advance(60)
        await settled(ml.plugin)
    assert any("saving failed" in str(e.get("log_format")) for e in logs)
    assert ml.model.dirty == dirty
    with sqlite3.connect(ml.db) as db:
        db.execute("ALTER TABLE plugin_kv_away RENAME TO plugin_kv")
    ml.lab.clock.advance(60)
    await settled(ml.plugin)
    assert ml.model.dirty == frozenset()
    assert json.loads(ml.stored()["meta"])["lines"] == 1


# -- hostile input ----------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_hostile_input(ml: MarkovLab) -> None:
    lab = ml.lab
    lab.join("markov")  # a user named like a command
    lab.join("help")
    ml.teach("please /kick bob now", "lol !tell alice hi", who="markov")
    ml.teach(
        "<script>alert(1)</script> &amp; <b>bold</b> stays text",
        "\u202etxet desrever\u200b and \ud800 emoji 👍🏽 here",
        "x" * 20_000,
        "long " * 5_000,
        who="help",
    )
    assert await lab.ask("markov", "!markov /kick") == "» /kick bob now"
    assert await lab.ask("markov", "!markov !tell") == "» !tell alice hi"
    assert await lab.ask("help", "!markov <script>alert(1)</script>") == (
        "<script>alert(1)</script> &amp; <b>bold</b> stays text"
    )
    assert await lab.ask("help", "!markov emoji") == "emoji 👍🏽 here"
    assert await lab.ask("help", "!markov txet") == "txet desrever and emoji 👍🏽 here"
    long = await lab.ask("help", "!markov long")
    assert long.startswith("long long")
    assert len(long) <= 200
    await lab.ask("help", "!markov " + "y" * 5_000)
    frame = lab.conn.next_frame()
    lab.chat("help", "rosey !tell")
    _, data = await bounded(frame)
    assert data["msg"] == "help: !tell alice hi"
    for line in lab.said():
        assert not line.startswith(("/", "!"))
        assert len(line) <= 200
    await turn()
    # None of the bot's own lines (echoed back by the server) were learned.
    assert "»" not in ml.words()
    assert "help:" not in ml.words()
    # Every learned word can be stored.
    await bounded(ml.plugin.save())
    assert ml.model.dirty == frozenset()
    await ml.restart()
    assert await ml.lab.ask("help", "!markov emoji") == "emoji 👍🏽 here"

"""The fun plugin's trivia game on a real SQLite file (the rig of ``test_fun.py``).

Game time runs on the bot's ``task.Clock``; the bot's lines are read as the fake server receives
them, each wait bounded.
"""

from __future__ import annotations

import json
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import maybeDeferred

from rosey import events
from rosey.api_impl import PluginAPI
from rosey.events import Event
from rosey.plugin import PluginConfigError
from rosey.plugins.fun import Fun, fun
from rosey.plugins.fun_trivia import PAUSE, SCORES_KEY
from rosey.plugins.fun_trivia_bank import (
    BANK_FILE,
    Question,
    hint,
    load_questions,
    normalize,
    parse_questions,
)
from tests.plugins import lab as plain
from tests.plugins.test_core_stats import CH, bounded
from tests.plugins.test_fun import FunLab

FAST = {"trivia_rounds": 2, "trivia_seconds": 20}


async def line(lab: FunLab, action: Any) -> str:
    """What the bot says next after ``action()`` (a chat line or a clock step)."""
    frame = lab.conn.next_frame()
    action()
    event, data = await bounded(frame)
    assert event == "chatMsg", (event, data)
    return str(data["msg"])


def question(lab: FunLab) -> Question:
    game = lab.plugin.trivia.game
    assert game is not None
    assert game.open
    return game.question


async def started(lab: FunLab, who: str = "alice") -> str:
    """Start a game; returns the first question as said."""
    intro = await line(lab, lambda: lab.lab.chat(who, "!trivia start"))
    assert intro.startswith("Trivia! 2 questions, ")
    assert intro.endswith(" each: answer in chat.")
    return await line(lab, lambda: lab.clock.advance(1))


# -- the question bank ----------------------------------------------------------------------------


def test_the_bank_is_package_data() -> None:
    resource = files("rosey.plugins").joinpath(*BANK_FILE)
    assert resource.is_file()
    raw = json.loads(resource.read_text(encoding="utf-8"))
    assert len(load_questions()) == len(raw) >= 100
    assert len({q.text for q in load_questions()}) == len(raw)
    for q in load_questions():
        assert all(q.accepts(a) for a in q.answers)
        assert not q.accepts("")
    # The wheel ships it: pyproject's package-data covers the file.
    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "*.json" in data["package-data"]["rosey.plugins.data"]


def test_answers_ignore_case_accents_punctuation_and_articles() -> None:
    q = Question("Who?", ("Pokémon", "The Eiffel Tower"))
    for guess in ("pokemon", "  POKÉMON!! ", "eiffel-tower", "the  eiffel tower.", "Eiffel Tower"):
        assert q.accepts(guess), guess
    for guess in ("poke", "eiffel", "pokemon tower", "...", "theeiffel tower"):
        assert not q.accepts(guess), guess
    assert normalize("A Tale") == "tale"
    assert normalize("Avocado") == "avocado"
    assert hint("J. K. Rowling") == "J. K. R______"
    assert hint("1912") == "1___"


def test_a_bad_bank_names_the_entry() -> None:
    assert parse_questions([{"q": " Why? ", "a": ["because"]}]) == [Question("Why?", ("because",))]
    bad: list[object] = [[], {}, [{"q": "x"}], [{"q": "ok", "a": []}], [{"q": "ok", "a": ["!!"]}]]
    for raw in bad:
        with pytest.raises(ValueError, match=r"non-empty list|question \d+ is not"):
            parse_questions(raw)


def test_trivia_settings() -> None:
    cfg = fun.parse_config({})
    assert (cfg.trivia.rounds, cfg.trivia.seconds, cfg.trivia.hint) == (10, 30, True)
    assert (cfg.trivia.start_rank, cfg.trivia.stop_rank) == (0, 2)
    cfg = fun.parse_config({"trivia_rounds": 3, "trivia_hint": False, "trivia_stop_rank": 3})
    assert (cfg.trivia.rounds, cfg.trivia.hint, cfg.trivia.stop_rank) == (3, False, 3)
    for key, value in [("trivia_rounds", 0), ("trivia_seconds", 1), ("trivia_hint", "yes")]:
        with pytest.raises(PluginConfigError, match=f"plugins\\.fun\\.{key}"):
            fun.parse_config({key: value})
    with pytest.raises(PluginConfigError, match="trivia_secs"):
        fun.parse_config({"trivia_secs": 10})


# -- the game -------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_game_right_answer_hint_timeout_and_end(db_url: str) -> None:
    lab = await FunLab(db_url, config=FAST).start()
    try:
        first = await started(lab)
        assert lab.said()[-2] == "Trivia! 2 questions, 20 seconds each: answer in chat."
        q = question(lab)
        assert first == f"Question 1/2: {q.text}"
        lab.lab.chat("mod", "certainly not this")  # wrong guesses get no answer
        guess = "  " + q.answers[-1].upper() + "!"
        assert await line(lab, lambda: lab.lab.chat("alice", guess)) == (
            f"alice got it: {q.answers[0]}! (alice: 1 point)"
        )
        lab.lab.chat("mod", q.answers[0])  # too late: scores nothing
        assert lab.plugin.trivia.board.scores == {"alice": ("alice", 1)}

        second = await line(lab, lambda: lab.clock.advance(PAUSE))
        q2 = question(lab)
        assert second == f"Question 2/2: {q2.text}"
        assert await line(lab, lambda: lab.clock.advance(10)) == f"Hint: {hint(q2.answers[0])}"
        assert await line(lab, lambda: lab.clock.advance(10)) == (
            f"Time's up! The answer was: {q2.answers[0]}."
        )
        assert await line(lab, lambda: lab.clock.advance(PAUSE)) == (
            "Trivia over! This game: alice 1. Say !trivia top for the all-time best."
        )
        assert lab.plugin.trivia.game is None
        assert await lab.ask("mod", "!trivia top") == "Trivia top: 1. alice 1."
    finally:
        await lab.stop()


@pytest_twisted.ensureDeferred
async def test_replayed_own_and_command_lines_never_answer(db_url: str) -> None:
    lab = await FunLab(db_url, config=FAST).start()
    try:
        await started(lab)
        answer = question(lab).answers[0]
        for event in (
            Event(
                events.MESSAGE, None, user="alice", content=answer, replayed=True
            ),  # the join burst
            Event(events.MESSAGE, None, user="rosey", content=answer),
            Event(events.MESSAGE, None, user="[server]", content=answer),
            Event(
                events.MESSAGE, None, user="alice", content=answer, extra={"server_whisper": True}
            ),
            Event(events.PM, None, user="alice", content=answer, extra={"to": "rosey"}),
        ):
            lab.conn.feed(event)
        assert lab.plugin.trivia.board.scores == {}
        assert question(lab).answers[0] == answer  # still open
    finally:
        await lab.stop()


@pytest_twisted.ensureDeferred
async def test_stop_by_the_starter_or_a_moderator_only(db_url: str) -> None:
    lab = await FunLab(db_url, config={**FAST, "trivia_seconds": 60}).start()
    try:
        lab.lab.join("bob")
        await started(lab, "bob")
        answer = question(lab).answers[0]
        assert await lab.ask("alice", "!trivia start") == (
            "Trivia is already running (!trivia stop ends it)."
        )
        assert await lab.ask("alice", "!trivia stop") == (
            "Sorry, only bob or a moderator can stop this game."
        )
        assert await lab.ask("bob", "!trivia stop") == (
            f"Trivia stopped by bob. The answer was: {answer}."
        )
        before = len(lab.said())
        lab.clock.advance(1000)  # no timer is left
        assert len(lab.said()) == before
        assert lab.plugin.trivia.game is None
        assert await lab.ask("bob", "!trivia stop") == "No trivia is running."

        await started(lab, "bob")
        assert (await lab.ask("mod", "!trivia stop")).startswith("Trivia stopped by mod.")
    finally:
        await lab.stop()


@pytest_twisted.ensureDeferred
async def test_plugin_stop_cancels_the_game(db_url: str) -> None:
    lab = await FunLab(db_url, config=FAST).start()
    await started(lab)
    await bounded(maybeDeferred(lab.plugin.stop))
    assert lab.plugin.trivia.game is None
    assert not [c for c in lab.clock.getDelayedCalls() if " Trivia." in repr(c)]
    await lab.lab.stop()


@pytest_twisted.ensureDeferred
async def test_start_rank_pm_and_usage(db_url: str) -> None:
    lab = await FunLab(db_url, config={"trivia_start_rank": 2}).start()
    try:
        assert await lab.ask("alice", "!trivia start") == (
            "Sorry, starting trivia needs moderator rank."
        )
        assert (
            await lab.ask("mod", "!trivia start", pm=True) == "Start trivia in the channel's chat."
        )
        assert await lab.ask("alice", "!trivia") == "Usage: !trivia start | stop | top"
        assert await lab.ask("alice", "!trivia top", pm=True) == "No trivia scores yet."
    finally:
        await lab.stop()


@pytest_twisted.ensureDeferred
async def test_scores_are_per_channel_and_survive_a_restart(db_url: str) -> None:
    lab = await FunLab(db_url, config=FAST).start()
    try:
        for who in ("alice", "mod"):
            await started(lab)
            await line(lab, lambda who=who: lab.lab.chat(who, question(lab).answers[0]))
            await lab.ask("mod", "!trivia stop")
        await started(lab)
        await line(lab, lambda: lab.lab.chat("MOD", question(lab).answers[0]))
    finally:
        await lab.stop()

    again = await FunLab(db_url).start()
    try:
        stored = json.loads(await bounded(again.lab.storage.kv_get(CH, "fun", SCORES_KEY)))
        assert stored == {"alice": ["alice", 1], "mod": ["MOD", 2]}
        assert await again.ask("alice", "!trivia top") == "Trivia top: 1. MOD 2, 2. alice 1."
        other = await bounded(again.lab.storage.kv_get("cytube.example/other", "fun", SCORES_KEY))
        assert other is None
    finally:
        await again.stop()


def test_without_a_database_top_says_scores_are_not_kept() -> None:
    lab = plain.Lab()
    plugin = fun.create(PluginAPI(lab.bot, fun.name, fun.parse_config({})))
    assert isinstance(plugin, Fun)
    plugin.start()
    lab.join()
    assert lab.chat("alice", "!trivia top") == [
        "No trivia scores yet. (no database: kept only until a restart)"
    ]
    plugin.trivia.board.add("alice")
    assert lab.chat("alice", "!trivia top") == [
        "Trivia top: 1. alice 1. (no database: kept only until a restart)"
    ]
    plugin.stop()

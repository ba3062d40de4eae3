"""examples/markov: the README's command runs a markov bot that learns from live chat, answers
``!markov`` and mentions, and keeps its model and opt-outs across a restart (real daemon, real
peer, real SQLite file)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_twisted

from rosey.daemon.config import load
from tests.examples.harness import CHANNEL, PASSWORD, ExampleRun
from tests.peers.cytube import CyTubePeer
from tests.waiting import eventually

BOT = "markovbot"
CORPUS = [
    "cats are great pets",
    "dogs are loyal friends",
    "the cat sat on the mat",
    "the dog sat on the log",
]
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace")


@pytest_twisted.async_yield_fixture()
async def peer() -> AsyncIterator[CyTubePeer]:
    p = CyTubePeer(CHANNEL, accounts={BOT: (PASSWORD, 2)}, connect_capacity=100).start()
    yield p
    p.stop()


class Chat:
    """Says lines in the peer's channel and waits for the bot's answers."""

    def __init__(self, peer: CyTubePeer) -> None:
        self.peer = peer

    def said(self) -> list[str]:
        return [r.data["msg"] for r in self.peer.events("chatMsg", BOT)]

    async def ask(self, user: str, text: str) -> str:
        before = len(self.said())
        self.peer.chat(user, text)
        await eventually(lambda: len(self.said()) > before, 10)
        return self.said()[before]


def test_markov_example_runs_only_core_and_markov() -> None:
    config = load(Path(__file__).parents[2] / "examples/markov/rosey.toml", {"ROSEY_PASSWORD": "x"})
    assert config.plugins.for_channel(config.channels[0]) == ("core", "markov")


@pytest_twisted.ensureDeferred
async def test_markov_example_learns_answers_and_remembers(
    tmp_path: Path, peer: CyTubePeer
) -> None:
    run = ExampleRun("markov", tmp_path, peer)
    assert run.username() == BOT
    for user in USERS:
        peer.add_virtual_user(user, 1)
    peer.chat("alice", "replayed words are history")  # said before the bot joined
    chat = Chat(peer)
    await run.start()
    try:
        await eventually(lambda: "0 states from 0 lines" in run.out.text, 10)
        assert await chat.ask("bob", "!markov optout") == (
            "bob: I won't learn from what you say any more (what I learned stays)."
        )
        peer.chat("bob", "secret words of bob")
        for line in CORPUS:
            peer.chat("alice", line)
        assert await chat.ask("carol", "!markov cats") == "cats are great pets"
        assert await chat.ask("alice", "markovbot: dogs?") == "alice: dogs are loyal friends"
        unknown = "I don't know how to go on from that."
        assert await chat.ask("dave", "!markov replayed") == unknown
        assert await chat.ask("erin", "!markov secret") == unknown
    finally:
        status = await run.stop()
    assert status == 0, run.out.text
    with sqlite3.connect(run.path("markov.sqlite")) as db:
        rows = dict(
            db.execute("SELECT key, value FROM plugin_kv WHERE namespace = 'markov'").fetchall()
        )
    assert json.loads(rows["meta"])["lines"] == len(CORPUS)
    assert json.loads(rows["optouts"]) == ["bob"]
    assert any(k.startswith("chain.") for k in rows)

    await run.start()  # the same database: the model and the opt-out are read back
    try:
        await eventually(lambda: f"from {len(CORPUS)} lines; 1 users opted out" in run.out.text, 10)
        assert await chat.ask("alice", "!markov dogs are") == "dogs are loyal friends"
        assert (await chat.ask("carol", "!markov the dog")).startswith("the dog sat on the ")
        peer.chat("bob", "more hidden words")
        assert await chat.ask("frank", "!markov hidden") == "I don't know how to go on from that."
        assert await chat.ask("grace", "!markov") in {
            "cats are great pets",
            "dogs are loyal friends",
            "the cat sat on the mat",
            "the cat sat on the log",
            "the dog sat on the mat",
            "the dog sat on the log",
        }
    finally:
        status = await run.stop()
    assert status == 0, run.out.text
    for line in chat.said():
        assert not line.startswith(("/", "!"))

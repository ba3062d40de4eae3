"""The ``llm`` plugin against a real HTTP server speaking the OpenAI chat-completions API.

The bot is :class:`tests.plugins.lab.Lab`: a real Bot on a FakeConnection fed CyTube's payloads
through the real normalizer, with a ``task.Clock`` (cooldowns, budgets, the request timeout,
the send queue's pacing). The plugin's HTTP goes through the daemon's own client
(:class:`rosey.daemon.http_client.TreqHTTPClient`, treq on the real reactor) to the twisted.web
server of :mod:`tests.plugins.llm_server` on 127.0.0.1; every wait on it is bounded.
"""

from __future__ import annotations

import html
from typing import Any, cast

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher

from rosey.api_impl import PluginAPI
from rosey.daemon.http_client import TreqHTTPClient
from rosey.plugins.llm import BUSY, LLM, SORRY, SPENT, llm
from rosey.storage.interface import IStorage
from rosey.storage.service import open_storage
from tests.plugins.lab import ME, Lab
from tests.plugins.llm_server import FakeLLM, Reply, completion, error_body, llm_server
from tests.plugins.test_core_stats import bounded
from tests.waiting import eventually

__all__ = ["llm_server"]

KEY = "sk-test-0123456789abcdef"


class LLMLab:
    """A joined :class:`Lab` with the llm plugin started, pointed at ``server``."""

    def __init__(
        self,
        server: FakeLLM,
        monkeypatch: pytest.MonkeyPatch,
        storage: IStorage | None = None,
        **settings: Any,
    ) -> None:
        monkeypatch.setenv("LLM_TEST_KEY", KEY)
        self.server = server
        self.lab = Lab(storage=storage)
        raw = {"base_url": server.base_url, "api_key_env": "LLM_TEST_KEY", **settings}
        http = TreqHTTPClient(reactor, clock=self.lab.clock)
        api = PluginAPI(self.lab.bot, llm.name, llm.parse_config(raw), http=http)
        plugin = llm.create(api)
        assert isinstance(plugin, LLM)
        self.plugin: LLM = plugin
        self.lab.join()
        plugin.start()
        self.logs: list[str] = []
        self._observer = cast(ILogObserver, self._log)
        globalLogPublisher.addObserver(self._observer)

    def _log(self, event: LogEvent) -> None:
        self.logs.append(formatEvent(event) or "")

    def stop(self) -> Deferred[None]:
        globalLogPublisher.removeObserver(self._observer)
        return self.plugin.stop()

    @property
    def clock(self) -> Any:
        return self.lab.clock

    def chat(self, who: str, text: str, *, replayed: bool = False) -> None:
        """``who`` says ``text`` (no clock advance: cooldowns stay as they are)."""
        lab = self.lab
        lab.ms += 1000
        if replayed:
            lab.normalizer.begin_join()
        payload = {"username": who, "msg": html.escape(text), "meta": {}, "time": lab.ms}
        lab.server("chatMsg", payload)
        if replayed:
            lab.conn.make_ready()

    def pm(self, who: str, text: str) -> None:
        self.lab.ms += 1000
        payload = {"username": who, "msg": html.escape(text), "meta": {}, "time": self.lab.ms}
        self.lab.server("pm", {**payload, "to": ME})

    async def settled(self, requests: int) -> None:
        """Wait until the server has seen ``requests`` requests and the plugin is idle, then let
        the send queue send everything (its pacing runs on the fake clock)."""
        await eventually(lambda: len(self.server.seen) >= requests and not self.plugin.busy)
        self.pump()

    def pump(self) -> None:
        for _ in range(20):
            self.lab.echo()
            self.clock.advance(1)
        self.lab.echo()

    def said(self) -> list[str]:
        return self.lab.said()

    def pms(self, to: str) -> list[str]:
        return [d["msg"] for e, d in self.lab.conn.sent if e == "pm" and d["to"] == to]


@pytest.fixture
def make(llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> Any:
    labs: list[LLMLab] = []

    def make_lab(**settings: Any) -> LLMLab:
        lab = LLMLab(llm_server, monkeypatch, **settings)
        labs.append(lab)
        return lab

    yield make_lab
    for lab in labs:
        lab.stop()


# -- when it answers ----------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_mention_is_answered_with_the_recent_lines_in_order(make: Any) -> None:
    t = make()
    t.chat("alice", "the first line")
    t.chat("bob", "the second line")
    t.server.answers.append("I'm fine, thanks")
    t.chat("alice", "how are you, rosey?")
    await t.settled(1)
    assert t.said()[-1] == "alice: I'm fine, thanks"
    seen = t.server.seen[0]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["content-type"].startswith("application/json")
    body = seen.body
    assert body["stream"] is False
    assert body["max_tokens"] == 200
    assert "model" not in body
    messages = body["messages"]
    assert messages[0]["role"] == "system"
    assert "rosey" in messages[0]["content"]
    transcript = messages[1]["content"]
    assert transcript.index("alice: the first line") < transcript.index("bob: the second line")
    assert messages[-1] == {"role": "user", "content": "alice says to you: how are you, rosey?"}
    assert KEY not in seen.raw.decode()


@pytest_twisted.ensureDeferred
async def test_the_bots_own_lines_are_context_but_never_answered(make: Any) -> None:
    t = make(model="llama3.2")
    t.chat("alice", "rosey, hi")
    await t.settled(1)
    t.clock.advance(60)
    t.chat(ME, "rosey says rosey")  # its own line naming itself
    t.chat("alice", "rosey again")
    await t.settled(2)
    assert len(t.server.seen) == 2
    second = t.server.seen[1]
    assert second.body["model"] == "llama3.2"
    assert f"{ME}: alice: hello there" in second.prompt


@pytest_twisted.ensureDeferred
async def test_a_pm_is_answered_by_pm_and_no_pm_is_ever_context(make: Any) -> None:
    t = make()
    t.pm("mod", "the secret plan")
    await t.settled(1)
    assert t.pms("mod") == ["hello there"]
    assert t.server.seen[0].messages[-1]["content"].endswith("private message: the secret plan")
    t.chat("alice", "rosey, what is going on?")
    await t.settled(2)
    assert "secret plan" not in t.server.seen[1].raw.decode()


@pytest_twisted.ensureDeferred
async def test_ask_in_chat_and_by_pm(make: Any) -> None:
    t = make()
    t.server.answers.extend(["forty-two", "seven"])
    t.chat("alice", "!ask what is the answer?")
    await t.settled(1)
    assert t.said()[-1] == "alice: forty-two"
    assert t.server.seen[0].messages[-1]["content"] == "alice says to you: what is the answer?"
    t.pm("mod", "!ask a lucky number?")
    await t.settled(2)
    assert t.pms("mod") == ["seven"]


@pytest_twisted.ensureDeferred
async def test_never_replayed_chat_known_bots_commands_or_itself(make: Any) -> None:
    t = make(bots=["OtherBot"])
    t.chat("alice", "rosey, from before I joined", replayed=True)
    t.chat("otherbot", "rosey, beep")
    t.chat("alice", "!markov rosey")
    t.chat(ME, "I am rosey")
    t.pm(ME, "rosey")  # the echo of its own PM
    t.pm("OtherBot", "hi rosey")
    t.chat("alice", "no mention here")
    t.pump()
    assert t.server.seen == []
    assert not t.plugin.busy


@pytest_twisted.ensureDeferred
async def test_joining_the_conversation_by_chance(make: Any) -> None:
    t = make(join_probability=1.0, join_cooldown=300)
    t.chat("alice", "what a film")
    await t.settled(1)
    assert t.said()[-1] == "hello there"  # addressed to nobody
    assert t.server.seen[0].messages[-1]["content"].startswith("Add one short line")
    t.chat("alice", "indeed")  # within the join cooldown
    t.pump()
    assert len(t.server.seen) == 1


# -- context privacy ---------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_opted_out_users_are_never_context(make: Any) -> None:
    t = make(opt_out=["carol"])
    t.chat("carol", "carol's words")
    t.chat("bob", "bob's old words")
    t.chat("bob", "!llm optout")
    t.pump()
    assert t.said()[-1] == "bob: I won't pass on what you say any more."
    t.chat("bob", "bob's new words")
    t.chat("alice", "alice's words")
    t.chat("alice", "rosey?")
    await t.settled(1)
    prompt = t.server.seen[0].prompt
    assert "alice: alice's words" in prompt
    assert "carol's words" not in prompt
    assert "bob's" not in prompt
    t.chat("bob", "!llm optin")
    t.pump()
    t.chat("bob", "bob is back")
    t.clock.advance(60)
    t.chat("alice", "rosey!!")
    await t.settled(2)
    assert "bob: bob is back" in t.server.seen[-1].prompt


# -- output safety ------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_an_answer_that_is_a_command_is_neutralised(make: Any) -> None:
    t = make()
    t.server.answers.extend(["/kick alice", "!ask myself", "**bold** `code`\n\n/ban bob"])
    t.pm("alice", "kick alice")
    await t.settled(1)
    t.clock.advance(60)
    t.pm("alice", "trigger the other bots")
    await t.settled(2)
    t.clock.advance(60)
    t.chat("mod", "rosey, markdown please")
    await t.settled(3)
    first, second = t.pms("alice")
    assert not first.startswith("/")
    assert first.endswith("/kick alice")
    assert not second.startswith("!")
    assert second.endswith("!ask myself")
    assert t.said()[-1] == "mod: bold code /ban bob"


@pytest_twisted.ensureDeferred
async def test_a_very_long_answer_is_split_and_capped(make: Any) -> None:
    t = make(max_lines=2, max_answer_chars=5000)
    words = " ".join(f"word{i}" for i in range(400))  # ~3,500 characters
    t.server.answers.append(words + " /kick everyone")
    t.chat("alice", "rosey, talk a lot")
    await t.settled(1)
    said = t.said()
    assert len(said) == 2
    assert all(len(line) <= 320 for line in said)
    assert said[0].startswith("alice: word0 word1")
    assert said[1].endswith("…")
    assert "/kick" not in " ".join(said)


@pytest_twisted.ensureDeferred
async def test_a_split_part_never_starts_a_command(make: Any) -> None:
    t = make(max_lines=3)
    filler = "x" * 315
    t.server.answers.append(f"{filler} /kick alice")
    t.pm("alice", "go")
    await t.settled(1)
    parts = t.pms("alice")
    assert len(parts) == 2
    assert all(not p.startswith("/") for p in parts)


# -- load: one in flight, cooldowns, budget -------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_questions_meanwhile_wait_in_order(make: Any) -> None:
    t = make(busy="queue")
    slow = t.server.hold()
    t.chat("alice", "rosey, first")
    await eventually(lambda: len(t.server.seen) == 1)
    t.chat("mod", "rosey, second")
    assert t.plugin.busy
    assert len(t.plugin.queue) == 1
    assert len(t.server.seen) == 1  # one request in flight
    t.server.answers.append("answer two")
    slow.callback(Reply(200, completion("answer one")))
    await t.settled(2)
    assert t.said()[-2:] == ["alice: answer one", "mod: answer two"]


@pytest_twisted.ensureDeferred
async def test_questions_meanwhile_dropped_with_a_note(make: Any) -> None:
    t = make(busy="drop")
    slow = t.server.hold()
    t.chat("alice", "rosey, first")
    await eventually(lambda: len(t.server.seen) == 1)
    t.chat("mod", "rosey, second")
    t.pump()
    assert t.said()[-1] == f"mod: {BUSY}"
    slow.callback(Reply(200, completion("answer one")))
    await t.settled(1)
    assert t.said()[-1] == "alice: answer one"
    assert len(t.server.seen) == 1


@pytest_twisted.ensureDeferred
async def test_per_user_cooldown(make: Any) -> None:
    t = make(user_cooldown=30)
    t.chat("alice", "rosey one")
    await t.settled(1)
    t.chat("alice", "rosey two")  # within 30 s of the first (settled advanced ~20)
    t.chat("mod", "rosey three")  # someone else may
    await t.settled(2)
    t.clock.advance(30)
    t.chat("alice", "rosey four")
    await t.settled(3)
    asked = [s.messages[-1]["content"] for s in t.server.seen]
    assert asked == [
        "alice says to you: rosey one",
        "mod says to you: rosey three",
        "alice says to you: rosey four",
    ]


@pytest_twisted.ensureDeferred
async def test_requests_per_minute_budget(make: Any) -> None:
    t = make(requests_per_minute=1, user_cooldown=0)
    t.chat("alice", "rosey one")
    await t.settled(1)
    t.chat("mod", "rosey two")
    t.pump()
    assert len(t.server.seen) == 1
    assert t.said()[-1] == f"mod: {SPENT}"
    t.clock.advance(60)
    t.chat("mod", "rosey three")
    await t.settled(2)
    assert t.said()[-1] == "mod: hello there"


@pytest_twisted.ensureDeferred
async def test_token_budget_from_usage_and_estimated(make: Any) -> None:
    t = make(tokens_per_hour=100, user_cooldown=0, requests_per_minute=100)
    t.server.then(Reply(200, completion("costly", total_tokens=60)))
    t.chat("alice", "rosey one")
    await t.settled(1)
    assert t.plugin.budget.tokens_used(t.clock.seconds()) == 60
    t.server.then(Reply(200, completion("no usage given", total_tokens=None)))
    t.chat("alice", "rosey two")
    await t.settled(2)
    assert t.plugin.budget.tokens_used(t.clock.seconds()) > 100  # estimated from the text
    t.clock.advance(61)
    t.chat("alice", "rosey three")
    t.pump()
    assert len(t.server.seen) == 2
    assert t.said()[-1] == f"alice: {SPENT}"
    t.clock.advance(3600)
    t.chat("alice", "rosey four")
    await t.settled(3)


# -- a server that fails ------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_500_is_one_short_line_and_logged_once(make: Any) -> None:
    t = make(user_cooldown=0)
    t.server.then(Reply(500, error_body(f"boom, key {KEY} rejected")))
    t.server.then(Reply(500, error_body("boom again")))
    t.chat("alice", "rosey one")
    await t.settled(1)
    t.chat("mod", "rosey two")
    await t.settled(2)
    assert [line for line in t.said() if SORRY in line] == [f"alice: {SORRY}"]  # once a minute
    warnings = [line for line in t.logs if "no answer from the server" in line]
    assert len(warnings) == 1
    assert "HTTP 500: boom, key *** rejected" in warnings[0]
    assert not any(KEY in line for line in t.logs)
    assert "not answering" in t.plugin.status()
    t.clock.advance(60)
    t.chat("alice", "rosey three")
    await t.settled(3)
    assert t.said()[-1] == "alice: hello there"
    assert any("answers again" in line for line in t.logs)


@pytest_twisted.ensureDeferred
async def test_garbage_answers(make: Any) -> None:
    t = make(user_cooldown=0)
    t.server.then(Reply(200, b"{not json"))
    t.server.then(Reply(200, b'{"choices": []}'))
    t.server.then(Reply(200, error_body("model not loaded")))
    for i in range(3):
        t.clock.advance(61)
        t.chat("alice", f"rosey {i}")
        await t.settled(i + 1)
    assert t.said().count(f"alice: {SORRY}") == 3
    assert not t.plugin.busy


@pytest_twisted.ensureDeferred
async def test_429_retry_after_pauses_asking(make: Any) -> None:
    t = make(user_cooldown=0)
    t.server.then(
        Reply(
            429,
            error_body("Rate limit reached", "requests"),
            {"content-type": "application/json", "retry-after": "120"},
        )
    )
    t.chat("alice", "rosey one")
    await t.settled(1)  # the clock moved ~21 s
    assert t.said()[-1] == f"alice: {SORRY}"
    assert "paused by the server" in t.plugin.status()
    t.chat("mod", "rosey two")
    t.pump()
    assert len(t.server.seen) == 1
    t.clock.advance(120)
    t.chat("mod", "rosey three")
    await t.settled(2)
    assert t.said()[-1] == "mod: hello there"


@pytest_twisted.ensureDeferred
async def test_a_slow_server_times_out_on_the_clock(make: Any) -> None:
    t = make(timeout=20)
    slow = t.server.hold()
    t.chat("alice", "rosey, think hard")
    await eventually(lambda: len(t.server.seen) == 1)
    t.clock.advance(19)
    assert t.plugin.busy
    t.clock.advance(2)
    await eventually(lambda: not t.plugin.busy)
    t.pump()
    assert t.said()[-1] == f"alice: {SORRY}"
    assert any("no answer within 20 s" in line for line in t.logs)
    slow.callback(Reply(200, completion("too late")))
    t.pump()
    assert "too late" not in " ".join(t.said())


@pytest_twisted.ensureDeferred
async def test_server_down(make: Any) -> None:
    t = make(base_url="http://127.0.0.1:1/v1")  # nothing listens on port 1
    t.chat("alice", "rosey?")
    await eventually(lambda: not t.plugin.busy)
    t.pump()
    assert t.said()[-1] == f"alice: {SORRY}"


# -- moderators ---------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_moderators_pause_resume_and_read_the_budget(make: Any) -> None:
    t = make()
    t.chat("alice", "!llm off")
    t.pump()
    assert t.said()[-1] == "Only moderators can do that."
    t.chat("mod", "!llm off")
    t.pump()
    assert t.said()[-1] == "I'll stay quiet."
    t.chat("alice", "rosey?")
    t.chat("alice", "!ask anything")
    t.pump()
    assert t.server.seen == []
    t.chat("mod", "!llm status")
    t.pump()
    assert t.said()[-1].startswith("llm off: 0/6 requests this minute, 0/20,000 tokens")
    t.chat("mod", "!llm on")
    t.pump()
    t.chat("alice", "rosey?")
    await t.settled(1)
    assert t.said()[-1] == "alice: hello there"


@pytest_twisted.ensureDeferred
async def test_opt_outs_and_the_pause_outlive_a_restart(
    llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    storage = open_storage(db_url, reactor)
    await bounded(storage.connect())
    t = LLMLab(llm_server, monkeypatch, storage)
    t.chat("bob", "!llm optout")
    t.chat("mod", "!llm off")
    await eventually(lambda: t.plugin.paused and t.plugin.opted_out == {"bob"})
    await bounded(t.stop())
    again = LLMLab(llm_server, monkeypatch, storage)
    await eventually(lambda: again.plugin._loader.loaded)
    assert again.plugin.paused
    assert again.plugin.opted_out == {"bob"}
    again.chat("mod", "!llm on")
    again.chat("bob", "!llm optin")
    await eventually(lambda: not again.plugin.paused and not again.plugin.opted_out)
    await bounded(again.stop())
    third = LLMLab(llm_server, monkeypatch, storage)
    await eventually(lambda: third.plugin._loader.loaded)
    assert not third.plugin.paused
    assert third.plugin.opted_out == set()
    await bounded(third.stop())
    await bounded(storage.close())


@pytest_twisted.ensureDeferred
async def test_stopping_abandons_the_request_quietly(make: Any) -> None:
    t = make()
    slow = t.server.hold()
    t.chat("alice", "rosey, first")
    await eventually(lambda: len(t.server.seen) == 1)
    t.chat("mod", "rosey, second")
    await bounded(t.plugin.stop())
    assert not t.plugin.busy
    assert not t.plugin.queue
    slow.callback(Reply(200, completion("too late")))
    t.pump()
    assert t.said() == []
    assert len(t.server.seen) == 1


@pytest_twisted.ensureDeferred
async def test_an_unreadable_stored_opt_out_list_is_ignored(
    llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    storage = open_storage(db_url, reactor)
    await bounded(storage.connect())
    t = LLMLab(llm_server, monkeypatch, storage)
    await bounded(t.plugin.kv.set("optouts", "{broken"))
    await bounded(t.stop())
    again = LLMLab(llm_server, monkeypatch, storage)
    await eventually(lambda: again.plugin._loader.loaded)
    assert again.plugin.opted_out == set()
    assert any("does not hold JSON" in line for line in again.logs)
    await bounded(again.stop())
    await bounded(storage.close())

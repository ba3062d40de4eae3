"""The ``llm`` plugin's parts on their own: its settings (the API key above all), the budget's
windows, what an answer may say, how a server's answer is read, and the context."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rosey.api import HTTPResponse
from rosey.plugin import PluginConfigError
from rosey.plugins.llm_budget import Budget, estimate_tokens
from rosey.plugins.llm_client import LLMError, answer_text, parse_answer, request_body
from rosey.plugins.llm_config import DEFAULT_PERSONA, LLMConfig, parse_config
from rosey.plugins.llm_context import ChatContext, build_messages
from tests.plugins.llm_server import completion, error_body

KEY = "sk-secret-key-value"

# -- settings -----------------------------------------------------------------------------------


def test_defaults_point_at_a_local_llama_cpp_server() -> None:
    config = parse_config({})
    assert config == LLMConfig()
    assert config.url == "http://127.0.0.1:8080/v1/chat/completions"
    assert config.api_key.value == ""
    assert config.persona == DEFAULT_PERSONA


def test_the_key_from_the_environment_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROSEY_LLM_KEY", f"  {KEY}\n")
    config = parse_config({"api_key_env": "ROSEY_LLM_KEY", "base_url": "https://x.example/v1/"})
    assert config.api_key.value == KEY
    assert KEY not in repr(config)
    assert KEY not in str(config.api_key)
    assert config.url == "https://x.example/v1/chat/completions"


def test_the_key_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    assert parse_config({"api_key_file": str(path)}).api_key.value == KEY


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"api_key": KEY}, "plugins.llm.api_key: unknown key"),
        ({"api_key_env": "NO_SUCH_VARIABLE_HERE"}, "NO_SUCH_VARIABLE_HERE is not set"),
        ({"api_key_env": "A", "api_key_file": "b"}, "not both"),
        ({"api_key_file": "/nonexistent/key"}, "cannot read /nonexistent/key"),
        ({"base_url": "ftp://x/v1"}, "plugins.llm.base_url: 'ftp://x/v1' is not an http"),
        ({"busy": "wait"}, "plugins.llm.busy: 'wait' is not 'queue' or 'drop'"),
        ({"persona": "a", "persona_file": "b"}, "not both"),
        ({"max_lines": 0}, "plugins.llm.max_lines: 0 is less than 1"),
        ({"join_probability": 2}, "more than 1"),
        ({"bots": ["no spaces please"]}, "is not a CyTube user name"),
    ],
)
def test_bad_settings_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(PluginConfigError) as caught:
        parse_config(raw)
    assert message in str(caught.value)
    assert KEY not in str(caught.value)


def test_a_persona_file(tmp_path: Path) -> None:
    path = tmp_path / "persona.txt"
    path.write_text("You are {name}, a pirate.\n")
    config = parse_config({"persona_file": str(path), "opt_out": ["Carol"], "bots": ["Bot_2"]})
    assert config.persona == "You are {name}, a pirate."
    assert config.opt_out == frozenset({"carol"})
    assert config.bots == frozenset({"bot_2"})


# -- the budget ---------------------------------------------------------------------------------


def test_requests_per_minute_slide() -> None:
    budget = Budget(user_cooldown=10, requests_per_minute=2, tokens_per_hour=1000)
    budget.spend_request(0)
    budget.spend_request(30)
    assert budget.refusal(59) == "too many questions this minute"
    assert budget.refusal(60) is None  # the first has left the window
    assert budget.requests_used(91) == 0


def test_tokens_per_hour_slide() -> None:
    budget = Budget(user_cooldown=0, requests_per_minute=100, tokens_per_hour=100)
    budget.spend_tokens(0, 60)
    budget.spend_tokens(10, 50)
    assert budget.refusal(11) == "my token budget for this hour is spent"
    assert budget.tokens_used(3600) == 50
    assert budget.refusal(3600) is None
    assert "50/100 tokens this hour" in budget.describe(3600)


def test_cooldowns_and_retry_after() -> None:
    budget = Budget(user_cooldown=30, requests_per_minute=10, tokens_per_hour=100)
    budget.touch("Alice", 100)
    assert budget.cooling("alice", 110) == 20
    assert budget.cooling("bob", 110) == 0
    assert budget.cooling("ALICE", 130) == 0
    budget.pause(100, 90)
    assert budget.refusal(150) == "the server asked me to wait 40 s"
    assert "paused by the server for 40 s" in budget.describe(150)
    assert budget.refusal(190) is None
    budget.pause(200, 10**9)  # capped at an hour
    assert budget.refusal(200 + 3600) is None


def test_token_estimate() -> None:
    assert estimate_tokens("") == 1
    assert estimate_tokens("abcd" * 10, "ab") == 11


# -- answers ------------------------------------------------------------------------------------


def test_an_answer_is_plain_text_on_one_line() -> None:
    text = "rosey: **Sure!**\n\n# Heading\nUse `ls`  now."
    assert answer_text(text, "rosey", 600) == "Sure! Heading Use ls now."
    assert answer_text("\x00\u2028", "rosey", 600) == ""


def test_a_long_answer_is_cut_at_a_word() -> None:
    text = answer_text("alpha beta gamma delta epsilon", "rosey", 20)
    assert text == "alpha beta gamma…"
    assert len(text) <= 20


def test_reading_a_good_answer() -> None:
    answer = parse_answer(HTTPResponse(200, {}, completion("hi", total_tokens=12)))
    assert (answer.text, answer.tokens) == ("hi", 12)
    assert parse_answer(HTTPResponse(200, {}, completion("hi", None))).tokens is None


@pytest.mark.parametrize(
    ("response", "reason", "retry"),
    [
        (HTTPResponse(500, {}, error_body("overloaded")), "HTTP 500: overloaded", None),
        (HTTPResponse(502, {}, b"<html>bad gateway</html>"), "HTTP 502", None),
        (
            HTTPResponse(429, {"retry-after": "7"}, error_body("slow down")),
            "HTTP 429: slow down",
            7.0,
        ),
        (HTTPResponse(429, {"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}), "HTTP 429", 60.0),
        (HTTPResponse(200, {}, b"{truncated"), "not a JSON object", None),
        (HTTPResponse(200, {}, b"[1, 2]"), "not a JSON object", None),
        (HTTPResponse(200, {}, error_body("model not found")), "error: model not found", None),
        (HTTPResponse(200, {}, b'{"choices": []}'), "no choices[0].message.content", None),
        (
            HTTPResponse(200, {}, json.dumps({"choices": [{"message": {"content": 3}}]}).encode()),
            "no choices[0].message.content",
            None,
        ),
    ],
)
def test_reading_a_bad_answer(response: HTTPResponse, reason: str, retry: float | None) -> None:
    with pytest.raises(LLMError) as caught:
        parse_answer(response)
    assert reason in str(caught.value)
    assert caught.value.retry_after == retry


def test_a_server_echoing_the_key_is_masked() -> None:
    with pytest.raises(LLMError) as caught:
        parse_answer(HTTPResponse(401, {}, error_body(f"Incorrect API key provided: {KEY}")), KEY)
    assert KEY not in str(caught.value)
    assert "***" in str(caught.value)


def test_the_request_body() -> None:
    messages = [{"role": "user", "content": "hi"}]
    body = request_body(parse_config({"model": "m", "max_tokens": 50}), messages)
    assert body == {
        "messages": messages,
        "max_tokens": 50,
        "temperature": 0.7,
        "stream": False,
        "model": "m",
    }


# -- context ------------------------------------------------------------------------------------


def test_the_context_keeps_the_newest_lines_that_fit() -> None:
    context = ChatContext(3)
    for i in range(5):
        context.add("alice", f"line {i}")
    assert [line.text for line in context.lines(lambda _: True, 1000)] == [
        "line 2",
        "line 3",
        "line 4",
    ]
    assert [line.text for line in context.lines(lambda _: True, 26)] == ["line 3", "line 4"]
    context.add("bob", "bob here")
    assert [line.user for line in context.lines(lambda u: u != "bob", 1000)] == ["alice"] * 2
    context.forget("ALICE")
    assert [line.text for line in context.lines(lambda _: True, 1000)] == ["bob here"]


def test_no_context_lines_at_all() -> None:
    context = ChatContext(0)
    context.add("alice", "hi")
    assert len(context) == 0
    messages = build_messages("I am {name}.", "rosey", [], "alice", "hi?", private=True)
    assert messages == [
        {"role": "system", "content": "I am rosey."},
        {"role": "user", "content": "alice asks you in a private message: hi?"},
    ]

"""Commands in, without NATS: requests parsed into calls on a channel's bot, outcomes into
replies (rosey.bus.commands)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import LogLevel

from rosey.bot.errors import ActionFailed, ActionRefused, QueueFailed, TargetNotFound
from rosey.bot.medialink import MediaLinkError
from rosey.bot.sendqueue.lines import Muted, QueueFull
from rosey.bus.commands import (
    ACTIONS,
    BadRequest,
    CommandHandler,
    channel_commands,
    command_subject,
    error_type,
    parse,
)
from rosey.bus.interface import ICommandTarget
from rosey.errors import AckTimeout, ChannelPermissionError, ConnectionClosed, NotConnected


def test_subjects_use_the_events_channel_token() -> None:
    assert (
        command_subject("cytu.be/my chan", "say")
        == "rosey.commands.cytube.cytu_2ebe_2fmy_20chan.say"
    )
    assert channel_commands("cytu.be/a") == "rosey.commands.cytube.cytu_2ebe_2fa.*"


@pytest.mark.parametrize(
    ("action", "body", "kwargs"),
    [
        ("say", b'{"text": "hi"}', {"text": "hi"}),
        ("pm", b'{"to": "bob", "text": "hi"}', {"to": "bob", "text": "hi"}),
        ("me", b'{"text": "waves"}', {"text": "waves"}),
        ("queue", b'{"link": "yt:abc"}', {"link": "yt:abc", "position": "end"}),
        (
            "queue",
            b'{"link": "yt:abc", "position": "next"}',
            {"link": "yt:abc", "position": "next"},
        ),
        ("delete", b'{"uid": 4}', {"uid": 4, "link": None}),
        ("delete", b'{"link": "yt:abc"}', {"uid": None, "link": "yt:abc"}),
        ("skip", b"", {}),
        ("skip", b"{}", {}),
        ("voteskip", b" ", {}),
        ("kick", b'{"name": "bob"}', {"name": "bob", "reason": ""}),
        ("kick", b'{"name": "bob", "reason": "spam"}', {"name": "bob", "reason": "spam"}),
        ("mute", b'{"name": "bob"}', {"name": "bob"}),
        ("unmute", b'{"name": "bob"}', {"name": "bob"}),
    ],
)
def test_requests_become_keyword_arguments(
    action: str, body: bytes, kwargs: dict[str, Any]
) -> None:
    assert parse(action, body) == kwargs


def test_every_action_is_a_method_of_the_target_interface() -> None:
    assert set(ACTIONS) <= set(ICommandTarget.names())


@pytest.mark.parametrize(
    ("action", "body", "kind", "says"),
    [
        ("dance", b"{}", "unknown action", "unknown action 'dance'; known: delete, kick"),
        ("say", b"hi there", "not JSON", "not JSON"),
        ("say", b"\xff\xfe", "not JSON", "not JSON"),
        ("say", b'["hi"]', "not an object", "not a JSON object"),
        ("say", b"{}", "missing key", "missing key 'text'"),
        ("say", b'{"text": "hi", "colour": "red"}', "unknown key", "unknown key 'colour'"),
        ("say", b'{"text": 5}', "wrong type", "'text' must be a string"),
        ("delete", b'{"uid": "4"}', "wrong type", "'uid' must be an integer"),
        ("delete", b'{"uid": true}', "wrong type", "'uid' must be an integer"),
        ("delete", b"{}", "missing key", "exactly one of uid or link"),
        ("delete", b'{"uid": 1, "link": "yt:a"}', "missing key", "exactly one of uid or link"),
        ("queue", b'{"link": "yt:a", "position": "first"}', "wrong value", "end, next"),
        ("skip", b'{"now": true}', "unknown key", "expected no keys"),
    ],
)
def test_malformed_requests_say_what_is_wrong(
    action: str, body: bytes, kind: str, says: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(action, body)
    assert caught.value.kind == kind
    assert says in caught.value.message


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TargetNotFound("no such user"), "TargetNotFound"),
        (ActionRefused("nothing playing"), "ActionRefused"),
        (ActionFailed("no"), "ActionFailed"),
        (QueueFailed("too long", None, "x"), "ActionFailed"),
        (Muted("muted"), "ActionFailed"),
        (QueueFull("full"), "ActionRefused"),
        (ChannelPermissionError("rank"), "ChannelPermissionError"),
        (NotConnected("not joined"), "NotConnected"),
        (ConnectionClosed("gone"), "NotConnected"),
        (AckTimeout("slow"), "Timeout"),
        (MediaLinkError("not a link"), "BadRequest"),
        (ValueError("blank"), "BadRequest"),
        (KeyError("bug"), None),
    ],
)
def test_the_bots_errors_keep_their_names(error: Exception, kind: str | None) -> None:
    assert error_type(error) == kind


class Target:
    """Answers every action with what ``outcome`` holds for it, and records the calls."""

    def __init__(self, **outcome: Any) -> None:
        self.outcome = outcome
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, action: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls.append((action, kwargs))
            result = self.outcome.get(action)
            if isinstance(result, Exception):
                raise result
            return result if isinstance(result, Deferred) else succeed(result)

        return call


def reply(handler: CommandHandler, action: str, body: bytes) -> Any:
    replies: list[bytes] = []
    handler.handle(action, body).addCallback(replies.append)
    assert replies, "no reply yet"
    return json.loads(replies[0])


def test_a_confirmed_action_replies_ok_with_its_fields() -> None:
    target = Target(queue={"uid": 7})
    handler = CommandHandler("site/chan", target, Clock())  # type: ignore[arg-type]
    assert reply(handler, "say", b'{"text": "hi"}') == {"ok": True}
    assert reply(handler, "queue", b'{"link": "yt:abc"}') == {"ok": True, "uid": 7}
    assert target.calls == [
        ("say", {"text": "hi"}),
        ("queue", {"link": "yt:abc", "position": "end"}),
    ]


def test_the_reply_waits_for_the_servers_confirmation() -> None:
    confirmed: Deferred[None] = Deferred()
    handler = CommandHandler("site/chan", Target(say=confirmed), Clock())  # type: ignore[arg-type]
    replies: list[bytes] = []
    handler.handle("say", b'{"text": "hi"}').addCallback(replies.append)
    assert replies == []
    confirmed.callback(None)
    assert json.loads(replies[0]) == {"ok": True}


def test_refusals_reply_with_the_typed_error() -> None:
    target = Target(
        kick=fail(ChannelPermissionError("kick refused: labowner has rank 5")),
        mute=TargetNotFound("mute refused: nobody is called bob"),
    )
    handler = CommandHandler("site/chan", target, Clock())  # type: ignore[arg-type]
    assert reply(handler, "kick", b'{"name": "labowner"}') == {
        "ok": False,
        "error": {"type": "ChannelPermissionError", "message": "kick refused: labowner has rank 5"},
    }
    assert reply(handler, "mute", b'{"name": "bob"}')["error"]["type"] == "TargetNotFound"


def test_an_action_without_an_answer_times_out() -> None:
    clock = Clock()
    handler = CommandHandler("site/chan", Target(say=Deferred()), clock, timeout=60)  # type: ignore[arg-type]
    replies: list[bytes] = []
    handler.handle("say", b'{"text": "hi"}').addCallback(replies.append)
    clock.advance(59.9)
    assert replies == []
    clock.advance(0.1)
    assert json.loads(replies[0])["error"] == {
        "type": "Timeout",
        "message": "say: no confirmation from the server in time",
    }


def test_a_bug_is_logged_and_answered_without_details(logged: list[dict[str, Any]]) -> None:
    handler = CommandHandler("site/chan", Target(skip=KeyError("x")), Clock())  # type: ignore[arg-type]
    answer = reply(handler, "skip", b"")
    assert answer["error"] == {
        "type": "InternalError",
        "message": "skip: an internal error (logged)",
    }
    assert [e["log_level"] for e in logged if "log_failure" in e] == [LogLevel.critical]


def test_malformed_requests_are_answered_each_time_and_logged_once_per_kind(
    logged: list[dict[str, Any]],
) -> None:
    handler = CommandHandler("site/chan", Target(), Clock())  # type: ignore[arg-type]
    answers = [
        reply(handler, "say", b"not json"),
        reply(handler, "say", b"still not"),
        reply(handler, "dance", b"{}"),
        reply(handler, "dance", b"{}"),
    ]
    assert [a["error"]["type"] for a in answers] == ["BadRequest"] * 4
    assert answers[0]["error"]["message"] == "say: the request body is not JSON"
    warnings = [e for e in logged if e.get("log_namespace") == "rosey.bus.commands"]
    assert len(warnings) == 2
    assert handler.target.calls == []  # type: ignore[attr-defined]

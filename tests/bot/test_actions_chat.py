"""Chat and moderation actions against chat_and_pm and users_coming_and_going.

The fixtures hold no kick, ban or mute; those answers are written in the shapes of
src/channel/chat.js and kickban.js (CyTube 3.86): ``setUserMeta`` as in users_coming_and_going,
``userLeave {name}``, the ``[server]`` whisper as ``sendModMessage`` builds it, ``errorMsg {msg}``.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred

from rosey.bot.errors import ActionFailed, TargetNotFound
from rosey.errors import AckTimeout, ChannelPermissionError
from tests.bot.test_actions import Lab, failed, ok, settled

WHISPER_META = {"addClass": "server-whisper", "addClassToNameAndTimestamp": True}


def people() -> Lab:
    """labbot (3) with labuser (1), guest visitor1461 (0) and labmod (2)."""
    return Lab("users_coming_and_going").to_note("labuser: /afk")


def user_meta(name: str, **meta: Any) -> dict[str, Any]:
    full = {"afk": False, "muted": False, "smuted": False, "aliases": [name], "ip": "+Jk.qJz"}
    full.update(meta)
    return {"name": name, "meta": full}


# -- chat, /me, pm ---------------------------------------------------------------------------------


def test_chat_sends_the_recorded_line_and_fires_on_the_echo() -> None:
    lab = Lab("chat_and_pm").to_note("labbot replies")
    name, data = lab.recorded_out()
    assert name == "chatMsg"
    echoed: Deferred[None] = Deferred()
    lab.answer = lambda: echoed
    d = lab.actions.chat(data["msg"])
    assert lab.said == [("hello labuser! I read you 👋", None)]
    assert not d.called
    echoed.callback(None)
    assert ok(d) is None
    assert lab.sent == []  # chat goes through the send queue only


def test_chat_passes_meta_on() -> None:
    lab = people()
    ok(lab.actions.chat("hi", {"modflair": 3}))
    assert lab.said == [("hi", {"modflair": 3})]


@pytest.mark.parametrize("text", ["/kick labuser", "/clear", "/afk", "/d3 cheers", "/rank x 2"])
def test_chat_refuses_text_the_server_would_run_as_a_command(text: str) -> None:
    lab = people()
    assert "server command" in str(failed(lab.actions.chat(text), ValueError))
    assert lab.quiet()


@pytest.mark.parametrize("text", ["/me waves", "/sp spoiler", "/notacommand hi", "a/kick"])
def test_chat_allows_styled_lines_and_unknown_slashes(text: str) -> None:
    lab = people()
    ok(lab.actions.chat(text))
    assert lab.said == [(text, None)]


@pytest.mark.parametrize("call", ["chat", "me", "pm"])
def test_blank_text_is_refused(call: str) -> None:
    lab = people()
    d = lab.actions.pm("labuser", "  ") if call == "pm" else getattr(lab.actions, call)(" \n")
    assert "blank" in str(failed(d, ValueError))
    assert lab.quiet()


def test_me_sends_a_me_line() -> None:
    lab = people()
    ok(lab.actions.me("waves at everyone"))
    assert lab.said == [("/me waves at everyone", None)]


def test_pm_sends_the_recorded_reply() -> None:
    lab = Lab("chat_and_pm").to_note("labbot replies")
    lab.recorded_out()  # the chat reply
    name, data = lab.recorded_out()
    assert name == "pm"
    ok(lab.actions.pm("LabUser", data["msg"]))
    assert lab.pms == [(data["to"], "yes, I am here (PM reply) & listening")]


def test_pm_to_someone_absent_or_to_itself_is_refused() -> None:
    lab = people()
    failed(lab.actions.pm("labowner", "hi"), TargetNotFound)
    failed(lab.actions.pm("LABBOT", "hi"), ValueError)
    assert lab.quiet()


# -- /afk, /clear ----------------------------------------------------------------------------------


def test_afk_toggles_and_fires_with_the_new_state() -> None:
    lab = people()
    d = lab.actions.afk()
    assert lab.said == [("/afk", None)]
    lab.server("setUserMeta", user_meta("labuser", afk=True))
    lab.server("setAFK", {"name": "labuser", "afk": True})  # someone else's
    assert not d.called
    lab.server("setUserMeta", user_meta("labbot", afk=True))
    lab.server("setAFK", {"name": "labbot", "afk": True})
    assert ok(d) is True
    assert lab.mirror.afk


def test_clear_chat_fires_on_clearchat() -> None:
    lab = people()
    d = lab.actions.clear_chat()
    assert lab.said == [("/clear", None)]
    lab.server("clearchat", None)
    assert ok(d) is None


# -- kick ----------------------------------------------------------------------------------------


def test_kick_fires_when_the_target_has_left() -> None:
    lab = people()
    d = lab.actions.kick("LABUSER", "spamming\nlinks")
    assert lab.said == [("/kick labuser spamming links", None)]
    lab.server("userLeave", {"name": "visitor1461"})
    assert not d.called
    lab.server("userLeave", {"name": "labuser"})
    assert ok(d) is None
    assert "labuser" not in lab.mirror.users


def test_kick_without_reason() -> None:
    lab = people()
    lab.actions.kick("labmod")
    assert lab.said == [("/kick labmod", None)]


def test_kick_refused_by_the_server() -> None:
    lab = people()
    d = lab.actions.kick("labmod")
    lab.server("errorMsg", {"msg": "You do not have permission to kick labuser"})  # not ours
    assert not d.called
    lab.server("errorMsg", {"msg": "You do not have permission to kick labmod"})
    error = failed(d, ActionFailed)
    assert error.server_message == "You do not have permission to kick labmod"


def test_kick_refused_locally() -> None:
    lab = Lab("users_coming_and_going").to_note("labowner: setChannelRank")
    assert "labowner" in str(failed(lab.actions.kick("labowner"), ChannelPermissionError))
    failed(lab.actions.kick("labbot"), ChannelPermissionError)
    failed(lab.actions.kick("nobody"), TargetNotFound)
    assert lab.quiet()


# -- ban, unban ----------------------------------------------------------------------------------


def test_ban_fires_on_the_server_notice() -> None:
    lab = people()
    d = lab.actions.ban("Visitor1461", "bye")
    assert lab.said == [("/ban Visitor1461 bye", None)]
    lab.server(
        "chatMsg",
        {
            "username": "[server]",
            "msg": "labbot muted labuser",
            "meta": WHISPER_META,
            "time": 1795296900000,
        },
    )
    assert not d.called
    lab.server(
        "chatMsg",
        {
            "username": "[server]",
            "msg": "labbot namebanned visitor1461",
            "meta": WHISPER_META,
            "time": 1795296900001,
        },
    )
    assert ok(d) is None


def test_ban_of_someone_offline_is_sent() -> None:
    lab = people()
    d = lab.actions.ban("troll")
    assert lab.said == [("/ban troll", None)]
    assert not d.called


@pytest.mark.parametrize(
    "msg",
    [
        "troll is already banned",
        "You don't have permission to ban troll",
        "You do not have ban permissions on this channel",
    ],
)
def test_ban_refused_by_the_server(msg: str) -> None:
    lab = people()
    d = lab.actions.ban("Troll")
    lab.server("errorMsg", {"msg": msg})
    assert failed(d, ActionFailed).server_message == msg


def test_ban_refused_locally() -> None:
    lab = Lab("users_coming_and_going").to_note("labowner: setChannelRank")
    failed(lab.actions.ban("labowner"), ChannelPermissionError)
    failed(lab.actions.ban("labbot"), ValueError)
    failed(lab.actions.ban("not a name"), ValueError)
    assert lab.quiet()


BANLIST = [
    {"id": 3, "ip": "*", "name": "troll", "reason": "spam", "bannedby": "labbot"},
    {"id": 4, "ip": "+Jk.c2A.AUP.J/f", "name": "troll", "reason": "", "bannedby": "labmod"},
    {"id": 5, "ip": "*", "name": "other", "reason": "", "bannedby": "labbot"},
]


def test_unban_lifts_every_ban_of_the_name() -> None:
    lab = people()
    d = lab.actions.unban("Troll")
    assert lab.sent == [("requestBanlist", None)]
    lab.server("banlist", BANLIST)
    assert lab.sent[1:] == [
        ("unban", {"id": 3, "name": "troll"}),
        ("unban", {"id": 4, "name": "troll"}),
    ]
    lab.server("banlistRemove", {"id": 3, "name": "troll"})
    assert not settled(d)
    lab.server("banlistRemove", {"id": 4, "name": "troll"})
    assert ok(d) == 2


def test_unban_of_a_name_not_banned() -> None:
    lab = people()
    d = lab.actions.unban("nobody")
    lab.server("banlist", BANLIST)
    assert "not banned" in str(failed(d, TargetNotFound))
    assert lab.sent == [("requestBanlist", None)]


def test_unban_times_out_when_a_removal_is_not_confirmed() -> None:
    lab = people()
    d = lab.actions.unban("troll")
    lab.server("banlist", BANLIST)
    lab.server("banlistRemove", {"id": 3, "name": "troll"})
    lab.clock.advance(10)
    assert "ban 4" in str(failed(d, AckTimeout))


def test_unban_times_out_without_a_banlist() -> None:
    lab = people()
    d = lab.actions.unban("troll")
    lab.clock.advance(10)
    assert "requestBanlist" in str(failed(d, AckTimeout))


# -- mute, smute, unmute ---------------------------------------------------------------------------


def test_mute_fires_on_the_targets_meta() -> None:
    lab = people()
    d = lab.actions.mute("LabUser")
    assert lab.said == [("/mute labuser", None)]
    lab.server("setUserMeta", user_meta("labmod", muted=True))
    assert not d.called
    lab.server("setUserMeta", user_meta("labuser", afk=True, muted=True))
    assert ok(d) is None
    assert lab.mirror.users.get("labuser").muted  # type: ignore[union-attr]


def test_smute_needs_the_shadow_flag() -> None:
    lab = people()
    d = lab.actions.smute("labuser")
    assert lab.said == [("/smute labuser", None)]
    lab.server("setUserMeta", user_meta("labuser", muted=True))
    assert not d.called
    lab.server("setUserMeta", user_meta("labuser", muted=True, smuted=True))
    assert ok(d) is None


def test_unmute_fires_when_the_mute_is_gone() -> None:
    lab = people()
    lab.server("setUserMeta", user_meta("labuser", muted=True, smuted=True))
    d = lab.actions.unmute("labuser")
    assert lab.said == [("/unmute labuser", None)]
    lab.server("setUserMeta", user_meta("labuser", muted=False))
    assert ok(d) is None


@pytest.mark.parametrize(
    ("action", "msg"),
    [
        ("mute", "/mute target labuser not present in channel."),
        ("mute", "/mute failed - labuser has equal or higher rank than you."),
        ("smute", "/smute target labuser not present in channel."),
        ("unmute", "labuser is not muted."),
    ],
)
def test_mute_family_refused_by_the_server(action: str, msg: str) -> None:
    lab = people()
    d = getattr(lab.actions, action)("labuser")
    lab.server("errorMsg", {"msg": msg})
    assert failed(d, ActionFailed).server_message == msg


def test_mute_family_refused_locally() -> None:
    lab = Lab("users_coming_and_going").to_note("labowner: setChannelRank")
    failed(lab.actions.mute("labowner"), ChannelPermissionError)
    failed(lab.actions.smute("labowner"), ChannelPermissionError)
    failed(lab.actions.mute("nobody"), TargetNotFound)
    failed(lab.actions.unmute("nobody"), TargetNotFound)
    failed(lab.actions.unmute("labbot"), ValueError)
    assert lab.quiet()

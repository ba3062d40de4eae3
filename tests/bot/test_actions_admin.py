"""Channel administration actions in lockstep with channel_admin (labbot, rank 3), and polls.

The fixtures carry no poll traffic from the bot; the ``newPoll`` ack is played through
``FakeConnection.acks`` as §6 of the protocol notes records it (``430[{}]``, or
``432[{"error":{"message":…}}]``), and the poll broadcasts in the shape of src/channel/poll.js.
"""

from __future__ import annotations

from typing import Any

import pytest

from rosey.bot.errors import (
    ActionFailed,
    ActionRefused,
    OptionsRejected,
    PollRejected,
    TargetNotFound,
)
from rosey.bot.state import ChatFilter, Emote
from rosey.errors import AckTimeout, ChannelPermissionError, ConnectionClosed
from tests.bot.test_actions import Lab, failed, ok, settled


def at(note: str) -> Lab:
    return Lab("channel_admin").to_note(note)


# -- MOTD, CSS, JS -------------------------------------------------------------------------------


def test_set_motd_fires_with_the_sanitized_html() -> None:
    lab = at("setMotd with HTML")
    name, data = lab.recorded_out()
    d = lab.actions.set_motd(data["motd"])
    assert lab.sent == [(name, data)]
    lab.replay()
    assert ok(d) == (
        "<h3>Movie night</h3> every <b>Friday</b> &amp; <i>Saturday</i> "
        '<a href="https://example.com">info</a>'
    )


def test_set_motd_as_a_guest_would_be_kicked() -> None:
    lab = Lab("errors_and_limits").to_note("setMotd as a guest")
    assert lab.mirror.name == "errguest9751"
    assert "setMotd" in str(failed(lab.actions.set_motd("guest was here"), ChannelPermissionError))
    assert lab.quiet()


@pytest.mark.parametrize(
    ("note", "method", "key"),
    [("setChannelCSS", "set_css", "css"), ("setChannelJS", "set_js", "js")],
)
def test_set_css_and_js(note: str, method: str, key: str) -> None:
    lab = at(note)
    name, data = lab.recorded_out()
    d = getattr(lab.actions, method)(data[key])
    assert lab.sent == [(name, data)]
    lab.replay()
    assert ok(d) is None
    assert getattr(lab.mirror.channel, key) == data[key]
    assert ok(getattr(lab.actions, method)(data[key])) is None  # unchanged: nothing to send
    assert len(lab.sent) == 1


# -- options and permissions ---------------------------------------------------------------------


def test_set_options_fires_with_the_new_options() -> None:
    lab = at("setOptions (valid)")
    name, data = lab.recorded_out()
    d = lab.actions.set_options(**data)
    assert lab.sent == [(name, data)]
    lab.replay()
    options = ok(d)
    assert options["afk_timeout"] == 300
    assert options["chat_antiflood_params"] == {"burst": 5, "sustained": 2, "cooldown": 2.5}


def test_set_options_validation_error() -> None:
    lab = at("setOptions (invalid")
    name, data = lab.recorded_out()
    d = lab.actions.set_options(**data)
    assert lab.sent == [(name, data)]
    lab.replay()
    error = failed(d, OptionsRejected)
    assert error.target == "#cs-voteskip_ratio"
    assert error.server_message == 'Input must be a number 0 or greater, not "lots"'


def test_set_options_reserved_pagetitle() -> None:
    lab = at("setOptions (valid)")
    d = lab.actions.set_options(pagetitle="cytube")
    lab.server("errorMsg", {"msg": "That pagetitle is reserved", "alert": True})
    assert failed(d, OptionsRejected).target is None


def test_set_options_refused_locally() -> None:
    lab = at("setOptions (valid)")
    assert "bogus" in str(failed(lab.actions.set_options(bogus=1), ValueError))
    failed(lab.actions.set_options(), ValueError)
    lab.server("rank", 2)  # demoted to moderator: admin-only keys would be dropped silently
    assert "pagetitle" in str(
        failed(lab.actions.set_options(pagetitle="x"), ChannelPermissionError)
    )
    assert lab.quiet()
    lab.actions.set_options(afk_timeout=5)
    assert lab.sent == [("setOptions", {"afk_timeout": 5})]


def test_set_permissions() -> None:
    lab = at("setPermissions (playlistadd 2")
    name, data = lab.recorded_out()
    d = lab.actions.set_permissions(data)
    assert lab.sent == [(name, data)]
    lab.replay()
    assert ok(d) is None
    assert lab.mirror.channel.permissions["playlistadd"] == 2


@pytest.mark.parametrize("permissions", [{"nosuchnode": 1}, {"chat": "1"}, {"chat": True}, {}])
def test_set_permissions_bad_arguments(permissions: dict[str, Any]) -> None:
    lab = at("setPermissions (playlistadd 2")
    failed(lab.actions.set_permissions(permissions), ValueError)
    assert lab.quiet()


# -- emotes --------------------------------------------------------------------------------------


def test_update_emote_fires_with_the_stored_emote() -> None:
    lab = at("updateEmote (add)")
    name, data = lab.recorded_out()
    d = lab.actions.update_emote(data["name"], data["image"])
    assert lab.sent == [(name, data)]
    lab.replay()
    assert ok(d) == Emote(
        ":labcat:", "https://media.example.invalid/labcat.png", "(^|\\s):labcat:(?!\\S)"
    )


def test_update_emote_refused() -> None:
    lab = at("updateEmote (add)")
    failed(lab.actions.update_emote(":x:", ""), ValueError)
    assert lab.quiet()
    d = lab.actions.update_emote(":x:", "javascript:alert(1)")
    lab.server(
        "errorMsg",
        {
            "msg": "Unable to update emote '{}'.  Please contact an administrator for assistance.",
            "alert": True,
        },
    )
    failed(d, ActionFailed)


def test_rename_emote_keeps_the_image() -> None:
    lab = at("renameEmote")
    name, data = lab.recorded_out()
    d = lab.actions.rename_emote(":labcat:", ":labkitty:")
    assert lab.sent == [(name, data)]
    lab.replay()
    assert ok(d).name == ":labkitty:"
    assert lab.mirror.channel.emote(":labcat:") is None


def test_rename_emote_refused_locally() -> None:
    lab = at("renameEmote")
    failed(lab.actions.rename_emote(":nope:", ":x:"), TargetNotFound)
    lab.server(
        "updateEmote",
        {"name": ":dog:", "image": "https://e.invalid/d.png", "source": "(^|\\s):dog:(?!\\S)"},
    )
    failed(lab.actions.rename_emote(":labcat:", ":dog:"), ActionRefused)
    assert lab.quiet()


def test_remove_emote() -> None:
    lab = at("removeEmote")
    name, data = lab.recorded_out()
    d = lab.actions.remove_emote(":labkitty:")
    assert lab.sent == [(name, data)]
    lab.replay()
    assert ok(d) is None
    assert lab.mirror.channel.emotes == ()


# -- chat filters --------------------------------------------------------------------------------


def test_add_filter() -> None:
    lab = at("addFilter")
    name, data = lab.recorded_out()
    d = lab.actions.add_filter("no spoilers", "rosebud", "[redacted]", flags="gi")
    assert lab.sent == [(name, data)]
    lab.replay()
    assert ok(d) is None


def test_add_filter_with_a_bad_regex() -> None:
    lab = at("addFilter")
    d = lab.actions.add_filter("broken", "(", "x")
    lab.server("errorMsg", {"msg": "Invalid regex: Unterminated group", "alert": True})
    assert failed(d, ActionFailed).server_message.startswith("Invalid regex")


def test_request_chat_filters() -> None:
    lab = at("requestChatFilters")
    d = lab.actions.request_chat_filters()
    assert lab.sent == [lab.recorded_out()] == [("requestChatFilters", None)]
    lab.replay()
    filters = ok(d)
    assert [f.name for f in filters][:2] == ["monospace", "bold"]
    assert filters[-1] == ChatFilter("no spoilers", "rosebud", "gi", "[redacted]", True, False)


def test_update_filter_changes_one_field() -> None:
    lab = at("updateFilter (deactivate)")
    name, data = lab.recorded_out()
    d = lab.actions.update_filter("no spoilers", active=False)
    assert lab.sent == [(name, data)]
    lab.replay()
    assert ok(d) is None


def test_update_filter_fetches_the_filters_first() -> None:
    lab = at("requestChatFilters")  # the mirror has no filter list yet
    d = lab.actions.update_filter("bold", active=False)
    assert lab.sent == [("requestChatFilters", None)]
    lab.recorded_out()
    lab.replay()
    assert lab.sent[1] == (
        "updateFilter",
        {
            "name": "bold",
            "source": "\\*(.+?)\\*",
            "flags": "g",
            "replace": "<strong>\\1</strong>",
            "active": False,
            "filterlinks": False,
        },
    )
    assert not settled(d)
    lab.server("updateChatFilter", lab.sent[1][1])
    assert ok(d) is None


def test_update_filter_refused_locally() -> None:
    lab = at("updateFilter (deactivate)")
    failed(lab.actions.update_filter("nope", active=False), TargetNotFound)
    failed(lab.actions.update_filter("bold", colour="red"), ValueError)
    assert lab.quiet()


def test_remove_filter_sends_the_whole_filter() -> None:
    lab = at("removeFilter")
    name, data = lab.recorded_out()
    d = lab.actions.remove_filter("no spoilers")
    assert lab.sent == [(name, data)]
    lab.replay()
    assert ok(d) is None


def test_remove_filter_refused_by_the_server() -> None:
    lab = at("addFilter")
    d = lab.actions.remove_filter("nope")
    assert lab.sent == [("removeFilter", {"name": "nope"})]
    lab.server("errorMsg", {"msg": "Filter removal failed: filter does not exist", "alert": True})
    failed(d, ActionFailed)


# -- polls ---------------------------------------------------------------------------------------

POLL = {
    "title": "Movie?",
    "options": ["Alien", "Heat"],
    "counts": [0, 0],
    "initiator": "labbot",
    "timestamp": 1795296900000,
}


def test_new_poll_fires_on_the_ack() -> None:
    lab = at("setMotd with HTML")
    d = lab.actions.new_poll("Movie?", ("Alien", "Heat"), obscured=True, timeout=60)
    [(event, data, ack)] = lab.conn.acks
    assert (event, data) == (
        "newPoll",
        {"title": "Movie?", "opts": ["Alien", "Heat"], "obscured": True, "timeout": 60},
    )
    lab.server("closePoll", None)
    lab.server("newPoll", POLL)
    ack.callback({})
    assert ok(d) is None


def test_new_poll_rejected() -> None:
    lab = at("setMotd with HTML")
    d = lab.actions.new_poll("x" * 300, ["a"])
    message = "Poll title must be no more than 255 characters long."
    lab.conn.acks[0][2].callback({"error": {"message": message}})
    assert failed(d, PollRejected).server_message == message


def test_new_poll_connection_lost() -> None:
    lab = at("setMotd with HTML")
    d = lab.actions.new_poll("Movie?", ["a", "b"])
    lab.conn.lose()
    failed(d, ConnectionClosed)


def test_new_poll_needs_a_list_of_options() -> None:
    lab = at("setMotd with HTML")
    failed(lab.actions.new_poll("Movie?", "ab"), TypeError)
    assert lab.quiet()


def test_vote_and_close_poll() -> None:
    lab = at("setMotd with HTML")
    lab.server("newPoll", POLL)
    d = lab.actions.vote(1)
    assert lab.sent == [("vote", {"option": 1})]
    lab.server("updatePoll", {**POLL, "counts": [0, 1]})
    assert ok(d) is None
    d = lab.actions.close_poll()
    assert lab.sent[1] == ("closePoll", None)
    lab.server("closePoll", None)
    assert ok(d) is None
    assert lab.mirror.channel.poll is None


def test_vote_and_close_need_an_open_poll() -> None:
    lab = at("setMotd with HTML")
    failed(lab.actions.vote(0), ActionRefused)
    failed(lab.actions.close_poll(), ActionRefused)
    lab.server("newPoll", POLL)
    failed(lab.actions.vote(2), ValueError)
    failed(lab.actions.vote(-1), ValueError)
    assert lab.quiet()


def test_close_poll_times_out() -> None:
    lab = at("setMotd with HTML")
    lab.server("newPoll", POLL)
    d = lab.actions.close_poll()
    lab.clock.advance(10)
    failed(d, AckTimeout)

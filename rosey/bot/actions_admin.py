"""Channel administration actions: polls, MOTD, CSS/JS, options, permissions, emotes, filters.

``setMotd``, ``setChannelCSS``/``setChannelJS``, ``setOptions`` and ``setPermissions`` get the
sender *kicked* when its rank is too low (:data:`~rosey.bot.permissions.KICKING_EVENTS`), so they
are checked with :func:`~rosey.bot.permissions.require_event` first. ``newPoll`` is the one event
answered with an ack.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from twisted.internet.defer import Deferred, succeed

from rosey.bot.actions_base import ActionBase, deferred_errors, error_message, payload_of
from rosey.bot.chattext import js_substring
from rosey.bot.errors import (
    ActionFailed,
    ActionRefused,
    OptionsRejected,
    PollRejected,
    TargetNotFound,
)
from rosey.bot.permissions import DEFAULT_PERMISSIONS, require, require_event, require_options
from rosey.bot.state import ChatFilter, Emote
from rosey.bot.state.models import Malformed, parse_filter
from rosey.events import Event

__all__ = ["CHANNEL_OPTIONS", "AdminActions"]

#: The keys of CyTube 3.86's ``channelOpts`` (src/channel/opts.js); others are ignored there.
CHANNEL_OPTIONS = frozenset(
    {"allow_voteskip", "voteskip_ratio", "afk_timeout", "pagetitle", "maxlength"}
    | {"externalcss", "externaljs", "chat_antiflood", "chat_antiflood_params", "show_public"}
    | {"enable_link_regex", "password", "allow_dupes", "torbanned", "block_anonymous_users"}
    | {"allow_ascii_control", "playlist_max_per_user", "new_user_chat_delay"}
    | {"new_user_chat_link_delay", "playlist_max_duration_per_user"}
)

Check = Callable[[Event], "bool | None"]

#: CyTube 3.86 keeps this much of a ``setChannelCSS`` / ``setChannelJS`` (``substring``).
MAX_CSS_JS = 20000


def _named(name: str, test: Callable[[Any], bool] = lambda data: True) -> Check:
    def match(event: Event) -> bool | None:
        return (event.name == name and test(event.platform_data)) or None

    return match


def _has_name(name: str) -> Callable[[Any], bool]:
    return lambda data: isinstance(data, dict) and data.get("name") == name


def _error_starting(*prefixes: str) -> Callable[[Event], Exception | None]:
    def fail(event: Event) -> Exception | None:
        msg = error_message(event)
        return ActionFailed(msg) if msg is not None and msg.startswith(prefixes) else None

    return fail


def _filter_payload(f: ChatFilter) -> dict[str, Any]:
    return {
        "name": f.name,
        "source": f.source,
        "flags": f.flags,
        "replace": f.replace,
        "active": f.active,
        "filterlinks": f.filterlinks,
    }


class AdminActions(ActionBase):
    """Polls and channel administration; part of :class:`rosey.bot.actions.Actions`."""

    # -- polls ----------------------------------------------------------------------------------

    @deferred_errors
    def new_poll(
        self,
        title: str,
        options: Sequence[str],
        obscured: bool = False,
        timeout: float | None = None,
    ) -> Deferred[None]:
        """Open a poll (closing any open one; permission ``pollctl``). ``obscured`` hides the
        counts until it closes; ``timeout`` closes it after that many seconds. Fires on the
        server's ack; fails with :class:`~rosey.bot.errors.PollRejected` when it refuses."""
        self._ready("new_poll")
        require(self.mirror, "pollctl", "new_poll")
        if isinstance(options, str):
            raise TypeError("new_poll: options is a sequence of strings, not one string")
        payload: dict[str, Any] = {"title": title, "opts": list(options), "obscured": obscured}
        if timeout is not None:
            payload["timeout"] = timeout
        ack = self.connection.emit_with_ack("newPoll", payload, self.timeout)

        def answered(reply: Any) -> None:
            error = reply.get("error") if isinstance(reply, dict) else None
            if error is not None:
                message = error.get("message") if isinstance(error, dict) else None
                raise PollRejected(message if isinstance(message, str) else str(error))

        return ack.addCallback(answered)

    @deferred_errors
    def vote(self, option: int) -> Deferred[None]:
        """Vote for option ``option`` (0-based) of the open poll; fires on ``updatePoll``.
        Votes count per IP: voting again changes the vote."""
        self._ready("vote", login=False)
        require(self.mirror, "pollvote", "vote")
        poll = self.mirror.channel.poll
        if poll is None:
            raise ActionRefused("vote refused: no poll is open")
        if isinstance(option, bool) or not 0 <= option < len(poll.options):
            raise ValueError(f"vote: option {option!r} is not in 0..{len(poll.options) - 1}")
        done = self._expect(_named("updatePoll"), f"vote for option {option}")
        return self._emit("vote", {"option": option}, done).addCallback(lambda _: None)

    @deferred_errors
    def close_poll(self) -> Deferred[None]:
        """Close the open poll (permission ``pollctl``); fires on ``closePoll``."""
        self._ready("close_poll")
        require(self.mirror, "pollctl", "close_poll")
        if self.mirror.channel.poll is None:
            raise ActionRefused("close_poll refused: no poll is open")
        done = self._expect(_named("closePoll"), "closePoll")
        return self._emit("closePoll", None, done).addCallback(lambda _: None)

    # -- MOTD, CSS, JS --------------------------------------------------------------------------

    @deferred_errors
    def set_motd(self, html: str) -> Deferred[str]:
        """Set the MOTD (permission ``motdedit``); fires with the HTML as the server sanitized it
        (scripts and event handlers stripped, cut to 20000 characters)."""
        self._ready("set_motd")
        require_event(self.mirror, "setMotd")

        def match(event: Event) -> str | None:
            data = payload_of(event, "setMotd")
            return data if isinstance(data, str) else None

        done = self._expect(match, "setMotd")
        return self._emit("setMotd", {"motd": html}, done)

    @deferred_errors
    def set_css(self, css: str) -> Deferred[None]:
        """Set the channel CSS (rank 3); fires on ``channelCSSJS``. The server keeps the first
        20000 characters (UTF-16 units, as JavaScript counts); CSS that would come out unchanged
        is not sent (the server would answer nothing)."""
        self._ready("set_css")
        require_event(self.mirror, "setChannelCSS")
        if js_substring(css, MAX_CSS_JS) == self.mirror.channel.css:
            return succeed(None)
        done = self._expect(_named("channelCSSJS"), "setChannelCSS")
        return self._emit("setChannelCSS", {"css": css}, done).addCallback(lambda _: None)

    @deferred_errors
    def set_js(self, js: str) -> Deferred[None]:
        """Set the channel JavaScript (rank 3); fires on ``channelCSSJS``. Cut and compared
        like :meth:`set_css`."""
        self._ready("set_js")
        require_event(self.mirror, "setChannelJS")
        if js_substring(js, MAX_CSS_JS) == self.mirror.channel.js:
            return succeed(None)
        done = self._expect(_named("channelCSSJS"), "setChannelJS")
        return self._emit("setChannelJS", {"js": js}, done).addCallback(lambda _: None)

    # -- options and permissions ----------------------------------------------------------------

    @deferred_errors
    def set_options(self, **options: Any) -> Deferred[Mapping[str, Any]]:
        """Change channel options (rank 2; some keys rank 3); fires with the new ``channelOpts``.

        Fails with :class:`~rosey.bot.errors.OptionsRejected` on the first ``validationError``.
        ``password=""`` removes the channel password (``False`` would set it to ``"false"``).
        An update that changes nothing visible (e.g. an empty ``externalcss`` that already is)
        draws no ``channelOpts`` and times out.
        """
        self._ready("set_options")
        if not options:
            raise ValueError("set_options: no options given")
        unknown = sorted(set(options) - CHANNEL_OPTIONS)
        if unknown:
            raise ValueError(f"set_options: unknown channel options {', '.join(unknown)}")
        require_options(self.mirror, options)

        def match(event: Event) -> Mapping[str, Any] | None:
            data = payload_of(event, "channelOpts")
            return MappingProxyType(dict(data)) if isinstance(data, dict) else None

        def fail(event: Event) -> Exception | None:
            data = payload_of(event, "validationError")
            if isinstance(data, dict):
                target, message = data.get("target"), data.get("message")
                return OptionsRejected(
                    message if isinstance(message, str) else "invalid option",
                    target if isinstance(target, str) else None,
                )
            msg = error_message(event)
            return OptionsRejected(msg) if msg == "That pagetitle is reserved" else None

        done = self._expect(match, f"setOptions {', '.join(sorted(options))}", fail=fail)
        return self._emit("setOptions", dict(options), done)

    @deferred_errors
    def set_permissions(self, permissions: Mapping[str, float]) -> Deferred[None]:
        """Change permission nodes to the given minimum ranks (rank 3); fires on the new
        ``setPermissions``."""
        self._ready("set_permissions")
        if not permissions:
            raise ValueError("set_permissions: no permissions given")
        known = set(DEFAULT_PERMISSIONS) | set(self.mirror.channel.permissions)
        unknown = sorted(set(permissions) - known)
        if unknown:
            raise ValueError(f"set_permissions: unknown permission nodes {', '.join(unknown)}")
        for node, rank in permissions.items():
            if isinstance(rank, bool) or not isinstance(rank, int | float):
                raise ValueError(f"set_permissions: {node} must be a number, not {rank!r}")
        require_event(self.mirror, "setPermissions")
        done = self._expect(_named("setPermissions"), "setPermissions")
        return self._emit("setPermissions", dict(permissions), done).addCallback(lambda _: None)

    # -- emotes ---------------------------------------------------------------------------------

    @deferred_errors
    def update_emote(self, name: str, image: str) -> Deferred[Emote]:
        """Add or change emote ``name`` (permission ``emoteedit``); fires with the emote as the
        server stored it (with its ``source`` regex)."""
        self._ready("update_emote")
        require(self.mirror, "emoteedit", "update_emote")
        if not name or not image:
            raise ValueError("update_emote: emote names and images must not be blank")

        def match(event: Event) -> Emote | None:
            return self._emote(payload_of(event, "updateEmote"), name)

        fail = _error_starting("Emote names and images", "Unable to update emote")
        done = self._expect(match, f"updateEmote {name}", fail=fail)
        return self._emit("updateEmote", {"name": name, "image": image}, done)

    @deferred_errors
    def rename_emote(self, old: str, new: str, image: str | None = None) -> Deferred[Emote]:
        """Rename emote ``old`` to ``new`` (keeping its image unless ``image`` is given)."""
        self._ready("rename_emote")
        require(self.mirror, "emoteedit", "rename_emote")
        emote = self.mirror.channel.emote(old)
        if emote is None:
            raise TargetNotFound(f"rename_emote: there is no emote {old!r}")
        if self.mirror.channel.emote(new) is not None:
            raise ActionRefused(f"rename_emote refused: emote {new!r} already exists")
        if not new:
            raise ValueError("rename_emote: emote names must not be blank")

        def match(event: Event) -> Emote | None:
            data = payload_of(event, "renameEmote")
            if isinstance(data, dict) and data.get("old") == old:
                return self._emote(data, new)
            return None

        fail = _error_starting("Emote already exists", "Emote names and images", "Unable to rename")
        done = self._expect(match, f"renameEmote {old} -> {new}", fail=fail)
        payload = {"old": old, "name": new, "image": emote.image if image is None else image}
        return self._emit("renameEmote", payload, done)

    @deferred_errors
    def remove_emote(self, name: str) -> Deferred[None]:
        """Remove emote ``name`` (permission ``emoteedit``); fires on ``removeEmote``."""
        self._ready("remove_emote")
        require(self.mirror, "emoteedit", "remove_emote")
        done = self._expect(_named("removeEmote", _has_name(name)), f"removeEmote {name}")
        return self._emit("removeEmote", {"name": name}, done).addCallback(lambda _: None)

    @staticmethod
    def _emote(data: Any, name: str) -> Emote | None:
        if not isinstance(data, dict) or data.get("name") != name:
            return None
        image, source = data.get("image"), data.get("source", "")
        if not isinstance(image, str) or not isinstance(source, str):
            return None
        return Emote(name=name, image=image, source=source)

    # -- chat filters ---------------------------------------------------------------------------

    @deferred_errors
    def request_chat_filters(self) -> Deferred[tuple[ChatFilter, ...]]:
        """Fetch the channel's chat filters (permission ``filteredit``); fires with them."""
        self._ready("request_chat_filters")
        require(self.mirror, "filteredit", "request_chat_filters")

        def match(event: Event) -> tuple[ChatFilter, ...] | None:
            data = payload_of(event, "chatFilters")
            if not isinstance(data, list):
                return None
            try:
                return tuple(parse_filter(f) for f in data)
            except Malformed:
                return None

        done = self._expect(match, "requestChatFilters")
        return self._emit("requestChatFilters", None, done)

    @deferred_errors
    def add_filter(
        self,
        name: str,
        source: str,
        replace: str,
        *,
        flags: str = "g",
        active: bool = True,
        filterlinks: bool = False,
    ) -> Deferred[None]:
        """Add a chat filter: ``source`` (a regex) becomes ``replace`` (``\\1`` for groups).
        Fires on ``updateChatFilter``; fails with ``ActionFailed`` on a bad regex."""
        self._ready("add_filter")
        require(self.mirror, "filteredit", "add_filter")
        f = ChatFilter(name, source, flags, replace, active, filterlinks)
        return self._send_filter("addFilter", f, "Filter add failed")

    @deferred_errors
    def update_filter(self, name: str, **changes: Any) -> Deferred[None]:
        """Change fields (``source``, ``replace``, ``flags``, ``active``, ``filterlinks``) of the
        chat filter ``name``; fetches the filter list first when the mirror has none."""
        self._ready("update_filter")
        require(self.mirror, "filteredit", "update_filter")
        fields = {"source", "replace", "flags", "active", "filterlinks"}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise ValueError(f"update_filter: unknown filter fields {', '.join(unknown)}")
        known = self.mirror.channel.chat_filters
        filters = succeed(known) if known is not None else self.request_chat_filters()

        def send(current: tuple[ChatFilter, ...]) -> Deferred[None]:
            old = next((f for f in current if f.name == name), None)
            if old is None:
                raise TargetNotFound(f"update_filter: there is no chat filter {name!r}")
            new = ChatFilter(**{**_filter_payload(old), **changes})
            return self._send_filter("updateFilter", new, "Filter update failed")

        return filters.addCallback(send)

    @deferred_errors
    def remove_filter(self, name: str) -> Deferred[None]:
        """Remove the chat filter ``name``; fires on ``deleteChatFilter``."""
        self._ready("remove_filter")
        require(self.mirror, "filteredit", "remove_filter")
        known = self.mirror.channel.chat_filters or ()
        old = next((f for f in known if f.name == name), None)
        payload = {"name": name} if old is None else _filter_payload(old)
        done = self._expect(
            _named("deleteChatFilter", _has_name(name)),
            f"removeFilter {name}",
            fail=_error_starting("Filter removal failed"),
        )
        return self._emit("removeFilter", payload, done).addCallback(lambda _: None)

    def _send_filter(self, event: str, f: ChatFilter, failed: str) -> Deferred[None]:
        done = self._expect(
            _named("updateChatFilter", _has_name(f.name)),
            f"{event} {f.name}",
            fail=_error_starting("Invalid regex", failed),
        )
        return self._emit(event, _filter_payload(f), done).addCallback(lambda _: None)

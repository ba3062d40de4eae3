"""Chat and moderation actions: chat, ``/me``, PMs, ``/afk``, ``/clear``, kick, ban, unban, mute.

CyTube knows kick, ban and mute only as chat commands (src/channel/chat.js, kickban.js). They are
sent through the send queue's ``say`` and confirmed by what they cause: the target's
``userLeave`` (kick), its ``setUserMeta`` (mute, smute, unmute), the ``[server]`` whisper
``"<bot> namebanned <name>"`` (ban: the server pushes no ``banlist``; the whisper reaches every
user with the ``ban`` permission and comes before the target is kicked, if online). The server's
refusals are ``errorMsg`` texts naming the target; they fail the action with
:class:`~rosey.bot.errors.ActionFailed`.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, gatherResults

from rosey import events
from rosey.bot.actions_base import USERNAME, ActionBase, deferred_errors, error_message, payload_of
from rosey.bot.errors import ActionFailed, TargetNotFound
from rosey.bot.permissions import require, require_outranks
from rosey.events import Event

__all__ = ["ChatActions"]

# Chat commands the server runs itself (src/channel/{chat,kickban,ranks,poll,playlist,drink}.js).
# chat() refuses them, so that text from users can never run one; /me and /sp are styled chat.
_SERVER_COMMANDS = frozenset(
    {"say", "shout", "rcv", "a", "clear", "afk", "mute", "smute", "unmute", "unsmute"}
    | {"kick", "kickanons", "ban", "ipban", "banip", "rank", "poll", "hpoll", "clean"}
    | {"cleantitle", "d"}
)


def _command_name(text: str) -> str | None:
    if not text.startswith("/"):
        return None
    name = text[1:].split(" ", 1)[0]
    if name.startswith("d") and name[1:].isdigit():  # /d2 is the drink command too
        return "d"
    return name


def _one_line(text: str) -> str:
    return " ".join(text.split())


class ChatActions(ActionBase):
    """Chat and moderation; part of :class:`rosey.bot.actions.Actions`."""

    # -- chat -----------------------------------------------------------------------------------

    @deferred_errors
    def chat(self, text: str, meta: dict[str, Any] | None = None) -> Deferred[None]:
        """Say ``text`` in chat; fires when the server echoed it.

        Text that the server would run as a command (``/kick …``, ``/clear`` …) is refused with
        ``ValueError``: use the matching action. ``/me`` and ``/sp`` lines are allowed.
        """
        self._check_chat("chat", text)
        command = _command_name(text)
        if command in _SERVER_COMMANDS:
            raise ValueError(f"chat text {text[:40]!r} would run the server command /{command}")
        return self._say(text, meta)

    @deferred_errors
    def me(self, text: str) -> Deferred[None]:
        """Say ``text`` as an action (``/me text``); fires when the server echoed it."""
        self._check_chat("me", text)
        return self._say(f"/me {text}", None)

    @deferred_errors
    def pm(self, to: str, text: str) -> Deferred[None]:
        """Send ``to`` a private message; fires when the server echoed it.

        The recipient must be in the channel (the server refuses others).
        """
        self._ready("pm")
        if not text.strip():
            raise ValueError("pm: blank messages are dropped by the server")
        if self._is_me(to):
            raise ValueError("pm: CyTube refuses a PM to yourself")
        user = self._user(to, "pm")
        return self._pm(user.name, text)

    def _check_chat(self, action: str, text: str) -> None:
        self._ready(action)
        require(self.mirror, "chat", action)
        if not text.strip():
            raise ValueError(f"{action}: blank messages are dropped by the server")

    @deferred_errors
    def afk(self) -> Deferred[bool]:
        """Toggle the bot's AFK state (``/afk``); fires with the new state (``setAFK``)."""
        self._ready("afk")
        require(self.mirror, "chat", "afk")
        me = self._me()

        def match(event: Event) -> bool | None:
            data = payload_of(event, "setAFK")
            if isinstance(data, dict) and self._is_me(data.get("name")):
                afk = data.get("afk")
                return afk if isinstance(afk, bool) else None
            return None

        done = self._expect(match, f"/afk of {me}", armed=False)
        return self._command("/afk", done)

    @deferred_errors
    def clear_chat(self) -> Deferred[None]:
        """Clear the channel's chat (``/clear``, permission ``chatclear``); fires on
        ``clearchat``."""
        self._ready("clear_chat")
        require(self.mirror, "chat", "clear_chat")
        require(self.mirror, "chatclear", "clear_chat")
        done = self._expect(lambda e: e.name == "clearchat" or None, "/clear", armed=False)
        return self._command("/clear", done).addCallback(lambda _: None)

    # -- moderation -----------------------------------------------------------------------------

    @deferred_errors
    def kick(self, name: str, reason: str = "") -> Deferred[None]:
        """Kick ``name`` (``/kick``, permission ``kick``); fires when the user has left.

        The user must be in the channel and rank below the bot.
        """
        self._ready("kick")
        require(self.mirror, "kick", "kick")
        target = self._user(name, "kick")
        require_outranks(self.mirror, target.name, "kick")
        refusal = f"You do not have permission to kick {target.name}"

        def match(event: Event) -> bool | None:
            if event.name == events.USER_LEAVE and event.user is not None:
                return event.user.casefold() == target.name.casefold() or None
            return None

        def fail(event: Event) -> Exception | None:
            msg = error_message(event)
            return ActionFailed(msg) if msg == refusal else None

        done = self._expect(match, f"kick of {target.name}", fail=fail, armed=False)
        line = f"/kick {target.name} {_one_line(reason)}".rstrip()
        return self._command(line, done).addCallback(lambda _: None)

    @deferred_errors
    def ban(self, name: str, reason: str = "") -> Deferred[None]:
        """Ban the name ``name`` from the channel (``/ban``, permission ``ban``).

        Works for offline users too (the server checks their rank). Fires on the server's
        ``"<bot> namebanned <name>"`` notice; fails with ``ActionFailed`` when the name outranks
        the bot or is already banned.
        """
        self._ready("ban")
        require(self.mirror, "ban", "ban")
        if not USERNAME.fullmatch(name):
            raise ValueError(f"ban: {name!r} is not a valid user name")
        if self._is_me(name):
            raise ValueError("ban: CyTube refuses to let the bot ban itself")
        require_outranks(self.mirror, name, "ban")
        me, lower = self._me(), name.lower()
        notice = f"{me} namebanned {lower}".casefold()
        refusals = {
            f"You don't have permission to ban {lower}",
            f"{lower} is already banned",
            "You do not have ban permissions on this channel",
        }

        def match(event: Event) -> bool | None:
            if event.name == events.MESSAGE and event.user == "[server]":
                return (event.content or "").casefold() == notice or None
            return None

        def fail(event: Event) -> Exception | None:
            msg = error_message(event)
            return ActionFailed(msg) if msg in refusals else None

        done = self._expect(match, f"ban of {name}", fail=fail, armed=False)
        line = f"/ban {name} {_one_line(reason)}".rstrip()
        return self._command(line, done).addCallback(lambda _: None)

    @deferred_errors
    def unban(self, name: str) -> Deferred[int]:
        """Lift every ban (name or IP) recorded for ``name``; fires with how many were lifted.

        Asks for the ban list (``requestBanlist``), then sends ``unban {id, name}`` for each
        matching entry and waits for each ``banlistRemove``. ``TargetNotFound`` when there is none.
        """
        self._ready("unban")
        require(self.mirror, "ban", "unban")

        def banlist(event: Event) -> list[Any] | None:
            data = payload_of(event, "banlist")
            return data if isinstance(data, list) else None

        listed = self._expect(banlist, "requestBanlist")
        return self._emit("requestBanlist", None, listed).addCallback(self._unban_all, name)

    def _unban_all(self, bans: list[Any], name: str) -> Deferred[int]:
        folded = name.casefold()
        entries = [
            (ban["id"], ban["name"])
            for ban in bans
            if isinstance(ban, dict)
            and isinstance(ban.get("id"), int)
            and isinstance(ban.get("name"), str)
            and ban["name"].casefold() == folded
        ]
        if not entries:
            raise TargetNotFound(f"unban: {name} is not banned in this channel")
        waits = []
        for ban_id, ban_name in entries:

            def removed(event: Event, ban_id: int = ban_id) -> bool | None:
                data = payload_of(event, "banlistRemove")
                return (isinstance(data, dict) and data.get("id") == ban_id) or None

            done = self._expect(removed, f"unban of {ban_name} (ban {ban_id})")
            waits.append(self._emit("unban", {"id": ban_id, "name": ban_name}, done))
        gathered: Deferred[list[Any]] = gatherResults(waits, consumeErrors=True)
        return gathered.addCallbacks(lambda results: len(results), lambda f: f.value.subFailure)

    @deferred_errors
    def mute(self, name: str) -> Deferred[None]:
        """Mute ``name`` (``/mute``, permission ``mute``); fires on its ``setUserMeta``."""
        return self._mute("mute", name, muted=True, smuted=False)

    @deferred_errors
    def smute(self, name: str) -> Deferred[None]:
        """Shadow-mute ``name`` (``/smute``): only moderators and other shadow-muted users see
        its chat. Fires on its ``setUserMeta``."""
        return self._mute("smute", name, muted=True, smuted=True)

    @deferred_errors
    def unmute(self, name: str) -> Deferred[None]:
        """Lift a mute or shadow mute (``/unmute``); fires on the user's ``setUserMeta``.

        The user must be in the channel: for an absent one the server answers nothing.
        """
        return self._mute("unmute", name, muted=False, smuted=False)

    def _mute(self, command: str, name: str, *, muted: bool, smuted: bool) -> Deferred[None]:
        self._ready(command)
        require(self.mirror, "mute", command)
        if self._is_me(name):
            raise ValueError(f"{command}: the bot cannot {command} itself")
        target = self._user(name, command)
        lower = target.name.lower()
        if command == "unmute":
            refusals = {f"{lower} is not muted."}
        else:
            require_outranks(self.mirror, target.name, command)
            refusals = {
                f"/{command} target {lower} not present in channel.",
                f"/{command} failed - {target.name} has equal or higher rank than you.",
            }

        def match(event: Event) -> bool | None:
            data = payload_of(event, "setUserMeta")
            if not isinstance(data, dict) or not isinstance(data.get("name"), str):
                return None
            meta = data.get("meta")
            if data["name"].casefold() != target.name.casefold() or not isinstance(meta, dict):
                return None
            if meta.get("muted") is not muted:
                return None
            return (not smuted or meta.get("smuted") is True) or None

        def fail(event: Event) -> Exception | None:
            msg = error_message(event)
            return ActionFailed(msg) if msg in refusals else None

        done = self._expect(match, f"/{command} of {target.name}", fail=fail, armed=False)
        return self._command(f"/{command} {target.name}", done).addCallback(lambda _: None)

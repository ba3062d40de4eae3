"""CyTube's chat module: ``chatMsg``, ``pm``, the chat buffer and a few chat commands."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tests.peers import shapes
from tests.peers.channel import NO_ACK, Handler
from tests.peers.moderation import COMMANDS as MOD_COMMANDS
from tests.peers.moderation import ModerationCommands
from tests.peers.state import Member

if TYPE_CHECKING:
    from tests.peers.channel import Channel

#: ``MIN_ANTIFLOOD`` in src/channel/chat.js.
MIN_ANTIFLOOD = {"burst": 20.0, "sustained": 10.0}
BUFFER_SIZE = 15
CHAT_SPEC = {"msg": "string", "meta": "object,optional"}
PM_SPEC = {"msg": "string", "to": "string", "meta": "object,optional"}


class ChatModule:
    """Chat of one channel. ``buffer`` holds the last 15 messages replayed at join."""

    def __init__(self, channel: Channel) -> None:
        self.ch = channel
        self.buffer: list[dict[str, Any]] = []
        self.moderation = ModerationCommands(channel)

    def handlers(self) -> dict[str, Handler]:
        return {
            "chatMsg": self.handle_chat,
            "pm": self.handle_pm,
            "requestBanlist": self.moderation.handle_request_banlist,
            "unban": self.moderation.handle_unban,
        }

    async def replay(self, m: Member) -> None:
        for msg in self.buffer:
            await self.ch.send(m, "chatMsg", msg)

    def _meta(self, m: Member, data: dict[str, Any]) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        given = data.get("meta") or {}
        if m.rank >= 2 and given.get("modflair") == m.rank:
            meta["modflair"] = m.rank
        return meta

    def _format(self, username: str, text: str, meta: dict[str, Any]) -> dict[str, Any]:
        links = bool(self.ch.options.get("enable_link_regex"))
        return {
            "username": username,
            "msg": shapes.format_chat(text, filters=True, links=links),
            "meta": meta,
            "time": int(time.time() * 1000),
        }

    async def handle_chat(self, m: Member, data: Any) -> Any:
        if not await self.ch.typecheck(m, "chatMsg", data, CHAT_SPEC):
            return NO_ACK
        if not self.ch.perm(m, "chat") or not m.logged_in:
            return NO_ACK
        text = shapes.clean_chat_text(
            data["msg"],
            self.ch.config.max_chat_length,
            bool(self.ch.options.get("allow_ascii_control")),
        )
        if not text.strip():
            return NO_ACK
        await self.process(m, text, self._meta(m, data))
        return NO_ACK

    async def process(self, m: Member, text: str, meta: dict[str, Any]) -> None:
        """``processChatMsg``: throttle, commands, then the broadcast."""
        if m.afk and "/afk" not in text:
            await self._toggle_afk(m)
        limits = MIN_ANTIFLOOD
        if self.ch.options.get("chat_antiflood") and m.rank < 2:
            limits = self.ch.options["chat_antiflood_params"]
        if m.chat_limiter.throttle(
            float(limits["burst"]), float(limits["sustained"]), _maybe(limits.get("cooldown"))
        ):
            self.ch.stats.cooldowns_sent += 1
            await self.ch.send(m, "cooldown", shapes.js_number(1000 / float(limits["sustained"])))
            return
        if text.startswith(">"):
            meta["addClass"] = "greentext"
        if text.startswith("/"):
            cmd, _, rest = text[1:].partition(" ")
            if cmd == "me":
                await self.process(m, rest, meta | {"addClass": "action", "action": True})
                return
            if cmd == "sp":
                await self.process(m, rest, meta | {"addClass": "spoiler"})
                return
            if cmd == "afk":
                await self._toggle_afk(m)
                return
            if cmd == "clear":
                await self._clear(m)
                return
            if cmd == "kick":
                await self._cmd_kick(m, rest)
                return
            if cmd in MOD_COMMANDS:
                await self.moderation.run(m, cmd, rest)
                return
        if m.muted:
            await self.ch.send(
                m, "noflood", {"action": "chat", "msg": "You have been muted on this channel."}
            )
            return
        self.ch.stats.chat_delivered += 1
        await self.send_message(self._format(m.name or "", text, meta))

    async def send_message(self, msgobj: dict[str, Any]) -> None:
        """Broadcast one chat line and keep it for the next join bursts."""
        await self.ch.broadcast("chatMsg", msgobj)
        self.buffer.append(msgobj)
        del self.buffer[:-BUFFER_SIZE]

    async def say(self, username: str, text: str) -> None:
        """A chat line from a user with no socket (the peer's ``chat()``)."""
        clean = shapes.clean_chat_text(text, self.ch.config.max_chat_length, False)
        meta = {"addClass": "greentext"} if clean.startswith(">") else {}
        await self.send_message(self._format(username, clean, meta))

    async def _clear(self, m: Member) -> None:
        """``handleCmdClear``: the buffer goes, ``clearchat {clearedBy}`` to everyone."""
        if self.ch.perm(m, "chatclear"):
            self.buffer = []
            await self.ch.broadcast("clearchat", {"clearedBy": m.name})

    async def set_afk(self, m: Member, afk: bool) -> None:
        """``user.setAFK``: nothing when unchanged."""
        if m.afk != afk:
            await self._toggle_afk(m)

    async def _toggle_afk(self, m: Member) -> None:
        m.afk = not m.afk
        for viewer in self.ch.viewers():
            packed = m.pack(viewer.rank)
            await self.ch.send(viewer, "setUserMeta", {"name": m.name, "meta": packed["meta"]})
        await self.ch.broadcast("setAFK", {"name": m.name, "afk": m.afk})

    async def _cmd_kick(self, m: Member, rest: str) -> None:
        target_name, _, reason = rest.partition(" ")
        target = self.ch.find(target_name) if target_name else None
        if not self.ch.perm(m, "kick") or target is None:
            return
        if target.rank >= m.rank or target.global_rank > m.global_rank:
            msg = f"You do not have permission to kick {target.name}"
            await self.ch.send(m, "errorMsg", {"msg": msg})
            return
        reason = reason or ""
        await self.ch.kick(target, reason)
        note = f"{m.name} kicked {target.name}" + (f" ({reason})" if reason else "")
        await self.moderation.mod_message(note, 2)

    async def handle_pm(self, m: Member, data: Any) -> Any:
        if not await self.ch.typecheck(m, "pm", data, PM_SPEC):
            return NO_ACK
        if not m.logged_in:
            await self.ch.send(m, "errorMsg", {"msg": "You must be signed in to send PMs"})
            return NO_ACK
        to = data["to"].lower()
        if to == (m.name or "").lower():
            await self.ch.send(m, "errorMsg", {"msg": "You can't PM yourself!"})
            return NO_ACK
        if not shapes.USER_NAME_RE.match(to):
            await self.ch.send(m, "errorMsg", {"msg": f"PM failed: {to} isn't a valid username."})
            return NO_ACK
        if m.chat_limiter.throttle(MIN_ANTIFLOOD["burst"], MIN_ANTIFLOOD["sustained"]):
            self.ch.stats.cooldowns_sent += 1
            await self.ch.send(m, "cooldown", shapes.js_number(1000 / MIN_ANTIFLOOD["sustained"]))
            return NO_ACK
        target = self.ch.find(to)
        if target is None:
            msg = f"PM failed: {to} isn't connected to this channel."
            await self.ch.send(m, "errorMsg", {"msg": msg})
            return NO_ACK
        text = data["msg"][: self.ch.config.max_chat_length]
        meta = self._meta(m, data)
        if text.startswith(">"):
            meta["addClass"] = "greentext"
        msgobj = self._format(m.name or "", text, meta) | {"to": target.name}
        await self.ch.send(target, "pm", msgobj)
        await self.ch.send(m, "pm", msgobj)
        return NO_ACK


def _maybe(value: Any) -> float | None:
    return None if value is None else float(value)

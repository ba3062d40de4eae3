"""CyTube's mute and name-ban commands (src/channel/chat.js ``handleCmdMute``/``Unmute``,
src/channel/kickban.js): ``/mute``, ``/smute``, ``/unmute``, ``/unsmute``, ``/ban``,
``requestBanlist`` → ``banlist`` and ``unban {id, name}`` → ``banlistRemove``.

Simplified: name bans only (no IP bans), shadow-muted chat is not hidden from anyone, and a
banned name is not refused at join (the peer keeps the list only so that the bot can lift it).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tests.peers.channel import NO_ACK
from tests.peers.state import Member

if TYPE_CHECKING:
    from tests.peers.channel import Channel

COMMANDS = frozenset({"mute", "smute", "unmute", "unsmute", "ban"})


class ModerationCommands:
    """Mutes and name bans of one channel; ``bans`` is the ban list in id order."""

    def __init__(self, channel: Channel) -> None:
        self.ch = channel
        self.bans: list[dict[str, Any]] = []
        self._next_id = 1

    async def run(self, m: Member, cmd: str, rest: str) -> None:
        """Run chat command ``/cmd rest`` sent by ``m``."""
        if cmd == "ban":
            await self._ban(m, rest)
        else:
            await self._mute(m, cmd, rest.split(" ", 1)[0])

    async def _error(self, m: Member, msg: str) -> None:
        await self.ch.send(m, "errorMsg", {"msg": msg})

    async def _mute(self, m: Member, cmd: str, name: str) -> None:
        if not self.ch.perm(m, "mute") or not name:
            return
        lower = name.lower()
        target = self.ch.find(name)
        muting = cmd in ("mute", "smute")
        if target is None:  # (no muted-name list here: an absent user is never muted)
            absent = f"/{cmd} target {lower} not present in channel."
            await self._error(m, absent if muting else f"{lower} is not muted.")
            return
        if muting and target.rank >= m.rank:
            await self._error(
                m, f"/{cmd} failed - {target.name} has equal or higher rank than you."
            )
            return
        if not muting and not target.muted:
            await self._error(m, f"{lower} is not muted.")
            return
        target.muted = muting
        shadow = muting and cmd == "smute"
        mute_rank = self.ch.permissions.get("mute", 1.5)
        # sendUserMeta(users, target, minrank): a shadow mute only reaches ranks of at least
        # ``mute`` (``effectiveRank >= minrank`` in the newest channel.js; older ones had ``>``).
        min_rank = mute_rank if shadow else -1
        for viewer in self.ch.viewers():
            if viewer.rank < min_rank:
                continue
            meta = target.pack(viewer.rank)["meta"]
            if viewer.rank >= 2:
                meta["smuted"] = shadow
            await self.ch.send(viewer, "setUserMeta", {"name": target.name, "meta": meta})
        verb = {"mute": "muted", "smute": "shadowmuted"}.get(cmd, "unmuted")
        await self.mod_message(f"{m.name} {verb} {target.name}", mute_rank)

    async def mod_message(self, msg: str, min_rank: float) -> None:
        """``sendModMessage``: a ``[server]`` whisper to every user of rank ``min_rank`` or more."""
        for viewer in self.ch.viewers():
            if viewer.rank >= min_rank:
                await self.ch.send(
                    viewer,
                    "chatMsg",
                    {
                        "username": "[server]",
                        "msg": msg,
                        "meta": {"addClass": "server-whisper", "addClassToNameAndTimestamp": True},
                        "time": int(time.time() * 1000),
                    },
                )

    async def _ban(self, m: Member, rest: str) -> None:
        name, _, reason = rest.partition(" ")
        lower = name.lower()
        if not name:
            return
        if not self.ch.perm(m, "ban"):
            await self._error(m, "You do not have ban permissions on this channel")
            return
        target = self.ch.find(name)
        account = self.ch.accounts.get(lower)
        rank = target.rank if target is not None else (account[1].rank if account else -1)
        if rank >= m.rank:  # an offline name is checked against its stored channel rank
            await self._error(m, f"You don't have permission to ban {lower}")
            return
        if any(b["name"] == lower for b in self.bans):
            await self._error(m, f"{lower} is already banned")
            return
        self.bans.append(
            {"id": self._next_id, "ip": "*", "name": lower, "reason": reason, "bannedby": m.name}
        )
        self._next_id += 1
        for viewer in self.ch.viewers():
            if self.ch.perm(viewer, "ban"):
                await self.ch.send(
                    viewer,
                    "chatMsg",
                    {
                        "username": "[server]",
                        "msg": f"{m.name} namebanned {lower}",
                        "meta": {"addClass": "server-whisper", "addClassToNameAndTimestamp": True},
                        "time": int(time.time() * 1000),
                    },
                )
        if target is not None:
            await self.ch.kick(target, "You're banned!")

    async def handle_request_banlist(self, m: Member, data: Any) -> Any:
        if self.ch.perm(m, "ban"):
            await self.ch.send(m, "banlist", [dict(b) for b in self.bans])
        return NO_ACK

    async def handle_unban(self, m: Member, data: Any) -> Any:
        if not self.ch.perm(m, "ban") or not isinstance(data, dict):
            return NO_ACK
        ban = next((b for b in self.bans if b["id"] == data.get("id")), None)
        if ban is not None:
            self.bans.remove(ban)
            for viewer in self.ch.viewers():
                if self.ch.perm(viewer, "ban"):
                    await self.ch.send(
                        viewer, "banlistRemove", {"id": ban["id"], "name": ban["name"]}
                    )
        return NO_ACK

"""The playlist leader (``assignLeader``, the leader's ``mediaUpdate``), from CyTube's
playlist module."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.peers import shapes
from tests.peers.channel import NO_ACK, Handler
from tests.peers.state import Member

if TYPE_CHECKING:
    from tests.peers.channel import Channel


class LeaderModule:
    """Who leads playback: the server (no leader) or one user (``channel.leader``)."""

    def __init__(self, channel: Channel) -> None:
        self.ch = channel

    def handlers(self) -> dict[str, Handler]:
        return {"assignLeader": self.handle_leader, "mediaUpdate": self.handle_media_update}

    async def handle_leader(self, m: Member, data: Any) -> Any:
        """``assignLeader {name}`` (``""`` removes the leader); kicks below ``leaderctl``."""
        if not await self.ch.typecheck(m, "assignLeader", data, {"name": "string"}):
            return NO_ACK
        if not self.ch.perm(m, "leaderctl"):
            await self.ch.kick(m, "Attempted assignLeader without sufficient permission")
            return NO_ACK
        name = data["name"]
        if self.ch.leader is not None:
            old, self.ch.leader = self.ch.leader, None
            if old.rank == 1.5 and old.rank_before_leader is not None:
                old.rank, old.rank_before_leader = old.rank_before_leader, None
                await self.ch.send(old, "rank", old.rank)
            await self.ch.broadcast("setUserRank", {"name": old.name, "rank": old.rank})
        if not name:
            await self.resume_autolead()
            return NO_ACK
        target = next((u for u in self.ch.users if u.name == name), None)
        if target is None:
            msg = f"Unable to assign leader: could not find user {name}"
            await self.ch.send(m, "errorMsg", {"msg": msg})
            return NO_ACK
        self.ch.playlist.hold(self.ch.playlist.current_time(), False)
        self.ch.leader = target
        if target.rank < 1.5:
            target.rank_before_leader, target.rank = target.rank, 1.5
            await self.ch.send(target, "rank", 1.5)
        await self.ch.broadcast("setLeader", name)
        if target.rank == 1.5:
            await self.ch.broadcast("setUserRank", {"name": name, "rank": 1.5})
        return NO_ACK

    async def resume_autolead(self) -> None:
        """The leader is gone: ``setLeader ""`` and the server leads again."""
        await self.ch.broadcast("setLeader", "")
        await self.ch.playlist.resume_lead()

    async def handle_media_update(self, m: Member, data: Any) -> Any:
        """Only the leader's updates for the current, non-live item are relayed."""
        current = self.ch.playlist.current
        if self.ch.leader is not m or current is None or current.media["type"] in shapes.LIVE_TYPES:
            return NO_ACK
        spec = {"id": "string", "currentTime": "number", "paused": "boolean,optional"}
        if not await self.ch.typecheck(m, "mediaUpdate", data, spec):
            return NO_ACK
        if data["id"] != current.media["id"]:
            return NO_ACK
        paused = bool(data.get("paused"))
        self.ch.playlist.hold(float(data["currentTime"]), paused)
        await self.ch.broadcast(
            "mediaUpdate", {"currentTime": data["currentTime"], "paused": paused}
        )
        return NO_ACK

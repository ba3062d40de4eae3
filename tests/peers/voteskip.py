"""Voteskip, as CyTube 3.86 counts it (src/channel/voteskip.js).

Votes are keyed by client IP (a second vote from the same IP changes nothing and answers
nothing). ``need = ceil(eligible * voteskip_ratio)`` where eligible is every user in the channel
minus those without ``voteskip`` minus the AFK ones; the skip passes when the count reaches it:
a ``[voteskip]`` whisper to everyone, a reset (``voteskip {0, 0}``), then ``_playNext`` (whose
media change resets once more). The counts go to users with ``viewvoteskip`` only.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from tests.peers import shapes
from tests.peers.channel import NO_ACK, Handler
from tests.peers.state import Member

if TYPE_CHECKING:
    from tests.peers.channel import Channel


class VoteskipModule:
    """The voteskip poll of one channel: None when nobody voted for the current item."""

    def __init__(self, channel: Channel) -> None:
        self.ch = channel
        self.votes: set[str] | None = None  # client IPs

    def handlers(self) -> dict[str, Handler]:
        return {"voteskip": self.handle_voteskip}

    def _counts(self) -> tuple[int, int, int, int]:
        """``calcUsercounts``: total, no permission, AFK, eligible."""
        total = len(self.ch.users)
        no_perm = sum(1 for u in self.ch.users if not self.ch.perm(u, "voteskip"))
        afk = sum(1 for u in self.ch.users if self.ch.perm(u, "voteskip") and u.afk)
        return total, no_perm, afk, total - no_perm - afk

    def _need(self, eligible: int) -> int:
        return math.ceil(eligible * float(self.ch.options["voteskip_ratio"]))

    async def handle_voteskip(self, m: Member, data: Any) -> Any:
        if not self.ch.options.get("allow_voteskip") or not self.ch.perm(m, "voteskip"):
            return NO_ACK
        if self.votes is None:
            self.votes = set()
        if m.ip in self.votes:
            return NO_ACK  # already counted for this IP: no update
        self.votes.add(m.ip)
        if m.afk:  # user.setAFK(false)
            await self.ch.chat.set_afk(m, False)
        await self.update()
        return NO_ACK

    async def on_part(self, m: Member) -> None:
        """``onUserPart``: the IP's vote goes, and the counts are re-evaluated."""
        if self.votes is None:
            return
        self.votes.discard(m.ip)
        await self.update()

    async def update(self) -> None:
        if not self.ch.options.get("allow_voteskip") or self.votes is None:
            return
        if not self.ch.playlist.items:
            return
        total, no_perm, afk, eligible = self._counts()
        count, need = len(self.votes), self._need(eligible)
        if count < need:
            await self.send_data()
            return
        ratio = shapes.js_number(float(self.ch.options["voteskip_ratio"]))
        info = (
            f"{count}/{eligible} skipped; eligible voters: {eligible} = total ({total}) - "
            f"AFK ({afk}) - no permission ({no_perm}); ratio = {ratio}"
        )
        await self.ch.broadcast(
            "chatMsg",
            {
                "username": "[voteskip]",
                "msg": f"Voteskip passed: {info}",
                "meta": {"addClass": "server-whisper", "addClassToNameAndTimestamp": True},
                "time": int(time.time() * 1000),
            },
        )
        await self.reset()
        await self.ch.playlist.play_next()

    async def send_data(self) -> None:
        data = {"count": 0, "need": 0}
        if self.votes is not None:
            data = {"count": len(self.votes), "need": self._need(self._counts()[3])}
        for viewer in self.ch.viewers():
            if self.ch.perm(viewer, "viewvoteskip"):
                await self.ch.send(viewer, "voteskip", data)

    async def reset(self) -> None:
        """``reset``, also ``onMediaChange``: the poll goes and ``{0, 0}`` is sent."""
        self.votes = None
        await self.send_data()

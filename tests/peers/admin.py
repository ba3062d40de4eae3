"""Channel administration: MOTD, options, permissions and polls (CyTube's customization,
opts, permissions and poll modules, reduced to what the captures and the protocol notes show)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tests.peers import shapes
from tests.peers.channel import NO_ACK, Handler
from tests.peers.state import Member

if TYPE_CHECKING:
    from tests.peers.channel import Channel

#: setOptions keys that need rank 3 (the rest need 2).
ADMIN_OPTIONS = frozenset(
    {
        "pagetitle",
        "externalcss",
        "externaljs",
        "show_public",
        "password",
        "torbanned",
        "block_anonymous_users",
        "allow_ascii_control",
        "playlist_max_per_user",
    }
)
_REJECTED = object()
POLL_SPEC = {
    "title": "string",
    "opts": "object",
    "obscured": "boolean",
    "timeout": "number,optional",
    "retainVotes": "boolean,optional",
}


class AdminModule:
    """MOTD, options, permissions and the poll of one channel."""

    def __init__(self, channel: Channel) -> None:
        self.ch = channel
        self.motd = shapes.sanitize_motd(channel.config.motd)
        self.poll: dict[str, Any] | None = None
        self.obscured = False
        self.votes: dict[str, int] = {}  # client IP -> option index (CyTube counts per IP)
        self._timer: asyncio.TimerHandle | None = None

    def handlers(self) -> dict[str, Handler]:
        return {
            "setMotd": self.handle_motd,
            "setOptions": self.handle_options,
            "setPermissions": self.handle_permissions,
            "newPoll": self.handle_new_poll,
            "vote": self.handle_vote,
            "closePoll": self.handle_close_poll,
        }

    def stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def handle_motd(self, m: Member, data: Any) -> Any:
        if not await self.ch.typecheck(m, "setMotd", data, {"motd": "string"}):
            return NO_ACK
        if not self.ch.perm(m, "motdedit"):
            await self.ch.kick(m, "Attempted setMotd with insufficient permission")
            return NO_ACK
        self.motd = shapes.sanitize_motd(data["motd"][:20000])
        await self.ch.broadcast("setMotd", self.motd)
        return NO_ACK

    async def set_options(self, changes: dict[str, Any]) -> None:
        """Merge option changes (``password: ""`` removes it) and broadcast ``channelOpts``."""
        for key, value in changes.items():
            if key == "password" and not value:
                value = False
            self.ch.options[key] = value
        await self.ch.broadcast("channelOpts", self.ch.options)

    async def handle_options(self, m: Member, data: Any) -> Any:
        if not isinstance(data, dict):
            return NO_ACK
        if m.rank < 2:
            await self.ch.kick(m, "Attempted setOptions as a non-moderator")
            return NO_ACK
        allowed = {
            k: v
            for k, v in data.items()
            if k in self.ch.options and (k not in ADMIN_OPTIONS or m.rank >= 3)
        }
        changes = {}
        for key, value in allowed.items():
            checked = await self._validate(m, key, value)
            if checked is not _REJECTED:
                changes[key] = checked
        if changes:
            await self.set_options(changes)
        return NO_ACK

    async def _validate(self, m: Member, key: str, value: Any) -> Any:
        """The checked options of ``handleSetOptions``: ``validationPassed``/``validationError``
        to the sender; the value to store, or ``_REJECTED``."""
        target = f"#cs-{key}"
        if key in ("voteskip_ratio", "afk_timeout"):
            number = _number(value)
            if number is None or number < 0:
                message = f'Input must be a number 0 or greater, not "{value}"'
                await self.ch.send(m, "validationError", {"target": target, "message": message})
                return _REJECTED
            await self.ch.send(m, "validationPassed", {"target": target})
            return shapes.js_number(number) if key == "voteskip_ratio" else int(number)
        if key in ("externalcss", "externaljs"):
            prefix = f"Invalid URL for external {key[8:].upper()}: "
            if not isinstance(value, str):
                kind = "null" if value is None else type(value).__name__
                message = f"{prefix}URL must be a string, not {kind}"
                await self.ch.send(m, "validationError", {"target": target, "message": message})
                return _REJECTED
            link = value[:255].strip()
            error = None
            if link:
                parsed = urlsplit(link)
                if parsed.scheme != "https":
                    error = prefix + " URL must begin with 'https://'"
                elif not parsed.netloc:
                    error = prefix + "missing hostname"
            if error is not None:
                await self.ch.send(m, "validationError", {"target": target, "message": error})
                return _REJECTED
            await self.ch.send(m, "validationPassed", {"target": target})
            if link and not urlsplit(link).path:
                link += "/"  # url.parse(link).href
            unchanged = not link and not self.ch.options[key]  # sendUpdate stays false
            return _REJECTED if unchanged else link
        return value

    async def handle_permissions(self, m: Member, data: Any) -> Any:
        if not isinstance(data, dict):
            return NO_ACK
        if m.rank < 3:
            await self.ch.kick(m, "Attempted setPermissions as a non-admin")
            return NO_ACK
        for key, value in data.items():
            if key in self.ch.permissions and isinstance(value, int | float):
                self.ch.permissions[key] = value
        await self.ch.broadcast("setPermissions", self.ch.permissions)
        return NO_ACK

    # -- polls -----------------------------------------------------------------------------

    def _view(self, viewer: Member) -> dict[str, Any]:
        assert self.poll is not None
        counts: list[Any] = list(self.poll["counts"])
        if self.obscured:
            if self.ch.perm(viewer, "viewhiddenpoll"):
                counts = [f"{c}?" for c in counts]
            else:
                counts = ["?" for _ in counts]
        return self.poll | {"counts": counts}

    async def send_poll(self, m: Member) -> None:
        """The ``newPoll`` of the join burst, if a poll is open."""
        if self.poll is not None:
            await self.ch.send(m, "newPoll", self._view(m))

    async def _send_each(self, event: str) -> None:
        for viewer in self.ch.viewers():
            await self.ch.send(viewer, event, self._view(viewer))

    async def handle_new_poll(self, m: Member, data: Any) -> Any:
        if not await self.ch.typecheck(m, "newPoll", data, POLL_SPEC):
            return NO_ACK
        if not self.ch.perm(m, "pollctl"):
            return NO_ACK
        opts = data["opts"]
        error = None
        if len(data["title"]) > 255:
            error = "Poll title may not exceed 255 characters"
        elif not isinstance(opts, list) or not 1 <= len(opts) <= 50:
            error = "Polls must have between 1 and 50 options"
        elif not all(isinstance(o, str) and 1 <= len(o) <= 255 for o in opts):
            error = "Poll options must be strings of 1 to 255 characters"
        if error is not None:
            if self.ch.ack_requested:
                return {"error": {"message": error}}
            await self.ch.send(m, "errorMsg", {"msg": error})
            return NO_ACK
        if self.poll is not None:
            await self.close_poll()
        self.obscured = data["obscured"]
        self.votes = {}
        self.poll = {
            "title": shapes.escape_text(data["title"]),
            "options": [shapes.escape_text(o) for o in opts],
            "counts": [0] * len(opts),
            "initiator": m.name,
            "timestamp": int(time.time() * 1000),
        }
        await self._send_each("newPoll")
        timeout = data.get("timeout")
        if isinstance(timeout, int | float) and 0 < timeout <= 86400:
            self._timer = asyncio.get_running_loop().call_later(
                float(timeout), lambda: self.ch.spawn(self.close_poll())
            )
        return {}

    async def handle_vote(self, m: Member, data: Any) -> Any:
        if not await self.ch.typecheck(m, "vote", data, {"option": "number"}):
            return NO_ACK
        option = data["option"]
        if self.poll is None or not self.ch.perm(m, "pollvote"):
            return NO_ACK
        if not isinstance(option, int) or not 0 <= option < len(self.poll["counts"]):
            return NO_ACK
        self.votes[m.ip] = option
        self.poll["counts"] = [
            sum(1 for v in self.votes.values() if v == i) for i in range(len(self.poll["counts"]))
        ]
        await self._send_each("updatePoll")
        return NO_ACK

    async def handle_close_poll(self, m: Member, data: Any) -> Any:
        if self.ch.perm(m, "pollctl") and self.poll is not None:
            await self.close_poll()
        return NO_ACK

    async def close_poll(self) -> None:
        """Hidden polls first get an ``updatePoll`` with the real numbers, then ``closePoll``."""
        self.stop_timer()
        if self.poll is None:
            return
        if self.obscured:
            self.obscured = False
            await self._send_each("updatePoll")
        self.poll = None
        await self.ch.broadcast("closePoll", None)


def _number(value: Any) -> float | None:
    """JavaScript's ``parseFloat`` for the values a client sends (None for NaN)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None

"""Login (CyTube's ``User.login`` / ``guestLogin`` and the channel side of a login)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tests.peers import shapes
from tests.peers.state import Member

if TYPE_CHECKING:
    from tests.peers.channel import Channel


class LoginModule:
    """``login {name, pw?}`` for the sockets of one channel, with the per-IP guest timer."""

    def __init__(self, channel: Channel) -> None:
        self.ch = channel
        self.guest_logins: dict[str, float] = {}  # client IP -> last successful guest login
        self.aliases: dict[str, list[str]] = {}  # client IP -> names logged in from it

    async def login(self, m: Member, data: Any) -> None:
        """``login {name, pw?}``: guest or password login (a second one is ignored)."""
        if data is not None and not isinstance(data, dict | list):
            await self.ch.send(m, "errorMsg", {"msg": "Invalid login frame"})
            return
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or m.logged_in:
            return
        pw = data.get("pw") if isinstance(data, dict) else ""
        if not isinstance(pw, str):
            pw = ""
        if pw:
            await self.password_login(m, name, pw[:100])
        else:
            await self.guest_login(m, name)

    async def _login_failed(self, m: Member, error: str) -> None:
        await self.ch.send(m, "login", {"success": False, "error": error})

    async def guest_login(self, m: Member, name: str) -> None:
        delay = self.ch.config.guest_login_delay
        last = self.guest_logins.get(m.ip)
        if last is not None and time.monotonic() - last < delay:
            shown = int(delay) if float(delay).is_integer() else delay
            await self._login_failed(m, shapes.MSG_GUEST_DELAY.format(shown))
            return
        if not shapes.USER_NAME_RE.match(name):
            await self._login_failed(m, shapes.MSG_INVALID_GUEST)
            return
        if shapes.is_reserved(name):
            await self._login_failed(m, "That username is reserved.")
            return
        folded = shapes.name_dedupe(name)
        if any(shapes.name_dedupe(stored) == folded for stored, _ in self.ch.accounts.values()):
            await self._login_failed(m, "That username is registered.")
            return
        if m.joined and self.ch.find(name) is not None:
            await self._login_failed(m, "That name is already in use on this channel.")
            return
        self.guest_logins[m.ip] = time.monotonic()
        self._logged_in(m, name, 0)
        await self.ch.send(m, "rank", 0)
        await self.ch.send(m, "login", {"success": True, "name": name, "guest": True})
        if m.joined:
            await self.ch.kick_duplicates(m)
            await self.ch.send_user_join(m)

    async def password_login(self, m: Member, name: str, pw: str) -> None:
        if not shapes.USER_NAME_RE.match(name):
            await self._login_failed(m, f'Invalid username "{name}"')
            return
        entry = self.ch.accounts.get(name.lower())
        if entry is None:
            await self._login_failed(m, "User does not exist")
            return
        stored, account = entry
        if pw != account.password:
            await self._login_failed(m, "Invalid username/password combination")
            return
        m.registered = True
        self._logged_in(m, stored, account.global_rank)
        await self.ch.send(m, "rank", m.rank)
        await self.ch.send(m, "login", {"success": True, "name": stored})
        channel_rank = max(account.rank, account.global_rank)
        if m.joined:
            await self.ch.kick_duplicates(m)
            await self.ch.send_user_join(m)
            await self.ch.set_rank(m, channel_rank, announce_playlist=True)
        else:
            m.rank = channel_rank
            if m.awaiting_password and m.rank >= 2:
                await self.ch.send(m, "cancelNeedPassword")
                await self.ch.accept(m)

    def _logged_in(self, m: Member, name: str, global_rank: float) -> None:
        m.name = name
        m.global_rank = global_rank
        m.rank = global_rank
        seen = self.aliases.setdefault(m.ip, [])
        if name not in seen:
            seen.append(name)
        m.aliases = seen[-5:]

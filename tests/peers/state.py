"""Plain data of the CyTube peer: accounts, users (socket-backed or virtual), received events."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tests.peers.limits import RateLimiter, TokenBucket
from tests.peers.shapes import cloak_ip


@dataclass(frozen=True)
class Account:
    """A registered account: its password and its rank in the channel (global rank is 1)."""

    password: str
    rank: float = 1

    @property
    def global_rank(self) -> float:
        return 255 if self.rank >= 255 else 1


@dataclass(frozen=True)
class Received:
    """One event a client sent to a peer.

    ``user`` is the sender's user name at that moment (None while not logged in), ``data`` the
    decoded payload (None when the event had none, a list when it had several arguments),
    ``time`` a ``time.monotonic()`` reading and ``ack`` whether the client asked for an ack.
    """

    sid: str
    user: str | None
    event: str
    data: Any
    time: float
    ack: bool = False


@dataclass(eq=False)
class Member:
    """A user of the channel: a socket.io client (``sid`` set) or a virtual user (no socket).

    Socket members exist from connect to disconnect; ``joined`` says whether they are in the
    channel. Ranks follow CyTube: ``global_rank`` is -1 anonymous, 0 guest, 1 registered;
    ``rank`` is the effective rank (``max(global, channel)``, or 1.5 as leader).
    """

    name: str | None
    rank: float
    sid: str | None = None
    ip: str = "127.0.0.1"
    global_rank: float = -1
    registered: bool = False
    joined: bool = False
    join_requested: bool = False
    awaiting_password: bool = False
    afk: bool = False
    muted: bool = False
    rank_before_leader: float | None = None
    aliases: list[str] = field(default_factory=list)
    chat_limiter: RateLimiter = field(default_factory=RateLimiter)
    queue_limiter: RateLimiter = field(default_factory=RateLimiter)
    playlist_limiter: RateLimiter = field(default_factory=RateLimiter)
    in_bucket: TokenBucket | None = None
    connected_at: float = field(default_factory=time.monotonic)

    @property
    def virtual(self) -> bool:
        return self.sid is None

    @property
    def logged_in(self) -> bool:
        return self.name is not None

    def pack(self, viewer_rank: float) -> dict[str, Any]:
        """The ``userlist``/``addUser`` entry as a viewer of ``viewer_rank`` sees it."""
        meta: dict[str, Any] = {"afk": self.afk, "muted": self.muted}
        if viewer_rank >= 2:
            meta["smuted"] = False
            meta["aliases"] = list(self.aliases) if self.aliases else [self.name or ""]
            meta["ip"] = self.ip if viewer_rank >= 255 else cloak_ip(self.ip)
        return {
            "name": self.name,
            "rank": self.rank,
            "profile": {"image": "", "text": ""},
            "meta": meta,
        }

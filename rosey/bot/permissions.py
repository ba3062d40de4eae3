"""CyTube's permission decisions, made locally before the bot sends anything.

The server ignores most actions the sender may not take, without a word, and *kicks* the
sender for a few (:data:`KICKING_EVENTS`). So the bot asks first: :func:`can` answers exactly
as ``PermissionsModule.hasPermission`` (src/channel/permissions.js, CyTube 3.86) would for the
bot's effective rank, and the ``require*`` functions raise
:class:`~rosey.errors.ChannelPermissionError` with a message naming what is missing.

The decision for a node: if the node starts with ``playlist``, the playlist is unlocked and the
rank reaches ``o<node>``, allow; otherwise allow when the rank reaches ``<node>``. A node the
channel does not define (``o`` nodes that do not exist, and on an unregistered channel every
node :data:`UNREGISTERED_PERMISSIONS` leaves out) lets no one pass, as JavaScript's
``rank >= undefined`` is false.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from rosey.bot.medialink import is_live
from rosey.bot.mirror import LEADER_RANK, ChannelMirror
from rosey.errors import ChannelPermissionError

__all__ = [
    "ADMIN_OPTIONS",
    "DEFAULT_PERMISSIONS",
    "KICKING_EVENTS",
    "LEADER_RANK",
    "UNREGISTERED_PERMISSIONS",
    "allowed",
    "can",
    "forces_temp",
    "needed_rank",
    "permissions_of",
    "queue_nodes",
    "rank_label",
    "require",
    "require_event",
    "require_options",
    "require_outranks",
    "require_queue",
    "require_rank",
]

#: ``DEFAULT_PERMISSIONS`` of a registered channel.
DEFAULT_PERMISSIONS: Mapping[str, float] = MappingProxyType(
    {
        "seeplaylist": -1,
        "playlistadd": 1.5,
        "playlistnext": 1.5,
        "playlistmove": 1.5,
        "playlistdelete": 2,
        "playlistjump": 1.5,
        "playlistaddlist": 1.5,
        "oplaylistadd": -1,
        "oplaylistnext": 1.5,
        "oplaylistmove": 1.5,
        "oplaylistdelete": 2,
        "oplaylistjump": 1.5,
        "oplaylistaddlist": 1.5,
        "playlistaddcustom": 3,
        "playlistaddrawfile": 2,
        "playlistaddlive": 1.5,
        "exceedmaxlength": 2,
        "addnontemp": 2,
        "settemp": 2,
        "playlistshuffle": 2,
        "playlistclear": 2,
        "pollctl": 1.5,
        "pollvote": -1,
        "viewhiddenpoll": 1.5,
        "voteskip": -1,
        "viewvoteskip": 1.5,
        "mute": 1.5,
        "kick": 1.5,
        "ban": 2,
        "motdedit": 3,
        "filteredit": 3,
        "filterimport": 3,
        "emoteedit": 3,
        "emoteimport": 3,
        "playlistlock": 2,
        "leaderctl": 2,
        "drink": 1.5,
        "chat": 0,
        "chatclear": 2,
        "exceedmaxitems": 2,
        "deletefromchannellib": 2,
        "exceedmaxdurationperuser": 2,
    }
)

#: ``loadUnregistered``: the whole table of an unregistered channel (its playlist is open).
UNREGISTERED_PERMISSIONS: Mapping[str, float] = MappingProxyType(
    {
        "seeplaylist": -1,
        "playlistadd": -1,
        "playlistnext": 0,
        "playlistmove": 0,
        "playlistdelete": 0,
        "playlistjump": 0,
        "playlistaddlist": 0,
        "oplaylistadd": -1,
        "oplaylistnext": 0,
        "oplaylistmove": 0,
        "oplaylistdelete": 0,
        "oplaylistjump": 0,
        "oplaylistaddlist": 0,
        "playlistaddcustom": 0,
        "playlistaddlive": 0,
        "exceedmaxlength": 0,
        "addnontemp": 0,
        "settemp": 0,
        "playlistshuffle": 0,
        "playlistclear": 0,
        "pollctl": 0,
        "pollvote": -1,
        "viewhiddenpoll": 1.5,
        "voteskip": -1,
        "viewvoteskip": 1.5,
        "playlistlock": 2,
        "leaderctl": 0,
        "drink": 0,
        "chat": 0,
        "chatclear": 2,
        "exceedmaxitems": 2,
        "deletefromchannellib": 2,
    }
)

#: Events the server answers with a kick when the sender lacks the rank (a number) or the
#: permission node (a string). Every other refusal is silent.
KICKING_EVENTS: Mapping[str, float | str] = MappingProxyType(
    {
        "setOptions": 2,
        "setPermissions": 3,
        "setChannelCSS": 3,
        "setChannelJS": 3,
        "setMotd": "motdedit",
        "assignLeader": "leaderctl",
        "readChanLog": 3,
        "initACP": 255,
    }
)

#: ``setOptions`` keys the server applies only for rank 3 or more (others are silently kept).
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

_RANK_NAMES: Mapping[float, str] = {
    -1: "anonymous",
    0: "guest",
    1: "registered",
    1.5: "leader",
    2: "moderator",
    3: "channel admin",
    4: "owner",
    5: "founder",
    255: "site admin",
}


def rank_name(rank: float) -> str:
    """CyTube's name for a rank (``2`` → ``moderator``), or ``rank N``."""
    return _RANK_NAMES.get(rank, f"rank {rank:g}")


def rank_label(rank: float) -> str:
    """``3`` → ``"3 (channel admin)"``; ``1.5`` → ``"1.5 (leader)"``."""
    number = f"{rank:g}"
    name = _RANK_NAMES.get(rank)
    return f"{number} ({name})" if name else number


# -- the decision --------------------------------------------------------------------------


def _level(permissions: Mapping[str, Any], node: str) -> float | None:
    value = permissions.get(node)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def needed_rank(node: str, permissions: Mapping[str, Any], *, locked: bool) -> float | None:
    """The lowest rank that passes ``node``, or None when no rank does."""
    levels = [_level(permissions, node)]
    if node.startswith("playlist") and not locked:
        levels.append(_level(permissions, "o" + node))
    defined = [level for level in levels if level is not None]
    return min(defined) if defined else None


def allowed(rank: float, node: str, permissions: Mapping[str, Any], *, locked: bool) -> bool:
    """CyTube's ``hasPermission`` for an effective ``rank``."""
    need = needed_rank(node, permissions, locked=locked)
    return need is not None and rank >= need


def permissions_of(mirror: ChannelMirror) -> Mapping[str, Any]:
    """The channel's permission table: what the server sent, else the channel kind's default."""
    if mirror.channel.permissions:
        return mirror.channel.permissions
    return DEFAULT_PERMISSIONS if mirror.channel.registered else UNREGISTERED_PERMISSIONS


def can(mirror: ChannelMirror, node: str) -> bool:
    """Whether the server would let the bot use permission ``node`` now."""
    return allowed(
        mirror.effective_rank, node, permissions_of(mirror), locked=mirror.playlist.locked
    )


# -- checks that raise -----------------------------------------------------------------------


def _refuse(action: str, why: str, mirror: ChannelMirror) -> ChannelPermissionError:
    return ChannelPermissionError(
        f"{action} refused: {why}; the bot has rank {rank_label(mirror.effective_rank)}"
    )


def require(mirror: ChannelMirror, node: str, action: str) -> None:
    """Raise ``ChannelPermissionError`` unless the bot may use ``node``."""
    permissions = permissions_of(mirror)
    locked = mirror.playlist.locked
    need = needed_rank(node, permissions, locked=locked)
    if need is None:
        raise _refuse(action, f"permission {node!r} is granted to no rank here", mirror)
    if mirror.effective_rank < need:
        where = ""
        if node.startswith("playlist") and not locked and _level(permissions, "o" + node) == need:
            where = " (playlist unlocked)"
        raise _refuse(action, f"permission {node!r} needs rank {rank_label(need)}{where}", mirror)


def require_rank(mirror: ChannelMirror, minimum: float, action: str) -> None:
    """Raise ``ChannelPermissionError`` unless the bot's rank is at least ``minimum``."""
    if mirror.effective_rank < minimum:
        raise _refuse(action, f"needs rank {rank_label(minimum)}", mirror)


def require_outranks(mirror: ChannelMirror, target: str, action: str) -> None:
    """Raise unless ``target`` ranks below the bot (kick, mute and ban need it).

    A target the user list does not show passes: the server still checks it (a ban can name
    someone who is offline, whose rank only the server knows).
    """
    user = mirror.users.get(target)
    if user is not None and user.rank >= mirror.effective_rank:
        raise _refuse(
            action,
            f"{user.name} has rank {rank_label(user.rank)}, not lower than the bot's",
            mirror,
        )


def require_event(mirror: ChannelMirror, event: str) -> None:
    """Raise if sending ``event`` would get the bot kicked (see :data:`KICKING_EVENTS`)."""
    rule = KICKING_EVENTS.get(event)
    if isinstance(rule, str):
        require(mirror, rule, event)
    elif rule is not None:
        require_rank(mirror, rule, event)


def require_options(mirror: ChannelMirror, keys: Iterable[str]) -> None:
    """Raise unless a ``setOptions`` with these keys would be applied in full."""
    require_event(mirror, "setOptions")
    admin = sorted(ADMIN_OPTIONS.intersection(keys))
    if admin:
        require_rank(mirror, 3, f"setOptions {', '.join(admin)}")


# -- queueing --------------------------------------------------------------------------------


def queue_nodes(media_type: str, pos: str) -> tuple[str, ...]:
    """Every node a ``queue`` of ``media_type`` at ``pos`` (``"next"``/``"end"``) needs.

    As ``handleQueue`` checks them: ``playlistadd``; ``playlistnext`` for ``next``;
    ``playlistaddlist`` for ``yp``; ``playlistaddlive`` for live types, ``cu`` included;
    ``playlistaddcustom`` for ``cu``; ``playlistaddrawfile`` for ``fi`` and ``cm``. (A ``cm``
    manifest that turns out live also needs ``playlistaddlive``; only the server knows.)
    """
    if pos not in ("next", "end"):
        raise ValueError(f"queue position must be 'next' or 'end', not {pos!r}")
    nodes = ["playlistadd"]
    if pos == "next":
        nodes.append("playlistnext")
    if media_type == "yp":
        nodes.append("playlistaddlist")
    if is_live(media_type):
        nodes.append("playlistaddlive")
    if media_type == "cu":
        nodes.append("playlistaddcustom")
    if media_type in ("fi", "cm"):
        nodes.append("playlistaddrawfile")
    return tuple(nodes)


def require_queue(mirror: ChannelMirror, media_type: str, pos: str) -> None:
    """Raise unless the bot may queue ``media_type`` at ``pos``."""
    for node in queue_nodes(media_type, pos):
        require(mirror, node, f"queue {media_type} at {pos}")


def forces_temp(mirror: ChannelMirror) -> bool:
    """True when the server will add the bot's items as temporary (no ``addnontemp``)."""
    return not can(mirror, "addnontemp")

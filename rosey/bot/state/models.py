"""Plain values the channel mirror hands out, and strict parsers for CyTube's payloads.

Every parser takes the decoded JSON exactly as the server sent it and either returns a frozen
value or raises :class:`Malformed`. Mappings whose keys are CyTube's own contract (media and
user ``meta``, channel options, permissions) are exposed read-only, as ``MappingProxyType``
over a private copy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Malformed(ValueError):
    """A payload that does not have the shape CyTube 3.86 sends."""


# -- field readers --------------------------------------------------------------------------


def as_dict(value: Any, what: str) -> dict[str, Any]:
    """``value`` if it is a JSON object."""
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    """``value`` if it is a JSON array."""
    if not isinstance(value, list):
        raise Malformed(f"{what} is not an array")
    return value


def as_str(value: Any, what: str) -> str:
    """``value`` if it is a string."""
    if not isinstance(value, str):
        raise Malformed(f"{what} is not a string")
    return value


def as_bool(value: Any, what: str) -> bool:
    """``value`` if it is a boolean."""
    if not isinstance(value, bool):
        raise Malformed(f"{what} is not a boolean")
    return value


def as_number(value: Any, what: str) -> float:
    """``value`` if it is a finite JSON number (booleans are not numbers here)."""
    kind = type(value)
    if kind is int or (kind is float and math.isfinite(value)):  # the hot path
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"{what} is not a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise Malformed(f"{what} is not finite")
    return value


def as_int(value: Any, what: str) -> int:
    """``value`` if it is an integral JSON number."""
    number = as_number(value, what)
    if isinstance(number, float):
        if not number.is_integer():
            raise Malformed(f"{what} is not an integer")
        return int(number)
    return number


def frozen_mapping(value: Any, what: str) -> Mapping[str, Any]:
    """A read-only copy of a JSON object."""
    return MappingProxyType(dict(as_dict(value, what)))


# -- values ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """A user's profile: avatar URL and free text."""

    image: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class User:
    """One logged-in user in the channel (anonymous viewers are never listed).

    ``smuted``, ``aliases`` and ``ip`` are only sent to viewers of rank 2 or more; ``aliases``
    and ``ip`` are None when the server did not send them. ``meta`` is the raw meta object.
    """

    name: str
    rank: float
    afk: bool = False
    muted: bool = False
    smuted: bool = False
    profile: Profile = Profile()
    aliases: tuple[str, ...] | None = None
    ip: str | None = None
    meta: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False)


@dataclass(frozen=True, slots=True)
class Media:
    """A media object: ``seconds`` is 0 and ``duration`` ``"--:--"`` for live items."""

    type: str
    id: str
    title: str
    seconds: float
    duration: str
    meta: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False)


@dataclass(frozen=True, slots=True)
class PlaylistItem:
    """One playlist entry. ``uid`` is the channel's counter, renumbered on shuffle."""

    uid: int
    media: Media
    temp: bool
    queueby: str


@dataclass(frozen=True, slots=True)
class NowPlaying:
    """What the server plays: ``changeMedia`` merged with ``setCurrent`` and ``mediaUpdate``.

    ``uid`` is the current playlist uid when ``changeMedia`` arrived (None if the server had
    named none). ``current_time`` is the last position the server reported, in seconds; it is
    negative during the 3 s lead-in.
    """

    media: Media
    uid: int | None
    current_time: float
    paused: bool


@dataclass(frozen=True, slots=True)
class PlaylistMeta:
    """``setPlaylistMeta``: the server's own item count and total length."""

    count: int
    raw_time: float
    time: str


@dataclass(frozen=True, slots=True)
class Emote:
    """A channel emote; ``source`` is the regex the server derives from the name."""

    name: str
    image: str
    source: str


@dataclass(frozen=True, slots=True)
class ChatFilter:
    """A chat filter (only sent to users who may edit them)."""

    name: str
    source: str
    flags: str
    replace: str
    active: bool
    filterlinks: bool


@dataclass(frozen=True, slots=True)
class Voteskip:
    """``voteskip``: votes so far and votes needed (the server's minimum of 1 left out)."""

    count: int
    need: int


@dataclass(frozen=True, slots=True)
class Poll:
    """The open poll. ``title`` and ``options`` are the server's HTML.

    ``counts`` holds None for a hidden count (``"?"``); ``obscured`` is True for a poll with
    hidden votes (counts sent as ``"?"``, or ``"N?"`` to those who may see them).
    ``timestamp`` is Unix seconds.
    """

    title: str
    options: tuple[str, ...]
    counts: tuple[int | None, ...]
    obscured: bool
    initiator: str
    timestamp: float | None


# -- parsers --------------------------------------------------------------------------------


def parse_profile(value: Any) -> Profile:
    """A ``profile`` object; missing keys read as empty."""
    if value is None:
        return Profile()
    data = as_dict(value, "profile")
    return Profile(
        image=as_str(data.get("image", ""), "profile.image"),
        text=as_str(data.get("text", ""), "profile.text"),
    )


def user_with_meta(user: User, meta: Any) -> User:
    """``user`` with its meta replaced (``setUserMeta`` sends the whole object)."""
    data = as_dict(meta, "meta")
    aliases = data.get("aliases")
    ip = data.get("ip")
    return User(
        name=user.name,
        rank=user.rank,
        afk=as_bool(data.get("afk", False), "meta.afk"),
        muted=as_bool(data.get("muted", False), "meta.muted"),
        smuted=as_bool(data.get("smuted", False), "meta.smuted"),
        profile=user.profile,
        aliases=None
        if aliases is None
        else tuple(as_str(a, "meta.aliases[]") for a in as_list(aliases, "meta.aliases")),
        ip=None if ip is None else as_str(ip, "meta.ip"),
        meta=MappingProxyType(dict(data)),
    )


def parse_user(value: Any) -> User:
    """A user object from ``userlist`` / ``addUser``."""
    data = as_dict(value, "user")
    user = User(
        name=as_str(data.get("name"), "user.name"),
        rank=float(as_number(data.get("rank"), "user.rank")),
        profile=parse_profile(data.get("profile")),
    )
    return user_with_meta(user, data.get("meta", {}))


def parse_media(value: Any) -> Media:
    """A media object (also the media part of ``changeMedia``)."""
    data = as_dict(value, "media")
    meta = data.get("meta")
    return Media(
        type=as_str(data.get("type"), "media.type"),
        id=as_str(data.get("id"), "media.id"),
        title=as_str(data.get("title", ""), "media.title"),
        seconds=as_number(data.get("seconds", 0), "media.seconds"),
        duration=as_str(data.get("duration", ""), "media.duration"),
        meta=_EMPTY if meta is None else frozen_mapping(meta, "media.meta"),
    )


def parse_item(value: Any) -> PlaylistItem:
    """A playlist item ``{media, uid, temp, queueby}``."""
    data = as_dict(value, "item")
    queueby = data.get("queueby")
    return PlaylistItem(
        uid=as_int(data.get("uid"), "item.uid"),
        media=parse_media(data.get("media")),
        temp=as_bool(data.get("temp", False), "item.temp"),
        queueby="" if queueby is None else as_str(queueby, "item.queueby"),
    )


def parse_playlist_meta(value: Any) -> PlaylistMeta:
    """``setPlaylistMeta`` ``{count, rawTime, time}``."""
    data = as_dict(value, "playlist meta")
    return PlaylistMeta(
        count=as_int(data.get("count"), "count"),
        raw_time=as_number(data.get("rawTime"), "rawTime"),
        time=as_str(data.get("time", ""), "time"),
    )


def parse_emote(value: Any) -> Emote:
    """An emote ``{name, image, source}``."""
    data = as_dict(value, "emote")
    return Emote(
        name=as_str(data.get("name"), "emote.name"),
        image=as_str(data.get("image"), "emote.image"),
        source=as_str(data.get("source", ""), "emote.source"),
    )


def parse_filter(value: Any) -> ChatFilter:
    """A chat filter ``{name, source, flags, replace, active, filterlinks}``."""
    data = as_dict(value, "filter")
    return ChatFilter(
        name=as_str(data.get("name"), "filter.name"),
        source=as_str(data.get("source"), "filter.source"),
        flags=as_str(data.get("flags", ""), "filter.flags"),
        replace=as_str(data.get("replace", ""), "filter.replace"),
        active=as_bool(data.get("active", True), "filter.active"),
        filterlinks=as_bool(data.get("filterlinks", False), "filter.filterlinks"),
    )


_HIDDEN_COUNT = re.compile(r"([0-9]{0,15})\?")


def _parse_count(value: Any) -> tuple[int | None, bool]:
    if isinstance(value, str):
        m = _HIDDEN_COUNT.fullmatch(value)
        if m is None:
            raise Malformed("poll count is neither a number nor 'N?'")
        return (int(m.group(1)) if m.group(1) else None), True
    return as_int(value, "poll count"), False


def parse_poll(value: Any) -> Poll:
    """``newPoll`` / ``updatePoll`` ``{title, options, counts, initiator, timestamp}``."""
    data = as_dict(value, "poll")
    options = tuple(as_str(o, "poll option") for o in as_list(data.get("options"), "options"))
    parsed = [_parse_count(c) for c in as_list(data.get("counts"), "counts")]
    if len(parsed) != len(options):
        raise Malformed("poll has a different number of counts and options")
    timestamp = data.get("timestamp")
    initiator = data.get("initiator")
    return Poll(
        title=as_str(data.get("title"), "poll title"),
        options=options,
        counts=tuple(count for count, _ in parsed),
        obscured=any(hidden for _, hidden in parsed),
        initiator="" if initiator is None else as_str(initiator, "poll initiator"),
        timestamp=None if timestamp is None else as_number(timestamp, "timestamp") / 1000.0,
    )

"""Plain values the channel mirror hands out, and strict parsers for CyTube's payloads.

Every parser takes the decoded JSON exactly as the server sent it and either returns an
immutable value or raises :class:`Malformed`. Mappings whose keys are CyTube's own contract
(media and user ``meta``, channel options, permissions) are exposed read-only, as
``MappingProxyType`` over a private copy.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from types import MappingProxyType
from typing import Any

from rosey.records import record

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_EMPTY_DICT: dict[str, Any] = {}  # never mutated: the default of a missing user meta
_intern = sys.intern


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
        number: float = value
        return number
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

# The values the join burst builds by the thousand (Profile, User, Media, PlaylistItem) and
# NowPlaying (every mediaUpdate) are records (rosey.records): slotted, frozen to the type checker,
# built by a plain __init__.


@record
class Profile:
    """A user's profile: avatar URL and free text."""

    _: KW_ONLY
    image: str = ""
    text: str = ""


@record
class User:
    """One logged-in user in the channel (anonymous viewers are never listed).

    ``smuted``, ``aliases`` and ``ip`` are only sent to viewers of rank 2 or more; ``aliases``
    and ``ip`` are None when the server did not send them. ``meta`` is the raw meta object.
    """

    name: str
    rank: float
    _: KW_ONLY
    afk: bool = False
    muted: bool = False
    smuted: bool = False
    profile: Profile = Profile()
    aliases: tuple[str, ...] | None = None
    ip: str | None = None
    meta: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False)


@record
class Media:
    """A media object: ``seconds`` is 0 and ``duration`` ``"--:--"`` for live items."""

    type: str
    id: str
    _: KW_ONLY
    title: str
    seconds: float
    duration: str
    meta: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False)


@record
class PlaylistItem:
    """One playlist entry. ``uid`` is the channel's counter, renumbered on shuffle."""

    uid: int
    media: Media
    _: KW_ONLY
    temp: bool
    queueby: str


@record
class NowPlaying:
    """What the server plays: ``changeMedia`` merged with ``setCurrent`` and ``mediaUpdate``.

    ``uid`` is the current playlist uid when ``changeMedia`` arrived (None if the server had
    named none). ``current_time`` is the last position the server reported, in seconds; it is
    negative during the 3 s lead-in.
    """

    media: Media
    uid: int | None
    _: KW_ONLY
    current_time: float
    paused: bool


@record
class PlaylistMeta:
    """``setPlaylistMeta``: the server's own item count and total length."""

    _: KW_ONLY
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


# The parsers below test ``type(x) is str`` (and so on) inline and call the ``as_*`` readers only
# for a value of another type, which raise the same Malformed (or accept a subclass) as before:
# the join burst runs them thousands of times. Strings that repeat across many values (media
# types and durations, user names, who queued an item) are interned: one copy for the mirror.

_NO_PROFILE = Profile()


def parse_profile(value: Any) -> Profile:
    """A ``profile`` object; missing keys read as empty."""
    if value is None:
        return _NO_PROFILE
    data = value if type(value) is dict else as_dict(value, "profile")
    image = data.get("image", "")
    if type(image) is not str:
        image = as_str(image, "profile.image")
    text = data.get("text", "")
    if type(text) is not str:
        text = as_str(text, "profile.text")
    if not image and not text:
        return _NO_PROFILE  # frozen: one shared empty profile
    return Profile(image=image, text=text)


def _flag(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if value is False or value is True:
        return value
    return as_bool(value, f"meta.{key}")


def _user(name: str, rank: float, profile: Profile, meta: Any) -> User:
    """A User from its parts and a ``meta`` object as the server sends it."""
    data = meta if type(meta) is dict else as_dict(meta, "meta")
    afk, muted, smuted = _flag(data, "afk"), _flag(data, "muted"), _flag(data, "smuted")
    aliases = data.get("aliases")
    if aliases is not None:
        aliases = tuple(as_list(aliases, "meta.aliases"))
        for alias in aliases:
            if type(alias) is not str:
                as_str(alias, "meta.aliases[]")
    ip = data.get("ip")
    if ip is not None and type(ip) is not str:
        ip = as_str(ip, "meta.ip")
    frozen = MappingProxyType(dict(data)) if data else _EMPTY
    return User(
        name,
        rank,
        afk=afk,
        muted=muted,
        smuted=smuted,
        profile=profile,
        aliases=aliases,
        ip=ip,
        meta=frozen,
    )


def user_with_meta(user: User, meta: Any) -> User:
    """``user`` with its meta replaced (``setUserMeta`` sends the whole object)."""
    return _user(user.name, user.rank, user.profile, meta)


def user_with(user: User, *, rank: float | None = None, profile: Profile | None = None) -> User:
    """``user`` with a new rank and/or profile."""
    return User(
        user.name,
        user.rank if rank is None else rank,
        afk=user.afk,
        muted=user.muted,
        smuted=user.smuted,
        profile=user.profile if profile is None else profile,
        aliases=user.aliases,
        ip=user.ip,
        meta=user.meta,
    )


def item_with_temp(item: PlaylistItem, temp: bool) -> PlaylistItem:
    """``item`` with its temp flag set."""
    return PlaylistItem(item.uid, item.media, temp=temp, queueby=item.queueby)


def parse_user(value: Any) -> User:
    """A user object from ``userlist`` / ``addUser``."""
    data = value if type(value) is dict else as_dict(value, "user")
    name = data.get("name")
    name = _intern(name) if type(name) is str else as_str(name, "user.name")
    rank = float(as_number(data.get("rank"), "user.rank"))
    profile = parse_profile(data.get("profile"))
    return _user(name, rank, profile, data.get("meta", _EMPTY_DICT))


def parse_media(value: Any) -> Media:
    """A media object (also the media part of ``changeMedia``)."""
    data = value if type(value) is dict else as_dict(value, "media")
    kind = data.get("type")
    kind = _intern(kind) if type(kind) is str else as_str(kind, "media.type")
    media_id = data.get("id")
    if type(media_id) is not str:
        media_id = as_str(media_id, "media.id")
    title = data.get("title", "")
    if type(title) is not str:
        title = as_str(title, "media.title")
    seconds = as_number(data.get("seconds", 0), "media.seconds")
    duration = data.get("duration", "")
    duration = _intern(duration) if type(duration) is str else as_str(duration, "media.duration")
    meta = data.get("meta")
    if meta is None or (type(meta) is dict and not meta):
        frozen = _EMPTY  # most media have none: no copy each
    else:
        frozen = frozen_mapping(meta, "media.meta")
    return Media(kind, media_id, title=title, seconds=seconds, duration=duration, meta=frozen)


def parse_item(value: Any) -> PlaylistItem:
    """A playlist item ``{media, uid, temp, queueby}``."""
    data = value if type(value) is dict else as_dict(value, "item")
    uid = data.get("uid")
    if type(uid) is not int:
        uid = as_int(uid, "item.uid")
    media = parse_media(data.get("media"))
    temp = data.get("temp", False)
    if temp is not False and temp is not True:
        temp = as_bool(temp, "item.temp")
    queueby = data.get("queueby")
    if queueby is None:
        queueby = ""
    else:
        queueby = _intern(queueby) if type(queueby) is str else as_str(queueby, "item.queueby")
    return PlaylistItem(uid, media, temp=temp, queueby=queueby)


def parse_playlist_meta(value: Any) -> PlaylistMeta:
    """``setPlaylistMeta`` ``{count, rawTime, time}``."""
    data = value if type(value) is dict else as_dict(value, "playlist meta")
    count = data.get("count")
    if type(count) is not int:
        count = as_int(count, "count")
    raw_time = as_number(data.get("rawTime"), "rawTime")
    time = data.get("time", "")
    if type(time) is not str:
        time = as_str(time, "time")
    return PlaylistMeta(count=count, raw_time=raw_time, time=time)


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

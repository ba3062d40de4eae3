"""Payload shapes, defaults and text rules of a registered CyTube 3.86 channel.

Everything here is copied from the recorded frames in ``tests/fixtures`` and from
``/work/shared/cytube-protocol.md``; the peers build their frames from these helpers so the
shapes match the real server byte for byte where the captures show them.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from typing import Any

#: ``src/channel/permissions.js`` DEFAULT_PERMISSIONS (registered channels), in wire order.
DEFAULT_PERMISSIONS: dict[str, float] = {
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


def default_options(channel: str) -> dict[str, Any]:
    """``channelOpts`` of a freshly registered channel, in wire order."""
    return {
        "allow_voteskip": True,
        "voteskip_ratio": 0.5,
        "afk_timeout": 600,
        "pagetitle": channel,
        "maxlength": 0,
        "externalcss": "",
        "externaljs": "",
        "chat_antiflood": False,
        "chat_antiflood_params": {"burst": 4, "sustained": 1, "cooldown": 4},
        "show_public": False,
        "enable_link_regex": True,
        "password": False,
        "allow_dupes": False,
        "torbanned": False,
        "block_anonymous_users": False,
        "allow_ascii_control": False,
        "playlist_max_per_user": 0,
        "new_user_chat_delay": 0,
        "new_user_chat_link_delay": 0,
        "playlist_max_duration_per_user": 0,
    }


#: The five default chat filters of a registered channel: (source, flags, replacement).
DEFAULT_FILTERS: list[tuple[str, str, str]] = [
    (r"`(.+?)`", "g", r"<code>\1</code>"),
    (r"\*(.+?)\*", "g", r"<strong>\1</strong>"),
    (r"_(.+?)_", "g", r"<em>\1</em>"),
    (r"~~(.+?)~~", "g", r"<s>\1</s>"),
    (r"\[sp\](.*?)\[\/sp\]", "gi", r'<span class="spoiler">\1</span>'),
]

CHANNEL_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,30}$")
USER_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
#: config ``reserved-names.usernames`` defaults.
RESERVED_NAME_RES = [
    re.compile(r"^(.*?[-_])?admin(istrator)?([-_].*)?$", re.I),
    re.compile(r"^(.*?[-_])?owner([-_].*)?$", re.I),
]
LIVE_TYPES = frozenset({"tw", "li", "rt", "hl", "cu", "im", "us", "jw"})
KNOWN_TYPES = (
    frozenset(
        {"yt", "yp", "vi", "dm", "gd", "fi", "cm", "sb", "tv", "tc", "pt", "bc", "od", "bn", "nv"}
    )
    | LIVE_TYPES
)

MSG_INVALID_CHANNEL = (
    "Invalid channel name.  Channel names may consist of 1-30 characters in the set "
    "a-z, A-Z, 0-9, -, and _"
)
MSG_INVALID_GUEST = (
    "Invalid username.  Usernames must be 1-20 characters long and consist only of "
    "characters a-z, A-Z, 0-9, -, or _."
)
MSG_GUEST_DELAY = "Guest logins are restricted to one per IP address per {} seconds."
MSG_REQ_PLAYLIST = (
    "Get Playlist URLs is limited to 1 usage every 60 seconds.  Please try again later."
)

_LINK_RE = re.compile(
    r"([A-Za-z0-9_]+://(?:[^:/\[\]\s]+|\[[0-9a-f:]+\])(?::\d+)?(?:/[^/\s]*)*)", re.I
)
_PLACEHOLDER = "\ueeee"
_CONTROL_RE = re.compile(r"[\x00-\x1f]+")


def js_number(value: float) -> float | int:
    """A number as JavaScript's JSON would print it (``100``, not ``100.0``)."""
    return int(value) if float(value).is_integer() else value


def format_time(seconds: float) -> str:
    """``utilities.formatTime``: ``MM:SS`` or ``HH:MM:SS``."""
    sec = int(seconds)
    h, rest = divmod(sec, 3600)
    m, s = divmod(rest, 60)
    if sec >= 3600:
        return f"{h:02d}:{m:02d}:{s:02d}"
    return f"{m:02d}:{s:02d}"


def md5_b64(text: str) -> str:
    """The ``cssHash``/``jsHash`` of ``channelCSSJS``."""
    # Node hashes a string as UTF-8 with each lone surrogate as U+FFFD.
    wellformed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return base64.b64encode(hashlib.md5(wellformed.encode("utf-8")).digest()).decode("ascii")


def cloak_ip(ip: str) -> str:
    """A stable stand-in for CyTube's cloaked IP (``+Jk.z4E.eyY.GGe``): 3 chars per part."""
    parts = ip.split(".") if "." in ip else ip.split(":")
    out = []
    for i in range(len(parts)):
        digest = hashlib.sha256(".".join(parts[: i + 1]).encode()).digest()
        out.append(base64.b64encode(digest).decode("ascii")[:3])
    return ".".join(out)


def name_dedupe(name: str) -> str:
    """``name_dedupe``: the look-alike folding used by "That username is registered."."""
    folded = name.lower()
    for src, dst in (("i", "1"), ("l", "1"), ("o", "0"), ("-", "_")):
        folded = folded.replace(src, dst)
    return folded


def is_reserved(name: str) -> bool:
    """True if a guest may not use ``name`` (``reserved-names.usernames``)."""
    return any(r.match(name) for r in RESERVED_NAME_RES)


def escape_text(text: str) -> str:
    """What survives of ``XSS.sanitizeText`` + sanitize-html: only ``& < >`` are escaped."""
    return html.escape(text, quote=False)


def clean_chat_text(raw: str, max_length: int, allow_ascii_control: bool) -> str:
    """The cut to ``max_length`` (before escaping) and the control-character rule."""
    text = raw[:max_length]
    if not allow_ascii_control:
        text = _CONTROL_RE.sub(" ", text)
    return text


def format_chat(text: str, filters: bool, links: bool) -> str:
    """``formatMessage``: escape, then the channel's filters, then the link regex."""
    msg = escape_text(text)
    if not filters:
        return msg
    found = _LINK_RE.findall(msg)
    out = _LINK_RE.sub(_PLACEHOLDER, msg)
    for source, flags, replace in DEFAULT_FILTERS:
        out = re.sub(
            source, replace, out, count=0 if "g" in flags else 1, flags=re.I if "i" in flags else 0
        )

    def relink(_match: re.Match[str]) -> str:
        link = found.pop(0) if found else ""
        if link and links:
            return f'<a href="{link}" target="_blank" rel="noopener noreferrer">{link}</a>'
        return link

    return re.sub(_PLACEHOLDER, relink, out)


def sanitize_motd(motd: str) -> str:
    """The part of sanitize-html the captures show: scripts and ``on*`` attributes go."""
    out = re.sub(r"<script\b[^>]*>.*?</script\s*>", "", motd, flags=re.I | re.S)
    return re.sub(r"\s+on\w+\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)", "", out, flags=re.I)


def format_link(media_id: str, media_type: str) -> str:
    """``utilities.formatLink`` for the common types; the id itself otherwise."""
    prefix = {
        "yt": "https://youtu.be/",
        "vi": "https://vimeo.com/",
        "dm": "https://dailymotion.com/video/",
        "tw": "https://twitch.tv/",
        "yp": "https://youtube.com/playlist?list=",
    }.get(media_type)
    return prefix + media_id if prefix else media_id


def pack_media(
    media_id: str, title: str, seconds: int, media_type: str, meta: dict[str, Any]
) -> dict[str, Any]:
    """A media object as in ``playlist``/``queue``/``changeMedia`` (title cut to 100)."""
    if len(title) > 100:
        title = title[:97] + "..."
    return {
        "id": media_id,
        "title": title,
        "seconds": seconds,
        "duration": format_time(seconds) if seconds > 0 else "--:--",
        "type": media_type,
        "meta": meta,
    }

"""Media links to the ``{type, id}`` pairs CyTube's ``queue`` takes.

A port of ``parseMediaLink`` from CyTube 3.86's www/js/util.js, which the web UI runs on what
users paste, including its quirks: the provider is chosen by host name (a leading ``www.`` is
ignored), ``.m3u8`` and ``.json`` paths win over the host, and any other ``http(s)`` URL is
taken as a raw file (``fi``) for the server to check. The ``xx:ID`` shorthand (two-letter type,
colon, id) is accepted too. Where the JavaScript would hand the server an empty or missing id,
or crash, this raises :class:`MediaLinkError` instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "LIVE_TYPES",
    "MEDIA_TYPES",
    "MediaLink",
    "MediaLinkError",
    "is_live",
    "parse_media_link",
]

#: Every type CyTube 3.86's ``queue`` accepts (src/get-info.js).
MEDIA_TYPES = frozenset(
    {"yt", "yp", "vi", "dm", "gd", "fi", "cm", "sb", "tv", "tc", "pt", "bc", "od", "bn", "nv"}
    | {"tw", "li", "rt", "hl", "cu", "sc"}
)

#: ``util.isLive``: live items have no length. ``us`` and ``hb`` are gone providers the
#: server still lists here.
LIVE_TYPES = frozenset({"li", "tw", "rt", "cu", "hl", "us", "hb"})

_YP_ID = re.compile(r"PL[a-zA-Z0-9_-]{32}|PL[A-F0-9]{16}|OLA[a-zA-Z0-9_-]{38}")
_SHORTHAND = re.compile(r"[a-z]{2}:")
_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp", "file"})
_LIVESTREAM = re.compile(r"/accounts/(?P<account>[0-9]+)/events/(?P<event>[0-9]+)")
_ODYSEE = re.compile(r"/@(?P<user>[^:]+)(?::\w)?/(?P<video>[^:]+)")
_PEERTUBE_PATH = re.compile(r"^/w/|^/videos/watch/")
_PEERTUBE = re.compile(
    r"(?:/w/|/videos/watch/)(?:(?P<short>[a-zA-Z0-9]{22})"
    r"|(?P<long>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}))"
)


class MediaLinkError(ValueError):
    """The text is not a media link CyTube can queue; the message says why."""


@dataclass(frozen=True, slots=True)
class MediaLink:
    """A queueable media reference: CyTube's two-letter ``type`` and the provider's ``id``."""

    type: str
    id: str

    @property
    def live(self) -> bool:
        """Whether CyTube treats this type as a livestream."""
        return is_live(self.type)


def is_live(media_type: str) -> bool:
    """CyTube's ``util.isLive``: live types have no length and need ``playlistaddlive``."""
    return media_type in LIVE_TYPES


def _excerpt(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _link(media_type: str, media_id: str | None, url: str) -> MediaLink:
    if not media_id:
        raise MediaLinkError(f"no {media_type} media id found in {_excerpt(url)}")
    return MediaLink(media_type, media_id)


def _check_yp(list_id: str | None) -> str:
    if list_id is None or not _YP_ID.fullmatch(list_id):
        raise MediaLinkError(
            f"invalid YouTube playlist id {_excerpt(list_id or '')}: only regular "
            "user-created playlists are supported"
        )
    return list_id


def _parse_shorthand(text: str) -> MediaLink:
    media_type, media_id = text[:2], text[3:]
    if media_type not in MEDIA_TYPES:
        raise MediaLinkError(f"unknown media type {media_type!r} in {_excerpt(text)}")
    if media_type == "dm":  # Dailymotion ids also lose a "_title" suffix
        m = re.search(r"[^?&#_]+", media_id)
        return _link(media_type, m.group(0) if m else None, text)
    if media_type in ("fi", "cm"):  # raw files keep their query string
        return _link(media_type, media_id, text)
    if media_type == "yp":
        return MediaLink(media_type, _check_yp(media_id))
    m = re.search(r"[^?&#]+", media_id)
    return _link(media_type, m.group(0) if m else None, text)


@dataclass(frozen=True, slots=True)
class _Url:
    text: str
    scheme: str
    hostname: str
    path: str
    query: str

    def param(self, name: str) -> str | None:
        values = parse_qs(self.query, keep_blank_values=True).get(name)
        return values[0] if values else None


def _split(text: str) -> _Url:
    try:
        parts = urlsplit(text)
        hostname = parts.hostname or ""
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise MediaLinkError(f"could not tell the media type of {_excerpt(text)}") from None
    if not parts.scheme:
        raise MediaLinkError(f"could not tell the media type of {_excerpt(text)}")
    path = parts.path
    if parts.scheme in _SPECIAL_SCHEMES:
        if not hostname and parts.scheme != "file":
            raise MediaLinkError(f"could not tell the media type of {_excerpt(text)}")
        path = path or "/"
    return _Url(text, parts.scheme, hostname, path, parts.query)


# Host handlers in the order of parseMediaLink's switch. A handler returning None falls
# through to the next one, as the JavaScript cases without a return do.
_Handler = Callable[[_Url], MediaLink | None]


def _youtube(u: _Url) -> MediaLink | None:
    if u.path == "/watch":
        return _link("yt", u.param("v"), u.text)
    if u.path.startswith("/shorts/"):
        return _link("yt", u.path[8:19], u.text)
    if u.path == "/playlist":
        return MediaLink("yp", _check_yp(u.param("list")))
    return None


def _twitch(u: _Url) -> MediaLink:
    last = u.path.split("/")[-1]
    if "/clip/" in u.path:
        return _link("tc", last, u.text)
    if u.path.startswith("/videos/"):
        return _link("tv", f"v{last}", u.text)
    return _link("tw", u.path[1:], u.text)


def _livestream(u: _Url) -> MediaLink:
    m = _LIVESTREAM.search(u.path) if u.path.startswith("/accounts/") else None
    if m is None:
        raise MediaLinkError(
            f"unsupported Livestream.com link {_excerpt(u.text)}: use one with the numeric "
            "account id (/accounts/N/events/N)"
        )
    return MediaLink("li", f"{m.group('account')};{m.group('event')}")


def _google_drive(u: _Url) -> MediaLink | None:
    if u.path.startswith("/file/"):
        return _link("gd", u.path[8:].split("/")[0], u.text)
    if u.path == "/open":
        return _link("gd", u.param("id"), u.text)
    return None


def _after_prefix(prefix: str, media_type: str) -> _Handler:
    def handler(u: _Url) -> MediaLink | None:
        if u.path.startswith(prefix):
            return _link(media_type, u.path[len(prefix) :].split("/")[0], u.text)
        return None

    return handler


def _odysee(u: _Url) -> MediaLink | None:
    m = _ODYSEE.search(u.path)
    return None if m is None else MediaLink("od", f"{m.group('user')};{m.group('video')}")


_SWITCH: tuple[tuple[frozenset[str], _Handler], ...] = (
    (frozenset({"youtube.com"}), _youtube),
    (frozenset({"youtu.be"}), lambda u: _link("yt", u.path[1:], u.text)),
    (frozenset({"twitch.tv"}), _twitch),
    (frozenset({"clips.twitch.tv"}), lambda u: _link("tc", u.path[1:], u.text)),
    (frozenset({"livestream.com"}), _livestream),
    (frozenset({"vimeo.com"}), lambda u: _link("vi", u.path[1:], u.text)),
    (frozenset({"dailymotion.com"}), lambda u: _link("dm", u.path[7:], u.text)),
    (frozenset({"soundcloud.com"}), lambda u: MediaLink("sc", u.text)),
    (frozenset({"streamable.com"}), lambda u: _link("sb", u.path[1:], u.text)),
    (frozenset({"docs.google.com", "drive.google.com"}), _google_drive),
    (frozenset({"bitchute.com"}), _after_prefix("/video/", "bc")),
    (frozenset({"nicovideo.jp"}), _after_prefix("/watch/", "nv")),
    (frozenset({"odysee.com"}), _odysee),
)


def _by_host(u: _Url) -> MediaLink | None:
    host = u.hostname.replace("www.", "", 1)
    for start, (hosts, _) in enumerate(_SWITCH):
        if host in hosts:
            for _, handler in _SWITCH[start:]:
                link = handler(u)
                if link is not None:
                    return link
            return None
    return None


def parse_media_link(text: str) -> MediaLink:
    """The ``MediaLink`` for a URL or ``xx:ID`` shorthand; raises :class:`MediaLinkError`."""
    text = text.strip()
    if _SHORTHAND.match(text):
        return _parse_shorthand(text)
    u = _split(text)
    if u.scheme == "rtmp":
        return MediaLink("rt", text)
    if u.path.endswith(".m3u8"):
        return MediaLink("hl", text)
    if u.path.endswith(".json"):
        return MediaLink("cm", text)
    link = _by_host(u)
    if link is not None:
        return link
    if u.hostname.endswith(".bandcamp.com") and u.path.startswith("/track/"):
        artist = u.hostname.replace(".bandcamp.com", "", 1)
        return _link("bn", f"{artist};{u.path.replace('/track/', '', 1)}", text)
    if _PEERTUBE_PATH.search(u.path):
        m = _PEERTUBE.search(u.path)
        if m is not None:
            return MediaLink("pt", f"{u.hostname};{m.group('short') or m.group('long')}")
    if u.scheme.startswith("http"):
        return MediaLink("fi", text)  # the server decides whether it is a playable file
    raise MediaLinkError(f"could not tell the media type of {_excerpt(text)}")

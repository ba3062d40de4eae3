"""The media-link parser: CyTube 3.86's parseMediaLink (www/js/util.js), type by type."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rosey.bot.medialink import (
    LIVE_TYPES,
    MEDIA_TYPES,
    MediaLink,
    MediaLinkError,
    is_live,
    parse_media_link,
)

UUID = "9c9de5e8-0a1e-484a-b099-e80766180a6d"
PLAYLIST = "PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI"

LINKS = [
    # YouTube
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "yt", "dQw4w9WgXcQ"),
    ("https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42s", "yt", "dQw4w9WgXcQ"),
    ("https://youtu.be/dQw4w9WgXcQ?t=10", "yt", "dQw4w9WgXcQ"),
    ("https://www.youtube.com/shorts/dQw4w9WgXcQ?feature=share", "yt", "dQw4w9WgXcQ"),
    (f"https://www.youtube.com/playlist?list={PLAYLIST}", "yp", PLAYLIST),
    # a youtube.com path the switch does not know falls through to the youtu.be case
    ("https://www.youtube.com/dQw4w9WgXcQ", "yt", "dQw4w9WgXcQ"),
    ("https://www.youtube.com/embed/dQw4w9WgXcQ", "yt", "embed/dQw4w9WgXcQ"),
    # Twitch
    ("https://www.twitch.tv/somechannel", "tw", "somechannel"),
    ("https://www.twitch.tv/videos/123456789", "tv", "v123456789"),
    ("https://www.twitch.tv/somechannel/clip/FunnyClipSlug-abc", "tc", "FunnyClipSlug-abc"),
    ("https://clips.twitch.tv/FunnyClipSlug", "tc", "FunnyClipSlug"),
    # others by host
    ("https://livestream.com/accounts/12345/events/67890", "li", "12345;67890"),
    ("https://vimeo.com/76979871", "vi", "76979871"),
    ("https://www.dailymotion.com/video/x8fmz1a", "dm", "x8fmz1a"),
    ("https://soundcloud.com/artist/track", "sc", "https://soundcloud.com/artist/track"),
    ("https://streamable.com/moo", "sb", "moo"),
    (
        "https://drive.google.com/file/d/1AbCdEf_GhIj-KlMn/view?usp=sharing",
        "gd",
        "1AbCdEf_GhIj-KlMn",
    ),
    ("https://docs.google.com/file/d/1AbCdEfGhIjKlMn", "gd", "1AbCdEfGhIjKlMn"),
    ("https://drive.google.com/open?id=1AbCdEfGhIjKlMn", "gd", "1AbCdEfGhIjKlMn"),
    ("https://www.bitchute.com/video/AbCdEfGh1234/", "bc", "AbCdEfGh1234"),
    ("https://www.nicovideo.jp/watch/sm9", "nv", "sm9"),
    (
        "https://odysee.com/@veritasium:f/why-the-first-computers:9",
        "od",
        "veritasium;why-the-first-computers",
    ),
    ("https://odysee.com/@LabUser/some-video", "od", "LabUser;some-video"),
    ("https://someartist.bandcamp.com/track/some-song", "bn", "someartist;some-song"),
    # PeerTube on any host: long uuid or 22-character short id
    (f"https://framatube.org/videos/watch/{UUID}", "pt", f"framatube.org;{UUID}"),
    (f"https://peertube.example/w/{UUID}", "pt", f"peertube.example;{UUID}"),
    ("https://tube.example/w/kkGMgK9ZtnKfYAgnEtQxbv", "pt", "tube.example;kkGMgK9ZtnKfYAgnEtQxbv"),
    # by protocol or path, before the host
    ("rtmp://live.example.com/app/stream", "rt", "rtmp://live.example.com/app/stream"),
    ("https://live.example.com/hls/stream.m3u8", "hl", "https://live.example.com/hls/stream.m3u8"),
    ("http://127.0.0.1:8090/test1.json", "cm", "http://127.0.0.1:8090/test1.json"),
    ("https://www.youtube.com/manifest.json", "cm", "https://www.youtube.com/manifest.json"),
    # any other http(s) URL is a raw file for the server to check
    ("https://media.example.com/movie.mp4", "fi", "https://media.example.com/movie.mp4"),
    (
        "https://m.youtube.com/watch?v=dQw4w9WgXcQ",
        "fi",
        "https://m.youtube.com/watch?v=dQw4w9WgXcQ",
    ),
    ("  https://youtu.be/dQw4w9WgXcQ \n", "yt", "dQw4w9WgXcQ"),
]

SHORTHANDS = [
    ("yt:dQw4w9WgXcQ", "yt", "dQw4w9WgXcQ"),
    ("yt:dQw4w9WgXcQ?t=5", "yt", "dQw4w9WgXcQ"),
    (f"yp:{PLAYLIST}", "yp", PLAYLIST),
    ("vi:76979871", "vi", "76979871"),
    ("dm:x8fmz1a_some-title", "dm", "x8fmz1a"),
    ("gd:1AbCdEf_GhIj", "gd", "1AbCdEf_GhIj"),
    ("fi:https://example.com/a.mp4?token=1", "fi", "https://example.com/a.mp4?token=1"),
    ("cm:https://example.com/m.json?v=2", "cm", "https://example.com/m.json?v=2"),
    ("sb:moo", "sb", "moo"),
    ("tv:v123456789", "tv", "v123456789"),
    ("tc:FunnyClipSlug", "tc", "FunnyClipSlug"),
    (f"pt:framatube.org;{UUID}", "pt", f"framatube.org;{UUID}"),
    ("bc:AbCdEfGh1234", "bc", "AbCdEfGh1234"),
    ("od:LabUser;some-video", "od", "LabUser;some-video"),
    ("bn:someartist;some-song", "bn", "someartist;some-song"),
    ("nv:sm9", "nv", "sm9"),
    ("tw:somechannel", "tw", "somechannel"),
    ("li:12345;67890", "li", "12345;67890"),
    ("rt:rtmp://live.example.com/app", "rt", "rtmp://live.example.com/app"),
    ("hl:https://live.example.com/s.m3u8", "hl", "https://live.example.com/s.m3u8"),
    (
        "cu:<iframe src='https://e.example/x'></iframe>",
        "cu",
        "<iframe src='https://e.example/x'></iframe>",
    ),
    ("sc:https://soundcloud.com/a/b", "sc", "https://soundcloud.com/a/b"),
]


@pytest.mark.parametrize(("text", "media_type", "media_id"), LINKS + SHORTHANDS)
def test_parse(text: str, media_type: str, media_id: str) -> None:
    assert parse_media_link(text) == MediaLink(media_type, media_id)


def test_every_type_is_covered() -> None:
    seen = {t for _, t, _ in LINKS} | {t for _, t, _ in SHORTHANDS}
    assert seen == MEDIA_TYPES


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not a link", "could not tell the media type"),
        ("www.youtube.com/watch?v=dQw4w9WgXcQ", "could not tell the media type"),
        ("ftp://files.example.com/movie.mp4", "could not tell the media type"),
        ("https://", "could not tell the media type"),
        ("http://[::1/x", "could not tell the media type"),
        ("", "could not tell the media type"),
        ("zz:abc", "unknown media type 'zz'"),
        ("yt:", "no yt media id"),
        ("yt:?&#", "no yt media id"),
        ("https://youtu.be/", "no yt media id"),
        ("https://www.youtube.com/watch?list=x", "no yt media id"),
        ("https://www.twitch.tv/", "no tw media id"),
        ("https://drive.google.com/open", "no gd media id"),
        ("yp:UUabcdefghijklmnop", "invalid YouTube playlist id"),
        ("https://www.youtube.com/playlist?list=RDdQw4w9WgXcQ", "invalid YouTube playlist id"),
        ("https://livestream.com/someuser/events/1", "unsupported Livestream.com link"),
        ("https://livestream.com/accounts/abc/events/1", "unsupported Livestream.com link"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(MediaLinkError, match=message):
        parse_media_link(text)


def test_errors_are_value_errors() -> None:
    assert issubclass(MediaLinkError, ValueError)


def test_long_input_is_cut_in_the_message() -> None:
    with pytest.raises(MediaLinkError) as e:
        parse_media_link("x" * 5000)
    assert len(str(e.value)) < 200


@pytest.mark.parametrize("media_type", ["tw", "li", "rt", "hl", "cu"])
def test_live_types(media_type: str) -> None:
    assert is_live(media_type)
    assert media_type in LIVE_TYPES


@pytest.mark.parametrize("media_type", ["yt", "yp", "vi", "dm", "gd", "fi", "cm", "tv", "sc"])
def test_not_live(media_type: str) -> None:
    assert not is_live(media_type)


def test_link_knows_whether_it_is_live() -> None:
    assert parse_media_link("https://www.twitch.tv/somechannel").live
    assert not parse_media_link("https://youtu.be/dQw4w9WgXcQ").live


@given(st.text(max_size=300))
def test_any_text_gives_a_link_or_a_media_link_error(text: str) -> None:
    try:
        link = parse_media_link(text)
    except MediaLinkError:
        return
    assert link.type in MEDIA_TYPES
    assert link.id


@given(
    st.sampled_from(["http", "https", "rtmp", "ftp", "wss"]),
    st.sampled_from(
        [
            "youtube.com",
            "www.youtube.com",
            "twitch.tv",
            "livestream.com",
            "x.bandcamp.com",
            "odysee.com",
            "drive.google.com",
            "e.example",
        ]
    ),
    st.text(st.characters(codec="ascii"), max_size=60),
)
def test_url_shaped_text_gives_a_link_or_a_media_link_error(
    scheme: str, host: str, rest: str
) -> None:
    try:
        link = parse_media_link(f"{scheme}://{host}/{rest}")
    except MediaLinkError:
        return
    assert link.type in MEDIA_TYPES
    assert link.id

"""The chat and media log files: line formats, buffering, rotation, and one file (and one
duplicate check) per channel from a path pattern."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet.task import Clock

from rosey.daemon import logpaths
from rosey.daemon.chatlogs import ChannelLogs, ChatLog, LineFile, MediaLog
from rosey.daemon.config import ChannelConfig, ConfigError, LoggingConfig, parse
from rosey.events import Event

# 2024-03-01 12:34:56 UTC
NOON = 1709296496.0


def chat(user: str, text: str, ts: float | None, replayed: bool = False) -> Event:
    data = {"username": user, "msg": text, "time": None if ts is None else ts * 1000}
    return Event("message", data, user=user, content=text, timestamp=ts, replayed=replayed)


def media(title: str, kind: str, ident: str, current: float = -3) -> Event:
    data = {"title": title, "type": kind, "id": ident, "seconds": 212, "currentTime": current}
    return Event("changeMedia", data)


def test_chat_log_uses_the_event_timestamp_in_local_time(tmp_path: Path, timezone: None) -> None:
    clock = Clock()
    clock.advance(NOON + 3600)  # the clock is an hour later: the line must not use it
    path = tmp_path / "chat.log"
    chat_log = ChatLog(LineFile(str(path), clock))
    chat_log.file.startService()
    chat_log(chat("alice", "hello there", NOON))
    chat_log(chat("bob", "line one\nline two\x1b[31m", NOON + 61.9))
    chat_log(chat("old", "said before we joined", NOON - 50, replayed=True))
    chat_log(Event("pm", None, user="carol", content="private", timestamp=NOON))
    chat_log(chat("nobody", "no time", None))
    assert path.read_text() == ""  # buffered: the reactor does not wait on the disk per line
    clock.advance(1)
    assert path.read_text().splitlines() == [
        "[18:04:56] <alice> hello there",
        "[18:05:57] <bob> line one line two [31m",
        "[19:04:56] <nobody> no time",
    ]
    chat_log(chat("alice", "bye", NOON + 7200))
    chat_log.file.stopService()
    assert path.read_text().splitlines()[-1] == "[20:04:56] <alice> bye"
    assert clock.getDelayedCalls() == []


def test_chat_log_stamps_each_second_and_minute(tmp_path: Path, timezone: None) -> None:
    path = tmp_path / "chat.log"
    chat_log = ChatLog(LineFile(str(path), Clock()))
    for ts in (NOON, NOON + 0.9, NOON + 1, NOON + 3.5, NOON + 4, NOON + 0.2, NOON + 60):
        chat_log(chat("a", f"at {ts - NOON:g}", ts))
    chat_log.file.stopService()
    assert path.read_text().splitlines() == [
        "[18:04:56] <a> at 0",
        "[18:04:56] <a> at 0.9",
        "[18:04:57] <a> at 1",
        "[18:04:59] <a> at 3.5",
        "[18:05:00] <a> at 4",
        "[18:04:56] <a> at 0.2",
        "[18:05:56] <a> at 60",
    ]


def test_chat_log_appends(tmp_path: Path, timezone: None) -> None:
    path = tmp_path / "chat.log"
    path.write_text("[00:00:00] <x> from the last run\n")
    chat_log = ChatLog(LineFile(str(path), Clock()))
    chat_log(chat("y", "again", NOON))
    chat_log.file.stopService()
    assert path.read_text().splitlines() == [
        "[00:00:00] <x> from the last run",
        "[18:04:56] <y> again",
    ]


def test_media_log_uses_the_clock_and_skips_resends(tmp_path: Path, timezone: None) -> None:
    clock = Clock()
    clock.advance(NOON)
    path = tmp_path / "media.log"
    media_log = MediaLog(LineFile(str(path), clock))
    media_log.file.startService()
    media_log(media("Running at join", "yt", "abc", current=95.5))  # join burst: log it
    media_log(media("Running at join", "yt", "abc", current=96.0))  # resent: skip
    clock.advance(120)
    media_log(media("Next one", "vm", "42"))
    clock.advance(300)
    media_log(media("Next one", "vm", "42"))  # played again from the start: log it
    media_log(Event("changeMedia", {"title": "no id"}))  # malformed: skipped
    media_log(Event("changeMedia", "garbage"))
    media_log.file.stopService()
    assert path.read_text().splitlines() == [
        "[18:04:56] Running at join (yt:abc)",
        "[18:06:56] Next one (vm:42)",
        "[18:11:56] Next one (vm:42)",
    ]


def test_log_file_that_cannot_be_opened_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^logging\.media_log: cannot open .*missing"):
        LineFile(str(tmp_path / "missing" / "media.log"), Clock(), "logging.media_log")


def test_reopen_after_rotation(tmp_path: Path, timezone: None) -> None:
    path = tmp_path / "chat.log"
    chat_log = ChatLog(LineFile(str(path), Clock()))
    chat_log(chat("a", "before", NOON))
    path.rename(tmp_path / "chat.log.1")
    chat_log.file.reopen()
    chat_log(chat("a", "after", NOON))
    chat_log.file.stopService()
    assert (tmp_path / "chat.log.1").read_text() == "[18:04:56] <a> before\n"
    assert path.read_text() == "[18:04:56] <a> after\n"


# -- one file per channel --------------------------------------------------------------------

A = ChannelConfig(site="https://cytu.be", name="lobby")
B = ChannelConfig(site="http://127.0.0.1:8080", name="lobby")


class Listeners:
    """What a Bot's ``on`` gets: the listeners per event name."""

    def __init__(self) -> None:
        self.by_name: dict[str, list[object]] = {}

    def on(self, name: str, listener: object) -> None:
        self.by_name.setdefault(name, []).append(listener)

    def __call__(self, event: Event) -> None:
        for listener in self.by_name.get(event.name, []):
            listener(event)  # type: ignore[operator]


def attached(logs: ChannelLogs, *channels: ChannelConfig) -> list[Listeners]:
    bots = []
    for channel in channels:
        bot = Listeners()
        logs.attach(bot, channel)
        bots.append(bot)
    return bots


def test_a_pattern_gives_each_channel_its_file_and_its_own_media_state(
    tmp_path: Path, timezone: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    clock = Clock()
    clock.advance(NOON)
    config = LoggingConfig(
        chat_log="logs/{site}/{channel}-chat.log", media_log="logs/{site}/{channel}-media.log"
    )
    logs = ChannelLogs(config, [A, B], clock)
    a, b = attached(logs, A, B)
    for bot in (a, b):  # the same item plays in both channels at once
        bot(media("Same song", "yt", "abc"))
        bot(media("Same song", "yt", "abc", current=4.0))  # a resend: skipped
    a(chat("alice", "in a", NOON))
    b(chat("bob", "in b", NOON))
    logs.stopService()
    folder_a, folder_b = tmp_path / "logs" / "cytu.be", tmp_path / "logs" / "127.0.0.1_8080"
    assert (folder_a / "lobby-chat.log").read_text() == "[18:04:56] <alice> in a\n"
    assert (folder_b / "lobby-chat.log").read_text() == "[18:04:56] <bob> in b\n"
    for folder in (folder_a, folder_b):
        assert (folder / "lobby-media.log").read_text() == "[18:04:56] Same song (yt:abc)\n"


def test_channels_sharing_a_file_are_named_on_every_line(tmp_path: Path, timezone: None) -> None:
    """No placeholder (or one that does not tell the channels apart) and several channels."""
    clock = Clock()
    clock.advance(NOON)
    config = LoggingConfig(chat_log=str(tmp_path / "chat.log"), media_log=str(tmp_path / "m.log"))
    logs = ChannelLogs(config, [A, B], clock)
    assert len(logs.files) == 2
    a, b = attached(logs, A, B)
    a(media("Same song", "yt", "abc"))
    b(media("Same song", "yt", "abc"))  # the other channel's play: its own line
    a(media("Same song", "yt", "abc", current=9.0))  # a resend in a: skipped
    a(chat("alice", "hi", NOON))
    logs.stopService()
    assert (tmp_path / "m.log").read_text().splitlines() == [
        "[18:04:56] cytu.be/lobby Same song (yt:abc)",
        "[18:04:56] 127.0.0.1:8080/lobby Same song (yt:abc)",
    ]
    assert (tmp_path / "chat.log").read_text() == "[18:04:56] cytu.be/lobby <alice> hi\n"


def test_one_channel_and_a_plain_path_keeps_the_original_format(
    tmp_path: Path, timezone: None
) -> None:
    logs = ChannelLogs(LoggingConfig(chat_log=str(tmp_path / "chat.log")), [A], Clock())
    (a,) = attached(logs, A)
    a(chat("alice", "hi", NOON))
    assert logs.reopen() == 1
    logs.stopService()
    assert (tmp_path / "chat.log").read_text() == "[18:04:56] <alice> hi\n"


def test_the_fixed_part_of_a_pattern_must_exist(tmp_path: Path) -> None:
    config = LoggingConfig(chat_log=str(tmp_path / "typo" / "{channel}.log"))
    with pytest.raises(ConfigError, match=r"^logging\.chat_log: cannot open .*typo"):
        ChannelLogs(config, [A], Clock())
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize(
    ("site", "channel", "path"),
    [
        ("https://cytu.be", "lobby", "logs/cytu.be/lobby.log"),
        ("http://127.0.0.1:8080", "a-b_c", "logs/127.0.0.1_8080/a-b_c.log"),
        ("https://cytu.be", "..", "logs/cytu.be/_..log"),
        ("https://cytu.be", "../../etc/passwd", "logs/cytu.be/_._.._etc_passwd.log"),
        ("https://cytu.be", ".hidden", "logs/cytu.be/_hidden.log"),
        ("https://cytu.be", "a/b\\c\x00d é", "logs/cytu.be/a_b_c_d__.log"),
        ("https://cytu.be", "", "logs/cytu.be/_.log"),
        ("https://user@evil/..", "x", "logs/user_evil/x.log"),
    ],
)
def test_placeholders_never_leave_their_directory(site: str, channel: str, path: str) -> None:
    assert logpaths.render("logs/{site}/{channel}.log", site, channel) == path


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("logs/{chanel}.log", r"unknown placeholder \{chanel\} \(known: \{site\}, \{channel\}\)"),
        ("logs/{channel.__class__}.log", r"unknown placeholder"),
        ("logs/{channel[0]}.log", r"unknown placeholder"),
        ("logs/{}.log", r"unknown placeholder \{\}"),
        ("logs/{0}.log", r"unknown placeholder \{0\}"),
        ("logs/{channel!r}.log", r"takes no conversion or format"),
        ("logs/{channel:>9}.log", r"takes no conversion or format"),
        ("logs/{channel.log", r"not a valid pattern"),
        ("logs/}.log", r"not a valid pattern"),
        ("  ", r"is empty"),
    ],
)
def test_bad_patterns_are_config_errors(pattern: str, message: str) -> None:
    raw = {
        "channel": [{"site": "https://cytu.be", "name": "x"}],
        "logging": {"chat_log": pattern},
    }
    with pytest.raises(ConfigError, match=r"^logging\.chat_log: .*" + message):
        parse(raw, {})


def test_literal_braces_and_plain_paths_are_accepted() -> None:
    raw = {
        "channel": [{"site": "https://cytu.be", "name": "x"}],
        "logging": {"chat_log": "logs/{{x}}-{channel}.log", "media_log": "media.log"},
    }
    config = parse(raw, {})
    assert config.logging.chat_log == "logs/{{x}}-{channel}.log"
    assert logpaths.render(config.logging.chat_log, "https://cytu.be", "x") == "logs/{x}-x.log"
    assert not logpaths.has_placeholders("media.log")

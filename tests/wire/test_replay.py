"""Replay every recorded CyTube 3.86 capture through Session + Normalizer.

Each connection of each capture gets a fresh :class:`Session` and :class:`Normalizer`. Records
are played in recorded order: server frames go to ``Session.receive`` (with a heartbeat ``tick``
at the recorded time first), delivered events to ``Normalizer.normalize``; the recorded client's
``joinChannel`` calls ``begin_join`` and its ``41`` calls ``Session.close``. The expectations
below were written from the frames themselves (see tests/fixtures/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from rosey.events import Event
from rosey.wire import codec
from rosey.wire.normalize import Normalizer
from rosey.wire.session import (
    Action,
    CloseConnection,
    Deliver,
    SendText,
    Session,
    Violation,
)
from tests.recorded import SCENARIOS, load


@dataclass
class Replayed:
    """What one recorded connection produced."""

    session: Session = field(default_factory=Session)
    normalizer: Normalizer = field(default_factory=Normalizer)
    events: list[Event] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # frames the session asked to send
    closes: list[CloseConnection] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Deliver):
                packet = action.packet
                self.events.append(self.normalizer.normalize(packet.name, packet.data))
            elif isinstance(action, SendText):
                self.sent.append(action.text)
            elif isinstance(action, CloseConnection):
                self.closes.append(action)
            elif isinstance(action, Violation):
                self.violations.append(action)

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    def data(self, name: str) -> list[Any]:
        return [e.platform_data for e in self.named(name)]

    def chat(self) -> list[tuple[str | None, str | None, bool]]:
        return [(e.user, e.content, e.replayed) for e in self.named("message")]

    def users(self, name: str = "user_list") -> list[tuple[str, ...]]:
        return [e.extra["users"] for e in self.named(name)]


def replay(scenario: str) -> dict[int, Replayed]:
    connections: dict[int, Replayed] = {}
    for record in load(scenario).records:
        if record.dir == "meta" or record.frame is None or record.conn is None:
            continue
        conn = connections.setdefault(record.conn, Replayed())
        conn.apply(conn.session.tick(record.t))
        if record.dir == "in":
            conn.apply(conn.session.receive(record.frame, record.t))
            continue
        packet = codec.decode(record.frame)
        if isinstance(packet, codec.EventPacket) and packet.name == "joinChannel":
            conn.normalizer.begin_join()
        elif isinstance(packet, codec.Disconnect):
            conn.apply(conn.session.close())
    return connections


def burst(lines: list[tuple[str, str]]) -> list[tuple[str, str, bool]]:
    return [(user, text, True) for user, text in lines]


def live(lines: list[tuple[str, str]]) -> list[tuple[str, str, bool]]:
    return [(user, text, False) for user, text in lines]


# Plain texts of the lines labuser typed in chat_and_pm (and that later bursts replay).
FORMATTED = "bold italic code strike spoiler"  # *bold* _italic_ `code` ~~strike~~ [sp]spoiler[/sp]
SPECIALS = "HTML specials: <b>not bold</b> & \"double\" 'single' <script>alert(1)</script>"
EMOJI = "emoji: 😀🎉👍 ünïcödé ✓ 中文"
SENT_400 = "400 chars follow, the server keeps 320: " + "|".join(
    f"{i:03d}-abcdef" for i in range(40)
)
CUT_320 = SENT_400[:320]
ACTION = "waves at everyone"  # /me waves at everyone
LINK = "check this link: https://example.com/watch?v=abc&t=10s"
GREENTEXT = ">greentext line"
HELLO = "hello labuser! I read you 👋"

# The channel's last 15 lines once guest_join was over (the burst of three later captures) …
BUFFER_AFTER_GUEST = [
    ("labuser", CUT_320),
    ("labuser", ACTION),
    ("labuser", LINK),
    ("labuser", GREENTEXT),
    ("labuser", FORMATTED),
    ("labbot", HELLO),
    ("labuser", "thanks bot!"),
    ("labuser", "good evening, labchan"),
    ("labuser", "anyone around for movie night?"),
    ("labuser", "bold and code work here"),
    ("labuser", "welcome lurker9783!"),
    ("labuser", "we are about to start <3"),
    ("labuser", "grab popcorn & sit down"),
    ("lurker9783", "hi everyone, guest here"),
    ("labuser", "hi guest :)"),
]
# … and after users_coming_and_going added "back from afk" (the buffer keeps 15).
BUFFER_AFTER_AFK = [*BUFFER_AFTER_GUEST[1:], ("labuser", "back from afk")]


@pytest.fixture(scope="module")
def captures() -> dict[str, dict[int, Replayed]]:
    return {scenario: replay(scenario) for scenario in SCENARIOS}


# -- every capture ----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_frame_is_accepted_and_normalized(captures, scenario: str) -> None:
    recording = load(scenario)
    for number, conn in captures[scenario].items():
        assert conn.violations == [], f"{scenario} conn {number}"
        assert [e for e in conn.events if "malformed" in e.extra] == []
        # The session sends exactly the protocol frames the recorded client sent: 40, 3, 41.
        assert conn.sent == [f for f in recording.frames("out", number) if not f.startswith("42")]
        assert not any("heartbeat" in c.reason for c in conn.closes)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replayed_flags_follow_the_recorded_join(captures, scenario: str) -> None:
    # From the records alone: chat is replayed between the client's joinChannel and the
    # first userlist after it.
    expected: dict[int, list[bool]] = {}
    joining: dict[int, bool] = {}
    for record in load(scenario).records:
        if record.conn is None or record.frame is None or not record.frame.startswith("42["):
            continue
        name = record.frame[4 : record.frame.index('"', 4)]
        if record.dir == "out" and name == "joinChannel":
            joining[record.conn] = True
        elif record.dir == "in" and name == "userlist":
            joining[record.conn] = False
        elif record.dir == "in" and name == "chatMsg":
            expected.setdefault(record.conn, []).append(joining.get(record.conn, False))
    for number, conn in captures[scenario].items():
        assert [e.replayed for e in conn.named("message")] == expected.get(number, [])


# -- guest_join -------------------------------------------------------------------------------


def test_guest_join(captures) -> None:
    [conn] = captures["guest_join"].values()
    assert [e.name for e in conn.events] == [
        "rank",
        "setPermissions",
        "setPlaylistLocked",
        "emoteList",
        *["message"] * 15,
        "drinkCount",
        "channelCSSJS",
        "setMotd",
        "channelOpts",
        "setPlaylistMeta",
        "playlist",
        "user_list",
        "rank",
        "login",
        "user_join",
        "message",
        "message",
        "message",
        "usercount",
        "message",
        "message",
    ]
    assert conn.chat() == burst(
        [
            ("labuser", FORMATTED),
            ("labbot", HELLO),
            ("labuser", "thanks bot!"),
            ("labuser", SPECIALS),
            ("labuser", EMOJI),
            ("labuser", CUT_320),
            ("labuser", ACTION),
            ("labuser", LINK),
            ("labuser", GREENTEXT),
            ("labuser", FORMATTED),
            ("labbot", HELLO),
            ("labuser", "thanks bot!"),
            ("labuser", "good evening, labchan"),
            ("labuser", "anyone around for movie night?"),
            ("labuser", "bold and code work here"),
        ]
    ) + live(
        [
            ("labuser", "welcome lurker9783!"),
            ("labuser", "we are about to start <3"),
            ("labuser", "grab popcorn & sit down"),
            ("lurker9783", "hi everyone, guest here"),
            ("labuser", "hi guest :)"),
        ]
    )
    messages = conn.named("message")
    assert len(CUT_320) == 320
    assert messages[5].content == CUT_320
    assert [m.extra["action"] for m in messages].count(True) == 1
    assert messages[6].extra["action"] is True
    # Original times, in seconds: the burst is older than the live chat.
    assert messages[0].timestamp == 1795296711.77
    assert messages[-1].timestamp == 1795296752.495
    times = [m.timestamp for m in messages]
    assert None not in times
    assert times == sorted(times)
    assert messages[0].platform_data["msg"].startswith("<strong>bold</strong>")
    assert conn.users() == [("labuser",)]
    [join] = conn.named("user_join")
    assert join.user == "lurker9783"
    assert join.extra == {
        "rank": 0,
        "afk": False,
        "muted": False,
        "profile": {"image": "", "text": ""},
        "meta": {"afk": False, "muted": False},
    }
    assert conn.data("rank") == [-1, 0]
    assert conn.data("login") == [{"success": True, "name": "lurker9783", "guest": True}]
    assert conn.sent == ["40", "3", "41"]
    assert conn.closes == [CloseConnection("client closed")]


# -- chat_and_pm ------------------------------------------------------------------------------


def test_chat_and_pm(captures) -> None:
    [conn] = captures["chat_and_pm"].values()
    names = [e.name for e in conn.events]
    # Logged in before joining: rank 3 comes first, userlist then listPlaylists end the burst.
    assert names[:4] == ["rank", "rank", "login", "rank"]
    assert conn.data("rank") == [-1, 1, 3]
    assert names.index("listPlaylists") == names.index("user_list") + 1
    assert conn.users() == [("labuser", "labbot")]
    assert conn.chat() == burst(
        [
            ("labuser", "a (b) 'c' \"d\" & e <i>x</i>"),
            ("labuser", "bold it code s sp"),
            ("labuser", "see https://example.com/x?y=1 now"),
            ("labuser", ">green"),
            ("labuser", "waves"),
            ("labuser", "hidden"),
            ("labuser", SPECIALS),
            ("labuser", EMOJI),
            ("labuser", CUT_320),
            ("labuser", ACTION),
            ("labuser", LINK),
            ("labuser", GREENTEXT),
            ("labuser", FORMATTED),
            ("labbot", HELLO),
            ("labuser", "thanks bot!"),
        ]
    ) + live(
        [
            ("labuser", SPECIALS),
            ("labuser", EMOJI),
            ("labuser", CUT_320),
            ("labuser", ACTION),
            ("labuser", LINK),
            ("labuser", GREENTEXT),
            ("labuser", FORMATTED),
            ("labbot", HELLO),
            ("labuser", "thanks bot!"),
        ]
    )
    messages = conn.named("message")
    assert [m.content for m in messages if m.extra["action"]] == ["waves", ACTION, ACTION]
    assert messages[3].extra["meta"] == {"addClass": "greentext"}
    assert messages[5].extra["meta"] == {"addClass": "spoiler"}
    assert messages[-5].platform_data["msg"].startswith('check this link: <a href="https://')
    pms = conn.named("pm")
    assert [(p.user, p.content, p.extra["to"]) for p in pms] == [
        ("labuser", 'hey bot, private question: <are> you & "there"? 🤖', "labbot"),
        ("labbot", "yes, I am here (PM reply) & listening", "labuser"),
    ]
    assert pms[0].timestamp == 1795296735.17
    assert not any(p.replayed for p in pms)
    assert names.index("pm") == names.index("usercount") + 1
    assert conn.sent == ["40", "41"]


# -- users_coming_and_going -------------------------------------------------------------------


def test_users_coming_and_going(captures) -> None:
    [conn] = captures["users_coming_and_going"].values()
    presence = [(e.name, e.user) for e in conn.events if e.name in ("user_join", "user_leave")]
    assert presence == [
        ("user_join", "labbot"),
        ("user_join", "labuser"),
        ("user_join", "visitor1461"),
        ("user_join", "labmod"),
        ("user_join", "labowner"),
        ("user_leave", "visitor1461"),
        ("user_leave", "labuser"),
        ("user_leave", "labmod"),
        ("user_leave", "labowner"),
    ]
    joins = conn.named("user_join")
    assert [j.extra["rank"] for j in joins] == [1, 1, 0, 1, 1]
    assert joins[1].extra["meta"]["aliases"] == ["labuser"]  # the moderator view
    assert conn.users() == [(), ("labbot",)]  # anonymous at first: not in the list
    assert conn.chat() == burst(BUFFER_AFTER_GUEST) + live(
        [
            ("[server]", "labuser joined (aliases: labuser)"),
            ("[server]", "visitor1461 joined (aliases: visitor1461)"),
            ("[server]", "labmod joined (aliases: labmod)"),
            ("[server]", "labowner joined (aliases: labowner)"),
            ("labuser", "back from afk"),
        ]
    )
    whispers = [m.extra["server_whisper"] for m in conn.named("message") if not m.replayed]
    assert whispers == [True, True, True, True, False]
    ranks = [d["rank"] for d in conn.data("setUserRank") if d["name"] == "labuser"]
    assert ranks == [1, 1.5, 1, 2, 1]
    assert conn.data("setLeader") == ["labuser", ""]
    assert conn.data("setAFK") == [
        {"name": "labuser", "afk": True},
        {"name": "labuser", "afk": False},
    ]
    assert [d["meta"]["afk"] for d in conn.data("setUserMeta")] == [True, False]
    assert conn.data("usercount") == [1, 5, 6, 5, 1]
    assert conn.sent == ["40", "3", "41"]


# -- registered_login_admin -------------------------------------------------------------------


def test_registered_login_admin(captures) -> None:
    [conn] = captures["registered_login_admin"].values()
    assert conn.chat() == burst(BUFFER_AFTER_GUEST)
    assert conn.users() == [("labowner", "labuser"), ("labowner", "labuser", "labbot")]
    assert conn.data("rank") == [-1, 1, 3]
    assert [j.user for j in conn.named("user_join")] == ["labbot"]
    names = [e.name for e in conn.events]
    # Something is playing: the burst carries setCurrent twice, then changeMedia.
    first = names.index("setCurrent")
    assert names[first : first + 3] == ["setCurrent", "setCurrent", "changeMedia"]
    assert conn.data("setCurrent") == [0, 0, 0, 0]
    [media] = conn.data("changeMedia")
    assert (media["title"], media["type"], media["currentTime"]) == ("Lab Long Video", "cm", 2)
    assert conn.data("mediaUpdate") == [{"currentTime": 5.003, "paused": False}]
    assert [len(p) for p in conn.data("playlist")] == [2, 2, 2]
    assert conn.data("setUserRank") == [{"name": "labbot", "rank": 3}]
    assert conn.sent == ["40", "41"]


# -- playlist_ops -----------------------------------------------------------------------------


def test_playlist_ops(captures) -> None:
    [conn] = captures["playlist_ops"].values()
    assert conn.chat() == burst(BUFFER_AFTER_AFK)
    queued = [
        (q["item"]["uid"], q["item"]["media"]["title"], q["after"]) for q in conn.data("queue")
    ]
    assert queued == [
        (0, "Lab Test Video One", "prepend"),
        (1, "Lab Test Video Two", 0),
        (2, "Lab Test Video Three", 1),
        (3, "Lab Long Video", 2),
        (4, "Lab Short Clip", 0),
    ]
    assert [q["item"]["temp"] for q in conn.data("queue")] == [False, False, True, False, False]
    assert [f["msg"] for f in conn.data("queueFail")] == ["This item is already on the playlist"]
    assert conn.data("setTemp") == [{"uid": 1, "temp": True}]
    assert conn.data("moveVideo") == [{"from": 3, "after": 0}]
    assert conn.data("delete") == [{"uid": 2}, {"uid": 1}]
    assert conn.data("setCurrent") == [0, 4, 1, 0, 6]
    assert [(m["title"], m["currentTime"]) for m in conn.data("changeMedia")] == [
        ("Lab Test Video One", -3),
        ("Lab Short Clip", -3),
        ("Lab Test Video Two", -3),
        ("Lab Test Video One", -3),
        ("Lab Test Video One", -0.9990000000000001),
    ]
    assert [u["currentTime"] for u in conn.data("mediaUpdate")] == [
        0,
        5.002,
        -0.9980000000000002,
        0,
        5.004,
        0,
        0,
    ]
    assert conn.data("voteskip") == [{"count": 0, "need": 0}] * 5  # one per changeMedia
    assert conn.data("setPlaylistLocked") == [True, False, True]
    assert [e.name for e in conn.events[-2:]] == ["playlist", "setPlaylistMeta"]
    assert conn.events[-2].platform_data == []
    assert conn.sent == ["40", "3", "41"]


# -- channel_admin ----------------------------------------------------------------------------


def test_channel_admin(captures) -> None:
    [conn] = captures["channel_admin"].values()
    assert conn.chat() == burst(BUFFER_AFTER_AFK) + live(
        [("labuser", "the sled is called [redacted] :labkitty:")]
    )
    # HTML outside chat passes through untouched (already sanitized by the server).
    assert conn.data("setMotd") == [
        "Lab MOTD <b>bold</b>",
        "<h3>Movie night</h3> every <b>Friday</b> &amp; <i>Saturday</i> "
        '<a href="https://example.com">info</a>',
        "Lab MOTD <b>bold</b>",
    ]
    assert conn.data("addFilterSuccess") == [None]  # an event with no payload
    assert [h["cssHash"] for h in conn.data("channelCSSJS")] == [
        "1B2M2Y8AsgTpgAmY7PhCfg==",
        "tfX5cqdC7W/485PdNZieog==",
        "tfX5cqdC7W/485PdNZieog==",
        "tfX5cqdC7W/485PdNZieog==",
        "1B2M2Y8AsgTpgAmY7PhCfg==",
    ]
    assert [(o["afk_timeout"], o["pagetitle"]) for o in conn.data("channelOpts")] == [
        (600, "labchan"),
        (300, "Lab Movie Night"),
        (600, "labchan"),
    ]
    assert conn.data("validationPassed") == [{"target": "#cs-afk_timeout"}] * 2
    assert [v["message"] for v in conn.data("validationError")] == [
        'Input must be a number 0 or greater, not "lots"',
        "Invalid URL for external CSS:  URL must begin with 'https://'",
    ]
    assert [p["playlistadd"] for p in conn.data("setPermissions")] == [1.5, 2, 1.5]
    assert conn.data("updateEmote") == [
        {
            "name": ":labcat:",
            "image": "https://media.example.invalid/labcat.png",
            "source": "(^|\\s):labcat:(?!\\S)",
        }
    ]
    assert [(r["old"], r["name"]) for r in conn.data("renameEmote")] == [(":labcat:", ":labkitty:")]
    assert conn.data("removeEmote") == [{"name": ":labkitty:"}]
    assert [f["active"] for f in conn.data("updateChatFilter")] == [True, False]
    assert [f["name"] for f in conn.data("deleteChatFilter")] == ["no spoilers"]
    assert len(conn.data("chatFilters")[0]) == 6  # the 5 defaults + "no spoilers"
    assert conn.sent == ["40", "41"]


# -- errors_and_limits ------------------------------------------------------------------------


def test_errors_and_limits(captures) -> None:
    conns = captures["errors_and_limits"]
    assert sorted(conns) == list(range(1, 10))
    kicks = [e.platform_data["reason"] for c in conns.values() for e in c.named("kick")]
    assert kicks == [
        "Invalid channel name",
        "Attempted setMotd with insufficient permission",
        "Duplicate login",
    ]
    server_gone = CloseConnection("server disconnected the namespace")

    # conn 1: invalid channel name → errorMsg, kick, 41; the join never completes.
    one = conns[1]
    assert [e.name for e in one.events] == ["rank", "errorMsg", "kick"]
    assert one.events[1].platform_data["msg"].startswith("Invalid channel name.  Channel names")
    assert one.closes == [server_gone]
    assert one.normalizer.replaying is True
    assert one.sent == ["40"]

    # conn 2: login errors, a guest login, then a kick for setMotd.
    two = conns[2]
    flood_burst = [("labbot", f"flood {i}") for i in range(5, 19)] + [("labbot", "after the flood")]
    assert two.chat() == burst(flood_burst)
    assert two.users() == [()]
    assert two.data("errorMsg") == [{"msg": "Invalid login frame"}]
    assert two.data("login") == [
        {"success": False, "error": "Invalid username/password combination"},
        {"success": False, "error": "That username is registered."},
        {"success": False, "error": "That username is reserved."},
        {
            "success": False,
            "error": "Invalid username.  Usernames must be 1-20 characters long and consist "
            "only of characters a-z, A-Z, 0-9, -, or _.",
        },
        {"success": True, "name": "errguest9751", "guest": True},
    ]
    assert [j.user for j in two.named("user_join")] == ["errguest9751"]
    assert two.events[-1].name == "kick"
    assert two.closes == [server_gone]

    # conn 3: guest login limited, password login, /rank syntax, a flood, a duplicate login.
    three = conns[3]
    echoes = [("labbot", f"flood {i}") for i in range(19)] + [("labbot", "after the flood")]
    assert three.chat() == burst(flood_burst) + live(echoes)
    assert three.data("login")[0] == {
        "success": False,
        "error": "Guest logins are restricted to one per IP address per 60 seconds.",
    }
    assert three.users() == [(), ("labbot",)]
    assert [n["action"] for n in three.data("noflood")] == ["/rank"]
    assert three.data("cooldown") == [100] * 11
    assert three.events[-1].platform_data == {"reason": "Duplicate login"}
    assert three.closes == [server_gone]

    # conns 4-8: connect and leave at once; the server's late "rank" is dropped after close.
    for number in range(4, 9):
        assert conns[number].events == []
        assert conns[number].sent == ["40", "41"]
        assert conns[number].closes == [CloseConnection("client closed")]

    # conn 9: the sixth rapid connect is refused with 44.
    nine = conns[9]
    assert nine.events == []
    assert nine.closes == [CloseConnection("connect refused: Rate limit exceeded", refused=True)]
    assert nine.session.close_reason == "connect refused: Rate limit exceeded"


# -- password_channel -------------------------------------------------------------------------


def test_password_channel(captures) -> None:
    conns = captures["password_channel"]
    assert sorted(conns) == [1, 2, 3, 4]
    for conn in conns.values():
        assert conn.chat() == []  # this channel's buffer was empty
        assert conn.sent == ["40", "41"]

    one = conns[1]
    assert one.events[0].platform_data == -1  # rank -1 came before joinChannel was sent
    assert one.users() == [("labowner",)]
    assert [j.user for j in one.named("user_join")] == ["pwguest8550"]
    # The password is broadcast in clear to everyone in the channel, guests included.
    assert [o["password"] for o in one.data("channelOpts")] == [False, "labsecret42"]

    two = conns[2]
    names = [e.name for e in two.events]
    assert names[:4] == ["rank", "needPassword", "needPassword", "cancelNeedPassword"]
    assert two.data("needPassword") == [False, True]
    assert two.data("cancelNeedPassword") == [None]
    assert names[-1] == "user_list"
    assert two.normalizer.replaying is False

    three = conns[3]
    assert [e.name for e in three.events] == ["rank", "needPassword"]
    assert three.data("needPassword") == [True]
    assert three.normalizer.replaying is True  # wrong pw: the join never completed

    four = conns[4]
    assert "needPassword" not in [e.name for e in four.events]
    assert four.users() == [("labowner",)]
    assert [o["password"] for o in four.data("channelOpts")] == ["labsecret42", False]

"""The test peers behave as CyTube 3.86 does on the wire (checked against tests/fixtures).

These tests drive the peers with clients that are not rosey: a bare websocket client
(tests/peers/rawclient.py) for byte-level checks and python-socketio's own AsyncClient. Each
scenario runs in its own asyncio loop; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_twisted
import socketio

from tests.peers.cytube import CyTubePeer, lab_accounts
from tests.peers.node_peer import NodePeer
from tests.peers.rawclient import RawClient, parse_event
from tests.recorded import load

PW = "REDACTED"  # the fixtures' redacted password doubles as the lab password


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 15))


def events(frames: list[str]) -> list[tuple[str, Any]]:
    return [e for e in map(parse_event, frames) if e is not None]


def names(frames: list[str]) -> list[str]:
    return [name for name, _ in events(frames)]


@pytest.fixture
def make_peer() -> Iterator[Callable[..., CyTubePeer]]:
    peers: list[CyTubePeer] = []

    def make(**kwargs: Any) -> CyTubePeer:
        kwargs.setdefault("accounts", lab_accounts(PW))
        kwargs.setdefault("motd", "Lab MOTD <b>bold</b>")
        peer = CyTubePeer("labchan", **kwargs).start()
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.stop()


async def joined(peer: CyTubePeer, xff: str, login: dict[str, str] | None = None) -> RawClient:
    """A client that connected, optionally logged in, then joined (burst read up to
    ``userlist``, or ``listPlaylists`` for a registered login, the last frame then)."""
    client = await RawClient.open(peer.port, xff=xff)
    await client.connect_namespace()
    if login is not None:
        await client.emit("login", login)
        await client.event("login")
    await client.emit("joinChannel", {"name": "labchan"})
    await client.until("listPlaylists" if login and "pw" in login else "userlist")
    return client


# -- HTTP and connection admission --------------------------------------------------------


def test_socketconfig_lists_the_server_and_refuses_bad_names(make_peer):
    peer = make_peer()

    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{peer.site}/socketconfig/labchan.json") as resp:
                assert resp.status == 200
                assert await resp.text() == (
                    '{"servers":[{"url":"' + peer.site + '","secure":false}]}'
                )
            async with http.get(f"{peer.site}/socketconfig/bad%20name!.json") as resp:
                assert resp.status == 404
                assert json.loads(await resp.text()) == {
                    "error": 'Channel "bad name!" does not exist.'
                }

    run(scenario())


def test_sixth_rapid_connect_is_refused_like_cytube(make_peer):
    peer = make_peer()

    async def scenario() -> None:
        for _ in range(5):
            async with await RawClient.open(peer.port, xff="10.98.43.167") as c:
                assert (await c.connect_namespace()).startswith('40{"sid":')
                assert await c.frame() == '42["rank",-1]'
        async with await RawClient.open(peer.port, xff="10.98.43.167") as c:
            assert await c.connect_namespace() == '44{"message":"Rate limit exceeded"}'
        client = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                peer.site, transports=["websocket"], headers={"X-Forwarded-For": "10.98.43.167"}
            )
        # Another IP is not affected.
        async with await RawClient.open(peer.port, xff="10.1.1.1") as c:
            assert (await c.connect_namespace()).startswith('40{"sid":')

    run(scenario())
    assert (peer.connects, peer.refused) == (6, 2)


# -- join burst and login sequences against the recordings --------------------------------


def test_guest_join_matches_the_recording(make_peer):
    rec = load("guest_join")
    recorded = rec.frames("in", conn=1)
    burst = recorded[recorded.index('42["rank",-1]') + 1 : recorded.index('42["rank",0]')]
    peer = make_peer(usercount_interval=0)
    peer.add_virtual_user("labuser", 1)
    for i in range(16):  # one more than the buffer keeps
        peer.chat("labuser", f"line {i}")

    async def scenario() -> None:
        async with await RawClient.open(peer.port, xff="10.93.153.200") as c:
            open_packet = json.loads((await c.frame())[1:])
            assert (open_packet["pingInterval"], open_packet["pingTimeout"]) == (25000, 120000)
            assert open_packet["upgrades"] == []
            assert open_packet["maxPayload"] == 1048576
            await c.send("40")
            assert (await c.frame()).startswith('40{"sid":')
            assert await c.frame() == '42["rank",-1]'
            await c.emit("joinChannel", {"name": "labchan"})
            got = await c.until("usercount")
            assert names(got) == [*names(burst), "usercount"]
            # Every frame but the replayed chat lines is byte-identical to the recording.
            assert [f for f in got[:-1] if "chatMsg" not in f] == [
                f for f in burst if "chatMsg" not in f
            ]
            replayed = [data for name, data in events(got) if name == "chatMsg"]
            assert [m["msg"] for m in replayed] == [f"line {i}" for i in range(1, 16)]
            assert all(set(m) == {"username", "msg", "meta", "time"} for m in replayed)

            await c.emit("login", {"name": "lurker9783"})
            after = recorded[recorded.index('42["rank",0]') :][:3]
            assert [await c.frame() for _ in range(3)] == after
            await c.emit("chatMsg", {"msg": "hi everyone, guest here", "meta": {}})
            echo = await c.event("chatMsg")
            assert {k: echo[k] for k in ("username", "msg", "meta")} == {
                "username": "lurker9783",
                "msg": "hi everyone, guest here",
                "meta": {},
            }
            assert isinstance(echo["time"], int)

    run(scenario())


def test_registered_login_after_join_sequence(make_peer):
    peer = make_peer(media={"long": {"title": "Lab Long Video", "seconds": 3600}})
    peer.add_virtual_user("labowner", 5)
    peer.add_virtual_user("labuser", 1)
    peer.queue_media("long", "yt")
    rec = load("registered_login_admin").frames("in", conn=1)
    start = rec.index('42["rank",1]')
    expected = names(rec[start : start + 9])

    async def scenario() -> None:
        async with await RawClient.open(peer.port, xff="10.71.8.203") as c:
            await c.connect_namespace()
            await c.emit("joinChannel", {"name": "labchan"})
            burst = names(await c.until("userlist"))
            assert burst[-6:] == [
                "setPlaylistMeta",
                "playlist",
                "setCurrent",
                "setCurrent",
                "changeMedia",
                "userlist",
            ]
            await c.emit("login", {"name": "labbot", "pw": PW})
            got = await c.until("setUserRank")
            assert names(got) == expected
            userlist = dict(events(got))["userlist"]
            assert [u["name"] for u in userlist] == ["labowner", "labuser", "labbot"]
            assert set(userlist[0]["meta"]) == {"afk", "muted", "smuted", "aliases", "ip"}
            assert dict(events(got))["setUserRank"] == {"name": "labbot", "rank": 3}
            assert peer.rank_of("labbot") == 3

    run(scenario())


def test_login_before_join_sequence(make_peer):
    peer = make_peer(usercount_interval=0)
    rec = load("chat_and_pm").frames("in", conn=1)
    recorded = [n for n in names(rec[rec.index('42["rank",-1]') :]) if n != "chatMsg"]
    recorded = recorded[: recorded.index("listPlaylists") + 1]

    async def scenario() -> None:
        async with await RawClient.open(peer.port, xff="10.14.67.160") as c:
            await c.connect_namespace()
            await c.emit("login", {"name": "labbot", "pw": PW})
            await c.emit("joinChannel", {"name": "labchan"})
            got = names(await c.until("listPlaylists"))
            # This peer's usercount is not throttled, so it is in the burst here.
            assert [n for n in got if n != "usercount"] == recorded
            assert got.index("usercount") == got.index("listPlaylists") - 1

    run(scenario())


def test_password_channel_flow(make_peer):
    peer = make_peer(options={"password": "labsecret42"})

    async def scenario() -> None:
        async with await RawClient.open(peer.port, xff="10.94.188.84") as c:
            await c.connect_namespace()
            await c.frame()  # rank -1
            await c.emit("joinChannel", {"name": "labchan"})
            assert await c.frame() == '42["needPassword",false]'
            await c.emit("channelPassword", "wrong")
            assert await c.frame() == '42["needPassword",true]'
            await c.emit("channelPassword", "labsecret42")
            assert await c.frame() == '42["cancelNeedPassword"]'
            opts = await c.event("channelOpts")
            assert opts["password"] == "labsecret42"  # CyTube sends it in clear
            await c.until("userlist")
        async with await RawClient.open(peer.port, xff="10.94.188.84") as c:
            await c.connect_namespace()
            await c.emit("joinChannel", {"name": "labchan", "pw": "nope"})
            assert await c.event("needPassword") is True
        async with await RawClient.open(peer.port, xff="10.94.188.84") as c:
            await c.connect_namespace()
            await c.emit("joinChannel", {"name": "labchan", "pw": "labsecret42"})
            assert "needPassword" not in names(await c.until("userlist"))

    run(scenario())


# -- errors, kicks and limits -------------------------------------------------------------


def test_invalid_channel_name_and_bad_login_frames(make_peer):
    peer = make_peer()
    rec = load("errors_and_limits").frames("in", conn=1)

    async def scenario() -> None:
        async with await RawClient.open(peer.port, xff="10.58.234.62") as c:
            await c.connect_namespace()
            await c.emit("joinChannel", {"name": "bad channel!"})
            got = [await c.frame() for _ in range(4)]
            assert got == rec[rec.index('42["rank",-1]') :][:4]
        async with await joined(peer, "10.58.234.62") as c:
            await c.emit("login", "labbot")
            assert await c.event("errorMsg") == {"msg": "Invalid login frame"}
            cases = [
                ({"name": "labbot", "pw": "wrong"}, "Invalid username/password combination"),
                ({"name": "nobody", "pw": "x"}, "User does not exist"),
                ({"name": "labbot"}, "That username is registered."),
                ({"name": "LABB0T"}, "That username is registered."),
                ({"name": "lab_admin"}, "That username is reserved."),
                ({"name": "labuser"}, "That username is registered."),
                (
                    {"name": "no spaces allowed"},
                    (
                        "Invalid username.  Usernames must be 1-20 characters long and consist "
                        "only of characters a-z, A-Z, 0-9, -, or _."
                    ),
                ),
            ]
            for payload, error in cases:
                await c.emit("login", payload)
                assert await c.event("login") == {"success": False, "error": error}
            await c.emit("login", {"name": "errguest9751"})
            assert (await c.event("login"))["success"] is True
            await c.emit("setMotd", {"motd": "guest was here"})
            assert (await c.until("kick"))[-1] == (
                '42["kick",{"reason":"Attempted setMotd with insufficient permission"}]'
            )
            assert await c.frame() == "41"
        async with await joined(peer, "10.58.234.62") as c:
            await c.emit("login", {"name": "errguest5823"})
            assert await c.event("login") == {
                "success": False,
                "error": "Guest logins are restricted to one per IP address per 60 seconds.",
            }

    run(scenario())
    assert peer.kicks == 2


def test_chat_flood_is_throttled_without_kick(make_peer):
    peer = make_peer()

    async def scenario() -> None:
        async with await joined(peer, "10.2.2.2", {"name": "labbot", "pw": PW}) as c:
            for i in range(30):
                await c.emit("chatMsg", {"msg": f"flood {i}", "meta": {}})
            await c.emit("pm", {"to": "labbot", "msg": "sync"})  # refused before the limiter
            got = await c.until("errorMsg")
            echoes = [d["msg"] for n, d in events(got) if n == "chatMsg"]
            assert echoes == [f"flood {i}" for i in range(20)]
            assert [d for n, d in events(got) if n == "cooldown"] == [100] * 10
            assert "kick" not in names(got)

    run(scenario())
    assert (peer.chat_delivered, peer.cooldowns_sent, peer.kicks) == (20, 10, 0)


def test_chat_text_rules_and_anonymous_drop(make_peer):
    peer = make_peer(usercount_interval=0)

    async def scenario() -> None:
        async with await joined(peer, "10.3.3.3") as anon:
            await anon.emit("chatMsg", {"msg": "nobody hears me", "meta": {}})
            await anon.emit("chatMsg", "not an object")
            err = await anon.event("errorMsg")
            assert err["msg"].startswith("Unexpected error for message chatMsg:")
            async with await joined(peer, "10.4.4.4", {"name": "labuser", "pw": PW}) as user:
                long = "400 chars follow, the server keeps 320: " + "x" * 400
                await user.emit("chatMsg", {"msg": long, "meta": {}})
                assert (await user.event("chatMsg"))["msg"] == long[:320]
                await user.emit("chatMsg", {"msg": "<b>a</b> & \"q\" 'x' (y)", "meta": {}})
                msg = await anon.event("chatMsg")  # others get it too, anonymous included
                assert msg["msg"] == long[:320]
                msg = await anon.event("chatMsg")
                assert msg["msg"] == "&lt;b&gt;a&lt;/b&gt; &amp; \"q\" 'x' (y)"
                await user.emit("chatMsg", {"msg": "/me waves", "meta": {}})
                action = await anon.event("chatMsg")
                assert (action["msg"], action["meta"]) == (
                    "waves",
                    {"addClass": "action", "action": True},
                )
                await user.emit("pm", {"to": "labuser", "msg": "me"})
                assert (await user.event("errorMsg")) == {"msg": "You can't PM yourself!"}

    run(scenario())
    assert peer.chat_delivered == 3
    assert peer.events("chatMsg")[0].data == {"msg": "nobody hears me", "meta": {}}


def test_pm_reaches_both_ends(make_peer):
    peer = make_peer()

    async def scenario() -> None:
        bot = await joined(peer, "10.5.5.1", {"name": "labbot", "pw": PW})
        user = await joined(peer, "10.5.5.2", {"name": "labuser", "pw": PW})
        async with bot, user:
            await bot.emit("pm", {"to": "labuser", "msg": "yes & listening", "meta": {}})
            sent, got = await bot.event("pm"), await user.event("pm")
            assert sent == got
            assert {k: got[k] for k in ("username", "msg", "meta", "to")} == {
                "username": "labbot",
                "msg": "yes &amp; listening",
                "meta": {},
                "to": "labuser",
            }
            await bot.emit("pm", {"to": "ghost", "msg": "hi"})
            assert await bot.event("errorMsg") == {
                "msg": "PM failed: ghost isn't connected to this channel."
            }

    run(scenario())


def test_duplicate_login_kicks_the_older_socket_but_keeps_its_websocket(make_peer):
    peer = make_peer(ping_interval=0.5, ping_timeout=5)

    async def scenario() -> None:
        old = await joined(peer, "10.6.6.1", {"name": "labbot", "pw": PW})
        new = await joined(peer, "10.6.6.2")
        async with old, new:
            await new.emit("login", {"name": "labbot", "pw": PW})
            kick = (await old.until("kick"))[-1]
            assert kick == '42["kick",{"reason":"Duplicate login"}]'
            assert await old.frame() == "41"
            # The engine.io socket lives on: the server keeps pinging it.
            assert await old.frame() == "2"
            assert not old.closed
            got = [n for n in names(await new.until("setUserRank")) if n != "usercount"]
            assert got[:4] == ["rank", "login", "userLeave", "addUser"]
            assert peer.users == ["labbot"]

    run(scenario())
    assert peer.kicks == 1


def test_new_poll_is_broadcast_then_acked(make_peer):
    peer = make_peer()

    async def scenario() -> None:
        async with await joined(peer, "10.7.7.7", {"name": "labbot", "pw": PW}) as c:
            await c.emit("newPoll", {"title": "t", "opts": ["a", "b"], "obscured": False}, ack=0)
            poll = parse_event(await c.frame())
            assert poll is not None
            assert poll[0] == "newPoll"
            assert poll[1]["options"] == ["a", "b"]
            assert poll[1]["counts"] == [0, 0]
            assert await c.frame() == "430[{}]"
            await c.emit("closePoll")
            assert await c.frame() == '42["closePoll",null]'
            await c.emit("nonsense", {"x": 1})  # unknown events are ignored
            await c.emit("queue", {"id": "abc", "type": "yt", "pos": "end"})
            assert (await c.event("queue"))["after"] == "prepend"

    run(scenario())


def test_in_rate_limit_kicks(make_peer):
    peer = make_peer(in_rate_limit=1, in_rate_burst=3)

    async def scenario() -> None:
        async with await RawClient.open(peer.port, xff="10.8.8.8") as c:
            await c.connect_namespace()
            for _ in range(4):
                await c.emit("reportReconnect")
            frames = await c.until("kick")
            assert frames[-1] == '42["kick",{"reason":"Rate limit exceeded"}]'
            assert await c.frame() == "41"

    run(scenario())


# -- playlist -----------------------------------------------------------------------------


def test_playlist_queue_playback_and_throttle(make_peer):
    media = {"one": {"title": "One", "seconds": 1}, "two": {"title": "Two", "seconds": 30}}
    peer = make_peer(media=media, lead_in=0.2, usercount_interval=0)

    async def scenario() -> None:
        async with await joined(peer, "10.9.9.9", {"name": "labbot", "pw": PW}) as c:
            await c.emit("queue", {"id": "one", "type": "yt", "pos": "end"})
            got = events(await c.until("voteskip"))
            assert [n for n, _ in got] == [
                "queue",
                "setPlaylistMeta",
                "setCurrent",
                "changeMedia",
                "drinkCount",
                "voteskip",
            ]
            assert got[0][1] == {
                "item": {
                    "media": {
                        "id": "one",
                        "title": "One",
                        "seconds": 1,
                        "duration": "00:01",
                        "type": "yt",
                        "meta": {},
                    },
                    "uid": 0,
                    "temp": False,
                    "queueby": "labbot",
                },
                "after": "prepend",
            }
            assert got[3][1]["currentTime"] == -0.2
            assert got[3][1]["paused"] is True
            assert await c.event("mediaUpdate") == {"currentTime": 0, "paused": False}
            await c.emit("queue", {"id": "two", "type": "yt", "pos": "end", "temp": True})
            assert (await c.event("queue"))["after"] == 0
            await c.emit("queue", {"id": "two", "type": "yt", "pos": "end"})
            assert (await c.event("queueFail"))["msg"] == "This item is already on the playlist"
            # The 1 s item ends; the playlist advances 2 s after its end.
            assert await c.event("setCurrent", timeout=6) == 1
            await c.until("voteskip")
            await c.emit("playNext")  # away from the temporary item: delete first
            order = [n for n in names(await c.until("voteskip")) if n != "mediaUpdate"]
            assert order == [
                "delete",
                "setPlaylistMeta",
                "setCurrent",
                "changeMedia",
                "drinkCount",
                "voteskip",
            ]
        async with await joined(peer, "10.9.9.10", {"name": "guest1"}) as g:
            peer.set_rank("guest1", 1.5)
            assert await g.event("rank") == 1.5
            for i in range(4):
                await g.emit("queue", {"id": f"g{i}", "type": "yt", "pos": "end"})
            assert (await g.event("queueFail"))["msg"] == "You are adding videos too quickly"

    run(scenario())


def test_leader_assignment_and_relayed_media_updates(make_peer):
    peer = make_peer(media={"v": {"title": "V", "seconds": 600}})
    peer.add_virtual_user("labuser", 1)
    peer.queue_media("v")

    async def scenario() -> None:
        async with await joined(peer, "10.15.0.1", {"name": "labbot", "pw": PW}) as c:
            await c.emit("assignLeader", {"name": "labuser"})
            got = events(await c.until("setUserRank"))
            assert got == [
                ("setLeader", "labuser"),
                ("setUserRank", {"name": "labuser", "rank": 1.5}),
            ]
            await c.emit("assignLeader", {"name": ""})
            assert events([await c.frame() for _ in range(2)]) == [
                ("setUserRank", {"name": "labuser", "rank": 1}),
                ("setLeader", ""),
            ]
            await c.until("mediaUpdate")  # the server leads again
            await c.emit("assignLeader", {"name": "labbot"})
            assert await c.event("setLeader") == "labbot"
            await c.emit("mediaUpdate", {"id": "v", "currentTime": 42.5, "paused": True})
            assert await c.event("mediaUpdate") == {"currentTime": 42.5, "paused": True}
        async with await joined(peer, "10.15.0.2", {"name": "guest2"}) as g:
            await g.emit("assignLeader", {"name": "guest2"})
            assert await g.event("kick") == {
                "reason": "Attempted assignLeader without sufficient permission"
            }

    run(scenario())


# -- control API --------------------------------------------------------------------------


def test_control_api_reaches_clients(make_peer):
    peer = make_peer(usercount_interval=0.5)

    async def scenario() -> None:
        async with await joined(peer, "10.10.0.1", {"name": "watcher"}) as c:
            assert await c.event("usercount") == 1  # leading edge, in the burst
            peer.add_virtual_user("crowd1", 0)
            assert (await c.event("addUser"))["name"] == "crowd1"
            assert await c.event("usercount") == 2  # trailing edge of the throttle
            peer.chat("crowd1", "hello <there>")
            msg = await c.event("chatMsg")
            assert (msg["username"], msg["msg"]) == ("crowd1", "hello &lt;there&gt;")
            peer.emit("announcement", {"title": "t"}, to="watcher")
            assert await c.event("announcement") == {"title": "t"}
            peer.set_rank("watcher", 2)
            assert await c.event("rank") == 2
            assert await c.event("setUserRank") == {"name": "watcher", "rank": 2}
            peer.remove_virtual_user("crowd1")
            assert await c.event("userLeave") == {"name": "crowd1"}
            peer.kick("watcher", "bye")
            assert await c.event("kick") == {"reason": "bye"}
            assert await c.frame() == "41"

    run(scenario())
    assert peer.users == []


def test_drop_cuts_the_connection_without_close_frame(make_peer):
    peer = make_peer()

    async def scenario() -> None:
        other = await joined(peer, "10.11.0.1", {"name": "labuser", "pw": PW})
        c = await joined(peer, "10.11.0.2", {"name": "victim"})
        async with other, c:
            await other.event("addUser")
            peer.drop("victim")
            await c.wait_closed()
            assert "41" not in c.frames
            assert c.close_code in (None, 1006)
            assert await other.event("userLeave") == {"name": "victim"}
            assert peer.users == ["labuser"]

    run(scenario())


def test_restart_keeps_port_and_chat_buffer(make_peer):
    peer = make_peer()
    port = peer.port

    async def scenario() -> None:
        async with await joined(peer, "10.12.0.1", {"name": "before"}) as c:
            await c.emit("chatMsg", {"msg": "remember me", "meta": {}})
            await c.event("chatMsg")
            peer.crash()
            await c.wait_closed()
            assert "41" not in c.frames
        with pytest.raises(aiohttp.ClientConnectionError):
            await RawClient.open(port)
        peer.resume()
        async with await RawClient.open(port, xff="10.12.0.1") as c:
            await c.connect_namespace()
            await c.emit("joinChannel", {"name": "labchan"})
            replay = [d["msg"] for n, d in events(await c.until("userlist")) if n == "chatMsg"]
            assert replay == ["remember me"]
            await c.emit("login", {"name": "after"})  # guest timer reset by the restart
            assert (await c.event("login"))["success"] is True
            assert peer.users == ["after"]

    run(scenario())
    assert peer.port == port


def test_server_pings_and_closes_a_silent_client(make_peer):
    peer = make_peer(ping_interval=0.3, ping_timeout=0.4)

    async def scenario() -> None:
        async with await RawClient.open(peer.port, xff="10.13.0.1") as c:
            opened = json.loads((await c.frame())[1:])
            assert (opened["pingInterval"], opened["pingTimeout"]) == (1000, 400)
            assert await c.frame() == "2"  # answered "3" by the client
            assert await c.frame() == "2"
        async with await RawClient.open(peer.port, xff="10.13.0.2", pong=False) as c:
            await c.wait_closed(timeout=5)

    run(scenario())


@pytest_twisted.ensureDeferred
async def test_when_fires_on_the_reactor_thread(make_peer):
    from twisted.internet import reactor, threads

    peer = make_peer()
    seen_on: list[threading.Thread] = []

    def alice_in(p: CyTubePeer) -> bool:
        return "alice" in p.users

    d = peer.when(alice_in, timeout=5)
    d.addCallback(lambda _: seen_on.append(threading.current_thread()))

    async def scenario() -> None:
        async with await joined(peer, "10.14.0.1", {"name": "alice"}):
            pass

    await threads.deferToThread(run, scenario())
    await d
    assert seen_on == [threading.main_thread()]
    never = peer.when(lambda p: p.kicks > 0, timeout=0.2)
    with pytest.raises(TimeoutError, match="still false"):
        await never
    assert reactor.running


# -- the EIO=3 node peer ------------------------------------------------------------------


@pytest.fixture
def node_peer() -> Iterator[NodePeer]:
    peer = NodePeer(accounts={"labbot": (PW, 3)}, ping_interval=1, ping_timeout=5).start()
    yield peer
    peer.stop()


def test_node_peer_speaks_engine_io_3(node_peer):
    async def scenario() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{node_peer.site}/socketconfig/labchan.json") as resp,
        ):
            assert json.loads(await resp.text()) == {
                "servers": [{"url": node_peer.site, "secure": False}]
            }
        async with await RawClient.open(node_peer.port, eio=3) as c:
            opened = json.loads((await c.frame())[1:])
            assert (opened["pingInterval"], opened["pingTimeout"]) == (1000, 5000)
            assert await c.frame() == "40"  # the server connects "/" by itself
            assert await c.frame() == '42["rank",-1]'
            await c.send("2")  # EIO 3: the client pings
            assert await c.frame() == "3"
            await c.emit("joinChannel", {"name": "labchan"})
            assert names(await c.until("usercount"))[-2:] == ["userlist", "usercount"]
            await c.emit("login", {"name": "labbot", "pw": PW})
            assert names(await c.until("setUserRank"))[:4] == ["rank", "login", "addUser", "rank"]
            await c.emit("chatMsg", {"msg": "a <b>", "meta": {}})
            assert (await c.event("chatMsg"))["msg"] == "a &lt;b&gt;"
            await c.emit("chatMsg", {"msg": "kick me", "meta": {}})
            assert (await c.event("kick"))["reason"]
            assert await c.frame() == "41"
            await c.send("2")  # the websocket is still open after the kick
            assert await c.frame() == "3"

    run(scenario())
    assert node_peer.wait(lambda p: len(p.received) == 4)
    assert [r.event for r in node_peer.received] == ["joinChannel", "login", "chatMsg", "chatMsg"]
    assert node_peer.received[1].user is None
    assert node_peer.received[2].user == "labbot"

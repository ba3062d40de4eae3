"""CyTube's playlist module: items, queue/delete/move, playback with server lead, leader.

Media come from the peer's catalogue (``media={id: {"title", "seconds", "meta"}}``, or
``{"error": "msg"}`` to make the lookup fail); unknown ids get their id as title and 60 s
(0 s for live types). Playback follows ``startPlayback``/``_leadLoop``: a lead-in at
``-lead_in`` paused, ``mediaUpdate {0,false}`` when it ends, then one every
``media_update_interval`` s, and the advance ``seconds + 2`` s after the start.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.peers import shapes
from tests.peers.channel import NO_ACK, Handler
from tests.peers.state import Member

if TYPE_CHECKING:
    from tests.peers.channel import Channel

QUEUE_SPEC = {
    "id": "string,boolean",
    "type": "string",
    "pos": "string",
    "title": "string,boolean,optional",
    "duration": "number,optional",
    "temp": "boolean,optional",
}


@dataclass
class Item:
    """A playlist item; ``media`` is the packed media object."""

    media: dict[str, Any]
    uid: int
    temp: bool
    queueby: str

    def pack(self) -> dict[str, Any]:
        return {"media": self.media, "uid": self.uid, "temp": self.temp, "queueby": self.queueby}


class PlaylistModule:
    """The playlist of one channel."""

    def __init__(self, channel: Channel) -> None:
        self.ch = channel
        self.items: list[Item] = []
        self.current: Item | None = None
        self.locked = True
        self._next_uid = 0
        self._start_value = 0.0  # currentTime at self._started
        self._started = time.monotonic()
        self._leader_paused = False
        self._task: asyncio.Task[None] | None = None

    def handlers(self) -> dict[str, Handler]:
        return {
            "queue": self.handle_queue,
            "delete": self.handle_delete,
            "moveMedia": self.handle_move,
            "setTemp": self.handle_set_temp,
            "jumpTo": self.handle_jump,
            "playNext": self.handle_play_next,
            "clearPlaylist": self.handle_clear,
            "shufflePlaylist": self.handle_shuffle,
            "togglePlaylistLock": self.handle_lock,
            "requestPlaylist": self.handle_request,
            "playerReady": self.handle_player_ready,
            "listPlaylists": self.handle_list_playlists,
        }

    # -- state -----------------------------------------------------------------------------

    @property
    def meta(self) -> dict[str, Any]:
        raw = sum(i.media["seconds"] for i in self.items)
        return {"count": len(self.items), "rawTime": raw, "time": shapes.format_time(raw)}

    def find(self, uid: Any) -> Item | None:
        if isinstance(uid, str) and uid.lstrip("-").isdigit():
            uid = int(uid)
        return next((i for i in self.items if i.uid == uid), None)

    def current_time(self) -> float:
        if self.ch.leader is not None:
            return self._start_value
        return self._start_value + time.monotonic() - self._started

    def full_update(self, at: float | None = None) -> dict[str, Any]:
        """``media.getFullUpdate()``: the media object plus position (now, or ``at``)."""
        assert self.current is not None
        t = round(self.current_time() if at is None else at, 3)
        paused = self._leader_paused if self.ch.leader is not None else t < 0
        return self.current.media | {"currentTime": shapes.js_number(t), "paused": paused}

    # -- sending ---------------------------------------------------------------------------

    async def send_playlist(self, m: Member) -> None:
        await self.ch.send(m, "setPlaylistMeta", self.meta)
        if not self.ch.perm(m, "seeplaylist"):
            return
        await self.ch.send(m, "playlist", [i.pack() for i in self.items])
        if self.current is not None:
            await self.ch.send(m, "setCurrent", self.current.uid)

    async def send_change_media(self, m: Member) -> None:
        if self.current is not None:
            await self.ch.send(m, "setCurrent", self.current.uid)
            await self.ch.send(m, "changeMedia", self.full_update())

    async def _send_meta_all(self) -> None:
        await self.ch.broadcast("setPlaylistMeta", self.meta)

    # -- playback --------------------------------------------------------------------------

    def stop_timer(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        self._task = None

    def hold(self, at: float, paused: bool) -> None:
        """A leader sets the position: it stays there until the next ``hold``."""
        self.stop_timer()
        self._start_value, self._leader_paused = at, paused

    async def resume_lead(self) -> None:
        """The server leads again from the held position: ``mediaUpdate`` and the timer."""
        if self.current is None:
            return
        self._started = time.monotonic()
        t = shapes.js_number(round(self._start_value, 3))
        await self.ch.broadcast("mediaUpdate", {"currentTime": t, "paused": False})
        if self.current.media["seconds"] > 0 and self._task is None:
            self._task = asyncio.ensure_future(self._lead(self.current))

    async def start_playback(self, at: float | None = None) -> None:
        """``startPlayback``: ``setCurrent`` + ``changeMedia`` to all, then the lead loop."""
        if self.current is None:
            return
        self.stop_timer()
        seconds = self.current.media["seconds"]
        self._start_value = at if at is not None else (-self.ch.config.lead_in if seconds else 0)
        self._started = time.monotonic()
        self._leader_paused = False
        await self.ch.broadcast("setCurrent", self.current.uid)
        await self.ch.broadcast("changeMedia", self.full_update(self._start_value))
        await self.ch.broadcast("drinkCount", 0)
        await self.ch.voteskip.reset()
        if seconds > 0 and self.ch.leader is None:
            self._task = asyncio.ensure_future(self._lead(self.current))

    async def _lead(self, item: Item) -> None:
        interval = self.ch.config.media_update_interval
        if self.current_time() < 0:
            await asyncio.sleep(-self.current_time())
            self._start_value, self._started = 0.0, time.monotonic()
            await self.ch.broadcast("mediaUpdate", {"currentTime": 0, "paused": False})
        end = item.media["seconds"] + 2
        ticks = int(self.current_time() // interval)
        while self.current is item:
            next_tick = (ticks + 1) * interval
            await asyncio.sleep(max(0.0, min(next_tick, end) - self.current_time()))
            if self.current_time() >= end:
                await self.play_next()
                return
            ticks += 1
            t = shapes.js_number(round(self.current_time(), 3))
            await self.ch.broadcast("mediaUpdate", {"currentTime": t, "paused": False})

    async def play_next(self) -> None:
        """``_playNext``: the next item (wrapping), deleting a temporary current item."""
        if self.current is None:
            return
        idx = self.items.index(self.current)
        nxt = self.items[(idx + 1) % len(self.items)]
        if self.current.temp:
            await self.delete(self.current.uid)
        else:
            self.current = nxt
            await self.start_playback()

    async def delete(self, uid: int) -> bool:
        """``_delete``: broadcast ``delete`` + meta; deleting the current item plays the next."""
        item = self.find(uid)
        if item is None:
            return False
        idx = self.items.index(item)
        nxt = self.items[(idx + 1) % len(self.items)]
        self.items.remove(item)
        await self.ch.broadcast("delete", {"uid": item.uid})
        await self._send_meta_all()
        if self.current is item and nxt is item:
            self.current = None
            self.stop_timer()
        elif self.current is item:
            self.current = nxt
            await self.start_playback()
        return True

    # -- handlers --------------------------------------------------------------------------

    async def _queue_fail(self, m: Member, msg: str, link: str | None, media_id: Any) -> None:
        await self.ch.send(m, "queueFail", {"msg": msg, "link": link, "id": media_id})

    async def handle_queue(self, m: Member, data: Any) -> Any:
        if not await self.ch.typecheck(m, "queue", data, QUEUE_SPEC):
            return NO_ACK
        media_id, mtype, pos = data["id"], data["type"], data["pos"]
        if media_id is True or pos not in ("next", "end"):
            return NO_ACK
        link = shapes.format_link(str(media_id), mtype)
        if not self.ch.perm(m, "playlistadd") or (
            pos == "next" and not self.ch.perm(m, "playlistnext")
        ):
            return NO_ACK
        live = mtype in shapes.LIVE_TYPES
        for needed, node, what in (
            (mtype == "yp", "playlistaddlist", "playlists"),
            (live, "playlistaddlive", "live media"),
            (mtype == "cu", "playlistaddcustom", "custom embeds"),
            (mtype in ("fi", "cm"), "playlistaddrawfile", "raw video files"),
        ):
            if needed and not self.ch.perm(m, node):
                await self._queue_fail(
                    m, f"You don't have permission to add {what}", link, media_id
                )
                return NO_ACK
        temp = bool(data.get("temp")) or not self.ch.perm(m, "addnontemp")
        burst, sustained = (10, 2) if m.rank >= 2 else (3, 1)
        if m.queue_limiter.throttle(burst, sustained):
            await self._queue_fail(m, "You are adding videos too quickly", link, media_id)
            return NO_ACK
        if mtype not in shapes.KNOWN_TYPES:
            await self._queue_fail(m, f"Unknown media type '{mtype}'", link, media_id)
            return NO_ACK
        info = dict(self.ch.config.media.get(str(media_id), {}))
        if "error" in info:
            await self._queue_fail(m, str(info["error"]), link, media_id)
            return NO_ACK
        seconds = int(info.get("seconds", 0 if live else 60))
        if live and isinstance(data.get("duration"), int | float):
            seconds = int(data["duration"])
        title = info.get("title", str(media_id))
        if mtype in ("cu", "fi") and isinstance(data.get("title"), str):
            title = data["title"]
        maxlength = self.ch.options.get("maxlength") or 0
        if maxlength > 0 and seconds > maxlength and not self.ch.perm(m, "exceedmaxlength"):
            msg = f"Video exceeds the maximum length set by the channel admin: {maxlength} seconds"
            await self._queue_fail(m, msg, link, media_id)
            return NO_ACK
        media = shapes.pack_media(str(media_id), title, seconds, mtype, dict(info.get("meta", {})))
        await self._add_item(m, media, pos, temp, link)
        return NO_ACK

    async def _add_item(
        self, m: Member, media: dict[str, Any], pos: str, temp: bool, link: str
    ) -> None:
        existing = next((i for i in self.items if i.media["id"] == media["id"]), None)
        dupes = bool(self.ch.options.get("allow_dupes"))
        if existing and not dupes and (pos == "end" or existing is self.current):
            await self._queue_fail(m, "This item is already on the playlist", link, media["id"])
            return
        item = Item(media, self._next_uid, temp, m.name or "")
        self._next_uid += 1
        if pos == "end" or self.current is None:
            self.items.append(item)
        else:
            self.items.insert(self.items.index(self.current) + 1, item)
            if existing and not dupes:
                item.temp = existing.temp
                await self.delete(existing.uid)
        idx = self.items.index(item)
        after = self.items[idx - 1].uid if idx > 0 else "prepend"
        await self.ch.broadcast("queue", {"item": item.pack(), "after": after})
        await self._send_meta_all()
        if len(self.items) == 1:
            self.current = item
            await self.start_playback()

    async def handle_delete(self, m: Member, data: Any) -> Any:
        if (
            self.ch.perm(m, "playlistdelete")
            and isinstance(data, int)
            and not isinstance(data, bool)
        ):
            await self.delete(data)
        return NO_ACK

    async def handle_move(self, m: Member, data: Any) -> Any:
        spec = {"from": "number", "after": "string,number"}
        if not await self.ch.typecheck(m, "moveMedia", data, spec):
            return NO_ACK
        if not self.ch.perm(m, "playlistmove"):
            return NO_ACK
        src, after = self.find(data["from"]), data["after"]
        dest = None if after in ("prepend", "append") else self.find(after)
        if src is None or src is dest or (after not in ("prepend", "append") and dest is None):
            return NO_ACK
        self.items.remove(src)
        if after == "prepend":
            self.items.insert(0, src)
        elif after == "append":
            self.items.append(src)
        else:
            assert dest is not None
            self.items.insert(self.items.index(dest) + 1, src)
        await self.ch.broadcast("moveVideo", data)
        return NO_ACK

    async def handle_set_temp(self, m: Member, data: Any) -> Any:
        if not await self.ch.typecheck(m, "setTemp", data, {"uid": "number", "temp": "boolean"}):
            return NO_ACK
        item = self.find(data["uid"])
        if self.ch.perm(m, "settemp") and item is not None:
            item.temp = data["temp"]
            await self.ch.broadcast("setTemp", data)
        return NO_ACK

    async def handle_jump(self, m: Member, data: Any) -> Any:
        if not isinstance(data, str | int) or not self.ch.perm(m, "playlistjump"):
            return NO_ACK
        to = self.find(data)
        if to is not None:
            old, self.current = self.current, to
            await self.start_playback()
            if old is not None and old.temp and old is not to:
                await self.delete(old.uid)
        return NO_ACK

    async def handle_play_next(self, m: Member, data: Any) -> Any:
        if self.ch.perm(m, "playlistjump"):
            await self.play_next()
        return NO_ACK

    async def handle_clear(self, m: Member, data: Any) -> Any:
        if self.ch.perm(m, "playlistclear"):
            self.items.clear()
            self.current = None
            self.stop_timer()
            await self.ch.broadcast("playlist", [])
            await self._send_meta_all()
        return NO_ACK

    async def handle_shuffle(self, m: Member, data: Any) -> Any:
        """``handleShuffle``: new uids in random order, the current item first and still
        playing (``startPlayback`` from its time)."""
        if not self.ch.perm(m, "playlistshuffle"):
            return NO_ACK
        at = self.current_time() if self.current is not None else None
        old, current, self.items = self.items, self.current, []
        random.shuffle(old)
        for item in old:
            new = Item(item.media, self._next_uid, item.temp, item.queueby)
            self._next_uid += 1
            if item is current:
                self.items.insert(0, new)
            else:
                self.items.append(new)
        self.current = self.items[0] if self.items else None
        for viewer in self.ch.viewers():
            if self.ch.perm(viewer, "seeplaylist"):
                await self.ch.send(viewer, "playlist", [i.pack() for i in self.items])
        await self.start_playback(at or None)  # JavaScript's `time || lead-in`
        return NO_ACK

    async def handle_lock(self, m: Member, data: Any) -> Any:
        if self.ch.perm(m, "playlistlock"):
            self.locked = not self.locked
            await self.ch.broadcast("setPlaylistLocked", self.locked)
        return NO_ACK

    async def handle_request(self, m: Member, data: Any) -> Any:
        if m.playlist_limiter.throttle(1, 0, 60):
            msg = {"msg": shapes.MSG_REQ_PLAYLIST, "code": "REQ_PLAYLIST_LIMIT_REACHED"}
            await self.ch.send(m, "errorMsg", msg)
        else:
            await self.send_playlist(m)
        return NO_ACK

    async def handle_player_ready(self, m: Member, data: Any) -> Any:
        await self.send_change_media(m)
        return NO_ACK

    async def handle_list_playlists(self, m: Member, data: Any) -> Any:
        if m.registered:
            await self.ch.send(m, "listPlaylists", [])
        else:
            msg = "Only registered users can use the user playlist function."
            await self.ch.send(m, "errorMsg", {"msg": msg})
        return NO_ACK

"""The playlist and what is playing, kept in step with CyTube's playlist events."""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from rosey.bot.state.models import (
    NowPlaying,
    PlaylistItem,
    PlaylistMeta,
    as_bool,
    as_dict,
    as_int,
    as_list,
    as_number,
    item_with_temp,
    parse_item,
    parse_media,
    parse_playlist_meta,
)

log = Logger()


class Playlist:
    """The ordered playlist, the current item, playback state and the lock flag.

    ``locked`` starts True, as a registered channel does, until ``setPlaylistLocked`` says
    otherwise: while it is unknown the open-playlist (``o*``) permissions are not applied.

    The ``on_*`` methods take one CyTube event's payload (the mirror routes them) and raise
    :class:`~rosey.bot.state.models.Malformed` before changing anything when it has the wrong
    shape.
    """

    _items: list[PlaylistItem]
    current_uid: int | None
    media_round: int
    now_playing: NowPlaying | None
    locked: bool
    meta: PlaylistMeta | None
    _warned: bool

    def __init__(self) -> None:
        #: Changes on every ``changeMedia`` and every reset, never repeats: the server starts a
        #: new voteskip round at each media change (and a new session is a new round too).
        self.media_round = 0
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new session resends it all)."""
        self.media_round += 1
        self._items = []
        self.current_uid = None
        self.now_playing = None
        self.locked = True
        self.meta = None
        self._warned = False

    # -- queries ------------------------------------------------------------------------------

    @property
    def items(self) -> tuple[PlaylistItem, ...]:
        """The items in play order."""
        return tuple(self._items)

    @property
    def uids(self) -> tuple[int, ...]:
        """The uids in play order."""
        return tuple(item.uid for item in self._items)

    def item(self, uid: int) -> PlaylistItem | None:
        """The item with ``uid``, or None."""
        index = self._index(uid)
        return None if index is None else self._items[index]

    @property
    def current(self) -> PlaylistItem | None:
        """The item the server marked current (``setCurrent``), if it is in the list."""
        return None if self.current_uid is None else self.item(self.current_uid)

    @property
    def total_seconds(self) -> float:
        """Sum of the items' lengths (live items count 0), computed from the list itself."""
        return sum(item.media.seconds for item in self._items)

    def __len__(self) -> int:
        return len(self._items)

    # -- handlers -----------------------------------------------------------------------------

    def on_playlist(self, data: Any) -> None:
        items = [parse_item(i) for i in as_list(data, "playlist")]
        self._items = items
        if self.current_uid is not None and self._index(self.current_uid) is None:
            # clearPlaylist (the server's current becomes null) or a shuffle (new uids; the
            # setCurrent and changeMedia that follow name the new current item).
            self._drop_current()

    def on_queue(self, data: Any) -> None:
        payload = as_dict(data, "queue")
        item = parse_item(payload.get("item"))
        after = payload.get("after")
        self._check_after(after)
        old = self._index(item.uid)
        if old is not None:
            del self._items[old]
        self._insert(item, after)

    def on_delete(self, data: Any) -> None:
        uid = as_int(as_dict(data, "delete").get("uid"), "uid")
        index = self._index(uid)
        if index is not None:
            del self._items[index]
        if uid == self.current_uid:
            # The server moves on with setCurrent + changeMedia, or plays nothing when the
            # deleted item was the last one.
            self._drop_current()

    def on_move_video(self, data: Any) -> None:
        payload = as_dict(data, "moveVideo")
        uid = as_int(payload.get("from"), "from")
        after = payload.get("after")
        self._check_after(after)
        index = self._index(uid)
        if index is None:
            self._warn("Playlist out of step: moveVideo names unknown uid {uid}", uid=uid)
            return
        item = self._items.pop(index)
        self._insert(item, after)

    def on_set_temp(self, data: Any) -> None:
        payload = as_dict(data, "setTemp")
        uid = as_int(payload.get("uid"), "uid")
        temp = as_bool(payload.get("temp"), "temp")
        index = self._index(uid)
        if index is not None:
            self._items[index] = item_with_temp(self._items[index], temp)

    def on_set_current(self, data: Any) -> None:
        uid = as_int(data, "setCurrent")
        if self.now_playing is not None and self.now_playing.uid != uid:
            self.now_playing = None  # changeMedia follows with the new media
        self.current_uid = uid

    def on_change_media(self, data: Any) -> None:
        payload = as_dict(data, "changeMedia")
        media = parse_media(payload)
        current_time = as_number(payload.get("currentTime", 0), "currentTime")
        paused = as_bool(payload.get("paused", False), "paused")
        self.now_playing = NowPlaying(
            media, self.current_uid, current_time=current_time, paused=paused
        )
        self.media_round += 1

    def on_media_update(self, data: Any) -> None:
        payload = as_dict(data, "mediaUpdate")
        current_time = as_number(payload.get("currentTime"), "currentTime")
        now = self.now_playing
        if now is None:
            return
        paused = payload.get("paused")
        paused = now.paused if paused is None else as_bool(paused, "paused")
        self.now_playing = NowPlaying(now.media, now.uid, current_time=current_time, paused=paused)

    def on_set_playlist_locked(self, data: Any) -> None:
        self.locked = as_bool(data, "setPlaylistLocked")

    def on_set_playlist_meta(self, data: Any) -> None:
        self.meta = parse_playlist_meta(data)

    # -- internals ----------------------------------------------------------------------------

    def _index(self, uid: int) -> int | None:
        for index, item in enumerate(self._items):
            if item.uid == uid:
                return index
        return None

    def _warn(self, fmt: str, **kwargs: Any) -> None:
        if not self._warned:  # once a session: one missed event can cause many of these
            self._warned = True
            log.warn(fmt + " (further ones this session are not logged)", **kwargs)

    def _drop_current(self) -> None:
        self.current_uid = None
        self.now_playing = None

    @staticmethod
    def _check_after(after: Any) -> None:
        if after in ("prepend", "append"):
            return
        as_int(after, "after")

    def _insert(self, item: PlaylistItem, after: Any) -> None:
        self._check_after(after)
        if after == "prepend":
            self._items.insert(0, item)
        elif after == "append":
            self._items.append(item)
        else:
            index = self._index(as_int(after, "after"))
            if index is None:
                # The mirror missed something; keep the item rather than lose it.
                self._warn(
                    "Playlist out of step: uid {uid} was placed after unknown uid {after};"
                    " appended",
                    uid=item.uid,
                    after=after,
                )
                self._items.append(item)
            else:
                self._items.insert(index + 1, item)

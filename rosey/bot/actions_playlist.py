"""Playlist and playback actions: queue, delete, move, jump, skip, shuffle, clear, temp, lock,
leader, pause/play/seek and voteskip (src/channel/playlist.js, permissions.js, voteskip.js).

The server ignores a playlist request it will not honour (no permission, unknown uid) without a
word, so each action checks first; only ``queue`` has a refusal event (``queueFail``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from twisted.internet.defer import Deferred, succeed

from rosey.bot.actions_base import ActionBase, deferred_errors, error_message, payload_of
from rosey.bot.errors import ActionFailed, ActionRefused, QueueFailed
from rosey.bot.medialink import MEDIA_TYPES, MediaLink, is_live, parse_media_link
from rosey.bot.permissions import can, require, require_event, require_queue
from rosey.bot.state import NowPlaying, Voteskip
from rosey.events import Event

__all__ = ["After", "PlaylistActions", "Position"]

Position = Literal["end", "next"]
#: Where ``move`` puts an item: after the item with this uid, first, or last.
After = int | Literal["prepend", "append"]
#: A confirmation matcher that only says yes (True) or not this event (None).
Check = Callable[[Event], "bool | None"]


def _media_link(media: str | MediaLink | tuple[str, str]) -> MediaLink:
    if isinstance(media, MediaLink):
        return media
    if isinstance(media, tuple):
        media_type, media_id = media
        if media_type not in MEDIA_TYPES:
            raise ValueError(f"queue: unknown media type {media_type!r}")
        if not media_id:
            raise ValueError("queue: empty media id")
        return MediaLink(media_type, media_id)
    return parse_media_link(media)


class PlaylistActions(ActionBase):
    """Playlist and playback; part of :class:`rosey.bot.actions.Actions`."""

    @deferred_errors
    def queue(
        self,
        media: str | MediaLink | tuple[str, str],
        pos: Position = "end",
        temp: bool | None = None,
        *,
        duration: float | None = None,
        title: str | None = None,
    ) -> Deferred[int]:
        """Add media to the playlist; fires with the new item's uid.

        ``media`` is a link or ``xx:ID`` shorthand (parsed like the web UI does), a
        :class:`~rosey.bot.medialink.MediaLink` or a ``(type, id)`` pair. ``temp=None`` leaves it
        to the server (temporary unless the bot has ``addnontemp``); ``temp=False`` without that
        permission is refused. ``duration`` (seconds) applies to live types only, ``title`` to
        ``cu`` and ``fi`` only. Fails with :class:`~rosey.bot.errors.QueueFailed` on ``queueFail``.
        A YouTube playlist (``yp``) fires with the uid of its first video.
        """
        self._ready("queue")
        link = _media_link(media)
        if pos not in ("end", "next"):
            raise ValueError(f"queue: pos must be 'end' or 'next', not {pos!r}")
        if duration is not None and not is_live(link.type):
            raise ValueError(f"queue: duration is only for live media, not {link.type}")
        if title is not None and link.type not in ("cu", "fi"):
            raise ValueError(f"queue: the server takes a title only for cu and fi, not {link.type}")
        require_queue(self.mirror, link.type, pos)
        if temp is False:
            require(self.mirror, "addnontemp", "queue as a permanent item")
        payload: dict[str, Any] = {"id": link.id, "type": link.type, "pos": pos}
        if temp is not None:
            payload["temp"] = temp
        if duration is not None:
            payload["duration"] = duration
        if title is not None:
            payload["title"] = title
        # cu ids become "cu:<hash>" on the server and yp expands into yt items: match those by
        # type and by who queued them.
        want_type = {"yp": "yt"}.get(link.type, link.type)
        want_id = None if link.type in ("yp", "cu") else link.id

        def match(event: Event) -> int | None:
            data = payload_of(event, "queue")
            item = data.get("item") if isinstance(data, dict) else None
            if not isinstance(item, dict) or not self._is_me(item.get("queueby")):
                return None
            queued = item.get("media")
            uid = item.get("uid")
            if not isinstance(queued, dict) or not isinstance(uid, int):
                return None
            if queued.get("type") != want_type:
                return None
            return uid if want_id is None or queued.get("id") == want_id else None

        def fail(event: Event) -> Exception | None:
            data = payload_of(event, "queueFail")
            if not isinstance(data, dict) or data.get("id") != link.id:
                return None
            msg, where = data.get("msg"), data.get("link")
            return QueueFailed(
                msg if isinstance(msg, str) else "queue failed",
                where if isinstance(where, str) else None,
                link.id,
            )

        done = self._expect(match, f"queue of {link.type}:{link.id}", fail=fail, armed=False)
        return self._queue_emit(payload, done)

    @deferred_errors
    def delete(self, uid: int) -> Deferred[None]:
        """Remove item ``uid`` (permission ``playlistdelete``); fires on its ``delete``."""
        self._ready("delete")
        require(self.mirror, "playlistdelete", "delete")
        self._item(uid, "delete")
        return self._simple("delete", uid, self._deleted(uid), f"delete of uid {uid}")

    @deferred_errors
    def move(self, uid: int, after: After) -> Deferred[None]:
        """Move item ``uid`` after item ``after`` (or ``"prepend"``/``"append"``); fires on
        ``moveVideo``."""
        self._ready("move")
        require(self.mirror, "playlistmove", "move")
        self._item(uid, "move")
        if isinstance(after, int):
            self._item(after, "move")
            if after == uid:
                raise ValueError("move: an item cannot go after itself")
        elif after not in ("prepend", "append"):
            raise ValueError(f"move: after is a uid, 'prepend' or 'append', not {after!r}")

        def match(event: Event) -> bool | None:
            data = payload_of(event, "moveVideo")
            return (isinstance(data, dict) and data.get("from") == uid) or None

        payload = {"from": uid, "after": after}
        return self._simple("moveMedia", payload, match, f"move of uid {uid}")

    @deferred_errors
    def jump(self, uid: int) -> Deferred[None]:
        """Play item ``uid`` now (``jumpTo``, permission ``playlistjump``); fires on its
        ``setCurrent``. A temporary item that was playing is deleted by the server."""
        self._ready("jump")
        require(self.mirror, "playlistjump", "jump")
        self._item(uid, "jump")
        return self._simple("jumpTo", uid, self._current_is(uid), f"jump to uid {uid}")

    @deferred_errors
    def play_next(self) -> Deferred[int | None]:
        """Skip to the next item (``playNext``); fires with the uid now playing, or None when the
        skipped item was the last one and temporary (the server deleted it)."""
        self._ready("play_next")
        require(self.mirror, "playlistjump", "play_next")
        current = self.mirror.playlist.current
        if current is None:
            raise ActionRefused("play_next refused: nothing is playing")
        last_temp = current.temp and len(self.mirror.playlist) == 1
        deleted = self._deleted(current.uid)

        def match(event: Event) -> int | Literal[False] | None:
            data = payload_of(event, "setCurrent")
            if isinstance(data, int) and not isinstance(data, bool):
                return data
            return False if last_temp and deleted(event) else None

        done = self._expect(match, "playNext")
        result = self._emit("playNext", None, done)
        return result.addCallback(lambda uid: uid if uid is not False else None)

    @deferred_errors
    def shuffle(self) -> Deferred[None]:
        """Shuffle the playlist (permission ``playlistshuffle``); fires on the new ``playlist``.
        Every uid changes."""
        self._ready("shuffle")
        require(self.mirror, "playlistshuffle", "shuffle")
        match = self._named("playlist", lambda data: isinstance(data, list))
        return self._simple("shufflePlaylist", None, match, "shufflePlaylist")

    @deferred_errors
    def clear_playlist(self) -> Deferred[None]:
        """Empty the playlist (permission ``playlistclear``); fires on ``playlist []``."""
        self._ready("clear_playlist")
        require(self.mirror, "playlistclear", "clear_playlist")
        match = self._named("playlist", lambda data: data == [])
        return self._simple("clearPlaylist", None, match, "clearPlaylist")

    @deferred_errors
    def set_temp(self, uid: int, temp: bool) -> Deferred[None]:
        """Mark item ``uid`` temporary or not (permission ``settemp``); fires on ``setTemp``."""
        self._ready("set_temp")
        require(self.mirror, "settemp", "set_temp")
        self._item(uid, "set_temp")
        payload = {"uid": uid, "temp": bool(temp)}
        match = self._named("setTemp", lambda data: data == payload)
        return self._simple("setTemp", payload, match, f"setTemp of uid {uid}")

    @deferred_errors
    def toggle_playlist_lock(self) -> Deferred[bool]:
        """Lock an open playlist or open a locked one (permission ``playlistlock``); fires with
        the new state, True for locked."""
        self._ready("toggle_playlist_lock")
        require(self.mirror, "playlistlock", "toggle_playlist_lock")
        return self._toggle_lock(not self.mirror.playlist.locked)

    @deferred_errors
    def set_playlist_locked(self, locked: bool) -> Deferred[bool]:
        """Lock (True) or open (False) the playlist; sends nothing when it already is."""
        self._ready("set_playlist_locked")
        require(self.mirror, "playlistlock", "set_playlist_locked")
        if self.mirror.playlist.locked == locked:
            return succeed(locked)
        return self._toggle_lock(locked)

    def _toggle_lock(self, locked: bool) -> Deferred[bool]:
        def match(event: Event) -> bool | None:
            data = payload_of(event, "setPlaylistLocked")
            return data if data is locked else None

        done = self._expect(match, "togglePlaylistLock")
        return self._emit("togglePlaylistLock", None, done)

    # -- leader and playback --------------------------------------------------------------------

    @deferred_errors
    def assign_leader(self, name: str) -> Deferred[None]:
        """Make ``name`` the leader (permission ``leaderctl``); fires on ``setLeader``."""
        self._ready("assign_leader")
        require_event(self.mirror, "assignLeader")
        user = self._user(name, "assign_leader")  # the server compares the exact name
        refusal = f"Unable to assign leader: could not find user {user.name}"

        def fail(event: Event) -> Exception | None:
            return ActionFailed(refusal) if error_message(event) == refusal else None

        match = self._named("setLeader", lambda data: data == user.name)
        done = self._expect(match, f"assignLeader {user.name}", fail=fail)
        return self._emit("assignLeader", {"name": user.name}, done).addCallback(lambda _: None)

    @deferred_errors
    def remove_leader(self) -> Deferred[None]:
        """Take the leader away; the server leads playback again. Fires on ``setLeader ""``."""
        self._ready("remove_leader")
        require_event(self.mirror, "assignLeader")
        match = self._named("setLeader", lambda data: data == "")
        return self._simple("assignLeader", {"name": ""}, match, "removal of the leader")

    @deferred_errors
    def pause(self) -> Deferred[None]:
        """Pause playback, as the leader; fires on the server's ``mediaUpdate``."""
        now = self._leading("pause")
        return self._media_update(now, now.current_time, True)

    @deferred_errors
    def play(self) -> Deferred[None]:
        """Resume playback from the last known position, as the leader."""
        now = self._leading("play")
        return self._media_update(now, now.current_time, False)

    @deferred_errors
    def seek(self, seconds: float) -> Deferred[None]:
        """Jump to ``seconds`` into the current item, as the leader (keeps paused/playing)."""
        now = self._leading("seek")
        if not math.isfinite(seconds) or not 0 <= seconds <= now.media.seconds:
            raise ValueError(f"seek: {seconds!r} is outside 0..{now.media.seconds:g} s")
        return self._media_update(now, float(seconds), now.paused)

    def _leading(self, action: str) -> NowPlaying:
        """What plays, when the bot may control it: it leads and the item is not live."""
        self._ready(action)
        if not self.mirror.is_leader:
            raise ActionRefused(f"{action} refused: the bot is not the leader")
        now = self.mirror.playlist.now_playing
        if now is None:
            raise ActionRefused(f"{action} refused: nothing is playing")
        if is_live(now.media.type) or now.media.seconds <= 0:
            raise ActionRefused(f"{action} refused: live media has no position to control")
        return now

    def _media_update(self, now: NowPlaying, time: float, paused: bool) -> Deferred[None]:
        payload = {
            "id": now.media.id,
            "currentTime": time,
            "paused": paused,
            "type": now.media.type,
        }

        def match(event: Event) -> bool | None:
            data = payload_of(event, "mediaUpdate")
            if not isinstance(data, dict):
                return None
            return (data.get("currentTime") == time and data.get("paused") is paused) or None

        return self._simple("mediaUpdate", payload, match, f"mediaUpdate to {time:g} s")

    @deferred_errors
    def voteskip(self) -> Deferred[Voteskip | None]:
        """Vote to skip the current item (permission ``voteskip``).

        Fires with the server's ``voteskip`` count when the bot may see it (``viewvoteskip``);
        otherwise the server answers nothing and it fires with None once sent. A vote that makes
        the skip pass fires with ``Voteskip(0, 0)``: the server plays the next item first
        (``changeMedia``, already in the mirror by then) and sends the count reset with it.
        Votes count per IP and media: a second vote before the media changes would draw no
        answer, so it is refused here with nothing sent.
        """
        self._ready("voteskip", login=False)
        require(self.mirror, "voteskip", "voteskip")
        if self.mirror.channel.options.get("allow_voteskip", True) is False:
            raise ActionRefused("voteskip refused: the channel has voteskip turned off")
        playlist = self.mirror.playlist
        if not len(playlist):
            raise ActionRefused("voteskip refused: the playlist is empty")
        if self._voted_round == playlist.media_round:
            raise ActionRefused("voteskip refused: the bot has voted on this media already")
        self._voted_round = playlist.media_round
        if not can(self.mirror, "viewvoteskip"):
            self.connection.emit("voteskip")
            return succeed(None)

        def match(event: Event) -> Voteskip | None:
            data = payload_of(event, "voteskip")
            if not isinstance(data, dict):
                return None
            count, need = data.get("count"), data.get("need")
            if isinstance(count, int) and isinstance(need, int):
                return Voteskip(count=count, need=need)
            return None

        done: Deferred[Voteskip | None] = self._expect(match, "voteskip")
        return self._emit("voteskip", None, done)

    # -- helpers --------------------------------------------------------------------------------

    def _simple(self, event: str, data: Any, match: Check, description: str) -> Deferred[None]:
        done = self._expect(match, description)
        return self._emit(event, data, done).addCallback(lambda _: None)

    @staticmethod
    def _named(name: str, test: Callable[[Any], bool]) -> Check:
        def match(event: Event) -> bool | None:
            return (event.name == name and test(event.platform_data)) or None

        return match

    @staticmethod
    def _deleted(uid: int) -> Check:
        def match(event: Event) -> bool | None:
            data = payload_of(event, "delete")
            return (isinstance(data, dict) and data.get("uid") == uid) or None

        return match

    @staticmethod
    def _current_is(uid: int) -> Check:
        def match(event: Event) -> bool | None:
            return (event.name == "setCurrent" and event.platform_data == uid) or None

        return match

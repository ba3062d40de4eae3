"""The **playlist** plugin: fair-use limits, ``!skip`` voting, ``!np``, ``!history``,
``!blacklist`` and auto-refill.

- Per-user limits: an item queued by someone below ``exempt_rank`` that takes them over
  ``max_items_per_user`` items or ``max_seconds_per_user`` seconds in the queue, or that is
  blacklisted, is deleted again (``api.actions.delete``) with a PM saying why. Items queued by
  the bot or by users of ``exempt_rank`` or more are never touched. The bot needs the
  ``playlistdelete`` permission; without it this is logged once and nothing is removed.
- ``!skip``: one vote per user per item; AFK users and the bot are not counted. When the votes
  reach ``max(skip_min_votes, ceil(skip_ratio × eligible users))`` the bot skips
  (``api.actions.play_next``, permission ``playlistjump``).
- ``!np``: what plays and how long is left. ``!history [n]``: the last plays from storage.
- ``!blacklist add|del <link or "current">`` and ``!blacklist list`` (``blacklist_rank``, at
  least 2): kept in the plugin's kv namespace (key ``blacklist``, a JSON object
  ``{"type:id": title}``).
- Auto-refill (``refill = true``): when the playlist runs empty, up to ``refill_items`` media
  from the history that did not play in the last ``refill_not_played_hours`` hours and are not
  blacklisted are queued through ``api.actions.queue`` (so the send queue's limits apply), at
  most ``refill_attempts`` tries.

Config (``[plugins.playlist]``, every key optional; see
:class:`~rosey.plugins.playlist_rules.PlaylistConfig`)::

    max_items_per_user = 0        # 0: no limit
    max_seconds_per_user = 0      # 0: no limit
    exempt_rank = 2
    skip_min_votes = 3
    skip_ratio = 0.5
    blacklist_rank = 2
    history_max = 10
    refill = false
    refill_not_played_hours = 6
    refill_items = 3
    refill_attempts = 10
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from rosey.api import (
    CHAT,
    Arg,
    Choice,
    Command,
    CommandContext,
    Malformed,
    MediaLinkError,
    PlaylistItem,
    Rest,
    StorageError,
    command,
    parse_item,
    parse_media_link,
)
from rosey.events import Event
from rosey.plugin import Plugin, PluginFactory
from rosey.plugins.playlist_rules import (
    PlaylistConfig,
    clock_time,
    limit_breach,
    media_key,
    parse,
    refill_candidates,
    skip_threshold,
)
from rosey.plugins.support import clean_text, safe_line

if TYPE_CHECKING:
    from rosey.api import IPluginAPI

__all__ = ["PlaylistConfig", "PlaylistPlugin", "parse", "playlist"]

BLACKLIST_KEY = "blacklist"
_TITLE = 80


def _title(text: str) -> str:
    title = clean_text(text)
    return title if len(title) <= _TITLE else title[: _TITLE - 1] + "…"


class PlaylistPlugin(Plugin):
    """The playlist plugin for one channel's bot. ``rng`` orders refill picks (tests fix it)."""

    config: PlaylistConfig

    def __init__(self, api: IPluginAPI) -> None:
        super().__init__(api)
        if self.config is None:
            self.config = PlaylistConfig()
        self.rng = random.Random()
        self.blacklist: dict[str, str] = {}
        self.votes: set[str] = set()
        self.vote_uid: int | None = None
        self._warned: set[str] = set()
        self._refilling: Deferred[None] | None = None
        self._pending: set[Deferred[Any]] = set()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:  # type: ignore[override]
        """Register the commands and handlers, then load the blacklist."""
        self.add_command(self._skip(), self._np(), self._history(), self._blacklist())
        self.on("queue", self.on_queue)
        self.on("setCurrent", self.on_set_current)
        self.on("delete", self.on_maybe_empty)
        self.on("playlist", self.on_maybe_empty)
        try:
            raw = await self.kv.get(BLACKLIST_KEY)
        except StorageError as e:
            self.log.warn("playlist: could not load the blacklist: {error}", error=str(e))
            return
        self.blacklist = self._decode(raw)

    def _decode(self, raw: str | None) -> dict[str, str]:
        if raw is None:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            self.log.warn("playlist: the stored blacklist is unreadable; starting empty")
            return {}
        return data

    def idle(self) -> Deferred[None]:
        """Fires once no removal, skip or refill is in flight (for tests)."""
        from twisted.internet.defer import DeferredList

        waiting = list(self._pending)
        return DeferredList(waiting, consumeErrors=True).addCallback(lambda _: None)

    def _track(self, d: Deferred[Any], what: str) -> None:
        self._pending.add(d)

        def done(result: object) -> None:
            self._pending.discard(d)
            if isinstance(result, Failure):
                self.log.warn(
                    "playlist: {what} failed: {error}", what=what, error=result.getErrorMessage()
                )

        d.addBoth(done)

    def _warn_once(self, node: str, what: str) -> None:
        if node not in self._warned:
            self._warned.add(node)
            self.log.warn(
                "playlist: the bot lacks permission {node!r}, so it cannot {what}",
                node=node,
                what=what,
            )

    # -- who is who -----------------------------------------------------------------------------

    def _is_bot(self, name: str) -> bool:
        return bool(self.api.channel.is_me(name))

    def _exempt(self, name: str) -> bool:
        if self._is_bot(name):
            return True
        user = self.api.channel.users.get(name)
        return user is not None and user.rank >= self.config.exempt_rank

    # -- limits and blacklist on queue ------------------------------------------------------------

    def on_queue(self, event: Event) -> None:
        """Remove a new item that breaks a limit or is blacklisted (not the exempt's)."""
        data = event.platform_data
        try:
            item = parse_item(data.get("item") if isinstance(data, dict) else None)
        except Malformed:
            return  # the mirror has logged it
        if self._exempt(item.queueby):
            return
        key = media_key(item.media.type, item.media.id)
        if key in self.blacklist:
            why: str | None = "it is blacklisted in this channel"
        else:
            why = limit_breach(self.config, self.api.channel.playlist.items, item.queueby)
        if why is not None:
            self._remove(item, why)

    def _remove(self, item: PlaylistItem, why: str) -> None:
        if not self.api.channel.can("playlistdelete"):
            self._warn_once("playlistdelete", "remove items that break the playlist rules")
            return
        d = self.api.actions.delete(item.uid)
        text = f"I removed {_title(item.media.title)} from the playlist: {why}."
        d.addCallback(lambda _: self.api.pm(item.queueby, text))
        self._track(d, f"removal of uid {item.uid}")

    # -- !skip -----------------------------------------------------------------------------------

    def on_set_current(self, event: Event) -> None:
        """A new item plays: the votes start again."""
        uid = event.platform_data
        if uid != self.vote_uid:
            self.vote_uid = uid if isinstance(uid, int) else None
            self.votes.clear()

    def _eligible(self) -> list[str]:
        return [u.name for u in self.api.channel.users if not u.afk and not self._is_bot(u.name)]

    def _skip(self) -> Command:
        @command("skip", where=CHAT, cooldown_user=2, help="Vote to skip what is playing.")
        def skip(ctx: CommandContext) -> str | None:
            playlist = self.api.channel.playlist
            now = playlist.now_playing
            if playlist.current_uid is None or now is None:
                return "Nothing is playing."
            if playlist.current_uid != self.vote_uid:
                self.vote_uid = playlist.current_uid
                self.votes.clear()
            voter = ctx.user.casefold()
            if voter in self.votes:
                return f"{ctx.user}: you already voted to skip this."
            self.votes.add(voter)
            eligible = {name.casefold() for name in self._eligible()}
            counted = len(self.votes & eligible)
            need = skip_threshold(self.config.skip_min_votes, self.config.skip_ratio, len(eligible))
            if counted < need:
                return f"Skip vote {counted}/{need} for {_title(now.media.title)}."
            if not self.api.channel.can("playlistjump"):
                self._warn_once("playlistjump", "skip after a passed !skip vote")
                return "The skip vote passed, but I lack the rank to skip."
            self.votes.clear()
            self._track(self.api.actions.play_next(), "skip")
            return f"Skip vote passed ({counted}/{need}): skipping {_title(now.media.title)}."

        return skip

    # -- !np and !history ------------------------------------------------------------------------

    def _np(self) -> Command:
        @command("np", aliases=("nowplaying",), cooldown_user=3, help="What is playing now.")
        def np(ctx: CommandContext) -> str:
            playlist = self.api.channel.playlist
            now = playlist.now_playing
            if now is None:
                return "Nothing is playing."
            item = playlist.current
            by = f", queued by {item.queueby}" if item is not None and item.queueby else ""
            if now.media.seconds <= 0:
                left = "live"
            else:
                remaining = now.media.seconds - max(0.0, now.current_time)
                left = f"{clock_time(remaining)} left of {clock_time(now.media.seconds)}"
            return safe_line(f"Now playing: {_title(now.media.title)} ({left}{by})", ctx.prefix)

        return np

    def _history(self) -> Command:
        @command(
            "history",
            args=[Arg("count", int, default=5)],
            cooldown_user=5,
            help="What played last: history [n].",
        )
        async def history(ctx: CommandContext) -> str:
            count = max(1, min(int(ctx.args["count"]), self.config.history_max))
            try:
                plays = await self.api.storage.get_media_history(self.api.storage_key, count)
            except StorageError:
                return "Sorry, the history is not available right now."
            if not plays:
                return "Nothing has played yet."
            titles = "; ".join(_title(p.title) for p in plays)
            return safe_line(f"Last played: {titles}", ctx.prefix)

        return history

    # -- !blacklist ------------------------------------------------------------------------------

    def _blacklist(self) -> Command:
        @command(
            "blacklist",
            min_rank=self.config.blacklist_rank,
            args=[
                Arg("op", Choice("add", "del", "list")),
                Arg("what", Rest, default="current", metavar="link|current"),
            ],
            help="Blacklist media: blacklist add|del <link or current>, blacklist list.",
        )
        async def blacklist(ctx: CommandContext) -> str:
            op = ctx.args["op"]
            if op == "list":
                if not self.blacklist:
                    return "The blacklist is empty."
                return safe_line("Blacklisted: " + "; ".join(self.blacklist.values()), ctx.prefix)
            what = ctx.args["what"].strip()
            if what.casefold() == "current":
                now = self.api.channel.playlist.now_playing
                if now is None:
                    return "Nothing is playing."
                key, title = media_key(now.media.type, now.media.id), _title(now.media.title)
            else:
                try:
                    link = parse_media_link(what)
                except MediaLinkError:
                    return "That is not a media link."
                key = media_key(link.type, link.id)
                title = _title(what)
            changed = dict(self.blacklist)
            if op == "add":
                changed[key] = title
            elif changed.pop(key, None) is None:
                return "That is not blacklisted."
            try:
                await self.kv.set(BLACKLIST_KEY, json.dumps(changed))
            except StorageError:
                return "Sorry, the blacklist could not be saved."
            self.blacklist = changed
            return safe_line(
                f"{'Blacklisted' if op == 'add' else 'Removed from the blacklist'}: {title}",
                ctx.prefix,
            )

        return blacklist

    # -- auto-refill -----------------------------------------------------------------------------

    def on_maybe_empty(self, event: Event) -> None:
        """Refill when the playlist has just run empty."""
        if not self.config.refill or len(self.api.channel.playlist) or self._refilling:
            return
        d = Deferred.fromCoroutine(self.refill())
        self._refilling = d

        def done(result: object) -> object:
            self._refilling = None
            return result

        d.addBoth(done)
        self._track(d, "refill")

    async def refill(self) -> None:
        """Queue up to ``refill_items`` history items (see the module docstring)."""
        cfg = self.config
        history = await self.api.storage.get_media_history(self.api.storage_key, 200)
        picks = refill_candidates(
            history,
            self.api.clock.seconds(),
            cfg.refill_not_played_hours * 3600,
            set(self.blacklist),
        )
        self.rng.shuffle(picks)
        queued = 0
        for play in picks[: cfg.refill_attempts]:
            if queued >= cfg.refill_items:
                break
            try:
                await self.api.actions.queue((play.media_type, play.media_id))
            except Exception as e:  # a refusal or a timeout: try the next one
                self.log.info(
                    "playlist: refill could not queue {key}: {error}",
                    key=media_key(play.media_type, play.media_id),
                    error=str(e),
                )
                if not self.api.channel.can("playlistadd"):
                    self._warn_once("playlistadd", "refill the playlist")
                    return
                continue
            queued += 1
        if not picks:
            self.log.info("playlist: nothing in the history may be queued again yet")


playlist = PluginFactory(
    "playlist",
    PlaylistPlugin,
    description="Per-user playlist limits, !skip voting, !np, !history, !blacklist, refill.",
    default_enabled=False,
    parse=parse,
)

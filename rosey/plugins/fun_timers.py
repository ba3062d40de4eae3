"""The ``fun`` plugin's timers: pending reminders and countdowns, stored and scheduled.

Both persist in the plugin's key/value store and are scheduled with the bot's clock. On start the
pending ones are loaded (retrying with a growing pause while storage is unavailable) and
scheduled; those that came due while rosey was down fire as soon as the bot can speak (at once,
or at the connection's ``ready``), marked late. A delivery that fails (disconnected, muted) is
tried again later; a timer is removed only once delivered, so a crash in between may repeat it
after a restart, never lose it.

A reminder goes to its user by PM when they are in the channel (and the bot is logged in), else
(or when the PM fails) to chat, addressed to them. A countdown is announced in chat.

Storage layout (in the plugin's key/value namespace)::

    remind:index       -> {"next": 8, "users": ["alice", "bob"]}   next id, users with reminders
    remind:user:<u>    -> [[id, user, due, created, text], ...]    one user's (u: lower case)
    countdown:all      -> [[name, due, created, by], ...]

Values with a due time carry a TTL of their last due time plus 30 days, so state nobody can reach
any more (an index entry lost) does not stay forever.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from rosey.api import IKeyValue
from rosey.plugins.fun_timedata import Countdown, Reminder, TimerRules, is_name
from rosey.plugins.support import KvWriter, Loader, TaskSet, ago, dump, load_json, send_safe

if TYPE_CHECKING:
    from rosey.api import IPluginAPI

__all__ = ["COUNTDOWN_KEY", "INDEX_KEY", "Timers", "reminder_key"]

log = Logger()

INDEX_KEY = "remind:index"
COUNTDOWN_KEY = "countdown:all"
#: Seconds past its due time after which a delivery says it is late.
LATE_AFTER = 60.0
#: Seconds before a failed delivery is tried again.
RETRY_AFTER = 300.0
#: First and longest pause before a failed load is tried again (it doubles in between).
LOAD_RETRY = (5.0, 300.0)
_KEEP_AFTER_DUE = 30 * 86400.0

Key = tuple[str, Any]  # ("r", reminder id) or ("c", countdown key)


def reminder_key(user: str) -> str:
    """The key holding ``user``'s reminders."""
    return f"remind:user:{user.casefold()}"


class Timers:
    """Reminders and countdowns for one bot (see the module docs)."""

    def __init__(self, api: IPluginAPI, kv: IKeyValue, writer: KvWriter, rules: TimerRules) -> None:
        self._api = api
        self._kv = kv
        self._writer = writer
        self.rules = rules
        self.reminders: dict[int, Reminder] = {}
        #: Countdowns by :attr:`Countdown.key`.
        self.countdowns: dict[str, Countdown] = {}
        self.next_id = 1
        self.loader = Loader(self._load, f"{kv.namespace} reminders and countdowns")
        self._calls: dict[Key, IDelayedCall] = {}
        self._active = TaskSet()
        self._load_retry: IDelayedCall | None = None
        self._load_pause = LOAD_RETRY[0]
        self._running = False
        self._armed = False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Deferred[bool]:
        """Load the pending timers and schedule them; fires with whether the first load worked
        (if not, it is retried on its own)."""
        self._running = True
        return self._try_load()

    def stop(self) -> None:
        """Cancel every scheduled call (the state stays stored)."""
        self._running = False
        for call in [*self._calls.values(), self._load_retry]:
            if call is not None and call.active():
                call.cancel()
        self._calls.clear()
        self._load_retry = None

    def idle(self) -> Deferred[None]:
        """Fires once no delivery is running and what they changed is written."""
        return self._active.idle().addCallback(lambda _: self._writer.idle())

    def on_ready(self, event: object = None) -> None:
        """The bot can speak (again): deliver everything that is due."""
        if not (self._running and self._armed):
            return
        now = self._api.clock.seconds()
        for r in list(self.reminders.values()):
            if r.due <= now:
                self._fire(("r", r.id))
        for c in list(self.countdowns.values()):
            if c.due <= now:
                self._fire(("c", c.key))

    def _try_load(self) -> Deferred[bool]:
        self._load_retry = None
        return self.loader.ensure().addCallback(self._loaded)

    def _loaded(self, ok: bool) -> bool:
        if not self._running:
            return ok
        if not ok:
            if self._load_retry is None:
                self._load_retry = self._api.clock.callLater(self._load_pause, self._try_load)
                self._load_pause = min(self._load_pause * 2, LOAD_RETRY[1])
            return ok
        if not self._armed:
            self._armed = True
            for r in list(self.reminders.values()):
                self._schedule(("r", r.id), r.due)
            for c in list(self.countdowns.values()):
                self._schedule(("c", c.key), c.due)
        return ok

    async def _load(self) -> None:
        index = await load_json(self._kv, INDEX_KEY)
        index = index if isinstance(index, dict) else {}
        users = index.get("users")
        reminders: dict[int, Reminder] = {}
        for user in users if isinstance(users, list) else []:
            if not is_name(user):
                continue
            rows = await load_json(self._kv, reminder_key(user))
            for row in rows if isinstance(rows, list) else []:
                r = Reminder.from_row(row)
                if r is None or r.user.casefold() != user.casefold():
                    log.warn(
                        "reminders: ignoring a bad row for {user}: {row!r}", user=user, row=row
                    )
                    continue
                reminders[r.id] = r
        countdowns: dict[str, Countdown] = {}
        rows = await load_json(self._kv, COUNTDOWN_KEY)
        for row in rows if isinstance(rows, list) else []:
            c = Countdown.from_row(row)
            if c is None:
                log.warn("countdowns: ignoring a bad row: {row!r}", row=row)
                continue
            countdowns[c.key] = c
        counter = index.get("next")
        counter = counter if isinstance(counter, int) and not isinstance(counter, bool) else 1
        self.reminders, self.countdowns = reminders, countdowns
        self.next_id = max(counter, max(reminders, default=0) + 1)

    # -- changes (commands) ---------------------------------------------------------------------

    def reminders_of(self, user: str) -> list[Reminder]:
        """``user``'s pending reminders, soonest first."""
        key = user.casefold()
        mine = [r for r in self.reminders.values() if r.user.casefold() == key]
        return sorted(mine, key=lambda r: (r.due, r.id))

    async def add_reminder(self, user: str, delay: float, text: str) -> tuple[Reminder, bool]:
        """A new reminder for ``user`` in ``delay`` seconds; returns it and whether it was
        saved. The caller checks the limits; the timers must be loaded."""
        self._check_loaded()
        now = self._api.clock.seconds()
        r = Reminder(self.next_id, user, now + delay, now, text)
        self.next_id += 1
        self.reminders[r.id] = r
        self._schedule(("r", r.id), r.due)
        return r, await self._save_reminders(user)

    async def cancel_reminder(self, r: Reminder) -> bool:
        """Drop a pending reminder; returns whether that was saved."""
        self.reminders.pop(r.id, None)
        self._unschedule(("r", r.id))
        return await self._save_reminders(r.user)

    async def set_countdown(self, name: str, due: float, by: str) -> tuple[Countdown, bool]:
        """Start (or replace) the countdown ``name``; returns it and whether it was saved."""
        self._check_loaded()
        c = Countdown(name, due, self._api.clock.seconds(), by)
        self.countdowns[c.key] = c
        self._schedule(("c", c.key), due)
        return c, await self._save_countdowns()

    async def cancel_countdown(self, c: Countdown) -> bool:
        """Drop a countdown; returns whether that was saved."""
        self.countdowns.pop(c.key, None)
        self._unschedule(("c", c.key))
        return await self._save_countdowns()

    def _check_loaded(self) -> None:
        if not self.loader.loaded:
            raise RuntimeError(
                "the timers are not loaded: a load finishing later would replace them"
            )

    # -- scheduling and delivery ----------------------------------------------------------------

    def _schedule(self, key: Key, due: float) -> None:
        self._arm(key, due - self._api.clock.seconds())

    def _arm(self, key: Key, delay: float) -> None:
        self._unschedule(key)
        if delay <= 0:
            self._fire(key)
        elif self._running:
            self._calls[key] = self._api.clock.callLater(delay, self._fire, key)

    def _unschedule(self, key: Key) -> None:
        call = self._calls.pop(key, None)
        if call is not None and call.active():
            call.cancel()

    def _fire(self, key: Key) -> None:
        self._calls.pop(key, None)
        if not self._running or key in self._active:
            return
        if not self._api.channel.ready:
            return  # on_ready delivers it
        kind, ident = key
        run = self._deliver_reminder(ident) if kind == "r" else self._deliver_countdown(ident)
        d = Deferred.fromCoroutine(run)
        d.addErrback(lambda f: log.failure("timer {key!r}: delivery crashed", f, key=key))
        self._active.track(key, d)

    def _late(self, due: float, now: float) -> str:
        return f" (late: it was due {ago(now - due)})" if now - due > LATE_AFTER else ""

    def _pm_target(self, user: str) -> str | None:
        channel = self._api.channel
        listed = channel.users.get(user)
        return listed.name if listed is not None and channel.logged_in else None

    async def _send(self, send: Callable[[str], Deferred[None]], text: str) -> None:
        await send_safe(send, text, self._api.prefix, self._api.max_line_length)

    async def _deliver_reminder(self, rid: int) -> None:
        r = self.reminders.get(rid)
        if r is None:
            return
        now = self._api.clock.seconds()
        text = f"Reminder from {ago(now - r.created)}{self._late(r.due, now)}: {r.text}"
        to = self._pm_target(r.user)
        if to is not None:
            try:
                await self._send(lambda line: self._api.pm(to, line), text)
            except Exception as e:
                log.info(
                    "reminder #{id}: PM to {user} failed ({error}); saying it in chat",
                    id=r.id,
                    user=r.user,
                    error=e,
                )
            else:
                return await self._delivered(r)
        try:
            await self._send(self._api.say, f"{r.user}: {text}")
        except Exception as e:
            self._failed(f"reminder #{r.id} for {r.user}", e, ("r", rid))
            return
        await self._delivered(r)

    async def _delivered(self, r: Reminder) -> None:
        if self.reminders.get(r.id) == r:
            await self.cancel_reminder(r)

    async def _deliver_countdown(self, key: str) -> None:
        c = self.countdowns.get(key)
        if c is None:
            return
        now = self._api.clock.seconds()
        try:
            await self._send(
                self._api.say, f"Countdown {c.name}: time's up!{self._late(c.due, now)}"
            )
        except Exception as e:
            self._failed(f"countdown {c.name}", e, ("c", key))
            return
        if self.countdowns.get(key) == c:
            await self.cancel_countdown(c)

    def _failed(self, what: str, error: Exception, key: Key) -> None:
        log.info(
            "{what} not delivered ({error}); trying again in {after:g}s",
            what=what,
            error=f"{type(error).__name__}: {error}",
            after=RETRY_AFTER,
        )
        self._arm(key, RETRY_AFTER)

    # -- persistence ----------------------------------------------------------------------------

    def _ttl(self, dues: list[float]) -> float:
        now: float = self._api.clock.seconds()
        return max(0.0, max(dues) - now) + _KEEP_AFTER_DUE

    async def _save_reminders(self, user: str) -> bool:
        """Save the index, then ``user``'s reminders: in that order, because a user key the
        index does not list would never be loaded."""

        def index() -> tuple[str | None, float | None]:
            users = sorted({r.user.casefold() for r in self.reminders.values()})
            return dump({"next": self.next_id, "users": users}), None

        def mine() -> tuple[str | None, float | None]:
            rows = sorted(self.reminders_of(user), key=lambda r: r.id)
            if not rows:
                return None, None
            return dump([r.row() for r in rows]), self._ttl([r.due for r in rows])

        indexed = self._writer.save(INDEX_KEY, index)
        saved = self._writer.save(reminder_key(user), mine)
        indexed_ok, saved_ok = await indexed, await saved
        return indexed_ok and saved_ok

    async def _save_countdowns(self) -> bool:
        def render() -> tuple[str | None, float | None]:
            rows = sorted(self.countdowns.values(), key=lambda c: (c.due, c.key))
            if not rows:
                return None, None
            return dump([c.row() for c in rows]), self._ttl([c.due for c in rows])

        return await self._writer.save(COUNTDOWN_KEY, render)

"""Helpers shared by plugins: safe text, keeping state in the key/value store, durations.

Every plugin may import this module (it is part of the documented plugin API, see
``docs/plugins.md``); no plugin imports another plugin's module.

Safe text. Whatever users typed is put on one line with :func:`clean_text`; :func:`safe_line`
keeps a line from starting with ``/`` (a server command) or the command prefix, and
:func:`send_safe`/:func:`reply_safe`/:func:`safe_replies` split a long text so that no part, the
continuation lines included, reads as a command, to the server or to another bot sharing the
prefix.

Key/value state. The state lives in memory and is the truth while the plugin runs; each key of
the store holds one JSON snapshot of a part of it. :class:`KvWriter` writes those snapshots one
at a time and in order, always rendering the *current* state at write time, so quick successive
changes to one key coalesce and an older snapshot never overwrites a newer one. A write that
fails (storage down) is retried later and once more on close. :class:`Loader` loads the state
once, retrying on demand after a failure: nothing may be written before the state was read, or
the write would replace what is stored with an empty state.

Durations. :func:`parse_duration` reads ``30s``, ``10m``, ``2h``, ``1d``, ``1w`` and sums like
``1h30m``; :func:`human_duration` and :func:`ago` write them.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey.api import ArgumentError, CommandContext, IKeyValue
from rosey.bot.chattext import ago, clean_text, count_of, human_duration, safe_line
from rosey.bot.sendqueue.lines import all_done
from rosey.bot.sendqueue.split import MAX_LENGTH, split_message, utf16_len
from rosey.bot.tasks import TaskSet

__all__ = [
    "MAX_LENGTH",
    "KvWriter",
    "Loader",
    "Render",
    "TaskSet",
    "ago",
    "all_done",
    "clean_text",
    "count_of",
    "dump",
    "human_duration",
    "load_json",
    "parse_duration",
    "reply_safe",
    "safe_line",
    "safe_parts",
    "safe_replies",
    "send_safe",
    "split_message",
    "utf16_len",
]

log = Logger()

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:[0-9]{1,7}[smhdw])+")
_PART = re.compile(r"([0-9]{1,7})([smhdw])")


def parse_duration(text: str) -> float:
    """``30s``, ``10m``, ``2h``, ``1d``, ``1w``, ``1h30m`` (spaces allowed) → seconds > 0;
    raises :class:`~rosey.api.ArgumentError` (a command's usage error) otherwise."""
    compact = "".join(text.split()).lower()
    if not _DURATION.fullmatch(compact):
        raise ArgumentError(f"{text[:30]!r} is not a duration like 30s, 10m, 2h, 1d or 1h30m")
    total = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(compact))
    if total <= 0:
        raise ArgumentError("a duration must be longer than 0 seconds")
    return float(total)


# -- safe text ------------------------------------------------------------------------------------


def safe_parts(text: str, prefix: str, limit: int = MAX_LENGTH) -> list[str]:
    """``text`` split into parts that fit ``limit`` once a guard mark is added, each made safe
    with :func:`safe_line`."""
    room = max(20, limit - 2)
    return [safe_line(part, prefix) for part in split_message(text, room)]


def send_safe(
    send: Callable[[str], Deferred[None]], text: str, prefix: str, limit: int = MAX_LENGTH
) -> Deferred[None]:
    """Send ``text`` with ``send`` (``api.say``, or a PM partial) in safe parts; fires when all
    parts were confirmed, or fails with the first failure."""
    return all_done([send(part) for part in safe_parts(text, prefix, limit)])


def reply_safe(
    ctx: CommandContext, text: str, limit: int = MAX_LENGTH, *, private: bool = False
) -> Deferred[None]:
    """Answer a command in safe parts (chat to chat, PM to PM; by PM when ``private``). Fires
    when sent; never fails (a failed send is logged)."""

    def failed(failure: Failure) -> None:
        log.info(
            "Could not answer {user} ({cmd}): {error}",
            user=ctx.user,
            cmd=ctx.invocation,
            error=failure.getErrorMessage(),
        )

    send = ctx.reply_pm if private else ctx.reply
    return send_safe(send, text, ctx.prefix, limit).addErrback(failed)


def safe_replies(
    handler: Callable[[CommandContext], Awaitable[str | None]], limit: int = MAX_LENGTH
) -> Callable[[CommandContext], Deferred[None]]:
    """``handler`` with its text answer sent by :func:`reply_safe` (whatever it quotes)."""

    async def run(ctx: CommandContext) -> None:
        text = await handler(ctx)
        if text:
            await reply_safe(ctx, text, limit)

    @functools.wraps(handler)
    def wrapped(ctx: CommandContext) -> Deferred[None]:
        return Deferred.fromCoroutine(run(ctx))

    return wrapped


# -- state in the key/value store ------------------------------------------------------------


#: Renders a key's current value: ``(json text or None to delete the key, ttl or None)``.
Render = Callable[[], tuple[str | None, float | None]]


def dump(value: Any) -> str:
    """Compact JSON (ASCII, so any text users typed, lone surrogates included, stores safely)."""
    return json.dumps(value, separators=(",", ":"))


async def load_json(kv: IKeyValue, key: str) -> Any:
    """The JSON value stored under ``key``; None when absent or not JSON (logged). Storage
    errors propagate."""
    raw = await kv.get(key)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        log.warn("{ns}: key {key!r} does not hold JSON; ignoring it", ns=kv.namespace, key=key)
        return None


class KvWriter:
    """Writes snapshots of keys, one write at a time (see the module docs).

    ``retry_after``: seconds before keys whose write failed are written again.
    """

    def __init__(self, kv: IKeyValue, clock: IReactorTime, *, retry_after: float = 30.0) -> None:
        self._kv = kv
        self._clock = clock
        self.retry_after = retry_after
        self._dirty: dict[str, Render] = {}
        self._waiters: dict[str, list[Deferred[bool]]] = {}
        self._failed: dict[str, Render] = {}
        self._idle: list[Deferred[None]] = []
        self._retry: IDelayedCall | None = None
        self._busy = False
        self._closed = False

    @property
    def unsaved(self) -> list[str]:
        """Keys whose last write failed and is not retried yet."""
        return list(self._failed)

    def save(self, key: str, render: Render) -> Deferred[bool]:
        """Write ``render()`` to ``key`` soon. Fires with True once written, False if the write
        failed (it is retried later); never fails."""
        d: Deferred[bool] = Deferred()
        self._failed.pop(key, None)
        self._dirty[key] = render
        self._waiters.setdefault(key, []).append(d)
        self._kick()
        return d

    def idle(self) -> Deferred[None]:
        """Fires once nothing is being written."""
        d: Deferred[None] = Deferred()
        if self._busy:
            self._idle.append(d)
        else:
            d.callback(None)
        return d

    def close(self) -> Deferred[None]:
        """Try the failed keys once more, then stop retrying; fires when the writes are done."""
        self._closed = True
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        self._requeue_failed()
        return self.idle()

    # -- internals ----------------------------------------------------------------------------

    def _requeue_failed(self) -> None:
        failed, self._failed = self._failed, {}
        for key, render in failed.items():
            self._dirty.setdefault(key, render)
        self._kick()

    def _retry_now(self) -> None:
        self._retry = None
        self._requeue_failed()

    def _kick(self) -> None:
        if self._busy or not self._dirty:
            return
        self._busy = True
        d = Deferred.fromCoroutine(self._run())
        d.addErrback(lambda f: log.failure("{ns}: the writer crashed", f, ns=self._kv.namespace))

    async def _run(self) -> None:
        try:
            while self._dirty:
                key = next(iter(self._dirty))
                render = self._dirty.pop(key)
                waiters = self._waiters.pop(key, [])
                ok = await self._write(key, render)
                if not ok:
                    self._failed[key] = render
                for w in waiters:
                    w.callback(ok)
            if self._failed and not self._closed and self._retry is None:
                self._retry = self._clock.callLater(self.retry_after, self._retry_now)
        finally:
            self._busy = False
            idle, self._idle = self._idle, []
            for waiter in idle:
                waiter.callback(None)

    async def _write(self, key: str, render: Render) -> bool:
        try:
            value, ttl = render()
            if value is None:
                await self._kv.delete(key)
            else:
                await self._kv.set(key, value, ttl)
        except Exception as e:
            log.warn(
                "{ns}: cannot save {key!r} ({error}); retrying in {after:g}s",
                ns=self._kv.namespace,
                key=key,
                error=f"{type(e).__name__}: {e}",
                after=self.retry_after,
            )
            return False
        return True


class Loader:
    """Runs ``load`` until it succeeds once; concurrent callers share one attempt."""

    def __init__(self, load: Callable[[], Coroutine[Any, Any, None]], what: str) -> None:
        self._load = load
        self.what = what
        self.loaded = False
        self._waiters: list[Deferred[bool]] | None = None

    def ensure(self) -> Deferred[bool]:
        """Fires with True once loaded, or False when this attempt failed (logged)."""
        d: Deferred[bool] = Deferred()
        if self.loaded:
            d.callback(True)
            return d
        if self._waiters is not None:
            self._waiters.append(d)
            return d
        self._waiters = [d]
        Deferred.fromCoroutine(self._load()).addBoth(self._done)
        return d

    def _done(self, result: object) -> None:
        ok = not isinstance(result, Failure)
        if isinstance(result, Failure):
            log.warn(
                "cannot load {what}: {error}",
                what=self.what,
                error=f"{result.value.__class__.__name__}: {result.getErrorMessage()}",
            )
        self.loaded = self.loaded or ok
        waiters, self._waiters = self._waiters or [], None
        for w in waiters:
            w.callback(ok)

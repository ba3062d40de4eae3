"""What the daemon knows about each channel's health, and telling systemd about it.

A :class:`ChannelWatch` listens to one connection's normalized events and keeps whether the
channel is joined, when the last event arrived and a one-line state; a fatal ``ERROR`` (the
connection stopped reconnecting: ban, no such channel, bad login…) leaves it "stopped" for good,
with the reason. :class:`Readiness` turns the watches into systemd notifications: ``READY=1``
once every channel has joined, is retrying or has stopped (storage is migrated before the
reactor starts), then ``STATUS=`` on each join, loss or stop; and it says when every channel has
stopped, so the daemon can exit instead of idling.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from rosey import events
from rosey.daemon.systemd import SystemdNotifier
from rosey.events import Event

CONNECTING = "connecting"
# The only events that can change a watch's state.
_STATE_EVENTS = frozenset(
    {events.READY, events.DISCONNECTED, events.KICKED, events.CONNECT_FAILED, events.ERROR}
)


class ChannelWatch:
    """Joined flag, last event time and state of one channel, from its events."""

    def __init__(self, label: str, clock: IReactorTime) -> None:
        self.label = label
        self.clock = clock
        self.joined = False
        self.state = CONNECTING
        #: Why the channel stopped reconnecting for good, or None while it runs.
        self.stopped_because: str | None = None
        self.last_event_at: float | None = None
        self.on_change: Callable[[ChannelWatch], None] | None = None

    def __call__(self, event: Event) -> None:
        self.last_event_at = self.clock.seconds()
        name = event.name
        if name not in _STATE_EVENTS:  # nearly every event: chat, joins, leaves, ...
            return
        if name == events.READY:
            self.stopped_because = None
            self._set(True, "joined")
        elif self.stopped_because is not None:
            return  # the session that ends after the stop is no retry
        elif name in (events.DISCONNECTED, events.KICKED, events.CONNECT_FAILED):
            data = event.platform_data if isinstance(event.platform_data, dict) else {}
            why = data.get("reason") or data.get("error") or name
            self._set(False, f"retrying ({why})")
        elif name == events.ERROR and event.extra.get("fatal"):
            why = event.content or str(event.platform_data)
            self.stopped_because = why
            self._set(False, f"stopped ({why})")

    @property
    def stopped(self) -> bool:
        """Whether the channel has stopped reconnecting for good."""
        return self.stopped_because is not None

    def last_event_age(self) -> float | None:
        """Seconds since the last event, or None before the first."""
        at = self.last_event_at
        return None if at is None else self.clock.seconds() - at

    def _set(self, joined: bool, state: str) -> None:
        changed = (joined, state) != (self.joined, self.state)
        self.joined, self.state = joined, state
        if changed and self.on_change is not None:
            self.on_change(self)


class Readiness:
    """Sends ``READY=1`` when every channel has settled, ``STATUS=`` on every change.

    ``settle_timeout`` bounds the wait: a channel still connecting after it counts as
    retrying, so a slow site never holds the unit in "activating" forever. ``on_all_stopped``
    is called once, with the watches, when every channel has stopped for good.
    """

    def __init__(
        self,
        watches: Sequence[ChannelWatch],
        notifier: SystemdNotifier,
        clock: IReactorTime,
        settle_timeout: float = 30.0,
        *,
        on_joined: Callable[[ChannelWatch], None] | None = None,
        on_ready: Callable[[], None] | None = None,
        on_all_stopped: Callable[[list[ChannelWatch]], None] | None = None,
    ) -> None:
        self.watches = list(watches)
        self.notifier = notifier
        self.clock = clock
        self.settle_timeout = settle_timeout
        self.is_ready = False
        #: Called with a watch whose channel has just joined, then once ``READY=1`` is out.
        self.on_joined = on_joined
        self.on_ready = on_ready
        self.on_all_stopped = on_all_stopped
        self.all_stopped = False
        self._timer: IDelayedCall | None = None
        for watch in self.watches:
            watch.on_change = self._changed

    def start(self) -> None:
        """Start the settle timer (call when the reactor runs)."""
        self._timer = self.clock.callLater(self.settle_timeout, self._give_up_waiting)
        self._changed(None)

    def stop(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()

    def summary(self) -> str:
        """The ``STATUS=`` line: how many channels joined (and stopped), then each one's state."""
        joined = sum(w.joined for w in self.watches)
        stopped = sum(w.stopped for w in self.watches)
        counts = f"{joined}/{len(self.watches)} channels joined"
        if stopped:
            counts += f", {stopped} stopped for good"
        parts = ", ".join(f"{w.label}: {w.state}" for w in self.watches)
        return f"{counts}; {parts}"

    def _changed(self, watch: ChannelWatch | None) -> None:
        if watch is not None and watch.joined and self.on_joined is not None:
            self.on_joined(watch)
        if self.is_ready:
            self.notifier.status(self.summary())
        elif all(w.state != CONNECTING for w in self.watches):
            self._ready()
        if self.watches and not self.all_stopped and all(w.stopped for w in self.watches):
            self.all_stopped = True
            if self.on_all_stopped is not None:
                self.on_all_stopped(self.watches)

    def _give_up_waiting(self) -> None:
        self._timer = None
        if not self.is_ready:
            self._ready()

    def _ready(self) -> None:
        self.is_ready = True
        self.stop()
        self.notifier.ready(self.summary())
        if self.on_ready is not None:
            self.on_ready()

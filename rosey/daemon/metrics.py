"""Prometheus metrics and health probes of one rosey daemon.

Each daemon owns a :class:`Metrics` with its own ``CollectorRegistry`` (never the global one, so
tests and several daemons in one process don't collide). The rest of rosey reports into it
through a handful of methods; values that are cheaper to read than to push (users per channel,
send-queue depth, joined, ages) are registered once as callbacks and sampled on each scrape.

Event counters sit on the hot path (tens of thousands of events per second), so they are plain
dict increments exported by a custom collector rather than ``Counter`` children, whose ``inc``
takes a lock and costs several times as much. Like every reactor-side call, ``event_in`` and
``event_out`` must run on the reactor thread; the histograms and the other counters are
thread-safe and may be fed from the storage thread pool.

Label values that come from the network (event names, kick reasons) are capped per channel so
a hostile server cannot create unbounded series; the overflow is counted under ``other``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from twisted.logger import Logger

import rosey

MAX_LABEL_VALUES = 200
"""Distinct values of a network-supplied label kept per channel before folding into ``other``."""
MAX_KICK_REASONS = 20
OTHER = "other"
MAX_LABEL_LENGTH = 64

SEND_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
BATCH_SECONDS_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
#: Storage transactions: a read of a few rows takes well under a millisecond.
INTERACTION_SECONDS_BUCKETS = (0.0001, 0.00025, *BATCH_SECONDS_BUCKETS)

log = Logger(namespace="rosey.daemon.metrics")


@dataclass(frozen=True)
class ChannelProbe:
    """Callbacks that describe one channel, sampled on each scrape and health check."""

    users: Callable[[], int]
    queue_depth: Callable[[], int]
    joined: Callable[[], bool]
    last_event_age: Callable[[], float | None]
    state: Callable[[], str] | None = None


@dataclass(frozen=True)
class StorageProbe:
    """Callbacks that describe the storage service."""

    last_write_age: Callable[[], float | None]
    pending: Callable[[], int] | None = None


@dataclass(frozen=True)
class BusProbe:
    """Callbacks that describe the event bus (``[bus]``): an :class:`rosey.bus.interface.IBus`."""

    state: Callable[[], str]
    buffered: Callable[[], int]
    published: Callable[[], int]
    dropped: Callable[[], int]


@dataclass(frozen=True)
class ChannelHealth:
    joined: bool
    last_event_age: float | None
    state: str | None = None


@dataclass(frozen=True)
class StorageHealth:
    ok: bool
    last_write_age: float | None
    pending: int | None


@dataclass(frozen=True)
class Health:
    """Health at one instant: ``ok`` when every channel is joined and storage keeps up."""

    ok: bool
    channels: dict[str, ChannelHealth]
    storage: StorageHealth | None
    #: The bus's state, buffer and counters with ``[bus]``; it does not make rosey unhealthy
    #: (the bot serves its channels without it), it is shown.
    bus: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The ``/health`` document (with rosey's version, and each channel's one-line state:
        ``joined``, ``retrying (why)``, ``stopped (why)``…)."""
        return {
            "status": "ok" if self.ok else "unhealthy",
            "version": rosey.__version__,
            "channels": {
                label: {
                    "joined": ch.joined,
                    "state": ch.state,
                    "last_event_age_s": _round(ch.last_event_age),
                }
                for label, ch in self.channels.items()
            },
            "storage": None
            if self.storage is None
            else {
                "ok": self.storage.ok,
                "last_write_age_s": _round(self.storage.last_write_age),
                "pending": self.storage.pending,
            },
            **({} if self.bus is None else {"bus": self.bus}),
        }


class Metrics:
    """Every metric of one daemon, in a private ``CollectorRegistry``.

    Channels are named by ``ChannelConfig.label`` (``host/channel``).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._events_in: dict[tuple[str, str], int] = {}
        self._events_out: dict[tuple[str, str], int] = {}
        self._distinct: dict[tuple[str, str], int] = {}
        self._channels: dict[str, ChannelProbe] = {}
        self._storage: StorageProbe | None = None
        self._bus: BusProbe | None = None
        self._failing: set[str] = set()
        reg = self.registry
        self._reconnects = Counter(
            "rosey_reconnects",
            "Connection attempts after the first, per channel.",
            ["channel"],
            registry=reg,
        )
        self._kicks = Counter(
            "rosey_kicks",
            "Times the bot was kicked from a channel.",
            ["channel", "reason"],
            registry=reg,
        )
        self._kick_reasons: dict[str, set[str]] = {}
        self._send_wait = Histogram(
            "rosey_send_wait_seconds",
            "Time a message waited in the send queue.",
            ["channel"],
            buckets=SEND_WAIT_BUCKETS,
            registry=reg,
        )
        self._batch_size = Histogram(
            "rosey_storage_batch_size",
            "Rows written per storage batch.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=reg,
        )
        self._batch_seconds = Histogram(
            "rosey_storage_batch_seconds",
            "Time to write one storage batch.",
            buckets=BATCH_SECONDS_BUCKETS,
            registry=reg,
        )
        self._interaction_seconds = Histogram(
            "rosey_storage_interaction_seconds",
            "Time one storage transaction held its connection, by the transaction's name.",
            ["name"],
            buckets=INTERACTION_SECONDS_BUCKETS,
            registry=reg,
        )
        reg.register(_SampledCollector(self))

    # -- hot path ---------------------------------------------------------------------------

    def event_in(self, channel: str, name: str) -> None:
        """Count one event received from ``channel`` (reactor thread only)."""
        try:
            self._events_in[channel, name] += 1
        except KeyError:
            self._first(self._events_in, "in", channel, name)

    def event_out(self, channel: str, name: str) -> None:
        """Count one event sent to ``channel`` (reactor thread only)."""
        try:
            self._events_out[channel, name] += 1
        except KeyError:
            self._first(self._events_out, "out", channel, name)

    def _first(
        self, counts: dict[tuple[str, str], int], kind: str, channel: str, name: str
    ) -> None:
        label = name[:MAX_LABEL_LENGTH]
        if (channel, label) not in counts:
            label = self._admit(kind, channel, label)
        counts[channel, label] = counts.get((channel, label), 0) + 1

    def _admit(self, kind: str, channel: str, label: str) -> str:
        """A new label value for ``channel``, or ``other`` once it has too many distinct ones."""
        seen = self._distinct.get((kind, channel), 0)
        if seen >= MAX_LABEL_VALUES:
            return OTHER
        self._distinct[kind, channel] = seen + 1
        return label

    # -- everything else ----------------------------------------------------------------------

    def send_wait(self, channel: str, seconds: float) -> None:
        """Observe how long one outgoing message waited in ``channel``'s send queue."""
        self._send_wait.labels(channel).observe(seconds)

    def reconnect(self, channel: str) -> None:
        """Count one reconnection attempt of ``channel``."""
        self._reconnects.labels(channel).inc()

    def kick(self, channel: str, reason: str) -> None:
        """Count one kick from ``channel``; ``reason`` is best a short category."""
        known = self._kick_reasons.setdefault(channel, set())
        label = reason[:MAX_LABEL_LENGTH]
        if label not in known:
            if len(known) >= MAX_KICK_REASONS:
                label = OTHER
            else:
                known.add(label)
        self._kicks.labels(channel, label).inc()

    def storage_batch(self, size: int, seconds: float) -> None:
        """Observe one storage batch of ``size`` rows written in ``seconds`` (any thread)."""
        self._batch_size.observe(size)
        self._batch_seconds.observe(seconds)

    def storage_interaction(self, name: str, seconds: float) -> None:
        """Observe one storage transaction ``name`` that took ``seconds`` (any thread): the
        storage pool's ``on_interaction`` observer. Names are constants of rosey's code
        (``chat.save_message``, ``record``…), so the label stays bounded."""
        self._interaction_seconds.labels(name).observe(seconds)

    def observe_channel(
        self,
        channel: str,
        users: Callable[[], int],
        queue_depth: Callable[[], int],
        joined: Callable[[], bool],
        last_event_age: Callable[[], float | None],
        state: Callable[[], str] | None = None,
    ) -> None:
        """Register the callbacks describing ``channel`` (replacing earlier ones).

        ``last_event_age`` returns seconds since the last event from the channel, or None
        before the first one. ``state`` returns its state in a few words, for ``/health``.
        """
        self._channels[channel] = ChannelProbe(users, queue_depth, joined, last_event_age, state)

    def forget_channel(self, channel: str) -> None:
        """Stop sampling ``channel`` (its counters keep their totals)."""
        self._channels.pop(channel, None)

    def observe_storage(
        self,
        last_write_age: Callable[[], float | None],
        pending: Callable[[], int] | None = None,
    ) -> None:
        """Register the storage callbacks.

        ``last_write_age`` returns seconds since the last successful write (since the service
        started, before the first one), or None when the storage has nothing to write.
        ``pending`` returns the rows waiting to be written; with it, a quiet storage (nothing
        pending) is healthy however long ago it last wrote.
        """
        self._storage = StorageProbe(last_write_age, pending)

    def observe_bus(self, probe: BusProbe) -> None:
        """Register the bus's callbacks (``rosey_bus_*`` metrics, ``bus`` in /health)."""
        if self._bus is None:
            from rosey.daemon.bus_metrics import BusCollector

            self.registry.register(BusCollector(self.bus_status))
        self._bus = probe

    def bus_status(self) -> dict[str, Any] | None:
        """The bus's state, buffer depth and counters, or None without a bus."""
        probe = self._bus
        if probe is None:
            return None
        return {
            what: None if value is _FAILED else value
            for what, value in (
                (what, self._sample(f"bus {what}", getattr(probe, what)))
                for what in ("state", "buffered", "published", "dropped")
            )
        }

    def health(self, storage_stale_after: float) -> Health:
        """Sample the probes: ok when every channel is joined and storage wrote recently enough.

        Storage is healthy when it has nothing to write, or wrote within
        ``storage_stale_after`` seconds. A probe that raises counts as unhealthy.
        """
        channels: dict[str, ChannelHealth] = {}
        ok = True
        for label, probe in list(self._channels.items()):
            joined = self._sample(f"{label} joined", probe.joined) is True
            age = self._sample(f"{label} last_event_age", probe.last_event_age)
            state = None if probe.state is None else self._sample(f"{label} state", probe.state)
            state = state if isinstance(state, str) else None
            channels[label] = ChannelHealth(joined, _float_or_none(age), state)
            ok = ok and joined
        storage = None
        if self._storage is not None:
            storage = self._storage_health(self._storage, storage_stale_after)
            ok = ok and storage.ok
        return Health(ok, channels, storage, self.bus_status())

    def _storage_health(self, probe: StorageProbe, stale_after: float) -> StorageHealth:
        failed = False
        age = self._sample("storage last_write_age", probe.last_write_age)
        if age is _FAILED:
            failed = True
        pending = None
        if probe.pending is not None:
            pending = self._sample("storage pending", probe.pending)
            if pending is _FAILED:
                failed, pending = True, None
        age = _float_or_none(age)
        fresh = age is None or age <= stale_after
        ok = not failed and (fresh or pending == 0)
        return StorageHealth(ok, age, pending if isinstance(pending, int) else None)

    def _sample(self, what: str, probe: Callable[[], Any]) -> Any:
        """Call one probe; a failure is logged once (until it recovers) and returns _FAILED."""
        try:
            value = probe()
        except Exception:
            if what not in self._failing:
                self._failing.add(what)
                log.failure("metrics probe {what} failed", what=what)
            return _FAILED
        self._failing.discard(what)
        return value


_FAILED: Any = object()


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class _SampledCollector(Collector):
    """Exports the plain-dict event counters and samples the channel and storage callbacks."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def describe(self) -> Iterator[Metric]:
        # Lets the registry refuse a second collector with the same names.
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        m = self._m
        events_in, events_out, users, depth, joined, age, storage_age = self._families()
        for (channel, name), n in list(m._events_in.items()):
            events_in.add_metric([channel, name], n)
        for (channel, name), n in list(m._events_out.items()):
            events_out.add_metric([channel, name], n)
        for label, probe in list(m._channels.items()):
            for family, what, fn in (
                (users, "users", probe.users),
                (depth, "queue_depth", probe.queue_depth),
                (joined, "joined", probe.joined),
                (age, "last_event_age", probe.last_event_age),
            ):
                value = m._sample(f"{label} {what}", fn)
                number = _float_or_none(int(value) if isinstance(value, bool) else value)
                if number is not None:
                    family.add_metric([label], number)
        if m._storage is not None:
            value = _float_or_none(m._sample("storage last_write_age", m._storage.last_write_age))
            if value is not None:
                storage_age.add_metric([], value)
        yield from (events_in, events_out, users, depth, joined, age, storage_age)

    @staticmethod
    def _families() -> tuple[Any, ...]:
        return (
            CounterMetricFamily(
                "rosey_events_in",
                "Events received, by channel and event name.",
                labels=["channel", "event"],
            ),
            CounterMetricFamily(
                "rosey_events_out",
                "Events sent, by channel and event name.",
                labels=["channel", "event"],
            ),
            GaugeMetricFamily(
                "rosey_channel_users", "Users in the channel's user list.", labels=["channel"]
            ),
            GaugeMetricFamily(
                "rosey_send_queue_depth", "Messages waiting in the send queue.", labels=["channel"]
            ),
            GaugeMetricFamily(
                "rosey_channel_joined", "1 while the bot is in the channel.", labels=["channel"]
            ),
            GaugeMetricFamily(
                "rosey_channel_last_event_age_seconds",
                "Seconds since the last event from the channel.",
                labels=["channel"],
            ),
            GaugeMetricFamily(
                "rosey_storage_last_write_age_seconds", "Seconds since storage last wrote a batch."
            ),
        )

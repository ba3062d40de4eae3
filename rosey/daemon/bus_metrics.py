"""The event bus's Prometheus metrics (``[bus]``), sampled on each scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class BusCollector(Collector):
    """``rosey_bus_state``, ``rosey_bus_buffered``, ``rosey_bus_published``,
    ``rosey_bus_dropped``, from ``status()`` (:meth:`rosey.daemon.metrics.Metrics.bus_status`)."""

    def __init__(self, status: Callable[[], dict[str, Any] | None]) -> None:
        self._status = status

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        state, *counts = families = self._families()
        status = self._status() or {}
        if isinstance(status.get("state"), str):
            state.add_metric([status["state"]], 1)
        for family, what in zip(counts, ("buffered", "published", "dropped"), strict=True):
            value = status.get(what)
            if isinstance(value, int) and not isinstance(value, bool):
                family.add_metric([], value)
        yield from families

    @staticmethod
    def _families() -> tuple[Any, ...]:
        return (
            GaugeMetricFamily(
                "rosey_bus_state",
                "1 for the bus's current state (connecting, connected, disconnected, stopped).",
                labels=["state"],
            ),
            GaugeMetricFamily("rosey_bus_buffered", "Events waiting to be published."),
            CounterMetricFamily("rosey_bus_published", "Events the bus stored."),
            CounterMetricFamily("rosey_bus_dropped", "Events dropped: the buffer was full."),
        )

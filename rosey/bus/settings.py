"""The bus's settings (the ``[bus]`` table of the configuration, read by rosey.daemon.config)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BusSettings:
    """Where the bus is, how rosey authenticates, and the stream's limits.

    Secrets (``token``, ``password``) are the values already read from their env variable or
    file; ``__repr__`` hides them.
    """

    urls: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    token: str | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    creds_file: str | None = None
    stream: str = "ROSEY_EVENTS"
    #: Stream limits: 0 means no limit.
    max_age_days: float = 30.0
    max_bytes: int = 0
    #: Events kept while the bus is away; more are dropped and counted.
    buffer: int = 100_000
    #: Seconds a stop may spend publishing what is left.
    stop_timeout: float = 5.0
    #: Seconds between reconnect attempts (nats-py's own reconnect) and for a JetStream ack.
    reconnect_wait: float = 2.0
    ack_timeout: float = 5.0
    #: Serve ``rosey.commands.cytube.<channel-token>.<action>`` requests (docs/bus.md).
    commands: bool = False

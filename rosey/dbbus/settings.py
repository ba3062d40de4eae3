"""The database service's settings (the optional ``[dbservice]`` table, read by
rosey.daemon.config)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DbServiceSettings:
    """How the database service consumes the stream (docs/dbservice.md)."""

    #: The durable JetStream consumer: every service on one name shares the work.
    durable: str = "rosey-db"
    #: Events fetched, written in one transaction and acknowledged together.
    batch: int = 2000
    #: Seconds one fetch waits for events before it asks again.
    fetch_timeout: float = 1.0
    #: Seconds the stream waits for an acknowledgement before it delivers a batch again (to
    #: this service or another on the durable).
    ack_wait: float = 30.0
    #: Seconds of event time between two user-count snapshots of a channel (as the recorder's).
    snapshot_interval: float = 300.0
    #: Longest pause between two tries of a batch the database refused.
    retry_max: float = 30.0

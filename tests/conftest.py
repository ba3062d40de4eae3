"""Shared pytest configuration. pytest-twisted installs the reactor; fixtures here use it only
once it is installed (at test time), never at import."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite file migrated to rosey's head (tests/storage overrides this with its own,
    parametrized over SQLite and PostgreSQL)."""
    from rosey.storage import schema

    url = f"sqlite:///{tmp_path / 'rosey.sqlite'}"
    schema.upgrade(url)
    return url


@pytest.fixture
def timezone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fixed local time zone, 5:30 ahead of UTC (POSIX TZ syntax: no tzdata needed)."""
    monkeypatch.setenv("TZ", "XST-5:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def reap_children() -> Iterator[None]:
    """Reap the test's exited child processes every 0.5 s: the suite's reactor has no SIGCHLD
    handler, so a child whose pipes closed just before it exited would never be reaped and its
    ``processEnded`` (and any Deferred waiting on it) would never fire."""
    from twisted.internet import process
    from twisted.internet.task import LoopingCall

    reaper = LoopingCall(process.reapAllProcesses)
    reaper.start(0.5, now=False)
    yield
    reaper.stop()

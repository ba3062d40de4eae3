"""Shared pytest configuration. pytest-twisted installs the reactor; nothing here imports it."""

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

"""Shared pytest configuration. pytest-twisted installs the reactor; nothing here imports it."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite file migrated to rosey's head (tests/storage overrides this with its own,
    parametrized over SQLite and PostgreSQL)."""
    from rosey.storage import migrate

    url = f"sqlite:///{tmp_path / 'rosey.sqlite'}"
    migrate.upgrade(url)
    return url

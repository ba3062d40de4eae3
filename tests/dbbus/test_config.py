"""The database service's configuration and command line: ``[dbservice]``, a file without
channels, ``rosey db serve`` and ``twistd rosey-db``'s one-line refusals."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from rosey.cli import db_serve_argv
from rosey.daemon.config import Config, ConfigError, parse
from rosey.dbbus.settings import DbServiceSettings
from tests.daemon.test_twistd import TWISTD, failed_start

BUS = {"bus": {"url": "nats://127.0.0.1:4222"}}
CHANNEL = {"channel": [{"site": "https://cytu.be", "name": "x"}]}


def load(raw: dict[str, Any], required: bool = True) -> Config:
    return parse(raw, {}, channels_required=required)


def test_dbservice_defaults_and_keys() -> None:
    assert load({**CHANNEL}).dbservice == DbServiceSettings()
    config = load(
        {
            **CHANNEL,
            "dbservice": {"durable": "db-2", "batch": 100, "ack_wait": 5, "fetch_timeout": 0.5},
        }
    )
    assert config.dbservice == DbServiceSettings(
        durable="db-2", batch=100, ack_wait=5.0, fetch_timeout=0.5
    )


def test_bad_dbservice_values_are_named() -> None:
    with pytest.raises(ConfigError) as e:
        load({**CHANNEL, "dbservice": {"durable": "a.b", "batch": 0, "ack_wait": "x"}})
    text = str(e.value)
    assert "dbservice.durable" in text
    assert "dbservice.batch" in text
    assert "dbservice.ack_wait: 'x' is not a number" in text


def test_the_service_needs_no_channel_but_the_bot_does() -> None:
    assert load({**BUS}, required=False).channels == ()
    with pytest.raises(ConfigError, match="at least one"):
        load({**BUS})
    with pytest.raises(ConfigError, match="at least one"):
        load({**BUS, "channel": []}, required=False)


def test_retention_keeps_bus_event_ids_a_month() -> None:
    config = load({**CHANNEL, "database": {"retention": {"bus_events_days": 40}}})
    assert config.database.retention.bus_events_days == 40
    assert "bus_events_days" not in config.database.retention.policy()


def test_db_serve_runs_twistd_rosey_db_on_asyncio(tmp_path: Path) -> None:
    assert db_serve_argv(tmp_path / "twistd", "db.toml") == [
        str(tmp_path / "twistd"),
        "--reactor=asyncio",
        "--nodaemon",
        "--pidfile=",
        "rosey-db",
        "--config",
        "db.toml",
    ]


def test_twistd_rosey_db_without_bus_says_so(tmp_path: Path) -> None:
    config = tmp_path / "db.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/db.sqlite"\n')
    assert failed_start(config, tmp_path, "rosey-db", ["--reactor=asyncio"]) == [
        "rosey: config error: the database service needs a [bus] table (docs/bus.md)"
    ]


def test_twistd_rosey_db_refuses_another_reactor(tmp_path: Path) -> None:
    config = tmp_path / "db.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/db.sqlite"\n[bus]\nurl = "nats://127.0.0.1:9"\n'
    )
    assert failed_start(config, tmp_path, "rosey-db") == [
        "rosey: config error: the database service needs the asyncio reactor: run 'rosey db "
        "serve' or 'twistd --reactor=asyncio rosey-db --config …'"
    ]


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    """``systemd-analyze verify`` accepts contrib/systemd/rosey-db.service (ExecStart pointed at
    this venv's twistd), and it runs ``rosey-db`` on the asyncio reactor."""
    import shutil

    from tests.daemon.test_twistd import REPO

    text = (REPO / "contrib" / "systemd" / "rosey-db.service").read_text()
    assert "twistd --reactor=asyncio --nodaemon --pidfile= rosey-db --config " in text
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "rosey-db.service"
    unit.write_text(text.replace("/opt/rosey/.venv/bin/twistd", str(TWISTD)))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")

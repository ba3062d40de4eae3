"""``[database] mode = "service"`` and ``request_timeout``."""

from __future__ import annotations

from typing import Any

import pytest

from rosey.daemon.config import ConfigError, parse

CHANNEL = {"channel": [{"site": "https://cytu.be", "name": "mychannel"}]}


def config(database: dict[str, Any], bus: bool = True) -> dict[str, Any]:
    return {**CHANNEL, "database": database, **({"bus": {}} if bus else {})}


def test_the_default_is_the_bots_own_database() -> None:
    database = parse(CHANNEL, {}).database
    assert (database.mode, database.service, database.request_timeout) == ("local", False, 1.5)


def test_service_mode_with_a_bus_and_a_timeout() -> None:
    database = parse(config({"mode": "service", "request_timeout": 1}), {}).database
    assert (database.service, database.request_timeout) == (True, 1.0)


@pytest.mark.parametrize(
    ("raw", "bus", "message"),
    [
        (
            {"mode": "service"},
            False,
            'database.mode: "service" needs a [bus] table (the database service is on the bus)',
        ),
        (
            {"mode": "service", "url": "sqlite:///x.sqlite"},
            True,
            'database.url: not with mode = "service" (the database service has the URL)',
        ),
        ({"mode": "remote"}, True, "database.mode: 'remote' is not one of local, service"),
        (
            {"request_timeout": 0},
            True,
            "database.request_timeout: 0 is not between 0 and 60 seconds",
        ),
        ({"request_timeout": "2"}, True, "database.request_timeout: '2' is not a number"),
    ],
)
def test_mistakes_are_one_line_config_errors(raw: dict[str, Any], bus: bool, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(config(raw, bus), {})
    assert str(info.value) == message

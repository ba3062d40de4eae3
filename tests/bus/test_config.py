"""The ``[bus]`` table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rosey.bus.settings import BusSettings
from rosey.daemon.config import ConfigError, parse

CHANNEL = {"channel": [{"site": "https://cytu.be", "name": "mychannel"}]}


def with_bus(**bus: Any) -> dict[str, Any]:
    return {**CHANNEL, "bus": bus}


def test_no_bus_table_no_bus() -> None:
    assert parse(CHANNEL, {}).bus is None


def test_an_empty_bus_table_takes_the_defaults() -> None:
    assert parse(with_bus(), {}).bus == BusSettings()
    assert BusSettings().commands is False  # commands in only when asked for


def test_every_key(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    bus = parse(
        with_bus(
            url=["nats://a:4222", "tls://b:4222"],
            user="rosey",
            password_file=str(tmp_path / "pw"),
            stream="EVENTS-1",
            max_age_days=7,
            max_bytes=1 << 30,
            buffer=500,
            stop_timeout=2,
            commands=True,
        ),
        {},
    ).bus
    assert bus == BusSettings(
        urls=("nats://a:4222", "tls://b:4222"),
        user="rosey",
        password="s3cret",
        stream="EVENTS-1",
        max_age_days=7,
        max_bytes=1 << 30,
        buffer=500,
        stop_timeout=2,
        commands=True,
    )
    assert "s3cret" not in repr(bus)


def test_a_token_from_the_environment_is_hidden() -> None:
    bus = parse(with_bus(token_env="NATS_TOKEN"), {"NATS_TOKEN": "tok-123"}).bus
    assert bus is not None
    assert bus.token == "tok-123"
    assert "tok-123" not in repr(bus)


@pytest.mark.parametrize(
    ("bus", "message"),
    [
        ({"url": "http://x:4222"}, "bus.url: not a NATS URL"),
        ({"url": "nats://me:hunter2@x:4222"}, "credentials go in token_env"),
        ({"url": []}, "bus.url: an empty list"),
        ({"token": "inline"}, "use token_env or token_file"),
        ({"user": "rosey"}, "bus.user: user and password_env"),
        ({"token_env": "T", "creds_file": "/x.creds"}, "only one way to authenticate"),
        ({"stream": "a.b"}, "not a stream name"),
        ({"buffer": 0}, "bus.buffer: 0 is not positive"),
        ({"stop_timeout": -1}, "bus.stop_timeout: -1 is negative"),
        ({"commands": "yes"}, "bus.commands"),
        ({"urls": "nats://x"}, "bus.urls: unknown key; did you mean 'url'?"),
    ],
)
def test_bad_values_are_named(bus: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse(with_bus(**bus), {"T": "t"})
    assert "hunter2" not in str(caught.value)


def test_config_check_shows_the_bus_with_its_secrets_hidden() -> None:
    from rosey.daemon.check import render

    assert "# [bus] is not set" in render(parse(CHANNEL, {}))
    text = render(parse(with_bus(user="rosey", password_env="PW"), {"PW": "hunter2"}))
    assert "hunter2" not in text
    assert 'password = "<hidden>"' in text
    assert 'user = "rosey"' in text
    assert "# token is not set" in text

"""Configuration: validation with key paths, defaults, and secrets that never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from rosey.daemon.config import ConfigError, load, parse

MINIMAL = {"channel": [{"site": "https://cytu.be", "name": "mychannel"}]}


def test_minimal_config_gets_sensible_defaults() -> None:
    config = parse(MINIMAL, {})
    (ch,) = config.channels
    assert (ch.site, ch.name, ch.username, ch.password, ch.eio) == (
        "https://cytu.be",
        "mychannel",
        None,
        None,
        4,
    )
    assert ch.label == "cytu.be/mychannel"
    assert config.database.url.value == "sqlite:///rosey.sqlite"
    assert config.bot.command_prefix == "!"
    assert not config.manhole.enabled and config.manhole.listen.endswith("interface=127.0.0.1")
    assert not config.metrics.enabled and config.metrics.listen.endswith("interface=127.0.0.1")
    assert (config.logging.level, config.logging.format) == ("info", "text")


def test_password_from_env_is_hidden_in_repr() -> None:
    raw = {"channel": [{**MINIMAL["channel"][0], "username": "rosey", "password_env": "PW"}]}
    config = parse(raw, {"PW": "hunter2"})
    assert config.channels[0].password is not None
    assert config.channels[0].password.value == "hunter2"
    assert "hunter2" not in repr(config) and "hunter2" not in str(config)


def test_password_from_file_and_systemd_credentials(tmp_path: Path) -> None:
    (tmp_path / "rosey-pw").write_text("s3cret\n")
    raw = {"channel": [{**MINIMAL["channel"][0], "username": "r", "password_file": "rosey-pw"}]}
    config = parse(raw, {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert config.channels[0].password is not None
    assert config.channels[0].password.value == "s3cret"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "channel: expected at least one"),
        ({"channel": [{"site": "cytu.be", "name": "x"}]}, "channel[0].site: 'cytu.be' is not"),
        ({"channel": [{"site": "https://a", "name": "bad name"}]}, "channel[0].name: 'bad name'"),
        (
            {"channel": [{"site": "https://a", "name": "x", "pasword_env": "P"}]},
            "channel[0].pasword_env: unknown key",
        ),
        (
            {"channel": [{"site": "https://a", "name": "x", "username": "u", "password": "pw"}]},
            "channel[0].password: secrets are not written",
        ),
        (
            {
                "channel": [
                    {"site": "https://a", "name": "x", "username": "u", "password_env": "NOPE"}
                ]
            },
            "channel[0].password_env: environment variable 'NOPE' is not set",
        ),
        ({**MINIMAL, "logging": {"level": "loud"}}, "logging.level: 'loud' is not one of"),
        ({**MINIMAL, "manhole": {"enabled": "yes"}}, "manhole.enabled: 'yes' is not true or false"),
        ({"channel": [MINIMAL["channel"][0], MINIMAL["channel"][0]]}, "configured twice"),
    ],
)
def test_errors_name_key_value_and_expectation(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        parse(raw, {})
    assert message in str(info.value)


def test_broken_toml_is_a_one_line_config_error(tmp_path: Path) -> None:
    path = tmp_path / "rosey.toml"
    path.write_text("[[channel]\nsite=")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert "not valid TOML" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"manhole": {"enabled": True}}, "manhole.authorized_keys: required when"),
        ({"metrics": {"listen": "9100"}}, "metrics.listen: '9100' is not an endpoint"),
        ({"bot": {"prefix": "!"}}, "bot.prefix: unknown key"),
    ],
)
def test_daemon_tables_are_checked(extra: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse({**MINIMAL, **extra}, {})
    assert message in str(info.value)

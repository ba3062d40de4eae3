"""``rosey config migrate``: Rosey-Robot v1 and v2 JSON into TOML that loads, without secrets.

The examples follow the real files: v1 as written by Rosey-Robot's setup script (docs/SETUP),
v2 as ``bot/rosey/config.json.dist`` of Sprint 9, including its ``_comment`` keys and the LLM
block with API keys.
"""

from __future__ import annotations

import argparse
import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rosey.daemon.check import add_config_parser
from rosey.daemon.config import Config, load, parse
from rosey.daemon.legacy_config import LegacyConfigError, _comment, _string, migrate, migration

ACCOUNT_PW = "acct-pw-7f3a"
CHANNEL_PW = "chan-pw-91c2"
API_KEY = "sk-live-abc123"
NATS_PW = "nats-pw-55e1"
SECRETS = (ACCOUNT_PW, CHANNEL_PW, API_KEY, NATS_PW)

V1: dict[str, Any] = {
    "domain": "https://cytu.be",
    "channel": ["420Grindhouse", CHANNEL_PW],
    "user": ["CynthiaRothbot", ACCOUNT_PW],
    "response_timeout": 1,
    "restart_delay": 5,
    "log_level": "WARNING",
    "chat_log_file": "chat.log",
    "media_log_file": "media.log",
    "shell": "localhost:5555",
    "db": "bot_data.db",
    "llm": {
        "enabled": True,
        "provider": "openai",
        "openai": {"api_key": API_KEY, "model": "gpt-4o-mini"},
        "triggers": {"enabled": True, "commands": ["!ai", "!ask"]},
    },
}

V2: dict[str, Any] = {
    "_note": "All '_comment' fields in this file are for documentation only.",
    "_comment": "Rosey Configuration v2.0 - Sprint 9 Architecture",
    "version": "2.0",
    "nats": {
        "_comment": "NATS event bus configuration (REQUIRED)",
        "url": f"nats://rosey:{NATS_PW}@localhost:4222",
        "connection_timeout": 5,
        "max_reconnect_attempts": -1,
        "reconnect_delay": 2,
    },
    "database": {
        "_comment": "Database service",
        "path": "/var/lib/rosey/bot_data.db",
        "run_as_service": True,
    },
    "platforms": [
        {
            "_comment": "Platform configuration - supports multi-platform (future)",
            "type": "cytube",
            "name": "primary",
            "enabled": True,
            "domain": "https://cytu.be",
            "channel": "YourChannelName",
            "user": ["YourUsername", ACCOUNT_PW],
            "response_timeout": 1,
            "restart_delay": 5,
        }
    ],
    "shell": {
        "_comment": "PM command interface",
        "enabled": True,
        "host": "localhost",
        "port": 5555,
    },
    "logging": {
        "_comment": "Logging configuration",
        "level": "WARNING",
        "chat_log_file": "chat.log",
        "media_log_file": "media.log",
    },
    "llm": {
        "enabled": False,
        "provider": "ollama",
        "openai": {"api_key": API_KEY, "model": "gpt-4o-mini"},
    },
    "plugins": {
        "_comment": "Plugin system (future)",
        "enabled": True,
        "directory": "plugins/",
        "auto_reload": False,
    },
}

ENV = {"ROSEY_PASSWORD": ACCOUNT_PW, "ROSEY_CHANNEL_PASSWORD": CHANNEL_PW}


def load_text(text: str, environ: dict[str, str] | None = None) -> Config:
    return parse(tomllib.loads(text), ENV if environ is None else environ)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def not_carried(text: str) -> list[str]:
    """The ``# not carried over:`` notes, each with its wrapped continuation lines joined."""
    notes: list[str] = []
    for line in text.splitlines():
        if line.startswith("# not carried over:"):
            notes.append(line)
        elif line.startswith("#   ") and notes:
            notes[-1] += " " + line[4:]
    return notes


def test_v1_round_trips_through_config_parse() -> None:
    text = migrate(V1)
    config = load_text(text)
    (ch,) = config.channels
    assert (ch.site, ch.name, ch.username) == ("https://cytu.be", "420Grindhouse", "CynthiaRothbot")
    assert ch.password is not None
    assert ch.password.value == ACCOUNT_PW
    assert ch.password.source == "$ROSEY_PASSWORD"
    assert ch.channel_password is not None
    assert ch.channel_password.value == CHANNEL_PW
    assert config.logging.level == "warn"
    assert (config.logging.chat_log, config.logging.media_log) == ("chat.log", "media.log")
    # Rosey-Robot's tables are not rosey's: a new database beside the old one.
    assert config.database.url.value == "sqlite:///rosey.sqlite"
    assert not config.manhole.enabled
    assert not config.metrics.enabled
    assert_no_secret(text)


def test_v1_keys_without_equivalent_are_commented() -> None:
    notes = "\n".join(not_carried(migrate(V1)))
    for key in (
        "response_timeout = 1",
        "restart_delay = 5",
        'shell = "localhost:5555"',
        'db = "bot_data.db"',
        "llm (",
    ):
        assert key in notes
    assert "manhole" in notes  # the shell note points at the replacement
    # ... and the db note at the importer of the old data.
    assert (
        "rosey db upgrade --url sqlite:///rosey.sqlite && rosey db import-legacy "
        "bot_data.db --channel cytu.be/420Grindhouse --url sqlite:///rosey.sqlite"
    ) in notes
    assert API_KEY not in notes


def test_v1_operator_is_told_where_the_password_goes() -> None:
    text = migrate(V1)
    assert 'password_env = "ROSEY_PASSWORD"' in text
    assert 'channel_password_env = "ROSEY_CHANNEL_PASSWORD"' in text
    header = text.split("[[channel]]")[0]
    assert "ROSEY_PASSWORD: the password of the CyTube account 'CynthiaRothbot'" in header
    assert "ROSEY_CHANNEL_PASSWORD: the password of the channel '420Grindhouse'" in header


def test_v2_round_trips_through_config_parse() -> None:
    text = migrate(V2)
    config = load_text(text, {"ROSEY_PASSWORD": ACCOUNT_PW})
    (ch,) = config.channels
    assert (ch.site, ch.name, ch.username) == ("https://cytu.be", "YourChannelName", "YourUsername")
    assert ch.password is not None
    assert ch.password.value == ACCOUNT_PW
    assert ch.channel_password is None
    assert config.database.url.value == "sqlite:////var/lib/rosey/rosey.sqlite"
    assert config.logging.level == "warn"
    assert config.logging.chat_log == "chat.log"
    assert_no_secret(text)


def test_v2_keys_without_equivalent_are_commented_but_comments_are_not() -> None:
    text = migrate(V2)
    notes = "\n".join(not_carried(text))
    for key in (
        "nats (",
        "plugins (",
        "llm (",
        'platforms[0].name = "primary"',
        "platforms[0].response_timeout = 1",
        "platforms[0].restart_delay = 5",
        "database.run_as_service = true",
        'shell = "localhost:5555"',
        'database.path = "/var/lib/rosey/bot_data.db"',
    ):
        assert key in notes, key
    assert "_comment" not in text
    assert "_note" not in text
    assert "nats://" not in text  # a URL may hold credentials: never quoted


def test_v2_several_platforms_become_several_channels() -> None:
    old = copy.deepcopy(V2)
    first = old["platforms"][0]
    old["platforms"] = [
        first,
        {
            **first,
            "domain": "cytube.example.org/",
            "channel": ["second", CHANNEL_PW],
            "user": ["OtherBot", "another-pw"],
        },
        {**first, "channel": "third"},  # same account and password: same variable
        {**first, "channel": "parked", "enabled": False, "restart_delay": -1},
        {"type": "discord", "name": "chat", "token": "discord-token"},
    ]
    result = migration(old)
    assert [var for var, _ in result.secrets] == [
        "ROSEY_PASSWORD",
        "ROSEY_PASSWORD_2",
        "ROSEY_CHANNEL_PASSWORD",
    ]
    config = load_text(
        result.text,
        {
            "ROSEY_PASSWORD": ACCOUNT_PW,
            "ROSEY_PASSWORD_2": "another-pw",
            "ROSEY_CHANNEL_PASSWORD": CHANNEL_PW,
        },
    )
    assert [c.label for c in config.channels] == [
        "cytu.be/YourChannelName",
        "cytube.example.org/second",
        "cytu.be/third",
    ]
    assert [c.password.value for c in config.channels if c.password] == [
        ACCOUNT_PW,
        "another-pw",
        ACCOUNT_PW,
    ]
    assert '# name = "parked"' in result.text  # disabled: kept, commented out
    assert "did not reconnect" in result.text
    assert "platforms[4] (rosey speaks only to CyTube)" in result.text
    assert "discord-token" not in result.text
    assert "another-pw" not in result.text


@pytest.mark.parametrize(
    ("user", "username", "has_password"),
    [
        (None, None, False),  # anonymous
        ("RoseyBot", "RoseyBot", False),  # guest with a name
        (["RoseyBot"], "RoseyBot", False),
        (["RoseyBot", ""], "RoseyBot", False),
        (["RoseyBot", ACCOUNT_PW], "RoseyBot", True),
    ],
)
def test_v1_user_shapes(user: Any, username: str | None, has_password: bool) -> None:
    old = {"domain": "cytu.be", "channel": "mychannel", "user": user}
    text = migrate(old)
    (ch,) = load_text(text).channels
    assert ch.site == "https://cytu.be"  # a bare host gets https://
    assert ch.username == username
    assert (ch.password is not None) == has_password
    assert ("password_env" in text) == has_password
    assert_no_secret(text)


@pytest.mark.parametrize(
    ("old", "message"),
    [
        ([], "expected a JSON object"),
        ({"channel": "x"}, "domain: expected the CyTube site"),
        ({"domain": "https://cytu.be"}, "channel: missing"),
        (
            {"domain": "https://cytu.be", "channel": "x", "user": ["a", ACCOUNT_PW, "extra"]},
            "user: expected a name or [name, password]",
        ),
        (
            {"domain": "https://cytu.be", "channel": ["x", 42]},
            "channel: expected a name or [name, password]",
        ),
        (
            {"domain": "https://cytu.be", "channel": "not a name!"},
            "channel[0].name: 'not a name!' is not a CyTube channel name",
        ),
        ({"version": "2.0", "platforms": []}, "platforms: expected a list"),
        (
            {"version": "2.0", "platforms": [{**V2["platforms"][0], "enabled": False}]},
            "no enabled CyTube platform",
        ),
        ({"version": "two", "platforms": []}, "version: expected a number"),
    ],
)
def test_unmigratable_configs_say_why_without_secrets(old: Any, message: str) -> None:
    with pytest.raises(LegacyConfigError) as e:
        migrate(old)
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    assert ACCOUNT_PW not in str(e.value)


def test_hostile_keys_and_values_cannot_inject_toml() -> None:
    old = {
        **V1,
        'evil\n[bot]\ncommand_prefix = "?"': 1,
        "chat_log_file": 'chat"\n[metrics]\nenabled = true\n#',
    }
    config = load_text(migrate(old))
    assert config.bot.command_prefix == "!"
    assert not config.metrics.enabled
    assert config.logging.chat_log == 'chat"\n[metrics]\nenabled = true\n#'


@given(st.text())
def test_strings_survive_toml(value: str) -> None:
    assert tomllib.loads(f"x = {_string(value)}")["x"] == value
    assert tomllib.loads(_comment(value) + "\n") == {}


# -- command line -----------------------------------------------------------------------------


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="rosey")
    add_config_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["config", *argv])
    code: int = args.func(args)
    return code


@pytest.fixture
def v1_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(V1, indent=2))
    return path


def test_cli_prints_toml_on_stdout_and_hints_on_stderr(
    v1_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert cli("migrate", str(v1_file)) == 0
    out, err = capsys.readouterr()
    assert_no_secret(out + err)
    assert "set ROSEY_PASSWORD to the password of the CyTube account" in err
    target = tmp_path / "rosey.toml"
    target.write_text(out)
    for var, value in ENV.items():
        monkeypatch.setenv(var, value)
    assert load(target).channels[0].name == "420Grindhouse"


def test_cli_refuses_to_overwrite_without_force(
    v1_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path / "rosey.toml"
    target.write_text("# mine\n")
    assert cli("migrate", str(v1_file), "-o", str(target)) == 1
    _, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert "--force" in err
    assert target.read_text() == "# mine\n"
    assert cli("migrate", str(v1_file), "-o", str(target), "--force") == 0
    assert target.read_text() == migrate(V1)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"domain": "https://cytu.be", "user": ["a", "acct-pw-7f3a"', "is not JSON"),
        ('{"channel": "x"}', "cannot migrate"),
        (None, "cannot read"),
    ],
)
def test_cli_errors_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    message: str,
) -> None:
    path = tmp_path / "old.json"
    if content is not None:
        path.write_text(content)
    assert cli("migrate", str(path)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("rosey: ")
    assert message in err
    assert ACCOUNT_PW not in err

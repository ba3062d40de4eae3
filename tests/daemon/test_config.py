"""Configuration: validation with key paths, defaults, and secrets that never show."""

from __future__ import annotations

import sys
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
    assert not config.manhole.enabled
    assert config.manhole.listen.endswith("interface=127.0.0.1")
    assert not config.metrics.enabled
    assert config.metrics.listen.endswith("interface=127.0.0.1")
    assert (config.logging.level, config.logging.format) == ("info", "text")


def test_password_from_env_is_hidden_in_repr() -> None:
    raw = {"channel": [{**MINIMAL["channel"][0], "username": "rosey", "password_env": "PW"}]}
    config = parse(raw, {"PW": "hunter2"})
    assert config.channels[0].password is not None
    assert config.channels[0].password.value == "hunter2"
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(config)


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
    assert "not valid TOML" in str(info.value)
    assert "\n" not in str(info.value)


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


def test_every_error_of_a_file_is_reported_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "rosey.toml"
    path.write_text(
        '[[channel]]\nsite = "cytu.be"\nname = "ok"\nnmae = "typo"\n'
        '[logging]\nlevel = "loud"\n'
        '[bot]\ncommand_prefix = "!"\n'
    )
    with pytest.raises(ConfigError) as info:
        load(path, {})
    assert sorted(info.value.errors) == [
        "channel[0].nmae: unknown key; did you mean 'name'? (expected one of site, name, "
        "username, password_env, password_file, eio, channel_password_env, "
        "channel_password_file, enable_plugins, disable_plugins)",
        "channel[0].site: 'cytu.be' is not an http(s):// URL",
        "logging.level: 'loud' is not one of debug, info, warn, error",
    ]
    text = str(info.value)
    assert text.startswith("3 problems:\n")
    assert text.count("\n") == 3  # one line each


def test_a_single_error_reads_as_before() -> None:
    with pytest.raises(ConfigError) as info:
        parse({**MINIMAL, "logging": {"level": "loud"}}, {})
    assert str(info.value) == "logging.level: 'loud' is not one of debug, info, warn, error"
    assert info.value.errors == (str(info.value),)


@pytest.mark.parametrize(
    ("table", "key", "suggestion"),
    [
        ("channel", "pasword_env", "password_env"),
        ("channel", "usernme", "username"),
        ("database", "url_evn", "url_env"),
        ("manhole", "host_keys", "host_key"),
        ("logging", "chatlog", "chat_log"),
    ],
)
def test_unknown_keys_suggest_the_near_miss(table: str, key: str, suggestion: str) -> None:
    raw: dict = {"channel": [dict(MINIMAL["channel"][0])]}
    if table == "channel":
        raw["channel"][0][key] = "x"
        where = "channel[0]"
    else:
        raw[table] = {key: "x"}
        where = table
    with pytest.raises(ConfigError) as info:
        parse(raw, {})
    assert str(info.value).startswith(
        f"{where}.{key}: unknown key; did you mean {suggestion!r}? (expected one of "
    )


def test_unknown_key_errors_never_offer_the_refused_password_keys() -> None:
    raw = {"channel": [{**MINIMAL["channel"][0], "passwd": "x", "chanel_password": "y"}]}
    with pytest.raises(ConfigError) as info:
        parse(raw, {})
    errors = info.value.errors
    assert len(errors) == 2
    for error in errors:
        offered = error.partition("(expected one of ")[2].rstrip(")").split(", ")
        assert "password" not in offered
        assert "channel_password" not in offered
        assert "password_env" in offered
        assert "channel_password_file" in offered
    assert "did you mean 'password_env'?" in errors[0]
    assert "did you mean 'channel_password_env'?" in errors[1]


def test_an_empty_secret_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    channel = {**MINIMAL["channel"][0], "username": "rosey", "password_env": "ROSEY_PASSWORD"}
    with pytest.raises(ConfigError) as info:
        parse({"channel": [channel]}, {"ROSEY_PASSWORD": ""})
    assert str(info.value) == (
        "channel[0].password_env: environment variable 'ROSEY_PASSWORD' is set but empty"
    )
    del channel["password_env"]
    channel["password_file"] = str(tmp_path / "empty")
    with pytest.raises(ConfigError) as info:
        parse({"channel": [channel]}, {})
    assert str(info.value) == (
        f"channel[0].password_file: secret file {str(tmp_path / 'empty')!r} is empty"
    )
    with pytest.raises(ConfigError, match=r"^database\.url: empty$"):
        parse({**MINIMAL, "database": {"url": ""}}, {})


def test_a_relative_password_file_outside_systemd_names_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    raw = {"channel": [{**MINIMAL["channel"][0], "username": "r", "password_file": "rosey-pw"}]}
    with pytest.raises(ConfigError) as info:
        parse(raw, {})
    assert str(info.value) == (
        "channel[0].password_file: cannot read secret file 'rosey-pw': No such file or "
        "directory; a relative name such as 'rosey-pw' is looked up in systemd's "
        "$CREDENTIALS_DIRECTORY (LoadCredential=), which is not set here: set "
        "CREDENTIALS_DIRECTORY or give an absolute path"
    )
    # Under systemd the same name is read from the credentials directory, with no such hint.
    with pytest.raises(ConfigError) as info:
        parse(raw, {"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")})
    assert "creds/rosey-pw" in str(info.value)
    assert "$CREDENTIALS_DIRECTORY" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("mysql://rosey:s3cret@db/rosey", "mysql"),
        ("mysql+pymysql://rosey:s3cret@db/rosey", "mysql+pymysql"),
        ("postgresql+psycopg2://rosey:s3cret@db/rosey", "postgresql+psycopg2"),
    ],
)
def test_an_unsupported_database_dialect_is_a_config_error(url: str, scheme: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse({**MINIMAL, "database": {"url_env": "DB"}}, {"DB": url})
    assert str(info.value) == (
        f"database.url: {scheme}:// is not supported (from $DB); rosey works with sqlite:// "
        "and postgresql:// (postgresql+psycopg://)"
    )


def test_a_database_url_that_is_no_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        parse({**MINIMAL, "database": {"url_env": "DB"}}, {"DB": "rosey:s3cret at db"})
    assert "s3cret" not in str(info.value)
    assert str(info.value).startswith("database.url: not a database URL")


def test_postgresql_without_its_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoPsycopg:
        @staticmethod
        def find_spec(name: str, path: object = None, target: object = None) -> None:
            if name == "psycopg":
                raise ModuleNotFoundError(name)

    monkeypatch.setattr(sys, "meta_path", [NoPsycopg(), *sys.meta_path])
    monkeypatch.delitem(sys.modules, "psycopg", raising=False)
    with pytest.raises(ConfigError) as info:
        parse({**MINIMAL, "database": {"url": "postgresql://rosey@db/rosey"}}, {})
    assert str(info.value) == (
        "database.url: PostgreSQL needs the psycopg driver, which is not installed: "
        "pip install 'rosey[postgresql]'"
    )


def test_supported_database_urls_pass() -> None:
    for url in ("sqlite:///rosey.sqlite", "postgresql://r@db/r", "postgresql+psycopg://r@db/r"):
        assert parse({**MINIMAL, "database": {"url": url}}, {}).database.url.value == url


def test_channel_secrets_can_be_left_unread_for_database_commands() -> None:
    channel = {
        **MINIMAL["channel"][0],
        "username": "rosey",
        "password_env": "ROSEY_PASSWORD",
        "channel_password_file": "/nonexistent/chanpw",
    }
    raw = {"channel": [channel], "database": {"url_env": "DB"}}
    config = parse(raw, {"DB": "sqlite:///x.sqlite"}, channel_secrets=False)
    assert config.channels[0].password is None
    assert config.channels[0].channel_password is None
    assert config.database.url.value == "sqlite:///x.sqlite"
    # The keys themselves are still checked.
    channel["password"] = "inline"
    with pytest.raises(ConfigError, match="set only one of"):
        parse(raw, {"DB": "sqlite:///x.sqlite"}, channel_secrets=False)


def test_twistd_rosey_prints_every_problem_before_the_reactor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rosey.daemon.tap import Options

    path = tmp_path / "rosey.toml"
    path.write_text('[[channel]]\nsite = "x"\nname = "a"\n[bot]\nprefix = "!"\n')
    with pytest.raises(SystemExit) as e:
        Options().parseOptions(["--config", str(path)])
    assert e.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "rosey: config error: 2 problems:",
        "  channel[0].site: 'x' is not an http(s):// URL",
        "  bot.prefix: unknown key; did you mean 'command_prefix'? (expected one of "
        "command_prefix)",
    ]

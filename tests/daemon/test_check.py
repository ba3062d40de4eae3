"""``rosey config check``: the effective configuration with secrets masked, or one error line."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import pytest

from rosey.daemon.check import add_config_parser, render
from rosey.daemon.config import parse

ACCOUNT_PW = "acct-pw-7f3a"
CHANNEL_PW = "chan-pw-91c2"
DB_PW = "db-pw-0c4e"
SSL_PW = "ssl-pw-e19d"


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="rosey")
    add_config_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["config", *argv])
    code: int = args.func(args)
    return code


@pytest.fixture
def secret_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ROSEY_PASSWORD", ACCOUNT_PW)
    monkeypatch.setenv(
        "ROSEY_DB",
        f"postgresql://rosey:{DB_PW}@db.internal/rosey?sslpassword={SSL_PW}&application_name=rosey",
    )
    (tmp_path / "chanpw").write_text(CHANNEL_PW + "\n")
    return tmp_path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rosey.toml"
    path.write_text(text)
    return path


def test_check_prints_effective_config_with_secrets_masked(
    secret_env: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(
        secret_env,
        f"""
[[channel]]
site = "https://cytu.be"
name = "mychannel"
username = "rosey"
password_env = "ROSEY_PASSWORD"
channel_password_file = "{secret_env / "chanpw"}"

[database]
url_env = "ROSEY_DB"

[metrics]
enabled = true
""",
    )
    assert cli("check", str(path)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    for secret in (ACCOUNT_PW, CHANNEL_PW, DB_PW, SSL_PW):
        assert secret not in out
    assert 'password = "<hidden, from $ROSEY_PASSWORD>"' in out
    assert f'channel_password = "<hidden, from {secret_env / "chanpw"}>"' in out
    # The database URL stays useful: only its password and password-like parameters go.
    assert (
        'url = "postgresql://rosey:***@db.internal/rosey'
        '?application_name=rosey&sslpassword=***"  # from $ROSEY_DB'
    ) in out
    # Defaults are filled in: this is the configuration the daemon will run with.
    assert 'listen = "tcp:9100:interface=127.0.0.1"' in out
    assert 'listen = "tcp:2222:interface=127.0.0.1"' in out
    assert 'command_prefix = "!"' in out
    assert "# host_key is not set" in out


def test_rendered_config_without_secrets_reads_back_as_toml() -> None:
    config = parse(
        {
            "channel": [
                {"site": "https://cytu.be", "name": "a"},
                {"site": "https://x.example", "name": "b", "eio": 3},
            ],
            "logging": {"chat_log": "/var/log/rosey/chat.log"},
        },
        {},
    )
    doc = tomllib.loads(render(config))
    assert [(c["site"], c["name"], c["eio"]) for c in doc["channel"]] == [
        ("https://cytu.be", "a", 4),
        ("https://x.example", "b", 3),
    ]
    assert doc["database"]["url"] == "sqlite:///rosey.sqlite"
    assert doc["logging"] == {
        "level": "info",
        "format": "text",
        "chat_log": "/var/log/rosey/chat.log",
    }
    assert doc["manhole"]["enabled"] is False


def test_unparseable_database_url_is_hidden_whole() -> None:
    config = parse(
        {"channel": [{"site": "https://cytu.be", "name": "a"}], "database": {"url_env": "U"}},
        {"U": "postgresql://rosey:s3cret@db.internal:notaport/rosey"},
    )
    out = render(config)
    assert "s3cret" not in out
    assert 'url = "<hidden, from $U>"' in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[channel]]\nsite = "https://cytu.be"\nname = "x"\nnmae = "y"\n',
            "channel[0].nmae: unknown key",
        ),
        (
            '[[channel]]\nsite = "https://cytu.be"\nname = "x"\nusername = "r"\n'
            'password_env = "ROSEY_UNSET_PW"\n',
            "channel[0].password_env: environment variable 'ROSEY_UNSET_PW' is not set",
        ),
        ("[[channel]\nsite = 1\n", "not valid TOML"),
        (None, "cannot read config file"),
    ],
)
def test_broken_file_exits_1_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str | None,
    message: str,
) -> None:
    path = tmp_path / "rosey.toml"
    if text is not None:
        path.write_text(text)
    assert cli("check", str(path)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("rosey: config error: ")
    assert message in err


def test_config_needs_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli()
    assert e.value.code == 2
    assert "check" in capsys.readouterr().err


def test_check_takes_config_like_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[[channel]]\nsite = "https://cytu.be"\nname = "x"\n')
    for argv in (["--config", str(path)], ["-c", str(path)], [str(path)]):
        assert cli("check", *argv) == 0
        assert capsys.readouterr().out.startswith(f"# {path}: valid.")
    monkeypatch.chdir(tmp_path)  # like `rosey run`, the default is ./rosey.toml
    assert cli("check") == 0
    assert capsys.readouterr().out.startswith("# rosey.toml: valid.")
    with pytest.raises(SystemExit):
        cli("check", str(path), "--config", str(path))


def test_check_prints_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        '[[channel]]\nsite = "https://cytu.be"\nname = "bad name"\nusername = "r"\n'
        'password = "hunter2"\n'
        '[database]\nurl = "mysql://rosey:db-s3cret@localhost/rosey"\n'
        "[metrics]\nenabeld = true\n",
    )
    assert cli("check", "--config", str(path)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "hunter2" not in err
    assert "db-s3cret" not in err
    assert err.splitlines() == [
        "rosey: config error: 4 problems:",
        "  channel[0].name: 'bad name' is not a CyTube channel name ([A-Za-z0-9_-], 1-30)",
        "  channel[0].password: secrets are not written in the config; use password_env or "
        "password_file",
        "  database.url: mysql:// is not supported (from config); rosey works with sqlite:// "
        "and postgresql:// (postgresql+psycopg://)",
        "  metrics.enabeld: unknown key; did you mean 'enabled'? (expected one of enabled, listen)",
    ]

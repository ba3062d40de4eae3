"""The ``rosey`` command (rosey/cli.py): ``run`` and ``db --config``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rosey.cli import main


def test_db_commands_with_config_need_no_chat_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "rosey.sqlite"
    config = tmp_path / "rosey.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n'
        '[[channel]]\nsite = "https://cytu.be"\nname = "one"\nusername = "rosey"\n'
        'password_env = "ROSEY_PASSWORD"\nchannel_password_file = "chan-pw"\n'
    )
    monkeypatch.delenv("ROSEY_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert main(["db", "current", "--config", str(config)]) == 0
    assert capsys.readouterr().out == "<base> (empty (run `rosey db upgrade`))\n"
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert main(["db", "current", "-c", str(config)]) == 0
    assert capsys.readouterr().out.endswith(" (head)\n")
    # The daemon itself does need it.
    assert main(["config", "check", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "channel[0].password_env: environment variable 'ROSEY_PASSWORD' is not set" in err


def test_db_commands_refuse_a_bot_in_service_mode_and_check_says_whose_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bot with ``[database] mode = "service"`` has no database: ``rosey db upgrade`` with its
    file must not create the default SQLite file beside it, and ``config check`` must not show
    that default as its URL."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "rosey.toml"
    config.write_text(
        '[database]\nmode = "service"\n[bus]\nurl = "nats://127.0.0.1:4222"\n'
        '[[channel]]\nsite = "https://cytu.be"\nname = "one"\n'
    )
    for command in ("upgrade", "current", "prune"):
        assert main(["db", command, "--config", str(config)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"rosey db {command}: {config} has no database of its own"), err
    assert list(tmp_path.iterdir()) == [config]  # no rosey.sqlite
    assert main(["config", "check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert '# url: the database service\'s (mode = "service")' in out
    assert "sqlite" not in out


def test_db_with_a_broken_config_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "rosey.toml"
    config.write_text('[database]\nurl = "mysql://x@y/z"\n[[channel]]\nsite = "x"\nname = "a"\n')
    assert main(["db", "current", "--config", str(config)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "rosey db current: config error: 2 problems:",
        "  channel[0].site: 'x' is not an http(s):// URL",
        "  database.url: mysql:// is not supported (from config); rosey works with sqlite:// "
        "and postgresql:// (postgresql+psycopg://)",
    ]


def test_run_without_twistd_beside_the_interpreter_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    monkeypatch.setattr(sys, "executable", str(python))
    assert main(["run", "--config", "rosey.toml"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"rosey run: cannot start {tmp_path}/bin/twistd: No such file or directory; install "
        f"rosey (and Twisted) into the environment of {python}, or run "
        "`twistd -n rosey --config FILE`"
    ]


def test_run_picks_the_asyncio_reactor_for_the_bus(tmp_path: Path) -> None:
    from rosey.cli import twistd_argv

    plain, bus, broken = tmp_path / "plain.toml", tmp_path / "bus.toml", tmp_path / "bad.toml"
    plain.write_text('[[channel]]\nsite = "https://cytu.be"\nname = "a"\n')
    bus.write_text(plain.read_text() + '[bus]\nurl = "nats://127.0.0.1:4222"\n')
    broken.write_text("[bus\n")
    twistd = tmp_path / "twistd"
    tail = ["--nodaemon", "--pidfile=", "rosey", "--config"]
    assert twistd_argv(twistd, str(plain)) == [str(twistd), *tail, str(plain)]
    assert twistd_argv(twistd, str(bus)) == [str(twistd), "--reactor=asyncio", *tail, str(bus)]
    assert twistd_argv(twistd, str(broken)) == [str(twistd), *tail, str(broken)]
    assert twistd_argv(twistd, str(tmp_path / "missing.toml"))[1] == "--nodaemon"

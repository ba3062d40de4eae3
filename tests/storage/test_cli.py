"""``rosey db upgrade|downgrade|current|history`` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rosey.storage import schema

REPO = Path(__file__).resolve().parents[2]


def db(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ROSEY_DATABASE_URL"}
    env["PYTHONPATH"] = str(REPO)
    if url:
        env["ROSEY_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "rosey.storage.cli", "db", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_db_commands(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    r = db("current", "--url", url)
    assert (r.returncode, r.stdout) == (0, "<base> (empty (run `rosey db upgrade`))\n")
    assert not (tmp_path / "cli.sqlite").exists()  # looking never creates the file

    head = schema.head()
    r = db("upgrade", url=url)  # the URL from $ROSEY_DATABASE_URL
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{url}: <base> -> {head}\n", r.stderr
    assert db("upgrade", "--url", url).stdout == f"{url}: already at {head}\n"
    assert db("current", "--url", url).stdout == f"{head} (head)\n"

    r = db("downgrade", "0001", "--url", url)
    assert r.returncode == 0
    assert r.stdout == f"{url}: {head} -> 0001\n"
    assert db("current", "--url", url).stdout == f"0001 (behind head {head})\n"
    assert schema.current(url) == "0001"

    r = db("history")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("<base> -> 0001: ")
    assert lines[1].startswith("0001 -> 0002: ")
    assert lines[-1].startswith(f"-> {head} (head): ", lines[-1].index(" ") + 1)


def test_db_failures_are_one_line_and_exit_1(tmp_path):
    r = db("upgrade", "--url", f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.sqlite'}")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith("rosey db upgrade: error: ")
    r = db("downgrade", "nonsense", "--url", f"sqlite:///{tmp_path / 'x.sqlite'}")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1
    r = db("upgrade", "--url", "postgresql://rosey:hunter2@127.0.0.1:1/rosey")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1
    assert "hunter2" not in r.stderr
    assert "***" in r.stderr

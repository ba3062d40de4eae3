"""``rosey --version`` and ``twistd rosey --version`` print rosey's version and exit 0."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import rosey
import twisted
from rosey.cli import main
from tests.daemon.test_twistd import REPO, TWISTD, environment

PYTHON, TWISTED = platform.python_version(), twisted.__version__
EXPECTED = f"rosey {rosey.__version__} (Python {PYTHON}, Twisted {TWISTED})"


def test_version_is_the_changelogs_latest_release() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", rosey.__version__)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["dynamic"] == ["version"]
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{rosey.__version__}]" in changelog


def test_rosey_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == EXPECTED + "\n"


def test_twistd_rosey_version_needs_no_config(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(TWISTD), "rosey", "--version"],
        env=environment(),
        cwd=tmp_path,  # no rosey.toml here
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, EXPECTED + "\n", "")


def test_console_script_version() -> None:
    script = Path(sys.executable).with_name("rosey")
    if not script.exists():
        pytest.skip("rosey is not installed in this virtualenv (run .ci/run)")
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, env=environment()
    )
    assert (result.returncode, result.stdout) == (0, EXPECTED + "\n")

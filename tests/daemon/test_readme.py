"""The README's first command works exactly as written (its install part is what .ci/run does;
this test runs its run part from the same virtualenv, against the local peer)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_twisted

from tests.daemon.test_twistd import PASSWORD, REPO, Output, environment
from tests.peers.cytube import CyTubePeer, lab_accounts

README = (REPO / "README.md").read_text(encoding="utf-8")


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", README, flags=re.S)


def test_readme_has_the_two_commands() -> None:
    install_and_run, tests = readme_commands()[:2]
    assert install_and_run.startswith("python3 -m venv .venv && .venv/bin/pip install . && ")
    assert tests == "bash .ci/run"
    assert "python -m pytest" in Path(REPO / ".ci/run").read_text()


@pytest_twisted.async_yield_fixture()
async def peer() -> AsyncIterator[CyTubePeer]:
    p = CyTubePeer("labchan", accounts=lab_accounts(PASSWORD), connect_capacity=100).start()
    yield p
    p.stop()


@pytest_twisted.ensureDeferred
async def test_readme_run_command_joins_and_stops_cleanly(tmp_path: Path, peer: CyTubePeer) -> None:
    import sys

    from twisted.internet import reactor

    run = readme_commands()[0].split(" && ")[-1]
    venv = Path(sys.executable).parent.parent
    if not (venv / "bin" / "rosey").exists():
        pytest.skip("rosey is not installed in this virtualenv (run .ci/run)")
    (tmp_path / ".venv").symlink_to(venv)
    example = (REPO / "rosey.example.toml").read_text()
    config = (
        example.replace('"https://cytu.be"', f'"{peer.site}"')
        .replace('name = "mychannel"', 'name = "labchan"')
        .replace('# username = "rosey"', 'username = "labbot"')
        .replace('# password_env = "ROSEY_PASSWORD"', 'password_env = "ROSEY_PASSWORD"')
    )
    (tmp_path / "rosey.toml").write_text(config)
    out = Output()
    process = reactor.spawnProcess(
        out, "/bin/sh", ["/bin/sh", "-c", f"exec {run}"], env=environment(), path=str(tmp_path)
    )
    try:
        await peer.when(lambda p: "labbot" in p.users, timeout=20)
    finally:
        if not out.ended.called:
            process.signalProcess("TERM")
    assert await out.ended.addTimeout(20, reactor) == 0, out.text
    assert (tmp_path / "rosey.sqlite").exists()

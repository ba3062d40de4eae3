"""Running an example the way its README says, against the local socket.io peer.

:class:`ExampleRun` copies ``examples/NAME`` into ``tmp_path/examples/NAME`` with the channel's
``site`` and ``name`` pointed at the peer (nothing else in the config changes), then runs the
README's ``rosey run --config …`` command in ``tmp_path`` (so relative paths in the config,
drop-in plugin directories, log files and SQLite files resolve as they would in the repository
root). ``rosey run`` replaces itself with ``twistd``; the test talks to the daemon only through
the peer, its output, the systemd notification socket and the files it writes.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

from twisted.internet.defer import maybeDeferred
from twisted.internet.interfaces import IReactorUNIXDatagram

from tests.daemon.test_twistd import PASSWORD, REPO, Notifications, Output, environment
from tests.peers.cytube import CyTubePeer
from tests.waiting import eventually

EXAMPLES = REPO / "examples"
CHANNEL = "labchan"

__all__ = ["CHANNEL", "EXAMPLES", "PASSWORD", "ExampleRun", "readme_command"]


def readme_command(name: str) -> list[str]:
    """The ``sh`` command of ``examples/NAME/README.md``, as argv (it must be ``rosey run``)."""
    readme = (EXAMPLES / name / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.+?)\n```", readme, flags=re.S)
    assert len(blocks) == 1, f"examples/{name}/README.md should have one sh command"
    argv = blocks[0].split()
    assert argv[:2] == ["rosey", "run"], blocks[0]
    return argv


class ExampleRun:
    """One example's daemon (see the module docs)."""

    def __init__(self, name: str, tmp_path: Path, peer: CyTubePeer) -> None:
        self.name = name
        self.root = tmp_path
        self.peer = peer
        self.argv = readme_command(name)
        config = self.argv[self.argv.index("--config") + 1]
        assert config == f"examples/{name}/rosey.toml", config
        self.dir = tmp_path / "examples" / name
        shutil.copytree(
            EXAMPLES / name,
            self.dir,
            ignore=shutil.ignore_patterns("dropin.cache", "__pycache__", "*.sqlite", "*.log"),
        )
        self.config = self.dir / "rosey.toml"
        text = self.config.read_text(encoding="utf-8")
        text, sites = re.subn(r'(?m)^site = "[^"]*"', f'site = "{peer.site}"', text)
        text, names = re.subn(r'(?m)^name = "[^"]*"', f'name = "{CHANNEL}"', text)
        assert sites == names == 1, "one [[channel]] with a site and a name"
        self.config.write_text(text, encoding="utf-8")
        self.out = Output()
        self.notify = Notifications()
        self.process: Any = None
        self.runs = 0

    def username(self) -> str | None:
        """The example's bot account (from its config), None for an anonymous bot."""
        match = re.search(r'(?m)^username = "([^"]*)"', self.config.read_text(encoding="utf-8"))
        return match[1] if match else None

    def path(self, relative: str) -> Path:
        """A file the daemon writes, relative to where it runs."""
        return self.root / relative

    async def start(self, timeout: float = 30.0) -> None:
        """Run the README's command; returns once the daemon told systemd that it joined."""
        from twisted.internet import reactor

        self.runs += 1
        self.out = Output()
        self.notify = Notifications()
        socket = str(self.root / f"notify-{self.runs}.sock")
        self._listening = IReactorUNIXDatagram(reactor).listenUNIXDatagram(
            socket, self.notify, 8192, 0o666
        )
        env = {**environment(), "NOTIFY_SOCKET": socket}
        argv = [sys.executable, "-m", "rosey.cli", *self.argv[1:]]
        self.process = reactor.spawnProcess(self.out, argv[0], argv, env=env, path=str(self.root))
        try:
            await eventually(
                lambda: any("READY=1" in m for m in self.notify.messages) or self.out.ended.called,
                timeout,
            )
        except Exception:
            raise AssertionError(f"the daemon did not get ready:\n{self.out.text}") from None
        ready = next((m for m in self.notify.messages if "READY=1" in m), "")
        assert "1/1 channels joined" in ready, f"{ready!r}\n{self.out.text}"

    async def stop(self) -> int:
        """SIGTERM; the exit status (the daemon's output is in :attr:`out`)."""
        from twisted.internet import reactor

        if self.process is None:
            return 0
        if not self.out.ended.called:
            self.process.signalProcess("TERM")
        try:
            status: int = await self.out.ended.addTimeout(30, reactor)
        finally:
            await maybeDeferred(self._listening.stopListening)
            self.process = None
        assert PASSWORD not in self.out.text
        assert "Traceback" not in self.out.text, self.out.text
        return status

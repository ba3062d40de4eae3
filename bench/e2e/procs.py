"""Child processes with bounded waits, and what the orchestrator reads from the outside.

Every :class:`Child` is remembered until it has exited, and :func:`cleanup` ends the ones still
running (by their own pid: SIGTERM, then SIGKILL), so a failed run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
_children: list[Child] = []


class BenchError(RuntimeError):
    """The run cannot go on (a wait timed out, a process died, a count is off)."""


def environment(**extra: str) -> dict[str, str]:
    """The environment for children: the repository importable, no stray ROSEY_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROSEY", "NOTIFY_SOCKET"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


class Child:
    """A subprocess. With ``lines=True`` its stdout is read as JSON lines by a thread."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        lines: bool = False,
        output: IO[bytes] | None = None,
    ) -> None:
        self.name = name
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.text: list[str] = []
        self.proc = subprocess.Popen(
            argv,
            env=env or environment(),
            cwd=cwd or REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if lines else (output or subprocess.DEVNULL),
            stderr=subprocess.STDOUT if output is not None or lines else subprocess.DEVNULL,
        )
        _children.append(self)
        if lines:
            threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.text.append(line)
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    self.events.put(json.loads(line))

    def expect(
        self, kind: str, timeout: float, where: Callable[[dict[str, Any]], bool] | None = None
    ) -> dict[str, Any]:
        """The next JSON line with ``"event": kind`` (others are skipped), within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                tail = "\n".join(self.text[-5:])
                raise BenchError(f"{self.name}: no {kind!r} within {timeout:g} s\n{tail}")
            try:
                event = self.events.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None and self.events.empty():
                    tail = "\n".join(self.text[-5:])
                    raise BenchError(
                        f"{self.name} exited ({self.proc.returncode}) before {kind!r}\n{tail}"
                    ) from None
                continue
            if event.get("event") == "error":
                raise BenchError(f"{self.name}: {event.get('message')}")
            if event.get("event") == kind and (where is None or where(event)):
                return event

    def send(self, line: str) -> None:
        """One command line on the child's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait up to ``timeout`` s for the exit status (SIGKILL after that)."""
        if self.alive():
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise BenchError(f"{self.name} did not exit within {timeout:g} s of {sig}") from None
        finally:
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()
            if self in _children and not self.alive():
                _children.remove(self)


def cleanup() -> None:
    """End every child still running (the ones this process started, by pid)."""
    for child in list(_children):
        with contextlib.suppress(BenchError):
            child.stop(signal.SIGTERM, timeout=5)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def memory(pid: int) -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of a process, in MB (10^6 bytes)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024 / 1e6
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The direct children of a process."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def settled_rss(pid: int, timeout: float = 8.0, least: float = 1.5) -> float:
    """RSS in MB once it stops moving (two samples 0.25 s apart within 0.1 MB), after at
    least ``least`` s; the last sample when ``timeout`` runs out."""
    start = time.monotonic()
    last = memory(pid)["VmRSS"]
    while time.monotonic() - start < timeout:
        time.sleep(0.25)
        now = memory(pid)["VmRSS"]
        if abs(now - last) < 0.1 and time.monotonic() - start >= least:
            return now
        last = now
    return last


_SAMPLE = re.compile(r'^rosey_events_in_total\{channel="([^"]*)",event="([^"]*)"\} (\S+)$')


def events_in(port: int, timeout: float = 5.0) -> dict[str, float]:
    """``rosey_events_in_total`` from the daemon's ``/metrics``, summed over channels by event."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = response.read().decode()
    out: dict[str, float] = {}
    for line in body.splitlines():
        m = _SAMPLE.match(line)
        if m:
            out[m.group(2)] = out.get(m.group(2), 0.0) + float(m.group(3))
    return out


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_sums(port: int, names: tuple[str, ...], timeout: float = 5.0) -> dict[str, float]:
    """The sum of each metric in ``names`` over its labels, from the daemon's ``/metrics``
    (a name absent from the page is absent from the answer)."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = response.read().decode()
    out: dict[str, float] = {}
    for line in body.splitlines():
        m = _NAME.match(line)
        if m and m.group(0) in names:
            name = m.group(0)
            out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def run_bench(
    name: str, keep: bool, measure: Callable[[Path], Any], report: Callable[[Any], bool]
) -> int:
    """Run ``measure(tmp)`` in a fresh temporary directory, end every child process whatever
    happens, then ``report`` its result: the exit status (0 met, 1 missed, 2 the run failed)."""
    # SIGTERM unwinds like Ctrl-C, so the finally below still ends every child process.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    tmp = Path(tempfile.mkdtemp(prefix=f"rosey-{name}-"))
    started = time.monotonic()
    try:
        result = measure(tmp)
    except BenchError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    finally:
        cleanup()
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    ok = report(result)
    print(f"\n(run took {time.monotonic() - started:.0f} s)")
    return 0 if ok else 1

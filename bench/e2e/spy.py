"""Where the daemon's time goes under load: py-spy on the twistd process, every thread.

Optional (``--py-spy FILE``): py-spy is not a dependency of rosey; install it with
``pip install py-spy``. py-spy samples from outside the process, so unlike cProfile it neither
slows the daemon down much nor misses the database thread. The raw output (collapsed stacks)
is summarised per thread: share of samples, top functions by own time and by inclusive time.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path

from bench.e2e import procs

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
_THREAD = re.compile(r"^thread \((?:0x)?(?P<tid>[0-9a-fA-F]+)\)$")


def available() -> str | None:
    """The py-spy executable (next to this Python, or on PATH), or None."""
    beside = Path(procs.PYTHON).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start(pid: int, out: Path, rate: int = 250) -> procs.Child:
    """Start sampling ``pid`` (every thread, only while it holds the GIL) into ``out`` (raw)."""
    exe = available()
    if exe is None:
        raise procs.BenchError("--py-spy: py-spy is not installed (pip install py-spy)")
    argv = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(out),
        "--threads",
        "--function",
        "--nonblocking",
        "--gil",
    ]
    out.unlink(missing_ok=True)
    return procs.Child("py-spy", argv, lines=True)  # lines: keeps its messages for errors


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m.group('func')} ({path})"


def _thread(label: str, pid: int) -> str:
    m = _THREAD.match(label)
    if m and m.group("tid") == str(pid):
        return "main thread (reactor)"
    return f"{label} (a thread pool thread)" if m else label


def summarize(raw: Path, pid: int, top: int = 12) -> list[str]:
    """Per thread: its share of all samples, top own-time functions, top inclusive rosey ones."""
    threads: dict[str, Counter[str]] = defaultdict(Counter)
    inclusive: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for line in raw.read_text("utf-8", "replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread, frames = _thread(frames[0], pid), [_short(f) for f in frames[1:]]
        totals[thread] += count
        if frames:
            threads[thread][frames[-1]] += count
        for f in set(frames):
            inclusive[thread][f] += count
    all_samples = sum(totals.values()) or 1
    out = []
    for thread, n in totals.most_common():
        if n < all_samples * 0.02:
            continue
        out.append(f"{thread}: {n / all_samples:.0%} of samples")
        out.append("  own time:")
        out += [f"    {c / n:6.1%}  {f}" for f, c in threads[thread].most_common(top)]
        out.append("  inclusive (rosey's functions):")
        ours = [(f, c) for f, c in inclusive[thread].most_common() if "(rosey/" in f]
        out += [f"    {c / n:6.1%}  {f}" for f, c in ours[:top]]
    return out

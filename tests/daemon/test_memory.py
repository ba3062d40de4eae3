"""Memory handed back to the system after the join bursts (:mod:`rosey.daemon.memory`)."""

from __future__ import annotations

import platform
import sys

from rosey.daemon import memory


def test_release_memory_works_on_glibc() -> None:
    glibc = sys.platform.startswith("linux") and "glibc" in " ".join(platform.libc_ver())
    assert memory.release_memory() is glibc

"""Giving memory back after a channel's join burst.

A join burst is one big frame (a playlist of thousands of items is about 1 MB of JSON) parsed
into short-lived objects. Python frees them, but glibc keeps the freed pages in its heap (its
mmap threshold grows after the first big free), so the daemon's RSS stays at the burst's peak.
:func:`release_memory` asks glibc to hand free pages back (``malloc_trim``); on other C
libraries and platforms it does nothing. :func:`settle` also moves everything alive after
start-up out of the garbage collector's reach (``gc.freeze``), so the full collections that
the event stream triggers no longer walk the modules, the mirrors and the playlists.
"""

from __future__ import annotations

import ctypes
import gc
import sys
from collections.abc import Callable

__all__ = ["release_memory", "settle"]


def _find_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own symbols: libc's
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_trim = _find_trim()


def release_memory() -> bool:
    """Return the C heap's free pages to the OS; False where that is not possible."""
    if _trim is None:
        return False
    _trim(0)
    return True


def settle() -> None:
    """After start-up: collect, freeze what is alive, give free memory back."""
    gc.collect()
    gc.freeze()
    release_memory()

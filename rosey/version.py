"""What ``rosey --version`` and ``twistd rosey --version`` print."""

from __future__ import annotations

import platform

from rosey import __version__


def version_line() -> str:
    """``rosey 0.2.0 (Python 3.11.7, Twisted 26.10.0)``."""
    import twisted

    return (
        f"rosey {__version__} (Python {platform.python_version()}, Twisted {twisted.__version__})"
    )

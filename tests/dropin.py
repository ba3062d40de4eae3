"""The ``dropin`` fixture: a plugin drop-in directory that leaves no trace in ``rosey.plugins``
(registered by the conftest of each test package that uses it)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import rosey.plugins


class DropIn:
    """A drop-in plugin directory: :meth:`write` puts a module file in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()

    def write(self, module: str, source: str) -> Path:
        """Write ``module``.py (``source`` is dedented) and return its path."""
        target = self.path / f"{module}.py"
        target.write_text(textwrap.dedent(source))
        return target


@pytest.fixture
def dropin(tmp_path: Path) -> Iterator[DropIn]:
    """An empty drop-in directory; afterwards it leaves the package path and its modules
    leave ``sys.modules``."""
    d = DropIn(tmp_path / "dropin")
    path = list(rosey.plugins.__path__)
    yield d
    rosey.plugins.__path__[:] = path
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None) or ""
        if name.startswith("rosey.plugins.") and where.startswith(str(d.path)):
            del sys.modules[name]
            if hasattr(rosey.plugins, name.rpartition(".")[2]):
                delattr(rosey.plugins, name.rpartition(".")[2])

"""The optional dependencies (extras) name the extra that installs them when they are missing."""

from __future__ import annotations

import sys
import tomllib

import pytest

from rosey.storage.engine import make_engine
from rosey.storage.errors import StorageError
from tests.daemon.test_twistd import REPO


def test_default_install_leaves_out_the_optional_drivers() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    required = " ".join(project["dependencies"])
    extras = project["optional-dependencies"]
    for name, extra in (("psycopg", "postgresql"), ("markovify", "markov")):
        assert name not in required
        assert any(req.startswith(name) for req in extras[extra])
    assert any(f"rosey[{'postgresql,markov'}]" in req for req in extras["test"])


def test_postgresql_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
    with pytest.raises(StorageError, match=r"pip install 'rosey\[postgresql\]'"):
        make_engine("postgresql://rosey@127.0.0.1:9/rosey")


def test_markov_plugin_without_markovify_is_skipped_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rosey.daemon.plugin_discovery import discover

    monkeypatch.setitem(sys.modules, "markovify", None)
    for module in ("rosey.plugins.markov", "rosey.plugins.markov_model"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    found = discover()
    assert "markov" not in found.factories
    assert "core" in found.factories
    (why,) = (why for module, why in found.failed.items() if "markov" in module)
    assert "pip install 'rosey[markov]'" in why

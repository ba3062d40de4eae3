"""The plugin author's guide's example (docs/example_plugin) and its own tests, run in the suite.

The example's tests import ``hello`` as a top-level module, as they do when an author runs
``pytest`` in the plugin's folder; here that folder is put on ``sys.path`` first.
"""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example_plugin"
if str(EXAMPLE) not in sys.path:
    sys.path.append(str(EXAMPLE))

from test_hello import (  # type: ignore[import-not-found]  # noqa: E402
    room,
    test_hello_counts_per_user_and_forgets_after_remember_days,
    test_settings_have_defaults_and_errors_name_the_key,
    test_stop_takes_the_command_and_the_handler_away,
    test_waves_back_at_live_lines_only,
)

from rosey.daemon.plugin_discovery import discover  # noqa: E402
from tests.dropin import DropIn  # noqa: E402

__all__ = [
    "room",
    "test_hello_counts_per_user_and_forgets_after_remember_days",
    "test_settings_have_defaults_and_errors_name_the_key",
    "test_stop_takes_the_command_and_the_handler_away",
    "test_waves_back_at_live_lines_only",
]


def test_the_example_is_one_file_to_drop_in(dropin: DropIn) -> None:
    dropin.write("hello", (EXAMPLE / "hello.py").read_text())
    found = discover([str(dropin.path)])
    assert found.modules["hello"] == "rosey.plugins.hello"
    factory = found.factories["hello"]
    assert factory.default_enabled
    assert factory.description
    assert factory.parse_config({"greeting": "Hi"}).greeting == "Hi"


def test_the_example_uses_only_the_documented_api() -> None:
    import ast

    tree = ast.parse((EXAMPLE / "hello.py").read_text())
    used = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    documented = {"rosey", "rosey.api", "rosey.plugin", "rosey.events", "rosey.plugins.support"}
    assert {m for m in used if m.startswith("rosey")} <= documented

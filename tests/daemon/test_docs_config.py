"""docs/config.md documents every key the configuration accepts.

The accepted keys are not listed here: they are recorded from the parser itself (every key the
config reader was asked for and every ``only(...)`` of the plugins' ``Settings``, while a
configuration that enables every built-in plugin is parsed), so a key added to the code without
a line in the reference fails this test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pytest

from rosey.daemon import config as config_module
from rosey.daemon import plugin_config
from rosey.daemon.config_reader import Problems
from rosey.daemon.plugin_discovery import discover
from rosey.plugin import Settings
from tests.daemon.test_twistd import REPO

DOC = (REPO / "docs" / "config.md").read_text(encoding="utf-8")


def accepted_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[str, ...]]:
    """Table path (``""`` for the top level, ``channel``, ``plugins.fun``…) -> its keys."""
    seen: dict[str, tuple[str, ...]] = {}

    def record(path: str, allowed: Iterable[str]) -> None:
        path = re.sub(r"\[\d+\]", "", path)  # channel[0] -> channel
        seen[path] = tuple(dict.fromkeys(seen.get(path, ()) + tuple(allowed)))

    real_check = Problems.check_unknown_keys

    def check_unknown_keys(self: Problems) -> None:
        # Every reader's keys, once every table has been read: the keys it may suggest
        # (``password`` is read, then refused: it is not offered, nor documented as a key),
        # less its sub-tables, which have their own headings.
        for reader in self._readers:
            offered = [k for k, show in reader._known.items() if show]
            tables = () if reader.path == "" else tuple(reader._tables)
            record(reader.path, [k for k in offered if k not in tables])
        real_check(self)

    real_only = Settings.only

    def only(self: Any, *allowed: str) -> None:
        record(self.path, allowed)
        real_only(self, *allowed)

    monkeypatch.setattr(Problems, "check_unknown_keys", check_unknown_keys)
    monkeypatch.setattr(Settings, "only", only)
    found = discover()
    raw = {
        "channel": [{"site": "https://cytu.be", "name": "mychannel"}],
        "plugins": {"enable": sorted(found.factories)},
    }
    config_module.parse(raw, {}, plugins=found)
    seen["plugins"] = plugin_config._KEYS
    return seen


def section(table: str) -> str:
    """The text under the heading that names ``[table]`` (or ``[[table]]``), up to the next
    heading."""
    heading = re.compile(rf"^#+ .*`\[\[?{re.escape(table)}\]?\]`.*$", re.M)
    match = heading.search(DOC)
    assert match, f"docs/config.md has no heading for [{table}]"
    following = re.compile(r"^#+ ", re.M).search(DOC, match.end())
    return DOC[match.end() : following.start() if following else len(DOC)]


def undocumented(keys: dict[str, tuple[str, ...]]) -> list[str]:
    """The ``table.key`` paths that docs/config.md does not name in the table's section."""
    missing = []
    for table, names in sorted(keys.items()):
        if table == "":  # the top-level tables: each has its own heading
            for name in names:
                section(name)
            continue
        text = section(table)
        missing += [f"{table}.{name}" for name in names if f"`{name}`" not in text]
    return missing


def test_every_accepted_key_is_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = accepted_keys(monkeypatch)
    # The recording saw the parser's tables and every built-in plugin with settings.
    assert {"", "channel", "database", "manhole", "logging", "plugins.fun"} <= set(keys)
    assert {"plugins.greetings", "plugins.moderation", "plugins.playlist"} <= set(keys)
    assert "password_env" in keys["channel"]
    assert undocumented(keys) == []


def test_an_undocumented_key_is_noticed() -> None:
    keys = {"": ("bot",), "bot": ("command_prefix", "undocumented_key")}
    assert undocumented(keys) == ["bot.undocumented_key"]
    with pytest.raises(AssertionError, match="no heading for"):
        undocumented({"": ("nosuchtable",)})


def test_every_built_in_plugin_has_a_section() -> None:
    for name in discover().factories:  # no drop-in dirs: the built-in plugins
        assert re.search(rf"^### .*\b{name}\b", DOC, re.M), name


def test_example_config_points_at_the_reference() -> None:
    example = (REPO / "rosey.example.toml").read_text(encoding="utf-8")
    header = example.split("\n\n")[0]
    assert "docs/config.md" in header
    assert "rosey config check" in header
    assert "twistd" not in header  # running the bot is not how a config is checked

"""The plugin API (:mod:`rosey.api`): its one implementation provides it, and plugins use nothing
else of the bot (no import of the Bot, of the no-op storage, or of another plugin's module, and
no import cycle between the bot and the plugins)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from zope.interface.verify import verifyObject

import rosey
from rosey import events
from rosey.api import (
    IChannelView,
    IKeyValue,
    IPlaylistView,
    IPluginAPI,
    IUsersView,
    command,
)
from rosey.api_impl import PluginAPI
from rosey.storage.interface import IStorage
from rosey.storage.noop import NoopStorage
from rosey.storage.sql import SQLStorage
from tests.plugins.lab import ME, Lab

ROOT = Path(rosey.__file__).parent


def test_plugin_api_provides_the_interface_and_its_parts() -> None:
    lab = Lab()
    api = PluginAPI(lab.bot, "probe", settings={"a": 1})
    assert verifyObject(IPluginAPI, api)
    assert verifyObject(IChannelView, api.channel)
    assert verifyObject(IUsersView, api.channel.users)
    assert verifyObject(IPlaylistView, api.channel.playlist)
    assert verifyObject(IKeyValue, api.kv)
    assert api.name == "probe"
    assert api.settings == {"a": 1}
    assert api.kv.namespace == "probe"
    assert api.prefix == "!"
    assert api.max_line_length == lab.bot.queue.max_length
    assert api.storage_key == "labchan"


def test_persistent_is_an_attribute_of_storage_not_a_type_test(tmp_path: Path) -> None:
    noop = NoopStorage()
    assert verifyObject(IStorage, noop)
    assert noop.persistent is False
    assert SQLStorage.persistent is True
    assert PluginAPI(Lab().bot, "probe").persistent is False
    assert PluginAPI(Lab(storage=noop).bot, "probe").persistent is False


def test_the_channel_view_follows_the_mirror() -> None:
    lab = Lab()
    channel = PluginAPI(lab.bot, "probe").channel
    assert not channel.logged_in
    assert not channel.ready
    assert channel.own_name == ME  # the configured name until the login says otherwise
    lab.join(rank=3)
    assert channel.logged_in
    assert channel.ready
    assert channel.name == "labchan"
    assert channel.is_me("ROSEY")
    assert not channel.is_me("alice")
    assert channel.own_rank == 3
    assert channel.users.names == (ME, "alice", "mod")
    assert "Alice" in channel.users
    assert channel.users.get("alice").rank == 1
    assert len(channel.users) == 3
    assert {u.name for u in channel.users} == {ME, "alice", "mod"}
    assert len(channel.playlist) == 0
    assert channel.playlist.now_playing is None
    assert channel.can("chat")
    lab.chat("alice", "!nothing")
    lab.bot.say("a line of mine")
    assert channel.said_recently("a line of mine")
    assert not channel.said_recently("a line of alice's")


def test_a_command_is_removed_only_while_it_is_the_registered_one() -> None:
    lab = Lab()
    old, new = PluginAPI(lab.bot, "old"), PluginAPI(lab.bot, "new")
    first = command("x")(lambda ctx: "first")
    second = command("x")(lambda ctx: "second")
    old.add_command(first)
    lab.bot.commands.remove("x")
    new.add_command(second)  # a reload's replacement
    old.remove_command(first)
    assert lab.bot.commands.get("x") is second
    new.remove_command(second)
    assert lab.bot.commands.get("x") is None


def test_handlers_go_through_the_api() -> None:
    lab = Lab()
    api = PluginAPI(lab.bot, "probe")
    seen: list[str] = []
    api.on(events.MESSAGE, lambda e: seen.append(e.content or ""))
    lab.join()
    lab.chat("alice", "hi")
    handler = lab.bot.dispatcher.handlers(events.MESSAGE)[-1]
    api.off(events.MESSAGE, handler)
    lab.chat("alice", "again")
    assert seen == ["hi"]


# -- imports ---------------------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every rosey module's rosey imports, those under ``TYPE_CHECKING`` and inside functions
    included."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        name = _module_name(path)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        graph[name] = {m for m in found if m.startswith("rosey")}
    known = set(graph)
    return {name: {m for m in deps if m in known and m != name} for name, deps in graph.items()}


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


def _plugin_modules(graph: dict[str, set[str]]) -> list[str]:
    return sorted(m for m in graph if m.startswith("rosey.plugins.") and m != "rosey.plugins")


def test_no_import_cycle_between_the_bot_and_the_plugins() -> None:
    graph = _imports()
    below = [m for m in graph if m.startswith("rosey.bot")] + ["rosey.api", "rosey.plugin"]
    for name in below:
        reached = _reaches(graph, name)
        assert not [m for m in reached if m.startswith("rosey.plugins")], f"{name} imports up"
    for name in ["rosey.bot.service", "rosey.api", "rosey.plugin", "rosey.api_impl"]:
        assert name not in _reaches(graph, name), f"{name} imports itself through a cycle"


@pytest.mark.parametrize("forbidden", ["rosey.bot.service", "rosey.storage.noop"])
def test_no_plugin_imports_the_bot_or_the_noop_storage(forbidden: str) -> None:
    graph = _imports()
    offenders = [m for m in _plugin_modules(graph) if forbidden in graph[m]]
    assert offenders == []


def test_a_plugin_imports_no_other_plugins_module_but_support() -> None:
    graph = _imports()
    for name in _plugin_modules(graph):
        family = name.rsplit(".", 1)[1].split("_")[0]
        for dep in graph[name]:
            if dep.startswith("rosey.plugins.") and dep != "rosey.plugins.support":
                other = dep.rsplit(".", 1)[1].split("_")[0]
                assert other == family, f"{name} imports {dep}"

"""Discovery with ``twisted.plugin.getPlugins`` over ``rosey.plugins`` and drop-in directories."""

from __future__ import annotations

import sys

import pytest
from twisted.logger import capturedLogs, formatEvent

import rosey.plugins
from rosey.daemon.plugin_discovery import PluginDiscoveryError, discover
from rosey.plugin import IRoseyPlugin
from rosey.plugins.core import core
from tests.dropin import DropIn

GOOD = '''
    """A drop-in plugin."""
    from rosey.plugin import Plugin, PluginFactory

    class Thing(Plugin):
        pass

    {name} = PluginFactory("{name}", Thing, description="a thing", default_enabled=False)
'''


def test_the_core_plugin_is_found_in_the_package() -> None:
    found = discover()
    assert found.factories["core"] is core
    assert found.modules["core"] == "rosey.plugins.core"
    assert IRoseyPlugin.providedBy(core)
    assert list(found.factories) == sorted(found.factories)


def test_a_drop_in_file_is_a_plugin(dropin: DropIn) -> None:
    dropin.write("dropthing", GOOD.format(name="dropthing"))
    found = discover([str(dropin.path)])
    assert str(dropin.path) in rosey.plugins.__path__
    assert found.modules["dropthing"] == "rosey.plugins.dropthing"
    assert found.factories["dropthing"] is sys.modules["rosey.plugins.dropthing"].dropthing
    assert found.factories["core"] is core  # the package's plugins too
    discover([str(dropin.path)])  # adding the directory again changes nothing
    assert rosey.plugins.__path__.count(str(dropin.path)) == 1


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("def broken(:\n", "SyntaxError"),
        ("import rosey_no_such_module\n", "ModuleNotFoundError: No module named"),
        ("raise RuntimeError('plugin bug at import')\n", "RuntimeError: plugin bug at import"),
    ],
)
def test_a_module_that_fails_to_import_is_logged_and_skipped(
    dropin: DropIn, source: str, error: str
) -> None:
    dropin.write("dropgood", GOOD.format(name="dropgood"))
    dropin.write("dropbad", source)
    with capturedLogs() as logged:
        found = discover([str(dropin.path)])
    assert "dropgood" in found.factories
    assert "core" in found.factories
    assert found.failed["rosey.plugins.dropbad"].startswith(error.split(":")[0])
    assert error in found.failed["rosey.plugins.dropbad"]
    lines = [formatEvent(e) for e in logged]
    assert any(
        "plugin module rosey.plugins.dropbad failed to import and is skipped" in line
        and error in line
        for line in lines
    ), lines


def test_two_plugins_with_one_name_are_an_error(dropin: DropIn) -> None:
    dropin.write("dropone", GOOD.format(name="dropsame").replace("\n    dropsame =", "\n    a ="))
    dropin.write("droptwo", GOOD.format(name="dropsame").replace("\n    dropsame =", "\n    b ="))
    with pytest.raises(PluginDiscoveryError) as e:
        discover([str(dropin.path)])
    assert "two plugins are named 'dropsame'" in str(e.value)
    assert "rosey.plugins.dropone" in str(e.value)
    assert "rosey.plugins.droptwo" in str(e.value)


def test_one_plugin_bound_to_two_names_is_not_a_duplicate(dropin: DropIn) -> None:
    dropin.write("dropalias", GOOD.format(name="dropalias") + "    alias = dropalias\n")
    assert "dropalias" in discover([str(dropin.path)]).factories


def test_a_drop_in_module_may_not_shadow_a_package_module(dropin: DropIn) -> None:
    dropin.write("core", GOOD.format(name="othercore"))
    with pytest.raises(PluginDiscoveryError) as e:
        discover([str(dropin.path)])
    assert "would be module rosey.plugins.core" in str(e.value)
    assert "rename it" in str(e.value)
    assert str(dropin.path) not in rosey.plugins.__path__


def test_a_plugin_name_must_be_usable_as_a_config_key(dropin: DropIn) -> None:
    dropin.write("dropbadname", GOOD.format(name="Bad Name").replace("Bad Name =", "x ="))
    with pytest.raises(PluginDiscoveryError, match="has the name 'Bad Name'"):
        discover([str(dropin.path)])


def test_an_unwritable_plugin_cache_does_not_break_discovery(dropin: DropIn) -> None:
    # As root a read-only mode would not stop the write: a directory where the cache file
    # should be makes both reading and writing it fail, as on a read-only file system.
    (dropin.path / "dropin.cache").mkdir()
    dropin.write("dropro", GOOD.format(name="dropro"))
    with capturedLogs() as logged:
        first = discover([str(dropin.path)])
        second = discover([str(dropin.path)])
    assert "dropro" in first.factories
    assert "dropro" in second.factories
    assert first.factories["dropro"] is second.factories["dropro"]
    assert any("Unable to write to plugin cache" in formatEvent(e) for e in logged)


def test_the_cache_written_next_to_a_drop_in_is_used_by_the_next_discovery(
    dropin: DropIn,
) -> None:
    dropin.write("dropcached", GOOD.format(name="dropcached"))
    discover([str(dropin.path)])
    assert (dropin.path / "dropin.cache").is_file()
    assert "dropcached" in discover([str(dropin.path)]).factories

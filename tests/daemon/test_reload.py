"""``reload_plugin(name)``: a real module file in a drop-in directory, rewritten between reloads.

Good version → answers; broken versions (does not import, raises in start, refuses its settings,
fails in one channel only) → the old code keeps answering everywhere; fixed version → the new
code answers everywhere.
"""

from __future__ import annotations

import sys
import textwrap
import tomllib
from typing import Any

import pytest_twisted
from twisted.internet.defer import Deferred

from rosey.daemon.assemble import build
from rosey.daemon.config import Config, parse
from rosey.daemon.reload import PluginManager, ReloadResult
from tests.dropin import DropIn
from tests.plugins.lab import Lab

MODULE = "rosey.plugins.reloadme"

TEMPLATE = """
    from rosey.api import command
    from rosey.plugin import Plugin, PluginFactory, Settings

    VERSION = "{version}"


    def parse(raw):
        s = Settings(raw, "reloadme")
        s.only("greeting")
        return {parse}


    def answer(greeting):
        return f"{{greeting}} from {{VERSION}}"


    class Greeter(Plugin):
        def start(self):
            {start}
            self.add_command(command("greet", help="Greets.")(self.greet))

        def greet(self, ctx):
            return answer(self.config)


    reloadme = PluginFactory("reloadme", Greeter, parse=parse)
"""


def version(
    name: str,
    *,
    start: str = "pass",
    parse: str = 's.string("greeting", "hi")',
    tail: str = "",
) -> str:
    """The module's source; ``start`` lines go at the top of ``Greeter.start``."""
    start = "\n            ".join(start.splitlines())  # the template is indented once more
    return textwrap.dedent(TEMPLATE.format(version=name, start=start, parse=parse)) + tail


class Rig:
    """Two channels running the drop-in plugin under one :class:`PluginManager`."""

    def __init__(self, dropin: DropIn) -> None:
        self.dropin = dropin
        dropin.write("reloadme", version("v1"))
        doc = tomllib.loads(f"""
[plugins]
dirs = ["{dropin.path}"]

[plugins.reloadme]
greeting = "hello"

[[channel]]
site = "https://cytu.be"
name = "one"

[[channel]]
site = "https://cytu.be"
name = "two"
""")
        self.config: Config = parse(doc, {})
        self.manager = PluginManager(self.config.plugins)
        self.labs = [Lab("one"), Lab("two")]
        for lab, channel in zip(self.labs, self.config.channels, strict=True):
            self.manager.host_for(lab.bot, channel).setServiceParent(lab.bot)
            lab.join()

    def answers(self) -> list[list[str]]:
        return [lab.chat("alice", "!greet") for lab in self.labs]

    async def reload(self, source: str | None = None) -> ReloadResult:
        if source is not None:
            self.dropin.write("reloadme", source)
        d: Deferred[ReloadResult] = self.manager.reload("reloadme")
        return await bounded(d)


def bounded(d: Deferred[Any]) -> Deferred[Any]:
    from twisted.internet import reactor

    return d.addTimeout(5, reactor)


@pytest_twisted.ensureDeferred
async def test_good_broken_broken_broken_fixed(dropin: DropIn) -> None:
    rig = Rig(dropin)
    assert rig.answers() == [["hello from v1"], ["hello from v1"]]
    first_module = sys.modules[MODULE]

    # Does not import, after changing a global the running code uses: importlib.reload would
    # leave the old instances answering "from broken".
    result = await rig.reload(version("broken", tail="\nraise RuntimeError('half-written')\n"))
    assert not result.ok
    assert "plugin reloadme was not reloaded; the old code keeps running" in result.message
    assert "RuntimeError: half-written" in result.message
    assert sys.modules[MODULE] is first_module
    assert rig.answers() == [["hello from v1"], ["hello from v1"]]

    result = await rig.reload(version("v2", start="raise ValueError('start bug')"))
    assert not result.ok
    assert "failed to start: start bug" in result.message
    assert sys.modules[MODULE] is first_module
    assert rig.answers() == [["hello from v1"], ["hello from v1"]]

    fails_in_two = "assert self.api.channel.name == 'one', 'not in two'"
    result = await rig.reload(version("v2", start=fails_in_two))
    assert not result.ok
    assert "plugin reloadme in cytu.be/two failed to start" in result.message
    assert rig.answers() == [["hello from v1"], ["hello from v1"]]

    result = await rig.reload(version("v2", parse='s.integer("greeting", 1)'))
    assert not result.ok
    assert "plugins.reloadme.greeting: 'hello' is not an integer" in result.message
    assert rig.answers() == [["hello from v1"], ["hello from v1"]]

    result = await rig.reload(version("v2"))
    assert result.ok, result.message
    assert repr(result) == (
        "reloaded plugin reloadme from rosey.plugins.reloadme: running in 2 channels"
    )
    assert rig.answers() == [["hello from v2"], ["hello from v2"]]
    assert sys.modules[MODULE] is not first_module
    new_factory = sys.modules[MODULE].reloadme
    assert rig.manager.factories["reloadme"] is new_factory
    for h in rig.manager.hosts:
        assert h.plugins["reloadme"][0] is new_factory
        assert list(h.failed) == []


@pytest_twisted.ensureDeferred
async def test_a_plugin_that_failed_at_startup_can_be_fixed_by_a_reload(dropin: DropIn) -> None:
    dropin.write("reloadme", version("v0", start="raise ValueError('bug')"))
    doc = tomllib.loads(
        f'[plugins]\ndirs = ["{dropin.path}"]\n'
        '[[channel]]\nsite = "https://cytu.be"\nname = "one"\n'
    )
    config = parse(doc, {})
    manager = PluginManager(config.plugins)
    lab = Lab("one")
    host = manager.host_for(lab.bot, config.channels[0])
    host.setServiceParent(lab.bot)
    lab.join()
    assert "reloadme" in host.failed
    assert lab.chat("alice", "!greet") == []
    dropin.write("reloadme", version("v1"))
    result = await bounded(manager.reload("reloadme"))
    assert result.ok, result.message
    assert lab.chat("alice", "!greet") == ["hi from v1"]
    assert host.failed == {}


@pytest_twisted.ensureDeferred
async def test_unknown_plugin_and_a_second_reload_at_once(dropin: DropIn) -> None:
    rig = Rig(dropin)
    result = await bounded(rig.manager.reload("nope"))
    assert not result.ok
    assert result.message.startswith("no plugin named 'nope' (known: ")
    # A start that waits: the first reload is still running when the second is asked for.
    waiting = "\n".join(
        [
            "import twisted.internet.defer",
            "self.gate = twisted.internet.defer.Deferred()",
            "GATES.append(self.gate)",
            "self.add_command(command('greet', help='Greets.')(self.greet))",
            "return self.gate",
        ]
    )
    rig.dropin.write("reloadme", version("v2", start=waiting, tail="GATES = []\n"))
    first = rig.manager.reload("reloadme")
    second = await bounded(rig.manager.reload("reloadme"))
    assert not second.ok
    assert "already running" in second.message
    gates = sys.modules[MODULE].GATES
    # channel one's start waits
    assert not first.called
    assert len(gates) == 1
    gates[0].callback(None)
    # then channel two's
    assert not first.called
    assert len(gates) == 2
    gates[1].callback(None)
    result = await bounded(first)
    assert result.ok, result.message


def test_the_manhole_namespace_has_plugins_and_reload_plugin(dropin: DropIn, tmp_path: Any) -> None:
    from twisted.internet import reactor

    dropin.write("reloadme", version("v1"))
    doc = tomllib.loads(
        f'[database]\nurl = "sqlite:///{tmp_path / "r.sqlite"}"\n'
        f'[plugins]\ndirs = ["{dropin.path}"]\n'
        '[[channel]]\nsite = "https://cytu.be"\nname = "one"\n'
    )
    daemon = build(parse(doc, {}), reactor)
    names = daemon.namespace()
    assert names["plugins"] is daemon.plugins
    assert "reloadme: running in nowhere" in repr(names["plugins"])  # what the manhole shows
    d = names["reload_plugin"]("reloadme")
    assert d.called  # nothing runs yet: only the module and the factory change
    result = d.result
    assert result.ok
    assert result.message.endswith("running in 0 channels")

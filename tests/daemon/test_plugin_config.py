"""The ``[plugins]`` table and the channels' plugin keys, validated against the plugins found."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rosey.daemon.check import render
from rosey.daemon.config import Config, ConfigError, load, parse
from rosey.daemon.plugin_discovery import Discovery
from rosey.daemon.tap import Options
from rosey.plugin import Plugin, PluginConfigError, PluginFactory, Settings
from tests.dropin import DropIn


@dataclass(frozen=True)
class FunSettings:
    eightball_cooldown: float = 30.0
    answers: tuple[str, ...] = ("yes", "no")


def parse_fun(raw: Mapping[str, Any]) -> FunSettings:
    s = Settings(raw, "fun")
    s.only("eightball_cooldown", "answers")
    cooldown = s.number("eightball_cooldown", 30.0, min=0)
    return FunSettings(cooldown, s.strings("answers", ("yes", "no")))


def parse_short(raw: Mapping[str, Any]) -> int:
    """A parser written without the key path (as third-party code may be)."""
    if "size" in raw and not isinstance(raw["size"], int):
        raise PluginConfigError(f"size: {raw['size']!r} is not an integer")
    if raw.get("size") == 13:
        raise PluginConfigError("unlucky")
    return int(raw.get("size", 1))


def parse_buggy(raw: Mapping[str, Any]) -> None:
    raise KeyError("oops")


FOUND = Discovery(
    factories={
        "core": PluginFactory("core", Plugin),
        "fun": PluginFactory("fun", Plugin, parse=parse_fun),
        "markov": PluginFactory("markov", Plugin, default_enabled=False),
        "short": PluginFactory("short", Plugin, default_enabled=False, parse=parse_short),
        "buggy": PluginFactory("buggy", Plugin, default_enabled=False, parse=parse_buggy),
    },
    modules={},
    failed={"rosey.plugins.broken": "SyntaxError: invalid syntax (broken.py, line 1)"},
)


def config(text: str) -> Config:
    doc = tomllib.loads('[[channel]]\nsite = "https://cytu.be"\nname = "a"\n' + text)
    return parse(doc, {}, plugins=FOUND)


def channels(text: str) -> Config:
    return parse(tomllib.loads(text), {}, plugins=FOUND)


def test_defaults_follow_each_plugins_default_enabled() -> None:
    c = config("")
    assert c.plugins.enable == ("core", "fun")
    assert c.plugins.disable == ("buggy", "markov", "short")
    assert c.plugins.for_channel(c.channels[0]) == ("core", "fun")
    assert c.plugins.found.settings["fun"] == FunSettings()
    assert "markov" not in c.plugins.found.settings  # disabled everywhere: not even parsed
    assert c.plugins.failed == (
        "rosey.plugins.broken: SyntaxError: invalid syntax (broken.py, line 1)",
    )


def test_enable_disable_and_per_channel_overrides() -> None:
    c = channels("""
[plugins]
enable = ["markov"]
disable = ["fun"]

[[channel]]
site = "https://cytu.be"
name = "a"

[[channel]]
site = "https://cytu.be"
name = "b"
enable_plugins = ["fun"]
disable_plugins = ["core", "markov"]

[[channel]]
site = "https://cytu.be"
name = "c"
disable_plugins = ["core", "markov"]
""")
    assert c.plugins.enable == ("core", "markov")
    a, b, chan_c = c.channels
    assert c.plugins.for_channel(a) == ("core", "markov")
    assert c.plugins.for_channel(b) == ("fun",)
    assert c.plugins.for_channel(chan_c) == ()
    assert b.enable_plugins == ("fun",)
    assert b.disable_plugins == ("core", "markov")
    assert c.plugins.found.settings["fun"] == FunSettings()  # enabled in one channel: parsed


def test_a_plugin_table_is_validated_by_the_plugin() -> None:
    c = config('[plugins.fun]\neightball_cooldown = 2.5\nanswers = ["maybe"]\n')
    assert c.plugins.found.settings["fun"] == FunSettings(2.5, ("maybe",))
    assert c.plugins.found.tables["fun"] == {"eightball_cooldown": 2.5, "answers": ["maybe"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[plugins.fun]\neightball_cooldown = "x"\n',
            "plugins.fun.eightball_cooldown: 'x' is not a number",
        ),
        (
            "[plugins.fun]\neightball_cooldown = -1\n",
            "plugins.fun.eightball_cooldown: -1 is less than 0",
        ),
        ("[plugins.fun]\nanswers = [1]\n", "plugins.fun.answers: [1] is not a list of strings"),
        (
            "[plugins.fun]\ncooldown = 1\n",
            "plugins.fun.cooldown: unknown key (expected eightball_cooldown, answers)",
        ),
        ('[plugins.short]\nsize = "big"\n', "plugins.short.size: 'big' is not an integer"),
        ("[plugins.short]\nsize = 13\n", "plugins.short: unlucky"),
        (
            "[plugins.buggy]\nx = 1\n",
            "plugins.buggy: the plugin could not read its settings (KeyError: 'oops')",
        ),
        ("[plugins.core]\nx = 1\n", "plugins.core: this plugin takes no settings"),
        (
            '[plugins]\nenable = ["nope", "fun"]\n',
            "plugins.enable: unknown plugin 'nope' (known: core, fun, markov, short, buggy)",
        ),
        ('[plugins]\ndisable = ["Core"]\n', "plugins.disable: unknown plugin 'Core'"),
        ("[plugins.nope]\nx = 1\n", "plugins.nope: unknown plugin 'nope'"),
        (
            "[plugins]\nenabled = []\n",
            "plugins.enabled: unknown key; did you mean 'enable'? (expected dirs, enable, "
            "disable or a [plugins.NAME] table)",
        ),
        (
            '[plugins]\nenable = ["fun"]\ndisable = ["fun"]\n',
            "plugins: 'fun' is in both enable and disable",
        ),
        ('[plugins]\nenable = ["fun", "fun"]\n', "plugins.enable: 'fun' is listed twice"),
        ('[plugins]\nenable = "fun"\n', "plugins.enable: 'fun' is not a list of strings"),
        ("[plugins]\nenable = [1]\n", "plugins.enable[0]: 1 is not a string"),
        (
            '[plugins]\ndirs = ["/nonexistent/rosey-plugins"]\n',
            "plugins.dirs[0]: '/nonexistent/rosey-plugins' is not a directory",
        ),
        ('enable_plugins = ["nope"]\n', "channel[0].enable_plugins: unknown plugin 'nope'"),
        (
            'disable_plugins = ["fun"]\nenable_plugins = ["fun"]\n',
            "channel[0]: 'fun' is in both enable_plugins and disable_plugins",
        ),
        ('plugins = ["fun"]\n', "channel[0].plugins: unknown key"),
    ],
)
def test_errors_name_the_key_path(text: str, message: str) -> None:
    if text.startswith(("enable_plugins", "disable_plugins", "plugins =")):
        doc = '[[channel]]\nsite = "https://cytu.be"\nname = "a"\n' + text
        with pytest.raises(ConfigError) as e:
            parse(tomllib.loads(doc), {}, plugins=FOUND)
    else:
        with pytest.raises(ConfigError) as e:
            config(text)
    assert message in str(e.value)


def test_a_plugin_whose_module_did_not_import_is_skipped_not_an_error() -> None:
    c = config('[plugins]\nenable = ["broken"]\n\n[plugins.broken]\nx = 1\n')
    assert "broken" not in c.plugins.enable
    assert c.plugins.for_channel(c.channels[0]) == ("core", "fun")
    assert c.plugins.failed[0].startswith("rosey.plugins.broken: SyntaxError")


def test_an_enabled_plugin_needing_settings_must_get_them() -> None:
    with pytest.raises(ConfigError, match=r"plugins\.buggy: the plugin could not read"):
        config('[plugins]\nenable = ["buggy"]\n')


def test_config_check_shows_the_plugins_and_reads_back_as_toml() -> None:
    c = config('[plugins]\nenable = ["markov"]\n\n[plugins.fun]\neightball_cooldown = 1\n')
    out = render(c)
    doc = tomllib.loads(out)
    assert doc["plugins"]["enable"] == ["core", "fun", "markov"]
    assert doc["plugins"]["disable"] == ["buggy", "short"]
    assert doc["channel"][0]["enable_plugins"] == []
    assert "eightball_cooldown" not in out  # a plugin table may hold a secret: never shown


def test_drop_in_dirs_from_the_file(tmp_path: Path, dropin: DropIn) -> None:
    dropin.write(
        "cfgdrop",
        """
        from rosey.plugin import Plugin, PluginFactory, Settings

        def parse(raw):
            return Settings(raw, "cfgdrop").integer("level", 1, min=1)

        cfgdrop = PluginFactory("cfgdrop", Plugin, parse=parse)
    """,
    )
    path = tmp_path / "rosey.toml"
    path.write_text(
        '[[channel]]\nsite = "https://cytu.be"\nname = "a"\n'
        f'[plugins]\ndirs = ["{dropin.path}"]\n[plugins.cfgdrop]\nlevel = 3\n'
    )
    c = load(path)
    assert c.plugins.dirs == (str(dropin.path),)
    assert c.plugins.found.settings["cfgdrop"] == 3
    assert "cfgdrop" in c.plugins.enable
    assert "core" in c.plugins.enable
    path.write_text(path.read_text().replace("level = 3", "level = 0"))
    with pytest.raises(ConfigError, match=r"plugins\.cfgdrop\.level: 0 is less than 1"):
        load(path)


def test_twistd_exits_1_on_a_plugin_config_error_before_the_reactor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rosey.toml"
    path.write_text(
        '[[channel]]\nsite = "https://cytu.be"\nname = "a"\n[plugins]\nenable = ["nope"]\n'
    )
    with pytest.raises(SystemExit) as e:
        Options().parseOptions(["--config", str(path)])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("rosey: config error: plugins.enable: unknown plugin 'nope'")
    assert err.count("\n") == 1


def test_plugin_errors_join_the_other_config_errors() -> None:
    doc = tomllib.loads(
        '[[channel]]\nsite = "https://cytu.be"\nname = "a"\nenable_plugins = ["markv"]\n'
        '[logging]\nlevel = "loud"\n'
        '[plugins]\nenable = ["short", "nope"]\n'
        "[plugins.fun]\neightball_cooldown = -1\n"
        "[plugins.short]\nsize = 13\n"
    )
    with pytest.raises(ConfigError) as e:
        parse(doc, {}, plugins=FOUND)
    assert e.value.errors == (
        "logging.level: 'loud' is not one of debug, info, warn, error",
        "plugins.enable: unknown plugin 'nope' (known: core, fun, markov, short, buggy)",
        "channel[0].enable_plugins: unknown plugin 'markv'; did you mean 'markov'? "
        "(known: core, fun, markov, short, buggy)",
        "plugins.fun.eightball_cooldown: -1 is less than 0",
        "plugins.short: unlucky",
    )

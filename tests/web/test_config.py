"""``[web]`` in the configuration."""

from __future__ import annotations

import pytest

from rosey.daemon.config import Config, ConfigError, parse
from rosey.daemon.plugin_discovery import Discovery

CHANNEL = {"channel": [{"site": "https://cytu.be", "name": "chan"}]}


def load(extra: dict[str, object], environ: dict[str, str] | None = None) -> Config:
    return parse({**CHANNEL, **extra}, environ or {}, plugins=Discovery())


def test_off_by_default_on_localhost_8080():
    web = load({}).web
    assert (web.enabled, web.listen, web.token) == (False, "tcp:8080:interface=127.0.0.1", None)


def test_enabled_with_a_token_from_the_environment():
    web = load(
        {"web": {"enabled": True, "listen": "tcp:0:interface=127.0.0.1", "token_env": "T"}},
        {"T": "abc"},
    ).web
    assert web.enabled
    assert web.listen == "tcp:0:interface=127.0.0.1"
    assert web.token is not None
    assert web.token.value == "abc"
    assert "abc" not in repr(web)


def test_bad_keys_are_reported():
    with pytest.raises(ConfigError) as e:
        load({"web": {"enabled": "yes", "listen": "http:80", "token": "inline"}})
    text = str(e.value)
    for key in ("web.enabled", "web.listen", "web.token"):
        assert key in text
    assert "inline" not in text

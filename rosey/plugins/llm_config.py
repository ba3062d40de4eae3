"""The ``llm`` plugin's ``[plugins.llm]`` table: :class:`LLMConfig` and :func:`parse_config`.

The API key is never in the table: ``api_key_env`` names an environment variable and
``api_key_file`` a file holding it (read once here, when the configuration is checked). It is
kept in a :class:`Secret`, whose ``repr`` hides it, so no log line or traceback of the config
shows it. Every key is documented in ``docs/config.md`` and ``docs/llm.md``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rosey.plugin import Settings

__all__ = ["DEFAULT_PERSONA", "LLMConfig", "Secret", "parse_config"]

#: The system prompt without ``persona``/``persona_file``; ``{name}`` is the bot's name.
DEFAULT_PERSONA = (
    "You are {name}, a friendly regular in a CyTube chat room where people watch videos "
    "together. Answer in one to three short sentences of plain text: no markdown, no lists, "
    "no commands."
)
_USER_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")
_MAX_PERSONA = 8000


class Secret:
    """A string that never shows itself in ``repr``/``str`` (the API key)."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "Secret('***')" if self.value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


@dataclass(frozen=True)
class LLMConfig:
    """The validated ``[plugins.llm]`` table (``docs/llm.md`` says what each key does)."""

    base_url: str = "http://127.0.0.1:8080/v1"
    model: str = ""
    api_key: Secret = field(default_factory=lambda: Secret(""))
    persona: str = DEFAULT_PERSONA
    answer_mentions: bool = True
    answer_pms: bool = True
    ask_command: bool = True
    join_probability: float = 0.0
    join_cooldown: float = 600.0
    context_lines: int = 20
    context_chars: int = 2000
    user_cooldown: float = 30.0
    requests_per_minute: int = 6
    tokens_per_hour: int = 20_000
    max_tokens: int = 200
    temperature: float = 0.7
    max_answer_chars: int = 600
    max_lines: int = 3
    timeout: float = 30.0
    busy: str = "queue"
    queue_size: int = 3
    mod_rank: float = 2.0
    opt_out: frozenset[str] = field(default_factory=frozenset)
    bots: frozenset[str] = field(default_factory=frozenset)

    @property
    def url(self) -> str:
        """The chat-completions endpoint: ``base_url`` + ``/chat/completions``."""
        return self.base_url.rstrip("/") + "/chat/completions"


_KEYS = (
    "base_url",
    "model",
    "api_key_env",
    "api_key_file",
    "persona",
    "persona_file",
    "answer_mentions",
    "answer_pms",
    "ask_command",
    "join_probability",
    "join_cooldown",
    "context_lines",
    "context_chars",
    "user_cooldown",
    "requests_per_minute",
    "tokens_per_hour",
    "max_tokens",
    "temperature",
    "max_answer_chars",
    "max_lines",
    "timeout",
    "busy",
    "queue_size",
    "mod_rank",
    "opt_out",
    "bots",
)


def parse_config(raw: Mapping[str, Any]) -> LLMConfig:
    """Validate ``[plugins.llm]``; raises :class:`~rosey.plugin.PluginConfigError` naming the
    key (never showing the key's value for ``api_key_*``)."""
    d = LLMConfig()
    s = Settings(raw, "llm")
    s.only(*_KEYS)
    base_url = s.string("base_url", d.base_url).strip()
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", base_url):
        raise s.error("base_url", f"{base_url!r} is not an http:// or https:// URL")
    busy = s.string("busy", d.busy)
    if busy not in ("queue", "drop"):
        raise s.error("busy", f"{busy!r} is not 'queue' or 'drop'")
    return LLMConfig(
        base_url=base_url,
        model=s.string("model", d.model),
        api_key=Secret(_api_key(s)),
        persona=_persona(s),
        answer_mentions=s.boolean("answer_mentions", d.answer_mentions),
        answer_pms=s.boolean("answer_pms", d.answer_pms),
        ask_command=s.boolean("ask_command", d.ask_command),
        join_probability=s.number("join_probability", d.join_probability, min=0, max=1),
        join_cooldown=s.number("join_cooldown", d.join_cooldown, min=0, max=86400),
        context_lines=s.integer("context_lines", d.context_lines, min=0, max=200),
        context_chars=s.integer("context_chars", d.context_chars, min=0, max=100_000),
        user_cooldown=s.number("user_cooldown", d.user_cooldown, min=0, max=86400),
        requests_per_minute=s.integer("requests_per_minute", d.requests_per_minute, min=1),
        tokens_per_hour=s.integer("tokens_per_hour", d.tokens_per_hour, min=1),
        max_tokens=s.integer("max_tokens", d.max_tokens, min=1, max=100_000),
        temperature=s.number("temperature", d.temperature, min=0, max=2),
        max_answer_chars=s.integer("max_answer_chars", d.max_answer_chars, min=20, max=5000),
        max_lines=s.integer("max_lines", d.max_lines, min=1, max=10),
        timeout=s.number("timeout", d.timeout, min=1, max=600),
        busy=busy,
        queue_size=s.integer("queue_size", d.queue_size, min=1, max=50),
        mod_rank=s.number("mod_rank", d.mod_rank, min=1, max=255),
        opt_out=_names(s, "opt_out"),
        bots=_names(s, "bots"),
    )


def _names(s: Settings, key: str) -> frozenset[str]:
    names = s.strings(key)
    for name in names:
        if not _USER_NAME.fullmatch(name):
            raise s.error(key, f"{name!r} is not a CyTube user name")
    return frozenset(n.casefold() for n in names)


def _api_key(s: Settings) -> str:
    env = s.string("api_key_env", "")
    path = s.string("api_key_file", "")
    if env and path:
        raise s.error("api_key_file", "give api_key_env or api_key_file, not both")
    if env:
        value = os.environ.get(env)
        if not value:
            raise s.error("api_key_env", f"the environment variable {env} is not set")
        return value.strip()
    if path:
        try:
            value = Path(path).expanduser().read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise s.error("api_key_file", f"cannot read {path}: {type(e).__name__}") from None
        if not value:
            raise s.error("api_key_file", f"{path} is empty")
        return value
    return ""


def _persona(s: Settings) -> str:
    text = s.string("persona", "")
    path = s.string("persona_file", "")
    if text and path:
        raise s.error("persona_file", "give persona or persona_file, not both")
    if path:
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise s.error("persona_file", f"cannot read {path}: {e}") from None
    text = text.strip()
    if len(text) > _MAX_PERSONA:
        raise s.error("persona", f"the persona is over {_MAX_PERSONA} characters")
    return text or DEFAULT_PERSONA

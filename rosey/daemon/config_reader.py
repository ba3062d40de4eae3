"""Typed reads of the TOML configuration that collect every error instead of stopping at one.

A :class:`Reader` reads one table. A read that fails records one error (``key.path: message``)
in the shared :class:`Problems` and returns the default (or an empty value of the expected
type), so the rest of the file can still be checked; :meth:`Problems.raise_if_any` then raises
one :class:`ConfigError` listing them all. The keys a reader was asked for are its known keys:
any other key of the table is reported as unknown (:meth:`Problems.check_unknown_keys`), with
a "did you mean" for near misses, so adding a key to the configuration is one read.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The configuration is invalid; each message says where and what is expected.

    ``errors`` holds one message per problem; ``str()`` is the message itself when there is one,
    else a count followed by the messages, one per line (indented).
    """

    def __init__(self, *errors: str) -> None:
        self.errors = errors
        if len(errors) == 1:
            text = errors[0]
        else:
            text = f"{len(errors)} problems:" + "".join(f"\n  {e}" for e in errors)
        super().__init__(text)


@dataclass(frozen=True)
class Secret:
    """A secret value that never shows itself in logs, reprs or ``config check`` output."""

    value: str = field(repr=False)
    source: str = ""

    def __repr__(self) -> str:
        return f"Secret(<hidden>, from {self.source})" if self.source else "Secret(<hidden>)"

    __str__ = __repr__


class Problems:
    """Every error found in one configuration, at most one per key path.

    An error at a key path hides later errors at or beneath it (a table that is not a table
    does not also report each of its keys missing)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.messages: list[str] = []
        self._failed: list[str] = []
        self._readers: list[Reader] = []

    def add(self, key: str, message: str) -> None:
        """Record ``key: message`` unless ``key`` (or a table holding it) already failed."""
        if not self.failed(key):
            self._failed.append(key)
            self.messages.append(f"{key}: {message}")

    def add_message(self, message: str) -> None:
        """Record a message that already starts with its key path (from another checker)."""
        self.messages.append(message)

    def failed(self, key: str) -> bool:
        """Whether ``key`` or a table holding it has an error."""
        return any(key == k or key.startswith((f"{k}.", f"{k}[")) for k in self._failed)

    def check_unknown_keys(self) -> None:
        """Report the keys no reader asked for."""
        for reader in self._readers:
            reader.report_unknown_keys()

    def raise_if_any(self) -> None:
        """Raise one :class:`ConfigError` with every message, if there are any."""
        if self.messages:
            raise ConfigError(*self.messages)


class Reader:
    """Typed access to one TOML table; errors go to ``problems`` and a default comes back."""

    def __init__(self, raw: Any, path: str, problems: Problems) -> None:
        self.path, self.problems = path, problems
        self.environ = problems.environ
        self.raw: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        if not isinstance(raw, Mapping):
            problems.add(path or "<top>", f"expected a table, got {type(raw).__name__}")
        #: The keys read, each with whether an unknown-key error may suggest it.
        self._known: dict[str, bool] = {}
        self._tables: dict[str, Reader] = {}
        problems._readers.append(self)

    def key(self, name: str) -> str:
        """The full path of key ``name``."""
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, message: str) -> None:
        """Record an error for key ``name`` of this table."""
        self.problems.add(self.key(name), message)

    def failed(self, name: str) -> bool:
        """Whether key ``name`` already has an error."""
        return self.problems.failed(self.key(name))

    def known(self, *names: str, offered: bool = True) -> None:
        """Declare keys read elsewhere (``offered=False``: never suggested, such as
        ``password``, which is refused)."""
        for name in names:
            self._known[name] = self._known.get(name, False) or offered

    def report_unknown_keys(self) -> None:
        offered = [k for k, show in self._known.items() if show]
        for k in self.raw:
            if k in self._known:
                continue
            close = difflib.get_close_matches(k, offered, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.error(k, f"unknown key{hint} (expected one of {', '.join(offered)})")

    def table(self, name: str) -> Reader:
        """The sub-table ``name`` (empty when absent); the same reader on every call."""
        self.known(name)
        if name not in self._tables:
            self._tables[name] = Reader(self.raw.get(name, {}), self.key(name), self.problems)
        return self._tables[name]

    def section(self, name: str) -> Mapping[str, Any]:
        """The raw sub-table ``name``, which another checker reads whole."""
        self.known(name)
        value = self.raw.get(name, {})
        if not isinstance(value, Mapping):
            self.error(name, f"expected a table, got {type(value).__name__}")
            return {}
        return value

    def _get(self, name: str, kind: type, what: str, default: Any) -> Any:
        self.known(name)
        if name not in self.raw:
            if default is None:
                self.error(name, f"missing; expected {what}")
                return kind()
            return default
        value = self.raw[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.error(name, f"{value!r} is not {what}")
            return kind() if default is None else default
        return value

    def string(self, name: str, default: str | None) -> str:
        """A string; ``default=None`` means required."""
        value: str = self._get(name, str, "a string", default)
        return value

    def optional_string(self, name: str) -> str | None:
        """A string, or None when absent or empty."""
        return self.string(name, "") or None

    def integer(self, name: str, default: int) -> int:
        value: int = self._get(name, int, "an integer", default)
        return value

    def number(self, name: str, default: float) -> float:
        """An integer or a float (as a float)."""
        self.known(name)
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(name, f"{value!r} is not a number")
            return default
        return float(value)

    def strings(self, name: str) -> tuple[str, ...]:
        """A list of strings (empty when absent)."""
        value = self._get(name, list, "a list of strings", [])
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.error(f"{name}[{i}]", f"{item!r} is not a string")
        return tuple(v for v in value if isinstance(v, str))

    def boolean(self, name: str, default: bool) -> bool:
        value: bool = self._get(name, bool, "true or false", default)
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(name, default)
        if value not in choices:
            self.error(name, f"{value!r} is not one of {', '.join(choices)}")
            return default
        return value

    def secret(self, name: str, *, inline: bool = False, resolve: bool = True) -> Secret | None:
        """``name_env`` or ``name_file`` (or ``name`` itself where ``inline``: the database URL).

        With ``resolve=False`` the keys are checked but the secret is not read (None)."""
        self.known(name, offered=inline)
        self.known(f"{name}_env", f"{name}_file")
        sources = [k for k in (name, f"{name}_env", f"{name}_file") if k in self.raw]
        if len(sources) > 1:
            self.error(name, f"set only one of {', '.join(map(self.key, sources))}")
            return None
        if not sources:
            return None
        key = sources[0]
        ref = self.string(key, None)
        if self.failed(key):
            return None
        if key == name and not inline:
            self.error(
                name, f"secrets are not written in the config; use {name}_env or {name}_file"
            )
            return None
        if not resolve:
            return None
        if key == name:
            value, source, what = ref, "config", "empty"
        elif key.endswith("_env"):
            if ref not in self.environ:
                self.error(key, f"environment variable {ref!r} is not set")
                return None
            value, source, what = self.environ[ref], f"${ref}", f"environment variable {ref!r}"
            what = f"{what} is set but empty"
        else:
            path = _secret_path(ref, self.environ)
            try:
                value = path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as e:
                self.error(key, _unreadable(ref, path, e, self.environ))
                return None
            source, what = ref, f"secret file {str(path)!r} is empty"
        if not value:
            self.error(key, what)
            return None
        return Secret(value, source)


def _secret_path(ref: str, environ: Mapping[str, str]) -> Path:
    path = Path(ref)
    creds = environ.get("CREDENTIALS_DIRECTORY")
    if not path.is_absolute() and creds:
        return Path(creds) / ref  # systemd LoadCredential= names
    return path


def _unreadable(ref: str, path: Path, e: OSError, environ: Mapping[str, str]) -> str:
    message = f"cannot read secret file {str(path)!r}: {e.strerror}"
    relative = not Path(ref).is_absolute()
    if relative and isinstance(e, FileNotFoundError) and not environ.get("CREDENTIALS_DIRECTORY"):
        message += (
            f"; a relative name such as {ref!r} is looked up in systemd's "
            "$CREDENTIALS_DIRECTORY (LoadCredential=), which is not set here: "
            "set CREDENTIALS_DIRECTORY or give an absolute path"
        )
    return message

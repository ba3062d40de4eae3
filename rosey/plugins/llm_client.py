"""One chat-completions request of the ``llm`` plugin, over the plugin API's
``api.post_json`` (:func:`complete`), and what an answer may say in chat (:func:`answer_text`).

The request is the OpenAI shape every local server speaks (llama.cpp's ``llama-server``,
Ollama, vLLM): ``POST {base_url}/chat/completions`` with ``model``, ``messages``,
``max_tokens``, ``temperature`` and ``stream: false``; the answer is
``choices[0].message.content`` and ``usage.total_tokens``. Anything else (an error status, an
``{"error": {...}}`` body, a 429 with ``retry-after``, a body that is not that JSON) becomes an
:class:`LLMError` with a short reason for the log; the key is masked out of any text a server
sends back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rosey.api import HTTPFailed
from rosey.plugins.support import clean_text

if TYPE_CHECKING:
    from rosey.api import HTTPResponse, IPluginAPI
    from rosey.plugins.llm_config import LLMConfig

__all__ = ["Answer", "LLMError", "answer_text", "complete"]

_MAX_BODY = 1 << 20
_MARKUP = re.compile(r"\*\*|__|`+|^#+\s*", re.M)


@dataclass(frozen=True, slots=True)
class Answer:
    """The model's text and the tokens it cost (None: the server did not say)."""

    text: str
    tokens: int | None


class LLMError(Exception):
    """No usable answer; the message is a short reason for the log. ``retry_after``: seconds
    the server asked us to wait (a 429), or None."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def request_body(config: LLMConfig, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON body of one request (``model`` left out when not configured: llama.cpp's
    server needs none)."""
    body: dict[str, Any] = {
        "messages": messages,
        "max_tokens": config.max_tokens,
        "temperature": config.temperature,
        "stream": False,
    }
    if config.model:
        body["model"] = config.model
    return body


async def complete(api: IPluginAPI, config: LLMConfig, messages: list[dict[str, Any]]) -> Answer:
    """Ask the server; the :class:`Answer`, or raises :class:`LLMError`."""
    headers = {"Accept": "application/json"}
    key = config.api_key.value
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        response = await api.post_json(
            config.url, request_body(config, messages), headers, config.timeout, _MAX_BODY
        )
    except HTTPFailed as e:
        raise LLMError(_mask(str(e), key)) from None
    return parse_answer(response, key)


def parse_answer(response: HTTPResponse, key: str = "") -> Answer:
    """The answer in ``response``, or raises :class:`LLMError`."""
    try:
        data: Any = json.loads(response.body)
    except ValueError:
        data = None
    if response.status != 200:
        reason = f"HTTP {response.status}"
        message = _error_message(data)
        if message:
            reason += f": {message}"
        retry = None
        if response.status == 429:
            retry = _retry_after(response.headers.get("retry-after"))
        raise LLMError(_mask(reason, key), retry)
    if not isinstance(data, dict):
        raise LLMError("the answer is not a JSON object")
    if "error" in data:
        raise LLMError(_mask(f"error: {_error_message(data) or 'unknown'}", key))
    try:
        text = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        text = None
    if not isinstance(text, str):
        raise LLMError("the answer has no choices[0].message.content text")
    usage = data.get("usage")
    tokens = usage.get("total_tokens") if isinstance(usage, dict) else None
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
        tokens = None
    return Answer(text, tokens)


def answer_text(text: str, own_name: str, limit: int) -> str:
    """The model's text as one plain chat text of at most ``limit`` characters: markdown marks
    and a leading ``own_name:`` dropped, on one line, cut at a word with an ellipsis."""
    text = _MARKUP.sub("", text)
    text = clean_text(text)
    if own_name and text.casefold().startswith(own_name.casefold() + ":"):
        text = text[len(own_name) + 1 :].lstrip()
    if len(text) > limit:
        cut = text[: limit - 1]
        space = cut.rfind(" ")
        text = (cut[:space] if space > limit // 2 else cut).rstrip() + "…"
    return text


def _error_message(data: Any) -> str:
    """``error.message`` (or ``error`` when a string) of an error body, short and on one line."""
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    return clean_text(error)[:200] if isinstance(error, str) else ""


def _retry_after(value: str | None) -> float | None:
    """``retry-after`` in seconds (the delta form; a date is taken as a minute)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return 60.0


def _mask(text: str, key: str) -> str:
    return text.replace(key, "***") if key else text

"""asyncio helpers for the bus tests: a bounded wait, and reading a JetStream stream back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import nats


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Return once ``predicate()`` is true (checked every 5 ms); TimeoutError after
    ``timeout`` seconds (the asyncio twin of tests/waiting.py's ``eventually``)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def stored(url: str, stream: str = "ROSEY_EVENTS") -> list[tuple[str, dict[str, Any]]]:
    """Every message of ``stream``, in stream order, as (subject, decoded JSON body)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            assert msg.subject is not None
            assert msg.data is not None
            out.append((msg.subject, json.loads(msg.data)))
        return out
    finally:
        await nc.close()

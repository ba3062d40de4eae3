"""Run a scenario on Twisted's asyncio reactor inside the test process.

pytest-twisted installs the default reactor for the suite; the bus code needs an asyncio loop
that is also a Twisted reactor (SQL storage's threads deliver through it). An
``AsyncioSelectorReactor`` built on a fresh loop, not installed, is that: the scenario gets it
and runs on its loop until it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twisted.internet.asyncioreactor import AsyncioSelectorReactor

T = TypeVar("T")


def on_asyncio_reactor(scenario: Callable[[Any], Awaitable[T]], timeout: float = 60.0) -> T:
    """``await scenario(reactor)`` on a private asyncio reactor; its result."""
    loop = asyncio.new_event_loop()
    reactor = AsyncioSelectorReactor(loop)

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await scenario(reactor)

    try:
        return loop.run_until_complete(bounded())
    finally:
        reactor.removeAll()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

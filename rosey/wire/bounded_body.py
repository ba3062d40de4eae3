"""Reading an HTTP answer's body with a bound: past ``limit`` bytes reading stops and treq
closes the connection, so a huge or endless answer never sits in memory."""

from __future__ import annotations

from typing import Any

from treq import collect


class BodyTooBig(Exception):
    """The body grew past the bound; reading stopped and the connection was closed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is over {limit:,} bytes")
        self.limit = limit


async def read_body(response: Any, limit: int) -> bytes:
    """The body of treq's ``response``, chunk by chunk; :class:`BodyTooBig` past ``limit``."""
    chunks: list[bytes] = []
    size = 0

    def keep(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > limit:
            raise BodyTooBig(limit)
        chunks.append(data)

    try:
        await collect(response, keep)
    except Exception:
        # Older treq/Twisted wrap our exception (with the connection's loss) in ResponseFailed.
        if size > limit:
            raise BodyTooBig(limit) from None
        raise
    return b"".join(chunks)

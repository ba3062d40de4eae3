"""A JetStream subscriber that counts what a stream holds (the bus benchmark's witness).

Run: ``python -m bench.e2e.subscriber nats://127.0.0.1:PORT [--stream ROSEY_EVENTS]``. It reads
the stream's state, then every message from the first with an ordered consumer on the stream's
subjects, and prints one JSON line: ``{"event": "counted", "messages": …, "first_seq": …,
"last_seq": …, "received": …, "ids": <distinct event ids>, "names": {<rosey event name>: n},
"seconds": …}`` (or ``{"event": "error", "message": …}``). Its own process, so decoding 100,000
payloads shares no GIL with anything measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import nats
from nats.js.api import DeliverPolicy

from rosey.bus.subjects import ALL


async def count(url: str, stream: str, timeout: float) -> dict[str, Any]:
    """What ``stream`` on ``url`` holds: counts, distinct ids and events by name."""
    started = time.monotonic()
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        state = (await js.stream_info(stream)).state
        ids: set[str] = set()
        names: Counter[str] = Counter()
        got = 0
        done = asyncio.Event()

        async def on_message(msg: Any) -> None:
            nonlocal got
            body = json.loads(msg.data)
            ids.add(body["id"])
            names[body["name"]] += 1
            got += 1
            if got >= state.messages:
                done.set()

        if state.messages:
            sub = await js.subscribe(
                ALL, cb=on_message, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
            )
            async with asyncio.timeout(timeout):
                await done.wait()
            await sub.unsubscribe()
        return {
            "event": "counted",
            "messages": state.messages,
            "first_seq": state.first_seq,
            "last_seq": state.last_seq,
            "received": got,
            "ids": len(ids),
            "names": dict(names),
            "seconds": round(time.monotonic() - started, 2),
        }
    finally:
        await nc.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e.subscriber", description=__doc__)
    parser.add_argument("url", help="nats://127.0.0.1:PORT")
    parser.add_argument("--stream", default="ROSEY_EVENTS")
    parser.add_argument("--timeout", type=float, default=120.0, help="bound on the read")
    args = parser.parse_args(argv)
    try:
        out = asyncio.run(count(args.url, args.stream, args.timeout))
    except Exception as e:  # reported to the orchestrator, which fails the run
        out = {"event": "error", "message": f"{type(e).__name__}: {e}"}
    print(json.dumps(out), flush=True)
    return 0 if out["event"] == "counted" else 1


if __name__ == "__main__":
    raise SystemExit(main())

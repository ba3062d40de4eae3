"""Load the recorded CyTube 3.86 captures in ``tests/fixtures/`` (see its README)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
SCENARIOS = sorted(p.stem for p in FIXTURES.glob("*.jsonl"))


@dataclass(frozen=True)
class Record:
    t: float
    dir: str  # "in" (server to client), "out" (client to server) or "meta"
    conn: int | None
    frame: str | None
    meta: dict[str, Any]


@dataclass(frozen=True)
class Recording:
    header: dict[str, Any]
    records: list[Record]

    def frames(self, direction: str = "in", conn: int | None = None) -> list[str]:
        """Frames in one direction, optionally of one connection, in recorded order."""
        return [
            r.frame
            for r in self.records
            if r.dir == direction and r.frame is not None and (conn is None or r.conn == conn)
        ]

    @property
    def connections(self) -> list[int]:
        return sorted({r.conn for r in self.records if r.conn is not None and r.dir != "meta"})


def load(scenario: str) -> Recording:
    """Read ``tests/fixtures/<scenario>.jsonl``."""
    path = FIXTURES / f"{scenario}.jsonl"
    with path.open(encoding="utf-8") as f:
        header = json.loads(f.readline())
        records = []
        for line in f:
            raw = json.loads(line)
            records.append(
                Record(
                    t=raw["t"],
                    dir=raw["dir"],
                    conn=raw.get("conn"),
                    frame=raw.get("frame"),
                    meta={k: v for k, v in raw.items() if k not in ("t", "dir", "conn", "frame")},
                )
            )
    return Recording(header, records)

"""Load the recorded CyTube 3.86 captures in ``tests/fixtures/`` (see its README)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rosey import events
from rosey.events import Event
from rosey.wire import codec
from rosey.wire.normalize import Normalizer
from rosey.wire.session import CloseConnection, Connected, Deliver, Session

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


class EventReplay:
    """Turns recorded frames into the normalized events a connection would deliver.

    Feed it records in order: a new ``conn`` starts a new session and normalizer, the recorded
    client's ``joinChannel`` opens the replay window, and every server frame goes through the
    real :class:`~rosey.wire.session.Session` and :class:`~rosey.wire.normalize.Normalizer`.
    """

    def __init__(self, recording: Recording, sink: Callable[[Event], object]) -> None:
        self.eio: int = recording.header["eio"]
        self.sink = sink
        self._conn: int | None = None
        self._session = Session(eio=self.eio)
        self._normalizer = Normalizer()

    def feed(self, record: Record) -> None:
        """One record: events for the sink from a server frame, nothing for ``meta``."""
        if record.frame is None or record.dir not in ("in", "out"):
            return
        if record.conn != self._conn:  # a new websocket: a new session and normalizer
            self._conn = record.conn
            self._session = Session(eio=self.eio)
            self._normalizer = Normalizer()
        if record.dir == "out":
            packet = codec.decode(record.frame)
            if isinstance(packet, codec.EventPacket) and packet.name == "joinChannel":
                self._normalizer.begin_join()
            return
        for action in self._session.receive(record.frame, record.t):
            if isinstance(action, Connected):
                self.sink(Event(events.CONNECTED))
            elif isinstance(action, Deliver):
                self.sink(self._normalizer.normalize(action.packet.name, action.packet.data))
            elif isinstance(action, CloseConnection):
                self.sink(Event(events.DISCONNECTED, {"reason": action.reason}))

    def server(self, name: str, data: Any = None) -> None:
        """One server event written by hand, normalized like the recorded ones."""
        self.sink(self._normalizer.normalize(name, data))


#: Recorded server events the socket.io peer can replay to a live bot with ``emit`` (the
#: join-burst ones would confuse the peer's own bookkeeping).
PEER_REPLAYABLE = frozenset(
    {"chatMsg", "addUser", "userLeave", "usercount", "setAFK", "setUserMeta", "setLeader"}
)


def server_events(scenario: str, names: frozenset[str] = PEER_REPLAYABLE) -> list[tuple[str, Any]]:
    """The recorded server events named in ``names``, as ``(name, data)`` in recorded order."""
    out = []
    for frame in load(scenario).frames("in"):
        packet = codec.decode(frame)
        if isinstance(packet, codec.EventPacket) and packet.name in names:
            out.append((packet.name, packet.data))
    return out

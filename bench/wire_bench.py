"""Wire benchmark: decode + normalize every recorded server frame, next to bare ``json.loads``.

Run from the repository root: ``python -m bench.wire_bench`` (see bench/README.md).

The corpus is every server → client frame of every capture in ``tests/fixtures/`` (CyTube 3.86),
repeated in recorded order until it holds at least ``--frames`` frames. Three loops run over it,
interleaved, best of ``--repeat`` runs each:

- baseline: ``json.loads`` of each frame's JSON payload, the Engine.IO/Socket.IO prefix (the
  leading digits) stripped beforehand, outside the timing; frames with no payload (``2``, ``41``)
  cost one ``if``;
- rosey: ``codec.decode`` of the whole frame, then ``Normalizer.normalize`` for every event
  (chat HTML turned into plain text, presence events mapped, the rest passed through);
- rosey + session: the same through ``Session.receive`` (one session per recorded connection),
  the full sans-IO path the connection runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rosey.wire import codec
from rosey.wire.normalize import Normalizer
from rosey.wire.session import Deliver, Session
from tests.recorded import SCENARIOS, load

TARGET_RATIO = 4.0


@dataclass(frozen=True)
class Corpus:
    """The frames to run, grouped by recorded connection, plus their bare JSON payloads."""

    connections: list[list[str]]  # server frames of each (scenario, conn), in recorded order
    frames: list[str]  # all of them, flattened
    payloads: list[str | None]  # the JSON after the packet-type/ack-id digits, or None

    @property
    def size(self) -> int:
        return len(self.frames)


def _payload(frame: str) -> str | None:
    i = 0
    while i < len(frame) and frame[i].isdigit():
        i += 1
    return frame[i:] or None


def build_corpus(min_frames: int) -> Corpus:
    """Every recorded server frame, repeated whole until there are at least ``min_frames``."""
    recorded: list[list[str]] = []
    for scenario in SCENARIOS:
        recording = load(scenario)
        for conn in recording.connections:
            frames = recording.frames("in", conn)
            if frames:
                recorded.append(frames)
    per_pass = sum(len(c) for c in recorded)
    passes = max(1, -(-min_frames // per_pass))
    connections = [list(c) for _ in range(passes) for c in recorded]
    frames = [f for c in connections for f in c]
    return Corpus(connections, frames, [_payload(f) for f in frames])


def run_baseline(corpus: Corpus) -> None:
    """Bare ``json.loads`` of each payload."""
    loads = json.loads
    for payload in corpus.payloads:
        if payload is not None:
            loads(payload)


def run_rosey(corpus: Corpus) -> None:
    """``codec.decode`` + ``Normalizer.normalize``."""
    decode = codec.decode
    event_packet = codec.EventPacket
    normalize = Normalizer().normalize
    for frame in corpus.frames:
        packet = decode(frame)
        if type(packet) is event_packet:
            normalize(packet.name, packet.args[0] if packet.args else None)


def run_session(corpus: Corpus) -> None:
    """``Session.receive`` (one per recorded connection) + ``Normalizer.normalize``."""
    for frames in corpus.connections:
        session = Session()
        normalize = Normalizer().normalize
        for frame in frames:
            for action in session.receive(frame, 0.0):
                if type(action) is Deliver:
                    normalize(action.packet.name, action.packet.data)


def best_time(fn: Callable[[Corpus], None], corpus: Corpus) -> float:
    start = time.perf_counter()
    fn(corpus)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.wire_bench", description=__doc__)
    parser.add_argument("--frames", type=int, default=200_000, help="minimum corpus size")
    parser.add_argument("--repeat", type=int, default=5, help="runs per loop; best is kept")
    args = parser.parse_args(argv)

    corpus = build_corpus(args.frames)
    loops: dict[str, Callable[[Corpus], None]] = {
        "json.loads (baseline)": run_baseline,
        "rosey decode+normalize": run_rosey,
        "rosey session+normalize": run_session,
    }
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(args.repeat):  # interleaved, so a noisy moment hurts every loop alike
        for label, fn in loops.items():
            best[label] = min(best[label], best_time(fn, corpus))

    base = best["json.loads (baseline)"]
    print(f"corpus: {corpus.size} server frames ({len(SCENARIOS)} captures, repeated)")
    print(f"python {sys.version.split()[0]}, best of {args.repeat}")
    for label, seconds in best.items():
        ratio = seconds / base
        print(f"{label:26} {corpus.size / seconds:12,.0f} frames/s  {ratio:5.2f}x baseline")
    ratio = best["rosey decode+normalize"] / base
    verdict = "OK" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"target: decode+normalize <= {TARGET_RATIO:g}x baseline: {ratio:.2f}x {verdict}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())

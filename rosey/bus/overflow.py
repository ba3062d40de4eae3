"""Events dropped for a full buffer, never silently: reported at the first drop, then at most
once a minute with the number dropped since, and at stop (used by the daemon's side of the
bus process and by the publisher in it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Seconds between two reports (the first drop is reported at once).
REPORT_EVERY = 60.0


class Overflow:
    """Counts drops; ``report(new)`` logs the ``new`` ones since the last report.
    ``call_later(seconds, f)`` schedules (the reactor's ``callLater`` or asyncio's
    ``call_later``: anything whose result has ``cancel()``)."""

    def __init__(
        self,
        call_later: Callable[[float, Callable[[], None]], Any],
        report: Callable[[int], None],
    ) -> None:
        self.dropped = 0
        self._call_later = call_later
        self._report = report
        self._reported = 0
        self._timer: Any = None

    def drop(self) -> None:
        """One more event dropped."""
        self.dropped += 1
        if self._timer is None:
            self._tick()

    def _tick(self) -> None:
        self._timer = None
        if self._say():
            self._timer = self._call_later(REPORT_EVERY, self._tick)

    def _say(self) -> bool:
        new = self.dropped - self._reported
        if new:
            self._reported = self.dropped
            self._report(new)
        return bool(new)

    def stop(self) -> None:
        """Report what is left unreported, and schedule nothing more."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._say()

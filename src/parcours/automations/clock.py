"""Time for the runtime, injectable: the system's in the server, a simulated one in a dry run
and in tests (a month of waits in seconds)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class SimulatedClock:
    """A clock that moves only when told: `advance(timedelta)` or `set(instant)`."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a simulated clock starts at an aware instant")
        self._now = start.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, by: dt.timedelta) -> dt.datetime:
        self._now += by
        return self._now

    def set(self, instant: dt.datetime) -> dt.datetime:
        if instant < self._now:
            raise ValueError("a clock does not go back")
        self._now = instant.astimezone(dt.UTC)
        return self._now

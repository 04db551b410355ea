"""What the benchmarks share: timing a side's runs in its own process."""

from __future__ import annotations

import contextlib
import resource
import time
from collections.abc import Iterator
from typing import Any


class Runs:
    """Wall and CPU seconds of each run of a side, in this process (all its threads)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    @contextlib.contextmanager
    def run(self) -> Iterator[None]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        yield
        self.wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu.append(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime)

    def figures(self) -> dict[str, Any]:
        """The best run's wall and CPU seconds, and every run's wall seconds."""
        best = min(range(len(self.wall)), key=self.wall.__getitem__)
        return {"seconds": self.wall[best], "cpu_seconds": self.cpu[best], "runs": self.wall}

"""Waiting for something another process does (a server's loader storing what it acknowledged,
a server answering): poll until it is so. No test asserts how long that takes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

HANG_GUARD = 120.0
"""Seconds after which a wait gives up and hands back what it last saw, for the test's own
assertion to fail on. Only a guard against a test hanging for ever; not a speed requirement:
on a loaded machine a wait takes what it takes."""


def poll(probe: Callable[[], T], until: Callable[[T], bool], *, every: float = 0.05) -> T:
    """`probe()` again and again until `until` holds for its answer; that answer, or the last
    one when `HANG_GUARD` runs out."""
    give_up = time.monotonic() + HANG_GUARD
    while True:
        seen = probe()
        if until(seen) or time.monotonic() > give_up:
            return seen
        time.sleep(every)

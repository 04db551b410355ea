"""Time in the demo world: instants are integer milliseconds since the epoch, UTC.

The world runs from Monday 2026-01-05 to 2026-10-31 (exclusive). Stores, the call centre and the
chat team work on Paris wall-clock time, so this module converts between world days, Paris local
time and UTC, and renders each export's own timestamp format. Paris daylight saving time follows
the EU rule (last Sunday of March to last Sunday of October, switching at 01:00 UTC); it is
computed here rather than read from a time-zone database so the output never depends on the
machine's tzdata.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

_EPOCH = datetime(1970, 1, 1)  # naive: the formatters below add the offset themselves


def _ms(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * SECOND


WORLD_START = _ms(datetime(2026, 1, 5, tzinfo=UTC))
"""First instant of the world, a Monday: world day 0."""
WORLD_END = _ms(datetime(2026, 10, 31, tzinfo=UTC))
"""No event happens at or after this instant."""
WORLD_DAYS = (WORLD_END - WORLD_START) // DAY
CHURN_CUTOFF = _ms(datetime(2026, 8, 1, tzinfo=UTC))
"""The date the health test judges churn on: customers active in the eight weeks before it
(customers.csv `active_before_cutoff`), churned when their `churn_date` falls before the end
of its horizon."""
QUIET_FROM = _ms(datetime(2026, 10, 1, tzinfo=UTC))
"""A customer churned (customers.csv `churned`) when they do nothing from their last activity
to the world's end, and that is at least from this date: a month of silence at the least."""
CHURN_SEASON = (_ms(datetime(2026, 4, 1, tzinfo=UTC)), _ms(datetime(2026, 10, 1, tzinfo=UTC)))
"""Discontented customers reach their low point on a day of their own in this span (churn.py):
those who leave, leave then."""


def _last_sunday(year: int, month: int) -> date:
    last = date(year, month, 31)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _switch(day: date) -> int:
    return _ms(datetime(day.year, day.month, day.day, 1, tzinfo=UTC))


_SUMMER_TIME = (_switch(_last_sunday(2026, 3)), _switch(_last_sunday(2026, 10)))


def paris_offset(utc_ms: int) -> int:
    """Offset of Paris from UTC at `utc_ms`, in ms: one hour in winter, two in summer."""
    return 2 * HOUR if _SUMMER_TIME[0] <= utc_ms < _SUMMER_TIME[1] else HOUR


def local_to_utc(day: int, second_of_day: int) -> int:
    """UTC instant of Paris wall-clock `second_of_day` on world `day` (0 = 2026-01-05).

    Only daytime hours are asked for (06:00 onwards), which are never skipped or repeated by a
    daylight-saving switch, so the conversion is exact.
    """
    naive = WORLD_START + day * DAY + second_of_day * SECOND
    winter = naive - HOUR
    return naive - 2 * HOUR if paris_offset(winter) == 2 * HOUR else winter


def world_day(utc_ms: int) -> int:
    """The world day (Paris calendar) an instant falls on."""
    return (utc_ms + paris_offset(utc_ms) - WORLD_START) // DAY


def local_second_of_day(utc_ms: int) -> int:
    return (utc_ms + paris_offset(utc_ms) - WORLD_START) % DAY // SECOND


def weekday(day: int) -> int:
    """0 = Monday, as `date.weekday()`: world day 0 is a Monday."""
    return day % 7


@dataclass(frozen=True)
class Opening:
    """When a channel is staffed: Paris hours [opens, closes) on the listed weekdays."""

    opens: float
    closes: float
    weekdays: frozenset[int] = frozenset(range(7))


def slot(rng: random.Random, not_before: int, opening: Opening) -> int | None:
    """A random whole-second instant within opening hours, at or after `not_before`.

    Looks up to two weeks ahead; None when that runs past the end of the world.
    """
    day = world_day(not_before)
    earliest = local_second_of_day(not_before) + 1
    for offset in range(14):
        current = day + offset
        if current >= WORLD_DAYS:
            return None
        if weekday(current) not in opening.weekdays:
            continue
        low = int(opening.opens * 3600)
        high = int(opening.closes * 3600)
        if offset == 0:
            low = max(low, earliest)
        if low < high:
            return local_to_utc(current, rng.randrange(low, high))
    return None


def _utc(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _local(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms + paris_offset(ms))


@cache
def _utc_date(days_since_epoch: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=days_since_epoch)).isoformat()


def iso_utc(ms: int) -> str:
    """`2026-03-01T12:34:56.789Z`: web exports and the truth files."""
    # Arithmetic rather than strftime: this runs for every web event and truth row.
    days, rest = divmod(ms, DAY)
    seconds, millis = divmod(rest, SECOND)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_utc_date(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def iso_paris(ms: int) -> str:
    """`2026-03-01T13:34:56+01:00`: Paris time with its offset (chat platform)."""
    hours = paris_offset(ms) // HOUR
    return f"{_local(ms):%Y-%m-%dT%H:%M:%S}+{hours:02d}:00"


def paris(ms: int, pattern: str) -> str:
    """Paris wall-clock time without an offset, as the till, call centre and CRM write it."""
    return _local(ms).strftime(pattern)


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def twitter(ms: int) -> str:
    """`Mon Oct 05 14:12:33 +0000 2026`, with English names whatever the machine's locale."""
    moment = _utc(ms)
    return (
        f"{_DAY_NAMES[moment.weekday()]} {_MONTH_NAMES[moment.month - 1]} {moment.day:02d} "
        f"{moment:%H:%M:%S} +0000 {moment.year}"
    )


def weighted_hour(rng: random.Random, weights: tuple[float, ...], first_hour: int) -> int:
    """A random second of day whose hour follows `weights` (one weight per hour from first_hour)."""
    hour = first_hour + rng.choices(range(len(weights)), weights)[0]
    return hour * 3600 + rng.randrange(3600)

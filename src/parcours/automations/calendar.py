"""Local time for the runtime: the next local time on given weekdays in a zone (wait_until),
the slots a schedule passed, the due instant of a date trigger. Each is computed once per time
zone with zoneinfo (DST-correct: 09:00 in Paris is 08:00 UTC in winter, 07:00 in summer) and
joined to the customers of that zone in SQL, so the work grows with the zones, not the
customers."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from parcours.automations.definition import WEEKDAYS, DateTrigger, duration_seconds


def _local(zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(zone)
    except Exception:  # zones_query keeps only names the engine knows; guard anyway
        return ZoneInfo("UTC")


def _at(day: dt.date, time: str, zone: ZoneInfo) -> dt.datetime:
    """`time` (HH:MM) on `day` in `zone`, as a UTC instant. A time the spring change skips
    (02:30) is read with the offset before the change, i.e. an hour later in local terms."""
    hours, minutes = (int(x) for x in time.split(":"))
    local = dt.datetime(day.year, day.month, day.day, hours, minutes, tzinfo=zone)
    return local.astimezone(dt.UTC)


def next_local(now: dt.datetime, time: str, weekdays: list[str] | None, zone: str) -> dt.datetime:
    """The first instant after `now` that is `time` in `zone` on one of `weekdays` (any day
    when None)."""
    tz = _local(zone)
    today = now.astimezone(tz).date()
    allowed = {WEEKDAYS.index(d) for d in weekdays} if weekdays else set(range(7))
    for ahead in range(8):
        day = today + dt.timedelta(days=ahead)
        if day.weekday() in allowed:
            instant = _at(day, time, tz)
            if instant > now:
                return instant
    raise AssertionError("a week always holds an allowed day")  # pragma: no cover


def last_slot(
    after: dt.datetime,
    until: dt.datetime,
    *,
    every: str,
    at: str,
    weekdays: list[str] | None,
    zone: str,
) -> dt.datetime | None:
    """The latest slot of a schedule in (after, until] in `zone`, if any: every `every`
    days (counted from 1970-01-01 local) at `at` on `weekdays`; a schedule more often than
    daily runs every `every` from `at` each day. A tick that missed several slots runs the
    latest once."""
    tz = _local(zone)
    seconds = duration_seconds(every)
    allowed = {WEEKDAYS.index(d) for d in weekdays} if weekdays else set(range(7))
    day = until.astimezone(tz).date()
    first = after.astimezone(tz).date() - dt.timedelta(days=1)
    while day >= first:
        if day.weekday() in allowed:
            start = _at(day, at, tz)
            if seconds >= 86400:
                days = int(seconds // 86400)
                if (day - dt.date(1970, 1, 1)).days % days == 0 and after < start <= until:
                    return start
            else:
                step = dt.timedelta(seconds=seconds)
                count = int((until - start) / step) if until >= start else -1
                if count >= 0:
                    slot = start + count * step
                    if slot.astimezone(tz).date() == day and after < slot <= until:
                        return slot
        day -= dt.timedelta(days=1)
    return None


def date_due_sql(trigger: DateTrigger, value: str, zone: str) -> str:
    """SQL for the instant a date trigger is due for a customer: the date `value` (a column
    of text) plus the offset, at `at` local time in `zone` (a column)."""
    offset = int(duration_seconds(trigger.offset, signed=True))
    local = (
        f"(TRY_CAST(left({value}, 10) AS DATE) + TIME '{trigger.at}:00' "
        f"+ INTERVAL ({offset}) SECOND)::TIMESTAMP"
    )
    return f"timezone({zone}, {local})"

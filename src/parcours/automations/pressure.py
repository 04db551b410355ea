"""Contact pressure and quiet hours, in each recipient's time zone.

Budgets are per person, across every automation and channel, counted in calendar periods of
the recipient's own zone: `messages_per_day` (service and marketing messages a local day,
midnight to midnight) and `marketing_per_week` (marketing messages a local week, Monday to
Sunday). Transactional messages are never capped and count against nothing. When several
messages of one person are due together, the higher priority spends the budget first
(transactional, then service, then marketing; then the earliest planned).

A message over a budget is not dropped: it is deferred to the next allowed moment — the start
of the next local day or week, moved past quiet hours if that start falls inside them. Quiet
hours (`quiet_hours`, local times, e.g. 21:00–08:00) defer marketing and service messages to
their end; a transactional message goes at once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from parcours.automations.definition import PRIORITIES
from parcours.automations.settings import AutomationSettings


def _time(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


def quiet_end(at: dt.datetime, zone: ZoneInfo, quiet: tuple[str, str] | None) -> dt.datetime | None:
    """When the quiet hours `at` falls in end (UTC), or None when `at` is not in them."""
    if quiet is None:
        return None
    start, end = _time(quiet[0]), _time(quiet[1])
    if start == end:
        return None
    local = at.astimezone(zone)
    now = local.time().replace(tzinfo=None)
    if start < end:  # e.g. 12:00-14:00, within one day
        inside = start <= now < end
        day = local.date()
    else:  # e.g. 21:00-08:00, across midnight
        inside = now >= start or now < end
        day = local.date() + dt.timedelta(days=1) if now >= start else local.date()
    if not inside:
        return None
    return dt.datetime.combine(day, end, tzinfo=zone).astimezone(dt.UTC)


def day_start(at: dt.datetime, zone: ZoneInfo, *, days: int = 0) -> dt.datetime:
    local = at.astimezone(zone).date() + dt.timedelta(days=days)
    return dt.datetime.combine(local, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def week_start(at: dt.datetime, zone: ZoneInfo, *, weeks: int = 0) -> dt.datetime:
    local = at.astimezone(zone).date()
    monday = local - dt.timedelta(days=local.weekday()) + dt.timedelta(weeks=weeks)
    return dt.datetime.combine(monday, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


@dataclass
class Budget:
    """One person's spending so far: the instants of the messages that count (sent, or
    handed to a provider), by priority."""

    zone: ZoneInfo
    spent: list[tuple[str, dt.datetime]] = field(default_factory=list)

    def counts(self, now: dt.datetime) -> Counter[str]:
        today, week = day_start(now, self.zone), week_start(now, self.zone)
        counted: Counter[str] = Counter()
        for priority, at in self.spent:
            if priority == "transactional":
                continue
            if at >= today:
                counted["day"] += 1
            if priority == "marketing" and at >= week:
                counted["marketing_week"] += 1
        return counted


@dataclass(frozen=True)
class Verdict:
    """`go`, or deferred `until` for `reason`."""

    go: bool
    until: dt.datetime | None = None
    reason: str | None = None


class Pressure:
    """Decides, message by message in priority order, whether each may go now."""

    def __init__(self, settings: AutomationSettings, now: dt.datetime) -> None:
        self.settings, self.now = settings, now

    def judge(self, priority: str, budget: Budget) -> Verdict:
        """Whether a message of `priority` to the person of `budget` may go now; when it
        goes, it is counted against the budget at once (for the next message of the batch)."""
        if priority == "transactional":
            budget.spent.append((priority, self.now))
            return Verdict(True)
        quiet = self.settings.quiet_hours
        ends = quiet_end(self.now, budget.zone, quiet)
        if ends is not None:
            return Verdict(False, ends, f"quiet hours in {budget.zone.key} until {quiet[1]}")  # type: ignore[index]
        counted = budget.counts(self.now)
        later: list[tuple[dt.datetime, str]] = []
        per_day = self.settings.messages_per_day
        if per_day is not None and counted["day"] >= per_day:
            later.append((day_start(self.now, budget.zone, days=1), f"{per_day} messages a day"))
        per_week = self.settings.marketing_per_week
        marketing = priority == "marketing" and per_week is not None
        if marketing and counted["marketing_week"] >= per_week:  # type: ignore[operator]
            next_week = week_start(self.now, budget.zone, weeks=1)
            later.append((next_week, f"{per_week} marketing messages a week"))
        if later:
            until, cap = max(later)
            # The next allowed moment: the next period's start, past quiet hours.
            until = quiet_end(until, budget.zone, quiet) or until
            return Verdict(False, until, f"capped at {cap} in {budget.zone.key}")
        budget.spent.append((priority, self.now))
        return Verdict(True)


def priority_rank(priority: str) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES)

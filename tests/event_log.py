"""Small hand-made event logs for the journey tests, imported through the real path."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import parcours

MAPPING = """
name: t
event: {field: event}
channel: {field: channel}
occurred_at: {field: at}
user_id: user
"""
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def import_events(
    p: parcours.Parcours,
    tmp_path: Path,
    rows: list[tuple[str, float, str, str]],
    source: str = "s",
) -> None:
    """Import (customer, hours after START, channel, event name) rows as one file of
    `source`; customers are resolved on arrival."""
    (tmp_path / "m.yaml").write_text(MAPPING)
    data = tmp_path / f"{source}.csv"
    lines = ["at,channel,user,event"]
    for user, hours, channel, event in rows:
        lines.append(f"{(START + dt.timedelta(hours=hours)).isoformat()},{channel},{user},{event}")
    data.write_text("\n".join(lines) + "\n")
    p.import_file(data, source=source, mapping=tmp_path / "m.yaml")


FULL_MAPPING = """
name: t
event: {field: event}
channel: {field: channel}
occurred_at: {field: at}
user_id: user
intent: intent
outcome: outcome
wait_seconds: wait_seconds
"""


@dataclass(frozen=True)
class Event:
    """One event of a hand-made log, at an exact instant; a contact when it has an intent."""

    user: str
    at: dt.datetime
    channel: str
    name: str
    intent: str = ""
    outcome: str = ""
    wait_seconds: int | None = None


def import_log(
    p: parcours.Parcours, tmp_path: Path, events: list[Event], source: str = "log"
) -> None:
    """Import these events as one CSV file of `source` through a mapping that also reads
    intent, outcome and waiting time; customers are resolved on arrival."""
    (tmp_path / "full.yaml").write_text(FULL_MAPPING)
    data = tmp_path / f"{source}.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["at", "channel", "user", "event", "intent", "outcome", "wait_seconds"])
        for e in events:
            wait = "" if e.wait_seconds is None else e.wait_seconds
            row = [e.at.isoformat(), e.channel, e.user, e.name, e.intent, e.outcome, wait]
            writer.writerow(row)
    summary = p.import_file(data, source=source, mapping=tmp_path / "full.yaml")
    assert not summary.quarantined, summary.quarantined

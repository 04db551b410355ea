"""Small hand-made event logs for the journey tests, imported through the real path."""

from __future__ import annotations

import datetime as dt
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

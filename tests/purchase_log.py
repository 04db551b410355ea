"""Small generated logs of purchases and other events, for the tier, RFM and persona tests:
imported through the real path with a mapping that reads amounts, categories and devices."""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

import parcours

MAPPING = """
name: shop
event: {field: event}
channel: {field: channel}
occurred_at: {field: at}
user_id: user
amount: amount
intent: intent
properties: [category, platform]
"""
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PRICES = ("9.99", "20", "49.50", "100", "100", "250")
"""Few distinct prices, so that customers tie on spend."""


@dataclass(frozen=True)
class Row:
    user: str
    at: dt.datetime
    event: str
    channel: str = "web"
    amount: str = ""
    category: str = ""
    platform: str = ""
    intent: str = ""


def import_rows(
    p: parcours.Parcours, tmp_path: Path, rows: list[Row], source: str = "shop"
) -> None:
    """Import these rows as one CSV file of `source`; customers are resolved on arrival."""
    (tmp_path / "shop.yaml").write_text(MAPPING)
    data = tmp_path / f"{source}.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["at", "user", "event", "channel", "amount", "category", "platform", "intent"]
        )
        for r in rows:
            at = r.at.isoformat()
            writer.writerow(
                [at, r.user, r.event, r.channel, r.amount, r.category, r.platform, r.intent]
            )
    summary = p.import_file(data, source=source, mapping=tmp_path / "shop.yaml")
    assert not summary.quarantined, summary.quarantined


def generated(customers: int = 300, days: int = 240, seed: int = 13) -> list[Row]:
    """A shop's log: each customer buys at a rate of their own (from once in months to six
    times a week) during an active spell, so customers climb and fall on the ladders; prices
    from a short list and some purchases exactly at midnight (window edges), so values tie;
    a few customers only browse."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for c in range(customers):
        user = f"u{c:04d}"
        per_week = rng.choice((0.0, 0.1, 0.3, 1.0, 2.5, 4.5, 6.0))
        begin = rng.uniform(0, days * 0.6)
        end = min(days, begin + rng.uniform(20, days))
        rows.append(Row(user, START + dt.timedelta(days=begin), "Page Viewed"))
        t = begin
        while per_week and t < end:
            t += rng.expovariate(per_week / 7)
            if t >= end:
                break
            at = START + dt.timedelta(days=t)
            if rng.random() < 0.15:  # on a review's edge
                at = at.replace(hour=0, minute=0, second=0, microsecond=0)
            channel = rng.choice(("web", "web", "store", "app"))
            rows.append(Row(user, at, "Order Completed", channel, rng.choice(PRICES)))
    return rows


def at_day(day: int, hour: int = 10) -> dt.datetime:
    """`hour` o'clock UTC on day `day` of the log (day 1: START's date)."""
    return START + dt.timedelta(days=day - 1, hours=hour)

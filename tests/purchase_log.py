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


GROUPS = ("store", "app", "support")


def behaviours(
    per_group: int = 40, seed: int = 5, prefix: str = "b"
) -> tuple[list[Row], dict[str, str]]:
    """Three planted behaviours, `per_group` customers each (returned with each customer's
    group): store buyers in the morning (photo gear), app users on iOS in the evening, and
    web visitors who call support in the afternoon."""
    rng = random.Random(seed)
    rows: list[Row] = []
    groups: dict[str, str] = {}
    for group in GROUPS:
        for i in range(per_group):
            user = f"{prefix}-{group}-{i:03d}"
            groups[user] = group
            for _ in range(rng.randint(3, 8)):
                day = rng.randint(1, 120)
                if group == "store":
                    at = at_day(day, rng.randint(9, 11))
                    rows.append(
                        Row(user, at, "Order Completed", "store", rng.choice(PRICES), "Photo")
                    )
                elif group == "app":
                    at = at_day(day, rng.randint(19, 22))
                    rows.append(Row(user, at, "Product Viewed", "app", platform="ios"))
                    if rng.random() < 0.3:
                        rows.append(Row(user, at, "Order Completed", "app", "20", platform="ios"))
                else:
                    at = at_day(day, rng.randint(13, 16))
                    rows.append(Row(user, at, "Page Viewed", "web"))
                    intent = rng.choice(("delivery", "billing"))
                    rows.append(Row(user, at, "Call", "call", intent=intent))
    return rows, groups

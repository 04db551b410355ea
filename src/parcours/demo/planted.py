"""Deliberately bad records, planted so the import's quarantine can be checked against a count.

Each bad record is an extra record (no customer's real event is spoiled) with exactly one
problem, so the importer's first reason code is the planted one. Their identifiers are not
recorded as seen: a quarantined record stores nothing.
"""

from __future__ import annotations

import json

from parcours.demo.catalog import CALL_QUEUES, INTENT_CODES, SITE, USER_AGENTS
from parcours.demo.clock import DAY, MINUTE, WORLD_START, Opening, iso_paris, iso_utc, paris, slot
from parcours.demo.journey import Journey
from parcours.demo.people import phone_as_written, random_uuid

BAD_KINDS = (
    ("web", "unparseable"),
    ("call_centre", "bad_timestamp"),
    ("call_centre", "missing_identity"),
    ("pos", "wrong_type"),
    ("chat", "unknown_channel"),
    ("crm", "bad_identifier"),
)

_DAYTIME = Opening(10, 18, frozenset(range(5)))


def bad_record_plan(customers: int) -> dict[int, list[tuple[str, str]]]:
    """Customer index -> bad records to plant after that customer: max(1, customers//1000)
    of each kind, spread evenly through the files."""
    count = max(1, customers // 1000)
    plan: dict[int, list[tuple[str, str]]] = {}
    for k in range(count):
        for shift, kind in enumerate(BAD_KINDS):
            index = ((2 * k + 1) * customers // (2 * count) + shift) % customers
            plan.setdefault(index, []).append(kind)
    return plan


def plant(j: Journey, source: str, reason_code: str) -> None:
    rng, run, c = j.rng, j.run, j.c
    at = slot(rng, max(WORLD_START, min(j.first_activity, WORLD_START + 200 * DAY)), _DAYTIME)
    at = at if at is not None else WORLD_START + DAY
    exports = run.exports
    if reason_code == "unparseable":
        message = {
            "messageId": random_uuid(rng),
            "type": "page",
            "name": "Home",
            "anonymousId": c.cookies[0],
            "timestamp": iso_utc(at),
            "properties": {"path": "/"},
            "context": {"page": {"url": SITE + "/"}, "userAgent": USER_AGENTS[0]},
        }
        line = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        exports.web.write_raw(line[: len(line) // 2])  # cut off mid-write, like a crashed export
    elif source == "call_centre":
        started = (
            "2026-02-31 25:61:00"
            if reason_code == "bad_timestamp"
            else paris(at, "%Y-%m-%d %H:%M:%S")
        )
        caller = "" if reason_code == "missing_identity" else phone_as_written(rng, c.mobile)
        exports.call_centre.write(
            (
                f"CL{run.counters.next('calls'):09d}",
                started,
                caller,
                CALL_QUEUES["delivery"],
                42,
                "00:03:10",
                "A007",
                "Tier1",
                INTENT_CODES["delivery"],
                "RES",
                "Demande traitée, client satisfait",
                "",
                "",
                "",
            )
        )
    elif reason_code == "wrong_type":
        exports.pos.write(
            (
                f"R-{run.counters.next('receipts'):07d}-{c.town.store_id}",
                c.town.store_id,
                paris(at - at % MINUTE, "%d/%m/%Y %H:%M"),
                "",
                "n/a",
                "EUR",
                1,
                "CB",
                "",
                "",
                "",
                "",
                "",
            )
        )
    elif reason_code == "unknown_channel":
        exports.chat.write(
            {
                "chat_id": str(10**9 + run.counters.next("chats")),
                "medium": "carrier-pigeon",
                "started_at": iso_paris(at),
                "visitor_id": c.cookies[0],
                "agent": "Léa B.",
                "team": "Chat N1",
                "topic": "Delivery",
                "status": "solved",
                "wait_s": 12,
                "duration_s": 240,
                "transcript": "Client : Mon colis est-il parti ?",
            }
        )
    else:
        number = run.counters.next("crm_rows")
        exports.crm.write(
            (
                f"TMP{number:06d}",
                "Test",
                "Caisse",
                "not-an-email",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                paris(at, "%Y-%m-%d %H:%M:%S"),
            )
        )
    exports.plant(source, reason_code)

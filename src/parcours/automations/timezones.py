"""Each recipient's time zone, for local times (wait until 09:00, quiet hours, a week's budget):
the latest `timezone` trait the customer's identify events carry (an IANA name, as
analytics.js and the mobile SDKs report it: Europe/Paris), else the settings' default. A name
the engine does not know counts as none."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parcours.automations.definition import AutomationError
from parcours.sql import lit

TRAIT = "timezone"


def zones_query(customers: str, default: str) -> str:
    """SQL answering `customer_id, zone` for every customer `customers` (SQL selecting
    `customer_id`) selects."""
    return f"""
        SELECT c.customer_id, coalesce(t.zone, {lit(default)}) AS zone
        FROM (SELECT DISTINCT customer_id FROM ({customers})) c
        LEFT JOIN (
            SELECT customer_id, arg_max(zone, occurred_at) AS zone FROM (
                SELECT customer_id, occurred_at,
                       json_extract_string(properties, '$.{TRAIT}') AS zone
                FROM customer_events
                WHERE type = 'identify' AND customer_id IN (SELECT customer_id FROM ({customers}))
            ) WHERE zone IN (SELECT name FROM pg_timezone_names())
            GROUP BY customer_id
        ) t USING (customer_id)
    """


def checked_zone(name: str, *, where: str) -> ZoneInfo:
    """`name` as a time zone, or an AutomationError saying how to write one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AutomationError(
            f"{name!r} is not a time zone",
            "write an IANA name such as Europe/Paris, America/New_York or UTC",
            where=where,
        ) from None

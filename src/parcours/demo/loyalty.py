"""Frequent buyers and the loyalty programme: what tiers and the onboarding milestone find.

Frequent buyers (8 % of web researchers and app natives) stock up on
accessories — cables, batteries, memory cards, a warranty — online, in bursts of 2 to 6 orders
on consecutive days, every 6 to 16 weeks: the behaviour the seed's tiers qualify on (Silver 2
orders a week, Gold 4, Platinum beyond). The truth records each customer's most orders in any
7 days (customers.csv `max_orders_7d`).

The loyalty programme is joined in the app (an app event `Loyalty Enrolled`): after a
purchase, a customer with the app enrols at their next app session (40 % of app natives, 5 %
of the others), and from October the app's loyalty drive enrols 40 % of the app natives who
come. How keen a member is decides how often they come back and buy in the
30 days after; the truth (milestones.csv) records who reached the seed's onboarding milestone,
3 app sessions (`App Opened`) and a purchase within 30 days of enrolling, who missed it and who
is still within the 30 days at the world's end.
"""

from __future__ import annotations

from datetime import date

from parcours.demo.journey import Journey

RESTOCKING_TYPES = ("web_researcher", "app_native")
RESTOCKERS = 0.08
"""Share of customers of those types who buy accessories in bursts."""
BURSTS, BURST_WEIGHTS = (2, 3, 4, 5, 6), (30, 25, 20, 15, 10)
"""Orders in a burst, and how often each count comes."""

ENROLS = {"app_native": 0.4}
"""Chance that a customer with the app enrols after a purchase (0.05 for other types)."""
LOYALTY_DRIVE = ((date(2026, 10, 1) - date(2026, 1, 5)).days, 0.4)
"""The autumn loyalty drive: from this world day, an app native who is not a member enrols at
their next app session with this chance."""
ONBOARDING = ((0.4, 3.0, 0.35), (0.35, 6.0, 0.18), (0.25, 14.0, 0.06))
"""(share, mean days between visits, chance a visit buys) in the 30 days after enrolling, for
keen, steady and slow members."""


def draw_restocker(j: Journey, first_day: int) -> None:
    """Whether the customer buys in bursts, and when the first burst comes."""
    if j.c.journey_type in RESTOCKING_TYPES and j.rng.random() < RESTOCKERS:
        j.restocker, j.restock_day = True, first_day + j.rng.randint(10, 90)


def restocking(j: Journey, day: int) -> bool:
    """Whether a visit on world `day` is an order of a burst (2-6 orders on consecutive days)."""
    if j.restock_left:
        return True
    if j.restocker and day >= j.restock_day:
        j.restock_left = j.rng.choices(BURSTS, BURST_WEIGHTS)[0]
        j.restock_day = day + j.rng.randint(42, 112)
        return True
    return False


def drive(j: Journey, day: int) -> None:
    """The autumn loyalty drive, for a customer visiting on world `day`."""
    if (
        day >= LOYALTY_DRIVE[0]
        and j.c.journey_type == "app_native"
        and j.enrolled_at is None
        and not j.enrol_pending
    ):
        j.enrol_pending = j.rng.random() < LOYALTY_DRIVE[1]


def after_purchase(j: Journey) -> None:
    """A customer with the app may decide to enrol, at their next app session."""
    if j.c.devices and j.enrolled_at is None and not j.enrol_pending:
        j.enrol_pending = j.rng.random() < ENROLS.get(j.c.journey_type, 0.05)


def enrolled(j: Journey, at: int) -> None:
    """The customer joined at `at`; how keen they are sets their next 30 days."""
    j.enrol_pending, j.enrolled_at = False, at
    keen = j.rng.choices(range(len(ONBOARDING)), [w for w, _, _ in ONBOARDING])[0]
    _, j.onboarding_gap, j.onboarding_buys = ONBOARDING[keen]

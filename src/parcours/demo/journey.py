"""The state of one customer's simulation, shared by the visit, service and churn models."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from parcours.demo.catalog import Product
from parcours.demo.clock import CHURN_CUTOFF, DAY, QUIET_FROM, WORLD_DAYS, WORLD_END
from parcours.demo.outputs import Run
from parcours.demo.people import Customer

ACTIVE_WINDOW = 56 * DAY
"""A customer is active before the churn cut-off with an activity in the 8 weeks before it."""


@dataclass
class Journey:
    run: Run
    c: Customer
    rng: random.Random
    interest: Product
    """The product the customer came for; research keeps coming back to it."""
    visit_number: int = 0
    purchases: int = 0
    active_until: int = WORLD_END
    """No customer-initiated event at or after this instant (churn, or the end of the world)."""
    churned: bool = False
    first_activity: int = WORLD_END
    last_activity: int = 0
    # Churn over the year (churn.py).
    discontent: float = 0.0
    """0-1: how unhappy the customer grows in the weeks before their low point."""
    low_point: int = WORLD_END
    """The customer's own day of greatest discontent: signals come in the weeks before it."""
    leaver: bool = False
    """Leaves at their low point."""
    regular: bool = False
    """Visits all year round instead of a planned number of times."""
    active_before_cutoff: bool = False
    active_after_cutoff: bool = False
    last_before_cutoff: int = 0
    # Tiers: bursts of accessory orders (visits.py).
    restocker: bool = False
    restock_day: int = WORLD_DAYS
    """World day of the next burst of orders."""
    restock_left: int = 0
    order_times: list[int] = field(default_factory=list)
    last_order: tuple[str, str] = ("", "")
    """Reference and first product of the latest order."""
    orders: list[tuple[int, str, str]] = field(default_factory=list)
    """(instant, reference, first product) of each order, in the order they were placed."""
    # Loyalty enrolment and its onboarding milestone (visits.py).
    enrol_pending: bool = False
    enrolled_at: int | None = None
    onboarding_gap: float = 7.0
    """Mean days between app sessions in the 30 days after enrolling."""
    onboarding_buys: float = 0.1
    """Chance that a visit in those 30 days ends in a purchase."""
    app_opens: list[int] = field(default_factory=list)
    """Instants of `App Opened` from the enrolment on."""
    sms_opt_in: bool = False
    contacts: list[tuple[int, str]] = field(default_factory=list)
    """(instant, intent) of each contact attempt so far."""
    # What the demo's automations read (marketing.py).
    last_visit: int = 0
    """The latest event on a channel the journeys count visits on (web, app, store, call...)."""
    last_click: int = 0
    """The latest click in an email."""
    signup_drawn: bool = False

    def touch(self, at: int, channel: str | None = None) -> None:
        """Note a customer-initiated event at `at` (events are not generated in time order),
        on `channel` (a visit's channel, or `click` for a click in an email) when it counts
        for the demo's automations."""
        self.first_activity = min(self.first_activity, at)
        self.last_activity = max(self.last_activity, at)
        if channel == "click":
            self.last_click = max(self.last_click, at)
        elif channel is not None:
            self.last_visit = max(self.last_visit, at)
        if at >= CHURN_CUTOFF:
            self.active_after_cutoff = True
        elif at >= CHURN_CUTOFF - ACTIVE_WINDOW:
            self.active_before_cutoff = True
            self.last_before_cutoff = max(self.last_before_cutoff, at)

    @property
    def inactive(self) -> bool:
        return self.churned or self.leaver or self.c.journey_type == "inactive"

    @property
    def left(self) -> bool:
        """The truth's churn label: the customer did something, and nothing from their last
        activity to the world's end, a month at least (clock.QUIET_FROM) — whatever the cause:
        a low point (churn.py), a failed case (service.py), or a journey that just ended."""
        return 0 < self.last_activity < QUIET_FROM

    def onboarding(self, at: int) -> bool:
        """Within the 30 days after enrolling in the loyalty programme."""
        return self.enrolled_at is not None and at < self.enrolled_at + 30 * DAY

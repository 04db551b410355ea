"""The state of one customer's simulation, shared by the visit and service models."""

from __future__ import annotations

import random
from dataclasses import dataclass

from parcours.demo.catalog import Product
from parcours.demo.clock import WORLD_END
from parcours.demo.outputs import Run
from parcours.demo.people import Customer


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

    def touch(self, at: int) -> None:
        """Note a customer-initiated event at `at` (events are not generated in time order)."""
        self.first_activity = min(self.first_activity, at)
        self.last_activity = max(self.last_activity, at)

    @property
    def inactive(self) -> bool:
        return self.churned or self.c.journey_type == "inactive"

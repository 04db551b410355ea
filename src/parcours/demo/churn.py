"""Churn as a process over the year, and the signals that precede it.

Each customer of an active journey type (not `inactive`, not `one_time`) carries a hidden
discontent u, uniform on [0, 1), and a low point of their own: a day drawn uniformly from
2026-04-01 (or four weeks after their first visit, if later) to 2026-10-01
(clock.CHURN_SEASON). In the eight weeks before their low point, the more discontented show the
signals a health score reads, each drawn at random from u, so no one flag gives churn away and
some customers who stay show them too:

- declining visits: the gap between visits stretches towards the low point, by up to four times
  for the most discontented, and by three times more for those who will leave;
- repeated unresolved contacts: for customers who have bought, a service case that agents
  resolve far less often than usual (a third as often), so it comes back, on another channel
  or on social media;
- negative posts: customers with a social handle vent their disappointment, or take an
  unresolved case public;
- fewer emails opened: down to a fifth of the customer's usual rate.

A customer leaves at their low point with probability `churn_probability(u)` (4 % when content,
up to 89 %): all their activity stops then. Those who stay get over it: after the low point
their visits and emails are as before. Because low points are spread over the year, customers
leave — after their signals — in any month from April, so a model fitted on an earlier period
(the health back-test trains on 2026-06-01) sees the same signals precede churn as the period
it is tested on.

The truth's label (customers.csv `churned`) is what the records show on one date, the cut-off
(clock.CHURN_CUTOFF, 2026-08-01), not this draw: active in the eight weeks before it (a visit,
a contact, a post, an email opened or clicked, an SMS reply) and nothing at or after it — so it
counts the customers whose low point fell in those eight weeks and who left, and also customers
who just happened to fall silent, as real churn does. Some web researchers and app natives
visit all year round (`regular`) so that the weeks before a low point have visits to decline.
"""

from __future__ import annotations

from math import sqrt

from parcours.demo import service
from parcours.demo.catalog import BRAND_HANDLE
from parcours.demo.clock import CHURN_SEASON, DAY, WORLD_START, slot
from parcours.demo.journey import Journey

ACTIVE_TYPES = ("web_researcher", "store_loyal", "app_native", "support_heavy")
REGULAR_TYPES = ("web_researcher", "app_native")
REGULAR_SHARE = 0.35
"""Share of web researchers and app natives who visit all year round (online: a store-loyal
customer who came every fortnight would browse the web like a researcher)..."""
REGULAR_GAP = 1.5
"""...half as much again apart as their journey type's planned visits."""
SIGNAL_WINDOW = 56 * DAY
"""The signals come in the eight weeks before the customer's low point."""
SETTLING_DAYS = 28
"""A customer's low point comes four weeks after their first visit at the earliest."""
SIGNALS_FROM = 0.5
"""Discontent above which signals appear."""
GRIPES = (
    "{brand} de plus en plus déçu, je crois que je vais voir ailleurs 👎",
    "Franchement {brand}, vous avez bien baissé. Dernière fois chez vous.",
    "Ras-le-bol de {brand} et de son service client. #déçu",
)
"""Negative posts that name no problem: no keyword of the social mapping, so no intent."""
HARD_CASES = 0.35
HARD_INTENTS = ("technical_issue", "delivery", "returns", "billing")
"""How much less often than usual a case of a discontented customer is resolved."""


def churn_probability(discontent: float) -> float:
    """Chance of leaving at the low point: 4 % up to u = 0.5, then rising to 89 % at u = 1."""
    excess = max(0.0, discontent - SIGNALS_FROM) / (1 - SIGNALS_FROM)
    return 0.04 + 0.85 * excess * sqrt(excess)


def draw(j: Journey) -> None:
    """The customer's discontent, whether they leave at their low point, whether they are
    regular."""
    if j.c.journey_type not in ACTIVE_TYPES:
        return
    rng = j.rng
    j.discontent = rng.random()
    j.regular = j.c.journey_type in REGULAR_TYPES and rng.random() < REGULAR_SHARE
    j.leaver = rng.random() < churn_probability(j.discontent)


def begin(j: Journey, first_day: int) -> None:
    """The customer's low point, once the world day of their first visit is known: uniform
    from the later of April 1 and four weeks after that day, to October 1 — a customer for a
    while before it. A leaver does nothing from then on."""
    if j.c.journey_type not in ACTIVE_TYPES:
        return
    earliest = max(CHURN_SEASON[0], WORLD_START + (first_day + SETTLING_DAYS) * DAY)
    j.low_point = j.rng.randrange(earliest, CHURN_SEASON[1])
    if j.leaver:
        j.active_until = min(j.active_until, j.low_point)


def _excess(j: Journey) -> float:
    return max(0.0, j.discontent - SIGNALS_FROM) / (1 - SIGNALS_FROM)


def _in_window(j: Journey, at: int) -> bool:
    return j.low_point - SIGNAL_WINDOW <= at < j.low_point


def gap_factor(j: Journey, at: int) -> float:
    """How much longer than usual the gap to the next visit after `at` is: 1 outside the weeks
    before the customer's low point; then growing with the time elapsed in them and the
    discontent."""
    if not _in_window(j, at):
        return 1.0
    elapsed = (at - (j.low_point - SIGNAL_WINDOW)) / SIGNAL_WINDOW
    return 1.0 + elapsed * (3.0 * _excess(j) + (3.0 if j.leaver else 0.0))


def email_factor(j: Journey, sent: int) -> float:
    """How much less often than usual a campaign sent at `sent` is opened: not at all less
    outside the weeks before the customer's low point; then down to a fifth for the most
    discontented."""
    if not _in_window(j, sent):
        return 1.0
    return 1.0 - 0.8 * _excess(j)


def plant_signals(j: Journey) -> None:
    """In the weeks before their low point, for some discontented customers: a gripe on social
    media, and a hard service case about their latest order before it (if they had bought)."""
    rng = j.rng
    if j.c.handle is not None and rng.random() < 0.5 * _excess(j):
        posted = slot(rng, j.low_point - rng.randint(3, 45) * DAY, service.HOURS["social"])
        # Only a customer already: someone whose journey had not begun has nothing to gripe about.
        if posted is not None and j.first_activity < posted < min(j.active_until, j.low_point):
            text = rng.choice(GRIPES).format(brand=BRAND_HANDLE)
            j.run.truth.post(j.c, service.post(j, posted, text), "negative", "", "", posted)
    excess = _excess(j)
    if (
        not j.orders
        or j.c.journey_type == "store_loyal"  # takes it back to the store: no contact record
        or rng.random() >= 0.8 * excess * sqrt(excess)
    ):
        return
    start = j.low_point - rng.randint(21, 50) * DAY + rng.randrange(DAY)
    before = [order for order in j.orders if order[0] < start]
    if start < WORLD_START or not before:
        return
    # An intent the customer has no other contact about around then: a case of its own, not
    # one that contacts a week apart would run together.
    free = [
        intent
        for intent in HARD_INTENTS
        if not any(start - 8 * DAY < at < start + 30 * DAY for at, i in j.contacts if i == intent)
    ]
    if not free:
        return
    intent = rng.choice(free)
    _, order, product = max(before)
    service.case(j, intent, start, order, product, ease=HARD_CASES, may_churn=False)

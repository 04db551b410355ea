"""A customer's visits: web and app sessions, and store trips that end in a purchase.

A visit is one web or app session (events under 10 minutes apart) or a store purchase; visits
are at least a day apart. Visit n converts with probability `CURVE[n]` times the journey type's
factor, so conversion peaks at the fourth visit for every type; the truth's visit number of a
store purchase is the number of web/app visits before it plus one (the store trip is itself the
visit), which is exactly its place in the visit sequence.

A receipt without a loyalty card usually names its buyer (invoice, warranty, delivery); some
carry the all-zero card a cashier keyed in instead. Some store purchases follow a session at
the store's web kiosk, signed in: a cookie many customers share.

Besides the planned visits, some customers keep coming: regulars all year round (churn.py:
their visits thin out before the churn cut-off when they are unhappy), frequent buyers in
bursts of orders, new loyalty members in the 30 days after enrolling (loyalty.py). Every app
session starts with `App Opened`; web and app orders are confirmed by SMS (sms.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from parcours.demo import churn, loyalty, marketing, service, sms
from parcours.demo.catalog import (
    ACCESSORIES,
    CATEGORY_SLUGS,
    PRODUCTS,
    SITE,
    STORE_IDS,
    USER_AGENTS,
    Product,
)
from parcours.demo.clock import (
    DAY,
    HOUR,
    MINUTE,
    SECOND,
    WORLD_DAYS,
    WORLD_END,
    Opening,
    iso_utc,
    local_second_of_day,
    local_to_utc,
    paris,
    slot,
    weighted_hour,
    world_day,
)
from parcours.demo.journey import Journey
from parcours.demo.people import name_as_typed, random_uuid

CURVE = (0.02, 0.04, 0.07, 0.12, 0.08, 0.06, 0.05, 0.045, 0.04, 0.035)
"""Base conversion probability of visit 1, 2, ...; later visits use 0.03."""

BUYER_DESCRIBES = ("first_name", "last_name", "street", "postcode", "city")
"""What a till records of a buyer without a loyalty card, when it records anything."""
NAMED_RECEIPTS = 0.8
"""Share of receipts without a loyalty card that name the buyer (invoice, warranty, delivery,
e-receipt); the rest are anonymous."""
POSTCODE_ONLY = 0.1
"""Share of named receipts with the name and postcode only (an e-receipt sign-up)."""
TILL_SLIPS = 0.04
"""Share of names a cashier mistypes."""

KIOSK_USE = 0.2
"""Share of store purchases by customers with a web account preceded by a session at the
store's kiosk."""
KIOSK_AGENT = "Mozilla/5.0 (X11; Linux x86_64; Ampere kiosk) AppleWebKit/537.36 Chrome/124.0"
PLACEHOLDER_CARD = "0000000000000"
"""What some cashiers key in to get past the loyalty prompt when the buyer has no card: a
blocked value (parcours's default rules)."""
PLACEHOLDER_USE = 0.2
"""Share of receipts without a loyalty card that carry the placeholder."""

STORE_HOURS = Opening(9.5, 19.5, frozenset(range(6)))  # Monday to Saturday
_BROWSING_HOURS = (1, 2, 3, 3, 3, 4, 5, 4, 3, 3, 3, 4, 5, 6, 6, 5, 3)  # 07:00 to 23:59


ANONYMOUS_IDS = 5
"""A customer's cookies and receipts: no store trip once they number this many."""


@dataclass(frozen=True)
class Plan:
    """How a journey type visits and buys."""

    visits: tuple[int, int]
    gap_days: int
    """Mean extra days between visits."""
    factor: float
    """Multiplies CURVE."""
    app_share: float
    """Share of online visits made in the app, for customers with a device."""
    store_share: float
    """Share of purchases made in store."""
    until_purchase: bool = False
    stop_after_purchase: bool = False


PLANS = {
    "web_researcher": Plan((3, 10), 9, 2.0, 0.15, 0.05),
    "store_loyal": Plan((2, 8), 12, 1.8, 0.15, 0.90),
    "app_native": Plan((4, 12), 7, 1.5, 0.85, 0.05),
    "support_heavy": Plan((3, 9), 12, 2.2, 0.25, 0.20, until_purchase=True),
    "one_time": Plan((1, 3), 15, 3.0, 0.10, 0.50, stop_after_purchase=True),
    "inactive": Plan((1, 5), 10, 1.0, 0.20, 0.40),
}


@dataclass(frozen=True)
class Order:
    reference: str
    lines: tuple[tuple[Product, int], ...]

    @property
    def total(self) -> float:
        return round(sum(p.price * qty for p, qty in self.lines), 2)

    @property
    def items(self) -> int:
        return sum(qty for _, qty in self.lines)


def live(j: Journey) -> None:
    """Every visit of the customer, in time order, with what follows each purchase."""
    plan = PLANS[j.c.journey_type]
    rng = j.rng
    if j.c.journey_type == "inactive":
        # Gone before April: the last activity falls in February or March.
        j.active_until = local_to_utc(rng.randint(45, 85), 6 * 3600)
    first_days = 40 if j.c.journey_type == "inactive" else 60 if j.regular else 200
    day = rng.randrange(first_days)
    churn.begin(j, day)
    loyalty.draw_restocker(j, day)
    planned = rng.randint(*plan.visits)
    previous_end = 0
    while _more(j, plan, planned, day):
        loyalty.drive(j, day)
        restock = loyalty.restocking(j, day)
        onboarding = j.onboarding(previous_end)
        if restock:
            converts = True
        elif j.enrol_pending:
            converts = False  # the session in which the customer enrols
        elif onboarding:
            converts = rng.random() < j.onboarding_buys
        else:
            converts = rng.random() < conversion_probability(j, plan)
        channel = _channel(j, plan, converts and not restock, onboarding or j.enrol_pending)
        start = _start(rng, day, channel, previous_end)
        if start is None or start >= j.active_until:
            return
        j.visit_number += 1
        if channel == "store":
            previous_end = _store_purchase(j, start)
        elif channel == "app":
            previous_end = _app_visit(j, start, converts)
        else:
            previous_end = _web_visit(j, start, converts)
        j.touch(start, channel)
        j.touch(previous_end, channel)
        if restock:
            j.restock_left -= 1
        if converts and plan.stop_after_purchase:
            return
        day = world_day(previous_end) + 1 + _gap_days(j, plan, previous_end)
        if day >= WORLD_DAYS:
            return


def _more(j: Journey, plan: Plan, planned: int, day: int) -> bool:
    """Whether the customer comes again: planned visits left, or a reason to keep coming."""
    return (
        j.visit_number < planned
        or j.regular
        or j.restocker
        or j.enrol_pending
        or j.onboarding(local_to_utc(min(day, WORLD_DAYS - 1), 0))
        or (plan.until_purchase and not j.purchases and j.visit_number < 15)
    )


def _gap_days(j: Journey, plan: Plan, previous_end: int) -> int:
    """Whole days between this visit and the next, beyond the next day."""
    if j.restock_left:
        return 0
    if j.enrol_pending:
        mean = 2.0
    elif j.onboarding(previous_end):
        mean = j.onboarding_gap
    else:
        mean = plan.gap_days * churn.gap_factor(j, previous_end)
        if j.regular:
            mean *= churn.REGULAR_GAP
    return int(j.rng.expovariate(1 / mean))


def conversion_probability(j: Journey, plan: Plan) -> float:
    base = CURVE[j.visit_number] if j.visit_number < len(CURVE) else 0.03
    return min(0.9, base * plan.factor * (0.4 if j.purchases else 1.0))


def _channel(j: Journey, plan: Plan, in_store: bool, in_app: bool) -> str:
    """Where the visit happens: `in_store`, a purchase that may be made in store (bursts of
    accessory orders are online); `in_app`, a loyalty member enrolling or onboarding uses the
    app when not buying in store.

    Receipt ids are anonymous ids, like cookies, and identity resolution links at most 5
    anonymous ids to a customer (its default limit): a customer whose cookies and receipts
    reach 5 buys online, so that the truth stays within what resolution can link."""
    anonymous = len(j.c.seen.get("anonymous_id", {}).keys() | set(j.c.cookies))
    if in_store and anonymous < ANONYMOUS_IDS and j.rng.random() < plan.store_share:
        return "store"
    if j.c.devices and (in_app or j.rng.random() < plan.app_share):
        return "app"
    return "web"


def _start(rng: random.Random, day: int, channel: str, previous_end: int) -> int | None:
    if channel == "store":
        start = slot(rng, max(local_to_utc(day, 0), previous_end + DAY), STORE_HOURS)
        # The till writes whole minutes; rounding up keeps the visit a full day after the last.
        return None if start is None else start - start % -MINUTE
    start = local_to_utc(day, weighted_hour(rng, _BROWSING_HOURS, 7)) + rng.randrange(SECOND)
    while start < previous_end + DAY:
        start += DAY
    return start if start < WORLD_END - DAY else None


def _order(j: Journey, viewed: Product) -> Order:
    lines: list[tuple[Product, int]] = [(viewed, 1)]
    if j.rng.random() < 0.35:
        lines.append((j.rng.choice(ACCESSORIES), j.rng.choice((1, 1, 2))))
    return Order(f"CMD-{j.run.counters.next('orders'):08d}", tuple(lines))


def _browse(j: Journey) -> list[Product]:
    rng = j.rng
    if j.restock_left:
        return [rng.choice(ACCESSORIES)]
    return [
        j.interest if rng.random() < 0.4 else rng.choice(PRODUCTS) for _ in range(rng.randint(1, 4))
    ]


def _gap(rng: random.Random) -> int:
    """Time to the next event of a session: 5 s to 5 min, always under 10 minutes."""
    return rng.randrange(5 * SECOND, 300 * SECOND)


def _product_properties(p: Product) -> dict[str, object]:
    return {"product_id": p.sku, "name": p.name, "category": p.category, "price": p.price}


class _WebSession:
    """Builds the Segment messages of one web visit."""

    def __init__(self, j: Journey, start: int, *, kiosk: str | None = None) -> None:
        """A session in the customer's own browser, or at a store's `kiosk` (its cookie),
        signed in."""
        self.j, self.t, self.events = j, start, 0
        rng = j.rng
        self.kiosk = kiosk
        if kiosk is None:
            which = 0 if rng.random() < 0.7 else rng.randrange(len(j.c.cookies))
            self.cookie = j.c.cookies[which]
            # One cookie, one browser.
            self.agent = USER_AGENTS[(j.c.index + which) % len(USER_AGENTS)]
        else:
            self.cookie, self.agent = kiosk, KIOSK_AGENT
        self.session_id = f"{rng.getrandbits(64):016x}"
        self.user_id: str | None = None
        self.announce_email = False
        if j.c.user_id is not None and (kiosk is not None or rng.random() < 0.45):
            self.log_in()

    def log_in(self) -> None:
        self.user_id = self.j.c.user_id
        self.announce_email = True  # the first event after login carries the account's email

    def emit(
        self,
        kind: str,
        name: str,
        path: str,
        properties: dict[str, object],
        email: str | None = None,
    ) -> str:
        c, rng = self.j.c, self.j.rng
        if self.events:
            self.t += _gap(rng)
        message: dict[str, object] = {"messageId": random_uuid(rng), "type": kind}
        message["event" if kind == "track" else "name"] = name
        message["anonymousId"] = self.cookie
        keys = []
        if self.kiosk is None:
            keys.append(("anonymous_id", self.cookie))
        else:
            c.shared[("anonymous_id", self.cookie)] = "shared_device"
        if self.user_id is not None:
            message["userId"] = self.user_id
            keys.append(("user_id", self.user_id))
        message["timestamp"] = iso_utc(self.t)
        message["properties"] = properties
        context: dict[str, object] = {
            "sessionId": self.session_id,
            "page": {"url": SITE + path},
            "userAgent": self.agent,
            "locale": "fr-FR",
        }
        if self.announce_email and self.user_id is not None:
            email, self.announce_email = email or c.email, False
        if email is not None:
            context["traits"] = {"email": email}
            keys.append(("email", email.strip().lower()))
        message["context"] = context
        c.recorded(*keys)
        self.j.run.exports.web.write(message)
        self.j.run.exports.channels["web"] += 1
        self.events += 1
        return str(message["messageId"])


def _web_visit(j: Journey, start: int, converts: bool) -> int:
    s = _WebSession(j, start)
    rng = j.rng
    landing = rng.choice(("Home", "Search", "Category"))
    viewed = _browse(j)
    path = {
        "Home": "/",
        "Search": f"/recherche?q={viewed[0].sku.lower()}",
        "Category": f"/c/{CATEGORY_SLUGS[viewed[0].category]}",
    }[landing]
    s.emit("page", landing, path, {"path": path})
    if s.kiosk is None:  # the autumn sign-up drive (marketing.py), in the customer's browser
        s.events += marketing.sign_up(j, s.t, s.cookie, s.session_id, s.user_id)
    for product in viewed:
        path = f"/p/{product.sku.lower()}"
        if rng.random() < 0.6:
            s.emit("page", "Product", path, {"path": path, "title": product.name})
        s.emit("track", "Product Viewed", path, _product_properties(product))
    if not converts:
        if rng.random() < 0.25:
            s.emit("track", "Product Added", "/panier", _product_properties(viewed[-1]))
        j.run.truth.visit(j.c, j.visit_number, "web", s.session_id, start, s.t, s.events, False)
        return s.t
    order = _order(j, viewed[-1])
    s.emit("track", "Product Added", "/panier", _product_properties(viewed[-1]))
    if j.c.user_id is not None and s.user_id is None:
        s.log_in()
    guest_email = None if s.user_id else j.c.email  # guests give their email at checkout
    s.emit(
        "track",
        "Checkout Started",
        "/commande",
        {"order_id": order.reference, "value": order.total},
        guest_email,
    )
    event_id = s.emit(
        "track",
        "Order Completed",
        "/commande/confirmation",
        _order_properties(order),
        guest_email or j.c.email,
    )
    j.run.truth.visit(j.c, j.visit_number, "web", s.session_id, start, s.t, s.events, True)
    _purchased(j, "web", event_id, s.t, order)
    return s.t


def _order_properties(order: Order) -> dict[str, object]:
    return {
        "order_id": order.reference,
        "revenue": order.total,
        "currency": "EUR",
        "products": [
            {"product_id": p.sku, "name": p.name, "price": p.price, "quantity": q}
            for p, q in order.lines
        ],
    }


def _app_version(day: int, lag: int) -> str:
    """A release every four weeks, a patch two weeks later; each device updates late."""
    age = day - lag
    return f"6.{max(age, 0) // 28}.{age % 28 // 14}" if age >= 0 else "5.12.1"


def _app_visit(j: Journey, start: int, converts: bool) -> int:
    rng, c = j.rng, j.c
    device = rng.choice(c.devices)
    user = c.user_id if c.user_id is not None and rng.random() < 0.9 else None
    version = _app_version(world_day(start), device.update_lag_days)
    t, events, last_id = start, 0, ""

    def emit(kind: str, name: str, total: float | None = None) -> None:
        nonlocal t, events, last_id
        if events:
            t += _gap(rng)
        last_id = random_uuid(rng)
        j.run.exports.app.write(
            (
                last_id,
                device.device_id,
                user,
                kind,
                name,
                t,
                device.platform,
                version,
                total,
                None if total is None else "EUR",
            )
        )
        j.run.exports.channels["app"] += 1
        events += 1

    keys = [("device_id", device.device_id)]
    if user is not None:
        keys.append(("user_id", user))
    c.recorded(*keys)
    emit("action", "App Opened")
    if j.enrolled_at is not None:
        j.app_opens.append(t)
    emit("screen_view", "Home")
    if j.enrol_pending:
        emit("action", "Loyalty Enrolled")
        loyalty.enrolled(j, t)
    viewed = _browse(j)
    for _product in viewed:
        emit("screen_view", "Product")
        emit("action", "Product Viewed")
    if converts:
        order = _order(j, viewed[-1])
        for kind, name in (
            ("action", "Product Added"),
            ("screen_view", "Cart"),
            ("action", "Checkout Started"),
            ("screen_view", "Checkout"),
        ):
            emit(kind, name)
        emit("action", "Order Completed", order.total)
        j.run.truth.visit(c, j.visit_number, "app", "", start, t, events, True)
        _purchased(j, "app", last_id, t, order)
    else:
        j.run.truth.visit(c, j.visit_number, "app", "", start, t, events, False)
    return t


def french_amount(value: float) -> str:
    """`45,90`; from 1 000 on the till groups thousands with a dot: `1.299,00`."""
    whole, cents = f"{value:.2f}".split(".")
    if len(whole) > 3:
        whole = f"{int(whole):,}".replace(",", ".")
    return f"{whole},{cents}"


def _store_purchase(j: Journey, start: int) -> int:
    rng, c, run = j.rng, j.c, j.run
    if j.restock_left:
        bought = rng.choice(ACCESSORIES)
    else:
        bought = j.interest if rng.random() < 0.6 else rng.choice(PRODUCTS)
    order = _order(j, bought)
    store = c.town.store_id if rng.random() < 0.85 else rng.choice(STORE_IDS)
    if c.user_id is not None and rng.random() < KIOSK_USE:
        _kiosk_session(j, store, start)
    receipt = f"R-{run.counters.next('receipts'):07d}-{store}"
    presented = c.loyalty_card is not None and rng.random() < (
        0.95 if c.journey_type == "store_loyal" else 0.6
    )
    card = c.loyalty_card if presented else ""
    if not presented and rng.random() < PLACEHOLDER_USE:
        card = PLACEHOLDER_CARD
        c.shared[("loyalty_id", card)] = "blocked"
    payment = rng.choices(
        ("CB", "CB sans contact", "Espèces", "Chèque", "Carte cadeau"), (55, 25, 12, 3, 5)
    )[0]
    buyer = ("", "", "", "", "") if presented else _named_buyer(j)
    run.exports.pos.write(
        (
            receipt,
            store,
            paris(start, "%d/%m/%Y %H:%M"),
            card,
            french_amount(order.total),
            "EUR",
            order.items,
            payment,
            *buyer,
        )
    )
    run.exports.channels["store"] += 1
    keys = [("anonymous_id", receipt)]
    if presented and c.loyalty_card is not None:
        keys.append(("loyalty_id", c.loyalty_card))
    c.recorded(
        *keys, describes=[a for a, typed in zip(BUYER_DESCRIBES, buyer, strict=True) if typed]
    )
    run.truth.visit(c, j.visit_number, "store", receipt, start, start, 1, True)
    _purchased(j, "pos", receipt, start, order)
    return start


def _kiosk_session(j: Journey, store: str, paid: int) -> None:
    """A few minutes at the store's web kiosk before paying, signed in to the customer's
    account to look at past orders. Every customer who signs in there shares its cookie."""
    since_opening = local_second_of_day(paid) * SECOND - int(STORE_HOURS.opens * HOUR)
    start = paid - j.rng.randrange(15 * MINUTE, 30 * MINUTE)
    if start < paid - since_opening:
        return  # the store had just opened
    s = _WebSession(j, start, kiosk=j.run.kiosks[store])
    s.emit("page", "Account", "/compte", {"path": "/compte"})
    s.emit("page", "Orders", "/compte/commandes", {"path": "/compte/commandes"})
    j.touch(start, "web")
    j.touch(s.t, "web")


def _named_buyer(j: Journey) -> tuple[str, str, str, str, str]:
    """The buyer's name and address on a receipt without a loyalty card, as the till took them
    for the invoice, the warranty or the delivery; an e-receipt asks only the name and
    postcode, and some buyers give nothing."""
    rng, c = j.rng, j.c
    asked = rng.random()
    if asked >= NAMED_RECEIPTS:
        return "", "", "", "", ""
    first = name_as_typed(rng, c.first_name, slips=TILL_SLIPS)
    last = name_as_typed(rng, c.last_name, slips=TILL_SLIPS)
    if asked < NAMED_RECEIPTS * POSTCODE_ONLY:
        return first, last, "", c.town.postcode, ""
    return first, last, c.street, c.town.postcode, c.town.city


def _purchased(j: Journey, source: str, event_id: str, at: int, order: Order) -> None:
    channel = {"web": "web", "app": "app", "pos": "store"}[source]
    j.purchases += 1
    j.order_times.append(at)
    j.last_order = (order.reference, order.lines[0][0].name)
    j.orders.append((at, *j.last_order))
    loyalty.after_purchase(j)
    if source != "pos":
        sms.order_notifications(j, at, order.reference)
    j.run.truth.conversion(j.c, source, event_id, channel, j.visit_number, at, order.total)
    service.after_purchase(j, at, channel, order.reference, order.lines[0][0].name)

"""What the company itself records about a customer: the CRM row and the email campaigns."""

from __future__ import annotations

from datetime import UTC, datetime

from parcours.demo import churn
from parcours.demo.catalog import CAMPAIGNS
from parcours.demo.clock import DAY, MINUTE, SECOND, WORLD_END, Opening, paris, slot
from parcours.demo.journey import Journey
from parcours.demo.people import email_as_typed, phone_as_written

_OFFICE = Opening(8, 20)
_SUPPRESSION = 60 * DAY
"""Mailing stops this long after a customer's last activity (routine list hygiene)."""

CRM_DESCRIBES = ("first_name", "last_name", "street", "postcode", "city", "birth_date")
"""What a CRM row says of the person (every row says it all)."""

CAMPAIGN_SENDS = tuple(
    (code, int(datetime(2026, month, day, hour, tzinfo=UTC).timestamp()) * SECOND)
    for code, month, day, hour in CAMPAIGNS
)


def crm_row(j: Journey) -> None:
    """The customer's CRM record, if the CRM knows them, with the keys the CRM holds."""
    c, rng, run = j.c, j.rng, j.run
    if c.crm_id is None:
        return
    # Last updated at the latest purchase or profile change, in office hours.
    base = j.last_activity if j.purchases else j.first_activity + rng.randrange(10 * DAY)
    updated = slot(rng, min(base, WORLD_END - 3 * DAY), _OFFICE) or j.first_activity
    email = email_as_typed(rng, c.email)
    phone = phone_as_written(rng, c.mobile) if rng.random() < 0.92 else ""
    card = c.loyalty_card if c.loyalty_card is not None and rng.random() < 0.95 else ""
    account = c.user_id if c.user_id is not None and rng.random() < 0.9 else ""
    handle = ""
    if c.handle is not None and rng.random() < 0.6:
        handle = ("@" if rng.random() < 0.5 else "") + c.handle
    last_name = c.last_name.upper() if rng.random() < 0.2 else c.last_name
    run.exports.crm.write(
        (
            c.crm_id,
            c.first_name,
            last_name,
            email,
            phone,
            c.street,
            c.town.postcode,
            c.town.city,
            c.birth_date,
            card,
            account,
            handle,
            paris(updated, "%Y-%m-%d %H:%M:%S"),
        )
    )
    run.exports.channels["other"] += 1
    keys = (
        ("crm_id", c.crm_id),
        ("email", c.email),
        ("phone", c.phone if phone else ""),
        ("loyalty_id", card),
        ("user_id", account),
        ("social_handle", c.handle if handle else ""),
    )
    c.recorded(*((kind, value) for kind, value in keys if value), describes=CRM_DESCRIBES)


def campaigns(j: Journey) -> None:
    """Campaign sends from the customer's first activity on, with their opens and clicks.

    Opens and clicks are customer activity: none after the customer went inactive, and fewer
    the low point of a discontented customer (churn.py). Sends are
    the company's and carry on until the list is cleaned, `_SUPPRESSION` after the last
    activity of an inactive customer.
    """
    c, rng, run = j.c, j.rng, j.run
    if not c.email_opt_in:
        return
    engaged = rng.uniform(0.1, 0.45)  # this customer's open rate
    mailed = False
    for code, planned in CAMPAIGN_SENDS:
        sent = planned + rng.randrange(30 * MINUTE)
        if sent < j.first_activity:
            continue
        if j.inactive and sent > j.active_until + _SUPPRESSION:
            break
        run.exports.email.write((c.email, code, "sent", sent // SECOND))
        run.exports.channels["email"] += 1
        mailed = True
        opened = sent + rng.randrange(5 * MINUTE, 3 * DAY)
        rate = engaged * churn.email_factor(j, sent)
        if rng.random() >= rate or opened >= min(j.active_until, WORLD_END):
            continue
        run.exports.email.write((c.email, code, "open", opened // SECOND))
        run.exports.channels["email"] += 1
        j.touch(opened)
        clicked = opened + rng.randrange(5 * SECOND, 10 * MINUTE)
        if rng.random() < 0.3 and clicked < min(j.active_until, WORLD_END):
            run.exports.email.write((c.email, code, "click", clicked // SECOND))
            run.exports.channels["email"] += 1
            j.touch(clicked, "click")
    if mailed:
        c.recorded(("email", c.email))

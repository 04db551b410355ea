"""SMS: order notifications the company sends, and what customers text back.

The SMS gateway's message log (sms.csv, read by the shipped `sms` mapping) has one row per
message, Twilio-style: a message SID, the direction (`outbound-api` for what the company sent,
`inbound` for a reply), the customer's number in E.164 as gateways write it, the sender name,
the text, the delivery status and the time in UTC. Customers who accept SMS (60 %) get a
confirmation when they order on the web or in the app and a shipping notice a day or three
later; some reply (a question, thanks, or STOP, after which they get no more). A reply is the
customer's own activity; a notification is not. The number identifies the customer as a call
does: nothing else is on the record.
"""

from __future__ import annotations

from parcours.demo.clock import DAY, MINUTE, SECOND, WORLD_END, Opening, iso_utc, slot
from parcours.demo.journey import Journey

SMS_OPT_IN = 0.6
"""Share of customers who accept SMS notifications."""
REPLY = 0.1
"""Chance that a shipping notice gets a reply."""
SENDER = "AMPERE"
_WAREHOUSE = Opening(7, 19, frozenset(range(6)))

CONFIRMED = "Ampère : votre commande {order} est confirmée. Suivi : ampere.example/suivi"
SHIPPED = (
    "Ampère : votre commande {order} est expédiée, livraison sous 48 h. Répondez pour nous écrire."
)
REPLIES = (
    "Merci !",
    "Je ne serai pas là demain, possible de livrer en point relais ?",
    "Toujours rien reçu...",
    "STOP",
)
REPLY_WEIGHTS = (4, 2, 1, 1)


def order_notifications(j: Journey, at: int, order: str) -> None:
    """The confirmation and the shipping notice of an order placed at `at`, and a reply."""
    if not j.sms_opt_in:
        return
    rng = j.rng
    _message(j, "outbound-api", at + rng.randrange(20 * SECOND, 3 * MINUTE), CONFIRMED, order)
    shipped = slot(rng, at + DAY + rng.randrange(2 * DAY), _WAREHOUSE)
    if shipped is None or shipped >= WORLD_END:
        return
    _message(j, "outbound-api", shipped, SHIPPED, order)
    replied = shipped + rng.randrange(2 * MINUTE, 6 * 60 * MINUTE)
    if rng.random() < REPLY and replied < min(j.active_until, WORLD_END):
        text = rng.choices(REPLIES, REPLY_WEIGHTS)[0]
        _message(j, "inbound", replied, text, order)
        j.touch(replied)
        if text == "STOP":
            j.sms_opt_in = False


def _message(j: Journey, direction: str, at: int, template: str, order: str) -> None:
    c, run = j.c, j.run
    status = "received" if direction == "inbound" else "delivered"
    sid = f"SM{j.rng.getrandbits(128):032x}"
    run.exports.sms.write(
        (sid, direction, c.phone, SENDER, template.format(order=order), status, iso_utc(at))
    )
    run.exports.channels["sms"] += 1
    c.recorded(("phone", c.phone))

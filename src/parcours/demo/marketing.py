"""What the demo's automations must find, planted in the world and recorded in its truth.

`parcours demo` runs the shipped welcome and inactivity automations over the world's last two
months in simulated time (`AUTOMATIONS_FROM` to `AUTOMATIONS_UNTIL`), sending email into an
SMTP server on loopback (demo/automations.py). The world gives them:

- **Sign-ups.** During the autumn sign-up drive (`SIGNUP_DRIVE`, two weeks of September), a
  customer browsing the site in their own browser may create an account (`SIGNUP_CHANCE`):
  an `identify` with their email and, when they fill it in, their first name; `Consent Given`
  for email marketing (`CONSENT` of them tick the box); and `Signed Up` — three web events in
  the session, right after its landing page, so the visit stays the visit it was. The CRM
  already knows the first name of the customers it has a row for; of the others,
  `NAME_LEFT_BLANK` leave the field blank: their welcome names a trait they do not have, so
  delivery holds it with the reason instead of sending "Hello ,".
- **A real effect of the welcome.** Some sign-ups are `responders` (`RESPONDER`): when the
  welcome email reaches them, they place an order `lag` days after it arrives
  (`RESPONSE_LAG_DAYS`, within the goal's 30 days). Nothing happens to a responder whose email
  never arrives — held out, no consent, no first name — so the treated convert more than the
  held out because of what they received (demo/automations.py writes those orders when the
  SMTP server has the email, and imports them). truth/signups.csv lists every sign-up with
  what it gave, and whether and when it would respond.
- **Customers who stay inactive.** The inactivity automation runs its daily schedule at 09:00
  (UTC, the automations' default zone) and enters customers without a visit in the 90 days
  before and whose first event is 90 days old; it anonymises them 60 days later unless they
  came back meanwhile (any visit on web, app, store, call, chat or social, or a click in an
  email: its exits). Its first run, at `INACTIVITY_ENTRY`, is the only one whose
  anonymisation falls before `AUTOMATIONS_UNTIL`, so it anonymises exactly the customers with
  no visit from `INACTIVE_SINCE` and no click from `INACTIVITY_ENTRY` to the world's end:
  customers.csv `stays_inactive` (1), with `last_visit_at`, the latest visit on any channel
  the journeys count as a visit.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from parcours.demo.clock import DAY, SECOND, iso_utc
from parcours.demo.people import random_uuid
from parcours.identity.profile import CONSENT_GIVEN

if TYPE_CHECKING:
    from parcours.demo.journey import Journey


def _ms(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()) * SECOND


SIGNUP_DRIVE = (_ms(2026, 9, 1), _ms(2026, 9, 15))
"""The sign-up drive: [start, end), UTC."""
SIGNUP_CHANCE = 0.7
"""Chance that a customer browsing during the drive signs up (once)."""
CONSENT = 0.9
"""Share of sign-ups who accept marketing email."""
NAME_LEFT_BLANK = 0.5
"""Share of sign-ups the CRM does not know who leave the first name blank."""
RESPONDER = 0.3
"""Share of sign-ups whom the welcome email brings to order."""
RESPONSE_LAG_DAYS = (15.5, 28.5)
"""A responder orders this long after the welcome arrives: after the day that follows the drive
(the demo imports every response then, at once, before the first one's time comes) and within
the goal's 30 days from entering (the demo's runtime ticks each morning: a sign-up enters,
and its welcome arrives, within a day)."""
SIGNED_UP = "Signed Up"

AUTOMATIONS_FROM = SIGNUP_DRIVE[0]
"""When the demo publishes its automations and starts their simulated clock."""
AUTOMATIONS_UNTIL = _ms(2026, 11, 1)
"""When the simulated clock stops: a day after the world's end, past the last anonymisation."""
INACTIVITY_ENTRY = _ms(2026, 9, 1, 9)
"""The inactivity schedule's first run (09:00 UTC on the first day)."""
INACTIVE_FOR = 90 * DAY
INACTIVE_SINCE = INACTIVITY_ENTRY - INACTIVE_FOR
"""No visit from this instant on: in the audience at the first run."""
VISIT_CHANNELS = frozenset({"web", "app", "store", "call", "chat", "video", "social"})
"""The channels the journeys count visits on (journeys/visits.py)."""


def chooser(j: Journey) -> random.Random:
    """The customer's own draws for sign-ups, apart from the rest of their world (seeded by
    their email, which the world's seed chose): planting sign-ups changes no other draw."""
    return random.Random(f"signup:{j.c.email}")


def sign_up(j: Journey, session_t: int, cookie: str, session_id: str, user_id: str | None) -> int:
    """Maybe sign the customer up in the web session whose landing page was at `session_t`;
    return how many events that wrote (0: none). Once per customer, during the drive."""
    if j.signup_drawn or not SIGNUP_DRIVE[0] <= session_t < SIGNUP_DRIVE[1]:
        return 0
    j.signup_drawn = True
    rng, c = chooser(j), j.c
    if rng.random() >= SIGNUP_CHANCE:
        return 0
    consent = rng.random() < CONSENT
    named = c.crm_id is not None or rng.random() >= NAME_LEFT_BLANK
    responder = rng.random() < RESPONDER
    lag = rng.uniform(*RESPONSE_LAG_DAYS)
    traits: dict[str, object] = {"email": c.email}
    if named:
        traits["first_name"] = c.first_name
    messages: list[dict[str, object]] = [{"type": "identify", "traits": traits}]
    if consent:
        messages.append(
            {
                "type": "track",
                "event": CONSENT_GIVEN,
                "properties": {"channel": "email", "purpose": "marketing", "form": "sign-up"},
            }
        )
    messages.append({"type": "track", "event": SIGNED_UP, "properties": {"method": "email"}})
    for n, message in enumerate(messages, start=1):
        message["messageId"] = random_uuid(rng)
        message["anonymousId"] = cookie
        if user_id is not None:
            message["userId"] = user_id
        # A second apart, before the session's next event (at least 5 s on: visits.py).
        message["timestamp"] = iso_utc(session_t + n * SECOND)
        message["context"] = {
            "sessionId": session_id,
            "page": {"url": "https://www.ampere.example/compte/inscription"},
            "locale": "fr-FR",
            "traits": {"email": c.email},
        }
        j.run.exports.web.write(message)
        j.run.exports.channels["web"] += 1
    c.recorded(("anonymous_id", cookie), ("email", c.email.strip().lower()))
    at = session_t + len(messages) * SECOND
    j.touch(at, "web")
    j.run.truth.signup(c, at, named, consent, responder, lag)
    return len(messages)


def stays_inactive(j: Journey) -> bool:
    """Whether the demo's inactivity automation anonymises the customer (the module's
    docstring says why): some event, no visit from `INACTIVE_SINCE`, no click in an email from
    `INACTIVITY_ENTRY`, to the world's end."""
    return 0 < j.last_visit < INACTIVE_SINCE and j.last_click <= INACTIVITY_ENTRY

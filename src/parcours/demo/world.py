"""The demo world: Ampère, a French home-electronics retailer, and a year of its customers.

`generate_world` writes what the company's systems would export between 2026-01-05 and
2026-10-31 — web tracking (Segment JSON lines, gzip), app analytics (Parquet), store till
receipts, the call-centre log, chat and video-chat transcripts, the CRM, email activity, social
posts and the SMS gateway's log — each in the format its shipped import mapping reads, plus the
ground truth the analytics are checked against.

Identity is fragmented the way it is in real life: each export carries only what its channel
sees (a cookie, a device, a loyalty card when shown, a phone number, a handle...), and some
records describe the person instead — the CRM row, a receipt that names its buyer, a call whose
agent checked the caller's name and birth date — typos included, for probabilistic matching.
Some values are on several customers' records: the web kiosk in each store that customers sign
in on, and the all-zero card some cashiers key in for a buyer without one. Each customer
follows a planted journey type (web_researcher, store_loyal, app_native, support_heavy,
one_time, inactive): visits, purchases whose probability peaks at the fourth visit, service
cases with repeated contacts and channel switches, churn after failed cases, social complaints
and praise, email campaigns, SMS order notifications and replies.

For segments and scores it plants (churn.py, loyalty.py): churn as a process over the year —
discontented customers reach a low point on a day of their own between April and October, preceded
by its signals in the eight weeks before it (visits thinning out, repeated unresolved contacts,
negative posts, fewer emails opened), and some leave then — drawn from a hidden discontent, so
customers who stay show some of them too; frequent buyers ordering accessories in bursts of 2 to 6
orders in a week (the seed's tiers); and the loyalty programme, joined in the app (`Loyalty
Enrolled`), with the seed's onboarding milestone — 3 app sessions (`App Opened`) and a purchase
within 30 days — that some members reach, some miss and some are still working on at the world's
end.

The truth (out_dir/truth) records:

- customers.csv: each customer's journey type, whether they went inactive, their last activity;
  whether they were active in the 8 weeks before the churn cut-off of 2026-08-01, the date the
  health test judges on (`active_before_cutoff`, 0/1); whether they churned (`churned`, 0/1:
  some activity, and nothing from the last one to the world's end, a month at least — whatever
  the cause: a low point, a failed case, a journey that just ended; activity is what the
  customer does — visits, contacts, posts, emails opened or clicked, SMS replies — not what the
  company sends) and when (`churn_date`, their last activity); their orders and the most in
  any 7 days (`max_orders_7d`, what tiers qualify on); their latest visit on any channel
  (`last_visit_at`) and whether the demo's inactivity automation anonymises them
  (`stays_inactive`, 0/1: marketing.py);
- signups.csv: every sign-up of the autumn drive (marketing.py) with whether it gave a first
  name and consent to marketing email, and whether the welcome email would bring it to order,
  how many days after it arrives;
- milestones.csv: each loyalty member's enrolment, the deadline 30 days later, their app
  sessions and purchases in between, when they achieved the onboarding milestone, and its
  status at the world's end (achieved, missed, in progress);
- identifiers.csv: every identifier of each customer that reaches a stored record, normalised
  as parcours stores it (receipt ids are anonymous ids, as the pos mapping imports them), with
  its evidence group: identifiers of one customer that the records link, by a chain of records
  that carry two of them or describe the customer (evidence.py); an identifier alone in its
  group, like a cookie of a visitor who never signed in, is linkable by no system;
- shared.csv: values that are no one customer's (a store kiosk's cookie: shared_device; the
  placeholder card: blocked), one row for each customer whose records carry one;
- contacts.csv: every service contact with its case, intent, attempt, previous channel, outcome;
- conversions.csv: every purchase with its visit number; visits.csv: every visit;
- social_posts.csv: every post with its sentiment (neutral help request, negative complaint,
  positive praise);
- expected.json: record counts per source and channel, planted bad records, identifier counts,
  visits and conversions per visit number, the churn cut-off with how many customers were active
  before it, the month of silence churn needs (`quiet_from`), how many churned and how many of those
  active before the cut-off churned before it, milestone statuses, customers by their most orders in
  7 days; what the demo's automations are to find (`automations`: the sign-ups, the customers who
  stay inactive).

Generation is deterministic for a seed and size, streams to disk, and keeps nothing per customer
once that customer is written, so it scales to tens of millions of events.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from parcours.demo import accounts, churn, marketing, sms, visits
from parcours.demo.catalog import PRODUCTS, STORE_IDS
from parcours.demo.clock import CHURN_CUTOFF, DAY, QUIET_FROM, WORLD_END, iso_utc
from parcours.demo.journey import ACTIVE_WINDOW, Journey
from parcours.demo.outputs import EXPORT_FILES, Exports, Outcome, Run, Truth
from parcours.demo.people import IdentityKeys, make_customer, random_uuid
from parcours.demo.planted import bad_record_plan, plant

_PROGRESS_EVERY = 500
ONBOARDING_DAYS = 30


@dataclass(frozen=True)
class DemoExport:
    source: str
    """Source name used when importing, e.g. "web"."""
    path: Path
    mapping: str
    """Shipped mapping name, e.g. "web"."""
    records: int
    """Data records written (lines or rows, header excluded), bad ones included."""
    planted_bad: dict[str, int]
    """reason_code -> count of deliberately bad records in this file."""


@dataclass(frozen=True)
class DemoWorld:
    exports: list[DemoExport]
    truth_dir: Path
    customers: int
    seed: int


def generate_world(
    out_dir: Path,
    *,
    customers: int = 5000,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
) -> DemoWorld:
    """Write exports to out_dir/'exports' and the truth to out_dir/'truth'. `progress(n)` is called
    with the number of customers just completed (so a caller can drive a progress bar whose
    total is `customers`)."""
    if customers < 1:
        raise ValueError(f"customers must be at least 1, not {customers}")
    exports_dir, truth_dir = Path(out_dir) / "exports", Path(out_dir) / "truth"
    exports_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    master = random.Random(seed)
    keys = IdentityKeys.draw(master, customers)
    bad_plan = bad_record_plan(customers)
    kiosks = {store: random_uuid(master) for store in STORE_IDS}
    run = Run(Exports(exports_dir), Truth(truth_dir), kiosks=kiosks)
    pending = 0
    try:
        for index in range(customers):
            # One generator per customer, seeded from the master: a customer's world does not
            # depend on how many random draws the previous customers made.
            rng = random.Random(master.getrandbits(64))
            _customer(run, rng, keys, index, bad_plan.get(index, []))
            pending += 1
            if progress is not None and pending == _PROGRESS_EVERY:
                progress(pending)
                pending = 0
    finally:
        run.exports.close()
        run.truth.close()
    if progress is not None and pending:
        progress(pending)
    _write_expected(truth_dir / "expected.json", run, customers, seed)
    return DemoWorld(_describe(run.exports), truth_dir, customers, seed)


def _customer(
    run: Run, rng: random.Random, keys: IdentityKeys, index: int, bad: list[tuple[str, str]]
) -> None:
    customer = make_customer(rng, index, keys)
    journey = Journey(run, customer, rng, interest=rng.choice(PRODUCTS))
    journey.sms_opt_in = rng.random() < sms.SMS_OPT_IN
    churn.draw(journey)
    visits.live(journey)
    churn.plant_signals(journey)
    accounts.campaigns(journey)
    accounts.crm_row(journey)
    for source, reason_code in bad:
        plant(journey, source, reason_code)
    run.truth.customer(customer, _outcome(journey))
    if journey.enrolled_at is not None:
        _milestone(journey, journey.enrolled_at)


def _outcome(j: Journey) -> Outcome:
    orders = sorted(j.order_times)
    peak, first = 0, 0
    for last, at in enumerate(orders):
        while orders[first] <= at - 7 * DAY:
            first += 1
        peak = max(peak, last - first + 1)
    return Outcome(
        inactive=j.inactive,
        last_activity=j.last_activity,
        active_before_cutoff=j.active_before_cutoff,
        churned=j.left,
        churn_date=j.last_activity if j.left else None,
        orders=len(orders),
        max_orders_7d=peak,
        last_visit=j.last_visit,
        stays_inactive=marketing.stays_inactive(j),
    )


def _milestone(j: Journey, enrolled: int) -> None:
    """The seed's onboarding milestone, as the world's events make it: 3 `App Opened` and a
    purchase (the member's second: enrolment follows a first purchase) within 30 days of
    enrolling; missed when the 30 days are over by the world's end, else in progress."""
    deadline = enrolled + ONBOARDING_DAYS * DAY
    logins = sorted(t for t in j.app_opens if enrolled <= t < deadline)
    bought = sorted(t for t in j.order_times if enrolled <= t < deadline)
    achieved = max(logins[2], bought[0]) if len(logins) >= 3 and bought else None
    if achieved is not None:
        status = "achieved"
    elif deadline <= WORLD_END:
        status = "missed"
    else:
        status = "in progress"
    j.run.truth.milestone(j.c, enrolled, deadline, (len(logins), len(bought)), achieved, status)


def _describe(exports: Exports) -> list[DemoExport]:
    return [
        DemoExport(
            source,
            sink.path,
            EXPORT_FILES[source][1],
            sink.records,
            dict(sorted(exports.planted[source].items())),
        )
        for source, sink in exports.sinks().items()
    ]


def _write_expected(path: Path, run: Run, customers: int, seed: int) -> None:
    exports, truth = run.exports, run.truth
    planted = {s: dict(sorted(c.items())) for s, c in exports.planted.items() if c}
    expected = {
        "seed": seed,
        "customers": customers,
        "events_by_source": {
            source: sink.records - sum(exports.planted[source].values())
            for source, sink in exports.sinks().items()
        },
        "events_by_channel": exports.channels,
        "planted_bad": planted,
        "identifiers_by_type": truth.identifiers_by_type,
        "visits_by_number": {str(k): v for k, v in sorted(truth.visits_by_number.items())},
        "conversions_by_visit_number": {
            str(k): v for k, v in sorted(truth.conversions_by_visit_number.items())
        },
        "cases": truth.cases,
        "repeat_contacts": truth.repeat_contacts,
        "churn": {
            "cutoff": iso_utc(CHURN_CUTOFF),
            "active_window_days": ACTIVE_WINDOW // DAY,
            "quiet_from": iso_utc(QUIET_FROM),
            "active_before_cutoff": truth.active_before_cutoff,
            "churned": truth.churned,
            "churned_before_cutoff": truth.churned_before_cutoff,
        },
        "milestones": {"onboarding": truth.milestone_statuses},
        "customers_by_max_orders_7d": {str(k): v for k, v in sorted(truth.max_orders_7d.items())},
        "automations": {
            "from": iso_utc(marketing.AUTOMATIONS_FROM),
            "until": iso_utc(marketing.AUTOMATIONS_UNTIL),
            "welcome": {
                "drive": [iso_utc(t) for t in marketing.SIGNUP_DRIVE],
                **truth.signup_counts,
                "response_lag_days": list(marketing.RESPONSE_LAG_DAYS),
            },
            "inactivity": {
                "entry": iso_utc(marketing.INACTIVITY_ENTRY),
                "no_visit_since": iso_utc(marketing.INACTIVE_SINCE),
                "stays_inactive": truth.stays_inactive,
            },
        },
    }
    path.write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")

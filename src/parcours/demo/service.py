"""After a purchase: service cases with repeated contacts and channel switches, and social posts.

A case has one intent and up to four contact attempts on call, chat, video or social. An
attempt that does not resolve the case is followed 1-6 days later by another on the same intent,
often on another channel. Resolution depends on the channel and on the switch that led there;
the planted effect is that customers who move from chat to the phone are resolved far less
often (30 %) than on a first call (62 %). A case that ends unresolved makes some customers
churn; customers with a social handle often take the complaint to social media.
"""

from __future__ import annotations

import random

from parcours.demo.catalog import (
    ANSWERS,
    BRAND_HANDLE,
    CALL_QUEUES,
    CHAT_AGENTS,
    COMPLAINT_POSTS,
    HELP_POSTS,
    INTENT_CODES,
    INTENT_TOPICS,
    NOTES,
    PRAISE_POSTS,
    PROBLEMS,
    SOCIAL_NETWORKS,
    VIDEO_AGENTS,
)
from parcours.demo.clock import DAY, HOUR, Opening, iso_paris, paris, slot, twitter
from parcours.demo.journey import Journey
from parcours.demo.outputs import Contact
from parcours.demo.people import (
    birth_date_as_typed,
    email_as_typed,
    handle_as_written,
    name_as_typed,
    phone_as_written,
)

HOURS = {
    "call": Opening(8, 20, frozenset(range(6))),  # Monday to Saturday
    "chat": Opening(9, 22),
    "video": Opening(10, 18, frozenset(range(5))),  # weekdays
    "social": Opening(7, 23.9),
}

RESOLUTION = {"call": 0.62, "chat": 0.55, "video": 0.72, "social": 0.35}
"""Chance that an attempt resolves the case, before the intent and switch adjustments."""
CHAT_TO_CALL_RESOLUTION = 0.30
INTENT_EASE = {
    "order_status": 1.15,
    "delivery": 1.0,
    "billing": 0.9,
    "technical_issue": 0.8,
    "returns": 0.95,
    "account": 1.1,
}

# How an attempt that does not resolve ends, per channel.
FAILURES = {
    "call": (("unresolved", "abandoned", "transferred"), (0.5, 0.3, 0.2)),
    "chat": (("unresolved", "abandoned", "escalated"), (0.5, 0.3, 0.2)),
    "video": (("unresolved", "abandoned", "escalated"), (0.55, 0.15, 0.3)),
    "social": (("unresolved",), (1.0,)),
}
CALL_OUTCOMES = {"resolved": "RES", "unresolved": "UNR", "abandoned": "ABD", "transferred": "TRF"}
CHAT_STATUSES = {
    "resolved": "solved",
    "unresolved": "unsolved",
    "abandoned": "abandoned",
    "escalated": "escalated",
}

_ONLINE_INTENTS = (
    ("order_status", "delivery", "billing", "technical_issue", "returns", "account"),
    (0.25, 0.25, 0.10, 0.20, 0.12, 0.08),
)
_STORE_INTENTS = (("technical_issue", "returns", "billing", "account"), (0.45, 0.30, 0.15, 0.10))
_DELAY_DAYS = {
    "order_status": (1, 4),
    "delivery": (2, 7),
    "billing": (1, 20),
    "technical_issue": (5, 60),
    "returns": (3, 25),
    "account": (0, 30),
}
CALLER_DESCRIBES = ("first_name", "last_name", "birth_date")
"""What an agent records when checking who is calling (abandoned calls reach no agent)."""
CALLER_BIRTH_DATE = 0.9
"""Share of answered callers checked by their birth date."""
CALLER_SLIPS = 0.04
"""Share of names an agent mistypes (a quarter as many birth dates)."""

_CHANNEL_WEIGHTS = {"call": 0.45, "chat": 0.33, "video": 0.10, "social": 0.12}
_TWITTER_EPOCH = 1_288_834_974_657


def after_purchase(j: Journey, at: int, channel: str, order: str, product: str) -> None:
    """What may follow a purchase: a service case, and a word of praise on social media."""
    rng = j.rng
    heavy = j.c.journey_type == "support_heavy"
    chance = (0.9 if j.purchases == 1 else 0.5) if heavy else 0.07
    if j.restock_left:
        chance = 0.0  # a cable or batteries in a burst of orders (loyalty.py) need no service
    if rng.random() < chance:
        intents, weights = _STORE_INTENTS if channel == "store" else _ONLINE_INTENTS
        intent = rng.choices(intents, weights)[0]
        low, high = _DELAY_DAYS[intent]
        case(j, intent, at + rng.randint(low, high) * DAY + rng.randrange(DAY), order, product)
    elif j.c.handle is not None and rng.random() < 0.15:
        posted = slot(rng, at + rng.randint(2, 20) * DAY, HOURS["social"])
        if posted is not None and posted < j.active_until:
            text = rng.choice(PRAISE_POSTS).format(brand=BRAND_HANDLE, product=product)
            post_id = post(j, posted, text)
            j.run.truth.post(j.c, post_id, "positive", "", "", posted)


def resolution_probability(channel: str, previous: str, intent: str) -> float:
    if previous == "chat" and channel == "call":
        # Planted: a customer who gives up on chat and phones has a harder problem.
        return CHAT_TO_CALL_RESOLUTION
    chance = RESOLUTION[channel] * INTENT_EASE[intent]
    if previous == channel:
        chance *= 0.85  # trying the same door again works less well
    return min(chance, 0.95)


def case(
    j: Journey,
    intent: str,
    not_before: int,
    order: str,
    product: str,
    *,
    ease: float = 1.0,
    may_churn: bool = True,
) -> None:
    """A service case: contact attempts until it is settled or the customer gives up. `ease`
    multiplies each attempt's chance of resolving it; a customer whose case ends unresolved
    may churn (unless `may_churn` is false: churn.py decides for its hard cases); a hard case
    (`ease` < 1) of a customer with a handle goes public more often."""
    rng, run = j.rng, j.run
    case_id = f"K{run.counters.next('cases'):08d}"
    problem = rng.choice(PROBLEMS[intent]).format(order=order, product=product)
    channel, previous, attempt, failed = _first_channel(j), "", 0, False
    while attempt < 4:
        at = slot(rng, not_before, HOURS[channel])
        if at is None or at >= j.active_until:
            break
        attempt += 1
        outcome = _outcome(rng, channel, previous, intent, ease)
        event_id = _emit(j, channel, at, intent, outcome, attempt, problem)
        source = {"call": "call_centre", "social": "social"}.get(channel, "chat")
        run.truth.contact(
            j.c, Contact(source, event_id, case_id, intent, channel, attempt, previous, outcome, at)
        )
        j.contacts.append((at, intent))
        if channel == "social":
            sentiment = "negative" if attempt > 1 else "neutral"
            run.truth.post(j.c, event_id, sentiment, case_id, intent, at)
        j.touch(at, channel)
        settled = outcome == "resolved" or (
            outcome in ("transferred", "escalated") and rng.random() < 0.5
        )
        failed = not settled
        repeat = 0.85 if j.c.journey_type == "support_heavy" else 0.65
        if settled or rng.random() > repeat:
            break
        previous, channel = channel, _next_channel(j, channel, public=ease < 1)
        not_before = at + DAY + rng.randrange(3 * DAY)
    gives_up = 0.6 if j.c.journey_type == "support_heavy" else 0.45
    if may_churn and failed and rng.random() < gives_up:
        # Churn: the customer stops all activity after the last failed attempt.
        j.churned = True
        j.active_until = min(j.active_until, j.last_activity + HOUR)


def _first_channel(j: Journey) -> str:
    channels = [c for c in _CHANNEL_WEIGHTS if c != "social" or j.c.handle is not None]
    return j.rng.choices(channels, [_CHANNEL_WEIGHTS[c] for c in channels])[0]


def _next_channel(j: Journey, current: str, *, public: bool = False) -> str:
    rng = j.rng
    if rng.random() < 0.4:
        return current
    if j.c.handle is not None and current != "social" and rng.random() < (0.7 if public else 0.35):
        return "social"  # an unresolved customer with a handle goes public
    others = [c for c in ("call", "chat", "video") if c != current]
    return rng.choices(others, [_CHANNEL_WEIGHTS[c] for c in others])[0]


def _outcome(rng: random.Random, channel: str, previous: str, intent: str, ease: float) -> str:
    if rng.random() < ease * resolution_probability(channel, previous, intent):
        return "resolved"
    outcomes, weights = FAILURES[channel]
    return rng.choices(outcomes, weights)[0]


def _emit(
    j: Journey, channel: str, at: int, intent: str, outcome: str, attempt: int, problem: str
) -> str:
    if channel == "call":
        return _call(j, at, intent, outcome, attempt, problem)
    if channel == "social":
        templates = COMPLAINT_POSTS if attempt > 1 else HELP_POSTS
        text = j.rng.choice(templates).format(brand=BRAND_HANDLE, problem=problem, attempts=attempt)
        return post(j, at, text)
    return _conversation(j, channel, at, intent, outcome, problem)


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _call(j: Journey, at: int, intent: str, outcome: str, attempt: int, problem: str) -> str:
    rng, run = j.rng, j.run
    call_id = f"CL{run.counters.next('calls'):09d}"
    abandoned = outcome == "abandoned"
    if abandoned:
        agent, team = "", ""
    elif intent == "billing":
        agent, team = f"A{rng.randint(51, 60):03d}", "Billing"
    elif attempt > 1 and rng.random() < 0.3:
        agent, team = f"A{rng.randint(36, 50):03d}", "Tier2"
    else:
        agent, team = f"A{rng.randint(1, 35):03d}", "Tier1"
    wait = rng.randint(90, 900) if abandoned else rng.randint(5, 420)
    talk = 0 if abandoned else rng.randint(90, 1500)
    notes = NOTES[outcome] if abandoned else f"{NOTES[outcome]}. {problem}"
    caller = _verified_caller(j) if agent else ("", "", "")
    run.exports.call_centre.write(
        (
            call_id,
            paris(at, "%Y-%m-%d %H:%M:%S"),
            phone_as_written(rng, j.c.mobile),
            CALL_QUEUES[intent],
            wait,
            _hms(talk),
            agent,
            team,
            INTENT_CODES[intent],
            CALL_OUTCOMES[outcome],
            notes,
            *caller,
        )
    )
    run.exports.channels["call"] += 1
    described = [a for a, typed in zip(CALLER_DESCRIBES, caller, strict=True) if typed]
    j.c.recorded(("phone", j.c.phone), describes=described)
    return call_id


def _verified_caller(j: Journey) -> tuple[str, str, str]:
    """First name, family name and birth date as the agent typed them when checking who is
    calling; some callers are checked another way (an order number), with no birth date."""
    rng, c = j.rng, j.c
    first = name_as_typed(rng, c.first_name, slips=CALLER_SLIPS)
    last = name_as_typed(rng, c.last_name, slips=CALLER_SLIPS)
    born = ""
    if rng.random() < CALLER_BIRTH_DATE:
        born = birth_date_as_typed(rng, c.birth_date, slips=CALLER_SLIPS / 4)
    return first, last, born


def _conversation(
    j: Journey, channel: str, at: int, intent: str, outcome: str, problem: str
) -> str:
    rng, run, c = j.rng, j.run, j.c
    chat_id = str(10**9 + run.counters.next("chats"))
    abandoned = outcome == "abandoned"
    video = channel == "video"
    lines = [f"Client : {problem}"]
    if abandoned:
        lines.append("[Le visiteur a quitté la conversation]")
    else:
        lines.append(f"Conseiller : {ANSWERS[outcome]}")
    record: dict[str, object] = {
        "chat_id": chat_id,
        "medium": "video" if video else "livechat",
        "started_at": iso_paris(at),
        "visitor_id": rng.choice(c.cookies),
    }
    if rng.random() < 0.4:
        record["email"] = email_as_typed(rng, c.email)
    record.update(
        {
            "agent": None if abandoned else rng.choice(VIDEO_AGENTS if video else CHAT_AGENTS),
            "team": "Vidéo" if video else ("Chat N2" if rng.random() < 0.2 else "Chat N1"),
            "topic": INTENT_TOPICS[intent],
            "status": CHAT_STATUSES[outcome],
            "wait_s": rng.randint(30, 600) if abandoned else rng.randint(5, 240),
            "duration_s": rng.randint(10, 90)
            if abandoned
            else rng.randint(120, 1800 if video else 1200),
            "transcript": "\n".join(lines),
        }
    )
    run.exports.chat.write(record)
    run.exports.channels[channel] += 1
    keys = [("anonymous_id", str(record["visitor_id"]))]
    if "email" in record:
        keys.append(("email", c.email))
    c.recorded(*keys)
    return chat_id


def post(j: Journey, at: int, text: str) -> str:
    """A post on a social network; its id is Twitter-style (time + sequence)."""
    rng, run, c = j.rng, j.run, j.c
    assert c.handle is not None
    post_id = str(((at - _TWITTER_EPOCH) << 22) | (run.counters.next("posts") & 0x3FFFFF))
    run.exports.social.write(
        {
            "post_id": post_id,
            "handle": handle_as_written(rng, c.handle),
            "network": rng.choice(SOCIAL_NETWORKS),
            "text": text,
            "created_at": twitter(at),
        }
    )
    run.exports.channels["social"] += 1
    c.recorded(("social_handle", c.handle))
    j.touch(at, "social")
    return post_id

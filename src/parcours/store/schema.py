"""The canonical event: one row for every interaction on every channel.

Every analysis in parcours is a query over this table, so what the journey analyses need is a
column of its own, not buried in JSON: who (anonymous id, user id and the other identifiers),
when (occurred_at, UTC), where (channel), why (intent), how it ended (outcome), who served
(agent, team), how much (amount, currency), how long (wait and duration), what was said (text).
Everything else the source sent stays in `properties`, `context` and `raw`.
"""

from __future__ import annotations

from dataclasses import dataclass

CHANNELS = ("web", "app", "store", "call", "chat", "video", "email", "sms", "social", "other")
"""Where an interaction happened. `other` is explicit: an unknown value is refused, not guessed."""

EVENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")
"""The Segment spec's message types; every adapter maps onto them."""

IDENTIFIER_TYPES = (
    "email",
    "phone",
    "loyalty_id",
    "crm_id",
    "device_id",
    "social_handle",
)
"""Identifier types known out of the box, besides `anonymous_id` and `user_id` (own columns).

A mapping may declare others (a custom type is any lower-case word); emails are stored
lower-cased and trimmed, phones in E.164 (`+33612345678`), social handles lower-cased with no
leading `@`.
"""

OUTCOMES = (
    "resolved",
    "unresolved",
    "abandoned",
    "converted",
    "transferred",
    "escalated",
    "pending",
)
"""The documented outcomes; other values are kept as given (lower-cased), not refused."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    nullable: bool = True
    compression: str | None = None
    """Forced storage compression. Long JSON and text compress 4x better with zstd, and
    DuckDB's automatic choice costs 3x the write time on them (measured on the demo's web
    export)."""


ZSTD = "zstd"


IDENTIFIER = "STRUCT(type VARCHAR, value VARCHAR)"

EVENT_COLUMNS: tuple[Column, ...] = (
    Column(
        "event_id",
        "VARCHAR",
        "Unique within its source: the sender's id, or a content hash.",
        False,
    ),
    Column("source", "VARCHAR", "The source that sent or exported the event.", False),
    Column("type", "VARCHAR", "track, identify, page, screen, group or alias.", False),
    Column("name", "VARCHAR", "What happened, e.g. 'Order Completed', 'Call', 'Chat'."),
    Column(
        "channel",
        "VARCHAR",
        "web, app, store, call, chat, video, email, sms, social, other.",
        False,
    ),
    Column("occurred_at", "TIMESTAMPTZ", "When it happened, UTC.", False),
    Column("received_at", "TIMESTAMPTZ", "When parcours stored it, UTC.", False),
    Column("sent_at", "TIMESTAMPTZ", "When the sender sent it, when known (live API)."),
    Column("anonymous_id", "VARCHAR", "Cookie, receipt or visitor id before the person is known."),
    Column("user_id", "VARCHAR", "The company's own id for a known person."),
    Column("identifiers", f"{IDENTIFIER}[]", "Other identifiers seen, normalised: (type, value)."),
    Column("session_id", "VARCHAR", "The sender's own visit/session id, when it has one."),
    Column("intent", "VARCHAR", "Why the customer made contact: order_status, delivery..."),
    Column("outcome", "VARCHAR", "How it ended: resolved, unresolved, abandoned, converted..."),
    Column("agent", "VARCHAR", "The agent (person or bot) who handled the contact."),
    Column("team", "VARCHAR", "The agent's team or queue."),
    Column("amount", "DECIMAL(18,4)", "Money involved (a purchase, a refund), in `currency`."),
    Column("currency", "VARCHAR", "ISO 4217 code, upper-case."),
    Column("wait_seconds", "DOUBLE", "Time the customer waited before being served, seconds."),
    Column("duration_seconds", "DOUBLE", "Length of the interaction (talk time...), seconds."),
    Column("text", "VARCHAR", "Free text: a chat message, a social post, a call note.", True, ZSTD),
    Column("properties", "JSON", "Every other field of the record.", True, ZSTD),
    Column("context", "JSON", "Sender context (page, device, library...), as sent.", True, ZSTD),
    Column("raw", "JSON", "The original record, as received, for lineage and replay.", True, ZSTD),
    Column("import_id", "VARCHAR", "The import run (or API request batch) that stored it."),
)

QUARANTINE_COLUMNS: tuple[Column, ...] = (
    Column("quarantine_id", "VARCHAR", "Stable id: source plus a hash of the raw record.", False),
    Column("source", "VARCHAR", "The source the record came from.", False),
    Column(
        "origin", "VARCHAR", "Where it came from: file path and record number, or the API route."
    ),
    Column("mapping", "VARCHAR", "The mapping used when it was refused (for replay)."),
    Column(
        "record_number", "BIGINT", "1-based position in the file (data records, header excluded)."
    ),
    Column("raw", "VARCHAR", "The record as received, byte for byte where possible.", False),
    Column(
        "reason_code",
        "VARCHAR",
        "The first problem, as a code: bad_timestamp, unknown_channel...",
        False,
    ),
    Column("reason", "VARCHAR", "Every problem found, in words a user understands.", False),
    Column("quarantined_at", "TIMESTAMPTZ", "When it was refused, UTC.", False),
    Column("status", "VARCHAR", "open, or replayed once stored after a fix.", False),
    Column("replayed_at", "TIMESTAMPTZ", "When a replay stored it."),
    Column("import_id", "VARCHAR", "The import run that refused it."),
)

IMPORT_COLUMNS: tuple[Column, ...] = (
    Column("import_id", "VARCHAR", "Id of the run.", False),
    Column("source", "VARCHAR", "Source name given to the import.", False),
    Column("path", "VARCHAR", "The file imported (or 'replay').", False),
    Column("mapping", "VARCHAR", "The mapping used."),
    Column("started_at", "TIMESTAMPTZ", "Start, UTC.", False),
    Column("finished_at", "TIMESTAMPTZ", "End, UTC; empty while running or if it was killed."),
    Column("status", "VARCHAR", "running, completed, failed.", False),
    Column("records", "BIGINT", "Records read so far."),
    Column("accepted", "BIGINT", "New events stored."),
    Column("duplicates", "BIGINT", "Records already stored (same source and event id)."),
    Column("quarantined", "BIGINT", "Records refused and kept in quarantine."),
)

SOURCE_COLUMNS: tuple[Column, ...] = (
    Column("name", "VARCHAR", "The source's name, e.g. website, ios-app.", False),
    Column("write_key", "VARCHAR", "The key its SDKs send; secret.", False),
    Column("channel", "VARCHAR", "Default channel of its events.", False),
    Column("enabled", "BOOLEAN", "A disabled source's key is refused (401).", False),
    Column("created_at", "TIMESTAMPTZ", "When it was added, UTC.", False),
    Column("rotated_at", "TIMESTAMPTZ", "When its key last changed, UTC."),
)

IDENTITY_MAP_COLUMNS: tuple[Column, ...] = (
    Column("type", "VARCHAR", "Identifier type: user_id, email, phone, anonymous_id...", False),
    Column("value", "VARCHAR", "The identifier, normalised as on events.", False),
    Column("customer_id", "VARCHAR", "The customer it belongs to.", False),
    Column("first_seen", "TIMESTAMPTZ", "First event carrying it."),
    Column("last_seen", "TIMESTAMPTZ", "Last event carrying it."),
    Column("events", "BIGINT", "Events carrying it."),
)

IDENTITY_LINK_COLUMNS: tuple[Column, ...] = (
    Column("customer_id", "VARCHAR", "The customer of the link's left identifier.", False),
    Column("left_type", "VARCHAR", "The more trusted identifier of the pair...", False),
    Column("left_value", "VARCHAR", "...and its value.", False),
    Column("right_type", "VARCHAR", "The other identifier...", False),
    Column("right_value", "VARCHAR", "...and its value.", False),
    Column(
        "decision",
        "VARCHAR",
        "linked (seen together), matched (probabilistic), or the rule that refused it "
        "(limit:user_id, shared_device).",
        False,
    ),
    Column("events", "BIGINT", "Events that showed the two together."),
    Column("first_seen", "TIMESTAMPTZ", "When they were first seen together."),
    Column("source", "VARCHAR", "The first event's source (the evidence)..."),
    Column("event_id", "VARCHAR", "...and its id (for a match: the matching run)."),
    Column("match_weight", "DOUBLE", "A match's Fellegi-Sunter weight."),
    Column("evidence", "JSON", "A match's fields compared."),
    Column("run_id", "VARCHAR", "The resolve that decided it."),
)

IDENTITY_MATCH_COLUMNS: tuple[Column, ...] = (
    Column("left_type", "VARCHAR", "A record's identifier type (its most trusted one)...", False),
    Column("left_value", "VARCHAR", "...and value.", False),
    Column("right_type", "VARCHAR", "The matched record's identifier type...", False),
    Column("right_value", "VARCHAR", "...and value.", False),
    Column("match_weight", "DOUBLE", "Fellegi-Sunter match weight (log2 Bayes factor).", False),
    Column("probability", "DOUBLE", "Match probability, 0 to 1.", False),
    Column("evidence", "JSON", "The fields compared and each one's comparison level."),
    Column("run_id", "VARCHAR", "The matching run that found it."),
)

IDENTITY_MATCH_RUN_COLUMNS: tuple[Column, ...] = (
    Column("run_id", "VARCHAR", "Id of the matching run (identity_matches.run_id).", False),
    Column("matched_at", "TIMESTAMPTZ", "When it replaced identity_matches, UTC.", False),
    Column("records", "BIGINT", "Person records compared."),
    Column("matches", "BIGINT", "Matches written."),
)
"""Every matching run (schema v7): a run newer than the last resolve has matches no resolve
has applied yet, so the next resolve is a full one."""

IDENTITY_OVERRIDE_COLUMNS: tuple[Column, ...] = (
    Column("override_id", "VARCHAR", "Id of the decision.", False),
    Column(
        "kind",
        "VARCHAR",
        "merge (these two are one customer, whatever the rules) or split "
        "(these two are never one customer).",
        False,
    ),
    Column("left_type", "VARCHAR", "One identifier's type...", False),
    Column("left_value", "VARCHAR", "...and value.", False),
    Column("right_type", "VARCHAR", "The other identifier's type...", False),
    Column("right_value", "VARCHAR", "...and value.", False),
    Column("reason", "VARCHAR", "Why, in the user's words."),
    Column("created_at", "TIMESTAMPTZ", "When, UTC.", False),
    Column("customer_before", "VARCHAR", "Lineage: the customer the left identifier had then."),
)

PRIVACY_LOG_COLUMNS: tuple[Column, ...] = (
    Column("request_id", "VARCHAR", "Id of the request (give it to the person).", False),
    Column("kind", "VARCHAR", "erasure or access.", False),
    Column("carried_out_at", "TIMESTAMPTZ", "When it was carried out, UTC.", False),
    Column("counts", "JSON", "What was found or removed, table by table: counts only."),
    Column("reason", "VARCHAR", "The legal ground or ticket, as the operator wrote it."),
)

ERASED_IDENTIFIER_COLUMNS: tuple[Column, ...] = (
    Column(
        "identifier_hash",
        "VARCHAR",
        "SHA-256 of the store's salt, the identifier's type and its value: never the value.",
        False,
    ),
    Column("erased_at", "TIMESTAMPTZ", "When the person was erased, UTC.", False),
    Column("request_id", "VARCHAR", "The erasure in `privacy_log` that added it."),
)
"""The suppression list (schema v6): every identifier of every erased person, salted and
hashed, so that a record carrying one is withheld at import instead of bringing the person
back (see `store.suppression`)."""

ERASURE_SALT_COLUMNS: tuple[Column, ...] = (
    Column("salt", "VARCHAR", "A random secret made once per store, when v6 created it.", False),
)
"""One row: the salt of `erased_identifiers`' hashes. Per store, so a hash means nothing
outside it."""

IDENTITY_RUN_COLUMNS: tuple[Column, ...] = (
    Column("run_id", "VARCHAR", "Id of the resolve.", False),
    Column("resolved_at", "TIMESTAMPTZ", "When, UTC.", False),
    Column("identifiers", "BIGINT", "Identifiers considered."),
    Column("links", "BIGINT", "Links accepted."),
    Column("customers", "BIGINT", "Customers resolved."),
    Column("refused", "BIGINT", "Links refused by a rule."),
    Column("rules", "JSON", "The rules in force."),
)

CUSTOMER_EVENT_COLUMNS: tuple[Column, ...] = (
    Column("customer_id", "VARCHAR", "The customer the event belongs to.", False),
    Column(
        "customer_key", "BIGINT", "A 63-bit hash of customer_id: the order journeys read.", False
    ),
    Column(
        "event_key", "BIGINT", "A 63-bit hash of (source, event_id): ties at one instant.", False
    ),
    *(
        c
        for c in EVENT_COLUMNS
        if c.name
        in (
            "occurred_at",
            "source",
            "event_id",
            "channel",
            "type",
            "name",
            "session_id",
            "intent",
            "outcome",
            "agent",
            "team",
            "amount",
            "currency",
            "wait_seconds",
            "duration_seconds",
            "text",
            "properties",
        )
    ),
)
"""Each event with its customer, as the last resolve decided: what profiles, timelines and
journeys read. Derived, never edited by hand: `identity.customer_events` rebuilds the rows a
resolve touches (all of them on a full resolve). The event's customer is its most trusted
identifier's; `raw`, `context` and the identifiers stay in `events` only."""

NAME_CODE = Column(
    "name_code",
    "INTEGER",
    "The event's name as it is called in a journey (its name, else its type), as a number "
    "in `event_names` (schema v5): journeys read numbers, not text.",
)
"""The column schema v5 adds to `customer_events`."""

EVENT_NAME_COLUMNS: tuple[Column, ...] = (
    Column("code", "INTEGER", "The number `customer_events.name_code` holds.", False),
    Column("name", "VARCHAR", "An event's name (else its type) as journeys call it.", False),
)
"""Every name a journey step has had, numbered in the order they first came: written by the
resolves that write `customer_events`, never renumbered."""

EVENT_COLUMN_NAMES = tuple(c.name for c in EVENT_COLUMNS)


def create_table_sql(table: str, columns: tuple[Column, ...]) -> str:
    """DuckDB DDL for one of the tables above."""
    body = ",\n  ".join(
        f"{c.name} {c.type}{'' if c.nullable else ' NOT NULL'}"
        + (f" USING COMPRESSION {c.compression}" if c.compression else "")
        for c in columns
    )
    return f"CREATE TABLE {table} (\n  {body}\n)"


SEGMENT_COLUMNS: tuple[Column, ...] = (
    Column("name", "VARCHAR", "The segment's name, as conditions and scopes call it.", False),
    Column("version", "INTEGER", "1 for the first definition saved, +1 for each change.", False),
    Column("definition", "JSON", "The definition as saved (segments.definition).", False),
    Column("description", "VARCHAR", "What the segment is for, in the author's words."),
    Column("saved_at", "TIMESTAMPTZ", "When this version was saved, UTC.", False),
    Column("retired_at", "TIMESTAMPTZ", "When the segment was deleted (its history is kept)."),
)
"""Every version of every segment definition (schema v8); the current one is the highest
version not retired."""

SEGMENT_MEMBER_COLUMNS: tuple[Column, ...] = (
    Column("segment", "VARCHAR", "The segment's name.", False),
    Column("customer_id", "VARCHAR", "A customer in the segment now.", False),
    Column("version", "INTEGER", "The definition's version that let the customer in.", False),
    Column("entered_at", "TIMESTAMPTZ", "When the customer entered, UTC.", False),
)
"""Who is in each segment now (schema v8)."""

SEGMENT_CHANGE_COLUMNS: tuple[Column, ...] = (
    Column("segment", "VARCHAR", "The segment's name.", False),
    Column("customer_id", "VARCHAR", "The customer who entered or left.", False),
    Column("change", "VARCHAR", "entered or left.", False),
    Column("version", "INTEGER", "The definition's version at the change.", False),
    Column("changed_at", "TIMESTAMPTZ", "When, UTC.", False),
)
"""Every entry into and exit from a segment, in order (schema v8): membership history."""

CUSTOMER_SCORE_COLUMNS: tuple[Column, ...] = (
    Column("customer_id", "VARCHAR", "The customer scored.", False),
    Column(
        "score",
        "VARCHAR",
        "Which score: tier, rfm, persona, health, health_rules, churn_risk, p_alive, clv, "
        "milestone:<name>...",
        False,
    ),
    Column("value", "DOUBLE", "The number (a level, a 0-100 score, a probability, money)."),
    Column("label", "VARCHAR", "The word for it (Gold, champions, green, on_track...)."),
    Column("details", "JSON", "Why: the inputs and each one's contribution, for explain."),
    Column("version", "VARCHAR", "The definition or model version that computed it.", False),
    Column("computed_at", "TIMESTAMPTZ", "When, UTC.", False),
)
"""Each customer's current value of each score (schema v8): one row per (customer, score).
Segments, the customer view and the console read scores here, whichever model wrote them."""

CUSTOMER_SCORE_CHANGE_COLUMNS: tuple[Column, ...] = (
    *(c for c in CUSTOMER_SCORE_COLUMNS if c.name != "details"),
    Column("previous_value", "DOUBLE", "The value before this change (none for the first)."),
    Column("previous_label", "VARCHAR", "The label before this change."),
)
"""Every change of a customer's score (schema v8): tier moves, health trends, what changed."""

SCORE_MODEL_COLUMNS: tuple[Column, ...] = (
    Column("score", "VARCHAR", "The score the model computes (health, clv, persona...).", False),
    Column("version", "VARCHAR", "The version customer_scores.version cites.", False),
    Column("fitted_at", "TIMESTAMPTZ", "When it was fitted, UTC.", False),
    Column("parameters", "JSON", "Everything needed to score without refitting.", False),
    Column("evaluation", "JSON", "Its back-test or fit statistics (AUC, log-likelihood...)."),
)
"""Fitted models, so that new customers are scored without a refit and every score cites the
model that made it (schema v8)."""

AUTOMATION_COLUMNS: tuple[Column, ...] = (
    Column("name", "VARCHAR", "The automation's name.", False),
    Column("version", "INTEGER", "1 for the first version published, +1 for each change.", False),
    Column("definition", "JSON", "The definition as published (automations.definition).", False),
    Column("description", "VARCHAR", "What the automation is for, in the author's words."),
    Column("status", "VARCHAR", "live (entering and acting) or paused (no entry, no send).", False),
    Column(
        "on_publish",
        "VARCHAR",
        "What the instances of earlier versions did at this publish: finish (on their "
        "version), move (to this one, at the step of the same id) or exit.",
        False,
    ),
    Column("published_at", "TIMESTAMPTZ", "When this version was published, UTC.", False),
    Column("retired_at", "TIMESTAMPTZ", "When the automation was retired (history kept)."),
)
"""Every version of every automation (schema v9); the current one is the highest version not
retired. An instance keeps the version it entered on unless a publish moved it."""

AUTOMATION_INSTANCE_COLUMNS: tuple[Column, ...] = (
    Column("instance_id", "BIGINT", "A 63-bit key, fixed at entry (never recomputed).", False),
    Column("automation", "VARCHAR", "The automation's name.", False),
    Column("version", "INTEGER", "The definition version the instance runs on.", False),
    Column("customer_id", "VARCHAR", "The customer in it.", False),
    Column("entry_key", "VARCHAR", "What tells entries apart: the entry key's value or the event."),
    Column("entry", "JSON", "The trigger's properties, for templates and wait_for's key."),
    Column("arm", "VARCHAR", "treated, holdout (sent nothing), or a random split's arm.", False),
    Column("step", "VARCHAR", "The step it is at (none once done).", True),
    Column("state", "VARCHAR", "active (to run now), waiting or done.", False),
    Column("wake_at", "TIMESTAMPTZ", "Its timer: when a wait ends or a wait_for times out."),
    Column("entered_at", "TIMESTAMPTZ", "When it entered (the clock's time), UTC.", False),
    Column("updated_at", "TIMESTAMPTZ", "When it last moved, UTC.", False),
    Column("converted_at", "TIMESTAMPTZ", "When the goal was reached (none: not yet, or never)."),
    Column("exited_at", "TIMESTAMPTZ", "When it ended, UTC."),
    Column("exit_reason", "VARCHAR", "goal, exit event, left segment, end, exit step, moved..."),
)
"""One row per customer per entry into an automation (schema v9): where each one is, its timer
(`wake_at`: due timers are `state = 'waiting' AND wake_at <= now`), and how it ended."""

AUTOMATION_STEP_COLUMNS: tuple[Column, ...] = (
    Column("instance_id", "BIGINT", "The instance.", False),
    Column("automation", "VARCHAR", "The automation's name.", False),
    Column("version", "INTEGER", "The definition version.", False),
    Column("customer_id", "VARCHAR", "The customer.", False),
    Column("step", "VARCHAR", "The step id (entry: the trigger).", False),
    Column(
        "outcome",
        "VARCHAR",
        "What happened there: entered, waited, event, timed_out, branch, planned, held_out, "
        "set, task, anonymised, deleted, exited.",
        False,
    ),
    Column("detail", "VARCHAR", "The branch or arm taken, the exit's reason..."),
    Column("happened_at", "TIMESTAMPTZ", "When (the clock's time), UTC.", False),
)
"""Every step every instance went through, in order (schema v9): the per-step funnel and the
reason each customer left."""

AUTOMATION_SEND_COLUMNS: tuple[Column, ...] = (
    Column(
        "send_key",
        "VARCHAR",
        "md5 of (automation, version, instance, step, channel): the idempotency key the "
        "provider receives (Message-ID, Idempotency-Key).",
        False,
    ),
    Column("instance_id", "BIGINT", "The instance.", False),
    Column("automation", "VARCHAR", "The automation's name.", False),
    Column("version", "INTEGER", "The definition version (its step holds the content).", False),
    Column("step", "VARCHAR", "The send step's id.", False),
    Column("customer_id", "VARCHAR", "The recipient.", False),
    Column("channel", "VARCHAR", "email, sms, push or webhook.", False),
    Column("purpose", "VARCHAR", "The consent purpose it needs (marketing, service...).", False),
    Column("priority", "VARCHAR", "transactional, service or marketing.", False),
    Column(
        "state",
        "VARCHAR",
        "planned, sending (handed to the provider, not yet confirmed), sent, deferred "
        "(capped or quiet hours: next_attempt_at), held (a reason stops it: no consent, a "
        "missing trait, no address), failed (retries spent).",
        False,
    ),
    Column("attempts", "INTEGER", "Provider calls made.", False),
    Column("next_attempt_at", "TIMESTAMPTZ", "When it is due (planned, deferred, retried)."),
    Column("planned_at", "TIMESTAMPTZ", "When the step planned it, UTC.", False),
    Column("sent_at", "TIMESTAMPTZ", "When the provider accepted it, UTC."),
    Column("updated_at", "TIMESTAMPTZ", "When its state last changed, UTC.", False),
    Column("reason", "VARCHAR", "Why it is deferred, held or failed, in words."),
    Column("provider_ref", "VARCHAR", "The provider's id for it, if it gave one."),
)
"""The send ledger (schema v9): a row per message, written before the provider is called, in
the transaction that moves the instance past its send step (so a step never plans twice).
No address and no content: both are rendered from the profile when it is sent."""

AUTOMATION_TASK_COLUMNS: tuple[Column, ...] = (
    Column("task_id", "VARCHAR", "md5 of (instance, step): one task per step reached.", False),
    Column("instance_id", "BIGINT", "The instance that created it.", False),
    Column("automation", "VARCHAR", "The automation's name.", False),
    Column("customer_id", "VARCHAR", "The customer it is about.", False),
    Column("title", "VARCHAR", "What to do, rendered.", False),
    Column("priority", "VARCHAR", "low, normal, high or urgent.", False),
    Column("queue", "VARCHAR", "The queue it belongs to (none: the default queue)."),
    Column("due_at", "TIMESTAMPTZ", "When it should be done by, UTC.", False),
    Column("created_at", "TIMESTAMPTZ", "When it was created, UTC.", False),
    Column("state", "VARCHAR", "open or done.", False),
    Column("closed_at", "TIMESTAMPTZ", "When it was done, UTC."),
)
"""Tasks for agents created by automations (schema v9); the console's queue shows them."""

AUTOMATION_CURSOR_COLUMNS: tuple[Column, ...] = (
    Column("name", "VARCHAR", "What the cursor follows (events: the runtime's feed).", False),
    Column("read_until", "TIMESTAMPTZ", "Up to when it has been read (received_at), UTC.", False),
)
"""How far the runtime has read the store's new events (schema v9). Reading again from a little
before is harmless: entries, exits and wakes are idempotent."""

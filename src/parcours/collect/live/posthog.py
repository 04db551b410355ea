"""The PostHog capture API: PostHog events as Segment-shaped messages.

PostHog sends `{event, distinct_id, properties, timestamp, uuid}`; identity travels in special
events, which become the Segment types that carry the same meaning, so the identity station
reads one shape:

| PostHog | message |
|---|---|
| `$identify` (`distinct_id`, `properties.$anon_distinct_id`) | identify: userId, anonymousId |
| `$create_alias` (`properties.alias`) | alias: userId = distinct_id, previousId = alias |
| `$merge_dangerously` (`properties.alias`) | alias, with `context.posthog.merge_dangerously` |
| `$groupidentify` | group: groupId = `$group_key` |
| `$pageview` (`$current_url`), `$screen` (`$screen_name`) | page, screen |
| anything else | track |

Other events carry `distinct_id` as userId when PostHog says the person is identified
(`$is_identified`), else as anonymousId. The original event is kept whole under `posthog`.
"""

from __future__ import annotations

from typing import Any

from parcours.collect.live.segment import RequestError, as_object

IDENTITY_TYPES = {
    "$identify": "identify",
    "$create_alias": "alias",
    "$merge_dangerously": "alias",
    "$groupidentify": "group",
    "$pageview": "page",
    "$screen": "screen",
}


def events_of(body: Any) -> list[Any]:
    """The events of any capture body: a batch object, a list, or one event."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("batch"), list):
        return list(body["batch"])
    if isinstance(body, dict) and "event" in body:
        return [body]
    raise RequestError("a capture body is an event, a list of events, or {batch: [...]}")


def api_key(body: Any) -> str | None:
    """PostHog's project key: `api_key` or `token`, on the body or on its first event or in
    that event's properties (where posthog-js puts it, on a lone event as in a batch)."""
    candidates = [body] if isinstance(body, dict) else []
    events = (
        body if isinstance(body, list) else (body.get("batch") if isinstance(body, dict) else None)
    )
    first = events[0] if isinstance(events, list) and events else body
    if isinstance(first, dict):
        candidates.append(first)
        candidates.append(as_object(first.get("properties")))
    for holder in candidates:
        key = holder.get("api_key") or holder.get("token")
        if isinstance(key, str):
            return key
    return None


def to_message(event: Any, sent_at: Any = None) -> Any:
    """One PostHog event as a Segment-shaped message (what is not an event is left as it is)."""
    if not isinstance(event, dict):
        return event
    properties = as_object(event.get("properties"))
    name = event.get("event")
    distinct_id = event.get("distinct_id") or properties.get("distinct_id")
    kind = IDENTITY_TYPES.get(name, "track") if isinstance(name, str) else "track"
    message: dict[str, Any] = {
        "type": kind,
        "messageId": event.get("uuid") or properties.get("$insert_id"),
        "timestamp": event.get("timestamp") or properties.get("$time_iso"),
        "properties": properties,
        "context": {
            "library": {"name": properties.get("$lib"), "version": properties.get("$lib_version")}
        },
        "posthog": event,
    }
    if sent_at is not None:
        message["sentAt"] = sent_at
    if kind == "track":
        message["event"] = name
    elif kind == "page":
        message["name"] = properties.get("$current_url") or name
    elif kind == "screen":
        message["name"] = properties.get("$screen_name") or name
    identified = kind in ("identify", "alias") or properties.get("$is_identified") is True
    message["userId" if identified else "anonymousId"] = distinct_id
    if kind == "identify":
        message["anonymousId"] = properties.get("$anon_distinct_id")
        message["traits"] = event.get("$set") or properties.get("$set") or {}
    elif kind == "alias":
        message["previousId"] = properties.get("alias")
        if name == "$merge_dangerously":
            message["context"]["posthog"] = {"merge_dangerously": True}
    elif kind == "group":
        message["groupId"] = properties.get("$group_key")
    return {k: v for k, v in message.items() if v is not None}

"""The Segment / RudderStack tracking spec: requests to messages, timestamps corrected.

Pure functions, no I/O. Each message leaves here as a JSON object in Segment's own shape,
completed the way Segment's servers complete it: `receivedAt` set on arrival, `timestamp`
corrected for the client's clock skew, `originalTimestamp` kept as the client said.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
PATH_TYPES = {t[0]: t for t in MESSAGE_TYPES} | {t: t for t in MESSAGE_TYPES}
"""`/v1/t` and `/v1/track` are both track: analytics.js in the browser uses the short paths."""


class RequestError(ValueError):
    """The request as a whole is malformed (400): nothing in it can be stored."""


def batch_messages(body: Any) -> list[Any]:
    """The messages of a `/v1/batch` (or `/v1/import`) body, each with the batch context merged.

    An item's own context wins over the batch's, key by key at the top level, as Segment does.
    """
    if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
        raise RequestError("a batch body is a JSON object with a `batch` array of messages")
    shared = as_object(body.get("context"))
    messages = []
    for item in body["batch"]:
        if not isinstance(item, dict):
            # Kept as it is: the transform quarantines what is not a message object.
            messages.append(item)
            continue
        if shared:
            own = as_object(item.get("context"))
            item = {**item, "context": {**shared, **own}}
        if "sentAt" not in item and body.get("sentAt"):
            item = {**item, "sentAt": body["sentAt"]}
        messages.append(item)
    return messages


def single_message(body: Any, path_type: str) -> dict[str, Any]:
    """The message of `/v1/{type}` or `/v1/{t}`: the path says the type when the body does not."""
    if not isinstance(body, dict):
        raise RequestError("a message body is a JSON object")
    message: dict[str, Any] = body
    if "type" not in message:
        message = {**message, "type": PATH_TYPES[path_type]}
    return message


def as_object(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def write_key_in_body(body: Any) -> str | None:
    if isinstance(body, dict):
        key = body.get("writeKey") or body.get("write_key")
        return key if isinstance(key, str) else None
    return None


def complete(message: dict[str, Any], received_at: dt.datetime) -> dict[str, Any]:
    """Set `receivedAt` and the skew-corrected `timestamp` (Segment's rule):

    timestamp = receivedAt - (sentAt - originalTimestamp)

    where originalTimestamp is the client's `timestamp`. Without `sentAt` the client's timestamp
    stands; without any, the message happened when it arrived. A timestamp that does not parse
    is left as sent, so the transform quarantines it with its reason.
    """
    received = _iso(received_at)
    original = message.get("originalTimestamp") or message.get("timestamp")
    completed = {**message, "receivedAt": received}
    if original is None:
        completed["timestamp"] = received
        return completed
    completed["originalTimestamp"] = original
    sent, happened = _parse(message.get("sentAt")), _parse(original)
    try:
        if happened is None:
            completed["timestamp"] = original
        elif sent is None:
            completed["timestamp"] = _iso(happened)
        else:
            completed["timestamp"] = _iso(received_at - (sent - happened))
    except OverflowError:
        # Years 1 or 9999 overflow in the arithmetic: as sent, the transform refuses it.
        completed["timestamp"] = original
    return completed


def _parse(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

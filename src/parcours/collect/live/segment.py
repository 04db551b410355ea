"""The Segment / RudderStack tracking spec: requests to messages.

Pure functions, no I/O. Each message leaves here as a JSON object in Segment's own shape,
with `receivedAt` set on arrival (the `tracking` mapping corrects the client's clock with it).
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
    shared, sent_at = as_object(body.get("context")), body.get("sentAt")
    messages: list[Any] = body["batch"]
    for item in messages:
        # Completed in place: the body is the request's own, parsed for this purpose. What is
        # not a message object stays as it is: the transform quarantines it.
        if not isinstance(item, dict):
            continue
        if shared:
            item["context"] = {**shared, **as_object(item.get("context"))}
        if "sentAt" not in item and sent_at:
            item["sentAt"] = sent_at
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


def complete(message: dict[str, Any], received: str) -> dict[str, Any]:
    """Set `receivedAt` (ISO, UTC) and, when the client sent no time, `timestamp`.

    The clock-skew correction (`timestamp = receivedAt − (sentAt − timestamp)`, Segment's rule)
    is the `tracking` mapping's, done vectorised when the journal is loaded, not per request.
    The message is completed in place: it is the request's own, parsed for this purpose.
    """
    message["receivedAt"] = received
    if not message.get("timestamp"):
        message["timestamp"] = message.get("originalTimestamp") or received
    return message


def iso_now() -> str:
    """Now, as Segment writes times: ISO 8601, UTC, milliseconds, `Z`."""
    moment = dt.datetime.now(dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

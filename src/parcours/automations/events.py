"""The events a send comes back as: what delivery writes (through identity/own_events.py) and
the tracking routes record, and what the uplift's funnel counts. One list, so that the writer
and the readers cannot drift apart.

Each carries the send's idempotency key in `properties.send_key` (automation_sends.send_key),
which ties an open or a click to the step that sent it.
"""

from __future__ import annotations

SEND_KEY = "send_key"
"""The property of a send's events that holds its `automation_sends.send_key`."""

EMAIL_SENT = "Email Sent"
EMAIL_DELIVERED = "Email Delivered"
EMAIL_BOUNCED = "Email Bounced"
EMAIL_OPENED = "Email Opened"
EMAIL_CLICKED = "Email Clicked"
SMS_SENT = "SMS Sent"
SMS_DELIVERED = "SMS Delivered"
SMS_CLICKED = "SMS Clicked"
PUSH_SENT = "Push Sent"
PUSH_OPENED = "Push Opened"

FUNNEL_EVENTS: dict[str, tuple[str, ...]] = {
    "delivered": (EMAIL_DELIVERED, SMS_DELIVERED),
    "opened": (EMAIL_OPENED, PUSH_OPENED),
    "clicked": (EMAIL_CLICKED, SMS_CLICKED),
}
"""The funnel's stages after `sent`, and the events that count a send as having reached each."""

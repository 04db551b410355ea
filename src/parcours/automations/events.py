"""The events a send comes back as, as the uplift's funnel counts them: what delivery writes
(automations/delivery.py, through identity/own_events.py) and the tracking routes record
(automations/tracking.py, tracking_routes.py).

Each carries the send's idempotency key in `properties.send_key` (tracking.SEND_KEY), which
ties a delivery receipt, an open or a click to the step that sent it. An email has no receipt:
the SMTP server's acceptance is its delivery (a bounce makes the send failed).
"""

from __future__ import annotations

from parcours.automations.tracking import SEND_KEY

__all__ = ["SEND_KEY"]

EMAIL_SENT = "Email Sent"
EMAIL_DELIVERED = "Email Delivered"
EMAIL_BOUNCED = "Email Bounced"
EMAIL_OPENED = "Email Opened"
EMAIL_CLICKED = "Email Clicked"
SMS_SENT = "SMS Sent"
SMS_DELIVERED = "SMS Delivered"
SMS_CLICKED = "SMS Clicked"
PUSH_SENT = "Push Sent"
PUSH_DELIVERED = "Push Delivered"
PUSH_OPENED = "Push Opened"

FUNNEL_EVENTS: dict[str, tuple[str, ...]] = {
    "delivered": (EMAIL_DELIVERED, SMS_DELIVERED, PUSH_DELIVERED),
    "opened": (EMAIL_OPENED, PUSH_OPENED),
    "clicked": (EMAIL_CLICKED, SMS_CLICKED),
}
"""The funnel's stages after `sent`, and the events that count a send as having reached each."""

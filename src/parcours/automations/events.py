"""The events a send comes back as, named once: what delivery writes (automations/ledger.py,
through identity/own_events.py), what the tracking routes record (automations/tracking.py,
tracking_routes.py), and what the uplift's funnel counts.

Each carries the send's idempotency key in `properties.send_key` (`SEND_KEY`), which
ties a delivery receipt, an open or a click to the step that sent it. An email has no receipt:
the SMTP server's acceptance is its delivery (a bounce makes the send failed).
"""

from __future__ import annotations

SEND_KEY = "send_key"
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
WEBHOOK_SENT = "Webhook Sent"

SENT = {
    "email": (EMAIL_SENT, "email"),
    "sms": (SMS_SENT, "sms"),
    "push": (PUSH_SENT, "app"),
    "webhook": (WEBHOOK_SENT, "other"),
}
"""Per channel: the event a send comes back as, and that event's channel."""
RECEIPTS = {"sms": (SMS_DELIVERED, "sms"), "push": (PUSH_DELIVERED, "app")}
"""Per channel: the event a gateway's delivery receipt comes back as, and its channel."""
ALL = (
    *(name for name, _ in SENT.values()),
    EMAIL_DELIVERED,
    EMAIL_BOUNCED,
    EMAIL_OPENED,
    EMAIL_CLICKED,
    SMS_DELIVERED,
    SMS_CLICKED,
    PUSH_DELIVERED,
    PUSH_OPENED,
)

FUNNEL_EVENTS: dict[str, tuple[str, ...]] = {
    "delivered": (EMAIL_DELIVERED, SMS_DELIVERED, PUSH_DELIVERED),
    "opened": (EMAIL_OPENED, PUSH_OPENED),
    "clicked": (EMAIL_CLICKED, SMS_CLICKED),
}
"""The funnel's stages after `sent`, and the events that count a send as having reached each."""

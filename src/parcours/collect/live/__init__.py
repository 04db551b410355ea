"""Collect live: the HTTP tracking API that Segment, RudderStack and PostHog SDKs talk to.

`segment` and `posthog` turn requests into Segment-shaped messages (pure functions), `mapping`
maps those messages to canonical events with the same transform as file import, `writer`
commits them in groups, and `routes` is the HTTP surface.
"""

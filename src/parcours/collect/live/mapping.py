"""The mapping of live traffic: the shipped `tracking` mapping, with the source's channel.

The rule for an event's channel: `context.channel`, else `properties.channel`, else the
channel of the source whose write key sent it. A value that is not a channel is quarantined
(`unknown_channel`) rather than guessed.
"""

from __future__ import annotations

from functools import cache

from parcours.collect.mapping import Mapping, load_mapping


@cache
def live_mapping(default_channel: str) -> Mapping:
    mapping, _ = load_mapping("tracking")
    assert mapping.channel is not None  # the shipped mapping declares it
    channel = mapping.channel.model_copy(update={"default": default_channel})
    return mapping.model_copy(update={"channel": channel})

"""Sources: who may send events live, with which write key, and on which default channel.

A source is what an SDK is configured with: its write key. The key authenticates every request
(HTTP Basic `key:`, `writeKey` in the body, or PostHog's `api_key`/`token`), and the source fixes
the default channel of its events (an event may say otherwise: see `collect.live.mapping`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from parcours.errors import NotFoundError, ParcoursError
from parcours.store.schema import CHANNELS
from parcours.store.store import Store

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")


@dataclass(frozen=True)
class Source:
    name: str
    write_key: str
    channel: str
    enabled: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "write_key": self.write_key,
            "channel": self.channel,
            "enabled": self.enabled,
        }


class SourceError(ParcoursError):
    http_status = 400


def new_write_key() -> str:
    """32 random URL-safe characters: unguessable, and safe in a Basic header or a URL."""
    return secrets.token_urlsafe(24)


def add_source(store: Store, name: str, channel: str) -> Source:
    if not _NAME.fullmatch(name):
        raise SourceError(
            f"{name!r} is not a usable source name",
            "use lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    if channel not in CHANNELS:
        raise SourceError(f"Unknown channel {channel!r}", f"use one of {', '.join(CHANNELS)}")
    if _find(store, "name", name):
        raise SourceError(
            f"A source named {name!r} exists already",
            f"pick another name, or `parcours sources rotate {name}` for a new key",
        )
    source = Source(name, new_write_key(), channel, True)
    store.engine.execute(
        "INSERT INTO sources VALUES (?, ?, ?, true, now(), NULL)", [name, source.write_key, channel]
    )
    return source


def list_sources(store: Store) -> list[Source]:
    rows = store.engine.query(
        "SELECT name, write_key, channel, enabled FROM sources ORDER BY name"
    ).to_pylist()
    return [Source(**row) for row in rows]


def get_source(store: Store, name: str) -> Source:
    found = _find(store, "name", name)
    if found is None:
        raise NotFoundError(f"No source named {name!r}", "see `parcours sources list`")
    return found


def set_enabled(store: Store, name: str, enabled: bool) -> Source:
    get_source(store, name)
    store.engine.execute("UPDATE sources SET enabled = ? WHERE name = ?", [enabled, name])
    return get_source(store, name)


def rotate_key(store: Store, name: str) -> Source:
    """A new write key; the old one stops working at once."""
    get_source(store, name)
    store.engine.execute(
        "UPDATE sources SET write_key = ?, rotated_at = now() WHERE name = ?",
        [new_write_key(), name],
    )
    return get_source(store, name)


def _find(store: Store, column: str, value: str) -> Source | None:
    rows = store.engine.query(
        f"SELECT name, write_key, channel, enabled FROM sources WHERE {column} = ?", [value]
    ).to_pylist()
    return Source(**rows[0]) if rows else None

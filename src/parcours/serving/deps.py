"""What every route of the HTTP API shares: the admin token, a read session, the writer.

Routes that show customers (profiles, journeys and the customers behind their numbers) carry
personal data: they need `Authorization: Bearer <admin_token>` (the `admin_token` setting;
unset, they answer 403). Reads use a session of their own; writes run in the server's one
writer (the journal loader), between loads. The app (`parcours.api.create_app`) puts the
settings, the read store and the writer in `app.state`; routes reach them only through here.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request

from parcours.config import Settings
from parcours.errors import Forbidden, Unauthorized
from parcours.store.store import Store


class StoreWriter(Protocol):
    """The store's one writer while serving (the live loader, `collect.live.writer`)."""

    async def call(self, work: Callable[[Store], Any], *, writes: bool = True) -> Any:
        """Run `work(store)` between loads, once everything acknowledged before is stored."""
        ...


def require_admin(request: Request) -> None:
    settings: Settings = request.app.state.settings
    token = settings.admin_token
    if token is None:
        raise Forbidden(
            "Routes that show customers are off: no admin token is set",
            "set PARCOURS_ADMIN_TOKEN (or admin_token in parcours.toml) and restart the server",
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given, token.get_secret_value()):
        raise Unauthorized("Missing or wrong admin token", "send Authorization: Bearer <token>")


def get_reader(request: Request) -> Iterator[Store]:
    """A read session of its own for each request (sessions are not shared across threads)."""
    base: Store = request.app.state.reader
    session = Store(base.engine.fork(), base.settings)
    try:
        yield session
    finally:
        session.close()


def get_writer(request: Request) -> StoreWriter:
    writer: StoreWriter = request.app.state.writer
    return writer


ReaderDep = Annotated[Store, Depends(get_reader)]
WriterDep = Annotated[StoreWriter, Depends(get_writer)]

"""`create_app(settings)`: the ASGI app `parcours serve` runs.

The app owns the store for its lifetime (DuckDB lets one process write a file): it opens it,
starts the group-commit writer, and closes both on shutdown after committing what is queued.
Every `ParcoursError` becomes a JSON answer with its status, its message and how to fix it.
"""

from __future__ import annotations

import datetime as dt
import gc
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from parcours.automations.loop import AutomationLoop
from parcours.automations.routes import router as automations_router
from parcours.automations.tracking_routes import router as tracking_router
from parcours.collect.live.routes import Live, SourceKeys
from parcours.collect.live.routes import router as live_router
from parcours.collect.live.writer import GroupCommitWriter, Overloaded
from parcours.config import Settings, load_settings
from parcours.errors import ParcoursError, Unauthorized
from parcours.identity.resolve import resolve_new
from parcours.identity.routes import router as customers_router
from parcours.identity.rules import identity_rules
from parcours.journeys.routes import router as journeys_router
from parcours.segments.recompute import LiveRefresh
from parcours.segments.routes import router as segments_router
from parcours.store.served import SNAPSHOT_ROUTE, Snapshots, mark_served, unmark_served
from parcours.store.store import Store
from parcours.version import __version__


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    identity_rules(settings)  # every capability's table checked before the server starts

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store.open(settings)

        refresh = LiveRefresh(store)
        automations: AutomationLoop | None = None

        def update_customers(since: dt.datetime) -> None:
            resolve_new(store, "received_at >= ?", [since])
            # Then the segments of the customers those events touched (a live event moves its
            # customer within the second), and their scores now and then.
            refresh(since)
            # Then the automations those events start, end or wake, at once.
            if automations is not None:
                automations.after_load()

        writer = GroupCommitWriter(
            store,
            run_id=f"live-{uuid.uuid4().hex[:8]}",
            on_loaded=update_customers if identity_rules(settings).resolve_on_arrival else None,
        )
        writer.start()
        keys = SourceKeys(store.engine.fork())
        keys.refresh()
        app.state.settings, app.state.writer = settings, writer
        app.state.live = Live(settings, writer, keys)
        app.state.reader = Store(store.engine.fork(), settings)
        served = mark_served(settings.store, f"http://{settings.host}:{settings.port}")
        app.state.snapshots = Snapshots(settings.store, served.token)
        automations = AutomationLoop(writer)
        automations.start()
        app.state.automations = automations
        _spare_the_collector()
        try:
            yield
        finally:
            await automations.stop()
            unmark_served(settings.store)
            writer.stop()
            app.state.reader.close()
            keys.engine.close()
            store.close()

    app = FastAPI(
        title="parcours",
        version=__version__,
        summary="Omnichannel customer journeys: the tracking API and the capabilities' routes.",
        lifespan=lifespan,
    )
    # Browsers send analytics.js traffic cross-origin; PostHog mirrors the origin, `*` is the same.
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"], max_age=86400
    )
    # Before the tracking API, whose POST /v1/{type} would otherwise take POST /v1/automations
    # (a publish) for a message type it does not know.
    app.include_router(automations_router)
    app.include_router(live_router)
    app.include_router(customers_router)
    app.include_router(journeys_router)
    app.include_router(segments_router)
    app.include_router(tracking_router)
    app.add_exception_handler(ParcoursError, _error)  # type: ignore[arg-type]

    @app.post(SNAPSHOT_ROUTE, include_in_schema=False)
    async def snapshot(request: Request) -> dict[str, str]:
        """For read commands run beside the server (see `store.served`): a copy of the store
        as of everything acknowledged so far. The token is in the marker beside the store."""
        snapshots: Snapshots = app.state.snapshots
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given, snapshots.token):
            raise Unauthorized(
                "Missing or wrong token", "run the command on the machine that holds the store"
            )
        writer: GroupCommitWriter = app.state.live.writer
        path = await writer.call(
            lambda store: snapshots.current(store.engine, writer.stats.changes), writes=False
        )
        return {"path": str(path), "as_of": str(snapshots.made_at)}

    @app.get("/health", tags=["server"])
    async def health() -> dict[str, object]:
        stats = app.state.live.writer.stats
        return {"status": "ok", "version": __version__, **asdict(stats)}

    return app


def _spare_the_collector() -> None:
    """Keep Python's cycle collector off the request path.

    Each tracked request parses its body into thousands of small objects. With the default
    thresholds a collection runs every 700 of them, and objects still alive then (bodies of
    requests waiting for their commit) climb to the oldest generation, whose collections then
    walk every object the server holds: its modules, the app, DuckDB's and Arrow's wrappers.
    Everything made before serving is frozen out of collections for good, and the youngest
    generation is collected ten times less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(7_000, 10, 10)


async def _error(request: Request, error: ParcoursError) -> JSONResponse:
    headers = (
        {"Retry-After": "1", "X-RateLimit-Reset": "1"} if isinstance(error, Overloaded) else {}
    )
    return JSONResponse(error.to_dict(), status_code=error.http_status, headers=headers)

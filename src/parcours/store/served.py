"""A store held by `parcours serve`, and how other processes still read it.

DuckDB lets one process open a file for writing, and then no other process may open it at all.
So the server keeps a marker beside the store (its pid, its URL and a token, readable by the
store's owner only), and a read command that finds the store held asks the server for a
snapshot: a consistent copy that the server writes beside the store between two loads, and
writes again only when something was stored since. The command then reads the copy.
Possession of the marker's token is the proof of local access: whoever may read the marker may
read the store file itself.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from parcours.engine import Engine
from parcours.errors import StoreLockedError
from parcours.sql import lit

SNAPSHOT_ROUTE = "/v1/store/snapshot"


@dataclass(frozen=True)
class Served:
    """What the marker says of the server holding a store."""

    pid: int
    url: str
    token: str


def serve_marker(store: Path) -> Path:
    """The file `parcours serve` keeps beside the store it holds."""
    return store.with_name(store.name + ".serve.json")


def snapshot_path(store: Path) -> Path:
    """Where the server writes the snapshot read commands open."""
    return store.with_name(store.name + ".snapshot.duckdb")


def mark_served(store: Path, url: str) -> Served:
    """Write the marker, owner-only, with a new token; return what it says."""
    served = Served(os.getpid(), url, secrets.token_urlsafe(32))
    marker = serve_marker(store)
    descriptor = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"pid": served.pid, "url": served.url, "token": served.token}, handle)
    return served


def unmark_served(store: Path) -> None:
    serve_marker(store).unlink(missing_ok=True)
    drop_snapshot(store)


def read_marker(store: Path) -> Served | None:
    """What the marker says, if a server left one and its process still runs (a killed
    server's marker stays behind; the store's lock is then someone else's)."""
    try:
        data = json.loads(serve_marker(store).read_text())
        served = Served(int(data["pid"]), str(data["url"]), str(data.get("token", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(served.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # it runs, as another user
    return served


def held_by_server(store: Path, served: Served) -> StoreLockedError:
    """The error a command that writes gets while the server holds the store."""
    return StoreLockedError(
        f"The store {store} is held by `parcours serve` (pid {served.pid}) at {served.url}; "
        "DuckDB lets one process write a file",
        "send events to that server, or stop it (Ctrl-C or SIGTERM: it commits what is queued) "
        "to run this command; commands that only read still answer while it runs",
        where=str(store),
    )


def write_snapshot(engine: Engine, target: Path, mode: int = 0o600) -> None:
    """Copy the whole store, as of now, to `target` (replaced atomically, so a reader never
    opens half a copy), readable as the store is (`mode`): it holds the same personal data.
    Tables keep their row order: journeys read customer_events as stored."""
    private = target.with_name(target.name + ".partial")
    private.mkdir(mode=0o700, exist_ok=True)  # nobody else can open the copy while it is made
    partial = private / "snapshot.duckdb"
    partial.unlink(missing_ok=True)
    source = engine.scalar("SELECT current_database()")
    engine.execute("SET preserve_insertion_order = true")
    engine.execute(f"ATTACH {lit(str(partial))} AS parcours_snapshot")
    try:
        engine.execute(f'COPY FROM DATABASE "{source}" TO parcours_snapshot')
    finally:
        engine.execute("DETACH parcours_snapshot")
    partial.chmod(mode)
    partial.replace(target)
    shutil.rmtree(private, ignore_errors=True)  # and any file the engine left beside the copy


def drop_snapshot(store: Path) -> None:
    """Remove the snapshot (an erasure must not leave the person in a copy)."""
    snapshot_path(store).unlink(missing_ok=True)


def request_snapshot(store: Path, served: Served, timeout_s: float = 300.0) -> Path | None:
    """Ask the server holding `store` for a fresh snapshot; its path, or None when no server
    answers at the marker's address (a marker left by a server that was killed)."""
    # Imported here: urllib's HTTP client loads OpenSSL, and every command opens a store.
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        served.url + SNAPSHOT_ROUTE,
        method="POST",
        headers={"Authorization": f"Bearer {served.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return Path(json.loads(answer.read())["path"])
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return None


@dataclass
class Snapshots:
    """The server's side: a snapshot written again only when the store changed since."""

    store: Path
    token: str
    made_at_change: int | None = None
    made_at: dt.datetime | None = None

    def current(self, engine: Engine, changes: int) -> Path:
        """The snapshot as of `changes` (a count that grows with every write the server
        makes), written now if the last one is older."""
        target = snapshot_path(self.store)
        if self.made_at_change != changes or not target.exists():
            write_snapshot(engine, target, stat.S_IMODE(self.store.stat().st_mode))
            self.made_at_change, self.made_at = changes, dt.datetime.now(dt.UTC)
        return target

"""Quarantine: records that could not be stored, kept with their reason until replayed.

Nothing is deleted here. A replay runs open records through a mapping again (by default the one
they were imported with, after the user fixed it); those that now pass become events, exactly
once, and are marked `replayed`; the others stay open with their new reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from parcours.collect import ledger
from parcours.collect.importer import store_transform
from parcours.collect.ledger import ImportSummary, new_import_id
from parcours.collect.mapping import load_mapping
from parcours.collect.transform import InputShape
from parcours.errors import NotFoundError
from parcours.store.store import Store
from parcours.store.suppression import withhold_erased
from parcours.store.writer import STAGED, insert_events, stage

# A line that was not even parseable cannot be fixed by a mapping: fix the file, import again.
# A record withheld as erased holds no content to replay.
REPLAYABLE = " AND reason_code NOT IN ('unparseable', 'erased')"
REPLAYED = (
    f"(SELECT r.quarantine_id, s._reason_code, s._reason FROM _parcours_replay r "
    f"JOIN {STAGED} s USING (_record_no))"
)
"""Each replayed quarantine record with what the transform now says of it."""

LIST_COLUMNS = "quarantine_id, source, reason_code, reason, origin, quarantined_at, status"


def _filters(source: str | None, reason: str | None, status: str | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for column, value in (("source", source), ("reason_code", reason), ("status", status)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def list_quarantine(
    store: Store,
    *,
    source: str | None = None,
    reason: str | None = None,
    status: str | None = "open",
    limit: int = 100,
    offset: int = 0,
) -> pa.Table:
    """Quarantined records, newest first, without their raw content."""
    where, params = _filters(source, reason, status)
    return store.engine.query(
        f"SELECT {LIST_COLUMNS} FROM quarantine{where} "
        "ORDER BY quarantined_at DESC, source, record_number "
        f"LIMIT {int(limit)} OFFSET {int(offset)}",
        params,
    )


def show_quarantined(store: Store, quarantine_id: str) -> dict[str, Any]:
    """One quarantined record in full, raw content included. Accepts a unique id prefix."""
    rows = store.engine.query(
        "SELECT * FROM quarantine WHERE starts_with(quarantine_id, ?) LIMIT 2", [quarantine_id]
    ).to_pylist()
    if len(rows) != 1:
        raise NotFoundError(
            f"{'No' if not rows else 'More than one'} quarantined record matches {quarantine_id!r}",
            "copy an id from `parcours quarantine list` (a unique prefix is enough)",
        )
    return dict(rows[0])


@dataclass
class ReplaySummary:
    """What a replay did. `to_dict()` is the stable JSON shape of `--format json`."""

    import_id: str
    considered: int = 0
    stored: int = 0
    duplicates: int = 0
    still_quarantined: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def replay(
    store: Store,
    *,
    source: str | None = None,
    reason: str | None = None,
    mapping: str | Path | None = None,
) -> ReplaySummary:
    """Run open quarantined records through their mapping (or `mapping`) again.

    Unparseable records are left alone: no mapping can parse them; the file must be fixed and
    imported again, which the dedup makes safe.
    """
    where, params = _filters(source, reason, "open")
    groups = store.engine.query(
        f"SELECT DISTINCT source, mapping FROM quarantine{where}{REPLAYABLE} ORDER BY ALL", params
    ).to_pylist()
    summary = ReplaySummary(new_import_id())
    for group in groups:
        _replay_group(store, summary, group["source"], str(mapping or group["mapping"]), reason)
    return summary


def _replay_group(
    store: Store, summary: ReplaySummary, source: str, mapping: str, reason: str | None
) -> None:
    spec, _ = load_mapping(mapping)
    engine = store.engine
    where, params = _filters(source, reason, "open")
    records = engine.query(
        "SELECT row_number() OVER () AS _record_no, raw AS _raw, quarantine_id "
        f"FROM quarantine{where}{REPLAYABLE}",
        params,
    )
    run = ImportSummary(summary.import_id, source, "replay", mapping, records=records.num_rows)
    ledger.start(store, run)
    transform = store_transform(
        store,
        spec,
        InputShape("json"),
        relation="_parcours_replay",
        source=source,
        import_id=summary.import_id,
    )
    with engine.registered("_parcours_replay", records):
        stage(engine, transform)
        withhold_erased(engine)
        with engine.transaction():
            good = engine.scalar(f"SELECT count(*) FROM {STAGED} WHERE _reason_code IS NULL")
            stored = insert_events(engine, source)
            engine.execute(
                f"UPDATE quarantine SET status = 'replayed', replayed_at = now() "
                f"FROM {REPLAYED} r WHERE r._reason_code IS NULL "
                f"AND quarantine.quarantine_id = r.quarantine_id"
            )
            engine.execute(
                f"UPDATE quarantine SET reason_code = r._reason_code, reason = r._reason "
                f"FROM {REPLAYED} r WHERE r._reason_code IS NOT NULL "
                f"AND quarantine.quarantine_id = r.quarantine_id"
            )
            still = engine.query(
                f"SELECT _reason_code, count(*) AS n FROM {STAGED} "
                "WHERE _reason_code IS NOT NULL GROUP BY ALL"
            ).to_pylist()
            run.accepted, run.duplicates = stored, int(good) - stored
            run.quarantined = {r["_reason_code"]: r["n"] for r in still}
            ledger.update(store, run, status="completed")
    summary.considered += records.num_rows
    summary.stored += stored
    summary.duplicates += int(good) - stored
    for code, count in run.quarantined.items():
        summary.still_quarantined[code] = summary.still_quarantined.get(code, 0) + count

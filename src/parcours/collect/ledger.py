"""The import ledger: one row in `imports` per import or replay run, finished or not."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from parcours.store.store import Store
from parcours.store.writer import BatchResult


@dataclass
class ImportSummary:
    """What an import did. `to_dict()` is the stable JSON shape of `--format json`."""

    import_id: str
    source: str
    path: str
    mapping: str
    records: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    already_quarantined: int = 0
    seconds: float = 0.0
    fields_not_found: dict[str, list[str]] = field(default_factory=dict)
    """Parts of the mapping (`outcome`) → the source fields they name that no record had."""

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "quarantined_total": self.quarantined_total}

    def absorb(self, result: BatchResult) -> None:
        self.accepted += result.accepted
        self.duplicates += result.duplicates
        self.already_quarantined += result.already_quarantined
        for code, count in result.quarantined.items():
            self.quarantined[code] = self.quarantined.get(code, 0) + count


def new_import_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def start(store: Store, summary: ImportSummary) -> None:
    store.engine.execute(
        "INSERT INTO imports VALUES (?, ?, ?, ?, now(), NULL, 'running', 0, 0, 0, 0)",
        [summary.import_id, summary.source, summary.path, summary.mapping],
    )


def update(store: Store, summary: ImportSummary, *, status: str) -> None:
    finished = "now()" if status != "running" else "NULL"
    store.engine.execute(
        f"UPDATE imports SET status = ?, finished_at = {finished}, records = ?, accepted = ?, "
        "duplicates = ?, quarantined = ? WHERE import_id = ?",
        [
            status,
            summary.records,
            summary.accepted,
            summary.duplicates + summary.already_quarantined,
            summary.quarantined_total,
            summary.import_id,
        ],
    )

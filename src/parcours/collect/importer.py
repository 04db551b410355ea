"""File import: stream a file through its mapping into the store, batch by batch.

Memory is bounded by the batch size whatever the file size; each batch commits on its own, so a
killed import keeps what it committed and a re-run adds only the rest (see `store.writer`).
The import ledger (`imports`) records every run, including those that never finished.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from parcours.collect import ledger
from parcours.collect.ledger import ImportSummary, new_import_id
from parcours.collect.mapping import FieldSpec, Mapping, load_mapping
from parcours.collect.presence import FieldPresence
from parcours.collect.readers import (
    Batch,
    Reader,
    detect_format,
    open_reader,
    prefetched,
    shown,
    unparseable_table,
)
from parcours.collect.transform import InputShape, build_transform
from parcours.errors import InputFileError
from parcours.sql import lit
from parcours.store.store import Store
from parcours.store.suppression import any_erased, withheld_text_query, withhold_erased
from parcours.store.writer import BatchResult, quarantine_id, stage, write_staged

Progress = Callable[[int, int], None]
"""Called as `progress(done, total)` in the reader's units after each batch."""


def import_file(
    store: Store,
    path: Path,
    *,
    source: str,
    mapping: str | Path,
    strict: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import one CSV, JSON-lines or Parquet file (plain or gzip) with a mapping.

    The summary names the mapped fields no record has; `strict` refuses such a file instead,
    before storing anything (`MappingError`).
    """
    spec, _ = load_mapping(mapping)
    # Quarantine remembers the mapping for replay: an absolute path works from any directory.
    mapping_ref = str(Path(mapping).resolve()) if Path(mapping).is_file() else str(mapping)
    reader = open_reader(
        path,
        detect_format(path, spec.format),
        spec.csv,
        store.settings.import_batch_rows,
        store.settings.max_record_bytes,
    )
    _refuse_missing_columns(spec, reader.shape, path)
    presence = FieldPresence.of(spec, reader.shape)
    if strict:
        presence.scan(store.engine, (batch.table for batch in reader.batches()))
        if presence.never_found():
            raise presence.refusal(str(path), mapping_ref)
    summary = ImportSummary(new_import_id(), source, str(path), mapping_ref)
    ledger.start(store, summary)
    try:
        import_records(
            store,
            reader,
            spec,
            summary,
            progress=progress,
            in_each_commit=lambda: ledger.update(store, summary, status="running"),
            presence=presence,
        )
    except BaseException:
        ledger.update(store, summary, status="failed")
        raise
    ledger.update(store, summary, status="completed")
    return summary


def _refuse_missing_columns(mapping: Mapping, shape: InputShape, path: Path) -> None:
    """A file whose columns lack one the mapping reads is refused before anything is read.

    Only files with columns (CSV, Parquet) can be checked: a JSON record may leave out a field.
    """
    if shape.kind != "columns":
        return
    missing = sorted(_columns_read(mapping) - set(shape.columns))
    if not missing:
        return
    has = shown(", ".join(shape.columns), limit=300)
    fix = "check the mapping's field names against the file's first line"
    if len(shape.columns) == 1 and (found := _likely_delimiter(shape.columns[0])):
        fix = (
            f"the header read as one column, so the file looks {found!r}-delimited: set "
            f"`csv: {{delimiter: {found!r}}}` in the mapping; or " + fix
        )
    raise InputFileError(
        f"Column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
        f"{'are' if len(missing) > 1 else 'is'} not in {path.name}; its columns are: {has}",
        fix,
        where=str(path),
    )


def _columns_read(mapping: Mapping) -> set[str]:
    """Every source column the mapping's transform reads: its fields and chosen properties."""
    chosen = mapping.properties
    properties = chosen.sources if isinstance(chosen, FieldSpec) else chosen
    return mapping.used_source_fields() | (set(properties) if properties != "*" else set())


def _likely_delimiter(header: str) -> str | None:
    """The delimiter a header read as one column seems to use, if any."""
    counts = {d: header.count(d) for d in (";", "\t", "|", ",")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else None


def import_records(
    store: Store,
    reader: Reader,
    mapping: Mapping,
    summary: ImportSummary,
    *,
    dedup_window_hours: float | None = None,
    progress: Progress | None = None,
    in_each_commit: Callable[[], None] | None = None,
    presence: FieldPresence | None = None,
) -> ImportSummary:
    """Store what `reader` reads through `mapping`, a commit per batch, counting into `summary`.

    `in_each_commit` runs inside each batch's transaction (the ledger's progress, for files);
    `presence`, when given, notes which mapped fields the records have (file imports).
    """
    started = time.perf_counter()
    transform = store_transform(
        store,
        mapping,
        reader.shape,
        relation="_parcours_input",
        source=summary.source,
        import_id=summary.import_id,
    )
    for batch in _batches_capped(store, reader):
        _import_batch(
            store, batch, transform, summary, dedup_window_hours, in_each_commit, presence
        )
        if progress:
            progress(batch.position, reader.total)
    if presence:
        summary.fields_not_found = presence.never_found()
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def _batches_capped(store: Store, reader: Reader) -> Iterator[Batch]:
    """The reader's batches, read ahead, with the engine set for bulk loading meanwhile."""
    with store.engine.bulk_load(store.settings.import_memory_limit):
        yield from prefetched(reader.batches())


def store_transform(
    store: Store, mapping: Mapping, shape: InputShape, *, relation: str, source: str, import_id: str
) -> str:
    """The mapping's transform, with the store's limits."""
    return build_transform(
        mapping,
        shape,
        relation=relation,
        source=source,
        import_id=import_id,
        max_record_bytes=store.settings.max_record_bytes,
        future_tolerance_hours=store.settings.future_tolerance_hours,
        keep_raw=store.settings.keep_raw,
    )


def _import_batch(
    store: Store,
    batch: Batch,
    transform: str,
    summary: ImportSummary,
    dedup_window_hours: float | None,
    in_each_commit: Callable[[], None] | None,
    presence: FieldPresence | None,
) -> None:
    engine, origin = store.engine, summary.path
    summary.records += batch.table.num_rows + len(batch.unparseable)
    if batch.table.num_rows:
        with engine.registered("_parcours_input", batch.table):
            stage(engine, transform)
            if presence:
                presence.observe(engine, "_parcours_input")
    with engine.transaction():
        if batch.table.num_rows:
            # An erased person is not brought back by an old file: checked in the batch's
            # transaction, so an erasure committed meanwhile is seen.
            withhold_erased(engine)
            summary.absorb(
                write_staged(
                    engine,
                    summary.source,
                    origin,
                    summary.mapping,
                    summary.import_id,
                    window_hours=dedup_window_hours,
                )
            )
        if batch.unparseable:
            summary.absorb(_quarantine_unparseable(store, batch, summary))
        if in_each_commit:
            in_each_commit()


def _quarantine_unparseable(store: Store, batch: Batch, summary: ImportSummary) -> BatchResult:
    """Lines the reader could not parse go to quarantine as they are, with the reader's reason."""
    engine, qid = store.engine, quarantine_id(lit(summary.source), "u.raw")
    # An erased person's identifier in the text withholds the record (store.suppression).
    rows = (
        withheld_text_query("_parcours_parsed_not")
        if any_erased(engine)
        else "SELECT *, 'unparseable' AS reason_code FROM _parcours_parsed_not"
    )
    with engine.registered("_parcours_parsed_not", unparseable_table(batch.unparseable)):
        added = engine.query(
            f"INSERT INTO quarantine SELECT {qid}, {lit(summary.source)}, "
            f"{lit(summary.path)} || ', record ' || u.record_number, {lit(summary.mapping)}, "
            f"u.record_number, u.raw, u.reason_code, u.reason, now(), 'open', NULL, "
            f"{lit(summary.import_id)} FROM ({rows}) u "
            f"WHERE NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.quarantine_id = {qid}) "
            "RETURNING reason_code"
        ).column(0)
    counts = Counter(added.to_pylist())
    return BatchResult(
        quarantined=dict(counts), already_quarantined=len(batch.unparseable) - len(added)
    )

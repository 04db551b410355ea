"""The suppression list: an erased person stays erased, whatever is imported again.

Erasure removes the person, but an old export imported again, or a live message acknowledged
before the erasure and loaded after it, still carries their identifiers. So erasure also adds
each identifier to `erased_identifiers` as a salted SHA-256 (the salt is drawn once per store,
in `erasure_salt`; the identifier itself is never kept), and every import — files, the live
journal's loads, replays — checks the records it staged against that list. A record carrying
an erased identifier is not stored as an event: it goes to quarantine with the reason `erased`,
and with its content withheld (a fingerprint instead of the record), since keeping it would
bring the person back in another table.

This lives in the store, below both stations: identity writes the list, collect reads it.
"""

from __future__ import annotations

from parcours.engine import Engine
from parcours.store.writer import STAGED

TABLE = "erased_identifiers"
REASON_CODE = "erased"


def identifier_hash_sql(kind: str, value: str) -> str:
    """SQL for an identifier's salted hash, over SQL expressions for its type and value."""
    return f"sha256((SELECT salt FROM erasure_salt) || chr(0) || {kind} || chr(0) || {value})"


def suppress(engine: Engine, identifiers: str, request_id: str) -> int:
    """Add the identifiers `identifiers` selects (SQL with columns `type, value`) to the list,
    stamped with the erasure's `request_id`; return how many were new."""
    hashed = identifier_hash_sql("type", "value")
    return engine.write(
        f"INSERT INTO {TABLE} SELECT DISTINCT {hashed}, now(), ? FROM ({identifiers}) "
        f"WHERE {hashed} NOT IN (SELECT identifier_hash FROM {TABLE})",
        [request_id],
    )


def _staged_identifiers() -> str:
    """Every identifier on the staged records, as `identity` reads them off events."""
    return (
        "SELECT _record_no, i.type AS type, i.value AS value FROM ("
        "SELECT _record_no, unnest([{'type': 'anonymous_id', 'value': anonymous_id}, "
        "{'type': 'user_id', 'value': user_id}] || coalesce(identifiers, [])) AS i "
        f"FROM {STAGED}) WHERE i.value IS NOT NULL"
    )


def withhold_erased(engine: Engine) -> int:
    """Turn the staged records that carry an erased identifier into quarantine candidates
    with the reason `erased` and their content withheld; return how many.

    Call after `writer.stage` and before `writer.write_staged`. The withheld record keeps a
    fingerprint (the MD5 of the record), so the same record imported twice is quarantined
    once, and two different records stay two."""
    if not engine.scalar(f"SELECT EXISTS (SELECT 1 FROM {TABLE})"):
        return 0
    erased = (
        "SELECT s._record_no, min(x.erased_at) AS erased_at "
        f"FROM ({_staged_identifiers()}) s JOIN {TABLE} x "
        f"ON x.identifier_hash = {identifier_hash_sql('s.type', 's.value')} GROUP BY s._record_no"
    )
    return engine.write(
        f"UPDATE {STAGED} SET _reason_code = '{REASON_CODE}', "
        "_reason = 'carries an identifier erased on ' || strftime(w.erased_at, '%Y-%m-%d') || "
        "' at the person''s request', "
        "_raw = json_object('withheld', 'carries an erased identifier', "
        f"'record_md5', md5({STAGED}._raw))::VARCHAR "
        f"FROM ({erased}) w WHERE {STAGED}._record_no = w._record_no"
    )
